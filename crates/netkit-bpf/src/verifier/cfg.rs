//! Structural checks before any path is explored (the kernel's `resolve_pseudo_ldimm64`,
//! `check_subprogs` and `check_cfg`): every opcode known, reserved fields zero, 16-byte
//! loads whole, jumps inside their function and never into the middle of a 16-byte load,
//! every function ending in exit or jump, no unreachable code.

use super::VerifyError;
use crate::insn::*;

/// `BPF_PSEUDO_FUNC`: `ld_imm64` loading the address of a BPF function (callbacks).
pub const PSEUDO_FUNC: u8 = 4;

/// What the structural pass learned.
pub struct Cfg {
    /// Start of each function, ascending; `subprogs[0] == 0`.
    pub subprogs: Vec<usize>,
    /// Instructions that are the second slot of a 16-byte load.
    pub ld_second: Vec<bool>,
    /// Where states are remembered for pruning and loop detection: jump targets and
    /// callback entries.
    pub prune_point: Vec<bool>,
    /// First instructions of functions used as callbacks (`BPF_PSEUDO_FUNC` targets).
    pub callback_entry: Vec<bool>,
}

impl Cfg {
    /// Index of the function containing instruction `pc`.
    pub fn subprog_of(&self, pc: usize) -> usize {
        self.subprogs.partition_point(|&s| s <= pc) - 1
    }

    fn end_of(&self, sub: usize, len: usize) -> usize {
        self.subprogs.get(sub + 1).copied().unwrap_or(len)
    }
}

fn err(pc: usize, msg: impl Into<String>) -> VerifyError {
    VerifyError {
        insn: Some(pc),
        msg: msg.into(),
    }
}

/// Target of a jump at `pc` (relative to the next instruction).
fn rel(pc: usize, delta: i64) -> i64 {
    pc as i64 + delta + 1
}

/// Where control may go after `pc`, besides the fall-through.
fn jump_target(insn: Insn, pc: usize) -> Option<i64> {
    let op = insn.code & 0xf0;
    match insn.class() {
        BPF_JMP if op == BPF_JA => Some(rel(pc, insn.off.into())),
        BPF_JMP32 if op == BPF_JA => Some(rel(pc, insn.imm.into())),
        BPF_JMP | BPF_JMP32 if op != BPF_CALL && op != BPF_EXIT => Some(rel(pc, insn.off.into())),
        _ => None,
    }
}

fn is_uncond_jump(insn: Insn) -> bool {
    matches!(insn.class(), BPF_JMP | BPF_JMP32) && insn.code & 0xf0 == BPF_JA
}

fn is_exit(insn: Insn) -> bool {
    insn.code == BPF_JMP | BPF_EXIT
}

/// Checks the encoding of one instruction (not its operands' types).
fn check_encoding(insns: &[Insn], pc: usize) -> Result<(), VerifyError> {
    let insn = insns[pc];
    let unknown = || err(pc, format!("unknown opcode {:02x}", insn.code));
    if insn.dst > 10 || insn.src > 10 {
        return Err(err(pc, format!("R{} is invalid", insn.dst.max(insn.src))));
    }
    let op = insn.code & 0xf0;
    let size = insn.code & 0x18;
    let mode = insn.code & 0xe0;
    match insn.class() {
        BPF_LD => match mode {
            BPF_IMM if size == BPF_DW => {
                let next = insns.get(pc + 1);
                let whole = matches!(next, Some(n) if n.code == 0 && n.dst == 0 && n.src == 0 && n.off == 0);
                if insn.off != 0 || !whole {
                    return Err(err(pc, "invalid bpf_ld_imm64 insn"));
                }
                if !matches!(
                    insn.src,
                    0 | PSEUDO_FUNC
                        | BPF_PSEUDO_MAP_FD
                        | BPF_PSEUDO_MAP_VALUE
                        | crate::obj::PSEUDO_MAP_IDX
                        | crate::obj::PSEUDO_MAP_IDX_VALUE
                ) {
                    return Err(err(
                        pc,
                        format!("unrecognized bpf_ld_imm64 insn src_reg {}", insn.src),
                    ));
                }
                let map_handle = matches!(insn.src, BPF_PSEUDO_MAP_FD | crate::obj::PSEUDO_MAP_IDX);
                if map_handle && insns[pc + 1].imm != 0 {
                    return Err(err(pc, "invalid bpf_ld_imm64 insn"));
                }
            }
            BPF_ABS | BPF_IND if size != BPF_DW => {
                let src_ok = mode == BPF_IND || insn.src == 0;
                if insn.dst != 0 || insn.off != 0 || !src_ok {
                    return Err(err(pc, "BPF_LD_[ABS|IND] uses reserved fields"));
                }
            }
            _ => return Err(unknown()),
        },
        BPF_LDX => {
            let ok = mode == BPF_MEM || (mode == BPF_MEMSX && size != BPF_DW);
            if !ok {
                return Err(unknown());
            }
            if insn.imm != 0 {
                return Err(err(pc, "BPF_LDX uses reserved fields"));
            }
        }
        BPF_ST => {
            if mode != BPF_MEM {
                return Err(unknown());
            }
            if insn.src != 0 {
                return Err(err(pc, "BPF_ST uses reserved fields"));
            }
        }
        BPF_STX => match mode {
            BPF_MEM => {
                if insn.imm != 0 {
                    return Err(err(pc, "BPF_STX uses reserved fields"));
                }
            }
            BPF_ATOMIC => {
                if size != BPF_W && size != BPF_DW {
                    return Err(err(pc, "invalid atomic operand size"));
                }
                let base = insn.imm & !BPF_FETCH;
                let ok = matches!(base, 0x00 | 0x40 | 0x50 | 0xa0)
                    || insn.imm == BPF_XCHG
                    || insn.imm == BPF_CMPXCHG;
                if !ok {
                    return Err(err(
                        pc,
                        format!("BPF_ATOMIC uses invalid atomic opcode {:02x}", insn.imm),
                    ));
                }
            }
            _ => return Err(unknown()),
        },
        BPF_ALU | BPF_ALU64 => check_alu(insn, pc)?,
        BPF_JMP | BPF_JMP32 => {
            let k = insn.code & BPF_X == 0;
            match op {
                BPF_JA => {
                    let reserved = if insn.class() == BPF_JMP {
                        insn.imm != 0
                    } else {
                        insn.off != 0
                    };
                    if !k || insn.src != 0 || insn.dst != 0 || reserved {
                        return Err(err(pc, "BPF_JA uses reserved fields"));
                    }
                }
                BPF_CALL | BPF_EXIT if insn.class() == BPF_JMP32 || !k => return Err(unknown()),
                BPF_CALL => {
                    if insn.off != 0 || insn.dst != 0 {
                        return Err(err(pc, "BPF_CALL uses reserved fields"));
                    }
                    match insn.src {
                        0 | BPF_PSEUDO_CALL => {}
                        BPF_PSEUDO_KFUNC_CALL => {
                            return Err(err(pc, "calling kernel functions is not supported"))
                        }
                        _ => return Err(err(pc, "BPF_CALL uses reserved fields")),
                    }
                }
                BPF_EXIT => {
                    if insn.imm != 0 || insn.off != 0 || insn.src != 0 || insn.dst != 0 {
                        return Err(err(pc, "BPF_EXIT uses reserved fields"));
                    }
                }
                0xe0 | 0xf0 => return Err(unknown()),
                _ => {
                    if (k && insn.src != 0) || (!k && insn.imm != 0) {
                        return Err(err(pc, "BPF_JMP/JMP32 uses reserved fields"));
                    }
                }
            }
        }
        _ => unreachable!("class is 3 bits"),
    }
    Ok(())
}

fn check_alu(insn: Insn, pc: usize) -> Result<(), VerifyError> {
    let op = insn.code & 0xf0;
    let k = insn.code & BPF_X == 0;
    let alu64 = insn.class() == BPF_ALU64;
    let reserved = || err(pc, "BPF_ALU uses reserved fields");
    match op {
        0xe0 | 0xf0 => return Err(err(pc, format!("unknown opcode {:02x}", insn.code))),
        BPF_END => {
            if alu64 && !k {
                return Err(err(pc, format!("unknown opcode {:02x}", insn.code)));
            }
            if insn.src != 0 || insn.off != 0 || !matches!(insn.imm, 16 | 32 | 64) {
                return Err(err(pc, "BPF_END uses reserved fields"));
            }
        }
        BPF_NEG => {
            if !k || insn.src != 0 || insn.off != 0 || insn.imm != 0 {
                return Err(err(pc, "BPF_NEG uses reserved fields"));
            }
        }
        BPF_MOV => {
            let off_ok = match (k, alu64) {
                (true, _) => insn.off == 0,
                (false, true) => matches!(insn.off, 0 | 8 | 16 | 32),
                (false, false) => matches!(insn.off, 0 | 8 | 16),
            };
            if !off_ok || (k && insn.src != 0) || (!k && insn.imm != 0) {
                return Err(err(pc, "BPF_MOV uses reserved fields"));
            }
        }
        _ => {
            let signed_ok = matches!(op, BPF_DIV | BPF_MOD) && insn.off == 1;
            if (insn.off != 0 && !signed_ok) || (k && insn.src != 0) || (!k && insn.imm != 0) {
                return Err(reserved());
            }
            if k && matches!(op, BPF_DIV | BPF_MOD) && insn.imm == 0 {
                return Err(err(pc, "division by zero"));
            }
            let width = if alu64 { 64 } else { 32 };
            if k && matches!(op, BPF_LSH | BPF_RSH | BPF_ARSH) && !(0..width).contains(&insn.imm) {
                return Err(err(pc, format!("invalid shift {}", insn.imm)));
            }
        }
    }
    Ok(())
}

/// `maps`: what `ld_imm64` map references may index. As the kernel's
/// `resolve_pseudo_ldimm64`, every map reference is resolved before exploring, dead code
/// included, and a value address needs a map that has one (a one-element array).
pub fn check(insns: &[Insn], maps: &[super::MapInfo]) -> Result<Cfg, VerifyError> {
    let len = insns.len();
    let mut ld_second = vec![false; len];
    let mut subprogs = vec![0usize];
    let mut pc = 0;
    while pc < len {
        check_encoding(insns, pc)?;
        let insn = insns[pc];
        if insn.code == BPF_LD | BPF_IMM | BPF_DW {
            ld_second[pc + 1] = true;
            let map_ref = !matches!(insn.src, 0 | PSEUDO_FUNC);
            let map = maps.get(insn.imm as u32 as usize);
            if map_ref && map.is_none() {
                return Err(err(
                    pc,
                    format!("fd {} is not pointing to valid bpf_map", insn.imm),
                ));
            }
            let value_ref = matches!(
                insn.src,
                BPF_PSEUDO_MAP_VALUE | crate::obj::PSEUDO_MAP_IDX_VALUE
            );
            if let (true, Some(m)) = (value_ref, map) {
                let off = insns[pc + 1].imm as u32;
                if m.map_type != crate::obj::MapType::Array {
                    return Err(err(pc, "no direct value access support for this map type"));
                }
                if m.max_entries != 1 || off >= m.value_size {
                    return Err(err(
                        pc,
                        format!(
                            "invalid access to map value pointer, value_size={} off={off}",
                            m.value_size
                        ),
                    ));
                }
            }
            if insn.src == PSEUDO_FUNC {
                subprogs.push(checked_target(
                    rel(pc, insn.imm.into()),
                    pc,
                    len,
                    "invalid func target",
                )?);
            }
            pc += 2;
            continue;
        }
        if insn.code == BPF_JMP | BPF_CALL && insn.src == BPF_PSEUDO_CALL {
            subprogs.push(checked_target(
                rel(pc, insn.imm.into()),
                pc,
                len,
                "call to invalid destination",
            )?);
        }
        pc += 1;
    }
    for &s in &subprogs {
        if ld_second[s] {
            return Err(err(
                s,
                format!("function starts in the middle of ldimm64 insn {}", s - 1),
            ));
        }
    }
    subprogs.sort_unstable();
    subprogs.dedup();
    let mut callback_entry = vec![false; len];
    for (pc, insn) in insns.iter().enumerate() {
        if insn.code == BPF_LD | BPF_IMM | BPF_DW && insn.src == PSEUDO_FUNC && !ld_second[pc] {
            callback_entry[rel(pc, insn.imm.into()) as usize] = true;
        }
    }
    let mut cfg = Cfg {
        subprogs,
        ld_second,
        prune_point: callback_entry.clone(),
        callback_entry,
    };
    for sub in 0..cfg.subprogs.len() {
        let (start, end) = (cfg.subprogs[sub], cfg.end_of(sub, len));
        for (pc, insn) in insns.iter().enumerate().take(end).skip(start) {
            if cfg.ld_second[pc] {
                continue;
            }
            if let Some(t) = jump_target(*insn, pc) {
                if t < start as i64 || t >= end as i64 {
                    return Err(err(pc, format!("jump out of range from insn {pc} to {t}")));
                }
                let t = t as usize;
                if cfg.ld_second[t] {
                    return Err(err(
                        pc,
                        format!("jump into the middle of ldimm64 insn {}", t - 1),
                    ));
                }
                cfg.prune_point[t] = true;
            }
        }
        let last = end - 1;
        if !is_exit(insns[last]) && !is_uncond_jump(insns[last]) {
            return Err(err(last, "last insn is not an exit or jmp"));
        }
    }
    check_reachable(insns)?;
    Ok(cfg)
}

fn checked_target(t: i64, pc: usize, len: usize, what: &str) -> Result<usize, VerifyError> {
    if t < 0 || t >= len as i64 {
        return Err(err(pc, format!("{what} {t}")));
    }
    Ok(t as usize)
}

/// Every instruction must be reachable from the entry (kernel: "unreachable insn"); like
/// libbpf, the object loader appends only the functions a program calls.
fn check_reachable(insns: &[Insn]) -> Result<(), VerifyError> {
    let len = insns.len();
    let mut seen = vec![false; len];
    let mut todo = vec![0usize];
    while let Some(pc) = todo.pop() {
        if pc >= len || seen[pc] {
            continue;
        }
        seen[pc] = true;
        let insn = insns[pc];
        if insn.code == BPF_LD | BPF_IMM | BPF_DW {
            seen[pc + 1] = true;
            if insn.src == PSEUDO_FUNC {
                todo.push(rel(pc, insn.imm.into()) as usize);
            }
            todo.push(pc + 2);
            continue;
        }
        if is_exit(insn) {
            continue;
        }
        if insn.code == BPF_JMP | BPF_CALL && insn.src == BPF_PSEUDO_CALL {
            todo.push(rel(pc, insn.imm.into()) as usize);
        }
        if let Some(t) = jump_target(insn, pc) {
            todo.push(t as usize);
            if is_uncond_jump(insn) {
                continue;
            }
        }
        todo.push(pc + 1);
    }
    match seen.iter().position(|&s| !s) {
        Some(pc) => Err(err(pc, format!("unreachable insn {pc}"))),
        None => Ok(()),
    }
}
