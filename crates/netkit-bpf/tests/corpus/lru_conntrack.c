/* LRU hash as a connection table: new flows are inserted, known ones have their state advanced. */
#include "netkit_test.h"

struct ct_key {
	__u8 addr[16];
	__u8 proto, pad[3];
};

struct ct_val {
	__u64 packets;
	__u64 bytes;
	__u32 state;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__type(key, struct ct_key);
	__type(value, struct ct_val);
	__uint(max_entries, 1024);
} conntrack SEC(".maps");

SEC("tcx/egress")
int lru_conntrack(struct __sk_buff *skb)
{
	struct ct_key key = {};
	struct ct_val *v, init = {};
	__u32 l4 = 0;
	int proto = nk_parse_l3(skb, &l4);

	if (proto < 0)
		return TCX_DROP;
	if (bpf_skb_load_bytes(skb, 12, key.addr, 2) < 0)
		return TCX_DROP;
	if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		if (bpf_skb_load_bytes(skb, 14 + 24, key.addr, 16) < 0)
			return TCX_DROP;
	} else if (skb->protocol == bpf_htons(ETH_P_IP)) {
		if (bpf_skb_load_bytes(skb, 14 + 16, key.addr, 4) < 0)
			return TCX_DROP;
	}
	key.proto = proto;
	v = bpf_map_lookup_elem(&conntrack, &key);
	if (!v) {
		init.packets = 1;
		init.bytes = skb->len;
		init.state = 1;
		return bpf_map_update_elem(&conntrack, &key, &init, BPF_NOEXIST) ? TCX_DROP : TCX_PASS;
	}
	v->packets++;
	v->bytes += skb->len;
	if (v->state < 3)
		v->state++;
	return v->state == 3 ? TCX_NEXT : TCX_PASS;
}

char LICENSE[] SEC("license") = "GPL";
