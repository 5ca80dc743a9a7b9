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

/// The user-space model, with the compat setting of the kernel the run targets.
#[cfg(feature = "user-backend")]
fn open_user(version: KernelVersion) -> Result<Box<dyn Backend>, String> {
    let version = match version {
        KernelVersion::V6_12 => netkit_core::KernelVersion::V6_12,
        KernelVersion::Newest => netkit_core::KernelVersion::Newest,
    };
    Ok(Box::new(netkit_core::UserBackend::with_version(version)))
}

#[cfg(not(feature = "user-backend"))]
fn open_user(_version: KernelVersion) -> Result<Box<dyn Backend>, String> {
    Err("this binary was built without the user backend (feature user-backend)".into())
}

/// The running kernel. It is what it is: a run targeting another version than the VM's
/// 6.12 is refused rather than silently judged against the wrong expectations.
#[cfg(feature = "kernel-backend")]
fn open_kernel(version: KernelVersion) -> Result<Box<dyn Backend>, String> {
    if version != KernelVersion::V6_12 {
        return Err(format!(
            "the kernel backend runs the reference kernel 6.12, not {version}"
        ));
    }
    netkit_kernel::KernelBackend::new()
        .map(|b| Box::new(b) as Box<dyn Backend>)
        .map_err(|e| format!("cannot open the kernel backend: {e}"))
}

#[cfg(not(feature = "kernel-backend"))]
fn open_kernel(_version: KernelVersion) -> Result<Box<dyn Backend>, String> {
    Err("this binary was built without the kernel backend (feature kernel-backend)".into())
}

/// Creates a named network namespace (`ip netns add`) for a scenario. The user backend's
/// namespaces are plain labels, so there it only checks the name.
pub fn netns_add(backend: &str, name: &str) -> Result<(), String> {
    check_netns_name(name)?;
    match backend {
        #[cfg(feature = "kernel-backend")]
        "kernel" => {
            netkit_kernel::netns::create(name).map_err(|e| format!("netns add {name}: {e}"))
        }
        "user" => Ok(()),
        other => Err(format!("the {other} backend cannot create namespaces")),
    }
}

/// Removes a namespace created by [`netns_add`].
pub fn netns_del(backend: &str, name: &str) -> Result<(), String> {
    match backend {
        #[cfg(feature = "kernel-backend")]
        "kernel" => {
            netkit_kernel::netns::delete(name).map_err(|e| format!("netns del {name}: {e}"))
        }
        "user" => Ok(()),
        other => Err(format!("the {other} backend cannot delete namespaces")),
    }
}

fn check_netns_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!("invalid namespace name {name:?}"))
    }
}
