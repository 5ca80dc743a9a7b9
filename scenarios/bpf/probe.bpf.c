// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * Probes for the conformance scenarios (docs/conformance.md). The kernel's transmit path can
 * only be watched from outside through counters and packet sockets, so each probe encodes what
 * it saw in its verdict: PASS (delivered) when the packet looks as the probe's name says, DROP
 * otherwise. The redirect probes name their target relative to skb->ifindex (the receiving
 * end, see spec/netkit.md §2), because a scenario cannot hand a program an ifindex: both
 * backends number a pair's peer first, then its primary, so the next pair created after the
 * sending one is at +2 (its peer) and +3 (its primary).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* netkit verdicts (enum netkit_action). */
#define NETKIT_NEXT -1
#define NETKIT_PASS 0
#define NETKIT_DROP 2
#define NETKIT_REDIRECT 7

/* What the chain probes agree on: set_meta writes it, the check_* probes expect it. */
#define MARK 42
#define PRIORITY 7
#define CB_TOKEN 0xc0ffee

static __always_inline int verdict(int seen)
{
	return seen ? NETKIT_PASS : NETKIT_DROP;
}

/* --- metadata (what scrubbing may clear) --- */

SEC("netkit/primary")
int mark_is_42(struct __sk_buff *skb)
{
	return verdict(skb->mark == MARK);
}

SEC("netkit/primary")
int priority_is_7(struct __sk_buff *skb)
{
	return verdict(skb->priority == PRIORITY);
}

SEC("netkit/primary")
int meta_clear(struct __sk_buff *skb)
{
	return verdict(skb->mark == 0 && skb->priority == 0);
}

SEC("netkit/primary")
int no_ingress_ifindex(struct __sk_buff *skb)
{
	return verdict(skb->ingress_ifindex == 0);
}

/* Sets mark, priority and cb[0], then lets the next program decide. */
SEC("netkit/primary")
int set_meta(struct __sk_buff *skb)
{
	skb->mark = MARK;
	skb->priority = PRIORITY;
	skb->cb[0] = CB_TOKEN;
	return NETKIT_NEXT;
}

/* Passes only what set_meta (earlier in the chain) left behind. */
SEC("netkit/primary")
int check_meta(struct __sk_buff *skb)
{
	return verdict(skb->mark == MARK && skb->priority == PRIORITY && skb->cb[0] == CB_TOKEN);
}

SEC("netkit/primary")
int cb_clear(struct __sk_buff *skb)
{
	return verdict((skb->cb[0] | skb->cb[1] | skb->cb[2] | skb->cb[3] | skb->cb[4]) == 0);
}

/* --- pkt_type, set against the receiving end's address --- */

SEC("netkit/primary")
int pkt_host(struct __sk_buff *skb)
{
	return verdict(skb->pkt_type == PACKET_HOST);
}

SEC("netkit/primary")
int pkt_otherhost(struct __sk_buff *skb)
{
	return verdict(skb->pkt_type == PACKET_OTHERHOST);
}

SEC("netkit/primary")
int pkt_broadcast(struct __sk_buff *skb)
{
	return verdict(skb->pkt_type == PACKET_BROADCAST);
}

SEC("netkit/primary")
int pkt_multicast(struct __sk_buff *skb)
{
	return verdict(skb->pkt_type == PACKET_MULTICAST);
}

/* --- the packet itself --- */

/* A 14-byte Ethernet header whose EtherType is skb->protocol, and that is IPv4. */
SEC("netkit/primary")
int eth_ipv4(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return NETKIT_DROP;
	return verdict(eth->h_proto == bpf_htons(ETH_P_IP) && skb->protocol == eth->h_proto);
}

/* skb->protocol agrees with the EtherType, whatever it is. */
SEC("netkit/primary")
int protocol_matches(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return NETKIT_DROP;
	return verdict(skb->protocol == eth->h_proto);
}

/* An ICMP echo request to 10.0.0.2, read from the bytes. */
SEC("netkit/primary")
int icmp_echo_to_10_0_0_2(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__u8 *icmp_type;

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5)
		return NETKIT_DROP;
	icmp_type = (void *)(ip + 1);
	if ((void *)(icmp_type + 1) > end)
		return NETKIT_DROP;
	return verdict(ip->protocol == IPPROTO_ICMP && ip->daddr == bpf_htonl(0x0a000002) &&
		       *icmp_type == 8);
}

/* --- redirects --- */

/* Out of the receiving end itself: the frame comes back to the sender's side. */
SEC("netkit/primary")
int redirect_receiver_egress(struct __sk_buff *skb)
{
	return bpf_redirect(skb->ifindex, 0);
}

/* Out of the peer of the pair created next (ifindex +2). */
SEC("netkit/primary")
int redirect_next_egress(struct __sk_buff *skb)
{
	return bpf_redirect(skb->ifindex + 2, 0);
}

/* Into the peer of the pair created next (ifindex +2). */
SEC("netkit/primary")
int redirect_next_ingress(struct __sk_buff *skb)
{
	return bpf_redirect(skb->ifindex + 2, BPF_F_INGRESS);
}

/* redirect_peer is for tc ingress only: from netkit the frame is dropped. */
SEC("netkit/primary")
int redirect_peer_next(struct __sk_buff *skb)
{
	return bpf_redirect_peer(skb->ifindex + 2, 0);
}

/* No device has this ifindex. */
SEC("netkit/primary")
int redirect_missing(struct __sk_buff *skb)
{
	return bpf_redirect(skb->ifindex + 100000, 0);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
