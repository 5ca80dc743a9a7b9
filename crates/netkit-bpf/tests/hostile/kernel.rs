//! The reference: loading the same program into this machine's kernel (`BPF_PROG_LOAD` as
//! SCHED_CLS, as root). Map references (`PSEUDO_MAP_IDX[_VALUE]`) are rewritten to real map
//! fds of maps created with the same shape. Only available as root.
#![allow(dead_code)]

use netkit_bpf::insn::Insn;
use netkit_bpf::obj::{MapType, PSEUDO_MAP_IDX, PSEUDO_MAP_IDX_VALUE};
use netkit_bpf::verifier::MapInfo;
use netkit_kernel::bpf::{self, BpfError, MapDef, ProgLoad};

fn map_def(
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
) -> MapDef {
    MapDef {
        map_type,
        key_size,
        value_size,
        max_entries,
        map_flags,
        name: String::new(),
    }
}

/// Whether the kernel can be asked: running as root with bpf(2) usable.
pub fn available() -> bool {
    bpf::map_create(&map_def(2, 4, 4, 1, 0)).is_ok()
}

/// `BPF_F_RDONLY_PROG`: programs may only read the map.
const RDONLY_PROG: u32 = 1 << 7;

/// Loads `insns` with `maps`; `Err(log)` when the kernel refuses the program.
pub fn load(insns: &[Insn], maps: &[MapInfo]) -> Result<(), String> {
    let mut fds = Vec::new();
    for m in maps {
        let (key, value, entries) = match m.map_type {
            MapType::RingBuf => (0, 0, m.max_entries),
            MapType::PerfEventArray | MapType::ProgArray => (4, 4, m.max_entries),
            _ => (m.key_size, m.value_size, m.max_entries),
        };
        let flags = if m.readonly { RDONLY_PROG } else { 0 };
        match bpf::map_create(&map_def(m.map_type.raw(), key, value, entries, flags)) {
            Ok(fd) => fds.push(fd),
            Err(e) => panic!("kernel map_create {:?} failed: {e}", m.map_type),
        }
    }
    let mut raw: Vec<u64> = Vec::with_capacity(insns.len());
    let mut i = 0;
    while i < insns.len() {
        let mut insn = insns[i];
        if insn.code == 0x18 && (insn.src == PSEUDO_MAP_IDX || insn.src == PSEUDO_MAP_IDX_VALUE) {
            if let Some(fd) = fds.get(insn.imm as usize) {
                insn.src = if insn.src == PSEUDO_MAP_IDX { 1 } else { 2 };
                insn.imm = fd.raw();
            }
        }
        raw.push(insn.to_raw());
        i += 1;
    }
    let result = bpf::prog_load(&ProgLoad {
        prog_type: bpf::PROG_TYPE_SCHED_CLS,
        expected_attach_type: 0,
        insns: &raw,
        license: "GPL",
        name: "hostile",
        btf: None,
        func_info: &[],
    });
    match result {
        Ok(_) => Ok(()),
        Err(BpfError::Load { errno, log, .. }) => {
            let tail: Vec<&str> = log.lines().rev().take(3).collect();
            Err(format!(
                "errno {errno}: {}",
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            ))
        }
        Err(e) => Err(e.to_string()),
    }
}
