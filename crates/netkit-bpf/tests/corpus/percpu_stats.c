/* Per-CPU array counters (packets, bytes, length histogram). */
#include "netkit_test.h"

struct stats {
	__u64 packets;
	__u64 bytes;
	__u64 hist[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct stats);
	__uint(max_entries, 2);
} stats SEC(".maps");

SEC("classifier")
int percpu_stats(struct __sk_buff *skb)
{
	__u32 key = skb->protocol == bpf_htons(ETH_P_IPV6) ? 1 : 0;
	struct stats *s = bpf_map_lookup_elem(&stats, &key);
	__u32 len = skb->len, bucket;

	if (!s)
		return TC_ACT_SHOT;
	s->packets++;
	s->bytes += len;
	bucket = len < 64 ? 0 : len < 512 ? 1 : len < 1500 ? 2 : 3;
	s->hist[bucket & 3]++;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
