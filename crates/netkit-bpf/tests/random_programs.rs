//! Random bytecode, biased towards valid opcodes, registers and small offsets: whatever the
//! decoder accepts must run to a result or an abort, never a panic, and never past the budget.

mod common;
use std::sync::Arc;

use netkit_bpf::insn::Insn;
use netkit_bpf::obj::MapType;
use netkit_bpf::skb::Skb;
use netkit_bpf::{Map, MapDef, Program};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[(self.next() % xs.len() as u64) as usize]
    }
}

/// Opcodes of every class, plus a few invalid ones.
const CODES: &[u8] = &[
    0x07, 0x0f, 0x17, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x47, 0x4f, 0x57, 0x5f, 0x67, 0x6f, 0x77, 0x7f,
    0x87, 0x97, 0x9f, 0xa7, 0xaf, 0xb7, 0xbf, 0xc7, 0xcf, 0xd4, 0xdc, 0xd7, 0x04, 0x0c, 0x14, 0x24,
    0x34, 0x3c, 0x44, 0x54, 0x64, 0x74, 0x84, 0x94, 0x9c, 0xa4, 0xb4, 0xbc, 0xc4, 0x05, 0x06, 0x15,
    0x1d, 0x25, 0x2d, 0x35, 0x45, 0x55, 0x5d, 0x65, 0x6d, 0x75, 0xa5, 0xad, 0xb5, 0xc5, 0xd5, 0x16,
    0x1e, 0x56, 0xa6, 0x85, 0x95, 0x18, 0x61, 0x69, 0x71, 0x79, 0x81, 0x89, 0x91, 0x62, 0x6a, 0x72,
    0x7a, 0x63, 0x6b, 0x73, 0x7b, 0xc3, 0xdb, 0x20, 0x28, 0x30, 0x40, 0x48, 0x50, 0x00, 0xff, 0x8d,
];
const HELPERS: &[i32] = &[
    1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 23, 25, 26, 28, 38, 43, 50, 130, 131, 132, 181, 164,
];

fn random_insn(rng: &mut Rng, at: usize, len: usize) -> Insn {
    let code = rng.pick(CODES);
    let mut insn = Insn {
        code,
        dst: (rng.next() % 11) as u8,
        src: (rng.next() % 11) as u8,
        off: rng.pick(&[0i16, 1, -1, -8, -16, -512, 4, 8, 76, 80, 12, 14, 2, 3]),
        imm: rng.pick(&[
            0i32,
            1,
            -1,
            2,
            7,
            8,
            16,
            32,
            64,
            63,
            31,
            i32::MIN,
            i32::MAX,
            0x800,
            14,
        ]),
    };
    // Registers written are r0..r9 mostly; jumps land inside the program mostly.
    if !rng.next().is_multiple_of(8) {
        insn.dst = (rng.next() % 10) as u8;
    }
    if matches!(code & 7, 5 | 6) && code != 0x85 && code != 0x95 && !rng.next().is_multiple_of(8) {
        insn.off = ((rng.next() % (len as u64 + 1)) as i64 - at as i64 - 1) as i16;
    }
    // ALU instructions carry offsets only for signed div/mod and movsx.
    if matches!(code & 7, 4 | 7) && !rng.next().is_multiple_of(8) {
        insn.off = 0;
    }
    if code == 0x85 {
        insn.src = rng.pick(&[0u8, 0, 0, 1]);
        insn.imm = if insn.src == 1 {
            ((rng.next() % len as u64) as i64 - at as i64 - 1) as i32
        } else {
            rng.pick(HELPERS)
        };
    }
    if code == 0x18 {
        insn.src = rng.pick(&[0u8, 0, 5, 6, 4]);
        insn.imm = (rng.next() % 3) as i32;
    }
    insn
}

#[test]
fn random_programs_never_panic() {
    let maps = vec![
        Arc::new(
            Map::new(
                "a",
                MapDef {
                    map_type: MapType::Array,
                    key_size: 4,
                    value_size: 16,
                    max_entries: 4,
                    map_flags: 0,
                    readonly: false,
                },
            )
            .unwrap(),
        ),
        Arc::new(
            Map::new(
                "h",
                MapDef {
                    map_type: MapType::Hash,
                    key_size: 4,
                    value_size: 8,
                    max_entries: 4,
                    map_flags: 0,
                    readonly: false,
                },
            )
            .unwrap(),
        ),
        Arc::new(
            Map::new(
                "r",
                MapDef {
                    map_type: MapType::RingBuf,
                    key_size: 0,
                    value_size: 0,
                    max_entries: 4096,
                    map_flags: 0,
                    readonly: false,
                },
            )
            .unwrap(),
        ),
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let frame = common::udp4_frame(b"random");
    let (mut loaded, mut ran, mut aborted) = (0, 0, 0);
    let rounds = if cfg!(debug_assertions) {
        6_000
    } else {
        20_000
    };
    for _ in 0..rounds {
        let len = 2 + (rng.next() % 24) as usize;
        let mut insns: Vec<Insn> = (0..len).map(|at| random_insn(&mut rng, at, len)).collect();
        // Most programs end in exit so that some run to completion.
        if !rng.next().is_multiple_of(4) {
            insns.push(Insn {
                code: 0x95,
                ..Insn::default()
            });
        }
        // A 16-byte load needs its second half.
        if let Some(i) = insns.iter().position(|i| i.code == 0x18) {
            if i + 1 < insns.len() && !rng.next().is_multiple_of(8) {
                insns[i + 1] = Insn {
                    imm: insns[i + 1].imm,
                    ..Insn::default()
                };
            }
        }
        // The VM alone must contain whatever decodes; the verifier is not relied on.
        let Ok(p) = Program::from_insns_unverified(&insns, maps.clone()) else {
            continue;
        };
        loaded += 1;
        let mut skb = Skb::from_frame(&frame);
        match p.run(&mut skb) {
            Ok(_) => ran += 1,
            Err(_) => aborted += 1,
        }
        let mut mem = vec![0u8; 64];
        let _ = p.run_with_mem(&mut mem);
    }
    // The generator must exercise both outcomes, or it tests nothing.
    assert!(
        loaded > rounds / 20 && ran > 50 && aborted > 50,
        "{loaded} {ran} {aborted}"
    );
}
