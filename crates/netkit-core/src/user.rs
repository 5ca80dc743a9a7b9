//! The user-space backend: netkit pairs, their programs and links, modelled in memory with
//! the kernel's rules. The control path takes `&mut self`; the datapath ([`Datapath`]) is a
//! cheap clone that transmits packets concurrently without taking any lock.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Weak};

use arc_swap::ArcSwap;
use netkit_bpf::skb::{RedirectKind, Skb};

use crate::compat::{Compat, KernelVersion};
pub use crate::datapath::Datapath;
use crate::device::*;
use crate::error::{fail, Errno, Error};
use crate::prog::{Classifier, Prog};
use crate::types::*;
use crate::xmit::{xmit, Delivery, DevKey, DevTable, NetnsId};

/// Loads programs from object files (the eBPF engine plugs in here).
pub trait ProgLoader: Send {
    /// Returns the program's name and its runnable form.
    fn load(&self, src: &ProgSource) -> Result<(String, Arc<dyn Classifier>), Error>;
}

/// What a handle (the model's file descriptor) refers to.
#[derive(Clone, Debug)]
pub(crate) enum Object {
    Prog(Arc<Prog>),
    Link(LinkId),
}

/// A netkit BPF link.
#[derive(Debug)]
pub(crate) struct LinkState {
    pub(crate) id: LinkId,
    pub(crate) prog: Arc<Prog>,
    pub(crate) hook: Hook,
    /// The device the program is installed on (the peer for a PEER link); `None` = defunct.
    pub(crate) dev: Option<DevId>,
}

/// A device of another kind (e.g. a physical NIC the daemon forwards to).
#[derive(Clone, Debug)]
struct Foreign {
    name: String,
}

/// The user-space model of netkit.
pub struct UserBackend {
    pub(crate) compat: Compat,
    pub(crate) devices: BTreeMap<DevId, Device>,
    /// Netkit devices by namespace and ifindex (ifindexes are unique per namespace only).
    index: HashMap<DevKey, DevId>,
    foreign: BTreeMap<DevKey, Foreign>,
    /// Every device name per namespace (loopback aside), for O(1) name checks.
    names: HashSet<(NetnsId, String)>,
    /// Namespace names; id = index + 1 (0 = the initial namespace).
    netns_names: Vec<String>,
    /// The namespace the caller is in: ifindexes and names resolve here.
    pub(crate) caller_ns: NetnsId,
    /// Per namespace, the next ifindex to try when a creation asks for none (absent: 2, lo
    /// took 1), as `net->ifindex` is the kernel's.
    next_ifindex: HashMap<NetnsId, u32>,
    next_dev_id: u32,
    /// Whether redirect targets unknown to the model are left to the datapath's caller.
    external: bool,
    pub(crate) handles: HashMap<Handle, Object>,
    /// Closed handles below `next_handle`, reused lowest first as file descriptors are.
    pub(crate) free_handles: BTreeSet<u32>,
    pub(crate) next_handle: u32,
    pub(crate) progs: HashMap<ProgId, Weak<Prog>>,
    /// Live programs at the last purge of dead ids from `progs` (amortises the purge).
    pub(crate) progs_live: usize,
    pub(crate) links: HashMap<LinkId, LinkState>,
    pub(crate) next_prog_id: u32,
    pub(crate) next_link_id: u32,
    pub(crate) loader: Option<Box<dyn ProgLoader>>,
    table: Arc<ArcSwap<DevTable>>,
    timed: Arc<AtomicBool>,
    mac_seed: RandomState,
    mac_count: u64,
}

impl Default for UserBackend {
    fn default() -> UserBackend {
        UserBackend::new(KernelVersion::Newest.compat())
    }
}

impl UserBackend {
    pub fn new(compat: Compat) -> UserBackend {
        UserBackend {
            compat,
            devices: BTreeMap::new(),
            index: HashMap::new(),
            foreign: BTreeMap::new(),
            names: HashSet::new(),
            netns_names: Vec::new(),
            caller_ns: 0,
            next_ifindex: HashMap::new(),
            next_dev_id: 1,
            external: false,
            handles: HashMap::new(),
            free_handles: BTreeSet::new(),
            // 0, 1 and 2 are taken, as stdin, stdout and stderr are in a process.
            next_handle: 3,
            progs: HashMap::new(),
            progs_live: 0,
            links: HashMap::new(),
            next_prog_id: 1,
            next_link_id: 1,
            loader: None,
            table: Arc::new(ArcSwap::from_pointee(DevTable::default())),
            timed: Arc::new(AtomicBool::new(false)),
            mac_seed: RandomState::new(),
            mac_count: 0,
        }
    }

    pub fn with_version(version: KernelVersion) -> UserBackend {
        UserBackend::new(version.compat())
    }

    pub fn compat(&self) -> Compat {
        self.compat
    }

    /// The datapath handle for per-packet transmits.
    pub fn datapath(&self) -> Datapath {
        Datapath {
            table: self.table.clone(),
            timed: self.timed.clone(),
        }
    }

    /// kernel.bpf_stats_enabled: whether program run time is measured (run counts always are).
    /// Off by default as in the kernel: timing every program costs two clock reads.
    pub fn set_run_time_stats(&self, on: bool) {
        self.timed.store(on, Relaxed);
    }

    /// Replaces the default loader ([`crate::engine::EngineLoader`]).
    pub fn set_loader(&mut self, loader: Box<dyn ProgLoader>) {
        self.loader = Some(loader);
    }

    /// Makes later requests act as if issued from namespace `netns` (`None` = initial).
    pub fn set_caller_netns(&mut self, netns: Option<&str>) {
        self.caller_ns = self.intern_ns(netns);
    }

    /// Adds a non-netkit device (e.g. a physical NIC) that programs may redirect to.
    pub fn add_foreign_device(
        &mut self,
        name: &str,
        netns: Option<&str>,
    ) -> Result<IfIndex, Error> {
        let ns = self.intern_ns(netns);
        let name = assign_name(name, |n| self.name_taken(n, ns))?;
        let ifindex = self.alloc_ifindex(ns, None);
        self.names.insert((ns, name.clone()));
        self.foreign.insert((ns, ifindex), Foreign { name });
        self.republish();
        Ok(ifindex)
    }

    /// Leaves redirect targets the model does not know to the caller of the datapath, which
    /// knows the kernel's interfaces (the daemon transmits on them through packet sockets);
    /// off by default: such a redirect drops, as for a target that exists nowhere.
    pub fn set_external_targets(&mut self, on: bool) {
        self.external = on;
        self.republish();
    }

    /// The model's number for namespace `netns` (an `ip netns` name; `None` = the initial
    /// one), as [`Datapath::xmit_in`] takes it.
    pub fn netns_id(&mut self, netns: Option<&str>) -> NetnsId {
        self.intern_ns(netns)
    }

    fn intern_ns(&mut self, netns: Option<&str>) -> NetnsId {
        let Some(name) = netns else { return 0 };
        if let Some(i) = self.netns_names.iter().position(|n| n == name) {
            return i as NetnsId + 1;
        }
        self.netns_names.push(name.to_string());
        self.netns_names.len() as NetnsId
    }

    fn ns_name(&self, ns: NetnsId) -> Option<String> {
        (ns > 0).then(|| self.netns_names[ns as usize - 1].clone())
    }

    fn name_taken(&self, name: &str, ns: NetnsId) -> bool {
        name == "lo" || self.names.contains(&(ns, name.to_string()))
    }

    /// Whether `ifindex` names a device (loopback included) in namespace `ns`.
    fn ifindex_taken(&self, ns: NetnsId, ifindex: IfIndex) -> bool {
        ifindex == IfIndex(1)
            || self.index.contains_key(&(ns, ifindex))
            || self.foreign.contains_key(&(ns, ifindex))
    }

    /// An ifindex free in `ns` (and not `pending`'s, a device not registered yet), as
    /// dev_index_reserve(net, 0) finds it: cyclic from the one after the last allocated there;
    /// requested ifindexes do not move the counter and freed ones wait for the wrap.
    fn alloc_ifindex(&mut self, ns: NetnsId, pending: Option<DevKey>) -> IfIndex {
        let mut next = self.next_ifindex.get(&ns).copied().unwrap_or(2);
        let found = loop {
            let i = IfIndex(next);
            next = if next >= i32::MAX as u32 { 2 } else { next + 1 };
            if !self.ifindex_taken(ns, i) && pending != Some((ns, i)) {
                break i;
            }
        };
        self.next_ifindex.insert(ns, next);
        found
    }

    fn random_mac(&mut self) -> [u8; 6] {
        self.mac_count += 1;
        random_mac(self.mac_seed.hash_one(self.mac_count))
    }

    /// Republishes the device table for the datapath (devices added, removed, re-paired).
    fn republish(&self) {
        let devs = self.devices.values();
        let table = DevTable {
            by_id: devs.clone().map(|d| (d.id, d.path.clone())).collect(),
            netkit: devs
                .map(|d| ((d.netns, d.ifindex), d.path.clone()))
                .collect(),
            foreign: self.foreign.keys().copied().collect(),
            external: self.external,
        };
        self.table.store(Arc::new(table));
    }

    /// A netkit device visible in the caller's namespace; ENODEV otherwise, ENXIO-like
    /// `other_kind` for loopback and foreign devices.
    pub(crate) fn visible(
        &self,
        ifindex: IfIndex,
        other_kind: (Errno, &str),
    ) -> Result<&Device, Error> {
        if self.is_other_kind(ifindex) {
            return fail(other_kind.0, other_kind.1);
        }
        match self.index.get(&(self.caller_ns, ifindex)) {
            Some(id) => Ok(&self.devices[id]),
            None => fail(
                Errno::ENODEV,
                format!("no device with ifindex {}", ifindex.0),
            ),
        }
    }

    fn is_other_kind(&self, ifindex: IfIndex) -> bool {
        ifindex == IfIndex(1) || self.foreign.contains_key(&(self.caller_ns, ifindex))
    }

    fn dev_mut(&mut self, id: DevId) -> &mut Device {
        self.devices.get_mut(&id).expect("device resolved before")
    }

    /// RTM_NEWLINK kind netkit (spec/netkit.md §1.3): attribute checks ([`check_new_link`],
    /// the requested ifindex's lookup, [`plan_pair`]), then the peer is registered first
    /// (lower ifindex, first free `nkN`), then the primary.
    /// The ifindexes asked for (`NewLink::ifindex`, `PeerInfo::ifindex`, the `ifi_index` of
    /// the message and of PEER_INFO): a negative one → EINVAL, the primary's taken in the
    /// caller's namespace → EEXIST (the core finds the "existing" device), the peer's taken in
    /// its namespace → EBUSY at registration. The peer's is used only when the primary's is too.
    pub fn link_add(&mut self, req: &NewLink) -> Result<Created, Error> {
        if let Some(name) = &req.name {
            check_name_len(name)?;
        }
        if req.ifindex < 0 {
            return fail(Errno::EINVAL, "ifindex can't be negative");
        }
        check_new_link(req, self.compat)?;
        let wanted = |i: i32| (i != 0).then_some(i);
        let primary_at = wanted(req.ifindex);
        if let Some(i) = primary_at {
            if self.ifindex_taken(self.caller_ns, IfIndex(i as u32)) {
                return fail(Errno::EEXIST, format!("a device with ifindex {i} exists"));
            }
        }
        let plan = plan_pair(req, self.compat)?;
        let peer_at = primary_at.and(req.peer.as_ref().and_then(|p| wanted(p.ifindex)));
        let peer = match plan.peer {
            Some(end) => Some(self.new_device(end, plan.shape, false, None, peer_at)?),
            None => None,
        };
        let mut primary =
            self.new_device(plan.primary, plan.shape, true, peer.as_ref(), primary_at)?;
        let created = Created {
            primary: primary.ifindex,
            peer: peer.as_ref().map(|p| p.ifindex),
        };
        for dev in std::iter::once(&primary).chain(peer.as_ref()) {
            self.names.insert((dev.netns, dev.name.clone()));
            self.index.insert((dev.netns, dev.ifindex), dev.id);
        }
        if let Some(mut peer) = peer {
            peer.set_peer(Some(primary.id));
            primary.set_peer(Some(peer.id));
            self.devices.insert(peer.id, peer);
        }
        self.devices.insert(primary.id, primary);
        self.republish();
        Ok(created)
    }

    /// [`UserBackend::link_add`] at the ifindexes `at` names (for callers that keep them
    /// apart from the request): they replace `req`'s; a peer ifindex brings PEER_INFO along.
    pub fn link_add_at(&mut self, req: &NewLink, at: IfIndexRequest) -> Result<Created, Error> {
        let mut req = req.clone();
        req.ifindex = at.primary;
        if at.peer != 0 || req.peer.is_some() {
            req.peer.get_or_insert_with(PeerInfo::default).ifindex = at.peer;
        }
        self.link_add(&req)
    }

    /// Names, addresses and numbers one end of a new pair (`pending`: the peer not yet
    /// registered, whose name is taken too). A failure leaves nothing behind.
    fn new_device(
        &mut self,
        end: EndPlan,
        shape: Shape,
        primary: bool,
        pending: Option<&Device>,
        ifindex: Option<i32>,
    ) -> Result<Device, Error> {
        let ns = match end.netns.as_deref() {
            Some(label) => self.intern_ns(Some(label)),
            None => self.caller_ns,
        };
        let taken = |n: &str| {
            self.name_taken(n, ns) || pending.is_some_and(|p| p.netns == ns && p.name == n)
        };
        let name = assign_name(&end.name, taken)?;
        let pending_key = pending.map(|p| (p.netns, p.ifindex));
        let ifindex = match ifindex {
            None => self.alloc_ifindex(ns, pending_key),
            Some(i) if i < 0 => return fail(Errno::EINVAL, "ifindex can't be negative"),
            Some(i) => {
                let i = IfIndex(i as u32);
                if self.ifindex_taken(ns, i) || pending_key == Some((ns, i)) {
                    return fail(
                        Errno::EBUSY,
                        format!("ifindex {} is taken in the namespace", i.0),
                    );
                }
                i
            }
        };
        let id = DevId(self.next_dev_id);
        self.next_dev_id += 1;
        let mac = match (shape.mode, end.mac) {
            (Mode::L3, _) => [0; 6],
            (Mode::L2, Some(mac)) => mac,
            (Mode::L2, None) => self.random_mac(),
        };
        Ok(Device::new(DevSpec {
            id,
            ifindex,
            name,
            netns: ns,
            primary,
            shape,
            policy: end.policy,
            scrub: end.scrub,
            mtu: end.mtu,
            mac,
            legacy_scrub: !self.compat.scrub_attrs,
        }))
    }

    /// changelink (spec/netkit.md §1.8), including the POLICY-committed-first quirk.
    pub fn link_change(&mut self, ifindex: IfIndex, req: &ChangeLink) -> Result<(), Error> {
        let c = self.compat;
        let dev = self.visible(ifindex, (Errno::EOPNOTSUPP, "not a netkit device"))?;
        if c.mode_policy_range {
            check_max1(req.mode, "IFLA_NETKIT_MODE")?;
        }
        if c.scrub_attrs {
            check_max1(req.scrub, "IFLA_NETKIT_SCRUB")?;
            check_max1(req.peer_scrub, "IFLA_NETKIT_PEER_SCRUB")?;
        }
        if c.pairing_attr {
            check_max1(req.pairing, "IFLA_NETKIT_PAIRING")?;
        }
        if !dev.primary {
            return fail(
                Errno::EACCES,
                "netkit link settings can be changed only through the primary device",
            );
        }
        let fixed = [
            ("operating mode", req.mode.is_some(), true),
            ("scrubbing", req.scrub.is_some(), c.scrub_attrs),
            ("peer scrubbing", req.peer_scrub.is_some(), c.scrub_attrs),
            ("peer info", req.peer_info, c.room_attrs),
            ("headroom", req.headroom.is_some(), c.room_attrs),
            ("tailroom", req.tailroom.is_some(), c.room_attrs),
            ("pairing", req.pairing.is_some(), c.pairing_attr),
        ];
        if let Some((what, _, _)) = fixed.iter().find(|(_, given, known)| *given && *known) {
            return fail(
                Errno::EACCES,
                format!("netkit link {what} cannot be changed after device creation"),
            );
        }
        if req.peer_info {
            return fail(
                Errno::EINVAL,
                "netkit link peer info cannot be changed after device creation",
            );
        }
        let (id, single, peer) = (dev.id, dev.shape.pairing == Pairing::Single, dev.peer);
        if let Some(raw) = req.policy {
            let policy = parse_policy(raw)?;
            if single {
                return fail(
                    Errno::EOPNOTSUPP,
                    "netkit single device policy cannot be changed",
                );
            }
            self.dev_mut(id).set_policy(policy);
        }
        if let Some(raw) = req.peer_policy {
            let Some(peer) = peer else {
                return fail(Errno::EOPNOTSUPP, "netkit device has no peer");
            };
            let policy = parse_policy(raw)?;
            self.dev_mut(peer).set_policy(policy);
        }
        Ok(())
    }

    /// IFF_UP on or off: carrier on both ends only while both are up (spec/netkit.md §1.6).
    pub fn link_set_up(&mut self, ifindex: IfIndex, up: bool) -> Result<(), Error> {
        if self.is_other_kind(ifindex) {
            return Ok(());
        }
        let dev = self.visible(ifindex, (Errno::ENODEV, ""))?;
        let (id, single, peer) = (dev.id, dev.shape.pairing == Pairing::Single, dev.peer);
        if !up {
            self.dev_mut(id).set_up(false);
            for i in std::iter::once(id).chain(peer) {
                self.dev_mut(i).carrier = false;
            }
            return Ok(());
        }
        if !single && peer.is_none() {
            return fail(Errno::ENOTCONN, "netkit device has no peer");
        }
        self.dev_mut(id).set_up(true);
        let peer_up = peer.is_some_and(|p| self.devices[&p].up);
        if single || peer_up {
            for i in std::iter::once(id).chain(peer) {
                self.dev_mut(i).carrier = true;
            }
        }
        Ok(())
    }

    /// IFLA_ADDRESS on an existing device (`netkit_set_macaddr`, 6.10+).
    pub fn link_set_address(&mut self, ifindex: IfIndex, address: &[u8]) -> Result<(), Error> {
        let dev = self.visible(
            ifindex,
            (Errno::EOPNOTSUPP, "device address is not modelled"),
        )?;
        // rtnetlink only insists on at least addr_len bytes and copies addr_len of them.
        if address.len() < 6 {
            return fail(
                Errno::EINVAL,
                format!("address must be 6 bytes, got {}", address.len()),
            );
        }
        if dev.shape.mode != Mode::L2 {
            return fail(
                Errno::EOPNOTSUPP,
                "netkit in L3 mode has no settable Ethernet address",
            );
        }
        let id = dev.id;
        let mac: [u8; 6] = address[..6].try_into().unwrap_or_default();
        if !is_valid_ether(mac) {
            return fail(
                Errno::EADDRNOTAVAIL,
                format!("{} is not a unicast Ethernet address", fmt_mac(mac)),
            );
        }
        self.dev_mut(id).set_mac(mac);
        Ok(())
    }

    pub fn link_set_mtu(&mut self, ifindex: IfIndex, mtu: u32) -> Result<(), Error> {
        let id = self
            .visible(ifindex, (Errno::EOPNOTSUPP, "loopback MTU is not modelled"))?
            .id;
        check_mtu(mtu)?;
        self.dev_mut(id).mtu = mtu;
        Ok(())
    }

    /// Moves a device to namespace `netns` (a label); it is closed first, as the core does.
    /// It keeps its ifindex unless that is taken there, when it gets a new one.
    pub fn link_set_netns(&mut self, ifindex: IfIndex, netns: Option<&str>) -> Result<(), Error> {
        let id = self
            .visible(ifindex, (Errno::EINVAL, "loopback cannot change namespace"))?
            .id;
        let ns = self.intern_ns(netns);
        let (name, old) = (self.devices[&id].name.clone(), self.devices[&id].netns);
        if old == ns {
            return Ok(()); // dev_change_net_namespace: same namespace, nothing happens
        }
        if self.name_taken(&name, ns) {
            return fail(
                Errno::EEXIST,
                format!("device {name} already exists in the target namespace"),
            );
        }
        self.link_set_up(ifindex, false)?;
        self.names.remove(&(old, name.clone()));
        self.names.insert((ns, name));
        let new_index = if self.ifindex_taken(ns, ifindex) {
            self.alloc_ifindex(ns, None)
        } else {
            ifindex
        };
        self.index.remove(&(old, ifindex));
        self.index.insert((ns, new_index), id);
        let dev = self.dev_mut(id);
        dev.set_netns(ns);
        dev.set_ifindex(new_index);
        self.republish();
        Ok(())
    }

    /// A namespace is destroyed: every pair with an end in it is deleted (netkit has a
    /// dellink operation, so the core deletes rather than moves its devices), and so are the
    /// other devices registered there. Returns the deleted netkit ifindexes.
    pub fn netns_del(&mut self, netns: &str) -> Vec<IfIndex> {
        let Some(pos) = self.netns_names.iter().position(|n| n == netns) else {
            return Vec::new();
        };
        let ns = pos as NetnsId + 1;
        let mut gone = Vec::new();
        while let Some(d) = self.devices.values().find(|d| d.netns == ns) {
            let (id, peer) = (d.id, d.peer);
            gone.extend(
                std::iter::once(id)
                    .chain(peer)
                    .map(|i| self.devices[&i].ifindex),
            );
            self.delete_pair(id);
        }
        self.foreign.retain(|(n, _), _| *n != ns);
        self.names.retain(|(n, _)| *n != ns);
        if self.caller_ns == ns {
            self.caller_ns = 0;
        }
        self.republish();
        gone.sort();
        gone
    }

    /// RTM_DELLINK: deleting either end deletes both; their links go defunct.
    pub fn link_del(&mut self, ifindex: IfIndex) -> Result<(), Error> {
        if self.is_other_kind(ifindex) {
            if let Some(f) = self.foreign.remove(&(self.caller_ns, ifindex)) {
                self.names.remove(&(self.caller_ns, f.name));
                self.republish();
                return Ok(());
            }
            return fail(Errno::EOPNOTSUPP, "loopback cannot be deleted");
        }
        let id = self.visible(ifindex, (Errno::ENODEV, ""))?.id;
        self.delete_pair(id);
        self.republish();
        Ok(())
    }

    /// Unregisters `id` and its other end: peer pointers cleared first, programs
    /// released, links defunct. The caller republishes the device table.
    fn delete_pair(&mut self, id: DevId) {
        let peer = self.devices[&id].peer;
        for i in std::iter::once(id).chain(peer) {
            self.dev_mut(i).set_peer(None);
        }
        for i in std::iter::once(id).chain(peer) {
            let mut dev = self.devices.remove(&i).expect("pair member exists");
            self.names.remove(&(dev.netns, dev.name.clone()));
            self.index.remove(&(dev.netns, dev.ifindex));
            dev.bundle.take_all();
            dev.publish();
            for link in self.links.values_mut().filter(|l| l.dev == Some(i)) {
                link.dev = None;
            }
        }
    }

    /// The device as `ip -d -s link show` reports it. Attributes the selected kernel does not
    /// dump read as their creation defaults (scrub DEFAULT, room 0, pairing PAIR).
    pub fn link_get(&self, ifindex: IfIndex) -> Result<LinkInfo, Error> {
        let d = self.visible(ifindex, (Errno::ENXIO, "not a netkit device"))?;
        let peer = d.peer.map(|p| &self.devices[&p]);
        Ok(LinkInfo {
            ifindex: d.ifindex,
            name: d.name.clone(),
            peer_ifindex: peer.map(|p| p.ifindex),
            netns: self.ns_name(d.netns),
            primary: d.primary,
            policy: d.policy,
            peer_policy: peer.map(|p| p.policy),
            mode: d.shape.mode,
            scrub: d.scrub,
            peer_scrub: peer.map(|p| p.scrub),
            headroom: d.shape.headroom,
            tailroom: d.shape.tailroom,
            pairing: d.shape.pairing,
            mtu: d.mtu,
            address: d.mac,
            up: d.up,
            carrier: d.carrier,
            stats: d.path.stats(),
        })
    }

    /// Every netkit device in the caller's namespace, by ifindex (`ip link show type netkit`).
    pub fn link_list(&self) -> Vec<LinkInfo> {
        let ns = self.caller_ns;
        let here = self.devices.values().filter(|d| d.netns == ns);
        here.filter_map(|d| self.link_get(d.ifindex).ok()).collect()
    }

    pub fn ifindex_by_name(&self, name: &str) -> Result<IfIndex, Error> {
        let ns = self.caller_ns;
        if name == "lo" {
            return Ok(IfIndex(1));
        }
        self.devices
            .values()
            .filter(|d| d.netns == ns && d.name == name)
            .map(|d| d.ifindex)
            .chain(
                self.foreign
                    .iter()
                    .filter(|((n, _), f)| *n == ns && f.name == name)
                    .map(|((_, i), _)| *i),
            )
            .next()
            .ok_or_else(|| Error::new(Errno::ENODEV, format!("no device named {name}")))
    }

    /// Sends `frame` through `ifindex`'s transmit path, as a packet socket on it would.
    pub fn transmit(&mut self, ifindex: IfIndex, frame: &[u8]) -> Result<TxOutcome, Error> {
        self.transmit_meta(ifindex, frame, TxMeta::default())
    }

    /// [`UserBackend::transmit`] of a frame whose socket set a mark and a priority.
    pub fn transmit_meta(
        &mut self,
        ifindex: IfIndex,
        frame: &[u8],
        meta: TxMeta,
    ) -> Result<TxOutcome, Error> {
        let dev = self.visible(
            ifindex,
            (
                Errno::EOPNOTSUPP,
                "transmit is modelled on netkit devices only",
            ),
        )?;
        if !dev.up {
            return fail(Errno::Other(100), format!("ENETDOWN: {} is down", dev.name));
        }
        packet_socket_check(frame, dev.mtu)?;
        let mut skb = Skb::from_frame(frame);
        skb.meta.mark = meta.mark;
        skb.meta.priority = meta.priority;
        let delivery = self.datapath().xmit_in(self.caller_ns, ifindex, skb);
        let mut outcome = match &delivery {
            Delivery::ToPeer { skb, .. } => TxOutcome::Delivered(skb.data().to_vec()),
            Delivery::Redirect { target, kind, .. } => TxOutcome::Redirected {
                ifindex: *target,
                ingress: *kind == RedirectKind::Ingress,
            },
            Delivery::Drop { .. } => TxOutcome::Dropped,
        };
        if !self.follow_egress((self.caller_ns, ifindex), delivery) {
            outcome = TxOutcome::Dropped;
        }
        Ok(outcome)
    }

    /// What `dev_queue_xmit` does with a frame a program redirected out of another netkit
    /// device: that device's transmit path runs (its programs, its counters), and the
    /// kernel's recursion limit bounds redirect loops. A target that is down or without
    /// carrier (its peer down: the core then queues to a dropping qdisc) drops the frame
    /// before anything sees it leave, counting a tx drop; `false` if the first target did so.
    /// Other targets are outside the model: the frame is reported where it went first.
    /// `from` is the device whose transmit path produced `delivery`: a target is looked up in
    /// the namespace of that device's other end.
    fn follow_egress(&self, from: DevKey, mut delivery: Delivery) -> bool {
        /// XMIT_RECURSION_LIMIT. The packet socket's send is one transmit level, and every
        /// egress redirect nests two more (`__bpf_tx_skb`, then `__dev_queue_xmit`); a
        /// redirect is refused, uncounted, once the level exceeds the limit. That allows
        /// four nested redirects (bpf-13 in the VM: five transmits in a redirect loop).
        const XMIT_RECURSION_LIMIT: usize = 8;
        const MAX_HOPS: usize = (XMIT_RECURSION_LIMIT - 1) / 2 + 1;
        let table = self.table.load();
        let timed = self.timed.load(Relaxed);
        let Some(mut from) = table.netkit.get(&from).cloned() else {
            return true;
        };
        for hop in 0..MAX_HOPS {
            let Delivery::Redirect {
                target,
                kind: RedirectKind::Egress,
                skb,
            } = delivery
            else {
                return true;
            };
            let Some(ns) = from
                .peer()
                .and_then(|p| table.by_id.get(&p))
                .map(|p| p.netns())
            else {
                return true;
            };
            let Some(dev) = table.netkit.get(&(ns, target)) else {
                return true;
            };
            let carrier = dev.up.load(Relaxed)
                && dev
                    .peer()
                    .and_then(|p| table.by_id.get(&p))
                    .is_some_and(|p| p.up.load(Relaxed));
            if !carrier {
                dev.stats.drop_tx();
                return hop > 0;
            }
            delivery = xmit(&table, dev, skb, timed);
            from = dev.clone();
        }
        true
    }
}

/// The checks `packet_snd` makes before a frame reaches the device (spec/userspace.md; the
/// kernel backend sends through an AF_PACKET socket): longer than MTU + header → EMSGSIZE
/// (4 more bytes for an 802.1Q frame), shorter than the header → EINVAL. The transmit path's
/// own runt drop stays reachable through [`Datapath::xmit`].
fn packet_socket_check(frame: &[u8], mtu: u32) -> Result<(), Error> {
    const ETH_HLEN: usize = 14;
    const VLAN_HLEN: usize = 4;
    let limit = mtu as usize + ETH_HLEN;
    let too_long = |extra| frame.len() > limit + extra;
    let vlan = frame.get(12..14) == Some(&[0x81, 0x00][..]);
    if too_long(VLAN_HLEN) {
        return fail(
            Errno::EMSGSIZE,
            format!(
                "a {}-byte frame exceeds MTU {mtu} plus the header",
                frame.len()
            ),
        );
    }
    if frame.len() < ETH_HLEN {
        return fail(
            Errno::EINVAL,
            format!(
                "a {}-byte frame is shorter than an Ethernet header",
                frame.len()
            ),
        );
    }
    if too_long(0) && !vlan {
        return fail(
            Errno::EMSGSIZE,
            format!(
                "a {}-byte frame exceeds MTU {mtu} plus the header",
                frame.len()
            ),
        );
    }
    Ok(())
}
