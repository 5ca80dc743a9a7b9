//! Requests, responses and the views they carry. Field names follow iproute2 (`ip -d -s -j
//! link`) and bpftool (`bpftool -j prog|map|link show`) where those tools have one.

use serde::{Deserialize, Serialize};

/// Device mode (`enum netkit_mode`), as iproute2 spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    L2,
    L3,
}

/// Default verdict when no program is attached: iproute2's names for NETKIT_PASS / NETKIT_DROP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    Forward,
    Blackhole,
}

/// `enum netkit_scrub`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scrub {
    Default,
    None,
}

/// The two program hooks of a pair (BPF_NETKIT_PRIMARY / BPF_NETKIT_PEER).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Hook {
    Primary,
    Peer,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::L2 => "l2",
            Mode::L3 => "l3",
        }
    }
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Forward => "forward",
            Policy::Blackhole => "blackhole",
        }
    }
}

impl Scrub {
    pub fn as_str(self) -> &'static str {
        match self {
            Scrub::Default => "default",
            Scrub::None => "none",
        }
    }
}

impl Hook {
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Primary => "primary",
            Hook::Peer => "peer",
        }
    }
}

/// Where an attachment goes relative to the ones already there (`bpf_mprog` anchors).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// First (BPF_F_BEFORE with no relative object).
    First,
    /// Last (BPF_F_AFTER with no relative object).
    Last,
    BeforeProg(u32),
    AfterProg(u32),
    BeforeLink(u32),
    AfterLink(u32),
}

/// Every request the daemon serves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Version handshake; answered with [`Response::Hello`].
    Hello,
    LinkAdd(LinkAddReq),
    LinkSet(LinkSetReq),
    LinkDel {
        name: String,
    },
    LinkShow {
        #[serde(default)]
        name: Option<String>,
    },
    ProgLoad(ProgLoadReq),
    ProgShow {
        #[serde(default)]
        id: Option<u32>,
    },
    /// Releases the daemon's reference on a program (it lives on while attached).
    ProgUnload {
        id: u32,
    },
    ProgAttach(ProgAttachReq),
    ProgDetach(ProgDetachReq),
    /// BPF_PROG_QUERY on a hook.
    ProgQuery {
        dev: String,
        hook: Hook,
    },
    /// trace_printk output of programs (all when `id` is absent), oldest first.
    ProgTracelog {
        #[serde(default)]
        id: Option<u32>,
    },
    BpflinkCreate(BpflinkCreateReq),
    BpflinkUpdate {
        id: u32,
        prog_id: u32,
        /// With BPF_F_REPLACE: the program the link must currently hold.
        #[serde(default)]
        old_prog_id: Option<u32>,
    },
    /// BPF_LINK_DETACH, then the daemon releases the link.
    BpflinkDetach {
        id: u32,
    },
    BpflinkShow {
        #[serde(default)]
        id: Option<u32>,
    },
    MapShow {
        #[serde(default)]
        id: Option<u32>,
    },
    MapDump {
        id: u32,
    },
    MapLookup {
        id: u32,
        /// Hex bytes.
        key: String,
    },
    MapUpdate {
        id: u32,
        key: String,
        value: String,
        flag: UpdateFlag,
    },
    MapDelete {
        id: u32,
        key: String,
    },
}

/// BPF_ANY / BPF_NOEXIST / BPF_EXIST.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdateFlag {
    Any,
    NoExist,
    Exist,
}

/// `ip link add [NAME] [index N] type netkit ... [peer ... [index M]]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkAddReq {
    #[serde(default)]
    pub name: Option<String>,
    /// The primary's ifindex asked for (`ifi_index`; 0 or absent: allocated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ifindex: Option<i32>,
    /// The peer's ifindex asked for, in its namespace (used only with `ifindex`, as
    /// netkit_new_link does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_ifindex: Option<i32>,
    #[serde(default)]
    pub mode: Option<Mode>,
    #[serde(default)]
    pub policy: Option<Policy>,
    #[serde(default)]
    pub scrub: Option<Scrub>,
    #[serde(default)]
    pub headroom: Option<u16>,
    #[serde(default)]
    pub tailroom: Option<u16>,
    #[serde(default)]
    pub peer_policy: Option<Policy>,
    #[serde(default)]
    pub peer_scrub: Option<Scrub>,
    #[serde(default)]
    pub peer_name: Option<String>,
    /// `ip netns` name of the namespace the peer goes to; the daemon's own when absent.
    #[serde(default)]
    pub peer_netns: Option<String>,
}

/// `ip link set NAME [forward|blackhole] [peer forward|blackhole] [netns NS]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkSetReq {
    pub name: String,
    #[serde(default)]
    pub policy: Option<Policy>,
    #[serde(default)]
    pub peer_policy: Option<Policy>,
    /// `ip netns` name of the namespace to move the device to (after the policies change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
}

/// `prog load OBJ [section SEC] [name N]`: the object travels as bytes so the daemon never
/// opens a path on a client's behalf.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgLoadReq {
    /// The file name the user gave, for display.
    pub file: String,
    /// The object's bytes, hex.
    pub object: String,
    #[serde(default)]
    pub section: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgAttachReq {
    pub prog_id: u32,
    pub dev: String,
    pub hook: Hook,
    #[serde(default)]
    pub anchor: Option<Anchor>,
    #[serde(default)]
    pub replace_prog_id: Option<u32>,
    #[serde(default)]
    pub expected_revision: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgDetachReq {
    /// The program to detach; absent = the one the anchor names (first/last/before/after).
    #[serde(default)]
    pub prog_id: Option<u32>,
    pub dev: String,
    pub hook: Hook,
    #[serde(default)]
    pub anchor: Option<Anchor>,
    #[serde(default)]
    pub expected_revision: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BpflinkCreateReq {
    pub prog_id: u32,
    pub dev: String,
    pub hook: Hook,
    #[serde(default)]
    pub anchor: Option<Anchor>,
    #[serde(default)]
    pub expected_revision: Option<u64>,
}

/// Every answer the daemon gives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Response {
    Hello { protocol: u32, daemon: String },
    Done,
    Links { links: Vec<LinkView> },
    Progs { progs: Vec<ProgView> },
    Query(QueryView),
    Tracelog { lines: Vec<String> },
    Bpflinks { links: Vec<BpflinkView> },
    Maps { maps: Vec<MapView> },
    MapEntries { entries: Vec<MapEntry> },
}

/// Per-device counters, as `ip -s -j link` nests them under `stats64`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsView {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_dropped: u64,
}

/// One end of a pair.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkView {
    pub ifindex: u32,
    pub ifname: String,
    /// The other end.
    pub link_ifindex: Option<u32>,
    pub link_ifname: Option<String>,
    /// `ip netns` name, absent for the daemon's namespace.
    pub netns: Option<String>,
    pub primary: bool,
    pub mode: Mode,
    pub policy: Policy,
    pub peer_policy: Option<Policy>,
    pub scrub: Scrub,
    pub peer_scrub: Option<Scrub>,
    pub headroom: u16,
    pub tailroom: u16,
    pub mtu: u32,
    /// "aa:bb:..", absent in L3 mode.
    pub address: Option<String>,
    pub up: bool,
    pub carrier: bool,
    pub stats: StatsView,
    /// Whether packets are forwarded on real interfaces (false: model only, or a restored pair
    /// that failed closed).
    pub dataplane: bool,
}

/// A loaded program, bpftool-style.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgView {
    pub id: u32,
    pub name: String,
    pub section: String,
    pub file: String,
    pub loaded_at: u64,
    pub run_cnt: u64,
    pub run_time_ns: u64,
    pub bytes_xlated: u64,
    pub map_ids: Vec<u32>,
    /// Where it is attached: "DEV/primary", "DEV/peer".
    pub attached: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryEntry {
    pub prog_id: u32,
    pub link_id: Option<u32>,
}

/// BPF_PROG_QUERY's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryView {
    pub dev: String,
    pub hook: Hook,
    pub revision: u64,
    pub progs: Vec<QueryEntry>,
}

/// A BPF link, bpftool-style (`bpftool link show`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BpflinkView {
    pub id: u32,
    pub prog_id: u32,
    /// 0 once the device is gone.
    pub ifindex: u32,
    pub devname: Option<String>,
    pub hook: Hook,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapView {
    pub id: u32,
    pub name: String,
    #[serde(rename = "type")]
    pub map_type: String,
    pub bytes_key: u32,
    pub bytes_value: u32,
    pub max_entries: u32,
    /// `map_flags` (BPF_F_NO_PREALLOC, ...), as bpftool prints them.
    #[serde(default)]
    pub flags: u32,
    /// The program whose object created it (with the kernel backend: the first program using
    /// it, 0 when none does).
    pub prog_id: u32,
}

/// Key and value as hex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapEntry {
    pub key: String,
    /// The value as a lookup returns it: for a per-CPU map every possible CPU's slot, each
    /// rounded up to 8 bytes.
    pub value: String,
    /// Per-CPU maps: each possible CPU's value (`value_size` bytes), in CPU order; empty for
    /// other maps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_cpu: Vec<String>,
}
