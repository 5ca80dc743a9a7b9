// EXPECT: combined stack size
#include "hostile.h"
/* Two frames of 320 bytes each: more than 512 bytes along the call chain. */
static __attribute__((noinline)) int inner(struct __sk_buff *skb)
{
	volatile char buf[320];
	buf[skb->mark & 255] = 1;
	return buf[(skb->mark >> 8) & 255];
}
SEC("tc")
int stack_combined(struct __sk_buff *skb)
{
	volatile char buf[320];
	buf[skb->mark & 255] = 2;
	return inner(skb) + buf[(skb->mark >> 16) & 255];
}
