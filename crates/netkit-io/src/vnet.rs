//! The virtio-net header that precedes every frame on a TUN/TAP opened with `IFF_VNET_HDR`
//! (`struct virtio_net_hdr`, little-endian on x86 TUN/TAP). It carries GSO and partial-checksum
//! information, so that super-packets and CHECKSUM_PARTIAL packets cross whole.

/// Header size we negotiate with `TUNSETVNETHDRSZ` (the plain `virtio_net_hdr`).
pub const VNET_HDR_LEN: usize = 10;

/// `flags` bits.
pub const F_NEEDS_CSUM: u8 = 1;
pub const F_DATA_VALID: u8 = 2;

/// `gso_type` values.
pub mod gso {
    pub const NONE: u8 = 0;
    pub const TCPV4: u8 = 1;
    pub const UDP: u8 = 3;
    pub const TCPV6: u8 = 4;
    pub const UDP_L4: u8 = 5;
    /// Flag bit: the TCP stream uses ECN (TSO_ECN).
    pub const ECN: u8 = 0x80;
}

/// A decoded virtio-net header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VnetHdr {
    pub flags: u8,
    pub gso_type: u8,
    /// Length of the headers to copy into each segment (a hint; TUN sets the linear length).
    pub hdr_len: u16,
    /// Payload bytes per segment when `gso_type != NONE`.
    pub gso_size: u16,
    /// Offset from the frame start where checksumming starts (with `F_NEEDS_CSUM`).
    pub csum_start: u16,
    /// Offset from `csum_start` where the checksum is stored.
    pub csum_offset: u16,
}

impl VnetHdr {
    /// Decodes the first [`VNET_HDR_LEN`] bytes of `buf`; `None` when `buf` is shorter.
    pub fn parse(buf: &[u8]) -> Option<VnetHdr> {
        let b: &[u8; VNET_HDR_LEN] = buf.get(..VNET_HDR_LEN)?.try_into().ok()?;
        let u16_at = |i: usize| u16::from_le_bytes([b[i], b[i + 1]]);
        Some(VnetHdr {
            flags: b[0],
            gso_type: b[1],
            hdr_len: u16_at(2),
            gso_size: u16_at(4),
            csum_start: u16_at(6),
            csum_offset: u16_at(8),
        })
    }

    /// Encodes into the first [`VNET_HDR_LEN`] bytes of `buf` (which must be that long).
    pub fn emit(&self, buf: &mut [u8; VNET_HDR_LEN]) {
        buf[0] = self.flags;
        buf[1] = self.gso_type;
        buf[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        buf[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        buf[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        buf[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
    }

    /// True for a GSO super-packet.
    pub fn is_gso(&self) -> bool {
        self.gso_type & !gso::ECN != gso::NONE
    }

    /// Moves the checksum start by `delta` bytes (a header was added or removed in front).
    /// Returns false when the result would fall before the frame start.
    pub fn shift(&mut self, delta: isize) -> bool {
        if self.flags & F_NEEDS_CSUM == 0 {
            return true;
        }
        match (self.csum_start as isize).checked_add(delta) {
            Some(v) if (0..=u16::MAX as isize).contains(&v) => {
                self.csum_start = v as u16;
                true
            }
            _ => false,
        }
    }

    /// Number of segments the super-packet `frame` stands for (the kernel's `gso_segs`):
    /// payload after the transport header divided by `gso_size`, rounded up. 1 for non-GSO.
    /// `transport_off` is where the transport header starts in `frame`
    /// (`csum_start` for TSO/USO packets).
    pub fn gso_segs(&self, frame: &[u8]) -> u32 {
        if !self.is_gso() || self.gso_size == 0 {
            return 1;
        }
        let l4 = self.csum_start as usize;
        let l4_len = match self.gso_type & !gso::ECN {
            gso::TCPV4 | gso::TCPV6 => frame
                .get(l4 + 12)
                .map(|doff| ((doff >> 4) as usize) * 4)
                .unwrap_or(20),
            _ => 8,
        };
        let payload = frame.len().saturating_sub(l4 + l4_len);
        payload.div_ceil(self.gso_size as usize).max(1) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_golden_bytes() {
        let bytes = [1u8, 0x81, 66, 0, 0xa8, 0x05, 34, 0, 16, 0];
        let h = VnetHdr::parse(&bytes).unwrap();
        assert_eq!(
            h,
            VnetHdr {
                flags: F_NEEDS_CSUM,
                gso_type: gso::TCPV4 | gso::ECN,
                hdr_len: 66,
                gso_size: 1448,
                csum_start: 34,
                csum_offset: 16,
            }
        );
        assert!(h.is_gso());
        let mut out = [0u8; VNET_HDR_LEN];
        h.emit(&mut out);
        assert_eq!(out, bytes);
        assert_eq!(VnetHdr::parse(&bytes[..9]), None);
    }

    #[test]
    fn segments_from_tcp_header_length() {
        // L3 frame: 20-byte IPv4 header, TCP header with doff=8 (32 bytes), 3000 bytes payload.
        let mut frame = vec![0u8; 20 + 32 + 3000];
        frame[20 + 12] = 8 << 4;
        let h = VnetHdr {
            flags: F_NEEDS_CSUM,
            gso_type: gso::TCPV4,
            hdr_len: 52,
            gso_size: 1448,
            csum_start: 20,
            csum_offset: 16,
        };
        assert_eq!(h.gso_segs(&frame), 3);
        let plain = VnetHdr::default();
        assert_eq!(plain.gso_segs(&frame), 1);
    }

    #[test]
    fn shift_moves_csum_start_only_when_partial() {
        let mut h = VnetHdr {
            flags: F_NEEDS_CSUM,
            csum_start: 20,
            ..VnetHdr::default()
        };
        assert!(h.shift(14));
        assert_eq!(h.csum_start, 34);
        assert!(!h.shift(-40));
        let mut none = VnetHdr::default();
        assert!(none.shift(-40));
        assert_eq!(none.csum_start, 0);
    }
}
