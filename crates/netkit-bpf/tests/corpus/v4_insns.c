/* cpu v4 instructions: signed division and modulo, sign-extending moves and loads, bswap and
 * gotol (via inline assembly so each appears for sure). With -mcpu=v3 the same arithmetic is
 * done without them, so both builds must agree with the kernel. */
#include "netkit_test.h"

__s64 out[6];

SEC("tc")
int v4_insns(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__s8 *sp = data;
	__s64 a, b, c;

	if ((void *)(sp + 16) > data_end)
		return TC_ACT_SHOT;
	a = sp[13] - 200;          /* sign-extending byte load */
	b = (__s16)skb->len - 1000; /* sign-extending move */
	c = (__s32)(skb->mark - 7) ;
#if __BPF_CPU_VERSION__ >= 4
	out[0] = a / 7;
	out[1] = b % 9;
	out[2] = (__s32)b / (__s32)(a | 1);
	out[3] = c % -5;
	asm volatile("%[d] = bswap64 %[d]" : [d] "+r"(a));
	asm volatile("%[d] = bswap16 %[d]" : [d] "+r"(b));
	__s64 d = skb->len & 1;
	/* Even lengths jump over the store with gotol; odd ones take it. */
	asm volatile("if %[d] != 0 goto +1; gotol +1; %[d] = 99; %[d] += 1;" : [d] "+r"(d));
	out[4] = a ^ b;
	out[5] = d;
#else
	out[0] = a;
	out[1] = b;
	out[2] = c;
	out[3] = __builtin_bswap64(a) ^ __builtin_bswap16(b);
#endif
	return (int)(out[0] & 0xff);
}

char LICENSE[] SEC("license") = "GPL";
