//! Loading a parsed [`ObjectFile`] into the kernel as libbpf would: create every map (global
//! data maps written with their initial image, `.rodata` frozen), rewrite map references to
//! fd form, and load every program as SCHED_CLS with its expected attach type.

use netkit_bpf::insn::{Insn, BPF_DW, BPF_IMM, BPF_LD, BPF_PSEUDO_MAP_FD, BPF_PSEUDO_MAP_VALUE};
use netkit_bpf::obj::{
    MapOrigin, MapSpec, MapType, ObjectFile, PSEUDO_MAP_IDX, PSEUDO_MAP_IDX_VALUE,
};

use super::{
    btf_load, map_create, map_freeze, map_update, possible_cpus, prog_load, BpfError, Fd, MapDef,
    ProgLoad, PROG_TYPE_SCHED_CLS,
};

/// A map created in the kernel from a [`MapSpec`].
#[derive(Debug)]
pub struct KernelMap {
    pub spec: MapSpec,
    pub fd: Fd,
}

/// A program loaded in the kernel.
#[derive(Debug)]
pub struct KernelProg {
    pub name: String,
    pub section: String,
    pub fd: Fd,
}

/// Every map and program of one object, alive in the kernel until dropped.
#[derive(Debug)]
pub struct KernelObject {
    pub maps: Vec<KernelMap>,
    pub programs: Vec<KernelProg>,
    /// The object's BTF, when it has one (programs' func info refers to it).
    pub btf: Option<Fd>,
}

impl KernelObject {
    pub fn load(obj: &ObjectFile) -> Result<KernelObject, BpfError> {
        let mut maps = Vec::with_capacity(obj.maps.len());
        for spec in &obj.maps {
            maps.push(KernelMap {
                fd: create_map(spec)?,
                spec: spec.clone(),
            });
        }
        let btf = obj.btf.as_deref().map(btf_load).transpose()?;
        let fds: Vec<i32> = maps.iter().map(|m| m.fd.raw()).collect();
        let mut programs = Vec::with_capacity(obj.programs.len());
        for p in &obj.programs {
            let insns = to_fd_form(&p.insns, &fds)
                .map_err(|msg| BpfError::Invalid(format!("program '{}': {msg}", p.name)))?;
            let fd = prog_load(&ProgLoad {
                prog_type: PROG_TYPE_SCHED_CLS,
                expected_attach_type: p.expected_attach.raw(),
                insns: &insns,
                license: &obj.license,
                name: &p.name,
                btf: btf.as_ref(),
                func_info: &p
                    .func_info
                    .iter()
                    .map(|f| (f.insn_off, f.type_id))
                    .collect::<Vec<_>>(),
            })?;
            programs.push(KernelProg {
                name: p.name.clone(),
                section: p.section.clone(),
                fd,
            });
        }
        Ok(KernelObject {
            maps,
            programs,
            btf,
        })
    }

    pub fn map(&self, name: &str) -> Option<&KernelMap> {
        self.maps.iter().find(|m| m.spec.name == name)
    }

    pub fn program(&self, name: &str) -> Option<&KernelProg> {
        self.programs.iter().find(|p| p.name == name)
    }
}

fn create_map(spec: &MapSpec) -> Result<Fd, BpfError> {
    let max_entries = match (spec.map_type, spec.max_entries) {
        // libbpf sizes an unsized perf event array to the number of possible CPUs.
        (MapType::PerfEventArray, 0) => possible_cpus()? as u32,
        (_, n) => n,
    };
    let fd = map_create(&MapDef {
        map_type: spec.map_type.raw(),
        key_size: spec.key_size,
        value_size: spec.value_size,
        max_entries,
        map_flags: spec.map_flags,
        name: spec.name.clone(),
    })?;
    if let Some(init) = &spec.initial_value {
        map_update(&fd, &0u32.to_ne_bytes(), init, 0)?;
    }
    if spec.origin == MapOrigin::Rodata {
        map_freeze(&fd)?;
    }
    Ok(fd)
}

/// Rewrites `PSEUDO_MAP_IDX` / `PSEUDO_MAP_IDX_VALUE` loads into the kernel's fd forms.
fn to_fd_form(insns: &[u64], fds: &[i32]) -> Result<Vec<u64>, String> {
    let mut out = insns.to_vec();
    for (i, raw) in out.iter_mut().enumerate() {
        let mut insn = Insn::from_raw(*raw);
        if insn.code != BPF_LD | BPF_IMM | BPF_DW {
            continue;
        }
        let kind = match insn.src {
            PSEUDO_MAP_IDX => BPF_PSEUDO_MAP_FD,
            PSEUDO_MAP_IDX_VALUE => BPF_PSEUDO_MAP_VALUE,
            _ => continue,
        };
        let fd = usize::try_from(insn.imm)
            .ok()
            .and_then(|m| fds.get(m))
            .ok_or_else(|| format!("insn {i}: map index {} out of range", insn.imm))?;
        insn.src = kind;
        insn.imm = *fd;
        *raw = insn.to_raw();
    }
    Ok(out)
}
