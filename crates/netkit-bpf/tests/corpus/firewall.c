/* A small stateless firewall: drops by port and ICMP type, counts verdicts per rule; uses a
 * hash of allowed ports that it seeds itself. */
#include "netkit_test.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u16);
	__type(value, __u32);
	__uint(max_entries, 16);
} allowed SEC(".maps");

__u64 verdicts[3];

SEC("netkit/primary")
int firewall(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u16 p80 = bpf_htons(80), p53 = bpf_htons(53);
	__u32 rule = 1, l4 = 0;
	int proto;

	bpf_map_update_elem(&allowed, &p80, &rule, BPF_NOEXIST);
	rule = 2;
	bpf_map_update_elem(&allowed, &p53, &rule, BPF_NOEXIST);
	proto = nk_parse_l3(skb, &l4);
	if (proto < 0) {
		verdicts[2]++;
		return NETKIT_DROP;
	}
	if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
		__u16 *ports;
		if (l4 > 128)
			return NETKIT_DROP;
		ports = data + l4;
		if ((void *)(ports + 2) > data_end)
			return NETKIT_DROP;
		if (!bpf_map_lookup_elem(&allowed, &ports[1])) {
			verdicts[2]++;
			return NETKIT_DROP;
		}
	}
	if (proto == IPPROTO_ICMP) {
		__u8 *type = data + l4;
		if (l4 > 128 || (void *)(type + 1) > data_end)
			return NETKIT_DROP;
		if (*type != ICMP_ECHO) {
			verdicts[1]++;
			return NETKIT_NEXT;
		}
	}
	verdicts[0]++;
	return NETKIT_PASS;
}

char LICENSE[] SEC("license") = "GPL";
