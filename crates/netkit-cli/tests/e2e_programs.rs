//! End-to-end with clang-built programs on the hooks: the Cilium-style blackhole-until-attached
//! start, the example policy dropping by port, pod-to-pod by redirect, program replacement
//! under iperf3, and the errnos of attach (root, clang).

mod common;
use common::*;
use std::path::PathBuf;
use std::time::Duration;

fn ready(test: &str, extra: &[(&str, bool)]) -> Option<PathBuf> {
    let mut needs = vec![
        ("root", is_root()),
        ("ip (iproute2)", have("ip")),
        ("ping", have("ping")),
        ("clang-19", have("clang-19")),
    ];
    needs.extend_from_slice(extra);
    if !require(test, &needs) {
        return None;
    }
    let policy = example("policy");
    require(
        test,
        &[("examples/policy.bpf.o (make -C examples)", policy.is_some())],
    )
    .then_some(policy)
    .flatten()
}

fn curl(url: &str) -> bool {
    sh(&format!("curl -sS --max-time 3 -o /dev/null {url}"))
        .status
        .success()
}

/// A python web server bound to `addr:port` in `ns`, killed on drop.
struct Web(std::process::Child);

impl Web {
    fn start(ns: &str, addr: &str, port: u16) -> Web {
        let child = std::process::Command::new("ip")
            .args(["netns", "exec", ns, "python3", "-m", "http.server"])
            .arg(port.to_string())
            .args(["--bind", addr])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait until it listens.
        for _ in 0..50 {
            let probe = sh(&format!(
                "ip netns exec {ns} ss -ltn 'sport = :{port}' | grep -q LISTEN"
            ));
            if probe.status.success() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Web(child)
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn blackhole_until_the_policy_is_attached_then_only_icmp_and_port_80() {
    let test = "blackhole_until_the_policy_is_attached_then_only_icmp_and_port_80";
    let Some(policy) = ready(
        test,
        &[("curl", have("curl")), ("python3", have("python3"))],
    ) else {
        return;
    };
    let mut env = Env::new(40);
    let ns = env.netns("p");
    let (host, _pod) = env.pair("p", &ns, "mode l3", "blackhole", "10.240.0.1", "10.240.0.2");
    let _web80 = Web::start(&ns, "10.240.0.2", 80);
    let _web8080 = Web::start(&ns, "10.240.0.2", 8080);
    assert!(
        !ping(None, "10.240.0.2", 2),
        "blackhole must drop before any program"
    );
    assert!(!curl("http://10.240.0.2/"));

    let id = env.load(&policy);
    env.nk_ok(&[
        "prog",
        "attach",
        "id",
        &id.to_string(),
        "dev",
        &host,
        "peer",
    ]);
    env.nk_ok(&[
        "prog",
        "attach",
        "id",
        &id.to_string(),
        "dev",
        &host,
        "primary",
    ]);
    assert!(ping(None, "10.240.0.2", 3), "ICMP allowed");
    assert!(curl("http://10.240.0.2/"), "TCP port 80 allowed");
    assert!(!curl("http://10.240.0.2:8080/"), "TCP port 8080 dropped");

    let prog = env.nk_json(&["prog", "show", "id", &id.to_string()]);
    assert!(prog[0]["run_cnt"].as_u64().unwrap() > 6, "{prog}");
    let attached = prog[0]["attached"].as_array().unwrap();
    assert_eq!(attached.len(), 2, "{prog}");
    // The program's own counters: key 0 passed, key 1 dropped.
    let maps = env.nk_json(&["map", "show"]);
    let verdicts = maps
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "verdicts")
        .expect("verdicts map");
    let dump = env.nk_json(&["map", "dump", "id", &verdicts["id"].to_string()]);
    let count = |i: usize| {
        let bytes: Vec<u8> = dump[i]["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| u8::from_str_radix(b.as_str().unwrap().trim_start_matches("0x"), 16).unwrap())
            .collect();
        u64::from_le_bytes(bytes.try_into().unwrap())
    };
    assert!(
        count(0) > 0 && count(1) > 0,
        "passed {} dropped {}",
        count(0),
        count(1)
    );
    // Dropped packets are counted by the device too.
    let link = env.nk_json(&["-s", "link", "show", &host]);
    assert!(link[0]["stats64"]["tx"]["dropped"].as_u64().unwrap() > 0 || count(1) > 0);
}

#[test]
fn pod_to_pod_through_two_pairs_by_redirect() {
    let test = "pod_to_pod_through_two_pairs_by_redirect";
    if ready(test, &[]).is_none() {
        return;
    }
    let mut env = Env::new(41);
    let ns1 = env.netns("1");
    let ns2 = env.netns("2");
    let (a, _) = env.pair("a", &ns1, "", "", "10.241.1.1", "10.241.0.1");
    let (b, _) = env.pair("b", &ns2, "", "", "10.241.2.1", "10.241.0.2");
    // The kernel's ifindexes, as `ip link` shows them (and `netkit link show` too).
    let kernel = |dev: &str| {
        let v: serde_json::Value =
            serde_json::from_str(&sh_ok(&format!("ip -j link show dev {dev}"))).unwrap();
        let ifindex = v[0]["ifindex"].as_u64().unwrap();
        let shown = env.nk_json(&["link", "show", dev])[0]["ifindex"].as_u64();
        assert_eq!(shown, Some(ifindex), "netkit link show {dev}");
        ifindex
    };
    let (ma, mb) = (kernel(&a), kernel(&b));
    // Redirect by the last octet of the IPv4 destination: .1 -> pair a's primary, .2 -> b's.
    let src = env.dir.join("redirect.bpf.c");
    std::fs::write(
        &src,
        "#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n\
         SEC(\"netkit/peer\") int to_pod(struct __sk_buff *skb) {\n\
           void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;\n\
           unsigned char *p = data;\n\
           if (data + 34 > end) return 2;\n\
           if (p[12] != 0x08 || p[13] != 0x00) return 0;\n\
           if (p[33] == 1) return bpf_redirect(TARGET_A, 0);\n\
           if (p[33] == 2) return bpf_redirect(TARGET_B, 0);\n\
           return 0; }\n\
         char LICENSE[] SEC(\"license\") = \"GPL\";\n",
    )
    .unwrap();
    let obj = env.dir.join("redirect.bpf.o");
    sh_ok(&format!(
        "clang-19 -O2 -g -target bpf -mcpu=v3 -I/usr/include/$(uname -m)-linux-gnu \
         -DTARGET_A={ma} -DTARGET_B={mb} -c {} -o {}",
        src.display(),
        obj.display()
    ));
    let id = env.load(&obj).to_string();
    env.nk_ok(&["prog", "attach", "id", &id, "dev", &a, "peer"]);
    env.nk_ok(&["prog", "attach", "id", &id, "dev", &b, "peer"]);
    assert!(ping(Some(&ns1), "10.241.0.2", 3), "pod1 -> pod2");
    assert!(ping(Some(&ns2), "10.241.0.1", 3), "pod2 -> pod1");
    // The packets crossed the primaries by redirect: b's primary transmitted pod1's echoes.
    let lb = env.nk_json(&["-s", "link", "show", &b]);
    assert!(
        lb[0]["stats64"]["tx"]["packets"].as_u64().unwrap() >= 6,
        "{lb}"
    );
}

#[test]
fn programs_are_replaced_under_iperf3_without_breaking_the_connection() {
    let test = "programs_are_replaced_under_iperf3_without_breaking_the_connection";
    if ready(test, &[("iperf3", have("iperf3"))]).is_none() {
        return;
    }
    let pass = example("pass").expect("examples/pass.bpf.o");
    let mut env = Env::new(42);
    let ns = env.netns("i");
    let (host, _) = env.pair("i", &ns, "", "", "10.242.0.1", "10.242.0.2");
    let p1 = env.load(&pass).to_string();
    let p2 = env.load(&pass).to_string();
    env.nk_ok(&["prog", "attach", "id", &p1, "dev", &host, "primary"]);
    let link = env.nk_json(&["bpflink", "create", "id", &p1, "dev", &host, "peer"]);
    let link_id = link[0]["id"].to_string();

    let mut server = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns,
            "iperf3",
            "-s",
            "-1",
            "-B",
            "10.242.0.2",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let client = std::process::Command::new("iperf3")
        .args(["-c", "10.242.0.2", "-t", "4", "-J"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut swaps = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let (mut cur, mut next) = (p1.clone(), p2.clone());
    while std::time::Instant::now() < deadline {
        env.nk_ok(&[
            "prog", "attach", "id", &next, "dev", &host, "primary", "replace", "id", &cur,
        ]);
        env.nk_ok(&[
            "bpflink", "update", "id", &link_id, "prog", &next, "replace", &cur,
        ]);
        std::mem::swap(&mut cur, &mut next);
        swaps += 1;
    }
    let out = client.wait_with_output().unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        out.status.success() && report.get("error").is_none(),
        "{report}"
    );
    let bytes = report["end"]["sum_received"]["bytes"].as_u64().unwrap();
    eprintln!("{swaps} program swaps (x2 hooks) during iperf3; {bytes} bytes received");
    assert!(
        swaps >= 5 && bytes > 1_000_000,
        "swaps {swaps} bytes {bytes}"
    );
    let runs = env.nk_json(&["prog", "show", "id", &p2]);
    assert!(runs[0]["run_cnt"].as_u64().unwrap() > 0);
}

#[test]
fn attach_errnos_come_from_bpf_mprog_and_change_nothing() {
    let test = "attach_errnos_come_from_bpf_mprog_and_change_nothing";
    let Some(policy) = ready(test, &[]) else {
        return;
    };
    let mut env = Env::new(43);
    let ns = env.netns("x");
    let (host, _) = env.pair("x", &ns, "", "", "10.243.0.1", "10.243.0.2");
    // A pair with both ends here, to name the peer.
    let local = env.ifname("yh");
    let local_peer = env.ifname("yp");
    env.nk_ok(&[
        "link",
        "add",
        &local,
        "type",
        "netkit",
        "peer",
        "name",
        &local_peer,
    ]);
    env.adopt(&local);
    env.adopt(&local_peer);
    let a = env.load(&policy).to_string();
    let b = env.load(&policy).to_string();
    env.nk_ok(&["prog", "attach", "id", &a, "dev", &host, "peer"]);
    let query = || env.nk_json(&["prog", "query", "dev", &host, "peer"]);
    let before = query();
    let revision = before["revision"].as_u64().unwrap();
    let fail = |args: &[&str], errno: &str| {
        let out = env.nk(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            !out.status.success() && stderr.contains(errno),
            "{args:?}: {stderr}"
        );
        assert_eq!(query(), before, "{args:?} changed the hook");
    };
    fail(
        &["prog", "attach", "id", &a, "dev", &host, "peer"],
        "EEXIST",
    );
    let stale = (revision + 5).to_string();
    fail(
        &[
            "prog",
            "attach",
            "id",
            &b,
            "dev",
            &host,
            "peer",
            "expected-revision",
            &stale,
        ],
        "ESTALE",
    );
    fail(
        &[
            "prog", "attach", "id", &b, "dev", &host, "peer", "before", "id", &b,
        ],
        "ENOENT",
    );
    fail(
        &["prog", "detach", "id", &b, "dev", &host, "peer"],
        "ENOENT",
    );
    fail(&["prog", "unload", "id", &a], "EBUSY");
    let out = env.nk(&["prog", "attach", "id", &b, "dev", &local_peer, "peer"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("EACCES"));
    let link = env.nk_json(&[
        "bpflink", "create", "id", &b, "dev", &host, "peer", "after", "id", &a,
    ]);
    let lid = link[0]["id"].to_string();
    let q = query();
    assert_eq!(q["progs"][1]["link_id"].to_string(), lid, "{q}");
    let out = env.nk(&["bpflink", "update", "id", &lid, "prog", &a, "replace", &a]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("EPERM"));
    env.nk_ok(&["bpflink", "detach", "id", &lid]);
    env.nk_ok(&["prog", "detach", "id", &a, "dev", &host, "peer"]);
    assert!(query()["progs"].as_array().unwrap().is_empty());
}

/// Restores `kernel.bpf_stats_enabled` when the test ends, also when it fails.
struct BpfStats(String);

impl BpfStats {
    const PATH: &str = "/proc/sys/kernel/bpf_stats_enabled";

    fn set(on: bool) -> BpfStats {
        let old = std::fs::read_to_string(Self::PATH).expect("read bpf_stats_enabled");
        std::fs::write(Self::PATH, if on { "1" } else { "0" }).expect("write bpf_stats_enabled");
        BpfStats(old.trim().to_string())
    }
}

impl Drop for BpfStats {
    fn drop(&mut self) {
        let _ = std::fs::write(Self::PATH, &self.0);
    }
}

/// `run_time_ns` is measured while the host's `kernel.bpf_stats_enabled` is 1 (the kernel's
/// own knob, which the daemon follows within a second), and stops growing when it is 0 again;
/// `run_cnt` is always counted.
#[test]
fn run_time_follows_kernel_bpf_stats_enabled() {
    let test = "run_time_follows_kernel_bpf_stats_enabled";
    let Some(policy) = ready(
        test,
        &[(
            "kernel.bpf_stats_enabled",
            std::path::Path::new(BpfStats::PATH).exists(),
        )],
    ) else {
        return;
    };
    let stats = BpfStats::set(false);
    let mut env = Env::new(45);
    let ns = env.netns("p");
    let (host, _pod) = env.pair("p", &ns, "mode l3", "forward", "10.245.0.1", "10.245.0.2");
    let id = env.load(&policy).to_string();
    env.nk_ok(&["prog", "attach", "id", &id, "dev", &host, "peer"]);
    let show = |env: &Env| {
        let p = env.nk_json(&["prog", "show", "id", &id]);
        (
            p[0]["run_cnt"].as_u64().unwrap(),
            p[0]["run_time_ns"].as_u64().unwrap(),
        )
    };
    assert!(ping(None, "10.245.0.2", 3));
    let (runs, time) = show(&env);
    assert!(runs >= 3, "run_cnt {runs}");
    assert_eq!(time, 0, "run time measured with bpf_stats_enabled=0");

    let on = BpfStats::set(true);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(ping(None, "10.245.0.2", 3));
    let (runs_on, time_on) = show(&env);
    assert!(runs_on >= runs + 3, "run_cnt {runs} -> {runs_on}");
    assert!(time_on > 0, "no run time with bpf_stats_enabled=1");

    drop(on);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(ping(None, "10.245.0.2", 3));
    let (runs_off, time_off) = show(&env);
    assert!(runs_off >= runs_on + 3, "run_cnt {runs_on} -> {runs_off}");
    assert_eq!(
        time_off, time_on,
        "run time grew with bpf_stats_enabled=0 again"
    );
    drop(stats);
}
