//! The reference: loading the same program into this machine's kernel (`BPF_PROG_LOAD` as
//! SCHED_CLS, as root). Map references (`PSEUDO_MAP_IDX[_VALUE]`) are rewritten to real map
//! fds of maps created with the same shape. Only available as root.
#![allow(dead_code)]

use netkit_bpf::insn::Insn;
use netkit_bpf::obj::{MapType, PSEUDO_MAP_IDX, PSEUDO_MAP_IDX_VALUE};
use netkit_bpf::verifier::MapInfo;

mod sys {
    //! The only unsafe code of the hostile tests: the `bpf(2)` and `close(2)` calls.

    const BPF_MAP_CREATE: i64 = 0;
    const BPF_PROG_LOAD: i64 = 5;

    fn bpf(cmd: i64, attr: &mut [u8]) -> Result<i32, i32> {
        // SAFETY: `attr` is a live, writable buffer of the length passed; the kernel reads
        // and writes at most that many bytes, and every pointer stored inside it refers to
        // memory the caller keeps alive for the duration of the call.
        let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) };
        if r < 0 {
            Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
        } else {
            Ok(r as i32)
        }
    }

    pub fn close(fd: i32) {
        // SAFETY: `fd` was returned by bpf(2) to this process and is closed exactly once.
        unsafe {
            libc::close(fd);
        }
    }

    pub fn map_create(
        map_type: u32,
        key: u32,
        value: u32,
        entries: u32,
        flags: u32,
    ) -> Result<i32, i32> {
        let mut attr = [0u8; 72];
        for (i, v) in [map_type, key, value, entries, flags].iter().enumerate() {
            attr[i * 4..i * 4 + 4].copy_from_slice(&v.to_ne_bytes());
        }
        bpf(BPF_MAP_CREATE, &mut attr)
    }

    /// Loads a SCHED_CLS program; on failure returns the errno and the verifier log.
    pub fn prog_load(raw: &[u64], log: &mut [u8]) -> Result<i32, i32> {
        let license = b"GPL\0";
        let mut attr = [0u8; 128];
        let put32 =
            |a: &mut [u8], at: usize, v: u32| a[at..at + 4].copy_from_slice(&v.to_ne_bytes());
        let put64 =
            |a: &mut [u8], at: usize, v: u64| a[at..at + 8].copy_from_slice(&v.to_ne_bytes());
        put32(&mut attr, 0, 3); // BPF_PROG_TYPE_SCHED_CLS
        put32(&mut attr, 4, raw.len() as u32);
        put64(&mut attr, 8, raw.as_ptr() as u64);
        put64(&mut attr, 16, license.as_ptr() as u64);
        put32(&mut attr, 24, 1); // log_level
        put32(&mut attr, 28, log.len() as u32);
        put64(&mut attr, 32, log.as_mut_ptr() as u64);
        bpf(BPF_PROG_LOAD, &mut attr)
    }
}

/// Whether the kernel can be asked: running as root with bpf(2) usable.
pub fn available() -> bool {
    match sys::map_create(2, 4, 4, 1, 0) {
        Ok(fd) => {
            sys::close(fd);
            true
        }
        Err(_) => false,
    }
}

/// `BPF_F_RDONLY_PROG`: programs may only read the map.
const RDONLY_PROG: u32 = 1 << 7;

/// Loads `insns` with `maps`; `Err(log)` when the kernel refuses the program.
pub fn load(insns: &[Insn], maps: &[MapInfo]) -> Result<(), String> {
    let mut fds = Vec::new();
    for m in maps {
        let (key, value, entries) = match m.map_type {
            MapType::RingBuf => (0, 0, m.max_entries),
            MapType::PerfEventArray | MapType::ProgArray => (4, 4, m.max_entries),
            _ => (m.key_size, m.value_size, m.max_entries),
        };
        let flags = if m.readonly { RDONLY_PROG } else { 0 };
        match sys::map_create(m.map_type.raw(), key, value, entries, flags) {
            Ok(fd) => fds.push(fd),
            Err(e) => {
                fds.iter().for_each(|&fd| sys::close(fd));
                panic!("kernel map_create {:?} failed: errno {e}", m.map_type);
            }
        }
    }
    let mut raw: Vec<u64> = Vec::with_capacity(insns.len());
    let mut i = 0;
    while i < insns.len() {
        let mut insn = insns[i];
        if insn.code == 0x18 && (insn.src == PSEUDO_MAP_IDX || insn.src == PSEUDO_MAP_IDX_VALUE) {
            if let Some(&fd) = fds.get(insn.imm as usize) {
                insn.src = if insn.src == PSEUDO_MAP_IDX { 1 } else { 2 };
                insn.imm = fd;
            }
        }
        raw.push(insn.to_raw());
        i += 1;
    }
    let mut log = vec![0u8; 1 << 20];
    let result = sys::prog_load(&raw, &mut log);
    fds.iter().for_each(|&fd| sys::close(fd));
    match result {
        Ok(fd) => {
            sys::close(fd);
            Ok(())
        }
        Err(errno) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            let tail: Vec<&str> = text.lines().rev().take(3).collect();
            Err(format!(
                "errno {errno}: {}",
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            ))
        }
    }
}
