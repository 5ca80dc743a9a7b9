//! The kernel half of the engine-vs-kernel comparison: load a corpus object with bpf(2), fill
//! its prog arrays, run programs with BPF_PROG_TEST_RUN and dump every map.

use netkit_bpf::obj::{MapType, ObjectFile};
use netkit_kernel::bpf::{self, KernelObject, TestRun};

/// `struct __sk_buff` size.
pub const SKB_CTX_SIZE: usize = 192;

/// One map's contents as (key, value) pairs sorted by key; per-CPU values are summed per
/// 8-byte word across CPUs so that the result does not depend on which CPU ran the program.
pub type MapDump = Vec<(Vec<u8>, Vec<u8>)>;

/// The observable outcome of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub retval: u32,
    pub data_out: Vec<u8>,
    /// The `__sk_buff` fields the kernel copies back (mark, priority, cb, tc_index...).
    pub ctx_out: Vec<u8>,
    pub maps: Vec<(String, MapDump)>,
}

/// The ctx_in every run uses: mark, priority and cb set, everything else zero (the fields
/// BPF_PROG_TEST_RUN accepts for SCHED_CLS).
pub fn ctx_in() -> Vec<u8> {
    let mut c = vec![0u8; SKB_CTX_SIZE];
    c[8..12].copy_from_slice(&0x1234_5678u32.to_ne_bytes()); // mark
    c[32..36].copy_from_slice(&5u32.to_ne_bytes()); // priority
    for (i, v) in [0x11u32, 0x22, 0x33, 0x44, 0x55].iter().enumerate() {
        c[48 + 4 * i..52 + 4 * i].copy_from_slice(&v.to_ne_bytes());
    }
    c
}

/// Fills slot N of every prog_array map with the program called `tail_N`, if any.
pub fn tail_slots(obj: &ObjectFile) -> Vec<(usize, u32, String)> {
    let mut out = Vec::new();
    for (mi, m) in obj.maps.iter().enumerate() {
        if m.map_type != MapType::ProgArray {
            continue;
        }
        for p in &obj.programs {
            if let Some(n) = p
                .name
                .strip_prefix("tail_")
                .and_then(|n| n.parse::<u32>().ok())
            {
                if n < m.max_entries {
                    out.push((mi, n, p.name.clone()));
                }
            }
        }
    }
    out
}

pub fn load(obj: &ObjectFile) -> Result<KernelObject, bpf::BpfError> {
    let k = KernelObject::load(obj)?;
    for (mi, slot, prog) in tail_slots(obj) {
        let p = k.program(&prog).expect("tail program loaded");
        bpf::prog_array_set(&k.maps[mi].fd, slot, &p.fd)?;
    }
    Ok(k)
}

fn round8(n: u32) -> usize {
    (n as usize).div_ceil(8) * 8
}

/// Dumps the maps a comparison can see: everything except prog arrays (fds), ring buffers and
/// perf event arrays (not readable with lookups).
pub fn dump_maps(k: &KernelObject) -> Vec<(String, MapDump)> {
    let cpus = bpf::possible_cpus().expect("possible CPUs");
    let mut out = Vec::new();
    for m in &k.maps {
        let s = &m.spec;
        let percpu = matches!(s.map_type, MapType::PercpuArray | MapType::PercpuHash);
        if matches!(
            s.map_type,
            MapType::ProgArray | MapType::RingBuf | MapType::PerfEventArray
        ) {
            continue;
        }
        let keys = bpf::map_keys(&m.fd, s.key_size as usize).expect("map keys");
        let mut dump = Vec::new();
        for key in keys {
            let slot = if percpu {
                round8(s.value_size)
            } else {
                s.value_size as usize
            };
            let mut val = vec![0u8; slot * if percpu { cpus } else { 1 }];
            if !bpf::map_lookup(&m.fd, &key, &mut val).expect("map lookup") {
                continue;
            }
            let value = if percpu {
                sum_cpus(&val, slot, s.value_size as usize)
            } else {
                val
            };
            dump.push((key, value));
        }
        dump.sort();
        out.push((s.name.clone(), dump));
    }
    out
}

/// Sums per-CPU slots word by word (u64 little-endian, wrapping), truncated to `value_size`.
pub fn sum_cpus(all: &[u8], slot: usize, value_size: usize) -> Vec<u8> {
    let mut acc = vec![0u8; slot];
    for cpu in all.chunks_exact(slot) {
        for (a, c) in acc.chunks_exact_mut(8).zip(cpu.chunks_exact(8)) {
            let s = u64::from_le_bytes(a.try_into().unwrap())
                .wrapping_add(u64::from_le_bytes(c.try_into().unwrap()));
            a.copy_from_slice(&s.to_le_bytes());
        }
    }
    acc.truncate(value_size);
    acc
}

/// Runs program `prog` once on `frame` through BPF_PROG_TEST_RUN.
pub fn run(k: &KernelObject, prog: &str, frame: &[u8]) -> Result<Outcome, bpf::BpfError> {
    let p = k.program(prog).expect("program loaded");
    let ctx = ctx_in();
    let r = bpf::prog_test_run(
        &p.fd,
        &TestRun {
            data_in: frame,
            data_out_cap: frame.len() + 4096,
            ctx_in: Some(&ctx),
            ctx_out_cap: SKB_CTX_SIZE,
            repeat: 1,
        },
    )?;
    Ok(Outcome {
        retval: r.retval,
        data_out: r.data_out,
        ctx_out: r.ctx_out,
        maps: dump_maps(k),
    })
}
