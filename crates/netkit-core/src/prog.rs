//! Loaded programs as the device model runs them: a [`Classifier`] plus id and run statistics.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use netkit_bpf::skb::Skb;

use crate::types::ProgId;

/// Anything that can classify a packet: the eBPF engine's programs, or the built-in
/// [`ConstProg`]. Runs on untrusted input and must never panic.
pub trait Classifier: Send + Sync {
    /// Runs once on `skb` and returns the verdict (NETKIT_NEXT -1, PASS 0, DROP 2,
    /// REDIRECT 7, or any other value, which netkit treats as drop).
    fn run(&self, skb: &mut Skb) -> i32;
}

/// The built-in program `r0 = value; exit`, standing in until the eBPF engine runs real
/// bytecode for [`crate::ProgSource::Constant`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConstProg(pub i32);

impl Classifier for ConstProg {
    fn run(&self, _skb: &mut Skb) -> i32 {
        self.0
    }
}

/// A loaded SCHED_CLS program. Shared (`Arc`) between handles, attachments, links and the
/// datapath snapshots: it lives as long as any of them refers to it.
pub struct Prog {
    pub id: ProgId,
    pub name: String,
    classifier: Arc<dyn Classifier>,
    run_cnt: AtomicU64,
    run_time_ns: AtomicU64,
}

/// `bpf_prog_info`'s run statistics (`run_cnt`, `run_time_ns`), as `bpftool prog show` prints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProgStats {
    pub run_cnt: u64,
    pub run_time_ns: u64,
}

impl Prog {
    pub fn new(id: ProgId, name: impl Into<String>, classifier: Arc<dyn Classifier>) -> Prog {
        Prog {
            id,
            name: name.into(),
            classifier,
            run_cnt: AtomicU64::new(0),
            run_time_ns: AtomicU64::new(0),
        }
    }

    /// Runs the program; with `timed`, also accounts its run time (kernel.bpf_stats_enabled).
    pub fn run(&self, skb: &mut Skb, timed: bool) -> i32 {
        self.run_cnt.fetch_add(1, Ordering::Relaxed);
        if !timed {
            return self.guarded_run(skb);
        }
        let start = Instant::now();
        let verdict = self.guarded_run(skb);
        let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.run_time_ns.fetch_add(ns, Ordering::Relaxed);
        verdict
    }

    /// A classifier must not panic; if one does anyway, the packet is dropped (NETKIT_DROP)
    /// and the datapath carries on: untrusted programs never take the process down.
    fn guarded_run(&self, skb: &mut Skb) -> i32 {
        std::panic::catch_unwind(AssertUnwindSafe(|| self.classifier.run(skb))).unwrap_or(2)
    }

    pub fn stats(&self) -> ProgStats {
        ProgStats {
            run_cnt: self.run_cnt.load(Ordering::Relaxed),
            run_time_ns: self.run_time_ns.load(Ordering::Relaxed),
        }
    }
}

impl std::fmt::Debug for Prog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prog")
            .field("id", &self.id)
            .field("name", &self.name)
            .finish()
    }
}
