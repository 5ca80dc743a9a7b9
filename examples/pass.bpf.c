// SPDX-License-Identifier: MIT OR Apache-2.0
/* Passes every packet and counts it: the smallest useful netkit program, used to swap
 * programs under traffic. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} packets SEC(".maps");

SEC("netkit/primary")
int pass(struct __sk_buff *skb)
{
	__u32 key = 0;
	__u64 *count = bpf_map_lookup_elem(&packets, &key);

	if (count)
		__sync_fetch_and_add(count, 1);
	return 0; /* NETKIT_PASS */
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
