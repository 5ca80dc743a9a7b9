//! Netlink wire format: building requests and parsing replies, with no I/O.
//!
//! A message is `nlmsghdr` (16 bytes) + a family header (`ifinfomsg`, 16 bytes) + attributes
//! (`nlattr`: u16 length, u16 type, payload, padded to 4 bytes). Nested attributes are
//! attributes whose payload is again a list of attributes.

/// Message types and flags (linux/netlink.h, linux/rtnetlink.h).
pub mod consts {
    pub const NLMSG_ERROR: u16 = 2;
    pub const NLMSG_DONE: u16 = 3;
    pub const RTM_NEWLINK: u16 = 16;
    pub const RTM_DELLINK: u16 = 17;
    pub const RTM_GETLINK: u16 = 18;

    pub const NLM_F_REQUEST: u16 = 0x1;
    pub const NLM_F_MULTI: u16 = 0x2;
    pub const NLM_F_ACK: u16 = 0x4;
    pub const NLM_F_DUMP: u16 = 0x300;
    pub const NLM_F_EXCL: u16 = 0x200;
    pub const NLM_F_CREATE: u16 = 0x400;
    /// In an error reply: extended-ACK TLVs follow the (possibly capped) request.
    pub const NLM_F_CAPPED: u16 = 0x100;
    pub const NLM_F_ACK_TLVS: u16 = 0x200;
    pub const NLMSGERR_ATTR_MSG: u16 = 1;

    pub const IFLA_ADDRESS: u16 = 1;
    pub const IFLA_IFNAME: u16 = 3;
    pub const IFLA_MTU: u16 = 4;
    pub const IFLA_LINK: u16 = 5;
    pub const IFLA_STATS64: u16 = 23;
    pub const IFLA_LINKINFO: u16 = 18;
    pub const IFLA_NET_NS_FD: u16 = 28;
    pub const IFLA_CARRIER: u16 = 33;
    pub const IFLA_LINK_NETNSID: u16 = 37;
    pub const IFLA_INFO_KIND: u16 = 1;
    pub const IFLA_INFO_DATA: u16 = 2;

    pub const IFLA_NETKIT_PEER_INFO: u16 = 1;
    pub const IFLA_NETKIT_PRIMARY: u16 = 2;
    pub const IFLA_NETKIT_POLICY: u16 = 3;
    pub const IFLA_NETKIT_PEER_POLICY: u16 = 4;
    pub const IFLA_NETKIT_MODE: u16 = 5;
    pub const IFLA_NETKIT_SCRUB: u16 = 6;
    pub const IFLA_NETKIT_PEER_SCRUB: u16 = 7;
    pub const IFLA_NETKIT_HEADROOM: u16 = 8;
    pub const IFLA_NETKIT_TAILROOM: u16 = 9;
    pub const IFLA_NETKIT_PAIRING: u16 = 10;

    pub const IFF_UP: u32 = 0x1;
    pub const IFF_LOWER_UP: u32 = 0x10000;
    pub const NLA_F_NESTED: u16 = 0x8000;
    pub const NLA_TYPE_MASK: u16 = 0x3fff;
}

use consts::*;

const NLMSG_HDRLEN: usize = 16;
const IFINFOMSG_LEN: usize = 16;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// `struct ifinfomsg`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IfInfoMsg {
    pub index: i32,
    pub flags: u32,
    pub change: u32,
}

impl IfInfoMsg {
    fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[0u8 /* AF_UNSPEC */, 0]);
        out.extend_from_slice(&0u16.to_ne_bytes()); // ifi_type
        out.extend_from_slice(&self.index.to_ne_bytes());
        out.extend_from_slice(&self.flags.to_ne_bytes());
        out.extend_from_slice(&self.change.to_ne_bytes());
    }

    fn parse(b: &[u8]) -> Option<IfInfoMsg> {
        if b.len() < IFINFOMSG_LEN {
            return None;
        }
        Some(IfInfoMsg {
            index: i32::from_ne_bytes(b[4..8].try_into().ok()?),
            flags: u32::from_ne_bytes(b[8..12].try_into().ok()?),
            change: u32::from_ne_bytes(b[12..16].try_into().ok()?),
        })
    }
}

/// Builds one rtnetlink link request.
pub struct LinkMsg {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl LinkMsg {
    pub fn new(msg_type: u16, flags: u16, ifi: IfInfoMsg) -> LinkMsg {
        let mut buf = vec![0u8; NLMSG_HDRLEN];
        buf[4..6].copy_from_slice(&msg_type.to_ne_bytes());
        buf[6..8].copy_from_slice(&flags.to_ne_bytes());
        ifi.emit(&mut buf);
        LinkMsg {
            buf,
            nests: Vec::new(),
        }
    }

    pub fn attr(&mut self, ty: u16, payload: &[u8]) -> &mut Self {
        let len = 4 + payload.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(payload);
        self.buf.resize(align4(self.buf.len()), 0);
        self
    }

    pub fn u8(&mut self, ty: u16, v: u8) -> &mut Self {
        self.attr(ty, &[v])
    }
    pub fn u16(&mut self, ty: u16, v: u16) -> &mut Self {
        self.attr(ty, &v.to_ne_bytes())
    }
    pub fn u32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.attr(ty, &v.to_ne_bytes())
    }
    pub fn str(&mut self, ty: u16, v: &str) -> &mut Self {
        let mut b = v.as_bytes().to_vec();
        b.push(0);
        self.attr(ty, &b)
    }

    /// Raw bytes inside the current nest (e.g. the peer's ifinfomsg inside PEER_INFO).
    pub fn ifinfo(&mut self, ifi: IfInfoMsg) -> &mut Self {
        ifi.emit(&mut self.buf);
        self
    }

    pub fn begin_nest(&mut self, ty: u16) -> &mut Self {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
        self
    }

    pub fn end_nest(&mut self) -> &mut Self {
        let start = self.nests.pop().expect("end_nest without begin_nest");
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    /// The finished message with length and sequence number filled in.
    pub fn finish(&self, seq: u32) -> Vec<u8> {
        assert!(self.nests.is_empty(), "unclosed nest");
        let mut out = self.buf.clone();
        let len = out.len() as u32;
        out[0..4].copy_from_slice(&len.to_ne_bytes());
        out[8..12].copy_from_slice(&seq.to_ne_bytes());
        out
    }
}

/// Iterates the attributes of a buffer; stops at the first malformed one.
pub fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if b.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let ty = u16::from_ne_bytes([b[2], b[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > b.len() {
            return None;
        }
        let payload = &b[4..len];
        b = &b[align4(len).min(b.len())..];
        Some((ty, payload))
    })
}

pub fn find(b: &[u8], ty: u16) -> Option<&[u8]> {
    attrs(b).find(|(t, _)| *t == ty).map(|(_, p)| p)
}

pub fn get_u8(b: &[u8]) -> Option<u8> {
    b.first().copied()
}
pub fn get_u16(b: &[u8]) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(..2)?.try_into().ok()?))
}
pub fn get_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(..4)?.try_into().ok()?))
}
pub fn get_u64(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(off..off + 8)?.try_into().ok()?))
}
pub fn get_str(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// One message of a reply.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    /// NLMSG_ERROR with error 0.
    Ack,
    /// NLMSG_ERROR with a negative errno and the extended-ACK message, if the kernel sent one.
    Error {
        errno: i32,
        msg: Option<String>,
    },
    Done,
    /// A link message (RTM_NEWLINK in a dump or a GETLINK answer).
    Link {
        ifi: IfInfoMsg,
        attrs: &'a [u8],
    },
    Other(u16),
}

/// Splits a datagram into messages: `(seq, flags, reply)`.
pub fn parse(mut b: &[u8]) -> Vec<(u32, u16, Reply<'_>)> {
    let mut out = Vec::new();
    while b.len() >= NLMSG_HDRLEN {
        let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if len < NLMSG_HDRLEN || len > b.len() {
            break;
        }
        let ty = u16::from_ne_bytes([b[4], b[5]]);
        let flags = u16::from_ne_bytes([b[6], b[7]]);
        let seq = u32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
        let body = &b[NLMSG_HDRLEN..len];
        let reply = match ty {
            NLMSG_ERROR => parse_error(body, flags),
            NLMSG_DONE => Reply::Done,
            RTM_NEWLINK => match IfInfoMsg::parse(body) {
                Some(ifi) => Reply::Link {
                    ifi,
                    attrs: &body[IFINFOMSG_LEN..],
                },
                None => Reply::Other(ty),
            },
            other => Reply::Other(other),
        };
        out.push((seq, flags, reply));
        b = &b[align4(len).min(b.len())..];
    }
    out
}

/// `struct nlmsgerr` = i32 error + the request's nlmsghdr (whole request unless capped), then
/// the extended-ACK TLVs when NLM_F_ACK_TLVS is set.
fn parse_error(body: &[u8], flags: u16) -> Reply<'_> {
    let Some(errno) = body
        .get(..4)
        .map(|e| i32::from_ne_bytes(e.try_into().unwrap()))
    else {
        return Reply::Error {
            errno: -libc::EIO,
            msg: None,
        };
    };
    if errno == 0 {
        return Reply::Ack;
    }
    let mut msg = None;
    if flags & NLM_F_ACK_TLVS != 0 && body.len() >= 4 + NLMSG_HDRLEN {
        let req_len = u32::from_ne_bytes(body[4..8].try_into().unwrap()) as usize;
        let skip = if flags & NLM_F_CAPPED != 0 {
            NLMSG_HDRLEN
        } else {
            align4(req_len)
        };
        if let Some(tlvs) = body.get(4 + skip..) {
            msg = find(tlvs, NLMSGERR_ATTR_MSG).map(get_str);
        }
    }
    Reply::Error { errno, msg }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_attributes_round_trip() {
        let mut m = LinkMsg::new(RTM_NEWLINK, NLM_F_REQUEST, IfInfoMsg::default());
        m.str(IFLA_IFNAME, "nk1")
            .begin_nest(IFLA_LINKINFO)
            .str(IFLA_INFO_KIND, "netkit")
            .begin_nest(IFLA_INFO_DATA)
            .u32(IFLA_NETKIT_POLICY, 2)
            .end_nest()
            .end_nest();
        let bytes = m.finish(7);
        assert_eq!(
            u32::from_ne_bytes(bytes[0..4].try_into().unwrap()) as usize,
            bytes.len()
        );
        assert_eq!(u32::from_ne_bytes(bytes[8..12].try_into().unwrap()), 7);
        let body = &bytes[32..];
        assert_eq!(find(body, IFLA_IFNAME).map(get_str).as_deref(), Some("nk1"));
        let info = find(body, IFLA_LINKINFO).unwrap();
        assert_eq!(
            find(info, IFLA_INFO_KIND).map(get_str).as_deref(),
            Some("netkit")
        );
        let data = find(info, IFLA_INFO_DATA).unwrap();
        assert_eq!(find(data, IFLA_NETKIT_POLICY).and_then(get_u32), Some(2));
    }

    #[test]
    fn error_with_extended_ack_message() {
        // nlmsghdr(error, ACK_TLVS|CAPPED) + errno -22 + capped request header + MSG TLV.
        let mut req = LinkMsg::new(RTM_NEWLINK, NLM_F_REQUEST, IfInfoMsg::default());
        let req = req.u32(IFLA_MTU, 1).finish(3);
        let mut body = (-22i32).to_ne_bytes().to_vec();
        body.extend_from_slice(&req[..16]);
        let mut tlv = LinkMsg::new(0, 0, IfInfoMsg::default());
        tlv.str(NLMSGERR_ATTR_MSG, "Primary attribute is read-only");
        body.extend_from_slice(&tlv.finish(0)[32..]);
        let mut msg = vec![0u8; 16];
        msg[0..4].copy_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        msg[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        msg[6..8].copy_from_slice(&(NLM_F_ACK_TLVS | NLM_F_CAPPED).to_ne_bytes());
        msg[8..12].copy_from_slice(&3u32.to_ne_bytes());
        msg.extend_from_slice(&body);
        let parsed = parse(&msg);
        assert_eq!(
            parsed,
            vec![(
                3,
                NLM_F_ACK_TLVS | NLM_F_CAPPED,
                Reply::Error {
                    errno: -22,
                    msg: Some("Primary attribute is read-only".into())
                }
            )]
        );
    }

    #[test]
    fn truncated_input_never_panics() {
        let mut m = LinkMsg::new(RTM_NEWLINK, 0, IfInfoMsg::default());
        let bytes = m.u32(IFLA_MTU, 1500).finish(1);
        for cut in 0..bytes.len() {
            let _ = parse(&bytes[..cut]);
            let _ = attrs(&bytes[..cut]).count();
        }
        let mut bad = bytes.clone();
        bad[32] = 0xff; // attribute length beyond the buffer
        assert_eq!(attrs(&bad[32..]).count(), 0);
    }
}
