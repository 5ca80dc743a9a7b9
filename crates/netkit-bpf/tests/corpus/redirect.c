/* Redirect helpers: their return values for valid and invalid flags. */
#include "netkit_test.h"

__s64 rets[6];

SEC("netkit/primary")
int redirects(struct __sk_buff *skb)
{
	struct bpf_redir_neigh nh = { .nh_family = 2 /* AF_INET */, .ipv4_nh = bpf_htonl(0x0a000001) };

	rets[0] = bpf_redirect(5, 0);
	rets[1] = bpf_redirect(5, BPF_F_INGRESS);
	rets[2] = bpf_redirect(5, 0x40);
	rets[3] = bpf_redirect_neigh(6, &nh, sizeof(nh), 0);
	rets[4] = bpf_redirect_neigh(6, 0, 0, 1);
	rets[5] = bpf_redirect_peer(7, 0);
	switch (skb->len % 3) {
	case 0:
		return bpf_redirect(9, 0);
	case 1:
		return bpf_redirect_peer(9, 0);
	default:
		return bpf_redirect_neigh(9, 0, 0, 0);
	}
}

char LICENSE[] SEC("license") = "GPL";
