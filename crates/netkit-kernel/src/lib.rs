//! (work in progress)

pub mod bpf;
