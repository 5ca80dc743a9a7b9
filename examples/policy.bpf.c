// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * A pod policy for a netkit pair: allow ICMP (v4 and v6) and TCP to or from port 80, drop
 * everything else. The same program works on both hooks:
 *   - on the peer hook (packets the pod sends), dport 80 lets the pod reach web servers and
 *     sport 80 lets a server in the pod answer;
 *   - on the primary hook (packets sent towards the pod), the same rule lets the answers and
 *     requests of the other direction through.
 * In L2 mode ARP is allowed too, or nothing would resolve. In L3 mode the programs still see
 * a 14-byte Ethernet header (zero MACs, ethertype from the IP version), as netkit gives them.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* netkit verdicts (enum netkit_action; Debian 12's uapi headers predate them). */
#define NETKIT_PASS 0
#define NETKIT_DROP 2

#define ALLOWED_PORT 80
#define IPPROTO_ICMPV6_ 58

/* Per-verdict counters, readable with `netkit map dump`. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} verdicts SEC(".maps");

static __always_inline int verdict(int v)
{
	__u32 key = v == NETKIT_PASS ? 0 : 1;
	__u64 *count = bpf_map_lookup_elem(&verdicts, &key);

	if (count)
		__sync_fetch_and_add(count, 1);
	return v;
}

static __always_inline int tcp_port_allowed(void *l4, void *end)
{
	struct tcphdr *tcp = l4;

	if ((void *)(tcp + 1) > end)
		return 0;
	return tcp->dest == bpf_htons(ALLOWED_PORT) || tcp->source == bpf_htons(ALLOWED_PORT);
}

SEC("netkit/peer")
int policy(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return verdict(NETKIT_DROP);

	if (eth->h_proto == bpf_htons(ETH_P_ARP))
		return verdict(NETKIT_PASS);

	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > end || ip->ihl < 5)
			return verdict(NETKIT_DROP);
		if (ip->protocol == IPPROTO_ICMP)
			return verdict(NETKIT_PASS);
		if (ip->protocol == IPPROTO_TCP &&
		    tcp_port_allowed((void *)ip + ip->ihl * 4, end))
			return verdict(NETKIT_PASS);
		return verdict(NETKIT_DROP);
	}

	if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > end)
			return verdict(NETKIT_DROP);
		if (ip6->nexthdr == IPPROTO_ICMPV6_)
			return verdict(NETKIT_PASS);
		if (ip6->nexthdr == IPPROTO_TCP && tcp_port_allowed(ip6 + 1, end))
			return verdict(NETKIT_PASS);
	}
	return verdict(NETKIT_DROP);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
