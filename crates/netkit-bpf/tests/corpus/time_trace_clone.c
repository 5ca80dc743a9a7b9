/* Helpers whose raw values differ run to run, checked through properties both sides must
 * agree on (clocks advance, CPU id in range), plus trace_printk's byte count and
 * clone_redirect's return values. */
#include "netkit_test.h"

__s64 rets[8];

SEC("tc")
int time_trace_clone(struct __sk_buff *skb)
{
	__u64 t1 = bpf_ktime_get_ns(), t2 = bpf_ktime_get_ns();
	__u64 b1 = bpf_ktime_get_boot_ns(), b2 = bpf_ktime_get_boot_ns();

	rets[0] = t1 > 0 && t2 >= t1;
	rets[1] = b1 > 0 && b2 >= b1 && b1 >= t1;
	rets[2] = bpf_get_smp_processor_id() < 4096;
	bpf_get_prandom_u32();
	rets[3] = bpf_printk("len=%u proto=%x", skb->len, skb->protocol);
	rets[4] = bpf_clone_redirect(skb, 1, 0x40); /* unknown flag */
	rets[5] = bpf_clone_redirect(skb, 1, 0);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
