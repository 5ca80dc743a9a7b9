//! Control-path errors carry the kernel's errno and a sentence saying what was wrong.

use std::fmt;

/// The Linux errno values the netkit and bpf_mprog control paths return.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Errno {
    EPERM,
    ENOENT,
    ENXIO,
    EBADF,
    EAGAIN,
    ENOMEM,
    EACCES,
    EFAULT,
    EBUSY,
    EEXIST,
    ENODEV,
    EINVAL,
    ENOSPC,
    ERANGE,
    E2BIG,
    ENOLINK,
    EMSGSIZE,
    EOPNOTSUPP,
    EADDRNOTAVAIL,
    ENOTCONN,
    ESTALE,
    /// Any other value, kept as the kernel returned it.
    Other(i32),
}

impl Errno {
    pub fn raw(self) -> i32 {
        match self {
            Errno::EPERM => 1,
            Errno::ENOENT => 2,
            Errno::ENXIO => 6,
            Errno::E2BIG => 7,
            Errno::EBADF => 9,
            Errno::EAGAIN => 11,
            Errno::ENOMEM => 12,
            Errno::EACCES => 13,
            Errno::EFAULT => 14,
            Errno::EBUSY => 16,
            Errno::EEXIST => 17,
            Errno::ENODEV => 19,
            Errno::EINVAL => 22,
            Errno::ENOSPC => 28,
            Errno::ERANGE => 34,
            Errno::ENOLINK => 67,
            Errno::EMSGSIZE => 90,
            Errno::EOPNOTSUPP => 95,
            Errno::EADDRNOTAVAIL => 99,
            Errno::ENOTCONN => 107,
            Errno::ESTALE => 116,
            Errno::Other(raw) => raw,
        }
    }

    pub fn from_raw(raw: i32) -> Errno {
        const ALL: [Errno; 21] = [
            Errno::EPERM,
            Errno::ENOENT,
            Errno::ENXIO,
            Errno::EBADF,
            Errno::EAGAIN,
            Errno::ENOMEM,
            Errno::EACCES,
            Errno::EFAULT,
            Errno::EBUSY,
            Errno::EEXIST,
            Errno::ENODEV,
            Errno::EINVAL,
            Errno::ENOSPC,
            Errno::ERANGE,
            Errno::E2BIG,
            Errno::ENOLINK,
            Errno::EMSGSIZE,
            Errno::EOPNOTSUPP,
            Errno::EADDRNOTAVAIL,
            Errno::ENOTCONN,
            Errno::ESTALE,
        ];
        ALL.into_iter()
            .find(|e| e.raw() == raw)
            .unwrap_or(Errno::Other(raw))
    }

    /// The symbolic name, e.g. "EINVAL".
    pub fn name(self) -> String {
        match self {
            Errno::Other(raw) => format!("errno {raw}"),
            known => format!("{known:?}"),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// An error of the control path: the errno the kernel would return and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{errno}: {msg}")]
pub struct Error {
    pub errno: Errno,
    pub msg: String,
}

impl Error {
    pub fn new(errno: Errno, msg: impl Into<String>) -> Error {
        Error {
            errno,
            msg: msg.into(),
        }
    }
}

/// Shorthand for `Err(Error::new(errno, msg))`.
pub fn fail<T>(errno: Errno, msg: impl Into<String>) -> Result<T, Error> {
    Err(Error::new(errno, msg))
}
