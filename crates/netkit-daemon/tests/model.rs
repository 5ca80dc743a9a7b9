//! The daemon's real plumbing over the real device model (netkit-core's user backend): a pair
//! created in the model gets TUN interfaces and carries traffic through the model's transmit
//! path — policies, attached programs, replacement under load (root).

mod common;

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use common::model_fixture::{fixture, ping_here};
use common::*;
use netkit_core::{flags, AttachReq, Backend, DetachReq, Hook, ProgSource, Relative, UserBackend};

#[test]
fn blackhole_peer_until_a_program_is_attached() {
    if !requirements(
        "blackhole_peer_until_a_program_is_attached",
        &["ip", "ping"],
    ) {
        return;
    }
    let pod = netns("nkp");
    let mut fx = fixture(&pod, 191, 2);
    let ready = eventually(3000, || fx.sync());
    assert!(ready, "model never saw both ends up");
    // Pod egress is blackholed: replies never come back.
    assert!(!ping_here("10.191.0.2", 1), "blackhole let traffic through");
    let dropped = fx.backend.datapath().stats(fx.primary).unwrap();
    let (prog, _) = fx.backend.prog_load(&ProgSource::Constant(0)).unwrap();
    let attach = AttachReq::append(fx.primary, Hook::Peer, prog);
    fx.backend.prog_attach(&attach).unwrap();
    assert!(ping_here("10.191.0.2", 2), "PASS program on the peer hook");
    assert!(ping(&pod, "10.191.0.1", 2), "pod -> host");
    let after = fx.backend.datapath().stats(fx.primary).unwrap();
    assert!(after.tx_packets > dropped.tx_packets, "{after:?}");
    fx.backend
        .prog_detach(&DetachReq {
            ifindex: fx.primary,
            hook: Hook::Peer,
            prog: Some(prog),
            flags: 0,
            relative: Relative(0),
            expected_revision: 0,
        })
        .unwrap();
    assert!(!ping_here("10.191.0.2", 1), "policy is back after detach");
}

#[test]
fn model_program_replacement_under_iperf3() {
    if !requirements("model_program_replacement_under_iperf3", &["ip", "iperf3"]) {
        return;
    }
    let pod = netns("nkp");
    let mut fx = fixture(&pod, 192, 0);
    assert!(eventually(3000, || fx.sync()));
    let load = |b: &mut UserBackend, v| b.prog_load(&ProgSource::Constant(v)).unwrap().0;
    let (next, pass) = (load(&mut fx.backend, -1), load(&mut fx.backend, 0));
    for hook in [Hook::Primary, Hook::Peer] {
        let req = AttachReq {
            ifindex: fx.primary,
            hook,
            prog: next,
            flags: 0,
            relative: Relative(0),
            replace: None,
            expected_revision: 0,
        };
        fx.backend.prog_attach(&req).unwrap();
    }
    // Drops before both ends were up (the stack's first IPv6 packets) do not count.
    let before = fx.backend.datapath().stats(fx.primary).unwrap();
    let mut server = iperf3_server(&pod, "10.192.0.2");
    let done = Arc::new(AtomicBool::new(false));
    let client = {
        let done = done.clone();
        std::thread::spawn(move || {
            let out = run(&["iperf3", "-c", "10.192.0.2", "-t", "3", "-J"]);
            done.store(true, Relaxed);
            out
        })
    };
    // Replace the program on both hooks back and forth while the stream runs.
    let mut swaps = 0u32;
    let mut current = next;
    while !done.load(Relaxed) {
        let new = if current == next { pass } else { next };
        for hook in [Hook::Primary, Hook::Peer] {
            let req = AttachReq {
                ifindex: fx.primary,
                hook,
                prog: new,
                flags: flags::REPLACE,
                relative: Relative(0),
                replace: Some(current),
                expected_revision: 0,
            };
            fx.backend.prog_attach(&req).unwrap();
        }
        current = new;
        swaps += 1;
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let out = client.join().unwrap();
    let _ = server.wait();
    assert!(
        out.status.success(),
        "iperf3 failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["error"].is_null(), "{}", v["error"]);
    assert!(v["end"]["sum_received"]["bytes"].as_f64().unwrap_or(0.0) > 0.0);
    assert!(swaps > 100, "only {swaps} replacements");
    let stats = fx.backend.datapath().stats(fx.primary).unwrap();
    assert_eq!(
        stats.tx_dropped, before.tx_dropped,
        "a replacement dropped packets: {stats:?}"
    );
    eprintln!("model_program_replacement_under_iperf3: {swaps} replacements per hook");
}
