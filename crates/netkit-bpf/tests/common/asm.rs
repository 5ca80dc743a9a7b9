//! A tiny assembler for hand-written test programs: one function per instruction form,
//! named after the kernel's `BPF_*` macros (include/linux/filter.h).
#![allow(dead_code)]

use netkit_bpf::insn::*;
use netkit_bpf::obj::{PSEUDO_MAP_IDX, PSEUDO_MAP_IDX_VALUE};

pub fn raw(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        dst,
        src,
        off,
        imm,
    }
}

pub fn mov64_imm(dst: u8, imm: i32) -> Insn {
    raw(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm)
}

pub fn mov64_reg(dst: u8, src: u8) -> Insn {
    raw(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0)
}

pub fn alu64_imm(op: u8, dst: u8, imm: i32) -> Insn {
    raw(BPF_ALU64 | op | BPF_K, dst, 0, 0, imm)
}

pub fn alu64_reg(op: u8, dst: u8, src: u8) -> Insn {
    raw(BPF_ALU64 | op | BPF_X, dst, src, 0, 0)
}

pub fn alu32_imm(op: u8, dst: u8, imm: i32) -> Insn {
    raw(BPF_ALU | op | BPF_K, dst, 0, 0, imm)
}

pub fn alu32_reg(op: u8, dst: u8, src: u8) -> Insn {
    raw(BPF_ALU | op | BPF_X, dst, src, 0, 0)
}

pub fn ldx(size: u8, dst: u8, src: u8, off: i16) -> Insn {
    raw(BPF_LDX | BPF_MEM | size, dst, src, off, 0)
}

pub fn ldxsx(size: u8, dst: u8, src: u8, off: i16) -> Insn {
    raw(BPF_LDX | BPF_MEMSX | size, dst, src, off, 0)
}

pub fn stx(size: u8, dst: u8, src: u8, off: i16) -> Insn {
    raw(BPF_STX | BPF_MEM | size, dst, src, off, 0)
}

pub fn st(size: u8, dst: u8, off: i16, imm: i32) -> Insn {
    raw(BPF_ST | BPF_MEM | size, dst, 0, off, imm)
}

pub fn atomic(size: u8, dst: u8, src: u8, off: i16, op: i32) -> Insn {
    raw(BPF_STX | BPF_ATOMIC | size, dst, src, off, op)
}

pub fn jmp_imm(op: u8, dst: u8, imm: i32, off: i16) -> Insn {
    raw(BPF_JMP | op | BPF_K, dst, 0, off, imm)
}

pub fn jmp_reg(op: u8, dst: u8, src: u8, off: i16) -> Insn {
    raw(BPF_JMP | op | BPF_X, dst, src, off, 0)
}

pub fn jmp32_imm(op: u8, dst: u8, imm: i32, off: i16) -> Insn {
    raw(BPF_JMP32 | op | BPF_K, dst, 0, off, imm)
}

pub fn jmp32_reg(op: u8, dst: u8, src: u8, off: i16) -> Insn {
    raw(BPF_JMP32 | op | BPF_X, dst, src, off, 0)
}

pub fn ja(off: i16) -> Insn {
    raw(BPF_JMP | BPF_JA, 0, 0, off, 0)
}

pub fn call(helper: i32) -> Insn {
    raw(BPF_JMP | BPF_CALL, 0, 0, 0, helper)
}

/// BPF-to-BPF call, `rel` relative to the next instruction.
pub fn call_rel(rel: i32) -> Insn {
    raw(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, rel)
}

pub fn exit() -> Insn {
    raw(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
}

pub fn ld_imm64(dst: u8, v: u64) -> [Insn; 2] {
    [
        raw(BPF_LD | BPF_IMM | BPF_DW, dst, 0, 0, v as u32 as i32),
        raw(0, 0, 0, 0, (v >> 32) as u32 as i32),
    ]
}

pub fn ld_map(dst: u8, map: u32) -> [Insn; 2] {
    [
        raw(
            BPF_LD | BPF_IMM | BPF_DW,
            dst,
            PSEUDO_MAP_IDX,
            0,
            map as i32,
        ),
        raw(0, 0, 0, 0, 0),
    ]
}

pub fn ld_map_value(dst: u8, map: u32, off: u32) -> [Insn; 2] {
    [
        raw(
            BPF_LD | BPF_IMM | BPF_DW,
            dst,
            PSEUDO_MAP_IDX_VALUE,
            0,
            map as i32,
        ),
        raw(0, 0, 0, 0, off as i32),
    ]
}

/// `ld_imm64` of a function address (`BPF_PSEUDO_FUNC`), `rel` relative to the next slot
/// pair's first instruction as the kernel counts it (from the ld_imm64 itself + 1).
pub fn ld_func(dst: u8, rel: i32) -> [Insn; 2] {
    [
        raw(BPF_LD | BPF_IMM | BPF_DW, dst, 4, 0, rel),
        raw(0, 0, 0, 0, 0),
    ]
}

/// Builds a program from single instructions and 16-byte pairs.
#[macro_export]
macro_rules! prog {
    ($($e:expr),* $(,)?) => {{
        let mut v: Vec<netkit_bpf::insn::Insn> = Vec::new();
        $( $crate::common::asm::Push::push_into($e, &mut v); )*
        v
    }};
}

pub trait Push {
    fn push_into(self, v: &mut Vec<Insn>);
}

impl Push for Insn {
    fn push_into(self, v: &mut Vec<Insn>) {
        v.push(self);
    }
}

impl Push for [Insn; 2] {
    fn push_into(self, v: &mut Vec<Insn>) {
        v.extend_from_slice(&self);
    }
}

impl Push for Vec<Insn> {
    fn push_into(self, v: &mut Vec<Insn>) {
        v.extend(self);
    }
}
