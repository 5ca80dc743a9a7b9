//! Transmit checks: verdicts, policies, early drops, counters; a peer in another namespace.

use netkit_core::*;
use netkit_kernel::{netns, KernelBackend};

use crate::checks::{fact, Report};

/// An Ethernet frame with a local-experimental EtherType and a recognisable payload.
fn frame(len: usize) -> Vec<u8> {
    let mut f = vec![0u8; len];
    f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    for (i, b) in f.iter_mut().enumerate().skip(14) {
        *b = i as u8;
    }
    f
}

fn stats(b: &KernelBackend, i: IfIndex) -> Stats {
    b.link_get(i).map(|l| l.stats).unwrap_or_default()
}

fn attach(b: &mut KernelBackend, nk: IfIndex, hook: Hook, value: i32) -> Option<Handle> {
    let (h, _) = b.prog_load(&ProgSource::Constant(value)).ok()?;
    b.prog_attach(&AttachReq {
        ifindex: nk,
        hook,
        prog: h,
        flags: 0,
        relative: Relative(0),
        replace: None,
        expected_revision: 0,
    })
    .map_err(|e| println!("FAIL attach constant {value}: {e}"))
    .ok()?;
    Some(h)
}

fn detach_all(b: &mut KernelBackend, nk: IfIndex, hook: Hook) {
    let req = DetachReq {
        ifindex: nk,
        hook,
        prog: None,
        flags: 0,
        relative: Relative(0),
        expected_revision: 0,
    };
    while b.prog_detach(&req).is_ok() {}
}

pub fn transmit(b: &mut KernelBackend, r: &mut Report) {
    let Some(c) = crate::pair(b, "nkt") else {
        return;
    };
    let nk = c.primary;
    let peer = c.peer.unwrap_or(IfIndex(0));
    let f = frame(60);
    r.errno(
        "transmit through a down device",
        b.transmit(nk, &f),
        Errno::Other(libc::ENETDOWN),
    );
    r.ok("primary up", b.link_set_up(nk, true));
    r.eq(
        "peer down: early drop",
        b.transmit(nk, &f).ok(),
        Some(TxOutcome::Dropped),
    );
    r.ok("peer up", b.link_set_up(peer, true));
    let (s0, p0) = (stats(b, nk), stats(b, peer));
    r.eq(
        "no program, policy pass: delivered",
        b.transmit(nk, &f).ok(),
        Some(TxOutcome::Delivered(f.clone())),
    );
    let (s1, p1) = (stats(b, nk), stats(b, peer));
    r.eq(
        "tx counted on sender",
        (s1.tx_packets - s0.tx_packets, s1.tx_bytes - s0.tx_bytes),
        (1, 60),
    );
    r.eq(
        "rx counted on peer",
        (p1.rx_packets - p0.rx_packets, p1.rx_bytes - p0.rx_bytes),
        (1, 60),
    );
    r.eq(
        "peer to primary: delivered",
        b.transmit(peer, &f).ok(),
        Some(TxOutcome::Delivered(f.clone())),
    );
    let _ = b.link_change(
        nk,
        &ChangeLink {
            policy: Some(2),
            ..ChangeLink::default()
        },
    );
    let d0 = stats(b, nk).tx_dropped;
    let out = b.transmit(nk, &f);
    r.eq(
        "no program, policy drop: dropped",
        out.ok(),
        Some(TxOutcome::Dropped),
    );
    r.eq("tx_dropped counted", stats(b, nk).tx_dropped - d0, 1);
    let h = attach(b, nk, Hook::Primary, -1);
    r.eq(
        "all NEXT with policy drop: delivered",
        b.transmit(nk, &f).ok(),
        Some(TxOutcome::Delivered(f.clone())),
    );
    detach_all(b, nk, Hook::Primary);
    let _ = b.link_change(
        nk,
        &ChangeLink {
            policy: Some(0),
            ..ChangeLink::default()
        },
    );
    for (value, want) in [
        (2, TxOutcome::Dropped),
        (1, TxOutcome::Dropped),
        (42, TxOutcome::Dropped),
        (0, TxOutcome::Delivered(f.clone())),
    ] {
        let h = attach(b, nk, Hook::Primary, value);
        r.eq(
            &format!("program returns {value}"),
            b.transmit(nk, &f).ok(),
            Some(want),
        );
        detach_all(b, nk, Hook::Primary);
        if let Some(h) = h {
            let _ = b.prog_close(h);
        }
    }
    let hp = attach(b, nk, Hook::Peer, 2);
    r.eq(
        "PEER hook drop: primary→peer unaffected",
        b.transmit(nk, &f).ok(),
        Some(TxOutcome::Delivered(f.clone())),
    );
    r.eq(
        "PEER hook drop: peer→primary dropped",
        b.transmit(peer, &f).ok(),
        Some(TxOutcome::Dropped),
    );
    detach_all(b, nk, Hook::Peer);
    // REDIRECT with nothing recorded: counted as tx, then dropped.
    let h7 = attach(b, nk, Hook::Primary, 7);
    let s0 = stats(b, nk);
    let out = b.transmit(nk, &f);
    let s1 = stats(b, nk);
    fact(
        r,
        "program returns 7 without a recorded redirect",
        &out,
        "accepted (Dropped)",
    );
    println!(
        "FACT counters for bare REDIRECT: tx_packets +{}, tx_dropped +{}",
        s1.tx_packets - s0.tx_packets,
        s1.tx_dropped - s0.tx_dropped
    );
    detach_all(b, nk, Hook::Primary);
    for short in [13usize, 14] {
        let s0 = stats(b, nk);
        let out = b.transmit(nk, &frame(short.max(14))[..short]);
        let s1 = stats(b, nk);
        let want = if short < 14 {
            "EINVAL"
        } else {
            "accepted (Delivered"
        };
        fact(r, &format!("transmit {short}-byte frame"), &out, want);
        println!(
            "FACT counters for {short}-byte frame: tx +{}, tx_dropped +{}",
            s1.tx_packets - s0.tx_packets,
            s1.tx_dropped - s0.tx_dropped
        );
    }
    let big = frame(1514);
    r.eq(
        "1514-byte frame delivered",
        b.transmit(nk, &big)
            .ok()
            .map(|o| matches!(o, TxOutcome::Delivered(f) if f.len() == 1514)),
        Some(true),
    );
    let _ = b.link_set_up(peer, false);
    r.eq(
        "peer down again: dropped",
        b.transmit(nk, &f).ok(),
        Some(TxOutcome::Dropped),
    );
    r.ok("delete", b.link_del(nk));
    for h in [h, hp, h7].into_iter().flatten() {
        let _ = b.prog_close(h);
    }
}

pub fn namespaces(b: &mut KernelBackend, r: &mut Report) {
    if r.ok(
        "create netns nkns",
        netns::create("nkns")
            .map_err(|e| Error::new(Errno::Other(e.raw_os_error().unwrap_or(0)), e.to_string())),
    )
    .is_none()
    {
        return;
    }
    let req = NewLink {
        name: Some("nkn".into()),
        peer: Some(PeerInfo {
            name: Some("eth0".into()),
            netns: Some("nkns".into()),
            ..PeerInfo::default()
        }),
        ..NewLink::default()
    };
    if let Some(c) = r.ok("create pair with the peer in nkns", b.link_add(&req)) {
        let peer = c.peer.unwrap_or(IfIndex(0));
        // The peer's ifindex is nkns's own: it is addressed from inside nkns.
        r.ok("act in nkns", b.set_netns(Some("nkns")));
        let info = b.link_get(peer).ok();
        r.ok("act in the initial namespace", b.set_netns(None));
        r.eq(
            "peer found in its namespace",
            info.as_ref()
                .map(|i| (i.name.clone(), i.netns.clone(), i.primary)),
            Some(("eth0".to_string(), Some("nkns".to_string()), false)),
        );
        println!(
            "FACT peer ifindex in new netns: {}, primary ifindex: {}",
            peer.0, c.primary.0
        );
        r.ok("primary up", b.link_set_up(c.primary, true));
        let _ = b.set_netns(Some("nkns"));
        r.ok("peer up (in nkns)", b.link_set_up(peer, true));
        let _ = b.set_netns(None);
        let f = frame(60);
        r.eq(
            "delivered across namespaces",
            b.transmit(c.primary, &f).ok(),
            Some(TxOutcome::Delivered(f.clone())),
        );
        let _ = b.set_netns(Some("nkns"));
        r.eq(
            "delivered back",
            b.transmit(peer, &f).ok(),
            Some(TxOutcome::Delivered(f)),
        );
        let _ = b.set_netns(None);
        r.ok("delete from the host side", b.link_del(c.primary));
    }
    let _ = netns::delete("nkns");
}
