//! netkit-core: the netkit device and its BPF program management, with Linux's semantics,
//! behind one API ([`backend::Backend`]) that the user-space model and the real kernel implement.
#![forbid(unsafe_code)]

pub mod backend;
pub mod error;
pub mod types;

pub use backend::Backend;
pub use error::{Errno, Error};
pub use types::*;
