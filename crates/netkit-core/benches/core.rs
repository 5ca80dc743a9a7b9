//! `cargo bench -p netkit-core`: control-path operations per second, memory of 1,000 pairs
//! with 63 programs on each hook, and the transmit path with 0, 1 and 63 programs.
//! Prints figures; asserts nothing about time.

use std::hint::black_box;
use std::time::{Duration, Instant};

use netkit_bpf::skb::Skb;
use netkit_core::*;

fn frame() -> Vec<u8> {
    let mut f = vec![0u8; 64];
    f[12] = 0x08;
    f
}

fn pair(b: &mut UserBackend) -> (IfIndex, IfIndex) {
    let c = b.link_add(&NewLink::default()).unwrap();
    let peer = c.peer.unwrap();
    b.link_set_up(c.primary, true).unwrap();
    b.link_set_up(peer, true).unwrap();
    (c.primary, peer)
}

fn attach_req(ifindex: IfIndex, hook: Hook, prog: Handle) -> AttachReq {
    AttachReq {
        ifindex,
        hook,
        prog,
        flags: 0,
        relative: Relative(0),
        replace: None,
        expected_revision: 0,
    }
}

fn rate(what: &str, ops: u64, took: Duration) {
    let per_sec = ops as f64 / took.as_secs_f64();
    println!(
        "{what:<48} {per_sec:>12.0} ops/s  ({:.0} ns/op)",
        took.as_nanos() as f64 / ops as f64
    );
}

fn control_ops() {
    let mut b = UserBackend::default();
    let (primary, _) = pair(&mut b);
    let progs: Vec<Handle> = (0..63)
        .map(|_| b.prog_load(&ProgSource::Constant(-1)).unwrap().0)
        .collect();
    let rounds = 2000;
    let (mut attach, mut detach) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..rounds {
        let t = Instant::now();
        for p in &progs {
            b.prog_attach(&attach_req(primary, Hook::Primary, *p))
                .unwrap();
        }
        attach += t.elapsed();
        let t = Instant::now();
        for p in &progs {
            let req = DetachReq {
                ifindex: primary,
                hook: Hook::Primary,
                prog: Some(*p),
                flags: 0,
                relative: Relative(0),
                expected_revision: 0,
            };
            b.prog_detach(&req).unwrap();
        }
        detach += t.elapsed();
    }
    let ops = rounds * progs.len() as u64;
    rate("attach (append, list of 0..63)", ops, attach);
    rate("detach (by program, list of 63..0)", ops, detach);
    for p in &progs {
        b.prog_attach(&attach_req(primary, Hook::Primary, *p))
            .unwrap();
    }
    let q = QueryReq {
        ifindex: primary,
        hook: Hook::Primary,
        query_flags: 0,
        attach_flags: 0,
        capacity: Some(64),
    };
    let n = 200_000;
    let t = Instant::now();
    for _ in 0..n {
        black_box(b.prog_query(&q).unwrap());
    }
    rate("query (63 programs, full copy)", n, t.elapsed());
    let extra = b.prog_load(&ProgSource::Constant(0)).unwrap().0;
    let n = 100_000;
    let t = Instant::now();
    for _ in 0..n {
        let req = LinkCreateReq {
            ifindex: primary,
            hook: Hook::Peer,
            prog: extra,
            flags: 0,
            relative: Relative(0),
            expected_revision: 0,
        };
        let (l, _) = b.link_create(&req).unwrap();
        b.link_close(l).unwrap();
    }
    rate("link create + close (pair of ops)", n * 2, t.elapsed());
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn memory(distinct: bool) {
    let before = rss_kib();
    let t = Instant::now();
    let mut b = UserBackend::default();
    let shared: Vec<Handle> = (0..126)
        .map(|_| b.prog_load(&ProgSource::Constant(-1)).unwrap().0)
        .collect();
    for _ in 0..1000 {
        let (primary, _) = pair(&mut b);
        for (i, hook) in [Hook::Primary, Hook::Peer].into_iter().enumerate() {
            for k in 0..63 {
                let prog = if distinct {
                    let h = b.prog_load(&ProgSource::Constant(-1)).unwrap().0;
                    b.prog_attach(&attach_req(primary, hook, h)).unwrap();
                    b.prog_close(h).unwrap();
                    continue;
                } else {
                    shared[i * 63 + k]
                };
                b.prog_attach(&attach_req(primary, hook, prog)).unwrap();
            }
        }
    }
    let took = t.elapsed();
    let after = rss_kib();
    let what = if distinct {
        "distinct programs (126,000)"
    } else {
        "126 shared programs"
    };
    println!(
        "1,000 pairs x 63 programs x 2 hooks, {what}: RSS +{:.1} MiB ({:.0} bytes/attachment), built in {:.2} s",
        (after - before) as f64 / 1024.0,
        (after - before) as f64 * 1024.0 / 126_000.0,
        took.as_secs_f64()
    );
    black_box(&b);
}

/// Programs `r0 = -1; exit` run by the eBPF engine, or the built-in `ConstProg`.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Engine,
    BuiltIn,
}

fn transmit(programs: usize, kind: Kind, timed: bool) {
    let mut b = UserBackend::default();
    b.set_run_time_stats(timed);
    let (primary, _) = pair(&mut b);
    for _ in 0..programs {
        let h = match kind {
            Kind::Engine => b.prog_load(&ProgSource::Constant(-1)).unwrap().0,
            Kind::BuiltIn => {
                b.load_classifier("const", std::sync::Arc::new(ConstProg(-1)))
                    .0
            }
        };
        b.prog_attach(&attach_req(primary, Hook::Primary, h))
            .unwrap();
    }
    let dp = b.datapath();
    let mut skb = Skb::from_frame(&frame());
    let n: u64 = if programs > 1 { 200_000 } else { 1_000_000 };
    // Best of five: the machine is shared, the minimum is the least disturbed run.
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..n {
            match dp.xmit(primary, skb) {
                Delivery::ToPeer { skb: back, .. } => skb = back,
                other => panic!("unexpected {other:?}"),
            }
        }
        best = best.min(t.elapsed().as_nanos() as f64 / n as f64);
    }
    let timing = if timed {
        "run time measured"
    } else {
        "run time off"
    };
    let kind = if kind == Kind::Engine {
        "engine"
    } else {
        "built-in"
    };
    println!(
        "xmit, {programs:>2} NEXT programs, {kind:<8} ({timing:<17}) {best:>8.1} ns/packet  {:>6.2} Mpps",
        1e3 / best
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!("== control path (user backend) ==");
    control_ops();
    println!("== memory ==");
    memory(false);
    memory(true);
    println!("== transmit path (Datapath::xmit, programs r0 = -1; exit) ==");
    for (kind, timed) in [
        (Kind::Engine, false),
        (Kind::BuiltIn, false),
        (Kind::Engine, true),
    ] {
        for n in [0, 1, 63] {
            if n > 0 || kind == Kind::Engine {
                transmit(n, kind, timed);
            }
        }
    }
}
