//! Real interfaces for the daemon's pairs: [`TunPlumbing`] creates (or, on restore,
//! reattaches) a persistent TUN (L3) or TAP (L2) per end — the peer first and in its namespace,
//! as netkit registers the peer first — and forwards them through the model's datapath.

use std::collections::HashMap;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

use netkit_core::{IfIndex, Mode, UserBackend};
use netkit_io::netns::NetNs;
use netkit_io::tun::{TunConfig, TunDevice, TunKind};
use netkit_proto::WireError;

use super::model::{AdminChange, ModelPath};
use super::{Dataplane, PairIo, PairRunning};
use crate::persist::DeviceRecord;
use crate::plumbing::{PairSpec, Plumbing};

/// A running pair and where its model devices live (for applying admin changes).
struct Running {
    pair: PairRunning,
    netns: [(IfIndex, Option<String>); 2],
}

/// Pairs backed by TUN/TAP interfaces and the user-space dataplane.
pub struct TunPlumbing {
    dataplane: Dataplane,
    queues: usize,
    pairs: HashMap<String, Running>,
    admin_tx: Sender<AdminChange>,
    admin_rx: Receiver<AdminChange>,
}

fn wire(e: netkit_io::Error) -> WireError {
    let code = e.errno().unwrap_or(libc::EIO);
    let name = match code {
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::ENODEV => "ENODEV",
        libc::EPERM => "EPERM",
        libc::EINVAL => "EINVAL",
        libc::ENOENT => "ENOENT",
        _ => "EIO",
    };
    WireError::new(name, code, e.to_string())
}

impl TunPlumbing {
    /// `queues` queues per device (one worker per queue index).
    pub fn new(dataplane: Dataplane, queues: usize) -> TunPlumbing {
        let (admin_tx, admin_rx) = channel();
        TunPlumbing {
            dataplane,
            queues: queues.max(1),
            pairs: HashMap::new(),
            admin_tx,
            admin_rx,
        }
    }

    /// Applies the admin-state changes the carrier watchers saw on the real interfaces to the
    /// model (`link_set_up`), so that its transmit path drops toward a down end. The control
    /// path calls this before serving each request and after starting a pair.
    pub fn sync_admin(&mut self, backend: &mut UserBackend) {
        while let Ok(change) = self.admin_rx.try_recv() {
            let ns = self
                .pairs
                .values()
                .flat_map(|r| r.netns.iter())
                .find(|(dev, _)| *dev == change.dev)
                .map(|(_, ns)| ns.clone());
            let Some(ns) = ns else { continue };
            backend.set_caller_netns(ns.as_deref());
            // ENODEV: the pair was deleted meanwhile; nothing to apply.
            let _ = backend.link_set_up(change.dev, change.up);
            backend.set_caller_netns(None);
        }
    }

    /// Dataplane counters of the pair whose primary is `name`.
    pub fn stats(&self, name: &str) -> Option<super::DataplaneStats> {
        self.pairs.get(name).map(|r| r.pair.stats())
    }

    fn open_pair(&self, spec: &PairSpec) -> Result<PairIo, netkit_io::Error> {
        let kind = match spec.mode {
            Mode::L3 => TunKind::Tun,
            Mode::L2 => TunKind::Tap,
        };
        let peer_ns = spec
            .peer_netns
            .clone()
            .map(NetNs::Named)
            .unwrap_or(NetNs::Current);
        let cfg = |name: &str, ns: NetNs| {
            let c = TunConfig::new(name, kind).netns(ns).queues(self.queues);
            if spec.expect.is_some() {
                c.reattach()
            } else {
                c
            }
        };
        let open = |c: TunConfig| -> Result<TunDevice, netkit_io::Error> {
            let dev = TunDevice::open(&c)?;
            dev.set_persist(true)?;
            dev.set_noqueue()?;
            Ok(dev)
        };
        let peer = open(cfg(&spec.peer_name, peer_ns))?;
        let primary = match open(cfg(&spec.name, NetNs::Current)) {
            Ok(p) => p,
            Err(e) => {
                // All or nothing, as netkit's creation.
                let _ = peer.delete();
                return Err(e);
            }
        };
        Ok(PairIo {
            primary: (spec.model_primary, primary),
            peer: (spec.model_peer, peer),
        })
    }
}

impl Plumbing for TunPlumbing {
    fn start(
        &mut self,
        backend: &mut UserBackend,
        spec: &PairSpec,
    ) -> Result<Option<(u32, u32)>, WireError> {
        self.sync_admin(backend);
        let io = self.open_pair(spec).map_err(wire)?;
        let ifindexes = (io.primary.1.ifindex(), io.peer.1.ifindex());
        // L2: the model classifies pkt_type against the receiving end's MAC, so it must be
        // the real interface's.
        if spec.mode == Mode::L2 {
            for ((dev, tun), ns) in [(&io.primary, None), (&io.peer, spec.peer_netns.as_deref())] {
                let ifindex = tun.ifindex();
                if let Ok(link) = tun.rtnl(move |r| r.link(ifindex)) {
                    backend.set_caller_netns(ns);
                    let _ = backend.link_set_address(*dev, &link.address);
                    backend.set_caller_netns(None);
                }
            }
        }
        let path = Arc::new(ModelPath {
            datapath: backend.datapath(),
            admin: self.admin_tx.clone(),
        });
        let netns = [
            (spec.model_primary, None),
            (spec.model_peer, spec.peer_netns.clone()),
        ];
        let pair = match self.dataplane.start_pair(path, io) {
            Ok(p) => p,
            Err(e) => {
                return Err(WireError::new(
                    "EIO",
                    libc::EIO,
                    format!("starting the dataplane: {e}"),
                ))
            }
        };
        self.pairs
            .insert(spec.name.clone(), Running { pair, netns });
        // The watcher reported the interfaces' initial admin state on start.
        self.sync_admin(backend);
        Ok(Some(ifindexes))
    }

    fn stop(&mut self, rec: &DeviceRecord, delete: bool) {
        let Some(name) = rec.create.name.as_deref() else {
            return;
        };
        let Some(running) = self.pairs.remove(name) else {
            return;
        };
        match running.pair.stop() {
            Ok(io) if delete => {
                let _ = io.primary.1.delete();
                let _ = io.peer.1.delete();
            }
            // Kept: persistent interfaces keep the pods' addresses and routes for a restart.
            _ => {}
        }
    }

    fn deleted(&mut self) -> Vec<String> {
        // Outside deletions are reaped by the daemon's own Interfaces plumbing.
        Vec::new()
    }

    fn is_real(&self) -> bool {
        true
    }
}
