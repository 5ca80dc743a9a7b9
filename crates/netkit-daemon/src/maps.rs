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

fn is_per_cpu(t: MapType) -> bool {
    matches!(t, MapType::PercpuHash | MapType::PercpuArray)
}

/// The value of an update: as a lookup returns it, or for a per-CPU map also one value
/// (`value_size` bytes) that every CPU's slot gets, as the kernel backend takes it.
fn user_value(map: &Map, text: &str) -> Result<Vec<u8>, WireError> {
    let def = map.def();
    let want = map.user_value_size();
    let b = hex::decode(text).map_err(|e| errno(Errno::EINVAL, format!("value: {e}")))?;
    if b.len() == want {
        return Ok(b);
    }
    if is_per_cpu(def.map_type) && b.len() == def.value_size as usize {
        let stride = (def.value_size as usize).div_ceil(8) * 8;
        let mut slot = b;
        slot.resize(stride, 0);
        return Ok(slot.repeat(want / stride.max(1)));
    }
    let one = if is_per_cpu(def.map_type) {
        format!("{} (one for every CPU) or ", def.value_size)
    } else {
        String::new()
    };
    Err(errno(
        Errno::EINVAL,
        format!("value has {} bytes, the map's is {one}{want}", b.len()),
    ))
}

/// An element as bpftool shows it: per-CPU maps also with each CPU's value (`value_size`
/// bytes of its 8-byte aligned slot).
fn entry(map: &Map, key: &[u8], value: &[u8]) -> proto::MapEntry {
    let def = map.def();
    let per_cpu = if is_per_cpu(def.map_type) {
        let stride = (def.value_size as usize).div_ceil(8).max(1) * 8;
        value
            .chunks(stride)
            .map(|slot| hex::encode(&slot[..slot.len().min(def.value_size as usize)]))
            .collect()
    } else {
        Vec::new()
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
        let v = user_value(map, value)?;
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

    #[test]
    fn per_cpu_updates_take_one_value_for_every_cpu_or_every_slot() {
        let mut maps = Maps::default();
        let id = MapId(1);
        maps.slots.insert(
            id,
            MapSlot {
                map: Arc::new(map(MapType::PercpuArray, 4)),
                prog_id: ProgId(1),
            },
        );
        let cpus = netkit_bpf::maps::num_cpus() as usize;
        let key = hex::encode(&[0; 4]);
        maps.update(id, &key, "2a000000", UpdateFlag::Any)
            .expect("one value");
        let Ok(Response::MapEntries { entries }) = maps.lookup(id, &key) else {
            panic!("lookup");
        };
        assert_eq!(entries[0].per_cpu, vec!["2a000000".to_string(); cpus]);
        let every: String = (0..cpus)
            .map(|i| format!("{:02x}00000000000000", i + 1))
            .collect();
        maps.update(id, &key, &every, UpdateFlag::Any)
            .expect("every slot");
        let Ok(Response::MapEntries { entries }) = maps.lookup(id, &key) else {
            panic!("lookup");
        };
        assert_eq!(entries[0].value, every);
        let err = maps
            .update(id, &key, "2a00", UpdateFlag::Any)
            .expect_err("2 bytes");
        assert_eq!(err.errno, "EINVAL");
        assert!(err.message.contains("value has 2 bytes"), "{}", err.message);
        // Refused: nothing changed.
        let Ok(Response::MapEntries { entries }) = maps.lookup(id, &key) else {
            panic!("lookup");
        };
        assert_eq!(entries[0].value, every);
    }
}
