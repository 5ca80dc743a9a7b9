//! ALU instructions: scalar bounds through each operation, and the kernel's rules for
//! arithmetic on pointers (which kinds may move, by how much, with which operators).

use super::exec::{fail, Explorer, MAX_VAR_OFF};
use super::scalar::Scalar;
use super::state::{PktPtr, Reg, State};
use super::VerifyError;
use crate::insn::*;

type Res<T> = Result<T, VerifyError>;

impl Explorer<'_> {
    pub fn alu(&mut self, st: &mut State, insn: Insn, pc: usize) -> Res<()> {
        let alu64 = insn.class() == BPF_ALU64;
        let op = insn.code & 0xf0;
        let k = insn.code & BPF_X == 0;
        let imm = if alu64 {
            Scalar::constant(insn.imm as i64 as u64)
        } else {
            Scalar::constant(u64::from(insn.imm as u32))
        };
        let src = if k || op == BPF_END || op == BPF_NEG {
            Reg::Scalar(imm)
        } else {
            self.read(st, insn.src, pc)?
        };
        if op == BPF_MOV {
            let v = match (src, alu64, insn.off) {
                (Reg::Scalar(s), true, 0) => Reg::Scalar(s),
                (Reg::Scalar(s), true, bits) => Reg::Scalar(s.sext(bits as u32)),
                (Reg::Scalar(s), false, 0) => Reg::Scalar(s.low32()),
                (Reg::Scalar(s), false, bits) => Reg::Scalar(s.sext(bits as u32).low32()),
                (ptr, true, 0) => ptr,
                // A partial copy of a pointer is an unknown number to root.
                (_, true, bits) => Reg::Scalar(Scalar::of_width(bits as u32 / 8).sext(bits as u32)),
                (_, false, _) => Reg::Scalar(Scalar::of_width(4)),
            };
            return self.write(st, insn.dst, v, pc);
        }
        let dst = self.read(st, insn.dst, pc)?;
        let v = match (dst, src) {
            (Reg::Scalar(a), Reg::Scalar(b)) => Reg::Scalar(scalar_op(insn, a, b, alu64)),
            _ => self.pointer_alu(st, insn, dst, src, alu64, pc)?,
        };
        self.write(st, insn.dst, v, pc)
    }

    fn pointer_alu(
        &mut self,
        _st: &State,
        insn: Insn,
        dst: Reg,
        src: Reg,
        alu64: bool,
        pc: usize,
    ) -> Res<Reg> {
        let op = insn.code & 0xf0;
        let d = insn.dst;
        if op == BPF_NEG || op == BPF_END {
            // Root may turn a pointer into a number.
            return Ok(Reg::unknown());
        }
        if !alu64 {
            if op == BPF_SUB {
                return Ok(Reg::Scalar(Scalar::of_width(4)));
            }
            return Err(fail(
                pc,
                format!("R{d} 32-bit pointer arithmetic prohibited"),
            ));
        }
        let (ptr, off, ptr_is_dst) = match (dst, src) {
            (Reg::Scalar(_), Reg::Scalar(_)) => unreachable!("handled by the caller"),
            (p, Reg::Scalar(s)) => (p, s, true),
            (Reg::Scalar(s), p) => (p, s, false),
            (_, _) => {
                if op == BPF_SUB {
                    return Ok(Reg::unknown());
                }
                return Err(fail(
                    pc,
                    format!("R{d} pointer {} pointer prohibited", op_name(op)),
                ));
            }
        };
        match op {
            BPF_ADD => {}
            BPF_SUB if ptr_is_dst => {}
            BPF_SUB => {
                return Err(fail(
                    pc,
                    format!("R{d} tried to subtract pointer from scalar"),
                ))
            }
            BPF_AND | BPF_OR | BPF_XOR => {
                return Err(fail(
                    pc,
                    format!(
                        "R{d} bitwise operator {} on pointer prohibited",
                        op_name(op)
                    ),
                ))
            }
            _ => {
                return Err(fail(
                    pc,
                    format!(
                        "R{d} pointer arithmetic with {} operator prohibited",
                        op_name(op)
                    ),
                ))
            }
        }
        let delta = if op == BPF_SUB { off.neg() } else { off };
        let ty = ptr.type_name();
        match ptr {
            Reg::MapPtr(_) | Reg::PacketEnd | Reg::Sock | Reg::Func(_) => {
                return Err(fail(
                    pc,
                    format!("R{d} pointer arithmetic on {ty} prohibited"),
                ))
            }
            Reg::Mem {
                null_id: Some(_), ..
            } => {
                return Err(fail(
                    pc,
                    format!("R{d} pointer arithmetic on {ty} prohibited, null-check it first"),
                ))
            }
            _ => {}
        }
        if let Some(c) = delta.as_const() {
            let c = c as i64;
            if !(-MAX_VAR_OFF + 1..MAX_VAR_OFF).contains(&c) {
                return Err(fail(
                    pc,
                    format!("math between {ty} pointer and {c} is not allowed"),
                ));
            }
        } else if delta.smin == i64::MIN {
            return Err(fail(
                pc,
                format!("math between {ty} pointer and register with unbounded min value is not allowed"),
            ));
        } else if delta.smin <= -MAX_VAR_OFF || delta.smin >= MAX_VAR_OFF {
            return Err(fail(
                pc,
                format!("value {} makes {ty} pointer be out of bounds", delta.smin),
            ));
        }
        let konst = delta.as_const().map(|c| c as i64);
        let add_var = |var: Scalar| var.add(&delta);
        let out = match ptr {
            Reg::Ctx { off, var } => match konst {
                Some(c) => Reg::Ctx { off: off + c, var },
                None => Reg::Ctx { off, var: true },
            },
            Reg::Stack { frame, off, var } => match konst {
                Some(c) => Reg::Stack {
                    frame,
                    off: off + c,
                    var,
                },
                None => Reg::Stack {
                    frame,
                    off,
                    var: add_var(var),
                },
            },
            Reg::Packet(p) | Reg::PacketMeta(p) => {
                let q = match konst {
                    Some(c) => PktPtr {
                        off: p.off + c,
                        ..p
                    },
                    None => PktPtr {
                        id: self.fresh_id(),
                        var: add_var(p.var),
                        range: 0,
                        ..p
                    },
                };
                if matches!(ptr, Reg::Packet(_)) {
                    Reg::Packet(q)
                } else {
                    Reg::PacketMeta(q)
                }
            }
            Reg::Mem {
                kind,
                off,
                var,
                null_id,
                ref_id,
            } => match konst {
                Some(c) => Reg::Mem {
                    kind,
                    off: off + c,
                    var,
                    null_id,
                    ref_id,
                },
                None => Reg::Mem {
                    kind,
                    off,
                    var: add_var(var),
                    null_id,
                    ref_id,
                },
            },
            other => other,
        };
        let fixed = match out {
            Reg::Ctx { off, .. } | Reg::Stack { off, .. } | Reg::Mem { off, .. } => off,
            Reg::Packet(p) | Reg::PacketMeta(p) => p.off,
            _ => 0,
        };
        if !(-MAX_VAR_OFF + 1..MAX_VAR_OFF).contains(&fixed) {
            return Err(fail(
                pc,
                format!("{ty} pointer offset {fixed} is not allowed"),
            ));
        }
        Ok(out)
    }
}

pub fn op_name(op: u8) -> &'static str {
    match op {
        BPF_ADD => "+=",
        BPF_SUB => "-=",
        BPF_MUL => "*=",
        BPF_DIV => "/=",
        BPF_OR => "|=",
        BPF_AND => "&=",
        BPF_LSH => "<<=",
        BPF_RSH => ">>=",
        BPF_MOD => "%=",
        BPF_XOR => "^=",
        BPF_ARSH => "s>>=",
        _ => "?",
    }
}

/// ALU on two scalars, 64- or 32-bit.
fn scalar_op(insn: Insn, a: Scalar, b: Scalar, alu64: bool) -> Scalar {
    let op = insn.code & 0xf0;
    let signed = insn.off == 1 && matches!(op, BPF_DIV | BPF_MOD);
    if !alu64 {
        let (a, b) = (a.low32(), b.low32());
        let r = match op {
            BPF_END => return end_op(insn, a),
            BPF_ARSH => match (a.as_const(), b.as_const()) {
                (Some(x), Some(s)) => {
                    Scalar::constant(u64::from(((x as u32 as i32) >> (s & 31)) as u32))
                }
                _ => Scalar::of_width(4),
            },
            BPF_NEG => match a.as_const() {
                Some(x) => Scalar::constant(u64::from((x as u32).wrapping_neg())),
                None => Scalar::of_width(4),
            },
            _ if signed => match (a.as_const(), b.as_const()) {
                (Some(x), Some(y)) => {
                    Scalar::constant(u64::from(sdivmod32(op, x as i32, y as i32) as u32))
                }
                _ => Scalar::of_width(4),
            },
            _ => common_op(op, a, b, 32),
        };
        return r.wrap32();
    }
    match op {
        BPF_END => end_op(insn, a),
        BPF_ARSH => a.arsh(&b),
        BPF_NEG => a.neg(),
        _ if signed => match (a.as_const(), b.as_const()) {
            (Some(x), Some(y)) => Scalar::constant(sdivmod64(op, x as i64, y as i64) as u64),
            _ => Scalar::UNKNOWN,
        },
        _ => common_op(op, a, b, 64),
    }
}

fn common_op(op: u8, a: Scalar, b: Scalar, width: u32) -> Scalar {
    match op {
        BPF_ADD => a.add(&b),
        BPF_SUB => a.sub(&b),
        BPF_MUL => a.mul(&b),
        BPF_DIV => a.div(&b),
        BPF_MOD => a.rem(&b),
        BPF_OR => a.or(&b),
        BPF_AND => a.and(&b),
        BPF_XOR => a.xor(&b),
        BPF_LSH => a.lsh(&b, width),
        BPF_RSH => a.rsh(&b, width),
        _ => Scalar::UNKNOWN,
    }
}

/// Kernel semantics: x / 0 = 0, x % 0 = x, INT_MIN / -1 = INT_MIN, INT_MIN % -1 = 0.
fn sdivmod64(op: u8, x: i64, y: i64) -> i64 {
    match (op, y) {
        (BPF_DIV, 0) => 0,
        (_, 0) => x,
        (BPF_DIV, _) => x.wrapping_div(y),
        _ => x.wrapping_rem(y),
    }
}

fn sdivmod32(op: u8, x: i32, y: i32) -> i32 {
    match (op, y) {
        (BPF_DIV, 0) => 0,
        (_, 0) => x,
        (BPF_DIV, _) => x.wrapping_div(y),
        _ => x.wrapping_rem(y),
    }
}

/// Byte swaps: to_le is a truncation on this little-endian ISA, to_be and bswap swap.
fn end_op(insn: Insn, a: Scalar) -> Scalar {
    let bits = insn.imm as u32;
    let swap = insn.class() == BPF_ALU64 || insn.code & BPF_X != 0;
    match a.as_const() {
        Some(v) => Scalar::constant(match (bits, swap) {
            (16, false) => v & 0xffff,
            (32, false) => v & 0xffff_ffff,
            (16, true) => u64::from((v as u16).swap_bytes()),
            (32, true) => u64::from((v as u32).swap_bytes()),
            (_, false) => v,
            (_, true) => v.swap_bytes(),
        }),
        None if bits == 64 => Scalar::UNKNOWN,
        None if !swap && a.umax < 1 << bits => a,
        None => Scalar::of_width(bits / 8),
    }
}
