//! Real clang-built BPF programs, run by the eBPF engine inside the model's transmit path on
//! live traffic: they see GSO super-packets whole, and replacing them under iperf3 loses no
//! connection (root, clang-19).

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use common::model_fixture::fixture;
use common::*;
use netkit_bpf::obj::ObjectFile;
use netkit_bpf::skb::Skb;
use netkit_bpf::{LoadedObject, Program};
use netkit_core::{flags, AttachReq, Backend, Classifier, Handle, Hook, Relative, UserBackend};

/// An engine program as the model runs it; an aborted run drops the packet.
struct Engine(Arc<Program>);

impl Classifier for Engine {
    fn run(&self, skb: &mut Skb) -> i32 {
        self.0.run(skb).map_or(2, |r0| r0 as i32)
    }
}

/// Compiles tests/bpf/dataplane.bpf.c with clang-19 and loads it into the engine.
fn load_object() -> LoadedObject {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/bpf/dataplane.bpf.c");
    let out =
        std::env::temp_dir().join(format!("{}.bpf.o", netkit_io::testing::unique_name("nkdp")));
    let arch_inc = format!("-I/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    let args = [
        "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-Wall", &arch_inc, "-c",
    ];
    let status = std::process::Command::new("clang-19")
        .args(args)
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("run clang-19");
    assert!(status.success(), "clang-19 failed on {}", src.display());
    let bytes = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    LoadedObject::load(&ObjectFile::parse(&bytes).unwrap()).unwrap()
}

fn classifier(b: &mut UserBackend, obj: &LoadedObject, name: &str) -> Handle {
    let prog = obj
        .program(name)
        .unwrap_or_else(|| panic!("no program {name}"))
        .clone();
    b.load_classifier(name, Arc::new(Engine(prog))).0
}

fn attach(
    b: &mut UserBackend,
    ifindex: netkit_core::IfIndex,
    hook: Hook,
    prog: Handle,
    replace: Option<Handle>,
) {
    b.prog_attach(&AttachReq {
        ifindex,
        hook,
        prog,
        flags: if replace.is_some() { flags::REPLACE } else { 0 },
        relative: Relative(0),
        replace,
        expected_revision: 0,
    })
    .unwrap();
}

fn map_u64(obj: &LoadedObject, map: &str, index: u32) -> u64 {
    let v = obj.map(map).unwrap().lookup(&index.to_ne_bytes()).unwrap();
    u64::from_ne_bytes(v[..8].try_into().unwrap())
}

/// Runs iperf3 from the test's namespace to `dst` in `pod` for `secs`; returns its JSON.
fn iperf3(
    pod: &netkit_io::netns::NamedNetns,
    dst: &str,
    secs: u32,
    during: impl FnOnce(&AtomicBool),
) -> serde_json::Value {
    let mut server = iperf3_server(pod, dst);
    let done = Arc::new(AtomicBool::new(false));
    let client = {
        let (dst, done, t) = (dst.to_string(), done.clone(), secs.to_string());
        std::thread::spawn(move || {
            let out = run(&["iperf3", "-c", &dst, "-t", &t, "-J"]);
            done.store(true, Relaxed);
            out
        })
    };
    during(&done);
    let out = client.join().unwrap();
    let _ = server.wait();
    assert!(
        out.status.success(),
        "iperf3 failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["error"].is_null(), "{}", v["error"]);
    v
}

#[test]
fn bpf_program_sees_tcp_super_packets() {
    if !requirements(
        "bpf_program_sees_tcp_super_packets",
        &["ip", "iperf3", "clang-19"],
    ) {
        return;
    }
    let pod = netns("nkp");
    let mut fx = fixture(&pod, 193, 0);
    assert!(eventually(3000, || fx.sync()));
    let obj = load_object();
    let watch = classifier(&mut fx.backend, &obj, "watch_gso");
    // The primary's hook sees host -> pod traffic, the direction iperf3 sends in.
    attach(&mut fx.backend, fx.primary, Hook::Primary, watch, None);
    iperf3(&pod, "10.193.0.2", 2, |_| {});
    let (segs, size, pkts) = (
        map_u64(&obj, "seen", 0),
        map_u64(&obj, "seen", 1),
        map_u64(&obj, "seen", 2),
    );
    assert!(pkts > 0, "the program never ran");
    assert!(
        segs > 1,
        "no super-packet reached the program (max gso_segs {segs})"
    );
    assert!(size > 0 && size <= 65535, "gso_size {size}");
    eprintln!(
        "bpf_program_sees_tcp_super_packets: max gso_segs {segs}, gso_size {size}, {pkts} packets"
    );
}

#[test]
fn bpf_program_replacement_under_iperf3() {
    if !requirements(
        "bpf_program_replacement_under_iperf3",
        &["ip", "iperf3", "clang-19"],
    ) {
        return;
    }
    let pod = netns("nkp");
    let mut fx = fixture(&pod, 194, 0);
    assert!(eventually(3000, || fx.sync()));
    let obj = load_object();
    let a = classifier(&mut fx.backend, &obj, "count_a");
    let b = classifier(&mut fx.backend, &obj, "count_b");
    for hook in [Hook::Primary, Hook::Peer] {
        attach(&mut fx.backend, fx.primary, hook, a, None);
    }
    let before = fx.backend.datapath().stats(fx.primary).unwrap();
    let mut swaps = 0u32;
    let primary = fx.primary;
    let backend = &mut fx.backend;
    iperf3(&pod, "10.194.0.2", 3, |done| {
        let mut current = a;
        while !done.load(Relaxed) {
            let new = if current == a { b } else { a };
            for hook in [Hook::Primary, Hook::Peer] {
                attach(backend, primary, hook, new, Some(current));
            }
            current = new;
            swaps += 1;
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    });
    let (ra, rb) = (map_u64(&obj, "runs", 0), map_u64(&obj, "runs", 1));
    assert!(swaps > 100, "only {swaps} replacements");
    assert!(
        ra > 0 && rb > 0,
        "both programs carried traffic: {ra} / {rb}"
    );
    let after = fx.backend.datapath().stats(fx.primary).unwrap();
    assert_eq!(after.tx_dropped, before.tx_dropped, "{after:?}");
    eprintln!("bpf_program_replacement_under_iperf3: {swaps} replacements, runs {ra} / {rb}");
}

#[test]
fn bpf_redirect_carries_pod_to_pod_traffic() {
    if !requirements(
        "bpf_redirect_carries_pod_to_pod_traffic",
        &["ip", "ping", "clang-19"],
    ) {
        return;
    }
    use netkit_core::{Mode, NewLink, PeerInfo};
    use netkit_daemon::dataplane::DevRef;
    use netkit_daemon::interfaces::Interfaces;
    use netkit_daemon::plumbing::PairSpec as ModelPair;
    let (pod1, pod2) = (netns("nkp"), netns("nkp"));
    let mut backend = UserBackend::default();
    let (tx, admin) = std::sync::mpsc::channel();
    let mut plumbing = Interfaces::new(tx, 1);
    let mut pairs = Vec::new();
    let mut ns_of = std::collections::HashMap::new();
    for (pod, addr) in [(&pod1, "10.229.0.1/24"), (&pod2, "10.229.0.2/24")] {
        let (name, peer_name) = (
            netkit_io::testing::unique_name("nkM"),
            netkit_io::testing::unique_name("nkN"),
        );
        let req = NewLink {
            name: Some(name.clone()),
            mode: Some(1),
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
            model_primary: netkit_core::IfIndex(0),
            model_peer: netkit_core::IfIndex(0),
            expect: None,
        };
        let spec = common::model_fixture::plumb(&mut backend, &mut plumbing, &req, spec);
        let (primary, peer) = (spec.model_primary, spec.model_peer);
        let pod_id = backend.netns_id(Some(pod.name()));
        sh(&["ip", "link", "set", &name, "up"]);
        sh(&[
            "ip",
            "-n",
            pod.name(),
            "addr",
            "add",
            addr,
            "dev",
            &peer_name,
        ]);
        sh(&["ip", "-n", pod.name(), "link", "set", &peer_name, "up"]);
        // Both peers may well have ifindex 2, each in its pod: the namespace tells them apart.
        ns_of.insert(
            DevRef {
                netns: 0,
                ifindex: primary,
            },
            None,
        );
        ns_of.insert(
            DevRef {
                netns: pod_id,
                ifindex: peer,
            },
            Some(pod.name().to_string()),
        );
        pairs.push((primary, name));
    }
    let sync = |b: &mut UserBackend| {
        while let Ok((dev, up)) = admin.try_recv() {
            b.set_caller_netns(ns_of[&dev].as_deref());
            b.link_set_up(dev.ifindex, up).unwrap();
            b.set_caller_netns(None);
        }
        pairs
            .iter()
            .all(|(p, _)| b.link_get(*p).map(|l| l.carrier).unwrap_or(false))
    };
    assert!(
        eventually(3000, || sync(&mut backend)),
        "pairs never came up in the model"
    );
    let obj = load_object();
    let targets = obj.map("targets").unwrap();
    // Pod egress: to .2 out of pair B's primary, to .1 out of pair A's primary; each primary's
    // transmit path then delivers into its pod.
    targets
        .update(&2u32.to_ne_bytes(), &pairs[1].0 .0.to_ne_bytes(), 0)
        .unwrap();
    targets
        .update(&1u32.to_ne_bytes(), &pairs[0].0 .0.to_ne_bytes(), 0)
        .unwrap();
    let prog = classifier(&mut backend, &obj, "to_pod");
    for (primary, _) in &pairs {
        attach(&mut backend, *primary, Hook::Peer, prog, None);
    }
    let before: Vec<_> = pairs
        .iter()
        .map(|(p, _)| backend.datapath().stats(*p).unwrap())
        .collect();
    assert!(ping(&pod1, "10.229.0.2", 3), "pod1 -> pod2 by bpf_redirect");
    assert!(ping(&pod2, "10.229.0.1", 3), "pod2 -> pod1 by bpf_redirect");
    // Each primary's transmit path carried the redirected packets into its pod (the initial
    // namespace has no route to the pods, so only the redirect can deliver them).
    for ((p, _), b) in pairs.iter().zip(&before) {
        let now = backend.datapath().stats(*p).unwrap();
        assert!(now.tx_packets >= b.tx_packets + 6, "{now:?}");
    }
    for (_, name) in &pairs {
        let _ = run(&["ip", "link", "del", name]);
    }
}

#[test]
fn l2_programs_see_unicast_to_the_peer_as_host() {
    if !requirements(
        "l2_programs_see_unicast_to_the_peer_as_host",
        &["ip", "ping", "clang-19"],
    ) {
        return;
    }
    let pod = netns("nkp");
    let mut fx = common::model_fixture::fixture_mode(&pod, 195, 0, netkit_core::Mode::L2);
    assert!(eventually(3000, || fx.sync()));
    let obj = load_object();
    let watch = classifier(&mut fx.backend, &obj, "watch_pkt_type");
    attach(&mut fx.backend, fx.primary, Hook::Primary, watch, None);
    assert!(common::model_fixture::ping_here("10.195.0.2", 2));
    // ARP requests are broadcast; the echo requests go to the peer's own MAC, which the
    // model must know as the peer's address (pkt_type HOST, spec/netkit.md §2.1 step 4).
    let (host, bcast, other) = (
        map_u64(&obj, "pkt_types", 0),
        map_u64(&obj, "pkt_types", 1),
        map_u64(&obj, "pkt_types", 3),
    );
    let all: Vec<u64> = (0..4).map(|t| map_u64(&obj, "pkt_types", t)).collect();
    assert!(host >= 2, "unicast to the peer seen as host: {all:?}");
    assert!(bcast >= 1, "ARP broadcast seen: {bcast}");
    assert_eq!(other, 0, "nothing addressed elsewhere");
}
