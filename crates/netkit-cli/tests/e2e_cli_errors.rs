//! Every CLI error path exits non-zero, names the errno and what was wrong, and changes
//! nothing (root: the daemon creates real interfaces).

mod common;
use common::*;

/// Everything a client can observe, to compare before and after a failed command.
fn observable(env: &Env) -> String {
    let mut s = String::new();
    for args in [
        ["-s", "link", "show"].as_slice(),
        &["prog", "show"],
        &["bpflink", "show"],
    ] {
        s += &env.nk_ok(args);
    }
    s += &std::fs::read_to_string(env.state.join("state.json")).unwrap_or_default();
    s
}

/// Runs `args`, expects failure with `errno` and `words` in the message, and no change.
fn fails(env: &Env, args: &[&str], errno: &str, words: &str) {
    let before = observable(env);
    let out = env.nk(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "netkit {args:?} succeeded");
    assert!(
        stderr.contains(errno) && stderr.contains(words),
        "netkit {args:?}: expected {errno} and {words:?} in {stderr:?}"
    );
    assert!(
        out.stdout.is_empty(),
        "netkit {args:?} printed {:?}",
        out.stdout
    );
    assert_eq!(observable(env), before, "netkit {args:?} changed something");
}

#[test]
fn cli_errors_name_the_errno_and_change_nothing() {
    if !require(
        "cli_errors_name_the_errno_and_change_nothing",
        &[("root", is_root()), ("ip (iproute2)", have("ip"))],
    ) {
        return;
    }
    let mut env = Env::new(20);
    let ns = env.netns("e");
    let (host, pod) = env.pair("e", &ns, "", "", "10.220.0.1", "10.220.0.2");

    // Grammar.
    fails(&env, &[], "EINVAL", "no command");
    fails(&env, &["route", "show"], "EINVAL", "route");
    fails(
        &env,
        &["link", "add", "x", "type", "veth"],
        "EINVAL",
        "veth",
    );
    fails(
        &env,
        &["link", "add", "x", "type", "netkit", "mode", "l4"],
        "EINVAL",
        "l4",
    );
    fails(
        &env,
        &["link", "add", "x", "type", "netkit", "headroom", "70000"],
        "EINVAL",
        "70000",
    );
    fails(&env, &["link", "set", &host], "EINVAL", "needs");
    fails(
        &env,
        &["prog", "attach", "id", "x", "dev", &host, "peer"],
        "EINVAL",
        "\"x\"",
    );
    fails(
        &env,
        &["prog", "attach", "id", "1", "dev", &host],
        "EINVAL",
        "primary or peer",
    );
    fails(&env, &["map", "lookup", "id", "1"], "EINVAL", "key");
    fails(&env, &["bpflink", "update", "id", "1"], "EINVAL", "prog N");

    // Unknown names and ids.
    fails(&env, &["link", "del", "nosuchdev"], "ENODEV", "nosuchdev");
    fails(
        &env,
        &["link", "set", "nosuchdev", "blackhole"],
        "ENODEV",
        "nosuchdev",
    );
    fails(&env, &["link", "show", "nosuchdev"], "ENODEV", "nosuchdev");
    fails(&env, &["prog", "show", "id", "99"], "ENOENT", "99");
    fails(&env, &["prog", "unload", "id", "99"], "ENOENT", "99");
    fails(
        &env,
        &["prog", "attach", "id", "99", "dev", &host, "peer"],
        "ENOENT",
        "99",
    );
    fails(
        &env,
        &["prog", "attach", "id", "1", "dev", "nosuchdev", "peer"],
        "ENODEV",
        "nosuchdev",
    );
    fails(
        &env,
        &["prog", "query", "dev", "nosuchdev", "peer"],
        "ENODEV",
        "nosuchdev",
    );
    fails(&env, &["bpflink", "detach", "id", "5"], "ENOENT", "5");
    fails(&env, &["bpflink", "show", "id", "5"], "ENOENT", "5");

    // Kernel errnos.
    fails(
        &env,
        &["link", "add", &host, "type", "netkit"],
        "EEXIST",
        &host,
    );
    fails(
        &env,
        &["link", "add", "x", "type", "netkit", "peer", "name", &pod],
        "EEXIST",
        &pod,
    );
    let ghost = env.ifname("zh");
    fails(
        &env,
        &[
            "link",
            "add",
            &ghost,
            "type",
            "netkit",
            "peer",
            "netns",
            "nosuchns-nk",
        ],
        "ENOENT",
        "nosuchns-nk",
    );
    assert!(
        !sh(&format!("ip link show {ghost}")).status.success(),
        "{ghost} left behind"
    );
    fails(
        &env,
        &["prog", "load", "/nonexistent/x.o"],
        "ENOENT",
        "/nonexistent/x.o",
    );
    let junk = env.dir.join("junk.o");
    std::fs::write(&junk, b"not an ELF object").unwrap();
    fails(
        &env,
        &["prog", "load", junk.to_str().unwrap()],
        "EINVAL",
        "",
    );
    // No program attached: detaching the first one finds nothing.
    fails(
        &env,
        &["prog", "detach", "dev", &host, "peer", "first"],
        "ENOENT",
        "",
    );

    // Nothing listening.
    let out = std::process::Command::new(NETKIT)
        .args(["link", "show"])
        .env("NETKIT_SOCKET", env.dir.join("nobody.sock"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ENOENT") && stderr.contains("cannot reach netkitd"),
        "{stderr}"
    );
}

#[test]
fn daemon_rejects_other_protocol_versions_and_garbage() {
    if !require(
        "daemon_rejects_other_protocol_versions_and_garbage",
        &[("root", is_root())],
    ) {
        return;
    }
    use std::io::{BufRead, BufReader, Write};
    let env = Env::new(21);
    let conn = std::os::unix::net::UnixStream::connect(&env.socket).unwrap();
    let mut w = conn.try_clone().unwrap();
    let mut r = BufReader::new(conn);
    let mut ask = |line: &str| {
        w.write_all(line.as_bytes()).unwrap();
        let mut answer = String::new();
        r.read_line(&mut answer).unwrap();
        serde_json::from_str::<serde_json::Value>(&answer).unwrap()
    };
    let v = ask("{\"version\":99,\"seq\":5,\"request\":{\"op\":\"hello\"}}\n");
    assert_eq!(v["seq"], 5);
    assert_eq!(v["error"]["errno"], "EPROTO");
    // Version 1 had `model_ifindex` in link views: its clients are told, not misled.
    let v = ask("{\"version\":1,\"seq\":4,\"request\":{\"op\":\"hello\"}}\n");
    assert_eq!(v["error"]["errno"], "EPROTO");
    let v = ask("{\"version\":2,\"seq\":6,\"request\":{\"op\":\"explode\"}}\n");
    assert_eq!(v["seq"], 6);
    assert_eq!(v["error"]["errno"], "EINVAL");
    let v = ask("this is not json\n");
    assert_eq!(v["error"]["errno"], "EINVAL");
    // The connection still works afterwards.
    let v = ask("{\"version\":2,\"seq\":7,\"request\":{\"op\":\"hello\"}}\n");
    assert_eq!(v["ok"]["protocol"], 2);
    // Root only by default.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&env.socket).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn group_option_opens_the_socket_to_that_group_only() {
    if !require(
        "group_option_opens_the_socket_to_that_group_only",
        &[("root", is_root())],
    ) {
        return;
    }
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = std::env::temp_dir().join(format!("netkit-e2e-group-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("s");
    // A group other than root's own, so the chown is visible: the first non-zero gid in
    // /etc/group.
    let groups = std::fs::read_to_string("/etc/group").unwrap();
    let (name, gid) = groups
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((f.first()?.to_string(), f.get(2)?.parse::<u32>().ok()?))
        })
        .find(|(_, gid)| *gid != 0)
        .expect("a non-root group in /etc/group");
    let mut daemon = std::process::Command::new(NETKIT)
        .args(["daemon", "--model-only", "--group", &name, "--socket"])
        .arg(&socket)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut up = false;
    for _ in 0..200 {
        if std::os::unix::net::UnixStream::connect(&socket).is_ok() {
            up = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let meta = std::fs::metadata(&socket);
    // A second daemon on the same socket refuses to start.
    let second = std::process::Command::new(NETKIT)
        .args(["daemon", "--model-only", "--socket"])
        .arg(&socket)
        .arg("--state-dir")
        .arg(dir.join("state2"))
        .output()
        .unwrap();
    let bad_group = std::process::Command::new(NETKIT)
        .args([
            "daemon",
            "--model-only",
            "--group",
            "no-such-group-nk",
            "--socket",
        ])
        .arg(dir.join("s2"))
        .arg("--state-dir")
        .arg(dir.join("state3"))
        .output()
        .unwrap();
    let _ = daemon.kill();
    let _ = daemon.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(up, "daemon did not listen");
    let meta = meta.unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), gid, "group {name}");
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("another netkitd is listening"));
    assert!(!bad_group.status.success());
    assert!(String::from_utf8_lossy(&bad_group.stderr).contains("no-such-group-nk"));
}
