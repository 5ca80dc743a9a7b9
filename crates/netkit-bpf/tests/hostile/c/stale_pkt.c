// EXPECT: invalid mem access 'scalar'
#include "hostile.h"
/* Keeps a packet pointer across bpf_skb_pull_data, which may move the packet. */
SEC("tc")
int stale_pkt(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	if (data + 1 > end)
		return 2;
	bpf_skb_pull_data(skb, 0);
	return *(volatile __u8 *)data;
}
