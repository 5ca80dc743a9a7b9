/* Helper semantics observable in the return value, the output packet and ctx_out; each program
 * is run in the engine and through the kernel's BPF_PROG_TEST_RUN and must agree. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char _license[] SEC("license") = "GPL";

/* The raw, unfolded csum_diff value of the first 24 packet bytes against a constant: the
 * exact 32-bit representation, not just its fold. */
SEC("tc")
int csum_diff_raw(struct __sk_buff *skb)
{
	__u32 a[6], b[2] = { 0xdeadbeef, 0x01020304 };

	if (bpf_skb_load_bytes(skb, 0, a, sizeof(a)))
		return 1;
	return (int)bpf_csum_diff(a, sizeof(a), b, sizeof(b), 0x1234) ^
	       (int)bpf_csum_diff(0, 0, a, 8, 0) ^ (int)bpf_csum_diff(b, 8, 0, 0, 0xffff);
}

/* Sizes need not be multiples of 4 in current kernels. */
SEC("tc")
int csum_diff_odd(struct __sk_buff *skb)
{
	__u8 a[8];

	if (bpf_skb_load_bytes(skb, 6, a, sizeof(a)))
		return 1;
	return bpf_csum_diff((void *)a, 6, (void *)a + 1, 7, skb->len) ^
	       bpf_csum_diff((void *)a, 3, 0, 0, 0) << 16;
}

/* Rewrite the IPv4 TTL and destination, patching both checksums by replace. */
SEC("tc")
int csum_replace(struct __sk_buff *skb)
{
	__u32 old_dst, new_dst = bpf_htonl(0xc0a80101);
	__u16 old_ttl, new_ttl;
	long r = 0;

	if (bpf_skb_load_bytes(skb, 14 + 16, &old_dst, 4) || bpf_skb_load_bytes(skb, 14 + 8, &old_ttl, 2))
		return 100;
	new_ttl = old_ttl ^ bpf_htons(0x0100) ^ bpf_htons(0x3f00);
	r |= bpf_l3_csum_replace(skb, 14 + 10, old_ttl, new_ttl, 2);
	r |= bpf_skb_store_bytes(skb, 14 + 8, &new_ttl, 2, 0);
	r |= bpf_l3_csum_replace(skb, 14 + 10, old_dst, new_dst, 4);
	if (skb->protocol == bpf_htons(ETH_P_IP))
		r |= bpf_l4_csum_replace(skb, 14 + 20 + 6, old_dst, new_dst,
					 BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | 4);
	r |= bpf_skb_store_bytes(skb, 14 + 16, &new_dst, 4, BPF_F_INVALIDATE_HASH);
	/* Errors: odd offset, bad size, bad flags, beyond the packet. */
	if (bpf_l3_csum_replace(skb, 15, 0, 0, 2) != -14) return 101;
	if (bpf_l3_csum_replace(skb, 24, 0, 0, 3) != -22) return 102;
	if (bpf_l4_csum_replace(skb, 24, 0, 0, 0x100 | 2) != -22) return 103;
	if (bpf_l3_csum_replace(skb, 0xfffe, 0, 0, 2) != -14) return 104;
	if (bpf_skb_store_bytes(skb, 0, &new_dst, 4, 4) != -22) return 105;
	if (bpf_skb_store_bytes(skb, skb->len - 2, &new_dst, 4, 0) != -14) return 106;
	return r;
}

SEC("tc")
int load_bytes(struct __sk_buff *skb)
{
	__u8 buf[8] = { 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa };
	__u32 out = 0;

	if (bpf_skb_load_bytes(skb, skb->len - 4, buf, 8) != -14)
		return 200;
	if (buf[0] | buf[7])
		return 201; /* zeroed on failure */
	if (bpf_skb_load_bytes_relative(skb, 0, buf, 4, BPF_HDR_START_NET))
		return 202;
	out = buf[0];
	if (bpf_skb_load_bytes_relative(skb, 0, buf, 4, 7) != -14)
		return 203;
	if (bpf_skb_load_bytes_relative(skb, 0x10000, buf, 4, BPF_HDR_START_MAC) != -14)
		return 204;
	if (bpf_skb_load_bytes_relative(skb, 12, buf, 2, BPF_HDR_START_MAC))
		return 205;
	return out << 16 | buf[0] << 8 | buf[1];
}

SEC("tc")
int meta_writes(struct __sk_buff *skb)
{
	skb->mark = 0x1234;
	skb->priority = 7;
	skb->cb[0] = skb->len;
	skb->cb[4] = skb->protocol;
	skb->tc_index = 0x1ffff;
	asm volatile("" ::: "memory");
	skb->queue_mapping = 3;
	skb->tstamp = 1000;
	if (bpf_skb_change_type(skb, 9) != -22)
		return 1;
	if (bpf_skb_change_type(skb, 1))
		return 2;
	return skb->pkt_type << 24 | skb->ifindex << 16 | skb->ingress_ifindex << 8 | skb->tc_index;
}

SEC("tc")
int change_tail(struct __sk_buff *skb)
{
	__u32 len = skb->len;
	long a = bpf_skb_change_tail(skb, len + 7, 0);
	long b = bpf_skb_change_tail(skb, 10, 0);
	long c = bpf_skb_change_tail(skb, len - 3, 1);
	long d = bpf_skb_change_tail(skb, len - 3, 0);
	return (a & 0xff) << 24 | (b & 0xff) << 16 | (c & 0xff) << 8 | (d & 0xff);
}

SEC("tc")
int change_head(struct __sk_buff *skb)
{
	long a = bpf_skb_change_head(skb, 14, 0);
	long b = bpf_skb_change_head(skb, 4, 1);
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	if (data + 14 > end)
		return 50;
	__builtin_memcpy(data, "\x02\x00\x00\x00\x00\x09\x02\x00\x00\x00\x00\x08\x08\x00", 14);
	return (a & 0xff) << 8 | (b & 0xff);
}

SEC("tc")
int pull_data(struct __sk_buff *skb)
{
	long a = bpf_skb_pull_data(skb, 0);
	long b = bpf_skb_pull_data(skb, skb->len + 1);
	return (a & 0xff) << 8 | (b & 0xff);
}

SEC("tc")
int adjust_room(struct __sk_buff *skb)
{
	long a, b, c, d, e;

	a = bpf_skb_adjust_room(skb, 8, BPF_ADJ_ROOM_NET, 0);
	b = bpf_skb_adjust_room(skb, -4, BPF_ADJ_ROOM_MAC, 0);
	c = bpf_skb_adjust_room(skb, 20, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 | BPF_F_ADJ_ROOM_ENCAP_L3_IPV6);
	d = bpf_skb_adjust_room(skb, 0x1000, BPF_ADJ_ROOM_NET, 0);
	e = bpf_skb_adjust_room(skb, 4, 5, 0);
	return (a & 0xff) << 24 | (b & 0xff) << 16 | (c & 0xff) << 8 | (d & 0xf) << 4 | (e & 0xf);
}

SEC("tc")
int encap_ipip(struct __sk_buff *skb)
{
	struct iphdr outer = { .version = 4, .ihl = 5, .ttl = 64, .protocol = 4,
			       .saddr = bpf_htonl(0xac100001), .daddr = bpf_htonl(0xac100002) };
	if (skb->protocol != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	outer.tot_len = bpf_htons(skb->len - 14 + 20);
	if (bpf_skb_adjust_room(skb, 20, BPF_ADJ_ROOM_MAC, BPF_F_ADJ_ROOM_ENCAP_L3_IPV4))
		return TC_ACT_SHOT;
	if (bpf_skb_store_bytes(skb, 14, &outer, 20, 0))
		return TC_ACT_SHOT;
	__u32 sum = bpf_csum_diff(0, 0, (void *)&outer, 20, 0);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	__u16 c = ~sum;
	bpf_skb_store_bytes(skb, 14 + 10, &c, 2, 0);
	return skb->protocol;
}

SEC("tc")
int vlan(struct __sk_buff *skb)
{
	long a = bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), 5);
	__u32 s1 = skb->vlan_present << 16 | skb->vlan_tci;
	long b = bpf_skb_vlan_push(skb, bpf_htons(0x88a8), 7);
	__u32 p = skb->protocol;
	long c = bpf_skb_vlan_pop(skb);
	__u32 s2 = skb->vlan_present << 16 | skb->vlan_tci;
	skb->cb[0] = s1;
	skb->cb[1] = s2;
	skb->cb[2] = p;
	skb->cb[3] = skb->vlan_proto;
	return a | b | c;
}

SEC("tc")
int redirects(struct __sk_buff *skb)
{
	long a = bpf_redirect(5, 0);
	long b = bpf_redirect(5, 4);
	long c = bpf_redirect_peer(5, 1);
	long d = bpf_redirect_neigh(5, 0, 0, 1);
	long e = bpf_redirect(1, BPF_F_INGRESS);
	return a << 16 | b << 12 | c << 8 | d << 4 | e;
}

SEC("tc")
int mtu_and_levels(struct __sk_buff *skb)
{
	__u32 mtu = 0;
	long a = bpf_check_mtu(skb, 0, &mtu, 0, 0);
	__u32 m1 = mtu;
	mtu = 0;
	long b = bpf_check_mtu(skb, 0, &mtu, 70000, 0);
	long c = bpf_check_mtu(skb, 0, &mtu, 5, BPF_MTU_CHK_SEGS);
	long d = bpf_csum_level(skb, BPF_CSUM_LEVEL_QUERY);
	long e = bpf_csum_level(skb, 9);
	skb->cb[0] = m1;
	skb->cb[1] = mtu;
	skb->cb[2] = d;
	return (a & 0xf) << 12 | (b & 0xf) << 8 | (c & 0xff);
}

static long add_cb(__u32 i, void *ctx)
{
	__u64 *sum = ctx;
	*sum += i * i;
	return *sum > 5000;
}

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} arr SEC(".maps");

static long visit(void *map, __u32 *key, __u64 *val, void *ctx)
{
	*val = *key * 3;
	*(__u64 *)ctx += *val;
	return *key == 5;
}

SEC("tc")
int loops(struct __sk_buff *skb)
{
	__u64 sum = 0, total = 0;
	long n = bpf_loop(100, add_cb, &sum, 0);
	long bad = bpf_loop(1, add_cb, &sum, 1);
	long m = bpf_for_each_map_elem(&arr, visit, &total, 0);
	skb->cb[0] = sum;
	skb->cb[1] = total;
	skb->cb[2] = bad;
	return n << 8 | m;
}

SEC("tc")
int printk(struct __sk_buff *skb)
{
	char fmt[] = "len %u proto %x\n";
	long n = bpf_trace_printk(fmt, sizeof(fmt), skb->len, bpf_ntohs(skb->protocol));
	char bad[] = "%d %d %d %d";
	long e = bpf_trace_printk(bad, sizeof(bad), 1, 2, 3);
	return n << 8 | (e & 0xff);
}

SEC("tc")
int hashes(struct __sk_buff *skb)
{
	__u32 h0 = skb->hash;
	bpf_set_hash(skb, 0xabcd);
	__u32 h1 = skb->hash;
	bpf_set_hash_invalid(skb);
	__u32 h2 = skb->hash;
	long t = bpf_skb_set_tstamp(skb, 0, 1);
	long u = bpf_skb_set_tstamp(skb, 99, 1);
	skb->cb[0] = h1;
	return (h0 | h2) << 16 | (t & 0xff) << 8 | u;
}

SEC("tc")
int ecn_and_sockets(struct __sk_buff *skb)
{
	/* (get_socket_uid/cookie are not compared: a test run attaches a dummy socket with a
	 * fresh cookie, the netkit transmit path has none.) */
	long ce = bpf_skb_ecn_set_ce(skb);
	skb->cb[2] = bpf_csum_update(skb, 5);
	return ce;
}

/* ECT(0) first, then CE marking with the header checksum patched. */
SEC("tc")
int ecn_mark(struct __sk_buff *skb)
{
	__u8 tos = 2;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return bpf_skb_ecn_set_ce(skb);
	bpf_l3_csum_replace(skb, 14 + 10, 0, 2 << 8 == 0 ? 0 : bpf_htons(2), 2);
	bpf_skb_store_bytes(skb, 14 + 1, &tos, 1, 0);
	return bpf_skb_ecn_set_ce(skb) << 4 | bpf_skb_ecn_set_ce(skb);
}

SEC("tc")
int change_proto(struct __sk_buff *skb)
{
	long a = bpf_skb_change_proto(skb, bpf_htons(0x86dd), 0);
	long b = bpf_skb_change_proto(skb, bpf_htons(0x86dd), 1);
	long c = bpf_skb_change_proto(skb, bpf_htons(0x0806), 0);
	skb->cb[0] = skb->protocol;
	skb->cb[1] = skb->len;
	return (a & 0xff) << 16 | (b & 0xff) << 8 | (c & 0xff);
}
