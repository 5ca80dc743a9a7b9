//! `link set PEER netns NS`: moving a pair's peer to another namespace, as a CNI plugin does
//! with a peer created beside the host end (dev_change_net_namespace: the device is closed,
//! keeps its name, which must be free there, and its ifindex).
//!
//! The kernel interface moves first (it has the last word on the name), then the model's
//! device, then the record; the pair's dataplane is restarted on the moved interface, so its
//! carrier watcher and endpoint tables follow the device into its new namespace and traffic
//! flows once the pod brings it up. A failure puts everything back where it was.

use crate::convert::{errno, wire};
use crate::plumbing::MovedTo;
use crate::registry::Registry;
use netkit_core::{Errno, IfIndex};
use netkit_proto::WireError;

impl Registry {
    /// Moves end (`i`, `primary`) to namespace `to` (an `ip netns` name).
    pub(crate) fn move_end(&mut self, i: usize, primary: bool, to: &str) -> Result<(), WireError> {
        if primary {
            // Requests name devices in the daemon's namespace (names.rs): a primary elsewhere
            // could not be named any more.
            return Err(errno(
                Errno::EOPNOTSUPP,
                "the daemon keeps primaries in its namespace: move the peer",
            ));
        }
        let d = &self.devices[i];
        let from = d.rec.create.peer_netns.clone();
        if from.as_deref() == Some(to) {
            return Ok(()); // the same namespace: nothing happens, as in the kernel
        }
        let name = d.rec.create.peer_name.clone().unwrap_or_default();
        if self.end_in(&name, Some(to)).is_some() {
            return Err(errno(
                Errno::EEXIST,
                format!("a device named \"{name}\" exists in namespace {to}"),
            ));
        }
        let rec = d.rec.clone();
        // A pair that failed closed on restore stays so: only a forwarding pair restarts.
        let forwarding = self
            .plumbing
            .is_forwarding(rec.create.name.as_deref().unwrap_or_default());
        let kernel = match self.plumbing.move_peer(&rec, Some(to)) {
            Ok(k) => k,
            Err(e) => {
                self.restart_where_recorded(i, forwarding);
                return Err(e);
            }
        };
        let old = self.devices[i].model_peer;
        let model = match self.move_model_peer(old, from.as_deref(), Some(to), &name) {
            Ok(m) if kernel.is_none_or(|k| k == m.0) => m,
            result => {
                // The model refused, or numbered the device otherwise than the kernel (which
                // the ifindex check before the kernel's move rules out): undo both moves.
                if let Ok(m) = result {
                    let _ = self.move_model_peer(m, Some(to), from.as_deref(), &name);
                }
                if kernel.is_some() {
                    let mut there = rec.clone();
                    there.create.peer_netns = Some(to.to_string());
                    if let Err(e) = self.plumbing.move_peer(&there, from.as_deref()) {
                        eprintln!("netkitd: moving {name} back from {to}: {e}");
                    }
                }
                self.restart_where_recorded(i, forwarding);
                let why = match result {
                    Err(e) => e.to_string(),
                    Ok(m) => format!("the model numbered it {}, the kernel {kernel:?}", m.0),
                };
                return Err(errno(
                    Errno::EBUSY,
                    format!("moving {name} to namespace {to}: {why}"),
                ));
            }
        };
        let dev = &mut self.devices[i];
        dev.model_peer = model;
        dev.rec.create.peer_netns = Some(to.to_string());
        dev.rec.peer_ifindex = kernel.unwrap_or(model.0);
        if forwarding {
            self.start_interfaces_with(i, true)?;
        }
        Ok(())
    }

    /// Follows the ends moved from outside (`ip link set DEV netns NS`, as a CNI plugin may
    /// do): a peer moved to an `ip netns` namespace or the daemon's is moved in the model and
    /// the record and its pair restarted there, as for [`Registry::move_end`]. Where the daemon
    /// cannot follow (a primary, a namespace without a name, an ifindex the kernel changed)
    /// the pair stays without carrier, as the kernel closed the device, and this is logged.
    /// Returns whether anything was followed.
    pub(crate) fn follow_moves(&mut self) -> bool {
        let mut followed = false;
        for m in self.plumbing.moved() {
            let Some((i, true)) = self.end_in(&m.pair, None) else {
                continue;
            };
            let (to, kernel) = match (&m.to, m.primary) {
                (MovedTo::Daemon(k), false) => (None, *k),
                (MovedTo::Named(ns, k), false) => (Some(ns.as_str()), *k),
                (_, primary) => {
                    let end = if primary { "its primary" } else { "its peer" };
                    eprintln!(
                        "netkitd: {end} of pair \"{}\" was moved from outside to {:?}; not \
                         followed: the pair has no carrier until it is moved back",
                        m.pair, m.to
                    );
                    continue;
                }
            };
            match self.follow_peer(i, to, kernel) {
                Ok(()) => followed = true,
                Err(e) => eprintln!(
                    "netkitd: following the peer of \"{}\" to {to:?}: {e}",
                    m.pair
                ),
            }
        }
        followed
    }

    /// The model and the record of pair `i` follow its peer, moved by the kernel to `to`
    /// (`None` = the daemon's namespace) where it has ifindex `kernel`; its dataplane restarts
    /// there.
    fn follow_peer(&mut self, i: usize, to: Option<&str>, kernel: u32) -> Result<(), WireError> {
        let d = &self.devices[i];
        let from = d.rec.create.peer_netns.clone();
        let name = d.rec.create.peer_name.clone().unwrap_or_default();
        if from.as_deref() == to {
            return Ok(());
        }
        if let Some((j, _)) = self.end_in(&name, to) {
            let other = self.devices[j].rec.create.name.clone().unwrap_or_default();
            return Err(errno(
                Errno::EEXIST,
                format!("the record of pair \"{other}\" names a device {name} there"),
            ));
        }
        let rec = d.rec.clone();
        let old = d.model_peer;
        // Our queues of the moved device go; they come back where it is now.
        self.plumbing.stop(&rec, false);
        let model = self.move_model_peer(old, from.as_deref(), to, &name)?;
        if model.0 != kernel {
            let _ = self.move_model_peer(model, to, from.as_deref(), &name);
            return Err(errno(
                Errno::EBUSY,
                format!(
                    "the kernel renumbered it {kernel}, the model {}: not forwarding",
                    model.0
                ),
            ));
        }
        let dev = &mut self.devices[i];
        dev.model_peer = model;
        dev.rec.create.peer_netns = to.map(str::to_string);
        dev.rec.peer_ifindex = kernel;
        self.start_interfaces_with(i, true)
    }

    /// Moves the model's device `ifindex` (of namespace `from`) named `name` to namespace
    /// `to` (`None` = the daemon's); returns its ifindex there.
    fn move_model_peer(
        &mut self,
        ifindex: IfIndex,
        from: Option<&str>,
        to: Option<&str>,
        name: &str,
    ) -> Result<IfIndex, WireError> {
        self.backend.set_caller_netns(from);
        let moved = self.backend.link_set_netns(ifindex, to);
        self.backend.set_caller_netns(to);
        let there = moved.and_then(|()| self.backend.ifindex_by_name(name));
        self.backend.set_caller_netns(None);
        there.map_err(wire)
    }

    /// Forwards pair `i` again, if it was `forwarding`, on its interfaces where its record
    /// says they are (after a move that failed half-way); a failure leaves the pair without
    /// forwarding, which is logged.
    fn restart_where_recorded(&mut self, i: usize, forwarding: bool) {
        let name = self.devices[i].rec.create.name.clone().unwrap_or_default();
        // Still forwarding when the move was refused before it stopped anything.
        if !forwarding || self.plumbing.is_forwarding(&name) {
            return;
        }
        if let Err(e) = self.start_interfaces_with(i, true) {
            eprintln!("netkitd: pair \"{name}\" is not forwarding after a failed move: {e}");
        }
    }
}

#[cfg(test)]
#[path = "moves_tests.rs"]
mod tests;
