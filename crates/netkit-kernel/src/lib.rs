//! netkit-kernel: the [`Backend`] API driving the real kernel's netkit through rtnetlink and
//! `bpf(2)`. Nothing is emulated: every errno comes from the kernel itself, with the
//! kernel's extended-ACK message when it sends one.
//!
//! - Devices: raw NETLINK_ROUTE requests ([`rtnl`], wire format in [`netlink`]) carrying every
//!   attribute of [`NewLink`] / [`ChangeLink`] as given, so the kernel's own validation answers.
//! - Programs and links: `bpf(2)` with the netkit attach types 54/55 ([`progs`]). Handles are
//!   the program and link file descriptors; the backend closes only descriptors it opened.
//! - Traffic: [`xmit`] writes a frame to the sending device with an AF_PACKET socket and reads
//!   the outcome from the counters and from packet sockets in the namespaces involved.
//!
//! Devices are addressed by ifindex in the caller's network namespace, except peers created in
//! a named namespace (`PeerInfo::netns`), which this backend remembers and addresses inside
//! that namespace. Ifindices are allocated per namespace, so such a peer's ifindex can equal a
//! device's in the caller's namespace; the remembered peer then wins (avoid such scenarios).
//!
//! By default IPv6 is disabled on devices the backend creates (see
//! [`KernelBackend::keep_ipv6`]) so that only the frames a caller sends move the counters.

pub mod bpf;
pub mod netlink;
pub mod netns;
pub mod object;
pub mod progs;
pub mod rtnl;
mod sys;
pub mod xmit;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use netkit_core::{
    AttachReq, Backend, BpfLinkInfo, ChangeLink, Created, DetachReq, Errno, Error, Handle, IfIndex,
    LinkCreateReq, LinkId, LinkInfo, NewLink, ProgId, ProgSource, QueryReq, QueryResult, TxOutcome,
};

use rtnl::Rtnl;
use xmit::Place;

pub use sys::is_root;

/// The real-kernel backend.
pub struct KernelBackend {
    /// The rtnetlink socket of the caller's namespace; `RefCell` because queries
    /// (`link_get`) take `&self` but a socket's sequence number advances. Sockets for other
    /// namespaces are opened per request and closed at once: a socket pins its namespace,
    /// and a namespace deleted by its owner must really go away (taking its devices along).
    rtnl: RefCell<Rtnl>,
    /// Packet sockets of the caller's namespace for [`Backend::transmit`], kept open because
    /// closing one waits for an RCU grace period (tens of milliseconds in a VM).
    taps: RefCell<Option<xmit::Tap>>,
    /// Devices living in a named namespace (peers created there).
    netns_of: HashMap<IfIndex, String>,
    /// Whether new devices keep IPv6 (see [`KernelBackend::keep_ipv6`]).
    ipv6: bool,
    /// Program and link fds this backend opened; only these are ever closed.
    handles: HashSet<Handle>,
}

impl KernelBackend {
    /// Opens an rtnetlink socket in the caller's namespace.
    pub fn new() -> Result<KernelBackend, Error> {
        Ok(KernelBackend {
            rtnl: RefCell::new(Rtnl::open(None)?),
            taps: RefCell::new(None),
            netns_of: HashMap::new(),
            ipv6: false,
            handles: HashSet::new(),
        })
    }

    /// By default IPv6 is disabled on every device this backend creates, before the device
    /// can come up: otherwise the stack's own router solicitations and MLD reports cross the
    /// pair and show up in the counters a scenario compares. netkit itself behaves the same
    /// either way. `keep_ipv6(true)` leaves new devices as the kernel creates them.
    pub fn keep_ipv6(&mut self, keep: bool) {
        self.ipv6 = keep;
    }

    /// Writes `disable_ipv6 = 1` for `ifindex` (in its namespace); absent IPv6 is fine.
    fn quiet(&self, ifindex: IfIndex) -> Result<(), Error> {
        let name = self.link_dump(ifindex)?.name;
        let netns = self.netns(ifindex);
        let path = format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6");
        netns::run_in(netns.as_deref(), move || match std::fs::write(&path, "1") {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        })
        .map_err(|e| {
            Error::new(
                Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
                format!("disable IPv6 on {name}: {e}"),
            )
        })
    }

    fn netns(&self, ifindex: IfIndex) -> Option<String> {
        self.netns_of.get(&ifindex).cloned()
    }

    /// Runs `f` with the rtnetlink socket of `ifindex`'s namespace.
    fn with_rtnl<T>(
        &self,
        ifindex: IfIndex,
        f: impl FnOnce(&mut Rtnl) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.with_rtnl_in(self.netns(ifindex), f)
    }

    fn with_rtnl_in<T>(
        &self,
        netns: Option<String>,
        f: impl FnOnce(&mut Rtnl) -> Result<T, Error>,
    ) -> Result<T, Error> {
        match netns {
            None => f(&mut self.rtnl.borrow_mut()),
            Some(name) => f(&mut Rtnl::open(Some(&name))?),
        }
    }

    /// The raw dump of one device: every netkit attribute the kernel emitted, or `None`
    /// for the absent ones (what the facts document is built from).
    pub fn link_dump(&self, ifindex: IfIndex) -> Result<rtnl::Dumped, Error> {
        self.with_rtnl(ifindex, |r| r.get(ifindex))
    }

    fn own(&mut self, handle: Handle) -> Handle {
        self.handles.insert(handle);
        handle
    }

    /// Finds the primary of a pair just created without a name: the new netkit device that
    /// reports PRIMARY = 1.
    fn find_new_primary(
        &self,
        before: &std::collections::BTreeSet<IfIndex>,
    ) -> Result<rtnl::Dumped, Error> {
        let after = self.with_rtnl_in(None, |r| r.dump())?;
        after
            .into_iter()
            .filter(|d| !before.contains(&d.ifindex))
            .find(|d| d.netkit.as_ref().is_some_and(|n| n.primary == Some(1)))
            .ok_or_else(|| {
                Error::new(
                    Errno::Other(libc::EIO),
                    "created a netkit pair but found no new primary",
                )
            })
    }
}

fn netns_error(name: &str, e: std::io::Error) -> Error {
    Error::new(
        Errno::from_raw(e.raw_os_error().unwrap_or(libc::ENOENT)),
        format!("network namespace {name:?}: {e}"),
    )
}

impl Backend for KernelBackend {
    fn name(&self) -> &'static str {
        "kernel"
    }

    fn link_add(&mut self, req: &NewLink) -> Result<Created, Error> {
        let peer_ns = req.peer.as_ref().and_then(|p| p.netns.clone());
        let ns_fd = match &peer_ns {
            Some(name) => Some(netns::open(name).map_err(|e| netns_error(name, e))?),
            None => None,
        };
        let before = match &req.name {
            Some(_) => Default::default(),
            None => self.with_rtnl_in(None, |r| r.netkit_ifindices())?,
        };
        self.with_rtnl_in(None, |r| r.create(req, ns_fd.as_ref()))?;
        let primary = match &req.name {
            Some(name) => self.with_rtnl_in(None, |r| r.get_by_name(name))?,
            None => self.find_new_primary(&before)?,
        };
        let peer = primary.link.filter(|&l| l != 0).map(IfIndex);
        if let (Some(peer), Some(ns)) = (peer, peer_ns) {
            self.netns_of.insert(peer, ns);
        }
        let created = Created {
            primary: primary.ifindex,
            peer,
        };
        if !self.ipv6 {
            let quieted = std::iter::once(created.primary)
                .chain(created.peer)
                .try_for_each(|dev| self.quiet(dev));
            if let Err(e) = quieted {
                // All or nothing, as the kernel's own creation: no half-configured pair.
                let _ = self.link_del(created.primary);
                return Err(e);
            }
        }
        Ok(created)
    }

    fn link_change(&mut self, ifindex: IfIndex, req: &ChangeLink) -> Result<(), Error> {
        self.with_rtnl(ifindex, |r| r.change(ifindex, req))
    }

    fn link_set_up(&mut self, ifindex: IfIndex, up: bool) -> Result<(), Error> {
        self.with_rtnl(ifindex, |r| r.set_up(ifindex, up))
    }

    fn link_set_address(&mut self, ifindex: IfIndex, address: &[u8]) -> Result<(), Error> {
        self.with_rtnl(ifindex, |r| r.set_address(ifindex, address))
    }

    fn link_set_mtu(&mut self, ifindex: IfIndex, mtu: u32) -> Result<(), Error> {
        self.with_rtnl(ifindex, |r| r.set_mtu(ifindex, mtu))
    }

    fn link_del(&mut self, ifindex: IfIndex) -> Result<(), Error> {
        let peer = self.link_dump(ifindex).ok().and_then(|d| d.link);
        self.with_rtnl(ifindex, |r| r.delete(ifindex))?;
        self.netns_of.remove(&ifindex);
        if let Some(peer) = peer {
            self.netns_of.remove(&IfIndex(peer));
        }
        Ok(())
    }

    fn link_get(&self, ifindex: IfIndex) -> Result<LinkInfo, Error> {
        let netns = self.netns(ifindex);
        let dumped = self.link_dump(ifindex)?;
        dumped.to_link_info(netns).ok_or_else(|| {
            Error::new(
                Errno::ENXIO,
                format!(
                    "ifindex {} ({}) is not a netkit device",
                    ifindex.0, dumped.name
                ),
            )
        })
    }

    fn ifindex_by_name(&self, name: &str) -> Result<IfIndex, Error> {
        self.with_rtnl_in(None, |r| r.get_by_name(name))
            .map(|d| d.ifindex)
    }

    fn prog_load(&mut self, src: &ProgSource) -> Result<(Handle, ProgId), Error> {
        let fd = match src {
            ProgSource::Constant(v) => progs::load_constant(*v)?,
            ProgSource::Object { path, program } => object::load(path, program.as_deref())?,
        };
        let fd = self.own(fd);
        match progs::prog_id(fd) {
            Ok(id) => Ok((fd, id)),
            Err(e) => {
                let _ = self.prog_close(fd);
                Err(e)
            }
        }
    }

    fn prog_close(&mut self, prog: Handle) -> Result<(), Error> {
        if !self.handles.remove(&prog) {
            return Err(Error::new(
                Errno::EBADF,
                format!("handle {} is not an open program or link", prog.0),
            ));
        }
        progs::close(prog)
    }

    fn prog_attach(&mut self, req: &AttachReq) -> Result<(), Error> {
        progs::attach(req)
    }

    fn prog_detach(&mut self, req: &DetachReq) -> Result<(), Error> {
        progs::detach(req)
    }

    fn prog_query(&self, req: &QueryReq) -> Result<QueryResult, (Error, Option<QueryResult>)> {
        progs::query(req)
    }

    fn link_create(&mut self, req: &LinkCreateReq) -> Result<(Handle, LinkId), Error> {
        let fd = self.own(progs::link_create(req)?);
        match progs::link_info(fd) {
            Ok((info, _)) => Ok((fd, info.id)),
            Err(e) => {
                let _ = self.link_close(fd);
                Err(e)
            }
        }
    }

    fn link_update(
        &mut self,
        link: Handle,
        new_prog: Handle,
        old: Option<Handle>,
    ) -> Result<(), Error> {
        progs::link_update(link, new_prog, old)
    }

    fn link_detach(&mut self, link: Handle) -> Result<(), Error> {
        progs::link_detach(link)
    }

    fn link_info(&self, link: Handle) -> Result<BpfLinkInfo, Error> {
        progs::link_info(link).map(|(info, _)| info)
    }

    fn link_close(&mut self, link: Handle) -> Result<(), Error> {
        self.prog_close(link)
    }

    fn transmit(&mut self, ifindex: IfIndex, frame: &[u8]) -> Result<TxOutcome, Error> {
        self.transmit_observed(ifindex, frame, xmit::SendMeta::default())
            .map(|o| o.outcome)
    }
}

impl KernelBackend {
    /// [`Backend::transmit`] of a frame carrying `meta` (mark, priority), with the packet
    /// socket's view of where it arrived.
    pub fn transmit_observed(
        &mut self,
        ifindex: IfIndex,
        frame: &[u8],
        meta: xmit::SendMeta,
    ) -> Result<xmit::Observed, Error> {
        let sender = Place {
            ifindex,
            netns: self.netns(ifindex),
        };
        let peer = self
            .link_dump(ifindex)?
            .link
            .filter(|&l| l != 0)
            .map(|l| Place {
                ifindex: IfIndex(l),
                netns: self.netns(IfIndex(l)),
            });
        let mut taps = self.taps.borrow_mut();
        if taps.is_none() {
            *taps = Some(xmit::Tap::open(None)?);
        }
        let local = taps.as_ref().expect("opened above");
        xmit::transmit(local, &sender, peer.as_ref(), frame, meta, |place| {
            self.with_rtnl_in(place.netns.clone(), |r| r.get(place.ifindex))
                .map(|d| d.stats)
        })
    }
}

impl Drop for KernelBackend {
    fn drop(&mut self) {
        for handle in self.handles.drain() {
            let _ = progs::close(handle);
        }
    }
}
