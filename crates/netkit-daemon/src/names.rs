//! Device names are unique per namespace, as in the kernel (`__dev_get_by_name` looks in one
//! namespace's name hash): a CNI plugin gives every pod its `eth0`, so two pairs may well have
//! peers of the same name in different pods, while a second `eth0` in the same pod is EEXIST.
//!
//! Requests name devices in the daemon's namespace, as `ip link` does in its own: the
//! primaries, and peers created beside them. A peer in a pod is reached through its primary.
//! As before pods could share names, a pod's peer is also found by its own name while no
//! device of the daemon's namespace has that name and exactly one pod has it; a name several
//! pods have names none of them, and the error lists the primaries to use instead.

use crate::convert::errno;
use crate::registry::Registry;
use netkit_core::Errno;
use netkit_proto::{LinkAddReq, WireError};

/// An end of a recorded pair: its index in the registry's devices and whether it is the
/// primary.
pub(crate) type EndRef = (usize, bool);

impl Registry {
    /// The end named `name` in namespace `netns` (an `ip netns` name; `None` = the daemon's).
    pub(crate) fn end_in(&self, name: &str, netns: Option<&str>) -> Option<EndRef> {
        self.devices.iter().enumerate().find_map(|(i, d)| {
            let c = &d.rec.create;
            if netns.is_none() && c.name.as_deref() == Some(name) {
                Some((i, true))
            } else if c.peer_netns.as_deref() == netns && c.peer_name.as_deref() == Some(name) {
                Some((i, false))
            } else {
                None
            }
        })
    }

    /// Every end a request's `name` may mean: the daemon namespace's device of that name, else
    /// the peers of that name in pods (in the order the pairs were created).
    pub(crate) fn ends_named(&self, name: &str) -> Vec<EndRef> {
        if let Some(end) = self.end_in(name, None) {
            return vec![end];
        }
        self.devices
            .iter()
            .enumerate()
            .filter(|(_, d)| {
                d.rec.create.peer_netns.is_some() && d.rec.create.peer_name.as_deref() == Some(name)
            })
            .map(|(i, _)| (i, false))
            .collect()
    }

    /// The one end `name` means, if it means exactly one.
    pub(crate) fn find_device(&self, name: &str) -> Option<EndRef> {
        match self.ends_named(name)[..] {
            [one] => Some(one),
            _ => None,
        }
    }

    /// The one end `name` means; ENODEV naming the name when it means none, or several
    /// (peers of that name in several pods), listing their primaries.
    pub(crate) fn device(&self, name: &str) -> Result<EndRef, WireError> {
        let ends = self.ends_named(name);
        match ends[..] {
            [one] => Ok(one),
            [] => Err(errno(
                Errno::ENODEV,
                format!("cannot find device \"{name}\""),
            )),
            _ => {
                let owners: Vec<String> = ends
                    .iter()
                    .map(|&(i, _)| {
                        let c = &self.devices[i].rec.create;
                        format!(
                            "{} (netns {})",
                            c.name.as_deref().unwrap_or_default(),
                            c.peer_netns.as_deref().unwrap_or_default()
                        )
                    })
                    .collect();
                Err(errno(
                    Errno::ENODEV,
                    format!(
                        "cannot find device \"{name}\" in the daemon's namespace; the peers of {} \
                         have that name in their namespaces: name a primary",
                        owners.join(", ")
                    ),
                ))
            }
        }
    }

    /// EEXIST naming the name when a name `r` asks for is taken in the namespace it would be
    /// created in (the primary in the daemon's, the peer in `peer_netns`), also by the other
    /// end of the same request.
    pub(crate) fn check_names_free(&self, r: &LinkAddReq) -> Result<(), WireError> {
        let exists = |name: &str, netns: Option<&str>| {
            let place = netns.map_or(String::new(), |ns| format!(" in namespace {ns}"));
            errno(
                Errno::EEXIST,
                format!("a device named \"{name}\" exists{place}"),
            )
        };
        let peer_ns = r.peer_netns.as_deref();
        if let Some(name) = &r.name {
            if self.end_in(name, None).is_some() {
                return Err(exists(name, None));
            }
        }
        if let Some(peer) = &r.peer_name {
            if self.end_in(peer, peer_ns).is_some() {
                return Err(exists(peer, peer_ns));
            }
            if peer_ns.is_none() && r.name.as_ref() == Some(peer) {
                return Err(exists(peer, None));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "names_tests.rs"]
mod tests;
