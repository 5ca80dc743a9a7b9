//! Names per namespace in the registry (model only): the same peer name in several pods,
//! lookups by name, duplicates in one namespace, and state files of either age.

use crate::registry::tests::{open, tmpdir};
use crate::registry::Registry;
use netkit_proto::{self as proto, Hook, LinkAddReq, Request, Response};

fn show(reg: &mut Registry, name: Option<&str>) -> Result<Vec<proto::LinkView>, proto::WireError> {
    match reg.handle(Request::LinkShow {
        name: name.map(String::from),
    })? {
        Response::Links { links } => Ok(links),
        other => panic!("{other:?}"),
    }
}

/// `link add PRIMARY type netkit peer name PEER [netns NS]`.
fn add(primary: &str, peer: &str, netns: Option<&str>) -> Request {
    Request::LinkAdd(LinkAddReq {
        name: Some(primary.into()),
        peer_name: Some(peer.into()),
        peer_netns: netns.map(String::from),
        ..LinkAddReq::default()
    })
}

/// (name, namespace, the other end's name) of each view.
fn names(links: &[proto::LinkView]) -> Vec<(String, Option<String>, Option<String>)> {
    links
        .iter()
        .map(|l| (l.ifname.clone(), l.netns.clone(), l.link_ifname.clone()))
        .collect()
}

fn end(name: &str, ns: Option<&str>, other: &str) -> (String, Option<String>, Option<String>) {
    (name.into(), ns.map(String::from), Some(other.into()))
}

#[test]
fn pods_share_a_peer_name_and_a_duplicate_in_one_pod_changes_nothing() {
    let dir = tmpdir("pods");
    let mut reg = open(&dir);
    reg.handle(add("nka", "eth0", Some("pod1"))).unwrap();
    reg.handle(add("nkb", "eth0", Some("pod2"))).unwrap();
    let all = show(&mut reg, None).unwrap();
    assert_eq!(
        names(&all),
        [
            end("nka", None, "eth0"),
            end("eth0", Some("pod1"), "nka"),
            end("nkb", None, "eth0"),
            end("eth0", Some("pod2"), "nkb"),
        ]
    );

    // A second eth0 in pod1, and a primary named like an existing one: EEXIST naming the
    // name (and the pod), with the pairs and the saved state as they were.
    let saved = std::fs::read_to_string(dir.join("state.json")).unwrap();
    for (req, name, place) in [
        (add("nkc", "eth0", Some("pod1")), "\"eth0\"", "pod1"),
        (add("nka", "eth1", Some("pod3")), "\"nka\"", ""),
        (add("nkc", "nkc", None), "\"nkc\"", ""),
    ] {
        let what = format!("{req:?}");
        let err = reg.handle(req).unwrap_err();
        assert_eq!(err.errno, "EEXIST", "{what}: {err}");
        assert!(err.message.contains(name), "{what}: {err}");
        assert!(err.message.contains(place), "{what}: {err}");
        assert_eq!(
            show(&mut reg, None).unwrap(),
            all,
            "{what} changed the pairs"
        );
        let now = std::fs::read_to_string(dir.join("state.json")).unwrap();
        assert_eq!(now, saved, "{what} changed the saved state");
    }

    // eth0 is in no device of the daemon's namespace: `show` lists both pods' ends, while a
    // change by that name is refused, listing the primaries to name instead.
    let both = show(&mut reg, Some("eth0")).unwrap();
    assert_eq!(both, [all[1].clone(), all[3].clone()]);
    let err = reg
        .handle(Request::LinkDel {
            name: "eth0".into(),
        })
        .unwrap_err();
    assert_eq!(err.errno, "ENODEV", "{err}");
    assert!(err.message.contains("nka (netns pod1)"), "{err}");
    assert!(err.message.contains("nkb (netns pod2)"), "{err}");
    assert_eq!(show(&mut reg, None).unwrap(), all);

    // Each pair is reached through its primary; hooks are per pair.
    let q = reg.prog_query("nkb", Hook::Peer).unwrap();
    assert_eq!(q.dev, "nkb");
    assert_eq!(
        reg.prog_query("eth0", Hook::Peer).unwrap_err().errno,
        "ENODEV"
    );

    // Deleting one pair leaves the other, whose eth0 is then the only one by that name.
    reg.handle(Request::LinkDel { name: "nka".into() }).unwrap();
    let left = show(&mut reg, Some("eth0")).unwrap();
    assert_eq!(names(&left), [end("eth0", Some("pod2"), "nkb")]);
    // ... and pod1 has room for an eth0 again.
    reg.handle(add("nkc", "eth0", Some("pod1"))).unwrap();

    // A reopen (the restore after kill -9) brings both back under the same names and
    // ifindexes.
    let before = show(&mut reg, None).unwrap();
    drop(reg);
    let mut again = open(&dir);
    assert_eq!(show(&mut again, None).unwrap(), before);
    assert_eq!(
        again
            .handle(add("nkd", "eth0", Some("pod2")))
            .unwrap_err()
            .errno,
        "EEXIST"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_daemons_namespace_comes_first() {
    let dir = tmpdir("first");
    let mut reg = open(&dir);
    reg.handle(add("nka", "eth0", Some("pod1"))).unwrap();
    // An eth0 beside the primaries (a peer in the daemon's namespace) is another device.
    reg.handle(add("nkh", "eth0", None)).unwrap();
    let shown = show(&mut reg, Some("eth0")).unwrap();
    assert_eq!(names(&shown), [end("eth0", None, "nkh")]);
    // A name is taken by either end in its namespace: a primary may not be called eth0 now.
    let err = reg.handle(add("eth0", "x0", Some("pod1"))).unwrap_err();
    assert_eq!(err.errno, "EEXIST", "{err}");
    // `link del eth0` deletes the daemon namespace's pair, not the pod's.
    reg.handle(Request::LinkDel {
        name: "eth0".into(),
    })
    .unwrap();
    let left = show(&mut reg, None).unwrap();
    assert_eq!(
        names(&left),
        [end("nka", None, "eth0"), end("eth0", Some("pod1"), "nka")]
    );
    // With no eth0 here any more, the one pod's eth0 is found by its name again.
    reg.handle(Request::LinkDel {
        name: "eth0".into(),
    })
    .unwrap();
    assert!(show(&mut reg, None).unwrap().is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A state file as the daemon wrote it before names were per namespace (version 1, the same
/// format): it loads as it is, and pods may share names from then on.
#[test]
fn a_state_file_of_the_global_names_daemon_loads() {
    let dir = tmpdir("old");
    std::fs::create_dir_all(&dir).unwrap();
    let old = r#"{
      "version": 1,
      "next_prog_id": 1,
      "next_link_id": 1,
      "devices": [
        {
          "create": {"name": "nka", "mode": "l3", "peer_name": "eth0", "peer_netns": "pod1"},
          "policy": "forward",
          "peer_policy": "blackhole",
          "ifindex": 3,
          "peer_ifindex": 2
        }
      ],
      "progs": [],
      "hooks": [],
      "links": []
    }"#;
    std::fs::write(dir.join("state.json"), old).unwrap();
    let mut reg = open(&dir);
    let links = show(&mut reg, None).unwrap();
    assert_eq!(
        names(&links),
        [end("nka", None, "eth0"), end("eth0", Some("pod1"), "nka")]
    );
    assert_eq!((links[0].ifindex, links[1].ifindex), (3, 2));
    assert_eq!(links[1].policy, proto::Policy::Blackhole);
    reg.handle(add("nkb", "eth0", Some("pod2"))).unwrap();
    assert_eq!(show(&mut reg, Some("eth0")).unwrap().len(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}
