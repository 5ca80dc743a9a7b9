//! The daemon's state survives `kill -9`: a restart brings back every pair on the same
//! interfaces (same ifindexes, the pod keeps its address and routes), every program and link
//! under the same ids, and traffic resumes. Measures the gap in a 10 ms ping across it.

mod common;
use common::*;
use std::time::Duration;

/// (longest run of lost echoes, total lost) in `ping` output.
fn losses(text: &str) -> (u32, u32) {
    let seqs: Vec<u32> = text
        .split("icmp_seq=")
        .skip(1)
        .filter_map(|s| s.split_whitespace().next()?.parse().ok())
        .collect();
    let mut longest = 0;
    let mut total = 0;
    for w in seqs.windows(2) {
        let lost = w[1].saturating_sub(w[0] + 1);
        longest = longest.max(lost);
        total += lost;
    }
    (longest, total)
}

#[test]
fn kill_9_and_restart_keeps_ids_and_traffic_resumes() {
    if !require(
        "kill_9_and_restart_keeps_ids_and_traffic_resumes",
        &[
            ("root", is_root()),
            ("ip (iproute2)", have("ip")),
            ("ping", have("ping")),
            ("clang-19", have("clang-19")),
        ],
    ) {
        return;
    }
    let policy = example("policy").expect("examples/policy.bpf.o");
    let mut env = Env::new(30);
    let ns = env.netns("r");
    let (host, pod) = env.pair("r", &ns, "", "blackhole", "10.230.0.1", "10.230.0.2");
    sh_ok(&format!(
        "ip -n {ns} route add 10.231.0.0/24 via 10.230.0.1 dev {pod}"
    ));
    // The pod's packets pass only through the policy program (the peer policy stays
    // blackhole), so traffic after the restart proves the program came back first.
    let id = env.load(&policy).to_string();
    env.nk_ok(&["bpflink", "create", "id", &id, "dev", &host, "peer"]);
    env.nk_ok(&["prog", "attach", "id", &id, "dev", &host, "primary"]);
    assert!(ping(None, "10.230.0.2", 2));
    let before_links = env.nk_json(&["link", "show"]);
    // Everything but map contents (which the traffic keeps changing).
    let state = |env: &Env| {
        let text = std::fs::read_to_string(env.state.join("state.json")).unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v.as_object_mut().unwrap().remove("maps");
        v
    };
    let before_state = state(&env);

    // 10 ms ping through the restart.
    let log = env.dir.join("ping.txt");
    let mut pinger = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "exec ping -n -i 0.01 -c 400 -W 1 10.230.0.2 > {}",
            log.display()
        ))
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    env.kill_daemon();
    let down = std::time::Instant::now();
    env.start_daemon();
    let restart = down.elapsed();
    let _ = pinger.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    let (longest, total) = losses(&text);
    eprintln!(
        "restart gap: daemon back in {} ms; longest run of lost 10 ms pings {longest} (~{} ms), {total} lost in all",
        restart.as_millis(),
        longest * 10
    );
    // Traffic resumed: the last pings came back.
    let last_seq: u32 = text
        .rsplit("icmp_seq=")
        .next()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    assert!(
        last_seq >= 390,
        "traffic did not resume: last echo {last_seq}\n{text}"
    );
    assert!(ping(None, "10.230.0.2", 2));
    assert!(ping(Some(&ns), "10.230.0.1", 2));

    // Same devices, ifindexes and settings; the pod kept its address and route.
    assert_eq!(env.nk_json(&["link", "show"]), before_links);
    assert_eq!(state(&env), before_state);
    let addr = sh_ok(&format!("ip -n {ns} addr show dev {pod}"));
    assert!(addr.contains("10.230.0.2/24"), "{addr}");
    let routes = sh_ok(&format!("ip -n {ns} route show"));
    assert!(routes.contains("10.231.0.0/24 via 10.230.0.1"), "{routes}");
}

#[test]
fn outside_deletion_deletes_both_ends_and_the_record() {
    if !require(
        "outside_deletion_deletes_both_ends_and_the_record",
        &[("root", is_root()), ("ip (iproute2)", have("ip"))],
    ) {
        return;
    }
    let mut env = Env::new(31);
    let ns = env.netns("o");
    let ns2 = env.netns("q");
    let (host, pod) = env.pair("o", &ns, "", "", "10.232.0.1", "10.232.0.2");
    let (host2, _) = env.pair("q", &ns2, "", "", "10.232.1.1", "10.232.1.2");
    let wait_gone = |env: &Env, host: &str, left: usize| {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let gone = !sh(&format!("ip link show {host}")).status.success();
            let links = env.nk_json(&["link", "show"]);
            if gone && links.as_array().is_some_and(|a| a.len() == left) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{host}: pair still there: {links}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // `ip link del` of the peer takes the primary and the record with it.
    sh_ok(&format!("ip -n {ns} link del {pod}"));
    wait_gone(&env, &host, 2);
    // So does deleting the pod's namespace.
    sh_ok(&format!("ip netns del {ns2}"));
    wait_gone(&env, &host2, 0);
}

#[test]
fn restart_keeps_program_ids_link_ids_order_and_map_contents() {
    let test = "restart_keeps_program_ids_link_ids_order_and_map_contents";
    if !require(
        test,
        &[
            ("root", is_root()),
            ("ip (iproute2)", have("ip")),
            ("clang-19", have("clang-19")),
        ],
    ) {
        return;
    }
    let Some(policy) = example("policy") else {
        panic!("{test}: examples/policy.bpf.o could not be built");
    };
    let pass = example("pass").unwrap();
    let mut env = Env::new(32);
    let ns = env.netns("k");
    let (host, _) = env.pair("k", &ns, "", "blackhole", "10.233.0.1", "10.233.0.2");
    let p1 = env.load(&pass).to_string();
    let p2 = env.load(&policy).to_string();
    let p3 = env.load(&pass).to_string();
    env.nk_ok(&["prog", "unload", "id", &p3]); // ids are not reused after a restart either
    env.nk_ok(&["prog", "attach", "id", &p2, "dev", &host, "peer"]);
    let link = env.nk_json(&[
        "bpflink", "create", "id", &p1, "dev", &host, "peer", "first",
    ]);
    let lid = link[0]["id"].clone();
    env.nk_ok(&["prog", "attach", "id", &p1, "dev", &host, "primary"]);
    assert!(ping(None, "10.233.0.2", 2));
    let show = |env: &Env| {
        let mut progs = env.nk_json(&["prog", "show"]);
        for p in progs.as_array_mut().unwrap() {
            // Counters restart with the process.
            p["run_cnt"] = 0.into();
            p["run_time_ns"] = 0.into();
        }
        (
            progs,
            env.nk_json(&["bpflink", "show"]),
            env.nk_json(&["prog", "query", "dev", &host, "peer"])["progs"].clone(),
            env.nk_json(&["prog", "query", "dev", &host, "primary"])["progs"].clone(),
            env.nk_json(&["map", "show"]),
        )
    };
    let before = show(&env);
    let pass_map = before
        .4
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "packets")
        .unwrap()["id"]
        .to_string();
    let counted = env.nk_json(&["map", "lookup", "id", &pass_map, "key", "0", "0", "0", "0"]);
    assert_ne!(
        counted[0]["value"][0], "0x00",
        "the pass program counted nothing: {counted}"
    );
    // Map contents changed by traffic are saved within 500 ms.
    std::thread::sleep(Duration::from_millis(1200));
    env.kill_daemon();
    env.start_daemon();
    let after = show(&env);
    assert_eq!(after, before);
    assert_eq!(after.1[0]["id"], lid);
    // A new program gets a fresh id, never a reused one.
    let p4 = env.load(&pass);
    assert!(p4 > p3.parse().unwrap(), "new id {p4} after {p3}");
    // Map contents came back, and traffic flows through the restored programs.
    let again = env.nk_json(&["map", "lookup", "id", &pass_map, "key", "0", "0", "0", "0"]);
    assert_eq!(again, counted);
    assert!(ping(None, "10.233.0.2", 2));
}

#[test]
fn a_pod_deleted_while_the_daemon_is_down_takes_its_pair_on_restart() {
    if !require(
        "a_pod_deleted_while_the_daemon_is_down_takes_its_pair_on_restart",
        &[("root", is_root()), ("ip (iproute2)", have("ip"))],
    ) {
        return;
    }
    let mut env = Env::new(33);
    let gone_ns = env.netns("g");
    let kept_ns = env.netns("h");
    let (gone, _) = env.pair("g", &gone_ns, "", "", "10.234.0.1", "10.234.0.2");
    let (kept, _) = env.pair("h", &kept_ns, "", "", "10.234.1.1", "10.234.1.2");
    env.kill_daemon();
    sh_ok(&format!("ip netns del {gone_ns}"));
    env.start_daemon();
    let links = env.nk_json(&["link", "show"]);
    let names: Vec<&str> = links
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["ifname"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{links}");
    assert!(names.contains(&kept.as_str()) && !names.contains(&gone.as_str()));
    assert!(
        !sh(&format!("ip link show {gone}")).status.success(),
        "host end left behind"
    );
    assert!(ping(None, "10.234.1.2", 2), "the other pair still works");
}

#[test]
fn a_program_that_cannot_come_back_keeps_its_pair_from_forwarding() {
    let test = "a_program_that_cannot_come_back_keeps_its_pair_from_forwarding";
    if !require(
        test,
        &[
            ("root", is_root()),
            ("ip (iproute2)", have("ip")),
            ("ping", have("ping")),
            ("clang-19", have("clang-19")),
        ],
    ) {
        return;
    }
    let pass = example("pass").expect("examples/pass.bpf.o");
    let mut env = Env::new(34);
    let ns = env.netns("f");
    let (host, _) = env.pair("f", &ns, "", "", "10.235.0.1", "10.235.0.2");
    let id = env.load(&pass).to_string();
    env.nk_ok(&["prog", "attach", "id", &id, "dev", &host, "peer"]);
    assert!(ping(None, "10.235.0.2", 2));
    env.kill_daemon();
    // The saved copy of the object no longer loads.
    std::fs::write(env.state.join(format!("objects/prog-{id}.o")), b"garbage").unwrap();
    env.start_daemon();
    let link = env.nk_json(&["link", "show", &host]);
    assert_eq!(link[0]["dataplane"], false, "{link}");
    assert!(
        !ping(None, "10.235.0.2", 2),
        "forwarded without its program"
    );
    assert!(
        env.daemon_log().contains("not forwarding"),
        "{}",
        env.daemon_log()
    );
    // Deleting it still removes its interfaces.
    env.nk_ok(&["link", "del", &host]);
    assert!(!sh(&format!("ip link show {host}")).status.success());
}
