// EXPECT: invalid access to packet
#include "hostile.h"
/* Reads the EtherType without comparing against data_end. */
SEC("tc")
int pkt_unchecked(struct __sk_buff *skb)
{
	struct ethhdr *eth = (void *)(long)skb->data;
	return eth->h_proto == 8;
}
