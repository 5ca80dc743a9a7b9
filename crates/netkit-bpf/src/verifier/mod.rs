//! Load-time checks, in the spirit of the kernel verifier: a program that passes is a
//! [`Verified`], the only form the VM accepts. The VM still bounds every access at run time;
//! the verifier's job is to reject what the kernel (as root) rejects, with a message naming
//! the instruction, as a verifier log does.
//!
//! Two passes, as in the kernel: a structural pass ([`cfg`]: encodings, jump targets,
//! functions, reachability), then abstract interpretation of every path ([`exec`]) over
//! register and stack types ([`state`]) with scalar bounds ([`scalar`]), remembering states at
//! jump targets to prune paths already proven safe and to detect loops that cannot end.
//! The exploration is bounded like the kernel's: one million processed instructions.
//!
//! Where this verifier knows less than the kernel's (no tnum bit tracking, no separate
//! 32-bit bounds, no precision marking, no BTF), it errs towards refusing only where the
//! kernel refuses too in the hostile and corpus tests, and towards accepting otherwise:
//! variable-offset atomics are left to the VM's alignment check, callbacks are explored
//! with the caller's stack numbers widened after the first call, and socket pointers
//! (`skb->sk`) can be loaded and compared but not dereferenced. What no path reaches is
//! replaced by traps (the kernel's dead-code sanitizing), so the VM only runs checked code.

mod alu;
mod branch;
mod calls;
mod cfg;
mod ctx;
mod exec;
pub mod helpers;
mod scalar;
mod state;

use crate::insn::Insn;
use crate::obj::MapType;

/// What the verifier knows of each map a program may reference (by index).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapInfo {
    pub map_type: MapType,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    /// `.rodata`: programs may not write to the value.
    pub readonly: bool,
}

/// The environment a program is checked against.
#[derive(Clone, Debug, Default)]
pub struct VerifyEnv<'a> {
    pub maps: &'a [MapInfo],
}

/// What r1 holds when the program starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ContextKind {
    /// `struct __sk_buff *`, with the SCHED_CLS access rules.
    #[default]
    SkBuff,
    /// A plain memory buffer (r1) and its length (r2), as `netkit prog run raw` provides:
    /// its bounds are only known at run time, so the VM alone checks accesses through it.
    RawMemory,
}

/// Options beyond the maps: how the program is entered and what the engine can run.
#[derive(Clone, Copy, Debug, Default)]
pub struct VerifyOptions<'a> {
    pub context: ContextKind,
    /// Helper ids the engine implements; a call to any other helper fails to load, naming it.
    /// `None`: the engine's own table, [`crate::helpers::NAMES`].
    pub implemented_helpers: Option<&'a [u32]>,
    /// Only the structural pass, as [`check_structure`]: for testing the VM's own run-time
    /// checks with programs the full verifier refuses. Never for loading user programs.
    pub structure_only: bool,
}

/// A rejection: the instruction index (when one is to blame) and what was wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{msg}", insn.map(|i| format!("insn {i}: ")).unwrap_or_default())]
pub struct VerifyError {
    pub insn: Option<usize>,
    pub msg: String,
}

/// A program that passed the checks. Only [`verify`] constructs one.
#[derive(Clone, Debug)]
pub struct Verified {
    insns: Vec<Insn>,
    subprogs: Vec<usize>,
    stack_depth: Vec<u32>,
    processed: u64,
}

impl Verified {
    pub fn insns(&self) -> &[Insn] {
        &self.insns
    }

    /// First instruction of each function (entry first).
    pub fn subprogs(&self) -> &[usize] {
        &self.subprogs
    }

    /// Deepest stack byte each function uses (same order as [`Verified::subprogs`]).
    pub fn stack_depth(&self) -> &[u32] {
        &self.stack_depth
    }

    /// Instructions the verifier processed (the kernel's `processed N insns`).
    pub fn processed_insns(&self) -> u64 {
        self.processed
    }
}

/// The kernel's `BPF_COMPLEXITY_LIMIT_INSNS`.
pub const COMPLEXITY_LIMIT: u64 = 1_000_000;
/// The kernel's `MAX_CALL_FRAMES`.
pub const MAX_CALL_FRAMES: usize = 8;

/// Checks `insns` (relocated; map references are `PSEUDO_MAP_IDX`/`PSEUDO_MAP_IDX_VALUE`).
pub fn verify(insns: &[Insn], env: &VerifyEnv) -> Result<Verified, VerifyError> {
    verify_with(insns, env, &VerifyOptions::default())
}

/// Only the structural pass (encodings, jumps, functions, reachability, map references),
/// no path exploration: for testing the VM's own run-time checks with programs the full
/// verifier refuses. Never for loading programs from users.
pub fn check_structure(insns: &[Insn], env: &VerifyEnv) -> Result<Verified, VerifyError> {
    if insns.is_empty() {
        return Err(VerifyError {
            insn: None,
            msg: "empty program".into(),
        });
    }
    let cfg = cfg::check(insns, env.maps)?;
    Ok(Verified {
        insns: insns.to_vec(),
        stack_depth: vec![state::STACK_SIZE as u32; cfg.subprogs.len()],
        subprogs: cfg.subprogs,
        processed: 0,
    })
}

/// [`verify`] with options.
pub fn verify_with(
    insns: &[Insn],
    env: &VerifyEnv,
    opts: &VerifyOptions,
) -> Result<Verified, VerifyError> {
    if insns.is_empty() {
        return Err(VerifyError {
            insn: None,
            msg: "empty program".into(),
        });
    }
    if insns.len() > COMPLEXITY_LIMIT as usize {
        return Err(VerifyError {
            insn: None,
            msg: format!("program of {} insns is too large", insns.len()),
        });
    }
    if opts.structure_only {
        return check_structure(insns, env);
    }
    let cfg = cfg::check(insns, env.maps)?;
    let mut explorer = exec::Explorer::new(insns, env, opts, &cfg);
    explorer.run()?;
    let stack_depth = explorer.stack_depth.clone();
    let processed = explorer.processed;
    calls::check_call_graph(insns, &cfg, &stack_depth, &explorer.has_tail_call)?;
    // Like the kernel's sanitize_dead_code: what no path reaches becomes a trap, so that the
    // VM never sees (or decodes) instructions the verifier did not check.
    let trap = Insn {
        code: crate::insn::BPF_JMP | crate::insn::BPF_JA,
        dst: 0,
        src: 0,
        off: -1,
        imm: 0,
    };
    let insns = insns
        .iter()
        .zip(&explorer.visited)
        .enumerate()
        .map(|(pc, (&insn, &seen))| {
            let second_half = pc > 0 && cfg.ld_second[pc] && explorer.visited[pc - 1];
            if seen || second_half {
                insn
            } else {
                trap
            }
        })
        .collect();
    Ok(Verified {
        insns,
        subprogs: cfg.subprogs,
        stack_depth,
        processed,
    })
}
