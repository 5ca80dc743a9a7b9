/* skb_load_bytes, skb_load_bytes_relative (from MAC and network header), skb_store_bytes with
 * flags, including failing out-of-range calls whose error codes are part of the result. */
#include "netkit_test.h"

__s64 errs[6];
__u8 copy[32];

SEC("tcx/ingress")
int load_store(struct __sk_buff *skb)
{
	__u8 buf[8] = {}, mac[6];

	errs[0] = bpf_skb_load_bytes(skb, 0, copy, sizeof(copy));
	errs[1] = bpf_skb_load_bytes_relative(skb, 0, buf, sizeof(buf), BPF_HDR_START_NET);
	errs[2] = bpf_skb_load_bytes(skb, skb->len - 4, buf, 8);
	errs[3] = bpf_skb_load_bytes_relative(skb, 6, mac, 6, BPF_HDR_START_MAC);
	if (errs[3] == 0)
		errs[4] = bpf_skb_store_bytes(skb, 0, mac, 6, BPF_F_INVALIDATE_HASH);
	errs[5] = bpf_skb_store_bytes(skb, 0, buf, 4, 0x80); /* unknown flag */
	return buf[0];
}

char LICENSE[] SEC("license") = "GPL";
