//! The transmit path of a netkit device (spec/netkit.md §2): a pure function from a packet to
//! a [`Delivery`]. No I/O, no callbacks, no locks, no allocation per packet.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use arc_swap::ArcSwap;
use netkit_bpf::skb::{pkt_type, RedirectKind, Skb};

use crate::device::DevId;
use crate::prog::Prog;
use crate::types::{IfIndex, Stats};

/// Verdicts (`enum netkit_action`).
pub const NEXT: i32 = -1;
pub const PASS: i32 = 0;
pub const DROP: i32 = 2;
pub const REDIRECT: i32 = 7;

/// A namespace as the model knows it: an interned `ip netns` name, 0 = the initial one.
pub type NetnsId = u32;

/// The datapath's view of one netkit device. Control operations change it through atomics
/// and by publishing a new program array; a packet reads each value once.
#[derive(Debug)]
pub struct DevPath {
    pub id: DevId,
    /// The ifindex in the device's namespace (changes only on a namespace move).
    pub(crate) ifindex: AtomicU32,
    /// The device's programs in run order, swapped whole on every change (RCU-like).
    pub progs: ArcSwap<Vec<Arc<Prog>>>,
    pub(crate) policy: AtomicI32,
    pub(crate) up: AtomicBool,
    pub(crate) mac: AtomicU64,
    pub(crate) netns: AtomicU32,
    /// The other end's [`DevId`], 0 = none (single mode, or teardown).
    pub(crate) peer: AtomicU32,
    /// NETKIT_SCRUB_DEFAULT; false = NETKIT_SCRUB_NONE.
    pub(crate) scrub: bool,
    /// Pre-6.12.y scrubbing (no scrub attributes): priority is always cleared.
    pub(crate) legacy_scrub: bool,
    pub(crate) stats: AtomicStats,
}

/// Per-device counters (the kernel's per-CPU tstats plus the core drop counter).
#[derive(Debug, Default)]
pub struct AtomicStats {
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    tx_dropped: AtomicU64,
}

impl AtomicStats {
    pub fn snapshot(&self) -> Stats {
        Stats {
            rx_packets: self.rx_packets.load(Relaxed),
            rx_bytes: self.rx_bytes.load(Relaxed),
            tx_packets: self.tx_packets.load(Relaxed),
            tx_bytes: self.tx_bytes.load(Relaxed),
            tx_dropped: self.tx_dropped.load(Relaxed),
            rx_dropped: 0,
        }
    }

    fn tx(&self, len: u64) {
        self.tx_packets.fetch_add(1, Relaxed);
        self.tx_bytes.fetch_add(len, Relaxed);
    }

    fn rx(&self, len: u64) {
        self.rx_packets.fetch_add(1, Relaxed);
        self.rx_bytes.fetch_add(len, Relaxed);
    }

    pub(crate) fn drop_tx(&self) {
        self.tx_dropped.fetch_add(1, Relaxed);
    }
}

pub(crate) fn mac_to_u64(mac: [u8; 6]) -> u64 {
    let mut b = [0u8; 8];
    b[2..].copy_from_slice(&mac);
    u64::from_be_bytes(b)
}

pub(crate) fn mac_from_u64(v: u64) -> [u8; 6] {
    let b = v.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

impl DevPath {
    pub fn stats(&self) -> Stats {
        self.stats.snapshot()
    }

    pub fn ifindex(&self) -> IfIndex {
        IfIndex(self.ifindex.load(Relaxed))
    }

    pub fn netns(&self) -> NetnsId {
        self.netns.load(Relaxed)
    }

    pub fn peer(&self) -> Option<DevId> {
        match self.peer.load(Relaxed) {
            0 => None,
            i => Some(DevId(i)),
        }
    }
}

/// Hashes an ifindex by one multiplication: keys are small trusted integers, so the per-packet
/// lookups need no DoS-resistant (and slower) SipHash.
#[derive(Default)]
pub struct IfIndexHasher(u64);

impl Hasher for IfIndexHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8 | u64::from(*b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u32(&mut self, v: u32) {
        // Folds in what came before, so that a (namespace, ifindex) key hashes both halves.
        self.0 = (self.0.rotate_left(32) ^ u64::from(v)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

/// A map keyed by ifindex.
pub type IfIndexMap<V> = HashMap<IfIndex, V, BuildHasherDefault<IfIndexHasher>>;
/// Where a device is: its namespace and its ifindex there (ifindexes are per namespace).
pub type DevKey = (NetnsId, IfIndex);
type FastHash = BuildHasherDefault<IfIndexHasher>;

/// Every device a redirect can name, as one immutable snapshot republished by the control
/// path whenever devices appear, disappear or are re-paired.
#[derive(Debug, Default, Clone)]
pub struct DevTable {
    /// Netkit devices by model id: how one end finds the other.
    pub by_id: HashMap<DevId, Arc<DevPath>, FastHash>,
    /// Netkit devices by namespace and ifindex: how a redirect target is found.
    pub netkit: HashMap<DevKey, Arc<DevPath>, FastHash>,
    /// Other devices (not netkit). Loopback (ifindex 1) exists in every namespace and is not
    /// listed.
    pub foreign: HashSet<DevKey, FastHash>,
    /// Whether a redirect target unknown here is left to the caller, which knows the kernel's
    /// interfaces (the daemon's dataplane); otherwise it drops.
    pub external: bool,
}

impl DevTable {
    /// Whether `ifindex` names a device in namespace `netns`.
    pub fn exists_in(&self, ifindex: IfIndex, netns: NetnsId) -> bool {
        ifindex == IfIndex(1)
            || self.foreign.contains(&(netns, ifindex))
            || self.netkit.contains_key(&(netns, ifindex))
    }
}

/// Why the transmit path dropped a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The device is unknown (deleted while the packet was in flight).
    NoDevice,
    /// No other end (single mode or teardown).
    NoPeer,
    /// The other end is administratively down.
    PeerDown,
    /// Shorter than an Ethernet header.
    Runt,
    /// The device's policy (DROP) with no program attached.
    Policy,
    /// A program returned DROP or a value that is no verdict.
    Verdict(i32),
    /// REDIRECT without a usable target in the receiving end's namespace.
    RedirectTarget,
    /// `bpf_redirect_peer` from a netkit program (needs tc ingress context).
    RedirectPeer,
}

/// Where a packet goes after the transmit path. `skb.meta.ifindex` is the device it is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Into the other end's receive path (Ethernet header still in front); `peer` is its
    /// ifindex in its own namespace.
    ToPeer { peer: IfIndex, skb: Skb },
    /// Out of (`Egress`, `Neigh`) or into (`Ingress`) another device, in the receiving end's
    /// namespace: one of the model's devices or, with [`DevTable::external`], possibly a
    /// kernel interface the caller resolves.
    Redirect {
        target: IfIndex,
        kind: RedirectKind,
        skb: Skb,
    },
    /// Dropped: `skb` comes back so the caller can reuse its buffer for the next packet.
    Drop { reason: DropReason, skb: Skb },
}

impl Delivery {
    /// Why the packet was dropped; `None` if it was delivered or redirected.
    pub fn drop_reason(&self) -> Option<DropReason> {
        match self {
            Delivery::Drop { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    /// The packet, whatever became of it.
    pub fn into_skb(self) -> Skb {
        match self {
            Delivery::ToPeer { skb, .. }
            | Delivery::Redirect { skb, .. }
            | Delivery::Drop { skb, .. } => skb,
        }
    }
}

/// Clears the packet's metadata as `netkit_prep_forward` does (spec/netkit.md §2.2).
fn scrub(dev: &DevPath, skb: &mut Skb, xnet: bool) {
    let m = &mut skb.meta;
    m.pkt_type = pkt_type::HOST;
    m.ingress_ifindex = 0;
    if dev.legacy_scrub {
        // 6.7 – 6.12.3: priority always, mark across namespaces.
        m.priority = 0;
        if xnet {
            m.mark = 0;
        }
    } else if xnet && dev.scrub {
        // NETKIT_SCRUB_DEFAULT: both, and only across namespaces.
        m.mark = 0;
        m.priority = 0;
    }
    // A receive timestamp (REALTIME) is zeroed across namespaces; delivery times survive.
    if xnet && m.tstamp_type == 0 {
        m.tstamp = 0;
    }
}

/// `eth_skb_pkt_type` against the receiving end's address.
fn classify_dst(skb: &mut Skb, peer_mac: [u8; 6]) {
    let dst: [u8; 6] = skb.data()[..6].try_into().unwrap_or_default();
    if dst != peer_mac {
        skb.meta.pkt_type = if dst[0] & 1 == 0 {
            pkt_type::OTHERHOST
        } else if dst == [0xff; 6] {
            pkt_type::BROADCAST
        } else {
            pkt_type::MULTICAST
        };
    }
}

/// Runs the chain: NEXT continues, anything else is the verdict; all NEXT stays NEXT.
fn run_chain(progs: &[Arc<Prog>], skb: &mut Skb, timed: bool) -> i32 {
    for prog in progs {
        let verdict = prog.run(skb, timed);
        if verdict != NEXT {
            return verdict;
        }
    }
    NEXT
}

/// `netkit_xmit`: transmits `skb` (Ethernet header first) through `dev`.
#[doc(alias = "netkit_xmit")]
pub fn xmit(table: &DevTable, dev: &DevPath, mut skb: Skb, timed: bool) -> Delivery {
    let len = skb.len() as u64;
    skb.redirect = None;
    let peer = match dev.peer().and_then(|p| table.by_id.get(&p)) {
        Some(p) => p,
        None => return dropped(dev, DropReason::NoPeer, skb),
    };
    if !peer.up.load(Relaxed) {
        return dropped(dev, DropReason::PeerDown, skb);
    }
    if skb.len() < 14 {
        return dropped(dev, DropReason::Runt, skb);
    }
    let peer_ns = peer.netns.load(Relaxed);
    scrub(dev, &mut skb, dev.netns.load(Relaxed) != peer_ns);
    classify_dst(&mut skb, mac_from_u64(peer.mac.load(Relaxed)));
    let peer_ifindex = peer.ifindex();
    skb.meta.ifindex = peer_ifindex.0;
    let progs = dev.progs.load();
    let verdict = if progs.is_empty() {
        dev.policy.load(Relaxed)
    } else {
        run_chain(&progs, &mut skb, timed)
    };
    match verdict {
        NEXT | PASS => {
            dev.stats.tx(len);
            peer.stats.rx(len);
            Delivery::ToPeer {
                peer: peer_ifindex,
                skb,
            }
        }
        REDIRECT => {
            dev.stats.tx(len);
            // The request is consumed; D already counted tx whatever happens to it.
            match skb.redirect.take() {
                Some(r)
                    if r.ifindex == 0
                        || !(table.external || table.exists_in(IfIndex(r.ifindex), peer_ns)) =>
                {
                    Delivery::Drop {
                        reason: DropReason::RedirectTarget,
                        skb,
                    }
                }
                Some(r) if r.kind == RedirectKind::Peer => Delivery::Drop {
                    reason: DropReason::RedirectPeer,
                    skb,
                },
                Some(r) => Delivery::Redirect {
                    target: IfIndex(r.ifindex),
                    kind: r.kind,
                    skb,
                },
                None => Delivery::Drop {
                    reason: DropReason::RedirectTarget,
                    skb,
                },
            }
        }
        _ if progs.is_empty() => dropped(dev, DropReason::Policy, skb),
        v => dropped(dev, DropReason::Verdict(v), skb),
    }
}

fn dropped(dev: &DevPath, reason: DropReason, skb: Skb) -> Delivery {
    dev.stats.drop_tx();
    Delivery::Drop { reason, skb }
}
