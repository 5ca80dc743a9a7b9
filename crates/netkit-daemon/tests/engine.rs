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
    let mut server = std::process::Command::new("ip")
        .args(["netns", "exec", pod.name(), "iperf3", "-s", "-1", "-B", dst])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
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
    let mut fx = fixture(&pod, 227, 0);
    assert!(eventually(3000, || fx.sync()));
    let obj = load_object();
    let watch = classifier(&mut fx.backend, &obj, "watch_gso");
    // The primary's hook sees host -> pod traffic, the direction iperf3 sends in.
    attach(&mut fx.backend, fx.primary, Hook::Primary, watch, None);
    iperf3(&pod, "10.227.0.2", 2, |_| {});
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
    let mut fx = fixture(&pod, 228, 0);
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
    iperf3(&pod, "10.228.0.2", 3, |done| {
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
