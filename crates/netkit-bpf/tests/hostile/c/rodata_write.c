// EXPECT: write into map forbidden
#include "hostile.h"
const volatile __u32 limit = 10;
/* Casts away const and writes into .rodata. */
SEC("tc")
int rodata_write(struct __sk_buff *skb)
{
	*(volatile __u32 *)&limit = skb->mark;
	return 0;
}
