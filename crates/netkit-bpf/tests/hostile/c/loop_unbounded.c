// EXPECT: BPF program is too large
#include "hostile.h"
/* A loop bounded only by a 32-bit value from the packet's metadata; the empty asm keeps
 * clang from computing the sum in closed form. */
SEC("tc")
int loop_unbounded(struct __sk_buff *skb)
{
	__u32 n = skb->mark, sum = 0;
	for (__u32 i = 0; i < n; i++) {
		sum += i;
		asm volatile("" : "+r"(sum));
	}
	return sum;
}
