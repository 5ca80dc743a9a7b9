// EXPECT: Unreleased reference
#include "hostile.h"
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");
/* Reserves a record and forgets it. */
SEC("tc")
int ringbuf_leak(struct __sk_buff *skb)
{
	__u64 *rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (!rec)
		return 0;
	*rec = skb->len;
	return 1;
}
