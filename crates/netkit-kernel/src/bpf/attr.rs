//! A typed front for the crate's one bpf(2) entry point ([`crate::sys::bpf`]): pointer fields
//! can only be set from borrows that outlive the attribute buffer, which is what makes the
//! system call's contract (live buffers of the declared lengths) hold for every caller here.

use std::marker::PhantomData;
use std::os::fd::OwnedFd;

use crate::sys::{self, BpfAttr};

/// Bytes of `union bpf_attr` sent. Every command issued here ends before 128 bytes; the
/// kernel zero-fills the rest of its (larger) union.
const ATTR_SIZE: usize = 128;

pub struct Attr<'a> {
    raw: BpfAttr,
    _borrows: PhantomData<&'a mut [u8]>,
}

impl Default for Attr<'_> {
    fn default() -> Self {
        Attr {
            raw: BpfAttr::new(ATTR_SIZE),
            _borrows: PhantomData,
        }
    }
}

impl<'a> Attr<'a> {
    pub fn set_u32(&mut self, off: usize, v: u32) {
        self.raw.put_u32(off, v);
    }

    pub fn set_u64(&mut self, off: usize, v: u64) {
        self.raw.put_u64(off, v);
    }

    /// Copies `v` (at most 16 bytes: object names) to byte offset `off`.
    pub fn set_bytes(&mut self, off: usize, v: &[u8]) {
        for (i, chunk) in v.chunks(4).enumerate() {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            self.raw.put_u32(off + 4 * i, u32::from_le_bytes(word));
        }
    }

    /// A pointer field the kernel only reads.
    pub fn set_in(&mut self, off: usize, data: &'a [u8]) {
        self.set_u64(off, data.as_ptr() as u64);
    }

    /// A pointer field the kernel writes (at most the length the caller declares in the
    /// command's size field, which is always `data.len()` or less).
    pub fn set_out(&mut self, off: usize, data: &'a mut [u8]) {
        self.set_u64(off, data.as_mut_ptr() as u64);
    }

    pub fn u32_at(&self, off: usize) -> u32 {
        self.raw.u32_at(off)
    }
}

/// Runs `cmd`: the return value, or the errno.
pub fn sys_bpf(cmd: u32, attr: &mut Attr<'_>) -> Result<i64, i32> {
    sys::bpf(cmd, &mut attr.raw)
        .map(i64::from)
        .map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
}

/// Takes ownership of a descriptor a successful bpf(2) command returned.
pub fn adopt_fd(raw: i64) -> OwnedFd {
    sys::own_fd(raw as i32)
}
