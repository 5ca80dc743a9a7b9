//! Every instruction class against the results the kernel defines (kernel/bpf/core.c and the
//! verifier's div/mod-by-zero rewrite), with edge values.

mod common;
use common::*;
use netkit_bpf::insn::*;

/// r0 = a; r1 = b; r0 = r0 OP r1 (64-bit, register form); exit.
fn op64(op: u8, off: i16, a: u64, b: u64) -> u64 {
    let mut alu = alu64_reg(op, 0, 1);
    alu.off = off;
    r0(&prog![ld_imm64(0, a), ld_imm64(1, b), alu, exit()])
}

fn op32(op: u8, off: i16, a: u64, b: u64) -> u64 {
    let mut alu = alu32_reg(op, 0, 1);
    alu.off = off;
    r0(&prog![ld_imm64(0, a), ld_imm64(1, b), alu, exit()])
}

/// Immediate form, 64-bit: the immediate is sign-extended.
fn op64k(op: u8, off: i16, a: u64, imm: i32) -> u64 {
    let mut alu = alu64_imm(op, 0, imm);
    alu.off = off;
    r0(&prog![ld_imm64(0, a), alu, exit()])
}

const MIN64: u64 = i64::MIN as u64;
const NEG1: u64 = u64::MAX;

#[test]
fn alu64_arithmetic() {
    assert_eq!(op64(BPF_ADD, 0, u64::MAX, 2), 1);
    assert_eq!(op64(BPF_SUB, 0, 0, 1), u64::MAX);
    assert_eq!(
        op64(BPF_MUL, 0, 0x1_0000_0001, 0x1_0000_0001),
        0x2_0000_0001
    );
    assert_eq!(op64(BPF_DIV, 0, 100, 7), 14);
    assert_eq!(op64(BPF_DIV, 0, NEG1, 2), u64::MAX / 2);
    assert_eq!(op64(BPF_DIV, 0, 12345, 0), 0, "div by zero is 0");
    assert_eq!(op64(BPF_MOD, 0, 100, 7), 2);
    assert_eq!(op64(BPF_MOD, 0, 12345, 0), 12345, "mod by zero leaves dst");
    assert_eq!(op64(BPF_OR, 0, 0xf0, 0x0f), 0xff);
    assert_eq!(op64(BPF_AND, 0, 0xf0, 0x3c), 0x30);
    assert_eq!(op64(BPF_XOR, 0, 0xff, 0x0f), 0xf0);
    assert_eq!(op64(BPF_MOV, 0, 1, 77), 77);
    // Immediates are sign-extended for 64-bit ops, unsigned div included.
    assert_eq!(op64k(BPF_ADD, 0, 5, -1), 4);
    assert_eq!(op64k(BPF_DIV, 0, NEG1, -1), 1);
    assert_eq!(op64k(BPF_MOV, 0, 0, -2), (-2i64) as u64);
    assert_eq!(op64k(BPF_MOD, 0, 7, 0), 7);
    // Immediate forms of the specialised fast paths.
    assert_eq!(
        op64k(BPF_AND, 0, u64::MAX, -2),
        u64::MAX - 1,
        "and imm sign-extends"
    );
    assert_eq!(op64k(BPF_AND, 0, u64::MAX, 0x7fff_ffff), 0x7fff_ffff);
    assert_eq!(op64k(BPF_LSH, 0, 3, 62), 0xc000_0000_0000_0000);
    assert_eq!(op64k(BPF_RSH, 0, MIN64, 63), 1);
    assert_eq!(op64k(BPF_ADD, 0, 1 << 40, i32::MIN), (1 << 40) - (1 << 31));
    let p = prog![
        ld_imm64(1, 0xffff_ffff_0000_0001),
        alu32_reg(BPF_MOV, 0, 1),
        exit()
    ];
    assert_eq!(r0(&p), 1, "32-bit register move zero-extends");
    let p = prog![
        ld_imm64(0, 0xffff_ffff),
        ld_imm64(1, 0x1_0000_0002),
        alu32_reg(BPF_ADD, 0, 1),
        exit()
    ];
    assert_eq!(r0(&p), 1);
}

#[test]
fn alu64_signed_div_mod_v4() {
    assert_eq!(op64(BPF_DIV, 1, (-7i64) as u64, 2), (-3i64) as u64);
    assert_eq!(op64(BPF_DIV, 1, 7, (-2i64) as u64), (-3i64) as u64);
    assert_eq!(op64(BPF_DIV, 1, MIN64, NEG1), MIN64, "INT_MIN / -1 wraps");
    assert_eq!(op64(BPF_DIV, 1, 5, 0), 0);
    assert_eq!(
        op64(BPF_MOD, 1, (-7i64) as u64, 2),
        NEG1,
        "sign follows dividend"
    );
    assert_eq!(op64(BPF_MOD, 1, 7, (-2i64) as u64), 1);
    assert_eq!(op64(BPF_MOD, 1, MIN64, NEG1), 0);
    assert_eq!(op64(BPF_MOD, 1, (-5i64) as u64, 0), (-5i64) as u64);
    assert_eq!(op64k(BPF_DIV, 1, (-9i64) as u64, -3), 3);
}

#[test]
fn shifts_are_masked() {
    assert_eq!(op64(BPF_LSH, 0, 1, 63), 1 << 63);
    assert_eq!(op64(BPF_LSH, 0, 1, 64), 1, "shift by 64 masks to 0");
    assert_eq!(op64(BPF_LSH, 0, 1, 65), 2);
    assert_eq!(op64(BPF_RSH, 0, MIN64, 63), 1);
    assert_eq!(op64(BPF_ARSH, 0, MIN64, 63), NEG1);
    assert_eq!(op64(BPF_ARSH, 0, MIN64, 64 + 4), 0xf800_0000_0000_0000);
    assert_eq!(op32(BPF_LSH, 0, 1, 32), 1);
    assert_eq!(op32(BPF_LSH, 0, 1, 31), 0x8000_0000);
    assert_eq!(op32(BPF_RSH, 0, 0xffff_ffff_8000_0000, 31), 1);
    assert_eq!(
        op32(BPF_ARSH, 0, 0x8000_0000, 4),
        0xf800_0000,
        "32-bit arsh zero-extends"
    );
    assert_eq!(op32(BPF_ARSH, 0, 0x8000_0000, 36), 0xf800_0000);
}

#[test]
fn alu32_zero_extends_and_wraps() {
    assert_eq!(op32(BPF_ADD, 0, 0xffff_ffff, 1), 0);
    assert_eq!(
        op32(BPF_ADD, 0, 0xdead_0000_0000_0005, 1),
        6,
        "upper half cleared"
    );
    assert_eq!(op32(BPF_SUB, 0, 0, 1), 0xffff_ffff);
    assert_eq!(op32(BPF_MUL, 0, 0x1_0001, 0x1_0001), 0x0002_0001);
    assert_eq!(
        op32(BPF_DIV, 0, 0xffff_ffff_0000_0010, 4),
        4,
        "operands truncated"
    );
    assert_eq!(op32(BPF_DIV, 0, 77, 0), 0);
    assert_eq!(
        op32(BPF_MOD, 0, 0xffff_ffff_0000_0009, 0),
        9,
        "mod by zero: dst zero-extended"
    );
    assert_eq!(op32(BPF_MOV, 0, 0, 0xffff_ffff_ffff_ffff), 0xffff_ffff);
    assert_eq!(
        op32(BPF_DIV, 1, 0x8000_0000, 0xffff_ffff),
        0x8000_0000,
        "INT_MIN / -1"
    );
    assert_eq!(op32(BPF_MOD, 1, 0x8000_0000, 0xffff_ffff), 0);
    assert_eq!(
        op32(BPF_DIV, 1, (-7i32) as u32 as u64, 2),
        (-3i32) as u32 as u64
    );
    assert_eq!(op32(BPF_MOD, 1, (-7i32) as u32 as u64, 2), 0xffff_ffff);
    assert_eq!(op32(BPF_MOD, 1, 0xaaaa_aaaa_ffff_fff9, 0), 0xffff_fff9);
    // 32-bit immediates are not sign-extended beyond 32 bits.
    let p = prog![ld_imm64(0, 0), alu32_imm(BPF_MOV, 0, -1), exit()];
    assert_eq!(r0(&p), 0xffff_ffff);
}

#[test]
fn neg_and_movsx() {
    let neg64 = |v| {
        r0(&prog![
            ld_imm64(0, v),
            raw(BPF_ALU64 | BPF_NEG, 0, 0, 0, 0),
            exit()
        ])
    };
    let neg32 = |v| {
        r0(&prog![
            ld_imm64(0, v),
            raw(BPF_ALU | BPF_NEG, 0, 0, 0, 0),
            exit()
        ])
    };
    assert_eq!(neg64(1), NEG1);
    assert_eq!(neg64(MIN64), MIN64);
    assert_eq!(neg32(1), 0xffff_ffff);
    assert_eq!(neg32(0x1_0000_0000), 0);
    let movsx64 = |bits: i16, v| {
        let mut m = mov64_reg(0, 1);
        m.off = bits;
        r0(&prog![ld_imm64(1, v), m, exit()])
    };
    let movsx32 = |bits: i16, v| {
        let mut m = alu32_reg(BPF_MOV, 0, 1);
        m.off = bits;
        r0(&prog![ld_imm64(1, v), m, exit()])
    };
    assert_eq!(movsx64(8, 0x80), 0xffff_ffff_ffff_ff80);
    assert_eq!(movsx64(8, 0x17f), 0x7f);
    assert_eq!(movsx64(16, 0x8000), 0xffff_ffff_ffff_8000);
    assert_eq!(movsx64(32, 0x8000_0000), 0xffff_ffff_8000_0000);
    assert_eq!(movsx32(8, 0x80), 0xffff_ff80);
    assert_eq!(movsx32(16, 0xffff_ffff_0000_8001), 0xffff_8001);
}

#[test]
fn byte_swaps() {
    let end =
        |code: u8, bits: i32, v: u64| r0(&prog![ld_imm64(0, v), raw(code, 0, 0, 0, bits), exit()]);
    let v = 0x0102_0304_0506_0708;
    let to_be = BPF_ALU | BPF_END | BPF_X;
    let to_le = BPF_ALU | BPF_END;
    let bswap = BPF_ALU64 | BPF_END;
    assert_eq!(end(to_be, 16, v), 0x0807);
    assert_eq!(end(to_be, 32, v), 0x0807_0605);
    assert_eq!(end(to_be, 64, v), 0x0807_0605_0403_0201);
    assert_eq!(end(to_le, 16, v), 0x0708);
    assert_eq!(end(to_le, 32, v), 0x0506_0708);
    assert_eq!(end(to_le, 64, v), v);
    assert_eq!(end(bswap, 16, v), 0x0807);
    assert_eq!(end(bswap, 32, v), 0x0807_0605);
    assert_eq!(end(bswap, 64, v), 0x0807_0605_0403_0201);
}

/// r0 = 1 if the jump is taken, else 0.
fn taken(j: Insn, a: u64, b: u64) -> u64 {
    r0(&prog![
        ld_imm64(1, a),
        ld_imm64(2, b),
        mov64_imm(0, 0),
        j,
        exit(),
        mov64_imm(0, 1),
        exit()
    ])
}

#[test]
fn jumps_64_and_32() {
    let cases: &[(u8, u64, u64, bool, bool)] = &[
        // op, a, b, taken64, taken32
        (BPF_JEQ, 5, 5, true, true),
        (BPF_JEQ, 0x1_0000_0005, 5, false, true),
        (BPF_JNE, 0x1_0000_0005, 5, true, false),
        (BPF_JGT, NEG1, 1, true, true),
        (BPF_JGT, 0x1_0000_0000, 1, true, false),
        (BPF_JGE, 7, 7, true, true),
        (BPF_JLT, 1, NEG1, true, true),
        (BPF_JLE, 8, 7, false, false),
        (BPF_JSET, 0x1_0000_0000, 0x1_0000_0000, true, false),
        (BPF_JSGT, 1, NEG1, true, true),
        (BPF_JSGT, 0x8000_0000, 1, true, false),
        (BPF_JSGE, NEG1, NEG1, true, true),
        (BPF_JSLT, MIN64, 0, true, false),
        (BPF_JSLE, 0xffff_ffff, 0, false, true),
    ];
    for &(op, a, b, t64, t32) in cases {
        assert_eq!(
            taken(jmp_reg(op, 1, 2, 1), a, b),
            t64 as u64,
            "jmp {op:#x} {a:#x} {b:#x}"
        );
        assert_eq!(
            taken(jmp32_reg(op, 1, 2, 1), a, b),
            t32 as u64,
            "jmp32 {op:#x} {a:#x} {b:#x}"
        );
    }
    // Immediate forms: 64-bit compares against the sign-extended immediate.
    assert_eq!(taken(jmp_imm(BPF_JEQ, 1, -1, 1), NEG1, 0), 1);
    assert_eq!(taken(jmp32_imm(BPF_JEQ, 1, -1, 1), 0xffff_ffff, 0), 1);
    assert_eq!(taken(jmp_imm(BPF_JEQ, 1, -1, 1), 0xffff_ffff, 0), 0);
}

#[test]
fn gotol_and_backward_loop() {
    // gotol (JMP32 | JA with imm offset) over two instructions.
    let p = prog![
        mov64_imm(0, 1),
        raw(BPF_JMP32 | BPF_JA, 0, 0, 0, 1),
        mov64_imm(0, 2),
        exit()
    ];
    assert_eq!(r0(&p), 1);
    // A bounded loop: sum 1..=100.
    let p = prog![
        mov64_imm(0, 0),
        mov64_imm(1, 100),
        alu64_reg(BPF_ADD, 0, 1),
        alu64_imm(BPF_SUB, 1, 1),
        jmp_imm(BPF_JNE, 1, 0, -3),
        exit()
    ];
    assert_eq!(r0(&p), 5050);
}

#[test]
fn loads_and_stores_all_sizes() {
    let p = prog![
        ld_imm64(1, 0x8182_8384_8586_8788),
        stx(BPF_DW, 10, 1, -8),
        ldx(BPF_W, 2, 10, -8),
        ldx(BPF_H, 3, 10, -6),
        ldx(BPF_B, 4, 10, -1),
        ldxsx(BPF_B, 5, 10, -1),
        ldxsx(BPF_H, 6, 10, -2),
        ldxsx(BPF_W, 7, 10, -4),
        st(BPF_W, 10, -16, -1),
        st(BPF_DW, 10, -24, -1),
        ldx(BPF_DW, 8, 10, -16),
        ldx(BPF_DW, 9, 10, -24),
        // r0 = a checksum of everything: compare each below.
        mov64_reg(0, 2),
        exit()
    ];
    assert_eq!(r0(&p), 0x8586_8788);
    let check = |reg: u8, want: u64| {
        let mut q = p.clone();
        let n = q.len();
        q[n - 2] = mov64_reg(0, reg);
        assert_eq!(r0(&q), want, "r{reg}");
    };
    check(3, 0x8586);
    check(4, 0x81);
    check(5, 0xffff_ffff_ffff_ff81);
    check(6, 0xffff_ffff_ffff_8182);
    check(7, 0xffff_ffff_8182_8384);
    // ST of a W immediate writes 4 bytes; the upper 4 of that slot were never written (0).
    check(8, 0xffff_ffff);
    check(9, u64::MAX);
}

#[test]
fn atomics_on_stack() {
    let run = |op: i32, size: u8, init: u64, src: u64, r0_in: u64| -> (u64, u64, u64) {
        let body = prog![
            ld_imm64(1, init),
            stx(BPF_DW, 10, 1, -8),
            ld_imm64(2, src),
            ld_imm64(0, r0_in),
            atomic(size, 10, 2, -8, op),
        ];
        let get = |tail: Vec<Insn>| {
            let mut p = body.clone();
            p.extend(tail);
            r0(&p)
        };
        let mem = get(prog![ldx(BPF_DW, 0, 10, -8), exit()]);
        let r2 = get(prog![mov64_reg(0, 2), exit()]);
        let r0v = get(prog![exit()]);
        (mem, r2, r0v)
    };
    let add = BPF_ADD as i32;
    assert_eq!(run(add, BPF_DW, 5, 7, 0), (12, 7, 0));
    assert_eq!(run(add | BPF_FETCH, BPF_DW, 5, 7, 0), (12, 5, 0));
    assert_eq!(
        run(add | BPF_FETCH, BPF_W, 0x1_ffff_ffff, 1, 0),
        (0x1_0000_0000, 0xffff_ffff, 0),
        "32-bit add wraps inside its word, fetch zero-extends"
    );
    assert_eq!(
        run(BPF_OR as i32 | BPF_FETCH, BPF_DW, 0xf0, 0x0f, 0),
        (0xff, 0xf0, 0)
    );
    assert_eq!(run(BPF_AND as i32, BPF_DW, 0xf0, 0x3c, 0), (0x30, 0x3c, 0));
    assert_eq!(
        run(BPF_XOR as i32 | BPF_FETCH, BPF_W, 0xff, 0x0f, 0),
        (0xf0, 0xff, 0)
    );
    assert_eq!(run(BPF_XCHG, BPF_DW, 1, 2, 0), (2, 1, 0));
    // cmpxchg: r0 = old; stored only when old == r0.
    assert_eq!(run(BPF_CMPXCHG, BPF_DW, 9, 4, 9), (4, 4, 9));
    assert_eq!(run(BPF_CMPXCHG, BPF_DW, 9, 4, 8), (9, 4, 9));
    assert_eq!(
        run(BPF_CMPXCHG, BPF_W, 0x5_0000_0009, 4, 0xffff_0000_0000_0009),
        (0x5_0000_0004, 4, 9),
        "32-bit cmpxchg compares the low half and zero-extends r0"
    );
}

#[test]
fn bpf_to_bpf_calls_save_registers_and_frames() {
    // main: r6 = 10; *(fp-8) = 1; r1 = 5; call f; r0 += r6 + *(fp-8); exit
    // f:    r6 = 99; *(fp-8) = 1000; r0 = r1 * 2; exit
    let p = prog![
        mov64_imm(6, 10),
        st(BPF_DW, 10, -8, 1),
        mov64_imm(1, 5),
        call_rel(4),
        alu64_reg(BPF_ADD, 0, 6),
        ldx(BPF_DW, 1, 10, -8),
        alu64_reg(BPF_ADD, 0, 1),
        exit(),
        mov64_imm(6, 99),
        st(BPF_DW, 10, -8, 1000),
        mov64_reg(0, 1),
        alu64_imm(BPF_MUL, 0, 2),
        exit()
    ];
    assert_eq!(r0(&p), 10 + 10 + 1);
}

#[test]
fn legacy_packet_loads() {
    use netkit_bpf::skb::Skb;
    let frame: Vec<u8> = (0u8..64).collect();
    let p = build(
        &prog![
            mov64_reg(6, 1),
            raw(BPF_LD | BPF_ABS | BPF_W, 0, 0, 0, 12),
            mov64_reg(7, 0),
            mov64_imm(2, 2),
            raw(BPF_LD | BPF_IND | BPF_H, 0, 2, 0, 20),
            alu64_reg(BPF_ADD, 0, 7),
            exit()
        ],
        vec![],
    );
    let mut skb = Skb::from_frame(&frame);
    assert_eq!(p.run(&mut skb), Ok(0x0c0d_0e0f + 0x1617));
    // Beyond the packet: the program ends returning 0.
    let q = build(
        &prog![
            mov64_reg(6, 1),
            mov64_imm(0, 5),
            raw(BPF_LD | BPF_ABS | BPF_B, 0, 0, 0, 64),
            mov64_imm(0, 9),
            exit()
        ],
        vec![],
    );
    assert_eq!(q.run(&mut Skb::from_frame(&frame)), Ok(0));
}
