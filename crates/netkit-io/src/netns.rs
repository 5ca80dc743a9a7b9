//! Network namespaces: naming one, running code inside one, and creating named ones
//! (as `ip netns add` does) for tests and demos.
//!
//! Code runs in another namespace on a dedicated thread that enters it with `setns` and ends
//! afterwards, so no thread of the caller ever changes namespace. Descriptors created there
//! (TUN fds, netlink and packet sockets) stay bound to that namespace and are usable anywhere.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

use crate::{sys, Error, Result};

/// Where `ip netns` keeps named namespaces.
pub const NETNS_RUN_DIR: &str = "/run/netns";

/// A network namespace, named the ways iproute2 names them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum NetNs {
    /// The namespace of the calling process.
    Current,
    /// An `ip netns` name (a file under /run/netns).
    Named(String),
    /// The namespace of a process.
    Pid(u32),
}

impl NetNs {
    fn path(&self) -> Result<String> {
        Ok(match self {
            NetNs::Current => "/proc/self/ns/net".to_string(),
            NetNs::Named(name) => {
                if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                    return Err(Error::Invalid(format!("namespace name {name:?}")));
                }
                format!("{NETNS_RUN_DIR}/{name}")
            }
            NetNs::Pid(pid) => format!("/proc/{pid}/ns/net"),
        })
    }

    /// Opens the namespace file (for `setns`).
    pub fn open(&self) -> Result<OwnedFd> {
        let path = self.path()?;
        sys::open(&path, libc::O_RDONLY).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => Error::NotFound(format!("network namespace {self}")),
            _ => Error::os(format!("open {path}"), e),
        })
    }

    /// A stable identity of the namespace (the inode of its nsfs file), equal for two
    /// `NetNs` values that name the same namespace.
    pub fn id(&self) -> Result<NsId> {
        let path = self.path()?;
        let meta = std::fs::metadata(&path).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => Error::NotFound(format!("network namespace {self}")),
            _ => Error::os(format!("stat {path}"), e),
        })?;
        Ok(NsId(meta.ino()))
    }

    /// Runs `f` inside this namespace, on a thread of its own, and returns its result.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
        if *self == NetNs::Current {
            return f();
        }
        let target = self.open()?;
        run_in_fd(target, f)
    }
}

impl std::fmt::Display for NetNs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetNs::Current => write!(f, "(current)"),
            NetNs::Named(n) => write!(f, "{n}"),
            NetNs::Pid(p) => write!(f, "pid {p}"),
        }
    }
}

/// Identity of a network namespace: the inode number of its nsfs file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NsId(pub u64);

fn run_in_fd<T: Send>(target: OwnedFd, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|s| {
        s.spawn(move || {
            sys::setns_net(target.as_fd())
                .map_err(|e| Error::os("setns into network namespace", e))?;
            f()
        })
        .join()
        .unwrap_or_else(|_| Err(Error::Invalid("namespace worker thread panicked".into())))
    })
}

/// A named network namespace created by this process (like `ip netns add`), removed on drop.
#[derive(Debug)]
pub struct NamedNetns {
    name: String,
    path: String,
}

impl NamedNetns {
    /// Creates `/run/netns/NAME` holding a fresh network namespace whose loopback is up.
    /// Fails with EEXIST if the name is taken.
    pub fn create(name: &str) -> Result<NamedNetns> {
        let ns = NetNs::Named(name.to_string());
        let path = ns.path()?;
        std::fs::create_dir_all(NETNS_RUN_DIR)
            .map_err(|e| Error::os(format!("mkdir {NETNS_RUN_DIR}"), e))?;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::os(format!("create {path}"), e))?;
        let made = NamedNetns {
            name: name.to_string(),
            path: path.clone(),
        };
        std::thread::scope(|s| {
            s.spawn(|| {
                sys::unshare_net().map_err(|e| Error::os("unshare(CLONE_NEWNET)", e))?;
                let own = format!("/proc/self/task/{}/ns/net", sys::gettid());
                sys::bind_mount(&own, &path)
                    .map_err(|e| Error::os(format!("bind-mount {own} on {path}"), e))
            })
            .join()
            .unwrap_or_else(|_| Err(Error::Invalid("namespace worker thread panicked".into())))
        })?;
        let rtnl = ns.run(crate::rtnl::Rtnl::open)?;
        let lo = rtnl.link_by_name("lo")?;
        rtnl.set_up(lo.ifindex, true)?;
        Ok(made)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn netns(&self) -> NetNs {
        NetNs::Named(self.name.clone())
    }
}

impl Drop for NamedNetns {
    fn drop(&mut self) {
        // Best effort: a busy mount is detached lazily; the namespace dies with its last user.
        let _ = sys::umount_detach(&self.path);
        let _ = std::fs::remove_file(&self.path);
    }
}
