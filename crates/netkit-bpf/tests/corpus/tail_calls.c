/* Tail calls through a prog_array: dispatch by L4 protocol, and a self-chain that hits the
 * 33-call limit. The test harness fills slot N of `jmp_table` with the program `tail_N`. */
#include "netkit_test.h"

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
	__uint(max_entries, 4);
} jmp_table SEC(".maps");

__u32 chain_depth = 0;
__u32 visits[4] = {};

SEC("tc")
int tail_0(struct __sk_buff *skb)
{
	/* Self-chain: each run re-enters until the kernel's limit stops it. */
	chain_depth++;
	bpf_tail_call(skb, &jmp_table, 0);
	return 40;
}

SEC("tc")
int tail_1(struct __sk_buff *skb)
{
	visits[1]++;
	return TC_ACT_OK;
}

SEC("tc")
int tail_2(struct __sk_buff *skb)
{
	visits[2]++;
	skb->mark = 0x7a11;
	return TC_ACT_SHOT;
}

SEC("tc")
int dispatch(struct __sk_buff *skb)
{
	__u32 l4 = 0;
	int proto = nk_parse_l3(skb, &l4);

	visits[0]++;
	if (proto == IPPROTO_TCP)
		bpf_tail_call(skb, &jmp_table, 1);
	else if (proto == IPPROTO_UDP)
		bpf_tail_call(skb, &jmp_table, 2);
	else if (proto == IPPROTO_ICMP)
		bpf_tail_call(skb, &jmp_table, 0);
	else
		bpf_tail_call(skb, &jmp_table, 3); /* empty slot: falls through */
	return 99;
}

char LICENSE[] SEC("license") = "GPL";
