//! The kernel's maps as `bpftool map` handles them: found by id, described by
//! `bpf_map_info`, read and written element by element.
//!
//! What user space sees of a value is [`ValueLayout`] (pure, tested without a kernel): for a
//! per-CPU map one slot per *possible* CPU, each rounded up to 8 bytes, as
//! `bpf_map_copy_value` / `bpf_percpu_array_copy` lay them out. Sizes are checked here, before
//! any command reaches the kernel, so a malformed request changes nothing.

use super::pin::{self, Kind};
use super::{
    map_delete, map_get_fd_by_id, map_get_next_key, map_info, map_lookup, map_update,
    possible_cpus, BpfError, Fd, MapInfo,
};

/// `enum bpf_map_type` names as bpftool prints them (`libbpf_bpf_map_type_str`).
pub fn type_name(map_type: u32) -> String {
    const NAMES: [&str; 34] = [
        "unspec",
        "hash",
        "array",
        "prog_array",
        "perf_event_array",
        "percpu_hash",
        "percpu_array",
        "stack_trace",
        "cgroup_array",
        "lru_hash",
        "lru_percpu_hash",
        "lpm_trie",
        "array_of_maps",
        "hash_of_maps",
        "devmap",
        "sockmap",
        "cpumap",
        "xskmap",
        "sockhash",
        "cgroup_storage",
        "reuseport_sockarray",
        "percpu_cgroup_storage",
        "queue",
        "stack",
        "sk_storage",
        "devmap_hash",
        "struct_ops",
        "ringbuf",
        "inode_storage",
        "task_storage",
        "bloom_filter",
        "user_ringbuf",
        "cgrp_storage",
        "arena",
    ];
    match NAMES.get(map_type as usize) {
        Some(name) => (*name).to_string(),
        // bpftool's fallback for a type it does not know.
        None => format!("type {map_type}"),
    }
}

/// Whether user space sees one value per possible CPU (`bpf_map_value_size`).
pub fn is_per_cpu(map_type: u32) -> bool {
    // percpu_hash, percpu_array, lru_percpu_hash, percpu_cgroup_storage.
    matches!(map_type, 5 | 6 | 10 | 21)
}

/// The shape of one value as the element commands move it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ValueLayout {
    pub value_size: u32,
    /// `Some(possible CPUs)` for a per-CPU map.
    pub cpus: Option<usize>,
}

impl ValueLayout {
    pub fn new(map_type: u32, value_size: u32, possible_cpus: usize) -> ValueLayout {
        ValueLayout {
            value_size,
            cpus: is_per_cpu(map_type).then_some(possible_cpus),
        }
    }

    /// The bytes of one CPU's slot: the value rounded up to 8 for per-CPU maps.
    pub fn stride(&self) -> usize {
        match self.cpus {
            Some(_) => (self.value_size as usize).div_ceil(8) * 8,
            None => self.value_size as usize,
        }
    }

    /// The length of the buffer a lookup fills and an update reads.
    pub fn user_len(&self) -> usize {
        self.stride() * self.cpus.unwrap_or(1)
    }

    /// The buffer for an update from the bytes a user gave: the whole layout as is (what a
    /// lookup returns), or for a per-CPU map one value, written to every CPU's slot.
    pub fn from_user(&self, given: &[u8]) -> Result<Vec<u8>, String> {
        if given.len() == self.user_len() {
            return Ok(given.to_vec());
        }
        match self.cpus {
            Some(cpus) if given.len() == self.value_size as usize => {
                let mut slot = given.to_vec();
                slot.resize(self.stride(), 0);
                Ok(slot.repeat(cpus))
            }
            Some(cpus) => Err(format!(
                "value has {} bytes; the map's value is {} bytes (one for every CPU) or {} \
                 ({cpus} possible CPUs, {} bytes each)",
                given.len(),
                self.value_size,
                self.user_len(),
                self.stride()
            )),
            None => Err(format!(
                "value has {} bytes, the map's is {}",
                given.len(),
                self.value_size
            )),
        }
    }

    /// Each CPU's value (`value_size` bytes, padding dropped) of a per-CPU buffer; empty for
    /// other maps.
    pub fn per_cpu(&self, raw: &[u8]) -> Vec<Vec<u8>> {
        if self.cpus.is_none() || self.stride() == 0 {
            return Vec::new();
        }
        raw.chunks(self.stride())
            .map(|slot| slot[..slot.len().min(self.value_size as usize)].to_vec())
            .collect()
    }
}

/// One element: key and value bytes (the value as [`ValueLayout::user_len`] lays it out).
pub type Element = (Vec<u8>, Vec<u8>);

/// A map opened by id, with what `bpf_map_info` says of it.
#[derive(Debug)]
pub struct OpenMap {
    pub fd: Fd,
    pub info: MapInfo,
    pub layout: ValueLayout,
}

/// BPF_ANY / BPF_NOEXIST / BPF_EXIST.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateFlag {
    Any,
    NoExist,
    Exist,
}

impl UpdateFlag {
    fn raw(self) -> u64 {
        match self {
            UpdateFlag::Any => 0,
            UpdateFlag::NoExist => 1,
            UpdateFlag::Exist => 2,
        }
    }
}

/// Bytes as bpftool prints them (`0a 00 00 00`), to name a key in a message.
fn spaced(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every live map id, ascending (BPF_MAP_GET_NEXT_ID).
pub fn all_ids() -> Result<Vec<u32>, BpfError> {
    pin::all_ids(Kind::Map)
}

impl OpenMap {
    /// BPF_MAP_GET_FD_BY_ID, then BPF_OBJ_GET_INFO_BY_FD.
    pub fn by_id(id: u32) -> Result<OpenMap, BpfError> {
        let fd = map_get_fd_by_id(id)?;
        let info = map_info(&fd)?;
        let cpus = if is_per_cpu(info.map_type) {
            possible_cpus()?
        } else {
            1
        };
        let layout = ValueLayout::new(info.map_type, info.value_size, cpus);
        Ok(OpenMap { fd, info, layout })
    }

    fn check_key(&self, key: &[u8]) -> Result<(), BpfError> {
        if key.len() != self.info.key_size as usize {
            return Err(BpfError::Invalid(format!(
                "key has {} bytes, the key of map {} is {}",
                key.len(),
                self.info.id,
                self.info.key_size
            )));
        }
        Ok(())
    }

    fn absent(&self, what: &str, key: &[u8]) -> BpfError {
        BpfError::Sys {
            what: format!("{what} map {}: key {}", self.info.id, spaced(key)),
            errno: libc::ENOENT,
        }
    }

    /// BPF_MAP_LOOKUP_ELEM: the value in [`ValueLayout::user_len`] bytes; `ENOENT` when the
    /// key is absent.
    pub fn lookup(&self, key: &[u8]) -> Result<Vec<u8>, BpfError> {
        self.check_key(key)?;
        let mut value = vec![0u8; self.layout.user_len()];
        if !map_lookup(&self.fd, key, &mut value).map_err(|e| self.context(e))? {
            return Err(self.absent("lookup in", key));
        }
        Ok(value)
    }

    /// BPF_MAP_UPDATE_ELEM; `value` as [`ValueLayout::from_user`] takes it.
    pub fn update(&self, key: &[u8], value: &[u8], flag: UpdateFlag) -> Result<(), BpfError> {
        self.check_key(key)?;
        let value = self
            .layout
            .from_user(value)
            .map_err(|e| BpfError::Invalid(format!("update of map {}: {e}", self.info.id)))?;
        map_update(&self.fd, key, &value, flag.raw()).map_err(|e| self.context(e))
    }

    /// BPF_MAP_DELETE_ELEM.
    pub fn delete(&self, key: &[u8]) -> Result<(), BpfError> {
        self.check_key(key)?;
        match map_delete(&self.fd, key) {
            Err(e) if e.errno() == Some(libc::ENOENT) => Err(self.absent("delete from", key)),
            other => other.map_err(|e| self.context(e)),
        }
    }

    /// Every element, in the kernel's iteration order (BPF_MAP_GET_NEXT_KEY, then a lookup
    /// of each key; a key deleted in between is left out, as bpftool does).
    pub fn entries(&self) -> Result<Vec<Element>, BpfError> {
        let mut out = Vec::new();
        let mut next = vec![0u8; self.info.key_size as usize];
        let mut prev: Option<Vec<u8>> = None;
        while map_get_next_key(&self.fd, prev.as_deref(), &mut next).map_err(|e| self.context(e))? {
            let mut value = vec![0u8; self.layout.user_len()];
            if map_lookup(&self.fd, &next, &mut value).map_err(|e| self.context(e))? {
                out.push((next.clone(), value));
            }
            if out.len() as u64 > u64::from(self.info.max_entries) + 1 {
                return Err(BpfError::Invalid(format!(
                    "map {} yields more keys than its max_entries {}",
                    self.info.id, self.info.max_entries
                )));
            }
            prev = Some(next.clone());
        }
        Ok(out)
    }

    /// Names the map in a kernel refusal.
    fn context(&self, e: BpfError) -> BpfError {
        match e {
            BpfError::Sys { what, errno } => BpfError::Sys {
                what: format!("{what} (map {} {})", self.info.id, self.info.name),
                errno,
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_bpftool() {
        assert_eq!(type_name(1), "hash");
        assert_eq!(type_name(6), "percpu_array");
        assert_eq!(type_name(27), "ringbuf");
        assert_eq!(type_name(33), "arena");
        assert_eq!(type_name(99), "type 99");
        assert!(is_per_cpu(5) && is_per_cpu(6) && is_per_cpu(10) && is_per_cpu(21));
        assert!(!is_per_cpu(1) && !is_per_cpu(2) && !is_per_cpu(9));
    }

    #[test]
    fn plain_values_are_taken_as_they_are() {
        let l = ValueLayout::new(2, 4, 8);
        assert_eq!((l.stride(), l.user_len()), (4, 4));
        assert_eq!(l.from_user(&[1, 2, 3, 4]), Ok(vec![1, 2, 3, 4]));
        let err = l.from_user(&[1, 2, 3]).unwrap_err();
        assert!(err.contains("3 bytes") && err.contains("is 4"), "{err}");
        assert!(l.per_cpu(&[1, 2, 3, 4]).is_empty());
    }

    #[test]
    fn per_cpu_values_have_one_padded_slot_per_cpu() {
        // A 4-byte value on 3 CPUs: 8-byte slots, 24 bytes in all.
        let l = ValueLayout::new(6, 4, 3);
        assert_eq!((l.stride(), l.user_len()), (8, 24));
        // One value goes to every CPU, padded.
        assert_eq!(
            l.from_user(&[7, 0, 0, 1]).unwrap(),
            [7, 0, 0, 1, 0, 0, 0, 0].repeat(3)
        );
        // The full layout is taken as is.
        let full: Vec<u8> = (0..24).collect();
        assert_eq!(l.from_user(&full).unwrap(), full);
        let err = l.from_user(&[0; 8]).unwrap_err();
        assert!(
            err.contains("8 bytes") && err.contains("3 possible CPUs"),
            "{err}"
        );
        assert_eq!(
            l.per_cpu(&full),
            vec![vec![0, 1, 2, 3], vec![8, 9, 10, 11], vec![16, 17, 18, 19]]
        );
    }
}
