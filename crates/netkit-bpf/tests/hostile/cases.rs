//! The hostile programs (each must be rejected at load) and well-formed programs that
//! exercise the same checks from the safe side (each must load), as raw bytecode.

use crate::asm::*;
use netkit_bpf::insn::*;
use netkit_bpf::obj::MapType;
use netkit_bpf::verifier::MapInfo;

pub const HASH: u32 = 0;
pub const ARRAY: u32 = 1;
pub const RODATA: u32 = 2;
pub const PROG_ARRAY: u32 = 3;
pub const RINGBUF: u32 = 4;

/// The maps every case may reference, by the indexes above.
pub fn maps() -> Vec<MapInfo> {
    let m = |map_type, key_size, value_size, max_entries, readonly| MapInfo {
        map_type,
        key_size,
        value_size,
        max_entries,
        readonly,
    };
    vec![
        m(MapType::Hash, 4, 8, 16, false),
        m(MapType::Array, 4, 16, 4, false),
        m(MapType::Array, 4, 8, 1, true),
        m(MapType::ProgArray, 4, 4, 4, false),
        m(MapType::RingBuf, 0, 0, 4096, false),
    ]
}

pub struct Case {
    pub name: &'static str,
    pub insns: Vec<Insn>,
    /// Part of the verifier's message.
    pub msg: &'static str,
    /// The instruction the message must name.
    pub insn: Option<usize>,
}

fn case(name: &'static str, insns: Vec<Insn>, msg: &'static str, insn: Option<usize>) -> Case {
    Case {
        name,
        insns,
        msg,
        insn,
    }
}

/// r2 = skb->data, r3 = skb->data_end.
fn pkt_ptrs() -> Vec<Insn> {
    prog![ldx(BPF_W, 2, 1, 76), ldx(BPF_W, 3, 1, 80)]
}

/// r0 = bpf_map_lookup_elem(map, &(u32)0) with the key at fp-4.
fn lookup(map: u32) -> Vec<Insn> {
    prog![
        st(BPF_W, 10, -4, 0),
        mov64_reg(2, 10),
        alu64_imm(BPF_ADD, 2, -4),
        ld_map(1, map),
        call(1),
    ]
}

/// A program as the fuzzer prints it: each slot as 16 hex digits, in memory byte order.
fn from_hex(text: &str) -> Vec<Insn> {
    text.split_whitespace()
        .map(|w| Insn::from_raw(u64::from_str_radix(w, 16).expect("hex slot").swap_bytes()))
        .collect()
}

/// A chain of `n` functions each calling the next (the last returns 0).
fn call_chain(n: usize) -> Vec<Insn> {
    let mut v = Vec::new();
    for _ in 0..n - 1 {
        v.extend(prog![call_rel(1), exit()]);
    }
    v.extend(prog![mov64_imm(0, 0), exit()]);
    v
}

#[rustfmt::skip]
pub fn hostile() -> Vec<Case> {
    vec![
        case("empty program", vec![], "empty program", None),
        case("unknown opcode", prog![raw(0xe7, 0, 0, 0, 0), exit()], "unknown opcode e7", Some(0)),
        case("reserved field in mov", prog![raw(BPF_ALU64 | BPF_MOV | BPF_K, 0, 1, 0, 0), exit()], "reserved fields", Some(0)),
        case("wild jump forward", prog![mov64_imm(0, 0), ja(100), exit()], "jump out of range from insn 1 to 102", Some(1)),
        case("wild jump backward", prog![ja(-5), mov64_imm(0, 0), exit()], "jump out of range from insn 0 to -4", Some(0)),
        case("jump into ld_imm64", prog![mov64_imm(0, 0), jmp_imm(BPF_JEQ, 0, 0, 1), ld_imm64(0, 7), exit()], "jump into the middle of ldimm64", Some(1)),
        case("truncated ld_imm64", prog![mov64_imm(0, 0), exit(), raw(BPF_LD | BPF_IMM | BPF_DW, 0, 0, 0, 1)], "invalid bpf_ld_imm64 insn", Some(2)),
        case("ld_imm64 with a bad second slot", prog![raw(BPF_LD | BPF_IMM | BPF_DW, 0, 0, 0, 1), mov64_imm(0, 0), exit()], "invalid bpf_ld_imm64 insn", Some(0)),
        case("fall off the end", prog![mov64_imm(0, 0)], "last insn is not an exit or jmp", Some(0)),
        case("fall off the end of a branch", prog![mov64_imm(0, 0), jmp_imm(BPF_JEQ, 0, 0, 1), exit(), mov64_imm(0, 1)], "last insn is not an exit or jmp", Some(3)),
        case("uninitialised register read", prog![mov64_reg(0, 2), exit()], "R2 !read_ok", Some(0)),
        case("r0 uninitialised at exit", prog![exit()], "R0 !read_ok", Some(0)),
        case("write to r10", prog![mov64_imm(10, 0), mov64_imm(0, 0), exit()], "frame pointer is read only", Some(0)),
        case("stack write below the frame", prog![st(BPF_DW, 10, -520, 0), mov64_imm(0, 0), exit()], "stack R10 off=-520", Some(0)),
        case("stack write above the frame", prog![st(BPF_W, 10, 0, 0), mov64_imm(0, 0), exit()], "stack R10 off=0", Some(0)),
        case("misaligned stack access", prog![st(BPF_W, 10, -6, 0), mov64_imm(0, 0), exit()], "misaligned stack access", Some(0)),
        case("unknown helper", prog![call(9999), exit()], "invalid func unknown#9999", Some(0)),
        case("helper not for tc", prog![mov64_imm(2, 0), call(44), exit()], "bpf_xdp_adjust_head#44", Some(1)),
        case("write to read-only ctx field", prog![mov64_imm(2, 1), stx(BPF_W, 1, 2, 0), mov64_imm(0, 0), exit()], "invalid bpf_context access off=0 size=4", Some(1)),
        case("read of a socket field", prog![ldx(BPF_W, 0, 1, 88), exit()], "invalid bpf_context access off=88", Some(0)),
        case("read of ctx padding", prog![ldx(BPF_B, 0, 1, 181), exit()], "invalid bpf_context access off=181", Some(0)),
        case("narrow ctx write", prog![mov64_imm(2, 1), stx(BPF_H, 1, 2, 8), mov64_imm(0, 0), exit()], "invalid bpf_context access off=8 size=2", Some(1)),
        case("misaligned ctx read", prog![ldx(BPF_W, 0, 1, 2), exit()], "invalid bpf_context access off=2", Some(0)),
        case("wide ctx read", prog![ldx(BPF_DW, 0, 1, 8), exit()], "invalid bpf_context access off=8 size=8", Some(0)),
        case("ctx read past the end", prog![ldx(BPF_W, 0, 1, 192), exit()], "invalid bpf_context access off=192", Some(0)),
        case("narrow read of data", prog![ldx(BPF_H, 0, 1, 76), exit()], "invalid bpf_context access off=76 size=2", Some(0)),
        case("modified ctx dereference", prog![alu64_imm(BPF_ADD, 1, 4), ldx(BPF_W, 0, 1, 0), exit()], "dereference of modified ctx ptr", Some(1)),
        case("atomic on ctx", prog![mov64_imm(2, 1), atomic(BPF_W, 1, 2, 8, BPF_ADD as i32), mov64_imm(0, 0), exit()], "BPF_ATOMIC stores into R1 ctx", Some(1)),
        case("packet read without bounds check", prog![pkt_ptrs(), ldx(BPF_B, 0, 2, 0), exit()], "invalid access to packet, off=0 size=1", Some(2)),
        case("packet read past the checked range", prog![pkt_ptrs(), mov64_reg(4, 2), alu64_imm(BPF_ADD, 4, 14), jmp_reg(BPF_JGT, 4, 3, 2), ldx(BPF_W, 0, 2, 12), exit(), mov64_imm(0, 0), exit()], "invalid access to packet, off=12 size=4", Some(5)),
        case("packet read before data", prog![pkt_ptrs(), mov64_reg(4, 2), alu64_imm(BPF_ADD, 4, 14), jmp_reg(BPF_JGT, 4, 3, 2), ldx(BPF_B, 0, 2, -1), exit(), mov64_imm(0, 0), exit()], "invalid access to packet, off=-1", Some(5)),
        case("packet read on the wrong side of the check", prog![pkt_ptrs(), mov64_reg(4, 2), alu64_imm(BPF_ADD, 4, 14), jmp_reg(BPF_JGT, 4, 3, 2), mov64_imm(0, 0), exit(), ldx(BPF_B, 0, 2, 0), exit()], "invalid access to packet", Some(7)),
        case("data_end dereference", prog![pkt_ptrs(), ldx(BPF_B, 0, 3, 0), exit()], "invalid mem access 'pkt_end'", Some(2)),
        case("lookup result used without NULL check", prog![lookup(HASH), ldx(BPF_DW, 0, 0, 0), exit()], "invalid mem access 'map_value_or_null'", Some(6)),
        case("map value read out of bounds", prog![lookup(ARRAY), jmp_imm(BPF_JEQ, 0, 0, 1), ldx(BPF_DW, 0, 0, 16), mov64_imm(0, 0), exit()], "invalid access to map value, value_size=16 off=16 size=8", Some(7)),
        case("map value index not bounded", prog![lookup(ARRAY), jmp_imm(BPF_JEQ, 0, 0, 4), ldx(BPF_W, 2, 1, 0), alu64_reg(BPF_ADD, 0, 2), ldx(BPF_B, 0, 0, 0), exit(), mov64_imm(0, 0), exit()], "R1 !read_ok", Some(7)),
        case("map value index from a packet length", prog![mov64_reg(6, 1), lookup(ARRAY), jmp_imm(BPF_JEQ, 0, 0, 4), ldx(BPF_W, 2, 6, 0), alu64_reg(BPF_ADD, 0, 2), ldx(BPF_B, 0, 0, 0), exit(), mov64_imm(0, 0), exit()], "R0 unbounded memory access", Some(10)),
        case("write into .rodata", prog![ld_map_value(2, RODATA, 0), st(BPF_DW, 2, 0, 1), mov64_imm(0, 0), exit()], "write into map forbidden", Some(2)),
        case("direct value address past the value", prog![ld_map_value(2, ARRAY, 16), mov64_imm(0, 0), exit()], "invalid access to map value pointer", Some(0)),
        case("value address of a hash map", prog![ld_map_value(2, HASH, 0), mov64_imm(0, 0), exit()], "no direct value access support", Some(0)),
        case("infinite loop", prog![mov64_imm(0, 0), jmp_imm(BPF_JEQ, 0, 1, 1), ja(-2), exit()], "infinite loop detected at insn 1", Some(1)),
        case("loop without a bound", prog![ldx(BPF_W, 2, 1, 0), mov64_imm(0, 0), alu64_imm(BPF_ADD, 0, 1), jmp_imm(BPF_JNE, 2, 0, -2), exit()], "BPF program is too large", None),
        case("counting loop that never ends", prog![mov64_imm(0, 0), alu64_imm(BPF_ADD, 0, 1), jmp_imm(BPF_JNE, 0, 0, -2), exit()], "BPF program is too large", None),
        case("recursion", prog![call_rel(-1), exit()], "too deep", None),
        case("nine nested calls", call_chain(9), "the call stack of 9 frames is too deep", None),
        case("combined stack over 512 bytes", prog![st(BPF_DW, 10, -512, 0), call_rel(2), mov64_imm(0, 0), exit(), st(BPF_DW, 10, -64, 0), mov64_imm(0, 0), exit()], "combined stack size", Some(1)),
        case("variable offset into ctx", prog![ldx(BPF_W, 2, 1, 0), alu64_reg(BPF_ADD, 1, 2), ldx(BPF_W, 0, 1, 0), exit()], "variable ctx access", Some(2)),
        case("unbounded pointer arithmetic", prog![call(7), call(5), mov64_reg(2, 10), alu64_reg(BPF_ADD, 2, 0), mov64_imm(0, 0), exit()], "unbounded min value", Some(3)),
        case("bitwise operation on a pointer", prog![mov64_reg(2, 10), alu64_imm(BPF_AND, 2, 0xff), mov64_imm(0, 0), exit()], "bitwise operator &= on pointer prohibited", Some(1)),
        case("32-bit pointer arithmetic", prog![mov64_reg(2, 10), alu32_imm(BPF_ADD, 2, 8), mov64_imm(0, 0), exit()], "32-bit pointer arithmetic prohibited", Some(1)),
        case("arithmetic on a map handle", prog![ld_map(1, HASH), alu64_imm(BPF_ADD, 1, 8), mov64_imm(0, 0), exit()], "pointer arithmetic on map_ptr prohibited", Some(2)),
        case("division by constant zero", prog![mov64_imm(0, 1), alu64_imm(BPF_DIV, 0, 0), exit()], "division by zero", Some(1)),
        case("modulo by constant zero", prog![mov64_imm(0, 1), alu32_imm(BPF_MOD, 0, 0), exit()], "division by zero", Some(1)),
        case("shift by the width", prog![mov64_imm(0, 1), alu64_imm(BPF_LSH, 0, 64), exit()], "invalid shift 64", Some(1)),
        case("kernel function call", prog![raw(BPF_JMP | BPF_CALL, 0, 2, 0, 1), mov64_imm(0, 0), exit()], "kernel functions", Some(0)),
        case("call to nowhere", prog![call_rel(1000), exit()], "call to invalid destination", Some(0)),
        case("unreachable code", prog![mov64_imm(0, 0), exit(), mov64_imm(0, 1), exit()], "unreachable insn 2", Some(2)),
        case("lookup in a prog array", prog![lookup(PROG_ARRAY), mov64_imm(0, 0), exit()], "cannot pass map_type 3 into func bpf_map_lookup_elem#1", Some(5)),
        case("tail call through an array", prog![ld_map(2, ARRAY), mov64_imm(3, 0), call(12), mov64_imm(0, 0), exit()], "cannot pass map_type 2 into func bpf_tail_call#12", Some(3)),
        case("ring buffer record never released", prog![ld_map(1, RINGBUF), mov64_imm(2, 8), mov64_imm(3, 0), call(131), mov64_imm(0, 0), exit()], "Unreleased reference", Some(6)),
        case("NULL dereference", prog![mov64_imm(0, 0), ldx(BPF_DW, 0, 0, 0), exit()], "invalid mem access 'scalar'", Some(1)),
        case("partial fill of a spilled pointer", prog![stx(BPF_DW, 10, 1, -8), ldx(BPF_W, 0, 10, -8), exit()], "invalid size of register fill", Some(1)),
        case("stale packet pointer after pull_data", prog![ldx(BPF_W, 6, 1, 76), ldx(BPF_W, 3, 1, 80), mov64_reg(4, 6), alu64_imm(BPF_ADD, 4, 1), jmp_reg(BPF_JGT, 4, 3, 4), mov64_imm(2, 0), call(39), ldx(BPF_B, 0, 6, 0), exit(), mov64_imm(0, 0), exit()], "invalid mem access 'scalar'", Some(7)),
        case("helper writes past the stack", prog![mov64_imm(2, 0), mov64_reg(3, 10), alu64_imm(BPF_ADD, 3, -8), mov64_imm(4, 16), call(26), mov64_imm(0, 0), exit()], "invalid indirect access to stack", Some(4)),
        case("helper given the wrong pointer", prog![mov64_reg(2, 10), alu64_imm(BPF_ADD, 2, -8), call(1), mov64_imm(0, 0), exit()], "R1 type=ctx expected=map_ptr", Some(2)),
        case("invalid register", prog![raw(BPF_ALU64 | BPF_MOV | BPF_K, 11, 0, 0, 0), mov64_imm(0, 0), exit()], "R11 is invalid", Some(0)),
        case("tail call under a 256-byte frame", prog![st(BPF_DW, 10, -264, 0), call_rel(2), mov64_imm(0, 0), exit(), ld_map(2, PROG_ARRAY), mov64_imm(3, 0), call(12), mov64_imm(0, 0), exit()], "tail_calls are not allowed", None),
        case("callee returns its stack", prog![call_rel(1), exit(), mov64_reg(0, 10), alu64_imm(BPF_ADD, 0, -8), exit()], "cannot return stack pointer to the caller", Some(4)),
        case("stack pointer escapes via the caller's frame", prog![mov64_reg(1, 10), alu64_imm(BPF_ADD, 1, -8), call_rel(3), ldx(BPF_DW, 2, 10, -8), ldx(BPF_DW, 0, 2, 0), exit(), stx(BPF_DW, 1, 10, 0), mov64_imm(0, 0), exit()], "cannot spill pointers to stack into stack frame of the caller", Some(6)),
        case("sign-extended index below the stack", prog![ldx(BPF_W, 2, 1, 0), raw(BPF_ALU64 | BPF_MOV | BPF_X, 2, 2, 16, 0), jmp_imm(BPF_JSGE, 2, 8, 4), mov64_reg(3, 10), alu64_reg(BPF_ADD, 3, 2), ldx(BPF_B, 0, 3, -8), exit(), mov64_imm(0, 0), exit()], "invalid read from stack", Some(5)),
        case("ld_abs without the context in r6", prog![raw(BPF_LD | BPF_ABS | BPF_H, 0, 0, 0, 12), exit()], "R6 != pointer to skb", Some(0)),
        // Found by the fuzzer: the bpf_loop callback overwrites half of the context pointer
        // the caller spilled; only a second iteration reads the damaged pointer back.
        case("callback corrupts a spilled context pointer", from_hex("7b1af0ff00000000 b701000000000000 7b1af8ff00000000 bfa3000000000000 07030000f0ffffff b401000064000000 1842000008000000 0000000000000000 b704000000000000 85000000b5000000 b700000000000000 b700000000000000 b700000000000000 b700000000000000 9500000000000000 bf26000000000000 bc12000000000000 b401000000000000 731affff00000000 7961000000000000 bfa3000000000000 07030000ffffffff b407000001000000 b404000001000000 850000001a000000 c500090000000000 61610c0000000000 0401000001000000 71a2ffff00000000 6316040000000000 6161080000000000 2401000021000000 0c21000000000000 6316080000000000 b407000000000000 bc70000000000000 9500000000000000"), "R1 type=scalar expected=ctx", Some(24)),
        case("callback returning 2", prog![mov64_imm(1, 4), ld_func(2, 6), mov64_imm(3, 0), mov64_imm(4, 0), call(181), mov64_imm(0, 0), exit(), mov64_imm(0, 2), exit()], "callback return", Some(9)),
    ]
}

/// Programs that pass the same checks on the safe side: each must load.
#[rustfmt::skip]
pub fn valid() -> Vec<Case> {
    vec![
        case("bounds-checked packet read", prog![pkt_ptrs(), mov64_reg(4, 2), alu64_imm(BPF_ADD, 4, 14), jmp_reg(BPF_JGT, 4, 3, 2), ldx(BPF_W, 0, 2, 10), exit(), mov64_imm(0, 0), exit()], "", None),
        case("bounds check written end-first", prog![pkt_ptrs(), mov64_reg(4, 2), alu64_imm(BPF_ADD, 4, 8), jmp_reg(BPF_JLT, 3, 4, 2), ldx(BPF_DW, 0, 2, 0), exit(), mov64_imm(0, 0), exit()], "", None),
        case("NULL-checked lookup", prog![lookup(HASH), jmp_imm(BPF_JEQ, 0, 0, 2), ldx(BPF_DW, 0, 0, 0), exit(), mov64_imm(0, 0), exit()], "", None),
        case("masked index into a map value", prog![mov64_reg(6, 1), lookup(ARRAY), jmp_imm(BPF_JEQ, 0, 0, 5), ldx(BPF_W, 2, 6, 0), alu64_imm(BPF_AND, 2, 15), alu64_reg(BPF_ADD, 0, 2), ldx(BPF_B, 0, 0, 0), exit(), mov64_imm(0, 0), exit()], "", None),
        case("bounded loop", prog![mov64_imm(0, 0), mov64_imm(2, 0), alu64_reg(BPF_ADD, 0, 2), alu64_imm(BPF_ADD, 2, 1), jmp_imm(BPF_JLT, 2, 1000, -3), exit()], "", None),
        case("writable ctx fields", prog![mov64_imm(2, 7), stx(BPF_W, 1, 2, 8), stx(BPF_W, 1, 2, 32), stx(BPF_W, 1, 2, 44), stx(BPF_DW, 1, 2, 48), stx(BPF_H, 1, 2, 64), stx(BPF_DW, 1, 2, 152), ldx(BPF_B, 0, 1, 180), exit()], "", None),
        case("narrow ctx reads", prog![ldx(BPF_B, 0, 1, 0), ldx(BPF_H, 0, 1, 18), ldx(BPF_W, 0, 1, 164), exit()], "", None),
        case("spill and fill of a pointer", prog![stx(BPF_DW, 10, 1, -8), ldx(BPF_DW, 2, 10, -8), ldx(BPF_W, 0, 2, 0), exit()], "", None),
        case("uninitialised stack read as root", prog![ldx(BPF_DW, 0, 10, -16), exit()], "", None),
        case("bpf-to-bpf call", prog![mov64_imm(1, 3), call_rel(1), exit(), mov64_reg(0, 1), alu64_imm(BPF_MUL, 0, 2), exit()], "", None),
        case("eight nested calls", call_chain(8), "", None),
        case("read-only data read", prog![ld_map_value(2, RODATA, 0), ldx(BPF_DW, 0, 2, 0), exit()], "", None),
        case("ring buffer reserve and submit", prog![ld_map(1, RINGBUF), mov64_imm(2, 8), mov64_imm(3, 0), call(131), jmp_imm(BPF_JEQ, 0, 0, 4), st(BPF_DW, 0, 0, 1), mov64_reg(1, 0), mov64_imm(2, 0), call(132), mov64_imm(0, 0), exit()], "", None),
        case("atomics on a map value", prog![lookup(ARRAY), jmp_imm(BPF_JEQ, 0, 0, 4), mov64_imm(1, 1), atomic(BPF_DW, 0, 1, 8, BPF_ADD as i32 | BPF_FETCH), mov64_reg(0, 1), exit(), mov64_imm(0, 0), exit()], "", None),
        case("bpf_loop with a callback", prog![mov64_imm(1, 4), ld_func(2, 6), mov64_imm(3, 0), mov64_imm(4, 0), call(181), mov64_imm(0, 0), exit(), mov64_imm(0, 0), exit()], "", None),
        case("division by a register that may be zero", prog![ldx(BPF_W, 2, 1, 0), mov64_imm(0, 10), alu64_reg(BPF_DIV, 0, 2), alu64_reg(BPF_MOD, 0, 2), exit()], "", None),
        case("skb_load_bytes into the stack", prog![mov64_imm(2, 0), mov64_reg(3, 10), alu64_imm(BPF_ADD, 3, -16), mov64_imm(4, 16), call(26), ldx(BPF_DW, 0, 10, -16), exit()], "", None),
        case("tail call through a prog array", prog![ld_map(2, PROG_ARRAY), mov64_imm(3, 0), call(12), mov64_imm(0, 0), exit()], "", None),
        case("store immediate into ctx", prog![st(BPF_W, 1, 8, 5), mov64_imm(0, 0), exit()], "", None),
        case("pointer stored into a map value", prog![lookup(ARRAY), jmp_imm(BPF_JEQ, 0, 0, 1), stx(BPF_DW, 0, 10, 0), mov64_imm(0, 0), exit()], "", None),
        case("direct packet write", prog![pkt_ptrs(), mov64_reg(4, 2), alu64_imm(BPF_ADD, 4, 4), jmp_reg(BPF_JGT, 4, 3, 1), st(BPF_W, 2, 0, 0x11223344), mov64_imm(0, 0), exit()], "", None),
        case("variable packet offset after a mask", prog![pkt_ptrs(), ldx(BPF_W, 5, 1, 0), alu64_imm(BPF_AND, 5, 0x3f), alu64_reg(BPF_ADD, 2, 5), mov64_reg(4, 2), alu64_imm(BPF_ADD, 4, 2), jmp_reg(BPF_JGT, 4, 3, 2), ldx(BPF_H, 0, 2, 0), exit(), mov64_imm(0, 0), exit()], "", None),
        case("data_meta against data", prog![ldx(BPF_W, 2, 1, 140), ldx(BPF_W, 3, 1, 76), mov64_reg(4, 2), alu64_imm(BPF_ADD, 4, 4), jmp_reg(BPF_JGT, 4, 3, 2), ldx(BPF_W, 0, 2, 0), exit(), mov64_imm(0, 0), exit()], "", None),
        case("callee writes the caller's stack", prog![mov64_reg(1, 10), alu64_imm(BPF_ADD, 1, -8), call_rel(2), ldx(BPF_DW, 0, 10, -8), exit(), st(BPF_DW, 1, 0, 9), mov64_imm(0, 0), exit()], "", None),
        case("signed bounds on a stack index", prog![ldx(BPF_W, 2, 1, 0), raw(BPF_ALU64 | BPF_MOV | BPF_X, 2, 2, 16, 0), mov64_imm(0, 0), jmp_imm(BPF_JSGT, 2, -1, 1), exit(), jmp_imm(BPF_JSGE, 2, 8, 3), mov64_reg(3, 10), alu64_reg(BPF_ADD, 3, 2), ldx(BPF_B, 0, 3, -8), exit()], "", None),
        case("sign-extending loads", prog![st(BPF_DW, 10, -8, -1), raw(BPF_LDX | BPF_MEMSX | BPF_B, 0, 10, -8, 0), raw(BPF_LDX | BPF_MEMSX | BPF_W, 2, 10, -8, 0), alu64_reg(BPF_ADD, 0, 2), exit()], "", None),
        case("legacy packet loads", prog![mov64_reg(6, 1), raw(BPF_LD | BPF_ABS | BPF_H, 0, 0, 0, 12), raw(BPF_LD | BPF_IND | BPF_B, 0, 0, 0, 14), exit()], "", None),
        case("tail call from a function under a small frame", prog![st(BPF_DW, 10, -64, 0), call_rel(2), mov64_imm(0, 0), exit(), ld_map(2, PROG_ARRAY), mov64_imm(3, 0), call(12), mov64_imm(0, 0), exit()], "", None),
        case("signed 32-bit range checks", prog![ldx(BPF_W, 2, 1, 0), mov64_imm(0, 0), jmp32_imm(BPF_JSLT, 2, 0, 4), jmp32_imm(BPF_JSGT, 2, 7, 3), mov64_reg(3, 10), alu64_reg(BPF_ADD, 3, 2), ldx(BPF_B, 0, 3, -8), exit()], "", None),
        case("jmp32 bounds", prog![ldx(BPF_W, 2, 1, 0), mov64_imm(0, 0), jmp32_imm(BPF_JGT, 2, 7, 3), mov64_reg(3, 10), alu64_reg(BPF_ADD, 3, 2), ldx(BPF_B, 0, 3, -8), exit()], "", None),
    ]
}
