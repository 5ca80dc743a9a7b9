//! The daemon's registry: every device, program and BPF link it owns, the backend that runs
//! them, and the durable record of all of it.
//!
//! Clients see the daemon's ids (program ids, link ids), which survive restarts; the backend's
//! own ids and handles are an internal detail, translated at this boundary. Every mutating
//! request either succeeds and is saved before the answer goes out, or fails and leaves the
//! registry and the backend as they were.

use crate::convert::{self, errno, wire};
use crate::ids::{LinkId, MapId, ProgId};
use crate::persist::{
    DeviceRecord, HookEntry, HookRecord, LinkRecord, ProgRecord, State, StateDir,
};
use crate::plumbing::Plumbing;
use netkit_core::{self as core, Backend, Errno, Handle, IfIndex, UserBackend};
use netkit_proto::{self as proto, Hook, Response, WireError};
use std::collections::BTreeMap;

pub(crate) struct Device {
    pub rec: DeviceRecord,
    /// The model's ifindexes (the backend's view): the kernel's when interfaces back the pair.
    pub model_primary: IfIndex,
    pub model_peer: IfIndex,
}

pub(crate) struct Prog {
    pub rec: ProgRecord,
    pub handle: Handle,
    pub backend_id: core::ProgId,
    pub loaded: crate::engine::Loaded,
}

pub(crate) struct Link {
    pub rec: LinkRecord,
    pub handle: Handle,
    pub backend_id: core::LinkId,
}

pub struct Registry {
    pub(crate) backend: UserBackend,
    pub(crate) plumbing: Box<dyn Plumbing>,
    pub(crate) dir: StateDir,
    pub(crate) devices: Vec<Device>,
    pub(crate) progs: BTreeMap<ProgId, Prog>,
    pub(crate) links: BTreeMap<LinkId, Link>,
    pub(crate) maps: crate::maps::Maps,
    pub(crate) next_prog_id: ProgId,
    pub(crate) next_link_id: LinkId,
    pub(crate) next_map_id: MapId,
    /// Set while the saved state is being brought back.
    restoring: bool,
    last_saved: Option<State>,
}

type Reply = Result<Response, WireError>;

impl Registry {
    /// A registry over `backend`, restoring what `dir` holds.
    pub fn open(
        backend: UserBackend,
        plumbing: Box<dyn Plumbing>,
        dir: StateDir,
    ) -> Result<Registry, String> {
        let state = dir.load()?;
        let mut reg = Registry {
            backend,
            plumbing,
            dir,
            devices: Vec::new(),
            progs: BTreeMap::new(),
            links: BTreeMap::new(),
            next_prog_id: state.next_prog_id.max(ProgId(1)),
            next_link_id: state.next_link_id.max(LinkId(1)),
            next_map_id: state.next_map_id.max(MapId(1)),
            maps: crate::maps::Maps::default(),
            restoring: true,
            last_saved: None,
        };
        crate::restore::restore(&mut reg, &state);
        reg.restoring = false;
        Ok(reg)
    }

    /// Serves one request.
    pub fn handle(&mut self, req: proto::Request) -> Reply {
        use proto::Request as R;
        self.reap_deleted();
        let mutating = !matches!(
            req,
            R::Hello
                | R::LinkShow { .. }
                | R::ProgShow { .. }
                | R::ProgQuery { .. }
                | R::ProgTracelog { .. }
                | R::BpflinkShow { .. }
                | R::MapShow { .. }
                | R::MapDump { .. }
                | R::MapLookup { .. }
        );
        let reply = match req {
            R::Hello => Ok(Response::Hello {
                protocol: proto::PROTOCOL_VERSION,
                daemon: format!("netkitd {}", env!("CARGO_PKG_VERSION")),
            }),
            R::LinkAdd(r) => self.link_add(r),
            R::LinkSet(r) => self.link_set(r),
            R::LinkDel { name } => self.link_del(&name),
            R::LinkShow { name } => self.link_show(name.as_deref()),
            R::ProgLoad(r) => self.prog_load(r),
            R::ProgShow { id } => crate::views::prog_show(self, id.map(ProgId)),
            R::ProgUnload { id } => self.prog_unload(ProgId(id)),
            R::ProgAttach(r) => self.prog_attach(r),
            R::ProgDetach(r) => self.prog_detach(r),
            R::ProgQuery { dev, hook } => self.prog_query(&dev, hook).map(Response::Query),
            R::ProgTracelog { id } => self.tracelog(id.map(ProgId)),
            R::BpflinkCreate(r) => self.bpflink_create(r),
            R::BpflinkUpdate {
                id,
                prog_id,
                old_prog_id,
            } => self.bpflink_update(LinkId(id), ProgId(prog_id), old_prog_id.map(ProgId)),
            R::BpflinkDetach { id } => self.bpflink_detach(LinkId(id)),
            R::BpflinkShow { id } => crate::views::bpflink_show(self, id.map(LinkId)),
            R::MapShow { id } => self.maps.show(id.map(MapId)),
            R::MapDump { id } => self.maps.dump(MapId(id)),
            R::MapLookup { id, key } => self.maps.lookup(MapId(id), &key),
            R::MapUpdate {
                id,
                key,
                value,
                flag,
            } => self.maps.update(MapId(id), &key, &value, flag),
            R::MapDelete { id, key } => self.maps.delete(MapId(id), &key),
        };
        if reply.is_ok() && mutating {
            self.save().map_err(|e| {
                errno(
                    Errno::EFAULT,
                    format!("the change was made but saving the state failed: {e}"),
                )
            })?;
        }
        reply
    }

    /// Writes the durable state (see [`State`]).
    pub fn save(&mut self) -> std::io::Result<()> {
        let state = self.snapshot();
        self.dir.save(&state)?;
        self.last_saved = Some(state);
        Ok(())
    }

    /// Measures program run time (`run_time_ns` in `prog show`) while the host's
    /// `kernel.bpf_stats_enabled` is 1, the knob that turns it on for the kernel's programs:
    /// one `sysctl -w kernel.bpf_stats_enabled=1` covers both. Timing costs two clock reads per
    /// program run, hence off by default, as in the kernel. Run counts are always kept.
    pub fn follow_bpf_stats(&mut self) {
        self.backend.set_run_time_stats(bpf_stats_enabled());
    }

    /// Saves when something changed since the last save: map contents change with traffic,
    /// so the daemon calls this periodically.
    pub fn save_if_changed(&mut self) -> std::io::Result<()> {
        let state = self.snapshot();
        if self.last_saved.as_ref() == Some(&state) {
            return Ok(());
        }
        self.dir.save(&state)?;
        self.last_saved = Some(state);
        Ok(())
    }

    pub(crate) fn snapshot(&self) -> State {
        let mut hooks = Vec::new();
        for d in &self.devices {
            for hook in [Hook::Primary, Hook::Peer] {
                let Ok(q) = self.prog_query(&d.rec.create.name.clone().unwrap_or_default(), hook)
                else {
                    continue;
                };
                if q.progs.is_empty() {
                    continue;
                }
                hooks.push(HookRecord {
                    dev: q.dev,
                    hook,
                    entries: q
                        .progs
                        .iter()
                        .map(|e| HookEntry {
                            prog_id: ProgId(e.prog_id),
                            link_id: e.link_id.map(LinkId),
                        })
                        .collect(),
                });
            }
        }
        State {
            version: crate::persist::STATE_VERSION,
            next_prog_id: self.next_prog_id,
            next_link_id: self.next_link_id,
            devices: self.devices.iter().map(|d| d.rec.clone()).collect(),
            progs: self.progs.values().map(|p| p.rec.clone()).collect(),
            hooks,
            links: self.links.values().map(|l| l.rec.clone()).collect(),
            maps: self.maps.records(),
            next_map_id: self.next_map_id,
        }
    }

    // --- devices ---

    pub(crate) fn link_add(&mut self, r: proto::LinkAddReq) -> Reply {
        let created = self.create_pair(&r, None)?;
        let views = [
            crate::views::link_view(self, created, true)?,
            crate::views::link_view(self, created, false)?,
        ];
        Ok(Response::Links {
            links: views.into(),
        })
    }

    /// Creates a pair in the model and on real interfaces; returns its index in `devices`.
    /// `restored` carries the record of a pair being brought back after a restart.
    pub(crate) fn create_pair(
        &mut self,
        r: &proto::LinkAddReq,
        restored: Option<&DeviceRecord>,
    ) -> Result<usize, WireError> {
        // Names are per namespace (see names.rs): the peer's only collides in its own.
        self.check_names_free(r)?;
        // A restored pair comes back with the policies it had, not the ones it was created
        // with, so no packet meets a stale policy.
        let policy = restored.map(|d| d.policy).or(r.policy);
        let peer_policy = restored.map(|d| d.peer_policy).or(r.peer_policy);
        let mut new = core::NewLink {
            name: r.name.clone(),
            mode: r.mode.map(convert::mode_raw),
            policy: policy.map(convert::policy_raw),
            peer_policy: peer_policy.map(convert::policy_raw),
            scrub: r.scrub.map(convert::scrub_raw),
            peer_scrub: r.peer_scrub.map(convert::scrub_raw),
            headroom: r.headroom,
            tailroom: r.tailroom,
            address: restored.and_then(|d| d.address).map(Vec::from),
            peer: Some(core::PeerInfo {
                name: r.peer_name.clone(),
                netns: r.peer_netns.clone(),
                address: restored.and_then(|d| d.peer_address).map(Vec::from),
                ifindex: r.peer_ifindex.unwrap_or(0),
                ..core::PeerInfo::default()
            }),
            ifindex: r.ifindex.unwrap_or(0),
            ..core::NewLink::default()
        };
        let (at, opened) = self.open_interfaces(r, restored, &mut new)?;
        let created = match self.backend.link_add_at(&new, at) {
            Ok(c) => c,
            Err(e) => {
                if let Some(rec) = opened {
                    self.plumbing.stop(&rec, true);
                }
                return Err(wire(e));
            }
        };
        let Some(peer) = created.peer else {
            let _ = self.backend.link_del(created.primary);
            return Err(errno(
                Errno::EOPNOTSUPP,
                "the backend created a pair without a peer",
            ));
        };
        let peer_info = self.link_get_in(peer, r.peer_netns.as_deref());
        let (p, q) = match (self.backend.link_get(created.primary), peer_info) {
            (Ok(p), Ok(q)) => (p, q),
            (Err(e), _) | (_, Err(e)) => {
                let _ = self.backend.link_del(created.primary);
                return Err(wire(e));
            }
        };
        let mut create = r.clone();
        create.name = Some(p.name.clone());
        create.peer_name = Some(q.name.clone());
        create.mode = Some(convert::mode(p.mode));
        self.devices.push(Device {
            rec: DeviceRecord {
                create,
                policy: convert::policy(p.policy),
                peer_policy: convert::policy(q.policy),
                ifindex: restored.map_or(created.primary.0, |d| d.ifindex),
                peer_ifindex: restored.map_or(peer.0, |d| d.peer_ifindex),
                address: (p.mode == core::Mode::L2).then_some(p.address),
                peer_address: (q.mode == core::Mode::L2).then_some(q.address),
            },
            model_primary: created.primary,
            model_peer: peer,
        });
        let i = self.devices.len() - 1;
        if restored.is_none() {
            if let Err(e) = self.start_interfaces(i) {
                let dev = self.devices.remove(i);
                let _ = self.backend.link_del(dev.model_primary);
                // The interfaces were created for this pair: they go with it.
                self.plumbing.stop(&dev.rec, true);
                return Err(e);
            }
        }
        Ok(self.devices.len() - 1)
    }

    /// The ifindexes a pair is created at in the model: a restored pair's recorded ones (its
    /// persistent interfaces keep them); for a new pair backed by interfaces, theirs, which
    /// this creates first under the names the model assigns (filled into `new`). Also returns
    /// the record to delete the opened interfaces by, should the model refuse the pair.
    fn open_interfaces(
        &mut self,
        r: &proto::LinkAddReq,
        restored: Option<&DeviceRecord>,
        new: &mut core::NewLink,
    ) -> Result<(core::IfIndexRequest, Option<DeviceRecord>), WireError> {
        let signed = |i: u32| i32::try_from(i).unwrap_or(-1);
        if let Some(d) = restored {
            let at = core::IfIndexRequest {
                primary: signed(d.ifindex),
                peer: signed(d.peer_ifindex),
            };
            return Ok((at, None));
        }
        // Without interfaces the model numbers the pair, at the ifindexes asked for if any.
        let asked = core::IfIndexRequest {
            primary: new.ifindex,
            peer: new.peer.as_ref().map_or(0, |p| p.ifindex),
        };
        if !self.plumbing.is_real() {
            return Ok((asked, None));
        }
        // A trial creation assigns the names (templates, defaults) and checks the request.
        let trial = self.backend.link_add(new).map_err(wire)?;
        let names = (
            self.backend.link_get(trial.primary).map(|p| p.name),
            trial
                .peer
                .map(|q| self.link_get_in(q, r.peer_netns.as_deref()).map(|q| q.name)),
        );
        let _ = self.backend.link_del(trial.primary);
        let (Ok(name), Some(Ok(peer_name))) = names else {
            return Err(errno(
                Errno::EOPNOTSUPP,
                "a pair needs a primary and a peer",
            ));
        };
        new.name = Some(name.clone());
        if let Some(p) = new.peer.as_mut() {
            p.name = Some(peer_name.clone());
        }
        let spec = crate::plumbing::PairSpec {
            name: name.clone(),
            peer_name: peer_name.clone(),
            peer_netns: r.peer_netns.clone(),
            mode: if r.mode == Some(proto::Mode::L2) {
                core::Mode::L2
            } else {
                core::Mode::L3
            },
            model_primary: IfIndex(0),
            model_peer: IfIndex(0),
            expect: None,
            // The interfaces are the model's devices: they are created at the ifindexes asked
            // for (the trial above refused negative ones; as in the kernel, a peer's number
            // counts only with the primary's).
            ask: match (u32::try_from(asked.primary), u32::try_from(asked.peer)) {
                (Ok(p), Ok(q)) if p != 0 => (p, q),
                _ => (0, 0),
            },
        };
        let Some((p, q)) = self.plumbing.open(&spec)? else {
            return Ok((asked, None));
        };
        let mut create = r.clone();
        create.name = Some(name);
        create.peer_name = Some(peer_name);
        let rec = DeviceRecord {
            create,
            policy: proto::Policy::Forward,
            peer_policy: proto::Policy::Forward,
            ifindex: p,
            peer_ifindex: q,
            address: None,
            peer_address: None,
        };
        let at = core::IfIndexRequest {
            primary: signed(p),
            peer: signed(q),
        };
        Ok((at, Some(rec)))
    }

    /// Creates (or, for a restored pair, reattaches) pair `i`'s interfaces and starts
    /// forwarding them.
    pub(crate) fn start_interfaces(&mut self, i: usize) -> Result<(), WireError> {
        self.start_interfaces_with(i, self.restoring)
    }

    /// [`Registry::start_interfaces`]; with `reattach` the interfaces exist (a restore, a
    /// move) and are reattached where the record says, at the ifindexes it says.
    pub(crate) fn start_interfaces_with(
        &mut self,
        i: usize,
        reattach: bool,
    ) -> Result<(), WireError> {
        let d = &self.devices[i];
        let spec = crate::plumbing::PairSpec {
            name: d.rec.create.name.clone().unwrap_or_default(),
            peer_name: d.rec.create.peer_name.clone().unwrap_or_default(),
            peer_netns: d.rec.create.peer_netns.clone(),
            mode: if d.rec.create.mode == Some(proto::Mode::L2) {
                core::Mode::L2
            } else {
                core::Mode::L3
            },
            model_primary: d.model_primary,
            model_peer: d.model_peer,
            expect: reattach.then_some((d.rec.ifindex, d.rec.peer_ifindex)),
            ask: (0, 0),
        };
        if let Some((primary, peer)) = self.plumbing.start(&mut self.backend, &spec)? {
            let rec = &mut self.devices[i].rec;
            rec.ifindex = primary;
            rec.peer_ifindex = peer;
        }
        Ok(())
    }

    /// Drops pair `i` from the model and the record (its interfaces are not running).
    pub(crate) fn forget_pair(&mut self, i: usize) {
        let dev = self.devices.remove(i);
        let _ = self.backend.link_del(dev.model_primary);
        let name = dev.rec.create.name.unwrap_or_default();
        self.release_links(&name);
    }

    /// Releases the BPF links of a deleted pair: they are defunct, and the daemon holds no
    /// defunct links (see docs/cli.md).
    fn release_links(&mut self, primary_name: &str) {
        let dead: Vec<LinkId> = self
            .links
            .iter()
            .filter(|(_, l)| l.rec.dev == primary_name)
            .map(|(id, _)| *id)
            .collect();
        for id in dead {
            if let Some(l) = self.links.remove(&id) {
                let _ = self.backend.link_close(l.handle);
            }
        }
    }

    /// An interface went administratively up or down (seen by the dataplane): the model's
    /// device follows, so its transmit path drops while the other end is down.
    pub fn set_admin_up(&mut self, dev: crate::dataplane::DevRef, up: bool) {
        let backend = &mut self.backend;
        let Some(ns) = self.devices.iter().find_map(|d| {
            let peer_ns = d.rec.create.peer_netns.clone();
            let peer_id = backend.netns_id(peer_ns.as_deref());
            if dev.netns == peer_id && d.model_peer == dev.ifindex {
                Some(peer_ns)
            } else if dev.netns == 0 && d.model_primary == dev.ifindex {
                Some(None)
            } else {
                None
            }
        }) else {
            return;
        };
        self.backend.set_caller_netns(ns.as_deref());
        // ENOTCONN (no peer) cannot happen for a recorded pair; nothing to report to anyone.
        let _ = self.backend.link_set_up(dev.ifindex, up);
        self.backend.set_caller_netns(None);
    }

    /// Forgets pairs whose interfaces were deleted from outside (`ip link del`): deleting
    /// either end deletes both, in the model too.
    ///
    /// A deleted pod namespace (`ip netns del`) deletes its pairs too: the daemon's own handles
    /// keep the namespace alive, so its disappearance from /run/netns is the signal, where the
    /// kernel would delete the pair when the namespace dies.
    pub fn reap_deleted(&mut self) {
        if self.follow_moves() {
            if let Err(e) = self.save() {
                eprintln!("netkitd: saving the state after an outside move: {e}");
            }
        }
        let mut gone = self.plumbing.deleted();
        if self.plumbing.is_real() {
            for d in &self.devices {
                let ns_gone = d
                    .rec
                    .create
                    .peer_netns
                    .as_ref()
                    .is_some_and(|ns| !std::path::Path::new("/run/netns").join(ns).exists());
                if ns_gone {
                    gone.extend(d.rec.create.name.clone());
                }
            }
        }
        if gone.is_empty() {
            return;
        }
        for name in gone {
            let _ = self.link_del(&name);
        }
        if let Err(e) = self.save() {
            eprintln!("netkitd: saving the state after an outside deletion: {e}");
        }
    }

    /// `link_get` as seen from namespace `netns` (the model resolves ifindexes per namespace).
    pub(crate) fn link_get_in(
        &mut self,
        ifindex: IfIndex,
        netns: Option<&str>,
    ) -> Result<core::LinkInfo, core::Error> {
        if netns.is_none() {
            return self.backend.link_get(ifindex);
        }
        self.backend.set_caller_netns(netns);
        let info = self.backend.link_get(ifindex);
        self.backend.set_caller_netns(None);
        info
    }

    pub(crate) fn link_set(&mut self, r: proto::LinkSetReq) -> Reply {
        let (i, primary) = self.device(&r.name)?;
        if r.policy.is_some() || r.peer_policy.is_some() {
            self.set_policies(i, primary, &r)?;
        }
        if let Some(to) = &r.netns {
            self.move_end(i, primary, to)?;
        }
        Ok(Response::Done)
    }

    fn set_policies(
        &mut self,
        i: usize,
        primary: bool,
        r: &proto::LinkSetReq,
    ) -> Result<(), WireError> {
        let dev = &self.devices[i];
        let ifindex = if primary {
            dev.model_primary
        } else {
            dev.model_peer
        };
        let change = core::ChangeLink {
            policy: r.policy.map(convert::policy_raw),
            peer_policy: r.peer_policy.map(convert::policy_raw),
            ..core::ChangeLink::default()
        };
        let result = self.backend.link_change(ifindex, &change).map_err(wire);
        // Read back what the model holds now, also after a failure (the kernel may have
        // committed POLICY before rejecting PEER_POLICY).
        let (pi, qi) = (dev.model_primary, dev.model_peer);
        let ns = dev.rec.create.peer_netns.clone();
        if let (Ok(p), Ok(q)) = (
            self.backend.link_get(pi),
            self.link_get_in(qi, ns.as_deref()),
        ) {
            let rec = &mut self.devices[i].rec;
            rec.policy = convert::policy(p.policy);
            rec.peer_policy = convert::policy(q.policy);
        }
        result
    }

    pub(crate) fn link_del(&mut self, name: &str) -> Reply {
        let (i, _) = self.device(name)?;
        let primary_name = self.devices[i].rec.create.name.clone().unwrap_or_default();
        self.backend
            .link_del(self.devices[i].model_primary)
            .map_err(wire)?;
        let dev = self.devices.remove(i);
        self.plumbing.stop(&dev.rec, true);
        self.release_links(&primary_name);
        Ok(Response::Done)
    }

    fn link_show(&mut self, name: Option<&str>) -> Reply {
        let mut links = Vec::new();
        match name {
            Some(n) => {
                // A name several pods have shows each of them (a view names its namespace);
                // the daemon namespace's device of that name, if any, is the only one shown.
                let ends = self.ends_named(n);
                if ends.is_empty() {
                    self.device(n)?;
                }
                for (i, primary) in ends {
                    links.push(crate::views::link_view(self, i, primary)?);
                }
            }
            None => {
                for i in 0..self.devices.len() {
                    links.push(crate::views::link_view(self, i, true)?);
                    links.push(crate::views::link_view(self, i, false)?);
                }
            }
        }
        Ok(Response::Links { links })
    }
}

pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
#[path = "registry_tests.rs"]
pub(crate) mod tests;

/// The host's `kernel.bpf_stats_enabled` (false where it cannot be read).
fn bpf_stats_enabled() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/bpf_stats_enabled").is_ok_and(|v| v.trim() == "1")
}
