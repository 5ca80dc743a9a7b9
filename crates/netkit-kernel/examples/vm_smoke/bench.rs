//! `--bench N`: how fast the real kernel does program management (for comparison with the
//! user-space backend's benchmark). Prints MEASURE lines; asserts nothing about speed.

use std::time::Instant;

use netkit_core::*;
use netkit_kernel::KernelBackend;

fn per_second(n: u32, started: Instant) -> f64 {
    f64::from(n) / started.elapsed().as_secs_f64()
}

pub fn bench(b: &mut KernelBackend, n: u32) {
    let Some(c) = crate::pair(b, "nkbench") else {
        return;
    };
    let Ok((prog, _)) = b.prog_load(&ProgSource::Constant(-1)) else {
        println!("FAIL bench: load");
        return;
    };
    let attach = AttachReq::append(c.primary, Hook::Primary, prog);
    let detach = DetachReq {
        ifindex: c.primary,
        hook: Hook::Primary,
        prog: Some(prog),
        flags: 0,
        relative: Relative(0),
        expected_revision: 0,
    };
    let query = QueryReq {
        ifindex: c.primary,
        hook: Hook::Primary,
        query_flags: 0,
        attach_flags: 0,
        capacity: Some(64),
    };
    let started = Instant::now();
    for _ in 0..n {
        if b.prog_attach(&attach)
            .and_then(|_| b.prog_detach(&detach))
            .is_err()
        {
            println!("FAIL bench: attach/detach");
            return;
        }
    }
    println!(
        "MEASURE kernel attach+detach pairs/s: {:.0}",
        per_second(n, started)
    );
    let _ = b.prog_attach(&attach);
    let started = Instant::now();
    for _ in 0..n {
        if b.prog_query(&query).is_err() {
            println!("FAIL bench: query");
            return;
        }
    }
    println!(
        "MEASURE kernel queries/s (1 program): {:.0}",
        per_second(n, started)
    );
    let _ = b.link_set_up(c.primary, true);
    let _ = c.peer.map(|p| b.link_set_up(p, true));
    let frame = [0u8; 60];
    let m = n.min(200);
    let started = Instant::now();
    for _ in 0..m {
        if !matches!(b.transmit(c.primary, &frame), Ok(TxOutcome::Delivered(_))) {
            println!("FAIL bench: transmit");
            return;
        }
    }
    println!(
        "MEASURE kernel backend transmit()/s incl. socket setup and capture: {:.0}",
        per_second(m, started)
    );
    let _ = b.link_del(c.primary);
    let _ = b.prog_close(prog);
}
