//! `--backend kernel`: `map show|dump|lookup|update|delete` on the kernel's maps (any map, by
//! its kernel id, as bpftool) and `prog tracelog` streaming the kernel's trace pipe. Answers
//! have the daemon path's shapes; sizes are checked before anything reaches the kernel.

use std::io::Write;

use netkit_core::{Errno, Error};
use netkit_kernel::bpf::maps::{self, OpenMap};
use netkit_kernel::bpf::pin::{self, Kind};
use netkit_kernel::trace::{self, TracePipe};
use netkit_proto::{self as proto, hex, Response, UpdateFlag};

use super::{bpf_err, Kernel};
use crate::output::Format;

/// Bytes of a key or value as the grammar hands them over (hex).
fn decode(what: &str, text: &str) -> Result<Vec<u8>, Error> {
    hex::decode(text).map_err(|e| Error::new(Errno::EINVAL, format!("{what}: {e}")))
}

fn open(id: u32) -> Result<OpenMap, Error> {
    OpenMap::by_id(id).map_err(bpf_err)
}

fn entry(map: &OpenMap, key: &[u8], value: &[u8]) -> proto::MapEntry {
    proto::MapEntry {
        key: hex::encode(key),
        value: hex::encode(value),
        per_cpu: map
            .layout
            .per_cpu(value)
            .iter()
            .map(|v| hex::encode(v))
            .collect(),
    }
}

/// The first (lowest id) program using each map: the daemon's `prog_id` of a map.
fn users() -> Result<std::collections::BTreeMap<u32, u32>, Error> {
    let mut first = std::collections::BTreeMap::new();
    for id in pin::all_ids(Kind::Prog).map_err(bpf_err)? {
        // A program may go away between listing and opening it.
        let Ok(fd) = netkit_kernel::bpf::prog_get_fd_by_id(id) else {
            continue;
        };
        let Ok(d) = pin::prog_details(&fd) else {
            continue;
        };
        for m in d.map_ids {
            first.entry(m).or_insert(id);
        }
    }
    Ok(first)
}

impl Kernel {
    /// `map show [id M]`: every map of the kernel (as `bpftool map show`), or the one named.
    pub(super) fn map_show(&mut self, id: Option<u32>) -> Result<Response, Error> {
        let ids = match id {
            Some(id) => vec![id],
            None => maps::all_ids().map_err(bpf_err)?,
        };
        let users = users()?;
        let mut out = Vec::new();
        for mid in ids {
            let map = match open(mid) {
                Ok(m) => m,
                // Listed, then freed before it could be opened.
                Err(_) if id.is_none() => continue,
                Err(e) => return Err(e),
            };
            let i = &map.info;
            out.push(proto::MapView {
                id: i.id,
                name: i.name.clone(),
                map_type: maps::type_name(i.map_type),
                bytes_key: i.key_size,
                bytes_value: i.value_size,
                max_entries: i.max_entries,
                flags: i.map_flags,
                prog_id: users.get(&i.id).copied().unwrap_or(0),
            });
        }
        Ok(Response::Maps { maps: out })
    }

    pub(super) fn map_dump(&mut self, id: u32) -> Result<Response, Error> {
        let map = open(id)?;
        let entries = map
            .entries()
            .map_err(bpf_err)?
            .iter()
            .map(|(k, v)| entry(&map, k, v))
            .collect();
        Ok(Response::MapEntries { entries })
    }

    pub(super) fn map_lookup(&mut self, id: u32, key: &str) -> Result<Response, Error> {
        let key = decode("key", key)?;
        let map = open(id)?;
        let value = map.lookup(&key).map_err(bpf_err)?;
        Ok(Response::MapEntries {
            entries: vec![entry(&map, &key, &value)],
        })
    }

    pub(super) fn map_update(
        &mut self,
        id: u32,
        key: &str,
        value: &str,
        flag: UpdateFlag,
    ) -> Result<Response, Error> {
        let (key, value) = (decode("key", key)?, decode("value", value)?);
        let flag = match flag {
            UpdateFlag::Any => maps::UpdateFlag::Any,
            UpdateFlag::NoExist => maps::UpdateFlag::NoExist,
            UpdateFlag::Exist => maps::UpdateFlag::Exist,
        };
        open(id)?.update(&key, &value, flag).map_err(bpf_err)?;
        Ok(Response::Done)
    }

    pub(super) fn map_delete(&mut self, id: u32, key: &str) -> Result<Response, Error> {
        let key = decode("key", key)?;
        open(id)?.delete(&key).map_err(bpf_err)?;
        Ok(Response::Done)
    }
}

/// `prog tracelog`: the kernel's trace pipe, line by line as it comes, until SIGINT, SIGTERM
/// or SIGHUP (then exit status 0), as `bpftool prog tracelog`. With `-j` the lines are the
/// elements of one JSON array, closed when the stream stops.
pub fn tracelog(id: Option<u32>, format: Format) -> Result<(), Error> {
    if let Some(id) = id {
        return Err(Error::new(
            Errno::EOPNOTSUPP,
            format!(
                "prog tracelog id {id}: the kernel's trace pipe does not say which program \
                 wrote a line; use prog tracelog without an id"
            ),
        ));
    }
    trace::stop_on_signals().map_err(|e| {
        Error::new(
            Errno::from_raw(e.raw_os_error().unwrap_or(Errno::EINVAL.raw())),
            format!("installing signal handlers: {e}"),
        )
    })?;
    let mut pipe = TracePipe::open()?;
    let mut out = std::io::stdout().lock();
    let mut first = true;
    // A closed stdout (a reader that went away) ends the stream like a signal.
    let mut open = !format.json || write!(out, "[").and_then(|()| out.flush()).is_ok();
    while open {
        let Some(lines) = pipe.next_lines()? else {
            break;
        };
        for line in lines {
            let written = if format.json {
                let sep = if first { "" } else { "," };
                let text = serde_json::Value::String(line).to_string();
                writeln!(out, "{sep}{text}")
            } else {
                writeln!(out, "{line}")
            };
            first = false;
            open = written.and_then(|()| out.flush()).is_ok();
            if !open {
                break;
            }
        }
    }
    if format.json && open {
        let _ = writeln!(out, "]").and_then(|()| out.flush());
    }
    Ok(())
}
