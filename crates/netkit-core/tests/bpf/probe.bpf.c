// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * Test programs for netkit-core's transmit path, run by the eBPF engine. Each records what it
 * saw into a global (the object's .bss) and returns a verdict.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define NETKIT_NEXT -1
#define NETKIT_PASS 0
#define NETKIT_DROP 2

struct seen {
	__u32 runs;
	__u32 mark;
	__u32 priority;
	__u32 pkt_type;
	__u32 ifindex;
	__u32 ingress_ifindex;
	__u32 len;
	__u32 ethertype;
};

struct seen seen;

SEC("netkit/primary")
int record(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	seen.runs++;
	seen.mark = skb->mark;
	seen.priority = skb->priority;
	seen.pkt_type = skb->pkt_type;
	seen.ifindex = skb->ifindex;
	seen.ingress_ifindex = skb->ingress_ifindex;
	seen.len = skb->len;
	if ((void *)(eth + 1) <= end)
		seen.ethertype = bpf_ntohs(eth->h_proto);
	return NETKIT_NEXT;
}

/* Rewrites the destination MAC and marks the packet multicast (as tc1 of the selftests). */
SEC("netkit/primary")
int set_type(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return NETKIT_DROP;
	eth->h_dest[0] = 0x04;
	bpf_skb_change_type(skb, 2 /* PACKET_MULTICAST */);
	return NETKIT_NEXT;
}

SEC("netkit/primary")
int mark_it(struct __sk_buff *skb)
{
	skb->mark = 42;
	skb->priority = 0xeb9f;
	return NETKIT_NEXT;
}

SEC("netkit/primary")
int only_ipv4(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return NETKIT_DROP;
	return eth->h_proto == bpf_htons(ETH_P_IP) ? NETKIT_PASS : NETKIT_DROP;
}

SEC("netkit/peer")
int to_lo(struct __sk_buff *skb)
{
	return bpf_redirect(1, 0);
}

SEC("netkit/peer")
int into_lo(struct __sk_buff *skb)
{
	return bpf_redirect(1, BPF_F_INGRESS);
}

SEC("netkit/peer")
int peer_of_lo(struct __sk_buff *skb)
{
	return bpf_redirect_peer(1, 0);
}

SEC("netkit/peer")
int to_nowhere(struct __sk_buff *skb)
{
	return bpf_redirect(4000, 0);
}

char LICENSE[] SEC("license") = "GPL";
