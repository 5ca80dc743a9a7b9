/* Bounded loops (a verifier-bounded for loop over the payload) and bpf_loop with a callback. */
#include "netkit_test.h"

struct loop_ctx {
	struct __sk_buff *skb;
	__u32 acc;
	__u32 steps;
};

__u64 results[2];

static int step(__u32 i, void *arg)
{
	struct loop_ctx *c = arg;
	__u8 b = 0;

	if (bpf_skb_load_bytes(c->skb, i, &b, 1) < 0)
		return 1; /* stop */
	c->acc = c->acc * 33 + b;
	c->steps++;
	return 0;
}

SEC("tc")
int bounded_loop(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u32 sum = 0;

	for (int i = 0; i < 64; i++) {
		__u8 *p = data + i;
		if ((void *)(p + 1) > data_end)
			break;
		sum = (sum << 1) + *p + (sum >> 31);
	}
	results[0] = sum;
	return sum & 1;
}

SEC("tc")
int with_bpf_loop(struct __sk_buff *skb)
{
	struct loop_ctx c = { .skb = skb };
	long n = bpf_loop(100, step, &c, 0);

	results[1] = ((__u64)c.steps << 32) | c.acc;
	return n;
}

char LICENSE[] SEC("license") = "GPL";
