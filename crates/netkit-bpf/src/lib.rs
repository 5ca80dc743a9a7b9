//! netkit-bpf: a user-space eBPF engine for SCHED_CLS (tc / tcx / netkit) programs.
//!
//! Data flows one way: ELF bytes → [`obj::ObjectFile`] (pure parsing, no execution) →
//! verification → a verified program → execution on an [`skb::Skb`].
//! The crate has no `unsafe` and does no I/O.
#![forbid(unsafe_code)]

pub mod insn;
pub mod obj;
pub mod skb;
pub mod verifier;
