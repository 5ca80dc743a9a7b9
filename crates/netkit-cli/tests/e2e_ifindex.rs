//! Through the daemon and the CLI (root, real namespaces, clang): programs see and name the
//! kernel's ifindexes — `skb->ifindex` is the receiving end's ifindex as `ip link` shows it,
//! and `bpf_redirect_neigh` / `bpf_redirect` to a kernel veth's ifindex send pod traffic out
//! of it into another namespace (through a packet socket); restarts keep the ifindexes.

mod common;
use common::*;

fn ready(test: &str) -> bool {
    require(
        test,
        &[
            ("root", is_root()),
            ("ip (iproute2)", have("ip")),
            ("ping", have("ping")),
            ("clang-19", have("clang-19")),
        ],
    )
}

/// Compiles `source` (a netkit program) in the test's directory; returns the object path.
fn compile(env: &Env, name: &str, source: &str) -> std::path::PathBuf {
    let src = env.dir.join(format!("{name}.bpf.c"));
    std::fs::write(&src, source).unwrap();
    let obj = env.dir.join(format!("{name}.bpf.o"));
    sh_ok(&format!(
        "clang-19 -O2 -g -target bpf -mcpu=v3 -I/usr/include/$(uname -m)-linux-gnu -c {} -o {}",
        src.display(),
        obj.display()
    ));
    obj
}

/// The kernel's ifindex of `dev` (in namespace `ns`), from sysfs as seen in that namespace.
fn kernel_ifindex(ns: Option<&str>, dev: &str) -> u64 {
    let cat = format!("cat /sys/class/net/{dev}/ifindex");
    let cmd = match ns {
        Some(ns) => format!("ip netns exec {ns} {cat}"),
        None => cat,
    };
    let out = sh_ok(&cmd);
    out.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{cmd}: not an ifindex: {out:?}"))
}

/// `link show -j DEV` reports the kernel's ifindex of the interface, and no other number.
fn assert_shows_kernel_ifindex(env: &Env, ns: Option<&str>, dev: &str) {
    let shown = env.nk_json(&["link", "show", dev]);
    let ifindex = kernel_ifindex(ns, dev);
    assert_eq!(shown[0]["ifindex"].as_u64(), Some(ifindex), "{shown}");
    assert!(
        shown[0].get("model_ifindex").is_none(),
        "model_ifindex was removed: {shown}"
    );
}

/// A map dump's entries as (key, value), both little-endian numbers.
fn entries(env: &Env, map_name: &str) -> Vec<(u64, u64)> {
    let maps = env.nk_json(&["map", "show"]);
    let map = maps
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == map_name)
        .unwrap_or_else(|| panic!("no map {map_name}: {maps}"));
    let dump = env.nk_json(&["map", "dump", "id", &map["id"].to_string()]);
    let number = |v: &serde_json::Value| {
        let mut bytes: Vec<u8> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|b| u8::from_str_radix(b.as_str().unwrap().trim_start_matches("0x"), 16).unwrap())
            .collect();
        bytes.resize(8, 0);
        u64::from_le_bytes(bytes[..8].try_into().unwrap())
    };
    dump.as_array()
        .unwrap()
        .iter()
        .map(|e| (number(&e["key"]), number(&e["value"])))
        .collect()
}

const SEEN: &str = "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n\
    struct { __uint(type, BPF_MAP_TYPE_HASH); __uint(max_entries, 16);\n\
             __type(key, __u32); __type(value, __u64); } seen SEC(\".maps\");\n\
    SEC(\"netkit/primary\") int record(struct __sk_buff *skb) {\n\
      __u32 key = skb->ifindex; __u64 one = 1;\n\
      __u64 *n = bpf_map_lookup_elem(&seen, &key);\n\
      if (n) __sync_fetch_and_add(n, 1); else bpf_map_update_elem(&seen, &key, &one, BPF_ANY);\n\
      return -1; }\n\
    char LICENSE[] SEC(\"license\") = \"GPL\";\n";

#[test]
fn programs_see_the_kernels_ifindex_of_the_receiving_end() {
    let test = "programs_see_the_kernels_ifindex_of_the_receiving_end";
    if !ready(test) {
        return;
    }
    let mut env = Env::new(61);
    let ns = env.netns("1");
    let (host, pod) = env.pair("a", &ns, "", "", "10.244.0.1", "10.244.0.2");
    let (host_index, pod_index) = (kernel_ifindex(None, &host), kernel_ifindex(Some(&ns), &pod));
    // `link show` reports the kernel's numbers.
    assert_shows_kernel_ifindex(&env, None, &host);
    assert_shows_kernel_ifindex(&env, Some(&ns), &pod);

    let id = env.load(&compile(&env, "seen", SEEN)).to_string();
    env.nk_ok(&["prog", "attach", "id", &id, "dev", &host, "primary"]);
    env.nk_ok(&["prog", "attach", "id", &id, "dev", &host, "peer"]);
    assert!(ping(None, "10.244.0.2", 3), "host -> pod");
    // Host -> pod runs the primary's programs with skb->dev = the peer, pod -> host the peer's
    // with skb->dev = the primary: each sees the other end's ifindex in its own namespace.
    let seen = entries(&env, "seen");
    let keys: std::collections::BTreeSet<u64> = seen.iter().map(|(k, _)| *k).collect();
    assert_eq!(
        keys,
        [host_index, pod_index].into_iter().collect(),
        "skb->ifindex values seen: {seen:?} (primary {host_index}, peer {pod_index})"
    );
    assert!(seen.iter().all(|(_, n)| *n >= 3), "{seen:?}");

    // After a restart the pair comes back at the same (persistent interfaces') ifindexes.
    env.kill_daemon();
    env.start_daemon();
    assert_eq!(
        kernel_ifindex(None, &host),
        host_index,
        "the host end kept its ifindex"
    );
    assert_eq!(
        kernel_ifindex(Some(&ns), &pod),
        pod_index,
        "the pod end kept its ifindex"
    );
    assert_shows_kernel_ifindex(&env, None, &host);
    assert_shows_kernel_ifindex(&env, Some(&ns), &pod);
    assert!(ping(None, "10.244.0.2", 2), "host -> pod after the restart");
}

#[test]
fn pod_traffic_leaves_through_a_kernel_veth_by_its_ifindex() {
    let test = "pod_traffic_leaves_through_a_kernel_veth_by_its_ifindex";
    if !ready(test) {
        return;
    }
    let mut env = Env::new(62);
    let ns = env.netns("1");
    let far = env.netns("f");
    let (host, pod) = env.pair("a", &ns, "", "", "10.245.0.1", "10.245.0.2");
    // A kernel veth from the host (where the pair's primary, the receiving end of the pod's
    // traffic, is) into `far`.
    let (vh, vf) = (env.ifname("vh"), env.ifname("vf"));
    env.adopt(&vh);
    sh_ok(&format!(
        "ip link add {vh} type veth peer name {vf} netns {far} && \
         ip addr add 10.246.0.1/24 dev {vh} && ip link set {vh} up && \
         ip -n {far} addr add 10.246.0.2/24 dev {vf} && ip -n {far} link set {vf} up && \
         ip -n {far} route add default via 10.246.0.1 && \
         ip -n {ns} route add 10.246.0.0/24 dev {pod}"
    ));
    // The kernel's neighbour entry for the far end, which redirect_neigh uses.
    let far_mac: serde_json::Value =
        serde_json::from_str(&sh_ok(&format!("ip -n {far} -j link show dev {vf}"))).unwrap();
    let far_mac = far_mac[0]["address"].as_str().unwrap().to_string();
    sh_ok(&format!(
        "ip neigh replace 10.246.0.2 lladdr {far_mac} dev {vh} nud permanent"
    ));
    let veth = kernel_ifindex(None, &vh);
    let obj = compile(
        &env,
        "out",
        &format!(
            "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n\
             SEC(\"netkit/peer\") int out(struct __sk_buff *skb) {{\n\
               void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;\n\
               unsigned char *p = data;\n\
               if (data + 34 > end) return 0;\n\
               if (p[12] == 0x08 && p[13] == 0x00 && p[30] == 10 && p[31] == 246)\n\
                 return bpf_redirect_neigh({veth}, 0, 0, 0);\n\
               return 0; }}\n\
             char LICENSE[] SEC(\"license\") = \"GPL\";\n"
        ),
    );
    let id = env.load(&obj).to_string();
    env.nk_ok(&["prog", "attach", "id", &id, "dev", &host, "peer"]);
    let echos = || {
        // Echo requests the far namespace's IP stack accepted (right MAC, right address).
        let snmp = sh_ok(&format!("ip netns exec {far} cat /proc/net/snmp"));
        let mut icmp = snmp.lines().filter(|l| l.starts_with("Icmp:"));
        let (names, values) = (icmp.next().unwrap(), icmp.next().unwrap());
        let col = names
            .split_whitespace()
            .position(|n| n == "InEchos")
            .unwrap();
        values
            .split_whitespace()
            .nth(col)
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    let before = echos();
    // The host does not forward the replies back (no ip_forward here): only the way out is
    // checked, at the far end.
    let _ = ping(Some(&ns), "10.246.0.2", 3);
    let arrived = echos() - before;
    assert!(
        arrived >= 3,
        "{arrived} echo requests reached {far} through {vh} (ifindex {veth})\n{}",
        env.daemon_log()
    );
    // The primary did not carry them: they left by the redirect.
    let link = env.nk_json(&["-s", "link", "show", &host]);
    assert!(
        link[0]["stats64"]["rx"]["packets"].as_u64().unwrap() < 3,
        "{link}"
    );

    // Plain bpf_redirect (egress) by the veth's ifindex: the program writes the far end's MAC
    // itself, the frame leaves as the program left it.
    let mac_bytes: Vec<String> = far_mac.split(':').map(|b| format!("0x{b}")).collect();
    let plain = compile(
        &env,
        "plain",
        &format!(
            "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n\
             SEC(\"netkit/peer\") int plain(struct __sk_buff *skb) {{\n\
               unsigned char mac[6] = {{ {} }};\n\
               void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;\n\
               unsigned char *p = data;\n\
               if (data + 34 > end) return 0;\n\
               if (p[12] != 0x08 || p[13] != 0x00 || p[30] != 10 || p[31] != 246) return 0;\n\
               if (bpf_skb_store_bytes(skb, 0, mac, 6, 0)) return 2;\n\
               return bpf_redirect({veth}, 0); }}\n\
             char LICENSE[] SEC(\"license\") = \"GPL\";\n",
            mac_bytes.join(", ")
        ),
    );
    let plain_id = env.load(&plain).to_string();
    env.nk_ok(&["prog", "detach", "id", &id, "dev", &host, "peer"]);
    env.nk_ok(&["prog", "attach", "id", &plain_id, "dev", &host, "peer"]);
    let before = echos();
    let _ = ping(Some(&ns), "10.246.0.2", 3);
    let arrived = echos() - before;
    assert!(
        arrived >= 3,
        "{arrived} echo requests by plain bpf_redirect"
    );
}

#[test]
fn an_end_deleted_while_the_daemon_is_down_takes_the_pair_with_it() {
    let test = "an_end_deleted_while_the_daemon_is_down_takes_the_pair_with_it";
    if !ready(test) {
        return;
    }
    let mut env = Env::new(63);
    let ns = env.netns("1");
    let (host, pod) = env.pair("a", &ns, "", "", "10.247.0.1", "10.247.0.2");
    let (keep_host, keep_pod) = env.pair("b", &ns, "", "", "10.247.1.1", "10.247.1.2");
    env.kill_daemon();
    // The host end of pair a is deleted meanwhile; the kernel deletes a pair with either end,
    // and the restored pair's programs would name an ifindex that is gone.
    sh_ok(&format!("ip link del {host}"));
    env.start_daemon();
    let out = env.nk(&["link", "show", &host]);
    assert!(!out.status.success(), "pair a is gone");
    assert!(
        !sh(&format!("ip -n {ns} link show dev {pod}"))
            .status
            .success(),
        "its pod end was deleted too"
    );
    assert!(
        sh(&format!("ip link show dev {host}")).stdout.is_empty(),
        "no new host end was left behind"
    );
    // Pair b came back at its ifindexes and forwards.
    let shown = env.nk_json(&["link", "show", &keep_pod]);
    assert_eq!(
        shown[0]["ifindex"].as_u64(),
        Some(kernel_ifindex(Some(&ns), &keep_pod))
    );
    assert_eq!(
        env.nk_json(&["link", "show", &keep_host])[0]["ifindex"].as_u64(),
        Some(kernel_ifindex(None, &keep_host))
    );
    assert!(
        ping(None, "10.247.1.2", 2),
        "pair b forwards after the restart"
    );
}

/// `link add NAME index N type netkit peer ... index M` creates the interfaces at those
/// ifindexes (TUNSETIFINDEX), with the kernel netkit's errnos when one is taken (EEXIST for the
/// primary's, EBUSY for the peer's) and nothing left behind; restarts keep them.
#[test]
fn pairs_are_created_at_the_ifindexes_asked_for() {
    let test = "pairs_are_created_at_the_ifindexes_asked_for";
    if !ready(test) {
        return;
    }
    let mut env = Env::new(64);
    let ns = env.netns("1");
    // Far above what this namespace has handed out, and different for each test process.
    let base = 500_000 + (std::process::id() % 10_000) * 4;
    let (host, pod) = (env.ifname("ih"), env.ifname("ip"));
    let (at, peer_at) = (base.to_string(), (base + 1).to_string());
    env.nk_ok(&[
        "link", "add", &host, "index", &at, "type", "netkit", "peer", "name", &pod, "index",
        &peer_at, "netns", &ns,
    ]);
    env.adopt(&host);
    assert_eq!(kernel_ifindex(None, &host), u64::from(base));
    assert_eq!(kernel_ifindex(Some(&ns), &pod), u64::from(base + 1));
    assert_shows_kernel_ifindex(&env, None, &host);
    assert_shows_kernel_ifindex(&env, Some(&ns), &pod);
    sh_ok(&format!(
        "sysctl -qw net.ipv6.conf.{host}.disable_ipv6=1 && \
         ip addr add 10.247.0.1/24 dev {host} && ip link set {host} up && \
         ip -n {ns} addr add 10.247.0.2/24 dev {pod} && ip -n {ns} link set {pod} up"
    ));
    assert!(ping(None, "10.247.0.2", 2), "host -> pod");

    // Taken: the primary's ifindex, by our pair or by the host's lo (EEXIST, even with the
    // peer's taken too), the peer's (lo's 1 in the pod: EBUSY). Nothing is created.
    let before = env.nk_json(&["link", "show"]);
    let (h2, p2) = (env.ifname("jh"), env.ifname("jp"));
    let (free, free_peer) = ((base + 2).to_string(), (base + 3).to_string());
    for (primary_at, peer_at, want) in [
        (at.as_str(), "1", "EEXIST"),
        ("1", free_peer.as_str(), "EEXIST"),
        (free.as_str(), "1", "EBUSY"),
    ] {
        let out = env.nk(&[
            "link", "add", &h2, "index", primary_at, "type", "netkit", "peer", "name", &p2,
            "index", peer_at, "netns", &ns,
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{out:?}");
        assert!(
            err.starts_with(&format!("Error: {want}: ")),
            "wanted {want}: {err}"
        );
        assert!(
            !sh(&format!("ip link show {h2}")).status.success(),
            "{h2} left"
        );
        assert!(
            !sh(&format!("ip -n {ns} link show {p2}")).status.success(),
            "{p2} left"
        );
        assert_eq!(env.nk_json(&["link", "show"]), before);
    }

    env.kill_daemon();
    env.start_daemon();
    assert_eq!(kernel_ifindex(None, &host), u64::from(base));
    assert_eq!(kernel_ifindex(Some(&ns), &pod), u64::from(base + 1));
    assert_shows_kernel_ifindex(&env, None, &host);
    assert!(ping(None, "10.247.0.2", 2), "host -> pod after the restart");
}
