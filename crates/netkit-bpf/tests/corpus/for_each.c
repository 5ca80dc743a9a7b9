/* bpf_for_each_map_elem over an array and a hash map, with a callback context. */
#include "netkit_test.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 8);
} arr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 8);
} hsh SEC(".maps");

struct cb_ctx {
	__u64 sum;
	__u32 visited;
	__u32 stop_at;
};

__u64 totals[4];

static long visit(void *map, __u32 *key, __u64 *val, struct cb_ctx *c)
{
	c->sum += *val * (*key + 1);
	c->visited++;
	return c->visited >= c->stop_at;
}

SEC("tc")
int for_each(struct __sk_buff *skb)
{
	__u32 k = skb->len % 8;
	__u64 v = skb->len;
	struct cb_ctx c = { .stop_at = 100 };
	long n;

	bpf_map_update_elem(&arr, &k, &v, BPF_ANY);
	bpf_map_update_elem(&hsh, &k, &v, BPF_ANY);
	n = bpf_for_each_map_elem(&arr, visit, &c, 0);
	totals[0] = c.sum;
	totals[1] = n;
	c.sum = 0;
	c.visited = 0;
	c.stop_at = 2;
	n = bpf_for_each_map_elem(&hsh, visit, &c, 0);
	totals[2] = c.visited;
	totals[3] = n;
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
