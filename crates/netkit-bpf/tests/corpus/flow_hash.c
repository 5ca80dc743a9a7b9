/* Hash and per-CPU hash maps keyed by the 5-tuple; update flags and full-map errors. */
#include "netkit_test.h"

struct flow_key {
	__u32 saddr, daddr;
	__u16 sport, dport;
	__u8 proto, pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct flow_key);
	__type(value, __u64);
	__uint(max_entries, 4);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 16);
} bytes_by_proto SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __s64);
	__uint(max_entries, 4);
} last_err SEC(".maps");

NK_ALWAYS_INLINE void record(__u32 slot, long err)
{
	__s64 *v = bpf_map_lookup_elem(&last_err, &slot);
	if (v)
		*v = err;
}

SEC("tcx/ingress")
int flow_hash(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct flow_key key = {};
	__u64 one = 1, *cnt, len = skb->len;
	__u32 proto;
	long err;

	if ((void *)(ip + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TCX_NEXT;
	key.saddr = ip->saddr;
	key.daddr = ip->daddr;
	key.proto = ip->protocol;
	if (ip->protocol == IPPROTO_TCP || ip->protocol == IPPROTO_UDP) {
		__u16 *ports = (void *)ip + sizeof(*ip);
		if ((void *)(ports + 2) > data_end)
			return TCX_DROP;
		key.sport = ports[0];
		key.dport = ports[1];
	}
	err = bpf_map_update_elem(&flows, &key, &one, BPF_NOEXIST);
	record(0, err);
	if (err == -17) {
		cnt = bpf_map_lookup_elem(&flows, &key);
		if (cnt)
			__sync_fetch_and_add(cnt, 1);
	}
	/* EXIST on an absent key must fail with ENOENT. */
	key.proto ^= 0xff;
	record(1, bpf_map_update_elem(&flows, &key, &one, BPF_EXIST));
	record(2, bpf_map_delete_elem(&flows, &key));

	proto = ip->protocol;
	cnt = bpf_map_lookup_elem(&bytes_by_proto, &proto);
	if (cnt)
		*cnt += len;
	else
		record(3, bpf_map_update_elem(&bytes_by_proto, &proto, &len, BPF_ANY));
	return TCX_PASS;
}

char LICENSE[] SEC("license") = "GPL";
