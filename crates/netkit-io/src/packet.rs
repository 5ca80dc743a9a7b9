//! A packet socket bound to a kernel interface: frames written to it leave through that
//! interface's transmit path (netkit's egress redirect into a device we do not own).

use std::os::fd::{AsFd, OwnedFd};

use crate::netns::NetNs;
use crate::{sys, Error, Result};

/// `PACKET_VNET_HDR` (linux/if_packet.h): frames sent carry a virtio-net header in front, so
/// GSO super-packets and partial checksums leave whole and the kernel finishes them.
const PACKET_VNET_HDR: libc::c_int = 15;

/// A send-only `AF_PACKET` socket bound to one interface.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: u32,
}

impl PacketSocket {
    /// Binds to `ifindex` in `netns`. The socket binds protocol 0, so it receives nothing.
    /// Every frame sent must start with a [`VnetHdr`](crate::vnet::VnetHdr).
    pub fn bind(netns: &NetNs, ifindex: u32) -> Result<PacketSocket> {
        let fd = netns.run(move || {
            sys::packet_socket(ifindex)
                .map_err(|e| Error::os(format!("packet socket on ifindex {ifindex}"), e))
        })?;
        sys::setsockopt_int(fd.as_fd(), libc::SOL_PACKET, PACKET_VNET_HDR, 1)
            .map_err(|e| Error::os("packet socket PACKET_VNET_HDR", e))?;
        sys::set_nonblocking(fd.as_fd(), true)
            .map_err(|e| Error::os("packet socket O_NONBLOCK", e))?;
        Ok(PacketSocket { fd, ifindex })
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Transmits one virtio-net header + Ethernet frame. A full device queue reports
    /// `WouldBlock`.
    pub fn send(&self, frame: &[u8]) -> std::io::Result<usize> {
        sys::send(self.fd.as_fd(), frame)
    }
}
