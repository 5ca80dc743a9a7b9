/* ringbuf_output, ringbuf_reserve/submit/discard and perf_event_output; the helpers' results
 * are kept in global data for comparison. */
#include "netkit_test.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} perf SEC(".maps");

struct event {
	__u32 len;
	__u32 proto;
	__u8 head[16];
};

__s64 rets[4];
__u32 reserved, discarded;

SEC("tc")
int ringbuf_perf(struct __sk_buff *skb)
{
	struct event ev = { .len = skb->len, .proto = skb->protocol };
	struct event *r;

	bpf_skb_load_bytes(skb, 0, ev.head, sizeof(ev.head));
	rets[0] = bpf_ringbuf_output(&events, &ev, sizeof(ev), 0);
	r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (r) {
		reserved++;
		__builtin_memcpy(r, &ev, sizeof(ev));
		if (skb->len & 1) {
			discarded++;
			bpf_ringbuf_discard(r, 0);
		} else {
			bpf_ringbuf_submit(r, 0);
		}
	}
	rets[1] = bpf_perf_event_output(skb, &perf, BPF_F_CURRENT_CPU, &ev, sizeof(ev));
	rets[2] = bpf_perf_event_output(skb, &perf, 0x7fff, &ev, sizeof(ev));
	/* Larger than the ring: reserve fails at run time. */
	r = bpf_ringbuf_reserve(&events, 8000, 0);
	rets[3] = r != 0;
	if (r)
		bpf_ringbuf_discard(r, 0);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
