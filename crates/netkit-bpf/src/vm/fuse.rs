//! Instruction fusion: short sequences compilers emit over and over become one [`Op`], so the
//! dispatch loop pays one indirect jump for two or three instructions. A sequence is fused
//! only when no jump, call or function address lands on any of its instructions but the
//! first, so it is always entered at its start and runs to its end (none of the fused
//! instructions can abort). The later instructions stay in place, unreachable, so instruction
//! indices (jump targets, abort locations) keep their meaning.

use super::decode::Op;

/// Fuses in place; `is_target[i]` is true when some instruction jumps to (or calls, or takes
/// the address of) instruction `i`.
pub(crate) fn fuse(ops: &mut [Op], is_target: &[bool]) {
    // The slice patterns below guarantee `i + n <= ops.len() == is_target.len()`.
    let entered_only_at_start = |i: usize, n: usize| !is_target[i + 1..i + n].iter().any(|&t| t);
    for i in 0..ops.len() {
        let fused = match ops[i..] {
            [Op::Mov64X { dst, src }, Op::Add64K { dst: d2, imm }, Op::JgtX {
                dst: d3,
                src: end,
                target,
            }, ..]
                if d2 == dst && d3 == dst && end != dst && entered_only_at_start(i, 3) =>
            {
                Op::MovAddJgtX {
                    dst,
                    src,
                    imm,
                    end,
                    target,
                }
            }
            [Op::Mov64X { dst, src }, Op::Add64K { dst: d2, imm }, ..]
                if d2 == dst && entered_only_at_start(i, 2) =>
            {
                Op::MovAdd64K { dst, src, imm }
            }
            [Op::Mov64X { dst, src }, Op::Add64X { dst: d2, src: add }, ..]
                if d2 == dst && entered_only_at_start(i, 2) =>
            {
                Op::MovAdd64X { dst, src, add }
            }
            [Op::Add64K { dst, imm }, Op::JneK {
                dst: d2,
                imm: cmp,
                target,
            }, ..]
                if d2 == dst && entered_only_at_start(i, 2) =>
            {
                Op::AddJneK {
                    dst,
                    imm,
                    cmp,
                    target,
                }
            }
            _ => continue,
        };
        ops[i] = fused;
    }
}
