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



// targets[last byte of the IPv4 destination] = ifindex to redirect to (egress); 0 = pass.
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u32);
} targets SEC(".maps");

SEC("tc")
int to_pod(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	__u32 key, *ifindex;

	if (data + 34 > end)
		return NETKIT_NEXT;
	key = *((__u8 *)data + 33);
	ifindex = bpf_map_lookup_elem(&targets, &key);
	if (!ifindex || !*ifindex)
		return NETKIT_NEXT;
	return bpf_redirect(*ifindex, 0);
}


// pkt_types[t] counts packets whose pkt_type is t (0 host, 1 broadcast, 2 multicast, 3 other).
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} pkt_types SEC(".maps");

SEC("tc")
int watch_pkt_type(struct __sk_buff *skb)
{
	__u32 t = skb->pkt_type;
	__u64 *v = bpf_map_lookup_elem(&pkt_types, &t);

	if (v)
		__sync_fetch_and_add(v, 1);
	return NETKIT_NEXT;
}

char _license[] SEC("license") = "GPL";
