//! The value domain of scalar registers: unsigned and signed 64-bit intervals, kept
//! consistent with each other, as the kernel's `umin/umax/smin/smax` bounds (no tnum).
//!
//! Every operation over-approximates: the result interval contains every value the
//! operation can produce from values in the operand intervals. Precision matters only where
//! the kernel needs it: constants (loop counters, helper sizes, offsets) and ranges after
//! masks, shifts and comparisons (array indexes, bounded loops).

/// A set of 64-bit values, described by both an unsigned and a signed interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scalar {
    pub umin: u64,
    pub umax: u64,
    pub smin: i64,
    pub smax: i64,
}

const U32_MAX: u64 = u32::MAX as u64;

impl Scalar {
    pub const UNKNOWN: Scalar = Scalar {
        umin: 0,
        umax: u64::MAX,
        smin: i64::MIN,
        smax: i64::MAX,
    };

    pub fn constant(v: u64) -> Scalar {
        Scalar {
            umin: v,
            umax: v,
            smin: v as i64,
            smax: v as i64,
        }
    }

    /// Any value in `[lo, hi]` (unsigned).
    pub fn unsigned(lo: u64, hi: u64) -> Scalar {
        Scalar {
            umin: lo,
            umax: hi,
            smin: i64::MIN,
            smax: i64::MAX,
        }
        .normalized()
    }

    /// Any value in `[lo, hi]` (signed).
    pub fn signed(lo: i64, hi: i64) -> Scalar {
        Scalar {
            umin: 0,
            umax: u64::MAX,
            smin: lo,
            smax: hi,
        }
        .normalized()
    }

    /// Any value of `bytes` bytes, zero-extended (what a narrow load produces).
    pub fn of_width(bytes: u32) -> Scalar {
        if bytes >= 8 {
            Scalar::UNKNOWN
        } else {
            Scalar::unsigned(0, (1u64 << (bytes * 8)) - 1)
        }
    }

    pub fn as_const(&self) -> Option<u64> {
        (self.umin == self.umax).then_some(self.umin)
    }

    /// Whether every value of `other` is also a value of `self`.
    pub fn contains(&self, other: &Scalar) -> bool {
        self.umin <= other.umin
            && other.umax <= self.umax
            && self.smin <= other.smin
            && other.smax <= self.smax
    }

    pub fn fits_u32(&self) -> bool {
        self.umax <= U32_MAX
    }

    /// Tightens each interval with what the other implies; an interval that crosses the
    /// sign boundary tells nothing to the other view.
    fn normalized(self) -> Scalar {
        // A contradiction is only reachable on an infeasible branch, which callers detect
        // before building values; stay sound by knowing nothing.
        self.normalize().unwrap_or(Scalar::UNKNOWN)
    }

    fn normalize(mut self) -> Option<Scalar> {
        if self.smin >= 0 || self.smax < 0 {
            // Signed interval does not cross zero: it is also an unsigned interval.
            self.umin = self.umin.max(self.smin as u64);
            self.umax = self.umax.min(self.smax as u64);
        }
        if (self.umax as i64) >= 0 || (self.umin as i64) < 0 {
            // Unsigned interval does not cross 2^63: it is also a signed interval.
            self.smin = self.smin.max(self.umin as i64);
            self.smax = self.smax.min(self.umax as i64);
        }
        (self.umin <= self.umax && self.smin <= self.smax).then_some(self)
    }

    /// The low 32 bits, zero-extended, as 32-bit ALU operations see their operands.
    pub fn low32(&self) -> Scalar {
        if self.fits_u32() {
            *self
        } else if let Some(v) = self.as_const() {
            Scalar::constant(v & U32_MAX)
        } else {
            Scalar::unsigned(0, U32_MAX)
        }
    }

    /// The low 32 bits sign-extended to 64 bits.
    pub fn sext32(&self) -> Scalar {
        match self.as_const() {
            Some(v) => Scalar::constant(v as u32 as i32 as i64 as u64),
            None if self.umax <= i32::MAX as u64 => *self,
            None => Scalar::signed(i32::MIN as i64, i32::MAX as i64),
        }
    }

    /// The result of a 32-bit operation computed in 64 bits: zero-extended low half.
    pub fn wrap32(&self) -> Scalar {
        self.low32()
    }

    pub fn add(&self, o: &Scalar) -> Scalar {
        if let (Some(a), Some(b)) = (self.as_const(), o.as_const()) {
            return Scalar::constant(a.wrapping_add(b));
        }
        let mut r = Scalar::UNKNOWN;
        if let (Some(lo), Some(hi)) = (self.umin.checked_add(o.umin), self.umax.checked_add(o.umax))
        {
            r.umin = lo;
            r.umax = hi;
        }
        if let (Some(lo), Some(hi)) = (self.smin.checked_add(o.smin), self.smax.checked_add(o.smax))
        {
            r.smin = lo;
            r.smax = hi;
        }
        r.normalized()
    }

    pub fn sub(&self, o: &Scalar) -> Scalar {
        if let (Some(a), Some(b)) = (self.as_const(), o.as_const()) {
            return Scalar::constant(a.wrapping_sub(b));
        }
        let mut r = Scalar::UNKNOWN;
        if self.umin >= o.umax {
            r.umin = self.umin - o.umax;
            r.umax = self.umax - o.umin;
        }
        if let (Some(lo), Some(hi)) = (self.smin.checked_sub(o.smax), self.smax.checked_sub(o.smin))
        {
            r.smin = lo;
            r.smax = hi;
        }
        r.normalized()
    }

    pub fn mul(&self, o: &Scalar) -> Scalar {
        if let (Some(a), Some(b)) = (self.as_const(), o.as_const()) {
            return Scalar::constant(a.wrapping_mul(b));
        }
        match (self.umin.checked_mul(o.umin), self.umax.checked_mul(o.umax)) {
            (Some(lo), Some(hi)) => Scalar::unsigned(lo, hi),
            _ => Scalar::UNKNOWN,
        }
    }

    pub fn div(&self, o: &Scalar) -> Scalar {
        match (self.as_const(), o.as_const()) {
            (Some(a), Some(b)) => Scalar::constant(a.checked_div(b).unwrap_or(0)),
            (_, Some(b)) if b != 0 => Scalar::unsigned(self.umin / b, self.umax / b),
            // Division by zero yields 0; any other divisor only shrinks the value.
            _ => Scalar::unsigned(0, self.umax),
        }
    }

    pub fn rem(&self, o: &Scalar) -> Scalar {
        match (self.as_const(), o.as_const()) {
            // Modulo by zero leaves the dividend unchanged.
            (Some(a), Some(b)) => Scalar::constant(if b == 0 { a } else { a % b }),
            (_, Some(b)) if b != 0 => Scalar::unsigned(0, self.umax.min(b - 1)),
            _ => Scalar::unsigned(0, self.umax),
        }
    }

    pub fn and(&self, o: &Scalar) -> Scalar {
        if let (Some(a), Some(b)) = (self.as_const(), o.as_const()) {
            return Scalar::constant(a & b);
        }
        Scalar::unsigned(0, self.umax.min(o.umax))
    }

    pub fn or(&self, o: &Scalar) -> Scalar {
        if let (Some(a), Some(b)) = (self.as_const(), o.as_const()) {
            return Scalar::constant(a | b);
        }
        Scalar::unsigned(self.umin.max(o.umin), all_ones_upto(self.umax | o.umax))
    }

    pub fn xor(&self, o: &Scalar) -> Scalar {
        if let (Some(a), Some(b)) = (self.as_const(), o.as_const()) {
            return Scalar::constant(a ^ b);
        }
        Scalar::unsigned(0, all_ones_upto(self.umax | o.umax))
    }

    /// Left shift; `width` is 32 or 64 (the shift amount is masked as the ISA does).
    pub fn lsh(&self, o: &Scalar, width: u32) -> Scalar {
        let mask = u64::from(width - 1);
        match o.as_const() {
            Some(s) => {
                let s = (s & mask) as u32;
                if let Some(v) = self.as_const() {
                    return Scalar::constant(v << s);
                }
                if s == 0 {
                    return *self;
                }
                if self.umax.leading_zeros() >= s {
                    Scalar::unsigned(self.umin << s, self.umax << s)
                } else {
                    Scalar::UNKNOWN
                }
            }
            None => Scalar::UNKNOWN,
        }
    }

    pub fn rsh(&self, o: &Scalar, width: u32) -> Scalar {
        let mask = u64::from(width - 1);
        match o.as_const() {
            Some(s) => {
                let s = (s & mask) as u32;
                Scalar::unsigned(self.umin >> s, self.umax >> s)
            }
            None => Scalar::unsigned(0, self.umax),
        }
    }

    /// Arithmetic right shift in 64 bits.
    pub fn arsh(&self, o: &Scalar) -> Scalar {
        match o.as_const() {
            Some(s) => {
                let s = (s & 63) as u32;
                Scalar::signed(self.smin >> s, self.smax >> s)
            }
            None => Scalar::signed(self.smin.min(0), self.smax.max(0)),
        }
    }

    pub fn neg(&self) -> Scalar {
        match self.as_const() {
            Some(v) => Scalar::constant(v.wrapping_neg()),
            None => match (self.smax.checked_neg(), self.smin.checked_neg()) {
                (Some(lo), Some(hi)) => Scalar::signed(lo, hi),
                _ => Scalar::UNKNOWN,
            },
        }
    }

    /// Sign extension of the low `bits` bits (movsx, ldsx).
    pub fn sext(&self, bits: u32) -> Scalar {
        let shift = 64 - bits;
        match self.as_const() {
            Some(v) => Scalar::constant((((v << shift) as i64) >> shift) as u64),
            None => {
                let half = 1i64 << (bits - 1);
                if self.umax < half as u64 {
                    *self
                } else {
                    Scalar::signed(-half, half - 1)
                }
            }
        }
    }

    /// The meet: values in both, or `None` if there are none.
    pub fn intersect(&self, o: &Scalar) -> Option<Scalar> {
        let r = Scalar {
            umin: self.umin.max(o.umin),
            umax: self.umax.min(o.umax),
            smin: self.smin.max(o.smin),
            smax: self.smax.min(o.smax),
        };
        if r.umin > r.umax || r.smin > r.smax {
            return None;
        }
        r.normalize()
    }
}

/// The smallest `2^k - 1` at or above `v`.
fn all_ones_upto(v: u64) -> u64 {
    if v == 0 {
        0
    } else {
        u64::MAX >> v.leading_zeros()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_bound_the_value() {
        let x = Scalar::UNKNOWN.and(&Scalar::constant(0xff));
        assert_eq!((x.umin, x.umax), (0, 0xff));
        assert_eq!((x.smin, x.smax), (0, 0xff));
    }

    #[test]
    fn add_overflow_loses_unsigned_bounds() {
        let x = Scalar::unsigned(0, u64::MAX - 1).add(&Scalar::constant(5));
        assert_eq!(x.umax, u64::MAX);
        let y = Scalar::unsigned(1, 10).add(&Scalar::constant(5));
        assert_eq!((y.umin, y.umax), (6, 15));
    }

    #[test]
    fn shifts_and_division_are_kernel_defined() {
        assert_eq!(
            Scalar::constant(1).lsh(&Scalar::constant(65), 64),
            Scalar::constant(2)
        );
        assert_eq!(
            Scalar::constant(7).div(&Scalar::constant(0)),
            Scalar::constant(0)
        );
        assert_eq!(
            Scalar::constant(7).rem(&Scalar::constant(0)),
            Scalar::constant(7)
        );
    }

    #[test]
    fn sign_extension() {
        assert_eq!(
            Scalar::constant(0x80).sext(8),
            Scalar::constant(0xffff_ffff_ffff_ff80)
        );
        let s = Scalar::of_width(2).sext(16);
        assert_eq!((s.smin, s.smax), (-32768, 32767));
    }

    #[test]
    fn intersect_detects_empty() {
        assert!(Scalar::unsigned(0, 5)
            .intersect(&Scalar::unsigned(6, 9))
            .is_none());
        assert_eq!(
            Scalar::unsigned(0, 9).intersect(&Scalar::unsigned(5, 20)),
            Some(Scalar::unsigned(5, 9))
        );
    }
}
