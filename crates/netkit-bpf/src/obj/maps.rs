//! Collects every map an object defines, in a fixed order: BTF-defined maps (`.maps`, by
//! offset), legacy `maps` definitions (by offset), then one map per global data section (by
//! section index). The [`MapLocator`] tells the linker which map a relocation symbol names.

use std::collections::HashMap;

use super::btf::Btf;
use super::elf::{Elf, Section, STT_SECTION};
use super::{MapOrigin, MapSpec, MapType, ObjError, BPF_F_RDONLY_PROG};

/// `struct bpf_map_def` of the legacy `maps` section: five u32 (type, key_size, value_size,
/// max_entries, map_flags).
const LEGACY_DEF_SIZE: u64 = 20;
/// The largest global data section accepted: the kernel refuses array values larger than
/// KMALLOC_MAX_SIZE (4 MiB on x86-64) with E2BIG. Also bounds what a corrupt `.bss` size
/// can make us allocate.
const MAX_DATA_SECTION: u64 = 4 << 20;

/// Where maps live in the file, for resolving relocations.
#[derive(Debug, Default)]
pub struct MapLocator {
    /// (section index, symbol offset) → map index, for `.maps` and `maps`.
    pub defs: HashMap<(usize, u64), usize>,
    /// Section index → map index, for global data sections.
    pub data: HashMap<usize, usize>,
    /// Section indices of `.maps` and `maps`.
    pub def_sections: Vec<usize>,
}

/// The origin of a global data section by name, or `None` for other sections.
fn data_origin(name: &str) -> Option<MapOrigin> {
    let is = |prefix: &str| name == prefix || name.starts_with(&format!("{prefix}."));
    if is(".rodata") {
        Some(MapOrigin::Rodata)
    } else if is(".data") || is(".bss") {
        Some(MapOrigin::Data)
    } else {
        None
    }
}

/// Symbols naming map definitions inside `sec`, sorted by offset.
fn def_symbols<'e>(elf: &'e Elf, sec: &Section) -> Vec<&'e super::elf::Symbol> {
    let mut syms: Vec<_> = elf
        .symbols
        .iter()
        .filter(|s| {
            usize::from(s.shndx) == sec.index && s.kind != STT_SECTION && !s.name.is_empty()
        })
        .collect();
    syms.sort_by_key(|s| s.value);
    syms
}

pub fn collect(elf: &Elf, btf: Option<&Btf>) -> Result<(Vec<MapSpec>, MapLocator), ObjError> {
    let mut maps = Vec::new();
    let mut loc = MapLocator::default();

    if let Some(sec) = elf.sections.iter().find(|s| s.name == ".maps") {
        let btf = btf.ok_or_else(|| ObjError::Section {
            section: ".maps".into(),
            msg: "BTF-defined maps need a .BTF section".into(),
        })?;
        loc.def_sections.push(sec.index);
        for sym in def_symbols(elf, sec) {
            let def = btf.map_def(".maps", &sym.name)?;
            let map_err = |msg: &str| ObjError::Map {
                map: sym.name.clone(),
                msg: msg.to_string(),
            };
            let map_type = MapType::from_raw(def.map_type.ok_or_else(|| map_err("no type"))?);
            // libbpf's defaults: perf event arrays hold u32 fds keyed by CPU.
            let default_4 = if map_type == MapType::PerfEventArray {
                4
            } else {
                0
            };
            loc.defs.insert((sec.index, sym.value), maps.len());
            maps.push(MapSpec {
                name: sym.name.clone(),
                map_type,
                key_size: def.key_size.unwrap_or(default_4),
                value_size: def.value_size.unwrap_or(default_4),
                max_entries: def.max_entries.unwrap_or(0),
                map_flags: def.map_flags.unwrap_or(0),
                origin: MapOrigin::Btf,
                initial_value: None,
            });
        }
    }

    if let Some(sec) = elf.sections.iter().find(|s| s.name == "maps") {
        let data = elf.section_data(sec)?;
        loc.def_sections.push(sec.index);
        for sym in def_symbols(elf, sec) {
            let bytes = super::elf::slice(
                data,
                sym.value,
                LEGACY_DEF_SIZE,
                &format!("legacy map '{}' definition", sym.name),
            )?;
            let field = |i: usize| {
                u32::from_le_bytes([
                    bytes[i * 4],
                    bytes[i * 4 + 1],
                    bytes[i * 4 + 2],
                    bytes[i * 4 + 3],
                ])
            };
            loc.defs.insert((sec.index, sym.value), maps.len());
            maps.push(MapSpec {
                name: sym.name.clone(),
                map_type: MapType::from_raw(field(0)),
                key_size: field(1),
                value_size: field(2),
                max_entries: field(3),
                map_flags: field(4),
                origin: MapOrigin::Legacy,
                initial_value: None,
            });
        }
    }

    for sec in &elf.sections {
        let Some(origin) = data_origin(&sec.name) else {
            continue;
        };
        if sec.is_exec() || sec.is_rel() || sec.size == 0 {
            continue;
        }
        if sec.size > MAX_DATA_SECTION {
            return Err(ObjError::Section {
                section: sec.name.clone(),
                msg: format!("size {} exceeds {MAX_DATA_SECTION} bytes", sec.size),
            });
        }
        let value_size = sec.size as u32;
        let initial = if sec.is_nobits() {
            vec![0; value_size as usize]
        } else {
            elf.section_data(sec)?.to_vec()
        };
        loc.data.insert(sec.index, maps.len());
        maps.push(MapSpec {
            name: sec.name.clone(),
            map_type: MapType::Array,
            key_size: 4,
            value_size,
            max_entries: 1,
            map_flags: if origin == MapOrigin::Rodata {
                BPF_F_RDONLY_PROG
            } else {
                0
            },
            origin,
            initial_value: Some(initial),
        });
    }
    Ok((maps, loc))
}
