/* Encapsulation with skb_adjust_room: IPv4-in-IPv4 (outer header built and checksummed with
 * csum_diff), and a second program that shrinks the room again after the L3 header. */
#include "netkit_test.h"

SEC("tcx/egress")
int encap_ipip(struct __sk_buff *skb)
{
	void *data, *data_end;
	struct iphdr inner, outer = {};
	__s64 csum;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TCX_PASS;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &inner, sizeof(inner)) < 0)
		return TCX_DROP;
	if (bpf_skb_adjust_room(skb, sizeof(outer), BPF_ADJ_ROOM_MAC,
				BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_FIXED_GSO))
		return TCX_DROP;
	outer.version = 4;
	outer.ihl = 5;
	outer.ttl = 64;
	outer.protocol = IPPROTO_IPIP;
	outer.tot_len = bpf_htons(bpf_ntohs(inner.tot_len) + sizeof(outer));
	outer.saddr = bpf_htonl(0xac100001);
	outer.daddr = bpf_htonl(0xac100002);
	csum = bpf_csum_diff(0, 0, (void *)&outer, sizeof(outer), 0);
	csum = (csum & 0xffff) + (csum >> 16);
	csum = (csum & 0xffff) + (csum >> 16);
	outer.check = ~csum;
	if (bpf_skb_store_bytes(skb, ETH_HLEN, &outer, sizeof(outer), 0))
		return TCX_DROP;
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	if (data + ETH_HLEN + 2 * sizeof(outer) > data_end)
		return TCX_DROP;
	return TCX_PASS;
}

SEC("tcx/ingress")
int shrink_room(struct __sk_buff *skb)
{
	long err;

	if (skb->protocol != bpf_htons(ETH_P_IP) || skb->len < ETH_HLEN + 28)
		return TCX_PASS;
	/* Removes 8 bytes right after the IPv4 header (e.g. a UDP header). */
	err = bpf_skb_adjust_room(skb, -8, BPF_ADJ_ROOM_NET, 0);
	skb->cb[0] = (__u32)err;
	skb->cb[1] = skb->len;
	return err ? TCX_DROP : TCX_PASS;
}

char LICENSE[] SEC("license") = "GPL";
