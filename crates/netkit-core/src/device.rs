//! One netkit device on the control side, and the attribute rules of RTM_NEWLINK
//! (spec/netkit.md §1.3–§1.9) that do not need the rest of the model.

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::compat::Compat;
use crate::error::{fail, Errno, Error};
use crate::mprog::Bundle;
use crate::types::{IfIndex, Mode, NewLink, Pairing, Policy, Scrub};
use crate::xmit::{mac_to_u64, AtomicStats, DevPath, NetnsId};

/// Ethernet MTU bounds of a netkit device (min ETH_MIN_MTU, max ETH_MAX_MTU).
pub const MIN_MTU: u32 = 68;
pub const MAX_MTU: u32 = 65535;
pub const DEFAULT_MTU: u32 = 1500;
/// IFNAMSIZ - 1.
pub const MAX_NAME_LEN: usize = 15;
/// The kernel's name template for netkit devices.
pub const NAME_TEMPLATE: &str = "nk%d";

/// The model's own number for a device: fixed for the device's life, unlike its ifindex,
/// which is unique only within its namespace and may change on a namespace move.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DevId(pub u32);

/// Settings shared by both ends at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    pub mode: Mode,
    pub pairing: Pairing,
    pub headroom: u16,
    pub tailroom: u16,
}

/// A netkit device (primary or peer) as the control path sees it. The datapath reads the
/// parts it needs from [`DevPath`], which is updated alongside.
#[derive(Debug)]
pub struct Device {
    pub id: DevId,
    /// The ifindex in the device's namespace.
    pub ifindex: IfIndex,
    pub name: String,
    pub netns: NetnsId,
    pub primary: bool,
    pub shape: Shape,
    pub policy: Policy,
    pub scrub: Scrub,
    pub mtu: u32,
    pub mac: [u8; 6],
    pub up: bool,
    pub carrier: bool,
    pub peer: Option<DevId>,
    /// This device's programs (PRIMARY hook on the primary, PEER hook on the peer).
    pub bundle: Bundle,
    pub path: Arc<DevPath>,
}

/// What one end is created with.
pub struct DevSpec {
    pub id: DevId,
    pub ifindex: IfIndex,
    pub name: String,
    pub netns: NetnsId,
    pub primary: bool,
    pub shape: Shape,
    pub policy: Policy,
    pub scrub: Scrub,
    pub mtu: u32,
    pub mac: [u8; 6],
    /// Scrub as before the scrub attributes existed (priority always cleared).
    pub legacy_scrub: bool,
}

impl Device {
    pub fn new(s: DevSpec) -> Device {
        let path = Arc::new(DevPath {
            id: s.id,
            ifindex: AtomicU32::new(s.ifindex.0),
            progs: ArcSwap::from_pointee(Vec::new()),
            policy: AtomicI32::new(s.policy as i32),
            up: AtomicBool::new(false),
            mac: AtomicU64::new(mac_to_u64(s.mac)),
            netns: AtomicU32::new(s.netns),
            peer: AtomicU32::new(0),
            scrub: s.scrub == Scrub::Default,
            legacy_scrub: s.legacy_scrub,
            stats: AtomicStats::default(),
        });
        Device {
            id: s.id,
            ifindex: s.ifindex,
            name: s.name,
            netns: s.netns,
            primary: s.primary,
            shape: s.shape,
            policy: s.policy,
            scrub: s.scrub,
            mtu: s.mtu,
            mac: s.mac,
            up: false,
            carrier: false,
            peer: None,
            bundle: Bundle::default(),
            path,
        }
    }

    pub fn set_peer(&mut self, peer: Option<DevId>) {
        self.peer = peer;
        self.path.peer.store(peer.map_or(0, |p| p.0), Relaxed);
    }

    pub fn set_ifindex(&mut self, ifindex: IfIndex) {
        self.ifindex = ifindex;
        self.path.ifindex.store(ifindex.0, Relaxed);
    }

    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
        self.path.policy.store(policy as i32, Relaxed);
    }

    pub fn set_up(&mut self, up: bool) {
        self.up = up;
        self.path.up.store(up, Relaxed);
    }

    pub fn set_mac(&mut self, mac: [u8; 6]) {
        self.mac = mac;
        self.path.mac.store(mac_to_u64(mac), Relaxed);
    }

    pub fn set_netns(&mut self, netns: NetnsId) {
        self.netns = netns;
        self.path.netns.store(netns, Relaxed);
    }

    /// Publishes the bundle's current program list to the datapath in one swap.
    pub fn publish(&self) {
        self.path.progs.store(Arc::new(self.bundle.programs()));
    }
}

/// `netkit_check_policy`: only PASS and DROP are default policies.
pub fn parse_policy(raw: u32) -> Result<Policy, Error> {
    match raw {
        0 => Ok(Policy::Pass),
        2 => Ok(Policy::Drop),
        _ => fail(Errno::EINVAL, "Provided default xmit policy not supported"),
    }
}

pub fn parse_mode(raw: u32) -> Mode {
    if raw == 0 {
        Mode::L2
    } else {
        Mode::L3
    }
}

/// NLA_POLICY_MAX(NLA_U32, 1) as the netlink parser applies it.
pub fn check_max1(raw: Option<u32>, what: &str) -> Result<(), Error> {
    match raw {
        Some(v) if v > 1 => fail(
            Errno::ERANGE,
            format!("{what}: integer out of range ({v} > 1)"),
        ),
        _ => Ok(()),
    }
}

/// The IFLA_ADDRESS check of `netkit_validate`: six bytes, unicast, not all-zero.
pub fn check_mac(addr: &[u8]) -> Result<[u8; 6], Error> {
    let Ok(mac) = <[u8; 6]>::try_from(addr) else {
        return fail(
            Errno::EINVAL,
            format!("address must be 6 bytes, got {}", addr.len()),
        );
    };
    if !is_valid_ether(mac) {
        return fail(
            Errno::EADDRNOTAVAIL,
            format!("{} is not a unicast Ethernet address", fmt_mac(mac)),
        );
    }
    Ok(mac)
}

pub fn is_valid_ether(mac: [u8; 6]) -> bool {
    mac[0] & 1 == 0 && mac != [0; 6]
}

pub fn fmt_mac(mac: [u8; 6]) -> String {
    mac.map(|b| format!("{b:02x}")).join(":")
}

/// The netlink policy's length limit on IFLA_IFNAME.
pub fn check_name_len(name: &str) -> Result<(), Error> {
    if name.len() > MAX_NAME_LEN {
        return fail(
            Errno::ERANGE,
            format!("interface name {name:?} is longer than {MAX_NAME_LEN} bytes"),
        );
    }
    Ok(())
}

/// `dev_valid_name`.
pub fn check_name(name: &str) -> Result<(), Error> {
    let bad = name.is_empty()
        || name.len() > MAX_NAME_LEN
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace());
    if bad {
        return fail(Errno::EINVAL, format!("invalid interface name {name:?}"));
    }
    Ok(())
}

/// `dev_get_valid_name`: a name with one `%d` is a template filled with the lowest free
/// number; any other name must be valid and free.
pub fn assign_name(name: &str, taken: impl Fn(&str) -> bool) -> Result<String, Error> {
    if name.contains('%') {
        let (head, tail) = name.split_once("%d").unwrap_or((name, ""));
        if head.contains('%') || tail.contains('%') || !name.contains("%d") {
            return fail(Errno::EINVAL, format!("invalid name template {name:?}"));
        }
        // The kernel searches a page worth of numbers (32768 on 4 KiB pages).
        for n in 0..32768 {
            let candidate = format!("{head}{n}{tail}");
            if candidate.len() > MAX_NAME_LEN {
                break;
            }
            if !taken(&candidate) {
                return Ok(candidate);
            }
        }
        return fail(
            Errno::Other(23),
            format!("ENFILE: no free name for template {name:?}"),
        );
    }
    check_name(name)?;
    if taken(name) {
        return fail(Errno::EEXIST, format!("device {name} already exists"));
    }
    Ok(name.to_string())
}

/// `eth_hw_addr_random`: random, locally administered, unicast.
pub fn random_mac(seed: u64) -> [u8; 6] {
    let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^= x >> 31;
    let b = x.to_be_bytes();
    let mut mac = [b[0], b[1], b[2], b[3], b[4], b[5]];
    mac[0] = (mac[0] & 0xfe) | 0x02;
    mac
}

/// One end of a validated RTM_NEWLINK request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndPlan {
    /// A name or a `%d` template.
    pub name: String,
    /// Namespace label (the peer's PEER_INFO netns; `None` = the caller's).
    pub netns: Option<String>,
    pub policy: Policy,
    pub scrub: Scrub,
    pub mtu: u32,
    /// `None`: random in L2, all-zero in L3.
    pub mac: Option<[u8; 6]>,
}

/// A validated RTM_NEWLINK: all attribute checks done; names and ifindexes still to assign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairPlan {
    pub shape: Shape,
    pub primary: EndPlan,
    /// `None` in single-device mode.
    pub peer: Option<EndPlan>,
}

/// The first checks of RTM_NEWLINK kind netkit, those made before rtnetlink looks up the
/// requested ifindex (so they win over its EEXIST, measured on 6.12: `ifindex-03`): the
/// netlink policies of the top level and of IFLA_INFO_DATA (name length, PRIMARY read-only,
/// and on kernels that have them the MODE / SCRUB / PAIRING ranges) and netkit_validate
/// (the top-level address). Attributes the selected kernel does not know are ignored, as its
/// liberal parser does.
pub fn check_new_link(req: &NewLink, c: Compat) -> Result<(), Error> {
    if let Some(name) = &req.name {
        check_name_len(name)?;
    }
    if req.primary.is_some() {
        return fail(Errno::EINVAL, "Primary attribute is read-only");
    }
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
    req.address.as_deref().map(check_mac).transpose()?;
    Ok(())
}

/// The rest of RTM_NEWLINK kind netkit's checks in the kernel's order (spec/netkit.md §1.3,
/// docs/kernel-6.12-facts.md), after [`check_new_link`] (which this repeats, so that a plan
/// is never made of an unchecked request): the primary's MTU, then netkit_new_link's mode,
/// the peer's attributes, policies, L3 address and single mode, then the peer's MTU.
pub fn plan_pair(req: &NewLink, c: Compat) -> Result<PairPlan, Error> {
    check_new_link(req, c)?;
    let known = |v: Option<u32>, yes: bool| if yes { v } else { None };
    let (scrub, peer_scrub) = (
        known(req.scrub, c.scrub_attrs),
        known(req.peer_scrub, c.scrub_attrs),
    );
    let pairing = known(req.pairing, c.pairing_attr);
    let address = req.address.as_deref().map(check_mac).transpose()?;
    // rtnl_create_link makes the primary (its MTU) before netkit_new_link runs, whose first
    // checks are the mode, then PEER_INFO (`ifindex-03`).
    let mtu = req.mtu.unwrap_or(DEFAULT_MTU);
    check_mtu(mtu)?;
    if req.mode.is_some_and(|m| m > 1) {
        return fail(Errno::EINVAL, "Provided device mode can only be L2 or L3");
    }
    let pi = req.peer.clone().unwrap_or_default();
    if let Some(name) = &pi.name {
        check_name_len(name)?;
    }
    let peer_address = pi.address.as_deref().map(check_mac).transpose()?;
    // Without PEER_INFO the peer is built from the top-level attributes (MTU, not address).
    let peer_mtu = if req.peer.is_some() { pi.mtu } else { req.mtu };
    let mode = parse_mode(req.mode.unwrap_or(Mode::L3 as u32));
    let policy = parse_policy(req.policy.unwrap_or(0))?;
    let peer_policy = parse_policy(req.peer_policy.unwrap_or(0))?;
    if mode != Mode::L2 && (address.is_some() || peer_address.is_some()) {
        return fail(
            Errno::EOPNOTSUPP,
            "Setting Ethernet address is not supported in L3 mode",
        );
    }
    let single = pairing == Some(1);
    if single
        && (req.peer.is_some()
            || req.peer_policy.is_some()
            || peer_scrub.is_some()
            || scrub.is_some())
    {
        return fail(
            Errno::EOPNOTSUPP,
            "netkit single device mode takes no peer attributes or scrub",
        );
    }
    if single && policy != Policy::Pass {
        return fail(
            Errno::EOPNOTSUPP,
            "netkit single device policy must be PASS",
        );
    }
    let room = |v: Option<u16>| if c.room_attrs { v.unwrap_or(0) } else { 0 };
    let scrub_of = |v: Option<u32>| {
        if v == Some(0) {
            Scrub::None
        } else {
            Scrub::Default
        }
    };
    let peer = if single {
        None
    } else {
        let mtu = peer_mtu.unwrap_or(DEFAULT_MTU);
        check_mtu(mtu)?;
        Some(EndPlan {
            name: pi.name.unwrap_or_else(|| NAME_TEMPLATE.to_string()),
            netns: pi.netns,
            policy: peer_policy,
            scrub: scrub_of(peer_scrub),
            mtu,
            mac: peer_address,
        })
    };
    Ok(PairPlan {
        shape: Shape {
            mode,
            pairing: if single {
                Pairing::Single
            } else {
                Pairing::Pair
            },
            headroom: room(req.headroom),
            tailroom: room(req.tailroom),
        },
        primary: EndPlan {
            name: req
                .name
                .clone()
                .unwrap_or_else(|| NAME_TEMPLATE.to_string()),
            netns: None,
            policy,
            scrub: scrub_of(scrub),
            mtu,
            mac: address,
        },
        peer,
    })
}

/// `dev_validate_mtu` for the Ethernet bounds of a netkit device.
pub fn check_mtu(mtu: u32) -> Result<(), Error> {
    if !(MIN_MTU..=MAX_MTU).contains(&mtu) {
        return fail(
            Errno::EINVAL,
            format!("MTU {mtu} outside {MIN_MTU}..={MAX_MTU}"),
        );
    }
    Ok(())
}
