//! netkit-bpf: a user-space eBPF engine for SCHED_CLS (tc / tcx / netkit) programs.
//!
//! Data flows one way: ELF bytes → [`obj::ObjectFile`] (pure parsing, no execution) →
//! verification → a verified program → execution on an [`skb::Skb`].
//! The crate has no `unsafe` and does no I/O.
//!
//! ```
//! use netkit_bpf::insn::Insn;
//! use netkit_bpf::skb::Skb;
//! use netkit_bpf::Program;
//!
//! // r0 = skb->len; exit
//! let insns = [
//!     Insn { code: 0x61, dst: 0, src: 1, off: 0, imm: 0 },
//!     Insn { code: 0x95, ..Insn::default() },
//! ];
//! let prog = Program::from_insns(&insns, Vec::new()).expect("verifies");
//! let mut skb = Skb::from_frame(&[0u8; 60]);
//! assert_eq!(prog.run(&mut skb), Ok(60));
//! ```
//!
//! Objects: `LoadedObject::load(&ObjectFile::parse(elf)?)` instantiates the maps and programs;
//! programs are `Arc<Program>`, shareable by any number of datapath threads. A run returns
//! the program's r0 or an [`Abort`] (a memory violation, the instruction budget, the call
//! depth), which callers count and treat as a drop.
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
