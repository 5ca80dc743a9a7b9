//! Objects that outlive the process that made them: pinning in bpffs (BPF_OBJ_PIN /
//! BPF_OBJ_GET), reopening by id (BPF_*_GET_FD_BY_ID), walking the kernel's ids
//! (BPF_*_GET_NEXT_ID) and the `bpf_prog_info` fields `bpftool prog show` prints.

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::path::Path;

use super::attr::{adopt_fd, Attr};
use super::{fd_by_id, obj_get_info, sys, BpfError, Fd};

mod cmd {
    pub const OBJ_PIN: u32 = 6;
    pub const OBJ_GET: u32 = 7;
    pub const PROG_GET_NEXT_ID: u32 = 11;
    pub const MAP_GET_NEXT_ID: u32 = 12;
    pub const LINK_GET_FD_BY_ID: u32 = 30;
    pub const LINK_GET_NEXT_ID: u32 = 31;
}

/// `BPF_LINK_TYPE_NETKIT`.
pub const LINK_TYPE_NETKIT: u32 = 13;

/// The kinds of objects whose ids can be walked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Prog,
    Map,
    Link,
}

fn c_path(path: &Path) -> Result<CString, BpfError> {
    CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| BpfError::Invalid(format!("path {} contains a NUL byte", path.display())))
}

/// BPF_OBJ_PIN: `fd` (program, link or map) gets a name in bpffs and lives while it has one.
pub fn obj_pin(fd: &impl AsRawFd, path: &Path) -> Result<(), BpfError> {
    let name = c_path(path)?;
    let mut a = Attr::default();
    a.set_in(0, name.as_bytes_with_nul());
    a.set_u32(8, fd.as_raw_fd() as u32);
    sys(cmd::OBJ_PIN, &mut a, || {
        format!("pin at {}", path.display())
    })
    .map(|_| ())
}

/// BPF_OBJ_GET: a new descriptor on the object pinned at `path`.
pub fn obj_get(path: &Path) -> Result<Fd, BpfError> {
    let name = c_path(path)?;
    let mut a = Attr::default();
    a.set_in(0, name.as_bytes_with_nul());
    let fd = sys(cmd::OBJ_GET, &mut a, || {
        format!("open pinned {}", path.display())
    })?;
    Ok(Fd(adopt_fd(fd)))
}

pub fn link_get_fd_by_id(id: u32) -> Result<Fd, BpfError> {
    fd_by_id(cmd::LINK_GET_FD_BY_ID, id, "link")
}

/// The smallest id above `start` of a live object of `kind`; `None` past the last one.
pub fn next_id(kind: Kind, start: u32) -> Result<Option<u32>, BpfError> {
    let command = match kind {
        Kind::Prog => cmd::PROG_GET_NEXT_ID,
        Kind::Map => cmd::MAP_GET_NEXT_ID,
        Kind::Link => cmd::LINK_GET_NEXT_ID,
    };
    let mut a = Attr::default();
    a.set_u32(0, start);
    let noun = match kind {
        Kind::Prog => "program",
        Kind::Map => "map",
        Kind::Link => "link",
    };
    match sys(command, &mut a, || {
        format!("listing {noun} ids after {start}")
    }) {
        Ok(_) => Ok(Some(a.u32_at(4))),
        Err(e) if e.errno() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every live id of `kind`, ascending.
pub fn all_ids(kind: Kind) -> Result<Vec<u32>, BpfError> {
    let mut ids = Vec::new();
    let mut at = 0;
    while let Some(id) = next_id(kind, at)? {
        ids.push(id);
        at = id;
    }
    Ok(ids)
}

/// What `bpftool prog show` prints of a program (`struct bpf_prog_info`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProgDetails {
    pub prog_type: u32,
    pub id: u32,
    pub name: String,
    pub xlated_len: u32,
    /// Nanoseconds since boot (CLOCK_BOOTTIME) when it was loaded.
    pub load_time_ns: u64,
    pub map_ids: Vec<u32>,
    /// Counted only while `kernel.bpf_stats_enabled` is 1.
    pub run_time_ns: u64,
    pub run_cnt: u64,
}

/// Offsets in `struct bpf_prog_info` (uapi/linux/bpf.h).
mod info {
    pub const TYPE: usize = 0;
    pub const ID: usize = 4;
    pub const XLATED_LEN: usize = 20;
    pub const LOAD_TIME: usize = 40;
    pub const NR_MAP_IDS: usize = 52;
    pub const MAP_IDS: usize = 56;
    pub const NAME: std::ops::Range<usize> = 64..80;
    pub const RUN_TIME_NS: usize = 192;
    pub const RUN_CNT: usize = 200;
    /// Through `run_cnt`.
    pub const LEN: usize = 208;
}

pub fn prog_details(fd: &Fd) -> Result<ProgDetails, BpfError> {
    let mut raw = [0u8; info::LEN];
    obj_get_info(fd, &mut raw)?;
    let u32_at = |o: usize| u32::from_ne_bytes(raw[o..o + 4].try_into().expect("4 bytes"));
    let u64_at = |o: usize| u64::from_ne_bytes(raw[o..o + 8].try_into().expect("8 bytes"));
    // A second call with a buffer for the map ids, sized by the first answer.
    let nr_maps = u32_at(info::NR_MAP_IDS).min(64) as usize;
    let mut map_bytes = vec![0u8; nr_maps * 4];
    if nr_maps > 0 {
        let mut again = [0u8; info::LEN];
        again[info::NR_MAP_IDS..info::NR_MAP_IDS + 4]
            .copy_from_slice(&(nr_maps as u32).to_ne_bytes());
        // The kernel writes at most `nr_map_ids` u32s through this pointer: exactly
        // `map_bytes`, which outlives the call.
        let ptr = map_bytes.as_mut_ptr() as u64;
        again[info::MAP_IDS..info::MAP_IDS + 8].copy_from_slice(&ptr.to_ne_bytes());
        obj_get_info(fd, &mut again)?;
    }
    let name = &raw[info::NAME];
    let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
    Ok(ProgDetails {
        prog_type: u32_at(info::TYPE),
        id: u32_at(info::ID),
        name: String::from_utf8_lossy(&name[..end]).into_owned(),
        xlated_len: u32_at(info::XLATED_LEN),
        load_time_ns: u64_at(info::LOAD_TIME),
        map_ids: map_bytes
            .chunks(4)
            .map(|c| u32::from_ne_bytes(c.try_into().expect("4 bytes")))
            .collect(),
        run_time_ns: u64_at(info::RUN_TIME_NS),
        run_cnt: u64_at(info::RUN_CNT),
    })
}

/// `struct bpf_link_info`'s type field of a link descriptor.
pub fn link_type(fd: &Fd) -> Result<u32, BpfError> {
    let mut raw = [0u8; 8];
    obj_get_info(fd, &mut raw)?;
    Ok(u32::from_ne_bytes(raw[0..4].try_into().expect("4 bytes")))
}
