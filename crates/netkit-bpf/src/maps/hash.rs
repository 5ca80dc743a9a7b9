//! Hash, per-CPU hash and LRU hash (kernel/bpf/hashtab.c).
//!
//! An update of an existing key in a plain hash map installs a fresh value, as the kernel's
//! element replacement does: a program still holding the old value pointer keeps reading the
//! old memory, never freed memory. Per-CPU values are updated in place, as in the kernel.

use std::collections::HashMap as StdHashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::RwLock;

use super::{num_cpus, MapDef, MapError, BPF_EXIST, BPF_NOEXIST};
use crate::mem::{self, Words};
use crate::obj::MapType;

struct Entry {
    words: Words,
    /// LRU clock of the last lookup or update.
    used: AtomicU64,
}

pub(super) struct HashMap {
    table: RwLock<StdHashMap<Box<[u8]>, Entry>>,
    max_entries: usize,
    value_size: usize,
    stride: usize,
    cpus: u32,
    lru: bool,
    clock: AtomicU64,
}

impl HashMap {
    pub fn new(def: &MapDef) -> HashMap {
        let cpus = if def.map_type == MapType::PercpuHash {
            num_cpus()
        } else {
            1
        };
        HashMap {
            table: RwLock::new(StdHashMap::new()),
            max_entries: def.max_entries as usize,
            value_size: def.value_size as usize,
            stride: mem::stride(def.value_size),
            cpus,
            lru: def.map_type == MapType::LruHash,
            clock: AtomicU64::new(0),
        }
    }

    fn touch(&self, e: &Entry) {
        if self.lru {
            e.used.store(self.clock.fetch_add(1, Relaxed), Relaxed);
        }
    }

    pub fn locate(&self, key: &[u8], cpu: u32) -> Option<(Words, usize)> {
        let table = self.table.read().unwrap_or_else(|e| e.into_inner());
        let e = table.get(key)?;
        self.touch(e);
        Some((e.words.clone(), (cpu % self.cpus) as usize * self.stride))
    }

    pub fn lookup_user(&self, key: &[u8]) -> Result<Vec<u8>, MapError> {
        let table = self.table.read().unwrap_or_else(|e| e.into_inner());
        let e = table.get(key).ok_or(MapError::NotFound)?;
        let mut out = if self.cpus == 1 {
            vec![0; self.value_size]
        } else {
            vec![0; self.stride * self.cpus as usize]
        };
        for cpu in 0..self.cpus as usize {
            let at = cpu * self.stride;
            mem::read_bytes(&e.words, at, &mut out[at..at + self.value_size]);
        }
        Ok(out)
    }

    /// Writes `value` into `words`: one CPU's slot, or all CPUs' from a Rust caller.
    fn fill(&self, words: &Words, value: &[u8], cpu: Option<u32>) {
        match cpu {
            Some(cpu) => mem::write_bytes(
                words,
                (cpu % self.cpus) as usize * self.stride,
                &value[..self.value_size],
            ),
            None => {
                for c in 0..self.cpus as usize {
                    let at = c * self.stride;
                    let src = if self.cpus == 1 {
                        value
                    } else {
                        &value[at..at + self.value_size]
                    };
                    mem::write_bytes(words, at, src);
                }
            }
        }
    }

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
        let mut table = self.table.write().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = table.get_mut(key) {
            if flags == BPF_NOEXIST {
                return Err(MapError::Exists);
            }
            if self.cpus > 1 {
                self.fill(&e.words, value, cpu);
            } else {
                let words = mem::alloc_words(self.stride);
                self.fill(&words, value, cpu);
                e.words = words;
            }
            self.touch(e);
            return Ok(());
        }
        if flags == BPF_EXIST {
            return Err(MapError::NotFound);
        }
        if table.len() >= self.max_entries {
            if !self.lru {
                return Err(MapError::Full);
            }
            // Evict the least recently used element (the kernel's LRU is approximate; the
            // outcome it guarantees, room for the new element, is the same).
            let victim = table
                .iter()
                .min_by_key(|(_, e)| e.used.load(Relaxed))
                .map(|(k, _)| k.clone());
            if let Some(k) = victim {
                table.remove(&k);
            }
        }
        let words = mem::alloc_words(self.stride * self.cpus as usize);
        self.fill(&words, value, cpu);
        let e = Entry {
            words,
            used: AtomicU64::new(0),
        };
        self.touch(&e);
        table.insert(key.into(), e);
        Ok(())
    }

    pub fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        let mut table = self.table.write().unwrap_or_else(|e| e.into_inner());
        table.remove(key).map(|_| ()).ok_or(MapError::NotFound)
    }

    pub fn keys(&self) -> Vec<Vec<u8>> {
        let table = self.table.read().unwrap_or_else(|e| e.into_inner());
        table.keys().map(|k| k.to_vec()).collect()
    }

    pub fn snapshot(&self, cpu: u32) -> Vec<(Vec<u8>, Words, usize)> {
        let table = self.table.read().unwrap_or_else(|e| e.into_inner());
        table
            .iter()
            .map(|(k, e)| {
                (
                    k.to_vec(),
                    e.words.clone(),
                    (cpu % self.cpus) as usize * self.stride,
                )
            })
            .collect()
    }
}
