/* An object exercising what loading must get right: global data (.data, .rodata, .bss),
 * BPF-to-BPF calls, tail calls through a prog array, a ring buffer, trace_printk, and netkit
 * section names. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char _license[] SEC("license") = "GPL";

__u64 counter = 5;            /* .data */
const volatile __u32 factor = 3; /* .rodata */
__u32 last_len;               /* .bss */

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} jumps SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

static __attribute__((noinline)) __u32 scale(__u32 v)
{
	return v * factor + 1;
}

SEC("netkit/primary")
int primary(struct __sk_buff *skb)
{
	__u32 *rec;

	counter += 1;
	last_len = scale(skb->len);
	rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
	if (rec) {
		*rec = last_len;
		bpf_ringbuf_submit(rec, 0);
	}
	bpf_printk("len %u", skb->len);
	bpf_tail_call(skb, &jumps, skb->mark);
	return 0; /* NETKIT_PASS */
}

SEC("netkit/peer")
int peer(struct __sk_buff *skb)
{
	skb->mark = 0xbeef;
	return 2; /* NETKIT_DROP */
}
