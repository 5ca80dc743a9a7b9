//! Runs `examples/vm_smoke` inside the reference VM (Linux 6.12 with netkit): builds it
//! statically into target/static, boots the VM through scripts/vm-run.sh and requires every
//! check to pass. Needs the VM script and qemu; without them it prints SKIP, unless
//! NETKIT_REQUIRE_PRIVILEGED=1, where a missing requirement fails.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `shared/` sits beside the repository (CI clones it elsewhere, with shared/ next to it).
const VM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/oracle/netkit-vm"
);
const TARGET: &str = "x86_64-unknown-linux-gnu";

fn missing(test: &str, what: &str) {
    assert!(
        std::env::var("NETKIT_REQUIRE_PRIVILEGED").as_deref() != Ok("1"),
        "{test} needs {what}"
    );
    eprintln!("SKIP {test}: needs {what}");
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn vm_smoke_passes_on_the_reference_kernel() {
    let test = "vm_smoke_passes_on_the_reference_kernel";
    let vm = std::env::var("NETKIT_VM").unwrap_or_else(|_| VM.to_string());
    if !Path::new(&vm).exists() {
        return missing(test, "the reference VM script (../shared/oracle/netkit-vm)");
    }
    if !have("qemu-system-x86_64") && !netkit_kernel::is_root() {
        return missing(
            test,
            "qemu-system-x86_64 (or root, to let netkit-vm install it)",
        );
    }
    let root = workspace();
    let target_dir = root.join("target/static");
    let build = Command::new(env!("CARGO"))
        .current_dir(&root)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env("CARGO_TARGET_DIR", &target_dir)
        .args([
            "build",
            "--target",
            TARGET,
            "-p",
            "netkit-kernel",
            "--example",
            "vm_smoke",
        ])
        .status()
        .expect("run cargo");
    assert!(build.success(), "static build of vm_smoke failed");
    let binary = target_dir.join(TARGET).join("debug/examples/vm_smoke");
    // The repository's clang-built examples, loaded as ProgSource::Object inside the VM.
    let objects = root.join("examples");
    let made = Command::new("make")
        .args(["-s", "-C"])
        .arg(&objects)
        .status()
        .is_ok_and(|s| s.success());
    let mut vm_run = Command::new("bash");
    vm_run
        .arg(root.join("scripts/vm-run.sh"))
        .env("NETKIT_VM", &vm);
    if made {
        for obj in ["pass.bpf.o", "policy.bpf.o"] {
            let src = objects.join(obj);
            vm_run
                .arg("--file")
                .arg(format!("{}:/data/obj/{obj}", src.display()));
        }
        vm_run.arg(&binary).args(["--objects", "/data/obj"]);
    } else {
        missing(test, "clang-19 to build examples/*.bpf.o (object checks)");
        vm_run.arg(&binary);
    }
    let out = vm_run.output().expect("run scripts/vm-run.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    let failures: Vec<&str> = text.lines().filter(|l| l.starts_with("FAIL")).collect();
    let summary = text.lines().find(|l| l.starts_with("SUMMARY"));
    assert!(
        out.status.success() && failures.is_empty() && summary.is_some(),
        "vm_smoke in the VM: status {:?}, summary {summary:?}, failures {failures:#?}\n{}\n{}",
        out.status,
        text,
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = summary.unwrap_or_default();
    assert!(summary.ends_with(" 0 failed"), "{summary}");
    eprintln!("{summary}");
}
