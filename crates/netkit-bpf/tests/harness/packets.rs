//! Packet fixtures built byte by byte: IPv4/IPv6 × TCP/UDP/ICMP, ARP, VLAN, truncated, jumbo.
//! Checksums are computed, so NAT programs can be checked for correct checksum updates.

const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

fn csum_fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn sum16(data: &[u8]) -> u32 {
    data.chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum()
}

/// True when the IPv4 header checksum and the TCP/UDP checksum of an untagged IPv4 frame
/// verify (a UDP checksum of 0 means "none" and verifies).
pub fn ipv4_checksums_ok(frame: &[u8]) -> bool {
    let ip = &frame[14..34];
    if csum_fold(sum16(ip)) != 0 {
        return false;
    }
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let l4 = &frame[34..14 + total];
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&ip[12..20]);
    pseudo.extend_from_slice(&[0, ip[9]]);
    pseudo.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    match ip[9] {
        17 if l4[6..8] == [0, 0] => true,
        6 | 17 => csum_fold(sum16(&pseudo) + sum16(l4)) == 0,
        _ => true,
    }
}

fn eth(proto: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&DST_MAC);
    f.extend_from_slice(&SRC_MAC);
    f.extend_from_slice(&proto.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], l4: &[u8]) -> Vec<u8> {
    let mut h = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, proto, 0, 0];
    h[2..4].copy_from_slice(&((20 + l4.len()) as u16).to_be_bytes());
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = csum_fold(sum16(&h));
    h[10..12].copy_from_slice(&c.to_be_bytes());
    let mut l4 = l4.to_vec();
    let csum_at = match proto {
        6 => Some(16),
        17 => Some(6),
        _ => None,
    };
    if let Some(at) = csum_at {
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&src);
        pseudo.extend_from_slice(&dst);
        pseudo.extend_from_slice(&[0, proto]);
        pseudo.extend_from_slice(&(l4.len() as u16).to_be_bytes());
        let c = csum_fold(sum16(&pseudo) + sum16(&l4));
        l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    } else if proto == 1 {
        let c = csum_fold(sum16(&l4));
        l4[2..4].copy_from_slice(&c.to_be_bytes());
    }
    h.extend_from_slice(&l4);
    h
}

fn ipv6(next: u8, src: [u8; 16], dst: [u8; 16], l4: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    h.extend_from_slice(&[next, 64]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let mut l4 = l4.to_vec();
    let at = match next {
        6 => 16,
        17 => 6,
        _ => 2, // ICMPv6
    };
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&src);
    pseudo.extend_from_slice(&dst);
    pseudo.extend_from_slice(&(l4.len() as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, next]);
    let c = csum_fold(sum16(&pseudo) + sum16(&l4));
    l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(&l4);
    h
}

fn tcp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&0x01020304u32.to_be_bytes());
    t.extend_from_slice(&0u32.to_be_bytes());
    t.extend_from_slice(&[0x50, 0x02, 0xfa, 0xf0, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    t
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::new();
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    u
}

fn icmp_echo(v6: bool, payload: &[u8]) -> Vec<u8> {
    let mut i = vec![if v6 { 128 } else { 8 }, 0, 0, 0, 0x00, 0x2a, 0x00, 0x01];
    i.extend_from_slice(payload);
    i
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
        .collect()
}

const V4_A: [u8; 4] = [10, 1, 2, 3];
const V4_B: [u8; 4] = [10, 1, 9, 4];
const V4_C: [u8; 4] = [192, 0, 2, 77];
const V6_A: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const V6_B: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2];

/// IPv4 with a 4-byte options field (IHL 6: three NOPs and an end-of-options byte),
/// carrying UDP.
fn ipv4_with_options() -> Vec<u8> {
    let mut ip = ipv4(17, V4_B, V4_C, &udp(1234, 53, &pattern(16, 10)));
    let l4 = ip.split_off(20);
    ip[0] = 0x46;
    ip.extend_from_slice(&[1, 1, 1, 0]);
    let total = (ip.len() + l4.len()) as u16;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[10..12].copy_from_slice(&[0, 0]);
    let c = csum_fold(sum16(&ip));
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&l4);
    eth(0x0800, &ip)
}

/// The fixtures, by name. All are at least 14 bytes (BPF_PROG_TEST_RUN's minimum for skbs)
/// and at most 3000 (its single-page limit).
pub fn fixtures() -> Vec<(&'static str, Vec<u8>)> {
    let arp = {
        let mut a = vec![0, 1, 8, 0, 6, 4, 0, 1];
        a.extend_from_slice(&SRC_MAC);
        a.extend_from_slice(&V4_A);
        a.extend_from_slice(&[0; 6]);
        a.extend_from_slice(&V4_B);
        let mut f = eth(0x0806, &a);
        f[..6].copy_from_slice(&[0xff; 6]);
        f
    };
    let vlan = {
        let inner = ipv4(17, V4_A, V4_C, &udp(5353, 53, &pattern(24, 3)));
        let mut tagged = vec![0x00, 0x64, 0x08, 0x00]; // VID 100, then IPv4
        tagged.extend_from_slice(&inner);
        eth(0x8100, &tagged)
    };
    let truncated = {
        // The kernel's test run needs the whole IP header; cut inside the TCP header.
        let full = eth(0x0800, &ipv4(6, V4_A, V4_B, &tcp(1234, 80, b"")));
        full[..40].to_vec()
    };
    vec![
        (
            "ipv4_tcp",
            eth(
                0x0800,
                &ipv4(6, V4_A, V4_B, &tcp(40001, 80, &pattern(40, 1))),
            ),
        ),
        (
            "ipv4_udp",
            eth(
                0x0800,
                &ipv4(17, V4_A, V4_C, &udp(5000, 53, &pattern(33, 2))),
            ),
        ),
        (
            "ipv4_icmp",
            eth(
                0x0800,
                &ipv4(1, V4_B, V4_A, &icmp_echo(false, &pattern(56, 3))),
            ),
        ),
        (
            "ipv6_tcp",
            eth(
                0x86dd,
                &ipv6(6, V6_A, V6_B, &tcp(443, 50000, &pattern(100, 4))),
            ),
        ),
        (
            "ipv6_udp",
            eth(
                0x86dd,
                &ipv6(17, V6_B, V6_A, &udp(53, 5353, &pattern(61, 5))),
            ),
        ),
        (
            "ipv6_icmp",
            eth(
                0x86dd,
                &ipv6(58, V6_A, V6_B, &icmp_echo(true, &pattern(32, 6))),
            ),
        ),
        ("arp", arp),
        ("vlan_udp", vlan),
        ("truncated_ipv4", truncated),
        (
            "jumbo_udp",
            eth(
                0x0800,
                &ipv4(17, V4_B, V4_A, &udp(7000, 53, &pattern(2900, 7))),
            ),
        ),
        ("eth_only", eth(0x88b5, &[])),
        (
            "ipv4_tcp_small",
            eth(0x0800, &ipv4(6, V4_C, V4_A, &tcp(80, 1025, b""))),
        ),
        ("ipv4_options_udp", ipv4_with_options()),
        ("ipv6_truncated_udp", {
            let full = eth(0x86dd, &ipv6(17, V6_A, V6_B, &udp(53, 53, &pattern(20, 8))));
            full[..14 + 40 + 4].to_vec()
        }),
        ("multicast_udp", {
            let mut f = eth(
                0x0800,
                &ipv4(17, V4_A, [239, 1, 2, 3], &udp(5004, 5004, &pattern(48, 9))),
            );
            f[..6].copy_from_slice(&[0x01, 0x00, 0x5e, 0x01, 0x02, 0x03]);
            f
        }),
    ]
}
