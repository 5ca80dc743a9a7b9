//! Cuts programs out of their sections and links them as libbpf does: each entry function
//! gets a private copy of every subprogram it reaches (from `.text` or from its own section),
//! appended after it; calls and subprogram-address loads are re-targeted to the copies, and
//! `ld_imm64` map references become `PSEUDO_MAP_IDX` / `PSEUDO_MAP_IDX_VALUE`.

use std::collections::HashMap;

use super::btf::Btf;
use super::elf::{Elf, Rel, Section, Symbol, SHN_UNDEF, STB_GLOBAL, STB_WEAK, STT_FUNC};
use super::maps::MapLocator;
use super::{
    program_section, FuncInfo, ObjError, ProgramSpec, PSEUDO_FUNC, PSEUDO_MAP_IDX,
    PSEUDO_MAP_IDX_VALUE,
};
use crate::insn::{Insn, BPF_CALL, BPF_DW, BPF_IMM, BPF_JMP, BPF_LD, BPF_PSEUDO_CALL};

/// `R_BPF_64_64`: the 64-bit immediate of an `ld_imm64`.
const R_BPF_64_64: u32 = 1;
/// `R_BPF_64_32`: the 32-bit immediate of a BPF-to-BPF call.
const R_BPF_64_32: u32 = 10;
const LD_IMM64: u8 = BPF_LD | BPF_IMM | BPF_DW;
const CALL: u8 = BPF_JMP | BPF_CALL;

/// A function: `len` instructions starting at instruction `start` of section `sec`.
#[derive(Clone, Debug)]
struct Func {
    sec: usize,
    start: usize,
    len: usize,
    name: String,
    global: bool,
}

/// One executable section: its instructions, functions and relocations by byte offset.
struct CodeSection<'e> {
    section: &'e Section,
    insns: Vec<u64>,
    funcs: Vec<Func>,
    rels: HashMap<u64, Rel>,
}

fn section_err(sec: &Section, msg: String) -> ObjError {
    ObjError::Section {
        section: sec.name.clone(),
        msg,
    }
}

fn code_section<'e>(elf: &'e Elf, sec: &'e Section) -> Result<CodeSection<'e>, ObjError> {
    let bytes = elf.section_data(sec)?;
    if bytes.len() % 8 != 0 {
        return Err(section_err(
            sec,
            format!("size {} is not a multiple of 8", bytes.len()),
        ));
    }
    let insns: Vec<u64> = bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
        .collect();
    let mut syms: Vec<&Symbol> = elf
        .symbols
        .iter()
        .filter(|s| s.kind == STT_FUNC && usize::from(s.shndx) == sec.index)
        .collect();
    syms.sort_by_key(|s| s.value);
    let mut funcs = Vec::with_capacity(syms.len());
    for (i, s) in syms.iter().enumerate() {
        let sym_err = |msg: String| ObjError::Symbol {
            symbol: s.name.clone(),
            msg,
        };
        if s.value % 8 != 0 || s.size % 8 != 0 {
            return Err(sym_err("offset or size not a multiple of 8".into()));
        }
        let start = (s.value / 8) as usize;
        // Hand-written assembly may leave sizes 0: the function runs to the next one.
        let end = if s.size > 0 {
            s.value
                .checked_add(s.size)
                .map(|e| (e / 8) as usize)
                .unwrap_or(usize::MAX)
        } else {
            syms.get(i + 1)
                .map_or(insns.len(), |n| (n.value / 8) as usize)
        };
        if start >= end || end > insns.len() {
            return Err(sym_err(format!(
                "function range [{start}, {end}) outside section '{}' of {} instructions",
                sec.name,
                insns.len()
            )));
        }
        funcs.push(Func {
            sec: sec.index,
            start,
            len: end - start,
            name: s.name.clone(),
            global: s.bind == STB_GLOBAL || s.bind == STB_WEAK,
        });
    }
    // A section without function symbols (assembler output) is one function.
    if funcs.is_empty() && !insns.is_empty() {
        funcs.push(Func {
            sec: sec.index,
            start: 0,
            len: insns.len(),
            name: sec.name.replace('/', "_"),
            global: true,
        });
    }
    let mut rels = HashMap::new();
    for rsec in elf
        .sections
        .iter()
        .filter(|r| r.is_rel() && r.info as usize == sec.index)
    {
        for rel in elf.rels(rsec)? {
            if rel.offset % 8 != 0 || rel.offset / 8 >= insns.len() as u64 {
                return Err(ObjError::Reloc {
                    section: sec.name.clone(),
                    offset: rel.offset,
                    msg: "not at an instruction of the section".into(),
                });
            }
            rels.insert(rel.offset, rel);
        }
    }
    Ok(CodeSection {
        section: sec,
        insns,
        funcs,
        rels,
    })
}

/// Every SCHED_CLS program of the object, in section order then offset order.
pub fn programs(
    elf: &Elf,
    maps: &MapLocator,
    btf: Option<&Btf>,
) -> Result<Vec<ProgramSpec>, ObjError> {
    let mut code = HashMap::new();
    let mut entries = Vec::new();
    for sec in elf.sections.iter().filter(|s| s.is_exec() && s.size > 0) {
        let attach = if sec.name == ".text" {
            None
        } else {
            Some(program_section(&sec.name).ok_or_else(|| {
                section_err(
                    sec,
                    "not a SCHED_CLS program section (tc, tcx/*, netkit/*)".into(),
                )
            })?)
        };
        let cs = code_section(elf, sec)?;
        if let Some(attach) = attach {
            for f in cs.funcs.iter().filter(|f| f.global) {
                entries.push((f.clone(), attach));
            }
        }
        code.insert(sec.index, cs);
    }
    let linker = Linker {
        elf,
        maps,
        code: &code,
    };
    entries
        .into_iter()
        .map(|(f, attach)| {
            let (insns, placed) = linker.link(&f)?;
            // Func info only when every function has a BTF FUNC (the kernel wants all or none).
            let func_info = btf
                .and_then(|btf| {
                    placed
                        .iter()
                        .map(|(func, pos)| {
                            Some(FuncInfo {
                                insn_off: *pos as u32,
                                type_id: btf.func_id(&func.name)?,
                            })
                        })
                        .collect::<Option<Vec<_>>>()
                })
                .unwrap_or_default();
            Ok(ProgramSpec {
                insns,
                func_info,
                name: f.name,
                section: code[&f.sec].section.name.clone(),
                expected_attach: attach,
            })
        })
        .collect()
}

struct Linker<'a, 'e> {
    elf: &'a Elf<'e>,
    maps: &'a MapLocator,
    code: &'a HashMap<usize, CodeSection<'e>>,
}

impl Linker<'_, '_> {
    /// The program `entry` followed by copies of every function it reaches, and where each
    /// function was placed.
    #[allow(clippy::type_complexity)]
    fn link(&self, entry: &Func) -> Result<(Vec<u64>, Vec<(Func, usize)>), ObjError> {
        let mut out: Vec<u64> = Vec::new();
        // (function, position of its first instruction in `out`)
        let mut placed: Vec<(Func, usize)> = Vec::new();
        self.place(entry, &mut out, &mut placed);
        let mut next = 0;
        while next < placed.len() {
            let (func, pos) = placed[next].clone();
            self.relocate(&func, pos, &mut out, &mut placed)?;
            next += 1;
        }
        Ok((out, placed))
    }

    fn place(&self, f: &Func, out: &mut Vec<u64>, placed: &mut Vec<(Func, usize)>) -> usize {
        if let Some((_, pos)) = placed
            .iter()
            .find(|(p, _)| p.sec == f.sec && p.start == f.start)
        {
            return *pos;
        }
        let pos = out.len();
        out.extend_from_slice(&self.code[&f.sec].insns[f.start..f.start + f.len]);
        placed.push((f.clone(), pos));
        pos
    }

    /// The function starting at instruction `target` of section `sec`.
    fn func_at(
        &self,
        sec: usize,
        target: i64,
        err: impl Fn(String) -> ObjError,
    ) -> Result<Func, ObjError> {
        let cs = self
            .code
            .get(&sec)
            .ok_or_else(|| err(format!("target section {sec} holds no code")))?;
        cs.funcs
            .iter()
            .find(|f| f.start as i64 == target)
            .cloned()
            .ok_or_else(|| {
                err(format!(
                    "target instruction {target} of section '{}' does not start a function",
                    cs.section.name
                ))
            })
    }

    fn relocate(
        &self,
        func: &Func,
        pos: usize,
        out: &mut Vec<u64>,
        placed: &mut Vec<(Func, usize)>,
    ) -> Result<(), ObjError> {
        let cs = &self.code[&func.sec];
        let mut k = 0;
        while k < func.len {
            let sec_idx = func.start + k;
            let byte_off = sec_idx as u64 * 8;
            let reloc_err = |msg: String| ObjError::Reloc {
                section: cs.section.name.clone(),
                offset: byte_off,
                msg: format!("in function '{}': {msg}", func.name),
            };
            let mut insn = Insn::from_raw(out[pos + k]);
            let rel = cs.rels.get(&byte_off);
            let out_idx = pos + k;
            match (insn.code, rel) {
                (LD_IMM64, _) if k + 1 >= func.len => {
                    return Err(reloc_err(
                        "ld_imm64 cut off by the end of the function".into(),
                    ))
                }
                (LD_IMM64, Some(rel)) => {
                    let mut hi = Insn::from_raw(out[out_idx + 1]);
                    self.relocate_ld_imm64(
                        rel, &mut insn, &mut hi, out_idx, out, placed, &reloc_err,
                    )?;
                    out[out_idx] = insn.to_raw();
                    out[out_idx + 1] = hi.to_raw();
                    k += 2;
                    continue;
                }
                (LD_IMM64, None) => {
                    k += 2;
                    continue;
                }
                (CALL, _) if insn.src == BPF_PSEUDO_CALL => {
                    let (sec, target) = match rel {
                        Some(rel) => {
                            if rel.r_type != R_BPF_64_32 {
                                return Err(reloc_err(format!(
                                    "type {} on a call, expected R_BPF_64_32",
                                    rel.r_type
                                )));
                            }
                            let sym = self.symbol(rel, &reloc_err)?;
                            (
                                usize::from(sym.shndx),
                                (sym.value / 8) as i64 + i64::from(insn.imm) + 1,
                            )
                        }
                        None => (func.sec, sec_idx as i64 + i64::from(insn.imm) + 1),
                    };
                    let callee = self.func_at(sec, target, reloc_err)?;
                    let callee_pos = self.place(&callee, out, placed);
                    insn.imm = rel_imm(callee_pos, out_idx, &reloc_err)?;
                    out[out_idx] = insn.to_raw();
                }
                (_, Some(_)) => {
                    return Err(reloc_err(format!(
                        "instruction opcode {:#04x} cannot be relocated",
                        insn.code
                    )))
                }
                (_, None) => {}
            }
            k += 1;
        }
        Ok(())
    }

    fn symbol(&self, rel: &Rel, err: &impl Fn(String) -> ObjError) -> Result<&Symbol, ObjError> {
        self.elf
            .symbols
            .get(rel.sym)
            .ok_or_else(|| err(format!("symbol index {} out of range", rel.sym)))
    }

    #[allow(clippy::too_many_arguments)]
    fn relocate_ld_imm64(
        &self,
        rel: &Rel,
        lo: &mut Insn,
        hi: &mut Insn,
        out_idx: usize,
        out: &mut Vec<u64>,
        placed: &mut Vec<(Func, usize)>,
        err: &impl Fn(String) -> ObjError,
    ) -> Result<(), ObjError> {
        if rel.r_type != R_BPF_64_64 {
            return Err(err(format!(
                "type {} on ld_imm64, expected R_BPF_64_64",
                rel.r_type
            )));
        }
        let sym = self.symbol(rel, err)?;
        let sym_err = |msg: &str| err(format!("symbol '{}': {msg}", sym.name));
        if sym.shndx == SHN_UNDEF {
            return Err(sym_err("extern symbols are not supported"));
        }
        let sec = usize::from(sym.shndx);
        // The addend lives in the instruction (REL, not RELA): a byte offset from the symbol.
        let offset = i64::try_from(sym.value)
            .ok()
            .and_then(|v| v.checked_add(i64::from(lo.imm)))
            .ok_or_else(|| sym_err("value out of range"))?;
        if self.code.contains_key(&sec) {
            if offset % 8 != 0 {
                return Err(sym_err("subprogram address not instruction-aligned"));
            }
            let callee = self.func_at(sec, offset / 8, err)?;
            let callee_pos = self.place(&callee, out, placed);
            lo.src = PSEUDO_FUNC;
            lo.imm = rel_imm(callee_pos, out_idx, err)?;
        } else if self.maps.def_sections.contains(&sec) {
            let idx = self
                .maps
                .defs
                .get(&(sec, offset as u64))
                .ok_or_else(|| sym_err("does not name a map definition"))?;
            lo.src = PSEUDO_MAP_IDX;
            lo.imm = *idx as i32;
            hi.imm = 0;
        } else if let Some(idx) = self.maps.data.get(&sec) {
            let size = self.elf.sections.get(sec).map_or(0, |s| s.size as i64);
            if offset < 0 || offset > size {
                return Err(sym_err(&format!(
                    "offset {offset} outside its {size}-byte section"
                )));
            }
            lo.src = PSEUDO_MAP_IDX_VALUE;
            lo.imm = *idx as i32;
            hi.imm = offset as i32;
        } else {
            let name = self.elf.sections.get(sec).map_or("?", |s| s.name.as_str());
            return Err(sym_err(&format!(
                "in section '{name}', which holds no map or code"
            )));
        }
        Ok(())
    }
}

/// The `imm` of a call or `PSEUDO_FUNC` load at `from` reaching instruction `to`.
fn rel_imm(to: usize, from: usize, err: &impl Fn(String) -> ObjError) -> Result<i32, ObjError> {
    i32::try_from(to as i64 - from as i64 - 1).map_err(|_| err("call distance overflows".into()))
}
