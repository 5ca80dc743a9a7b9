//! Pre-decoding: raw instructions become a compact [`Op`] array once, at load, so the
//! dispatch loop never re-parses opcodes. Anything the VM could not execute safely (unknown
//! opcode, jump outside the program, unknown helper, bad map index) is rejected here even
//! when the verifier let it through.

use crate::helpers;
use crate::insn::*;
use crate::obj::{PSEUDO_MAP_IDX, PSEUDO_MAP_IDX_VALUE};

/// `ld_imm64` src 4: the address of a BPF function (callbacks of bpf_loop, for_each_map_elem).
const BPF_PSEUDO_FUNC: u8 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Alu {
    Add,
    Sub,
    Mul,
    Div,
    SDiv,
    Or,
    And,
    Lsh,
    Rsh,
    Mod,
    SMod,
    Xor,
    Mov,
    /// `movsx` with the source width in bits (8, 16, 32).
    MovSx(u8),
    Arsh,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cond {
    Eq,
    Gt,
    Ge,
    Set,
    Ne,
    SGt,
    SGe,
    Lt,
    Le,
    SLt,
    SLe,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endian {
    /// `BPF_ALU | BPF_END | BPF_TO_LE`: truncate to width (little-endian host).
    ToLe,
    /// `BPF_ALU | BPF_END | BPF_TO_BE`: byte swap to width (little-endian host).
    ToBe,
    /// `BPF_ALU64 | BPF_END`: unconditional byte swap (cpu v4).
    Swap,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AtomicOp {
    Add,
    Or,
    And,
    Xor,
    Xchg,
    CmpXchg,
}

/// One decoded instruction. `target`s are absolute instruction indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Alu64K {
        op: Alu,
        dst: u8,
        imm: i32,
    },
    Alu64X {
        op: Alu,
        dst: u8,
        src: u8,
    },
    Alu32K {
        op: Alu,
        dst: u8,
        imm: i32,
    },
    Alu32X {
        op: Alu,
        dst: u8,
        src: u8,
    },
    Neg64 {
        dst: u8,
    },
    Neg32 {
        dst: u8,
    },
    End {
        dst: u8,
        how: Endian,
        bits: u8,
    },
    Ja {
        target: u32,
    },
    JmpK {
        cond: Cond,
        dst: u8,
        imm: i32,
        target: u32,
    },
    JmpX {
        cond: Cond,
        dst: u8,
        src: u8,
        target: u32,
    },
    Jmp32K {
        cond: Cond,
        dst: u8,
        imm: i32,
        target: u32,
    },
    Jmp32X {
        cond: Cond,
        dst: u8,
        src: u8,
        target: u32,
    },
    Ldx {
        size: u8,
        dst: u8,
        src: u8,
        off: i16,
    },
    LdxSx {
        size: u8,
        dst: u8,
        src: u8,
        off: i16,
    },
    St {
        size: u8,
        dst: u8,
        off: i16,
        imm: i32,
    },
    Stx {
        size: u8,
        dst: u8,
        src: u8,
        off: i16,
    },
    Atomic {
        op: AtomicOp,
        fetch: bool,
        wide: bool,
        dst: u8,
        src: u8,
        off: i16,
    },
    LdImm64 {
        dst: u8,
        imm: u64,
    },
    LdMap {
        dst: u8,
        map: u32,
    },
    LdMapValue {
        dst: u8,
        map: u32,
        off: u32,
    },
    LdFunc {
        dst: u8,
        target: u32,
    },
    LdAbs {
        size: u8,
        imm: i32,
    },
    LdInd {
        size: u8,
        src: u8,
        imm: i32,
    },
    Call {
        helper: u32,
    },
    CallLocal {
        target: u32,
    },
    Exit,
    /// The second slot of a 16-byte load: executing it means a jump landed inside one.
    Hole,
    // Specialised forms of the most frequent instructions: one dispatch instead of two.
    Mov64K {
        dst: u8,
        imm: i32,
    },
    Mov64X {
        dst: u8,
        src: u8,
    },
    Add64K {
        dst: u8,
        imm: i32,
    },
    Add64X {
        dst: u8,
        src: u8,
    },
    And64K {
        dst: u8,
        imm: i32,
    },
    Lsh64K {
        dst: u8,
        imm: i32,
    },
    Rsh64K {
        dst: u8,
        imm: i32,
    },
    Mov32K {
        dst: u8,
        imm: i32,
    },
    Mov32X {
        dst: u8,
        src: u8,
    },
    Add32X {
        dst: u8,
        src: u8,
    },
    JeqK {
        dst: u8,
        imm: i32,
        target: u32,
    },
    JneK {
        dst: u8,
        imm: i32,
        target: u32,
    },
    JgtX {
        dst: u8,
        src: u8,
        target: u32,
    },
}

/// Rewrites an instruction into its specialised form when it has one.
fn specialize(op: Op) -> Op {
    match op {
        Op::Alu64K {
            op: Alu::Mov,
            dst,
            imm,
        } => Op::Mov64K { dst, imm },
        Op::Alu64X {
            op: Alu::Mov,
            dst,
            src,
        } => Op::Mov64X { dst, src },
        Op::Alu64K {
            op: Alu::Add,
            dst,
            imm,
        } => Op::Add64K { dst, imm },
        Op::Alu64X {
            op: Alu::Add,
            dst,
            src,
        } => Op::Add64X { dst, src },
        Op::Alu64K {
            op: Alu::And,
            dst,
            imm,
        } => Op::And64K { dst, imm },
        Op::Alu64K {
            op: Alu::Lsh,
            dst,
            imm,
        } => Op::Lsh64K { dst, imm },
        Op::Alu64K {
            op: Alu::Rsh,
            dst,
            imm,
        } => Op::Rsh64K { dst, imm },
        Op::Alu32K {
            op: Alu::Mov,
            dst,
            imm,
        } => Op::Mov32K { dst, imm },
        Op::Alu32X {
            op: Alu::Mov,
            dst,
            src,
        } => Op::Mov32X { dst, src },
        Op::Alu32X {
            op: Alu::Add,
            dst,
            src,
        } => Op::Add32X { dst, src },
        Op::JmpK {
            cond: Cond::Eq,
            dst,
            imm,
            target,
        } => Op::JeqK { dst, imm, target },
        Op::JmpK {
            cond: Cond::Ne,
            dst,
            imm,
            target,
        } => Op::JneK { dst, imm, target },
        Op::JmpX {
            cond: Cond::Gt,
            dst,
            src,
            target,
        } => Op::JgtX { dst, src, target },
        other => other,
    }
}

/// Why bytecode could not be decoded, with the instruction index.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("insn {insn}: {msg}")]
pub struct DecodeError {
    pub insn: usize,
    pub msg: String,
}

fn err(insn: usize, msg: impl Into<String>) -> DecodeError {
    DecodeError {
        insn,
        msg: msg.into(),
    }
}

fn size_bytes(code: u8) -> u8 {
    match code & 0x18 {
        BPF_W => 4,
        BPF_H => 2,
        BPF_B => 1,
        _ => 8,
    }
}

fn reg(i: usize, r: u8, writable: bool) -> Result<u8, DecodeError> {
    if r > 10 {
        return Err(err(i, format!("invalid register r{r}")));
    }
    if writable && r == 10 {
        return Err(err(i, "frame pointer r10 is read only"));
    }
    Ok(r)
}

fn jump_target(i: usize, off: i64, len: usize) -> Result<u32, DecodeError> {
    let t = i as i64 + 1 + off;
    if t < 0 || t >= len as i64 {
        return Err(err(i, format!("jump out of range to {t}")));
    }
    Ok(t as u32)
}

fn alu_op(i: usize, insn: Insn, wide: bool) -> Result<Alu, DecodeError> {
    Ok(match (insn.code & 0xf0, insn.off) {
        (BPF_ADD, 0) => Alu::Add,
        (BPF_SUB, 0) => Alu::Sub,
        (BPF_MUL, 0) => Alu::Mul,
        (BPF_DIV, 0) => Alu::Div,
        (BPF_DIV, 1) => Alu::SDiv,
        (BPF_OR, 0) => Alu::Or,
        (BPF_AND, 0) => Alu::And,
        (BPF_LSH, 0) => Alu::Lsh,
        (BPF_RSH, 0) => Alu::Rsh,
        (BPF_MOD, 0) => Alu::Mod,
        (BPF_MOD, 1) => Alu::SMod,
        (BPF_XOR, 0) => Alu::Xor,
        (BPF_MOV, 0) => Alu::Mov,
        (BPF_MOV, 8 | 16) if insn.code & BPF_X != 0 => Alu::MovSx(insn.off as u8),
        (BPF_MOV, 32) if wide && insn.code & BPF_X != 0 => Alu::MovSx(32),
        (BPF_ARSH, 0) => Alu::Arsh,
        _ => {
            return Err(err(
                i,
                format!("unknown ALU opcode {:#04x} off {}", insn.code, insn.off),
            ))
        }
    })
}

fn cond(i: usize, code: u8) -> Result<Cond, DecodeError> {
    Ok(match code & 0xf0 {
        BPF_JEQ => Cond::Eq,
        BPF_JGT => Cond::Gt,
        BPF_JGE => Cond::Ge,
        BPF_JSET => Cond::Set,
        BPF_JNE => Cond::Ne,
        BPF_JSGT => Cond::SGt,
        BPF_JSGE => Cond::SGe,
        BPF_JLT => Cond::Lt,
        BPF_JLE => Cond::Le,
        BPF_JSLT => Cond::SLt,
        BPF_JSLE => Cond::SLe,
        _ => return Err(err(i, format!("unknown jump opcode {code:#04x}"))),
    })
}

/// Decodes `insns` for a program with `n_maps` maps.
pub(crate) fn decode(insns: &[Insn], n_maps: usize) -> Result<Vec<Op>, DecodeError> {
    let len = insns.len();
    let mut ops = Vec::with_capacity(len);
    let mut i = 0;
    while i < len {
        let insn = insns[i];
        let code = insn.code;
        let op = match insn.class() {
            BPF_ALU64 | BPF_ALU => {
                let wide = insn.class() == BPF_ALU64;
                let dst = reg(i, insn.dst, true)?;
                match code & 0xf0 {
                    BPF_NEG => {
                        if code & BPF_X != 0 || insn.off != 0 {
                            return Err(err(i, format!("invalid neg {code:#04x}")));
                        }
                        if wide {
                            Op::Neg64 { dst }
                        } else {
                            Op::Neg32 { dst }
                        }
                    }
                    BPF_END => {
                        let bits = insn.imm;
                        if !matches!(bits, 16 | 32 | 64) {
                            return Err(err(i, format!("invalid byte swap width {bits}")));
                        }
                        let how = match (wide, code & BPF_X != 0) {
                            (true, false) => Endian::Swap,
                            (false, false) => Endian::ToLe,
                            (false, true) => Endian::ToBe,
                            (true, true) => {
                                return Err(err(i, format!("unknown opcode {code:#04x}")))
                            }
                        };
                        Op::End {
                            dst,
                            how,
                            bits: bits as u8,
                        }
                    }
                    _ => {
                        let op = alu_op(i, insn, wide)?;
                        match (wide, code & BPF_X != 0) {
                            (true, false) => Op::Alu64K {
                                op,
                                dst,
                                imm: insn.imm,
                            },
                            (true, true) => Op::Alu64X {
                                op,
                                dst,
                                src: reg(i, insn.src, false)?,
                            },
                            (false, false) => Op::Alu32K {
                                op,
                                dst,
                                imm: insn.imm,
                            },
                            (false, true) => Op::Alu32X {
                                op,
                                dst,
                                src: reg(i, insn.src, false)?,
                            },
                        }
                    }
                }
            }
            BPF_JMP | BPF_JMP32 => {
                let wide = insn.class() == BPF_JMP;
                match code & 0xf0 {
                    BPF_JA => {
                        // gotol (JMP32 | JA) carries its offset in imm.
                        let off = if wide { insn.off as i64 } else { insn.imm as i64 };
                        Op::Ja {
                            target: jump_target(i, off, len)?,
                        }
                    }
                    BPF_CALL if wide => match insn.src {
                        0 => {
                            let id = insn.imm as u32;
                            if helpers::name(id).is_none() {
                                return Err(err(i, format!("unknown helper id {}", insn.imm)));
                            }
                            Op::Call { helper: id }
                        }
                        BPF_PSEUDO_CALL => Op::CallLocal {
                            target: jump_target(i, insn.imm as i64, len)?,
                        },
                        _ => return Err(err(i, "kfunc calls are not supported")),
                    },
                    BPF_EXIT if wide => Op::Exit,
                    _ => {
                        let cond = cond(i, code)?;
                        let target = jump_target(i, insn.off as i64, len)?;
                        let dst = reg(i, insn.dst, false)?;
                        match (wide, code & BPF_X != 0) {
                            (true, false) => Op::JmpK {
                                cond,
                                dst,
                                imm: insn.imm,
                                target,
                            },
                            (true, true) => Op::JmpX {
                                cond,
                                dst,
                                src: reg(i, insn.src, false)?,
                                target,
                            },
                            (false, false) => Op::Jmp32K {
                                cond,
                                dst,
                                imm: insn.imm,
                                target,
                            },
                            (false, true) => Op::Jmp32X {
                                cond,
                                dst,
                                src: reg(i, insn.src, false)?,
                                target,
                            },
                        }
                    }
                }
            }
            BPF_LDX => {
                let size = size_bytes(code);
                let dst = reg(i, insn.dst, true)?;
                let src = reg(i, insn.src, false)?;
                match code & 0xe0 {
                    BPF_MEM => Op::Ldx {
                        size,
                        dst,
                        src,
                        off: insn.off,
                    },
                    BPF_MEMSX if size != 8 => Op::LdxSx {
                        size,
                        dst,
                        src,
                        off: insn.off,
                    },
                    _ => return Err(err(i, format!("unknown load opcode {code:#04x}"))),
                }
            }
            BPF_ST => {
                if code & 0xe0 != BPF_MEM {
                    return Err(err(i, format!("unknown store opcode {code:#04x}")));
                }
                Op::St {
                    size: size_bytes(code),
                    dst: reg(i, insn.dst, false)?,
                    off: insn.off,
                    imm: insn.imm,
                }
            }
            BPF_STX => {
                let size = size_bytes(code);
                let dst = reg(i, insn.dst, false)?;
                let src = reg(i, insn.src, false)?;
                match code & 0xe0 {
                    BPF_MEM => Op::Stx {
                        size,
                        dst,
                        src,
                        off: insn.off,
                    },
                    BPF_ATOMIC if size == 4 || size == 8 => {
                        let (op, fetch) = match insn.imm {
                            x if x == BPF_ADD as i32 => (AtomicOp::Add, false),
                            x if x == BPF_OR as i32 => (AtomicOp::Or, false),
                            x if x == BPF_AND as i32 => (AtomicOp::And, false),
                            x if x == BPF_XOR as i32 => (AtomicOp::Xor, false),
                            x if x == BPF_ADD as i32 | BPF_FETCH => (AtomicOp::Add, true),
                            x if x == BPF_OR as i32 | BPF_FETCH => (AtomicOp::Or, true),
                            x if x == BPF_AND as i32 | BPF_FETCH => (AtomicOp::And, true),
                            x if x == BPF_XOR as i32 | BPF_FETCH => (AtomicOp::Xor, true),
                            BPF_XCHG => (AtomicOp::Xchg, true),
                            BPF_CMPXCHG => (AtomicOp::CmpXchg, true),
                            other => {
                                return Err(err(i, format!("unknown atomic operation {other:#x}")))
                            }
                        };
                        Op::Atomic {
                            op,
                            fetch,
                            wide: size == 8,
                            dst,
                            src,
                            off: insn.off,
                        }
                    }
                    _ => return Err(err(i, format!("unknown store opcode {code:#04x}"))),
                }
            }
            _ /* BPF_LD */ => match code {
                0x18 => {
                    let Some(next) = insns.get(i + 1) else {
                        return Err(err(i, "ld_imm64 missing its second half"));
                    };
                    if next.code != 0 || next.dst != 0 || next.src != 0 || next.off != 0 {
                        return Err(err(i + 1, "invalid second half of ld_imm64"));
                    }
                    let dst = reg(i, insn.dst, true)?;
                    let map_idx = |idx: i32| -> Result<u32, DecodeError> {
                        if idx < 0 || idx as usize >= n_maps {
                            return Err(err(i, format!("map index {idx} out of range")));
                        }
                        Ok(idx as u32)
                    };
                    let op = match insn.src {
                        0 => Op::LdImm64 {
                            dst,
                            imm: (insn.imm as u32 as u64) | ((next.imm as u32 as u64) << 32),
                        },
                        BPF_PSEUDO_MAP_FD | PSEUDO_MAP_IDX => Op::LdMap {
                            dst,
                            map: map_idx(insn.imm)?,
                        },
                        BPF_PSEUDO_MAP_VALUE | PSEUDO_MAP_IDX_VALUE => Op::LdMapValue {
                            dst,
                            map: map_idx(insn.imm)?,
                            off: next.imm as u32,
                        },
                        BPF_PSEUDO_FUNC => Op::LdFunc {
                            dst,
                            target: jump_target(i, insn.imm as i64, len)?,
                        },
                        other => return Err(err(i, format!("unsupported ld_imm64 src {other}"))),
                    };
                    ops.push(op);
                    ops.push(Op::Hole);
                    i += 2;
                    continue;
                }
                _ => {
                    let size = size_bytes(code);
                    if size == 8 {
                        return Err(err(i, format!("unknown opcode {code:#04x}")));
                    }
                    match code & 0xe0 {
                        BPF_ABS => Op::LdAbs {
                            size,
                            imm: insn.imm,
                        },
                        BPF_IND => Op::LdInd {
                            size,
                            src: reg(i, insn.src, false)?,
                            imm: insn.imm,
                        },
                        _ => return Err(err(i, format!("unknown opcode {code:#04x}"))),
                    }
                }
            },
        };
        ops.push(op);
        i += 1;
    }
    // A jump into the middle of a 16-byte load is rejected here rather than at run time.
    for (i, op) in ops.iter().enumerate() {
        let target = match *op {
            Op::Ja { target }
            | Op::JmpK { target, .. }
            | Op::JmpX { target, .. }
            | Op::Jmp32K { target, .. }
            | Op::Jmp32X { target, .. }
            | Op::CallLocal { target }
            | Op::LdFunc { target, .. } => target,
            _ => continue,
        };
        if ops[target as usize] == Op::Hole {
            return Err(err(
                i,
                format!("jump into the middle of ld_imm64 at {target}"),
            ));
        }
    }
    Ok(ops.into_iter().map(specialize).collect())
}
