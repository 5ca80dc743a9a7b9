// EXPECT: invalid access to packet
#include "hostile.h"
/* Checks the Ethernet header, then reads the IP header's first byte beyond it. */
SEC("tc")
int pkt_off_by_one(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	if (data + sizeof(struct ethhdr) > end)
		return 2;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	return ip->ttl;
}
