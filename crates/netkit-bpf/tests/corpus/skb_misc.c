/* Miscellaneous skb helpers with deterministic results: set_hash / set_hash_invalid,
 * skb_change_type, csum_level, check_mtu, skb_cgroup-free bits of the context. */
#include "netkit_test.h"

__s64 rets[8];

SEC("tc")
int skb_misc(struct __sk_buff *skb)
{
	__u32 mtu = 0;

	bpf_set_hash(skb, 0x5eed1234);
	rets[0] = skb->hash;
	bpf_set_hash_invalid(skb);
	rets[1] = skb->hash;
	rets[2] = bpf_skb_change_type(skb, 3 /* PACKET_OTHERHOST */);
	rets[3] = skb->pkt_type;
	rets[4] = bpf_skb_change_type(skb, 7);
	rets[5] = bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY);
	rets[6] = bpf_csum_level(skb, 9);
	rets[7] = bpf_check_mtu(skb, 0, &mtu, 0, 0);
	skb->cb[0] = mtu > 0;
	bpf_skb_change_type(skb, 0);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
