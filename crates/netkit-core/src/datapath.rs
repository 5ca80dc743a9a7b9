//! The lock-free packet path over a [`crate::UserBackend`]'s devices: a cheap clone that
//! transmits packets concurrently with the control path, without taking any lock.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use arc_swap::ArcSwap;
use netkit_bpf::skb::Skb;

use crate::types::{IfIndex, Stats};
use crate::xmit::{xmit, Delivery, DevTable, DropReason, NetnsId};

/// The lock-free packet path over a [`crate::UserBackend`]'s devices.
#[derive(Clone)]
pub struct Datapath {
    pub(crate) table: Arc<ArcSwap<DevTable>>,
    pub(crate) timed: Arc<AtomicBool>,
}

impl Datapath {
    /// Transmits `skb` through netkit device `dev` of the initial namespace (see
    /// [`crate::xmit::xmit`]).
    pub fn xmit(&self, dev: IfIndex, skb: Skb) -> Delivery {
        self.xmit_in(0, dev, skb)
    }

    /// Transmits `skb` through netkit device `dev` of namespace `netns`
    /// ([`crate::UserBackend::netns_id`]).
    pub fn xmit_in(&self, netns: NetnsId, dev: IfIndex, skb: Skb) -> Delivery {
        let table = self.table.load();
        match table.netkit.get(&(netns, dev)) {
            Some(d) => xmit(&table, d, skb, self.timed.load(Relaxed)),
            None => Delivery::Drop {
                reason: DropReason::NoDevice,
                skb,
            },
        }
    }

    /// Counters of a netkit device of the initial namespace.
    pub fn stats(&self, dev: IfIndex) -> Option<Stats> {
        self.stats_in(0, dev)
    }

    /// Counters of netkit device `dev` of namespace `netns`.
    pub fn stats_in(&self, netns: NetnsId, dev: IfIndex) -> Option<Stats> {
        self.table
            .load()
            .netkit
            .get(&(netns, dev))
            .map(|d| d.stats())
    }
}
