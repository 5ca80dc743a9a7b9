//! Jumps: which sides of a conditional jump are possible, and what each side learns
//! (scalar bounds, packet ranges proven against `data_end`, NULL checks).

use super::exec::{fail, Explorer, Path, Step};
use super::scalar::Scalar;
use super::state::{PktPtr, Reg, State};
use super::VerifyError;
use crate::insn::*;

type Res<T> = Result<T, VerifyError>;

/// The kernel's `MAX_PACKET_OFF`: packet pointers further out never get a range.
const MAX_PACKET_OFF: i64 = 0xffff;

/// Refined operands on one side of a comparison, or `None` if that side is impossible.
type Side = Option<(Scalar, Scalar)>;

impl Explorer<'_> {
    pub fn jump(&mut self, path: &mut Path, insn: Insn) -> Res<Step> {
        let pc = path.pc;
        let op = insn.code & 0xf0;
        match op {
            BPF_JA => {
                let delta = if insn.class() == BPF_JMP {
                    i64::from(insn.off)
                } else {
                    i64::from(insn.imm)
                };
                return Ok(Step::Next((pc as i64 + delta + 1) as usize));
            }
            BPF_CALL => return self.call(path, insn),
            BPF_EXIT => return self.exit(path),
            _ => {}
        }
        let jmp32 = insn.class() == BPF_JMP32;
        let target = (pc as i64 + i64::from(insn.off) + 1) as usize;
        let dst = self.read(&path.state, insn.dst, pc)?;
        let src = if insn.code & BPF_X == 0 {
            let imm = if jmp32 {
                u64::from(insn.imm as u32)
            } else {
                insn.imm as i64 as u64
            };
            Reg::constant(imm)
        } else {
            self.read(&path.state, insn.src, pc)?
        };
        self.jumps += 1;
        let (taken, fall) = self.outcomes(&path.state, insn, dst, src, jmp32);
        match (taken, fall) {
            (Some(t), Some(f)) => {
                self.push_branch(path, target, t)?;
                path.state = f;
                Ok(Step::Next(pc + 1))
            }
            (Some(t), None) => {
                path.state = t;
                Ok(Step::Next(target))
            }
            (None, Some(f)) => {
                path.state = f;
                Ok(Step::Next(pc + 1))
            }
            (None, None) => Err(fail(pc, "no feasible branch (verifier bug)")),
        }
    }

    /// The state on the taken and the fall-through side, `None` where impossible.
    fn outcomes(
        &mut self,
        st: &State,
        insn: Insn,
        dst: Reg,
        src: Reg,
        jmp32: bool,
    ) -> (Option<State>, Option<State>) {
        let op = insn.code & 0xf0;
        let both = || (Some(st.clone()), Some(st.clone()));
        match (dst, src) {
            (Reg::Scalar(a), Reg::Scalar(b)) => {
                let (t, f) = compare(op, a, b, jmp32);
                let apply = |side: Side| {
                    side.map(|(a2, b2)| {
                        let mut s = st.clone();
                        s.cur_mut().regs[insn.dst as usize] = Reg::Scalar(a2);
                        if insn.code & BPF_X != 0 {
                            s.cur_mut().regs[insn.src as usize] = Reg::Scalar(b2);
                        }
                        s
                    })
                };
                (apply(t), apply(f))
            }
            _ if jmp32 => both(),
            (Reg::Packet(p), Reg::PacketEnd) => pkt_compare(st, op, p, false, false),
            (Reg::PacketEnd, Reg::Packet(p)) => pkt_compare(st, op, p, true, false),
            (Reg::PacketMeta(p), Reg::Packet(_)) => pkt_compare(st, op, p, false, true),
            (Reg::Packet(_), Reg::PacketMeta(p)) => pkt_compare(st, op, p, true, true),
            (ptr, Reg::Scalar(z)) | (Reg::Scalar(z), ptr)
                if z.as_const() == Some(0) && matches!(op, BPF_JEQ | BPF_JNE) =>
            {
                null_compare(st, op, ptr)
            }
            _ => both(),
        }
    }
}

/// `ptr == 0` / `ptr != 0`: maybe-NULL pointers learn which they are; others are never NULL.
fn null_compare(st: &State, op: u8, ptr: Reg) -> (Option<State>, Option<State>) {
    let (null_side, nonnull_side) = match ptr {
        Reg::Mem {
            null_id: Some(id),
            ref_id,
            ..
        } => {
            let mut null = st.clone();
            null.for_each_reg(|r| {
                if matches!(r, Reg::Mem { null_id: Some(i), .. } if *i == id) {
                    *r = Reg::constant(0);
                }
            });
            if let Some(rid) = ref_id {
                // A reservation that failed holds nothing to release.
                null.refs.retain(|(i, _)| *i != rid);
            }
            let mut nonnull = st.clone();
            nonnull.for_each_reg(|r| {
                if let Reg::Mem { null_id, .. } = r {
                    if *null_id == Some(id) {
                        *null_id = None;
                    }
                }
            });
            (Some(null), Some(nonnull))
        }
        Reg::Sock | Reg::RawMem => (Some(st.clone()), Some(st.clone())),
        _ => (None, Some(st.clone())),
    };
    if op == BPF_JEQ {
        (null_side, nonnull_side)
    } else {
        (nonnull_side, null_side)
    }
}

/// `pkt <op> pkt_end` (or meta against data): the side where `pkt <= end` holds proves
/// `p.off` bytes readable for every pointer sharing `p`'s id.
fn pkt_compare(
    st: &State,
    op: u8,
    p: PktPtr,
    end_is_dst: bool,
    meta: bool,
) -> (Option<State>, Option<State>) {
    // Which side of the jump has `pkt < end` or `pkt <= end`?
    let good_taken = match (op, end_is_dst) {
        (BPF_JGT | BPF_JGE, false) => false,
        (BPF_JLT | BPF_JLE, false) => true,
        (BPF_JGT | BPF_JGE, true) => true,
        (BPF_JLT | BPF_JLE, true) => false,
        _ => return (Some(st.clone()), Some(st.clone())),
    };
    let mut good = st.clone();
    if p.off >= 0 && p.off <= MAX_PACKET_OFF && p.var.umax <= MAX_PACKET_OFF as u64 {
        good.for_each_reg(|r| match r {
            Reg::Packet(q) if !meta && q.id == p.id => q.range = q.range.max(p.off),
            Reg::PacketMeta(q) if meta && q.id == p.id => q.range = q.range.max(p.off),
            _ => {}
        });
    }
    if good_taken {
        (Some(good), Some(st.clone()))
    } else {
        (Some(st.clone()), Some(good))
    }
}

/// Both sides of a scalar comparison, refined.
fn compare(op: u8, a: Scalar, b: Scalar, jmp32: bool) -> (Side, Side) {
    if jmp32 {
        let signed = matches!(op, BPF_JSGT | BPF_JSGE | BPF_JSLT | BPF_JSLE);
        let exact = if signed {
            let nonneg = |s: &Scalar| s.umax <= i32::MAX as u64;
            nonneg(&a) && nonneg(&b)
        } else {
            a.fits_u32() && b.fits_u32()
        };
        if exact {
            return compare64(op, a, b);
        }
        if signed && a.fits_u32() {
            if let Some(k) = b.as_const() {
                return (
                    signed32_side(op, a, k as u32 as i32, true).map(|a2| (a2, b)),
                    signed32_side(op, a, k as u32 as i32, false).map(|a2| (a2, b)),
                );
            }
        }
        // Decide on the 32-bit views; learn nothing about the 64-bit registers.
        let (va, vb) = if signed {
            (a.sext32(), b.sext32())
        } else {
            (a.low32(), b.low32())
        };
        let (t, f) = compare64(op, va, vb);
        let keep = |s: Side| s.map(|_| (a, b));
        return (keep(t), keep(f));
    }
    compare64(op, a, b)
}

/// `s32(a) <op> k` (or its negation) for a value `a` known to fit in 32 bits: the signed
/// range that satisfies it, mapped back to one or two unsigned intervals and met with `a`.
/// Two surviving pieces keep their hull. `None`: impossible.
fn signed32_side(op: u8, a: Scalar, k: i32, holds: bool) -> Option<Scalar> {
    let (min, max) = (i32::MIN as i64, i32::MAX as i64);
    let k = i64::from(k);
    let (lo, hi) = match (op, holds) {
        (BPF_JSGT, true) | (BPF_JSLE, false) => (k + 1, max),
        (BPF_JSGE, true) | (BPF_JSLT, false) => (k, max),
        (BPF_JSLT, true) | (BPF_JSGE, false) => (min, k - 1),
        (BPF_JSLE, true) | (BPF_JSGT, false) => (min, k),
        _ => return Some(a),
    };
    if lo > hi {
        return None;
    }
    let to_u32 = |v: i64| v as i32 as u32 as u64;
    let pieces: Vec<(u64, u64)> = if lo >= 0 || hi < 0 {
        vec![(to_u32(lo), to_u32(hi))]
    } else {
        vec![(0, to_u32(hi)), (to_u32(lo), u64::from(u32::MAX))]
    };
    let parts: Vec<Scalar> = pieces
        .into_iter()
        .filter_map(|(l, h)| a.intersect(&Scalar::unsigned(l, h)))
        .collect();
    match parts.as_slice() {
        [] => None,
        [one] => Some(*one),
        [x, y, ..] => a.intersect(&Scalar::unsigned(x.umin.min(y.umin), x.umax.max(y.umax))),
    }
}

fn compare64(op: u8, a: Scalar, b: Scalar) -> (Side, Side) {
    match op {
        BPF_JEQ => (eq(a, b), ne(a, b)),
        BPF_JNE => (ne(a, b), eq(a, b)),
        BPF_JGT => (swap(lt(b, a, false)), le(a, b, false)),
        BPF_JGE => (swap(le(b, a, false)), lt(a, b, false)),
        BPF_JLT => (lt(a, b, false), swap(le(b, a, false))),
        BPF_JLE => (le(a, b, false), swap(lt(b, a, false))),
        BPF_JSGT => (swap(lt(b, a, true)), le(a, b, true)),
        BPF_JSGE => (swap(le(b, a, true)), lt(a, b, true)),
        BPF_JSLT => (lt(a, b, true), swap(le(b, a, true))),
        BPF_JSLE => (le(a, b, true), swap(lt(b, a, true))),
        BPF_JSET => jset(a, b),
        _ => (Some((a, b)), Some((a, b))),
    }
}

fn swap(s: Side) -> Side {
    s.map(|(x, y)| (y, x))
}

fn eq(a: Scalar, b: Scalar) -> Side {
    let both = a.intersect(&b)?;
    Some((both, both))
}

fn ne(a: Scalar, b: Scalar) -> Side {
    match (a.as_const(), b.as_const()) {
        (Some(x), Some(y)) if x == y => None,
        (_, Some(c)) => Some((exclude(a, c)?, b)),
        (Some(c), _) => Some((a, exclude(b, c)?)),
        _ => Some((a, b)),
    }
}

/// `s` without the value `c`, where that trims an end of its unsigned interval.
fn exclude(s: Scalar, c: u64) -> Option<Scalar> {
    if s.umin == c && s.umin < s.umax {
        s.intersect(&Scalar::unsigned(c + 1, u64::MAX))
    } else if s.umax == c && s.umin < s.umax {
        s.intersect(&Scalar::unsigned(0, c - 1))
    } else {
        Some(s)
    }
}

/// `a < b`.
fn lt(a: Scalar, b: Scalar, signed: bool) -> Side {
    if signed {
        if a.smin >= b.smax {
            return None;
        }
        Some((
            a.intersect(&Scalar::signed(i64::MIN, b.smax - 1))?,
            b.intersect(&Scalar::signed(a.smin + 1, i64::MAX))?,
        ))
    } else {
        if a.umin >= b.umax {
            return None;
        }
        Some((
            a.intersect(&Scalar::unsigned(0, b.umax - 1))?,
            b.intersect(&Scalar::unsigned(a.umin + 1, u64::MAX))?,
        ))
    }
}

/// `a <= b`.
fn le(a: Scalar, b: Scalar, signed: bool) -> Side {
    if signed {
        if a.smin > b.smax {
            return None;
        }
        Some((
            a.intersect(&Scalar::signed(i64::MIN, b.smax))?,
            b.intersect(&Scalar::signed(a.smin, i64::MAX))?,
        ))
    } else {
        if a.umin > b.umax {
            return None;
        }
        Some((
            a.intersect(&Scalar::unsigned(0, b.umax))?,
            b.intersect(&Scalar::unsigned(a.umin, u64::MAX))?,
        ))
    }
}

/// `a & b != 0`: decided only when it is certain.
fn jset(a: Scalar, b: Scalar) -> (Side, Side) {
    match (a.as_const(), b.as_const()) {
        (Some(x), Some(y)) => {
            if x & y != 0 {
                (Some((a, b)), None)
            } else {
                (None, Some((a, b)))
            }
        }
        _ if a.umax == 0 || b.umax == 0 => (None, Some((a, b))),
        _ => (Some((a, b)), Some((a, b))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_comparisons_decide() {
        let (t, f) = compare64(BPF_JLT, Scalar::constant(3), Scalar::constant(10));
        assert!(t.is_some() && f.is_none());
        let (t, f) = compare64(BPF_JSGT, Scalar::constant(u64::MAX), Scalar::constant(0));
        assert!(t.is_none() && f.is_some(), "-1 s> 0 is false");
    }

    #[test]
    fn ranges_refine_both_sides() {
        let (t, f) = compare64(BPF_JGT, Scalar::of_width(4), Scalar::constant(15));
        let (ta, _) = t.expect("possible");
        let (fa, _) = f.expect("possible");
        assert_eq!((ta.umin, ta.umax), (16, u32::MAX as u64));
        assert_eq!((fa.umin, fa.umax), (0, 15));
    }

    #[test]
    fn jmp32_signed_checks_bound_a_u32() {
        let x = Scalar::of_width(4);
        // if (s32)x < 0 goto out; — the fall-through knows x < 2^31.
        let (_, f) = compare(BPF_JSLT, x, Scalar::constant(0), true);
        let (f, _) = f.expect("possible");
        assert_eq!((f.umin, f.umax), (0, i32::MAX as u64));
        // then: if (s32)x > 100 goto out; — the fall-through knows x <= 100.
        let (_, f2) = compare(BPF_JSGT, f, Scalar::constant(100), true);
        assert_eq!(f2.expect("possible").0.umax, 100);
        // (s32)x > -1 on an unknown u32: [0, 2^31).
        let (t, _) = compare(BPF_JSGT, x, Scalar::constant(u32::MAX as u64), true);
        assert_eq!(t.expect("possible").0.umax, i32::MAX as u64);
    }

    #[test]
    fn jmp32_on_wide_values_does_not_refine() {
        let wide = Scalar::UNKNOWN;
        let (t, f) = compare(BPF_JLT, wide, Scalar::constant(4), true);
        assert_eq!(t, Some((wide, Scalar::constant(4))));
        assert_eq!(f, Some((wide, Scalar::constant(4))));
    }
}
