// EXPECT: too deep
#include "hostile.h"
/* Recursion: the kernel allows no call cycles. The division keeps clang from turning it
 * into a loop. */
static __attribute__((noinline)) int depth(struct __sk_buff *skb, int n)
{
	if (n <= 0)
		return skb->len;
	return 1000u / ((unsigned)depth(skb, n - 1) | 1);
}
SEC("tc")
int recursion(struct __sk_buff *skb)
{
	return depth(skb, skb->mark & 3);
}
