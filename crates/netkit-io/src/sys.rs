//! Every system call of the crate, each a thin safe wrapper. The only module with `unsafe`.
//!
//! Wrappers take and return owned or borrowed fds and plain Rust values; they return
//! `io::Error` built from `errno`, so the callers add what was being done.

use std::ffi::CString;
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cvt_size(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    let fd = cvt(fd)?;
    // SAFETY: `fd` was just returned by a successful call that creates a new descriptor, so
    // nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn path_cstr(path: &str) -> io::Result<CString> {
    CString::new(path).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
}

/// `open(path, flags | O_CLOEXEC)`.
pub fn open(path: &str, flags: libc::c_int) -> io::Result<OwnedFd> {
    let c = path_cstr(path)?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    owned(unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) })
}

/// An `ifreq` with `name` filled in (truncated names are refused by the caller).
pub fn ifreq(name: &str) -> libc::ifreq {
    // SAFETY: `ifreq` is plain old data (arrays, integers, a union of such); all-zero is valid.
    let mut req: libc::ifreq = unsafe { zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    req
}

/// The interface name stored in an `ifreq`.
pub fn ifreq_name(req: &libc::ifreq) -> String {
    let bytes: Vec<u8> = req
        .ifr_name
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `ioctl(fd, req, &mut ifreq)`: TUNSETIFF, TUNSETQUEUE, SIOCGIF*.
pub fn ioctl_ifreq(
    fd: BorrowedFd<'_>,
    request: libc::Ioctl,
    req: &mut libc::ifreq,
) -> io::Result<()> {
    // SAFETY: `req` is a valid, exclusively borrowed `ifreq`, the argument type of every
    // request this wrapper is used with.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), request, req as *mut libc::ifreq) }).map(drop)
}

/// `ioctl(fd, req, value)` for requests that take their argument by value
/// (TUNSETPERSIST, TUNSETOFFLOAD).
pub fn ioctl_value(
    fd: BorrowedFd<'_>,
    request: libc::Ioctl,
    value: libc::c_ulong,
) -> io::Result<()> {
    // SAFETY: these requests read the integer argument itself and dereference nothing.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), request, value) }).map(drop)
}

/// `ioctl(fd, req, &value)` for requests that read an `int` through a pointer
/// (TUNSETVNETHDRSZ, TUNSETCARRIER).
pub fn ioctl_int_ptr(
    fd: BorrowedFd<'_>,
    request: libc::Ioctl,
    value: libc::c_int,
) -> io::Result<()> {
    let v = value;
    // SAFETY: the kernel reads one `int` from a pointer to a live local.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), request, &v as *const libc::c_int) }).map(drop)
}

/// `ioctl(fd, req)` for requests that take no argument and return a new descriptor
/// (TUNGETDEVNETNS).
pub fn ioctl_new_fd(fd: BorrowedFd<'_>, request: libc::Ioctl) -> io::Result<OwnedFd> {
    // SAFETY: these requests read no argument; the result is a new descriptor or -1.
    owned(unsafe { libc::ioctl(fd.as_raw_fd(), request) })
}

pub fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the duration of the call.
    cvt_size(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
}

/// Reads into the spare capacity of `buf` (after its current length) and extends the length
/// by what was read: no zero-filling of the buffer before each read.
pub fn read_append(fd: BorrowedFd<'_>, buf: &mut Vec<u8>) -> io::Result<usize> {
    let spare = buf.spare_capacity_mut();
    // SAFETY: `spare` is valid for writes of `spare.len()` bytes (uninitialised memory owned by
    // `buf`); read(2) writes only there.
    let n =
        cvt_size(unsafe { libc::read(fd.as_raw_fd(), spare.as_mut_ptr().cast(), spare.len()) })?;
    let len = buf.len() + n;
    // SAFETY: read(2) returned `n`, so the first `n` spare bytes are now initialised, and
    // `n <= spare.len()` keeps `len` within the capacity.
    unsafe { buf.set_len(len) };
    Ok(n)
}

pub fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes for the duration of the call.
    cvt_size(unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) })
}

/// Waits until one of `fds` is readable; returns the readiness of each (`revents != 0`).
pub fn poll_readable(
    fds: &[BorrowedFd<'_>],
    timeout_ms: i32,
    ready: &mut [bool],
) -> io::Result<usize> {
    let mut pfds = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; 4];
    let n = fds.len().min(pfds.len());
    for (p, fd) in pfds.iter_mut().zip(fds) {
        p.fd = fd.as_raw_fd();
        p.events = libc::POLLIN;
    }
    // SAFETY: `pfds[..n]` is a valid array of `n` pollfd structures owned by this frame.
    let got = cvt(unsafe { libc::poll(pfds.as_mut_ptr(), n as libc::nfds_t, timeout_ms) })?;
    for (r, p) in ready.iter_mut().zip(&pfds[..n]) {
        *r = p.revents != 0;
    }
    Ok(got as usize)
}

/// A non-blocking, close-on-exec eventfd (used to wake workers blocked in `poll`).
pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    owned(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })
}

/// Adds 1 to an eventfd's counter (wakes its pollers).
pub fn eventfd_signal(fd: BorrowedFd<'_>) -> io::Result<()> {
    write(fd, &1u64.to_ne_bytes()).map(drop)
}

pub fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL take and return integers only.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    let flags = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags) }).map(drop)
}

/// `setns(fd, CLONE_NEWNET)`: moves the calling thread into the network namespace of `fd`.
pub fn setns_net(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain syscall; `fd` is a live descriptor.
    cvt(unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) }).map(drop)
}

/// `unshare(CLONE_NEWNET)`: gives the calling thread a new network namespace.
pub fn unshare_net() -> io::Result<()> {
    // SAFETY: plain syscall with an integer argument.
    cvt(unsafe { libc::unshare(libc::CLONE_NEWNET) }).map(drop)
}

/// Puts the calling thread in the SCHED_FIFO class at `priority` (1..=99).
pub fn set_fifo_priority(priority: i32) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `param` is a live sched_param; pid 0 names the calling thread.
    cvt(unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) }).map(drop)
}

pub fn gettid() -> libc::pid_t {
    // SAFETY: gettid cannot fail.
    unsafe { libc::gettid() }
}

/// `mount(src, dst, NULL, MS_BIND)`.
pub fn bind_mount(src: &str, dst: &str) -> io::Result<()> {
    let (s, d) = (path_cstr(src)?, path_cstr(dst)?);
    // SAFETY: both strings are valid and NUL-terminated; no fs type or data is passed.
    cvt(unsafe {
        libc::mount(
            s.as_ptr(),
            d.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    })
    .map(drop)
}

/// `umount2(path, MNT_DETACH)`.
pub fn umount_detach(path: &str) -> io::Result<()> {
    let p = path_cstr(path)?;
    // SAFETY: `p` is a valid NUL-terminated string.
    cvt(unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) }).map(drop)
}

pub fn socket(domain: libc::c_int, ty: libc::c_int, protocol: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    owned(unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, protocol) })
}

/// Binds a netlink socket to `groups` (port id chosen by the kernel).
pub fn bind_netlink(fd: BorrowedFd<'_>, groups: u32) -> io::Result<()> {
    // SAFETY: sockaddr_nl is plain old data; all-zero is valid.
    let mut addr: libc::sockaddr_nl = unsafe { zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    addr.nl_groups = groups;
    // SAFETY: `addr` is a live sockaddr_nl and the length passed is its size.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_nl).cast(),
            size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Sets an integer socket option.
pub fn setsockopt_int(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the option value is a live `int` and the length passed is its size.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

pub fn send(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
    cvt_size(unsafe { libc::send(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), 0) })
}

pub fn recv(fd: BorrowedFd<'_>, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    cvt_size(unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), flags) })
}

/// An AF_PACKET raw socket bound to `ifindex`, receiving nothing (protocol 0): a send-only
/// handle that puts frames on the interface's transmit path.
pub fn packet_socket(ifindex: u32) -> io::Result<OwnedFd> {
    let fd = socket(libc::AF_PACKET, libc::SOCK_RAW, 0)?;
    // SAFETY: sockaddr_ll is plain old data; all-zero is valid.
    let mut addr: libc::sockaddr_ll = unsafe { zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_ifindex = ifindex as i32;
    // SAFETY: `addr` is a live sockaddr_ll and the length passed is its size.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })?;
    Ok(fd)
}
