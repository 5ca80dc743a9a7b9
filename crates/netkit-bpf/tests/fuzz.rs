//! Fuzzing the engine with hostile input. Programs (random bytecode, structured
//! compiler-like programs, mutations of hand-written and corpus programs) go through the
//! verifier; those it accepts run in the VM on random packets. Objects (mutated corpus ELF
//! files) go through the parser, the loader and the VM. Nothing may panic or hang, and a
//! verified program must never hit a memory-safety abort at run time (that would mean the
//! verifier let through something the kernel's would not).
//!
//! A bounded run with fixed seeds is part of `cargo test`. For a long run:
//! `NETKIT_FUZZ_SECS=1800 cargo test --release -p netkit-bpf --test fuzz -- --nocapture`
//! (each test runs that long; `NETKIT_FUZZ_SEED` picks another seed range,
//! `NETKIT_FUZZ_OUT` appends summaries and failures to a file). A failure prints its seed
//! and input: rerun with `NETKIT_FUZZ_SEED=<seed>`.

#[macro_use]
mod common;
use common::asm;
#[path = "hostile/cases.rs"]
#[allow(dead_code)]
mod cases;
#[path = "fuzz/gen.rs"]
mod gen;
#[path = "fuzz/run.rs"]
mod run;

use netkit_bpf::insn::Insn;
use netkit_bpf::obj::ObjectFile;
use netkit_bpf::verifier::{verify, VerifyEnv};
use netkit_bpf::LoadedObject;
use run::{Campaign, Outcome};

/// Iterations of the bounded runs (CI).
const CI_PROGRAMS: u64 = 25_000;
const CI_OBJECTS: u64 = 8_000;
/// Accepted programs kept for further mutation.
const POOL: usize = 256;

#[test]
fn fuzz_programs() {
    let mut c = Campaign::new("fuzz_programs", CI_PROGRAMS, 0x6e6b_0001);
    let infos = cases::maps();
    let maps = run::runtime_maps(&infos);
    // Mutation parents: hand-written programs (hostile and valid), corpus programs with
    // the maps of their object, then whatever loads.
    let mut seeds: Vec<(Vec<Insn>, usize)> = cases::valid()
        .into_iter()
        .chain(cases::hostile())
        .map(|c| (c.insns, usize::MAX))
        .filter(|(p, _)| !p.is_empty())
        .collect();
    let mut corpus_maps = Vec::new();
    for (_, obj) in run::corpus_objects() {
        let Some(maps) = run::object_maps(&obj) else {
            continue;
        };
        for p in &obj.programs {
            seeds.push((
                p.insns.iter().map(|&r| Insn::from_raw(r)).collect(),
                corpus_maps.len(),
            ));
        }
        corpus_maps.push(maps);
    }
    let mut pool: Vec<Vec<Insn>> = Vec::new();
    while let Some((seed, mut rng)) = c.next() {
        let (kind, prog, which) = match seed % 4 {
            0 => ("random", gen::random_bytes(&mut rng), usize::MAX),
            1 => (
                "structured",
                gen::structured(&mut rng, infos.len() as u32),
                usize::MAX,
            ),
            2 if !pool.is_empty() && rng.chance(50) => {
                let parent = rng.below(pool.len() as u64) as usize;
                (
                    "mutated-accepted",
                    gen::mutate(&mut rng, &pool[parent]),
                    usize::MAX,
                )
            }
            _ => {
                let (parent, which) = &seeds[rng.below(seeds.len() as u64) as usize];
                ("mutated", gen::mutate(&mut rng, parent), *which)
            }
        };
        let (env_infos, env_maps) = match corpus_maps.get(which) {
            Some((i, m)) => (i.as_slice(), m.clone()),
            None => (infos.as_slice(), maps.clone()),
        };
        let outcome = run::guarded(|| verify(&prog, &VerifyEnv { maps: env_infos }));
        match outcome {
            Outcome::Panic(msg) => c.fail(seed, kind, format!("verifier panicked: {msg}"), &prog),
            Outcome::Done(Err(e)) => {
                c.rejected += 1;
                if e.insn.is_some_and(|i| i >= prog.len()) {
                    c.fail(
                        seed,
                        kind,
                        format!("error names an insn outside the program: {e}"),
                        &prog,
                    );
                }
            }
            Outcome::Done(Ok(_)) => {
                c.accepted += 1;
                run::run_program(&mut c, seed, kind, &prog, env_maps, &mut rng);
                if which == usize::MAX {
                    if pool.len() < POOL {
                        pool.push(prog);
                    } else {
                        pool[(seed as usize) % POOL] = prog;
                    }
                }
            }
        }
    }
    c.finish();
}

#[test]
fn fuzz_objects() {
    let corpus = run::corpus_objects();
    if corpus.is_empty() {
        run::skip_or_fail(
            "fuzz_objects",
            "the corpus objects (make -C tests/corpus, clang-19)",
        );
        return;
    }
    let mut c = Campaign::new("fuzz_objects", CI_OBJECTS, 0x6e6b_8001);
    while let Some((seed, mut rng)) = c.next() {
        let (bytes, _) = &corpus[rng.below(corpus.len() as u64) as usize];
        let mutated = gen::mutate_bytes(&mut rng, bytes);
        let parsed = run::guarded(|| ObjectFile::parse(&mutated));
        let obj = match parsed {
            Outcome::Panic(msg) => {
                c.fail_bytes(seed, format!("parser panicked: {msg}"), &mutated);
                continue;
            }
            Outcome::Done(Err(_)) => {
                c.rejected += 1;
                continue;
            }
            Outcome::Done(Ok(obj)) => obj,
        };
        let loaded = match run::guarded(|| LoadedObject::load(&obj)) {
            Outcome::Panic(msg) => {
                c.fail_bytes(seed, format!("loader panicked: {msg}"), &mutated);
                continue;
            }
            Outcome::Done(Err(_)) => {
                c.rejected += 1;
                continue;
            }
            Outcome::Done(Ok(l)) => l,
        };
        c.accepted += 1;
        for prog in loaded.programs() {
            run::run_loaded(&mut c, seed, prog, &mut rng);
        }
    }
    c.finish();
}
