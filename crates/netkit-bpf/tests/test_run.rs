//! How `Skb::for_test_run` builds the skb BPF_PROG_TEST_RUN would (the kernel comparison
//! itself is in kernel_diff.rs / helpers_kernel_diff.rs).

mod common;
use netkit_bpf::skb::{pkt_type, Skb, TestRunError, LOOPBACK_IFINDEX};

fn ctx_with(off: usize, bytes: &[u8]) -> Vec<u8> {
    let mut c = vec![0u8; 192];
    c[off..off + bytes.len()].copy_from_slice(bytes);
    c
}

#[test]
fn builds_the_loopback_skb() {
    let frame = common::udp4_frame(b"abc");
    let skb = Skb::for_test_run(&frame, None).unwrap();
    assert_eq!(skb.data(), &frame[..]);
    assert_eq!(skb.meta.protocol, 0x0800);
    assert_eq!(skb.meta.ifindex, LOOPBACK_IFINDEX);
    assert_eq!(
        skb.meta.pkt_type,
        pkt_type::OTHERHOST,
        "dst is not loopback's 00:..:00"
    );
    assert_eq!(skb.meta.wire_len, frame.len() as u32);
    let mut to_lo = frame.clone();
    to_lo[..6].fill(0);
    assert_eq!(
        Skb::for_test_run(&to_lo, None).unwrap().meta.pkt_type,
        pkt_type::HOST
    );
    let mut mcast = frame.clone();
    mcast[0] = 0x01;
    assert_eq!(
        Skb::for_test_run(&mcast, None).unwrap().meta.pkt_type,
        pkt_type::MULTICAST
    );
    // 802.3 length field: protocol from the payload (ETH_P_802_2 / ETH_P_802_3).
    let mut llc = vec![0u8; 20];
    llc[12..14].copy_from_slice(&[0x00, 0x10]);
    assert_eq!(Skb::for_test_run(&llc, None).unwrap().meta.protocol, 0x0004);
    llc[14..16].copy_from_slice(&[0xff, 0xff]);
    assert_eq!(Skb::for_test_run(&llc, None).unwrap().meta.protocol, 0x0001);
}

#[test]
fn applies_and_returns_the_accepted_ctx_fields() {
    let frame = common::udp4_frame(b"abc");
    let mut ctx = ctx_with(8, &7u32.to_le_bytes()); // mark
    ctx[32..36].copy_from_slice(&3u32.to_le_bytes()); // priority
    ctx[48..52].copy_from_slice(&0xaabbu32.to_le_bytes()); // cb[0]
    ctx[152..160].copy_from_slice(&99u64.to_le_bytes()); // tstamp
    let skb = Skb::for_test_run(&frame, Some(&ctx)).unwrap();
    assert_eq!(
        (
            skb.meta.mark,
            skb.meta.priority,
            skb.meta.cb[0],
            skb.meta.tstamp
        ),
        (7, 3, 0xaabb, 99)
    );
    let out = skb.test_run_ctx_out(Some(&ctx));
    assert_eq!(out[8..12], 7u32.to_le_bytes());
    assert_eq!(
        out[40..44],
        LOOPBACK_IFINDEX.to_le_bytes(),
        "ifindex written back"
    );
    assert_eq!(
        out[160..164],
        (frame.len() as u32).to_le_bytes(),
        "wire_len written back"
    );
}

#[test]
fn rejects_what_the_kernel_rejects() {
    let frame = common::udp4_frame(b"abc");
    assert_eq!(
        Skb::for_test_run(&frame[..13], None),
        Err(TestRunError::TooShort)
    );
    assert!(matches!(
        Skb::for_test_run(&vec![0; 5000], None),
        Err(TestRunError::TooLong(_))
    ));
    assert_eq!(
        Skb::for_test_run(&frame[..20], None),
        Err(TestRunError::TruncatedNetworkHeader("IPv4"))
    );
    // len (offset 0), protocol (16), data (76) may not be set.
    for off in [0, 16, 76, 140, 180] {
        assert_eq!(
            Skb::for_test_run(&frame, Some(&ctx_with(off, &[1]))),
            Err(TestRunError::CtxField(off))
        );
    }
    assert_eq!(
        Skb::for_test_run(&frame, Some(&ctx_with(40, &5u32.to_le_bytes()))),
        Err(TestRunError::NoDevice(5))
    );
    let mut big = vec![0u8; 200];
    assert!(
        Skb::for_test_run(&frame, Some(&big)).is_ok(),
        "zero tail is fine"
    );
    big[199] = 1;
    assert_eq!(
        Skb::for_test_run(&frame, Some(&big)),
        Err(TestRunError::CtxTooBig)
    );
    assert_eq!(
        Skb::for_test_run(&frame, Some(&ctx_with(160, &4u32.to_le_bytes()))),
        Err(TestRunError::WireLen(4))
    );
}
