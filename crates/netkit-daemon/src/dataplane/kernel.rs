//! Redirect targets that are kernel interfaces (not ours): a packet socket per interface,
//! opened on first use and published for lock-free lookup, and the neighbour resolution of
//! `bpf_redirect_neigh` from the kernel's route and neighbour tables.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use netkit_bpf::skb::NextHop;
use netkit_io::netns::{NetNs, NsId};
use netkit_io::packet::PacketSocket;
use netkit_io::rtnl::Rtnl;

/// A kernel interface we can transmit on.
#[derive(Debug)]
pub struct KernelTarget {
    pub sock: PacketSocket,
    /// Its hardware address (source MAC for redirect_neigh); zero when it has none.
    pub mac: [u8; 6],
}

/// Packet sockets by (namespace, ifindex), read without locks.
#[derive(Debug, Default)]
pub struct KernelTargets {
    table: ArcSwap<HashMap<(NsId, u32), Arc<KernelTarget>>>,
    publish: Mutex<()>,
}

impl KernelTargets {
    /// The target for `ifindex` in `ns`; the first use opens it (slow path, under a lock).
    pub fn get(&self, ns: &NetNs, nsid: NsId, ifindex: u32) -> Option<Arc<KernelTarget>> {
        if let Some(t) = self.table.load().get(&(nsid, ifindex)) {
            return Some(t.clone());
        }
        let _guard = self.publish.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = self.table.load().get(&(nsid, ifindex)) {
            return Some(t.clone());
        }
        let sock = PacketSocket::bind(ns, ifindex).ok()?;
        let link = ns.run(move || Rtnl::open()?.link(ifindex)).ok()?;
        let mac = <[u8; 6]>::try_from(link.address.as_slice()).unwrap_or_default();
        let target = Arc::new(KernelTarget { sock, mac });
        let mut next = HashMap::clone(&self.table.load());
        next.insert((nsid, ifindex), target.clone());
        self.table.store(Arc::new(next));
        Some(target)
    }

    /// Forgets every target (interfaces were deleted or renumbered).
    pub fn clear(&self) {
        let _guard = self.publish.lock().unwrap_or_else(|p| p.into_inner());
        self.table.store(Arc::default());
    }
}

/// How long a resolved neighbour is reused before asking the kernel again.
const NEIGH_TTL: Duration = Duration::from_secs(1);

/// A worker's neighbour cache and netlink sockets (one per namespace), so that only a miss
/// asks the kernel.
#[derive(Debug, Default)]
pub struct NeighResolver {
    rtnl: HashMap<NsId, Rtnl>,
    cache: HashMap<(NsId, u32, IpAddr), ([u8; 6], Instant)>,
}

impl NeighResolver {
    /// The destination MAC for a packet to `dst` leaving `ifindex` in `ns`: the neighbour
    /// entry of `nh` when the program gave a next hop, else of the route's gateway (or `dst`
    /// when on-link). `None` when unresolved.
    pub fn resolve(
        &mut self,
        ns: &NetNs,
        nsid: NsId,
        ifindex: u32,
        dst: Option<IpAddr>,
        nh: Option<NextHop>,
    ) -> Option<[u8; 6]> {
        let explicit = nh.map(|h| match h {
            NextHop::V4(a) => IpAddr::from(a),
            NextHop::V6(a) => IpAddr::from(a),
        });
        let key_ip = explicit.or(dst)?;
        if let Some((mac, at)) = self.cache.get(&(nsid, ifindex, key_ip)) {
            if at.elapsed() < NEIGH_TTL {
                return Some(*mac);
            }
        }
        let rtnl = match self.rtnl.entry(nsid) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(ns.run(Rtnl::open).ok()?),
        };
        let hop = match explicit {
            Some(ip) => ip,
            None => {
                let route = rtnl.route_get(key_ip, Some(ifindex)).ok()?;
                route.gateway.unwrap_or(key_ip)
            }
        };
        let mac = <[u8; 6]>::try_from(rtnl.neigh_get(ifindex, hop).ok()??.as_slice()).ok()?;
        self.cache
            .insert((nsid, ifindex, key_ip), (mac, Instant::now()));
        Some(mac)
    }
}
