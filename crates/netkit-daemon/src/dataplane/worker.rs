//! One worker: reads one queue of one end, runs the model's transmit path for that end and
//! delivers the result. The loop reuses its buffers; nothing on it allocates or locks except
//! the first use of a kernel redirect target or a neighbour-cache miss.

use std::io::ErrorKind;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use netkit_bpf::skb::{RedirectKind, Skb};
use netkit_core::IfIndex;
use netkit_io::poll::{wait_readable, Waker};
use netkit_io::tun::{TunKind, TunQueue};
use netkit_io::vnet::{VnetHdr, VNET_HDR_LEN};

use super::frame::{self, emit, ingest_in_place};
use super::kernel::NeighResolver;
use super::model::{Delivery, PacketPath};
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
    /// The end this worker reads from (its transmit path runs on what it reads).
    pub src: Arc<Endpoint>,
    pub queue: usize,
    pub stop: Arc<AtomicBool>,
    pub waker: Arc<Waker>,
    pub stats: Arc<WorkerStats>,
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

impl<P: PacketPath> Worker<P> {
    pub fn run(self) {
        let queue: Arc<TunQueue> = self.src.queues[self.queue % self.src.queues.len()].clone();
        let mut s = Scratch {
            spare: Some(fresh_skb()),
            neigh: NeighResolver::default(),
        };
        let mut ready = [false; 2];
        let rx_off = frame::rx_offset(self.src.kind, self.src.vnet_len);
        while !self.stop.load(Relaxed) {
            let mut skb = s.spare.take().unwrap_or_else(fresh_skb);
            // The frame is read straight into the packet buffer, after the headroom.
            skb.buf.clear();
            skb.buf.resize(rx_off, 0);
            skb.buf.reserve(RX_BUF);
            let got = queue.recv_append(&mut skb.buf);
            let Ok(n) = got else {
                s.spare = Some(skb);
                match got {
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        if wait_readable(&[queue.as_fd(), self.waker.as_fd()], -1, &mut ready)
                            .is_err()
                        {
                            return;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    // The device is gone (deleted, or its queue detached): nothing more comes.
                    _ => return,
                }
                continue;
            };
            self.packet(&mut s, skb, n);
        }
    }

    fn packet(&self, s: &mut Scratch, mut skb: Skb, n: usize) {
        WorkerStats::inc(&self.stats.rx_frames);
        self.stats
            .rx_bytes
            .fetch_add(n.saturating_sub(self.src.vnet_len) as u64, Relaxed);
        match ingest_in_place(&mut skb, self.src.kind, self.src.vnet_len) {
            Ok(vnet) => {
                let head = skb.head;
                self.transmit(s, &self.src, skb, vnet, head, 0);
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
            Delivery::ToPeer { peer, skb } => match self.shared.endpoint(peer) {
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
            Delivery::Drop => WorkerStats::inc(&st.dropped_xmit),
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
        if let Some(ep) = self.shared.endpoint(target) {
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
