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
