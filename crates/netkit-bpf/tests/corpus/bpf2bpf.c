/* BPF-to-BPF calls: global and static subprograms in .text, a static helper inside the program
 * section, nested calls, and two programs in one section sharing them. */
#include "netkit_test.h"

__noinline int sum_bytes(struct __sk_buff *skb, __u32 off, __u32 n)
{
	__u8 buf[16] = {};
	int s = 0;

	if (n > sizeof(buf))
		n = sizeof(buf);
	if (bpf_skb_load_bytes(skb, off, buf, 16) < 0)
		return -1;
	for (int i = 0; i < 16; i++)
		if (i < n)
			s += buf[i];
	return s;
}

static __noinline __u32 mix(__u32 a, __u32 b)
{
	return (a * 31) ^ (b >> 3) ^ (a << 7);
}

__noinline __u32 fold(struct __sk_buff *skb)
{
	int a = sum_bytes(skb, 0, 6), b = sum_bytes(skb, 6, 6);

	if (a < 0 || b < 0)
		return 0;
	return mix(a, b);
}

SEC("tc") static __noinline int in_section(__u32 x)
{
	return x % 3;
}

SEC("tc")
int calls_a(struct __sk_buff *skb)
{
	__u32 h = fold(skb);

	skb->cb[0] = h;
	return in_section(h);
}

SEC("tc")
int calls_b(struct __sk_buff *skb)
{
	skb->cb[1] = mix(skb->len, fold(skb)) + in_section(skb->len);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
