//! End-to-end: real TUN/TAP pairs in real namespaces carrying ping, ARP, TCP super-packets and
//! tcpdump-visible traffic through the dataplane (root).

mod common;

use std::sync::Arc;

use common::*;
use netkit_core::IfIndex;
use netkit_daemon::dataplane::Dataplane;
use netkit_io::tun::TunKind;

fn spec<'a>(
    kind: TunKind,
    host: &'a netkit_io::netns::NamedNetns,
    pod: &'a netkit_io::netns::NamedNetns,
) -> PairSpec<'a> {
    PairSpec {
        kind,
        host,
        pod,
        ids: (IfIndex(101), IfIndex(100)),
        host_addr: "10.220.0.1/24",
        pod_addr: "10.220.0.2/24",
        queues: 1,
    }
}

fn test_path() -> Arc<TestPath> {
    TestPath::with_pairs(&[(IfIndex(101), IfIndex(100))])
}

#[test]
fn l3_ping_both_ways_without_arp() {
    if !requirements("l3_ping_both_ways_without_arp", &["ip", "ping"]) {
        return;
    }
    let (host, pod) = (netns("nkh"), netns("nkp"));
    let path = test_path();
    let dp = Dataplane::new();
    let pair = start(&dp, &path, &spec(TunKind::Tun, &host, &pod));
    assert!(ping(&host, "10.220.0.2", 3), "host -> pod");
    assert!(ping(&pod, "10.220.0.1", 3), "pod -> host");
    let st = pair.running.stats();
    assert!(st.to_peer >= 12, "{st:?}");
    assert_eq!(st.dropped_malformed, 0, "{st:?}");
    // L3: no neighbour entries, no ARP.
    let neigh = sh(&[
        "ip",
        "-n",
        host.name(),
        "neigh",
        "show",
        "dev",
        &pair.primary,
    ]);
    assert!(
        neigh.trim().is_empty(),
        "unexpected neighbours in L3: {neigh}"
    );

    // A dropping program on the primary stops host -> pod only.
    path.set_prog(IfIndex(101), Arc::new(|_| 2));
    assert!(
        !ping(&host, "10.220.0.2", 1),
        "drop program let a ping through"
    );
    assert!(pair.running.stats().dropped_xmit >= 1);
    path.set_prog(IfIndex(101), pass());
    assert!(ping(&host, "10.220.0.2", 1));
}

#[test]
fn l2_ping_resolves_neighbours_with_arp() {
    if !requirements("l2_ping_resolves_neighbours_with_arp", &["ip", "ping"]) {
        return;
    }
    let (host, pod) = (netns("nkh"), netns("nkp"));
    let path = test_path();
    let dp = Dataplane::new();
    let pair = start(&dp, &path, &spec(TunKind::Tap, &host, &pod));
    assert!(ping(&host, "10.220.0.2", 2), "host -> pod");
    assert!(ping(&pod, "10.220.0.1", 2), "pod -> host");
    let peer_mac = pair.running.devices().1.rtnl({
        let ifindex = pair.running.devices().1.ifindex();
        move |r| r.link(ifindex)
    });
    let peer_mac: Vec<String> = peer_mac
        .unwrap()
        .address
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let neigh = sh(&["ip", "-n", host.name(), "neigh", "show", "10.220.0.2"]);
    assert!(
        neigh.contains(&peer_mac.join(":")),
        "ARP did not learn the peer's MAC: {neigh}"
    );
}

#[test]
fn carrier_follows_both_ends() {
    if !requirements("carrier_follows_both_ends", &["ip"]) {
        return;
    }
    let (host, pod) = (netns("nkh"), netns("nkp"));
    let path = test_path();
    let dp = Dataplane::new();
    let pair = start(&dp, &path, &spec(TunKind::Tun, &host, &pod));
    let carrier = |ns: &netkit_io::netns::NamedNetns, dev: &str| {
        let out = sh(&["ip", "-n", ns.name(), "-d", "link", "show", dev]);
        !out.contains("NO-CARRIER")
    };
    assert!(
        eventually(2000, || carrier(&host, &pair.primary)
            && carrier(&pod, &pair.peer)),
        "both up: carrier on"
    );
    sh(&["ip", "-n", pod.name(), "link", "set", &pair.peer, "down"]);
    assert!(
        eventually(2000, || !carrier(&host, &pair.primary)),
        "peer down: primary loses carrier"
    );
    assert!(
        !path.devs[&IfIndex(100)]
            .up
            .load(std::sync::atomic::Ordering::Relaxed),
        "model told peer is down"
    );
    assert!(!ping(&host, "10.220.0.2", 1));
    sh(&["ip", "-n", pod.name(), "link", "set", &pair.peer, "up"]);
    assert!(
        eventually(2000, || carrier(&host, &pair.primary)
            && carrier(&pod, &pair.peer)),
        "carrier back"
    );
    assert!(ping(&host, "10.220.0.2", 1));
}

#[test]
fn deleting_one_end_deletes_the_other() {
    if !requirements("deleting_one_end_deletes_the_other", &["ip"]) {
        return;
    }
    let (host, pod) = (netns("nkh"), netns("nkp"));
    let path = test_path();
    let dp = Dataplane::new();
    let pair = start(&dp, &path, &spec(TunKind::Tun, &host, &pod));
    sh(&["ip", "-n", pod.name(), "link", "del", &pair.peer]);
    assert!(
        eventually(3000, || pair.running.is_deleted()),
        "deletion not noticed"
    );
    let out = run(&["ip", "-n", host.name(), "link", "show", &pair.primary]);
    assert!(!out.status.success(), "primary still exists");
}

#[test]
fn tcp_super_packets_cross_whole() {
    if !requirements("tcp_super_packets_cross_whole", &["ip", "iperf3"]) {
        return;
    }
    let (host, pod) = (netns("nkh"), netns("nkp"));
    let path = test_path();
    let dp = Dataplane::new();
    let pair = start(&dp, &path, &spec(TunKind::Tun, &host, &pod));
    let mut server = iperf3_server(&pod, "10.220.0.2");
    let client = sh(&[
        "ip",
        "netns",
        "exec",
        host.name(),
        "iperf3",
        "-c",
        "10.220.0.2",
        "-t",
        "2",
        "-J",
    ]);
    let _ = server.wait();
    let v: serde_json::Value = serde_json::from_str(&client).unwrap();
    let bps = v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or(0.0);
    assert!(bps > 0.0, "no TCP throughput");
    eprintln!(
        "tcp_super_packets_cross_whole: {:.2} Gbit/s (debug build)",
        bps / 1e9
    );
    let segs = path.max_gso_segs.load(std::sync::atomic::Ordering::Relaxed);
    let size = path.max_gso_size.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        segs > 1,
        "programs never saw a GSO super-packet (max gso_segs {segs})"
    );
    assert!(size > 0 && size <= 65535, "gso_size {size}");
    assert_eq!(
        pair.running.stats().write_errors,
        0,
        "{:?}",
        pair.running.stats()
    );
}

#[test]
fn tcpdump_sees_traffic_on_both_ends() {
    if !requirements(
        "tcpdump_sees_traffic_on_both_ends",
        &["ip", "ping", "tcpdump"],
    ) {
        return;
    }
    let (host, pod) = (netns("nkh"), netns("nkp"));
    let path = test_path();
    let dp = Dataplane::new();
    let pair = start(&dp, &path, &spec(TunKind::Tun, &host, &pod));
    let dump = |ns: &netkit_io::netns::NamedNetns, dev: &str| {
        std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                ns.name(),
                "timeout",
                "5",
                "tcpdump",
                "-n",
                "-l",
                "-i",
                dev,
                "-c",
                "4",
                "icmp",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let (a, b) = (dump(&host, &pair.primary), dump(&pod, &pair.peer));
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert!(ping(&host, "10.220.0.2", 3));
    for (name, child) in [("primary", a), ("peer", b)] {
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("ICMP echo request") && text.contains("ICMP echo reply"),
            "tcpdump on {name}: {text}"
        );
    }
}

#[test]
fn multi_queue_spreads_flows_over_workers() {
    if !requirements("multi_queue_spreads_flows_over_workers", &["ip", "iperf3"]) {
        return;
    }
    let (host, pod) = (netns("nkh"), netns("nkp"));
    let path = test_path();
    let dp = Dataplane::new();
    let pair = start(
        &dp,
        &path,
        &PairSpec {
            queues: 2,
            ..spec(TunKind::Tun, &host, &pod)
        },
    );
    assert_eq!(
        pair.running.worker_stats().len(),
        2,
        "one worker per queue index"
    );
    let mut server = iperf3_server(&pod, "10.220.0.2");
    sh(&[
        "ip",
        "netns",
        "exec",
        host.name(),
        "iperf3",
        "-c",
        "10.220.0.2",
        "-t",
        "1",
        "-P",
        "16",
    ]);
    let _ = server.wait();
    // With 16 flows the kernel's flow hash puts traffic on both queues.
    let per = pair.running.worker_stats();
    assert!(per[0].rx_frames > 0 && per[1].rx_frames > 0, "{per:?}");
}

#[test]
fn moving_an_end_away_is_not_a_deletion() {
    if !requirements("moving_an_end_away_is_not_a_deletion", &["ip"]) {
        return;
    }
    let (host, pod, other) = (netns("nkh"), netns("nkp"), netns("nko"));
    let path = test_path();
    let dp = Dataplane::new();
    let pair = start(&dp, &path, &spec(TunKind::Tun, &host, &pod));
    assert!(eventually(2000, || path.devs[&IfIndex(100)]
        .up
        .load(std::sync::atomic::Ordering::Relaxed)));
    sh(&[
        "ip",
        "-n",
        pod.name(),
        "link",
        "set",
        &pair.peer,
        "netns",
        other.name(),
    ]);
    // The move closes the device: the model hears it is down, and nothing is deleted.
    assert!(eventually(2000, || !path.devs[&IfIndex(100)]
        .up
        .load(std::sync::atomic::Ordering::Relaxed)));
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!pair.running.is_deleted());
    sh(&["ip", "-n", host.name(), "link", "show", &pair.primary]);
    sh(&["ip", "-n", other.name(), "link", "show", &pair.peer]);
}

/// Scheduling policy (field 41 of /proc/self/task/TID/stat) of our threads whose name starts
/// with `prefix`.
fn thread_policies(prefix: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if !comm.trim().starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // Fields after the parenthesised name start at field 3.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        if let Some(p) = rest.split_whitespace().nth(41 - 3) {
            out.push(p.parse().unwrap());
        }
    }
    out
}

#[test]
fn realtime_workers_run_at_sched_fifo() {
    if !requirements("realtime_workers_run_at_sched_fifo", &["ip"]) {
        return;
    }
    let (host, pod) = (netns("nkh"), netns("nkp"));
    let path = test_path();
    let dp = Dataplane::new().with_realtime(5);
    let pair = start(&dp, &path, &spec(TunKind::Tun, &host, &pod));
    // Thread names are cut to 15 bytes: "nk-" + the primary's name prefix.
    let prefix: String = format!("nk-{}", pair.primary).chars().take(15).collect();
    assert!(
        eventually(2000, || {
            let p = thread_policies(&prefix);
            !p.is_empty() && p.iter().all(|p| *p == 1)
        }),
        "policies {:?}",
        thread_policies(&prefix)
    );
    assert!(ping(&host, "10.220.0.2", 1));
}

#[test]
fn a_device_runs_in_one_pair_only() {
    if !requirements("a_device_runs_in_one_pair_only", &["ip", "ping"]) {
        return;
    }
    let (host, pod, pod2) = (netns("nkh"), netns("nkp"), netns("nkp"));
    let path = test_path();
    let dp = Dataplane::new();
    let _pair = start(&dp, &path, &spec(TunKind::Tun, &host, &pod));
    let (_, _, io) = make_devices(&PairSpec {
        host_addr: "10.220.1.1/24",
        pod_addr: "10.220.1.2/24",
        ..spec(TunKind::Tun, &host, &pod2)
    });
    let err = dp.start_pair(path.clone(), io).unwrap_err();
    assert!(
        matches!(err, netkit_daemon::dataplane::Error::Busy(IfIndex(101))),
        "{err}"
    );
    // The refused start left the running pair alone.
    assert!(ping(&host, "10.220.0.2", 1));
}

#[test]
fn busy_polling_workers_carry_traffic_and_stop() {
    if !requirements(
        "busy_polling_workers_carry_traffic_and_stop",
        &["ip", "ping"],
    ) {
        return;
    }
    let (host, pod) = (netns("nkh"), netns("nkp"));
    let path = test_path();
    // A window far longer than the test: the workers never sleep once traffic has flowed,
    // so stopping must not rely on waking them from poll().
    let dp = Dataplane::new().with_busy_poll(std::time::Duration::from_secs(3600));
    let (primary, peer, io) = make_devices(&spec(TunKind::Tun, &host, &pod));
    let running = dp.start_pair(path.clone(), io).unwrap();
    assert!(ping(&host, "10.220.0.2", 3), "host -> pod");
    assert!(ping(&pod, "10.220.0.1", 3), "pod -> host");
    let st = running.stats();
    assert!(st.to_peer >= 12, "{st:?}");
    assert_eq!(st.dropped_malformed + st.write_errors, 0, "{st:?}");
    // Stopping joins the spinning workers and hands both devices back.
    let io = running.stop().expect("stop a busy-polling pair");
    assert_eq!(io.primary.1.name(), primary);
    assert_eq!(io.peer.1.name(), peer);
}
