//! netkit-core: the netkit device and its BPF program management, with Linux's semantics,
//! behind one API ([`backend::Backend`]) that the user-space model and the real kernel implement.
#![forbid(unsafe_code)]

pub mod backend;
pub mod compat;
pub mod device;
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
