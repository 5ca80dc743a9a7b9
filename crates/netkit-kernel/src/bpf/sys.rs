//! The only unsafe code of the bpf(2) layer: the system call itself and adopting the file
//! descriptors it returns.

use std::marker::PhantomData;
use std::os::fd::{FromRawFd, OwnedFd};

/// Bytes of `union bpf_attr` we send. The kernel's union is larger (and grows); it zero-fills
/// what we do not send, and every command we issue ends well before 128 bytes.
pub const ATTR_SIZE: usize = 128;

#[repr(C, align(8))]
struct AttrBytes([u8; ATTR_SIZE]);

/// A zeroed `union bpf_attr` under construction. Pointer fields can only be set from borrows
/// that outlive the `Attr`, so every pointer the kernel follows is valid during the call.
pub struct Attr<'a> {
    bytes: AttrBytes,
    _borrows: PhantomData<&'a mut [u8]>,
}

impl Default for Attr<'_> {
    fn default() -> Self {
        Attr {
            bytes: AttrBytes([0; ATTR_SIZE]),
            _borrows: PhantomData,
        }
    }
}

impl<'a> Attr<'a> {
    pub fn set_u32(&mut self, off: usize, v: u32) {
        self.bytes.0[off..off + 4].copy_from_slice(&v.to_ne_bytes());
    }

    pub fn set_u64(&mut self, off: usize, v: u64) {
        self.bytes.0[off..off + 8].copy_from_slice(&v.to_ne_bytes());
    }

    pub fn set_bytes(&mut self, off: usize, v: &[u8]) {
        self.bytes.0[off..off + v.len()].copy_from_slice(v);
    }

    /// A pointer field the kernel only reads from.
    pub fn set_in(&mut self, off: usize, data: &'a [u8]) {
        self.set_u64(off, data.as_ptr() as u64);
    }

    /// A pointer field the kernel writes to (at most `data.len()` bytes, which the caller
    /// passes in the matching size field).
    pub fn set_out(&mut self, off: usize, data: &'a mut [u8]) {
        self.set_u64(off, data.as_mut_ptr() as u64);
    }

    pub fn u32_at(&self, off: usize) -> u32 {
        u32::from_ne_bytes(self.bytes.0[off..off + 4].try_into().expect("4 bytes"))
    }
}

/// `bpf(cmd, attr, ATTR_SIZE)`: the return value, or the errno.
pub fn sys_bpf(cmd: u32, attr: &mut Attr<'_>) -> Result<i64, i32> {
    // SAFETY: `attr` is an 8-byte aligned buffer of ATTR_SIZE bytes that lives across the
    // call; every pointer inside it was set by `set_in`/`set_out` from a borrow that outlives
    // `attr` (lifetime 'a), and each pointer's length field was set by the same wrapper from
    // that slice's length, so the kernel only touches memory we own.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            attr.bytes.0.as_mut_ptr(),
            ATTR_SIZE as libc::c_long,
        )
    };
    if ret < 0 {
        Err(std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO))
    } else {
        Ok(ret)
    }
}

/// Takes ownership of a descriptor the kernel just returned.
pub fn adopt_fd(raw: i64) -> OwnedFd {
    // SAFETY: `raw` is a fresh descriptor returned by a successful bpf(2) command that
    // creates one (map create, prog load, get fd by id); nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(raw as i32) }
}
