//! The packet and its metadata as a SCHED_CLS program sees it (`struct __sk_buff`).
//!
//! The device model builds an [`Skb`] from a frame, the engine runs programs on it, and the
//! device model acts on what the programs left behind (metadata, redirect request).

/// `pkt_type` values (linux/if_packet.h).
pub mod pkt_type {
    pub const HOST: u32 = 0;
    pub const BROADCAST: u32 = 1;
    pub const MULTICAST: u32 = 2;
    pub const OTHERHOST: u32 = 3;
    pub const OUTGOING: u32 = 4;
}

/// Bytes kept free in front of the packet so that `bpf_skb_change_head` and
/// `bpf_skb_adjust_room` can grow the packet without moving it (the kernel's NET_SKB_PAD idea).
pub const DEFAULT_HEADROOM: usize = 64;

/// The redirect a program asked for with one of the redirect helpers. It takes effect only if
/// the program chain's verdict is REDIRECT (7); the kernel keeps it per CPU, we keep it per packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedirectRequest {
    pub ifindex: u32,
    pub kind: RedirectKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectKind {
    /// `bpf_redirect(ifindex, 0)`: transmit out of the target.
    Egress,
    /// `bpf_redirect(ifindex, BPF_F_INGRESS)`: deliver into the target's receive path.
    Ingress,
    /// `bpf_redirect_neigh`: egress with the L2 header filled from the neighbour table.
    /// The optional next hop is the `struct bpf_redir_neigh` the program passed.
    Neigh(Option<NextHop>),
    /// `bpf_redirect_peer`: only valid at tc ingress; a netkit program's request drops.
    Peer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextHop {
    V4([u8; 4]),
    V6([u8; 16]),
}

/// Writable and readable `__sk_buff` fields other than the packet bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SkbMeta {
    pub pkt_type: u32,
    pub mark: u32,
    pub queue_mapping: u16,
    /// `skb->protocol` as the 16-bit value in network byte order (ETH_P_IP is 0x0800).
    pub protocol: u16,
    pub vlan_present: bool,
    pub vlan_tci: u16,
    /// Network byte order value, e.g. 0x8100.
    pub vlan_proto: u16,
    pub priority: u32,
    pub ingress_ifindex: u32,
    pub ifindex: u32,
    pub tc_index: u16,
    pub cb: [u32; 5],
    pub hash: u32,
    pub tc_classid: u32,
    pub napi_id: u32,
    pub tstamp: u64,
    pub tstamp_type: u8,
    pub wire_len: u32,
    pub gso_segs: u32,
    pub gso_size: u32,
    pub hwtstamp: u64,
}

/// A packet: `buf[head..]` is the frame, starting at its Ethernet header; `buf[..head]` is
/// headroom. Programs' direct packet access covers `[data, data_end)` = `buf[head..]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skb {
    pub buf: Vec<u8>,
    pub head: usize,
    pub meta: SkbMeta,
    pub redirect: Option<RedirectRequest>,
}

impl Skb {
    /// A packet holding a copy of `frame`, with [`DEFAULT_HEADROOM`] bytes of headroom and
    /// `protocol` taken from the Ethernet header when there is one.
    pub fn from_frame(frame: &[u8]) -> Skb {
        let mut buf = Vec::with_capacity(DEFAULT_HEADROOM + frame.len() + 64);
        buf.resize(DEFAULT_HEADROOM, 0);
        buf.extend_from_slice(frame);
        let protocol = if frame.len() >= 14 {
            u16::from_be_bytes([frame[12], frame[13]])
        } else {
            0
        };
        Skb {
            buf,
            head: DEFAULT_HEADROOM,
            meta: SkbMeta {
                protocol,
                ..SkbMeta::default()
            },
            redirect: None,
        }
    }

    /// The frame bytes, `[data, data_end)`.
    pub fn data(&self) -> &[u8] {
        &self.buf[self.head..]
    }

    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.head..]
    }

    /// `skb->len`.
    pub fn len(&self) -> usize {
        self.buf.len() - self.head
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why `BPF_PROG_TEST_RUN` would refuse the input.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TestRunError {
    #[error("data_in shorter than an Ethernet header (EINVAL)")]
    TooShort,
    #[error("data_in longer than {0} bytes (EINVAL)")]
    TooLong(usize),
    #[error("ctx_in sets field at offset {0} that test runs do not accept (EINVAL)")]
    CtxField(usize),
    #[error("ctx_in larger than struct __sk_buff with non-zero tail (E2BIG)")]
    CtxTooBig,
    #[error("ctx_in names ifindex {0}, no such device (ENODEV)")]
    NoDevice(u32),
    #[error("ctx_in wire_len {0} out of range (EINVAL)")]
    WireLen(u32),
    #[error("data_in shorter than its {0} network header (EINVAL)")]
    TruncatedNetworkHeader(&'static str),
}

/// The size of `struct __sk_buff`.
pub const SKB_CTX_SIZE: usize = 192;
/// The largest test-run packet: a page less NET_SKB_PAD headroom and the aligned
/// `skb_shared_info` (bpf_test_init).
pub const TEST_RUN_MAX_DATA: usize = 4096 - 64 - 320;
/// The loopback device test runs put packets on.
pub const LOOPBACK_IFINDEX: u32 = 1;
/// Loopback's MTU, the limit test runs' size-changing helpers see.
pub const LOOPBACK_MTU: u32 = 65536;

fn ctx_u32(ctx: &[u8; SKB_CTX_SIZE], off: usize) -> u32 {
    u32::from_le_bytes(ctx[off..off + 4].try_into().expect("4 bytes"))
}

fn ctx_u64(ctx: &[u8; SKB_CTX_SIZE], off: usize) -> u64 {
    u64::from_le_bytes(ctx[off..off + 8].try_into().expect("8 bytes"))
}

/// Offsets of `__sk_buff` fields test runs accept in ctx_in (convert___skb_to_skb):
/// mark, priority, ingress_ifindex, ifindex, cb, tstamp, wire_len, gso_segs, gso_size,
/// hwtstamp. Anything else must be zero.
const CTX_ACCEPTED: &[(usize, usize)] = &[
    (8, 12),
    (32, 44),
    (48, 68),
    (152, 168),
    (176, 180),
    (184, 192),
];

impl Skb {
    /// The skb `BPF_PROG_TEST_RUN` builds for a SCHED_CLS program from `data` and the optional
    /// `struct __sk_buff` `ctx_in` (bpf_prog_test_run_skb): on loopback (ifindex 1), protocol
    /// and pkt_type from `eth_type_trans` (loopback's address is all zeroes), the accepted
    /// ctx_in fields applied.
    pub fn for_test_run(data: &[u8], ctx_in: Option<&[u8]>) -> Result<Skb, TestRunError> {
        if data.len() < 14 {
            return Err(TestRunError::TooShort);
        }
        if data.len() > TEST_RUN_MAX_DATA {
            return Err(TestRunError::TooLong(TEST_RUN_MAX_DATA));
        }
        let mut ctx = [0u8; SKB_CTX_SIZE];
        if let Some(c) = ctx_in {
            if c.len() > SKB_CTX_SIZE && c[SKB_CTX_SIZE..].iter().any(|&b| b != 0) {
                return Err(TestRunError::CtxTooBig);
            }
            let n = c.len().min(SKB_CTX_SIZE);
            ctx[..n].copy_from_slice(&c[..n]);
        }
        if let Some(bad) = (0..SKB_CTX_SIZE)
            .find(|&i| ctx[i] != 0 && !CTX_ACCEPTED.iter().any(|&(lo, hi)| (lo..hi).contains(&i)))
        {
            return Err(TestRunError::CtxField(bad));
        }
        let ifindex = ctx_u32(&ctx, 40);
        if ifindex > LOOPBACK_IFINDEX {
            return Err(TestRunError::NoDevice(ifindex));
        }
        // Recent kernels (observed on 6.18) refuse IPv4/IPv6 packets whose fixed network
        // header is not all present.
        match u16::from_be_bytes([data[12], data[13]]) {
            0x0800 if data.len() < 14 + 20 => {
                return Err(TestRunError::TruncatedNetworkHeader("IPv4"))
            }
            0x86dd if data.len() < 14 + 40 => {
                return Err(TestRunError::TruncatedNetworkHeader("IPv6"))
            }
            _ => {}
        }
        let mut skb = Skb::from_frame(data);
        let h_proto = u16::from_be_bytes([data[12], data[13]]);
        skb.meta.protocol = if h_proto >= 0x0600 {
            h_proto
        } else if data.len() >= 16 && data[14..16] == [0xff, 0xff] {
            0x0001
        } else {
            0x0004
        };
        skb.meta.pkt_type = if data[0] & 1 != 0 {
            // eth_type_trans compares with the device's broadcast address, which is all
            // zeroes on loopback: ff:ff:ff:ff:ff:ff is MULTICAST there (seen on 6.18).
            if data[..6] == [0; 6] {
                pkt_type::BROADCAST
            } else {
                pkt_type::MULTICAST
            }
        } else if data[..6] != [0; 6] {
            pkt_type::OTHERHOST
        } else {
            pkt_type::HOST
        };
        let wire_len = ctx_u32(&ctx, 160);
        if wire_len != 0 && ((wire_len as usize) < data.len() || wire_len > 65536) {
            return Err(TestRunError::WireLen(wire_len));
        }
        let m = &mut skb.meta;
        m.ifindex = LOOPBACK_IFINDEX;
        m.mark = ctx_u32(&ctx, 8);
        m.priority = ctx_u32(&ctx, 32);
        m.ingress_ifindex = ctx_u32(&ctx, 36);
        for (i, cb) in m.cb.iter_mut().enumerate() {
            *cb = ctx_u32(&ctx, 48 + 4 * i);
        }
        m.tstamp = ctx_u64(&ctx, 152);
        m.wire_len = if wire_len == 0 {
            data.len() as u32
        } else {
            wire_len
        };
        m.gso_segs = ctx_u32(&ctx, 164);
        m.gso_size = ctx_u32(&ctx, 176);
        m.hwtstamp = ctx_u64(&ctx, 184);
        Ok(skb)
    }

    /// The ctx_out a test run returns: `ctx_in` with the fields convert_skb_to___skb writes
    /// back (mark, priority, ingress_ifindex, ifindex, tstamp, cb, wire_len, gso_segs,
    /// hwtstamp) taken from this skb.
    pub fn test_run_ctx_out(&self, ctx_in: Option<&[u8]>) -> [u8; SKB_CTX_SIZE] {
        let mut ctx = [0u8; SKB_CTX_SIZE];
        if let Some(c) = ctx_in {
            let n = c.len().min(SKB_CTX_SIZE);
            ctx[..n].copy_from_slice(&c[..n]);
        }
        let m = &self.meta;
        let mut put = |off: usize, v: &[u8]| ctx[off..off + v.len()].copy_from_slice(v);
        put(8, &m.mark.to_le_bytes());
        put(32, &m.priority.to_le_bytes());
        put(36, &m.ingress_ifindex.to_le_bytes());
        put(40, &m.ifindex.to_le_bytes());
        put(152, &m.tstamp.to_le_bytes());
        for (i, cb) in m.cb.iter().enumerate() {
            put(48 + 4 * i, &cb.to_le_bytes());
        }
        put(160, &m.wire_len.to_le_bytes());
        put(164, &m.gso_segs.to_le_bytes());
        put(184, &m.hwtstamp.to_le_bytes());
        ctx
    }
}
