//! The real-interface side of a pair: creating (or reattaching) the TUN/TAP interfaces and
//! running the dataplane that moves their packets through the model. The registry calls it
//! after the model accepted a new pair and before the pair is recorded.

use netkit_core::{IfIndex, Mode, UserBackend};
use netkit_proto::WireError;

use crate::persist::DeviceRecord;

/// What the plumbing needs to know about a pair the model created.
#[derive(Clone, Debug)]
pub struct PairSpec {
    pub name: String,
    pub peer_name: String,
    pub peer_netns: Option<String>,
    pub mode: Mode,
    /// The model's ifindexes: the kernel's when real interfaces back the pair.
    pub model_primary: IfIndex,
    pub model_peer: IfIndex,
    /// On restore: the kernel ifindexes the pair had (persistent interfaces keep them).
    pub expect: Option<(u32, u32)>,
    /// On creation: the ifindexes asked for (`index N`; 0: the kernel picks), primary and peer.
    pub ask: (u32, u32),
}

/// An end moved to another namespace from outside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Moved {
    /// The pair, by its primary's name.
    pub pair: String,
    /// Whether the primary moved (else the peer).
    pub primary: bool,
    pub to: MovedTo,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MovedTo {
    /// The daemon's namespace, where the end has kernel ifindex `.0`.
    Daemon(u32),
    /// The `ip netns` namespace `.0`, where the end has kernel ifindex `.1`.
    Named(String, u32),
    /// A namespace without an `ip netns` name (or one the end left again): not followed.
    Elsewhere,
}

pub trait Plumbing: Send {
    /// Creates (or reattaches) the pair's interfaces without forwarding them yet, so that the
    /// model's pair can be created at their ifindexes. Returns the kernel ifindexes of the
    /// primary and the peer, or `None` when nothing real backs the pair (the model then
    /// numbers it). The model ifindexes of `pair` are not known yet and are ignored.
    fn open(&mut self, pair: &PairSpec) -> Result<Option<(u32, u32)>, WireError> {
        let _ = pair;
        Ok(None)
    }
    /// Starts forwarding the pair's interfaces (opened by [`Plumbing::open`], else created or
    /// reattached now; their ifindexes must be the model's). Returns the kernel ifindexes of
    /// the primary and the peer, or `None` when nothing real backs the pair.
    fn start(
        &mut self,
        backend: &mut UserBackend,
        pair: &PairSpec,
    ) -> Result<Option<(u32, u32)>, WireError>;
    /// Stops forwarding; with `delete` also removes the interfaces.
    fn stop(&mut self, pair: &DeviceRecord, delete: bool);
    /// Moves the peer interface of `pair` (forwarding or not) to namespace `to` (an
    /// `ip netns` name; `None` = the daemon's) under its name and ifindex; the pair is not
    /// forwarded afterwards until started again (with `expect`, which reattaches it where it
    /// is then). Returns the kernel ifindex it has there, or `None` when nothing real backs the
    /// pair.
    fn move_peer(
        &mut self,
        pair: &DeviceRecord,
        to: Option<&str>,
    ) -> Result<Option<u32>, WireError> {
        let _ = (pair, to);
        Ok(None)
    }
    /// Pairs (by primary name) whose interfaces were deleted from outside.
    fn deleted(&mut self) -> Vec<String> {
        Vec::new()
    }
    /// Ends moved to another namespace from outside (`ip link set DEV netns NS`) since the
    /// last call.
    fn moved(&mut self) -> Vec<Moved> {
        Vec::new()
    }
    /// Whether pairs are backed by real interfaces.
    fn is_real(&self) -> bool;
    /// Whether the pair whose primary is `name` is being forwarded.
    fn is_forwarding(&self, name: &str) -> bool {
        let _ = name;
        self.is_real()
    }
}

/// Pairs exist in the model only (`netkitd --model-only`): the control plane is complete, no
/// interfaces are created and no packets flow.
pub struct ModelOnly;

impl Plumbing for ModelOnly {
    fn start(
        &mut self,
        _backend: &mut UserBackend,
        _pair: &PairSpec,
    ) -> Result<Option<(u32, u32)>, WireError> {
        Ok(None)
    }

    fn stop(&mut self, _pair: &DeviceRecord, _delete: bool) {}

    fn is_real(&self) -> bool {
        false
    }
}
