//! Hostile programs: broken or malicious bytecode must be rejected at load, naming the
//! instruction, and the kernel on this machine must reject the same programs. Well-formed
//! programs exercising the same rules must load in both.

#[macro_use]
mod common;
use common::asm;
#[path = "hostile/cases.rs"]
mod cases;
#[path = "hostile/kernel.rs"]
mod kernel;

use netkit_bpf::verifier::{verify, VerifyEnv};

fn require_kernel(test: &str) -> bool {
    if kernel::available() {
        return true;
    }
    if std::env::var("NETKIT_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
        panic!("{test}: needs root and bpf(2) (NETKIT_REQUIRE_PRIVILEGED=1)");
    }
    eprintln!("SKIP {test}: needs root and bpf(2)");
    false
}

#[test]
fn hostile_programs_are_rejected_naming_the_instruction() {
    let maps = cases::maps();
    let env = VerifyEnv { maps: &maps };
    let all = cases::hostile();
    assert!(all.len() >= 30, "only {} hostile programs", all.len());
    let mut failures = Vec::new();
    for c in &all {
        match verify(&c.insns, &env) {
            Ok(_) => failures.push(format!("{}: accepted", c.name)),
            Err(e) => {
                if !e.msg.contains(c.msg) {
                    failures.push(format!(
                        "{}: message {:?} lacks {:?}",
                        c.name,
                        e.to_string(),
                        c.msg
                    ));
                }
                if c.insn.is_some() && e.insn != c.insn {
                    failures.push(format!(
                        "{}: blamed insn {:?}, expected {:?} ({e})",
                        c.name, e.insn, c.insn
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn well_formed_programs_load() {
    let maps = cases::maps();
    let env = VerifyEnv { maps: &maps };
    let failures: Vec<String> = cases::valid()
        .iter()
        .filter_map(|c| {
            verify(&c.insns, &env)
                .err()
                .map(|e| format!("{}: {e}", c.name))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn kernel_agrees_on_every_case() {
    if !require_kernel("kernel_agrees_on_every_case") {
        return;
    }
    let maps = cases::maps();
    let mut failures = Vec::new();
    // The kernel takes callbacks, and tail calls in functions, only from programs with BTF
    // function info, which raw bytecode has none of: it refuses those for that reason, so
    // they prove nothing.
    let needs_btf = |name: &str| {
        name.contains("callback")
            || name.starts_with("tail call from")
            || name.starts_with("tail call under")
    };
    for c in cases::hostile() {
        if needs_btf(c.name) {
            continue;
        }
        match kernel::load(&c.insns, &maps) {
            Ok(()) => failures.push(format!("kernel accepted hostile {:?}", c.name)),
            Err(log) => eprintln!("hostile {:?}: kernel: {log}", c.name),
        }
    }
    for c in cases::valid() {
        if needs_btf(c.name) {
            continue;
        }
        if let Err(log) = kernel::load(&c.insns, &maps) {
            failures.push(format!("kernel rejected valid {:?}: {log}", c.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn helpers_the_engine_lacks_fail_to_load_naming_them() {
    // bpf_fib_lookup is a SCHED_CLS helper the kernel offers and this engine does not run.
    let insns = prog![asm::mov64_imm(0, 0), asm::call(69), asm::exit()];
    let err = verify(&insns, &VerifyEnv::default()).expect_err("rejected");
    assert_eq!(err.insn, Some(1));
    assert!(err.msg.contains("bpf_fib_lookup#69"), "{err}");
}

mod runtime {
    //! What only run time can stop: the VM aborts or bounds these programs safely.
    use super::asm::*;
    use crate::common::map;
    use netkit_bpf::insn::*;
    use netkit_bpf::obj::MapType;
    use netkit_bpf::skb::Skb;
    use netkit_bpf::{AbortReason, Program};
    use std::sync::Arc;

    /// A program that counts its runs in map 0 and tail-calls slot 0 of map 1: itself.
    #[test]
    fn self_tail_call_chain_stops_after_33() {
        let counter = map(MapType::Array, 4, 8, 1);
        let progs = map(MapType::ProgArray, 4, 4, 1);
        let insns = prog![
            mov64_reg(6, 1),
            st(BPF_W, 10, -4, 0),
            mov64_reg(2, 10),
            alu64_imm(BPF_ADD, 2, -4),
            ld_map(1, 0),
            call(1),
            jmp_imm(BPF_JEQ, 0, 0, 7),
            mov64_imm(1, 1),
            atomic(BPF_DW, 0, 1, 0, BPF_ADD as i32),
            mov64_reg(1, 6),
            ld_map(2, 1),
            mov64_imm(3, 0),
            call(12),
            mov64_imm(0, 1),
            exit(),
        ];
        let prog = Arc::new(
            Program::from_insns(&insns, vec![counter.clone(), progs.clone()]).expect("loads"),
        );
        progs.set_prog(0, Some(prog.clone())).expect("slot 0");
        let mut skb = Skb::from_frame(&[0u8; 64]);
        assert_eq!(
            prog.run(&mut skb),
            Ok(1),
            "the 34th tail call fails and falls through"
        );
        let runs = counter.lookup(&0u32.to_le_bytes()).expect("counter");
        assert_eq!(
            u64::from_le_bytes(runs[..8].try_into().expect("8 bytes")),
            34
        );
        progs.set_prog(0, None).expect("break the cycle");
    }

    /// bpf_loop with the kernel's maximum of 2^23 iterations passes the verifier but runs
    /// into the per-run instruction budget: the run aborts, the process lives.
    #[test]
    fn callback_loop_exhausts_the_budget() {
        let insns = prog![
            mov64_imm(1, 1 << 23),
            ld_func(2, 6),
            mov64_imm(3, 0),
            mov64_imm(4, 0),
            call(181),
            mov64_imm(0, 0),
            exit(),
            mov64_imm(0, 0),
            exit(),
        ];
        let prog = Program::from_insns(&insns, vec![]).expect("loads");
        let mut skb = Skb::from_frame(&[0u8; 64]);
        let err = prog.run(&mut skb).expect_err("aborted");
        assert_eq!(err.reason, AbortReason::Budget);
        assert_eq!(prog.stats().aborts(), 1);
    }

    /// Found by the fuzzer: a packet helper on a frame whose IPv6 header is cut short.
    /// Whatever the program asks, the run ends with a value or an abort, never a panic.
    #[test]
    fn adjust_room_on_a_truncated_ipv6_frame() {
        let insns = prog![
            mov64_imm(2, 0),
            mov64_imm(3, 0),
            mov64_imm(4, 0),
            call(50),
            mov64_imm(0, 0),
            exit(),
        ];
        let prog = Program::from_insns(&insns, vec![]).expect("loads");
        let mut frame = vec![0u8; 35];
        frame[12..14].copy_from_slice(&[0x86, 0xdd]);
        frame[14] = 0x60;
        let mut skb = Skb::from_frame(&frame);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| prog.run(&mut skb)));
        assert!(
            outcome.is_ok(),
            "bpf_skb_adjust_room panicked on a 35-byte IPv6 frame"
        );
    }

    /// A plain loop runs only as long as the verifier walked it, so one longer than the
    /// budget is refused at load (the kernel too: "BPF program is too large").
    #[test]
    fn loop_longer_than_the_budget_is_refused_at_load() {
        let insns = prog![
            mov64_imm(0, 0),
            mov64_imm(2, 0),
            alu64_imm(BPF_ADD, 2, 1),
            jmp_imm(BPF_JLT, 2, 600_000, -2),
            exit(),
        ];
        let err = Program::from_insns(&insns, vec![]).expect_err("refused");
        assert!(
            err.to_string().contains("BPF program is too large"),
            "{err}"
        );
    }
}

#[test]
fn dead_code_is_never_handed_to_the_vm() {
    // r0 = 1; if r0 != 0 goto +1; call bpf_get_socket_cookie (never reached); exit
    let insns = prog![
        asm::mov64_imm(0, 1),
        asm::jmp_imm(netkit_bpf::insn::BPF_JNE, 0, 0, 1),
        asm::call(46),
        asm::exit()
    ];
    let verified = verify(&insns, &VerifyEnv::default()).expect("the call is dead");
    assert_eq!(verified.insns()[2], asm::ja(-1), "dead code becomes a trap");
    assert_eq!(verified.insns()[3], insns[3]);
    // A map reference is resolved even where it is dead, as the kernel does.
    let insns = prog![
        asm::mov64_imm(0, 1),
        asm::jmp_imm(netkit_bpf::insn::BPF_JNE, 0, 0, 2),
        asm::ld_map(1, 7),
        asm::exit()
    ];
    let err = verify(&insns, &VerifyEnv::default()).expect_err("map 7 does not exist");
    assert_eq!(err.insn, Some(2));
    assert!(err.msg.contains("not pointing to valid bpf_map"), "{err}");
}

#[test]
fn raw_memory_programs_leave_bounds_to_the_vm() {
    use netkit_bpf::verifier::{verify_with, ContextKind, VerifyOptions};
    // r0 = *(u64 *)(r1 + 0): a context read the kernel refuses, a buffer read in raw mode.
    let insns = prog![asm::ldx(netkit_bpf::insn::BPF_DW, 0, 1, 0), asm::exit()];
    let err = verify(&insns, &VerifyEnv::default()).expect_err("not a valid __sk_buff read");
    assert!(
        err.msg.contains("invalid bpf_context access off=0 size=8"),
        "{err}"
    );
    let raw = VerifyOptions {
        context: ContextKind::RawMemory,
        ..VerifyOptions::default()
    };
    verify_with(&insns, &VerifyEnv::default(), &raw).expect("raw buffer read");
    // Everything else is still checked: r3 is never written.
    let bad = prog![asm::mov64_reg(0, 3), asm::exit()];
    let err = verify_with(&bad, &VerifyEnv::default(), &raw).expect_err("uninit");
    assert!(err.msg.contains("R3 !read_ok"), "{err}");
}

#[test]
fn structure_only_mode_keeps_the_structural_checks() {
    use netkit_bpf::verifier::check_structure;
    // A packet read without a bounds check passes the structural pass (the VM must then
    // stop it at run time)...
    let unchecked = prog![
        asm::ldx(netkit_bpf::insn::BPF_W, 2, 1, 76),
        asm::ldx(netkit_bpf::insn::BPF_B, 0, 2, 0),
        asm::exit()
    ];
    assert!(verify(&unchecked, &VerifyEnv::default()).is_err());
    check_structure(&unchecked, &VerifyEnv::default()).expect("structurally fine");
    // ...but a wild jump does not.
    let wild = prog![asm::mov64_imm(0, 0), asm::ja(100), asm::exit()];
    let err = check_structure(&wild, &VerifyEnv::default()).expect_err("wild jump");
    assert_eq!(err.insn, Some(1));
}
