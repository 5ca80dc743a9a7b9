//! rtnetlink for netkit devices: create, change, delete and dump links.

use std::collections::BTreeSet;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use netkit_core::{
    ChangeLink, Errno, Error, IfIndex, LinkInfo, Mode, NewLink, Pairing, Policy, Scrub, Stats,
};

use crate::netlink::consts::*;
use crate::netlink::{self, IfInfoMsg, LinkMsg, Reply};
use crate::{netns, sys};

const SOL_NETLINK: i32 = 270;
const NETLINK_CAP_ACK: i32 = 10;
const NETLINK_EXT_ACK: i32 = 11;

/// A NETLINK_ROUTE socket bound in one network namespace.
pub struct Rtnl {
    fd: OwnedFd,
    seq: u32,
}

fn io_err(what: &str, e: io::Error) -> Error {
    let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
    Error::new(errno, format!("{what}: {e}"))
}

impl Rtnl {
    /// Opens a socket in namespace `netns` (`None` = the caller's).
    pub fn open(netns: Option<&str>) -> Result<Rtnl, Error> {
        let fd = netns::run_in(netns, || {
            let fd = sys::socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE)?;
            sys::setsockopt_int(&fd, SOL_NETLINK, NETLINK_EXT_ACK, 1)?;
            sys::setsockopt_int(&fd, SOL_NETLINK, NETLINK_CAP_ACK, 1)?;
            sys::bind_netlink(&fd)?;
            // A kernel always answers; the timeout only turns a lost answer into an error.
            sys::set_recv_timeout(&fd, std::time::Duration::from_secs(10))?;
            Ok(fd)
        })
        .map_err(|e| io_err(&format!("netlink socket in netns {netns:?}"), e))?;
        Ok(Rtnl { fd, seq: 1 })
    }

    /// Sends a request with NLM_F_ACK and collects its replies up to the ACK / DONE.
    fn transact<T>(
        &mut self,
        msg: &LinkMsg,
        what: &str,
        mut on_link: impl FnMut(IfInfoMsg, &[u8]) -> Option<T>,
    ) -> Result<Vec<T>, Error> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        sys::send(&self.fd, &msg.finish(seq)).map_err(|e| io_err(what, e))?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = sys::recv(&self.fd, &mut buf).map_err(|e| io_err(what, e))?;
            for (rseq, _flags, reply) in netlink::parse(&buf[..n]) {
                if rseq != seq {
                    continue; // a stale answer to an earlier request
                }
                match reply {
                    Reply::Ack | Reply::Done => return Ok(out),
                    Reply::Error { errno, msg } => {
                        let errno = Errno::from_raw(-errno);
                        let text = msg.unwrap_or_else(|| {
                            io::Error::from_raw_os_error(errno.raw()).to_string()
                        });
                        return Err(Error::new(errno, format!("{what}: {text}")));
                    }
                    Reply::Link { ifi, attrs } => out.extend(on_link(ifi, attrs)),
                    Reply::Other(_) => {}
                }
            }
        }
    }

    fn ack(&mut self, msg: &LinkMsg, what: &str) -> Result<(), Error> {
        self.transact(msg, what, |_, _| None::<()>).map(|_| ())
    }

    /// RTM_NEWLINK with NLM_F_CREATE|NLM_F_EXCL, kind netkit, every attribute of `req`.
    /// `peer_netns_fd` is the open namespace file for `req.peer.netns`.
    pub fn create(&mut self, req: &NewLink, peer_netns_fd: Option<&OwnedFd>) -> Result<(), Error> {
        let m = new_link_msg(req, peer_netns_fd.map(|fd| fd.as_raw_fd() as u32));
        self.ack(&m, "create netkit pair")
    }

    /// changelink: RTM_NEWLINK on an existing device with netkit INFO_DATA.
    pub fn change(&mut self, ifindex: IfIndex, req: &ChangeLink) -> Result<(), Error> {
        let mut m = LinkMsg::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, ifi(ifindex));
        m.begin_nest(IFLA_LINKINFO).str(IFLA_INFO_KIND, "netkit");
        m.begin_nest(IFLA_INFO_DATA);
        if req.peer_info {
            m.begin_nest(IFLA_NETKIT_PEER_INFO)
                .ifinfo(IfInfoMsg::default())
                .end_nest();
        }
        put_settings(&mut m, req);
        m.end_nest().end_nest();
        self.ack(&m, "change netkit link")
    }

    pub fn set_up(&mut self, ifindex: IfIndex, up: bool) -> Result<(), Error> {
        let header = IfInfoMsg {
            index: ifindex.0 as i32,
            flags: if up { IFF_UP } else { 0 },
            change: IFF_UP,
        };
        let m = LinkMsg::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, header);
        self.ack(&m, if up { "set link up" } else { "set link down" })
    }

    pub fn set_address(&mut self, ifindex: IfIndex, address: &[u8]) -> Result<(), Error> {
        let mut m = LinkMsg::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, ifi(ifindex));
        m.attr(IFLA_ADDRESS, address);
        self.ack(&m, "set link address")
    }

    pub fn set_mtu(&mut self, ifindex: IfIndex, mtu: u32) -> Result<(), Error> {
        let mut m = LinkMsg::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, ifi(ifindex));
        m.u32(IFLA_MTU, mtu);
        self.ack(&m, "set link mtu")
    }

    /// Moves the device into the namespace `netns_fd` refers to (IFLA_NET_NS_FD).
    pub fn set_netns(&mut self, ifindex: IfIndex, netns_fd: &OwnedFd) -> Result<(), Error> {
        let mut m = LinkMsg::new(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, ifi(ifindex));
        m.u32(IFLA_NET_NS_FD, netns_fd.as_raw_fd() as u32);
        self.ack(&m, "set link netns")
    }

    pub fn delete(&mut self, ifindex: IfIndex) -> Result<(), Error> {
        let m = LinkMsg::new(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, ifi(ifindex));
        self.ack(&m, "delete link")
    }

    /// RTM_GETLINK by ifindex.
    pub fn get(&mut self, ifindex: IfIndex) -> Result<Dumped, Error> {
        let m = LinkMsg::new(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, ifi(ifindex));
        let mut links =
            self.transact(&m, "get link", |ifi, attrs| Some(Dumped::parse(ifi, attrs)))?;
        links
            .pop()
            .ok_or_else(|| Error::new(Errno::ENODEV, format!("no link {}", ifindex.0)))
    }

    /// RTM_GETLINK by name.
    pub fn get_by_name(&mut self, name: &str) -> Result<Dumped, Error> {
        let mut m = LinkMsg::new(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, IfInfoMsg::default());
        m.str(IFLA_IFNAME, name);
        let mut links =
            self.transact(&m, "get link", |ifi, attrs| Some(Dumped::parse(ifi, attrs)))?;
        links
            .pop()
            .ok_or_else(|| Error::new(Errno::ENODEV, format!("no link named {name}")))
    }

    /// All links of the namespace.
    pub fn dump(&mut self) -> Result<Vec<Dumped>, Error> {
        let m = LinkMsg::new(
            RTM_GETLINK,
            NLM_F_REQUEST | NLM_F_DUMP,
            IfInfoMsg::default(),
        );
        self.transact(&m, "dump links", |ifi, attrs| {
            Some(Dumped::parse(ifi, attrs))
        })
    }

    /// The ifindices of the namespace's netkit devices.
    pub fn netkit_ifindices(&mut self) -> Result<BTreeSet<IfIndex>, Error> {
        Ok(self
            .dump()?
            .into_iter()
            .filter(|d| d.netkit.is_some())
            .map(|d| d.ifindex)
            .collect())
    }
}

/// The RTM_NEWLINK request creating a pair: every attribute of `req` as given, none added
/// (the kernel's validation must see exactly what the caller asked for).
/// `peer_netns_fd` is an open namespace file descriptor for IFLA_NET_NS_FD in PEER_INFO.
pub fn new_link_msg(req: &NewLink, peer_netns_fd: Option<u32>) -> LinkMsg {
    let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
    let header = IfInfoMsg {
        index: req.ifindex,
        ..IfInfoMsg::default()
    };
    let mut m = LinkMsg::new(RTM_NEWLINK, flags, header);
    if let Some(name) = &req.name {
        m.str(IFLA_IFNAME, name);
    }
    if let Some(mtu) = req.mtu {
        m.u32(IFLA_MTU, mtu);
    }
    if let Some(addr) = &req.address {
        m.attr(IFLA_ADDRESS, addr);
    }
    m.begin_nest(IFLA_LINKINFO).str(IFLA_INFO_KIND, "netkit");
    m.begin_nest(IFLA_INFO_DATA);
    if let Some(peer) = &req.peer {
        m.begin_nest(IFLA_NETKIT_PEER_INFO).ifinfo(IfInfoMsg {
            index: peer.ifindex,
            ..IfInfoMsg::default()
        });
        if let Some(name) = &peer.name {
            m.str(IFLA_IFNAME, name);
        }
        if let Some(mtu) = peer.mtu {
            m.u32(IFLA_MTU, mtu);
        }
        if let Some(addr) = &peer.address {
            m.attr(IFLA_ADDRESS, addr);
        }
        if let Some(fd) = peer_netns_fd {
            m.u32(IFLA_NET_NS_FD, fd);
        }
        m.end_nest();
    }
    if let Some(v) = req.primary {
        m.u8(IFLA_NETKIT_PRIMARY, v);
    }
    put_settings(
        &mut m,
        &ChangeLink {
            mode: req.mode,
            policy: req.policy,
            peer_policy: req.peer_policy,
            scrub: req.scrub,
            peer_scrub: req.peer_scrub,
            headroom: req.headroom,
            tailroom: req.tailroom,
            pairing: req.pairing,
            peer_info: false,
        },
    );
    m.end_nest().end_nest();
    m
}

fn ifi(ifindex: IfIndex) -> IfInfoMsg {
    IfInfoMsg {
        index: ifindex.0 as i32,
        ..IfInfoMsg::default()
    }
}

/// The settings create and change both carry inside IFLA_INFO_DATA, in one fixed order
/// so both messages agree; only the given ones are put (`peer_info` is the caller's business).
fn put_settings(m: &mut LinkMsg, s: &ChangeLink) {
    let u32s = [
        (IFLA_NETKIT_POLICY, s.policy),
        (IFLA_NETKIT_PEER_POLICY, s.peer_policy),
        (IFLA_NETKIT_MODE, s.mode),
        (IFLA_NETKIT_SCRUB, s.scrub),
        (IFLA_NETKIT_PEER_SCRUB, s.peer_scrub),
        (IFLA_NETKIT_PAIRING, s.pairing),
    ];
    for (ty, v) in u32s {
        if let Some(v) = v {
            m.u32(ty, v);
        }
    }
    if let Some(v) = s.headroom {
        m.u16(IFLA_NETKIT_HEADROOM, v);
    }
    if let Some(v) = s.tailroom {
        m.u16(IFLA_NETKIT_TAILROOM, v);
    }
}

/// The netkit part of a dump (IFLA_INFO_DATA), raw: `None` = attribute absent, which tells
/// which attributes the running kernel reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetkitData {
    pub primary: Option<u8>,
    pub policy: Option<u32>,
    pub peer_policy: Option<u32>,
    pub mode: Option<u32>,
    pub scrub: Option<u32>,
    pub peer_scrub: Option<u32>,
    pub headroom: Option<u16>,
    pub tailroom: Option<u16>,
    pub pairing: Option<u32>,
    /// Attribute types present, in the order the kernel emitted them.
    pub order: Vec<u16>,
}

/// One device from RTM_NEWLINK (dump / get).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dumped {
    pub ifindex: IfIndex,
    pub flags: u32,
    pub name: String,
    pub mtu: u32,
    pub address: Vec<u8>,
    pub link: Option<u32>,
    pub link_netnsid: Option<i32>,
    pub carrier: Option<u8>,
    pub kind: Option<String>,
    pub netkit: Option<NetkitData>,
    pub stats: Stats,
}

impl Dumped {
    fn parse(ifi: IfInfoMsg, attrs: &[u8]) -> Dumped {
        let mut d = Dumped {
            ifindex: IfIndex(ifi.index as u32),
            flags: ifi.flags,
            name: String::new(),
            mtu: 0,
            address: Vec::new(),
            link: None,
            link_netnsid: None,
            carrier: None,
            kind: None,
            netkit: None,
            stats: Stats::default(),
        };
        for (ty, p) in netlink::attrs(attrs) {
            match ty {
                IFLA_IFNAME => d.name = netlink::get_str(p),
                IFLA_MTU => d.mtu = netlink::get_u32(p).unwrap_or(0),
                IFLA_ADDRESS => d.address = p.to_vec(),
                IFLA_LINK => d.link = netlink::get_u32(p),
                IFLA_LINK_NETNSID => d.link_netnsid = netlink::get_u32(p).map(|v| v as i32),
                IFLA_CARRIER => d.carrier = netlink::get_u8(p),
                IFLA_STATS64 => d.stats = parse_stats64(p),
                IFLA_LINKINFO => {
                    d.kind = netlink::find(p, IFLA_INFO_KIND).map(netlink::get_str);
                    if d.kind.as_deref() == Some("netkit") {
                        let data = netlink::find(p, IFLA_INFO_DATA).unwrap_or(&[]);
                        d.netkit = Some(parse_netkit(data));
                    }
                }
                _ => {}
            }
        }
        d
    }

    /// The model's view of this device; `None` if it is not a netkit device.
    pub fn to_link_info(&self, netns: Option<String>) -> Option<LinkInfo> {
        let nk = self.netkit.as_ref()?;
        let mut address = [0u8; 6];
        if self.address.len() == 6 {
            address.copy_from_slice(&self.address);
        }
        Some(LinkInfo {
            ifindex: self.ifindex,
            name: self.name.clone(),
            peer_ifindex: self.link.filter(|&l| l != 0).map(IfIndex),
            netns,
            primary: nk.primary == Some(1),
            policy: policy(nk.policy.unwrap_or(0)),
            peer_policy: nk.peer_policy.map(policy),
            mode: if nk.mode == Some(0) {
                Mode::L2
            } else {
                Mode::L3
            },
            // Kernels that predate the attribute scrub by default (§2.2 of the spec).
            scrub: scrub(nk.scrub.unwrap_or(1)),
            peer_scrub: nk.peer_scrub.map(scrub),
            headroom: nk.headroom.unwrap_or(0),
            tailroom: nk.tailroom.unwrap_or(0),
            pairing: if nk.pairing == Some(1) {
                Pairing::Single
            } else {
                Pairing::Pair
            },
            mtu: self.mtu,
            address,
            up: self.flags & IFF_UP != 0,
            carrier: match self.carrier {
                Some(c) => c != 0,
                None => self.flags & IFF_LOWER_UP != 0,
            },
            stats: self.stats,
        })
    }
}

fn policy(v: u32) -> Policy {
    if v == 2 {
        Policy::Drop
    } else {
        Policy::Pass
    }
}

fn scrub(v: u32) -> Scrub {
    if v == 0 {
        Scrub::None
    } else {
        Scrub::Default
    }
}

fn parse_netkit(data: &[u8]) -> NetkitData {
    let mut nk = NetkitData::default();
    for (ty, p) in netlink::attrs(data) {
        nk.order.push(ty);
        match ty {
            IFLA_NETKIT_PRIMARY => nk.primary = netlink::get_u8(p),
            IFLA_NETKIT_POLICY => nk.policy = netlink::get_u32(p),
            IFLA_NETKIT_PEER_POLICY => nk.peer_policy = netlink::get_u32(p),
            IFLA_NETKIT_MODE => nk.mode = netlink::get_u32(p),
            IFLA_NETKIT_SCRUB => nk.scrub = netlink::get_u32(p),
            IFLA_NETKIT_PEER_SCRUB => nk.peer_scrub = netlink::get_u32(p),
            IFLA_NETKIT_HEADROOM => nk.headroom = netlink::get_u16(p),
            IFLA_NETKIT_TAILROOM => nk.tailroom = netlink::get_u16(p),
            IFLA_NETKIT_PAIRING => nk.pairing = netlink::get_u32(p),
            _ => {}
        }
    }
    nk
}

/// `struct rtnl_link_stats64`: rx_packets, tx_packets, rx_bytes, tx_bytes, rx_errors,
/// tx_errors, rx_dropped, tx_dropped, … (u64 each).
fn parse_stats64(p: &[u8]) -> Stats {
    let at = |i: usize| netlink::get_u64(p, i * 8).unwrap_or(0);
    Stats {
        rx_packets: at(0),
        tx_packets: at(1),
        rx_bytes: at(2),
        tx_bytes: at(3),
        rx_dropped: at(6),
        tx_dropped: at(7),
    }
}

#[cfg(test)]
#[path = "rtnl_tests.rs"]
mod tests;
