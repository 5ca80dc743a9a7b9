//! Engine vs kernel JIT, per corpus program (the `-mcpu=v4` build), in one invocation:
//! ns per run of our interpreter beside BPF_PROG_TEST_RUN's mean with `repeat`, the ratio,
//! and the median ratio. Not a test: nothing is asserted. Needs root for the kernel column.
//!
//! `cargo bench -p netkit-bpf --bench engine_vs_jit [-- FILTER]`

#[path = "../tests/harness/mod.rs"]
mod harness;

use std::time::Instant;

use harness::{engine, kernel};
use netkit_bpf::obj::ObjectFile;
use netkit_kernel::bpf::{self, TestRun};

/// Runs per measurement on each side.
const REPEAT: u32 = 20_000;
/// The packet every program runs on.
const PACKET: &str = "ipv4_tcp";

fn kernel_ns(k: &netkit_kernel::bpf::KernelObject, prog: &str, frame: &[u8]) -> Option<f64> {
    let p = k.program(prog)?;
    let ctx = kernel::ctx_in();
    // Best of three, to damp noise from the shared machine.
    (0..3)
        .filter_map(|_| {
            bpf::prog_test_run(
                &p.fd,
                &TestRun {
                    data_in: frame,
                    data_out_cap: 0,
                    ctx_in: Some(&ctx),
                    ctx_out_cap: 0,
                    repeat: REPEAT,
                },
            )
            .ok()
        })
        .map(|r| f64::from(r.duration_ns))
        .reduce(f64::min)
}

/// The engine's time per run: the fastest of many short batches. The kernel pauses its clock
/// while the test run is rescheduled, so on a shared machine the fair comparison discards
/// batches that were preempted.
fn engine_ns(e: &engine::EngineObject, prog: &str, frame: &[u8]) -> Option<f64> {
    const BATCH: u32 = 500;
    let mut skb = engine::test_run_skb(frame);
    let mut best = f64::MAX;
    for _ in 0..REPEAT / BATCH {
        let start = Instant::now();
        for _ in 0..BATCH {
            e.run_raw(prog, &mut skb)?;
        }
        best = best.min(start.elapsed().as_nanos() as f64 / f64::from(BATCH));
    }
    Some(best)
}

fn main() {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let Some(objs) = harness::corpus("engine_vs_jit") else {
        return;
    };
    let root = harness::is_root();
    if !root {
        eprintln!("not root: the kernel JIT column is empty");
    }
    let frame = harness::packets::fixtures()
        .into_iter()
        .find(|(n, _)| *n == PACKET)
        .map(|(_, f)| f)
        .expect("fixture");
    println!(
        "{:<32} {:>12} {:>12} {:>8}",
        "program (v4 build, ipv4_tcp)", "engine ns", "kernel ns", "ratio"
    );
    let mut ratios = Vec::new();
    for (stem, bytes) in objs.iter().filter(|(s, _)| s.ends_with(".v4")) {
        let obj = ObjectFile::parse(bytes).expect("corpus object parses");
        let k = if root { kernel::load(&obj).ok() } else { None };
        let e = engine::EngineObject::load(&obj);
        for p in &obj.programs {
            let label = format!("{}/{}", stem.trim_end_matches(".v4"), p.name);
            if filter.as_ref().is_some_and(|f| !label.contains(f.as_str())) {
                continue;
            }
            let kn = k.as_ref().and_then(|k| kernel_ns(k, &p.name, &frame));
            let en = e.as_ref().ok().and_then(|e| engine_ns(e, &p.name, &frame));
            let ratio = match (en, kn) {
                (Some(en), Some(kn)) if kn > 0.0 => Some(en / kn),
                _ => None,
            };
            if let Some(r) = ratio {
                ratios.push(r);
            }
            let show = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
            println!(
                "{label:<32} {:>12} {:>12} {:>8}",
                show(en),
                show(kn),
                ratio.map_or("-".into(), |r| format!("{r:.2}x"))
            );
        }
    }
    ratios.sort_by(f64::total_cmp);
    if ratios.is_empty() {
        println!("median ratio: n/a");
    } else {
        let mid = ratios.len() / 2;
        let median = if ratios.len() % 2 == 0 {
            (ratios[mid - 1] + ratios[mid]) / 2.0
        } else {
            ratios[mid]
        };
        println!(
            "median ratio (engine / kernel JIT) over {} programs: {median:.2}x",
            ratios.len()
        );
    }
}
