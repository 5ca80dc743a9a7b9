//! Dataplane counters: one block per worker (no shared cache line between workers), summed on
//! read. They count what the model's device counters cannot see: I/O and redirect outcomes.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// A worker's counters.
        #[derive(Debug, Default)]
        #[repr(align(128))]
        pub struct WorkerStats { $($(#[$doc])* pub $name: AtomicU64,)* }

        /// Counters of a pair (all its workers), as read.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
        pub struct DataplaneStats { $($(#[$doc])* pub $name: u64,)* }

        impl DataplaneStats {
            pub(crate) fn add(&mut self, w: &WorkerStats) {
                $(self.$name += w.$name.load(Relaxed);)*
            }
        }
    };
}

counters! {
    /// Frames read from a queue.
    rx_frames,
    /// Bytes read from a queue, virtio-net header excluded.
    rx_bytes,
    /// Frames written into the other end (pass).
    to_peer,
    /// Frames redirected to one of our devices (ingress, or egress through its transmit path).
    redirect_ours,
    /// Frames sent out of a kernel interface (redirect egress / neigh).
    redirect_kernel,
    /// Frames the transmit path dropped (policy, verdict, peer down, bad target).
    dropped_xmit,
    /// Redirects with BPF_F_INGRESS into a kernel interface: user space cannot inject into
    /// another device's receive path.
    dropped_ingress_kernel,
    /// Redirects to an interface that does not exist or cannot be opened.
    dropped_no_target,
    /// redirect_neigh with no resolved neighbour for the next hop.
    dropped_neigh,
    /// Redirect chains longer than the kernel's recursion limit.
    dropped_loop,
    /// Frames that were not valid for the device (bad header, not IP on L3, runt).
    dropped_malformed,
    /// Writes that failed (device gone, queue full).
    write_errors,
}

impl WorkerStats {
    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }
}
