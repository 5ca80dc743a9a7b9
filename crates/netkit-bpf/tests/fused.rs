//! The interpreter fuses frequent instruction sequences into one dispatch. Fused or not, a
//! program must compute the same values, take the same branches, and run out of budget at
//! the same instruction.

mod common;
use common::*;
use netkit_bpf::insn::*;
use netkit_bpf::skb::Skb;
use netkit_bpf::vm::INSN_BUDGET;
use netkit_bpf::AbortReason;

fn run(insns: &[Insn]) -> Result<u64, (AbortReason, usize)> {
    let p = build(insns, vec![]);
    let mut skb = Skb::from_frame(&udp4_frame(b"hello"));
    p.run(&mut skb).map_err(|e| (e.reason, e.insn))
}

#[test]
fn counted_loop_runs_its_count() {
    // r0 accumulates r2 = r1 + 3 over 10 iterations of an add+jne back edge.
    let r = run(&prog![
        mov64_imm(0, 0),
        mov64_imm(1, 0),
        mov64_reg(2, 1),
        alu64_imm(BPF_ADD, 2, 3),
        alu64_reg(BPF_ADD, 0, 2),
        alu64_imm(BPF_ADD, 1, 1),
        jmp_imm(BPF_JNE, 1, 10, -5),
        exit(),
    ]);
    assert_eq!(r, Ok((0..10).map(|i| i + 3).sum()));
}

#[test]
fn bounds_check_takes_both_branches() {
    // r3 = r1 + 5; if r3 > r4 goto out: taken for r1 = 10, r4 = 12; not taken for r4 = 15.
    for (end, want) in [(12, 1), (15, 2)] {
        let r = run(&prog![
            mov64_imm(1, 10),
            mov64_imm(4, end),
            mov64_reg(3, 1),
            alu64_imm(BPF_ADD, 3, 5),
            jmp_reg(BPF_JGT, 3, 4, 2),
            mov64_imm(0, 2),
            exit(),
            mov64_imm(0, 1),
            exit(),
        ]);
        assert_eq!(r, Ok(want), "end {end}");
    }
}

#[test]
fn jumps_into_a_fusable_sequence_see_each_instruction() {
    // The jump lands on `r1 += 5`, skipping `r1 = r2`: r1 keeps 100.
    let r = run(&prog![
        mov64_imm(2, 10),
        mov64_imm(1, 100),
        jmp_imm(BPF_JEQ, 2, 10, 1),
        mov64_reg(1, 2),
        alu64_imm(BPF_ADD, 1, 5),
        mov64_reg(0, 1),
        exit(),
    ]);
    assert_eq!(r, Ok(105));
    // Register-to-register form, and a source that is also the destination.
    let r = run(&prog![
        mov64_imm(1, 7),
        mov64_reg(1, 1),
        alu64_reg(BPF_ADD, 1, 1),
        mov64_reg(0, 1),
        exit(),
    ]);
    assert_eq!(r, Ok(14));
}

#[test]
fn budget_runs_out_inside_a_fused_sequence_at_the_same_instruction() {
    // `lead` straight-line instructions, then a 4-instruction loop whose first three fuse
    // (mov, add, jgt never taken). The budget left on entering the loop's last round decides
    // which instruction finds it empty.
    for lead in 1..=4u64 {
        let mut insns = Vec::new();
        for _ in 0..lead {
            insns.extend(prog![mov64_imm(4, -1)]);
        }
        let start = insns.len();
        insns.extend(prog![
            mov64_reg(3, 1),
            alu64_imm(BPF_ADD, 3, 1),
            jmp_reg(BPF_JGT, 3, 4, 0),
            ja(-4),
            exit(),
        ]);
        let left = (INSN_BUDGET - lead) % 4;
        assert_eq!(
            run(&insns),
            Err((AbortReason::Budget, start + left as usize)),
            "lead {lead}"
        );
    }
}
