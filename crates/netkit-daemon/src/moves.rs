//! `link set PEER netns NS`: moving a pair's peer to another namespace, as a CNI plugin does
//! with a peer created beside the host end (dev_change_net_namespace: the device is closed,
//! keeps its name, which must be free there, and its ifindex).
//!
//! The kernel interface moves first (it has the last word on the name), then the model's
//! device, then the record; the pair's dataplane is restarted on the moved interface, so its
//! carrier watcher and endpoint tables follow the device into its new namespace and traffic
//! flows once the pod brings it up. A failure puts everything back where it was.

use crate::convert::{errno, wire};
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
        if !forwarding {
            return;
        }
        if let Err(e) = self.start_interfaces_with(i, true) {
            let name = self.devices[i].rec.create.name.clone().unwrap_or_default();
            eprintln!("netkitd: pair \"{name}\" is not forwarding after a failed move: {e}");
        }
    }
}

#[cfg(test)]
#[path = "moves_tests.rs"]
mod tests;
