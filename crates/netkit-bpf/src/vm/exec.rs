//! The dispatch loop, with the kernel's arithmetic semantics (kernel/bpf/core.c
//! `___bpf_prog_run` plus the verifier's div/mod-by-zero patching): division by zero yields 0,
//! modulo by zero leaves the destination unchanged (zero-extended for 32-bit operations),
//! shift amounts are masked to the operand width, 32-bit results are zero-extended.

use super::decode::{Alu, Cond, Endian, Op};
use super::{Abort, AbortReason, Machine, Program, MAX_FRAMES, MAX_TAIL_CALLS};
use crate::helpers;
use crate::mem::{kind, make_ptr};

/// One ALU operation at one width: `$u`/`$s` are the unsigned and signed operand types and
/// `$shift_mask` the shift-amount mask (63 or 31). The 64-bit and 32-bit operations differ
/// only in those, so one body serves both and cannot drift apart. `MovSx` is left to the
/// caller: the widths it accepts differ.
macro_rules! alu_op {
    ($op:expr, $a:expr, $b:expr, $u:ty, $s:ty, $shift_mask:expr, $mov_sx:expr) => {{
        let (a, b): ($u, $u) = ($a, $b);
        match $op {
            Alu::Add => a.wrapping_add(b),
            Alu::Sub => a.wrapping_sub(b),
            Alu::Mul => a.wrapping_mul(b),
            Alu::Div => a.checked_div(b).unwrap_or(0),
            Alu::SDiv => {
                if b == 0 {
                    0
                } else {
                    (a as $s).wrapping_div(b as $s) as $u
                }
            }
            Alu::Mod => a.checked_rem(b).unwrap_or(a),
            Alu::SMod => {
                if b == 0 {
                    a
                } else {
                    (a as $s).wrapping_rem(b as $s) as $u
                }
            }
            Alu::Or => a | b,
            Alu::And => a & b,
            Alu::Xor => a ^ b,
            Alu::Lsh => a << (b & $shift_mask),
            Alu::Rsh => a >> (b & $shift_mask),
            Alu::Arsh => ((a as $s) >> (b & $shift_mask)) as $u,
            Alu::Mov => b,
            Alu::MovSx(bits) => $mov_sx(bits, b),
        }
    }};
}

#[inline(always)]
pub(crate) fn alu64(op: Alu, a: u64, b: u64) -> u64 {
    alu_op!(op, a, b, u64, i64, 63, |bits, b: u64| match bits {
        8 => b as i8 as i64 as u64,
        16 => b as i16 as i64 as u64,
        _ => b as i32 as i64 as u64,
    })
}

#[inline(always)]
pub(crate) fn alu32(op: Alu, a: u32, b: u32) -> u64 {
    let r = alu_op!(op, a, b, u32, i32, 31, |bits, b: u32| match bits {
        8 => b as i8 as i32 as u32,
        _ => b as i16 as i32 as u32,
    });
    u64::from(r)
}

/// One jump condition at one width (`$u` unsigned, `$s` signed): shared by the 64-bit and
/// 32-bit jumps for the same reason as `alu_op`.
macro_rules! cond_op {
    ($c:expr, $a:expr, $b:expr, $u:ty, $s:ty) => {{
        let (a, b): ($u, $u) = ($a, $b);
        match $c {
            Cond::Eq => a == b,
            Cond::Ne => a != b,
            Cond::Gt => a > b,
            Cond::Ge => a >= b,
            Cond::Lt => a < b,
            Cond::Le => a <= b,
            Cond::Set => a & b != 0,
            Cond::SGt => (a as $s) > (b as $s),
            Cond::SGe => (a as $s) >= (b as $s),
            Cond::SLt => (a as $s) < (b as $s),
            Cond::SLe => (a as $s) <= (b as $s),
        }
    }};
}

#[inline(always)]
pub(crate) fn cond64(c: Cond, a: u64, b: u64) -> bool {
    cond_op!(c, a, b, u64, i64)
}

#[inline(always)]
pub(crate) fn cond32(c: Cond, a: u32, b: u32) -> bool {
    cond_op!(c, a, b, u32, i32)
}

pub(crate) fn endian(how: Endian, bits: u8, v: u64) -> u64 {
    match (how, bits) {
        (Endian::ToLe, 16) => v & 0xffff,
        (Endian::ToLe, 32) => v & 0xffff_ffff,
        (Endian::ToLe, _) => v,
        (_, 16) => u64::from((v as u16).swap_bytes()),
        (_, 32) => u64::from((v as u32).swap_bytes()),
        (_, _) => v.swap_bytes(),
    }
}

fn sign_extend(v: u64, size: u8) -> u64 {
    match size {
        1 => v as i8 as i64 as u64,
        2 => v as i16 as i64 as u64,
        _ => v as i32 as i64 as u64,
    }
}

/// A caller's registers saved across a BPF-to-BPF call.
#[derive(Clone, Copy, Default)]
pub(crate) struct Saved {
    ret: u32,
    callee_saved: [u64; 4],
    fp: u64,
}

/// Runs `prog` from instruction `entry` in stack frame `frame` with r1..r5 = `args` until the
/// entry frame exits. Used for the program itself, tail-call targets and callbacks.
pub(crate) fn exec(
    prog: &Program,
    m: &mut Machine,
    entry: usize,
    frame: usize,
    args: [u64; 5],
) -> Result<u64, Abort> {
    let abort = |reason: AbortReason, insn: usize| Abort { reason, insn };
    let ops: &[Op] = &prog.ops;
    // 16 slots so that indexing by a 4-bit register number needs no bounds check.
    let mut r = [0u64; 16];
    r[1..6].copy_from_slice(&args);
    r[10] = m.enter_frame(frame).map_err(|e| abort(e, entry))?;
    // Callers' registers are pushed on the run's scratch stack (no per-call initialisation);
    // `depth` counts this exec's entries on it.
    let mut depth = 0usize;
    let mut pc = entry;
    // The budget lives in a register while this loop runs; it is written back before
    // anything that runs more instructions (helpers with callbacks, tail calls) and on return.
    let mut budget = m.budget;
    loop {
        let Some(&op) = ops.get(pc) else {
            return Err(abort(AbortReason::FellOff, pc));
        };
        if budget == 0 {
            return Err(abort(AbortReason::Budget, pc));
        }
        budget -= 1;
        let here = pc;
        pc += 1;
        match op {
            Op::Mov64K { dst, imm } => r[(dst & 15) as usize] = imm as i64 as u64,
            Op::Mov64X { dst, src } => r[(dst & 15) as usize] = r[(src & 15) as usize],
            Op::Add64K { dst, imm } => {
                let d = (dst & 15) as usize;
                r[d] = r[d].wrapping_add(imm as i64 as u64);
            }
            Op::Add64X { dst, src } => {
                let d = (dst & 15) as usize;
                r[d] = r[d].wrapping_add(r[(src & 15) as usize]);
            }
            Op::And64K { dst, imm } => r[(dst & 15) as usize] &= imm as i64 as u64,
            Op::Lsh64K { dst, imm } => r[(dst & 15) as usize] <<= imm as u32 & 63,
            Op::Rsh64K { dst, imm } => r[(dst & 15) as usize] >>= imm as u32 & 63,
            Op::Mov32K { dst, imm } => r[(dst & 15) as usize] = u64::from(imm as u32),
            Op::Mov32X { dst, src } => {
                r[(dst & 15) as usize] = u64::from(r[(src & 15) as usize] as u32)
            }
            Op::Add32X { dst, src } => {
                let d = (dst & 15) as usize;
                r[d] = u64::from((r[d] as u32).wrapping_add(r[(src & 15) as usize] as u32));
            }
            Op::JeqK { dst, imm, target } => {
                if r[(dst & 15) as usize] == imm as i64 as u64 {
                    pc = target as usize;
                }
            }
            Op::JneK { dst, imm, target } => {
                if r[(dst & 15) as usize] != imm as i64 as u64 {
                    pc = target as usize;
                }
            }
            Op::JgtX { dst, src, target } => {
                if r[(dst & 15) as usize] > r[(src & 15) as usize] {
                    pc = target as usize;
                }
            }
            Op::Or64X { dst, src } => r[(dst & 15) as usize] |= r[(src & 15) as usize],
            Op::Add32K { dst, imm } => {
                let d = (dst & 15) as usize;
                r[d] = u64::from((r[d] as u32).wrapping_add(imm as u32));
            }
            Op::And32K { dst, imm } => {
                let d = (dst & 15) as usize;
                r[d] = u64::from(r[d] as u32 & imm as u32);
            }
            Op::Lsh32K { dst, imm } => {
                let d = (dst & 15) as usize;
                r[d] = u64::from((r[d] as u32) << (imm as u32 & 31));
            }
            Op::Rsh32K { dst, imm } => {
                let d = (dst & 15) as usize;
                r[d] = u64::from((r[d] as u32) >> (imm as u32 & 31));
            }
            Op::Or32X { dst, src } => {
                let d = (dst & 15) as usize;
                r[d] = u64::from(r[d] as u32 | r[(src & 15) as usize] as u32);
            }
            Op::Jeq32K { dst, imm, target } => {
                if r[(dst & 15) as usize] as u32 == imm as u32 {
                    pc = target as usize;
                }
            }
            Op::Jne32K { dst, imm, target } => {
                if r[(dst & 15) as usize] as u32 != imm as u32 {
                    pc = target as usize;
                }
            }
            Op::Jgt32K { dst, imm, target } => {
                if r[(dst & 15) as usize] as u32 > imm as u32 {
                    pc = target as usize;
                }
            }
            // Fused forms charge the budget for every instruction they stand for; running out
            // inside one aborts at the instruction that had no budget left.
            Op::MovAdd64K { dst, src, imm } => {
                if budget == 0 {
                    return Err(abort(AbortReason::Budget, here + 1));
                }
                budget -= 1;
                let d = (dst & 15) as usize;
                r[d] = r[(src & 15) as usize];
                r[d] = r[d].wrapping_add(imm as i64 as u64);
                pc = here + 2;
            }
            Op::MovAdd64X { dst, src, add } => {
                if budget == 0 {
                    return Err(abort(AbortReason::Budget, here + 1));
                }
                budget -= 1;
                let d = (dst & 15) as usize;
                r[d] = r[(src & 15) as usize];
                r[d] = r[d].wrapping_add(r[(add & 15) as usize]);
                pc = here + 2;
            }
            Op::MovAddJgtX {
                dst,
                src,
                imm,
                end,
                target,
            } => {
                if budget < 2 {
                    return Err(abort(AbortReason::Budget, here + 1 + budget as usize));
                }
                budget -= 2;
                let d = (dst & 15) as usize;
                r[d] = r[(src & 15) as usize];
                r[d] = r[d].wrapping_add(imm as i64 as u64);
                pc = if r[d] > r[(end & 15) as usize] {
                    target as usize
                } else {
                    here + 3
                };
            }
            Op::AddJneK {
                dst,
                imm,
                cmp,
                target,
            } => {
                if budget == 0 {
                    return Err(abort(AbortReason::Budget, here + 1));
                }
                budget -= 1;
                let d = (dst & 15) as usize;
                r[d] = r[d].wrapping_add(imm as i64 as u64);
                pc = if r[d] != cmp as i64 as u64 {
                    target as usize
                } else {
                    here + 2
                };
            }
            Op::Alu64K { op, dst, imm } => {
                let d = (dst & 15) as usize;
                r[d] = alu64(op, r[d], imm as i64 as u64);
            }
            Op::Alu64X { op, dst, src } => {
                let d = (dst & 15) as usize;
                r[d] = alu64(op, r[d], r[(src & 15) as usize]);
            }
            Op::Alu32K { op, dst, imm } => {
                let d = (dst & 15) as usize;
                r[d] = alu32(op, r[d] as u32, imm as u32);
            }
            Op::Alu32X { op, dst, src } => {
                let d = (dst & 15) as usize;
                r[d] = alu32(op, r[d] as u32, r[(src & 15) as usize] as u32);
            }
            Op::Neg64 { dst } => {
                let d = (dst & 15) as usize;
                r[d] = r[d].wrapping_neg();
            }
            Op::Neg32 { dst } => {
                let d = (dst & 15) as usize;
                r[d] = u64::from((r[d] as u32).wrapping_neg());
            }
            Op::End { dst, how, bits } => {
                let d = (dst & 15) as usize;
                r[d] = endian(how, bits, r[d]);
            }
            Op::Ja { target } => pc = target as usize,
            Op::JmpK {
                cond,
                dst,
                imm,
                target,
            } => {
                if cond64(cond, r[(dst & 15) as usize], imm as i64 as u64) {
                    pc = target as usize;
                }
            }
            Op::JmpX {
                cond,
                dst,
                src,
                target,
            } => {
                if cond64(cond, r[(dst & 15) as usize], r[(src & 15) as usize]) {
                    pc = target as usize;
                }
            }
            Op::Jmp32K {
                cond,
                dst,
                imm,
                target,
            } => {
                if cond32(cond, r[(dst & 15) as usize] as u32, imm as u32) {
                    pc = target as usize;
                }
            }
            Op::Jmp32X {
                cond,
                dst,
                src,
                target,
            } => {
                if cond32(
                    cond,
                    r[(dst & 15) as usize] as u32,
                    r[(src & 15) as usize] as u32,
                ) {
                    pc = target as usize;
                }
            }
            Op::Ldx {
                size,
                dst,
                src,
                off,
            } => {
                let addr = r[(src & 15) as usize].wrapping_add(off as i64 as u64);
                r[(dst & 15) as usize] = m.load(addr, size as usize).map_err(|e| abort(e, here))?;
            }
            Op::LdxSx {
                size,
                dst,
                src,
                off,
            } => {
                let addr = r[(src & 15) as usize].wrapping_add(off as i64 as u64);
                let v = m.load(addr, size as usize).map_err(|e| abort(e, here))?;
                r[(dst & 15) as usize] = sign_extend(v, size);
            }
            Op::St {
                size,
                dst,
                off,
                imm,
            } => {
                let addr = r[(dst & 15) as usize].wrapping_add(off as i64 as u64);
                m.store(addr, size as usize, imm as i64 as u64)
                    .map_err(|e| abort(e, here))?;
            }
            Op::Stx {
                size,
                dst,
                src,
                off,
            } => {
                let addr = r[(dst & 15) as usize].wrapping_add(off as i64 as u64);
                m.store(addr, size as usize, r[(src & 15) as usize])
                    .map_err(|e| abort(e, here))?;
            }
            Op::Atomic {
                op,
                fetch,
                wide,
                dst,
                src,
                off,
            } => {
                let addr = r[(dst & 15) as usize].wrapping_add(off as i64 as u64);
                let s = (src & 15) as usize;
                let old = m
                    .atomic(op, wide, addr, r[s], r[0])
                    .map_err(|e| abort(e, here))?;
                let old = if wide { old } else { old & 0xffff_ffff };
                if op == super::decode::AtomicOp::CmpXchg {
                    r[0] = old;
                } else if fetch {
                    r[s] = old;
                }
            }
            Op::LdImm64 { dst, imm } => {
                r[(dst & 15) as usize] = imm;
                pc += 1;
            }
            Op::LdMap { dst, map } => {
                r[(dst & 15) as usize] = make_ptr(kind::MAP, map, 0);
                pc += 1;
            }
            Op::LdMapValue { dst, map, off } => {
                let map = &prog.maps[map as usize];
                r[(dst & 15) as usize] = m.direct_value(map, off).map_err(|e| abort(e, here))?;
                pc += 1;
            }
            Op::LdFunc { dst, target } => {
                r[(dst & 15) as usize] = make_ptr(kind::FUNC, 0, target);
                pc += 1;
            }
            Op::LdAbs { size, imm } => match helpers::ld_abs(m, imm as i64, size) {
                Some(v) => r[0] = v,
                // An out-of-packet legacy load ends the program with 0.
                None => {
                    m.budget = budget;
                    return Ok(0);
                }
            },
            Op::LdInd { size, src, imm } => {
                let off = (r[(src & 15) as usize] as i64).wrapping_add(imm as i64);
                match helpers::ld_abs(m, off, size) {
                    Some(v) => r[0] = v,
                    None => {
                        m.budget = budget;
                        return Ok(0);
                    }
                }
            }
            Op::Call { helper } => {
                let args = [r[1], r[2], r[3], r[4], r[5]];
                if helper == helpers::id::TAIL_CALL {
                    if let Some(target) = tail_target(prog, m, args) {
                        m.budget = budget;
                        let ret = exec(&target, m, 0, frame + depth, [args[0], 0, 0, 0, 0])?;
                        budget = m.budget;
                        // The target's exit is the exit of the frame that made the tail call.
                        r[0] = ret;
                        if depth == 0 {
                            return Ok(ret);
                        }
                        depth -= 1;
                        let s = m.s.saved.pop().unwrap_or_default();
                        r[6..10].copy_from_slice(&s.callee_saved);
                        r[10] = s.fp;
                        pc = s.ret as usize;
                        continue;
                    }
                    // A failed tail call falls through to the next instruction; the
                    // verifier treats r0 as unknown afterwards, so it is left as it was.
                } else {
                    // Callbacks run by helpers spend the same budget.
                    m.budget = budget;
                    r[0] = helpers::call(prog, m, helper, args, frame + depth)
                        .map_err(|e| abort(e, here))?;
                    budget = m.budget;
                }
            }
            Op::CallLocal { target } => {
                if depth + 1 >= MAX_FRAMES || frame + depth + 1 >= MAX_FRAMES {
                    return Err(abort(AbortReason::CallDepth, here));
                }
                m.s.saved.push(Saved {
                    ret: pc as u32,
                    callee_saved: [r[6], r[7], r[8], r[9]],
                    fp: r[10],
                });
                depth += 1;
                r[10] = m.enter_frame(frame + depth).map_err(|e| abort(e, here))?;
                pc = target as usize;
            }
            Op::Exit => {
                if depth == 0 {
                    m.budget = budget;
                    return Ok(r[0]);
                }
                depth -= 1;
                let s = m.s.saved.pop().unwrap_or_default();
                r[6..10].copy_from_slice(&s.callee_saved);
                r[10] = s.fp;
                pc = s.ret as usize;
            }
            Op::Hole => return Err(abort(AbortReason::Hole, here)),
        }
    }
}

/// `bpf_tail_call(ctx, prog_array, index)`: the target program, or `None` when the call
/// fails (index out of range, empty slot, the 33-call chain limit reached).
fn tail_target(prog: &Program, m: &mut Machine, args: [u64; 5]) -> Option<std::sync::Arc<Program>> {
    let map = helpers::map_arg(prog, args[1]).ok()?;
    let index = args[2] as u32;
    if index >= map.def().max_entries || m.tail_calls >= MAX_TAIL_CALLS {
        return None;
    }
    let target = map.prog_at(index)?;
    m.tail_calls += 1;
    Some(target)
}
