//! Between what a TUN/TAP queue carries ([virtio-net header][frame]) and what the programs see
//! (an [`Skb`] starting at a 14-byte Ethernet header, GSO size and segment count set).
//!
//! L3 (TUN) frames are IP packets: on the way in an Ethernet header with zero MACs and the
//! ethertype of the IP version is put in front; on the way out it is stripped. The partial
//! checksum offset follows every header change, so checksums are never computed here.

use netkit_bpf::skb::{Skb, SkbMeta, DEFAULT_HEADROOM};
use netkit_io::tun::TunKind;
use netkit_io::vnet::VnetHdr;

/// Ethernet header length.
pub const ETH_HLEN: usize = 14;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86DD;

/// Why a frame could not cross.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Shorter than its virtio-net header, or an L3 packet that is not IPv4/IPv6.
    Malformed,
    /// Too short to strip an Ethernet header for an L3 device.
    Runt,
}

/// Where in `skb.buf` a queue read must start so that, for a `kind` device with `vnet_len`
/// bytes of virtio-net header, the frame's Ethernet header (synthesised for L3) begins at
/// [`DEFAULT_HEADROOM`]. The bytes before it must exist (any value).
pub fn rx_offset(kind: TunKind, vnet_len: usize) -> usize {
    match kind {
        // The synthesised Ethernet header overwrites the virtio-net header once parsed.
        TunKind::Tun => DEFAULT_HEADROOM + ETH_HLEN - vnet_len,
        TunKind::Tap => DEFAULT_HEADROOM - vnet_len,
    }
}

/// Fills `skb` from `raw` as read from a queue of a `kind` device with `vnet_len` bytes of
/// virtio-net header (copying; the dataplane reads in place and calls [`ingest_in_place`]).
pub fn ingest(
    raw: &[u8],
    kind: TunKind,
    vnet_len: usize,
    skb: &mut Skb,
) -> Result<VnetHdr, FrameError> {
    skb.buf.clear();
    skb.buf.resize(rx_offset(kind, vnet_len), 0);
    skb.buf.extend_from_slice(raw);
    ingest_in_place(skb, kind, vnet_len)
}

/// Turns `skb.buf`, holding what a queue read at [`rx_offset`], into the packet the programs
/// see. Returns the virtio-net header, its checksum offset now relative to the Ethernet header.
pub fn ingest_in_place(
    skb: &mut Skb,
    kind: TunKind,
    vnet_len: usize,
) -> Result<VnetHdr, FrameError> {
    let off = rx_offset(kind, vnet_len);
    let mut vnet = if vnet_len == 0 {
        VnetHdr::default()
    } else {
        VnetHdr::parse(skb.buf.get(off..).unwrap_or(&[])).ok_or(FrameError::Malformed)?
    };
    let frame_at = off + vnet_len;
    skb.head = DEFAULT_HEADROOM;
    let protocol = match kind {
        TunKind::Tun => {
            let ethertype = match skb.buf.get(frame_at).map(|b| b >> 4) {
                Some(4) => ETH_P_IP,
                Some(6) => ETH_P_IPV6,
                _ => return Err(FrameError::Malformed),
            };
            let eth = &mut skb.buf[DEFAULT_HEADROOM..frame_at];
            eth[..12].fill(0);
            eth[12..].copy_from_slice(&ethertype.to_be_bytes());
            if !vnet.shift(ETH_HLEN as isize) {
                return Err(FrameError::Malformed);
            }
            ethertype
        }
        TunKind::Tap => match skb.buf.get(frame_at + 12..frame_at + 14) {
            Some(t) => u16::from_be_bytes([t[0], t[1]]),
            None => return Err(FrameError::Runt),
        },
    };
    let len = skb.len() as u32;
    skb.meta = SkbMeta {
        protocol,
        wire_len: len,
        gso_size: if vnet.is_gso() {
            vnet.gso_size as u32
        } else {
            0
        },
        gso_segs: if vnet.is_gso() {
            vnet.gso_segs(skb.data())
        } else {
            0
        },
        ..SkbMeta::default()
    };
    skb.redirect = None;
    Ok(vnet)
}

/// Lays `skb` out for writing to a `kind` device queue and returns the bytes to write:
/// the virtio-net header (when `vnet_len > 0`) followed by the frame, Ethernet header stripped
/// for L3. `vnet` is what [`ingest`] returned; `ingest_head` the `skb.head` it left (programs
/// may have moved it).
pub fn emit(
    skb: &mut Skb,
    mut vnet: VnetHdr,
    ingest_head: usize,
    kind: TunKind,
    vnet_len: usize,
) -> Result<&[u8], FrameError> {
    // Bytes a program added (positive) or removed in front of the packet.
    let grown = ingest_head as isize - skb.head as isize;
    let strip = match kind {
        TunKind::Tun => ETH_HLEN,
        TunKind::Tap => 0,
    };
    if skb.len() < strip.max(ETH_HLEN) {
        return Err(FrameError::Runt);
    }
    if !vnet.shift(grown - strip as isize) {
        return Err(FrameError::Malformed);
    }
    if vnet.is_gso() {
        vnet.gso_size = skb.meta.gso_size.min(u16::MAX as u32) as u16;
    }
    let start = skb.head + strip;
    if vnet_len == 0 {
        return Ok(&skb.buf[start..]);
    }
    let start = if start >= vnet_len {
        start
    } else {
        // A program used up all headroom (rare): make room in front.
        let need = vnet_len - start;
        skb.buf.splice(0..0, std::iter::repeat_n(0u8, need));
        skb.head += need;
        start + need
    };
    let hdr: &mut [u8; netkit_io::vnet::VNET_HDR_LEN] = (&mut skb.buf[start - vnet_len..start])
        .try_into()
        .map_err(|_| FrameError::Malformed)?;
    vnet.emit(hdr);
    Ok(&skb.buf[start - vnet_len..])
}

/// The destination IP address of an Ethernet frame carrying IPv4 or IPv6.
pub fn ip_dst(frame: &[u8]) -> Option<std::net::IpAddr> {
    let ethertype = u16::from_be_bytes(frame.get(12..14)?.try_into().ok()?);
    match ethertype {
        ETH_P_IP => Some(<[u8; 4]>::try_from(frame.get(30..34)?).ok()?.into()),
        ETH_P_IPV6 => Some(<[u8; 16]>::try_from(frame.get(38..54)?).ok()?.into()),
        _ => None,
    }
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
