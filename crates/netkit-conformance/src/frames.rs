//! The named frames a scenario can transmit (`xmit DEV FRAME`), built byte by byte with valid
//! checksums so that a real kernel accepts them as it would traffic from its own stack.

/// Frame names `xmit` accepts.
pub const NAMES: &[&str] = &["ipv4-icmp", "ipv6-udp", "arp", "eth-only", "runt"];

const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_ARP: u16 = 0x0806;
/// IEEE "local experimental" ethertype: a frame no stack on the other end interprets.
const ETH_P_LOCAL_EXP: u16 = 0x88b5;

/// Builds the frame `name` from `src` to `dst`; `None` for an unknown name.
pub fn build(name: &str, dst: [u8; 6], src: [u8; 6]) -> Option<Vec<u8>> {
    let frame = match name {
        "ipv4-icmp" => ether(dst, src, ETH_P_IP, &ipv4_icmp_echo()),
        "ipv6-udp" => ether(dst, src, ETH_P_IPV6, &ipv6_udp()),
        "arp" => ether(dst, src, ETH_P_ARP, &arp_request(src)),
        "eth-only" => ether(dst, src, ETH_P_LOCAL_EXP, &[]),
        // Shorter than an Ethernet header: netkit drops it before any program runs.
        "runt" => ether(dst, src, ETH_P_LOCAL_EXP, &[])[..10].to_vec(),
        _ => return None,
    };
    Some(frame)
}

fn ether(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(14 + payload.len());
    frame.extend_from_slice(&dst);
    frame.extend_from_slice(&src);
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// The Internet checksum (RFC 1071) of `data`.
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// 10.0.0.1 → 10.0.0.2, ICMP echo request with 56 bytes of payload (what `ping` sends): 84 bytes.
fn ipv4_icmp_echo() -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1];
    icmp.extend((0..56u8).map(|i| i.wrapping_add(0x10)));
    let icmp_sum = checksum(&icmp);
    icmp[2..4].copy_from_slice(&icmp_sum.to_be_bytes());

    let total = (20 + icmp.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0x40, 0, 64, 1, 0, 0]);
    ip.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
    let ip_sum = checksum(&ip);
    ip[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    ip.extend_from_slice(&icmp);
    ip
}

/// fd00::1 → fd00::2, UDP 4000 → 5000 with 16 bytes of payload: 64 bytes.
fn ipv6_udp() -> Vec<u8> {
    let src: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let dst: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    let payload = *b"netkit-conform!\n";
    let udp_len = (8 + payload.len()) as u16;
    let mut udp = Vec::new();
    udp.extend_from_slice(&4000u16.to_be_bytes());
    udp.extend_from_slice(&5000u16.to_be_bytes());
    udp.extend_from_slice(&udp_len.to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(&payload);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&src);
    pseudo.extend_from_slice(&dst);
    pseudo.extend_from_slice(&u32::from(udp_len).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 17]);
    pseudo.extend_from_slice(&udp);
    let udp_sum = checksum(&pseudo);
    udp[6..8].copy_from_slice(&udp_sum.to_be_bytes());

    let mut ip = vec![0x60, 0, 0, 0];
    ip.extend_from_slice(&udp_len.to_be_bytes());
    ip.extend_from_slice(&[17, 64]);
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    ip.extend_from_slice(&udp);
    ip
}

/// Who-has 10.0.0.2 tell 10.0.0.1: 28 bytes.
fn arp_request(sender_mac: [u8; 6]) -> Vec<u8> {
    let mut arp = vec![0, 1, 8, 0, 6, 4, 0, 1];
    arp.extend_from_slice(&sender_mac);
    arp.extend_from_slice(&[10, 0, 0, 1]);
    arp.extend_from_slice(&[0; 6]);
    arp.extend_from_slice(&[10, 0, 0, 2]);
    arp
}

#[cfg(test)]
mod tests {
    use super::*;

    const DST: [u8; 6] = [0x02, 0, 0, 0, 0, 2];
    const SRC: [u8; 6] = [0x02, 0, 0, 0, 0, 1];

    #[test]
    fn frames_have_the_documented_lengths_and_headers() {
        let lens = [
            ("ipv4-icmp", 98),
            ("ipv6-udp", 78),
            ("arp", 42),
            ("eth-only", 14),
            ("runt", 10),
        ];
        for (name, len) in lens {
            let frame = build(name, DST, SRC).unwrap();
            assert_eq!(frame.len(), len, "{name}");
            assert_eq!(frame[..6], DST, "{name}");
        }
        assert!(build("jumbo", DST, SRC).is_none());
        assert_eq!(build("ipv6-udp", DST, SRC).unwrap()[12..14], [0x86, 0xdd]);
    }

    #[test]
    fn checksums_verify() {
        let v4 = build("ipv4-icmp", DST, SRC).unwrap();
        // A header with its checksum in place sums to zero.
        assert_eq!(checksum(&v4[14..34]), 0);
        assert_eq!(checksum(&v4[34..]), 0);
        let v6 = build("ipv6-udp", DST, SRC).unwrap();
        let mut pseudo = v6[22..54].to_vec();
        pseudo.extend_from_slice(&[0, 0, 0, 24, 0, 0, 0, 17]);
        pseudo.extend_from_slice(&v6[54..]);
        assert_eq!(checksum(&pseudo), 0);
    }
}
