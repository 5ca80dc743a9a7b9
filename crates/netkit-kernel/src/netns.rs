//! Network namespaces named the way `ip netns` names them (a bind mount under /run/netns).
//!
//! A socket belongs to the namespace it was created in, whatever thread uses it later, so
//! "doing something in namespace N" here means creating the socket on a short-lived thread
//! that has joined N.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;

use crate::sys;

pub const NETNS_DIR: &str = "/run/netns";

/// Opens the namespace file of an `ip netns` name.
pub fn open(name: &str) -> io::Result<OwnedFd> {
    if name.is_empty() || name.contains('/') || name == "." || name == ".." {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid netns name {name:?}"),
        ));
    }
    let file = File::open(format!("{NETNS_DIR}/{name}"))?;
    Ok(OwnedFd::from(file))
}

/// Opens the namespace file of the calling thread's own namespace.
pub fn own() -> io::Result<OwnedFd> {
    Ok(OwnedFd::from(File::open("/proc/thread-self/ns/net")?))
}

/// Runs `f` on a thread inside namespace `name` (`None` = the caller's) and returns its result.
pub fn run_in<T: Send + 'static>(
    name: Option<&str>,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let Some(name) = name else { return f() };
    let ns = open(name)?;
    std::thread::spawn(move || {
        sys::setns_net(&ns)?;
        f()
    })
    .join()
    .map_err(|_| io::Error::other("namespace worker thread panicked"))?
}

/// Creates a new namespace pinned as /run/netns/NAME (what `ip netns add` does).
pub fn create(name: &str) -> io::Result<()> {
    std::fs::create_dir_all(NETNS_DIR)?;
    let path = format!("{NETNS_DIR}/{name}");
    File::create(&path)?;
    let pinned = std::thread::spawn(move || {
        sys::unshare_net()?;
        let own = format!("/proc/self/task/{}/ns/net", sys::gettid());
        sys::bind_mount(&own, &path)
    })
    .join()
    .map_err(|_| io::Error::other("namespace worker thread panicked"))?;
    if pinned.is_err() {
        let _ = std::fs::remove_file(format!("{NETNS_DIR}/{name}"));
    }
    pinned
}

/// Removes a namespace created by [`create`] (devices in it go away with it).
pub fn delete(name: &str) -> io::Result<()> {
    let path = format!("{NETNS_DIR}/{name}");
    sys::umount_detach(&path)?;
    std::fs::remove_file(path)
}
