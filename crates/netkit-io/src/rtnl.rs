//! A minimal, synchronous rtnetlink client: link state and events, the noqueue qdisc, link
//! deletion, and the route and neighbour lookups `bpf_redirect_neigh` needs.
//!
//! A socket talks to the namespace it was created in: create it inside
//! [`NetNs::run`](crate::netns::NetNs::run) to manage another namespace.

use std::net::IpAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::{sys, Error, Result};

// Message types (linux/rtnetlink.h).
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
const RTM_NEWNEIGH: u16 = 28;
const RTM_GETNEIGH: u16 = 30;
const RTM_NEWQDISC: u16 = 36;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_REPLACE: u16 = 0x100;
const NLM_F_CREATE: u16 = 0x400;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_CARRIER: u16 = 33;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
const TCA_KIND: u16 = 1;
const TC_H_ROOT: u32 = 0xFFFF_FFFF;
/// Neighbour states that carry a usable link-layer address.
const NUD_VALID: u16 = 0x02 | 0x04 | 0x08 | 0x10 | 0x40 | 0x80;
/// Multicast group of link notifications.
const RTMGRP_LINK: u32 = 1;

const NLMSG_HDR: usize = 16;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// A request under construction: header, fixed struct, attributes.
struct Msg(Vec<u8>);

impl Msg {
    fn new(ty: u16, flags: u16, fixed: &[u8]) -> Msg {
        let mut b = vec![0u8; NLMSG_HDR];
        b[4..6].copy_from_slice(&ty.to_ne_bytes());
        b[6..8].copy_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
        b.extend_from_slice(fixed);
        b.resize(align4(b.len()), 0);
        Msg(b)
    }

    fn attr(mut self, ty: u16, payload: &[u8]) -> Msg {
        let len = 4 + payload.len();
        self.0.extend_from_slice(&(len as u16).to_ne_bytes());
        self.0.extend_from_slice(&ty.to_ne_bytes());
        self.0.extend_from_slice(payload);
        self.0.resize(align4(self.0.len()), 0);
        self
    }

    fn finish(mut self, seq: u32) -> Vec<u8> {
        let len = self.0.len() as u32;
        self.0[0..4].copy_from_slice(&len.to_ne_bytes());
        self.0[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.0
    }
}

/// One received netlink message: type and payload (after the 16-byte header).
struct Reply<'a> {
    ty: u16,
    seq: u32,
    body: &'a [u8],
}

fn messages(buf: &[u8]) -> impl Iterator<Item = Reply<'_>> {
    let mut off = 0;
    std::iter::from_fn(move || {
        let hdr = buf.get(off..off + NLMSG_HDR)?;
        let len = u32::from_ne_bytes(hdr[0..4].try_into().ok()?) as usize;
        if len < NLMSG_HDR || off + len > buf.len() {
            return None;
        }
        let reply = Reply {
            ty: u16::from_ne_bytes([hdr[4], hdr[5]]),
            seq: u32::from_ne_bytes(hdr[8..12].try_into().ok()?),
            body: &buf[off + NLMSG_HDR..off + len],
        };
        off += align4(len);
        Some(reply)
    })
}

/// Attributes following a fixed struct of `fixed` bytes.
fn attrs(body: &[u8], fixed: usize) -> impl Iterator<Item = (u16, &[u8])> {
    let mut off = align4(fixed);
    std::iter::from_fn(move || {
        let h = body.get(off..off + 4)?;
        let len = u16::from_ne_bytes([h[0], h[1]]) as usize;
        let ty = u16::from_ne_bytes([h[2], h[3]]) & 0x3fff;
        if len < 4 || off + len > body.len() {
            return None;
        }
        let payload = &body[off + 4..off + len];
        off += align4(len);
        Some((ty, payload))
    })
}

fn u32_of(p: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(p.get(..4)?.try_into().ok()?))
}

/// State of a network interface as RTM_NEWLINK reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkState {
    pub ifindex: u32,
    pub name: String,
    /// `IFF_*` flags (`IFF_UP` = administratively up).
    pub flags: u32,
    pub mtu: u32,
    /// Hardware address (empty for TUN).
    pub address: Vec<u8>,
    pub carrier: Option<bool>,
}

impl LinkState {
    pub fn is_up(&self) -> bool {
        self.flags & libc::IFF_UP as u32 != 0
    }

    fn parse(body: &[u8]) -> Option<LinkState> {
        let ifindex = i32::from_ne_bytes(body.get(4..8)?.try_into().ok()?) as u32;
        let flags = u32_of(body.get(8..12)?)?;
        let mut st = LinkState {
            ifindex,
            name: String::new(),
            flags,
            mtu: 0,
            address: Vec::new(),
            carrier: None,
        };
        for (ty, p) in attrs(body, 16) {
            match ty {
                IFLA_IFNAME => {
                    let s = p.split(|b| *b == 0).next().unwrap_or(&[]);
                    st.name = String::from_utf8_lossy(s).into_owned();
                }
                IFLA_MTU => st.mtu = u32_of(p)?,
                IFLA_ADDRESS => st.address = p.to_vec(),
                IFLA_CARRIER => st.carrier = p.first().map(|c| *c != 0),
                _ => {}
            }
        }
        Some(st)
    }
}

/// A link notification from [`LinkMonitor`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    Changed(LinkState),
    Deleted {
        ifindex: u32,
        name: String,
    },
    /// The socket's buffer overflowed and notifications were lost: re-query what you track.
    Overrun,
}

/// Where a packet to a destination leaves, from the kernel's routing table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouteHop {
    pub oif: u32,
    /// The gateway, or `None` when the destination is on-link.
    pub gateway: Option<IpAddr>,
}

static SEQ: AtomicU32 = AtomicU32::new(1);

/// An rtnetlink request socket bound to the namespace it was created in.
#[derive(Debug)]
pub struct Rtnl {
    fd: OwnedFd,
}

fn ip_bytes(ip: &IpAddr) -> (u8, Vec<u8>) {
    match ip {
        IpAddr::V4(a) => (libc::AF_INET as u8, a.octets().to_vec()),
        IpAddr::V6(a) => (libc::AF_INET6 as u8, a.octets().to_vec()),
    }
}

fn ip_from(family: u8, p: &[u8]) -> Option<IpAddr> {
    match family as i32 {
        libc::AF_INET => Some(IpAddr::from(<[u8; 4]>::try_from(p.get(..4)?).ok()?)),
        libc::AF_INET6 => Some(IpAddr::from(<[u8; 16]>::try_from(p.get(..16)?).ok()?)),
        _ => None,
    }
}

impl Rtnl {
    /// Opens a request socket in the calling thread's namespace.
    pub fn open() -> Result<Rtnl> {
        let fd = sys::socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE)
            .map_err(|e| Error::os("socket(NETLINK_ROUTE)", e))?;
        sys::bind_netlink(fd.as_fd(), 0).map_err(|e| Error::os("bind netlink", e))?;
        Ok(Rtnl { fd })
    }

    /// Sends `msg` and collects the replies of type `want` until the ack or NLMSG_DONE.
    fn transact<T>(
        &self,
        what: &str,
        msg: Msg,
        mut on_reply: impl FnMut(u16, &[u8]) -> Option<T>,
    ) -> Result<Vec<T>> {
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let bytes = msg.finish(seq);
        sys::send(self.fd.as_fd(), &bytes).map_err(|e| Error::os(format!("{what}: send"), e))?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = sys::recv(self.fd.as_fd(), &mut buf, 0)
                .map_err(|e| Error::os(format!("{what}: recv"), e))?;
            for r in messages(&buf[..n]) {
                if r.seq != seq {
                    continue;
                }
                match r.ty {
                    NLMSG_ERROR => {
                        let code = r
                            .body
                            .get(..4)
                            .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                        return match code {
                            Some(0) => Ok(out),
                            Some(c) => Err(Error::Netlink {
                                what: what.to_string(),
                                errno: -c,
                            }),
                            None => Err(Error::Malformed {
                                what: what.to_string(),
                            }),
                        };
                    }
                    NLMSG_DONE => return Ok(out),
                    ty => out.extend(on_reply(ty, r.body)),
                }
            }
        }
    }

    fn ifinfomsg(ifindex: u32, flags: u32, change: u32) -> [u8; 16] {
        let mut m = [0u8; 16];
        m[4..8].copy_from_slice(&(ifindex as i32).to_ne_bytes());
        m[8..12].copy_from_slice(&flags.to_ne_bytes());
        m[12..16].copy_from_slice(&change.to_ne_bytes());
        m
    }

    fn get_link(&self, what: String, msg: Msg) -> Result<LinkState> {
        let got = self
            .transact(&what, msg, |ty, body| {
                (ty == RTM_NEWLINK)
                    .then(|| LinkState::parse(body))
                    .flatten()
            })
            .map_err(|e| match e.errno() {
                Some(libc::ENODEV) => Error::NotFound(what.clone()),
                _ => e,
            })?;
        got.into_iter().next().ok_or(Error::NotFound(what))
    }

    /// Looks a link up by ifindex.
    pub fn link(&self, ifindex: u32) -> Result<LinkState> {
        let msg = Msg::new(RTM_GETLINK, NLM_F_ACK, &Self::ifinfomsg(ifindex, 0, 0));
        self.get_link(format!("link ifindex {ifindex}"), msg)
    }

    /// Looks a link up by name.
    pub fn link_by_name(&self, name: &str) -> Result<LinkState> {
        crate::check_ifname(name)?;
        let mut n = name.as_bytes().to_vec();
        n.push(0);
        let msg = Msg::new(RTM_GETLINK, NLM_F_ACK, &Self::ifinfomsg(0, 0, 0)).attr(IFLA_IFNAME, &n);
        self.get_link(format!("link {name}"), msg)
    }

    /// Sets or clears `IFF_UP`.
    pub fn set_up(&self, ifindex: u32, up: bool) -> Result<()> {
        let iff_up = libc::IFF_UP as u32;
        let msg = Msg::new(
            RTM_NEWLINK,
            NLM_F_ACK,
            &Self::ifinfomsg(ifindex, if up { iff_up } else { 0 }, iff_up),
        );
        self.transact(
            &format!("set link {ifindex} up={up}"),
            msg,
            |_, _| None::<()>,
        )
        .map(drop)
    }

    /// Moves a link to the namespace `netns` refers to (`ip link set DEV netns NS`): the
    /// kernel closes it, keeps its name (EEXIST if taken there) and keeps its ifindex if free
    /// there.
    pub fn set_netns(&self, ifindex: u32, netns: std::os::fd::BorrowedFd<'_>) -> Result<()> {
        use std::os::fd::AsRawFd;
        let fd = netns.as_raw_fd() as u32;
        let msg = Msg::new(RTM_NEWLINK, NLM_F_ACK, &Self::ifinfomsg(ifindex, 0, 0))
            .attr(IFLA_NET_NS_FD, &fd.to_ne_bytes());
        self.transact(
            &format!("move link {ifindex} to another namespace"),
            msg,
            |_, _| None::<()>,
        )
        .map(drop)
    }

    /// Deletes a link (`ip link del`).
    pub fn delete(&self, ifindex: u32) -> Result<()> {
        let msg = Msg::new(RTM_DELLINK, NLM_F_ACK, &Self::ifinfomsg(ifindex, 0, 0));
        self.transact(&format!("delete link {ifindex}"), msg, |_, _| None::<()>)
            .map(drop)
    }

    /// Replaces the root qdisc with `noqueue` (`tc qdisc replace dev DEV root noqueue`), so the
    /// stack hands packets straight to the device as with netkit's IFF_NO_QUEUE.
    pub fn set_noqueue(&self, ifindex: u32) -> Result<()> {
        let mut tcmsg = [0u8; 20];
        tcmsg[4..8].copy_from_slice(&(ifindex as i32).to_ne_bytes());
        tcmsg[12..16].copy_from_slice(&TC_H_ROOT.to_ne_bytes());
        let msg = Msg::new(
            RTM_NEWQDISC,
            NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
            &tcmsg,
        )
        .attr(TCA_KIND, b"noqueue\0");
        self.transact(&format!("set noqueue qdisc on {ifindex}"), msg, |_, _| {
            None::<()>
        })
        .map(drop)
    }

    /// The route the kernel picks for `dst` (`ip route get DST [oif OIF]`).
    pub fn route_get(&self, dst: IpAddr, oif: Option<u32>) -> Result<RouteHop> {
        let (family, addr) = ip_bytes(&dst);
        let mut rtmsg = [0u8; 12];
        rtmsg[0] = family;
        rtmsg[1] = (addr.len() * 8) as u8;
        let mut msg = Msg::new(RTM_GETROUTE, NLM_F_ACK, &rtmsg).attr(RTA_DST, &addr);
        if let Some(oif) = oif {
            msg = msg.attr(RTA_OIF, &oif.to_ne_bytes());
        }
        let what = format!("route to {dst}");
        let hops = self.transact(&what, msg, |ty, body| {
            if ty != RTM_NEWROUTE {
                return None;
            }
            let fam = *body.first()?;
            let mut hop = RouteHop {
                oif: 0,
                gateway: None,
            };
            for (t, p) in attrs(body, 12) {
                match t {
                    RTA_OIF => hop.oif = u32_of(p)?,
                    RTA_GATEWAY => hop.gateway = ip_from(fam, p),
                    _ => {}
                }
            }
            Some(hop)
        })?;
        hops.into_iter().next().ok_or(Error::NotFound(what))
    }

    /// The link-layer address the neighbour table holds for `ip` on `ifindex`, if resolved.
    pub fn neigh_get(&self, ifindex: u32, ip: IpAddr) -> Result<Option<Vec<u8>>> {
        let (family, want) = ip_bytes(&ip);
        let mut ndmsg = [0u8; 12];
        ndmsg[0] = family;
        ndmsg[4..8].copy_from_slice(&(ifindex as i32).to_ne_bytes());
        let msg = Msg::new(RTM_GETNEIGH, NLM_F_DUMP, &ndmsg);
        let found = self.transact(&format!("neighbours of {ifindex}"), msg, |ty, body| {
            if ty != RTM_NEWNEIGH {
                return None;
            }
            let idx = i32::from_ne_bytes(body.get(4..8)?.try_into().ok()?) as u32;
            let state = u16::from_ne_bytes(body.get(8..10)?.try_into().ok()?);
            if idx != ifindex || state & NUD_VALID == 0 {
                return None;
            }
            let (mut dst, mut ll) = (None, None);
            for (t, p) in attrs(body, 12) {
                match t {
                    NDA_DST => dst = Some(p),
                    NDA_LLADDR => ll = Some(p.to_vec()),
                    _ => {}
                }
            }
            (dst == Some(&want[..])).then_some(ll).flatten()
        })?;
        Ok(found.into_iter().next())
    }
}

/// A socket subscribed to link notifications of its namespace (`ip monitor link`).
#[derive(Debug)]
pub struct LinkMonitor {
    fd: OwnedFd,
    buf: Vec<u8>,
}

impl LinkMonitor {
    /// Subscribes in the calling thread's namespace.
    pub fn open() -> Result<LinkMonitor> {
        let fd = sys::socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE)
            .map_err(|e| Error::os("socket(NETLINK_ROUTE)", e))?;
        sys::bind_netlink(fd.as_fd(), RTMGRP_LINK)
            .map_err(|e| Error::os("bind netlink to link group", e))?;
        sys::set_nonblocking(fd.as_fd(), true)
            .map_err(|e| Error::os("set monitor non-blocking", e))?;
        Ok(LinkMonitor {
            fd,
            buf: vec![0u8; 64 * 1024],
        })
    }

    /// The descriptor to poll for readability.
    pub fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Reads the notifications that are ready now (none if nothing is pending).
    pub fn drain(&mut self) -> Result<Vec<LinkEvent>> {
        let mut events = Vec::new();
        loop {
            let n = match sys::recv(self.fd.as_fd(), &mut self.buf, 0) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(events),
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    events.push(LinkEvent::Overrun);
                    continue;
                }
                Err(e) => return Err(Error::os("read link notifications", e)),
            };
            for r in messages(&self.buf[..n]) {
                let Some(st) = LinkState::parse(r.body) else {
                    continue;
                };
                match r.ty {
                    RTM_NEWLINK => events.push(LinkEvent::Changed(st)),
                    RTM_DELLINK => events.push(LinkEvent::Deleted {
                        ifindex: st.ifindex,
                        name: st.name,
                    }),
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout_is_aligned_with_length_and_seq() {
        let b = Msg::new(RTM_GETLINK, NLM_F_ACK, &[0u8; 16])
            .attr(IFLA_IFNAME, b"lo\0")
            .finish(7);
        assert_eq!(b.len(), 16 + 16 + 8);
        assert_eq!(u32::from_ne_bytes(b[0..4].try_into().unwrap()), 40);
        assert_eq!(u16::from_ne_bytes([b[4], b[5]]), RTM_GETLINK);
        assert_eq!(u16::from_ne_bytes([b[6], b[7]]), NLM_F_ACK | NLM_F_REQUEST);
        assert_eq!(u32::from_ne_bytes(b[8..12].try_into().unwrap()), 7);
        assert_eq!(&b[32..40], &[7, 0, 3, 0, b'l', b'o', 0, 0]);
    }

    #[test]
    fn truncated_messages_and_attrs_stop_parsing() {
        let b = Msg::new(RTM_NEWLINK, 0, &[0u8; 16])
            .attr(IFLA_MTU, &1500u32.to_ne_bytes())
            .finish(1);
        assert_eq!(messages(&b).count(), 1);
        assert_eq!(messages(&b[..b.len() - 1]).count(), 0);
        let st = LinkState::parse(&b[16..]).unwrap();
        assert_eq!(st.mtu, 1500);
        let mut bad = b[16..].to_vec();
        bad[16] = 200; // attribute length past the end
        assert_eq!(attrs(&bad, 16).count(), 0);
    }
}
