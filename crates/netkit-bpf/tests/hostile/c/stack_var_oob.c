// EXPECT: stack
#include "hostile.h"
/* Indexes a 16-byte stack buffer with an unbounded value. */
SEC("tc")
int stack_var_oob(struct __sk_buff *skb)
{
	volatile char buf[16] = {};
	return buf[skb->mark];
}
