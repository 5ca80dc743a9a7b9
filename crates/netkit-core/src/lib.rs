//! netkit-core: the netkit device and its BPF program management, with Linux's semantics,
//! behind one API ([`backend::Backend`]) that the user-space model and the real kernel implement.
//!
//! The user-space model ([`UserBackend`]) is built from small pure parts:
//! * [`device`]: one end of a pair and the attribute rules of RTM_NEWLINK;
//! * [`mprog`]: bpf_mprog, the ordered program list of one hook with its revision;
//! * [`prog`]: loaded programs ([`Classifier`]s) with run statistics;
//! * [`engine`]: programs run by the eBPF engine (objects, and constants as real bytecode);
//! * [`xmit`]: the transmit path, a function from a packet to a [`Delivery`];
//! * [`compat`]: which kernel's behaviour to reproduce ([`KernelVersion`], default newest).
//!
//! The control path takes `&mut UserBackend`; [`Datapath`] (from [`UserBackend::datapath`]) is
//! the lock-free per-packet entry for any number of threads: program arrays and the device
//! table are published with `arc_swap`, so a packet runs against one consistent snapshot.
//!
//! Known deviations of the model from a real kernel (documented here, not hidden):
//! * ifindexes are unique per namespace, as in the kernel, and a creation may ask for them
//!   ([`UserBackend::link_add_at`], `ifi_index`); those not asked for come from one counter for
//!   all namespaces (the kernel counts per namespace, so a peer created in a fresh namespace
//!   would get ifindex 2 there);
//! * the receive backlog never refuses a packet (no rx_dropped), and NAPI/GRO are not modelled;
//! * headroom requests at runtime (bridge/OVS masters) are not modelled, only the creation
//!   attributes;
//! * `ENOTCONN` on open and `ENODEV` for a PEER hook without a peer are implemented but cannot
//!   happen, as the model has no half-deleted pair;
//! * single-device mode's queue leasing and AF_XDP are not modelled;
//! * `transmit` through a down device fails with ENETDOWN (`Errno::Other(100)`) and a frame
//!   shorter than 14 bytes with EINVAL, as a packet socket does; the transmit path's own
//!   early drops are reachable through [`Datapath::xmit`].
#![forbid(unsafe_code)]

pub mod backend;
pub mod compat;
mod datapath;
pub mod device;
pub mod engine;
pub mod error;
pub mod mprog;
pub mod prog;
pub mod types;
pub mod user;
mod user_bpf;
pub mod xmit;

pub use backend::Backend;
pub use compat::{Compat, KernelVersion};
pub use error::{Errno, Error};
pub use prog::{Classifier, ConstProg, ProgStats};
pub use types::*;
pub use user::{Datapath, ProgLoader, UserBackend};
pub use user_bpf::ProgInfo;
pub use xmit::{Delivery, DropReason};
