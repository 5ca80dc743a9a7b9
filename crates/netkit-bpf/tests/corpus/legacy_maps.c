/* A map declared the pre-BTF way, in the `maps` section with struct bpf_map_def. */
#include "netkit_test.h"

struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def SEC("maps") legacy_counts = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 4,
};

SEC("classifier")
int legacy_maps(struct __sk_buff *skb)
{
	__u32 key = skb->len & 3;
	__u64 *v = bpf_map_lookup_elem(&legacy_counts, &key);

	if (v)
		*v += skb->len;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
