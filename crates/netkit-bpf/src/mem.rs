//! The engine's memory model: program-visible addresses are a region tag plus an offset,
//! never host addresses, so every access can be checked without `unsafe`.
//!
//! Layout of a pointer value: bits 56..64 hold the region kind, bits 32..56 an index whose
//! meaning depends on the kind, bits 0..32 the byte offset. Pointer arithmetic the program does
//! moves the offset; an offset that leaves `0..2^32` borrows from or carries into the tag and
//! the result no longer names a valid region, so the next access through it aborts.
//!
//! Map values live in `[AtomicU64]` words shared by every thread running a program: plain
//! loads and stores use Relaxed atomics (a racy program sees torn values, as in the kernel, but
//! never undefined behaviour) and the BPF atomic instructions use real atomic read-modify-writes.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Region kinds (the top byte of a pointer).
pub(crate) mod kind {
    /// The run's stack: `MAX_FRAMES` frames of 512 bytes; offset is from the stack's bottom.
    pub const STACK: u64 = 1;
    /// `struct __sk_buff`; offset is the field offset.
    pub const CTX: u64 = 2;
    /// Packet bytes; index is the packet generation, offset indexes `Skb::buf`.
    pub const PACKET: u64 = 3;
    /// A region of the run's region table (map values, ringbuf records); index = table slot.
    pub const REGION: u64 = 4;
    /// A map handle (`ld_imm64` of a map); index = the program's map slot. Not dereferenceable.
    pub const MAP: u64 = 5;
    /// A BPF function address (`ld_imm64` src 4); offset = instruction index. Not dereferenceable.
    pub const FUNC: u64 = 6;
}

const KIND_SHIFT: u32 = 56;
const INDEX_SHIFT: u32 = 32;
const INDEX_MASK: u64 = 0x00ff_ffff;
/// Largest index a pointer can carry.
pub(crate) const MAX_INDEX: u32 = INDEX_MASK as u32;

pub(crate) fn make_ptr(kind: u64, index: u32, off: u32) -> u64 {
    (kind << KIND_SHIFT) | ((u64::from(index) & INDEX_MASK) << INDEX_SHIFT) | u64::from(off)
}

pub(crate) fn ptr_kind(addr: u64) -> u64 {
    addr >> KIND_SHIFT
}

pub(crate) fn ptr_index(addr: u64) -> u32 {
    ((addr >> INDEX_SHIFT) & INDEX_MASK) as u32
}

pub(crate) fn ptr_off(addr: u64) -> u32 {
    addr as u32
}

/// Word-backed storage for values shared between threads.
pub type Words = Arc<[AtomicU64]>;

/// Allocates zeroed words able to hold `bytes` bytes.
pub fn alloc_words(bytes: usize) -> Words {
    (0..bytes.div_ceil(8)).map(|_| AtomicU64::new(0)).collect()
}

/// Rounds a value size up to whole words, the stride of values in word storage.
pub fn stride(value_size: u32) -> usize {
    (value_size as usize).div_ceil(8) * 8
}

/// Loads `size` (1, 2, 4, 8) little-endian bytes at byte offset `off`; the caller checked bounds.
#[inline]
pub(crate) fn load(words: &[AtomicU64], off: usize, size: usize) -> u64 {
    let w = off / 8;
    let shift = (off % 8) * 8;
    if off % 8 + size <= 8 {
        let v = words[w].load(Relaxed) >> shift;
        if size == 8 {
            v
        } else {
            v & ((1u64 << (size * 8)) - 1)
        }
    } else {
        let lo = words[w].load(Relaxed) >> shift;
        let hi = words[w + 1].load(Relaxed) << (64 - shift);
        let v = lo | hi;
        if size == 8 {
            v
        } else {
            v & ((1u64 << (size * 8)) - 1)
        }
    }
}

/// Stores the low `size` bytes of `val` at byte offset `off`; the caller checked bounds.
/// Bytes of the same word outside the store are preserved even under concurrent stores.
#[inline]
pub(crate) fn store(words: &[AtomicU64], off: usize, size: usize, val: u64) {
    if size == 8 && off.is_multiple_of(8) {
        words[off / 8].store(val, Relaxed);
        return;
    }
    for i in 0..size {
        store_byte(words, off + i, (val >> (i * 8)) as u8);
    }
}

fn store_byte(words: &[AtomicU64], off: usize, byte: u8) {
    let shift = (off % 8) * 8;
    let mask = !(0xffu64 << shift);
    let word = &words[off / 8];
    let mut cur = word.load(Relaxed);
    loop {
        let new = (cur & mask) | (u64::from(byte) << shift);
        match word.compare_exchange_weak(cur, new, Relaxed, Relaxed) {
            Ok(_) => return,
            Err(actual) => cur = actual,
        }
    }
}

/// Copies bytes out of word storage.
pub(crate) fn read_bytes(words: &[AtomicU64], off: usize, out: &mut [u8]) {
    for (i, b) in out.iter_mut().enumerate() {
        let o = off + i;
        *b = (words[o / 8].load(Relaxed) >> ((o % 8) * 8)) as u8;
    }
}

/// Copies bytes into word storage, whole words at a time where aligned.
pub(crate) fn write_bytes(words: &[AtomicU64], off: usize, data: &[u8]) {
    let mut i = 0;
    while i < data.len() {
        let o = off + i;
        if o.is_multiple_of(8) && data.len() - i >= 8 {
            let v = u64::from_le_bytes(data[i..i + 8].try_into().expect("8 bytes"));
            words[o / 8].store(v, Relaxed);
            i += 8;
        } else {
            store_byte(words, o, data[i]);
            i += 1;
        }
    }
}

/// A slice of word storage a program may address: a map value, a ringbuf record.
#[derive(Clone, Debug)]
pub(crate) struct Region {
    pub words: Words,
    /// Byte offset of the region in `words`.
    pub start: u32,
    pub len: u32,
    pub writable: bool,
    /// Cleared when a ringbuf record is submitted or discarded: later accesses abort.
    pub live: bool,
    /// Set for ringbuf records: where `submit`/`discard` deliver the bytes.
    pub record: Option<crate::maps::RecordRef>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_fields_round_trip() {
        let p = make_ptr(kind::PACKET, 7, 0x1234);
        assert_eq!(ptr_kind(p), kind::PACKET);
        assert_eq!(ptr_index(p), 7);
        assert_eq!(ptr_off(p), 0x1234);
        // Moving below offset 0 leaves the region.
        let below = p.wrapping_sub(0x1235);
        assert_eq!(ptr_index(below), 6);
    }

    #[test]
    fn unaligned_word_access() {
        let w = alloc_words(16);
        store(&w, 5, 4, 0xdead_beef);
        assert_eq!(load(&w, 5, 4), 0xdead_beef);
        assert_eq!(load(&w, 4, 8), 0xdead_beef00);
        store(&w, 3, 8, 0x1122_3344_5566_7788);
        assert_eq!(load(&w, 3, 8), 0x1122_3344_5566_7788);
        assert_eq!(load(&w, 3, 1), 0x88);
        let mut out = [0u8; 8];
        read_bytes(&w, 3, &mut out);
        assert_eq!(u64::from_le_bytes(out), 0x1122_3344_5566_7788);
        write_bytes(&w, 0, &[1; 16]);
        assert_eq!(load(&w, 8, 8), 0x0101_0101_0101_0101);
    }
}
