//! The bpf(2) half of the user backend: program handles and ids, BPF_PROG_ATTACH/DETACH/QUERY
//! and netkit links (spec/netkit.md §3, spec/mprog.md §3), checks in the kernel's order.

use std::sync::Arc;

use crate::backend::Backend;
use crate::device::DevId;
use crate::engine::EngineLoader;
use crate::error::{fail, Errno, Error};
use crate::mprog::{Anchor, AttachOp, DetachOp};
use crate::prog::{Prog, ProgStats};
use crate::types::*;
use crate::user::{LinkState, Object, ProgLoader, UserBackend};

/// The flags BPF_PROG_ATTACH/DETACH accept for netkit attach types.
const MPROG_FLAGS: u32 = flags::REPLACE | flags::BEFORE | flags::AFTER | flags::ID | flags::LINK;
/// BPF_F_QUERY_EFFECTIVE, the only query flag the syscall layer knows.
const QUERY_EFFECTIVE: u32 = 1;

/// What `bpftool prog show` reports about a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgInfo {
    pub id: ProgId,
    pub name: String,
    pub stats: ProgStats,
}

impl UserBackend {
    fn new_handle(&mut self, obj: Object) -> Handle {
        // Like fds: the lowest free number.
        let h = match self.free_handles.pop_first() {
            Some(h) => h,
            None => {
                self.next_handle += 1;
                self.next_handle - 1
            }
        };
        self.handles.insert(Handle(h), obj);
        Handle(h)
    }

    fn close_handle(&mut self, h: Handle) {
        if self.handles.remove(&h).is_some() {
            self.free_handles.insert(h.0);
        }
    }

    /// Registers an already runnable program (e.g. one the daemon loaded into the engine).
    pub fn load_classifier(
        &mut self,
        name: &str,
        classifier: Arc<dyn crate::prog::Classifier>,
    ) -> (Handle, ProgId) {
        let id = ProgId(self.next_prog_id);
        self.next_prog_id += 1;
        let prog = Arc::new(Prog::new(id, name, classifier));
        // Ids of programs nothing refers to any more are dropped once the map doubled.
        if self.progs.len() >= 2 * self.progs_live.max(32) {
            self.progs.retain(|_, w| w.strong_count() > 0);
            self.progs_live = self.progs.len();
        }
        self.progs.insert(id, Arc::downgrade(&prog));
        (self.new_handle(Object::Prog(prog)), id)
    }

    /// Id, name and run statistics of a program handle.
    pub fn prog_info(&self, prog: Handle) -> Result<ProgInfo, Error> {
        let p = self.prog_by_handle(prog)?;
        Ok(ProgInfo {
            id: p.id,
            name: p.name.clone(),
            stats: p.stats(),
        })
    }

    /// Every live program (held by a handle, an attachment or a link), by id.
    pub fn prog_list(&self) -> Vec<ProgInfo> {
        let mut out: Vec<ProgInfo> = self
            .progs
            .values()
            .filter_map(|w| w.upgrade())
            .map(|p| ProgInfo {
                id: p.id,
                name: p.name.clone(),
                stats: p.stats(),
            })
            .collect();
        out.sort_by_key(|p| p.id);
        out
    }

    fn object(&self, h: Handle) -> Result<&Object, Error> {
        match self.handles.get(&h) {
            Some(o) => Ok(o),
            // 0, 1, 2 are open files that are no BPF objects, as in a process.
            None if h.0 <= 2 => fail(Errno::EINVAL, format!("handle {} is not a BPF object", h.0)),
            None => fail(Errno::EBADF, format!("bad handle {}", h.0)),
        }
    }

    fn prog_by_handle(&self, h: Handle) -> Result<Arc<Prog>, Error> {
        match self.object(h)? {
            Object::Prog(p) => Ok(p.clone()),
            Object::Link(_) => fail(
                Errno::EINVAL,
                format!("handle {} is a link, not a program", h.0),
            ),
        }
    }

    fn link_by_handle(&self, h: Handle) -> Result<LinkId, Error> {
        match self.object(h)? {
            Object::Link(l) => Ok(*l),
            Object::Prog(_) => fail(
                Errno::EINVAL,
                format!("handle {} is a program, not a link", h.0),
            ),
        }
    }

    fn prog_by_id(&self, id: ProgId) -> Option<Arc<Prog>> {
        self.progs.get(&id).and_then(|w| w.upgrade())
    }

    /// The relative object of an attach or detach (spec/mprog.md §1.4).
    fn resolve_anchor(&self, f: u32, rel: Relative) -> Result<Option<Anchor>, Error> {
        let by_id = f & flags::ID != 0;
        if f & flags::LINK != 0 {
            let id = match (by_id, rel.0) {
                (true, 0) => return fail(Errno::ENOENT, "relative link id 0"),
                (true, id) => LinkId(id),
                (false, 0) => return fail(Errno::EINVAL, "BPF_F_LINK needs a relative link"),
                (false, fd) => self.link_by_handle(Handle(fd))?,
            };
            let Some(link) = self.links.get(&id) else {
                return fail(Errno::ENOENT, format!("no link with id {}", id.0));
            };
            return Ok(Some(Anchor {
                prog: link.prog.id,
                link: Some(id),
            }));
        }
        let prog = match (by_id, rel.0) {
            (false, 0) => return Ok(None),
            (true, 0) => return fail(Errno::ENOENT, "relative program id 0"),
            (true, id) => self
                .prog_by_id(ProgId(id))
                .ok_or_else(|| Error::new(Errno::ENOENT, format!("no program with id {id}")))?,
            (false, fd) => self.prog_by_handle(Handle(fd))?,
        };
        Ok(Some(Anchor {
            prog: prog.id,
            link: None,
        }))
    }

    /// `netkit_dev_fetch` (spec/netkit.md §3.2): the device whose programs `hook` names.
    fn hook_device(&self, ifindex: IfIndex, hook: Hook) -> Result<DevId, Error> {
        let dev = self.visible(ifindex, (Errno::ENXIO, "not a netkit device"))?;
        if !dev.primary {
            return fail(
                Errno::EACCES,
                "netkit programs are managed through the primary device",
            );
        }
        if dev.shape.pairing == Pairing::Single {
            return fail(
                Errno::EOPNOTSUPP,
                "netkit single device mode has no program hooks",
            );
        }
        match hook {
            Hook::Primary => Ok(dev.id),
            Hook::Peer => dev
                .peer
                .ok_or_else(|| Error::new(Errno::ENODEV, "netkit primary has no peer")),
        }
    }

    fn attach_on(&mut self, dev: DevId, op: AttachOp, rel: Relative) -> Result<(), Error> {
        let anchor = self.resolve_anchor(op.flags, rel);
        let d = self.devices.get_mut(&dev).expect("hook device exists");
        d.bundle.attach(op, || anchor)?;
        d.publish();
        Ok(())
    }

    fn detach_on(&mut self, dev: DevId, op: DetachOp, rel: Relative) -> Result<(), Error> {
        let anchor = self.resolve_anchor(op.flags, rel);
        let d = self.devices.get_mut(&dev).expect("hook device exists");
        d.bundle.detach(op, || anchor)?;
        d.publish();
        Ok(())
    }

    fn load(&mut self, src: &ProgSource) -> Result<(Handle, ProgId), Error> {
        let (name, classifier) = match &self.loader {
            Some(loader) => loader.load(src)?,
            None => EngineLoader.load(src)?,
        };
        Ok(self.load_classifier(&name, classifier))
    }

    fn attach(&mut self, req: &AttachReq) -> Result<(), Error> {
        if req.flags & !MPROG_FLAGS != 0 {
            return fail(
                Errno::EINVAL,
                format!("unknown attach flags {:#x}", req.flags & !MPROG_FLAGS),
            );
        }
        let prog = self.prog_by_handle(req.prog)?;
        let dev = self.hook_device(req.ifindex, req.hook)?;
        let replace = if req.flags & flags::REPLACE != 0 {
            Some(self.prog_by_handle(req.replace.unwrap_or(Handle(0)))?.id)
        } else {
            None
        };
        let op = AttachOp {
            prog,
            link: None,
            replace,
            flags: req.flags,
            expected_revision: req.expected_revision,
        };
        self.attach_on(dev, op, req.relative)
    }

    fn detach(&mut self, req: &DetachReq) -> Result<(), Error> {
        if req.flags & !MPROG_FLAGS != 0 {
            return fail(
                Errno::EINVAL,
                format!("unknown detach flags {:#x}", req.flags & !MPROG_FLAGS),
            );
        }
        let prog = match req.prog {
            Some(h) if h.0 != 0 => Some(self.prog_by_handle(h)?.id),
            _ => None,
        };
        let dev = self.hook_device(req.ifindex, req.hook)?;
        let op = DetachOp {
            prog,
            link: None,
            flags: req.flags,
            expected_revision: req.expected_revision,
        };
        self.detach_on(dev, op, req.relative)
    }

    fn query(&self, req: &QueryReq) -> Result<QueryResult, (Error, Option<QueryResult>)> {
        let no_partial = |e| (e, None);
        if req.query_flags & !QUERY_EFFECTIVE != 0 {
            return Err(no_partial(Error::new(Errno::EINVAL, "unknown query flags")));
        }
        let dev = self
            .hook_device(req.ifindex, req.hook)
            .map_err(no_partial)?;
        if req.query_flags != 0 || req.attach_flags != 0 {
            let msg = "query_flags and attach_flags must be 0 for netkit";
            return Err(no_partial(Error::new(Errno::EINVAL, msg)));
        }
        self.devices[&dev]
            .bundle
            .query(req.capacity)
            .map_err(|(e, partial)| (e, Some(partial)))
    }

    fn link_new(&mut self, req: &LinkCreateReq) -> Result<(Handle, LinkId), Error> {
        let prog = self.prog_by_handle(req.prog)?;
        let dev = self.hook_device(req.ifindex, req.hook)?;
        // The id is taken when the link is primed, so a failed create consumes one.
        let id = LinkId(self.next_link_id);
        self.next_link_id += 1;
        let op = AttachOp {
            prog: prog.clone(),
            link: Some(id),
            replace: None,
            flags: req.flags,
            expected_revision: req.expected_revision,
        };
        self.attach_on(dev, op, req.relative)?;
        let link = LinkState {
            id,
            prog,
            hook: req.hook,
            dev: Some(dev),
        };
        self.links.insert(id, link);
        Ok((self.new_handle(Object::Link(id)), id))
    }

    fn link_replace(
        &mut self,
        link: Handle,
        new: Handle,
        old: Option<Handle>,
    ) -> Result<(), Error> {
        let id = self.link_by_handle(link)?;
        let new = self.prog_by_handle(new)?;
        let old = old.map(|h| self.prog_by_handle(h)).transpose()?;
        let l = &self.links[&id];
        let Some(dev) = l.dev else {
            return fail(
                Errno::ENOLINK,
                "the link's device is gone or the link was detached",
            );
        };
        let current = l.prog.id;
        if old.is_some_and(|o| o.id != current) {
            return fail(
                Errno::EPERM,
                "the link runs a different program than the expected old one",
            );
        }
        if new.id == current {
            return Ok(());
        }
        let op = AttachOp {
            prog: new.clone(),
            link: Some(id),
            replace: Some(current),
            flags: flags::REPLACE,
            expected_revision: 0,
        };
        let d = self.devices.get_mut(&dev).expect("link device exists");
        d.bundle.attach(op, || Ok(None))?;
        d.publish();
        self.links.get_mut(&id).expect("link exists").prog = new;
        Ok(())
    }

    /// Removes a link's program and makes it defunct; a defunct link is left alone.
    fn link_release(&mut self, id: LinkId) -> Result<(), Error> {
        let l = &self.links[&id];
        let Some(dev) = l.dev else { return Ok(()) };
        let op = DetachOp {
            prog: Some(l.prog.id),
            link: Some(id),
            flags: 0,
            expected_revision: 0,
        };
        self.detach_on(dev, op, Relative(0))?;
        self.links.get_mut(&id).expect("link exists").dev = None;
        Ok(())
    }
}

/// EBADFD, which [`Errno`] has no name for.
const EBADFD: i32 = 77;

impl Backend for UserBackend {
    fn name(&self) -> &'static str {
        "user"
    }

    fn link_add(&mut self, req: &NewLink) -> Result<Created, Error> {
        UserBackend::link_add(self, req)
    }

    fn link_change(&mut self, ifindex: IfIndex, req: &ChangeLink) -> Result<(), Error> {
        UserBackend::link_change(self, ifindex, req)
    }

    fn link_set_up(&mut self, ifindex: IfIndex, up: bool) -> Result<(), Error> {
        UserBackend::link_set_up(self, ifindex, up)
    }

    fn link_set_address(&mut self, ifindex: IfIndex, address: &[u8]) -> Result<(), Error> {
        UserBackend::link_set_address(self, ifindex, address)
    }

    fn link_set_mtu(&mut self, ifindex: IfIndex, mtu: u32) -> Result<(), Error> {
        UserBackend::link_set_mtu(self, ifindex, mtu)
    }

    fn link_set_netns(&mut self, ifindex: IfIndex, netns: Option<&str>) -> Result<(), Error> {
        UserBackend::link_set_netns(self, ifindex, netns)
    }

    fn link_del(&mut self, ifindex: IfIndex) -> Result<(), Error> {
        UserBackend::link_del(self, ifindex)
    }

    fn link_get(&self, ifindex: IfIndex) -> Result<LinkInfo, Error> {
        UserBackend::link_get(self, ifindex)
    }

    fn ifindex_by_name(&self, name: &str) -> Result<IfIndex, Error> {
        UserBackend::ifindex_by_name(self, name)
    }

    fn prog_load(&mut self, src: &ProgSource) -> Result<(Handle, ProgId), Error> {
        self.load(src)
    }

    fn prog_close(&mut self, prog: Handle) -> Result<(), Error> {
        self.prog_by_handle(prog)?;
        // The program lives on while attached or referenced by a link.
        self.close_handle(prog);
        Ok(())
    }

    fn prog_attach(&mut self, req: &AttachReq) -> Result<(), Error> {
        self.attach(req)
    }

    fn prog_detach(&mut self, req: &DetachReq) -> Result<(), Error> {
        self.detach(req)
    }

    fn prog_query(&self, req: &QueryReq) -> Result<QueryResult, (Error, Option<QueryResult>)> {
        self.query(req)
    }

    fn link_create(&mut self, req: &LinkCreateReq) -> Result<(Handle, LinkId), Error> {
        self.link_new(req)
    }

    fn link_update(
        &mut self,
        link: Handle,
        new_prog: Handle,
        old: Option<Handle>,
    ) -> Result<(), Error> {
        self.link_replace(link, new_prog, old)
    }

    fn link_detach(&mut self, link: Handle) -> Result<(), Error> {
        let id = self.link_by_handle(link)?;
        self.link_release(id)
    }

    /// BPF_OBJ_GET_INFO_BY_FD: a handle that is not open is EBADFD there, not EBADF.
    fn link_info(&self, link: Handle) -> Result<BpfLinkInfo, Error> {
        let id = self.link_by_handle(link).map_err(|e| match e.errno {
            Errno::EBADF => Error::new(Errno::Other(EBADFD), e.msg),
            _ => e,
        })?;
        let l = &self.links[&id];
        Ok(BpfLinkInfo {
            id: l.id,
            prog_id: l.prog.id,
            ifindex: l.dev.map_or(0, |d| self.devices[&d].ifindex.0),
            hook: l.hook,
        })
    }

    fn link_close(&mut self, link: Handle) -> Result<(), Error> {
        let id = self.link_by_handle(link)?;
        self.link_release(id)?;
        self.close_handle(link);
        self.links.remove(&id);
        Ok(())
    }

    fn transmit(&mut self, ifindex: IfIndex, frame: &[u8]) -> Result<TxOutcome, Error> {
        UserBackend::transmit(self, ifindex, frame)
    }

    fn transmit_meta(
        &mut self,
        ifindex: IfIndex,
        frame: &[u8],
        meta: TxMeta,
    ) -> Result<TxOutcome, Error> {
        UserBackend::transmit_meta(self, ifindex, frame, meta)
    }

    fn set_netns(&mut self, netns: Option<&str>) -> Result<(), Error> {
        self.set_caller_netns(netns);
        Ok(())
    }
}
