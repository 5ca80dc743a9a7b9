//! BPF maps: shared by every program of an object and by Rust callers, thread-safe, with the
//! kernel's flag and errno semantics (kernel/bpf/arraymap.c, hashtab.c, lpm_trie.c,
//! ringbuf.c, the perf event array in kernel/trace/bpf_trace.c).
//!
//! Rust-side values of per-CPU maps are all CPUs' values, each padded to 8 bytes, back to back,
//! as `bpf(BPF_MAP_LOOKUP_ELEM)` returns them. Programs see only their CPU's value.

mod array;
mod events;
mod hash;
mod lpm;

use std::sync::{Arc, OnceLock};

pub(crate) use events::RecordRef;
pub use events::{PerfRecord, RingBuf};

use crate::mem::{Region, Words};
use crate::obj::{MapSpec, MapType};
use crate::vm::Program;

/// `BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`: update flags.
pub const BPF_ANY: u64 = 0;
pub const BPF_NOEXIST: u64 = 1;
pub const BPF_EXIST: u64 = 2;

/// Largest key a map may have (the kernel's MAX_BPF_STACK bound for hash keys).
pub const MAX_KEY_SIZE: u32 = 512;
/// Largest value a map may have (about the kernel's KMALLOC_MAX_SIZE).
pub const MAX_VALUE_SIZE: u32 = 1 << 22;

/// The number of CPUs per-CPU maps hold values for (the host's available parallelism).
pub fn num_cpus() -> u32 {
    static N: OnceLock<u32> = OnceLock::new();
    *N.get_or_init(|| {
        std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1)
    })
}

/// A map operation's failure, as the errno the kernel returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error("no such element (ENOENT)")]
    NotFound,
    #[error("element exists (EEXIST)")]
    Exists,
    #[error("map is full or index out of range (E2BIG)")]
    Full,
    #[error("invalid argument (EINVAL)")]
    Invalid,
    #[error("no space (EAGAIN)")]
    NoSpace,
    #[error("operation not supported on this map type (EOPNOTSUPP)")]
    NotSupported,
}

impl MapError {
    /// The positive errno value.
    pub fn errno(self) -> i32 {
        match self {
            MapError::NotFound => 2,
            MapError::Exists => 17,
            MapError::Full => 7,
            MapError::Invalid => 22,
            MapError::NoSpace => 11,
            MapError::NotSupported => 95,
        }
    }

    /// What a helper returns for this error: `-errno` as a u64 register value.
    pub(crate) fn to_ret(self) -> u64 {
        (-(self.errno() as i64)) as u64
    }
}

/// Why a map could not be created.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("map {name}: {msg}")]
pub struct MapCreateError {
    pub name: String,
    pub msg: String,
}

/// A map's shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapDef {
    pub map_type: MapType,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    /// `.rodata`: programs may read values but not write them.
    pub readonly: bool,
}

enum Store {
    Array(array::ArrayMap),
    Hash(hash::HashMap),
    Lpm(lpm::LpmTrie),
    ProgArray(array::ProgArray),
    RingBuf(events::RingBuf),
    Perf(events::PerfArray),
}

/// One map instance.
pub struct Map {
    name: String,
    def: MapDef,
    store: Store,
}

impl std::fmt::Debug for Map {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Map")
            .field("name", &self.name)
            .field("def", &self.def)
            .finish()
    }
}

impl Map {
    /// Creates a map, checking its shape as `map_alloc_check` does for each type.
    pub fn new(name: &str, def: MapDef) -> Result<Map, MapCreateError> {
        let bad = |msg: &str| MapCreateError {
            name: name.to_string(),
            msg: msg.to_string(),
        };
        let ks = def.key_size;
        let vs = def.value_size;
        if def.max_entries == 0 {
            return Err(bad("max_entries must be > 0"));
        }
        if ks > MAX_KEY_SIZE || vs > MAX_VALUE_SIZE {
            return Err(bad("key or value too large (E2BIG)"));
        }
        let store = match def.map_type {
            MapType::Array | MapType::PercpuArray => {
                if ks != 4 || vs == 0 {
                    return Err(bad("array maps need key_size 4 and value_size > 0"));
                }
                let percpu = def.map_type == MapType::PercpuArray;
                Store::Array(array::ArrayMap::new(&def, percpu).ok_or_else(|| bad("too large"))?)
            }
            MapType::Hash | MapType::PercpuHash | MapType::LruHash => {
                if ks == 0 || vs == 0 {
                    return Err(bad("hash maps need key_size and value_size > 0"));
                }
                Store::Hash(hash::HashMap::new(&def))
            }
            MapType::LpmTrie => {
                if !(5..=260).contains(&ks) || vs == 0 {
                    return Err(bad("lpm_trie needs key_size 5..=260 and value_size > 0"));
                }
                Store::Lpm(lpm::LpmTrie::new(&def))
            }
            MapType::ProgArray => {
                if ks != 4 || vs != 4 {
                    return Err(bad("prog_array needs key_size 4 and value_size 4"));
                }
                Store::ProgArray(array::ProgArray::new(def.max_entries))
            }
            MapType::RingBuf => {
                let n = def.max_entries;
                if ks != 0 || vs != 0 || !n.is_power_of_two() || n < 4096 {
                    return Err(bad(
                        "ringbuf needs key/value size 0 and a power-of-two size >= 4096",
                    ));
                }
                Store::RingBuf(events::RingBuf::new(n))
            }
            MapType::PerfEventArray => {
                if ks != 4 || vs != 4 {
                    return Err(bad("perf_event_array needs key_size 4 and value_size 4"));
                }
                Store::Perf(events::PerfArray::new(def.max_entries))
            }
            MapType::Unknown(t) => return Err(bad(&format!("unsupported map type {t}"))),
        };
        Ok(Map {
            name: name.to_string(),
            def,
            store,
        })
    }

    /// Creates the map an object declares, with global data initialised.
    pub fn from_spec(spec: &MapSpec) -> Result<Map, MapCreateError> {
        // libbpf sizes a perf event array declared without max_entries to the CPU count.
        let max_entries = match (spec.map_type, spec.max_entries) {
            (MapType::PerfEventArray, 0) => num_cpus(),
            (_, n) => n,
        };
        let def = MapDef {
            map_type: spec.map_type,
            key_size: spec.key_size,
            value_size: spec.value_size,
            max_entries,
            map_flags: spec.map_flags,
            readonly: spec.origin == crate::obj::MapOrigin::Rodata,
        };
        let map = Map::new(&spec.name, def)?;
        if let Some(init) = &spec.initial_value {
            let mut value = init.clone();
            value.resize(spec.value_size as usize, 0);
            map.update(&0u32.to_le_bytes(), &value, BPF_ANY)
                .map_err(|e| MapCreateError {
                    name: spec.name.clone(),
                    msg: format!("initial value: {e}"),
                })?;
        }
        Ok(map)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn def(&self) -> &MapDef {
        &self.def
    }

    fn check_key(&self, key: &[u8]) -> Result<(), MapError> {
        if key.len() != self.def.key_size as usize {
            return Err(MapError::Invalid);
        }
        Ok(())
    }

    /// The size of a value as Rust callers read and write it (all CPUs for per-CPU maps).
    pub fn user_value_size(&self) -> usize {
        match self.def.map_type {
            MapType::PercpuArray | MapType::PercpuHash => {
                crate::mem::stride(self.def.value_size) * num_cpus() as usize
            }
            _ => self.def.value_size as usize,
        }
    }

    /// `BPF_MAP_LOOKUP_ELEM`.
    pub fn lookup(&self, key: &[u8]) -> Result<Vec<u8>, MapError> {
        self.check_key(key)?;
        match &self.store {
            Store::Array(a) => a.lookup_user(key),
            Store::Hash(h) => h.lookup_user(key),
            Store::Lpm(l) => l.lookup_user(key),
            Store::ProgArray(_) | Store::RingBuf(_) | Store::Perf(_) => Err(MapError::NotSupported),
        }
    }

    /// `BPF_MAP_UPDATE_ELEM` with `BPF_ANY`/`BPF_NOEXIST`/`BPF_EXIST`.
    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), MapError> {
        self.check_key(key)?;
        if value.len() != self.user_value_size() {
            return Err(MapError::Invalid);
        }
        match &self.store {
            Store::Array(a) => a.update(key, value, flags, None),
            Store::Hash(h) => h.update(key, value, flags, None),
            Store::Lpm(l) => l.update(key, value, flags),
            Store::ProgArray(_) | Store::RingBuf(_) | Store::Perf(_) => Err(MapError::NotSupported),
        }
    }

    /// `BPF_MAP_DELETE_ELEM`.
    pub fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        self.check_key(key)?;
        match &self.store {
            Store::Array(_) => Err(MapError::Invalid),
            Store::Hash(h) => h.delete(key),
            Store::Lpm(l) => l.delete(key),
            Store::ProgArray(p) => p.set(key_index(key), None),
            Store::RingBuf(_) | Store::Perf(_) => Err(MapError::NotSupported),
        }
    }

    /// Every key, in iteration order (`BPF_MAP_GET_NEXT_KEY` from the start).
    pub fn keys(&self) -> Vec<Vec<u8>> {
        match &self.store {
            Store::Array(_) => (0..self.def.max_entries)
                .map(|i| i.to_le_bytes().to_vec())
                .collect(),
            Store::Hash(h) => h.keys(),
            Store::Lpm(l) => l.keys(),
            Store::ProgArray(p) => p.keys(),
            Store::RingBuf(_) | Store::Perf(_) => Vec::new(),
        }
    }

    /// Installs (or with `None` removes) the program tail calls at `index` reach.
    pub fn set_prog(&self, index: u32, prog: Option<Arc<Program>>) -> Result<(), MapError> {
        match &self.store {
            Store::ProgArray(p) => p.set(index, prog),
            _ => Err(MapError::NotSupported),
        }
    }

    /// The ring buffer of a `BPF_MAP_TYPE_RINGBUF` map.
    pub fn ringbuf(&self) -> Option<&RingBuf> {
        match &self.store {
            Store::RingBuf(r) => Some(r),
            _ => None,
        }
    }

    /// Opens the perf event slot `index` (what attaching a perf event fd does); records the
    /// program outputs to an unopened slot fail with `-ENOENT`, as in the kernel.
    pub fn perf_open(&self, index: u32) -> Result<(), MapError> {
        match &self.store {
            Store::Perf(p) => p.open(index),
            _ => Err(MapError::NotSupported),
        }
    }

    /// Takes the records written to a perf event array so far.
    pub fn perf_drain(&self) -> Vec<PerfRecord> {
        match &self.store {
            Store::Perf(p) => p.drain(),
            _ => Vec::new(),
        }
    }

    // ---- program side ----

    /// `bpf_map_lookup_elem` from a program: the value region for `cpu`, or `None` (NULL).
    pub(crate) fn prog_lookup(&self, key: &[u8], cpu: u32) -> Option<Region> {
        let writable = !self.def.readonly;
        let (words, start) = match &self.store {
            Store::Array(a) => a.locate(key, cpu)?,
            Store::Hash(h) => h.locate(key, cpu)?,
            Store::Lpm(l) => l.locate(key)?,
            _ => return None,
        };
        Some(Region {
            words,
            start: start as u32,
            len: self.def.value_size,
            writable,
            live: true,
            record: None,
        })
    }

    /// `bpf_map_update_elem` from a program: per-CPU maps update only `cpu`'s value.
    pub(crate) fn prog_update(&self, key: &[u8], value: &[u8], flags: u64, cpu: u32) -> u64 {
        if self.def.readonly {
            return MapError::Invalid.to_ret();
        }
        let r = match &self.store {
            Store::Array(a) => a.update(key, value, flags, Some(cpu)),
            Store::Hash(h) => h.update(key, value, flags, Some(cpu)),
            Store::Lpm(l) => l.update(key, value, flags),
            _ => Err(MapError::Invalid),
        };
        r.map(|()| 0).unwrap_or_else(MapError::to_ret)
    }

    pub(crate) fn prog_delete(&self, key: &[u8]) -> u64 {
        let r = match &self.store {
            Store::Array(_) => Err(MapError::Invalid),
            Store::Hash(h) => h.delete(key),
            Store::Lpm(l) => l.delete(key),
            _ => Err(MapError::Invalid),
        };
        r.map(|()| 0).unwrap_or_else(MapError::to_ret)
    }

    pub(crate) fn prog_at(&self, index: u32) -> Option<Arc<Program>> {
        match &self.store {
            Store::ProgArray(p) => p.get(index),
            _ => None,
        }
    }

    pub(crate) fn ringbuf_store(&self) -> Option<&events::RingBuf> {
        self.ringbuf()
    }

    pub(crate) fn perf_store(&self) -> Option<&events::PerfArray> {
        match &self.store {
            Store::Perf(p) => Some(p),
            _ => None,
        }
    }

    /// Elements for `bpf_for_each_map_elem`: arrays by index (no copy of a large array),
    /// hash maps as a snapshot (the callback may update the map).
    pub(crate) fn for_each_elems(&self, cpu: u32) -> Option<Elems> {
        match &self.store {
            Store::Array(_) => Some(Elems::Indexed(self.def.max_entries)),
            Store::Hash(h) => Some(Elems::Listed(h.snapshot(cpu))),
            _ => None,
        }
    }

    /// Element `index` of an array on `cpu`: (value words, byte offset).
    pub(crate) fn array_elem(&self, index: u32, cpu: u32) -> Option<(Words, usize)> {
        match &self.store {
            Store::Array(a) => a.locate(&index.to_le_bytes(), cpu),
            _ => None,
        }
    }
}

/// What [`Map::for_each_elems`] yields.
pub(crate) enum Elems {
    /// Array indices `0..n`.
    Indexed(u32),
    /// (key, value words, byte offset) of each element.
    Listed(Vec<(Vec<u8>, Words, usize)>),
}

pub(crate) fn key_index(key: &[u8]) -> u32 {
    u32::from_le_bytes(key[..4].try_into().expect("key of 4 bytes"))
}
