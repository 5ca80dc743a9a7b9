// EXPECT: map_value_or_null
#include "hostile.h"
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");
/* Uses the lookup result without checking it for NULL. */
SEC("tc")
int map_no_null_check(struct __sk_buff *skb)
{
	__u32 key = skb->mark;
	__u64 *v = bpf_map_lookup_elem(&counts, &key);
	*v += 1;
	return 0;
}
