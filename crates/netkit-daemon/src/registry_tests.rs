//! The registry without interfaces (model only): requests, errors that change nothing, and a
//! reopen from the saved state.

use super::*;
use crate::persist::StateDir;
use crate::plumbing::ModelOnly;
use netkit_proto::{LinkAddReq, LinkSetReq, Policy, Request};

/// A fresh state directory for test `tag` (shared by the registry's test modules).
pub(crate) fn tmpdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("netkitd-reg-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A model-only registry with its state in `dir`.
pub(crate) fn open(dir: &std::path::Path) -> Registry {
    Registry::open(
        UserBackend::default(),
        Box::new(ModelOnly),
        StateDir::open(dir).unwrap(),
    )
    .unwrap()
}

fn links(reg: &mut Registry) -> Vec<proto::LinkView> {
    match reg.handle(Request::LinkShow { name: None }).unwrap() {
        Response::Links { links } => links,
        other => panic!("{other:?}"),
    }
}

#[test]
fn pairs_survive_a_reopen_with_names_policies_and_ifindexes() {
    let dir = tmpdir("reopen");
    let mut reg = open(&dir);
    reg.handle(Request::LinkAdd(LinkAddReq {
        peer_policy: Some(Policy::Blackhole),
        peer_netns: Some("pod".into()),
        ..LinkAddReq::default()
    }))
    .unwrap();
    reg.handle(Request::LinkAdd(LinkAddReq {
        name: Some("b1".into()),
        peer_name: Some("b0".into()),
        mode: Some(proto::Mode::L2),
        ..LinkAddReq::default()
    }))
    .unwrap();
    reg.handle(Request::LinkSet(LinkSetReq {
        name: "b1".into(),
        policy: Some(Policy::Blackhole),
        peer_policy: None,
        netns: None,
    }))
    .unwrap();
    let before = links(&mut reg);
    // The kernel's default names, per namespace: the peer (in "pod") and the primary are
    // each the first free nkN of their own namespace.
    let names: Vec<&str> = before.iter().map(|l| l.ifname.as_str()).collect();
    assert_eq!(names, ["nk0", "nk0", "b1", "b0"]);
    assert_eq!(before[1].netns.as_deref(), Some("pod"));
    assert_eq!(before[0].peer_policy, Some(Policy::Blackhole));
    assert_eq!(before[2].policy, Policy::Blackhole);
    drop(reg);
    let mut again = open(&dir);
    let after = links(&mut again);
    assert_eq!(after, before);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn failed_requests_leave_registry_and_state_unchanged() {
    let dir = tmpdir("errors");
    let mut reg = open(&dir);
    reg.handle(Request::LinkAdd(LinkAddReq {
        name: Some("a1".into()),
        peer_name: Some("a0".into()),
        ..LinkAddReq::default()
    }))
    .unwrap();
    let state = || std::fs::read_to_string(dir.join("state.json")).unwrap();
    let saved = state();
    let before = links(&mut reg);
    let cases: Vec<(Request, &str)> = vec![
        (
            Request::LinkAdd(LinkAddReq {
                name: Some("a1".into()),
                ..LinkAddReq::default()
            }),
            "EEXIST",
        ),
        (
            Request::LinkAdd(LinkAddReq {
                name: Some("x".repeat(16)),
                ..LinkAddReq::default()
            }),
            "ERANGE",
        ),
        (Request::LinkDel { name: "zz".into() }, "ENODEV"),
        (Request::ProgShow { id: Some(4) }, "ENOENT"),
        (Request::ProgUnload { id: 4 }, "ENOENT"),
        (Request::BpflinkDetach { id: 1 }, "ENOENT"),
        (
            Request::ProgQuery {
                dev: "a9".into(),
                hook: Hook::Peer,
            },
            "ENODEV",
        ),
        (
            Request::ProgLoad(proto::ProgLoadReq {
                file: "x.o".into(),
                object: "zz".into(),
                section: None,
                name: None,
            }),
            "EINVAL",
        ),
        (
            Request::ProgLoad(proto::ProgLoadReq {
                file: "x.o".into(),
                object: proto::hex::encode(b"not elf"),
                section: None,
                name: None,
            }),
            "EINVAL",
        ),
    ];
    for (req, want) in cases {
        let what = format!("{req:?}");
        let err = reg.handle(req).unwrap_err();
        assert_eq!(err.errno, want, "{what}: {err}");
        assert!(!err.message.is_empty());
        assert_eq!(links(&mut reg), before, "{what} changed the pairs");
        assert_eq!(state(), saved, "{what} changed the saved state");
    }
    // No object copy is left behind by failed loads.
    let objects: Vec<_> = std::fs::read_dir(dir.join("objects")).unwrap().collect();
    assert!(objects.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_model_only_daemon_creates_pairs_at_requested_ifindexes() {
    let dir = tmpdir("ifindex");
    let mut reg = open(&dir);
    let at = |name: &str, ifindex, peer_ifindex| {
        Request::LinkAdd(LinkAddReq {
            name: Some(name.into()),
            ifindex: Some(ifindex),
            peer_name: Some(format!("{name}p")),
            peer_ifindex: Some(peer_ifindex),
            peer_netns: Some("pod".into()),
            ..LinkAddReq::default()
        })
    };
    reg.handle(at("a", 40, 2)).unwrap();
    let ends = |reg: &mut Registry| -> Vec<(String, u32, Option<u32>)> {
        links(reg)
            .into_iter()
            .map(|l| (l.ifname, l.ifindex, l.link_ifindex))
            .collect()
    };
    let want = vec![("a".into(), 40, Some(2)), ("ap".into(), 2, Some(40))];
    assert_eq!(ends(&mut reg), want);
    // Taken in the daemon's namespace: EEXIST; taken in the peer's: EBUSY; nothing changes.
    for (req, errno) in [(at("b", 40, 3), "EEXIST"), (at("b", 41, 2), "EBUSY")] {
        let err = reg.handle(req).unwrap_err();
        assert_eq!(err.errno, errno, "{err}");
        assert_eq!(ends(&mut reg), want);
    }
    drop(reg);
    let mut reg = open(&dir);
    assert_eq!(ends(&mut reg), want, "kept across a reopen");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Interfaces that would be real: the registry must refuse requested ifindexes before it
/// opens any (the kernel numbers TUN devices).
/// Real interfaces that cannot be opened: records the ifindexes each creation asked for and
/// fails it as a taken ifindex would.
struct AskedFor(std::sync::Arc<std::sync::Mutex<Vec<(u32, u32)>>>);

impl crate::plumbing::Plumbing for AskedFor {
    fn open(&mut self, pair: &crate::plumbing::PairSpec) -> Result<Option<(u32, u32)>, WireError> {
        self.0.lock().unwrap().push(pair.ask);
        Err(crate::convert::errno(
            netkit_core::Errno::EBUSY,
            "ifindex is taken",
        ))
    }

    fn start(
        &mut self,
        _backend: &mut UserBackend,
        _pair: &crate::plumbing::PairSpec,
    ) -> Result<Option<(u32, u32)>, WireError> {
        panic!("no interface may be started for a refused request")
    }

    fn stop(&mut self, _pair: &DeviceRecord, _delete: bool) {}

    fn is_real(&self) -> bool {
        true
    }
}

/// Interfaces are created at the ifindexes asked for; as in the kernel, the peer's counts only
/// with the primary's. A refused creation leaves nothing.
#[test]
fn interfaces_are_asked_for_the_requested_ifindexes() {
    let dir = tmpdir("ifindex-real");
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut reg = Registry::open(
        UserBackend::default(),
        Box::new(AskedFor(asked.clone())),
        StateDir::open(&dir).unwrap(),
    )
    .unwrap();
    for (ifindex, peer_ifindex) in [(Some(40), None), (Some(40), Some(41)), (None, Some(41))] {
        let err = reg
            .handle(Request::LinkAdd(LinkAddReq {
                ifindex,
                peer_ifindex,
                ..LinkAddReq::default()
            }))
            .unwrap_err();
        assert_eq!(err.errno, "EBUSY", "{err}");
    }
    assert_eq!(*asked.lock().unwrap(), [(40, 0), (40, 41), (0, 0)]);
    assert!(links(&mut reg).is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}
