//! Internet checksum arithmetic bit-exact with the kernel on x86-64
//! (include/net/checksum.h, arch/x86/lib/csum-partial_64.c).
//!
//! `csum_partial` adds the buffer as little-endian 64-bit words (the tail zero-padded) to the
//! seed with end-around carry, then folds to 32 bits the same way. End-around-carry addition
//! yields 0 only when every addend is 0; otherwise the result is the class representative in
//! `1..=2^32-1`, which is what [`csum_partial`] computes directly.

/// `csum_partial(buf, len, seed)` as x86-64 computes it.
pub fn csum_partial(buf: &[u8], seed: u32) -> u32 {
    let mut total: u128 = u128::from(seed);
    let mut chunks = buf.chunks_exact(8);
    for c in &mut chunks {
        total += u128::from(u64::from_le_bytes(c.try_into().expect("8 bytes")));
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    total += u128::from(u64::from_le_bytes(tail));
    if total == 0 {
        0
    } else {
        ((total - 1) % 0xffff_ffff + 1) as u32
    }
}

/// `csum_add`: 32-bit one's-complement addition.
pub fn csum_add(a: u32, b: u32) -> u32 {
    let (r, carry) = a.overflowing_add(b);
    r.wrapping_add(u32::from(carry))
}

pub fn csum_sub(a: u32, b: u32) -> u32 {
    csum_add(a, !b)
}

/// `csum_fold`: 32 to 16 bits, complemented.
pub fn csum_fold(csum: u32) -> u16 {
    let mut s = (csum & 0xffff) + (csum >> 16);
    s = (s & 0xffff) + (s >> 16);
    !(s as u16)
}

fn csum16_add(csum: u16, addend: u16) -> u16 {
    let (r, carry) = csum.overflowing_add(addend);
    r.wrapping_add(u16::from(carry))
}

/// `csum_replace2`: the checksum `sum` after a 16-bit field changed from `old` to `new`.
pub fn csum_replace2(sum: u16, old: u16, new: u16) -> u16 {
    !csum16_add(csum16_add(!sum, !old), new)
}

/// `csum_replace4`: the checksum `sum` after a 32-bit field changed from `from` to `to`.
pub fn csum_replace4(sum: u16, from: u32, to: u32) -> u16 {
    let tmp = csum_sub(!u32::from(sum), from);
    csum_fold(csum_add(tmp, to))
}

/// `csum_replace_by_diff`: apply a checksum difference (from `bpf_csum_diff`).
pub fn csum_replace_by_diff(sum: u16, diff: u32) -> u16 {
    csum_fold(csum_add(diff, !u32::from(sum)))
}

/// `from32to16`: folds a 32-bit sum to 16 bits with end-around carry (not complemented).
pub fn from32to16(x: u32) -> u32 {
    let x = (x & 0xffff) + (x >> 16);
    (x & 0xffff) + (x >> 16)
}

/// `bpf_csum_diff(from, from_size, to, to_size, seed)` as current kernels compute it (observed
/// on 6.18): the difference of the two partial sums, folded to 16 bits. Sizes need not be
/// multiples of 4.
pub fn csum_diff(from: &[u8], to: &[u8], seed: u32) -> u32 {
    let sum = match (from.is_empty(), to.is_empty()) {
        (false, false) => csum_sub(csum_partial(to, seed), csum_partial(from, 0)),
        (true, false) => csum_partial(to, seed),
        (_, true) => !csum_partial(from, !seed),
    };
    from32to16(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071's example header checksum, through the kernel's fold.
    #[test]
    fn ipv4_header_checksum() {
        // 45 00 00 73 00 00 40 00 40 11 [b8 61] c0 a8 00 01 c0 a8 00 c7
        let mut hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        let sum = csum_fold(csum_partial(&hdr, 0));
        assert_eq!(sum.to_le_bytes(), [0xb8, 0x61]);
        hdr[10..12].copy_from_slice(&sum.to_le_bytes());
        assert_eq!(csum_fold(csum_partial(&hdr, 0)), 0);
    }

    #[test]
    fn partial_zero_and_carry_representation() {
        assert_eq!(csum_partial(&[], 0), 0);
        assert_eq!(csum_partial(&[0; 12], 0), 0);
        // 0xffffffff + 1 wraps with an end-around carry to 1.
        assert_eq!(csum_partial(&[1, 0, 0, 0], 0xffff_ffff), 1);
        // A sum congruent to 0 but not all-zero is represented as 0xffffffff.
        assert_eq!(csum_partial(&[0xff; 4], 0), 0xffff_ffff);
        assert_eq!(csum_partial(&[0xfe, 0xff, 0xff, 0xff], 1), 0xffff_ffff);
    }

    #[test]
    fn replace_matches_recompute() {
        // Rewriting an address field and patching the checksum incrementally equals a full
        // recompute.
        let mut hdr = [
            0x45u8, 0x00, 0x00, 0x54, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01, 0x00, 0x00, 10, 0, 0, 1,
            10, 0, 0, 2,
        ];
        let sum = csum_fold(csum_partial(&hdr, 0));
        hdr[10..12].copy_from_slice(&sum.to_le_bytes());
        let old = u32::from_le_bytes(hdr[16..20].try_into().unwrap());
        let new = u32::from_le_bytes([192, 168, 7, 9]);
        hdr[16..20].copy_from_slice(&new.to_le_bytes());
        let patched = csum_replace4(sum, old, new);
        hdr[10..12].fill(0);
        assert_eq!(patched, csum_fold(csum_partial(&hdr, 0)));
        // The same through csum_diff + replace_by_diff.
        let d = csum_diff(&old.to_le_bytes(), &new.to_le_bytes(), 0);
        assert_eq!(csum_replace_by_diff(sum, d), patched);
        // Golden values read from the kernel's bpf_csum_diff (6.18).
        assert_eq!(csum_diff(&[], &[0; 8], 0), 0);
        assert_eq!(csum_diff(&[0; 8], &[], 0), 0);
        assert_eq!(csum_diff(&[0; 8], &[0; 8], 0), 0xffff);
        assert_eq!(csum_diff(&[0xff; 8], &[], 0), 0);
        assert_eq!(csum_diff(&[0xff; 8], &[0xff; 8], 0), 0xffff);
        assert_eq!(csum_diff(&[], &[], 7), 7);
        // And a 16-bit field.
        let p2 = csum_replace2(sum, 0x1234u16.to_be(), 0xabcdu16.to_be());
        let mut h2 = hdr;
        h2[16..20].copy_from_slice(&old.to_le_bytes());
        h2[4..6].copy_from_slice(&[0xab, 0xcd]);
        assert_eq!(p2, csum_fold(csum_partial(&h2, 0)));
    }
}
