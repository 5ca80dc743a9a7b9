// EXPECT: stack
#include "hostile.h"
/* Asks skb_load_bytes for more bytes than the stack buffer holds. */
SEC("tc")
int helper_size_oob(struct __sk_buff *skb)
{
	__u64 buf[2];
	__u32 len = (skb->mark & 63) + 1;
	if (bpf_skb_load_bytes(skb, 0, buf, len))
		return 2;
	return buf[0];
}
