//! Program generators for fuzzing: a seeded PRNG, uniformly random bytecode, structured
//! "valid-ish" programs built from the instruction shapes compilers emit, and mutations of
//! known programs.

use netkit_bpf::insn::*;
use netkit_bpf::obj::{PSEUDO_MAP_IDX, PSEUDO_MAP_IDX_VALUE};
use netkit_bpf::verifier::helpers::PROTOS;

/// splitmix64: tiny, fast, and reproducible from a seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        dst,
        src,
        off,
        imm,
    }
}

/// Immediates that sit on the edges the kernel and the VM must get right.
const EDGES: &[i32] = &[
    0,
    1,
    -1,
    2,
    7,
    8,
    14,
    15,
    16,
    20,
    31,
    32,
    63,
    64,
    255,
    0xffff,
    0x7fff_ffff,
    i32::MIN,
    -8,
    -512,
];

fn imm(rng: &mut Rng) -> i32 {
    if rng.chance(70) {
        rng.pick(EDGES)
    } else {
        rng.next() as i32
    }
}

/// Uniformly random slots.
pub fn random_bytes(rng: &mut Rng) -> Vec<Insn> {
    let n = 1 + rng.below(24);
    (0..n).map(|_| Insn::from_raw(rng.next())).collect()
}

const ALU_OPS: &[u8] = &[
    BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND, BPF_LSH, BPF_RSH, BPF_NEG, BPF_MOD,
    BPF_XOR, BPF_MOV, BPF_ARSH, BPF_END,
];
const JMP_OPS: &[u8] = &[
    BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET, BPF_JNE, BPF_JSGT, BPF_JSGE, BPF_JLT, BPF_JLE, BPF_JSLT,
    BPF_JSLE,
];
const SIZES: &[u8] = &[BPF_B, BPF_H, BPF_W, BPF_DW];

/// A program shaped like compiler output: a prologue that sets up packet, map and stack
/// pointers, a body of mixed instructions with mostly forward jumps, and an epilogue.
pub fn structured(rng: &mut Rng, maps: u32) -> Vec<Insn> {
    let mut p = Vec::new();
    // r6 = ctx, r7 = data, r8 = data_end, bounds check of a random length; scratch
    // registers start as numbers.
    p.push(insn(BPF_ALU64 | BPF_MOV | BPF_X, 6, 1, 0, 0));
    for r in [0, 2, 3, 4, 5, 9] {
        if rng.chance(80) {
            p.push(insn(BPF_ALU64 | BPF_MOV | BPF_K, r, 0, 0, imm(rng)));
        }
    }
    if rng.chance(70) {
        let len = rng.pick(&[0, 1, 8, 14, 20, 34, 54, 64]);
        p.push(insn(BPF_LDX | BPF_MEM | BPF_W, 7, 6, 76, 0));
        p.push(insn(BPF_LDX | BPF_MEM | BPF_W, 8, 6, 80, 0));
        p.push(insn(BPF_ALU64 | BPF_MOV | BPF_X, 9, 7, 0, 0));
        p.push(insn(BPF_ALU64 | BPF_ADD | BPF_K, 9, 0, 0, len));
        p.push(insn(BPF_JMP | BPF_JGT | BPF_X, 9, 8, 0, 0)); // patched to the epilogue
    } else {
        p.push(insn(BPF_ALU64 | BPF_MOV | BPF_K, 7, 0, 0, imm(rng)));
        p.push(insn(BPF_ALU64 | BPF_MOV | BPF_K, 8, 0, 0, imm(rng)));
    }
    if maps > 0 && rng.chance(50) {
        // r0 = lookup(map, &key)
        p.push(insn(
            BPF_ST | BPF_MEM | BPF_W,
            10,
            0,
            -4,
            rng.below(4) as i32,
        ));
        p.push(insn(BPF_ALU64 | BPF_MOV | BPF_X, 2, 10, 0, 0));
        p.push(insn(BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, -4));
        // Only the data maps (the first three) can be looked up.
        let m = rng.below(u64::from(maps.min(3))) as i32;
        p.push(insn(BPF_LD | BPF_IMM | BPF_DW, 1, PSEUDO_MAP_IDX, 0, m));
        p.push(insn(0, 0, 0, 0, 0));
        p.push(insn(BPF_JMP | BPF_CALL, 0, 0, 0, 1));
        if rng.chance(80) {
            p.push(insn(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 0, 0)); // patched
        }
    }
    let body = 1 + rng.below(40);
    for _ in 0..body {
        body_insn(rng, &mut p, maps);
    }
    let epilogue = p.len();
    p.push(insn(
        BPF_ALU64 | BPF_MOV | BPF_K,
        0,
        0,
        0,
        rng.pick(&[0, 1, 2, 7, -1]),
    ));
    p.push(insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
    // Point placeholder checks (off 0) and jumps that would leave the program or land
    // inside a 16-byte load at the epilogue.
    let second_half: Vec<bool> = (0..p.len())
        .map(|pc| pc > 0 && p[pc - 1].code == BPF_LD | BPF_IMM | BPF_DW)
        .collect();
    for pc in 0..epilogue {
        let i = p[pc];
        let jump = matches!(i.class(), BPF_JMP | BPF_JMP32)
            && !matches!(i.code & 0xf0, BPF_CALL | BPF_EXIT)
            && !second_half[pc];
        if !jump {
            continue;
        }
        let target = pc as i64 + i64::from(i.off) + 1;
        if i.off == 0 || target < 0 || target > epilogue as i64 || second_half[target as usize] {
            p[pc].off = (epilogue - pc - 1) as i16;
        }
    }
    p
}

fn reg(rng: &mut Rng) -> u8 {
    // Mostly the registers the prologue set up.
    if rng.chance(90) {
        rng.pick(&[0, 6, 7, 8, 9, 10])
    } else {
        rng.below(11) as u8
    }
}

fn body_insn(rng: &mut Rng, p: &mut Vec<Insn>, maps: u32) {
    let pc = p.len();
    match rng.below(12) {
        0..=3 => {
            let op = rng.pick(ALU_OPS);
            let class = if rng.chance(60) { BPF_ALU64 } else { BPF_ALU };
            let x = rng.chance(40);
            let dst = if rng.chance(70) {
                rng.pick(&[0, 9])
            } else {
                rng.below(10) as u8
            };
            let mut i = insn(class | op | if x { BPF_X } else { BPF_K }, dst, 0, 0, 0);
            if x {
                i.src = reg(rng);
            } else {
                i.imm = imm(rng);
                if matches!(op, BPF_LSH | BPF_RSH | BPF_ARSH) {
                    i.imm &= if class == BPF_ALU64 { 63 } else { 31 };
                }
                if matches!(op, BPF_DIV | BPF_MOD) && i.imm == 0 {
                    i.imm = 3;
                }
            }
            if op == BPF_END {
                i.imm = rng.pick(&[16, 32, 64]);
                i.src = 0;
                if class == BPF_ALU64 {
                    i.code = class | op;
                }
            }
            if op == BPF_NEG {
                i.code = class | op;
                i.src = 0;
                i.imm = 0;
            }
            if matches!(op, BPF_DIV | BPF_MOD) && rng.chance(20) {
                i.off = 1;
            }
            if op == BPF_MOV && x && rng.chance(15) {
                i.off = rng.pick(&[8, 16, 32]);
            }
            p.push(i);
        }
        4 | 5 => {
            let size = rng.pick(SIZES);
            let base = reg(rng);
            let off = match base {
                10 => -(rng.below(520) as i16),
                6 => rng.below(200) as i16,
                _ => rng.below(70) as i16 - 4,
            };
            let mode = if rng.chance(10) && size != BPF_DW {
                BPF_MEMSX
            } else {
                BPF_MEM
            };
            p.push(insn(
                BPF_LDX | mode | size,
                rng.below(10) as u8,
                base,
                off,
                0,
            ));
        }
        6 => {
            let size = rng.pick(SIZES);
            let base = reg(rng);
            let off = if base == 10 {
                -(rng.below(520) as i16)
            } else {
                rng.below(70) as i16
            };
            if rng.chance(50) {
                p.push(insn(BPF_ST | BPF_MEM | size, base, 0, off, imm(rng)));
            } else {
                p.push(insn(BPF_STX | BPF_MEM | size, base, reg(rng), off, 0));
            }
        }
        7 => {
            let op = rng.pick(&[0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1]);
            let size = rng.pick(&[BPF_W, BPF_DW]);
            let base = rng.pick(&[10, 0, 7]);
            let off = if base == 10 {
                -8 * (1 + rng.below(8) as i16)
            } else {
                8 * rng.below(3) as i16
            };
            p.push(insn(
                BPF_STX | BPF_ATOMIC | size,
                base,
                rng.below(10) as u8,
                off,
                op,
            ));
        }
        8 | 9 => {
            let op = rng.pick(JMP_OPS);
            let class = if rng.chance(70) { BPF_JMP } else { BPF_JMP32 };
            // Forward by a little, rarely backward (loops).
            let off = if rng.chance(8) {
                -(rng.below(pc as u64 + 1) as i16) - 1
            } else {
                1 + rng.below(6) as i16
            };
            if rng.chance(50) {
                p.push(insn(class | op | BPF_X, reg(rng), reg(rng), off, 0));
            } else {
                p.push(insn(class | op | BPF_K, reg(rng), 0, off, imm(rng)));
            }
        }
        10 => {
            // Helper call with plausible arguments already in place, or a random id.
            let id = if rng.chance(90) {
                rng.pick(PROTOS).id as i32
            } else {
                rng.below(300) as i32
            };
            if rng.chance(50) {
                p.push(insn(BPF_ALU64 | BPF_MOV | BPF_X, 1, 6, 0, 0));
            }
            for r in 2..=5 {
                if rng.chance(60) {
                    p.push(insn(
                        BPF_ALU64 | BPF_MOV | BPF_K,
                        r,
                        0,
                        0,
                        rng.pick(&[0, 1, 4, 8, 14]),
                    ));
                }
            }
            p.push(insn(BPF_JMP | BPF_CALL, 0, 0, 0, id));
            // Calls clobber r1-r5; compilers reload what they use next.
            for r in 1..=5 {
                if rng.chance(70) {
                    p.push(insn(BPF_ALU64 | BPF_MOV | BPF_K, r, 0, 0, imm(rng)));
                }
            }
        }
        _ => {
            if maps > 0 && rng.chance(50) {
                let src = rng.pick(&[PSEUDO_MAP_IDX, PSEUDO_MAP_IDX_VALUE]);
                let m = rng.below(u64::from(maps)) as i32;
                p.push(insn(
                    BPF_LD | BPF_IMM | BPF_DW,
                    rng.below(10) as u8,
                    src,
                    0,
                    m,
                ));
                p.push(insn(
                    0,
                    0,
                    0,
                    0,
                    if src == PSEUDO_MAP_IDX {
                        0
                    } else {
                        rng.below(24) as i32
                    },
                ));
            } else {
                let v = rng.next();
                p.push(insn(
                    BPF_LD | BPF_IMM | BPF_DW,
                    rng.below(10) as u8,
                    0,
                    0,
                    v as i32,
                ));
                p.push(insn(0, 0, 0, 0, (v >> 32) as i32));
            }
        }
    }
}

/// A few random edits of `prog`: bit flips, field rewrites, insertions, deletions, swaps.
pub fn mutate(rng: &mut Rng, prog: &[Insn]) -> Vec<Insn> {
    let mut p = prog.to_vec();
    let edits = 1 + rng.below(4);
    for _ in 0..edits {
        if p.is_empty() {
            p.push(Insn::from_raw(rng.next()));
            continue;
        }
        let at = rng.below(p.len() as u64) as usize;
        match rng.below(8) {
            0 | 1 => {
                let raw = p[at].to_raw() ^ (1u64 << rng.below(64));
                p[at] = Insn::from_raw(raw);
            }
            2 => p[at].imm = imm(rng),
            3 => p[at].off = imm(rng) as i16,
            4 => p[at].dst = rng.below(11) as u8,
            5 => p.insert(at, Insn::from_raw(rng.next())),
            6 => {
                p.remove(at);
            }
            _ => {
                let other = rng.below(p.len() as u64) as usize;
                p.swap(at, other);
            }
        }
    }
    p
}

/// A few random edits of an object file's bytes: flips, overwrites with edge values,
/// truncation, insertions.
pub fn mutate_bytes(rng: &mut Rng, bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    let edits = 1 + rng.below(8);
    for _ in 0..edits {
        if b.is_empty() {
            b.push(rng.next() as u8);
            continue;
        }
        let at = rng.below(b.len() as u64) as usize;
        match rng.below(6) {
            0 | 1 => b[at] ^= 1 << rng.below(8),
            2 => b[at] = rng.pick(&[0, 0xff, 0x7f, 0x80, 1]),
            3 => {
                // A 32-bit field set to an edge value (offsets, sizes, counts).
                let v: u32 = rng.pick(&[0, u32::MAX, 0x8000_0000, 1, 0xffff]);
                for (k, byte) in v.to_le_bytes().iter().enumerate() {
                    if let Some(x) = b.get_mut(at + k) {
                        *x = *byte;
                    }
                }
            }
            4 => b.truncate(at),
            _ => b.insert(at, rng.next() as u8),
        }
    }
    b
}
