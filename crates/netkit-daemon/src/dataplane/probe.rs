//! A hook on the worker loop for tests (hidden from the docs): a test binary installs a
//! function that runs on the worker's own thread after every read, so it can attribute what
//! the worker did in between (e.g. a counting allocator's per-thread count) to packets,
//! without the dataplane knowing what is measured.

use std::sync::OnceLock;

/// Called on a worker thread after each attempt to read a frame; the argument says whether
/// a frame was read and handled since the previous call. Runs on the packet path: it must not
/// block.
#[doc(hidden)]
pub type PacketProbe = fn(packet: bool);

static PROBE: OnceLock<PacketProbe> = OnceLock::new();

/// Installs the process's packet probe (once per process); false if one was already
/// installed, which then stays.
#[doc(hidden)]
pub fn set_packet_probe(probe: PacketProbe) -> bool {
    PROBE.set(probe).is_ok()
}

/// One atomic load when no probe is installed.
#[inline]
pub(super) fn after_read(packet: bool) {
    if let Some(probe) = PROBE.get() {
        probe(packet);
    }
}
