//! Fuzzing the engine's load path with hostile input: random bytecode, structured
//! compiler-like programs and mutations of accepted ones go through the verifier; nothing
//! may panic or hang.
//!
//! A bounded run with fixed seeds is part of `cargo test`. For a long run:
//! `NETKIT_FUZZ_SECS=1800 cargo test --release -p netkit-bpf --test fuzz -- --nocapture`
//! (`NETKIT_FUZZ_SEED` picks another seed range, `NETKIT_FUZZ_OUT` appends the summary to a
//! file). A failure prints the seed and the program as hex: rerun with that seed.

#[path = "hostile/asm.rs"]
#[macro_use]
mod asm;
#[path = "hostile/cases.rs"]
#[allow(dead_code)]
mod cases;
#[path = "fuzz/gen.rs"]
mod gen;

use gen::Rng;
use netkit_bpf::insn::Insn;
use netkit_bpf::verifier::{verify, MapInfo, VerifyEnv};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// Iterations of the bounded run (CI).
const CI_ITERATIONS: u64 = 20_000;
/// Accepted programs kept for further mutation.
const POOL: usize = 256;

#[derive(Default, Debug)]
struct Stats {
    iterations: u64,
    accepted: u64,
    rejected: u64,
    failures: Vec<String>,
}

fn hex(insns: &[Insn]) -> String {
    insns
        .iter()
        .map(|i| format!("{:016x}", i.to_raw().swap_bytes()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn panic_text(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".into())
}

/// Verifies one program; a panic is a failure, acceptance adds it to the pool.
fn check(
    insns: Vec<Insn>,
    maps: &[MapInfo],
    seed: u64,
    kind: &str,
    stats: &mut Stats,
    pool: &mut Vec<Vec<Insn>>,
) {
    stats.iterations += 1;
    let env = VerifyEnv { maps };
    match catch_unwind(AssertUnwindSafe(|| verify(&insns, &env))) {
        Ok(Ok(_)) => {
            stats.accepted += 1;
            if pool.len() < POOL {
                pool.push(insns);
            } else {
                let at = (seed as usize) % POOL;
                pool[at] = insns;
            }
        }
        Ok(Err(e)) => {
            stats.rejected += 1;
            // Every rejection of a non-empty program names an instruction inside it, or
            // the program as a whole.
            if let Some(i) = e.insn {
                if i >= insns.len() {
                    stats.failures.push(format!(
                        "seed {seed} ({kind}): error names insn {i} of {}: {e}",
                        insns.len()
                    ));
                }
            }
        }
        Err(p) => stats.failures.push(format!(
            "seed {seed} ({kind}): verifier panicked: {} program: {}",
            panic_text(p),
            hex(&insns)
        )),
    }
}

#[test]
fn fuzz_verifier() {
    let secs: Option<u64> = std::env::var("NETKIT_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok());
    let base: u64 = std::env::var("NETKIT_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x6e6b_0001);
    let deadline = secs.map(|s| Instant::now() + Duration::from_secs(s));
    let maps = cases::maps();
    // Mutation parents: the hand-written programs, hostile and valid, then whatever loads.
    let mut pool: Vec<Vec<Insn>> = cases::valid()
        .into_iter()
        .chain(cases::hostile())
        .map(|c| c.insns)
        .filter(|p| !p.is_empty())
        .collect();
    let mut stats = Stats::default();
    let start = Instant::now();
    // Quiet the default panic hook; panics are caught and reported with their seed.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut i = 0u64;
    loop {
        match deadline {
            Some(d) if Instant::now() >= d => break,
            None if i >= CI_ITERATIONS => break,
            _ => {}
        }
        let seed = base.wrapping_add(i);
        let mut rng = Rng::new(seed);
        let (kind, prog) = match i % 4 {
            0 => ("random", gen::random_bytes(&mut rng)),
            1 | 2 => ("structured", gen::structured(&mut rng, maps.len() as u32)),
            _ => {
                let parent = rng.pick(&(0..pool.len()).collect::<Vec<_>>());
                ("mutated", gen::mutate(&mut rng, &pool[parent]))
            }
        };
        check(prog, &maps, seed, kind, &mut stats, &mut pool);
        i += 1;
    }
    std::panic::set_hook(hook);
    let summary = format!(
        "fuzz_verifier: {} iterations in {:.1}s (seeds {base}..{}), {} accepted, {} rejected, {} failures",
        stats.iterations,
        start.elapsed().as_secs_f64(),
        base.wrapping_add(i),
        stats.accepted,
        stats.rejected,
        stats.failures.len()
    );
    eprintln!("{summary}");
    if let Ok(path) = std::env::var("NETKIT_FUZZ_OUT") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .expect("fuzz output file");
        writeln!(f, "{summary}").expect("write fuzz output");
        for fail in &stats.failures {
            writeln!(f, "{fail}").expect("write fuzz output");
        }
    }
    assert!(
        stats.accepted > 0,
        "the generators never produced a loadable program"
    );
    assert!(stats.failures.is_empty(), "{}", stats.failures.join("\n"));
}

#[test]
#[ignore]
fn rejection_reasons() {
    let maps = cases::maps();
    let mut counts = std::collections::BTreeMap::new();
    for seed in 0..2000u64 {
        let mut rng = Rng::new(seed);
        let p = gen::structured(&mut rng, maps.len() as u32);
        let r = verify(&p, &VerifyEnv { maps: &maps });
        let key = match r {
            Ok(_) => "OK".to_string(),
            Err(e) => e.msg.chars().take(40).collect::<String>(),
        };
        *counts.entry(key).or_insert(0) += 1;
    }
    let mut v: Vec<_> = counts.into_iter().collect();
    v.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    for (k, n) in v.iter().take(25) {
        eprintln!("{n:5} {k}");
    }
}
