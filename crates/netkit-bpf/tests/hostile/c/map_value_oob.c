// EXPECT: invalid access to map value
#include "hostile.h"
struct slots { __u32 v[4]; };
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct slots);
} table SEC(".maps");
/* Indexes a 4-element array with a value masked to 0..7. */
SEC("tc")
int map_value_oob(struct __sk_buff *skb)
{
	__u32 key = 0;
	struct slots *s = bpf_map_lookup_elem(&table, &key);
	if (!s)
		return 0;
	return s->v[skb->mark & 7];
}
