//! ns per run of one program of an object on one packet in the engine, as BPF_PROG_TEST_RUN
//! with `repeat` measures the kernel: `engine_bench OBJ PROGRAM PACKET [REPEAT]`.

use std::time::Instant;

use netkit_bpf::obj::ObjectFile;
use netkit_bpf::skb::{Skb, LOOPBACK_MTU};
use netkit_bpf::{LoadedObject, RunOptions};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: engine_bench OBJ PROGRAM PACKET [REPEAT]");
        std::process::exit(2);
    }
    let repeat: u32 = args
        .get(3)
        .and_then(|r| r.parse().ok())
        .unwrap_or(1_000_000);
    let elf = std::fs::read(&args[0]).expect("object readable");
    let obj = LoadedObject::load(&ObjectFile::parse(&elf).expect("object parses")).expect("loads");
    let prog = obj
        .program(&args[1])
        .or_else(|| obj.program_in_section(&args[1]))
        .expect("program exists");
    let pkt = std::fs::read(&args[2]).expect("packet readable");
    let mut skb = Skb::for_test_run(&pkt, None).expect("valid test-run packet");
    let opts = RunOptions {
        cpu: Some(0),
        mtu: LOOPBACK_MTU,
    };
    // As the kernel's test run: the same skb every repetition. The machine is shared, so
    // runs are timed in batches and the fastest batch counts (the kernel's own timer stops
    // while its test run is preempted).
    const BATCH: u32 = 1000;
    let mut best = f64::MAX;
    let mut total = 0.0;
    let mut r = Ok(0);
    for _ in 0..repeat.div_ceil(BATCH) {
        let start = Instant::now();
        for _ in 0..BATCH {
            r = prog.run_with(&mut skb, &opts).result;
        }
        let ns = start.elapsed().as_nanos() as f64 / f64::from(BATCH);
        best = best.min(ns);
        total += ns;
    }
    let mean = total / f64::from(repeat.div_ceil(BATCH));
    println!(
        "{} retval {:?} best {best:.1} ns/run, mean {mean:.1} ns/run",
        prog.name(),
        r.map(|v| v as u32)
    );
}
