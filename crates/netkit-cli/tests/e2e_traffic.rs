//! End-to-end: real pairs in real namespaces, driven through `netkit`, carrying real traffic
//! (root; see common::require for the SKIP rules).

mod common;
use common::*;

fn privileged(test: &str) -> bool {
    require(
        test,
        &[
            ("root", is_root()),
            ("ip (iproute2)", have("ip")),
            ("ping", have("ping")),
        ],
    )
}

/// Neighbour entries of `dev` in namespace `ns`.
fn neighbours(ns: &str, dev: &str) -> String {
    sh_ok(&format!("ip -n {ns} neigh show dev {dev}"))
}

#[test]
fn l3_pair_pings_both_ways_without_arp() {
    if !privileged("l3_pair_pings_both_ways_without_arp") {
        return;
    }
    let mut env = Env::new(1);
    let ns = env.netns("a");
    let (host, pod) = env.pair("a", &ns, "mode l3", "", "10.201.0.1", "10.201.0.2");
    assert!(ping(None, "10.201.0.2", 3), "host -> pod");
    assert!(ping(Some(&ns), "10.201.0.1", 3), "pod -> host");
    // L3: TUN devices, NOARP, no neighbour entries, no MAC.
    assert!(
        neighbours(&ns, &pod).trim().is_empty(),
        "{}",
        neighbours(&ns, &pod)
    );
    let link = env.nk_json(&["-s", "link", "show", &host]);
    assert_eq!(link[0]["linkinfo"]["info_data"]["mode"], "l3");
    assert!(link[0].get("address").is_none());
    let flags = link[0]["flags"].as_array().unwrap();
    assert!(flags.iter().any(|f| f == "NOARP"), "{flags:?}");
    // Six echo requests went pod-wards through the primary, six replies host-wards.
    let tx = link[0]["stats64"]["tx"]["packets"].as_u64().unwrap();
    let rx = link[0]["stats64"]["rx"]["packets"].as_u64().unwrap();
    assert!(tx >= 6 && rx >= 6, "tx {tx} rx {rx}");
    // The peer's counters mirror them.
    let peer = env.nk_json(&["-s", "link", "show", &pod]);
    assert_eq!(peer[0]["linkinfo"]["info_data"]["type"], "peer");
    assert!(peer[0]["stats64"]["rx"]["packets"].as_u64().unwrap() >= 6);
    // The kernel sees the real interfaces with the ifindexes the CLI reports.
    let real: serde_json::Value =
        serde_json::from_str(&sh_ok(&format!("ip -j link show {host}"))).unwrap();
    assert_eq!(real[0]["ifindex"], link[0]["ifindex"]);
}

#[test]
fn l2_pair_pings_and_resolves_with_arp() {
    if !privileged("l2_pair_pings_and_resolves_with_arp") {
        return;
    }
    let mut env = Env::new(2);
    let ns = env.netns("b");
    let (host, pod) = env.pair("b", &ns, "mode l2", "", "10.202.0.1", "10.202.0.2");
    assert!(ping(None, "10.202.0.2", 3), "host -> pod");
    assert!(ping(Some(&ns), "10.202.0.1", 3), "pod -> host");
    // ARP resolved the host end's MAC in the pod.
    let host_mac = sh_ok(&format!("cat /sys/class/net/{host}/address"));
    let neigh = neighbours(&ns, &pod);
    assert!(
        neigh.contains("10.202.0.1") && neigh.contains(host_mac.trim()),
        "pod neighbours: {neigh:?}, host MAC {host_mac}"
    );
    let link = env.nk_json(&["link", "show", &host]);
    assert_eq!(link[0]["linkinfo"]["info_data"]["mode"], "l2");
    assert_eq!(link[0]["link_type"], "ether");
}

#[test]
fn blackhole_policy_drops_until_forward() {
    if !privileged("blackhole_policy_drops_until_forward") {
        return;
    }
    let mut env = Env::new(3);
    let ns = env.netns("c");
    let (host, _pod) = env.pair("c", &ns, "", "blackhole", "10.203.0.1", "10.203.0.2");
    assert!(!ping(None, "10.203.0.2", 2), "blackhole peer must drop");
    let link = env.nk_json(&["-s", "link", "show", &host]);
    assert_eq!(link[0]["linkinfo"]["info_data"]["peer_policy"], "blackhole");
    env.nk_ok(&["link", "set", &host, "peer", "forward"]);
    assert!(ping(None, "10.203.0.2", 2), "forward after link set");
}

#[test]
fn tcpdump_sees_traffic_on_both_ends() {
    if !privileged("tcpdump_sees_traffic_on_both_ends")
        || !require(
            "tcpdump_sees_traffic_on_both_ends",
            &[("tcpdump", have("tcpdump"))],
        )
    {
        return;
    }
    let mut env = Env::new(4);
    let ns = env.netns("d");
    let (host, pod) = env.pair("d", &ns, "", "", "10.204.0.1", "10.204.0.2");
    let dir = env.dir.clone();
    let start = |prefix: String, dev: &str, file: &str| {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "exec {prefix}tcpdump -n -l -i {dev} -c 6 icmp > {} 2> {}.err",
                dir.join(file).display(),
                dir.join(file).display()
            ))
            .spawn()
            .unwrap()
    };
    let mut host_dump = start(String::new(), &host, "host.txt");
    let mut pod_dump = start(format!("ip netns exec {ns} "), &pod, "pod.txt");
    // Both capture before the first echo leaves.
    for file in ["host.txt.err", "pod.txt.err"] {
        for _ in 0..100 {
            let err = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
            if err.contains("listening on") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
    assert!(ping(None, "10.204.0.2", 5));
    let wait = |c: &mut std::process::Child| {
        for _ in 0..50 {
            if c.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = c.kill();
        let _ = c.wait();
    };
    wait(&mut host_dump);
    wait(&mut pod_dump);
    for file in ["host.txt", "pod.txt"] {
        let text = std::fs::read_to_string(dir.join(file)).unwrap();
        let requests = text.matches("ICMP echo request").count();
        let replies = text.matches("ICMP echo reply").count();
        assert!(requests >= 2 && replies >= 2, "{file}: {text}");
    }
}
