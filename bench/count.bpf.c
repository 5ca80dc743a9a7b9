// Benchmark program: counts packets per ethertype in a hash map and passes them.
// The same work for every configuration of bench/traffic.sh: tc on the veth's host end,
// and the netkit hooks of our pair.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

SEC("tc")
int count(struct __sk_buff *skb)
{
	__u32 key = skb->protocol;
	__u64 one = 1, *v = bpf_map_lookup_elem(&counts, &key);

	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
	return 0; /* TC_ACT_OK / TCX_PASS / NETKIT_PASS */
}

char _license[] SEC("license") = "GPL";
