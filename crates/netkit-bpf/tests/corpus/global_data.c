/* Global data: .data, .rodata (constants and a string literal in .rodata.str1.1), .bss;
 * written and read through the data-section maps. */
#include "netkit_test.h"

volatile const __u32 cfg_mark = 0xc0ffee;
volatile const __u8 cfg_table[8] = { 3, 1, 4, 1, 5, 9, 2, 6 };
__u64 packets = 100;
__u64 last_len;
__u32 proto_seen[4];

SEC("netkit/peer")
int global_data(struct __sk_buff *skb)
{
	__u32 idx = skb->len & 7;
	__u32 p = skb->protocol == bpf_htons(ETH_P_IP) ? 0 :
		  skb->protocol == bpf_htons(ETH_P_IPV6) ? 1 :
		  skb->protocol == bpf_htons(ETH_P_ARP) ? 2 : 3;

	packets++;
	last_len = skb->len;
	proto_seen[p & 3] += cfg_table[idx];
	skb->mark = cfg_mark;
	if (skb->len > 64)
		bpf_skb_store_bytes(skb, 54, "netkit-corpus", 13, 0);
	return NETKIT_PASS;
}

char LICENSE[] SEC("license") = "GPL";
