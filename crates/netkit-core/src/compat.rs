//! Which kernel's netkit behaviour the user-space model reproduces.
//!
//! The contract (spec/netkit.md §5) describes how netkit changed from 6.7 to the newest tree.
//! The reference VM runs 6.12; the default is the newest behaviour. [`Compat`] spells every
//! difference out as a public field so that a measured deviation of a particular kernel build
//! (e.g. a distribution's 6.12.y with or without a stable backport) is a one-line change.

/// A kernel release line whose netkit behaviour can be selected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelVersion {
    /// 6.12.y as measured on the reference VM (Debian 6.12.117, docs/kernel-6.12-facts.md):
    /// SCRUB/PEER_SCRUB exist (backport of 83134ef46093); HEADROOM/TAILROOM/PAIRING do not
    /// (silently ignored by the liberal INFO_DATA parser, also on changelink); changelink with
    /// PEER_INFO is EINVAL; an invalid MODE is EINVAL from the driver, not ERANGE.
    V6_12,
    /// 6.13: as 6.12.y; the scrub attributes are mainline.
    V6_13,
    /// 6.14 – 7.0: HEADROOM/TAILROOM; changelink rejects every fixed parameter with EACCES.
    V6_14,
    /// The newest tree (7.1 line): single-device mode (IFLA_NETKIT_PAIRING).
    Newest,
}

/// The behaviour switches that differ between [`KernelVersion`]s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compat {
    /// IFLA_NETKIT_SCRUB/PEER_SCRUB are parsed, dumped and honoured (6.13, 6.12.y). Without it
    /// they are ignored, every packet is scrubbed as in 6.7–6.12.3: priority always cleared,
    /// mark cleared when crossing namespaces.
    pub scrub_attrs: bool,
    /// An out-of-range IFLA_NETKIT_MODE is rejected by the netlink policy with ERANGE
    /// (6.13, NLA_POLICY_MAX) instead of by the driver with EINVAL.
    pub mode_policy_range: bool,
    /// IFLA_NETKIT_HEADROOM/TAILROOM are parsed and dumped (6.14); changelink then rejects every
    /// fixed parameter, PEER_INFO included, with EACCES (before: PEER_INFO → EINVAL).
    pub room_attrs: bool,
    /// IFLA_NETKIT_PAIRING (single-device mode) exists (newest).
    pub pairing_attr: bool,
}

impl KernelVersion {
    pub fn compat(self) -> Compat {
        let at_least_6_14 = matches!(self, KernelVersion::V6_14 | KernelVersion::Newest);
        Compat {
            scrub_attrs: true,
            mode_policy_range: self != KernelVersion::V6_12,
            room_attrs: at_least_6_14,
            pairing_attr: self == KernelVersion::Newest,
        }
    }

    /// Parses "6.12", "6.13", "6.14", "newest".
    pub fn parse(s: &str) -> Option<KernelVersion> {
        match s {
            "6.12" => Some(KernelVersion::V6_12),
            "6.13" => Some(KernelVersion::V6_13),
            "6.14" | "6.15" | "6.16" | "6.17" | "6.18" | "7.0" => Some(KernelVersion::V6_14),
            "newest" | "7.1" => Some(KernelVersion::Newest),
            _ => None,
        }
    }
}

impl Default for Compat {
    fn default() -> Compat {
        KernelVersion::Newest.compat()
    }
}
