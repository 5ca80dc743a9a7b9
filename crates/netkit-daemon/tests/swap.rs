//! Programs swapped under load: iperf3 keeps its connection while the transmit path's program
//! is replaced thousands of times (root).

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use common::*;
use netkit_core::IfIndex;
use netkit_daemon::dataplane::Dataplane;
use netkit_io::tun::TunKind;

#[test]
fn program_swap_under_iperf3_keeps_the_connection() {
    if !requirements(
        "program_swap_under_iperf3_keeps_the_connection",
        &["ip", "iperf3"],
    ) {
        return;
    }
    let (host, pod) = (netns("nkh"), netns("nkp"));
    let (prim, peer) = (IfIndex(501), IfIndex(500));
    let path = TestPath::with_pairs(&[(prim, peer)]);
    let dp = Dataplane::new();
    let _pair = start(
        &dp,
        &path,
        &PairSpec {
            kind: TunKind::Tun,
            host: &host,
            pod: &pod,
            ids: (prim, peer),
            host_addr: "10.224.0.1/24",
            pod_addr: "10.224.0.2/24",
            queues: 1,
        },
    );
    let mut server = iperf3_server(&pod, "10.224.0.2");
    let runs = [Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0))];
    let done = Arc::new(AtomicBool::new(false));
    let swapper = {
        let (path, runs, done) = (path.clone(), runs.clone(), done.clone());
        std::thread::spawn(move || {
            let mut swaps = 0u64;
            while !done.load(Relaxed) {
                let counter = runs[(swaps % 2) as usize].clone();
                let prog: Prog = Arc::new(move |_| {
                    counter.fetch_add(1, Relaxed);
                    -1 // NEXT: continue, as a passing chain member does
                });
                path.set_prog(prim, prog.clone());
                path.set_prog(peer, prog);
                swaps += 1;
                std::thread::sleep(std::time::Duration::from_micros(500));
            }
            swaps
        })
    };
    let out = run(&[
        "ip",
        "netns",
        "exec",
        host.name(),
        "iperf3",
        "-c",
        "10.224.0.2",
        "-t",
        "3",
        "-J",
    ]);
    done.store(true, Relaxed);
    let swaps = swapper.join().unwrap();
    let _ = server.wait();
    assert!(
        out.status.success(),
        "iperf3 failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["error"].is_null(), "iperf3 error: {}", v["error"]);
    let bytes = v["end"]["sum_received"]["bytes"].as_f64().unwrap_or(0.0);
    assert!(bytes > 0.0);
    assert!(swaps > 100, "only {swaps} swaps");
    assert!(
        runs[0].load(Relaxed) > 0 && runs[1].load(Relaxed) > 0,
        "both program versions carried traffic"
    );
    eprintln!(
        "program_swap_under_iperf3: {swaps} swaps, {:.0} MB received",
        bytes / 1e6
    );
}
