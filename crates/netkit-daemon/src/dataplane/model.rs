//! What the dataplane needs of the device model: run a device's transmit path on a packet and
//! learn where it goes (netkit-core's [`Delivery`]), and hear about admin-state changes of
//! the real interfaces. [`ModelPath`] adapts the user-space model's lock-free [`Datapath`].

use std::sync::mpsc::Sender;

use netkit_bpf::skb::Skb;
use netkit_core::{Datapath, IfIndex};

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

/// An admin-state change of a real interface, for the control path to apply to the model
/// (`UserBackend::link_set_up`), which it owns exclusively.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdminChange {
    pub dev: IfIndex,
    pub up: bool,
}

/// The user-space model's datapath, with admin changes sent to the control path.
pub struct ModelPath {
    pub datapath: Datapath,
    pub admin: Sender<AdminChange>,
}

impl PacketPath for ModelPath {
    fn xmit(&self, dev: IfIndex, skb: Skb) -> Delivery {
        self.datapath.xmit(dev, skb)
    }

    fn set_admin_up(&self, dev: IfIndex, up: bool) {
        // The receiver lives as long as the plumbing; after that nothing needs to know.
        let _ = self.admin.send(AdminChange { dev, up });
    }
}
