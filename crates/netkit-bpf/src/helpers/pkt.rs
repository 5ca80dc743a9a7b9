//! Helpers that read, write or reshape the packet, or record what should happen to it
//! (net/core/filter.c). The packet is linear: `skb.buf[head..]`, MAC header at `head`, the
//! network header right after a 14-byte Ethernet header.

use super::csum;
use super::{bad, check_ctx, id, EFAULT, EINVAL, ENOMEM, ENOTSUPP};
use crate::mem::{kind, ptr_kind};
use crate::skb::{NextHop, RedirectKind, RedirectRequest};
use crate::vm::{AbortReason, CloneRequest, Machine};

const ETH_HLEN: usize = 14;
const TC_ACT_SHOT: u64 = 2;
const TC_ACT_REDIRECT: u64 = 7;
const BPF_F_INGRESS: u64 = 1;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
const ETH_P_8021AD: u16 = 0x88a8;
const INT_MAX: u64 = i32::MAX as u64;
/// The uid reported when there is none (`overflowuid`).
const OVERFLOW_UID: u64 = 65534;

/// Legacy `LD_ABS`/`LD_IND`: `size` bytes big-endian at `off` from the packet start, or `None`
/// (the program then ends returning 0).
pub(crate) fn ld_abs(m: &Machine, off: i64, size: u8) -> Option<u64> {
    let off = off as i32;
    if m.raw || off < 0 {
        return None;
    }
    let data = m.skb.data();
    let b = data.get(off as usize..off as usize + size as usize)?;
    Some(b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
}

fn redirect(m: &mut Machine, ifindex: u64, kind: RedirectKind) -> u64 {
    m.skb.redirect = Some(RedirectRequest {
        ifindex: ifindex as u32,
        kind,
    });
    TC_ACT_REDIRECT
}

fn is_vlan(proto: u16) -> bool {
    proto == ETH_P_8021Q || proto == ETH_P_8021AD
}

/// The largest packet the device takes: its MTU plus the Ethernet header.
fn max_len(m: &Machine) -> usize {
    m.mtu as usize + ETH_HLEN
}

pub(super) fn call(m: &mut Machine, helper: u32, a: [u64; 5]) -> Result<u64, AbortReason> {
    match helper {
        id::REDIRECT => {
            if a[1] & !BPF_F_INGRESS != 0 {
                return Ok(TC_ACT_SHOT);
            }
            let kind = if a[1] & BPF_F_INGRESS != 0 {
                RedirectKind::Ingress
            } else {
                RedirectKind::Egress
            };
            return Ok(redirect(m, a[0], kind));
        }
        id::REDIRECT_PEER => {
            if a[1] != 0 {
                return Ok(TC_ACT_SHOT);
            }
            return Ok(redirect(m, a[0], RedirectKind::Peer));
        }
        id::REDIRECT_NEIGH => {
            let plen = a[2];
            if (plen != 0 && plen < 20) || a[3] != 0 {
                return Ok(TC_ACT_SHOT);
            }
            let mut nh = None;
            if plen != 0 && a[1] != 0 {
                let mut p = [0u8; 20];
                m.read(a[1], &mut p)?;
                let family = u32::from_le_bytes([p[0], p[1], p[2], p[3]]);
                nh = match family {
                    2 => Some(NextHop::V4([p[4], p[5], p[6], p[7]])),
                    10 => Some(NextHop::V6(p[4..20].try_into().expect("16 bytes"))),
                    _ => return Ok(TC_ACT_SHOT),
                };
            }
            return Ok(redirect(m, a[0], RedirectKind::Neigh(nh)));
        }
        id::CSUM_DIFF => return csum_diff(m, a),
        _ => {}
    }
    // The rest take the context as their first argument.
    check_ctx(m, helper, a[0])?;
    Ok(match helper {
        id::SKB_LOAD_BYTES => {
            let len = a[3] as usize & 0xffff_ffff;
            let (off, ok) = (a[1] & 0xffff_ffff, true);
            let src = (ok && off <= INT_MAX)
                .then(|| {
                    m.skb
                        .data()
                        .get(off as usize..(off as usize).checked_add(len)?)
                })
                .flatten()
                .map(<[u8]>::to_vec);
            copy_out(m, a[2], src, len)?
        }
        id::SKB_LOAD_BYTES_RELATIVE => {
            let len = a[3] as usize & 0xffff_ffff;
            let off = a[1] & 0xffff_ffff;
            let start = match a[4] {
                0 => Some(0usize),
                1 => Some(ETH_HLEN),
                _ => None,
            };
            let src = start
                .filter(|_| off <= 0xffff)
                .and_then(|s| {
                    let from = s + off as usize;
                    m.skb.data().get(from..from.checked_add(len)?)
                })
                .map(<[u8]>::to_vec);
            copy_out(m, a[2], src, len)?
        }
        id::SKB_STORE_BYTES => {
            if a[4] & !3 != 0 {
                return Ok(EINVAL);
            }
            let off = a[1] & 0xffff_ffff;
            let len = a[3] & 0xffff_ffff;
            if off > INT_MAX || (off + len) as usize > m.skb.len() {
                return Ok(EFAULT);
            }
            let mut bytes = super::arg_buf(a[2], len)?;
            m.read(a[2], &mut bytes)?;
            let at = m.skb.head + off as usize;
            m.skb.buf[at..at + len as usize].copy_from_slice(&bytes);
            if a[4] & 2 != 0 {
                m.skb.meta.hash = 0;
            }
            m.invalidate_packet();
            0
        }
        id::L3_CSUM_REPLACE => l3_csum(m, a),
        id::L4_CSUM_REPLACE => l4_csum(m, a),
        id::CLONE_REDIRECT => {
            if a[2] & !BPF_F_INGRESS != 0 || a[1] as u32 == 0 {
                return Ok(EINVAL);
            }
            let kind = if a[2] & BPF_F_INGRESS != 0 {
                RedirectKind::Ingress
            } else {
                RedirectKind::Egress
            };
            m.clones.push(CloneRequest {
                target: RedirectRequest {
                    ifindex: a[1] as u32,
                    kind,
                },
                frame: m.skb.data().to_vec(),
                meta: m.skb.meta,
            });
            0
        }
        id::SKB_CHANGE_TYPE => {
            let ty = a[1] as u32;
            if m.skb.meta.pkt_type > 3 || ty > 3 {
                return Ok(EINVAL);
            }
            m.skb.meta.pkt_type = ty;
            0
        }
        id::GET_HASH_RECALC => {
            if m.skb.meta.hash == 0 {
                m.skb.meta.hash = flow_hash(m.skb.data());
            }
            u64::from(m.skb.meta.hash)
        }
        // Packets here are never CHECKSUM_COMPLETE.
        id::CSUM_UPDATE => ENOTSUPP,
        // No socket is attached to a packet in a netkit transmit path or a test run.
        id::GET_SOCKET_COOKIE => 0,
        id::GET_SOCKET_UID => OVERFLOW_UID,
        id::SKB_ECN_SET_CE => ecn_set_ce(m),
        id::SKB_CHANGE_PROTO => change_proto(m, a[1] as u16, a[2]),
        id::SET_HASH_INVALID => {
            m.skb.meta.hash = 0;
            0
        }
        id::SET_HASH => {
            m.skb.meta.hash = a[1] as u32;
            0
        }
        id::SKB_CHANGE_TAIL => {
            let new_len = a[1] & 0xffff_ffff;
            if a[2] != 0 || new_len as usize > max_len(m) || (new_len as usize) < ETH_HLEN {
                return Ok(EINVAL);
            }
            let head = m.skb.head;
            m.skb.buf.resize(head + new_len as usize, 0);
            m.invalidate_packet();
            0
        }
        id::SKB_CHANGE_HEAD => {
            let room = (a[1] & 0xffff_ffff) as usize;
            let new_len = m.skb.len() + room;
            if a[2] != 0 || new_len > max_len(m) {
                return Ok(EINVAL);
            }
            push_front(m, 0, room);
            m.invalidate_packet();
            0
        }
        id::SKB_PULL_DATA => {
            let len = a[1] & 0xffff_ffff;
            m.invalidate_packet();
            if len as usize > m.skb.len() {
                ENOMEM
            } else {
                0
            }
        }
        id::SKB_ADJUST_ROOM => adjust_room(m, a),
        id::SKB_VLAN_PUSH => vlan_push(m, a[1] as u16, a[2] as u16),
        id::SKB_VLAN_POP => vlan_pop(m),
        id::CSUM_LEVEL => match a[1] {
            // The packet carries no CHECKSUM_UNNECESSARY state: query is -EACCES.
            0 => match m.csum_level {
                Some(level) => u64::from(level),
                None => (-13i64) as u64,
            },
            1 => {
                m.csum_level = Some(m.csum_level.map_or(0, |l| (l + 1).min(3)));
                0
            }
            2 => {
                m.csum_level = match m.csum_level {
                    Some(0) | None => None,
                    Some(l) => Some(l - 1),
                };
                0
            }
            3 => {
                m.csum_level = None;
                0
            }
            _ => EINVAL,
        },
        id::CHECK_MTU => check_mtu(m, a)?,
        id::SKB_SET_TSTAMP => {
            // Only IP packets carry a delivery time (observed: -EOPNOTSUPP otherwise).
            if !matches!(m.skb.meta.protocol, ETH_P_IP | ETH_P_IPV6) {
                return Ok((-95i64) as u64);
            }
            let (ts, ty) = (a[1], a[2]);
            match ty {
                0 => {}
                1 | 2 if ts != 0 => {}
                _ => return Ok(EINVAL),
            }
            m.skb.meta.tstamp = ts;
            m.skb.meta.tstamp_type = ty as u8;
            0
        }
        _ => return Err(bad(helper, "helper not available")),
    })
}

/// The end of `bpf_skb_load_bytes[_relative]`: the bytes read go to `dst`; when the range
/// was out of the packet (`None`) the kernel zeroes the `len` bytes at `dst` and fails.
fn copy_out(
    m: &mut Machine,
    dst: u64,
    src: Option<Vec<u8>>,
    len: usize,
) -> Result<u64, AbortReason> {
    match src {
        Some(bytes) => {
            m.write(dst, &bytes)?;
            Ok(0)
        }
        None => {
            zero_out(m, dst, len)?;
            Ok(EFAULT)
        }
    }
}

fn zero_out(m: &mut Machine, addr: u64, len: usize) -> Result<(), AbortReason> {
    if len > 1 << 24 {
        return Err(AbortReason::OutOfBounds {
            addr,
            size: len as u32,
            write: true,
        });
    }
    m.write(addr, &vec![0; len])
}

/// `bpf_csum_diff(from, from_size, to, to_size, seed)`.
fn csum_diff(m: &mut Machine, a: [u64; 5]) -> Result<u64, AbortReason> {
    let (from_size, to_size) = (a[1] & 0xffff_ffff, a[3] & 0xffff_ffff);
    if from_size + to_size > 1 << 16 {
        return Ok(EINVAL);
    }
    let mut from = super::arg_buf(a[0], from_size)?;
    let mut to = super::arg_buf(a[2], to_size)?;
    m.read(a[0], &mut from)?;
    m.read(a[2], &mut to)?;
    // Kernels since 6.13 return the sum folded to 16 bits (csum_from32to16, not
    // complemented) on every architecture; csum::csum_diff does that fold.
    Ok(u64::from(csum::csum_diff(&from, &to, a[4] as u32)))
}

/// The checksum field at `off` from the packet start, if writable there.
fn sum_field(m: &Machine, off: u64) -> Result<usize, u64> {
    if off > 0xffff || off & 1 != 0 || off as usize + 2 > m.skb.len() {
        return Err(EFAULT);
    }
    Ok(m.skb.head + off as usize)
}

fn get16(m: &Machine, at: usize) -> u16 {
    u16::from_le_bytes([m.skb.buf[at], m.skb.buf[at + 1]])
}

fn put16(m: &mut Machine, at: usize, v: u16) {
    m.skb.buf[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

/// `bpf_l3_csum_replace(skb, offset, from, to, size)`.
fn l3_csum(m: &mut Machine, a: [u64; 5]) -> u64 {
    let flags = a[4];
    if flags & !0xf != 0 {
        return EINVAL;
    }
    let at = match sum_field(m, a[1]) {
        Ok(at) => at,
        Err(e) => return e,
    };
    let sum = get16(m, at);
    let new = match flags & 0xf {
        0 if a[2] != 0 => return EINVAL,
        0 => csum::csum_replace_by_diff(sum, a[3] as u32),
        2 => csum::csum_replace2(sum, a[2] as u16, a[3] as u16),
        4 => csum::csum_replace4(sum, a[2] as u32, a[3] as u32),
        _ => return EINVAL,
    };
    put16(m, at, new);
    m.invalidate_packet();
    0
}

/// `bpf_l4_csum_replace(skb, offset, from, to, flags)`. Packets here carry complete
/// checksums (not CHECKSUM_PARTIAL), so the pseudo-header flag changes nothing in the field,
/// exactly as `inet_proto_csum_replace4` behaves for such packets.
fn l4_csum(m: &mut Machine, a: [u64; 5]) -> u64 {
    const PSEUDO_HDR: u64 = 0x10;
    const MANGLED_0: u64 = 0x20;
    const ENFORCE: u64 = 0x40;
    const IPV6: u64 = 0x80;
    let flags = a[4];
    if flags & !(0xf | PSEUDO_HDR | MANGLED_0 | ENFORCE | IPV6) != 0 {
        return EINVAL;
    }
    let at = match sum_field(m, a[1]) {
        Ok(at) => at,
        Err(e) => return e,
    };
    let sum = get16(m, at);
    let mmzero = flags & MANGLED_0 != 0;
    if mmzero && flags & ENFORCE == 0 && sum == 0 {
        return 0;
    }
    let mut new = match flags & 0xf {
        0 if a[2] != 0 => return EINVAL,
        0 => csum::csum_replace_by_diff(sum, a[3] as u32),
        // inet_proto_csum_replace2 widens the 16-bit values and replaces as 32-bit.
        2 => csum::csum_replace4(sum, u32::from(a[2] as u16), u32::from(a[3] as u16)),
        4 => csum::csum_replace4(sum, a[2] as u32, a[3] as u32),
        _ => return EINVAL,
    };
    if mmzero && new == 0 {
        new = 0xffff;
    }
    put16(m, at, new);
    m.invalidate_packet();
    0
}

/// Inserts `len` zero bytes at `off` from the packet start, using headroom when there is
/// some (the bytes before `off` move towards the head, as `bpf_skb_generic_push` does).
fn push_front(m: &mut Machine, off: usize, len: usize) {
    let skb = &mut *m.skb;
    if skb.head < len {
        // Grow geometrically so that repeated pushes cost amortised O(1).
        let grow = len - skb.head + crate::skb::DEFAULT_HEADROOM + skb.buf.len();
        skb.buf.splice(0..0, std::iter::repeat_n(0, grow));
        skb.head += grow;
    }
    let head = skb.head;
    skb.buf.copy_within(head..head + off, head - len);
    skb.head -= len;
    skb.buf[skb.head + off..skb.head + off + len].fill(0);
}

/// Removes `len` bytes at `off` from the packet start (`bpf_skb_generic_pop`).
fn pop_at(m: &mut Machine, off: usize, len: usize) {
    let skb = &mut *m.skb;
    let head = skb.head;
    skb.buf.copy_within(head..head + off, head + len);
    skb.head += len;
}

/// `bpf_skb_adjust_room(skb, len_diff, mode, flags)`.
fn adjust_room(m: &mut Machine, a: [u64; 5]) -> u64 {
    const FIXED_GSO: u64 = 1;
    const ENCAP_L3_IPV4: u64 = 1 << 1;
    const ENCAP_L3_IPV6: u64 = 1 << 2;
    const ENCAP_L4_GRE: u64 = 1 << 3;
    const ENCAP_L4_UDP: u64 = 1 << 4;
    const NO_CSUM_RESET: u64 = 1 << 5;
    const ENCAP_L2_ETH: u64 = 1 << 6;
    const DECAP_L3_IPV4: u64 = 1 << 7;
    const DECAP_L3_IPV6: u64 = 1 << 8;
    const ENCAP_L2_MASK: u64 = 0xff << 56;
    const ALL: u64 = FIXED_GSO
        | ENCAP_L3_IPV4
        | ENCAP_L3_IPV6
        | ENCAP_L4_GRE
        | ENCAP_L4_UDP
        | NO_CSUM_RESET
        | ENCAP_L2_ETH
        | DECAP_L3_IPV4
        | DECAP_L3_IPV6
        | ENCAP_L2_MASK;
    let len_diff = a[1] as i32;
    let mode = a[2] as u32;
    let flags = a[3];
    let diff = len_diff.unsigned_abs() as usize;
    let shrink = len_diff < 0;
    if flags & !ALL != 0 {
        return EINVAL;
    }
    if diff > 0xfff {
        return EFAULT;
    }
    let proto = m.skb.meta.protocol;
    let net_base = match proto {
        ETH_P_IP => 20,
        ETH_P_IPV6 => 40,
        _ => return ENOTSUPP,
    };
    let off = match mode {
        0 => ETH_HLEN + net_base,
        1 => ETH_HLEN,
        _ => return ENOTSUPP,
    };
    let mut len_min = net_base;
    let decap = flags & (DECAP_L3_IPV4 | DECAP_L3_IPV6);
    if decap != 0 {
        if !shrink {
            return EINVAL;
        }
        len_min = match decap {
            DECAP_L3_IPV4 => 20,
            DECAP_L3_IPV6 => 40,
            _ => return EINVAL,
        };
    }
    let len = m.skb.len();
    let len_cur = len.saturating_sub(ETH_HLEN);
    // A frame cut short of the header the mode names has no room to open or close
    // (the kernel never sees one: its callers pull the network header first).
    if off > len
        || (shrink && (diff >= len_cur || len_cur - diff < len_min))
        || (!shrink && len + diff > max_len(m))
    {
        return ENOTSUPP;
    }
    if shrink {
        if flags & !(FIXED_GSO | DECAP_L3_IPV4 | DECAP_L3_IPV6 | NO_CSUM_RESET) != 0 {
            return EINVAL;
        }
        pop_at(m, off, diff);
        if decap == DECAP_L3_IPV4 {
            m.skb.meta.protocol = ETH_P_IP;
        } else if decap == DECAP_L3_IPV6 {
            m.skb.meta.protocol = ETH_P_IPV6;
        }
    } else {
        if decap != 0 {
            return EINVAL;
        }
        let l3 = flags & (ENCAP_L3_IPV4 | ENCAP_L3_IPV6);
        if l3 == ENCAP_L3_IPV4 | ENCAP_L3_IPV6
            || flags & (ENCAP_L4_GRE | ENCAP_L4_UDP) == ENCAP_L4_GRE | ENCAP_L4_UDP
        {
            return EINVAL;
        }
        let inner_mac = (flags >> 56) as usize;
        if flags & ENCAP_L2_ETH != 0 && inner_mac < ETH_HLEN {
            return EINVAL;
        }
        if l3 != 0 && inner_mac > diff {
            return EINVAL;
        }
        push_front(m, off, diff);
        if proto == ETH_P_IP && l3 == ENCAP_L3_IPV6 {
            m.skb.meta.protocol = ETH_P_IPV6;
        } else if proto == ETH_P_IPV6 && l3 == ENCAP_L3_IPV4 {
            m.skb.meta.protocol = ETH_P_IP;
        }
    }
    if flags & NO_CSUM_RESET == 0 {
        m.csum_level = None;
    }
    m.invalidate_packet();
    0
}

/// `bpf_skb_ecn_set_ce`: marks Congestion Experienced in an ECN-capable IPv4/IPv6 packet
/// (INET_ECN_set_ce); returns 1 if the packet is now CE, 0 if it is not ECN-capable.
fn ecn_set_ce(m: &mut Machine) -> u64 {
    let at = m.skb.head + ETH_HLEN;
    match m.skb.meta.protocol {
        ETH_P_IP if m.skb.len() >= ETH_HLEN + 20 => {
            let tos = m.skb.buf[at + 1];
            // (tos + 1) & 3: not-ECT -> 1, ECT(1) -> 2, ECT(0) -> 3, CE -> 0.
            let ecn = (tos.wrapping_add(1) & 3) as u16;
            if ecn & 2 == 0 {
                return u64::from(ecn == 0);
            }
            let check = get16(m, at + 10);
            let add = 0xfffbu16.to_be().wrapping_add(ecn.to_be());
            let (sum, carry) = check.overflowing_add(add);
            put16(m, at + 10, sum.wrapping_add(u16::from(carry)));
            m.skb.buf[at + 1] = tos | 3;
            m.invalidate_packet();
            1
        }
        ETH_P_IPV6 if m.skb.len() >= ETH_HLEN + 40 => {
            let word = u32::from_be_bytes(m.skb.buf[at..at + 4].try_into().expect("4 bytes"));
            if (word >> 20) & 3 == 0 {
                return 0;
            }
            m.skb.buf[at..at + 4].copy_from_slice(&(word | (3 << 20)).to_be_bytes());
            m.invalidate_packet();
            1
        }
        _ => 0,
    }
}

/// `bpf_skb_change_proto(skb, proto, flags)`: IPv4 <-> IPv6, making room for (or removing)
/// the 20 bytes the headers differ by after the MAC header; the program writes the header.
fn change_proto(m: &mut Machine, proto_be: u16, flags: u64) -> u64 {
    if flags != 0 {
        return EINVAL;
    }
    let to = u16::from_be(proto_be);
    let from = m.skb.meta.protocol;
    match (from, to) {
        (ETH_P_IP, ETH_P_IPV6) => push_front(m, ETH_HLEN, 20),
        (ETH_P_IPV6, ETH_P_IP) => {
            if m.skb.len() < ETH_HLEN + 20 {
                return ENOMEM;
            }
            pop_at(m, ETH_HLEN, 20);
        }
        _ => return ENOTSUPP,
    }
    m.skb.meta.protocol = to;
    m.invalidate_packet();
    0
}

/// `bpf_skb_vlan_push`: the new tag goes to the metadata; a tag already there moves into the
/// packet after the MAC addresses (skb_vlan_push).
fn vlan_push(m: &mut Machine, proto_be: u16, tci: u16) -> u64 {
    let mut proto = u16::from_be(proto_be);
    if !is_vlan(proto) {
        proto = ETH_P_8021Q;
    }
    if m.skb.len() < ETH_HLEN {
        return EINVAL;
    }
    if m.skb.meta.vlan_present {
        let old = m.skb.meta;
        push_front(m, 12, 4);
        let at = m.skb.head + 12;
        m.skb.buf[at..at + 2].copy_from_slice(&old.vlan_proto.to_be_bytes());
        m.skb.buf[at + 2..at + 4].copy_from_slice(&old.vlan_tci.to_be_bytes());
        m.skb.meta.protocol = old.vlan_proto;
    }
    m.skb.meta.vlan_present = true;
    m.skb.meta.vlan_proto = proto;
    m.skb.meta.vlan_tci = tci;
    m.invalidate_packet();
    0
}

/// Removes the in-packet VLAN header after the MAC addresses; returns its (proto, tci).
fn pop_inline_tag(m: &mut Machine) -> Option<u16> {
    if m.skb.len() < ETH_HLEN + 4 {
        return None;
    }
    let d = m.skb.data();
    let tci = u16::from_be_bytes([d[14], d[15]]);
    let inner = u16::from_be_bytes([d[16], d[17]]);
    // The MAC addresses move up over the tag; the inner EtherType then follows them.
    let at = m.skb.head;
    m.skb.buf.copy_within(at..at + 12, at + 4);
    m.skb.head += 4;
    let at = m.skb.head;
    m.skb.buf[at + 12..at + 14].copy_from_slice(&inner.to_be_bytes());
    m.skb.meta.protocol = inner;
    Some(tci)
}

/// `bpf_skb_vlan_pop`.
fn vlan_pop(m: &mut Machine) -> u64 {
    if m.skb.meta.vlan_present {
        m.skb.meta.vlan_present = false;
        m.skb.meta.vlan_tci = 0;
        m.skb.meta.vlan_proto = 0;
    } else {
        if !is_vlan(m.skb.meta.protocol) {
            return 0;
        }
        if pop_inline_tag(m).is_none() {
            return EINVAL;
        }
    }
    // A further in-packet tag moves to the metadata.
    let proto = m.skb.meta.protocol;
    if is_vlan(proto) {
        match pop_inline_tag(m) {
            Some(tci) => {
                m.skb.meta.vlan_present = true;
                m.skb.meta.vlan_proto = proto;
                m.skb.meta.vlan_tci = tci;
            }
            None => return EINVAL,
        }
    }
    m.invalidate_packet();
    0
}

/// `bpf_check_mtu(ctx, ifindex, *mtu_len, len_diff, flags)` against the current device.
fn check_mtu(m: &mut Machine, a: [u64; 5]) -> Result<u64, AbortReason> {
    const SEGS: u64 = 1;
    if ptr_kind(a[2]) == kind::CTX {
        return Err(bad(id::CHECK_MTU, "mtu_len must point to memory"));
    }
    let mut buf = [0u8; 4];
    m.read(a[2], &mut buf)?;
    let mtu_len = u32::from_le_bytes(buf);
    let flags = a[4];
    let len_diff = a[3] as i32;
    if flags & !SEGS != 0 {
        return Ok(EINVAL);
    }
    if flags & SEGS != 0 && (len_diff != 0 || mtu_len != 0) {
        return Ok(EINVAL);
    }
    let ifindex = a[1] as u32;
    if ifindex != 0 && ifindex != m.skb.meta.ifindex {
        return Ok((-19i64) as u64);
    }
    let mtu = m.mtu;
    let dev_len = i64::from(mtu) + ETH_HLEN as i64;
    let mut skb_len = if mtu_len != 0 {
        i64::from(mtu_len) + ETH_HLEN as i64
    } else {
        m.skb.len() as i64
    };
    skb_len += i64::from(len_diff);
    let ret = if skb_len <= dev_len { 0 } else { 1 };
    m.write(a[2], &mtu.to_le_bytes())?;
    Ok(ret)
}

/// A flow hash over the L3 addresses and L4 ports (non-zero, stable per flow). The kernel's
/// value is keyed by a per-boot random secret, so no user space value can equal it.
fn flow_hash(frame: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    let mut mix = |bytes: &[u8]| {
        for &b in bytes {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
    };
    if frame.len() >= ETH_HLEN + 20 && frame[12..14] == ETH_P_IP.to_be_bytes() {
        let ip = &frame[ETH_HLEN..];
        mix(&ip[9..10]);
        mix(&ip[12..20]);
        let ihl = usize::from(ip[0] & 0xf) * 4;
        if let Some(ports) = ip.get(ihl..ihl + 4) {
            mix(ports);
        }
    } else if frame.len() >= ETH_HLEN + 40 && frame[12..14] == ETH_P_IPV6.to_be_bytes() {
        let ip = &frame[ETH_HLEN..];
        mix(&ip[6..7]);
        mix(&ip[8..40]);
        if let Some(ports) = ip.get(40..44) {
            mix(ports);
        }
    } else {
        mix(frame.get(..ETH_HLEN).unwrap_or(frame));
    }
    h.max(1)
}
