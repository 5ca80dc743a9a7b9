//! netkit-io: thin handles on the operating system for the user-space netkit datapath.
//!
//! TUN/TAP devices ([`tun`]), network namespaces ([`netns`]), a minimal rtnetlink client
//! ([`rtnl`]: link state and events, noqueue qdisc, route and neighbour lookup), packet sockets
//! for egress into kernel interfaces ([`packet`]) and the virtio-net header ([`vnet`]).
//! No device model lives here: the daemon's dataplane joins these handles to netkit-core.
//!
//! All `unsafe` is in the private `sys` module.
#![deny(unsafe_code)]

pub mod netns;
pub mod packet;
pub mod poll;
pub mod rtnl;
#[allow(unsafe_code)]
mod sys;
pub mod testing;
pub mod tun;
pub mod vnet;

use std::io;

/// What went wrong, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call failed.
    #[error("{what}: {source}")]
    Os {
        what: String,
        #[source]
        source: io::Error,
    },
    /// The caller passed something unusable (name too long, zero queues, ...).
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// The kernel answered a netlink request with an error.
    #[error("{what}: netlink error {errno} ({})", io::Error::from_raw_os_error(*.errno))]
    Netlink { what: String, errno: i32 },
    /// A netlink answer could not be parsed.
    #[error("{what}: malformed netlink message")]
    Malformed { what: String },
    /// The looked-up object does not exist.
    #[error("{0}: not found")]
    NotFound(String),
}

impl Error {
    pub(crate) fn os(what: impl Into<String>, source: io::Error) -> Error {
        Error::Os {
            what: what.into(),
            source,
        }
    }

    /// The errno behind this error, if there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Os { source, .. } => source.raw_os_error(),
            Error::Netlink { errno, .. } => Some(*errno),
            Error::NotFound(_) => Some(libc::ENODEV),
            Error::Invalid(_) => Some(libc::EINVAL),
            Error::Malformed { .. } => Some(libc::EPROTO),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// Checks an interface name as the kernel does (1..=15 bytes, no '/', no whitespace).
pub fn check_ifname(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.len() >= libc::IFNAMSIZ
        || name == "."
        || name == ".."
        || name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace());
    if bad {
        return Err(Error::Invalid(format!(
            "interface name {name:?}: must be 1-15 bytes without '/', ':' or spaces"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifname_rules() {
        assert!(check_ifname("nk0").is_ok());
        assert!(check_ifname("a23456789012345").is_ok());
        assert!(check_ifname("a234567890123456").is_err());
        assert!(check_ifname("").is_err());
        assert!(check_ifname("a/b").is_err());
        assert!(check_ifname("a b").is_err());
    }
}
