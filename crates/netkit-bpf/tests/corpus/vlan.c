/* VLAN: pop an in-band 802.1Q tag, or push one; report the hardware-tag fields seen after. */
#include "netkit_test.h"

SEC("tc")
int vlan_pop(struct __sk_buff *skb)
{
	long err = 0;

	if (skb->protocol == bpf_htons(ETH_P_8021Q))
		err = bpf_skb_vlan_pop(skb);
	skb->cb[0] = (__u32)err;
	skb->cb[1] = NK_CTX(skb->vlan_present);
	skb->cb[2] = NK_CTX(skb->vlan_tci);
	skb->cb[3] = NK_CTX(skb->len);
	return err ? TC_ACT_SHOT : TC_ACT_OK;
}

SEC("tc")
int vlan_push(struct __sk_buff *skb)
{
	long err = bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), 42);

	skb->cb[0] = (__u32)err;
	skb->cb[1] = NK_CTX(skb->vlan_present);
	skb->cb[2] = NK_CTX(skb->vlan_tci);
	skb->cb[3] = NK_CTX(skb->vlan_proto);
	skb->cb[4] = NK_CTX(skb->len);
	/* A second push moves the first tag into the payload. */
	err = bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), 7);
	return err ? TC_ACT_SHOT : (int)skb->len;
}

char LICENSE[] SEC("license") = "GPL";
