/* IPv6 prefix translation: rewrites the destination address and fixes the L4 checksum from a
 * csum_diff of old and new address (l4_csum_replace in "diff" mode, size 0). */
#include "netkit_test.h"

#define DST_OFF (ETH_HLEN + offsetof(struct ipv6hdr, daddr))

SEC("tcx/egress")
int nat66_diff(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *ip6 = (void *)(eth + 1);
	__be32 old_dst[4], new_dst[4];
	__u32 csum_off = 0;
	__s64 diff;

	if ((void *)(ip6 + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IPV6))
		return TCX_PASS;
	__builtin_memcpy(old_dst, &ip6->daddr, 16);
	__builtin_memcpy(new_dst, old_dst, 16);
	new_dst[0] = bpf_htonl(0xfd00beef);
	new_dst[1] = bpf_htonl(0x00000042);
	if (ip6->nexthdr == IPPROTO_TCP)
		csum_off = ETH_HLEN + sizeof(*ip6) + offsetof(struct tcphdr, check);
	else if (ip6->nexthdr == IPPROTO_UDP)
		csum_off = ETH_HLEN + sizeof(*ip6) + offsetof(struct udphdr, check);
	else if (ip6->nexthdr == IPPROTO_ICMPV6)
		csum_off = ETH_HLEN + sizeof(*ip6) + 2;
	diff = bpf_csum_diff(old_dst, 16, new_dst, 16, 0);
	if (diff < 0)
		return TCX_DROP;
	if (csum_off && bpf_l4_csum_replace(skb, csum_off, 0, diff, BPF_F_PSEUDO_HDR))
		return TCX_DROP;
	if (bpf_skb_store_bytes(skb, DST_OFF, new_dst, 16, 0))
		return TCX_DROP;
	/* The diff itself as the verdict's witness: fold to 16 bits, return as mark. */
	skb->mark = (__u32)diff;
	return TCX_PASS;
}

char LICENSE[] SEC("license") = "GPL";
