//! The bpf(2) layer for the real kernel: owned descriptors, maps, program loading (including
//! whole [`ObjectFile`]s), `BPF_PROG_TEST_RUN`, object info and fd-by-id lookups.
//!
//! Every command goes through the crate's one `bpf(2)` call (`crate::sys::bpf`); attribute layouts follow `union bpf_attr`
//! (spec/mprog.md §5.4). Other commands (attach, links) are built the same way on top of it.

mod attr;
pub mod maps;
pub mod object;
pub mod pin;

use std::os::fd::{AsRawFd, OwnedFd};

use attr::{adopt_fd, sys_bpf, Attr};
pub use object::KernelObject;

/// `enum bpf_cmd` values used here.
pub mod cmd {
    pub const MAP_CREATE: u32 = 0;
    pub const MAP_LOOKUP_ELEM: u32 = 1;
    pub const MAP_UPDATE_ELEM: u32 = 2;
    pub const MAP_DELETE_ELEM: u32 = 3;
    pub const MAP_GET_NEXT_KEY: u32 = 4;
    pub const PROG_LOAD: u32 = 5;
    pub const PROG_TEST_RUN: u32 = 10;
    pub const PROG_GET_FD_BY_ID: u32 = 13;
    pub const MAP_GET_FD_BY_ID: u32 = 14;
    pub const OBJ_GET_INFO_BY_FD: u32 = 15;
    pub const BTF_LOAD: u32 = 18;
    pub const MAP_FREEZE: u32 = 22;
}

/// `BPF_PROG_TYPE_SCHED_CLS`.
pub const PROG_TYPE_SCHED_CLS: u32 = 3;

/// A failed bpf(2) command.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BpfError {
    /// The kernel refused `cmd` (what we were doing) with `errno`.
    #[error("{what}: {}", std::io::Error::from_raw_os_error(*errno))]
    Sys { what: String, errno: i32 },
    /// BPF_PROG_LOAD failed; `log` is the verifier's log.
    #[error("loading program '{prog}': {}\n{log}", std::io::Error::from_raw_os_error(*errno))]
    Load {
        prog: String,
        errno: i32,
        log: String,
    },
    /// The request cannot be expressed (sizes, names) before reaching the kernel.
    #[error("{0}")]
    Invalid(String),
}

impl BpfError {
    /// The kernel's errno, when the kernel refused.
    pub fn errno(&self) -> Option<i32> {
        match self {
            BpfError::Sys { errno, .. } | BpfError::Load { errno, .. } => Some(*errno),
            BpfError::Invalid(_) => None,
        }
    }
}

fn sys(cmd: u32, attr: &mut Attr<'_>, what: impl FnOnce() -> String) -> Result<i64, BpfError> {
    sys_bpf(cmd, attr).map_err(|errno| BpfError::Sys {
        what: what(),
        errno,
    })
}

/// An owned BPF object descriptor (map, program, link); closed on drop.
#[derive(Debug)]
pub struct Fd(OwnedFd);

impl Fd {
    pub fn raw(&self) -> i32 {
        self.0.as_raw_fd()
    }

    fn raw_u32(&self) -> u32 {
        self.raw() as u32
    }
}

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> i32 {
        self.raw()
    }
}

/// What BPF_MAP_CREATE needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapDef {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    /// At most 15 bytes of `[A-Za-z0-9_.]`; anything else is replaced or cut.
    pub name: String,
}

/// An object name as the kernel accepts it (`bpf_obj_name_cpy`): up to 15 characters of
/// alphanumerics, `_` and `.`; other characters become `_`.
pub fn kernel_name(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, c) in out.iter_mut().zip(name.bytes().take(15)) {
        *o = if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' {
            c
        } else {
            b'_'
        };
    }
    out
}

pub fn map_create(def: &MapDef) -> Result<Fd, BpfError> {
    let mut a = Attr::default();
    a.set_u32(0, def.map_type);
    a.set_u32(4, def.key_size);
    a.set_u32(8, def.value_size);
    a.set_u32(12, def.max_entries);
    a.set_u32(16, def.map_flags);
    a.set_bytes(28, &kernel_name(&def.name));
    let fd = sys(cmd::MAP_CREATE, &mut a, || {
        format!("creating map '{}'", def.name)
    })?;
    Ok(Fd(adopt_fd(fd)))
}

/// Reads the value of `key` into `value` (for per-CPU maps `value` holds one 8-byte aligned
/// slot per possible CPU). `Ok(false)` when the key is absent.
pub fn map_lookup(map: &Fd, key: &[u8], value: &mut [u8]) -> Result<bool, BpfError> {
    let mut a = Attr::default();
    a.set_u32(0, map.raw_u32());
    a.set_in(8, key);
    a.set_out(16, value);
    match sys_bpf(cmd::MAP_LOOKUP_ELEM, &mut a) {
        Ok(_) => Ok(true),
        Err(libc::ENOENT) => Ok(false),
        Err(errno) => Err(BpfError::Sys {
            what: "map lookup".into(),
            errno,
        }),
    }
}

/// BPF_MAP_UPDATE_ELEM with `flags` (BPF_ANY 0, BPF_NOEXIST 1, BPF_EXIST 2).
pub fn map_update(map: &Fd, key: &[u8], value: &[u8], flags: u64) -> Result<(), BpfError> {
    let mut a = Attr::default();
    a.set_u32(0, map.raw_u32());
    a.set_in(8, key);
    a.set_in(16, value);
    a.set_u64(24, flags);
    sys(cmd::MAP_UPDATE_ELEM, &mut a, || "map update".into()).map(drop)
}

pub fn map_delete(map: &Fd, key: &[u8]) -> Result<(), BpfError> {
    let mut a = Attr::default();
    a.set_u32(0, map.raw_u32());
    a.set_in(8, key);
    sys(cmd::MAP_DELETE_ELEM, &mut a, || "map delete".into()).map(drop)
}

/// The key after `key` (the first key for `None`) into `next`; `Ok(false)` at the end.
pub fn map_get_next_key(map: &Fd, key: Option<&[u8]>, next: &mut [u8]) -> Result<bool, BpfError> {
    let mut a = Attr::default();
    a.set_u32(0, map.raw_u32());
    if let Some(k) = key {
        a.set_in(8, k);
    }
    a.set_out(16, next);
    match sys_bpf(cmd::MAP_GET_NEXT_KEY, &mut a) {
        Ok(_) => Ok(true),
        Err(libc::ENOENT) => Ok(false),
        Err(errno) => Err(BpfError::Sys {
            what: "map get_next_key".into(),
            errno,
        }),
    }
}

/// Every key of a map, in the kernel's iteration order.
pub fn map_keys(map: &Fd, key_size: usize) -> Result<Vec<Vec<u8>>, BpfError> {
    let mut keys: Vec<Vec<u8>> = Vec::new();
    let mut next = vec![0u8; key_size];
    while map_get_next_key(map, keys.last().map(Vec::as_slice), &mut next)? {
        keys.push(next.clone());
        if keys.len() > 1 << 24 {
            return Err(BpfError::Invalid("map iteration does not end".into()));
        }
    }
    Ok(keys)
}

/// BPF_MAP_FREEZE: user space can no longer write the map (how `.rodata` becomes constant).
pub fn map_freeze(map: &Fd) -> Result<(), BpfError> {
    let mut a = Attr::default();
    a.set_u32(0, map.raw_u32());
    sys(cmd::MAP_FREEZE, &mut a, || "map freeze".into()).map(drop)
}

/// Stores program `prog` in slot `index` of a prog_array map.
pub fn prog_array_set(map: &Fd, index: u32, prog: &Fd) -> Result<(), BpfError> {
    map_update(map, &index.to_ne_bytes(), &prog.raw().to_ne_bytes(), 0)
}

/// A program to load with BPF_PROG_LOAD.
pub struct ProgLoad<'a> {
    pub prog_type: u32,
    pub expected_attach_type: u32,
    /// Raw instruction slots, map references already in fd form.
    pub insns: &'a [u64],
    pub license: &'a str,
    pub name: &'a str,
    /// BTF the func info refers to (from [`btf_load`]).
    pub btf: Option<&'a Fd>,
    /// `(insn_off, type_id)` per function, as `struct bpf_func_info`.
    pub func_info: &'a [(u32, u32)],
}

/// BPF_BTF_LOAD: the kernel's handle on an object's type information.
pub fn btf_load(raw: &[u8]) -> Result<Fd, BpfError> {
    let mut log = vec![0u8; 64 * 1024];
    let ret = {
        let mut a = Attr::default();
        a.set_in(0, raw);
        a.set_u32(16, raw.len() as u32);
        a.set_u32(20, log.len() as u32);
        a.set_out(8, &mut log);
        a.set_u32(24, 1);
        sys_bpf(cmd::BTF_LOAD, &mut a)
    };
    match ret {
        Ok(fd) => Ok(Fd(adopt_fd(fd))),
        Err(errno) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            Err(BpfError::Load {
                prog: "(BTF)".into(),
                errno,
                log: String::from_utf8_lossy(&log[..end]).into_owned(),
            })
        }
    }
}

/// Verifier log size used when a load fails and is retried to collect the log.
const LOG_SIZE: usize = 1 << 20;

pub fn prog_load(p: &ProgLoad<'_>) -> Result<Fd, BpfError> {
    let insn_bytes: Vec<u8> = p.insns.iter().flat_map(|i| i.to_le_bytes()).collect();
    let mut license = p.license.as_bytes().to_vec();
    license.push(0);
    let func_info: Vec<u8> = p
        .func_info
        .iter()
        .flat_map(|(off, id)| off.to_ne_bytes().into_iter().chain(id.to_ne_bytes()))
        .collect();
    let attempt = |log: Option<&mut [u8]>| {
        let mut a = Attr::default();
        a.set_u32(0, p.prog_type);
        a.set_u32(4, p.insns.len() as u32);
        a.set_in(8, &insn_bytes);
        a.set_in(16, &license);
        if let Some(log) = log {
            a.set_u32(24, 1);
            a.set_u32(28, log.len() as u32);
            a.set_out(32, log);
        }
        a.set_bytes(48, &kernel_name(p.name));
        a.set_u32(68, p.expected_attach_type);
        if let (Some(btf), false) = (p.btf, func_info.is_empty()) {
            a.set_u32(72, btf.raw_u32());
            a.set_u32(76, 8);
            a.set_in(80, &func_info);
            a.set_u32(88, p.func_info.len() as u32);
        }
        sys_bpf(cmd::PROG_LOAD, &mut a)
    };
    match attempt(None) {
        Ok(fd) => Ok(Fd(adopt_fd(fd))),
        Err(first_errno) => {
            // Load again with a log to explain the refusal.
            let mut log = vec![0u8; LOG_SIZE];
            let errno = match attempt(Some(&mut log)) {
                Ok(fd) => return Ok(Fd(adopt_fd(fd))),
                Err(e) => e,
            };
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            Err(BpfError::Load {
                prog: p.name.to_string(),
                errno: if errno == libc::ENOSPC {
                    first_errno
                } else {
                    errno
                },
                log: String::from_utf8_lossy(&log[..end]).into_owned(),
            })
        }
    }
}

/// Input of BPF_PROG_TEST_RUN.
#[derive(Clone, Debug, Default)]
pub struct TestRun<'a> {
    pub data_in: &'a [u8],
    /// Room for the output packet (it may grow); 0 means "don't copy it out".
    pub data_out_cap: usize,
    /// A `struct __sk_buff` image, or `None`.
    pub ctx_in: Option<&'a [u8]>,
    /// Room for ctx_out (192 for `__sk_buff`); 0 means none.
    pub ctx_out_cap: usize,
    pub repeat: u32,
}

/// Output of BPF_PROG_TEST_RUN.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TestRunResult {
    pub retval: u32,
    /// Mean ns per run as the kernel measured it.
    pub duration_ns: u32,
    pub data_out: Vec<u8>,
    pub ctx_out: Vec<u8>,
}

pub fn prog_test_run(prog: &Fd, run: &TestRun<'_>) -> Result<TestRunResult, BpfError> {
    let mut data_out = vec![0u8; run.data_out_cap];
    let mut ctx_out = vec![0u8; run.ctx_out_cap];
    let (retval, duration, data_len, ctx_len) = {
        let mut a = Attr::default();
        a.set_u32(0, prog.raw_u32());
        a.set_u32(8, run.data_in.len() as u32);
        a.set_in(16, run.data_in);
        if !data_out.is_empty() {
            a.set_u32(12, data_out.len() as u32);
            a.set_out(24, &mut data_out);
        }
        a.set_u32(32, run.repeat);
        if let Some(ctx) = run.ctx_in {
            a.set_u32(40, ctx.len() as u32);
            a.set_in(48, ctx);
        }
        if !ctx_out.is_empty() {
            a.set_u32(44, ctx_out.len() as u32);
            a.set_out(56, &mut ctx_out);
        }
        sys(cmd::PROG_TEST_RUN, &mut a, || "test run".into())?;
        (a.u32_at(4), a.u32_at(36), a.u32_at(12), a.u32_at(44))
    };
    data_out.truncate(data_len as usize);
    ctx_out.truncate(ctx_len as usize);
    Ok(TestRunResult {
        retval,
        duration_ns: duration,
        data_out,
        ctx_out,
    })
}

/// BPF_OBJ_GET_INFO_BY_FD into `info`; returns the length the kernel filled.
pub fn obj_get_info(fd: &Fd, info: &mut [u8]) -> Result<usize, BpfError> {
    let len = info.len() as u32;
    let mut a = Attr::default();
    a.set_u32(0, fd.raw_u32());
    a.set_u32(4, len);
    a.set_out(8, info);
    sys(cmd::OBJ_GET_INFO_BY_FD, &mut a, || "get info by fd".into())?;
    Ok(a.u32_at(4) as usize)
}

/// The first fields of `struct bpf_prog_info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgInfo {
    pub prog_type: u32,
    pub id: u32,
    pub name: String,
}

pub fn prog_info(fd: &Fd) -> Result<ProgInfo, BpfError> {
    // struct bpf_prog_info: 0 type, 4 id, 8 tag[8], ... 64 name[16] (after load_time,
    // created_by_uid, nr_map_ids, map_ids).
    let mut info = [0u8; 128];
    obj_get_info(fd, &mut info)?;
    Ok(ProgInfo {
        prog_type: u32::from_ne_bytes(info[0..4].try_into().expect("4")),
        id: u32::from_ne_bytes(info[4..8].try_into().expect("4")),
        name: c_name(&info[64..80]),
    })
}

/// The first fields of `struct bpf_map_info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapInfo {
    pub map_type: u32,
    pub id: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub name: String,
}

pub fn map_info(fd: &Fd) -> Result<MapInfo, BpfError> {
    let mut info = [0u8; 80];
    obj_get_info(fd, &mut info)?;
    let u = |o: usize| u32::from_ne_bytes(info[o..o + 4].try_into().expect("4"));
    Ok(MapInfo {
        map_type: u(0),
        id: u(4),
        key_size: u(8),
        value_size: u(12),
        max_entries: u(16),
        map_flags: u(20),
        name: c_name(&info[24..40]),
    })
}

fn c_name(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn fd_by_id(command: u32, id: u32, what: &str) -> Result<Fd, BpfError> {
    let mut a = Attr::default();
    a.set_u32(0, id);
    let fd = sys(command, &mut a, || format!("{what} id {id}"))?;
    Ok(Fd(adopt_fd(fd)))
}

pub fn prog_get_fd_by_id(id: u32) -> Result<Fd, BpfError> {
    fd_by_id(cmd::PROG_GET_FD_BY_ID, id, "program")
}

pub fn map_get_fd_by_id(id: u32) -> Result<Fd, BpfError> {
    fd_by_id(cmd::MAP_GET_FD_BY_ID, id, "map")
}

/// The number of possible CPUs (`/sys/devices/system/cpu/possible`), which sizes per-CPU map
/// values as seen from user space.
pub fn possible_cpus() -> Result<usize, BpfError> {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible")
        .map_err(|e| BpfError::Invalid(format!("reading possible CPUs: {e}")))?;
    let mut n = 0;
    for part in text.trim().split(',') {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let parse = |s: &str| {
            s.parse::<usize>()
                .map_err(|_| BpfError::Invalid(format!("bad CPU list '{}'", text.trim())))
        };
        n += parse(hi)?
            .checked_sub(parse(lo)?)
            .ok_or_else(|| BpfError::Invalid(format!("bad CPU list '{}'", text.trim())))?
            + 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests;
