//! `--backend kernel`: the same commands acting directly on the running kernel's netkit
//! (rtnetlink + bpf(2) through [`netkit_kernel::KernelBackend`]), with no daemon.
//!
//! A command is one process, and bpf(2) objects die with their last descriptor, so what must
//! outlive the command is pinned in bpffs under [`pin_dir`]: loaded programs as
//! `progs/<id>` (until `prog unload`) and BPF links as `links/<id>` (until `bpflink
//! detach`). Attachments made with BPF_PROG_ATTACH hold their program by themselves.
//! Answers are the daemon path's [`Response`]s, printed by the same formatting code. Maps and
//! the trace pipe are the kernel's own (kernel_maps.rs).

use std::path::{Path, PathBuf};

use netkit_core::{
    flags, AttachReq, Backend, DetachReq, Errno, Error, Handle, IfIndex, NewLink, PeerInfo,
    QueryReq, Relative,
};
use netkit_daemon::convert;
use netkit_kernel::bpf::{self, pin, BpfError, Fd};
use netkit_kernel::rtnl::{Dumped, Rtnl};
use netkit_kernel::KernelBackend;
use netkit_proto::{self as proto, Anchor, Request, Response};

use crate::grammar::Command;
use crate::output::{self, Format};

/// Where pins live unless `NETKIT_BPF_PIN_DIR` says otherwise.
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/netkit";

/// `NETKIT_BACKEND`: the backend when `--backend` is not given; `true` for the kernel.
pub fn backend_from_env() -> Result<bool, String> {
    match std::env::var("NETKIT_BACKEND").ok().as_deref() {
        None | Some("" | "daemon" | "user") => Ok(false),
        Some("kernel") => Ok(true),
        Some(other) => Err(format!(
            "NETKIT_BACKEND takes daemon or kernel, not \"{other}\""
        )),
    }
}

pub fn pin_dir() -> PathBuf {
    std::env::var_os("NETKIT_BPF_PIN_DIR")
        .map_or_else(|| PathBuf::from(DEFAULT_PIN_DIR), PathBuf::from)
}

/// Runs a daemon-path command against the kernel and prints the answer as the daemon path
/// does (`prog tracelog` prints the trace pipe as it comes, until a stop signal); the exit
/// status.
pub fn run(command: Command, format: Format) -> i32 {
    let result = match command {
        Command::Request(Request::ProgTracelog { id }) => maps::tracelog(id, format),
        other => execute(other).map(|resp| print(&resp, format)),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Error: {}: {}", e.errno.name(), e.msg);
            1
        }
    }
}

fn print(resp: &Response, format: Format) {
    let text = output::render(resp, format);
    if !text.is_empty() {
        println!("{text}");
    }
}

/// Runs a parsed command against the kernel; `prog tracelog` streams instead (see [`run`]).
pub fn execute(command: Command) -> Result<Response, Error> {
    let mut k = Kernel {
        nk: KernelBackend::new()?,
        pins: pin_dir(),
    };
    // Devices are the user's, as `ip link add` makes them: IPv6 stays on.
    k.nk.keep_ipv6(true);
    match command {
        Command::ProgLoad {
            path,
            section,
            name,
        } => k.prog_load(Path::new(&path), section.or(name).as_deref()),
        Command::Request(req) => k.request(req),
        other => Err(Error::new(
            Errno::EINVAL,
            format!("{other:?} does not take --backend kernel"),
        )),
    }
}

struct Kernel {
    nk: KernelBackend,
    pins: PathBuf,
}

/// A bpf(2) failure as the CLI reports it: the kernel's errno and what was being done.
pub(crate) fn bpf_err(e: BpfError) -> Error {
    io_errno(e.errno(), e.to_string())
}

/// An error from a raw errno (`EINVAL` when there is none).
fn io_errno(raw: Option<i32>, msg: String) -> Error {
    Error::new(Errno::from_raw(raw.unwrap_or(Errno::EINVAL.raw())), msg)
}

/// A raw descriptor the backend handed out, borrowed for pinning.
struct Borrowed(Handle);

impl std::os::fd::AsRawFd for Borrowed {
    fn as_raw_fd(&self) -> i32 {
        self.0 .0 as i32
    }
}

fn handle(fd: &Fd) -> Handle {
    Handle(fd.raw() as u32)
}

impl Kernel {
    fn request(&mut self, req: Request) -> Result<Response, Error> {
        match req {
            Request::LinkAdd(r) => self.link_add(&r),
            Request::LinkSet(r) => {
                let ifindex = self.nk.ifindex_by_name(&r.name)?;
                if r.policy.is_some() || r.peer_policy.is_some() {
                    let change = netkit_core::ChangeLink {
                        policy: r.policy.map(convert::policy_raw),
                        peer_policy: r.peer_policy.map(convert::policy_raw),
                        ..Default::default()
                    };
                    self.nk.link_change(ifindex, &change)?;
                }
                if let Some(ns) = &r.netns {
                    self.nk.link_set_netns(ifindex, Some(ns))?;
                }
                Ok(Response::Done)
            }
            Request::LinkDel { name } => {
                let ifindex = self.nk.ifindex_by_name(&name)?;
                // Only netkit devices (ENXIO otherwise): `link del eth0` must not work here.
                self.nk.link_get(ifindex)?;
                self.nk.link_del(ifindex)?;
                Ok(Response::Done)
            }
            Request::LinkShow { name } => self.link_show(name.as_deref()),
            Request::ProgShow { id } => self.prog_show(id),
            Request::ProgUnload { id } => self.prog_unload(id),
            Request::ProgAttach(r) => self.prog_attach(&r),
            Request::ProgDetach(r) => self.prog_detach(&r),
            Request::ProgQuery { dev, hook } => self.prog_query(&dev, hook),
            Request::BpflinkCreate(r) => self.bpflink_create(&r),
            Request::BpflinkUpdate {
                id,
                prog_id,
                old_prog_id,
            } => self.bpflink_update(id, prog_id, old_prog_id),
            Request::BpflinkDetach { id } => self.bpflink_detach(id),
            Request::BpflinkShow { id } => self.bpflink_show(id),
            Request::MapShow { id } => self.map_show(id),
            Request::MapDump { id } => self.map_dump(id),
            Request::MapLookup { id, key } => self.map_lookup(id, &key),
            Request::MapUpdate {
                id,
                key,
                value,
                flag,
            } => self.map_update(id, &key, &value, flag),
            Request::MapDelete { id, key } => self.map_delete(id, &key),
            other => Err(Error::new(
                Errno::EOPNOTSUPP,
                format!(
                    "{} is not available with --backend kernel",
                    request_name(&other)
                ),
            )),
        }
    }

    fn link_add(&mut self, r: &proto::LinkAddReq) -> Result<Response, Error> {
        let new = NewLink {
            name: r.name.clone(),
            mode: r.mode.map(convert::mode_raw),
            policy: r.policy.map(convert::policy_raw),
            peer_policy: r.peer_policy.map(convert::policy_raw),
            scrub: r.scrub.map(convert::scrub_raw),
            peer_scrub: r.peer_scrub.map(convert::scrub_raw),
            headroom: r.headroom,
            tailroom: r.tailroom,
            peer: (r.peer_name.is_some() || r.peer_netns.is_some() || r.peer_ifindex.is_some())
                .then(|| PeerInfo {
                    name: r.peer_name.clone(),
                    netns: r.peer_netns.clone(),
                    ifindex: r.peer_ifindex.unwrap_or(0),
                    ..PeerInfo::default()
                }),
            ifindex: r.ifindex.unwrap_or(0),
            ..NewLink::default()
        };
        let created = self.nk.link_add(&new).map_err(no_netkit_hint)?;
        let mut links = vec![self.view(created.primary, None)?];
        if let Some(peer) = created.peer {
            links.push(self.view(peer, r.peer_netns.clone())?);
        }
        Ok(Response::Links { links })
    }

    /// Every netkit device of this namespace, or the one named.
    fn link_show(&mut self, name: Option<&str>) -> Result<Response, Error> {
        let devices = Rtnl::open(None)?.dump()?;
        let mut links = Vec::new();
        for d in &devices {
            if name.is_some_and(|n| n != d.name) {
                continue;
            }
            if d.netkit.is_none() {
                if name.is_some() {
                    return Err(Error::new(
                        Errno::ENXIO,
                        format!("{} is not a netkit device", d.name),
                    ));
                }
                continue;
            }
            links.push(link_view(d, &devices, None)?);
        }
        if let (Some(n), true) = (name, links.is_empty()) {
            return Err(Error::new(
                Errno::ENODEV,
                format!("Device \"{n}\" does not exist"),
            ));
        }
        Ok(Response::Links { links })
    }

    /// One device just created, looked up in its namespace.
    fn view(&mut self, ifindex: IfIndex, netns: Option<String>) -> Result<proto::LinkView, Error> {
        let mut rtnl = Rtnl::open(netns.as_deref())?;
        let dev = rtnl.get(ifindex)?;
        let around = rtnl.dump()?;
        link_view(&dev, &around, netns)
    }
}

/// The daemon's view of a kernel device; `around` are the devices of its namespace, where the
/// other end is named if it lives there too.
fn link_view(
    d: &Dumped,
    around: &[Dumped],
    netns: Option<String>,
) -> Result<proto::LinkView, Error> {
    let info = d
        .to_link_info(netns.clone())
        .ok_or_else(|| Error::new(Errno::ENXIO, format!("{} is not a netkit device", d.name)))?;
    let other = d.link.filter(|&l| l != 0);
    let other_here = d.link_netnsid.is_none();
    let link_ifname = other.filter(|_| other_here).and_then(|l| {
        around
            .iter()
            .find(|x| x.ifindex.0 == l)
            .map(|x| x.name.clone())
    });
    let place = convert::EndPlace {
        ifindex: d.ifindex.0,
        ifname: info.name.clone(),
        link: (other, link_ifname),
        netns,
        dataplane: true,
    };
    Ok(convert::link_view(&info, place))
}

/// RTM_NEWLINK of kind netkit on a kernel built without it fails with EOPNOTSUPP ("Unknown
/// device type"); say what that means.
fn no_netkit_hint(e: Error) -> Error {
    if e.errno == Errno::EOPNOTSUPP {
        let msg = format!(
            "{} (this kernel has no netkit: it needs CONFIG_NETKIT, Linux 6.7 or later)",
            e.msg
        );
        return Error::new(e.errno, msg);
    }
    e
}

fn request_name(r: &Request) -> String {
    let debug = format!("{r:?}");
    let name = debug.split(['(', ' ', '{']).next().unwrap_or("request");
    name.to_string()
}

/// `(flags, relative)` of an anchor: ids straight through, as bpf(2) takes them.
pub(crate) fn anchor_flags(anchor: Option<Anchor>) -> (u32, Relative) {
    match anchor {
        None => (0, Relative(0)),
        Some(Anchor::First) => (flags::BEFORE, Relative(0)),
        Some(Anchor::Last) => (flags::AFTER, Relative(0)),
        Some(Anchor::BeforeProg(id)) => (flags::BEFORE | flags::ID, Relative(id)),
        Some(Anchor::AfterProg(id)) => (flags::AFTER | flags::ID, Relative(id)),
        Some(Anchor::BeforeLink(id)) => (flags::BEFORE | flags::ID | flags::LINK, Relative(id)),
        Some(Anchor::AfterLink(id)) => (flags::AFTER | flags::ID | flags::LINK, Relative(id)),
    }
}

impl Kernel {
    fn prog_fd(&self, id: u32) -> Result<Fd, Error> {
        bpf::prog_get_fd_by_id(id).map_err(bpf_err)
    }

    fn prog_pin(&self, id: u32) -> PathBuf {
        self.pins.join("progs").join(id.to_string())
    }

    fn link_pin(&self, id: u32) -> PathBuf {
        self.pins.join("links").join(id.to_string())
    }

    fn prog_load(&mut self, path: &Path, program: Option<&str>) -> Result<Response, Error> {
        let fd = netkit_kernel::object::load(path, program)?;
        let result = self.pin_loaded(fd);
        // The pin (if made) holds the program now; our descriptor goes either way.
        netkit_kernel::progs::close(fd)?;
        let id = result?;
        self.prog_show(Some(id))
    }

    fn pin_loaded(&self, fd: Handle) -> Result<u32, Error> {
        let id = netkit_kernel::progs::prog_id(fd)?.0;
        let at = self.prog_pin(id);
        self.make_pin_dir(&at)?;
        pin::obj_pin(&Borrowed(fd), &at).map_err(|e| pin_error(e, &self.pins))?;
        Ok(id)
    }

    fn make_pin_dir(&self, at: &Path) -> Result<(), Error> {
        let dir = at.parent().unwrap_or(&self.pins);
        std::fs::create_dir_all(dir).map_err(|e| {
            io_errno(
                e.raw_os_error(),
                format!(
                    "create {}: {e} (is bpffs mounted? mount -t bpf bpf /sys/fs/bpf)",
                    dir.display()
                ),
            )
        })
    }

    fn prog_unload(&mut self, id: u32) -> Result<Response, Error> {
        let at = self.prog_pin(id);
        std::fs::remove_file(&at).map_err(|e| {
            io_errno(
                e.raw_os_error(),
                format!(
                    "program {id} is not pinned by netkit ({}): {e}",
                    at.display()
                ),
            )
        })?;
        Ok(Response::Done)
    }

    fn prog_attach(&mut self, r: &proto::ProgAttachReq) -> Result<Response, Error> {
        let ifindex = self.nk.ifindex_by_name(&r.dev)?;
        let prog = self.prog_fd(r.prog_id)?;
        let replace = r.replace_prog_id.map(|id| self.prog_fd(id)).transpose()?;
        let (mut flags, relative) = anchor_flags(r.anchor);
        if replace.is_some() {
            flags |= flags::REPLACE;
        }
        self.nk.prog_attach(&AttachReq {
            ifindex,
            hook: convert::hook(r.hook),
            prog: handle(&prog),
            flags,
            relative,
            replace: replace.as_ref().map(handle),
            expected_revision: r.expected_revision.unwrap_or(0),
        })?;
        Ok(Response::Done)
    }

    fn prog_detach(&mut self, r: &proto::ProgDetachReq) -> Result<Response, Error> {
        let ifindex = self.nk.ifindex_by_name(&r.dev)?;
        let prog = r.prog_id.map(|id| self.prog_fd(id)).transpose()?;
        let (flags, relative) = anchor_flags(r.anchor);
        self.nk.prog_detach(&DetachReq {
            ifindex,
            hook: convert::hook(r.hook),
            prog: prog.as_ref().map(handle),
            flags,
            relative,
            expected_revision: r.expected_revision.unwrap_or(0),
        })?;
        Ok(Response::Done)
    }

    fn prog_query(&mut self, dev: &str, hook: proto::Hook) -> Result<Response, Error> {
        let ifindex = self.nk.ifindex_by_name(dev)?;
        let q = self
            .nk
            .prog_query(&QueryReq {
                ifindex,
                hook: convert::hook(hook),
                query_flags: 0,
                attach_flags: 0,
                capacity: Some(64),
            })
            .map_err(|(e, _)| e)?;
        Ok(Response::Query(proto::QueryView {
            dev: dev.to_string(),
            hook,
            revision: q.revision,
            progs: q
                .progs
                .iter()
                .map(|(p, l)| proto::QueryEntry {
                    prog_id: p.0,
                    link_id: l.map(|l| l.0),
                })
                .collect(),
        }))
    }
}

/// BPF_OBJ_PIN outside bpffs fails with EPERM; name the likely cause.
fn pin_error(e: BpfError, dir: &Path) -> Error {
    let mut err = bpf_err(e);
    if err.errno == Errno::EPERM {
        err.msg += &format!(
            " ({} must be on a BPF filesystem: mount -t bpf bpf /sys/fs/bpf, or set NETKIT_BPF_PIN_DIR)",
            dir.display()
        );
    }
    err
}

#[path = "kernel_show.rs"]
mod show;

#[path = "kernel_maps.rs"]
mod maps;
