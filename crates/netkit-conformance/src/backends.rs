//! Opening the backends a run can target.

use netkit_core::Backend;

use crate::scenario::KernelVersion;

/// The backends `--backend` accepts.
pub const NAMES: &[&str] = &["user", "kernel"];

/// Opens a fresh backend `name`, set up to behave like kernel `version`.
pub fn open(name: &str, version: KernelVersion) -> Result<Box<dyn Backend>, String> {
    match name {
        "user" => open_user(version),
        "kernel" => open_kernel(version),
        other => Err(format!(
            "unknown backend {other:?}; use {}",
            NAMES.join(" or ")
        )),
    }
}

fn open_user(version: KernelVersion) -> Result<Box<dyn Backend>, String> {
    Err(format!(
        "the user-space backend is not built into this binary yet (wanted kernel {version})"
    ))
}

fn open_kernel(version: KernelVersion) -> Result<Box<dyn Backend>, String> {
    Err(format!(
        "the kernel backend is not built into this binary yet (wanted kernel {version})"
    ))
}
