//! bpf(2) program management for netkit: load, attach, detach, query, links
//! (`union bpf_attr` layouts of spec/mprog.md §5.4).

use std::io;

use netkit_bpf::insn::{Insn, BPF_ALU64, BPF_EXIT, BPF_JMP, BPF_K, BPF_MOV};
use netkit_core::{
    AttachReq, BpfLinkInfo, DetachReq, Errno, Error, Handle, Hook, LinkCreateReq, LinkId, ProgId,
    QueryReq, QueryResult,
};

use crate::sys::{self, BpfAttr};

mod cmd {
    pub const MAP_CREATE: u32 = 0;
    pub const MAP_LOOKUP_ELEM: u32 = 1;
    pub const PROG_LOAD: u32 = 5;
    pub const PROG_ATTACH: u32 = 8;
    pub const PROG_DETACH: u32 = 9;
    pub const OBJ_GET_INFO_BY_FD: u32 = 15;
    pub const PROG_QUERY: u32 = 16;
    pub const LINK_CREATE: u32 = 28;
    pub const LINK_UPDATE: u32 = 29;
    pub const LINK_DETACH: u32 = 34;
}

const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;
const BPF_F_REPLACE: u32 = 1 << 2;
/// Largest query capacity passed on (far above the 63 programs a hook can hold).
const QUERY_CAP: u32 = 4096;

/// Maps a failed bpf(2) call to the model's error, naming the command.
fn fail(what: &str, e: io::Error) -> Error {
    let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
    Error::new(errno, format!("{what}: {e}"))
}

fn call(cmd: u32, attr: &mut BpfAttr, what: &str) -> Result<i32, Error> {
    sys::bpf(cmd, attr).map_err(|e| fail(what, e))
}

/// Loads `r0 = value; exit` as a SCHED_CLS program; returns its fd.
pub fn load_constant(value: i32) -> Result<Handle, Error> {
    let insns = [
        Insn {
            code: BPF_ALU64 | BPF_MOV | BPF_K,
            dst: 0,
            src: 0,
            off: 0,
            imm: value,
        },
        Insn {
            code: BPF_JMP | BPF_EXIT,
            ..Insn::default()
        },
    ];
    load_insns(&insns, &format!("nk_const_{}", value as u32))
}

/// Loads raw instructions as a SCHED_CLS program (license GPL; map fds already in the
/// `ld_imm64` immediates); on failure the error carries the verifier log.
pub fn load_insns(insns: &[Insn], name: &str) -> Result<Handle, Error> {
    let raw: Vec<u64> = insns.iter().map(|i| i.to_raw()).collect();
    let license = b"GPL\0";
    let mut log = vec![0u8; 16384];
    let mut a = BpfAttr::new(72);
    a.put_u32(0, BPF_PROG_TYPE_SCHED_CLS);
    a.put_u32(4, raw.len() as u32);
    a.put_u64(8, raw.as_ptr() as u64);
    a.put_u64(16, license.as_ptr() as u64);
    a.put_u32(24, 1); // log_level: keep the verifier's reason on failure
    a.put_u32(28, log.len() as u32);
    a.put_u64(32, log.as_mut_ptr() as u64);
    // prog_name: at most 15 bytes of [A-Za-z0-9_.], NUL-terminated.
    let name: Vec<u8> = name
        .bytes()
        .filter(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'.')
        .take(15)
        .collect();
    for (i, chunk) in name.chunks(4).enumerate() {
        let mut w = [0u8; 4];
        w[..chunk.len()].copy_from_slice(chunk);
        a.put_u32(48 + 4 * i, u32::from_le_bytes(w));
    }
    match sys::bpf(cmd::PROG_LOAD, &mut a) {
        Ok(fd) => Ok(Handle(fd as u32)),
        Err(e) => {
            let log = String::from_utf8_lossy(&log);
            let log = log.trim_end_matches('\0').trim();
            Err(fail(&format!("load program ({log})"), e))
        }
    }
}

/// BPF_PROG_ATTACH with any attach type and no flags (e.g. tcx ingress 46 on a device, to
/// observe what a netkit device hands to its peer).
pub fn attach_raw(ifindex: u32, prog: Handle, attach_type: u32) -> Result<(), Error> {
    let mut a = BpfAttr::new(32);
    a.put_u32(0, ifindex);
    a.put_u32(4, prog.0);
    a.put_u32(8, attach_type);
    call(cmd::PROG_ATTACH, &mut a, "BPF_PROG_ATTACH").map(|_| ())
}

/// BPF_MAP_CREATE of an array map with u32 keys; returns the map fd.
pub fn map_create_array(value_size: u32, max_entries: u32) -> Result<Handle, Error> {
    const BPF_MAP_TYPE_ARRAY: u32 = 2;
    let mut a = BpfAttr::new(20);
    a.put_u32(0, BPF_MAP_TYPE_ARRAY);
    a.put_u32(4, 4);
    a.put_u32(8, value_size);
    a.put_u32(12, max_entries);
    call(cmd::MAP_CREATE, &mut a, "BPF_MAP_CREATE").map(|fd| Handle(fd as u32))
}

/// BPF_MAP_LOOKUP_ELEM of `key` in an array map created by [`map_create_array`].
pub fn map_lookup(map: Handle, key: u32, value_size: usize) -> Result<Vec<u8>, Error> {
    let key = key.to_ne_bytes();
    let mut value = vec![0u8; value_size];
    let mut a = BpfAttr::new(32);
    a.put_u32(0, map.0);
    a.put_u64(8, key.as_ptr() as u64);
    a.put_u64(16, value.as_mut_ptr() as u64);
    call(cmd::MAP_LOOKUP_ELEM, &mut a, "BPF_MAP_LOOKUP_ELEM")?;
    Ok(value)
}

/// `bpf_prog_info.id` of a program fd.
pub fn prog_id(prog: Handle) -> Result<ProgId, Error> {
    let info = obj_info(prog, 8, "program info")?;
    Ok(ProgId(u32::from_le_bytes(info[4..8].try_into().unwrap())))
}

fn obj_info(fd: Handle, len: usize, what: &str) -> Result<Vec<u8>, Error> {
    let mut info = vec![0u8; len];
    let mut a = BpfAttr::new(16);
    a.put_u32(0, fd.0);
    a.put_u32(4, len as u32);
    a.put_u64(8, info.as_mut_ptr() as u64);
    call(cmd::OBJ_GET_INFO_BY_FD, &mut a, what)?;
    Ok(info)
}

/// BPF_PROG_ATTACH.
pub fn attach(req: &AttachReq) -> Result<(), Error> {
    let mut a = BpfAttr::new(32);
    a.put_u32(0, req.ifindex.0);
    a.put_u32(4, req.prog.0);
    a.put_u32(8, req.hook.attach_type());
    a.put_u32(12, req.flags);
    a.put_u32(16, req.replace.map_or(0, |h| h.0));
    a.put_u32(20, req.relative.0);
    a.put_u64(24, req.expected_revision);
    call(cmd::PROG_ATTACH, &mut a, "BPF_PROG_ATTACH").map(|_| ())
}

/// BPF_PROG_DETACH.
pub fn detach(req: &DetachReq) -> Result<(), Error> {
    let mut a = BpfAttr::new(32);
    a.put_u32(0, req.ifindex.0);
    a.put_u32(4, req.prog.map_or(0, |h| h.0));
    a.put_u32(8, req.hook.attach_type());
    a.put_u32(12, req.flags);
    a.put_u32(20, req.relative.0);
    a.put_u64(24, req.expected_revision);
    call(cmd::PROG_DETACH, &mut a, "BPF_PROG_DETACH").map(|_| ())
}

/// BPF_PROG_QUERY with prog_ids and link_ids arrays of the requested capacity.
pub fn query(req: &QueryReq) -> Result<QueryResult, (Error, Option<QueryResult>)> {
    // A hook holds at most 63 programs, so any capacity above that gets the same answer;
    // clamping keeps a huge requested capacity from allocating gigabytes. The kernel is never
    // handed a shorter buffer than `count` claims.
    let cap = req.capacity.unwrap_or(0).min(QUERY_CAP) as usize;
    let mut prog_ids = vec![0u32; cap.max(1)];
    let mut link_ids = vec![0u32; cap.max(1)];
    let mut a = BpfAttr::new(64);
    a.put_u32(0, req.ifindex.0);
    a.put_u32(4, req.hook.attach_type());
    a.put_u32(8, req.query_flags);
    a.put_u32(12, req.attach_flags);
    if req.capacity.is_some() {
        a.put_u64(16, prog_ids.as_mut_ptr() as u64);
        a.put_u64(40, link_ids.as_mut_ptr() as u64);
    }
    a.put_u32(24, cap as u32);
    let ret = sys::bpf(cmd::PROG_QUERY, &mut a);
    let count = a.u32_at(24);
    let result = QueryResult {
        count,
        revision: a.u64_at(56),
        progs: prog_ids
            .iter()
            .zip(&link_ids)
            .take(if req.capacity.is_some() {
                cap.min(count as usize)
            } else {
                0
            })
            .map(|(&p, &l)| (ProgId(p), (l != 0).then_some(LinkId(l))))
            .collect(),
    };
    match ret {
        Ok(_) => Ok(result),
        Err(e) => {
            let err = fail("BPF_PROG_QUERY", e);
            let partial = (err.errno == Errno::ENOSPC).then_some(result);
            Err((err, partial))
        }
    }
}

/// BPF_LINK_CREATE with the netkit sub-struct; returns the link fd.
pub fn link_create(req: &LinkCreateReq) -> Result<Handle, Error> {
    let mut a = BpfAttr::new(64);
    a.put_u32(0, req.prog.0);
    a.put_u32(4, req.ifindex.0);
    a.put_u32(8, req.hook.attach_type());
    a.put_u32(12, req.flags);
    a.put_u32(16, req.relative.0);
    a.put_u64(24, req.expected_revision);
    call(cmd::LINK_CREATE, &mut a, "BPF_LINK_CREATE").map(|fd| Handle(fd as u32))
}

/// BPF_LINK_UPDATE; `old` adds BPF_F_REPLACE with old_prog_fd.
pub fn link_update(link: Handle, new_prog: Handle, old: Option<Handle>) -> Result<(), Error> {
    let mut a = BpfAttr::new(16);
    a.put_u32(0, link.0);
    a.put_u32(4, new_prog.0);
    if let Some(old) = old {
        a.put_u32(8, BPF_F_REPLACE);
        a.put_u32(12, old.0);
    }
    call(cmd::LINK_UPDATE, &mut a, "BPF_LINK_UPDATE").map(|_| ())
}

/// BPF_LINK_DETACH.
pub fn link_detach(link: Handle) -> Result<(), Error> {
    let mut a = BpfAttr::new(4);
    a.put_u32(0, link.0);
    call(cmd::LINK_DETACH, &mut a, "BPF_LINK_DETACH").map(|_| ())
}

/// `struct bpf_link_info` (64 bytes): type, id, prog_id, pad, netkit.ifindex, attach_type.
pub fn link_info(link: Handle) -> Result<(BpfLinkInfo, u32), Error> {
    let info = obj_info(link, 64, "link info")?;
    let word = |off: usize| u32::from_le_bytes(info[off..off + 4].try_into().unwrap());
    let hook = match word(20) {
        54 => Hook::Primary,
        55 => Hook::Peer,
        other => {
            return Err(Error::new(
                Errno::EINVAL,
                format!(
                    "link {} is not a netkit link (attach type {other})",
                    word(4)
                ),
            ))
        }
    };
    let info = BpfLinkInfo {
        id: LinkId(word(4)),
        prog_id: ProgId(word(8)),
        ifindex: word(16),
        hook,
    };
    Ok((info, word(0)))
}

/// Closes a program or link fd.
pub fn close(handle: Handle) -> Result<(), Error> {
    if handle.0 > i32::MAX as u32 {
        return Err(Error::new(
            Errno::EBADF,
            format!("invalid handle {}", handle.0),
        ));
    }
    drop(sys::own_fd(handle.0 as i32));
    Ok(())
}
