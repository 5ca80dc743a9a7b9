//! Hostile programs: broken or malicious bytecode must be rejected at load, naming the
//! instruction, and the kernel on this machine must reject the same programs. Well-formed
//! programs exercising the same rules must load in both.

#[path = "hostile/asm.rs"]
#[macro_use]
mod asm;
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
