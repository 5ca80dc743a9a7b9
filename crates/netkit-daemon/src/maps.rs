//! Maps of loaded objects, under daemon ids that survive restarts, with bpftool's operations
//! and the kernel's errnos. Their contents are saved with the state (array and hash maps) and
//! written back on restore.

use std::collections::BTreeMap;
use std::sync::Arc;

use netkit_bpf::obj::MapType;
use netkit_bpf::Map;
use netkit_core::Errno;
use netkit_proto::{self as proto, hex, Response, UpdateFlag, WireError};

use crate::convert::errno;
use crate::ids::{MapId, ProgId};
use crate::persist::MapRecord;

/// At most this many entries per map are saved with the state.
const SAVED_ENTRIES: usize = 4096;

pub(crate) struct MapSlot {
    pub map: Arc<Map>,
    pub prog_id: ProgId,
}

#[derive(Default)]
pub(crate) struct Maps {
    pub slots: BTreeMap<MapId, MapSlot>,
}

pub fn type_name(t: MapType) -> String {
    match t {
        MapType::Hash => "hash".into(),
        MapType::Array => "array".into(),
        MapType::ProgArray => "prog_array".into(),
        MapType::PerfEventArray => "perf_event_array".into(),
        MapType::PercpuHash => "percpu_hash".into(),
        MapType::PercpuArray => "percpu_array".into(),
        MapType::LruHash => "lru_hash".into(),
        MapType::LpmTrie => "lpm_trie".into(),
        MapType::RingBuf => "ringbuf".into(),
        MapType::Unknown(raw) => format!("type {raw}"),
    }
}

/// Whether a map's contents are data worth carrying across a restart.
fn saved(t: MapType) -> bool {
    matches!(
        t,
        MapType::Hash
            | MapType::Array
            | MapType::PercpuHash
            | MapType::PercpuArray
            | MapType::LruHash
            | MapType::LpmTrie
    )
}

fn map_errno(e: netkit_bpf::MapError) -> Errno {
    Errno::from_raw(e.errno())
}

fn bytes(what: &str, text: &str, want: usize) -> Result<Vec<u8>, WireError> {
    let b = hex::decode(text).map_err(|e| errno(Errno::EINVAL, format!("{what}: {e}")))?;
    if b.len() != want {
        return Err(errno(
            Errno::EINVAL,
            format!("{what} has {} bytes, the map's is {want}", b.len()),
        ));
    }
    Ok(b)
}

/// An element as bpftool shows it: per-CPU maps also with each CPU's value (`value_size`
/// bytes of its 8-byte aligned slot).
fn entry(map: &Map, key: &[u8], value: &[u8]) -> proto::MapEntry {
    let def = map.def();
    let per_cpu = match def.map_type {
        MapType::PercpuHash | MapType::PercpuArray => {
            let stride = (def.value_size as usize).div_ceil(8).max(1) * 8;
            value
                .chunks(stride)
                .map(|slot| hex::encode(&slot[..slot.len().min(def.value_size as usize)]))
                .collect()
        }
        _ => Vec::new(),
    };
    proto::MapEntry {
        key: hex::encode(key),
        value: hex::encode(value),
        per_cpu,
    }
}

impl Maps {
    fn slot(&self, id: MapId) -> Result<&MapSlot, WireError> {
        self.slots
            .get(&id)
            .ok_or_else(|| errno(Errno::ENOENT, format!("no map with id {id}")))
    }

    pub fn view(&self, id: MapId) -> Option<proto::MapView> {
        let s = self.slots.get(&id)?;
        let def = s.map.def();
        Some(proto::MapView {
            id: id.0,
            name: s.map.name().to_string(),
            map_type: type_name(def.map_type),
            bytes_key: def.key_size,
            bytes_value: def.value_size,
            max_entries: def.max_entries,
            flags: def.map_flags,
            prog_id: s.prog_id.0,
        })
    }

    pub fn show(&self, id: Option<MapId>) -> Result<Response, WireError> {
        if let Some(id) = id {
            self.slot(id)?;
        }
        let maps = self
            .slots
            .keys()
            .filter(|k| id.is_none_or(|want| want == **k))
            .filter_map(|k| self.view(*k))
            .collect();
        Ok(Response::Maps { maps })
    }

    pub fn dump(&self, id: MapId) -> Result<Response, WireError> {
        let map = &self.slot(id)?.map;
        let entries = map
            .keys()
            .into_iter()
            .filter_map(|k| {
                let v = map.lookup(&k).ok()?;
                Some(entry(map, &k, &v))
            })
            .collect();
        Ok(Response::MapEntries { entries })
    }

    pub fn lookup(&self, id: MapId, key: &str) -> Result<Response, WireError> {
        let map = &self.slot(id)?.map;
        let k = bytes("key", key, map.def().key_size as usize)?;
        let v = map
            .lookup(&k)
            .map_err(|e| errno(map_errno(e), format!("lookup in map {id}: {e}")))?;
        Ok(Response::MapEntries {
            entries: vec![entry(map, &k, &v)],
        })
    }

    pub fn update(
        &self,
        id: MapId,
        key: &str,
        value: &str,
        flag: UpdateFlag,
    ) -> Result<Response, WireError> {
        let map = &self.slot(id)?.map;
        let k = bytes("key", key, map.def().key_size as usize)?;
        let v = bytes("value", value, map.user_value_size())?;
        let flags = match flag {
            UpdateFlag::Any => 0,
            UpdateFlag::NoExist => 1,
            UpdateFlag::Exist => 2,
        };
        map.update(&k, &v, flags)
            .map_err(|e| errno(map_errno(e), format!("update of map {id}: {e}")))?;
        Ok(Response::Done)
    }

    pub fn delete(&self, id: MapId, key: &str) -> Result<Response, WireError> {
        let map = &self.slot(id)?.map;
        let k = bytes("key", key, map.def().key_size as usize)?;
        map.delete(&k)
            .map_err(|e| errno(map_errno(e), format!("delete from map {id}: {e}")))?;
        Ok(Response::Done)
    }

    /// The contents to save.
    pub fn records(&self) -> Vec<MapRecord> {
        self.slots
            .iter()
            .filter(|(_, s)| saved(s.map.def().map_type))
            .map(|(id, s)| MapRecord {
                id: *id,
                entries: s
                    .map
                    .keys()
                    .into_iter()
                    .take(SAVED_ENTRIES)
                    .filter_map(|k| {
                        let v = s.map.lookup(&k).ok()?;
                        Some((hex::encode(&k), hex::encode(&v)))
                    })
                    .collect(),
            })
            .collect()
    }

    /// Writes saved contents back (entries that no longer fit are reported and skipped).
    pub fn restore(&self, records: &[MapRecord]) {
        for rec in records {
            let Some(slot) = self.slots.get(&rec.id) else {
                continue;
            };
            for (k, v) in &rec.entries {
                let (Ok(k), Ok(v)) = (hex::decode(k), hex::decode(v)) else {
                    continue;
                };
                if let Err(e) = slot.map.update(&k, &v, 0) {
                    eprintln!("netkitd: restoring an entry of map {}: {e}", rec.id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netkit_bpf::maps::MapDef;

    fn map(map_type: MapType, value_size: u32) -> Map {
        let def = MapDef {
            map_type,
            key_size: 4,
            value_size,
            max_entries: 1,
            map_flags: 0,
            readonly: false,
        };
        Map::new("m", def).expect("a map")
    }

    #[test]
    fn per_cpu_elements_carry_each_cpus_value() {
        let m = map(MapType::PercpuArray, 4);
        let cpus = netkit_bpf::maps::num_cpus() as usize;
        // Slot i holds i+1, padded to 8 bytes.
        let value: Vec<u8> = (0..cpus)
            .flat_map(|i| [i as u8 + 1, 0, 0, 0, 0xee, 0xee, 0xee, 0xee])
            .collect();
        let e = entry(&m, &[0; 4], &value);
        assert_eq!(e.value, hex::encode(&value));
        let want: Vec<String> = (0..cpus)
            .map(|i| hex::encode(&[i as u8 + 1, 0, 0, 0]))
            .collect();
        assert_eq!(e.per_cpu, want, "padding dropped, one value per CPU");
        let plain = entry(&map(MapType::Array, 4), &[0; 4], &[1, 2, 3, 4]);
        assert!(plain.per_cpu.is_empty());
    }
}
