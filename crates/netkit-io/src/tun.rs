//! TUN (L3) and TAP (L2) devices, created or reattached in a given namespace.
//!
//! A [`TunDevice`] is a thin handle: its queues (one fd each, `IFF_MULTI_QUEUE`), the offloads
//! the kernel accepted, and control operations (carrier, persist, noqueue). It knows nothing
//! of netkit.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use crate::netns::NetNs;
use crate::rtnl::Rtnl;
use crate::vnet::VNET_HDR_LEN;
use crate::{check_ifname, sys, Error, Result};

/// `IFF_TUN_EXCL`: fail with EBUSY instead of attaching to an existing device.
const IFF_TUN_EXCL: libc::c_int = 0x8000;
/// Most queues a multi-queue TUN/TAP takes (MAX_TAP_QUEUES).
pub const MAX_QUEUES: usize = 256;

/// Which kind of device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunKind {
    /// `IFF_TUN`: IP packets, no link-layer header (netkit L3 mode).
    Tun,
    /// `IFF_TAP`: Ethernet frames (netkit L2 mode).
    Tap,
}

/// `TUNSETOFFLOAD` bits (linux/if_tun.h).
pub mod offload {
    pub const CSUM: u32 = 0x01;
    pub const TSO4: u32 = 0x02;
    pub const TSO6: u32 = 0x04;
    pub const TSO_ECN: u32 = 0x08;
    pub const USO4: u32 = 0x20;
    pub const USO6: u32 = 0x40;
    /// Everything we ask for: checksum, TCP and UDP segmentation offloads.
    pub const ALL: u32 = CSUM | TSO4 | TSO6 | TSO_ECN | USO4 | USO6;
}

/// What to create or attach to.
#[derive(Clone, Debug)]
pub struct TunConfig {
    pub name: String,
    pub kind: TunKind,
    pub netns: NetNs,
    /// Number of queues (fds), 1..=256.
    pub queues: usize,
    /// Prefix every frame with a virtio-net header and ask for GSO/checksum offloads.
    pub vnet_hdr: bool,
    /// Fail with EBUSY if the device exists (`true`) or attach to it (`false`).
    pub exclusive: bool,
    /// The ifindex a created device gets (`TUNSETIFINDEX`); 0: the kernel picks. Creation
    /// fails with EBUSY when the namespace has a device at it. Ignored when attaching.
    pub ifindex: u32,
}

impl TunConfig {
    pub fn new(name: &str, kind: TunKind) -> TunConfig {
        TunConfig {
            name: name.to_string(),
            kind,
            netns: NetNs::Current,
            queues: 1,
            vnet_hdr: true,
            exclusive: true,
            ifindex: 0,
        }
    }

    /// Asks for ifindex `n` (0: any) when the device is created.
    pub fn ifindex(mut self, n: u32) -> Self {
        self.ifindex = n;
        self
    }

    pub fn netns(mut self, ns: NetNs) -> Self {
        self.netns = ns;
        self
    }

    pub fn queues(mut self, n: usize) -> Self {
        self.queues = n;
        self
    }

    pub fn vnet_hdr(mut self, on: bool) -> Self {
        self.vnet_hdr = on;
        self
    }

    /// Attach to the (persistent) device of this name if it exists, creating it otherwise,
    /// instead of failing with EBUSY.
    pub fn reattach(mut self) -> Self {
        self.exclusive = false;
        self
    }

    fn iff_flags(&self) -> libc::c_int {
        let kind = match self.kind {
            TunKind::Tun => libc::IFF_TUN,
            TunKind::Tap => libc::IFF_TAP,
        };
        let vnet = if self.vnet_hdr { libc::IFF_VNET_HDR } else { 0 };
        let excl = if self.exclusive { IFF_TUN_EXCL } else { 0 };
        kind | libc::IFF_NO_PI | libc::IFF_MULTI_QUEUE | vnet | excl
    }
}

/// One queue of a device: read receives what the stack sent through the device, write
/// injects into the stack as received on the device.
#[derive(Debug)]
pub struct TunQueue {
    fd: OwnedFd,
}

impl TunQueue {
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Reads one frame (with its virtio-net header when enabled). `WouldBlock` when the queue
    /// is empty (queues are non-blocking).
    pub fn recv(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        sys::read(self.fd.as_fd(), buf)
    }

    /// Reads one frame into the spare capacity of `buf`, appending it (no copy, no zeroing).
    /// Reserve enough capacity first: a frame larger than the spare room is truncated.
    pub fn recv_append(&self, buf: &mut Vec<u8>) -> std::io::Result<usize> {
        sys::read_append(self.fd.as_fd(), buf)
    }

    /// The name of the device this queue is attached to (`TUNGETIFF`). Fails with EBADFD once
    /// the device was deleted; keeps working when the device moved to another namespace.
    pub fn attached_name(&self) -> std::io::Result<String> {
        let mut req = sys::ifreq("");
        sys::ioctl_ifreq(self.fd.as_fd(), libc::TUNGETIFF, &mut req)?;
        Ok(sys::ifreq_name(&req))
    }

    /// Writes one frame (with its virtio-net header when enabled).
    pub fn send(&self, frame: &[u8]) -> std::io::Result<usize> {
        sys::write(self.fd.as_fd(), frame)
    }
}

/// An open TUN/TAP device.
#[derive(Debug)]
pub struct TunDevice {
    name: String,
    kind: TunKind,
    netns: NetNs,
    ifindex: u32,
    queues: Vec<Arc<TunQueue>>,
    vnet_hdr: bool,
    offloads: u32,
}

impl TunDevice {
    /// Creates the device (or reattaches, see [`TunConfig::reattach`]) inside `cfg.netns`,
    /// with `cfg.queues` non-blocking queues, `IFF_NO_PI`, and with `vnet_hdr` the largest set
    /// of offloads the kernel accepts.
    pub fn open(cfg: &TunConfig) -> Result<TunDevice> {
        check_ifname(&cfg.name)?;
        if cfg.queues == 0 || cfg.queues > MAX_QUEUES {
            return Err(Error::Invalid(format!(
                "{} queues: must be 1..={MAX_QUEUES}",
                cfg.queues
            )));
        }
        let cfg = cfg.clone();
        let ns = cfg.netns.clone();
        ns.run(move || {
            let mut queues = Vec::with_capacity(cfg.queues);
            let mut offloads = 0;
            for i in 0..cfg.queues {
                // Only the first open may create; the others add queues to it.
                let (flags, ifindex) = if i == 0 {
                    (cfg.iff_flags(), cfg.ifindex)
                } else {
                    (cfg.iff_flags() & !IFF_TUN_EXCL, 0)
                };
                let (q, off) = open_queue(&cfg.name, flags, cfg.vnet_hdr, ifindex)?;
                offloads = off;
                queues.push(Arc::new(q));
            }
            let ifindex = Rtnl::open()?.link_by_name(&cfg.name)?.ifindex;
            Ok(TunDevice {
                name: cfg.name,
                kind: cfg.kind,
                netns: cfg.netns,
                ifindex,
                queues,
                vnet_hdr: cfg.vnet_hdr,
                offloads,
            })
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> TunKind {
        self.kind
    }

    pub fn netns(&self) -> &NetNs {
        &self.netns
    }

    /// The kernel's ifindex (in the device's namespace).
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The queues, shared with the workers that read and write them.
    pub fn queues(&self) -> &[Arc<TunQueue>] {
        &self.queues
    }

    /// Bytes of virtio-net header in front of each frame (0 without `vnet_hdr`).
    pub fn vnet_hdr_len(&self) -> usize {
        if self.vnet_hdr {
            VNET_HDR_LEN
        } else {
            0
        }
    }

    /// The `TUNSETOFFLOAD` bits the kernel accepted.
    pub fn offloads(&self) -> u32 {
        self.offloads
    }

    fn control_fd(&self) -> Result<BorrowedFd<'_>> {
        self.queues
            .first()
            .map(|q| q.as_fd())
            .ok_or_else(|| Error::Invalid(format!("{}: no queue left open for control", self.name)))
    }

    /// The namespace the device is in now (`TUNGETDEVNETNS`): the one it was created in,
    /// unless it was moved since (`ip link set DEV netns NS`), which our queues survive.
    pub fn current_netns(&self) -> Result<crate::netns::NsId> {
        use std::os::unix::fs::MetadataExt;
        let what = || format!("{}: TUNGETDEVNETNS", self.name);
        let fd = sys::ioctl_new_fd(self.control_fd()?, libc::TUNGETDEVNETNS)
            .map_err(|e| Error::os(what(), e))?;
        let meta = std::fs::File::from(fd)
            .metadata()
            .map_err(|e| Error::os(what(), e))?;
        Ok(crate::netns::NsId(meta.ino()))
    }

    /// `TUNSETCARRIER`: carrier on or off (netkit: on only while both ends are up).
    pub fn set_carrier(&self, on: bool) -> Result<()> {
        sys::ioctl_int_ptr(self.control_fd()?, libc::TUNSETCARRIER, on as libc::c_int)
            .map_err(|e| Error::os(format!("{}: TUNSETCARRIER {on}", self.name), e))
    }

    /// `TUNSETPERSIST`: keep the device when no process holds it.
    pub fn set_persist(&self, on: bool) -> Result<()> {
        sys::ioctl_value(self.control_fd()?, libc::TUNSETPERSIST, on as libc::c_ulong)
            .map_err(|e| Error::os(format!("{}: TUNSETPERSIST {on}", self.name), e))
    }

    /// Replaces the root qdisc with noqueue.
    pub fn set_noqueue(&self) -> Result<()> {
        let ifindex = self.ifindex;
        self.netns.run(move || Rtnl::open()?.set_noqueue(ifindex))
    }

    /// Runs `f` with an rtnetlink socket in the device's namespace.
    pub fn rtnl<T: Send>(&self, f: impl FnOnce(&Rtnl) -> Result<T> + Send) -> Result<T> {
        self.netns.run(move || f(&Rtnl::open()?))
    }

    /// Deletes the device: drops persistence and closes every queue we hold, and removes it
    /// with RTM_DELLINK in case another process still holds a queue.
    pub fn delete(mut self) -> Result<()> {
        if !self.queues.is_empty() {
            self.set_persist(false)?;
        }
        self.queues.clear();
        let ifindex = self.ifindex;
        match self.netns.run(move || Rtnl::open()?.delete(ifindex)) {
            Ok(()) => Ok(()),
            Err(e) if matches!(e.errno(), Some(libc::ENODEV)) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Opens one queue: `/dev/net/tun`, `TUNSETIFF`, header size, offloads, non-blocking.
/// Returns the queue and the offload bits accepted.
fn open_queue(
    name: &str,
    flags: libc::c_int,
    vnet_hdr: bool,
    ifindex: u32,
) -> Result<(TunQueue, u32)> {
    let fd =
        sys::open("/dev/net/tun", libc::O_RDWR).map_err(|e| Error::os("open /dev/net/tun", e))?;
    if ifindex != 0 {
        let n = libc::c_int::try_from(ifindex)
            .map_err(|_| Error::Invalid(format!("ifindex {ifindex}: above INT_MAX")))?;
        sys::ioctl_int_ptr(fd.as_fd(), libc::TUNSETIFINDEX, n)
            .map_err(|e| Error::os(format!("{name}: TUNSETIFINDEX {ifindex}"), e))?;
    }
    let mut req = sys::ifreq(name);
    req.ifr_ifru.ifru_flags = flags as libc::c_short;
    sys::ioctl_ifreq(fd.as_fd(), libc::TUNSETIFF, &mut req).map_err(|e| {
        let hint = match e.raw_os_error() {
            Some(libc::EBUSY) if ifindex != 0 => " (exists, or its ifindex is taken)",
            Some(libc::EBUSY) => " (exists: use reattach)",
            Some(libc::EINVAL) => " (exists with other flags?)",
            _ => "",
        };
        Error::os(format!("TUNSETIFF {name}{hint}"), e)
    })?;
    if sys::ifreq_name(&req) != name {
        return Err(Error::Invalid(format!(
            "kernel named the device {:?}, not {name:?}",
            sys::ifreq_name(&req)
        )));
    }
    let mut accepted = 0;
    if vnet_hdr {
        sys::ioctl_int_ptr(
            fd.as_fd(),
            libc::TUNSETVNETHDRSZ,
            VNET_HDR_LEN as libc::c_int,
        )
        .map_err(|e| Error::os(format!("{name}: TUNSETVNETHDRSZ"), e))?;
        // Older kernels refuse USO (6.2+) with EINVAL: fall back step by step.
        let attempts = [
            offload::ALL,
            offload::CSUM | offload::TSO4 | offload::TSO6 | offload::TSO_ECN,
            offload::CSUM,
        ];
        for want in attempts {
            if sys::ioctl_value(fd.as_fd(), libc::TUNSETOFFLOAD, want as libc::c_ulong).is_ok() {
                accepted = want;
                break;
            }
        }
    }
    sys::set_nonblocking(fd.as_fd(), true)
        .map_err(|e| Error::os(format!("{name}: O_NONBLOCK"), e))?;
    Ok((TunQueue { fd }, accepted))
}
