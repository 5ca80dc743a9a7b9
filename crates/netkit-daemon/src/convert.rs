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
