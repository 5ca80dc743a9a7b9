//! The engine against the kernel: every corpus program (both `-mcpu` builds) on every fixture
//! packet, through our engine and through the kernel's BPF_PROG_TEST_RUN, must give the same
//! return value, output packet, `__sk_buff` fields copied back, and map contents.
//!
//! Needs root (bpf(2)) and clang-19; `cargo test -p netkit-bpf --test kernel_diff`.

mod harness;

use harness::{engine, kernel};
use netkit_bpf::obj::ObjectFile;

/// Describes how two outcomes differ, field by field; empty when they agree.
fn differences(k: &kernel::Outcome, e: &kernel::Outcome) -> Vec<String> {
    let mut out = Vec::new();
    if k.retval != e.retval {
        out.push(format!(
            "retval: kernel {} engine {}",
            k.retval as i32, e.retval as i32
        ));
    }
    if k.data_out != e.data_out {
        let first = k
            .data_out
            .iter()
            .zip(&e.data_out)
            .position(|(a, b)| a != b)
            .unwrap_or(k.data_out.len().min(e.data_out.len()));
        out.push(format!(
            "data_out: kernel {} bytes, engine {} bytes, first difference at byte {first} \
             (kernel {:02x?}, engine {:02x?})",
            k.data_out.len(),
            e.data_out.len(),
            k.data_out.get(first..(first + 8).min(k.data_out.len())),
            e.data_out.get(first..(first + 8).min(e.data_out.len())),
        ));
    }
    for (off, (a, b)) in k.ctx_out.chunks(4).zip(e.ctx_out.chunks(4)).enumerate() {
        if a != b {
            out.push(format!(
                "ctx_out at offset {}: kernel {:#x} engine {:#x}",
                off * 4,
                u32::from_ne_bytes(a.try_into().unwrap()),
                u32::from_ne_bytes(b.try_into().unwrap())
            ));
        }
    }
    for ((name, km), (_, em)) in k.maps.iter().zip(&e.maps) {
        if km != em {
            out.push(format!(
                "map {name}: kernel {km:02x?}\n      engine {em:02x?}"
            ));
        }
    }
    if k.maps.len() != e.maps.len() {
        out.push(format!(
            "map count: kernel {} engine {}",
            k.maps.len(),
            e.maps.len()
        ));
    }
    out
}

#[test]
fn engine_matches_kernel_on_corpus() {
    let name = "engine_matches_kernel_on_corpus";
    let Some(objs) = harness::corpus(name) else {
        return;
    };
    if !harness::is_root() {
        return harness::skip(name, "root for bpf(2)");
    }
    let packets = harness::packets::fixtures();
    assert!(packets.len() >= 10);
    let mut mismatches = Vec::new();
    let mut compared = 0usize;
    let mut programs = 0usize;
    for (file, bytes) in &objs {
        let obj = ObjectFile::parse(bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        for p in &obj.programs {
            programs += 1;
            // Fresh maps per program on both sides; state then accumulates packet by packet.
            let k = kernel::load(&obj).unwrap_or_else(|e| panic!("{file}: kernel load: {e}"));
            let e = match engine::EngineObject::load(&obj) {
                Ok(e) => e,
                Err(err) => {
                    mismatches.push(format!("{file} {}: engine refused to load: {err}", p.name));
                    continue;
                }
            };
            for (pkt, frame) in &packets {
                let ko = kernel::run(&k, &p.name, frame)
                    .unwrap_or_else(|err| panic!("{file} {} {pkt}: kernel: {err}", p.name));
                let eo = match e.run(&p.name, frame) {
                    Ok(o) => o,
                    Err(err) => {
                        mismatches.push(format!(
                            "{file} {} {pkt}: kernel retval {} / engine: {err}",
                            p.name, ko.retval as i32
                        ));
                        break;
                    }
                };
                compared += 1;
                let diffs = differences(&ko, &eo);
                if !diffs.is_empty() {
                    mismatches.push(format!(
                        "{file} {} {pkt}:\n    {}",
                        p.name,
                        diffs.join("\n    ")
                    ));
                    // Later packets would only repeat the divergence through the maps.
                    break;
                }
            }
        }
    }
    eprintln!(
        "kernel_diff: {programs} programs, {compared} runs compared, {} mismatching (program, packet)",
        mismatches.len()
    );
    assert!(programs >= 40, "only {programs} programs");
    assert!(
        mismatches.is_empty(),
        "engine differs from the kernel:\n{}",
        mismatches.join("\n")
    );
}
