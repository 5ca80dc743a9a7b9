//! Hostile programs written in C: each `tests/hostile/c/*.c` compiles with clang-19 but must
//! be rejected at load, by our verifier (with the message its first line names) and by the
//! kernel on this machine (`bpftool prog load`, as root).

use netkit_bpf::insn::Insn;
use netkit_bpf::obj::{MapOrigin, ObjectFile};
use netkit_bpf::verifier::{verify, MapInfo, VerifyEnv};
use std::path::{Path, PathBuf};
use std::process::Command;

fn privileged_required() -> bool {
    std::env::var("NETKIT_REQUIRE_PRIVILEGED").as_deref() == Ok("1")
}

/// Whether `tool --version` runs; otherwise SKIP (or fail when privileged tests are required).
fn have(tool: &str, test: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(!privileged_required(), "{test}: needs {tool}");
        eprintln!("SKIP {test}: needs {tool}");
    }
    ok
}

fn sources() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile/c");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/hostile/c")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "c"))
        .collect();
    v.sort();
    v
}

/// The text after `// EXPECT: ` on the first line.
fn expectation(src: &Path) -> String {
    let text = std::fs::read_to_string(src).expect("source");
    let first = text.lines().next().unwrap_or_default();
    first
        .strip_prefix("// EXPECT: ")
        .expect("first line is // EXPECT: ...")
        .to_string()
}

fn compile(src: &Path, out_dir: &Path) -> PathBuf {
    let multiarch = Command::new("gcc")
        .arg("-dumpmachine")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "x86_64-linux-gnu".into());
    let out = out_dir
        .join(src.file_stem().expect("name"))
        .with_extension("o");
    let status = Command::new("clang-19")
        .args(["-O2", "-g", "-target", "bpf", "-mcpu=v3", "-Wall", "-c"])
        .arg(format!("-I/usr/include/{multiarch}"))
        .arg(src)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("run clang-19");
    assert!(status.success(), "clang-19 failed on {}", src.display());
    out
}

fn map_infos(obj: &ObjectFile) -> Vec<MapInfo> {
    obj.maps
        .iter()
        .map(|m| MapInfo {
            map_type: m.map_type,
            key_size: m.key_size,
            value_size: m.value_size,
            max_entries: m.max_entries,
            readonly: m.origin == MapOrigin::Rodata,
        })
        .collect()
}

fn out_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netkit-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn clang_built_hostile_programs_are_rejected() {
    if !have("clang-19", "clang_built_hostile_programs_are_rejected") {
        return;
    }
    let dir = out_dir("hostile-c");
    let srcs = sources();
    assert!(srcs.len() >= 15, "only {} C programs", srcs.len());
    let mut failures = Vec::new();
    for src in &srcs {
        let obj_path = compile(src, &dir);
        let obj = ObjectFile::parse(&std::fs::read(&obj_path).expect("object")).expect("parse");
        let maps = map_infos(&obj);
        let want = expectation(src);
        assert!(!obj.programs.is_empty(), "{}: no program", src.display());
        for prog in &obj.programs {
            let insns: Vec<Insn> = prog.insns.iter().map(|&r| Insn::from_raw(r)).collect();
            match verify(&insns, &VerifyEnv { maps: &maps }) {
                Ok(_) => failures.push(format!("{}: accepted", prog.name)),
                Err(e) if !e.msg.contains(&want) => {
                    failures.push(format!("{}: {e} (expected {want:?})", prog.name))
                }
                Err(e) => eprintln!("{}: rejected: {e}", prog.name),
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn kernel_rejects_the_clang_built_hostile_programs() {
    let test = "kernel_rejects_the_clang_built_hostile_programs";
    if !have("clang-19", test) || !have("bpftool", test) {
        return;
    }
    if !Path::new("/sys/fs/bpf").is_dir() || is_root().is_none() {
        assert!(!privileged_required(), "{test}: needs root and bpffs");
        eprintln!("SKIP {test}: needs root and bpffs");
        return;
    }
    let dir = out_dir("hostile-c-kernel");
    let mut failures = Vec::new();
    for src in sources() {
        let obj_path = compile(&src, &dir);
        let pin = format!("/sys/fs/bpf/netkit_hostile_{}", std::process::id());
        let out = Command::new("bpftool")
            .args(["prog", "load"])
            .arg(&obj_path)
            .arg(&pin)
            .output()
            .expect("run bpftool");
        let _ = std::fs::remove_file(&pin);
        let log = String::from_utf8_lossy(&out.stderr);
        let reason = log
            .lines()
            .take_while(|l| !l.starts_with("processed"))
            .last()
            .unwrap_or_default()
            .to_string();
        if out.status.success() {
            failures.push(format!("kernel accepted {}", src.display()));
        } else {
            eprintln!("{}: kernel: {reason}", src.display());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Root check without unsafe code: the effective uid from /proc.
fn is_root() -> Option<()> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let uid_line = status.lines().find(|l| l.starts_with("Uid:"))?;
    let euid = uid_line.split_whitespace().nth(2)?;
    (euid == "0").then_some(())
}

/// The other side of the precision goal: every program of the corpus (which the kernel
/// loads, see kernel_side.rs) passes our verifier, against the maps its object declares.
#[test]
fn every_corpus_program_verifies() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let build = dir.join("build");
    let objects = |d: &Path| -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(d)
            .map(|r| {
                r.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "o"))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    if objects(&build).is_empty() {
        if !have("clang-19", "every_corpus_program_verifies") {
            return;
        }
        let status = Command::new("make")
            .arg("-s")
            .arg("-C")
            .arg(&dir)
            .status()
            .expect("make");
        assert!(status.success(), "building the corpus failed");
    }
    let mut failures = Vec::new();
    let mut programs = 0;
    for path in objects(&build) {
        let obj = ObjectFile::parse(&std::fs::read(&path).expect("object")).expect("corpus parses");
        let maps = map_infos(&obj);
        for prog in &obj.programs {
            programs += 1;
            let insns: Vec<Insn> = prog.insns.iter().map(|&r| Insn::from_raw(r)).collect();
            if let Err(e) = verify(&insns, &VerifyEnv { maps: &maps }) {
                failures.push(format!("{} {}: {e}", path.display(), prog.name));
            }
        }
    }
    assert!(programs >= 40, "only {programs} corpus programs");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
