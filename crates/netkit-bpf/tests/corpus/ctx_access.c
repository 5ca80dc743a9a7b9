/* __sk_buff reads of every SCHED_CLS-readable field (some narrow), and writes of the writable
 * ones, which come back in ctx_out. */
#include "netkit_test.h"

__u64 seen[12];

SEC("tc")
int ctx_access(struct __sk_buff *skb)
{
	__u8 *mark_lo = (void *)&skb->mark;
	__u16 *proto16 = (void *)&skb->protocol;

	seen[0] = NK_CTX(skb->len);
	seen[1] = NK_CTX(skb->pkt_type);
	seen[2] = NK_CTX(skb->mark);
	seen[3] = *mark_lo;
	seen[4] = *proto16;
	seen[5] = NK_CTX(skb->priority);
	seen[6] = NK_CTX(skb->ifindex) | (__u64)NK_CTX(skb->ingress_ifindex) << 32;
	seen[7] = NK_CTX(skb->cb[0]) | (__u64)NK_CTX(skb->cb[4]) << 32;
	seen[8] = NK_CTX(skb->vlan_present) | NK_CTX(skb->vlan_tci) << 1;
	seen[9] = NK_CTX(skb->tc_index) | (__u64)NK_CTX(skb->queue_mapping) << 16;
	seen[10] = NK_CTX(skb->wire_len) | (__u64)NK_CTX(skb->gso_segs) << 32;
	seen[11] = NK_CTX(skb->data_end) - NK_CTX(skb->data);

	skb->mark = NK_CTX(skb->mark) * 3 + 1;
	skb->priority = 6;
	skb->tc_index = 0x11;
	skb->tc_classid = 0x10002;
	skb->queue_mapping = 3;
	skb->cb[2] = NK_CTX(skb->len);
	skb->cb[3] = 0xfeedf00d;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
