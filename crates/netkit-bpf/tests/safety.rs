//! Memory safety without trusting the program: every violation aborts the run with a reason
//! and the instruction index; nothing panics.

mod common;
use common::*;
use netkit_bpf::insn::*;
use netkit_bpf::skb::Skb;
use netkit_bpf::{AbortReason, Program};

fn abort_of(insns: &[Insn]) -> (AbortReason, usize) {
    let p = build(insns, vec![]);
    let mut skb = Skb::from_frame(&udp4_frame(b"hello"));
    let e = p.run(&mut skb).expect_err("run aborts");
    assert_eq!(p.stats().aborts(), 1);
    (e.reason, e.insn)
}

#[test]
fn stack_out_of_bounds() {
    let (r, at) = abort_of(&prog![mov64_imm(0, 0), stx(BPF_DW, 10, 0, 0), exit()]);
    assert!(
        matches!(r, AbortReason::OutOfBounds { write: true, .. }),
        "{r:?}"
    );
    assert_eq!(at, 1);
    // Straddling the top of the stack.
    let (r, _) = abort_of(&prog![ldx(BPF_DW, 0, 10, -4), exit()]);
    assert!(matches!(r, AbortReason::OutOfBounds { size: 8, .. }));
    // Far below the stack: the offset borrows from the region tag.
    let (r, _) = abort_of(&prog![
        mov64_reg(1, 10),
        alu64_imm(BPF_SUB, 1, 8192),
        ldx(BPF_B, 0, 1, 0),
        exit()
    ]);
    assert!(matches!(r, AbortReason::OutOfBounds { .. }));
}

#[test]
fn scalars_are_not_pointers() {
    let (r, _) = abort_of(&prog![ld_imm64(1, 0x1000), ldx(BPF_W, 0, 1, 0), exit()]);
    assert!(matches!(r, AbortReason::OutOfBounds { .. }));
    let (r, _) = abort_of(&prog![mov64_imm(1, 0), stx(BPF_B, 1, 1, 0), exit()]);
    assert!(matches!(r, AbortReason::OutOfBounds { .. }));
}

#[test]
fn packet_bounds_are_data_to_data_end() {
    let frame = udp4_frame(b"hello");
    let len = frame.len() as i16;
    // Reading the last byte works; one past data_end aborts.
    let read_at = |off: i16| prog![ldx(BPF_W, 2, 1, 76), ldx(BPF_B, 0, 2, off), exit()];
    let p = build(&read_at(len - 1), vec![]);
    assert_eq!(
        p.run(&mut Skb::from_frame(&frame)),
        Ok(u64::from(frame[frame.len() - 1]))
    );
    let (r, at) = abort_of(&read_at(len));
    assert!(matches!(r, AbortReason::OutOfBounds { .. }));
    assert_eq!(at, 1);
    // Headroom before data is not readable.
    let (r, _) = abort_of(&read_at(-1));
    assert!(matches!(r, AbortReason::OutOfBounds { .. }));
}

#[test]
fn stale_packet_pointers_fail_after_resize() {
    // r7 = data; bpf_skb_change_tail(skb, len + 10, 0); *(u8 *)r7 -> abort
    let p = prog![
        mov64_reg(6, 1),
        ldx(BPF_W, 7, 6, 76),
        ldx(BPF_W, 2, 6, 0),
        alu64_imm(BPF_ADD, 2, 10),
        mov64_imm(3, 0),
        call(38),
        ldx(BPF_B, 0, 7, 0),
        exit()
    ];
    let (r, at) = abort_of(&p);
    assert!(matches!(r, AbortReason::OutOfBounds { .. }));
    assert_eq!(at, 6);
    // Reloading data after the helper works.
    let mut q = p.clone();
    q.insert(6, ldx(BPF_W, 7, 6, 76));
    let prog = build(&q, vec![]);
    let frame = udp4_frame(b"x");
    assert_eq!(
        prog.run(&mut Skb::from_frame(&frame)),
        Ok(u64::from(frame[0]))
    );
}

#[test]
fn context_rules() {
    // Writes to read-only fields abort.
    let (r, _) = abort_of(&prog![mov64_imm(0, 1), stx(BPF_W, 1, 0, 0), exit()]);
    assert!(matches!(
        r,
        AbortReason::BadContext {
            off: 0,
            write: true,
            ..
        }
    ));
    // Socket fields and out-of-struct offsets abort.
    let (r, _) = abort_of(&prog![ldx(BPF_W, 0, 1, 92), exit()]);
    assert!(matches!(r, AbortReason::BadContext { off: 92, .. }));
    let (r, _) = abort_of(&prog![ldx(BPF_W, 0, 1, 192), exit()]);
    assert!(matches!(r, AbortReason::BadContext { .. }));
    // data must be a 4-byte load; misaligned loads abort.
    let (r, _) = abort_of(&prog![ldx(BPF_DW, 0, 1, 72), exit()]);
    assert!(matches!(r, AbortReason::BadContext { .. }));
    let (r, _) = abort_of(&prog![ldx(BPF_W, 0, 1, 2), exit()]);
    assert!(matches!(r, AbortReason::BadContext { .. }));
}

#[test]
fn instruction_budget_ends_infinite_loops() {
    let (r, at) = abort_of(&prog![mov64_imm(0, 0), ja(-1), exit()]);
    assert_eq!(r, AbortReason::Budget);
    assert_eq!(at, 1);
}

#[test]
fn call_depth_is_bounded() {
    // f calls itself forever.
    let (r, _) = abort_of(&prog![call_rel(-1), exit()]);
    assert_eq!(r, AbortReason::CallDepth);
}

#[test]
fn falling_off_the_end_and_holes() {
    let (r, at) = abort_of(&prog![mov64_imm(0, 0)]);
    assert_eq!((r, at), (AbortReason::FellOff, 1));
    // A jump into the second half of ld_imm64 is rejected at load.
    let e =
        Program::from_insns_unverified(&prog![ja(1), ld_imm64(0, 1), exit()], vec![]).unwrap_err();
    assert!(e.to_string().contains("middle of ld_imm64"), "{e}");
}

#[test]
fn decoder_rejects_what_it_cannot_run() {
    let cases: Vec<(Vec<Insn>, &str)> = vec![
        (prog![raw(0xff, 0, 0, 0, 0), exit()], "insn 0"),
        (prog![ja(5), exit()], "jump out of range"),
        (prog![mov64_imm(10, 0), exit()], "r10"),
        (prog![mov64_imm(11, 0), exit()], "invalid register"),
        (prog![call(9999), exit()], "unknown helper id 9999"),
        (prog![ld_map(1, 0), exit()], "map index 0 out of range"),
        (
            prog![raw(BPF_LD | BPF_DW | BPF_IMM, 0, 0, 0, 0)],
            "missing its second half",
        ),
        (
            prog![atomic(BPF_B, 10, 1, -8, BPF_ADD as i32), exit()],
            "insn 0",
        ),
        (
            prog![atomic(BPF_DW, 10, 1, -8, 0x77), exit()],
            "unknown atomic",
        ),
    ];
    for (p, want) in cases {
        let e = Program::from_insns_unverified(&p, vec![])
            .expect_err("rejected")
            .to_string();
        assert!(e.contains(want), "{e:?} should mention {want:?}");
    }
}

#[test]
fn misaligned_atomic_aborts() {
    let (r, _) = abort_of(&prog![
        mov64_imm(1, 1),
        atomic(BPF_W, 10, 1, -6, BPF_ADD as i32),
        exit()
    ]);
    assert!(matches!(r, AbortReason::Misaligned { .. }));
}

#[test]
fn helper_arguments_are_checked() {
    // map_lookup_elem with a scalar as the map.
    let (r, _) = abort_of(&prog![mov64_imm(1, 0), mov64_imm(2, 0), call(1), exit()]);
    assert!(matches!(r, AbortReason::HelperArg { .. }));
    // skb_load_bytes into a buffer that runs off the stack.
    let (r, _) = abort_of(&prog![
        mov64_imm(2, 0),
        mov64_reg(3, 10),
        alu64_imm(BPF_ADD, 3, -4),
        mov64_imm(4, 8),
        call(26),
        exit()
    ]);
    assert!(matches!(r, AbortReason::OutOfBounds { .. }), "{r:?}");
}

#[test]
fn many_threads_run_one_program() {
    use std::sync::Arc;
    let p = Arc::new(build(&prog![ldx(BPF_W, 0, 1, 0), exit()], vec![]));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let p = p.clone();
            std::thread::spawn(move || {
                for n in 0..500usize {
                    let frame = vec![0u8; 14 + (t * 7 + n) % 100];
                    let mut skb = Skb::from_frame(&frame);
                    assert_eq!(p.run(&mut skb), Ok(frame.len() as u64));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("thread ran");
    }
    assert_eq!(p.stats().runs(), 2000);
    assert_eq!(p.stats().aborts(), 0);
}

#[test]
fn the_verifier_is_in_the_load_path() {
    // A store through r10+0 is outside the frame: the verifier rejects it at load with the
    // instruction index, before the VM would have aborted it at run time.
    let p = prog![mov64_imm(0, 0), stx(BPF_DW, 10, 0, 0), exit()];
    let e = Program::from_insns(&p, vec![]).expect_err("rejected at load");
    assert!(e.to_string().contains("insn 1"), "{e}");
    assert!(build_verified(&prog![mov64_imm(0, 3), exit()], vec![])
        .run(&mut Skb::from_frame(&[0; 14]))
        .is_ok());
}

#[test]
fn huge_sizes_abort_instead_of_allocating() {
    use netkit_bpf::obj::MapType;
    use netkit_bpf::{Map, MapDef};
    // bpf_perf_event_output(ctx, map, 0, fp-8, 0x7fffffff): a length no memory has.
    let perf = std::sync::Arc::new(
        Map::new(
            "perf",
            MapDef {
                map_type: MapType::PerfEventArray,
                key_size: 4,
                value_size: 4,
                max_entries: 1,
                map_flags: 0,
                readonly: false,
            },
        )
        .unwrap(),
    );
    perf.perf_open(0).unwrap();
    let p = build(
        &prog![
            ld_map(2, 0),
            mov64_imm(3, 0),
            mov64_reg(4, 10),
            alu64_imm(BPF_ADD, 4, -8),
            mov64_imm(5, 0x7fff_ffff),
            call(25),
            exit()
        ],
        vec![perf],
    );
    let e = p.run(&mut Skb::from_frame(&[0; 14])).unwrap_err();
    assert!(matches!(e.reason, AbortReason::OutOfBounds { .. }), "{e:?}");
    // A length within limits but beyond the stack also aborts (csum_diff of 0xfff0 bytes).
    let (r, _) = abort_of(&prog![
        mov64_reg(1, 10),
        alu64_imm(BPF_ADD, 1, -8),
        mov64_imm(2, 0),
        mov64_reg(3, 1),
        mov64_imm(4, 0xfff0),
        mov64_imm(5, 0),
        call(28),
        exit()
    ]);
    assert!(matches!(r, AbortReason::OutOfBounds { .. }), "{r:?}");
    // Maps with absurd value sizes are refused at creation.
    let def = MapDef {
        map_type: MapType::Hash,
        key_size: 4,
        value_size: u32::MAX,
        max_entries: 1,
        map_flags: 0,
        readonly: false,
    };
    assert!(Map::new("huge", def.clone()).is_err());
    assert!(Map::new(
        "huge",
        MapDef {
            key_size: 4096,
            value_size: 8,
            ..def
        }
    )
    .is_err());
}

#[test]
fn repeated_vlan_pushes_stay_cheap() {
    // 20k pushes (the budget allows them): headroom grows geometrically, not per push.
    let p = build(
        &prog![
            mov64_reg(6, 1),
            mov64_imm(7, 20_000),
            mov64_reg(1, 6),
            mov64_imm(2, 0x0081),
            mov64_imm(3, 1),
            call(18),
            alu64_imm(BPF_SUB, 7, 1),
            jmp_imm(BPF_JNE, 7, 0, -6),
            mov64_imm(0, 0),
            exit()
        ],
        vec![],
    );
    let mut skb = Skb::from_frame(&udp4_frame(b"x"));
    assert_eq!(p.run(&mut skb), Ok(0));
    assert_eq!(skb.len(), udp4_frame(b"x").len() + 4 * 19_999);
}

#[test]
fn callbacks_share_the_run_budget() {
    // bpf_loop(1 << 23, cb, 0, 0) with cb returning 0: 16M+ instructions, over the budget.
    let p = prog![
        mov64_imm(1, 1 << 23),
        ld_func(2, 5),
        mov64_imm(3, 0),
        mov64_imm(4, 0),
        call(181),
        exit(),
        mov64_imm(0, 0),
        exit()
    ];
    let (r, _) = abort_of(&p);
    assert_eq!(r, AbortReason::Budget);
    // 1000 iterations fit: bpf_loop returns the count.
    let mut small = p.clone();
    small[0] = mov64_imm(1, 1000);
    let prog = build(&small, vec![]);
    assert_eq!(prog.run(&mut Skb::from_frame(&[0; 14])), Ok(1000));
}

#[test]
fn helpers_the_engine_lacks_fail_to_load_by_name() {
    // bpf_fib_lookup (69) is a SCHED_CLS helper the engine does not implement.
    let p = prog![
        mov64_imm(2, 0),
        mov64_imm(3, 0),
        mov64_imm(4, 0),
        call(69),
        exit()
    ];
    let e = Program::from_insns(&p, vec![])
        .expect_err("rejected")
        .to_string();
    assert!(e.contains("fib_lookup"), "{e}");
    assert!(netkit_bpf::helpers::name(69).is_none());
    assert_eq!(netkit_bpf::helpers::name(23), Some("redirect"));
}
