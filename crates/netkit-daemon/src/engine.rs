//! Loading a program from an object file: the object is parsed (netkit-bpf's ELF parser), one
//! program is selected by function name or section (else the first), and handed to the model.

use std::sync::Arc;

use netkit_bpf::obj::{ObjectFile, ProgramSpec};
use netkit_bpf::skb::Skb;
use netkit_bpf::{LoadedObject, Program};
use netkit_core::{Classifier, Errno};
use netkit_proto::WireError;

use crate::convert::errno;

/// A verdict for a run the engine aborted (bad memory access, instruction budget): the packet
/// is dropped, as a misbehaving program must never take the dataplane down.
const ABORTED: i32 = 2; // NETKIT_DROP

/// An engine program as the model runs it.
pub struct EngineProg(pub Arc<Program>);

impl Classifier for EngineProg {
    fn run(&self, skb: &mut Skb) -> i32 {
        match self.0.run(skb) {
            // The kernel reads the verdict as the int in r0.
            Ok(r0) => r0 as i32,
            Err(_) => ABORTED,
        }
    }
}

/// An object instantiated in the engine, with the program the request selected.
pub struct Loaded {
    pub object: Arc<LoadedObject>,
    pub program: Arc<Program>,
}

/// Instantiates `obj` (maps created, programs verified and decoded) and picks `name`.
pub fn load(obj: &ObjectFile, name: &str) -> Result<Loaded, WireError> {
    let object = LoadedObject::load(obj)
        .map_err(|e| errno(Errno::EINVAL, format!("the engine refused the object: {e}")))?;
    let program = object.program(name).cloned().ok_or_else(|| {
        errno(
            Errno::ENOENT,
            format!("no program \"{name}\" in the object"),
        )
    })?;
    Ok(Loaded {
        object: Arc::new(object),
        program,
    })
}

/// The program `select` names in `obj` (function name first, then section), or the first one.
pub fn select<'a>(obj: &'a ObjectFile, select: Option<&str>) -> Result<&'a ProgramSpec, WireError> {
    let found = obj.select_program(select);
    found.ok_or_else(|| {
        let names: Vec<String> = obj
            .programs
            .iter()
            .map(|p| format!("{} (section {})", p.name, p.section))
            .collect();
        match select {
            Some(want) => errno(
                Errno::ENOENT,
                format!(
                    "no program or section \"{want}\" in the object; it has: {}",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            ),
            None => errno(Errno::EINVAL, "the object holds no program"),
        }
    })
}

/// Parses an object, naming what is wrong with it.
pub fn parse(bytes: &[u8]) -> Result<ObjectFile, WireError> {
    ObjectFile::parse(bytes)
        .map_err(|e| errno(Errno::EINVAL, format!("not a loadable BPF object: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy_object() -> Option<Vec<u8>> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
        let ok = std::process::Command::new("make")
            .args(["-s", "-C"])
            .arg(&root)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            if std::env::var("NETKIT_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
                panic!("building examples/ needs clang-19 and make");
            }
            eprintln!("SKIP selects_programs_by_name_or_section: needs clang-19 and make");
            return None;
        }
        std::fs::read(root.join("policy.bpf.o")).ok()
    }

    #[test]
    fn selects_programs_by_name_or_section() {
        let Some(bytes) = policy_object() else {
            return;
        };
        let obj = parse(&bytes).unwrap();
        assert_eq!(select(&obj, None).unwrap().name, "policy");
        assert_eq!(select(&obj, Some("policy")).unwrap().section, "netkit/peer");
        assert_eq!(select(&obj, Some("netkit/peer")).unwrap().name, "policy");
        let e = select(&obj, Some("nope")).unwrap_err();
        assert_eq!(e.errno, "ENOENT");
        assert!(
            e.message.contains("policy (section netkit/peer)"),
            "{}",
            e.message
        );
    }

    #[test]
    fn rejects_what_is_not_an_object() {
        let e = parse(b"#!/bin/sh\necho hi\n").unwrap_err();
        assert_eq!(e.errno, "EINVAL");
        assert!(
            e.message.contains("not a loadable BPF object"),
            "{}",
            e.message
        );
    }
}
