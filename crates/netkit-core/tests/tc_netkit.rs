//! spec/mprog.md §4.3 / spec/netkit.md §4.2 (tc_netkit.c), on the user backend.

mod common;

use common::*;
use netkit_core::flags::*;
use netkit_core::*;

fn pair(mode: u32, netns: Option<&str>) -> NewLink {
    NewLink {
        name: Some("nk1".into()),
        mode: Some(mode),
        peer: Some(PeerInfo {
            netns: netns.map(str::to_string),
            ..PeerInfo::default()
        }),
        ..NewLink::default()
    }
}

/// Brings both ends up, the peer from inside its namespace.
fn up(fx: &mut Fx, netns: Option<&str>) {
    fx.b.link_set_up(fx.primary, true).unwrap();
    fx.b.set_caller_netns(netns);
    fx.b.link_set_up(fx.peer, true).unwrap();
    fx.b.set_caller_netns(None);
}

#[test]
fn tc_netkit_basic() {
    let mut fx = Fx::with(Hook::Primary, pair(0, Some("foo")));
    up(&mut fx, Some("foo"));
    let t = fx.progs(2);
    assert_ne!(fx.id(t[0]), fx.id(t[1]));
    assert_eq!(
        (fx.count_of(Hook::Primary), fx.count_of(Hook::Peer)),
        (0, 0)
    );
    let (h1, l1) = fx.link(t[0], 0, 0, 0).unwrap();
    assert_eq!(
        (fx.count_of(Hook::Primary), fx.count_of(Hook::Peer)),
        (1, 0)
    );
    let q = fx.query_on(fx.primary, Hook::Primary, Some(2)).unwrap();
    assert_eq!(
        (q.count, q.revision, q.progs),
        (1, 2, vec![(fx.id(t[0]), Some(l1))])
    );
    let frame = frame([0; 6]);
    fx.b.transmit(fx.primary, &frame).unwrap();
    assert_eq!((fx.ran(t[0]), fx.ran(t[1])), (1, 0));
    fx.hook = Hook::Peer;
    let (h2, l2) = fx.link(t[1], 0, 0, 0).unwrap();
    assert_ne!(l1, l2);
    let q = fx.query_on(fx.primary, Hook::Peer, Some(2)).unwrap();
    assert_eq!(
        (q.count, q.revision, q.progs),
        (1, 2, vec![(fx.id(t[1]), Some(l2))])
    );
    // The echo reply leaves through the peer, from inside its namespace.
    fx.b.transmit(fx.primary, &frame).unwrap();
    fx.b.set_caller_netns(Some("foo"));
    fx.b.transmit(fx.peer, &frame).unwrap();
    fx.b.set_caller_netns(None);
    assert_eq!((fx.ran(t[0]), fx.ran(t[1])), (2, 1));
    fx.b.link_close(h1).unwrap();
    fx.b.link_close(h2).unwrap();
    assert_eq!(
        (fx.count_of(Hook::Primary), fx.count_of(Hook::Peer)),
        (0, 0)
    );
}

#[test]
fn tc_netkit_multi_links_and_opts() {
    for mode in [0, 1] {
        for hook in HOOKS {
            for use_links in [true, false] {
                let mut fx = Fx::with(hook, pair(mode, None));
                let t = fx.progs(2);
                let l1 = if use_links {
                    fx.link(t[0], 0, 0, 0).unwrap().1.into()
                } else {
                    fx.attach(t[0], 0, 0, 0).map(|_| None).unwrap()
                };
                let q = fx.query();
                assert_eq!((q.count, q.revision), (1, 2));
                assert_eq!(fx.ran_on_send(&t), [true, false]);
                let l2 = if use_links {
                    fx.link(t[1], BEFORE, t[0].0, 0).unwrap().1.into()
                } else {
                    fx.attach(t[1], BEFORE, t[0].0, 0).map(|_| None).unwrap()
                };
                let q = fx.query();
                assert_eq!((q.count, q.revision), (2, 3));
                assert_eq!(fx.order(), fx.ids(&[t[1], t[0]]));
                assert_eq!(fx.owners(), [l2, l1]);
                assert_eq!(fx.ran_on_send(&t), [true, true]);
                if !use_links {
                    fx.detach(Some(t[1]), 0, 0, 0).unwrap();
                    assert_eq!(fx.count(), 1);
                    fx.detach(Some(t[0]), 0, 0, 0).unwrap();
                    assert_eq!(fx.count(), 0);
                }
            }
        }
    }
}

#[test]
fn tc_netkit_device() {
    let mut fx = Fx::with(Hook::Primary, pair(1, None));
    let t = fx.progs(3);
    fx.link(t[0], 0, 0, 0).unwrap();
    let q = fx.query();
    assert_eq!((q.count, q.revision), (1, 2));
    assert_eq!(fx.ran_on_send(&t), [true, false, false]);
    assert_eq!(fx.b.link_get(fx.peer).unwrap().name, "nk0");
    for hook in HOOKS {
        assert_eq!(fx.query_on(fx.peer, hook, None).unwrap_err(), Errno::EACCES);
    }
    for (hook, prog) in [(Hook::Peer, t[1]), (Hook::Primary, t[2])] {
        let req = LinkCreateReq {
            ifindex: fx.peer,
            hook,
            prog,
            flags: 0,
            relative: Relative(0),
            expected_revision: 0,
        };
        assert_eq!(fx.b.link_create(&req).unwrap_err().errno, Errno::EACCES);
    }
    assert_eq!(
        (fx.count_of(Hook::Primary), fx.count_of(Hook::Peer)),
        (1, 0)
    );
}

#[test]
fn tc_netkit_pkt_type_and_headroom_survive() {
    // tc1-like: a program that changes pkt_type; the type reaches the peer's receive side.
    struct SetType;
    impl Classifier for SetType {
        fn run(&self, skb: &mut netkit_bpf::skb::Skb) -> i32 {
            assert_eq!(skb.meta.pkt_type, netkit_bpf::skb::pkt_type::HOST);
            skb.data_mut()[0] = 0x04;
            skb.meta.pkt_type = netkit_bpf::skb::pkt_type::MULTICAST;
            NEXT
        }
    }
    for mode in [0, 1] {
        let mut fx = Fx::with(Hook::Primary, pair(mode, None));
        fx.b.link_set_netns(fx.peer, Some("foo")).unwrap();
        up(&mut fx, Some("foo"));
        let (h, _) =
            fx.b.load_classifier("set_type", std::sync::Arc::new(SetType));
        fx.link(h, 0, 0, 0).unwrap();
        let peer_mac = {
            fx.b.set_caller_netns(Some("foo"));
            let m = fx.b.link_get(fx.peer).unwrap().address;
            fx.b.set_caller_netns(None);
            m
        };
        let out = fx.b.datapath().xmit(
            fx.primary,
            netkit_bpf::skb::Skb::from_frame(&frame(peer_mac)),
        );
        let Delivery::ToPeer { skb, .. } = out else {
            panic!("{out:?}")
        };
        assert_eq!(
            (skb.meta.pkt_type, skb.data()[0]),
            (netkit_bpf::skb::pkt_type::MULTICAST, 4)
        );
    }
    let mut b = UserBackend::default();
    let req = NewLink {
        mode: Some(0),
        scrub: Some(0),
        peer_scrub: Some(0),
        headroom: Some(32),
        tailroom: Some(8),
        ..NewLink::default()
    };
    let c = b.link_add(&req).unwrap();
    let peer = b.link_get(c.peer.unwrap()).unwrap();
    assert_eq!(
        (peer.headroom, peer.tailroom, peer.scrub),
        (32, 8, Scrub::None)
    );
}
