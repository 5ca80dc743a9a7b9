// EXPECT: invalid bpf_context access
#include "hostile.h"
/* skb->len is read-only. */
SEC("tc")
int ctx_write_len(struct __sk_buff *skb)
{
	skb->len = 0;
	return 0;
}
