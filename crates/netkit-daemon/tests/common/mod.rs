//! Shared by the dataplane tests: a minimal transmit path standing in for the device model
//! (peer, admin state, one swappable program per device), and topology helpers.
#![allow(dead_code)]

use std::collections::HashMap;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};
use std::sync::Arc;

use arc_swap::ArcSwap;
use netkit_bpf::skb::Skb;
use netkit_core::{DropReason, IfIndex};
use netkit_daemon::dataplane::{Dataplane, Delivery, DevRef, PacketPath, PairIo, PairRunning};
use netkit_io::netns::NamedNetns;
use netkit_io::testing::{have_program, have_root_and_tun, require, unique_name};
use netkit_io::tun::{TunConfig, TunDevice, TunKind};

pub type Prog = Arc<dyn Fn(&mut Skb) -> i32 + Send + Sync>;

pub struct Dev {
    pub peer: IfIndex,
    pub up: AtomicBool,
    pub prog: ArcSwap<Prog>,
}

/// The transmit path reduced to what the dataplane relies on: drop when the other end is
/// down, run the device's program, map its verdict (netkit.md §2.1 step 7).
#[derive(Default)]
pub struct TestPath {
    pub devs: HashMap<IfIndex, Dev>,
    /// Largest gso_segs / gso_size a program saw.
    pub max_gso_segs: AtomicU32,
    pub max_gso_size: AtomicU32,
}

pub fn pass() -> Prog {
    Arc::new(|_| 0)
}

impl TestPath {
    /// A path over the pairs `(primary, peer)`, every device running [`pass`].
    pub fn with_pairs(pairs: &[(IfIndex, IfIndex)]) -> Arc<TestPath> {
        let mut path = TestPath::default();
        for &(a, b) in pairs {
            path.add_pair(a, b);
        }
        Arc::new(path)
    }

    pub fn add_pair(&mut self, a: IfIndex, b: IfIndex) {
        for (x, y) in [(a, b), (b, a)] {
            self.devs.insert(
                x,
                Dev {
                    peer: y,
                    up: AtomicBool::new(false),
                    prog: ArcSwap::from_pointee(pass()),
                },
            );
        }
    }

    pub fn set_prog(&self, dev: IfIndex, prog: Prog) {
        self.devs[&dev].prog.store(Arc::new(prog));
    }
}

impl PacketPath for TestPath {
    fn xmit(&self, dev: DevRef, mut skb: Skb) -> Delivery {
        let Some(d) = self.devs.get(&dev.ifindex) else {
            return Delivery::Drop {
                reason: DropReason::NoDevice,
                skb,
            };
        };
        if !self.devs.get(&d.peer).is_some_and(|p| p.up.load(Relaxed)) {
            return Delivery::Drop {
                reason: DropReason::PeerDown,
                skb,
            };
        }
        self.max_gso_segs.fetch_max(skb.meta.gso_segs, Relaxed);
        self.max_gso_size.fetch_max(skb.meta.gso_size, Relaxed);
        let prog = d.prog.load();
        match (prog.as_ref())(&mut skb) {
            -1 | 0 => Delivery::ToPeer { peer: d.peer, skb },
            7 => match skb.redirect.take() {
                Some(r) => Delivery::Redirect {
                    target: IfIndex(r.ifindex),
                    kind: r.kind,
                    skb,
                },
                None => Delivery::Drop {
                    reason: DropReason::RedirectTarget,
                    skb,
                },
            },
            v => Delivery::Drop {
                reason: DropReason::Verdict(v),
                skb,
            },
        }
    }

    fn set_admin_up(&self, dev: DevRef, up: bool) {
        if let Some(d) = self.devs.get(&dev.ifindex) {
            d.up.store(up, Relaxed);
        }
    }
}

/// A test device id: TestPath numbers its devices uniquely, whatever their namespace.
pub fn dev_ref(ifindex: IfIndex) -> DevRef {
    DevRef { netns: 0, ifindex }
}

/// Runs a command; returns its output (not checked).
pub fn run(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("spawn command")
}

/// Runs a command and panics with its stderr when it fails.
pub fn sh(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Starts a one-shot iperf3 server in `ns` bound to `addr`, and gives it time to listen.
pub fn iperf3_server(ns: &NamedNetns, addr: &str) -> Child {
    let server = Command::new("ip")
        .args(["netns", "exec", ns.name(), "iperf3", "-s", "-1", "-B", addr])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn iperf3 server");
    std::thread::sleep(std::time::Duration::from_millis(300));
    server
}

/// Checks the test's requirements (root, TUN, programs) under the SKIP rule.
pub fn requirements(test: &str, programs: &[&str]) -> bool {
    if !require(test, "root and /dev/net/tun", have_root_and_tun()) {
        return false;
    }
    programs.iter().all(|p| require(test, p, have_program(p)))
}

/// A pair of devices: primary in `host`, peer in `pod`, addressed, up, forwarded.
pub struct Pair {
    pub primary: String,
    pub peer: String,
    pub running: PairRunning,
}

pub struct PairSpec<'a> {
    pub kind: TunKind,
    pub host: &'a NamedNetns,
    pub pod: &'a NamedNetns,
    pub ids: (IfIndex, IfIndex),
    pub host_addr: &'a str,
    pub pod_addr: &'a str,
    pub queues: usize,
}

/// Creates the two devices (peer first, as netkit does), addresses them, brings them up.
pub fn make_devices(spec: &PairSpec) -> (String, String, PairIo) {
    let primary = unique_name("nkP");
    let peer = unique_name("nkQ");
    let peer_dev = TunDevice::open(
        &TunConfig::new(&peer, spec.kind)
            .netns(spec.pod.netns())
            .queues(spec.queues),
    )
    .unwrap();
    let primary_dev = TunDevice::open(
        &TunConfig::new(&primary, spec.kind)
            .netns(spec.host.netns())
            .queues(spec.queues),
    )
    .unwrap();
    primary_dev.set_noqueue().unwrap();
    peer_dev.set_noqueue().unwrap();
    for (ns, dev, addr) in [
        (spec.host, &primary, spec.host_addr),
        (spec.pod, &peer, spec.pod_addr),
    ] {
        sh(&["ip", "-n", ns.name(), "addr", "add", addr, "dev", dev]);
        sh(&["ip", "-n", ns.name(), "link", "set", dev, "up"]);
    }
    let io = PairIo {
        primary: (dev_ref(spec.ids.0), primary_dev),
        peer: (dev_ref(spec.ids.1), peer_dev),
    };
    (primary, peer, io)
}

pub fn start(dp: &Dataplane, path: &Arc<TestPath>, spec: &PairSpec) -> Pair {
    let (primary, peer, io) = make_devices(spec);
    let running = dp.start_pair(path.clone(), io).unwrap();
    Pair {
        primary,
        peer,
        running,
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        // Devices are not persistent: closing their queues deletes them.
    }
}

/// `ping -c N` from `ns` to `dst`; true on success.
pub fn ping(ns: &NamedNetns, dst: &str, count: u32) -> bool {
    let c = count.to_string();
    run(&[
        "ip",
        "netns",
        "exec",
        ns.name(),
        "ping",
        "-c",
        &c,
        "-i",
        "0.2",
        "-W",
        "2",
        dst,
    ])
    .status
    .success()
}

/// A kernel veth from namespace `near` (`None`: this one) into `far`, both ends up; returns
/// (near end, far end). Deleting `far` deletes it.
pub fn veth_into(near: Option<&NamedNetns>, far: &NamedNetns) -> (String, String) {
    let (a, b) = (unique_name("nkva"), unique_name("nkvb"));
    let mut add = vec!["ip"];
    if let Some(ns) = near {
        add.extend(["-n", ns.name()]);
    }
    add.extend([
        "link",
        "add",
        &a,
        "type",
        "veth",
        "peer",
        "name",
        &b,
        "netns",
        far.name(),
    ]);
    sh(&add);
    let mut up = vec!["ip"];
    if let Some(ns) = near {
        up.extend(["-n", ns.name()]);
    }
    up.extend(["link", "set", &a, "up"]);
    sh(&up);
    sh(&["ip", "-n", far.name(), "link", "set", &b, "up"]);
    (a, b)
}

pub fn netns(prefix: &str) -> NamedNetns {
    NamedNetns::create(&unique_name(prefix)).unwrap()
}

/// Polls `cond` for up to `ms` milliseconds.
pub fn eventually(ms: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    loop {
        if cond() {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
pub mod bpf;
pub mod model_fixture;
