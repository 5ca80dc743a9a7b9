//! Moves in the registry (model only): the record, the model and the names follow the peer;
//! refused moves change nothing; a reopen finds the peer where it went.

use crate::registry::tests::{open, tmpdir};
use crate::registry::Registry;
use netkit_proto::{self as proto, LinkAddReq, LinkSetReq, Request, Response};

fn show(reg: &mut Registry, name: Option<&str>) -> Vec<proto::LinkView> {
    match reg.handle(Request::LinkShow {
        name: name.map(String::from),
    }) {
        Ok(Response::Links { links }) => links,
        other => panic!("{other:?}"),
    }
}

fn add(primary: &str, peer: &str) -> Request {
    Request::LinkAdd(LinkAddReq {
        name: Some(primary.into()),
        peer_name: Some(peer.into()),
        ..LinkAddReq::default()
    })
}

fn move_to(name: &str, netns: &str) -> Request {
    Request::LinkSet(LinkSetReq {
        name: name.into(),
        netns: Some(netns.into()),
        ..LinkSetReq::default()
    })
}

#[test]
fn a_peer_moves_with_its_name_and_a_refused_move_changes_nothing() {
    let dir = tmpdir("moves");
    let mut reg = open(&dir);
    reg.handle(add("nka", "eth0")).unwrap();
    // Up in the daemon's namespace: the move closes it, as dev_change_net_namespace does.
    let peer = reg.devices[0].model_peer;
    reg.backend.link_set_up(peer, true).unwrap();
    let before = show(&mut reg, Some("eth0"));
    assert!(before[0].up && before[0].netns.is_none(), "{before:?}");

    reg.handle(move_to("eth0", "pod1")).unwrap();
    let moved = show(&mut reg, Some("eth0"));
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].netns.as_deref(), Some("pod1"));
    assert_eq!(moved[0].link_ifname.as_deref(), Some("nka"));
    assert_eq!(moved[0].ifindex, before[0].ifindex);
    assert!(!moved[0].up, "the move closes the device");
    // The primary still names the peer; the name is free in the daemon's namespace now.
    let primary = show(&mut reg, Some("nka"));
    assert_eq!(primary[0].link_ifname.as_deref(), Some("eth0"));
    reg.handle(add("nkb", "eth0")).unwrap();

    // Onto the name in pod1, of a primary, to where it is: refused or nothing, unchanged.
    let state = || std::fs::read_to_string(dir.join("state.json")).unwrap();
    let (all, saved) = (show(&mut reg, None), state());
    for (req, want) in [
        (move_to("eth0", "pod1"), "EEXIST"),
        (move_to("nka", "pod2"), "EOPNOTSUPP"),
        (move_to("nosuch", "pod2"), "ENODEV"),
    ] {
        let what = format!("{req:?}");
        let err = reg.handle(req).unwrap_err();
        assert_eq!(err.errno, want, "{what}: {err}");
        assert_eq!(show(&mut reg, None), all, "{what}");
        assert_eq!(state(), saved, "{what}");
    }
    reg.handle(move_to("eth0", "pod2")).unwrap();
    let both = show(&mut reg, Some("eth0"));
    let places: Vec<_> = both.iter().map(|l| l.netns.as_deref()).collect();
    assert_eq!(places, [Some("pod1"), Some("pod2")]);

    // The record follows: a reopen has both peers where they went.
    let before = show(&mut reg, None);
    drop(reg);
    let mut again = open(&dir);
    assert_eq!(show(&mut again, None), before);
    std::fs::remove_dir_all(&dir).unwrap();
}
