//! Ids, device attributes and program-management requests, as plain data.

/// A network interface index. Never 0 for a live device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfIndex(pub u32);
/// A BPF program id (`bpf_prog_info.id`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProgId(pub u32);
/// A BPF link id (`bpf_link_info.id`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkId(pub u32);

/// A backend's handle on a loaded program or a link, the counterpart of a file descriptor:
/// anchors may name objects by handle (fd) or by id, as `bpf(2)` allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle(pub u32);

/// `enum netkit_mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    L2 = 0,
    L3 = 1,
}

/// `enum netkit_action` as a default policy: only PASS and DROP are valid policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Policy {
    Pass = 0,
    Drop = 2,
}

/// `enum netkit_scrub`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scrub {
    None = 0,
    Default = 1,
}

/// `enum netkit_pairing`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pairing {
    Pair = 0,
    Single = 1,
}

/// The two program hooks of a pair, addressed through the primary (attach types 54 and 55).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hook {
    Primary,
    Peer,
}

impl Hook {
    /// `BPF_NETKIT_PRIMARY` = 54, `BPF_NETKIT_PEER` = 55.
    pub fn attach_type(self) -> u32 {
        match self {
            Hook::Primary => 54,
            Hook::Peer => 55,
        }
    }
}

/// `BPF_F_*` flags of attach, detach and link create.
pub mod flags {
    pub const REPLACE: u32 = 1 << 2;
    pub const BEFORE: u32 = 1 << 3;
    pub const AFTER: u32 = 1 << 4;
    pub const ID: u32 = 1 << 5;
    pub const LINK: u32 = 1 << 13;
}

/// A new pair (RTM_NEWLINK, kind netkit), in the raw form netlink carries it so that the
/// kernel's validation (ranges, read-only attributes, errno order) can be reproduced exactly.
/// `None` means the attribute is absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewLink {
    pub name: Option<String>,
    /// IFLA_NETKIT_PRIMARY given on input (always rejected).
    pub primary: Option<u8>,
    pub mode: Option<u32>,
    pub policy: Option<u32>,
    pub peer_policy: Option<u32>,
    pub scrub: Option<u32>,
    pub peer_scrub: Option<u32>,
    pub headroom: Option<u16>,
    pub tailroom: Option<u16>,
    pub pairing: Option<u32>,
    pub mtu: Option<u32>,
    pub address: Option<Vec<u8>>,
    /// IFLA_NETKIT_PEER_INFO; `None` when absent.
    pub peer: Option<PeerInfo>,
    /// `ifinfomsg.ifi_index` of the request: the primary's ifindex in the caller's namespace;
    /// 0 = allocate one (negative: EINVAL, as the kernel answers).
    pub ifindex: i32,
}

/// The peer's own attributes inside IFLA_NETKIT_PEER_INFO.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerInfo {
    pub name: Option<String>,
    pub mtu: Option<u32>,
    pub address: Option<Vec<u8>>,
    /// Namespace the peer is created in: `ip netns` name; `None` = the caller's.
    pub netns: Option<String>,
    /// `ifi_index` of the ifinfomsg inside PEER_INFO: the peer's ifindex in its namespace;
    /// 0 = allocate one. netkit_new_link honours it only when the primary's is requested too.
    pub ifindex: i32,
}

/// The ifindexes a creation asks for: `ifinfomsg.ifi_index` of RTM_NEWLINK (the primary)
/// and of IFLA_NETKIT_PEER_INFO (the peer); 0 = allocate one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IfIndexRequest {
    pub primary: i32,
    pub peer: i32,
}

/// changelink on an existing device (RTM_NEWLINK without NLM_F_CREATE).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeLink {
    pub mode: Option<u32>,
    pub policy: Option<u32>,
    pub peer_policy: Option<u32>,
    pub scrub: Option<u32>,
    pub peer_scrub: Option<u32>,
    pub headroom: Option<u16>,
    pub tailroom: Option<u16>,
    pub pairing: Option<u32>,
    pub peer_info: bool,
}

/// What `link_add` created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    pub primary: IfIndex,
    pub peer: Option<IfIndex>,
}

/// Per-device counters (rtnl_link_stats64 subset netkit touches).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_dropped: u64,
    pub rx_dropped: u64,
}

/// One device as `ip -d -s link show` reports it, netkit fields included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkInfo {
    pub ifindex: IfIndex,
    pub name: String,
    /// The other end's ifindex (IFLA_LINK), if any.
    pub peer_ifindex: Option<IfIndex>,
    pub netns: Option<String>,
    pub primary: bool,
    pub policy: Policy,
    pub peer_policy: Option<Policy>,
    pub mode: Mode,
    pub scrub: Scrub,
    pub peer_scrub: Option<Scrub>,
    pub headroom: u16,
    pub tailroom: u16,
    pub pairing: Pairing,
    pub mtu: u32,
    pub address: [u8; 6],
    pub up: bool,
    pub carrier: bool,
    pub stats: Stats,
}

/// Where a program comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProgSource {
    /// A clang-built object file and the program's name or section in it (first if `None`).
    Object {
        path: std::path::PathBuf,
        program: Option<String>,
    },
    /// A program that returns a constant, e.g. NETKIT_NEXT (-1) or PASS (0). Loaded as real
    /// bytecode (`r0 = value; exit`) by every backend.
    Constant(i32),
}

/// The anchor of an attach/detach: raw `relative_fd`/`relative_id` semantics of `bpf(2)`.
/// Which of handle or id it is depends on `BPF_F_ID` in the flags, as in the kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relative(pub u32);

/// BPF_PROG_ATTACH with a netkit attach type, on the primary's ifindex.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttachReq {
    pub ifindex: IfIndex,
    pub hook: Hook,
    pub prog: Handle,
    pub flags: u32,
    pub relative: Relative,
    /// Handle of the program to replace (`replace_bpf_fd`), with `BPF_F_REPLACE`.
    pub replace: Option<Handle>,
    pub expected_revision: u64,
}

impl AttachReq {
    /// The plain attach: no flags, no anchor, no revision check, so the program is appended
    /// last (spec/mprog.md §1.6, "no flags, R = 0").
    pub fn append(ifindex: IfIndex, hook: Hook, prog: Handle) -> AttachReq {
        AttachReq {
            ifindex,
            hook,
            prog,
            flags: 0,
            relative: Relative(0),
            replace: None,
            expected_revision: 0,
        }
    }
}

/// BPF_PROG_DETACH.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DetachReq {
    pub ifindex: IfIndex,
    pub hook: Hook,
    pub prog: Option<Handle>,
    pub flags: u32,
    pub relative: Relative,
    pub expected_revision: u64,
}

/// BPF_PROG_QUERY.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueryReq {
    pub ifindex: IfIndex,
    pub hook: Hook,
    pub query_flags: u32,
    pub attach_flags: u32,
    /// Capacity of the caller's arrays (`count` on input); `None` = NULL prog_ids.
    pub capacity: Option<u32>,
}

/// What BPF_PROG_QUERY returns. On ENOSPC the backend returns this too, with the copied prefix
/// (see [`crate::Backend::prog_query`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryResult {
    /// Total number of programs attached (`count` on output).
    pub count: u32,
    pub revision: u64,
    /// The copied prefix: program ids and, for link-owned entries, link ids (0 for none).
    pub progs: Vec<(ProgId, Option<LinkId>)>,
}

/// BPF_LINK_CREATE for a netkit attach type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkCreateReq {
    pub ifindex: IfIndex,
    pub hook: Hook,
    pub prog: Handle,
    pub flags: u32,
    pub relative: Relative,
    pub expected_revision: u64,
}

/// `bpf_link_info` for a netkit link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BpfLinkInfo {
    pub id: LinkId,
    pub prog_id: ProgId,
    /// 0 once the device is gone (defunct link).
    pub ifindex: u32,
    pub hook: Hook,
}

/// What happened to a frame sent through a device's transmit path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxOutcome {
    /// Delivered to the other end's receive side; the frame as it arrives (Ethernet header
    /// included, as the programs left it).
    Delivered(Vec<u8>),
    /// Redirected to `ifindex` (ingress or egress).
    Redirected {
        ifindex: IfIndex,
        ingress: bool,
    },
    Dropped,
}

/// Metadata a frame carries into the transmit path, as a sending socket sets it (`SO_MARK`,
/// `SO_PRIORITY`): what scrubbing may clear on the way to the other end.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxMeta {
    pub mark: u32,
    pub priority: u32,
}
