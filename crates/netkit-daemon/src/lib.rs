//! (work in progress)

pub mod dataplane;
