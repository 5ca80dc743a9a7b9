// EXPECT: bpf_xdp_adjust_head#44
#include "hostile.h"
/* An XDP-only helper called from tc. */
SEC("tc")
int xdp_helper(struct __sk_buff *skb)
{
	return bpf_xdp_adjust_head((void *)skb, 4);
}
