//! The engine against the kernel on this machine: clang-built programs (tests/progs/*.c) run
//! on a set of packets both in the engine and through BPF_PROG_TEST_RUN (`bpftool prog run`);
//! return value, output packet and ctx_out must be identical.
//! Needs root, clang-19, bpftool and bpffs; without them the test prints SKIP (and fails
//! when NETKIT_REQUIRE_PRIVILEGED=1).

mod common;
use std::path::{Path, PathBuf};
use std::process::Command;

use netkit_bpf::obj::ObjectFile;
use netkit_bpf::skb::{Skb, LOOPBACK_MTU};
use netkit_bpf::{LoadedObject, RunOptions};

fn missing_requirement() -> Option<&'static str> {
    let ok = |cmd: &str, arg: &str| {
        Command::new(cmd)
            .arg(arg)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("root");
    }
    if !ok("clang-19", "--version") {
        return Some("clang-19");
    }
    if !ok("bpftool", "version") {
        return Some("bpftool");
    }
    if !Path::new("/sys/fs/bpf").is_dir() {
        return Some("bpffs at /sys/fs/bpf");
    }
    None
}

fn skip(test: &str, what: &str) {
    if std::env::var("NETKIT_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
        panic!("{test}: requirement missing: {what}");
    }
    eprintln!("SKIP {test}: needs {what}");
}

fn compile(src: &Path, out: &Path, mcpu: &str) {
    let arch = Command::new("gcc")
        .arg("-dumpmachine")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "x86_64-linux-gnu".into());
    let st = Command::new("clang-19")
        .args(["-O2", "-g", "-target", "bpf", &format!("-mcpu={mcpu}")])
        .arg(format!("-I/usr/include/{arch}"))
        .arg("-c")
        .arg(src)
        .arg("-o")
        .arg(out)
        .status()
        .expect("clang runs");
    assert!(st.success(), "clang failed on {}", src.display());
}

/// Removes the pinned programs even when an assertion fails.
struct Pinned(PathBuf);
impl Drop for Pinned {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct KernelRun {
    retval: Option<u32>,
    data: Vec<u8>,
    ctx: Vec<u8>,
}

fn kernel_run(prog: &Path, pkt: &[u8], dir: &Path) -> KernelRun {
    let (din, dout, cin, cout) = (
        dir.join("in.bin"),
        dir.join("out.bin"),
        dir.join("ctx_in.bin"),
        dir.join("ctx_out.bin"),
    );
    std::fs::write(&din, pkt).unwrap();
    std::fs::write(&cin, [0u8; 192]).unwrap();
    let _ = std::fs::remove_file(&dout);
    let out = Command::new("bpftool")
        .args(["prog", "run", "pinned"])
        .arg(prog)
        .arg("data_in")
        .arg(&din)
        .arg("data_out")
        .arg(&dout)
        .arg("ctx_in")
        .arg(&cin)
        .arg("ctx_out")
        .arg(&cout)
        .arg("-j")
        .output()
        .expect("bpftool runs");
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    let retval = v.get("retval").and_then(|r| r.as_u64()).map(|r| r as u32);
    KernelRun {
        retval,
        data: std::fs::read(&dout).unwrap_or_default(),
        ctx: std::fs::read(&cout).unwrap_or_default(),
    }
}

fn diff_object(test: &str, src: &str, mcpu: &str) {
    if let Some(what) = missing_requirement() {
        return skip(test, what);
    }
    let dir = std::env::temp_dir().join(format!("netkit-kdiff-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/progs")
        .join(src);
    let obj_path = dir.join("prog.o");
    compile(&src, &obj_path, mcpu);
    let pin = Pinned(PathBuf::from(format!(
        "/sys/fs/bpf/netkit-kdiff-{}-{test}",
        std::process::id()
    )));
    let st = Command::new("bpftool")
        .args(["prog", "loadall"])
        .arg(&obj_path)
        .arg(&pin.0)
        .output()
        .expect("bpftool runs");
    assert!(
        st.status.success(),
        "kernel refused the object: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    let parsed = ObjectFile::parse(&std::fs::read(&obj_path).unwrap()).expect("object parses");
    let obj = LoadedObject::load(&parsed).expect("engine loads the object");
    let opts = RunOptions {
        cpu: Some(0),
        mtu: LOOPBACK_MTU,
    };
    let mut compared = 0;
    for prog in obj.programs() {
        for (pkt_name, pkt) in common::packet_set() {
            let k = kernel_run(&pin.0.join(prog.name()), &pkt, &dir);
            let what = format!("{}/{} on {pkt_name}", src.display(), prog.name());
            let skb = Skb::for_test_run(&pkt, Some(&[0u8; 192]));
            let (Some(kret), Ok(mut skb)) = (k.retval, skb.clone()) else {
                assert!(
                    k.retval.is_none() && skb.is_err(),
                    "{what}: kernel ran={} engine accepted={}",
                    k.retval.is_some(),
                    skb.is_ok()
                );
                continue;
            };
            let r = prog
                .run_with(&mut skb, &opts)
                .result
                .expect("engine run completes");
            assert_eq!(r as u32, kret, "{what}: return value");
            assert_eq!(skb.data(), &k.data[..], "{what}: output packet");
            assert_eq!(
                &skb.test_run_ctx_out(Some(&[0u8; 192]))[..],
                &k.ctx[..],
                "{what}: ctx_out"
            );
            compared += 1;
        }
    }
    assert!(
        compared >= obj.programs().len() * 9,
        "too few comparisons: {compared}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn helpers_match_kernel_v3() {
    diff_object("helpers_v3", "helpers.c", "v3");
}

#[test]
fn helpers_match_kernel_v4() {
    diff_object("helpers_v4", "helpers.c", "v4");
}
