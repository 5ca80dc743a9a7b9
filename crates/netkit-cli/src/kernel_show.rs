//! `--backend kernel`: program listings and BPF links. Links are pinned at
//! `<pin dir>/links/<id>` so they outlive the command that made them.

use std::collections::BTreeMap;

use netkit_core::{Backend, Errno, Error, LinkCreateReq};
use netkit_daemon::convert;
use netkit_kernel::bpf::{pin, Fd};
use netkit_kernel::rtnl::Rtnl;
use netkit_proto::{self as proto, Response};

use super::{anchor_flags, bpf_err, handle, io_errno, pin_error, Borrowed, Kernel};

/// "DEV/primary" and "DEV/peer" for every program attached to a netkit hook in this namespace.
fn attachments(k: &Kernel) -> Result<BTreeMap<u32, Vec<String>>, Error> {
    let mut at: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for d in Rtnl::open(None)?.dump()? {
        let primary = d.netkit.as_ref().is_some_and(|n| n.primary == Some(1));
        if !primary {
            continue;
        }
        for hook in [proto::Hook::Primary, proto::Hook::Peer] {
            let q = k.nk.prog_query(&netkit_core::QueryReq {
                ifindex: d.ifindex,
                hook: convert::hook(hook),
                query_flags: 0,
                attach_flags: 0,
                capacity: Some(64),
            });
            for (prog, _) in q.map_err(|(e, _)| e)?.progs {
                at.entry(prog.0)
                    .or_default()
                    .push(format!("{}/{}", d.name, hook.as_str()));
            }
        }
    }
    Ok(at)
}

/// Seconds since the epoch of a `bpf_prog_info.load_time` (nanoseconds since boot):
/// /proc/uptime is CLOCK_BOOTTIME.
fn loaded_at(load_time_ns: u64) -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let uptime = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    (now - uptime + load_time_ns as f64 / 1e9).max(0.0) as u64
}

impl Kernel {
    /// `prog show id N`: any program; `prog show`: the programs netkit pinned and those
    /// attached to netkit hooks of this namespace.
    pub(super) fn prog_show(&mut self, id: Option<u32>) -> Result<Response, Error> {
        let attached = attachments(self)?;
        let listing = id.is_none();
        let ids: Vec<u32> = match id {
            Some(id) => vec![id],
            None => {
                let mut ids: Vec<u32> = attached.keys().copied().collect();
                if let Ok(dir) = std::fs::read_dir(self.pins.join("progs")) {
                    ids.extend(
                        dir.flatten()
                            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()),
                    );
                }
                ids.sort_unstable();
                ids.dedup();
                ids
            }
        };
        let mut progs = Vec::new();
        for id in ids {
            let fd = match self.prog_fd(id) {
                Ok(fd) => fd,
                // Listed, then gone (detached and unpinned meanwhile).
                Err(_) if listing => continue,
                Err(e) => return Err(e),
            };
            let d = pin::prog_details(&fd).map_err(bpf_err)?;
            let pinned = self.prog_pin(id);
            progs.push(proto::ProgView {
                id,
                name: d.name,
                section: String::new(),
                file: if pinned.exists() {
                    pinned.display().to_string()
                } else {
                    String::new()
                },
                loaded_at: loaded_at(d.load_time_ns),
                run_cnt: d.run_cnt,
                run_time_ns: d.run_time_ns,
                bytes_xlated: u64::from(d.xlated_len),
                map_ids: d.map_ids,
                attached: attached.get(&id).cloned().unwrap_or_default(),
            });
        }
        Ok(Response::Progs { progs })
    }

    fn link_fd(&self, id: u32) -> Result<Fd, Error> {
        let pinned = self.link_pin(id);
        if pinned.exists() {
            return pin::obj_get(&pinned).map_err(bpf_err);
        }
        pin::link_get_fd_by_id(id).map_err(bpf_err)
    }

    pub(super) fn bpflink_create(
        &mut self,
        r: &proto::BpflinkCreateReq,
    ) -> Result<Response, Error> {
        let ifindex = self.nk.ifindex_by_name(&r.dev)?;
        let prog = self.prog_fd(r.prog_id)?;
        let (flags, relative) = anchor_flags(r.anchor);
        let (link, id) = self.nk.link_create(&LinkCreateReq {
            ifindex,
            hook: convert::hook(r.hook),
            prog: handle(&prog),
            flags,
            relative,
            expected_revision: r.expected_revision.unwrap_or(0),
        })?;
        let at = self.link_pin(id.0);
        let pinned = self.make_pin_dir(&at).and_then(|()| {
            pin::obj_pin(&Borrowed(link), &at).map_err(|e| pin_error(e, &self.pins))
        });
        if let Err(e) = pinned {
            // Nothing changed: without a pin the link would vanish with this process anyway.
            let _ = self.nk.link_detach(link);
            let _ = self.nk.link_close(link);
            return Err(e);
        }
        self.nk.link_close(link)?;
        self.bpflink_show(Some(id.0))
    }

    pub(super) fn bpflink_update(
        &mut self,
        id: u32,
        prog_id: u32,
        old_prog_id: Option<u32>,
    ) -> Result<Response, Error> {
        let link = self.link_fd(id)?;
        let prog = self.prog_fd(prog_id)?;
        let old = old_prog_id.map(|p| self.prog_fd(p)).transpose()?;
        self.nk
            .link_update(handle(&link), handle(&prog), old.as_ref().map(handle))?;
        Ok(Response::Done)
    }

    /// BPF_LINK_DETACH, then the pin goes so the kernel releases the link.
    pub(super) fn bpflink_detach(&mut self, id: u32) -> Result<Response, Error> {
        let link = self.link_fd(id)?;
        self.nk.link_detach(handle(&link))?;
        let at = self.link_pin(id);
        if at.exists() {
            std::fs::remove_file(&at).map_err(|e| {
                io_errno(
                    e.raw_os_error(),
                    format!(
                        "link {id} is detached but its pin {} stays: {e}",
                        at.display()
                    ),
                )
            })?;
        }
        Ok(Response::Done)
    }

    /// netkit links of the kernel (`bpftool link show`, netkit ones only).
    pub(super) fn bpflink_show(&mut self, id: Option<u32>) -> Result<Response, Error> {
        let ids = match id {
            Some(id) => vec![id],
            None => pin::all_ids(pin::Kind::Link).map_err(bpf_err)?,
        };
        let names: BTreeMap<u32, String> = Rtnl::open(None)?
            .dump()?
            .into_iter()
            .map(|d| (d.ifindex.0, d.name))
            .collect();
        let mut links = Vec::new();
        for lid in ids {
            let fd = match self.link_fd(lid) {
                Ok(fd) => fd,
                // Gone between listing and opening.
                Err(_) if id.is_none() => continue,
                Err(e) => return Err(e),
            };
            if pin::link_type(&fd).map_err(bpf_err)? != pin::LINK_TYPE_NETKIT {
                if id.is_some() {
                    return Err(Error::new(
                        Errno::EINVAL,
                        format!("link {lid} is not a netkit link"),
                    ));
                }
                continue;
            }
            let info = self.nk.link_info(handle(&fd))?;
            links.push(proto::BpflinkView {
                id: info.id.0,
                prog_id: info.prog_id.0,
                ifindex: info.ifindex,
                devname: names.get(&info.ifindex).cloned(),
                hook: match info.hook {
                    netkit_core::Hook::Primary => proto::Hook::Primary,
                    netkit_core::Hook::Peer => proto::Hook::Peer,
                },
            });
        }
        Ok(Response::Bpflinks { links })
    }
}
