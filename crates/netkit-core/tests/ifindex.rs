//! Ifindexes per namespace (spec/netkit.md §1.3): creation at requested ifindexes with the
//! kernel's errnos, equal ifindexes in different namespaces, `skb->ifindex` and redirect
//! targets resolved in the receiving end's namespace, and targets left to the caller.

mod common;

use std::sync::{Arc, Mutex};

use common::frame;
use netkit_bpf::skb::{RedirectKind, RedirectRequest, Skb};
use netkit_core::*;

/// Records `skb->ifindex` and asks for a redirect to `target` (REDIRECT), or passes.
struct Seen {
    target: Option<u32>,
    ifindex: Mutex<Option<u32>>,
}

impl Classifier for Seen {
    fn run(&self, skb: &mut Skb) -> i32 {
        *self.ifindex.lock().unwrap() = Some(skb.meta.ifindex);
        match self.target {
            Some(t) => {
                skb.redirect = Some(RedirectRequest {
                    ifindex: t,
                    kind: RedirectKind::Egress,
                });
                7
            }
            None => 0,
        }
    }
}

fn pair(name: &str, peer: &str, ns: &str) -> NewLink {
    NewLink {
        name: Some(name.into()),
        peer: Some(PeerInfo {
            name: Some(peer.into()),
            netns: Some(ns.into()),
            ..PeerInfo::default()
        }),
        ..NewLink::default()
    }
}

fn at(primary: i32, peer: i32) -> IfIndexRequest {
    IfIndexRequest { primary, peer }
}

/// Two pods whose peers both have ifindex 2 (as a pod's first interface has), primaries 20, 21.
fn two_pods() -> UserBackend {
    let mut b = UserBackend::default();
    let c = b
        .link_add_at(&pair("h0", "eth0", "pod0"), at(20, 2))
        .unwrap();
    assert_eq!((c.primary, c.peer), (IfIndex(20), Some(IfIndex(2))));
    let c = b
        .link_add_at(&pair("h1", "eth0", "pod1"), at(21, 2))
        .unwrap();
    assert_eq!((c.primary, c.peer), (IfIndex(21), Some(IfIndex(2))));
    for (dev, ns) in [(20, None), (21, None), (2, Some("pod0")), (2, Some("pod1"))] {
        b.set_caller_netns(ns);
        b.link_set_up(IfIndex(dev), true).unwrap();
    }
    b.set_caller_netns(None);
    b
}

#[test]
fn equal_ifindexes_in_different_namespaces() {
    let mut b = two_pods();
    b.set_caller_netns(Some("pod1"));
    let info = b.link_get(IfIndex(2)).unwrap();
    assert_eq!(
        (info.name.as_str(), info.peer_ifindex),
        ("eth0", Some(IfIndex(21)))
    );
    b.set_caller_netns(None);
    assert_eq!(
        b.link_get(IfIndex(20)).unwrap().peer_ifindex,
        Some(IfIndex(2))
    );
    let e = b.link_get(IfIndex(2)).unwrap_err();
    assert_eq!(
        e.errno,
        Errno::ENODEV,
        "the peers are not in the initial namespace"
    );
    // Deleting one pod's pair leaves the other's ifindex 2 alone.
    b.link_del(IfIndex(20)).unwrap();
    b.set_caller_netns(Some("pod1"));
    assert_eq!(
        b.link_get(IfIndex(2)).unwrap().peer_ifindex,
        Some(IfIndex(21))
    );
}

/// Each errno here was observed on Linux 6.12 (netkit-vm, RTM_NEWLINK with `ifi_index` set
/// in the message and in PEER_INFO).
#[test]
fn requested_ifindexes_follow_the_kernel_rules() {
    let mut b = two_pods();
    let errno = |b: &mut UserBackend, req: &NewLink, r| b.link_add_at(req, r).unwrap_err().errno;
    // The primary's ifindex is looked up in the caller's namespace first: EEXIST.
    assert_eq!(
        errno(&mut b, &pair("x", "y", "pod2"), at(20, 0)),
        Errno::EEXIST
    );
    assert_eq!(
        errno(&mut b, &pair("x", "y", "pod2"), at(1, 0)),
        Errno::EEXIST
    );
    assert_eq!(
        errno(&mut b, &pair("x", "y", "pod2"), at(-3, 0)),
        Errno::EINVAL
    );
    // The peer's is reserved at its registration in its namespace: EBUSY, nothing left.
    assert_eq!(
        errno(&mut b, &pair("x", "y", "pod0"), at(30, 2)),
        Errno::EBUSY
    );
    assert_eq!(
        errno(&mut b, &pair("x", "y", "pod0"), at(30, 1)),
        Errno::EBUSY
    );
    assert_eq!(
        errno(&mut b, &pair("x", "y", "pod0"), at(30, -1)),
        Errno::EINVAL
    );
    // Both ends in one namespace asking for one ifindex: the primary's registration fails.
    let mut same = pair("x", "y", "pod0");
    same.peer.as_mut().unwrap().netns = None;
    assert_eq!(errno(&mut b, &same, at(30, 30)), Errno::EBUSY);
    b.set_caller_netns(Some("pod0"));
    assert_eq!(b.ifindex_by_name("y").unwrap_err().errno, Errno::ENODEV);
    b.set_caller_netns(None);
    assert_eq!(b.ifindex_by_name("x").unwrap_err().errno, Errno::ENODEV);
    // The peer's request counts only with the primary's (netkit_new_link).
    let c = b.link_add_at(&pair("x", "y", "pod0"), at(0, 2)).unwrap();
    assert_ne!(c.peer, Some(IfIndex(2)));
    let c = b.link_add_at(&pair("v", "w", "pod0"), at(40, 41)).unwrap();
    assert_eq!((c.primary, c.peer), (IfIndex(40), Some(IfIndex(41))));
    // Allocation skips what was requested.
    let c = b.link_add(&pair("t", "u", "pod0")).unwrap();
    for i in [c.primary, c.peer.unwrap()] {
        assert!(![1, 2, 20, 21, 40, 41].contains(&i.0), "{i:?} was taken");
    }
}

/// A change to a request and the errno it must give.
type Case<'a> = (&'a dyn Fn(&mut NewLink), Errno);

/// The order measured on Linux 6.12 (scenarios/ifindex-03-taken-order.scn): what the netlink
/// policies and netkit_validate refuse wins over a taken ifindex (EEXIST), what device creation
/// and netkit_new_link refuse loses to it.
#[test]
fn a_taken_ifindex_loses_to_policies_and_wins_over_netkit_new_link() {
    for (version, bad_mode) in [
        (KernelVersion::V6_12, Errno::EEXIST),
        (KernelVersion::Newest, Errno::ERANGE),
    ] {
        let mut b = UserBackend::new(version.compat());
        b.set_caller_netns(Some("pod0"));
        let mut first = pair("nka", "nkb", "pod0");
        first.ifindex = 40;
        first.peer.as_mut().unwrap().ifindex = 41;
        let c = b.link_add(&first).unwrap();
        assert_eq!((c.primary, c.peer), (IfIndex(40), Some(IfIndex(41))));
        let mut errno = |change: &dyn Fn(&mut NewLink)| {
            let mut req = NewLink {
                name: Some("nkc".into()),
                ifindex: 40,
                ..NewLink::default()
            };
            change(&mut req);
            b.link_add(&req).unwrap_err().errno
        };
        let early: [Case; 4] = [
            (&|r| r.primary = Some(1), Errno::EINVAL),
            (
                &|r| r.address = Some(vec![1, 0, 0, 0, 0, 1]),
                Errno::EADDRNOTAVAIL,
            ),
            (&|r| r.scrub = Some(5), Errno::ERANGE),
            (&|r| r.name = Some("x".repeat(16)), Errno::ERANGE),
        ];
        let late: [Case; 5] = [
            (&|_| {}, Errno::EEXIST),
            (&|r| r.policy = Some(9), Errno::EEXIST),
            (&|r| r.mtu = Some(10), Errno::EEXIST),
            (&|r| r.address = Some(vec![2, 0, 0, 0, 0, 1]), Errno::EEXIST),
            (&|r| r.mode = Some(7), bad_mode),
        ];
        for (i, (change, want)) in early.iter().chain(&late).enumerate() {
            assert_eq!(errno(*change), *want, "{version:?} case {i}");
        }
        // Free, the late ones give their own errors.
        let free = |b: &mut UserBackend, change: &dyn Fn(&mut NewLink)| {
            let mut req = NewLink {
                ifindex: 42,
                ..NewLink::default()
            };
            change(&mut req);
            b.link_add(&req).unwrap_err().errno
        };
        assert_eq!(free(&mut b, &|r| r.policy = Some(9)), Errno::EINVAL);
        assert_eq!(free(&mut b, &|r| r.mtu = Some(10)), Errno::EINVAL);
        // The primary's MTU (rtnl_create_link) before netkit_new_link's PEER_INFO checks.
        let bad_peer = |r: &mut NewLink| {
            r.mtu = Some(10);
            r.peer = Some(PeerInfo {
                name: Some("y".repeat(16)),
                ..PeerInfo::default()
            });
        };
        assert_eq!(free(&mut b, &bad_peer), Errno::EINVAL);
    }
}

/// dev_index_reserve(net, 0): each namespace has its own cyclic counter, which requested
/// ifindexes do not move and which does not go back to freed ones
/// (scenarios/ifindex-04-allocator.scn, measured on 6.12).
#[test]
fn each_namespace_allocates_from_its_own_counter() {
    let mut b = UserBackend::default();
    b.set_caller_netns(Some("pod0"));
    let here = |name: &str, peer: &str| {
        let mut r = pair(name, peer, "pod0");
        r.peer.as_mut().unwrap().netns = None;
        r
    };
    let ends = |c: Created| (c.primary.0, c.peer.map(|p| p.0));
    assert_eq!(ends(b.link_add(&here("a", "b")).unwrap()), (3, Some(2)));
    let mut high = here("c", "d");
    high.ifindex = 100;
    high.peer.as_mut().unwrap().ifindex = 101;
    assert_eq!(ends(b.link_add(&high).unwrap()), (100, Some(101)));
    assert_eq!(ends(b.link_add(&here("e", "f")).unwrap()), (5, Some(4)));
    b.link_del(IfIndex(5)).unwrap();
    assert_eq!(ends(b.link_add(&here("g", "h")).unwrap()), (7, Some(6)));
    // Another namespace starts at 2; a peer placed elsewhere takes that namespace's next one.
    b.set_caller_netns(Some("pod1"));
    assert_eq!(
        ends(b.link_add(&pair("i", "j", "pod0")).unwrap()),
        (2, Some(8))
    );
}

#[test]
fn moving_into_a_namespace_where_the_ifindex_is_taken_renumbers() {
    let mut b = two_pods();
    b.link_add_at(&pair("h2", "eth9", "pod2"), at(22, 2))
        .unwrap();
    b.set_caller_netns(Some("pod2"));
    b.link_set_netns(IfIndex(2), Some("pod0")).unwrap();
    b.set_caller_netns(Some("pod0"));
    let moved = b.ifindex_by_name("eth9").unwrap();
    assert_ne!(moved, IfIndex(2), "ifindex 2 is pod0's eth0");
    assert_eq!(b.link_get(moved).unwrap().peer_ifindex, Some(IfIndex(22)));
    assert_eq!(b.link_get(IfIndex(2)).unwrap().name, "eth0");
    b.set_caller_netns(None);
    assert_eq!(b.link_get(IfIndex(22)).unwrap().peer_ifindex, Some(moved));
}

#[test]
fn programs_see_the_receiving_ends_ifindex_and_redirect_there() {
    let mut b = two_pods();
    let pod0 = b.netns_id(Some("pod0"));
    let seen = Arc::new(Seen {
        target: None,
        ifindex: Mutex::new(None),
    });
    let (h, _) = b.load_classifier("seen", seen.clone());
    let attach = |b: &mut UserBackend, hook, prog| {
        let req = AttachReq {
            ifindex: IfIndex(20),
            hook,
            prog,
            flags: 0,
            relative: Relative(0),
            replace: None,
            expected_revision: 0,
        };
        b.prog_attach(&req).unwrap();
    };
    attach(&mut b, Hook::Peer, h);
    let dp = b.datapath();
    // From the pod's eth0 (ifindex 2 in pod0) to the host end, ifindex 20.
    let out = dp.xmit_in(pod0, IfIndex(2), Skb::from_frame(&frame([0; 6])));
    assert!(
        matches!(
            out,
            Delivery::ToPeer {
                peer: IfIndex(20),
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(*seen.ifindex.lock().unwrap(), Some(20));
    assert_eq!(dp.stats_in(pod0, IfIndex(2)).unwrap().tx_packets, 1);
    assert_eq!(
        dp.xmit(IfIndex(2), Skb::from_frame(&frame([0; 6])))
            .drop_reason(),
        Some(DropReason::NoDevice)
    );

    // Redirect targets are looked up where the receiving end (eth0, in pod0) is: 21 is the
    // other pod's host end, in the initial namespace, so it is not found there.
    let redirect = |b: &mut UserBackend, target| {
        let p = Arc::new(Seen {
            target: Some(target),
            ifindex: Mutex::new(None),
        });
        let (h, _) = b.load_classifier("redirect", p.clone());
        attach(b, Hook::Primary, h);
        let out = b
            .datapath()
            .xmit(IfIndex(20), Skb::from_frame(&frame([0; 6])));
        let req = DetachReq {
            ifindex: IfIndex(20),
            hook: Hook::Primary,
            prog: Some(h),
            flags: 0,
            relative: Relative(0),
            expected_revision: 0,
        };
        b.prog_detach(&req).unwrap();
        assert_eq!(
            *p.ifindex.lock().unwrap(),
            Some(2),
            "skb->ifindex = the pod's eth0"
        );
        out
    };
    let dropped = |out: &Delivery| matches!(out.drop_reason(), Some(DropReason::RedirectTarget));
    assert!(dropped(&redirect(&mut b, 21)));
    assert!(dropped(&redirect(&mut b, 77)));
    // Unknown targets go to the caller once it says it knows the kernel's interfaces.
    b.set_external_targets(true);
    let out = redirect(&mut b, 77);
    assert!(
        matches!(
            out,
            Delivery::Redirect {
                target: IfIndex(77),
                kind: RedirectKind::Egress,
                ..
            }
        ),
        "{out:?}"
    );
    assert!(
        dropped(&redirect(&mut b, 0)),
        "ifindex 0 names nothing anywhere"
    );
}
