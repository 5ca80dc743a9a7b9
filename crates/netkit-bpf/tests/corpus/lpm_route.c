/* LPM trie: the program installs a few IPv4 prefixes itself, then routes by destination. */
#include "netkit_test.h"

struct lpm_v4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct lpm_v4);
	__type(value, __u32);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
} routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} last_route SEC(".maps");

NK_ALWAYS_INLINE void add(__u32 plen, __u8 a, __u8 b, __u8 c, __u8 d, __u32 val)
{
	struct lpm_v4 k = { .prefixlen = plen, .addr = { a, b, c, d } };
	bpf_map_update_elem(&routes, &k, &val, BPF_ANY);
}

SEC("netkit/primary")
int lpm_route(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct lpm_v4 key = { .prefixlen = 32 };
	__u32 zero = 0, *hop, *last;

	add(8, 10, 0, 0, 0, 100);
	add(16, 10, 1, 0, 0, 116);
	add(24, 10, 1, 2, 0, 124);
	add(0, 0, 0, 0, 0, 1);
	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return NETKIT_PASS;
	__builtin_memcpy(key.addr, &ip->daddr, 4);
	hop = bpf_map_lookup_elem(&routes, &key);
	last = bpf_map_lookup_elem(&last_route, &zero);
	if (last)
		*last = hop ? *hop : 0xffffffff;
	if (!hop)
		return NETKIT_DROP;
	return *hop == 1 ? NETKIT_PASS : NETKIT_REDIRECT;
}

char LICENSE[] SEC("license") = "GPL";
