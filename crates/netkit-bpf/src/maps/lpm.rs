//! Longest-prefix-match trie (kernel/bpf/lpm_trie.c). Keys are `struct bpf_lpm_trie_key`:
//! a u32 prefix length followed by the data bytes (network order). Stored as a flat list:
//! lookups scan it, which keeps the semantics obvious; prefix sets in tc programs are small.

use std::sync::RwLock;

use super::{MapDef, MapError, BPF_EXIST, BPF_NOEXIST};
use crate::mem::{self, Words};

struct Node {
    prefixlen: u32,
    data: Vec<u8>,
    words: Words,
}

pub(super) struct LpmTrie {
    nodes: RwLock<Vec<Node>>,
    max_entries: usize,
    data_len: usize,
    value_size: usize,
}

/// Whether the first `bits` bits of `a` and `b` are equal.
fn prefix_eq(a: &[u8], b: &[u8], bits: u32) -> bool {
    let full = (bits / 8) as usize;
    if a[..full] != b[..full] {
        return false;
    }
    let rest = bits % 8;
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    a[full] & mask == b[full] & mask
}

impl LpmTrie {
    pub fn new(def: &MapDef) -> LpmTrie {
        LpmTrie {
            nodes: RwLock::new(Vec::new()),
            max_entries: def.max_entries as usize,
            data_len: def.key_size as usize - 4,
            value_size: def.value_size as usize,
        }
    }

    fn split<'k>(&self, key: &'k [u8]) -> (u32, &'k [u8]) {
        let plen = u32::from_le_bytes(key[..4].try_into().expect("4-byte prefix length"));
        (plen, &key[4..])
    }

    fn best(&self, nodes: &[Node], key: &[u8]) -> Option<usize> {
        let (plen, data) = self.split(key);
        let plen = plen.min(self.data_len as u32 * 8);
        nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.prefixlen <= plen && prefix_eq(&n.data, data, n.prefixlen))
            .max_by_key(|(_, n)| n.prefixlen)
            .map(|(i, _)| i)
    }

    pub fn locate(&self, key: &[u8]) -> Option<(Words, usize)> {
        let nodes = self.nodes.read().unwrap_or_else(|e| e.into_inner());
        self.best(&nodes, key).map(|i| (nodes[i].words.clone(), 0))
    }

    pub fn lookup_user(&self, key: &[u8]) -> Result<Vec<u8>, MapError> {
        let (words, _) = self.locate(key).ok_or(MapError::NotFound)?;
        let mut out = vec![0; self.value_size];
        mem::read_bytes(&words, 0, &mut out);
        Ok(out)
    }

    fn exact(&self, nodes: &[Node], key: &[u8]) -> Option<usize> {
        let (plen, data) = self.split(key);
        nodes
            .iter()
            .position(|n| n.prefixlen == plen && prefix_eq(&n.data, data, plen))
    }

    pub fn update(&self, key: &[u8], value: &[u8], flags: u64) -> Result<(), MapError> {
        if flags > BPF_EXIST {
            return Err(MapError::Invalid);
        }
        let (plen, data) = self.split(key);
        if plen as usize > self.data_len * 8 {
            return Err(MapError::Invalid);
        }
        let mut nodes = self.nodes.write().unwrap_or_else(|e| e.into_inner());
        let words = mem::alloc_words(self.value_size);
        mem::write_bytes(&words, 0, &value[..self.value_size]);
        if let Some(i) = self.exact(&nodes, key) {
            if flags == BPF_NOEXIST {
                return Err(MapError::Exists);
            }
            nodes[i].words = words;
            return Ok(());
        }
        if flags == BPF_EXIST {
            return Err(MapError::NotFound);
        }
        if nodes.len() >= self.max_entries {
            return Err(MapError::Full);
        }
        nodes.push(Node {
            prefixlen: plen,
            data: data.to_vec(),
            words,
        });
        Ok(())
    }

    pub fn delete(&self, key: &[u8]) -> Result<(), MapError> {
        let (plen, _) = self.split(key);
        if plen as usize > self.data_len * 8 {
            return Err(MapError::Invalid);
        }
        let mut nodes = self.nodes.write().unwrap_or_else(|e| e.into_inner());
        let i = self.exact(&nodes, key).ok_or(MapError::NotFound)?;
        nodes.remove(i);
        Ok(())
    }

    pub fn keys(&self) -> Vec<Vec<u8>> {
        let nodes = self.nodes.read().unwrap_or_else(|e| e.into_inner());
        nodes
            .iter()
            .map(|n| {
                let mut k = n.prefixlen.to_le_bytes().to_vec();
                k.extend_from_slice(&n.data);
                k
            })
            .collect()
    }
}
