//! Exercises the kernel backend against a real netkit (run as root inside the reference VM):
//!
//! ```text
//! RUSTFLAGS='-C target-feature=+crt-static' CARGO_TARGET_DIR=target/static \
//!   cargo build --target x86_64-unknown-linux-gnu -p netkit-kernel --example vm_smoke
//! scripts/vm-run.sh target/static/x86_64-unknown-linux-gnu/debug/examples/vm_smoke
//! ```
//!
//! Options: `--objects DIR` (a directory holding examples/pass.bpf.o and policy.bpf.o, copied
//! in with `--file`) adds the object checks; `--bench N` prints MEASURE lines for N
//! program-management operations on the real kernel. `cargo test -p netkit-kernel --test vm`
//! does all of this except the benchmark.
//!
//! Prints `ok`/`FAIL` per check and `FACT` lines for the version-dependent behaviour
//! (docs/kernel-6.12-facts.md is written from them); exits 1 if any check failed.

use netkit_core::*;
use netkit_kernel::KernelBackend;

mod bench;
mod checks;
mod facts;
mod objects;
mod progs;
mod traffic;

fn main() {
    if !netkit_kernel::is_root() {
        eprintln!("SKIP vm_smoke: needs root (and a kernel with netkit: run it in the VM)");
        if std::env::var("NETKIT_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
            std::process::exit(1);
        }
        return;
    }
    let mut b = match KernelBackend::new() {
        Ok(b) => b,
        Err(e) => {
            println!("FAIL open backend: {e}");
            std::process::exit(1);
        }
    };
    let mut r = checks::Report::default();
    println!("FACT uname: {}", uname());
    checks::devices(&mut b, &mut r);
    progs::mprog(&mut b, &mut r);
    progs::links(&mut b, &mut r);
    traffic::transmit(&mut b, &mut r);
    traffic::namespaces(&mut b, &mut r);
    facts::skb_fields(&mut b, &mut r);
    facts::redirects(&mut b, &mut r);
    // `--objects DIR`: where pass.bpf.o and policy.bpf.o (examples/) were copied.
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == "--objects") {
        Some(i) => match args.get(i + 1) {
            Some(dir) => objects::objects(&mut b, &mut r, std::path::Path::new(dir)),
            None => r.pass("--objects needs a directory", false, ()),
        },
        None => println!("SKIP objects: no --objects DIR given"),
    }
    if let Some(i) = args.iter().position(|a| a == "--bench") {
        match args.get(i + 1).and_then(|n| n.parse().ok()) {
            Some(n) => bench::bench(&mut b, n),
            None => r.pass("--bench needs a count", false, ()),
        }
    }
    println!("SUMMARY {} checks, {} failed", r.checks, r.failed);
    if r.failed > 0 {
        std::process::exit(1);
    }
}

fn uname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|e| format!("unknown ({e})"))
}

/// A default pair named as the selftests name it (primary nk1, peer auto-named nk0).
pub fn pair(b: &mut KernelBackend, name: &str) -> Option<Created> {
    b.link_add(&NewLink {
        name: Some(name.into()),
        ..NewLink::default()
    })
    .map_err(|e| println!("FAIL create {name}: {e}"))
    .ok()
}
