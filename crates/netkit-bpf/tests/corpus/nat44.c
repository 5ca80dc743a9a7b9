/* Source NAT for IPv4: rewrites the source address and port with skb_store_bytes and fixes the
 * IP and L4 checksums with l3_csum_replace / l4_csum_replace (pseudo-header aware). */
#include "netkit_test.h"

#define NEW_SADDR bpf_htonl(0xc0a86401) /* 192.168.100.1 */
#define NEW_SPORT bpf_htons(40000)
#define IP_CSUM_OFF (ETH_HLEN + offsetof(struct iphdr, check))
#define IP_SRC_OFF (ETH_HLEN + offsetof(struct iphdr, saddr))

SEC("tc")
int nat44(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__u32 old_saddr, new_saddr = NEW_SADDR, l4_csum_off, l4_off;
	__u16 old_port, new_port = NEW_SPORT;
	__u8 proto;

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5)
		return TC_ACT_OK;
	old_saddr = ip->saddr;
	proto = ip->protocol;
	l4_off = ETH_HLEN + sizeof(*ip);
	if (proto == IPPROTO_TCP)
		l4_csum_off = l4_off + offsetof(struct tcphdr, check);
	else if (proto == IPPROTO_UDP)
		l4_csum_off = l4_off + offsetof(struct udphdr, check);
	else
		l4_csum_off = 0;

	if (l4_csum_off) {
		if (bpf_skb_load_bytes(skb, l4_off, &old_port, 2) < 0)
			return TC_ACT_SHOT;
		if (bpf_l4_csum_replace(skb, l4_csum_off, old_saddr, new_saddr,
					BPF_F_PSEUDO_HDR | 4 | (proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0)))
			return TC_ACT_SHOT;
		if (bpf_l4_csum_replace(skb, l4_csum_off, old_port, new_port, 2))
			return TC_ACT_SHOT;
		if (bpf_skb_store_bytes(skb, l4_off, &new_port, 2, 0))
			return TC_ACT_SHOT;
	}
	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_saddr, new_saddr, 4))
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, IP_SRC_OFF, &new_saddr, 4, 0))
		return TC_ACT_SHOT;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
