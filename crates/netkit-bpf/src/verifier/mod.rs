//! Load-time checks, in the spirit of the kernel verifier: a program that passes is a
//! [`Verified`], the only form the VM accepts. The VM still bounds every access at run time;
//! the verifier's job is to reject what the kernel rejects, with a message naming the
//! instruction, as a verifier log does.
//!
//! (Stub: the full verifier replaces this module.)

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
}

impl Verified {
    pub fn insns(&self) -> &[Insn] {
        &self.insns
    }
}

/// Checks `insns` (relocated; map references are `PSEUDO_MAP_IDX`/`PSEUDO_MAP_IDX_VALUE`).
pub fn verify(insns: &[Insn], _env: &VerifyEnv) -> Result<Verified, VerifyError> {
    if insns.is_empty() {
        return Err(VerifyError {
            insn: None,
            msg: "empty program".into(),
        });
    }
    Ok(Verified {
        insns: insns.to_vec(),
    })
}
