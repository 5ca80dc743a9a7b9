//! What the dataplane needs of the device model: run a device's transmit path on a packet and
//! learn where it goes (netkit-core's [`Delivery`]), and hear about admin-state changes of
//! the real interfaces. The daemon implements it over the model's lock-free `Datapath`.

use netkit_bpf::skb::Skb;
use netkit_core::xmit::NetnsId;
use netkit_core::IfIndex;

pub use netkit_core::Delivery;

/// One of the model's devices: its namespace (the model's number for it) and its ifindex
/// there, the kernel's ifindex of the interface that backs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DevRef {
    pub netns: NetnsId,
    pub ifindex: IfIndex,
}

/// The model's per-packet entry points. Implementations take no lock and allocate nothing
/// per packet; programs and their arrays may be swapped concurrently.
pub trait PacketPath: Send + Sync + 'static {
    /// Runs `dev`'s transmit path (its programs, or its policy) on `skb`. The ifindexes in the
    /// delivery are the other end's (`ToPeer`) or one in the other end's namespace (`Redirect`).
    fn xmit(&self, dev: DevRef, skb: Skb) -> Delivery;

    /// The administrative state of one of our devices changed (the transmit path drops when
    /// the other end is down). Called from the carrier watcher, never per packet.
    fn set_admin_up(&self, dev: DevRef, up: bool);
}
