//! The transmit path (spec/netkit.md §2): early drops, scrub matrix, pkt_type, chain rule,
//! verdict mapping, redirects, counters.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use netkit_bpf::skb::{pkt_type, RedirectKind, RedirectRequest, Skb, SkbMeta};
use netkit_core::*;

/// A program that records what it saw, optionally asks for a redirect, returns `verdict`.
struct Probe {
    verdict: i32,
    redirect: Option<RedirectRequest>,
    seen: Mutex<Option<SkbMeta>>,
}

impl Classifier for Probe {
    fn run(&self, skb: &mut Skb) -> i32 {
        *self.seen.lock().unwrap() = Some(skb.meta);
        skb.redirect = self.redirect;
        self.verdict
    }
}

fn probe(verdict: i32, redirect: Option<RedirectRequest>) -> Arc<Probe> {
    Arc::new(Probe {
        verdict,
        redirect,
        seen: Mutex::new(None),
    })
}

fn attach_probe(fx: &mut Fx, p: Arc<Probe>) {
    let (h, _) = fx.b.load_classifier("probe", p);
    fx.attach(h, 0, 0, 0).unwrap();
}

fn skb(dst: [u8; 6], mark: u32, priority: u32) -> Skb {
    let mut s = Skb::from_frame(&frame(dst));
    s.meta.mark = mark;
    s.meta.priority = priority;
    s.meta.ingress_ifindex = 77;
    s.meta.tstamp = 1234;
    s.meta.pkt_type = pkt_type::OUTGOING;
    s
}

fn up(fx: &mut Fx) {
    fx.b.link_set_up(fx.primary, true).unwrap();
    fx.b.link_set_up(fx.peer, true).unwrap();
}

#[test]
fn early_drops_count_tx_dropped() {
    let mut fx = Fx::new(Hook::Primary);
    let dp = fx.b.datapath();
    let s = || Skb::from_frame(&frame([0; 6]));
    let out = dp.xmit(fx.primary, s());
    assert_eq!(out.drop_reason(), Some(DropReason::PeerDown));
    // The dropped packet comes back whole, for its buffer to be reused.
    assert_eq!(out.into_skb().data(), &frame([0; 6])[..]);
    up(&mut fx);
    let runt = Skb::from_frame(&[0u8; 13]);
    assert_eq!(
        dp.xmit(fx.primary, runt).drop_reason(),
        Some(DropReason::Runt)
    );
    // Own state does not matter to the transmit routine, only the peer's admin state.
    fx.b.link_set_up(fx.primary, false).unwrap();
    assert!(matches!(dp.xmit(fx.primary, s()), Delivery::ToPeer { .. }));
    let st = dp.stats(fx.primary).unwrap();
    assert_eq!((st.tx_dropped, st.tx_packets, st.tx_bytes), (2, 1, 60));
    assert_eq!(dp.stats(fx.peer).unwrap().rx_bytes, 60);
    fx.b.link_del(fx.primary).unwrap();
    assert_eq!(
        dp.xmit(fx.primary, s()).drop_reason(),
        Some(DropReason::NoDevice)
    );
}

#[test]
fn policy_applies_only_without_programs() {
    let mut fx = Fx::with(
        Hook::Primary,
        NewLink {
            policy: Some(2),
            ..NewLink::default()
        },
    );
    up(&mut fx);
    assert_eq!(fx.send(), TxOutcome::Dropped);
    let t = fx.load(NEXT);
    fx.attach(t, 0, 0, 0).unwrap();
    assert!(
        matches!(fx.send(), TxOutcome::Delivered(_)),
        "all NEXT = pass, the policy is not consulted"
    );
    fx.detach(Some(t), 0, 0, 0).unwrap();
    assert_eq!(fx.send(), TxOutcome::Dropped);
    fx.hook = Hook::Peer;
    assert!(
        matches!(fx.send(), TxOutcome::Delivered(_)),
        "the peer's own policy is PASS"
    );
}

#[test]
fn chain_rule_and_verdict_mapping() {
    for (verdict, delivered) in [
        (0, true),
        (-1, true),
        (2, false),
        (1, false),
        (3, false),
        (4, false),
        (8, false),
        (42, false),
        (-2, false),
    ] {
        let mut fx = Fx::new(Hook::Primary);
        let t = [fx.load(NEXT), fx.load(verdict), fx.load(0)];
        for h in t {
            fx.attach(h, 0, 0, 0).unwrap();
        }
        let out = fx.send();
        assert_eq!(
            matches!(out, TxOutcome::Delivered(_)),
            delivered,
            "verdict {verdict}"
        );
        let third_runs = verdict == NEXT;
        assert_eq!(
            [fx.ran(t[0]), fx.ran(t[1]), fx.ran(t[2])],
            [1, 1, third_runs as u64]
        );
        let st = fx.b.link_get(fx.primary).unwrap().stats;
        assert_eq!(
            (st.tx_packets, st.tx_dropped),
            (delivered as u64, !delivered as u64)
        );
    }
}

#[test]
fn programs_see_the_receiving_device_and_pkt_type() {
    let peer_mac = [0x02, 0, 0, 0, 0, 9];
    let req = NewLink {
        mode: Some(0),
        peer: Some(PeerInfo {
            address: Some(peer_mac.to_vec()),
            ..PeerInfo::default()
        }),
        ..NewLink::default()
    };
    let mut fx = Fx::with(Hook::Primary, req);
    up(&mut fx);
    let p = probe(0, None);
    attach_probe(&mut fx, p.clone());
    let dp = fx.b.datapath();
    for (dst, expect) in [
        (peer_mac, pkt_type::HOST),
        ([0xff; 6], pkt_type::BROADCAST),
        ([0x01, 0, 0x5e, 0, 0, 1], pkt_type::MULTICAST),
        ([0x02, 0, 0, 0, 0, 8], pkt_type::OTHERHOST),
    ] {
        let Delivery::ToPeer { peer, skb: out } = dp.xmit(fx.primary, skb(dst, 0, 0)) else {
            panic!()
        };
        let seen = p.seen.lock().unwrap().unwrap();
        assert_eq!(seen.pkt_type, expect, "dst {dst:x?}");
        assert_eq!(
            (seen.ifindex, seen.ingress_ifindex),
            (fx.peer.0, 0),
            "skb->dev is the peer"
        );
        assert_eq!((peer, out.meta.ifindex), (fx.peer, fx.peer.0));
        assert_eq!(
            out.data(),
            &frame(dst)[..],
            "the Ethernet header stays in front"
        );
    }
}

/// (scrub, crossing netns) → (mark, priority, tstamp) kept?
#[test]
fn scrub_matrix() {
    for version in [KernelVersion::Newest, KernelVersion::V6_12] {
        for scrub in [0u32, 1] {
            for xnet in [false, true] {
                let mut b = UserBackend::with_version(version);
                let peer = PeerInfo {
                    netns: xnet.then(|| "foo".to_string()),
                    ..PeerInfo::default()
                };
                let c = b
                    .link_add(&NewLink {
                        scrub: Some(scrub),
                        peer: Some(peer),
                        ..NewLink::default()
                    })
                    .unwrap();
                b.link_set_up(c.primary, true).unwrap();
                b.set_caller_netns(xnet.then_some("foo"));
                b.link_set_up(c.peer.unwrap(), true).unwrap();
                b.set_caller_netns(None);
                let p = probe(0, None);
                let (h, _) = b.load_classifier("probe", p.clone());
                let req = AttachReq::append(c.primary, Hook::Primary, h);
                b.prog_attach(&req).unwrap();
                b.datapath().xmit(c.primary, skb([0; 6], 42, 0xeb9f));
                let m = p.seen.lock().unwrap().unwrap();
                let cleared = xnet && scrub == 1;
                assert_eq!(
                    m.mark,
                    if cleared { 0 } else { 42 },
                    "scrub {scrub} xnet {xnet}"
                );
                assert_eq!(
                    m.priority,
                    if cleared { 0 } else { 0xeb9f },
                    "scrub {scrub} xnet {xnet}"
                );
                assert_eq!(
                    m.tstamp,
                    if xnet { 0 } else { 1234 },
                    "receive timestamps are cleared across netns"
                );
                assert_eq!((m.pkt_type, m.ingress_ifindex), (pkt_type::HOST, 0));
            }
        }
    }
}

#[test]
fn scrub_without_scrub_attributes_is_the_old_one() {
    let mut compat = KernelVersion::V6_12.compat();
    compat.scrub_attrs = false;
    for xnet in [false, true] {
        let mut b = UserBackend::new(compat);
        let peer = PeerInfo {
            netns: xnet.then(|| "foo".to_string()),
            ..PeerInfo::default()
        };
        let c = b
            .link_add(&NewLink {
                scrub: Some(0),
                peer: Some(peer),
                ..NewLink::default()
            })
            .unwrap();
        assert_eq!(
            b.link_get(c.primary).unwrap().scrub,
            Scrub::Default,
            "SCRUB ignored"
        );
        b.set_caller_netns(xnet.then_some("foo"));
        b.link_set_up(c.peer.unwrap(), true).unwrap();
        let p = probe(0, None);
        b.set_caller_netns(None);
        let (h, _) = b.load_classifier("probe", p.clone());
        let req = AttachReq::append(c.primary, Hook::Primary, h);
        b.prog_attach(&req).unwrap();
        b.datapath().xmit(c.primary, skb([0; 6], 42, 7));
        let m = p.seen.lock().unwrap().unwrap();
        assert_eq!(
            (m.mark, m.priority),
            (if xnet { 0 } else { 42 }, 0),
            "xnet {xnet}"
        );
    }
}

#[test]
fn redirects() {
    let mut fx = Fx::with(
        Hook::Primary,
        NewLink {
            peer: Some(PeerInfo {
                netns: Some("pod".into()),
                ..PeerInfo::default()
            }),
            ..NewLink::default()
        },
    );
    fx.b.link_set_up(fx.primary, true).unwrap();
    fx.b.set_caller_netns(Some("pod"));
    fx.b.link_set_up(fx.peer, true).unwrap();
    let in_pod = fx.b.add_foreign_device("eth1", Some("pod")).unwrap();
    fx.b.set_caller_netns(None);
    // Ifindexes are allocated per namespace (both counters are at 3 here): one more device
    // first, so that eth0's ifindex is free in the pod.
    fx.b.add_foreign_device("eth9", None).unwrap();
    let in_host = fx.b.add_foreign_device("eth0", None).unwrap();
    assert_ne!(in_host, in_pod);
    let req = |ifindex: IfIndex, kind| {
        Some(RedirectRequest {
            ifindex: ifindex.0,
            kind,
        })
    };
    let cases = [
        (
            req(in_pod, RedirectKind::Egress),
            Some((in_pod, RedirectKind::Egress)),
        ),
        (
            req(in_pod, RedirectKind::Ingress),
            Some((in_pod, RedirectKind::Ingress)),
        ),
        (
            req(in_pod, RedirectKind::Neigh(None)),
            Some((in_pod, RedirectKind::Neigh(None))),
        ),
        (
            req(IfIndex(1), RedirectKind::Egress),
            Some((IfIndex(1), RedirectKind::Egress)),
        ),
        // Looked up in the receiving end's namespace: the host's device is not there.
        (req(in_host, RedirectKind::Egress), None),
        (req(IfIndex(12345), RedirectKind::Egress), None),
        (req(in_pod, RedirectKind::Peer), None),
        (None, None),
    ];
    let dp = fx.b.datapath();
    let pod = fx.b.netns_id(Some("pod"));
    let mut tx = 0;
    for (request, expect) in cases {
        let p = probe(7, request);
        let (h, _) = fx.b.load_classifier("redir", p);
        fx.attach(h, 0, 0, 0).unwrap();
        let out = dp.xmit(fx.primary, Skb::from_frame(&frame([0; 6])));
        match (out, expect) {
            (Delivery::Redirect { target, kind, skb }, Some((t, k))) => {
                assert_eq!((target, kind, skb.redirect), (t, k, None));
            }
            (Delivery::Drop { .. }, None) => {}
            (out, expect) => panic!("{request:?}: got {out:?}, expected {expect:?}"),
        }
        tx += 1;
        let st = dp.stats(fx.primary).unwrap();
        assert_eq!(
            (st.tx_packets, st.tx_bytes, st.tx_dropped),
            (tx, 60 * tx, 0),
            "tx counted on REDIRECT"
        );
        assert_eq!(dp.stats_in(pod, fx.peer).unwrap().rx_packets, 0);
        fx.detach(Some(h), 0, 0, 0).unwrap();
    }
}

#[test]
fn counters_use_the_length_on_entry() {
    struct Grow;
    impl Classifier for Grow {
        fn run(&self, skb: &mut Skb) -> i32 {
            skb.buf.extend_from_slice(&[0; 100]);
            0
        }
    }
    let mut fx = Fx::new(Hook::Peer);
    let (h, _) = fx.b.load_classifier("grow", Arc::new(Grow));
    fx.attach(h, 0, 0, 0).unwrap();
    let TxOutcome::Delivered(out) = fx.send() else {
        panic!()
    };
    assert_eq!(out.len(), 160);
    let q = fx.b.link_get(fx.peer).unwrap().stats;
    let p = fx.b.link_get(fx.primary).unwrap().stats;
    assert_eq!(
        (q.tx_packets, q.tx_bytes, p.rx_packets, p.rx_bytes),
        (1, 60, 1, 60)
    );
}

#[test]
fn a_packet_never_sees_half_an_update() {
    // Programs OR their bit into the mark. A writer keeps replacing the first program (bit 0
    // or 1) and inserting/removing a third (bit 3) before the second (bit 2); every packet
    // must show a chain that was published as a whole: one of bits 0/1, bit 2, maybe bit 3.
    struct Bit(u32);
    impl Classifier for Bit {
        fn run(&self, skb: &mut Skb) -> i32 {
            skb.meta.mark |= 1 << self.0;
            NEXT
        }
    }
    let mut fx = Fx::new(Hook::Primary);
    up(&mut fx);
    let hs: Vec<Handle> = (0..4)
        .map(|i| fx.b.load_classifier("bit", Arc::new(Bit(i))).0)
        .collect();
    fx.attach(hs[0], 0, 0, 0).unwrap();
    fx.attach(hs[2], 0, 0, 0).unwrap();
    let dp = fx.b.datapath();
    let primary = fx.primary;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_reader = stop.clone();
    let reader = std::thread::spawn(move || {
        let mut seen = std::collections::BTreeSet::new();
        while !stop_reader.load(std::sync::atomic::Ordering::Relaxed) {
            let Delivery::ToPeer { skb, .. } = dp.xmit(primary, Skb::from_frame(&frame([0; 6])))
            else {
                panic!("dropped")
            };
            seen.insert(skb.meta.mark);
        }
        seen
    });
    for i in 0..3000 {
        let (old, new) = if i % 2 == 0 { (0, 1) } else { (1, 0) };
        fx.attach_full(hs[new], flags::REPLACE, 0, Some(hs[old]), 0)
            .unwrap();
        if i % 3 == 0 {
            fx.attach(hs[3], flags::BEFORE, hs[2].0, 0).unwrap();
        } else if fx.order().len() == 3 {
            fx.detach(Some(hs[3]), 0, 0, 0).unwrap();
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let seen = reader.join().unwrap();
    assert!(!seen.is_empty());
    for mark in seen {
        assert!(
            [0b0101, 0b0110, 0b1101, 0b1110].contains(&mark),
            "mark {mark:#b} mixes two arrays"
        );
    }
}

#[test]
fn datapath_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    fn assert_send<T: Send>() {}
    assert_send_sync::<Datapath>();
    assert_send::<UserBackend>();
}

#[test]
fn a_panicking_program_drops_the_packet_not_the_process() {
    struct Bad;
    impl Classifier for Bad {
        fn run(&self, skb: &mut Skb) -> i32 {
            if skb.meta.mark == 13 {
                panic!("a buggy classifier");
            }
            0
        }
    }
    let mut fx = Fx::new(Hook::Primary);
    up(&mut fx);
    let (h, _) = fx.b.load_classifier("bad", Arc::new(Bad));
    fx.attach(h, 0, 0, 0).unwrap();
    let dp = fx.b.datapath();
    let out = dp.xmit(fx.primary, skb([0; 6], 13, 0));
    assert_eq!(out.drop_reason(), Some(DropReason::Verdict(2)));
    assert!(matches!(
        dp.xmit(fx.primary, skb([0; 6], 1, 0)),
        Delivery::ToPeer { .. }
    ));
    assert_eq!(dp.stats(fx.primary).unwrap().tx_dropped, 1);
}
