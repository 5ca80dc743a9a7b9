//! What the dataplane needs of the device model: run a device's transmit path on a packet and
//! learn where it goes. The shape follows netkit-core's `xmit` (`Delivery`), so the model's
//! handle implements [`PacketPath`] directly.

use netkit_bpf::skb::{RedirectKind, Skb};
use netkit_core::IfIndex;

/// Where a packet goes after a device's transmit path.
#[derive(Debug)]
pub enum Delivery {
    /// Into the receive path of `peer` (the device's other end); Ethernet header in front.
    ToPeer { peer: IfIndex, skb: Skb },
    /// Out of (`Egress`, `Neigh`) or into (`Ingress`) `target`, an ifindex in the namespace of
    /// the transmitting device's other end.
    Redirect {
        target: IfIndex,
        kind: RedirectKind,
        skb: Skb,
    },
    /// Dropped by the transmit path (counted by the model).
    Drop,
}

/// The model's per-packet entry points. Implementations take no lock and allocate nothing
/// per packet; programs and their arrays may be swapped concurrently.
pub trait PacketPath: Send + Sync + 'static {
    /// Runs `dev`'s transmit path (its programs, or its policy) on `skb`.
    fn xmit(&self, dev: IfIndex, skb: Skb) -> Delivery;

    /// The administrative state of one of our devices changed (the transmit path drops when
    /// the other end is down).
    fn set_admin_up(&self, dev: IfIndex, up: bool);
}
