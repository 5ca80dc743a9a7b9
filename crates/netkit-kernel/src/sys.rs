//! The only place in this crate that calls the OS directly: sockets (netlink, packet), the
//! `bpf(2)` syscall for program management, `setns(2)` and closing descriptors.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn check_len(ret: isize) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// The `union bpf_attr` buffer: 8-byte aligned, zero-initialised, sized to the 2026 UAPI.
#[derive(Clone)]
pub struct BpfAttr {
    words: [u64; 21],
    /// How many bytes to pass to the kernel (`offsetofend` of the command's last field).
    len: usize,
}

impl BpfAttr {
    pub fn new(len: usize) -> BpfAttr {
        assert!(len <= 168, "bpf_attr is 168 bytes");
        BpfAttr {
            words: [0; 21],
            len,
        }
    }

    pub fn put_u32(&mut self, off: usize, v: u32) {
        let word = &mut self.words[off / 8];
        let mut b = word.to_le_bytes();
        b[off % 8..off % 8 + 4].copy_from_slice(&v.to_le_bytes());
        *word = u64::from_le_bytes(b);
    }

    pub fn put_u64(&mut self, off: usize, v: u64) {
        debug_assert_eq!(off % 8, 0);
        self.words[off / 8] = v;
    }

    pub fn u32_at(&self, off: usize) -> u32 {
        let b = self.words[off / 8].to_le_bytes();
        u32::from_le_bytes([b[off % 8], b[off % 8 + 1], b[off % 8 + 2], b[off % 8 + 3]])
    }

    pub fn u64_at(&self, off: usize) -> u64 {
        self.words[off / 8]
    }
}

/// `bpf(cmd, attr, size)`. Any pointers stored in `attr` must point at buffers that stay alive
/// and writable for the duration of the call; the callers in this crate pass addresses of
/// local `Vec`s they own across the call.
pub fn bpf(cmd: u32, attr: &mut BpfAttr) -> io::Result<i32> {
    // SAFETY: `attr.words` is a valid, 8-byte aligned buffer of 168 bytes and `attr.len` ≤ 168,
    // so the kernel reads/writes only inside it; embedded user pointers are the caller's live
    // buffers with the lengths the command's fields declare (see the function doc).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            attr.words.as_mut_ptr(),
            attr.len as libc::c_long,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as i32)
    }
}

/// Takes ownership of a descriptor the kernel returned (e.g. from `bpf(2)`).
pub fn own_fd(fd: RawFd) -> OwnedFd {
    // SAFETY: the caller passes a descriptor freshly returned by a syscall that nothing else
    // owns, so wrapping it transfers sole ownership.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

pub fn socket(domain: i32, ty: i32, protocol: i32) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes no pointers.
    let fd = check(unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, protocol) })?;
    Ok(own_fd(fd))
}

pub fn setsockopt_int(fd: &OwnedFd, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: the option value points at a live i32 whose size is passed alongside.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

pub fn set_recv_timeout(fd: &OwnedFd, timeout: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros() as libc::suseconds_t,
    };
    // SAFETY: the option value points at a live timeval whose size is passed alongside.
    check(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Binds a netlink socket with a kernel-assigned port id.
pub fn bind_netlink(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: sockaddr_nl is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: the address points at a live sockaddr_nl whose size is passed alongside.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_nl).cast(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

pub fn send(fd: &OwnedFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: the buffer is a live slice of the given length.
    check_len(unsafe { libc::send(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), 0) })
}

pub fn recv(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the buffer is a live, writable slice of the given length.
    check_len(unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) })
}

fn sockaddr_ll(ifindex: u32, protocol: u16) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = protocol.to_be();
    addr.sll_ifindex = ifindex as i32;
    addr
}

/// Binds a packet socket to one device (`ifindex` 0 = all devices) and protocol.
pub fn bind_packet(fd: &OwnedFd, ifindex: u32, protocol: u16) -> io::Result<()> {
    let addr = sockaddr_ll(ifindex, protocol);
    // SAFETY: the address points at a live sockaddr_ll whose size is passed alongside.
    check(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Sends a whole Ethernet frame out of `ifindex` through a raw packet socket.
pub fn send_packet(fd: &OwnedFd, ifindex: u32, frame: &[u8]) -> io::Result<usize> {
    let addr = sockaddr_ll(ifindex, 0);
    // SAFETY: frame and address are live for the call, with their sizes passed alongside.
    check_len(unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            frame.as_ptr().cast(),
            frame.len(),
            0,
            (&addr as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })
}

/// A frame seen by a packet socket: the device and direction it was seen on.
pub struct Captured {
    pub ifindex: u32,
    /// `PACKET_HOST` 0 … `PACKET_OUTGOING` 4.
    pub pkt_type: u8,
    pub frame: Vec<u8>,
}

/// Receives one frame (blocking up to the socket's receive timeout).
pub fn recv_packet(fd: &OwnedFd) -> io::Result<Captured> {
    recv_packet_flags(fd, 0)
}

/// Receives one frame if one is queued, else fails with `WouldBlock`.
pub fn recv_packet_nowait(fd: &OwnedFd) -> io::Result<Captured> {
    recv_packet_flags(fd, libc::MSG_DONTWAIT)
}

fn recv_packet_flags(fd: &OwnedFd, flags: i32) -> io::Result<Captured> {
    let mut buf = vec![0u8; 65536 + 64];
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    let mut alen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: buffer and address are live and writable, with their sizes passed alongside.
    let n = check_len(unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            flags,
            (&mut addr as *mut libc::sockaddr_ll).cast(),
            &mut alen,
        )
    })?;
    buf.truncate(n);
    Ok(Captured {
        ifindex: addr.sll_ifindex as u32,
        pkt_type: addr.sll_pkttype,
        frame: buf,
    })
}

/// Moves the calling thread into the network namespace `fd` refers to.
pub fn setns_net(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: setns(2) takes no pointers; it only affects the calling thread.
    check(unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) })?;
    Ok(())
}

/// Gives the calling thread a new, empty network namespace.
pub fn unshare_net() -> io::Result<()> {
    // SAFETY: unshare(2) takes no pointers; it only affects the calling thread.
    check(unsafe { libc::unshare(libc::CLONE_NEWNET) })?;
    Ok(())
}

/// Bind-mounts `src` onto `dst` (used to pin a namespace under /run/netns).
pub fn bind_mount(src: &str, dst: &str) -> io::Result<()> {
    let src = CString::new(src).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let dst = CString::new(dst).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: both paths are NUL-terminated strings alive for the call; no fs type or data.
    check(unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    })?;
    Ok(())
}

/// Detaches a mount (to remove a pinned namespace).
pub fn umount_detach(path: &str) -> io::Result<()> {
    let path = CString::new(path).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: the path is a NUL-terminated string alive for the call.
    check(unsafe { libc::umount2(path.as_ptr(), libc::MNT_DETACH) })?;
    Ok(())
}

/// The kernel thread id of the caller (to name its namespace under /proc).
pub fn gettid() -> i32 {
    // SAFETY: gettid(2) takes no arguments and cannot fail.
    unsafe { libc::gettid() }
}

/// Whether the process runs with uid 0 (tests needing privileges check this first).
pub fn is_root() -> bool {
    // SAFETY: geteuid(2) takes no arguments and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A second, independently owned descriptor for the same open object.
pub fn dup(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) takes no pointers; on success it returns a new
    // descriptor that nothing else owns.
    let new = check(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) })?;
    Ok(own_fd(new))
}

/// The filesystem type (`f_type`, e.g. TRACEFS_MAGIC) of the filesystem holding `path`.
pub fn statfs_type(path: &str) -> io::Result<i64> {
    let c = CString::new(path).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: statfs is plain data; all-zero is a valid value.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: the path is a NUL-terminated string and `st` a writable statfs, both alive for
    // the call.
    check(unsafe { libc::statfs(c.as_ptr(), &mut st) })?;
    Ok(st.f_type as i64)
}

/// Mounts a pseudo filesystem of type `fstype` (tracefs, ...) at `target`.
pub fn mount_fs(fstype: &str, target: &str) -> io::Result<()> {
    let invalid = |_| io::Error::from(io::ErrorKind::InvalidInput);
    let ty = CString::new(fstype).map_err(invalid)?;
    let dst = CString::new(target).map_err(invalid)?;
    // SAFETY: source, target and type are NUL-terminated strings alive for the call; no data.
    check(unsafe { libc::mount(ty.as_ptr(), dst.as_ptr(), ty.as_ptr(), 0, std::ptr::null()) })?;
    Ok(())
}

/// Waits up to `timeout` for `fd` to become readable; `Ok(false)` on timeout or when a
/// signal interrupted the wait.
pub fn poll_readable(fd: &impl AsRawFd, timeout: Duration) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: one live, writable pollfd, and the count 1 says so.
    match check(unsafe { libc::poll(&mut p, 1, ms) }) {
        Ok(n) => Ok(n > 0),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
        Err(e) => Err(e),
    }
}

/// Set by [`stop_on_signals`]' handler.
static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn request_stop(_signal: libc::c_int) {
    STOP.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// From now on SIGINT, SIGTERM and SIGHUP only set a flag ([`stop_requested`]), so a
/// command that streams can finish its output (bpftool closes its JSON array so).
pub fn stop_on_signals() -> io::Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: sigaction is plain data; all-zero is a valid value (empty mask, no flags).
        let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
        act.sa_sigaction = request_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // SAFETY: the handler only stores to an atomic (async-signal-safe); `act` is a live
        // sigaction and the old action is not asked for.
        check(unsafe { libc::sigaction(signal, &act, std::ptr::null_mut()) })?;
    }
    Ok(())
}

/// Whether a signal asked the process to stop (see [`stop_on_signals`]).
pub fn stop_requested() -> bool {
    STOP.load(std::sync::atomic::Ordering::SeqCst)
}
