//! `netkit --backend kernel`: on this machine (whose kernel may lack netkit) and inside the
//! reference VM (Linux 6.12 with netkit), where `tests/kernel/vm_cli.sh` drives the statically
//! built `netkit` with busybox and checks outputs and exit codes of every command.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{
    bpffs_mounted, build_static_netkit, example, have, is_root, nk_kernel as nk, require, Pins,
    NETKIT,
};

/// `shared/` sits beside the repository (as for crates/netkit-kernel/tests/vm.rs).
const VM: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/oracle/netkit-vm"
);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn link_add_fails_cleanly_where_the_kernel_has_no_netkit() {
    let test = "link_add_fails_cleanly_where_the_kernel_has_no_netkit";
    if !require(test, &[("root", is_root())]) {
        return;
    }
    let pins = Pins(PathBuf::from(format!(
        "/tmp/netkit-kcli-{}",
        std::process::id()
    )));
    let name = format!("nkk{}", std::process::id() % 100_000);
    let out = nk(&pins.0, &["link", "add", &name, "type", "netkit"]);
    let (stdout, stderr) = text(&out);
    if out.status.success() {
        // This kernel has netkit: the pair is real; show it and take it away again.
        let shown = nk(&pins.0, &["link", "show", &name, "-j"]);
        let del = nk(&pins.0, &["link", "del", &name]);
        assert!(stdout.contains(&format!("{name}@")), "{stdout}");
        assert!(
            text(&shown).0.contains("\"info_kind\":\"netkit\""),
            "{shown:?}"
        );
        assert!(del.status.success(), "{del:?}");
        eprintln!("NOTE {test}: this kernel has netkit; checked create/show/del instead");
        return;
    }
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.starts_with("Error: EOPNOTSUPP: ") && stderr.contains("this kernel has no netkit"),
        "{stderr}"
    );
    // Nothing was created.
    let shown = nk(&pins.0, &["link", "show", &name]);
    assert_eq!(shown.status.code(), Some(1));
    assert!(text(&shown).1.starts_with("Error: ENODEV: "), "{shown:?}");
}

#[test]
fn backend_is_chosen_by_option_or_environment() {
    // A bad name is a grammar error, before anything is touched.
    let out = Command::new(NETKIT)
        .args(["--backend", "bpf", "link", "show"])
        .output()
        .expect("run netkit");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).1.contains("--backend takes kernel or daemon"),
        "{out:?}"
    );
    // NETKIT_BACKEND=kernel never reaches for the daemon's socket: the kernel's trace pipe
    // has no program ids, and the answer says so.
    let out = Command::new(NETKIT)
        .args([
            "--socket",
            "/nonexistent/netkitd.sock",
            "prog",
            "tracelog",
            "id",
            "1",
        ])
        .env("NETKIT_BACKEND", "kernel")
        .output()
        .expect("run netkit");
    assert_eq!(out.status.code(), Some(1));
    let (_, stderr) = text(&out);
    assert!(
        stderr.starts_with("Error: EOPNOTSUPP: ") && stderr.contains("trace pipe"),
        "{stderr}"
    );
    // The daemon path is untouched: the same command without the variable wants the daemon.
    let out = Command::new(NETKIT)
        .args([
            "--socket",
            "/nonexistent/netkitd.sock",
            "prog",
            "tracelog",
            "id",
            "1",
        ])
        .env_remove("NETKIT_BACKEND")
        .output()
        .expect("run netkit");
    assert!(text(&out).1.contains("cannot reach netkitd"), "{out:?}");
}

/// Programs need no netkit device: load pins them, show lists them, unload unpins them,
/// on this machine's own kernel.
#[test]
fn programs_are_pinned_shown_and_unpinned_on_this_kernel() {
    let test = "programs_are_pinned_shown_and_unpinned_on_this_kernel";
    let obj = example("pass");
    if !require(
        test,
        &[
            ("root", is_root()),
            ("bpffs at /sys/fs/bpf", bpffs_mounted()),
            ("clang-19 to build examples/pass.bpf.o", obj.is_some()),
        ],
    ) {
        return;
    }
    let obj = obj.expect("checked");
    let pins = Pins(PathBuf::from(format!(
        "/sys/fs/bpf/netkit-kcli-test-{}",
        std::process::id()
    )));
    let out = nk(&pins.0, &["prog", "load", obj.to_str().unwrap(), "-j"]);
    assert!(out.status.success(), "{out:?}");
    let loaded: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let id = loaded[0]["id"].as_u64().expect("an id");
    assert_eq!(loaded[0]["name"], "pass");
    assert_eq!(loaded[0]["map_ids"].as_array().map(Vec::len), Some(1));
    let pin = pins.0.join("progs").join(id.to_string());
    assert!(pin.exists(), "{} missing", pin.display());
    // A new process finds it through the pin.
    let shown = nk(&pins.0, &["prog", "show"]);
    let (stdout, _) = text(&shown);
    assert!(
        stdout.starts_with(&format!("{id}: sched_cls  name pass")),
        "{stdout}"
    );
    assert!(stdout.contains(&pin.display().to_string()), "{stdout}");
    let gone = nk(&pins.0, &["prog", "unload", "id", &id.to_string()]);
    assert!(gone.status.success(), "{gone:?}");
    assert!(!pin.exists());
    let again = nk(&pins.0, &["prog", "unload", "id", &id.to_string()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(text(&again).1.starts_with("Error: ENOENT: "), "{again:?}");
    // Unpinned and unattached, the kernel frees it.
    let listed = nk(&pins.0, &["prog", "show", "-j"]);
    assert_eq!(text(&listed).0.trim(), "[]");
}

/// bpftool and the shared libraries `ldd` says it needs, to copy into the VM (which has only
/// busybox): the `--file SRC:DST` arguments and the command that runs it there through the
/// copied dynamic loader. `None` where this machine has no bpftool.
fn bpftool_for_vm() -> Option<(Vec<String>, String)> {
    let found = Command::new("sh")
        .args(["-c", "command -v bpftool"])
        .output()
        .ok()?;
    let path = String::from_utf8_lossy(&found.stdout).trim().to_string();
    if path.is_empty() {
        return None;
    }
    let ldd = Command::new("ldd").arg(&path).output().ok()?;
    let real = |p: &str| {
        std::fs::canonicalize(p)
            .ok()
            .map(|r| r.display().to_string())
    };
    let mut files = vec![format!("{}:/data/bt/bpftool", real(&path)?)];
    let mut loader = None;
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        // "libelf.so.1 => /lib/x86_64-linux-gnu/libelf.so.1 (0x..)" or "/lib64/ld-linux-x86-64.so.2 (0x..)"
        let lib = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        let Some(lib) = lib.filter(|l| l.starts_with('/')) else {
            continue;
        };
        let name = Path::new(lib).file_name()?.to_string_lossy().into_owned();
        if name.starts_with("ld-linux") {
            loader = Some(name.clone());
        }
        files.push(format!("{}:/data/bt/{name}", real(lib)?));
    }
    let command = format!(
        "/data/bt/{} --library-path /data/bt /data/bt/bpftool",
        loader?
    );
    Some((files, command))
}

#[test]
fn kernel_backend_commands_behave_in_the_reference_vm() {
    let test = "kernel_backend_commands_behave_in_the_reference_vm";
    let vm = std::env::var("NETKIT_VM").unwrap_or_else(|_| VM.to_string());
    let objects = [example("pass"), example("policy"), example("trace")];
    if !require(
        test,
        &[
            (
                "the reference VM script (../shared/oracle/netkit-vm)",
                Path::new(&vm).exists(),
            ),
            (
                "qemu-system-x86_64 (or root, to let netkit-vm install it)",
                have("qemu-system-x86_64") || is_root(),
            ),
            (
                "busybox at /bin/busybox",
                Path::new("/bin/busybox").exists(),
            ),
            (
                "clang-19 to build examples/*.bpf.o",
                objects.iter().all(Option::is_some),
            ),
        ],
    ) {
        return;
    }
    let root = workspace();
    let binary = build_static_netkit(&root);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kernel/vm_cli.sh");
    let mut run = Command::new("bash");
    run.arg(root.join("scripts/vm-run.sh"))
        .env("NETKIT_VM", &vm);
    run.arg("--file")
        .arg(format!("{}:/data/netkit", binary.display()));
    run.arg("--file")
        .arg(format!("{}:/data/vm_cli.sh", script.display()));
    for obj in objects.iter().flatten() {
        let name = obj.file_name().expect("file").to_string_lossy();
        run.arg("--file")
            .arg(format!("{}:/data/obj/{name}", obj.display()));
    }
    // bpftool, where this machine has it, goes along to compare map output with.
    let bpftool = bpftool_for_vm();
    for file in bpftool.iter().flat_map(|(files, _)| files) {
        run.arg("--file").arg(file);
    }
    // busybox is the program the VM runs; the script is its argument.
    run.args([
        "/bin/busybox",
        "sh",
        "/data/vm_cli.sh",
        "/data/netkit",
        "/data/obj",
    ]);
    if let Some((_, command)) = &bpftool {
        run.arg(command);
    }
    let out = run.output().expect("run scripts/vm-run.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let failures: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    let summary = stdout.lines().find(|l| l.starts_with("SUMMARY"));
    assert!(
        out.status.success() && failures.is_empty() && summary.is_some_and(|s| s.ends_with(" 0 failed")),
        "vm_cli.sh in the VM: status {:?}, summary {summary:?}, failures {failures:#?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    if bpftool.is_some() {
        // The comparisons with bpftool ran (bpftool started inside the VM).
        for check in [
            "PASS map dump per-CPU: as bpftool prints it",
            "PASS map dump: as bpftool prints it",
            "PASS map show: bpftool agrees",
            "PASS map update: bpftool reads it",
        ] {
            assert!(stdout.contains(check), "missing \"{check}\":\n{stdout}");
        }
    }
    eprintln!("{}", summary.unwrap_or_default());
}
