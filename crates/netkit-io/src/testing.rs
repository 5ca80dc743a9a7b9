//! Helpers for privileged tests: the SKIP rule and unique names.

use std::sync::atomic::{AtomicU32, Ordering};

/// True when the test may run. When `have` is false the test prints `SKIP <test>: needs
/// <what>` and the caller returns — unless `NETKIT_REQUIRE_PRIVILEGED=1`, where a missing
/// requirement fails the test.
pub fn require(test: &str, what: &str, have: bool) -> bool {
    if have {
        return true;
    }
    if std::env::var("NETKIT_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
        panic!("{test}: needs {what} (NETKIT_REQUIRE_PRIVILEGED=1)");
    }
    eprintln!("SKIP {test}: needs {what}");
    false
}

/// True when running as root with /dev/net/tun present.
pub fn have_root_and_tun() -> bool {
    // Reading our own effective uid from /proc avoids an unsafe geteuid call.
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false);
    root && std::path::Path::new("/dev/net/tun").exists()
}

/// True when `prog` is on PATH.
pub fn have_program(prog: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(prog).is_file()))
        .unwrap_or(false)
}

/// A name unique to this process and call, at most 15 bytes: `{prefix}{pid%10^5}{n}`.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let name = format!("{prefix}{}x{n}", std::process::id() % 100_000);
    name.chars().take(15).collect()
}
