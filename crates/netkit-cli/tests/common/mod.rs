//! Harness of the end-to-end tests: a daemon of our own (its socket and state in a temporary
//! directory), named namespaces, and pairs created through the `netkit` binary, all removed
//! again when the test ends, also when it fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const NETKIT: &str = env!("CARGO_BIN_EXE_netkit");

/// Builds `netkit` statically linked (what the reference VM can run) into
/// `root/target/static`, shared by the VM tests of this crate and netkit-kernel's; returns the
/// binary's path.
pub fn build_static_netkit(root: &Path) -> PathBuf {
    const TARGET: &str = "x86_64-unknown-linux-gnu";
    let target_dir = root.join("target/static");
    let build = Command::new(env!("CARGO"))
        .current_dir(root)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env("CARGO_TARGET_DIR", &target_dir)
        .args([
            "build",
            "--target",
            TARGET,
            "-p",
            "netkit-cli",
            "--bin",
            "netkit",
        ])
        .status()
        .expect("run cargo");
    assert!(build.success(), "static build of netkit failed");
    target_dir.join(TARGET).join("debug/netkit")
}

/// Whether the test can run; prints the SKIP line (or fails under NETKIT_REQUIRE_PRIVILEGED=1).
pub fn require(test: &str, needs: &[(&str, bool)]) -> bool {
    let missing: Vec<&str> = needs
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| *n)
        .collect();
    if missing.is_empty() {
        return true;
    }
    let what = missing.join(", ");
    if std::env::var("NETKIT_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
        panic!("{test}: needs {what} (NETKIT_REQUIRE_PRIVILEGED=1)");
    }
    eprintln!("SKIP {test}: needs {what}");
    false
}

pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The examples' objects (built by `make -C examples`), if clang is there to build them.
pub fn example(name: &str) -> Option<PathBuf> {
    // Tests of one binary run in parallel: one `make` at a time, so no test reads an object
    // another is still writing.
    static MAKE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = MAKE.lock().unwrap_or_else(|p| p.into_inner());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let obj = root.join(format!("{name}.bpf.o"));
    let src = root.join(format!("{name}.bpf.c"));
    let stale = match (obj.metadata(), src.metadata()) {
        (Ok(o), Ok(s)) => o.modified().ok() < s.modified().ok(),
        _ => true,
    };
    if stale {
        let ok = Command::new("make")
            .args(["-s", "-C"])
            .arg(&root)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            return None;
        }
    }
    obj.exists().then_some(obj)
}

pub fn sh(cmd: &str) -> Output {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .expect("running sh")
}

pub fn sh_ok(cmd: &str) -> String {
    let out = sh(cmd);
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Pings `addr` `count` times from namespace `ns` (the host's when `None`); true if every
/// echo came back.
pub fn ping(ns: Option<&str>, addr: &str, count: u32) -> bool {
    let prefix = ns
        .map(|n| format!("ip netns exec {n} "))
        .unwrap_or_default();
    sh(&format!("{prefix}ping -c {count} -i 0.2 -W 1 -q {addr}"))
        .status
        .success()
}

/// A test's world: a daemon, namespaces and pairs, all torn down on drop.
pub struct Env {
    /// Short unique tag (fits interface names: "nk" + 6 chars + suffix).
    pub tag: String,
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub state: PathBuf,
    daemon: Option<Child>,
    links: Vec<String>,
    namespaces: Vec<String>,
}

impl Env {
    /// `id` is unique per test (a small number).
    pub fn new(id: u32) -> Env {
        let tag = format!("{:04x}{:02}", std::process::id() & 0xffff, id % 100);
        let dir = std::env::temp_dir().join(format!("netkit-e2e-{tag}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut env = Env {
            socket: dir.join("netkitd.sock"),
            state: dir.join("state"),
            tag,
            dir,
            daemon: None,
            links: Vec::new(),
            namespaces: Vec::new(),
        };
        env.start_daemon();
        env
    }

    /// An interface name unique to this test: "nk<tag><suffix>".
    pub fn ifname(&self, suffix: &str) -> String {
        format!("nk{}{suffix}", self.tag)
    }

    pub fn start_daemon(&mut self) {
        assert!(self.daemon.is_none(), "daemon already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("netkitd.log"))
            .unwrap();
        let child = Command::new(NETKIT)
            .arg("daemon")
            .arg("--socket")
            .arg(&self.socket)
            .arg("--state-dir")
            .arg(&self.state)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting netkit daemon");
        self.daemon = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.nk(&["link", "show"]).status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("netkitd did not come up: {}", self.daemon_log());
    }

    /// `kill -9` of the daemon.
    pub fn kill_daemon(&mut self) {
        if let Some(mut c) = self.daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn daemon_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("netkitd.log")).unwrap_or_default()
    }

    /// Runs `netkit ARGS` against this test's daemon.
    pub fn nk(&self, args: &[&str]) -> Output {
        Command::new(NETKIT)
            .args(args)
            .env("NETKIT_SOCKET", &self.socket)
            .output()
            .expect("running netkit")
    }

    /// Runs `netkit` and returns its stdout; panics with its stderr on failure.
    pub fn nk_ok(&self, args: &[&str]) -> String {
        let out = self.nk(args);
        assert!(
            out.status.success(),
            "netkit {} failed: {}\ndaemon log:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr),
            self.daemon_log()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `netkit -j ARGS` parsed.
    pub fn nk_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["-j"];
        all.extend_from_slice(args);
        let text = self.nk_ok(&all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("netkit -j {args:?}: {e}: {text}"))
    }

    /// Creates a named namespace with loopback up.
    pub fn netns(&mut self, suffix: &str) -> String {
        let name = format!("nkt{}{suffix}", self.tag);
        sh_ok(&format!(
            "ip netns add {name} && ip -n {name} link set lo up"
        ));
        self.namespaces.push(name.clone());
        name
    }

    /// Creates a pair (primary in the host, peer in `ns`) with `extra` options after
    /// `type netkit` and `peer_extra` after `peer`; addresses `host_ip`/`pod_ip` (/24) and
    /// both ends up. Returns (primary, peer) names.
    pub fn pair(
        &mut self,
        suffix: &str,
        ns: &str,
        extra: &str,
        peer_extra: &str,
        host_ip: &str,
        pod_ip: &str,
    ) -> (String, String) {
        let primary = self.ifname(&format!("{suffix}h"));
        let peer = self.ifname(&format!("{suffix}p"));
        let mut args: Vec<String> = vec!["link".into(), "add".into(), primary.clone()];
        args.extend(["type".into(), "netkit".into()]);
        args.extend(extra.split_whitespace().map(String::from));
        args.push("peer".into());
        args.extend(peer_extra.split_whitespace().map(String::from));
        args.extend(["name".into(), peer.clone(), "netns".into(), ns.into()]);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        self.nk_ok(&argv);
        self.links.push(primary.clone());
        // IPv6 off on both ends before they come up: otherwise the stacks' own router
        // solicitations cross the pair at moments of their choosing and move the counters
        // that tests compare (the tests here speak IPv4 only).
        sh_ok(&format!(
            "sysctl -qw net.ipv6.conf.{primary}.disable_ipv6=1 && \
             ip netns exec {ns} sysctl -qw net.ipv6.conf.{peer}.disable_ipv6=1 && \
             ip addr add {host_ip}/24 dev {primary} && ip link set {primary} up && \
             ip -n {ns} addr add {pod_ip}/24 dev {peer} && ip -n {ns} link set {peer} up"
        ));
        (primary, peer)
    }

    /// Makes `name` (an end of a pair created by hand, in this namespace) removed with the
    /// rest.
    pub fn adopt(&mut self, name: &str) {
        self.links.push(name.to_string());
    }

    /// Loads an example object; returns its program id.
    pub fn load(&self, obj: &std::path::Path) -> u64 {
        let v = self.nk_json(&["prog", "load", obj.to_str().unwrap()]);
        v[0]["id"].as_u64().expect("prog load returns the program")
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for l in &self.links {
            let out = self.nk(&["link", "del", l]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            // ENODEV: gone already (the test deleted it, or its other end).
            if !out.status.success() && !stderr.contains("ENODEV") {
                eprintln!("cleanup: netkit link del {l}: {}", stderr.trim());
            }
        }
        self.kill_daemon();
        for l in &self.links {
            // Persistent interfaces outlive the daemon: remove what is left.
            let _ = sh(&format!("ip link del {l} 2>/dev/null"));
        }
        for ns in &self.namespaces {
            let _ = sh(&format!("ip netns del {ns}"));
        }
        // NETKIT_E2E_KEEP=1 keeps the daemon's log and state for a look afterwards.
        if std::env::var("NETKIT_E2E_KEEP").as_deref() != Ok("1") {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `netkit --backend kernel ARGS` (the real kernel's bpf(2), no daemon), pins in `pins`.
pub fn nk_kernel(pins: &Path, args: &[&str]) -> Output {
    Command::new(NETKIT)
        .args(["--backend", "kernel"])
        .args(args)
        .env("NETKIT_BPF_PIN_DIR", pins)
        .env_remove("NETKIT_BACKEND")
        .output()
        .expect("run netkit")
}

/// A pin directory of a test's own in bpffs, removed at the end (which frees what only the
/// pins held).
pub struct Pins(pub PathBuf);

impl Drop for Pins {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether bpffs is mounted where the kernel backend pins.
pub fn bpffs_mounted() -> bool {
    std::fs::read_to_string("/proc/mounts").is_ok_and(|m| {
        m.lines()
            .any(|l| l.split_whitespace().nth(1) == Some("/sys/fs/bpf"))
    })
}

/// A model-only daemon (no root, no interfaces) on a socket in `dir`, killed on drop.
pub struct ModelDaemon {
    child: Child,
    pub socket: PathBuf,
}

impl ModelDaemon {
    pub fn start(dir: &Path) -> ModelDaemon {
        let socket = dir.join("sock");
        let _ = std::fs::remove_file(&socket);
        let child = Command::new(NETKIT)
            .args(["daemon", "--model-only", "--socket"])
            .arg(&socket)
            .arg("--state-dir")
            .arg(dir.join("state"))
            .stderr(Stdio::null())
            .spawn()
            .expect("start netkit daemon");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(Instant::now() < deadline, "the daemon did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
        ModelDaemon { child, socket }
    }

    pub fn alive(&mut self) -> bool {
        self.child.try_wait().expect("wait").is_none()
    }
}

impl Drop for ModelDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// xorshift64*: deterministic, so a failing fuzz iteration replays with its seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform enough in 0..n (0 when n is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}
