//! Device attributes, creation order and errnos, changelink, carrier, deletion, versions
//! (spec/netkit.md §1, §3.2, §7.1).

mod common;

use common::*;
use netkit_core::*;

fn add(b: &mut UserBackend, req: NewLink) -> Result<Created, Errno> {
    b.link_add(&req).map_err(|e| e.errno)
}

fn l2() -> NewLink {
    NewLink {
        mode: Some(0),
        ..NewLink::default()
    }
}

#[test]
fn default_names_peer_first() {
    let mut b = UserBackend::default();
    let c = add(&mut b, NewLink::default()).unwrap();
    let peer = c.peer.unwrap();
    assert!(
        peer < c.primary,
        "the peer registers first and gets the lower ifindex"
    );
    assert_eq!(b.link_get(peer).unwrap().name, "nk0");
    assert_eq!(b.link_get(c.primary).unwrap().name, "nk1");
    let c2 = add(&mut b, NewLink::default()).unwrap();
    assert_eq!(b.link_get(c2.peer.unwrap()).unwrap().name, "nk2");
    assert_eq!(b.link_get(c2.primary).unwrap().name, "nk3");
    assert_eq!(b.ifindex_by_name("nk3").unwrap(), c2.primary);
    // Selftest layout: primary named nk1, peer auto-named nk0.
    let mut b = UserBackend::default();
    let c = add(
        &mut b,
        NewLink {
            name: Some("nk1".into()),
            ..NewLink::default()
        },
    )
    .unwrap();
    assert_eq!(b.link_get(c.peer.unwrap()).unwrap().name, "nk0");
    // A template with %d is filled like the kernel's.
    let c = add(
        &mut b,
        NewLink {
            name: Some("pod%d".into()),
            ..NewLink::default()
        },
    )
    .unwrap();
    assert_eq!(b.link_get(c.primary).unwrap().name, "pod0");
}

#[test]
fn defaults_and_dump() {
    let mut b = UserBackend::default();
    let c = add(&mut b, NewLink::default()).unwrap();
    let p = b.link_get(c.primary).unwrap();
    let q = b.link_get(c.peer.unwrap()).unwrap();
    assert!(p.primary && !q.primary);
    assert_eq!(
        (p.mode, p.policy, p.peer_policy),
        (Mode::L3, Policy::Pass, Some(Policy::Pass))
    );
    assert_eq!(
        (p.scrub, p.peer_scrub),
        (Scrub::Default, Some(Scrub::Default))
    );
    assert_eq!((p.headroom, p.tailroom, p.pairing), (0, 0, Pairing::Pair));
    assert_eq!(
        (p.mtu, p.address, p.up, p.carrier),
        (1500, [0; 6], false, false)
    );
    assert_eq!((p.peer_ifindex, q.peer_ifindex), (c.peer, Some(c.primary)));
    assert_eq!(p.stats, Stats::default());
}

#[test]
fn every_attribute_is_applied() {
    let mut b = UserBackend::default();
    let req = NewLink {
        name: Some("host0".into()),
        mode: Some(0),
        policy: Some(2),
        peer_policy: Some(0),
        scrub: Some(0),
        peer_scrub: Some(1),
        headroom: Some(32),
        tailroom: Some(8),
        mtu: Some(9000),
        address: Some(vec![0xee, 0xff, 0xbb, 0xcc, 0xaa, 0xdd]),
        peer: Some(PeerInfo {
            name: Some("pod0".into()),
            mtu: Some(1400),
            address: Some(vec![0x02, 0, 0, 0, 0, 1]),
            netns: None,
            ifindex: 0,
        }),
        ..NewLink::default()
    };
    let c = add(&mut b, req).unwrap();
    let p = b.link_get(c.primary).unwrap();
    let q = b.link_get(c.peer.unwrap()).unwrap();
    assert_eq!((p.name.as_str(), q.name.as_str()), ("host0", "pod0"));
    assert_eq!((p.mode, q.mode), (Mode::L2, Mode::L2));
    assert_eq!(
        (p.policy, p.peer_policy, q.policy, q.peer_policy),
        (
            Policy::Drop,
            Some(Policy::Pass),
            Policy::Pass,
            Some(Policy::Drop)
        )
    );
    assert_eq!(
        (p.scrub, p.peer_scrub, q.scrub),
        (Scrub::None, Some(Scrub::Default), Scrub::Default)
    );
    assert_eq!(
        (p.headroom, p.tailroom, q.headroom, q.tailroom),
        (32, 8, 32, 8)
    );
    assert_eq!((p.mtu, q.mtu), (9000, 1400));
    assert_eq!(p.address, [0xee, 0xff, 0xbb, 0xcc, 0xaa, 0xdd]);
    assert_eq!(q.address, [0x02, 0, 0, 0, 0, 1]);
}

#[test]
fn l2_macs_are_random_local_unicast_and_mtu_without_peer_info_applies_to_both() {
    let mut b = UserBackend::default();
    let req = NewLink {
        mtu: Some(2000),
        address: Some(vec![0x02, 1, 2, 3, 4, 5]),
        ..l2()
    };
    let c = add(&mut b, req).unwrap();
    let p = b.link_get(c.primary).unwrap();
    let q = b.link_get(c.peer.unwrap()).unwrap();
    assert_eq!((p.mtu, q.mtu), (2000, 2000));
    assert_eq!(p.address, [0x02, 1, 2, 3, 4, 5]);
    assert_ne!(
        q.address, p.address,
        "a top-level address is not copied to the peer"
    );
    let c2 = add(&mut b, l2()).unwrap();
    let macs = [
        q.address,
        b.link_get(c2.primary).unwrap().address,
        b.link_get(c2.peer.unwrap()).unwrap().address,
    ];
    for m in macs {
        assert_eq!(
            m[0] & 0x03,
            0x02,
            "{m:x?} must be locally administered unicast"
        );
    }
    assert!(macs[0] != macs[1] && macs[1] != macs[2]);
}

#[test]
fn creation_errnos_in_kernel_order() {
    let mut b = UserBackend::default();
    b.link_add(&NewLink {
        name: Some("taken".into()),
        ..NewLink::default()
    })
    .unwrap();
    let before = b.link_get(IfIndex(3)).unwrap();
    let pi = |p: PeerInfo| Some(p);
    let cases: Vec<(NewLink, Errno)> = vec![
        (
            NewLink {
                primary: Some(1),
                ..NewLink::default()
            },
            Errno::EINVAL,
        ),
        (
            NewLink {
                primary: Some(1),
                mode: Some(5),
                ..NewLink::default()
            },
            Errno::EINVAL,
        ),
        (
            NewLink {
                mode: Some(2),
                ..NewLink::default()
            },
            Errno::ERANGE,
        ),
        (
            NewLink {
                mode: Some(2),
                policy: Some(7),
                ..NewLink::default()
            },
            Errno::ERANGE,
        ),
        (
            NewLink {
                scrub: Some(2),
                ..NewLink::default()
            },
            Errno::ERANGE,
        ),
        (
            NewLink {
                peer_scrub: Some(9),
                ..NewLink::default()
            },
            Errno::ERANGE,
        ),
        (
            NewLink {
                pairing: Some(2),
                ..NewLink::default()
            },
            Errno::ERANGE,
        ),
        (
            NewLink {
                policy: Some(1),
                ..NewLink::default()
            },
            Errno::EINVAL,
        ),
        (
            NewLink {
                policy: Some(7),
                ..NewLink::default()
            },
            Errno::EINVAL,
        ),
        (
            NewLink {
                peer_policy: Some(u32::MAX),
                ..NewLink::default()
            },
            Errno::EINVAL,
        ),
        (
            NewLink {
                address: Some(vec![2, 0, 0, 0, 0, 1]),
                ..NewLink::default()
            },
            Errno::EOPNOTSUPP,
        ),
        (
            NewLink {
                peer: pi(PeerInfo {
                    address: Some(vec![2, 0, 0, 0, 0, 1]),
                    ..PeerInfo::default()
                }),
                ..NewLink::default()
            },
            Errno::EOPNOTSUPP,
        ),
        (
            NewLink {
                address: Some(vec![2, 0, 0, 0, 1]),
                ..l2()
            },
            Errno::EINVAL,
        ),
        (
            NewLink {
                address: Some(vec![1, 0, 0, 0, 0, 1]),
                ..l2()
            },
            Errno::EADDRNOTAVAIL,
        ),
        (
            NewLink {
                address: Some(vec![0; 6]),
                ..l2()
            },
            Errno::EADDRNOTAVAIL,
        ),
        // Address validation precedes the L3 check, the policy check precedes it too.
        (
            NewLink {
                address: Some(vec![0xff; 6]),
                ..NewLink::default()
            },
            Errno::EADDRNOTAVAIL,
        ),
        (
            NewLink {
                address: Some(vec![2, 0, 0, 0, 0, 1]),
                policy: Some(3),
                ..NewLink::default()
            },
            Errno::EINVAL,
        ),
        (
            NewLink {
                mtu: Some(67),
                ..NewLink::default()
            },
            Errno::EINVAL,
        ),
        (
            NewLink {
                mtu: Some(65536),
                ..NewLink::default()
            },
            Errno::EINVAL,
        ),
        (
            NewLink {
                peer: pi(PeerInfo {
                    mtu: Some(10),
                    ..PeerInfo::default()
                }),
                ..NewLink::default()
            },
            Errno::EINVAL,
        ),
        (
            NewLink {
                name: Some("taken".into()),
                ..NewLink::default()
            },
            Errno::EEXIST,
        ),
        (
            NewLink {
                peer: pi(PeerInfo {
                    name: Some("taken".into()),
                    ..PeerInfo::default()
                }),
                ..NewLink::default()
            },
            Errno::EEXIST,
        ),
        (
            NewLink {
                name: Some("a b".into()),
                ..NewLink::default()
            },
            Errno::EINVAL,
        ),
        (
            NewLink {
                name: Some("x/y".into()),
                ..NewLink::default()
            },
            Errno::EINVAL,
        ),
        (
            NewLink {
                name: Some("".into()),
                ..NewLink::default()
            },
            Errno::EINVAL,
        ),
        (
            NewLink {
                name: Some("sixteen_chars_xx".into()),
                ..NewLink::default()
            },
            Errno::ERANGE,
        ),
        (
            NewLink {
                pairing: Some(1),
                peer: pi(PeerInfo::default()),
                ..NewLink::default()
            },
            Errno::EOPNOTSUPP,
        ),
        (
            NewLink {
                pairing: Some(1),
                peer_policy: Some(0),
                ..NewLink::default()
            },
            Errno::EOPNOTSUPP,
        ),
        (
            NewLink {
                pairing: Some(1),
                scrub: Some(1),
                ..NewLink::default()
            },
            Errno::EOPNOTSUPP,
        ),
        (
            NewLink {
                pairing: Some(1),
                policy: Some(2),
                ..NewLink::default()
            },
            Errno::EOPNOTSUPP,
        ),
    ];
    for (req, errno) in cases {
        assert_eq!(add(&mut b, req.clone()), Err(errno), "{req:?}");
    }
    // Nothing was left behind: the next default pair takes the next free names.
    assert_eq!(b.link_get(IfIndex(3)).unwrap(), before);
    let c = add(&mut b, NewLink::default()).unwrap();
    assert_eq!(b.link_get(c.peer.unwrap()).unwrap().name, "nk1");
    assert_eq!(b.link_get(c.primary).unwrap().name, "nk2");
}

#[test]
fn changelink_rules() {
    let mut fx = Fx::new(Hook::Primary);
    let (p, q) = (fx.primary, fx.peer);
    let ch = |b: &mut UserBackend, i, c: ChangeLink| b.link_change(i, &c).map_err(|e| e.errno);
    assert_eq!(
        ch(
            &mut fx.b,
            q,
            ChangeLink {
                policy: Some(2),
                ..ChangeLink::default()
            }
        ),
        Err(Errno::EACCES)
    );
    for c in [
        ChangeLink {
            mode: Some(0),
            ..ChangeLink::default()
        },
        ChangeLink {
            scrub: Some(0),
            ..ChangeLink::default()
        },
        ChangeLink {
            peer_scrub: Some(0),
            ..ChangeLink::default()
        },
        ChangeLink {
            peer_info: true,
            ..ChangeLink::default()
        },
        ChangeLink {
            headroom: Some(1),
            ..ChangeLink::default()
        },
        ChangeLink {
            tailroom: Some(1),
            ..ChangeLink::default()
        },
        ChangeLink {
            pairing: Some(0),
            ..ChangeLink::default()
        },
    ] {
        assert_eq!(ch(&mut fx.b, p, c.clone()), Err(Errno::EACCES), "{c:?}");
    }
    assert_eq!(
        ch(
            &mut fx.b,
            p,
            ChangeLink {
                mode: Some(7),
                ..ChangeLink::default()
            }
        ),
        Err(Errno::ERANGE)
    );
    assert_eq!(
        ch(
            &mut fx.b,
            p,
            ChangeLink {
                policy: Some(7),
                ..ChangeLink::default()
            }
        ),
        Err(Errno::EINVAL)
    );
    assert_eq!(fx.b.link_get(p).unwrap().policy, Policy::Pass);
    // POLICY is committed before PEER_POLICY is validated.
    let c = ChangeLink {
        policy: Some(2),
        peer_policy: Some(1),
        ..ChangeLink::default()
    };
    assert_eq!(ch(&mut fx.b, p, c), Err(Errno::EINVAL));
    assert_eq!(fx.b.link_get(p).unwrap().policy, Policy::Drop);
    assert_eq!(fx.b.link_get(q).unwrap().policy, Policy::Pass);
    ch(
        &mut fx.b,
        p,
        ChangeLink {
            peer_policy: Some(2),
            ..ChangeLink::default()
        },
    )
    .unwrap();
    assert_eq!(fx.b.link_get(q).unwrap().policy, Policy::Drop);
    assert_eq!(fx.b.link_get(p).unwrap().peer_policy, Some(Policy::Drop));
    assert_eq!(
        fx.b.link_get(q).unwrap().peer_policy,
        Some(Policy::Drop),
        "PEER_* is relative to the dumped device"
    );
    assert_eq!(
        ch(&mut fx.b, IfIndex(1), ChangeLink::default()),
        Err(Errno::EOPNOTSUPP)
    );
    assert_eq!(
        ch(&mut fx.b, IfIndex(99), ChangeLink::default()),
        Err(Errno::ENODEV)
    );
}

#[test]
fn mac_and_mtu_changes() {
    let mut fx = Fx::new(Hook::Primary);
    let mac = [0xee, 0xff, 0xbb, 0xcc, 0xaa, 0xdd];
    assert_eq!(
        fx.b.link_set_address(fx.primary, &mac).unwrap_err().errno,
        Errno::EOPNOTSUPP,
        "L3"
    );
    let mut fx = Fx::with(Hook::Primary, l2());
    fx.b.link_set_up(fx.primary, true).unwrap();
    fx.b.link_set_address(fx.primary, &mac).unwrap();
    assert_eq!(
        fx.b.link_get(fx.primary).unwrap().address,
        mac,
        "live address change while up"
    );
    let err = |r: Result<(), Error>| r.unwrap_err().errno;
    assert_eq!(
        err(fx.b.link_set_address(fx.peer, &[1, 2, 3, 4, 5, 6])),
        Errno::EADDRNOTAVAIL
    );
    assert_eq!(
        err(fx.b.link_set_address(fx.peer, &[2, 2, 3])),
        Errno::EINVAL
    );
    assert_eq!(err(fx.b.link_set_mtu(fx.peer, 67)), Errno::EINVAL);
    assert_eq!(err(fx.b.link_set_mtu(fx.peer, 65536)), Errno::EINVAL);
    fx.b.link_set_mtu(fx.peer, 65535).unwrap();
    assert_eq!(fx.b.link_get(fx.peer).unwrap().mtu, 65535);
    assert_eq!(
        fx.b.link_get(fx.primary).unwrap().mtu,
        1500,
        "MTUs are independent"
    );
}

#[test]
fn carrier_only_when_both_up() {
    let mut fx = Fx::new(Hook::Primary);
    let carrier = |fx: &Fx| {
        (
            fx.b.link_get(fx.primary).unwrap().carrier,
            fx.b.link_get(fx.peer).unwrap().carrier,
        )
    };
    fx.b.link_set_up(fx.primary, true).unwrap();
    assert_eq!(carrier(&fx), (false, false));
    fx.b.link_set_up(fx.peer, true).unwrap();
    assert_eq!(carrier(&fx), (true, true));
    fx.b.link_set_up(fx.primary, false).unwrap();
    assert_eq!(carrier(&fx), (false, false));
    assert!(fx.b.link_get(fx.peer).unwrap().up);
    fx.b.link_set_up(fx.primary, true).unwrap();
    assert_eq!(carrier(&fx), (true, true));
    // A "move" into the namespace it is in changes nothing.
    fx.b.link_set_netns(fx.peer, None).unwrap();
    assert_eq!(carrier(&fx), (true, true));
    // A namespace move closes the moved device.
    fx.b.link_set_netns(fx.peer, Some("foo")).unwrap();
    assert!(!fx.b.link_get(fx.primary).unwrap().carrier);
    assert_eq!(
        fx.b.link_get(fx.peer).unwrap_err().errno,
        Errno::ENODEV,
        "peer is in foo now"
    );
    fx.b.set_caller_netns(Some("foo"));
    let q = fx.b.link_get(fx.peer).unwrap();
    assert_eq!(
        (q.up, q.carrier, q.netns.as_deref()),
        (false, false, Some("foo"))
    );
}

#[test]
fn delete_either_deletes_both() {
    for del_peer in [false, true] {
        let mut fx = Fx::new(Hook::Primary);
        fx.b.link_del(if del_peer { fx.peer } else { fx.primary })
            .unwrap();
        assert_eq!(fx.b.link_get(fx.primary).unwrap_err().errno, Errno::ENODEV);
        assert_eq!(fx.b.link_get(fx.peer).unwrap_err().errno, Errno::ENODEV);
        assert_eq!(fx.b.link_del(fx.primary).unwrap_err().errno, Errno::ENODEV);
        assert_eq!(
            fx.b.ifindex_by_name("nk1").unwrap_err().errno,
            Errno::ENODEV
        );
        fx.b.link_add(&NewLink {
            name: Some("nk1".into()),
            ..NewLink::default()
        })
        .unwrap();
    }
    let mut b = UserBackend::default();
    assert_eq!(
        b.link_del(IfIndex(1)).unwrap_err().errno,
        Errno::EOPNOTSUPP,
        "loopback"
    );
}

#[test]
fn bpf_device_resolution() {
    let mut fx = Fx::new(Hook::Primary);
    let t = fx.load(NEXT);
    fx.link(t, 0, 0, 0).unwrap();
    for hook in HOOKS {
        assert_eq!(fx.query_on(fx.peer, hook, None).unwrap_err(), Errno::EACCES);
        assert_eq!(
            fx.query_on(IfIndex(1), hook, None).unwrap_err(),
            Errno::ENXIO
        );
        assert_eq!(
            fx.query_on(IfIndex(999), hook, None).unwrap_err(),
            Errno::ENODEV
        );
        let t2 = fx.load(NEXT);
        let req = LinkCreateReq {
            ifindex: fx.peer,
            hook,
            prog: t2,
            flags: 0,
            relative: Relative(0),
            expected_revision: 0,
        };
        assert_eq!(fx.b.link_create(&req).unwrap_err().errno, Errno::EACCES);
        let req = AttachReq {
            ifindex: IfIndex(1),
            hook,
            prog: t2,
            flags: 0,
            relative: Relative(0),
            replace: None,
            expected_revision: 0,
        };
        assert_eq!(fx.b.prog_attach(&req).unwrap_err().errno, Errno::ENXIO);
    }
    assert_eq!(
        (fx.count_of(Hook::Primary), fx.count_of(Hook::Peer)),
        (1, 0)
    );
    // Moved to another namespace, the primary is no longer found by ifindex.
    fx.b.link_set_netns(fx.primary, Some("other")).unwrap();
    assert_eq!(
        fx.query_on(fx.primary, Hook::Primary, None).unwrap_err(),
        Errno::ENODEV
    );
}
