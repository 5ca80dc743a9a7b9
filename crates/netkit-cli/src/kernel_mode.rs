//! `netkit --backend kernel link ...`: pair management against the running kernel's own
//! netkit driver (rtnetlink, through netkit-kernel), without the daemon. What the kernel
//! answers is printed the way the daemon's answers are, errnos included. Programs need the
//! daemon (or bpftool): a one-shot command cannot hold their file descriptors.

use netkit_core::{Backend, ChangeLink, Errno, IfIndex, LinkInfo, NewLink, PeerInfo};
use netkit_daemon::convert;
use netkit_kernel::KernelBackend;
use netkit_proto::{self as proto, Request, Response, WireError};

/// Serves one request against the kernel.
pub fn call(req: Request) -> Result<Response, WireError> {
    let mut k = KernelBackend::new().map_err(convert::wire)?;
    // A real pair, as `ip link add` makes it (the backend's default quiets IPv6 for tests).
    k.keep_ipv6(true);
    match req {
        Request::LinkAdd(r) => {
            let new = NewLink {
                name: r.name.clone(),
                mode: r.mode.map(convert::mode_raw),
                policy: r.policy.map(convert::policy_raw),
                peer_policy: r.peer_policy.map(convert::policy_raw),
                scrub: r.scrub.map(convert::scrub_raw),
                peer_scrub: r.peer_scrub.map(convert::scrub_raw),
                headroom: r.headroom,
                tailroom: r.tailroom,
                peer: (r.peer_name.is_some() || r.peer_netns.is_some()).then(|| PeerInfo {
                    name: r.peer_name.clone(),
                    netns: r.peer_netns.clone(),
                    ..PeerInfo::default()
                }),
                ..NewLink::default()
            };
            let created = k.link_add(&new).map_err(convert::wire)?;
            let mut links = vec![view(
                &k,
                k.link_get(created.primary).map_err(convert::wire)?,
            )];
            if let Some(peer) = created.peer {
                if let Ok(info) = k.link_get(peer) {
                    links.push(view(&k, info));
                }
            }
            Ok(Response::Links { links })
        }
        Request::LinkSet(r) => {
            let ifindex = k.ifindex_by_name(&r.name).map_err(convert::wire)?;
            let change = ChangeLink {
                policy: r.policy.map(convert::policy_raw),
                peer_policy: r.peer_policy.map(convert::policy_raw),
                ..ChangeLink::default()
            };
            k.link_change(ifindex, &change).map_err(convert::wire)?;
            Ok(Response::Done)
        }
        Request::LinkDel { name } => {
            let ifindex = k.ifindex_by_name(&name).map_err(convert::wire)?;
            // Only netkit devices: `link del eth0` must not work here.
            k.link_get(ifindex).map_err(convert::wire)?;
            k.link_del(ifindex).map_err(convert::wire)?;
            Ok(Response::Done)
        }
        Request::LinkShow { name } => {
            let ifindexes: Vec<IfIndex> = match name {
                Some(n) => vec![k.ifindex_by_name(&n).map_err(convert::wire)?],
                None => netkit_kernel::rtnl::Rtnl::open(None)
                    .and_then(|mut r| r.netkit_ifindices())
                    .map_err(convert::wire)?
                    .into_iter()
                    .collect(),
            };
            let links = ifindexes
                .into_iter()
                .map(|i| k.link_get(i).map(|info| view(&k, info)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(convert::wire)?;
            Ok(Response::Links { links })
        }
        other => Err(convert::errno(
            Errno::EOPNOTSUPP,
            format!(
                "{} needs the daemon: with --backend kernel only link add|set|del|show run \
                 (load and attach programs with bpftool there)",
                op_name(&other)
            ),
        )),
    }
}

fn op_name(req: &Request) -> String {
    serde_json::to_value(req)
        .ok()
        .and_then(|v| {
            v.get("op")
                .and_then(|o| o.as_str())
                .map(|s| s.replace('_', " "))
        })
        .unwrap_or_else(|| "this command".into())
}

fn view(k: &KernelBackend, info: LinkInfo) -> proto::LinkView {
    let other = info.peer_ifindex.and_then(|p| k.link_get(p).ok());
    proto::LinkView {
        ifindex: info.ifindex.0,
        ifname: info.name.clone(),
        link_ifindex: info.peer_ifindex.map(|i| i.0),
        link_ifname: other.map(|o| o.name),
        netns: info.netns.clone(),
        primary: info.primary,
        mode: convert::mode(info.mode),
        policy: convert::policy(info.policy),
        peer_policy: info.peer_policy.map(convert::policy),
        scrub: convert::scrub(info.scrub),
        peer_scrub: info.peer_scrub.map(convert::scrub),
        headroom: info.headroom,
        tailroom: info.tailroom,
        mtu: info.mtu,
        address: (info.mode == netkit_core::Mode::L2).then(|| convert::mac(info.address)),
        up: info.up,
        carrier: info.carrier,
        stats: convert::stats(info.stats),
        dataplane: true,
        model_ifindex: info.ifindex.0,
    }
}
