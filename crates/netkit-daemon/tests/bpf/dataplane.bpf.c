// Programs for the dataplane tests, run by the engine on live traffic.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define NETKIT_NEXT -1

// seen[0] = largest gso_segs, seen[1] = largest gso_size, seen[2] = packets.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} seen SEC(".maps");

// runs[0] counts packets through count_a, runs[1] through count_b.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} runs SEC(".maps");

SEC("tc")
int watch_gso(struct __sk_buff *skb)
{
	__u32 k0 = 0, k1 = 1, k2 = 2;
	__u64 *segs = bpf_map_lookup_elem(&seen, &k0);
	__u64 *size = bpf_map_lookup_elem(&seen, &k1);
	__u64 *pkts = bpf_map_lookup_elem(&seen, &k2);

	if (segs && skb->gso_segs > *segs)
		*segs = skb->gso_segs;
	if (size && skb->gso_size > *size)
		*size = skb->gso_size;
	if (pkts)
		__sync_fetch_and_add(pkts, 1);
	return NETKIT_NEXT;
}

static __always_inline int count(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&runs, &slot);

	if (v)
		__sync_fetch_and_add(v, 1);
	return NETKIT_NEXT;
}

SEC("tc")
int count_a(struct __sk_buff *skb)
{
	return count(0);
}

SEC("tc")
int count_b(struct __sk_buff *skb)
{
	return count(1);
}

char _license[] SEC("license") = "GPL";
