//! netkit-bpf: a user-space eBPF engine for SCHED_CLS (tc / tcx / netkit) programs.
//!
//! Data flows one way: ELF bytes → [`obj::ObjectFile`] (pure parsing, no execution) →
//! verification → a verified program → execution on an [`skb::Skb`].
//! The crate has no `unsafe` and does no I/O.
#![forbid(unsafe_code)]

pub mod helpers;
pub mod insn;
mod load;
pub mod maps;
mod mem;
pub mod obj;
pub mod skb;
pub mod trace;
pub mod verifier;
pub mod vm;

pub use load::LoadedObject;
pub use maps::{Map, MapDef, MapError};
pub use trace::TraceLog;
pub use vm::{Abort, AbortReason, LoadError, Program, RunOptions, RunOutput, RunResult};
