//! Instantiating a parsed object: every map created (global data initialised, `.rodata`
//! read-only to programs), every program verified and decoded against those maps.

use std::sync::Arc;

use crate::insn::Insn;
use crate::maps::Map;
use crate::obj::ObjectFile;
use crate::trace::TraceLog;
use crate::verifier::ContextKind;
use crate::vm::{LoadError, Program};

/// A loaded object: its programs and maps, shared with whoever runs them.
#[derive(Debug)]
pub struct LoadedObject {
    license: String,
    programs: Vec<Arc<Program>>,
    maps: Vec<Arc<Map>>,
    trace: Arc<TraceLog>,
}

impl LoadedObject {
    /// Creates the object's maps, then builds each program. Fails on the first map or
    /// program that cannot be instantiated, naming it.
    pub fn load(obj: &ObjectFile) -> Result<LoadedObject, LoadError> {
        let maps = obj
            .maps
            .iter()
            .map(|spec| Map::from_spec(spec).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        let trace = Arc::new(TraceLog::default());
        let programs = obj
            .programs
            .iter()
            .map(|spec| {
                let insns: Vec<Insn> = spec.insns.iter().map(|&raw| Insn::from_raw(raw)).collect();
                Program::build(
                    &spec.name,
                    &spec.section,
                    &insns,
                    maps.clone(),
                    trace.clone(),
                    ContextKind::SkBuff,
                )
                .map(Arc::new)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LoadedObject {
            license: obj.license.clone(),
            programs,
            maps,
            trace,
        })
    }

    pub fn license(&self) -> &str {
        &self.license
    }

    /// Programs in the object's order.
    pub fn programs(&self) -> &[Arc<Program>] {
        &self.programs
    }

    /// The program whose function name is `name`.
    pub fn program(&self, name: &str) -> Option<&Arc<Program>> {
        self.programs.iter().find(|p| p.name() == name)
    }

    /// The first program in section `section` (e.g. `netkit/primary`, `tc`).
    pub fn program_in_section(&self, section: &str) -> Option<&Arc<Program>> {
        self.programs.iter().find(|p| p.section() == section)
    }

    /// Maps in the object's order (the index `PSEUDO_MAP_IDX` references use).
    pub fn maps(&self) -> &[Arc<Map>] {
        &self.maps
    }

    /// The map called `name` (global data maps are named after their section, e.g. `.bss`).
    pub fn map(&self, name: &str) -> Option<&Arc<Map>> {
        self.maps.iter().find(|m| m.name() == name)
    }

    /// `bpf_trace_printk` output of all the object's programs.
    pub fn trace_log(&self) -> &Arc<TraceLog> {
        &self.trace
    }
}
