//! Conversions between the protocol's words and the device model's values (shared with the
//! CLI's kernel mode).

use netkit_core as core;
use netkit_proto as proto;
use netkit_proto::WireError;

/// A control-path error as it crosses the socket, errno name and sentence kept.
pub fn wire(e: core::Error) -> WireError {
    WireError::new(&e.errno.name(), e.errno.raw(), e.msg)
}

pub fn errno(errno: core::Errno, msg: impl Into<String>) -> WireError {
    WireError::new(&errno.name(), errno.raw(), msg)
}

pub fn mode_raw(m: proto::Mode) -> u32 {
    match m {
        proto::Mode::L2 => core::Mode::L2 as u32,
        proto::Mode::L3 => core::Mode::L3 as u32,
    }
}

pub fn policy_raw(p: proto::Policy) -> u32 {
    match p {
        proto::Policy::Forward => core::Policy::Pass as u32,
        proto::Policy::Blackhole => core::Policy::Drop as u32,
    }
}

pub fn scrub_raw(s: proto::Scrub) -> u32 {
    match s {
        proto::Scrub::Default => core::Scrub::Default as u32,
        proto::Scrub::None => core::Scrub::None as u32,
    }
}

pub fn mode(m: core::Mode) -> proto::Mode {
    match m {
        core::Mode::L2 => proto::Mode::L2,
        core::Mode::L3 => proto::Mode::L3,
    }
}

pub fn policy(p: core::Policy) -> proto::Policy {
    match p {
        core::Policy::Pass => proto::Policy::Forward,
        core::Policy::Drop => proto::Policy::Blackhole,
    }
}

pub fn scrub(s: core::Scrub) -> proto::Scrub {
    match s {
        core::Scrub::Default => proto::Scrub::Default,
        core::Scrub::None => proto::Scrub::None,
    }
}

pub fn hook(h: proto::Hook) -> core::Hook {
    match h {
        proto::Hook::Primary => core::Hook::Primary,
        proto::Hook::Peer => core::Hook::Peer,
    }
}

pub fn stats(s: core::Stats) -> proto::StatsView {
    proto::StatsView {
        rx_packets: s.rx_packets,
        rx_bytes: s.rx_bytes,
        rx_dropped: s.rx_dropped,
        tx_packets: s.tx_packets,
        tx_bytes: s.tx_bytes,
        tx_dropped: s.tx_dropped,
    }
}

/// "aa:bb:cc:dd:ee:ff".
pub fn mac(a: [u8; 6]) -> String {
    a.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Where one end of a pair is, as `ip -d link` shows it; the rest of its view comes from the
/// backend's [`core::LinkInfo`].
pub struct EndPlace {
    pub ifindex: u32,
    pub ifname: String,
    /// The other end's ifindex, and its name where it is in the same namespace.
    pub link: (Option<u32>, Option<String>),
    /// This end's namespace (`ip netns` name) when not the caller's.
    pub netns: Option<String>,
    /// Whether packets are being forwarded for it.
    pub dataplane: bool,
}

/// The client's view of one end (the daemon's `link show` and the kernel backend's alike).
pub fn link_view(info: &core::LinkInfo, at: EndPlace) -> proto::LinkView {
    proto::LinkView {
        ifindex: at.ifindex,
        ifname: at.ifname,
        link_ifindex: at.link.0,
        link_ifname: at.link.1,
        netns: at.netns,
        primary: info.primary,
        mode: mode(info.mode),
        policy: policy(info.policy),
        peer_policy: info.peer_policy.map(policy),
        scrub: scrub(info.scrub),
        peer_scrub: info.peer_scrub.map(scrub),
        headroom: info.headroom,
        tailroom: info.tailroom,
        mtu: info.mtu,
        address: (info.mode == core::Mode::L2).then(|| mac(info.address)),
        up: info.up,
        carrier: info.carrier,
        stats: stats(info.stats),
        dataplane: at.dataplane,
    }
}
