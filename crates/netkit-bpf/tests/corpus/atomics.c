/* Atomic instructions on map values and global data: add/or/and/xor with and without fetch,
 * xchg, cmpxchg, in 32 and 64 bits. */
#include "netkit_test.h"

struct counters {
	__u64 add64;
	__u64 fetch64;
	__u32 or32;
	__u32 and32;
	__u32 xor32;
	__u32 xchg32;
	__u64 cmpxchg64;
	__u64 old_seen;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct counters);
	__uint(max_entries, 1);
} ctr SEC(".maps");

__u64 g_total;
__u32 g_bits = 0xffffffff;

SEC("tc")
int atomics(struct __sk_buff *skb)
{
	__u32 zero = 0, len = skb->len;
	struct counters *c = bpf_map_lookup_elem(&ctr, &zero);
	__u64 old;

	if (!c)
		return TC_ACT_SHOT;
	__sync_fetch_and_add(&c->add64, len);
	old = __sync_fetch_and_add(&c->fetch64, 3);
	c->old_seen += old;
	__sync_fetch_and_or(&c->or32, 1u << (len & 31));
	c->and32 = c->and32 ? c->and32 : 0xffffffff;
	old = __sync_fetch_and_and(&c->and32, ~(1u << (len % 32)));
	c->old_seen ^= old;
	__sync_fetch_and_xor(&c->xor32, len * 2654435761u);
	old = __sync_lock_test_and_set(&c->xchg32, len);
	c->old_seen += old << 1;
	old = __sync_val_compare_and_swap(&c->cmpxchg64, c->cmpxchg64 & ~1ull, c->cmpxchg64 + len);
	c->old_seen += old;
	__sync_fetch_and_add(&g_total, 1);
	__sync_fetch_and_and(&g_bits, ~(1u << (len & 31)));
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
