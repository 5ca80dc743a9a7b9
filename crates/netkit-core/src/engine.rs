//! Programs the eBPF engine (netkit-bpf) runs: clang-built objects and the constant program as
//! real bytecode. Reading an object file is the one place the model touches the file system.

use std::path::Path;
use std::sync::Arc;

use netkit_bpf::insn::Insn;
use netkit_bpf::obj::ObjectFile;
use netkit_bpf::skb::Skb;
use netkit_bpf::{LoadedObject, Program};

use crate::error::{fail, Errno, Error};
use crate::prog::Classifier;
use crate::types::ProgSource;
use crate::user::ProgLoader;
use crate::xmit::DROP;

impl Classifier for Program {
    fn run(&self, skb: &mut Skb) -> i32 {
        match Program::run(self, skb) {
            // The kernel reads the verdict as the int in r0.
            Ok(r0) => r0 as i32,
            // A run the engine aborted (fault, budget) drops: a misbehaving program must
            // never take the datapath down.
            Err(_) => DROP,
        }
    }
}

/// `r0 = value; exit`, verified and decoded by the engine.
pub fn constant_program(value: i32) -> Result<Arc<Program>, Error> {
    const MOV64_IMM: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
    const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT
    let insns = [
        Insn {
            code: MOV64_IMM,
            dst: 0,
            src: 0,
            off: 0,
            imm: value,
        },
        Insn {
            code: EXIT,
            ..Insn::default()
        },
    ];
    Program::from_insns(&insns, Vec::new())
        .map(Arc::new)
        .map_err(|e| Error::new(Errno::EINVAL, format!("constant program {value}: {e}")))
}

/// A program of a loaded object, with the object kept alive (maps, trace log) for callers
/// that want to read them.
pub struct ObjectProg {
    pub object: Arc<LoadedObject>,
    pub program: Arc<Program>,
}

impl Classifier for ObjectProg {
    fn run(&self, skb: &mut Skb) -> i32 {
        Classifier::run(self.program.as_ref(), skb)
    }
}

/// Loads `path` and picks `program` (function name, then section name; the first if `None`).
pub fn load_object(path: &Path, program: Option<&str>) -> Result<ObjectProg, Error> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| {
        let errno = e.raw_os_error().map_or(Errno::EINVAL, Errno::from_raw);
        Error::new(errno, format!("{shown}: {e}"))
    })?;
    let obj = ObjectFile::parse(&bytes)
        .map_err(|e| Error::new(Errno::EINVAL, format!("{shown}: {e}")))?;
    let object = LoadedObject::load(&obj).map_err(|e| {
        Error::new(
            Errno::EINVAL,
            format!("{shown}: the engine refused it: {e}"),
        )
    })?;
    let found = match program {
        Some(want) => object
            .program(want)
            .or_else(|| object.program_in_section(want)),
        None => object.programs().first(),
    };
    let Some(prog) = found.cloned() else {
        let have: Vec<String> = object
            .programs()
            .iter()
            .map(|p| format!("{} ({})", p.name(), p.section()))
            .collect();
        return fail(
            Errno::ENOENT,
            format!(
                "{shown}: no program {:?}; it has: {}",
                program.unwrap_or("(first)"),
                have.join(", ")
            ),
        );
    };
    Ok(ObjectProg {
        object: Arc::new(object),
        program: prog,
    })
}

/// The default loader of the user backend: objects through the engine.
#[derive(Clone, Copy, Debug, Default)]
pub struct EngineLoader;

impl ProgLoader for EngineLoader {
    fn load(&self, src: &ProgSource) -> Result<(String, Arc<dyn Classifier>), Error> {
        match src {
            ProgSource::Constant(v) => Ok((format!("const_{v}"), constant_program(*v)?)),
            ProgSource::Object { path, program } => {
                let p = load_object(path, program.as_deref())?;
                Ok((p.program.name().to_string(), Arc::new(p)))
            }
        }
    }
}
