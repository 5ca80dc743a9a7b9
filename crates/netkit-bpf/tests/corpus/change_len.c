/* Packet length changes: skb_change_tail (trim and grow) and skb_change_head (room for an
 * extra Ethernet header, written afterwards), skb_pull_data. */
#include "netkit_test.h"

SEC("tc")
int change_tail(struct __sk_buff *skb)
{
	__u32 len = skb->len;
	long err;

	if (len > 100)
		err = bpf_skb_change_tail(skb, len - 17, 0);
	else
		err = bpf_skb_change_tail(skb, len + 23, 0);
	skb->cb[0] = (__u32)err;
	skb->cb[1] = skb->len;
	return err ? TC_ACT_SHOT : TC_ACT_OK;
}

SEC("tc")
int change_head(struct __sk_buff *skb)
{
	void *data, *data_end;
	struct ethhdr *eth;
	long err = bpf_skb_change_head(skb, ETH_HLEN, 0);

	skb->cb[0] = (__u32)err;
	if (err)
		return TC_ACT_SHOT;
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return TC_ACT_SHOT;
	__builtin_memset(eth->h_dest, 0x02, ETH_ALEN);
	__builtin_memset(eth->h_source, 0x04, ETH_ALEN);
	eth->h_proto = bpf_htons(0x88b5);
	skb->cb[1] = skb->len;
	return TC_ACT_OK;
}

SEC("tc")
int pull_data(struct __sk_buff *skb)
{
	long err = bpf_skb_pull_data(skb, 0);

	skb->cb[0] = (__u32)err;
	skb->cb[1] = skb->data_end - skb->data;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
