//! What `show` requests answer: devices, programs and links as the client sees them.

use crate::convert::{self, errno, wire};
use crate::ids::{LinkId, ProgId};
use crate::registry::Registry;
use netkit_core::{Backend, Errno};
use netkit_proto::{self as proto, Hook, Response, WireError};

/// One end of pair `i`.
pub(crate) fn link_view(
    reg: &mut Registry,
    i: usize,
    primary: bool,
) -> Result<proto::LinkView, WireError> {
    let d = &reg.devices[i];
    let peer_ns = d.rec.create.peer_netns.clone();
    let (me, me_ns, other, other_ns) = if primary {
        (d.model_primary, None, d.model_peer, peer_ns)
    } else {
        (d.model_peer, peer_ns, d.model_primary, None)
    };
    let info = reg.link_get_in(me, me_ns.as_deref()).map_err(wire)?;
    let other_info = reg.link_get_in(other, other_ns.as_deref()).ok();
    let d = &reg.devices[i];
    let (ifindex, other_ifindex) = if primary {
        (d.rec.ifindex, d.rec.peer_ifindex)
    } else {
        (d.rec.peer_ifindex, d.rec.ifindex)
    };
    let (name, other_name) = if primary {
        (&d.rec.create.name, &d.rec.create.peer_name)
    } else {
        (&d.rec.create.peer_name, &d.rec.create.name)
    };
    let dataplane = reg
        .plumbing
        .is_forwarding(d.rec.create.name.as_deref().unwrap_or_default());
    let place = convert::EndPlace {
        ifindex,
        ifname: name.clone().unwrap_or(info.name.clone()),
        link: (
            other_info.as_ref().map(|_| other_ifindex),
            other_name.clone(),
        ),
        netns: if primary {
            None
        } else {
            d.rec.create.peer_netns.clone()
        },
        dataplane,
    };
    Ok(convert::link_view(&info, place))
}

/// "DEV/hook" for every hook program `id` is attached to.
pub(crate) fn attached_to(reg: &Registry, id: ProgId) -> Vec<String> {
    let mut out = Vec::new();
    for d in &reg.devices {
        let Some(name) = d.rec.create.name.as_deref() else {
            continue;
        };
        for hook in [Hook::Primary, Hook::Peer] {
            if let Ok(q) = reg.prog_query(name, hook) {
                if q.progs.iter().any(|e| e.prog_id == id.0) {
                    out.push(format!("{name}/{}", hook.as_str()));
                }
            }
        }
    }
    out
}

pub(crate) fn prog_show(reg: &Registry, id: Option<ProgId>) -> Result<Response, WireError> {
    let ids: Vec<ProgId> = match id {
        Some(id) => vec![reg.prog(id)?.rec.id],
        None => reg.progs.keys().copied().collect(),
    };
    let progs = ids
        .into_iter()
        .filter_map(|id| reg.progs.get(&id))
        .map(|p| {
            let stats = reg
                .backend
                .prog_info(p.handle)
                .map(|i| i.stats)
                .unwrap_or_default();
            proto::ProgView {
                id: p.rec.id.0,
                name: p.rec.name.clone(),
                section: p.rec.section.clone(),
                file: p.rec.file.clone(),
                loaded_at: p.rec.loaded_at,
                run_cnt: stats.run_cnt,
                run_time_ns: stats.run_time_ns,
                bytes_xlated: p.loaded.program.len() as u64 * 8,
                map_ids: p.rec.map_ids.iter().map(|m| m.0).collect(),
                attached: attached_to(reg, p.rec.id),
            }
        })
        .collect();
    Ok(Response::Progs { progs })
}

pub(crate) fn bpflink_show(reg: &Registry, id: Option<LinkId>) -> Result<Response, WireError> {
    if let Some(id) = id {
        if !reg.links.contains_key(&id) {
            return Err(errno(Errno::ENOENT, format!("no BPF link with id {id}")));
        }
    }
    let mut links = Vec::new();
    for (lid, l) in &reg.links {
        if id.is_some_and(|want| want != *lid) {
            continue;
        }
        let info = reg.backend.link_info(l.handle).map_err(wire)?;
        let dev = reg.find_device(&l.rec.dev).map(|(i, _)| &reg.devices[i]);
        links.push(proto::BpflinkView {
            id: lid.0,
            prog_id: l.rec.prog_id.0,
            ifindex: if info.ifindex == 0 {
                0
            } else {
                dev.map_or(info.ifindex, |d| d.rec.ifindex)
            },
            devname: (info.ifindex != 0).then(|| l.rec.dev.clone()),
            hook: l.rec.hook,
        });
    }
    Ok(Response::Bpflinks { links })
}
