//! A clang-built object through the whole pipeline: parse, load (maps instantiated, global
//! data initialised, .rodata read-only), run, and read the results back from Rust.

use std::path::Path;
use std::process::Command;

use netkit_bpf::obj::{ExpectedAttach, ObjectFile};
use netkit_bpf::skb::Skb;
use netkit_bpf::LoadedObject;

fn build(src: &str, mcpu: &str) -> Option<Vec<u8>> {
    if Command::new("clang-19").arg("--version").output().is_err() {
        if std::env::var("NETKIT_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
            panic!("clang-19 missing");
        }
        eprintln!("SKIP object tests: needs clang-19");
        return None;
    }
    let arch = Command::new("gcc")
        .arg("-dumpmachine")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "x86_64-linux-gnu".into());
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/progs")
        .join(src);
    let out = std::env::temp_dir().join(format!("netkit-object-{}-{mcpu}.o", std::process::id()));
    let st = Command::new("clang-19")
        .args(["-O2", "-g", "-target", "bpf", &format!("-mcpu={mcpu}")])
        .arg(format!("-I/usr/include/{arch}"))
        .arg("-c")
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("clang runs");
    assert!(st.success(), "clang failed");
    let bytes = std::fs::read(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    Some(bytes)
}

fn check(mcpu: &str) {
    let Some(elf) = build("object.c", mcpu) else {
        return;
    };
    let parsed = ObjectFile::parse(&elf).expect("parses");
    let obj = LoadedObject::load(&parsed).expect("loads");
    assert_eq!(obj.license(), "GPL");
    let primary = obj
        .program_in_section("netkit/primary")
        .expect("primary")
        .clone();
    let peer = obj.program("peer").expect("peer").clone();
    assert_eq!(
        parsed
            .programs
            .iter()
            .find(|p| p.name == "peer")
            .unwrap()
            .expected_attach,
        ExpectedAttach::NetkitPeer
    );
    let data = obj
        .maps()
        .iter()
        .find(|m| m.name().ends_with(".data"))
        .expect(".data");
    let bss = obj
        .maps()
        .iter()
        .find(|m| m.name().ends_with(".bss"))
        .expect(".bss");
    let rodata = obj
        .maps()
        .iter()
        .find(|m| m.name().ends_with(".rodata"))
        .expect(".rodata");
    assert!(rodata.def().readonly);
    assert_eq!(
        data.lookup(&0u32.to_le_bytes()).unwrap(),
        5u64.to_le_bytes(),
        "initialised"
    );

    let frame = vec![0u8; 60];
    let mut skb = Skb::from_frame(&frame);
    assert_eq!(primary.run(&mut skb), Ok(0));
    assert_eq!(
        data.lookup(&0u32.to_le_bytes()).unwrap(),
        6u64.to_le_bytes()
    );
    // scale(60) = 60 * factor(3) + 1, through a BPF-to-BPF call and .rodata.
    assert_eq!(
        bss.lookup(&0u32.to_le_bytes()).unwrap()[..4],
        181u32.to_le_bytes()
    );
    let ring = obj
        .map("events")
        .expect("events")
        .ringbuf()
        .expect("ringbuf");
    assert_eq!(ring.drain(), vec![181u32.to_le_bytes().to_vec()]);
    assert_eq!(obj.trace_log().drain(), vec!["len 60".to_string()]);

    // With the peer program in slot 1 and mark 1, the tail call replaces primary's verdict.
    let jumps = obj.map("jumps").expect("jumps");
    jumps.set_prog(1, Some(peer)).unwrap();
    let mut skb = Skb::from_frame(&frame);
    skb.meta.mark = 1;
    assert_eq!(primary.run(&mut skb), Ok(2));
    assert_eq!(skb.meta.mark, 0xbeef);
    assert_eq!(primary.stats().runs(), 2);
    // Rust can change global data the program then sees.
    data.update(&0u32.to_le_bytes(), &100u64.to_le_bytes(), 0)
        .unwrap();
    primary.run(&mut Skb::from_frame(&frame)).unwrap();
    assert_eq!(
        data.lookup(&0u32.to_le_bytes()).unwrap(),
        101u64.to_le_bytes()
    );
}

#[test]
fn object_pipeline_v3() {
    check("v3");
}

#[test]
fn object_pipeline_v4() {
    check("v4");
}
