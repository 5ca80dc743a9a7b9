//! What the dataplane needs of the device model: run a device's transmit path on a packet and
//! learn where it goes (netkit-core's [`Delivery`]), and hear about admin-state changes of
//! the real interfaces. The daemon implements it over the model's lock-free `Datapath`.

use netkit_bpf::skb::Skb;
use netkit_core::IfIndex;

pub use netkit_core::Delivery;

/// The model's per-packet entry points. Implementations take no lock and allocate nothing
/// per packet; programs and their arrays may be swapped concurrently.
pub trait PacketPath: Send + Sync + 'static {
    /// Runs `dev`'s transmit path (its programs, or its policy) on `skb`.
    fn xmit(&self, dev: IfIndex, skb: Skb) -> Delivery;

    /// The administrative state of one of our devices changed (the transmit path drops when
    /// the other end is down). Called from the carrier watcher, never per packet.
    fn set_admin_up(&self, dev: IfIndex, up: bool);
}
