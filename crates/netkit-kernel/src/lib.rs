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
//! Devices are addressed by ifindex in the caller's network namespace, which is the process's
//! own until [`Backend::set_netns`] selects a named one: from then on rtnetlink requests go
//! through a socket opened in that namespace and `bpf(2)` requests that name an ifindex are
//! issued from a thread that joined it (the kernel resolves ifindexes in the calling task's
//! namespace). Ifindexes are allocated per namespace, so the backend remembers the pairs it
//! created as (namespace, ifindex) places, never by ifindex alone.
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
pub mod trace;
pub mod xmit;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use netkit_core::{
    AttachReq, Backend, BpfLinkInfo, ChangeLink, Created, DetachReq, Errno, Error, Handle, IfIndex,
    LinkCreateReq, LinkId, LinkInfo, NewLink, ProgId, ProgSource, QueryReq, QueryResult, TxMeta,
    TxOutcome,
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
    /// The namespace requests act in (`None` = the process's own), see [`Backend::set_netns`].
    caller: Option<String>,
    /// Both ends of every pair this backend created, each mapped to the other end: a peer
    /// may live in another namespace, which its ifindex alone does not say.
    other_end: HashMap<Place, Place>,
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
            caller: None,
            other_end: HashMap::new(),
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

    /// Writes `disable_ipv6 = 1` for the device at `place`; absent IPv6 is fine.
    fn quiet(&self, place: &Place) -> Result<(), Error> {
        let name = self
            .with_rtnl_in(place.netns.clone(), |r| r.get(place.ifindex))?
            .name;
        let netns = place.netns.clone();
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

    /// Where `ifindex` is, seen from the caller's namespace.
    fn here(&self, ifindex: IfIndex) -> Place {
        Place {
            ifindex,
            netns: self.caller.clone(),
        }
    }

    /// Runs `f` with an rtnetlink socket of the caller's namespace.
    fn with_rtnl<T>(&self, f: impl FnOnce(&mut Rtnl) -> Result<T, Error>) -> Result<T, Error> {
        self.with_rtnl_in(self.caller.clone(), f)
    }

    /// Runs a `bpf(2)` request that names an ifindex from the caller's namespace.
    fn bpf_here<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        let Some(name) = self.caller.clone() else {
            return Ok(f());
        };
        netns::run_in(Some(&name), move || Ok(f())).map_err(|e| netns_error(&name, e))
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
        self.with_rtnl(|r| r.get(ifindex))
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
        let after = self.with_rtnl(|r| r.dump())?;
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
        // A literal name is looked up as given; a template (`nk%d`) is expanded by the
        // kernel, so the new device is found like an unnamed one.
        let literal = req.name.as_ref().filter(|n| !n.contains('%'));
        let before = match literal {
            Some(_) => Default::default(),
            None => self.with_rtnl(|r| r.netkit_ifindices())?,
        };
        self.with_rtnl(|r| r.create(req, ns_fd.as_ref()))?;
        let primary = match literal {
            Some(name) => self.with_rtnl(|r| r.get_by_name(name))?,
            None => self.find_new_primary(&before)?,
        };
        let peer = primary.link.filter(|&l| l != 0).map(IfIndex);
        let created = Created {
            primary: primary.ifindex,
            peer,
        };
        let primary_place = self.here(created.primary);
        let peer_place = peer.map(|ifindex| Place {
            ifindex,
            netns: peer_ns.or_else(|| self.caller.clone()),
        });
        if let Some(peer_place) = &peer_place {
            self.other_end
                .insert(primary_place.clone(), peer_place.clone());
            self.other_end
                .insert(peer_place.clone(), primary_place.clone());
        }
        if !self.ipv6 {
            let quieted = std::iter::once(&primary_place)
                .chain(peer_place.as_ref())
                .try_for_each(|place| self.quiet(place));
            if let Err(e) = quieted {
                // All or nothing, as the kernel's own creation: no half-configured pair.
                let _ = self.link_del(created.primary);
                return Err(e);
            }
        }
        Ok(created)
    }

    fn link_change(&mut self, ifindex: IfIndex, req: &ChangeLink) -> Result<(), Error> {
        self.with_rtnl(|r| r.change(ifindex, req))
    }

    fn link_set_up(&mut self, ifindex: IfIndex, up: bool) -> Result<(), Error> {
        self.with_rtnl(|r| r.set_up(ifindex, up))
    }

    fn link_set_address(&mut self, ifindex: IfIndex, address: &[u8]) -> Result<(), Error> {
        self.with_rtnl(|r| r.set_address(ifindex, address))
    }

    fn link_set_mtu(&mut self, ifindex: IfIndex, mtu: u32) -> Result<(), Error> {
        self.with_rtnl(|r| r.set_mtu(ifindex, mtu))
    }

    fn link_set_netns(&mut self, ifindex: IfIndex, netns: Option<&str>) -> Result<(), Error> {
        let fd = match netns {
            Some(name) => netns::open(name).map_err(|e| netns_error(name, e))?,
            // The initial namespace is the one this thread (never moved by setns) is in.
            None => netns::own().map_err(|e| netns_error("(initial)", e))?,
        };
        let name = self.link_dump(ifindex)?.name;
        self.with_rtnl(|r| r.set_netns(ifindex, &fd))?;
        // The device keeps its name; its ifindex is kept only if free in the new namespace.
        let target = netns.map(str::to_string);
        let moved = self.with_rtnl_in(target.clone(), |r| r.get_by_name(&name))?;
        let new_place = Place {
            ifindex: moved.ifindex,
            netns: target,
        };
        if let Some(other) = self.other_end.remove(&self.here(ifindex)) {
            self.other_end.insert(other.clone(), new_place.clone());
            self.other_end.insert(new_place, other);
        }
        Ok(())
    }

    fn link_del(&mut self, ifindex: IfIndex) -> Result<(), Error> {
        self.with_rtnl(|r| r.delete(ifindex))?;
        if let Some(other) = self.other_end.remove(&self.here(ifindex)) {
            self.other_end.remove(&other);
        }
        Ok(())
    }

    fn link_get(&self, ifindex: IfIndex) -> Result<LinkInfo, Error> {
        let dumped = self.link_dump(ifindex)?;
        dumped.to_link_info(self.caller.clone()).ok_or_else(|| {
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
        self.with_rtnl(|r| r.get_by_name(name)).map(|d| d.ifindex)
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
        let req = *req;
        self.bpf_here(move || progs::attach(&req))?
    }

    fn prog_detach(&mut self, req: &DetachReq) -> Result<(), Error> {
        let req = *req;
        self.bpf_here(move || progs::detach(&req))?
    }

    fn prog_query(&self, req: &QueryReq) -> Result<QueryResult, (Error, Option<QueryResult>)> {
        let req = *req;
        match self.bpf_here(move || progs::query(&req)) {
            Ok(result) => result,
            Err(e) => Err((e, None)),
        }
    }

    fn link_create(&mut self, req: &LinkCreateReq) -> Result<(Handle, LinkId), Error> {
        let req = *req;
        let fd = self.own(self.bpf_here(move || progs::link_create(&req))??);
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

    fn transmit_meta(
        &mut self,
        ifindex: IfIndex,
        frame: &[u8],
        meta: TxMeta,
    ) -> Result<TxOutcome, Error> {
        let meta = xmit::SendMeta {
            mark: meta.mark,
            priority: meta.priority,
        };
        self.transmit_observed(ifindex, frame, meta)
            .map(|o| o.outcome)
    }

    fn set_netns(&mut self, netns: Option<&str>) -> Result<(), Error> {
        if let Some(name) = netns {
            // Fails early (ENOENT) for a namespace that does not exist.
            netns::open(name).map_err(|e| netns_error(name, e))?;
        }
        self.caller = netns.map(str::to_string);
        Ok(())
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
        let sender = self.here(ifindex);
        // The peer of a pair this backend created may be in another namespace; any other
        // device's peer is taken to be beside it.
        let peer = self.link_dump(ifindex)?.link.filter(|&l| l != 0).map(|l| {
            match self.other_end.get(&sender) {
                Some(other) if other.ifindex.0 == l => other.clone(),
                _ => self.here(IfIndex(l)),
            }
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
