// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * Says what it sees: every packet is counted per CPU (`pkts`, a per-CPU array), per length
 * (`lens`, a hash map: length -> packets) and written to the kernel's trace pipe with
 * bpf_trace_printk ("netkit trace: len N"). Passes everything. Used to check `netkit map`
 * (per-CPU values, hash maps) and `netkit prog tracelog` against the kernel.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define NETKIT_PASS 0

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} pkts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} lens SEC(".maps");

SEC("netkit/primary")
int trace(struct __sk_buff *skb)
{
	/* On the stack, so the object needs no .rodata map. */
	char fmt[] = "netkit trace: len %u";
	__u32 zero = 0, len = skb->len;
	__u64 one = 1, *n;

	n = bpf_map_lookup_elem(&pkts, &zero);
	if (n)
		*n += 1;
	n = bpf_map_lookup_elem(&lens, &len);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&lens, &len, &one, BPF_NOEXIST);
	bpf_trace_printk(fmt, sizeof(fmt), len);
	return NETKIT_PASS;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
