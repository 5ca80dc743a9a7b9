//! Names are per namespace, as in the kernel: two pairs whose peers are both `eth0`, one in
//! each pod (what a CNI plugin creates), each carrying its own pod's traffic, shown, restored
//! after `kill -9` and deleted independently; a second `eth0` in one pod is EEXIST and changes
//! nothing (root, real namespaces, clang for the program on the hooks).

mod common;
use common::*;

fn ready(test: &str) -> Option<std::path::PathBuf> {
    let needs = [
        ("root", is_root()),
        ("ip (iproute2)", have("ip")),
        ("ping", have("ping")),
        ("clang-19", have("clang-19")),
    ];
    if !require(test, &needs) {
        return None;
    }
    let pass = example("pass");
    require(
        test,
        &[("examples/pass.bpf.o (make -C examples)", pass.is_some())],
    )
    .then_some(pass)
    .flatten()
}

/// `link add PRIMARY type netkit peer blackhole name eth0 netns NS`, addressed and up: nothing
/// the pod sends passes until a program is on the peer hook (Cilium's start).
fn pod_pair(env: &mut Env, primary: &str, ns: &str, net: &str) {
    env.nk_ok(&[
        "link",
        "add",
        primary,
        "type",
        "netkit",
        "peer",
        "blackhole",
        "name",
        "eth0",
        "netns",
        ns,
    ]);
    env.adopt(primary);
    sh_ok(&format!(
        "sysctl -qw net.ipv6.conf.{primary}.disable_ipv6=1 && \
         ip netns exec {ns} sysctl -qw net.ipv6.conf.eth0.disable_ipv6=1 && \
         ip addr add {net}.1/24 dev {primary} && ip link set {primary} up && \
         ip -n {ns} addr add {net}.2/24 dev eth0 && ip -n {ns} link set eth0 up"
    ));
}

/// The kernel's ifindex of `dev` in namespace `ns`, if it exists there.
fn kernel_ifindex(ns: &str, dev: &str) -> Option<u64> {
    let out = sh(&format!("ip -n {ns} -j link show dev {dev}"));
    if !out.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    v[0]["ifindex"].as_u64()
}

/// The `link show -j` object named `name` whose namespace is `ns`.
fn view<'a>(links: &'a serde_json::Value, name: &str, ns: &str) -> &'a serde_json::Value {
    links
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["ifname"] == name && l["link_netns"] == ns)
        .unwrap_or_else(|| panic!("no {name} in {ns}: {links}"))
}

#[test]
fn pods_each_have_an_eth0_and_their_own_traffic_restart_and_deletion() {
    let test = "pods_each_have_an_eth0_and_their_own_traffic_restart_and_deletion";
    let Some(pass) = ready(test) else {
        return;
    };
    let mut env = Env::new(70);
    let (ns1, ns2, ns3) = (env.netns("1"), env.netns("2"), env.netns("3"));
    let (a, b) = (env.ifname("ah"), env.ifname("bh"));
    pod_pair(&mut env, &a, &ns1, "10.250.1");
    pod_pair(&mut env, &b, &ns2, "10.250.2");
    let (eth0_1, eth0_2) = (kernel_ifindex(&ns1, "eth0"), kernel_ifindex(&ns2, "eth0"));
    assert!(
        eth0_1.is_some() && eth0_2.is_some(),
        "{eth0_1:?} {eth0_2:?}"
    );

    // A program on pod1's pair lets pod1 through, and pod1 only: each eth0 is its own pair's.
    let id = env.load(&pass).to_string();
    env.nk_ok(&["bpflink", "create", "id", &id, "dev", &a, "peer"]);
    assert!(ping(Some(&ns1), "10.250.1.1", 2), "pod1 -> host");
    assert!(
        !ping(Some(&ns2), "10.250.2.1", 1),
        "pod2 passed a blackhole"
    );
    env.nk_ok(&["prog", "attach", "id", &id, "dev", &b, "peer"]);
    assert!(ping(Some(&ns2), "10.250.2.1", 2), "pod2 -> host");
    assert!(ping(None, "10.250.1.2", 2), "host -> pod1");
    assert!(ping(None, "10.250.2.2", 2), "host -> pod2");

    // Both eth0s are shown, each in its namespace, with its kernel ifindex and its primary.
    let links = env.nk_json(&["link", "show"]);
    assert_eq!(links.as_array().map(Vec::len), Some(4), "{links}");
    for (ns, primary, ifindex) in [(&ns1, &a, eth0_1), (&ns2, &b, eth0_2)] {
        let end = view(&links, "eth0", ns);
        assert_eq!(end["link"], primary.as_str(), "{end}");
        assert_eq!(end["ifindex"].as_u64(), ifindex, "{end}");
        assert_eq!(end["linkinfo"]["info_data"]["type"], "peer", "{end}");
    }
    assert_eq!(
        env.nk_json(&["link", "show", &a])[0]["link"],
        "eth0",
        "{links}"
    );

    // A second eth0 in pod1: EEXIST naming it; no pair, no interface, no state change.
    let state = || std::fs::read_to_string(env.state.join("state.json")).unwrap();
    let saved = state();
    let c = env.ifname("ch");
    let out = env.nk(&[
        "link", "add", &c, "type", "netkit", "peer", "name", "eth0", "netns", &ns1,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "duplicate eth0 accepted");
    assert!(
        stderr.contains("EEXIST") && stderr.contains("eth0"),
        "{stderr}"
    );
    assert_eq!(env.nk_json(&["link", "show"]), links);
    assert_eq!(state(), saved);
    assert!(
        !sh(&format!("ip link show {c}")).status.success(),
        "{c} created"
    );
    assert_eq!(kernel_ifindex(&ns1, "eth0"), eth0_1);
    // The same for an eth0 the daemon does not know (a veth in a third pod).
    sh_ok(&format!(
        "ip -n {ns3} link add eth0 type veth peer name eth1"
    ));
    let out = env.nk(&[
        "link", "add", &c, "type", "netkit", "peer", "name", "eth0", "netns", &ns3,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "eth0 beside a veth eth0 accepted");
    assert!(
        stderr.contains("EEXIST") && stderr.contains("eth0") && stderr.contains(&ns3),
        "{stderr}"
    );
    assert_eq!(env.nk_json(&["link", "show"]), links);
    assert_eq!(state(), saved);
    assert!(
        !sh(&format!("ip link show {c}")).status.success(),
        "{c} created"
    );
    let kind = sh_ok(&format!("ip -n {ns3} -d -j link show eth0"));
    assert!(kind.contains("\"veth\""), "{kind}");
    // `link del eth0` does not guess which pod is meant.
    let out = env.nk(&["link", "del", "eth0"]);
    assert!(!out.status.success(), "an ambiguous eth0 was deleted");
    assert!(String::from_utf8_lossy(&out.stderr).contains("ENODEV"));
    assert_eq!(env.nk_json(&["link", "show"]), links);

    // kill -9 and a restart: both pairs back with the same names, ifindexes, program and link
    // ids, and their programs (the peer policy is blackhole, so traffic proves them).
    let bpflinks = env.nk_json(&["bpflink", "show"]);
    env.kill_daemon();
    env.start_daemon();
    assert_eq!(env.nk_json(&["link", "show"]), links);
    assert_eq!(env.nk_json(&["bpflink", "show"]), bpflinks);
    assert!(
        ping(Some(&ns1), "10.250.1.1", 2),
        "pod1 -> host after restart"
    );
    assert!(
        ping(Some(&ns2), "10.250.2.1", 2),
        "pod2 -> host after restart"
    );

    // Deleting pod1's pair takes pod1's eth0 and leaves pod2's working.
    env.nk_ok(&["link", "del", &a]);
    assert_eq!(kernel_ifindex(&ns1, "eth0"), None);
    assert_eq!(kernel_ifindex(&ns2, "eth0"), eth0_2);
    let left = env.nk_json(&["link", "show"]);
    assert_eq!(left.as_array().map(Vec::len), Some(2), "{left}");
    view(&left, "eth0", &ns2);
    assert!(
        ping(Some(&ns2), "10.250.2.1", 2),
        "pod2 -> host after pod1's deletion"
    );
    // pod1 may have an eth0 again.
    pod_pair(&mut env, &c, &ns1, "10.250.3");
    env.nk_ok(&["bpflink", "create", "id", &id, "dev", &c, "peer"]);
    assert!(ping(Some(&ns1), "10.250.3.1", 2), "pod1's new eth0 -> host");
}
