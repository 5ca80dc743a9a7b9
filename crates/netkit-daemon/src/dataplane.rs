//! The user-space datapath: moves packets between the TUN/TAP devices of netkit pairs through
//! the device model's transmit path.
//!
//! For each pair, one worker per queue index serves both ends: it reads a frame from one end, turns it into
//! an `Skb` (L3: synthesised Ethernet header; GSO size and segments from the virtio-net
//! header), runs the model's transmit path of that end and acts on the delivery: write into
//! the other end, redirect to another of our devices (egress through its transmit path, or
//! ingress into it), egress out of a kernel interface through a packet socket (with
//! `redirect_neigh` filling the Ethernet header from the kernel's tables), or drop and count.
//! Ingress into a kernel interface cannot be done from user space: it is a counted drop.
//!
//! A carrier thread per pair keeps carrier on only while both ends are admin-up and deletes
//! the other end when one is deleted from outside.

mod carrier;
pub mod frame;
pub mod kernel;
pub mod model;
mod probe;
pub mod stats;
mod worker;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use arc_swap::ArcSwap;
use netkit_core::IfIndex;
use netkit_io::netns::{NetNs, NsId};
use netkit_io::poll::Waker;
use netkit_io::tun::{TunDevice, TunKind, TunQueue};

pub use model::{Delivery, DevRef, PacketPath};
#[doc(hidden)]
pub use probe::{set_packet_probe, PacketProbe};
pub use stats::DataplaneStats;
use stats::WorkerStats;

/// Errors of the dataplane's control operations (the packet path counts instead).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Io(#[from] netkit_io::Error),
    /// A device is already forwarded by a running pair.
    #[error("device {0:?} is already in a running pair")]
    Busy(IfIndex),
    #[error("the two ends must be of one kind (both TUN or both TAP)")]
    KindMismatch,
    #[error("cannot start worker thread: {0}")]
    Spawn(String),
}

/// One end of a pair as the workers see it.
#[derive(Debug)]
pub(crate) struct Endpoint {
    /// The model's device.
    dev: DevRef,
    /// This end's namespace.
    nsid: NsId,
    kind: TunKind,
    vnet_len: usize,
    queues: Vec<Arc<TunQueue>>,
    /// Namespace of the other end: redirect targets from this end's transmit path are
    /// resolved there (skb->dev is the other end while the programs run).
    peer_netns: NetNs,
    peer_nsid: NsId,
}

/// State shared by every worker of every pair.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Our devices by namespace and ifindex, read lock-free, republished when pairs start or
    /// stop.
    ours: ArcSwap<HashMap<(NsId, IfIndex), Arc<Endpoint>>>,
    publish: Mutex<()>,
    kernel: kernel::KernelTargets,
}

impl Shared {
    /// Our device `dev` in namespace `ns`.
    fn endpoint(&self, ns: NsId, dev: IfIndex) -> Option<Arc<Endpoint>> {
        self.ours.load().get(&(ns, dev)).cloned()
    }

    fn update<T>(&self, f: impl FnOnce(&mut HashMap<(NsId, IfIndex), Arc<Endpoint>>) -> T) -> T {
        let _guard = self.publish.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = HashMap::clone(&self.ours.load());
        let out = f(&mut next);
        self.ours.store(Arc::new(next));
        out
    }

    /// Publishes both ends of a pair, unless one of the devices is already running.
    fn register(&self, eps: &[Arc<Endpoint>; 2]) -> Result<(), Error> {
        self.update(|m| {
            if let Some(ep) = eps.iter().find(|ep| m.contains_key(&ep.key())) {
                return Err(Error::Busy(ep.dev.ifindex));
            }
            for ep in eps {
                m.insert(ep.key(), ep.clone());
            }
            Ok(())
        })
    }
}

impl Endpoint {
    fn key(&self) -> (NsId, IfIndex) {
        (self.nsid, self.dev.ifindex)
    }
}

/// The devices of one pair, with the model's ids for them.
#[derive(Debug)]
pub struct PairIo {
    pub primary: (DevRef, TunDevice),
    pub peer: (DevRef, TunDevice),
}

/// The datapath of all pairs of a process.
#[derive(Debug, Default)]
pub struct Dataplane {
    shared: Arc<Shared>,
    /// SCHED_FIFO priority for workers (None: normal scheduling).
    realtime: Option<i32>,
    /// How long workers keep polling after the last packet before sleeping.
    busy_poll: std::time::Duration,
}

/// A pair being forwarded. Stop it to get the devices back.
#[derive(Debug)]
pub struct PairRunning {
    shared: Arc<Shared>,
    devs: [DevRef; 2],
    tuns: [Arc<TunDevice>; 2],
    nsids: [NsId; 2],
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    deleted: Arc<AtomicBool>,
    /// Per end, the namespace (nsfs inode) it was moved to from outside; 0 while not moved.
    moved: Arc<[AtomicU64; 2]>,
    workers: Vec<JoinHandle<()>>,
    carrier: Option<JoinHandle<()>>,
    stats: Vec<Arc<WorkerStats>>,
    halted: bool,
}

/// How many queues (and so workers) each new pair's devices get: one per CPU, unless the
/// environment sets `NETKIT_DATAPLANE_QUEUES=N` (1..=256), read here beside the other
/// `NETKIT_DATAPLANE_*` knobs.
pub fn queues_per_device() -> usize {
    std::env::var("NETKIT_DATAPLANE_QUEUES")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| (1..=netkit_io::tun::MAX_QUEUES).contains(n))
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

impl Dataplane {
    /// A dataplane with no pairs. Workers run at SCHED_FIFO priority N when the environment
    /// sets `NETKIT_DATAPLANE_RT_PRIO=N` (see [`Dataplane::with_realtime`]).
    pub fn new() -> Dataplane {
        let rt = std::env::var("NETKIT_DATAPLANE_RT_PRIO")
            .ok()
            .and_then(|v| v.parse().ok());
        let busy_us = std::env::var("NETKIT_DATAPLANE_BUSY_POLL_US")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Dataplane {
            realtime: rt,
            busy_poll: std::time::Duration::from_micros(busy_us),
            ..Dataplane::default()
        }
    }

    /// Makes workers started from now on keep polling their queues for `window` after the
    /// last packet instead of sleeping in poll(): a packet arriving within the window is
    /// picked up without a thread wake-up (lower latency), at the price of a CPU kept busy
    /// for that long after traffic stops. Zero (the default) sleeps at once.
    pub fn with_busy_poll(mut self, window: std::time::Duration) -> Dataplane {
        self.busy_poll = window;
        self
    }

    /// Runs workers started from now on at SCHED_FIFO `priority`: a woken worker preempts
    /// ordinary tasks, as packet processing in the kernel's softirq does, which cuts latency
    /// on a busy machine. Falls back to normal scheduling where the kernel refuses.
    pub fn with_realtime(mut self, priority: i32) -> Dataplane {
        self.realtime = Some(priority);
        self
    }

    /// Starts forwarding `io` through `path`: one worker per queue index (both directions) and the
    /// carrier watcher. The devices are registered as redirect targets for every pair.
    pub fn start_pair<P: PacketPath>(
        &self,
        path: Arc<P>,
        io: PairIo,
    ) -> Result<PairRunning, Error> {
        let PairIo { primary, peer } = io;
        if primary.1.kind() != peer.1.kind() {
            return Err(Error::KindMismatch);
        }
        let devs = [primary.0, peer.0];
        let tuns = [Arc::new(primary.1), Arc::new(peer.1)];
        let nsids = [tuns[0].netns().id()?, tuns[1].netns().id()?];
        let endpoint = |i: usize| {
            let (me, other) = (&tuns[i], &tuns[1 - i]);
            Arc::new(Endpoint {
                dev: devs[i],
                nsid: nsids[i],
                kind: me.kind(),
                vnet_len: me.vnet_hdr_len(),
                queues: me.queues().to_vec(),
                peer_netns: other.netns().clone(),
                peer_nsid: nsids[1 - i],
            })
        };
        let eps = [endpoint(0), endpoint(1)];
        let waker = Arc::new(Waker::new()?);
        self.shared.register(&eps)?;
        let mut running = PairRunning {
            shared: self.shared.clone(),
            devs,
            tuns: tuns.clone(),
            nsids,
            stop: Arc::new(AtomicBool::new(false)),
            waker,
            deleted: Arc::new(AtomicBool::new(false)),
            moved: Arc::new([AtomicU64::new(0), AtomicU64::new(0)]),
            workers: Vec::new(),
            carrier: None,
            stats: Vec::new(),
            halted: false,
        };
        // On any error below, dropping `running` stops what was started.
        let ends = [0, 1].map(|i| carrier::End {
            dev: devs[i],
            tun: tuns[i].clone(),
            nsid: nsids[i],
        });
        running.carrier = Some(carrier::spawn(
            path.clone(),
            ends,
            running.stop.clone(),
            running.waker.clone(),
            running.deleted.clone(),
            running.moved.clone(),
        )?);
        let nqueues = eps[0].queues.len().max(eps[1].queues.len());
        let (realtime, busy_poll) = (self.realtime, self.busy_poll);
        for q in 0..nqueues {
            let stats = Arc::new(WorkerStats::default());
            running.stats.push(stats.clone());
            let w = worker::Worker {
                path: path.clone(),
                shared: self.shared.clone(),
                ends: eps.clone(),
                queue: q,
                stop: running.stop.clone(),
                waker: running.waker.clone(),
                stats,
                busy_poll,
            };
            let h = std::thread::Builder::new()
                .name(format!("nk-{}-q{q}", tuns[0].name()))
                .spawn(move || {
                    if let Some(prio) = realtime {
                        // Best effort: without the privilege the worker runs normally.
                        let _ = netkit_io::poll::set_realtime(prio);
                    }
                    w.run()
                })
                .map_err(|e| Error::Spawn(e.to_string()))?;
            running.workers.push(h);
        }
        Ok(running)
    }

    /// Forgets cached kernel redirect targets (after interfaces were deleted or recreated).
    pub fn refresh_kernel_targets(&self) {
        self.shared.kernel.clear();
    }
}

impl PairRunning {
    /// Counters summed over the pair's workers.
    pub fn stats(&self) -> DataplaneStats {
        let mut total = DataplaneStats::default();
        for w in &self.stats {
            total.add(w);
        }
        total
    }

    /// Counters of each worker, by queue index.
    pub fn worker_stats(&self) -> Vec<DataplaneStats> {
        self.stats
            .iter()
            .map(|w| {
                let mut one = DataplaneStats::default();
                one.add(w);
                one
            })
            .collect()
    }

    /// True once an end was deleted from outside (the other end has been deleted too).
    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Relaxed)
    }

    /// Where each end (primary, peer) was moved from outside (`ip link set DEV netns NS`)
    /// since the last call, if it was.
    pub fn take_moved(&self) -> [Option<NsId>; 2] {
        [0, 1].map(|i| {
            Some(self.moved[i].swap(0, Relaxed))
                .filter(|&n| n != 0)
                .map(NsId)
        })
    }

    /// The devices, (primary, peer).
    pub fn devices(&self) -> (&TunDevice, &TunDevice) {
        (&self.tuns[0], &self.tuns[1])
    }

    /// Stops and joins the threads and unregisters the devices; idempotent.
    fn halt(&mut self) {
        if self.halted {
            return;
        }
        self.halted = true;
        self.stop.store(true, Relaxed);
        let _ = self.waker.wake();
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
        if let Some(h) = self.carrier.take() {
            let _ = h.join();
        }
        let keys = [0, 1].map(|i| (self.nsids[i], self.devs[i].ifindex));
        self.shared.update(|m| {
            for k in keys {
                m.remove(&k);
            }
        });
    }

    /// Stops the workers and the carrier watcher and returns the devices (primary, peer),
    /// which keep existing (delete them, or keep them persistent for a restart).
    pub fn stop(mut self) -> Result<PairIo, Error> {
        self.halt();
        let [a, b] = self.tuns.clone();
        let devs = self.devs;
        drop(self);
        let unwrap = |t: Arc<TunDevice>| {
            Arc::try_unwrap(t).map_err(|_| Error::Spawn("a device handle is still shared".into()))
        };
        Ok(PairIo {
            primary: (devs[0], unwrap(a)?),
            peer: (devs[1], unwrap(b)?),
        })
    }
}

impl Drop for PairRunning {
    fn drop(&mut self) {
        self.halt();
    }
}
