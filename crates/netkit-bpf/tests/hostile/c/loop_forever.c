// EXPECT: infinite loop detected
#include "hostile.h"
/* Spins until a field it read once changes. */
SEC("tc")
int loop_forever(struct __sk_buff *skb)
{
	__u32 mark = skb->mark;
	while (mark != 42)
		asm volatile("" ::: "memory");
	return 0;
}
