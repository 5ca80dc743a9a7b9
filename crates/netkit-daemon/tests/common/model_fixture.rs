//! A pair made by the daemon's own plumbing over the real device model.

use netkit_core::{IfIndex, IfIndexRequest, Mode, NewLink, PeerInfo, UserBackend};
use netkit_daemon::dataplane::DevRef;
use netkit_daemon::interfaces::{AdminEvent, Interfaces};
use netkit_daemon::plumbing::{PairSpec as ModelPair, Plumbing};
use netkit_io::netns::NamedNetns;
use netkit_io::testing::unique_name;

use super::{run, sh};

/// `ping` from the test's own namespace.
pub fn ping_here(dst: &str, count: u32) -> bool {
    let c = count.to_string();
    run(&["ping", "-c", &c, "-i", "0.2", "-W", "2", dst])
        .status
        .success()
}

pub struct Fixture {
    pub backend: UserBackend,
    /// Keeps the pair forwarding while the fixture lives.
    _plumbing: Interfaces,
    admin: std::sync::mpsc::Receiver<AdminEvent>,
    pub primary: IfIndex,
    pub peer: IfIndex,
    pod: String,
    name: String,
}

impl Fixture {
    /// Applies the admin changes the dataplane saw to the model (the daemon does this under
    /// its registry lock); true once the model has carrier on the primary.
    pub fn sync(&mut self) -> bool {
        while let Ok((dev, up)) = self.admin.try_recv() {
            let ns = (dev.netns != 0).then_some(self.pod.as_str());
            self.backend.set_caller_netns(ns);
            self.backend.link_set_up(dev.ifindex, up).unwrap();
            self.backend.set_caller_netns(None);
        }
        self.backend
            .link_get(self.primary)
            .map(|l| l.carrier)
            .unwrap_or(false)
    }
}

/// Creates a pair as the daemon does: the interfaces first, then the model's pair at their
/// ifindexes, then forwarding. Returns the spec with the model's (= kernel) ifindexes.
pub fn plumb(
    backend: &mut UserBackend,
    plumbing: &mut Interfaces,
    req: &NewLink,
    mut spec: ModelPair,
) -> ModelPair {
    let (p, q) = plumbing.open(&spec).unwrap().unwrap();
    let at = IfIndexRequest {
        primary: p as i32,
        peer: q as i32,
    };
    let created = backend.link_add_at(req, at).unwrap();
    assert_eq!((created.primary.0, created.peer.unwrap().0), (p, q));
    spec.model_primary = created.primary;
    spec.model_peer = created.peer.unwrap();
    assert_eq!(plumbing.start(backend, &spec).unwrap(), Some((p, q)));
    spec
}

/// A model pair (L3, peer policy `peer_policy`) with its peer in `pod`, plumbed to TUNs,
/// addressed 10.{net}.0.1 (primary, in the daemon's = the test's initial namespace) and
/// 10.{net}.0.2, both up.
pub fn fixture(pod: &NamedNetns, net: u8, peer_policy: u32) -> Fixture {
    fixture_mode(pod, net, peer_policy, Mode::L3)
}

/// [`fixture`] in `mode` (L2: TAPs).
pub fn fixture_mode(pod: &NamedNetns, net: u8, peer_policy: u32, mode: Mode) -> Fixture {
    let mut backend = UserBackend::default();
    let (name, peer_name) = (unique_name("nkM"), unique_name("nkN"));
    let req = NewLink {
        name: Some(name.clone()),
        mode: Some(mode as u32),
        peer_policy: Some(peer_policy),
        peer: Some(PeerInfo {
            name: Some(peer_name.clone()),
            netns: Some(pod.name().to_string()),
            ..PeerInfo::default()
        }),
        ..NewLink::default()
    };
    let (tx, admin) = std::sync::mpsc::channel();
    let mut plumbing = Interfaces::new(tx, 1);
    let spec = ModelPair {
        name: name.clone(),
        peer_name: peer_name.clone(),
        peer_netns: Some(pod.name().to_string()),
        mode,
        model_primary: IfIndex(0),
        model_peer: IfIndex(0),
        expect: None,
        ask: (0, 0),
    };
    let spec = plumb(&mut backend, &mut plumbing, &req, spec);
    sh(&[
        "ip",
        "addr",
        "add",
        &format!("10.{net}.0.1/24"),
        "dev",
        &name,
    ]);
    sh(&["ip", "link", "set", &name, "up"]);
    sh(&[
        "ip",
        "-n",
        pod.name(),
        "addr",
        "add",
        &format!("10.{net}.0.2/24"),
        "dev",
        &peer_name,
    ]);
    sh(&["ip", "-n", pod.name(), "link", "set", &peer_name, "up"]);
    Fixture {
        backend,
        _plumbing: plumbing,
        admin,
        primary: spec.model_primary,
        peer: spec.model_peer,
        pod: pod.name().to_string(),
        name,
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Persistent interfaces: deleting the primary takes the peer with it.
        let _ = run(&["ip", "link", "del", &self.name]);
    }
}

/// Two model pairs over TUNs, each with its peer in a pod of its own, addressed
/// 10.{net}.0.1/24 (pod 0) and 10.{net}.0.2/24 (pod 1); the primaries are up in the initial
/// namespace without addresses, so pod-to-pod traffic has no way but a redirect.
pub struct TwoPods {
    pub backend: UserBackend,
    _plumbing: Interfaces,
    admin: std::sync::mpsc::Receiver<AdminEvent>,
    /// The namespace name of each device the dataplane may report (None: initial).
    ns_of: std::collections::HashMap<DevRef, Option<String>>,
    /// (primary, its interface name) of each pair, pod 0's first.
    pub pairs: Vec<(IfIndex, String)>,
}

impl TwoPods {
    pub fn new(pods: [&NamedNetns; 2], net: u8) -> TwoPods {
        let mut backend = UserBackend::default();
        let (tx, admin) = std::sync::mpsc::channel();
        let mut plumbing = Interfaces::new(tx, 1);
        let mut pairs = Vec::new();
        let mut ns_of = std::collections::HashMap::new();
        for (i, pod) in pods.into_iter().enumerate() {
            let (name, peer_name) = (unique_name("nkM"), unique_name("nkN"));
            let req = NewLink {
                name: Some(name.clone()),
                mode: Some(Mode::L3 as u32),
                peer: Some(PeerInfo {
                    name: Some(peer_name.clone()),
                    netns: Some(pod.name().to_string()),
                    ..PeerInfo::default()
                }),
                ..NewLink::default()
            };
            let spec = ModelPair {
                name: name.clone(),
                peer_name: peer_name.clone(),
                peer_netns: Some(pod.name().to_string()),
                mode: Mode::L3,
                model_primary: IfIndex(0),
                model_peer: IfIndex(0),
                expect: None,
                ask: (0, 0),
            };
            let spec = plumb(&mut backend, &mut plumbing, &req, spec);
            let pod_id = backend.netns_id(Some(pod.name()));
            let addr = format!("10.{net}.0.{}/24", i + 1);
            sh(&["ip", "link", "set", &name, "up"]);
            sh(&[
                "ip",
                "-n",
                pod.name(),
                "addr",
                "add",
                &addr,
                "dev",
                &peer_name,
            ]);
            sh(&["ip", "-n", pod.name(), "link", "set", &peer_name, "up"]);
            // Both peers may well have ifindex 2, each in its pod: the namespace tells them
            // apart.
            let primary = DevRef {
                netns: 0,
                ifindex: spec.model_primary,
            };
            let peer = DevRef {
                netns: pod_id,
                ifindex: spec.model_peer,
            };
            ns_of.insert(primary, None);
            ns_of.insert(peer, Some(pod.name().to_string()));
            pairs.push((spec.model_primary, name));
        }
        TwoPods {
            backend,
            _plumbing: plumbing,
            admin,
            ns_of,
            pairs,
        }
    }

    /// Applies the admin changes the dataplane saw to the model; true once both pairs have
    /// carrier there.
    pub fn sync(&mut self) -> bool {
        while let Ok((dev, up)) = self.admin.try_recv() {
            self.backend.set_caller_netns(self.ns_of[&dev].as_deref());
            self.backend.link_set_up(dev.ifindex, up).unwrap();
            self.backend.set_caller_netns(None);
        }
        self.pairs.iter().all(|(p, _)| {
            self.backend
                .link_get(*p)
                .map(|l| l.carrier)
                .unwrap_or(false)
        })
    }
}

impl Drop for TwoPods {
    fn drop(&mut self) {
        for (_, name) in &self.pairs {
            let _ = run(&["ip", "link", "del", name]);
        }
    }
}
