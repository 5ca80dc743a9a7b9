// SPDX-License-Identifier: MIT OR Apache-2.0
/* A program the verifier must refuse. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* Reads past the packet without a bounds check: the verifier must refuse it. */
SEC("netkit/primary")
int unchecked(struct __sk_buff *skb)
{
	return *(__u8 *)(long)(skb->data + 100);
}

char LICENSE[] SEC("license") = "GPL";
