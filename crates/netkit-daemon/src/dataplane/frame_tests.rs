use super::*;
use netkit_io::vnet::{gso, F_NEEDS_CSUM, VNET_HDR_LEN};

fn empty_skb() -> Skb {
    Skb::from_frame(&[])
}

fn ipv4_tcp(payload: usize) -> Vec<u8> {
    let mut p = vec![0u8; 20 + 20 + payload];
    p[0] = 0x45;
    p[9] = 6;
    p[16..20].copy_from_slice(&[10, 1, 2, 3]);
    p[20 + 12] = 5 << 4;
    p
}

fn with_vnet(h: VnetHdr, frame: &[u8]) -> Vec<u8> {
    let mut out = [0u8; VNET_HDR_LEN];
    h.emit(&mut out);
    let mut v = out.to_vec();
    v.extend_from_slice(frame);
    v
}

#[test]
fn l3_gets_a_zero_mac_ethernet_header_and_loses_it_again() {
    let ip = ipv4_tcp(3000);
    let hdr = VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: gso::TCPV4,
        hdr_len: 40,
        gso_size: 1000,
        csum_start: 20,
        csum_offset: 16,
    };
    let raw = with_vnet(hdr, &ip);
    let mut skb = empty_skb();
    let vnet = ingest(&raw, TunKind::Tun, VNET_HDR_LEN, &mut skb).unwrap();
    assert_eq!(
        &skb.data()[..14],
        &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00]
    );
    assert_eq!(&skb.data()[14..], &ip[..]);
    assert_eq!(skb.meta.protocol, 0x0800);
    assert_eq!((skb.meta.gso_size, skb.meta.gso_segs), (1000, 3));
    assert_eq!(
        vnet.csum_start, 34,
        "checksum start now counts the Ethernet header"
    );
    assert_eq!(ip_dst(skb.data()), Some("10.1.2.3".parse().unwrap()));

    let head = skb.head;
    let out = emit(&mut skb, vnet, head, TunKind::Tun, VNET_HDR_LEN)
        .unwrap()
        .to_vec();
    assert_eq!(out, raw, "the same bytes leave as came in");
}

#[test]
fn l2_frames_cross_unchanged_and_header_growth_moves_csum_start() {
    let mut frame = vec![0xaa; 6];
    frame.extend_from_slice(&[0xbb; 6]);
    frame.extend_from_slice(&[0x08, 0x00]);
    frame.extend_from_slice(&ipv4_tcp(10));
    let hdr = VnetHdr {
        flags: F_NEEDS_CSUM,
        csum_start: 34,
        csum_offset: 16,
        ..VnetHdr::default()
    };
    let raw = with_vnet(hdr, &frame);
    let mut skb = empty_skb();
    let vnet = ingest(&raw, TunKind::Tap, VNET_HDR_LEN, &mut skb).unwrap();
    assert_eq!(skb.data(), &frame[..]);
    assert_eq!(skb.meta.gso_segs, 0);
    let head = skb.head;
    // A program pushes 4 bytes in front (as bpf_skb_change_head would).
    skb.head -= 4;
    let out = emit(&mut skb, vnet, head, TunKind::Tap, VNET_HDR_LEN)
        .unwrap()
        .to_vec();
    let back = VnetHdr::parse(&out).unwrap();
    assert_eq!(back.csum_start, 38);
    assert_eq!(out.len(), VNET_HDR_LEN + 4 + frame.len());
}

#[test]
fn bad_frames_are_refused_not_panicked_on() {
    let mut skb = empty_skb();
    assert_eq!(
        ingest(&[0u8; 5], TunKind::Tun, VNET_HDR_LEN, &mut skb),
        Err(FrameError::Malformed)
    );
    let raw = with_vnet(VnetHdr::default(), &[0x10, 0, 0]);
    assert_eq!(
        ingest(&raw, TunKind::Tun, VNET_HDR_LEN, &mut skb),
        Err(FrameError::Malformed)
    );
    let raw = with_vnet(VnetHdr::default(), &[0u8; 10]);
    assert_eq!(
        ingest(&raw, TunKind::Tap, VNET_HDR_LEN, &mut skb),
        Err(FrameError::Runt)
    );
    // A program shrank the packet below an Ethernet header.
    let raw = with_vnet(VnetHdr::default(), &ipv4_tcp(0));
    let vnet = ingest(&raw, TunKind::Tun, VNET_HDR_LEN, &mut skb).unwrap();
    let head = skb.head;
    skb.buf.truncate(skb.head + 10);
    assert_eq!(
        emit(&mut skb, vnet, head, TunKind::Tun, VNET_HDR_LEN),
        Err(FrameError::Runt)
    );
}

#[test]
fn no_headroom_left_still_emits() {
    let mut frame = vec![0u8; 12];
    frame.extend_from_slice(&[0x86, 0xdd]);
    frame.extend_from_slice(&[0x60; 40]);
    let mut skb = empty_skb();
    let vnet = ingest(
        &with_vnet(VnetHdr::default(), &frame),
        TunKind::Tap,
        VNET_HDR_LEN,
        &mut skb,
    )
    .unwrap();
    let head = skb.head;
    skb.buf.drain(..head);
    skb.head = 0;
    let out = emit(&mut skb, vnet, head, TunKind::Tap, VNET_HDR_LEN)
        .unwrap()
        .to_vec();
    assert_eq!(&out[VNET_HDR_LEN..], &frame[..]);
}
