// EXPECT: invalid bpf_context access off=88
#include "hostile.h"
/* Socket fields are not for tc programs. */
SEC("tc")
int ctx_socket_field(struct __sk_buff *skb)
{
	return skb->family;
}
