/* Direct packet access: classifies each frame by L3/L4 protocol and counts it in an array. */
#include "netkit_test.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 8);
} proto_count SEC(".maps");

SEC("tc")
int parse_count(struct __sk_buff *skb)
{
	__u32 l4 = 0, slot;
	int proto = nk_parse_l3(skb, &l4);
	__u64 *cnt;

	if (proto < 0)
		slot = 7;
	else if (proto == IPPROTO_TCP)
		slot = 1;
	else if (proto == IPPROTO_UDP)
		slot = 2;
	else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6)
		slot = 3;
	else
		slot = 0;
	cnt = bpf_map_lookup_elem(&proto_count, &slot);
	if (cnt)
		*cnt += 1;
	return proto < 0 ? TC_ACT_SHOT : TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
