//! `netkit --backend kernel` against the real kernel netkit: builds the CLI statically (into
//! target/static, shared with netkit-kernel's VM test), runs tests/vm/kernel-backend.sh in the
//! reference VM (Linux 6.12 with netkit) and checks every step. Needs the VM script, qemu and
//! busybox-static; SKIP otherwise (a failure under NETKIT_REQUIRE_PRIVILEGED=1).

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

/// `shared/` sits beside the repository (CI clones it elsewhere, with shared/ next to it); a
/// git worktree finds it at the usual place.
const VM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/oracle/netkit-vm"
);
const VM_FALLBACK: &str = "/work/shared/oracle/netkit-vm";

#[test]
fn kernel_backend_manages_real_netkit_pairs_in_the_reference_vm() {
    let test = "kernel_backend_manages_real_netkit_pairs_in_the_reference_vm";
    let vm = std::env::var("NETKIT_VM").unwrap_or_else(|_| {
        if Path::new(VM).exists() {
            VM.to_string()
        } else {
            VM_FALLBACK.to_string()
        }
    });
    if !require(
        test,
        &[
            ("the reference VM script", Path::new(&vm).exists()),
            (
                "qemu-system-x86_64 (or root to install it)",
                have("qemu-system-x86_64") || is_root(),
            ),
            (
                "busybox-static (/bin/busybox)",
                Path::new("/bin/busybox").exists(),
            ),
        ],
    ) {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let binary = build_static_netkit(&root);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vm/kernel-backend.sh");
    let out = Command::new(&vm)
        .arg("--file")
        .arg(format!("{}:/data/netkit", binary.display()))
        .arg("--file")
        .arg(format!("{}:/data/kernel-backend.sh", script.display()))
        .args(["--", "/bin/busybox", "sh", "/data/kernel-backend.sh"])
        .output()
        .expect("run the reference VM");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let has = |s: &str| text.contains(s);
    assert!(
        has("end"),
        "the script did not finish ({:?}):\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let jsons: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| l.starts_with('['))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(jsons.len(), 5, "{text}");
    let info = |v: &serde_json::Value| v[0]["linkinfo"]["info_data"].clone();
    // Created as asked: L3, the peer blackholed, seen from both ends.
    assert!(has("add rc=0"), "{text}");
    assert_eq!(jsons[0][0]["ifname"], "nk1");
    assert_eq!(jsons[0][0]["link"], "nk0");
    assert_eq!(info(&jsons[0])["type"], "primary");
    assert_eq!(info(&jsons[0])["mode"], "l3");
    assert_eq!(info(&jsons[0])["peer_policy"], "blackhole");
    assert_eq!(info(&jsons[1])["type"], "peer");
    assert_eq!(info(&jsons[1])["policy"], "blackhole");
    // Changed by the kernel.
    assert!(has("set rc=0"), "{text}");
    assert_eq!(info(&jsons[2])["peer_policy"], "forward");
    // The kernel's errnos.
    assert!(has("EEXIST") && has("dup rc=1"), "{text}");
    assert!(has("ENODEV") && has("unknown rc=1"), "{text}");
    assert!(has("ENXIO") && has("del-lo rc=1"), "{text}");
    assert!(has("EOPNOTSUPP") && has("tracelog-id rc=1"), "{text}");
    // At the ifindexes asked for (`index N`, `peer ... index M`); a taken one is EEXIST.
    assert!(has("index rc=0"), "{text}");
    assert_eq!(jsons[3][0]["ifindex"], 40, "{text}");
    assert_eq!(jsons[3][0]["link_index"], 41, "{text}");
    assert!(has("index-taken rc=1"), "{text}");
    // Deleting the peer deleted both.
    assert!(has("del rc=0"), "{text}");
    assert_eq!(jsons[4], serde_json::json!([]), "{text}");
}
