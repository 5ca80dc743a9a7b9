//! Real clang-built BPF programs, run by the eBPF engine inside the model's transmit path on
//! live traffic: they see GSO super-packets whole, and replacing them under iperf3 loses no
//! connection (root, clang-19).

mod common;

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use common::bpf::{attach, classifier, load_object, map_u64};
use common::model_fixture::{fixture, TwoPods};
use common::*;
use netkit_core::Hook;

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
    let (pod1, pod2) = (netns("nkp"), netns("nkp"));
    let mut pods = TwoPods::new([&pod1, &pod2], 229);
    assert!(
        eventually(3000, || pods.sync()),
        "pairs never came up in the model"
    );
    let pairs = pods.pairs.clone();
    let backend = &mut pods.backend;
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
    let prog = classifier(backend, &obj, "to_pod");
    for (primary, _) in &pairs {
        attach(backend, *primary, Hook::Peer, prog, None);
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
