//! Array, per-CPU array and prog array (kernel/bpf/arraymap.c).

use std::sync::{Arc, RwLock};

use super::{key_index, num_cpus, MapDef, MapError, BPF_EXIST, BPF_NOEXIST};
use crate::mem::{self, Words};
use crate::vm::Program;

/// Every element preallocated and zeroed; elements always exist and cannot be deleted.
pub(super) struct ArrayMap {
    words: Words,
    max_entries: u32,
    value_size: usize,
    stride: usize,
    /// 1 for plain arrays, the CPU count for per-CPU arrays (values of one element adjacent).
    cpus: u32,
}

/// Arrays above this many bytes are refused rather than risk exhausting memory.
const MAX_ARRAY_BYTES: usize = 1 << 30;

impl ArrayMap {
    pub fn new(def: &MapDef, percpu: bool) -> Option<ArrayMap> {
        let cpus = if percpu { num_cpus() } else { 1 };
        let stride = mem::stride(def.value_size);
        let bytes = stride
            .checked_mul(def.max_entries as usize)?
            .checked_mul(cpus as usize)?;
        if bytes > MAX_ARRAY_BYTES {
            return None;
        }
        Some(ArrayMap {
            words: mem::alloc_words(bytes),
            max_entries: def.max_entries,
            value_size: def.value_size as usize,
            stride,
            cpus,
        })
    }

    fn elem_off(&self, index: u32, cpu: u32) -> usize {
        (index as usize * self.cpus as usize + cpu as usize) * self.stride
    }

    /// The words and byte offset of `key`'s value on `cpu`, or `None` out of range.
    pub fn locate(&self, key: &[u8], cpu: u32) -> Option<(Words, usize)> {
        let index = key_index(key);
        if index >= self.max_entries {
            return None;
        }
        Some((self.words.clone(), self.elem_off(index, cpu % self.cpus)))
    }

    pub fn lookup_user(&self, key: &[u8]) -> Result<Vec<u8>, MapError> {
        let index = key_index(key);
        if index >= self.max_entries {
            return Err(MapError::NotFound);
        }
        if self.cpus == 1 {
            let mut out = vec![0; self.value_size];
            mem::read_bytes(&self.words, self.elem_off(index, 0), &mut out);
            return Ok(out);
        }
        let mut out = vec![0; self.stride * self.cpus as usize];
        for cpu in 0..self.cpus {
            let at = cpu as usize * self.stride;
            mem::read_bytes(
                &self.words,
                self.elem_off(index, cpu),
                &mut out[at..at + self.value_size],
            );
        }
        Ok(out)
    }

    /// `array_map_update_elem`: `cpu` is the running CPU for program updates, `None` for
    /// Rust updates (which carry every CPU's value for per-CPU arrays).
    pub fn update(
        &self,
        key: &[u8],
        value: &[u8],
        flags: u64,
        cpu: Option<u32>,
    ) -> Result<(), MapError> {
        if flags > BPF_EXIST {
            return Err(MapError::Invalid);
        }
        let index = key_index(key);
        if index >= self.max_entries {
            return Err(MapError::Full);
        }
        if flags == BPF_NOEXIST {
            return Err(MapError::Exists);
        }
        match cpu {
            Some(cpu) => mem::write_bytes(
                &self.words,
                self.elem_off(index, cpu % self.cpus),
                &value[..self.value_size],
            ),
            None if self.cpus == 1 => mem::write_bytes(&self.words, self.elem_off(index, 0), value),
            None => {
                for cpu in 0..self.cpus {
                    let at = cpu as usize * self.stride;
                    mem::write_bytes(
                        &self.words,
                        self.elem_off(index, cpu),
                        &value[at..at + self.value_size],
                    );
                }
            }
        }
        Ok(())
    }
}

/// Slots of programs for `bpf_tail_call`.
pub(super) struct ProgArray {
    slots: RwLock<Vec<Option<Arc<Program>>>>,
}

impl ProgArray {
    pub fn new(max_entries: u32) -> ProgArray {
        ProgArray {
            slots: RwLock::new(vec![None; max_entries.min(1 << 20) as usize]),
        }
    }

    pub fn set(&self, index: u32, prog: Option<Arc<Program>>) -> Result<(), MapError> {
        let mut slots = self.slots.write().unwrap_or_else(|e| e.into_inner());
        let Some(slot) = slots.get_mut(index as usize) else {
            return Err(MapError::Full);
        };
        if prog.is_none() && slot.is_none() {
            return Err(MapError::NotFound);
        }
        *slot = prog;
        Ok(())
    }

    pub fn get(&self, index: u32) -> Option<Arc<Program>> {
        let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
        slots.get(index as usize).cloned().flatten()
    }

    pub fn keys(&self) -> Vec<Vec<u8>> {
        let slots = self.slots.read().unwrap_or_else(|e| e.into_inner());
        (0..slots.len() as u32)
            .filter(|&i| slots[i as usize].is_some())
            .map(|i| i.to_le_bytes().to_vec())
            .collect()
    }
}
