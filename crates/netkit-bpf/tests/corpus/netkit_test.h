/* Shared definitions for the corpus: what Debian 12's uapi headers lack (netkit attach types
 * and verdicts) and small packet-parsing helpers. */
#ifndef NETKIT_TEST_H
#define NETKIT_TEST_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
/* linux/icmp.h pulls in libc headers; the one constant needed: */
#define ICMP_ECHO 8
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* enum bpf_attach_type additions after Debian 12's headers. */
#define NK_BPF_TCX_INGRESS 46
#define NK_BPF_TCX_EGRESS 47
#define NK_BPF_NETKIT_PRIMARY 54
#define NK_BPF_NETKIT_PEER 55

/* enum netkit_action (linux/if_link.h), equal to the tcx values. */
#define NETKIT_NEXT -1
#define NETKIT_PASS 0
#define NETKIT_DROP 2
#define NETKIT_REDIRECT 7

#define TCX_NEXT -1
#define TCX_PASS 0
#define TCX_DROP 2
#define TCX_REDIRECT 7

#ifndef ETH_P_8021Q
#define ETH_P_8021Q 0x8100
#endif
#ifndef ETH_P_ARP
#define ETH_P_ARP 0x0806
#endif

#define NK_ALWAYS_INLINE static __always_inline

/* One context load per field: keeps clang from merging two adjacent u32 reads into one u64
 * load, which the kernel's context-access check refuses. */
#define NK_CTX(field) (*(volatile __typeof__(field) *)&(field))

/* Returns the L4 protocol and sets *l4 to the L4 header offset, or -1 when truncated. */
NK_ALWAYS_INLINE int nk_parse_l3(struct __sk_buff *skb, __u32 *l4)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return -1;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > data_end)
			return -1;
		*l4 = sizeof(*eth) + ip->ihl * 4;
		return ip->protocol;
	}
	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > data_end)
			return -1;
		*l4 = sizeof(*eth) + sizeof(*ip6);
		return ip6->nexthdr;
	}
	return 0;
}

#endif
