//! Real clang-built programs for the dataplane tests: tests/bpf/dataplane.bpf.c compiled
//! with clang-19 and run by the eBPF engine inside the model's transmit path.

use std::path::PathBuf;
use std::sync::Arc;

use netkit_bpf::obj::ObjectFile;
use netkit_bpf::skb::Skb;
use netkit_bpf::{LoadedObject, Program};
use netkit_core::{flags, AttachReq, Backend, Classifier, Handle, Hook, Relative, UserBackend};

/// An engine program as the model runs it; an aborted run drops the packet.
pub struct Engine(pub Arc<Program>);

impl Classifier for Engine {
    fn run(&self, skb: &mut Skb) -> i32 {
        self.0.run(skb).map_or(2, |r0| r0 as i32)
    }
}

/// Compiles tests/bpf/dataplane.bpf.c with clang-19 and loads it into the engine.
pub fn load_object() -> LoadedObject {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/bpf/dataplane.bpf.c");
    let out =
        std::env::temp_dir().join(format!("{}.bpf.o", netkit_io::testing::unique_name("nkdp")));
    let arch_inc = format!("-I/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    let args = [
        "-O2", "-g", "-target", "bpf", "-mcpu=v3", "-Wall", &arch_inc, "-c",
    ];
    let status = std::process::Command::new("clang-19")
        .args(args)
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("run clang-19");
    assert!(status.success(), "clang-19 failed on {}", src.display());
    let bytes = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    LoadedObject::load(&ObjectFile::parse(&bytes).unwrap()).unwrap()
}

pub fn classifier(b: &mut UserBackend, obj: &LoadedObject, name: &str) -> Handle {
    let prog = obj
        .program(name)
        .unwrap_or_else(|| panic!("no program {name}"))
        .clone();
    b.load_classifier(name, Arc::new(Engine(prog))).0
}

/// Attaches `prog` at the end of `hook` of `ifindex`, or in place of `replace`.
pub fn attach(
    b: &mut UserBackend,
    ifindex: netkit_core::IfIndex,
    hook: Hook,
    prog: Handle,
    replace: Option<Handle>,
) {
    b.prog_attach(&AttachReq {
        ifindex,
        hook,
        prog,
        flags: if replace.is_some() { flags::REPLACE } else { 0 },
        relative: Relative(0),
        replace,
        expected_revision: 0,
    })
    .unwrap();
}

/// Element `index` of array map `map`, as a u64.
pub fn map_u64(obj: &LoadedObject, map: &str, index: u32) -> u64 {
    let v = obj.map(map).unwrap().lookup(&index.to_ne_bytes()).unwrap();
    u64::from_ne_bytes(v[..8].try_into().unwrap())
}
