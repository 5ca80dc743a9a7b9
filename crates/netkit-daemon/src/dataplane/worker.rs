//! One worker: reads one queue index of both ends, runs the model's transmit path of the end
//! it read from and delivers the result. The loop reuses its buffers; nothing on it allocates or locks except
//! the first use of a kernel redirect target or a neighbour-cache miss.

use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netkit_bpf::skb::{RedirectKind, Skb};
use netkit_core::IfIndex;
use netkit_io::poll::{wait_readable, Waker};
use netkit_io::tun::{TunKind, TunQueue};
use netkit_io::vnet::{VnetHdr, VNET_HDR_LEN};

use super::frame::{self, emit, ingest_in_place};
use super::kernel::NeighResolver;
use super::model::{Delivery, PacketPath};
use super::probe;
use super::stats::WorkerStats;
use super::{Endpoint, Shared};

/// The kernel's limit on nested transmits (XMIT_RECURSION_LIMIT): a redirect chain through
/// our devices longer than this drops.
const MAX_REDIRECT_DEPTH: u32 = 8;
/// Largest frame a TUN/TAP hands us: 64 KiB of GSO packet plus headers.
const RX_BUF: usize = VNET_HDR_LEN + 14 + 65536;

pub(super) struct Worker<P: PacketPath> {
    pub path: Arc<P>,
    pub shared: Arc<Shared>,
    /// Both ends of the pair: the worker reads queue `queue` of each and runs that end's
    /// transmit path on what it reads.
    pub ends: [Arc<Endpoint>; 2],
    pub queue: usize,
    pub stop: Arc<AtomicBool>,
    pub waker: Arc<Waker>,
    pub stats: Arc<WorkerStats>,
    /// How long to keep polling the queues without sleeping after the last packet (zero:
    /// sleep in poll() as soon as both are empty). See [`super::Dataplane::with_busy_poll`].
    pub busy_poll: Duration,
}

/// Per-worker scratch state.
struct Scratch {
    spare: Option<Skb>,
    neigh: NeighResolver,
}

fn fresh_skb() -> Skb {
    let mut skb = Skb::from_frame(&[]);
    skb.buf.reserve(RX_BUF + 64);
    skb
}

/// Frames read from one side before looking at the other, so neither starves.
const BATCH: usize = 32;

enum Read {
    Packet,
    Empty,
    /// The device is gone (deleted, or its queue detached): nothing more comes.
    Gone,
}

impl<P: PacketPath> Worker<P> {
    /// Serves queue `queue` of both ends. One thread for both directions means a reply that
    /// the receiving stack produces while we write the request (it runs in our write call)
    /// is picked up without waking another thread.
    pub fn run(self) {
        let sides: Vec<(Arc<Endpoint>, Arc<TunQueue>)> = self
            .ends
            .iter()
            .filter_map(|ep| Some((ep.clone(), ep.queues.get(self.queue)?.clone())))
            .collect();
        let mut open = vec![true; sides.len()];
        let mut s = Scratch {
            spare: Some(fresh_skb()),
            neigh: NeighResolver::default(),
        };
        let mut ready = [false; 3];
        let mut last_packet = Instant::now();
        while !self.stop.load(Relaxed) {
            let mut busy = false;
            for (i, (ep, q)) in sides.iter().enumerate() {
                for _ in 0..BATCH {
                    if !open[i] {
                        break;
                    }
                    let read = self.read_one(&mut s, ep, q);
                    probe::after_read(matches!(read, Read::Packet));
                    match read {
                        Read::Packet => busy = true,
                        Read::Empty => break,
                        Read::Gone => open[i] = false,
                    }
                }
            }
            if !open.iter().any(|o| *o) {
                return;
            }
            if busy {
                if !self.busy_poll.is_zero() {
                    last_packet = Instant::now();
                }
                continue;
            }
            if !self.busy_poll.is_zero() && last_packet.elapsed() < self.busy_poll {
                // Traffic was flowing a moment ago: the next packet most likely comes
                // sooner than a sleep and wake-up would take.
                std::hint::spin_loop();
                continue;
            }
            // Both queues (at most) and the waker.
            let mut fds = [self.waker.as_fd(); 3];
            let mut n = 0;
            for ((_, q), _) in sides.iter().zip(&open).filter(|(_, o)| **o) {
                fds[n] = q.as_fd();
                n += 1;
            }
            fds[n] = self.waker.as_fd();
            if wait_readable(&fds[..=n], -1, &mut ready).is_err() {
                return;
            }
        }
    }

    /// Reads one frame from `q` (a queue of `ep`) straight into a packet buffer, after the
    /// headroom, and sends it through `ep`'s transmit path.
    fn read_one(&self, s: &mut Scratch, ep: &Arc<Endpoint>, q: &TunQueue) -> Read {
        let mut skb = s.spare.take().unwrap_or_else(fresh_skb);
        skb.buf.clear();
        skb.buf.resize(frame::rx_offset(ep.kind, ep.vnet_len), 0);
        skb.buf.reserve(RX_BUF);
        match q.recv_append(&mut skb.buf) {
            Ok(n) => {
                self.packet(s, ep, skb, n);
                Read::Packet
            }
            Err(e) => {
                s.spare = Some(skb);
                match e.kind() {
                    ErrorKind::WouldBlock | ErrorKind::Interrupted => Read::Empty,
                    _ => Read::Gone,
                }
            }
        }
    }

    fn packet(&self, s: &mut Scratch, ep: &Endpoint, mut skb: Skb, n: usize) {
        WorkerStats::inc(&self.stats.rx_frames);
        self.stats
            .rx_bytes
            .fetch_add(n.saturating_sub(ep.vnet_len) as u64, Relaxed);
        match ingest_in_place(&mut skb, ep.kind, ep.vnet_len) {
            Ok(vnet) => {
                let head = skb.head;
                self.transmit(s, ep, skb, vnet, head, 0);
            }
            Err(_) => {
                WorkerStats::inc(&self.stats.dropped_malformed);
                s.spare = Some(skb);
            }
        }
    }

    /// Runs `dev`'s transmit path and acts on the delivery.
    fn transmit(
        &self,
        s: &mut Scratch,
        dev: &Endpoint,
        skb: Skb,
        vnet: VnetHdr,
        head: usize,
        depth: u32,
    ) {
        let st = &self.stats;
        match self.path.xmit(dev.dev, skb) {
            Delivery::ToPeer { peer, skb } => match self.shared.endpoint(dev.peer_nsid, peer) {
                Some(ep) => {
                    WorkerStats::inc(&st.to_peer);
                    self.write(s, &ep, skb, vnet, head);
                }
                None => {
                    WorkerStats::inc(&st.dropped_no_target);
                    s.spare = Some(skb);
                }
            },
            Delivery::Redirect { target, kind, skb } => {
                self.redirect(s, dev, target, kind, skb, vnet, head, depth)
            }
            Delivery::Drop { skb, .. } => {
                WorkerStats::inc(&st.dropped_xmit);
                s.spare = Some(skb);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn redirect(
        &self,
        s: &mut Scratch,
        dev: &Endpoint,
        target: IfIndex,
        kind: RedirectKind,
        mut skb: Skb,
        vnet: VnetHdr,
        head: usize,
        depth: u32,
    ) {
        let st = &self.stats;
        // Targets are in the namespace of `dev`'s other end (where skb->dev is).
        if let Some(ep) = self.shared.endpoint(dev.peer_nsid, target) {
            match kind {
                RedirectKind::Ingress => {
                    WorkerStats::inc(&st.redirect_ours);
                    self.write(s, &ep, skb, vnet, head);
                }
                _ if depth >= MAX_REDIRECT_DEPTH => {
                    WorkerStats::inc(&st.dropped_loop);
                    s.spare = Some(skb);
                }
                _ => {
                    WorkerStats::inc(&st.redirect_ours);
                    self.transmit(s, &ep, skb, vnet, head, depth + 1);
                }
            }
            return;
        }
        // A kernel interface in the namespace of `dev`'s other end.
        let (ns, nsid) = (&dev.peer_netns, dev.peer_nsid);
        let nh = match kind {
            RedirectKind::Ingress | RedirectKind::Peer => {
                WorkerStats::inc(&st.dropped_ingress_kernel);
                s.spare = Some(skb);
                return;
            }
            RedirectKind::Egress => None,
            RedirectKind::Neigh(nh) => Some(nh),
        };
        let Some(kt) = self.shared.kernel.get(ns, nsid, target.0) else {
            WorkerStats::inc(&st.dropped_no_target);
            s.spare = Some(skb);
            return;
        };
        if let Some(nh) = nh {
            let dst = frame::ip_dst(skb.data());
            let Some(mac) = s.neigh.resolve(ns, nsid, target.0, dst, nh) else {
                WorkerStats::inc(&st.dropped_neigh);
                s.spare = Some(skb);
                return;
            };
            if let Some(eth) = skb.data_mut().get_mut(..12) {
                eth[..6].copy_from_slice(&mac);
                eth[6..].copy_from_slice(&kt.mac);
            }
        }
        match emit(&mut skb, vnet, head, TunKind::Tap, VNET_HDR_LEN) {
            Ok(bytes) => match kt.sock.send(bytes) {
                Ok(_) => WorkerStats::inc(&st.redirect_kernel),
                Err(_) => WorkerStats::inc(&st.write_errors),
            },
            Err(_) => WorkerStats::inc(&st.dropped_malformed),
        }
        s.spare = Some(skb);
    }

    /// Delivers `skb` as received on `ep` (written into its queue).
    fn write(&self, s: &mut Scratch, ep: &Endpoint, mut skb: Skb, vnet: VnetHdr, head: usize) {
        match emit(&mut skb, vnet, head, ep.kind, ep.vnet_len) {
            Ok(bytes) => {
                let q = &ep.queues[self.queue % ep.queues.len()];
                if q.send(bytes).is_err() {
                    WorkerStats::inc(&self.stats.write_errors);
                }
            }
            Err(_) => WorkerStats::inc(&self.stats.dropped_malformed),
        }
        s.spare = Some(skb);
    }
}
