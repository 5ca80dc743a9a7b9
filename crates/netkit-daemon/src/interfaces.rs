//! Real interfaces for pairs: a persistent TUN (L3) or TAP (L2) per end, the peer in its
//! namespace, forwarded by the dataplane through the model's transmit path.
//!
//! The interfaces are persistent (TUNSETPERSIST): they outlive the daemon, so the pod keeps
//! its addresses and routes across a restart; on restore they are reattached by name and keep
//! their ifindexes.
//!
//! The interfaces are created first ([`Plumbing::open`]) and the model's pair then at their
//! kernel ifindexes, so programs see and name the kernel's numbers; redirect targets the model
//! does not know are left to the dataplane, which finds them among the kernel's interfaces.

use std::collections::HashMap;
use std::sync::mpsc::Sender;
use std::sync::Arc;

use netkit_bpf::skb::Skb;
use netkit_core::{self as core, Datapath, Errno, IfIndex, UserBackend};
use netkit_io::netns::{NetNs, NsId};
use netkit_io::rtnl::Rtnl;
use netkit_io::tun::{TunConfig, TunDevice, TunKind};
use netkit_proto::WireError;
use std::os::fd::AsFd;

use crate::convert::errno;
use crate::dataplane::{self, Dataplane, DevRef, PacketPath, PairIo, PairRunning};
use crate::persist::DeviceRecord;
use crate::plumbing::{Moved, MovedTo, PairSpec, Plumbing};

/// A change of an interface's admin state, for the model (applied by the daemon under its
/// registry lock, outside the dataplane's threads).
pub type AdminEvent = (DevRef, bool);

/// The model's packet path as the dataplane consumes it.
struct ModelPath {
    datapath: Datapath,
    admin: Sender<AdminEvent>,
}

impl PacketPath for ModelPath {
    fn xmit(&self, dev: DevRef, skb: Skb) -> dataplane::Delivery {
        self.datapath.xmit_in(dev.netns, dev.ifindex, skb)
    }

    fn set_admin_up(&self, dev: DevRef, up: bool) {
        // The daemon may be gone already during shutdown; nothing to tell then.
        let _ = self.admin.send((dev, up));
    }
}

pub struct Interfaces {
    dataplane: Dataplane,
    admin: Sender<AdminEvent>,
    path: Option<Arc<ModelPath>>,
    running: HashMap<String, PairRunning>,
    /// Interfaces opened for a pair the model has not created yet, by primary name, with
    /// whether each was created (rather than reattached): (primary, peer).
    pending: HashMap<String, [(TunDevice, bool); 2]>,
    queues: usize,
}

impl Interfaces {
    /// `admin` receives the admin-state changes the dataplane observes.
    pub fn new(admin: Sender<AdminEvent>, queues: usize) -> Interfaces {
        Interfaces {
            dataplane: Dataplane::new(),
            admin,
            path: None,
            running: HashMap::new(),
            pending: HashMap::new(),
            queues: queues.max(1),
        }
    }

    fn path(&mut self, backend: &mut UserBackend) -> Arc<ModelPath> {
        // Redirects to kernel interfaces come out of the model for the dataplane to act on.
        backend.set_external_targets(true);
        self.path
            .get_or_insert_with(|| {
                Arc::new(ModelPath {
                    datapath: backend.datapath(),
                    admin: self.admin.clone(),
                })
            })
            .clone()
    }

    /// Opens one end: reattaches a persistent interface when restoring, else creates it.
    /// A new interface is created at ifindex `at` (0: the kernel picks); `primary` says which
    /// end it is, for the errno of a taken ifindex (the kernel's netkit: EEXIST for the
    /// primary's, found by rtnl_newlink; EBUSY for the peer's, from register_netdevice).
    fn open(
        &self,
        name: &str,
        kind: TunKind,
        ns: &NetNs,
        restore: bool,
        (at, primary): (u32, bool),
    ) -> Result<(TunDevice, bool), WireError> {
        let cfg = TunConfig::new(name, kind)
            .netns(ns.clone())
            .queues(self.queues)
            .ifindex(at);
        if restore {
            if let Ok(dev) = TunDevice::open(&cfg.clone().reattach()) {
                return Ok((dev, false));
            }
        }
        let dev = TunDevice::open(&cfg).map_err(|e| {
            // TUNSETIFF with IFF_TUN_EXCL is EBUSY for any device of that name in the
            // namespace (one the daemon does not know: a veth, a dummy): the kernel's netkit
            // says EEXIST there.
            if e.errno().map(Errno::from_raw) == Some(Errno::EBUSY) {
                let place = match ns {
                    NetNs::Named(n) => format!(" in namespace {n}"),
                    _ => String::new(),
                };
                let owned = name.to_string();
                let name_taken = ns.run(move || Rtnl::open()?.link_by_name(&owned)).is_ok();
                if at != 0 && !name_taken {
                    let code = if primary { Errno::EEXIST } else { Errno::EBUSY };
                    return errno(code, format!("ifindex {at} is taken{place}"));
                }
                errno(
                    Errno::EEXIST,
                    format!("a device named \"{name}\" exists{place}"),
                )
            } else {
                io_error(&format!("creating {name}"), &e)
            }
        })?;
        Ok((dev, true))
    }
}

fn io_error(what: &str, e: &netkit_io::Error) -> WireError {
    let errno_value = match e {
        netkit_io::Error::NotFound(_) => Errno::ENOENT,
        netkit_io::Error::Invalid(_) => Errno::EINVAL,
        other => other.errno().map_or(Errno::EINVAL, Errno::from_raw),
    };
    errno(errno_value, format!("{what}: {e}"))
}

/// The `ip netns` namespace (or the daemon's) with identity `nsid`, and the ifindex the
/// interface `name` has there.
fn locate(name: &str, nsid: NsId) -> MovedTo {
    let ifindex_in = |ns: &NetNs| {
        let name = name.to_string();
        ns.run(move || Rtnl::open()?.link_by_name(&name))
            .ok()
            .map(|l| l.ifindex)
    };
    if NetNs::Current.id().ok() == Some(nsid) {
        return ifindex_in(&NetNs::Current).map_or(MovedTo::Elsewhere, MovedTo::Daemon);
    }
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return MovedTo::Elsewhere;
    };
    for entry in entries.flatten() {
        let Ok(label) = entry.file_name().into_string() else {
            continue;
        };
        let ns = NetNs::Named(label.clone());
        if ns.id().ok() == Some(nsid) {
            return ifindex_in(&ns).map_or(MovedTo::Elsewhere, |i| MovedTo::Named(label, i));
        }
    }
    MovedTo::Elsewhere
}

/// Deletes a pair's interfaces by name (reattaching to each, then deleting it).
fn delete_by_name(pair: &DeviceRecord) {
    let Some(name) = pair.create.name.as_deref() else {
        return;
    };
    let kind = match pair.create.mode {
        Some(netkit_proto::Mode::L2) => TunKind::Tap,
        _ => TunKind::Tun,
    };
    let peer_ns = pair
        .create
        .peer_netns
        .clone()
        .map_or(NetNs::Current, NetNs::Named);
    let ends = [
        (pair.create.peer_name.as_deref(), peer_ns),
        (Some(name), NetNs::Current),
    ];
    for (end, ns) in ends {
        let Some(end) = end else { continue };
        let cfg = TunConfig::new(end, kind).netns(ns).reattach();
        if let Ok(dev) = TunDevice::open(&cfg) {
            discard(dev);
        }
    }
}

fn discard(dev: TunDevice) {
    let _ = dev.set_persist(false);
    let _ = dev.delete();
}

impl Interfaces {
    /// Creates (or on restore reattaches) both interfaces, peer first as the kernel creates
    /// it first, persistent and without a qdisc. A failure leaves nothing it created behind.
    fn open_ends(&self, pair: &PairSpec) -> Result<[(TunDevice, bool); 2], WireError> {
        let kind = tun_kind(pair.mode);
        let peer_ns = pair.peer_netns.clone().map_or(NetNs::Current, NetNs::Named);
        let restore = pair.expect.is_some();
        let (at, peer_at) = pair.ask;
        // rtnl_newlink finds a device at the primary's ifindex before netkit creates anything,
        // so a taken primary ifindex is EEXIST even when the peer's is taken too.
        if at != 0 && !restore && Rtnl::open().and_then(|r| r.link(at)).is_ok() {
            return Err(errno(Errno::EEXIST, format!("ifindex {at} is taken")));
        }
        let (peer, peer_new) =
            match self.open(&pair.peer_name, kind, &peer_ns, restore, (peer_at, false)) {
                Ok(p) => p,
                Err(e) => {
                    if restore {
                        // The pod (namespace) is gone: so is the pair, its host end included.
                        let cfg = TunConfig::new(&pair.name, kind).reattach();
                        if let Ok(primary) = TunDevice::open(&cfg) {
                            discard(primary);
                        }
                    }
                    return Err(e);
                }
            };
        let (primary, primary_new) =
            match self.open(&pair.name, kind, &NetNs::Current, restore, (at, true)) {
                Ok(p) => p,
                Err(e) => {
                    if peer_new {
                        discard(peer);
                    }
                    return Err(e);
                }
            };
        let setup = || -> Result<(), netkit_io::Error> {
            for dev in [&primary, &peer] {
                dev.set_persist(true)?;
                // No qdisc, as netkit (IFF_NO_QUEUE); an older kernel may refuse, which only
                // costs latency.
                let _ = dev.set_noqueue();
            }
            Ok(())
        };
        let result = setup();
        let ends = [(primary, primary_new), (peer, peer_new)];
        if let Err(e) = result {
            let err = io_error(&format!("setting up {}", pair.name), &e);
            discard_new(ends);
            return Err(err);
        }
        Ok(ends)
    }
}

fn tun_kind(mode: core::Mode) -> TunKind {
    match mode {
        core::Mode::L3 => TunKind::Tun,
        core::Mode::L2 => TunKind::Tap,
    }
}

/// Deletes the interfaces of `ends` that were created (not reattached).
fn discard_new(ends: [(TunDevice, bool); 2]) {
    for (dev, new) in ends {
        if new {
            discard(dev);
        }
    }
}

impl Plumbing for Interfaces {
    fn open(&mut self, pair: &PairSpec) -> Result<Option<(u32, u32)>, WireError> {
        if let Some(old) = self.pending.remove(&pair.name) {
            discard_new(old);
        }
        let ends = self.open_ends(pair)?;
        let ifindexes = (ends[0].0.ifindex(), ends[1].0.ifindex());
        self.pending.insert(pair.name.clone(), ends);
        Ok(Some(ifindexes))
    }

    fn start(
        &mut self,
        backend: &mut UserBackend,
        pair: &PairSpec,
    ) -> Result<Option<(u32, u32)>, WireError> {
        let ends = match self.pending.remove(&pair.name) {
            Some(ends) => ends,
            None => self.open_ends(pair)?,
        };
        let ifindexes = (ends[0].0.ifindex(), ends[1].0.ifindex());
        let model = (pair.model_primary.0, pair.model_peer.0);
        if model != ifindexes {
            // Only on restore: an end was deleted while the daemon was down (and recreated
            // now under a new ifindex); as the kernel deletes a pair with either end, the pair
            // is gone, its other end included.
            for (dev, _) in ends {
                discard(dev);
            }
            return Err(errno(
                Errno::ESTALE,
                format!(
                    "the interfaces of {} have ifindexes {ifindexes:?}, the pair {model:?}",
                    pair.name
                ),
            ));
        }
        let [(primary, _), (peer, _)] = ends;
        let peer_ns = backend.netns_id(pair.peer_netns.as_deref());
        let refs = [(0, pair.model_primary), (peer_ns, pair.model_peer)]
            .map(|(netns, ifindex)| DevRef { netns, ifindex });
        // L2: the model tells pkt_type by the receiving end's MAC, so it must be the real one.
        if pair.mode == core::Mode::L2 {
            let ends = [(&primary, None), (&peer, pair.peer_netns.as_deref())];
            for (tun, ns) in ends {
                let ifindex = tun.ifindex();
                if let Ok(link) = tun.rtnl(move |r| r.link(ifindex)) {
                    backend.set_caller_netns(ns);
                    let _ = backend.link_set_address(IfIndex(ifindex), &link.address);
                    backend.set_caller_netns(None);
                }
            }
        }
        let path = self.path(backend);
        let io = PairIo {
            primary: (refs[0], primary),
            peer: (refs[1], peer),
        };
        match self.dataplane.start_pair(path, io) {
            Ok(running) => {
                self.running.insert(pair.name.clone(), running);
                Ok(Some(ifindexes))
            }
            Err(e) => Err(errno(
                Errno::EBUSY,
                format!("starting the dataplane of {}: {e}", pair.name),
            )),
        }
    }

    fn stop(&mut self, pair: &DeviceRecord, delete: bool) {
        let Some(name) = pair.create.name.as_deref() else {
            return;
        };
        if let Some(ends) = self.pending.remove(name) {
            if delete {
                for (dev, _) in ends {
                    discard(dev);
                }
            }
        }
        let stopped = self.running.remove(name).map(PairRunning::stop);
        self.dataplane.refresh_kernel_targets();
        if !delete {
            return;
        }
        match stopped {
            Some(Ok(io)) => {
                discard(io.peer.1);
                discard(io.primary.1);
            }
            Some(Err(e)) => {
                eprintln!("netkitd: stopping {name}: {e}; deleting its interfaces by name");
                delete_by_name(pair);
            }
            // Never started (a restore that failed closed): remove the interfaces by name.
            None => delete_by_name(pair),
        }
    }

    fn move_peer(
        &mut self,
        pair: &DeviceRecord,
        to: Option<&str>,
    ) -> Result<Option<u32>, WireError> {
        let (Some(name), Some(peer)) = (&pair.create.name, &pair.create.peer_name) else {
            return Ok(None);
        };
        let ns_of = |n: Option<&str>| n.map_or(NetNs::Current, |n| NetNs::Named(n.to_string()));
        let (from, target) = (ns_of(pair.create.peer_netns.as_deref()), ns_of(to));
        let place = to.unwrap_or("the daemon's");
        let target_fd = target
            .open()
            .map_err(|e| io_error(&format!("opening namespace {place}"), &e))?;
        // The kernel would give the device another ifindex where its own is taken; the model
        // could not follow (it numbers a moved device itself), so such a move is refused.
        let ifindex = pair.peer_ifindex;
        match target.run(move || Rtnl::open()?.link(ifindex)) {
            Err(netkit_io::Error::NotFound(_)) => {}
            Ok(other) => {
                return Err(errno(
                    Errno::EBUSY,
                    format!(
                        "ifindex {ifindex} of {peer} is taken in namespace {place} (by {}), \
                         and the daemon keeps a moved device's ifindex",
                        other.name
                    ),
                ))
            }
            Err(e) => return Err(io_error(&format!("looking at namespace {place}"), &e)),
        }
        // Our queues go (the persistent interface stays) and come back where it is then.
        if let Some(Err(e)) = self.running.remove(name).map(PairRunning::stop) {
            eprintln!("netkitd: stopping {name} to move {peer}: {e}");
        }
        self.dataplane.refresh_kernel_targets();
        let peer_name = peer.clone();
        let moved = from.run(move || {
            let rtnl = Rtnl::open()?;
            let link = rtnl.link_by_name(&peer_name)?;
            rtnl.set_netns(link.ifindex, target_fd.as_fd())
        });
        moved.map_err(|e| match e.errno().map(Errno::from_raw) {
            // dev_change_net_namespace: the name is taken there.
            Some(Errno::EEXIST) => errno(
                Errno::EEXIST,
                format!("a device named \"{peer}\" exists in namespace {place}"),
            ),
            _ => io_error(&format!("moving {peer} to namespace {place}"), &e),
        })?;
        let peer_name = peer.clone();
        let there = target
            .run(move || Rtnl::open()?.link_by_name(&peer_name))
            .map_err(|e| io_error(&format!("finding {peer} in namespace {place}"), &e))?;
        Ok(Some(there.ifindex))
    }

    fn moved(&mut self) -> Vec<Moved> {
        let mut out = Vec::new();
        for (pair, running) in &self.running {
            let (primary, peer) = running.devices();
            for ((nsid, tun), is_primary) in running
                .take_moved()
                .iter()
                .zip([primary, peer])
                .zip([true, false])
            {
                let Some(nsid) = nsid else { continue };
                out.push(Moved {
                    pair: pair.clone(),
                    primary: is_primary,
                    to: locate(tun.name(), *nsid),
                });
            }
        }
        out
    }

    fn deleted(&mut self) -> Vec<String> {
        self.running
            .iter()
            .filter(|(_, r)| r.is_deleted())
            .map(|(name, _)| name.clone())
            .collect()
    }

    fn is_real(&self) -> bool {
        true
    }

    fn is_forwarding(&self, name: &str) -> bool {
        self.running.contains_key(name)
    }
}
