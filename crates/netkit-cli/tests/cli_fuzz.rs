//! Bad command lines, generated: words of the grammar in random order and numbers out of range,
//! against a model-only daemon (no root). Every run must end with status 0 or 1, print an
//! `Error: ERRNO: ...` line when it fails, never panic, and leave the daemon up; a failed
//! command changes nothing the daemon shows.
//! `NETKIT_CLI_FUZZ_ITERS=N` (default 600) and `NETKIT_CLI_FUZZ_SEED=S` for longer runs.

mod common;

use std::process::Command;

use common::{ModelDaemon, Rng, NETKIT};

/// The grammar's words and values around its edges. Left out: `daemon` (starts one),
/// `conformance` and `prog run` (run other tools), `tracelog` on the kernel backend (streams).
const WORDS: &[&str] = &[
    "link",
    "prog",
    "bpflink",
    "map",
    "add",
    "set",
    "del",
    "show",
    "load",
    "unload",
    "attach",
    "detach",
    "query",
    "update",
    "lookup",
    "delete",
    "dump",
    "create",
    "id",
    "dev",
    "primary",
    "peer",
    "type",
    "netkit",
    "mode",
    "l2",
    "l3",
    "forward",
    "blackhole",
    "pass",
    "drop",
    "scrub",
    "default",
    "none",
    "headroom",
    "tailroom",
    "name",
    "netns",
    "index",
    "before",
    "after",
    "first",
    "last",
    "replace",
    "expected-revision",
    "key",
    "value",
    "any",
    "noexist",
    "exist",
    "hex",
    "section",
    "0",
    "1",
    "2",
    "-1",
    "0x10",
    "0xffffffff",
    "4294967296",
    "99999999999999999999",
    "nkz0",
    "nkz1",
    "fz",
    "pod-none",
    "",
    " ",
    "é",
    "a/b",
    "..",
    "-j",
    "-s",
    "help",
    "xxxxxxxxxxxxxxxxxxxx",
    "0xzz",
    "hex 0g",
];

fn netkit(socket: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(NETKIT)
        .arg("--socket")
        .arg(socket)
        .args(args)
        .env_remove("NETKIT_BACKEND")
        .output()
        .expect("run netkit")
}

fn state(socket: &std::path::Path) -> String {
    ["link", "prog", "bpflink", "map"]
        .iter()
        .map(|o| {
            let out = netkit(socket, &["-j", o, "show"]);
            assert!(out.status.success(), "{o} show: {out:?}");
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
        .collect()
}

#[test]
fn generated_bad_command_lines_fail_cleanly() {
    let iters: usize = std::env::var("NETKIT_CLI_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let seed: u64 = std::env::var("NETKIT_CLI_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x636c_6966_757a);
    let dir = std::env::temp_dir().join(format!("netkit-clifuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut daemon = ModelDaemon::start(&dir);
    let socket = daemon.socket.clone();
    // A pair to name, so that some commands get past the parser to the daemon.
    let made = netkit(
        &socket,
        &[
            "link", "add", "nkz0", "type", "netkit", "peer", "name", "nkz1",
        ],
    );
    assert!(made.status.success(), "{made:?}");

    let mut rng = Rng(seed | 1);
    let mut before = state(&socket);
    let (mut failed, mut ok) = (0, 0);
    for i in 0..iters {
        let n = 1 + rng.below(9);
        let mut args: Vec<&str> = (0..n).map(|_| WORDS[rng.below(WORDS.len())]).collect();
        // Mostly a real object first, so the object grammars are explored.
        if rng.below(4) != 0 {
            args[0] = ["link", "prog", "bpflink", "map"][rng.below(4)];
        }
        let out = netkit(&socket, &args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        assert!(
            matches!(code, Some(0 | 1)),
            "seed {seed} #{i} {args:?}: status {:?}\n{stderr}",
            out.status
        );
        assert!(
            !stderr.contains("panicked"),
            "seed {seed} #{i} {args:?}: {stderr}"
        );
        assert!(daemon.alive(), "seed {seed} #{i} {args:?}: the daemon died");
        let after = state(&socket);
        if code == Some(1) {
            failed += 1;
            assert!(
                stderr.starts_with("Error: E"),
                "seed {seed} #{i} {args:?}: {stderr}"
            );
            assert_eq!(
                after, before,
                "seed {seed} #{i} {args:?} failed but changed state"
            );
        } else {
            ok += 1;
        }
        before = after;
    }
    eprintln!("{iters} generated command lines (seed {seed}): {failed} failed, {ok} succeeded");
    assert!(failed > iters / 2, "too few bad lines: {failed}");
    drop(daemon);
    let _ = std::fs::remove_dir_all(&dir);
}
