//! Single-device mode, kernel-version differences and per-namespace names
//! (spec/netkit.md §1.2, §1.13, §5; docs/kernel-6.12-facts.md).

mod common;

use common::*;
use netkit_core::*;

fn add(b: &mut UserBackend, req: NewLink) -> Result<Created, Errno> {
    b.link_add(&req).map_err(|e| e.errno)
}

#[test]
fn single_device_mode() {
    let mut b = UserBackend::default();
    let c = add(
        &mut b,
        NewLink {
            pairing: Some(1),
            ..NewLink::default()
        },
    )
    .unwrap();
    assert_eq!(c.peer, None);
    let d = b.link_get(c.primary).unwrap();
    assert_eq!(
        (d.pairing, d.peer_ifindex, d.peer_policy),
        (Pairing::Single, None, None)
    );
    b.link_set_up(c.primary, true).unwrap();
    assert!(
        b.link_get(c.primary).unwrap().carrier,
        "single mode: carrier on at open"
    );
    let q = QueryReq {
        ifindex: c.primary,
        hook: Hook::Primary,
        query_flags: 0,
        attach_flags: 0,
        capacity: None,
    };
    assert_eq!(b.prog_query(&q).unwrap_err().0.errno, Errno::EOPNOTSUPP);
    let ch = ChangeLink {
        policy: Some(0),
        ..ChangeLink::default()
    };
    assert_eq!(
        b.link_change(c.primary, &ch).unwrap_err().errno,
        Errno::EOPNOTSUPP
    );
    let ch = ChangeLink {
        peer_policy: Some(0),
        ..ChangeLink::default()
    };
    assert_eq!(
        b.link_change(c.primary, &ch).unwrap_err().errno,
        Errno::EOPNOTSUPP
    );
    assert_eq!(
        b.transmit(c.primary, &frame([0; 6])).unwrap(),
        TxOutcome::Dropped
    );
    assert_eq!(b.link_get(c.primary).unwrap().stats.tx_dropped, 1);
}

#[test]
fn kernel_6_12_ignores_newer_attributes() {
    let mut b = UserBackend::with_version(KernelVersion::V6_12);
    let req = NewLink {
        headroom: Some(32),
        tailroom: Some(8),
        pairing: Some(1),
        scrub: Some(0),
        ..NewLink::default()
    };
    let c = add(&mut b, req).unwrap();
    let d = b.link_get(c.primary).unwrap();
    assert_eq!(
        (d.headroom, d.tailroom, d.pairing, d.scrub),
        (0, 0, Pairing::Pair, Scrub::None)
    );
    assert!(
        c.peer.is_some(),
        "PAIRING is unknown to 6.12: a pair is created"
    );
    assert_eq!(
        add(
            &mut b,
            NewLink {
                pairing: Some(9),
                ..NewLink::default()
            }
        )
        .map(|_| ()),
        Ok(())
    );
    let ch =
        |b: &mut UserBackend, c: ChangeLink| b.link_change(IfIndex(3), &c).map_err(|e| e.errno);
    assert_eq!(
        ch(
            &mut b,
            ChangeLink {
                peer_info: true,
                ..ChangeLink::default()
            }
        ),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        ch(
            &mut b,
            ChangeLink {
                headroom: Some(4),
                ..ChangeLink::default()
            }
        ),
        Ok(())
    );
    assert_eq!(
        ch(
            &mut b,
            ChangeLink {
                scrub: Some(1),
                ..ChangeLink::default()
            }
        ),
        Err(Errno::EACCES)
    );
    let err = add(
        &mut b,
        NewLink {
            mode: Some(2),
            ..NewLink::default()
        },
    );
    assert_eq!(
        err,
        Err(Errno::EINVAL),
        "6.12 rejects a bad mode in the driver"
    );
    let newest = UserBackend::default();
    assert!(newest.compat().room_attrs && newest.compat().pairing_attr);
}

#[test]
fn names_are_per_namespace() {
    let mut b = UserBackend::default();
    let c = add(&mut b, NewLink::default()).unwrap();
    let peer = c.peer.unwrap();
    b.link_set_netns(peer, Some("foo")).unwrap();
    // nk0 moved away: the next default pair reuses it in the initial namespace.
    let c2 = add(&mut b, NewLink::default()).unwrap();
    assert_eq!(b.link_get(c2.peer.unwrap()).unwrap().name, "nk0");
    assert_eq!(b.link_get(c2.primary).unwrap().name, "nk2");
    // Moving it back collides.
    b.set_caller_netns(Some("foo"));
    assert_eq!(
        b.link_set_netns(peer, None).unwrap_err().errno,
        Errno::EEXIST
    );
    // A peer created straight into another namespace is named there.
    b.set_caller_netns(None);
    let pi = PeerInfo {
        netns: Some("bar".into()),
        ..PeerInfo::default()
    };
    let c3 = add(
        &mut b,
        NewLink {
            peer: Some(pi),
            ..NewLink::default()
        },
    )
    .unwrap();
    b.set_caller_netns(Some("bar"));
    assert_eq!(b.link_get(c3.peer.unwrap()).unwrap().name, "nk0");
    assert_eq!(b.ifindex_by_name("nk0").unwrap(), c3.peer.unwrap());
}

#[test]
fn transmit_applies_the_packet_socket_checks() {
    let mut fx = Fx::new(Hook::Primary);
    let err = |fx: &mut Fx, f: &[u8]| {
        fx.b.transmit(fx.primary, f)
            .map(|_| ())
            .map_err(|e| e.errno)
    };
    assert_eq!(
        err(&mut fx, &frame([0; 6])),
        Err(Errno::Other(100)),
        "ENETDOWN while down"
    );
    fx.b.link_set_up(fx.primary, true).unwrap();
    fx.b.link_set_up(fx.peer, true).unwrap();
    fx.b.link_set_mtu(fx.primary, 68).unwrap();
    assert_eq!(err(&mut fx, &[0u8; 13]), Err(Errno::EINVAL));
    assert_eq!(
        err(&mut fx, &[0u8; 14]),
        Ok(()),
        "a bare header is delivered"
    );
    let mut f = vec![0u8; 68 + 14];
    f[12] = 0x08;
    assert_eq!(err(&mut fx, &f), Ok(()));
    f.push(0);
    assert_eq!(err(&mut fx, &f), Err(Errno::EMSGSIZE));
    f[12..14].copy_from_slice(&[0x81, 0x00]);
    assert_eq!(
        err(&mut fx, &f),
        Ok(()),
        "802.1Q frames may carry 4 more bytes"
    );
    f.extend([0; 4]);
    assert_eq!(err(&mut fx, &f), Err(Errno::EMSGSIZE));
    let st = fx.b.link_get(fx.primary).unwrap().stats;
    assert_eq!(
        (st.tx_packets, st.tx_dropped),
        (3, 0),
        "refused frames are not counted"
    );
    // The receiver's MTU does not matter: netkit does no MTU check.
    fx.b.link_set_mtu(fx.primary, 1500).unwrap();
    fx.b.link_set_mtu(fx.peer, 68).unwrap();
    assert_eq!(err(&mut fx, &vec![0u8; 1514]), Ok(()));
}

#[test]
fn destroying_a_namespace_deletes_pairs_with_an_end_in_it() {
    let mut b = UserBackend::default();
    let pod = |ns: &str| NewLink {
        peer: Some(PeerInfo {
            netns: Some(ns.into()),
            ..PeerInfo::default()
        }),
        ..NewLink::default()
    };
    let a = add(&mut b, pod("a")).unwrap();
    let other = add(&mut b, pod("b")).unwrap();
    let (h, _) = b.prog_load(&ProgSource::Constant(-1)).unwrap();
    let req = LinkCreateReq {
        ifindex: a.primary,
        hook: Hook::Peer,
        prog: h,
        flags: 0,
        relative: Relative(0),
        expected_revision: 0,
    };
    let (link, _) = b.link_create(&req).unwrap();
    let eth = b.add_foreign_device("eth0", Some("a")).unwrap();
    let gone = b.netns_del("a");
    assert_eq!(gone, vec![a.peer.unwrap(), a.primary]);
    assert_eq!(b.link_get(a.primary).unwrap_err().errno, Errno::ENODEV);
    assert_eq!(
        b.link_info(link).unwrap().ifindex,
        0,
        "the link went defunct"
    );
    assert!(
        b.link_get(other.primary).is_ok(),
        "pairs of other namespaces stay"
    );
    b.set_caller_netns(Some("a"));
    assert_eq!(b.ifindex_by_name("eth0").unwrap_err().errno, Errno::ENODEV);
    assert_ne!(eth, IfIndex(0));
    assert!(b.netns_del("never-existed").is_empty());
}
