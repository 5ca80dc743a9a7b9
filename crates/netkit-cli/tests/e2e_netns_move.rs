//! `link set PEER netns NS`, the CNI way of making a pod's end: the peer is created beside the
//! host end and moved into the pod. Carrier and traffic follow it into the new namespace (and
//! on into another) without a daemon restart, a restart finds it where it went, and a move
//! onto a taken name or of a primary is refused and changes nothing (root, namespaces).

mod common;
use common::*;

/// Root, iproute2 and ping, or the SKIP line.
fn ready(test: &str) -> bool {
    require(
        test,
        &[
            ("root", is_root()),
            ("ip (iproute2)", have("ip")),
            ("ping", have("ping")),
        ],
    )
}

/// The kernel's view of `dev` in namespace `ns` (the host's when `None`), if it exists.
fn kernel_link(ns: Option<&str>, dev: &str) -> Option<serde_json::Value> {
    let prefix = ns.map(|n| format!("-n {n} ")).unwrap_or_default();
    let out = sh(&format!("ip {prefix}-j link show dev {dev}"));
    if !out.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(v[0].clone())
}

fn has_carrier(link: &serde_json::Value) -> bool {
    link["flags"]
        .as_array()
        .is_some_and(|f| f.iter().any(|x| x == "LOWER_UP"))
}

/// Addresses the moved peer in `ns` (a move loses them, as in the kernel) and brings it up.
fn configure_in(ns: &str, dev: &str, addr: &str) {
    sh_ok(&format!(
        "ip netns exec {ns} sysctl -qw net.ipv6.conf.{dev}.disable_ipv6=1 && \
         ip -n {ns} addr add {addr}/24 dev {dev} && ip -n {ns} link set {dev} up"
    ));
}

/// The daemon's `link show -j` object of the peer `name`.
fn peer_view(env: &Env, name: &str) -> serde_json::Value {
    env.nk_json(&["link", "show", name])[0].clone()
}

#[test]
fn a_moved_peer_gets_carrier_and_traffic_in_its_new_namespace() {
    let test = "a_moved_peer_gets_carrier_and_traffic_in_its_new_namespace";
    if !ready(test) {
        return;
    }
    let mut env = Env::new(71);
    let (ns1, ns2, ns3) = (env.netns("1"), env.netns("2"), env.netns("3"));
    let (a, b, p) = (env.ifname("ah"), env.ifname("bh"), env.ifname("p"));
    // Pair a's peer beside the host end, pair b's of the same name in ns3.
    env.nk_ok(&["link", "add", &a, "type", "netkit", "peer", "name", &p]);
    env.adopt(&a);
    env.adopt(&p);
    env.nk_ok(&[
        "link", "add", &b, "type", "netkit", "peer", "name", &p, "netns", &ns3,
    ]);
    env.adopt(&b);
    sh_ok(&format!(
        "sysctl -qw net.ipv6.conf.{a}.disable_ipv6=1 && \
         ip addr add 10.251.0.1/24 dev {a} && ip link set {a} up"
    ));

    // Refused, changing nothing: onto a name taken there, and a primary.
    let state = || std::fs::read_to_string(env.state.join("state.json")).unwrap();
    let (links, saved) = (env.nk_json(&["link", "show"]), state());
    for (args, errno, words) in [
        (["link", "set", &p, "netns", &ns3], "EEXIST", p.as_str()),
        (["link", "set", &a, "netns", &ns1], "EOPNOTSUPP", "primar"),
    ] {
        let out = env.nk(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "netkit {args:?} succeeded");
        assert!(stderr.contains(errno) && stderr.contains(words), "{stderr}");
        assert_eq!(env.nk_json(&["link", "show"]), links, "{args:?}");
        assert_eq!(state(), saved, "{args:?}");
    }
    assert!(kernel_link(None, &p).is_some() && kernel_link(None, &a).is_some());
    env.nk_ok(&["link", "del", &b]);

    // Into ns1: the kernel's device moves (same name and ifindex), the daemon shows it there,
    // and once the pod brings it up both ends have carrier and traffic flows.
    let ifindex = kernel_link(None, &p).unwrap()["ifindex"].clone();
    env.nk_ok(&["link", "set", &p, "netns", &ns1]);
    assert!(kernel_link(None, &p).is_none(), "{p} still in the host");
    let moved = kernel_link(Some(&ns1), &p).expect("the peer in ns1");
    assert_eq!(moved["ifindex"], ifindex);
    let shown = peer_view(&env, &p);
    assert_eq!(shown["link_netns"], ns1.as_str(), "{shown}");
    assert_eq!(shown["ifindex"], ifindex, "{shown}");
    configure_in(&ns1, &p, "10.251.0.2");
    assert!(
        ping(Some(&ns1), "10.251.0.1", 2),
        "ns1 -> host after the move"
    );
    assert!(ping(None, "10.251.0.2", 2), "host -> ns1 after the move");
    assert!(has_carrier(&kernel_link(Some(&ns1), &p).unwrap()));
    assert!(has_carrier(&kernel_link(None, &a).unwrap()));
    assert!(has_carrier(&peer_view(&env, &p)), "{}", peer_view(&env, &p));

    // Moves the kernel (not the daemon's records) refuses: onto a name a veth has in ns3,
    // and onto an ifindex a veth has there (the kernel would renumber the device, the daemon
    // does not). Each leaves the peer in ns1, forwarding.
    let (v, w) = (env.ifname("v"), env.ifname("w"));
    let index = ifindex.as_u64().unwrap();
    for (setup, errno, words) in [
        (
            format!("ip -n {ns3} link add {p} type veth peer name {v}"),
            "EEXIST",
            "exists",
        ),
        (
            format!("ip -n {ns3} link del {p} && ip -n {ns3} link add {v} index {index} type veth peer name {w}"),
            "EBUSY",
            "taken",
        ),
    ] {
        sh_ok(&setup);
        let links = env.nk_json(&["link", "show"]);
        let out = env.nk(&["link", "set", &p, "netns", &ns3]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "moved despite {setup}");
        assert!(
            stderr.contains(errno) && stderr.contains(words),
            "{setup}: {stderr}"
        );
        assert_eq!(env.nk_json(&["link", "show"]), links, "{setup}");
        assert!(kernel_link(Some(&ns1), &p).is_some(), "{setup}");
        assert!(ping(Some(&ns1), "10.251.0.1", 2), "ns1 -> host after {setup}");
    }

    // On into ns2: the same, and ns1 has no such device any more.
    env.nk_ok(&["link", "set", &p, "netns", &ns2]);
    assert!(kernel_link(Some(&ns1), &p).is_none());
    // Moved means closed: no carrier until the new pod brings it up.
    assert!(!has_carrier(&kernel_link(None, &a).unwrap()));
    configure_in(&ns2, &p, "10.251.0.2");
    assert!(
        ping(Some(&ns2), "10.251.0.1", 2),
        "ns2 -> host after the second move"
    );
    assert!(has_carrier(&kernel_link(Some(&ns2), &p).unwrap()));

    // kill -9 and a restart find the peer where it went.
    let links = env.nk_json(&["link", "show"]);
    env.kill_daemon();
    env.start_daemon();
    assert_eq!(env.nk_json(&["link", "show"]), links);
    assert!(
        ping(Some(&ns2), "10.251.0.1", 2),
        "ns2 -> host after the restart"
    );
}

/// Waits (up to 5 s) until the daemon shows the peer `name` in namespace `ns`.
fn wait_shown_in(env: &Env, name: &str, ns: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let view = peer_view(env, name);
        if view["link_netns"] == ns {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the daemon did not follow {name} to {ns}: {view}\n{}",
            env.daemon_log()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn a_peer_moved_with_ip_is_followed() {
    let test = "a_peer_moved_with_ip_is_followed";
    if !ready(test) {
        return;
    }
    let mut env = Env::new(72);
    let (ns1, ns2) = (env.netns("1"), env.netns("2"));
    let (a, p) = (env.ifname("ah"), env.ifname("p"));
    env.nk_ok(&["link", "add", &a, "type", "netkit", "peer", "name", &p]);
    env.adopt(&a);
    sh_ok(&format!(
        "sysctl -qw net.ipv6.conf.{a}.disable_ipv6=1 && \
         ip addr add 10.252.0.1/24 dev {a} && ip link set {a} up"
    ));
    let ifindex = kernel_link(None, &p).unwrap()["ifindex"].clone();

    // The CNI plugin moves the peer itself: the daemon follows, carrier and traffic too.
    sh_ok(&format!("ip link set {p} netns {ns1}"));
    wait_shown_in(&env, &p, &ns1);
    assert_eq!(peer_view(&env, &p)["ifindex"], ifindex);
    configure_in(&ns1, &p, "10.252.0.2");
    assert!(
        ping(Some(&ns1), "10.252.0.1", 2),
        "ns1 -> host after ip's move"
    );
    assert!(ping(None, "10.252.0.2", 2), "host -> ns1 after ip's move");
    assert!(has_carrier(&kernel_link(Some(&ns1), &p).unwrap()));

    // And on from ns1 to ns2.
    sh_ok(&format!("ip -n {ns1} link set {p} netns {ns2}"));
    wait_shown_in(&env, &p, &ns2);
    configure_in(&ns2, &p, "10.252.0.2");
    assert!(
        ping(Some(&ns2), "10.252.0.1", 2),
        "ns2 -> host after ip's second move"
    );

    // The record followed: a restart finds the peer in ns2.
    let links = env.nk_json(&["link", "show"]);
    env.kill_daemon();
    env.start_daemon();
    assert_eq!(env.nk_json(&["link", "show"]), links);
    assert!(
        ping(Some(&ns2), "10.252.0.1", 2),
        "ns2 -> host after the restart"
    );
}
