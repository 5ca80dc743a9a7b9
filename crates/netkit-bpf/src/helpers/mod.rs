//! BPF helpers available to SCHED_CLS programs (spec/mprog.md §7.2), with the kernel's
//! return values. Arguments are untrusted: a pointer that does not name memory of the needed
//! size aborts the run (the kernel's verifier would have rejected the program).

pub mod csum;
mod pkt;

use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::maps::{Elems, Map};
use crate::mem::Words;
use crate::mem::{kind, make_ptr, ptr_index, ptr_kind, ptr_off, Region};
use crate::trace::{self, Arg};
use crate::vm::{AbortReason, Machine, Program};

pub(crate) use pkt::ld_abs;

/// Helper ids (`enum bpf_func_id`).
pub mod id {
    pub const MAP_LOOKUP_ELEM: u32 = 1;
    pub const MAP_UPDATE_ELEM: u32 = 2;
    pub const MAP_DELETE_ELEM: u32 = 3;
    pub const KTIME_GET_NS: u32 = 5;
    pub const TRACE_PRINTK: u32 = 6;
    pub const GET_PRANDOM_U32: u32 = 7;
    pub const GET_SMP_PROCESSOR_ID: u32 = 8;
    pub const SKB_STORE_BYTES: u32 = 9;
    pub const L3_CSUM_REPLACE: u32 = 10;
    pub const L4_CSUM_REPLACE: u32 = 11;
    pub const TAIL_CALL: u32 = 12;
    pub const CLONE_REDIRECT: u32 = 13;
    pub const GET_CGROUP_CLASSID: u32 = 17;
    pub const SKB_VLAN_PUSH: u32 = 18;
    pub const SKB_VLAN_POP: u32 = 19;
    pub const REDIRECT: u32 = 23;
    pub const GET_ROUTE_REALM: u32 = 24;
    pub const PERF_EVENT_OUTPUT: u32 = 25;
    pub const SKB_LOAD_BYTES: u32 = 26;
    pub const CSUM_DIFF: u32 = 28;
    pub const SKB_CHANGE_PROTO: u32 = 31;
    pub const SKB_CHANGE_TYPE: u32 = 32;
    pub const GET_HASH_RECALC: u32 = 34;
    pub const SKB_CHANGE_TAIL: u32 = 38;
    pub const SKB_PULL_DATA: u32 = 39;
    pub const CSUM_UPDATE: u32 = 40;
    pub const SET_HASH_INVALID: u32 = 41;
    pub const GET_NUMA_NODE_ID: u32 = 42;
    pub const SKB_CHANGE_HEAD: u32 = 43;
    pub const GET_SOCKET_COOKIE: u32 = 46;
    pub const GET_SOCKET_UID: u32 = 47;
    pub const SET_HASH: u32 = 48;
    pub const SKB_ADJUST_ROOM: u32 = 50;
    pub const SKB_LOAD_BYTES_RELATIVE: u32 = 68;
    pub const SKB_ECN_SET_CE: u32 = 97;
    pub const JIFFIES64: u32 = 118;
    pub const KTIME_GET_BOOT_NS: u32 = 125;
    pub const RINGBUF_OUTPUT: u32 = 130;
    pub const RINGBUF_RESERVE: u32 = 131;
    pub const RINGBUF_SUBMIT: u32 = 132;
    pub const RINGBUF_DISCARD: u32 = 133;
    pub const CSUM_LEVEL: u32 = 135;
    pub const REDIRECT_NEIGH: u32 = 152;
    pub const REDIRECT_PEER: u32 = 155;
    pub const KTIME_GET_COARSE_NS: u32 = 160;
    pub const CHECK_MTU: u32 = 163;
    pub const FOR_EACH_MAP_ELEM: u32 = 164;
    pub const LOOP: u32 = 181;
    pub const SKB_SET_TSTAMP: u32 = 192;
    pub const KTIME_GET_TAI_NS: u32 = 208;
}

/// Every helper the engine implements: (id, kernel name without the `bpf_` prefix).
pub const NAMES: &[(u32, &str)] = &[
    (id::MAP_LOOKUP_ELEM, "map_lookup_elem"),
    (id::MAP_UPDATE_ELEM, "map_update_elem"),
    (id::MAP_DELETE_ELEM, "map_delete_elem"),
    (id::KTIME_GET_NS, "ktime_get_ns"),
    (id::TRACE_PRINTK, "trace_printk"),
    (id::GET_PRANDOM_U32, "get_prandom_u32"),
    (id::GET_SMP_PROCESSOR_ID, "get_smp_processor_id"),
    (id::SKB_STORE_BYTES, "skb_store_bytes"),
    (id::L3_CSUM_REPLACE, "l3_csum_replace"),
    (id::L4_CSUM_REPLACE, "l4_csum_replace"),
    (id::TAIL_CALL, "tail_call"),
    (id::CLONE_REDIRECT, "clone_redirect"),
    (id::GET_CGROUP_CLASSID, "get_cgroup_classid"),
    (id::SKB_VLAN_PUSH, "skb_vlan_push"),
    (id::SKB_VLAN_POP, "skb_vlan_pop"),
    (id::REDIRECT, "redirect"),
    (id::GET_ROUTE_REALM, "get_route_realm"),
    (id::PERF_EVENT_OUTPUT, "perf_event_output"),
    (id::SKB_LOAD_BYTES, "skb_load_bytes"),
    (id::CSUM_DIFF, "csum_diff"),
    (id::SKB_CHANGE_PROTO, "skb_change_proto"),
    (id::SKB_CHANGE_TYPE, "skb_change_type"),
    (id::GET_HASH_RECALC, "get_hash_recalc"),
    (id::SKB_CHANGE_TAIL, "skb_change_tail"),
    (id::SKB_PULL_DATA, "skb_pull_data"),
    (id::CSUM_UPDATE, "csum_update"),
    (id::SET_HASH_INVALID, "set_hash_invalid"),
    (id::GET_NUMA_NODE_ID, "get_numa_node_id"),
    (id::SKB_CHANGE_HEAD, "skb_change_head"),
    (id::GET_SOCKET_COOKIE, "get_socket_cookie"),
    (id::GET_SOCKET_UID, "get_socket_uid"),
    (id::SET_HASH, "set_hash"),
    (id::SKB_ADJUST_ROOM, "skb_adjust_room"),
    (id::SKB_LOAD_BYTES_RELATIVE, "skb_load_bytes_relative"),
    (id::SKB_ECN_SET_CE, "skb_ecn_set_ce"),
    (id::JIFFIES64, "jiffies64"),
    (id::KTIME_GET_BOOT_NS, "ktime_get_boot_ns"),
    (id::RINGBUF_OUTPUT, "ringbuf_output"),
    (id::RINGBUF_RESERVE, "ringbuf_reserve"),
    (id::RINGBUF_SUBMIT, "ringbuf_submit"),
    (id::RINGBUF_DISCARD, "ringbuf_discard"),
    (id::CSUM_LEVEL, "csum_level"),
    (id::REDIRECT_NEIGH, "redirect_neigh"),
    (id::REDIRECT_PEER, "redirect_peer"),
    (id::KTIME_GET_COARSE_NS, "ktime_get_coarse_ns"),
    (id::CHECK_MTU, "check_mtu"),
    (id::FOR_EACH_MAP_ELEM, "for_each_map_elem"),
    (id::LOOP, "loop"),
    (id::SKB_SET_TSTAMP, "skb_set_tstamp"),
    (id::KTIME_GET_TAI_NS, "ktime_get_tai_ns"),
];

/// The name of helper `id` if the engine implements it.
pub fn name(id: u32) -> Option<&'static str> {
    NAMES.iter().find(|(i, _)| *i == id).map(|(_, n)| *n)
}

pub(crate) const EINVAL: u64 = (-22i64) as u64;
pub(crate) const EFAULT: u64 = (-14i64) as u64;
pub(crate) const ENOMEM: u64 = (-12i64) as u64;
pub(crate) const E2BIG: u64 = (-7i64) as u64;
pub(crate) const EAGAIN: u64 = (-11i64) as u64;
pub(crate) const ENOTSUPP: u64 = (-524i64) as u64;
/// `bpf_loop`'s iteration limit (BPF_MAX_LOOPS).
const MAX_LOOPS: u64 = 1 << 23;

/// The largest buffer a helper argument can describe: nothing a program can address is
/// larger (stack 4 KiB, packets, map values of at most [`crate::maps::MAX_VALUE_SIZE`]).
const MAX_ARG: usize = 1 << 23;

/// A zeroed buffer for a helper's memory argument of `len` bytes; lengths no memory could
/// have abort instead of allocating.
pub(crate) fn arg_buf(addr: u64, len: u64) -> Result<Vec<u8>, AbortReason> {
    if len > MAX_ARG as u64 {
        return Err(AbortReason::OutOfBounds {
            addr,
            size: len as u32,
            write: false,
        });
    }
    Ok(vec![0; len as usize])
}

fn bad(helper: u32, what: &'static str) -> AbortReason {
    AbortReason::HelperArg { helper, what }
}

/// The map a `ld_imm64` map handle names.
pub(crate) fn map_arg(prog: &Program, v: u64) -> Result<&Arc<Map>, AbortReason> {
    if ptr_kind(v) != kind::MAP || ptr_off(v) != 0 {
        return Err(bad(0, "argument is not a map"));
    }
    prog.maps()
        .get(ptr_index(v) as usize)
        .ok_or(bad(0, "no such map"))
}

fn check_ctx(m: &Machine, helper: u32, v: u64) -> Result<(), AbortReason> {
    if m.raw || v != make_ptr(kind::CTX, 0, 0) {
        return Err(bad(helper, "first argument must be the context"));
    }
    Ok(())
}

fn monotonic_ns() -> u64 {
    use std::sync::OnceLock;
    static BASE: OnceLock<Instant> = OnceLock::new();
    // A fixed offset keeps values clear of 0, as a booted machine's clock would be.
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64 + 1_000_000_000
}

fn prandom() -> u32 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
                | 1,
        );
    }
    STATE.with(|s| {
        // xorshift64*: not cryptographic, as the kernel's prandom is not.
        let mut x = s.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        s.set(x);
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32) as u32
    })
}

/// Calls helper `helper` with r1..r5 = `a`, in stack frame `frame`.
pub(crate) fn call(
    prog: &Program,
    m: &mut Machine,
    helper: u32,
    a: [u64; 5],
    frame: usize,
) -> Result<u64, AbortReason> {
    Ok(match helper {
        id::MAP_LOOKUP_ELEM => {
            let map = map_arg(prog, a[0])?;
            let key = m.read_to_bytes(a[1], map.def().key_size as usize)?;
            let found = map.prog_lookup(&key, m.cpu);
            m.give_back(key);
            match found {
                Some(region) => m.add_region(region)?,
                None => 0,
            }
        }
        id::MAP_UPDATE_ELEM => {
            let map = map_arg(prog, a[0])?;
            let key = m.read_to_bytes(a[1], map.def().key_size as usize)?;
            let mut value = vec![0; map.def().value_size as usize];
            m.read(a[2], &mut value)?;
            let r = map.prog_update(&key, &value, a[3], m.cpu);
            m.give_back(key);
            r
        }
        id::MAP_DELETE_ELEM => {
            let map = map_arg(prog, a[0])?;
            let key = m.read_to_bytes(a[1], map.def().key_size as usize)?;
            let r = map.prog_delete(&key);
            m.give_back(key);
            r
        }
        id::KTIME_GET_NS | id::KTIME_GET_BOOT_NS | id::KTIME_GET_COARSE_NS => monotonic_ns(),
        id::KTIME_GET_TAI_NS => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64 + 37_000_000_000)
            .unwrap_or(0),
        id::JIFFIES64 => monotonic_ns() / 4_000_000,
        id::TRACE_PRINTK => trace_printk(prog, m, a)?,
        id::GET_PRANDOM_U32 => u64::from(prandom()),
        id::GET_SMP_PROCESSOR_ID => u64::from(m.cpu),
        id::GET_NUMA_NODE_ID | id::GET_CGROUP_CLASSID | id::GET_ROUTE_REALM => {
            check_ctx_if(m, helper, a[0])?;
            0
        }
        id::LOOP => bpf_loop(prog, m, a, frame)?,
        id::FOR_EACH_MAP_ELEM => for_each(prog, m, a, frame)?,
        id::RINGBUF_OUTPUT => {
            let map = map_arg(prog, a[0])?;
            let ring = map.ringbuf_store().ok_or(bad(helper, "not a ringbuf"))?;
            if a[3] & !3 != 0 {
                return Ok(EINVAL);
            }
            if (a[2] & 0xffff_ffff) as usize > ring_capacity(map) {
                return Ok(EAGAIN);
            }
            let mut data = arg_buf(a[1], a[2] & 0xffff_ffff)?;
            m.read(a[1], &mut data)?;
            match ring.output(&data) {
                Ok(()) => 0,
                Err(_) => EAGAIN,
            }
        }
        id::RINGBUF_RESERVE => {
            let map = map_arg(prog, a[0])?;
            let ring = map.ringbuf_store().ok_or(bad(helper, "not a ringbuf"))?;
            let size = a[1];
            if a[2] != 0 || size > ring_capacity(map) as u64 {
                return Ok(0);
            }
            match ring.reserve(size as usize) {
                Some((record, words)) => m.add_region(Region {
                    words,
                    start: 0,
                    len: size as u32,
                    writable: true,
                    live: true,
                    record: Some(record),
                })?,
                None => 0,
            }
        }
        id::RINGBUF_SUBMIT | id::RINGBUF_DISCARD => {
            let r =
                m.s.regions
                    .get_mut(ptr_index(a[0]) as usize)
                    .filter(|r| {
                        ptr_kind(a[0]) == kind::REGION
                            && ptr_off(a[0]) == 0
                            && r.live
                            && r.record.is_some()
                    })
                    .ok_or(bad(helper, "not a reserved ringbuf record"))?;
            r.live = false;
            if let Some(rec) = &r.record {
                rec.finish(&r.words, r.len as usize, helper == id::RINGBUF_SUBMIT);
            }
            0
        }
        id::PERF_EVENT_OUTPUT => perf_output(prog, m, a)?,
        _ => pkt::call(m, helper, a)?,
    })
}

fn check_ctx_if(m: &Machine, helper: u32, v: u64) -> Result<(), AbortReason> {
    if helper == id::GET_NUMA_NODE_ID {
        return Ok(());
    }
    check_ctx(m, helper, v)
}

fn ring_capacity(map: &Map) -> usize {
    map.def().max_entries as usize
}

/// `bpf_trace_printk(fmt, fmt_size, a1, a2, a3)`: the line goes to the object's log; returns
/// the formatted length.
fn trace_printk(prog: &Program, m: &mut Machine, a: [u64; 5]) -> Result<u64, AbortReason> {
    let size = a[1] as usize;
    if size == 0 || size > trace::MAX_LINE {
        return Ok(EINVAL);
    }
    let mut fmt = vec![0; size];
    m.read(a[0], &mut fmt)?;
    if fmt[size - 1] != 0 {
        return Ok(EINVAL);
    }
    let end = fmt.iter().position(|&b| b == 0).unwrap_or(size);
    let Ok(pieces) = trace::parse(&fmt[..end]) else {
        return Ok(EINVAL);
    };
    let mut out = Vec::new();
    let mut next = 2;
    for piece in pieces {
        match piece {
            Ok(lit) => out.extend_from_slice(&lit),
            Err(spec) => {
                let v = a[next];
                next += 1;
                let arg = if spec.conv == trace::Conv::Str {
                    Arg::Str(read_cstr(m, v))
                } else {
                    Arg::Int(v)
                };
                trace::render(&spec, &arg, &mut out);
            }
        }
    }
    out.truncate(trace::MAX_LINE - 1);
    let n = out.len();
    prog.trace_log()
        .push(String::from_utf8_lossy(&out).into_owned());
    Ok(n as u64)
}

/// A NUL-terminated string from program memory; unreadable memory reads as "(efault)" as in
/// the kernel's bprintf.
fn read_cstr(m: &Machine, addr: u64) -> Vec<u8> {
    let mut s = Vec::new();
    let mut b = [0u8; 1];
    for i in 0..trace::MAX_LINE as u64 {
        if m.read(addr.wrapping_add(i), &mut b).is_err() {
            return b"(efault)".to_vec();
        }
        if b[0] == 0 {
            break;
        }
        s.push(b[0]);
    }
    s
}

/// `bpf_loop(nr, callback, ctx, flags)`: returns the number of iterations run.
fn bpf_loop(
    prog: &Program,
    m: &mut Machine,
    a: [u64; 5],
    frame: usize,
) -> Result<u64, AbortReason> {
    if a[3] != 0 {
        return Ok(EINVAL);
    }
    let nr = a[0] & 0xffff_ffff;
    if nr > MAX_LOOPS {
        return Ok(E2BIG);
    }
    let target = func_arg(a[1])?;
    for i in 0..nr {
        let ret = run_callback(prog, m, target, frame, [i, a[2], 0, 0, 0])?;
        if ret != 0 {
            return Ok(i + 1);
        }
    }
    Ok(nr)
}

fn func_arg(v: u64) -> Result<usize, AbortReason> {
    if ptr_kind(v) != kind::FUNC || ptr_index(v) != 0 {
        return Err(bad(0, "callback is not a function"));
    }
    Ok(ptr_off(v) as usize)
}

fn run_callback(
    prog: &Program,
    m: &mut Machine,
    target: usize,
    frame: usize,
    args: [u64; 5],
) -> Result<u64, AbortReason> {
    // The callback runs in the next frame; an abort inside it ends the whole run, and the
    // instruction index it names is recorded in the reason via the callee's own abort.
    crate::vm::exec_callback(prog, m, target, frame + 1, args)
}

/// `bpf_for_each_map_elem(map, callback, ctx, flags)`: callback(map, key, value, ctx) per
/// element until it returns 1; returns the number of elements visited.
fn for_each(
    prog: &Program,
    m: &mut Machine,
    a: [u64; 5],
    frame: usize,
) -> Result<u64, AbortReason> {
    let map = map_arg(prog, a[0])?.clone();
    if a[3] != 0 {
        return Ok(EINVAL);
    }
    let target = func_arg(a[1])?;
    let Some(elems) = map.for_each_elems(m.cpu) else {
        return Ok(EINVAL);
    };
    let mut n = 0;
    let mut visit = |m: &mut Machine, key: &[u8], words: Words, start: usize| {
        let key_words = crate::mem::alloc_words(key.len());
        crate::mem::write_bytes(&key_words, 0, key);
        let kp = m.add_region(Region {
            words: key_words,
            start: 0,
            len: key.len() as u32,
            writable: false,
            live: true,
            record: None,
        })?;
        let vp = m.add_region(Region {
            words,
            start: start as u32,
            len: map.def().value_size,
            writable: !map.def().readonly,
            live: true,
            record: None,
        })?;
        n += 1;
        run_callback(prog, m, target, frame, [a[0], kp, vp, a[2], 0]).map(|ret| ret != 0)
    };
    match elems {
        Elems::Indexed(count) => {
            for i in 0..count {
                let Some((words, start)) = map.array_elem(i, m.cpu) else {
                    break;
                };
                if visit(m, &i.to_le_bytes(), words, start)? {
                    break;
                }
            }
        }
        Elems::Listed(list) => {
            for (key, words, start) in list {
                if visit(m, &key, words, start)? {
                    break;
                }
            }
        }
    }
    Ok(n)
}

/// `bpf_perf_event_output(ctx, map, flags, data, size)` (the skb variant: the upper flag bits
/// ask for that many packet bytes appended to the record).
fn perf_output(prog: &Program, m: &mut Machine, a: [u64; 5]) -> Result<u64, AbortReason> {
    const INDEX_MASK: u64 = 0xffff_ffff;
    const CTXLEN_MASK: u64 = 0xfffff << 32;
    check_ctx(m, id::PERF_EVENT_OUTPUT, a[0])?;
    let map = map_arg(prog, a[1])?;
    let perf = map
        .perf_store()
        .ok_or(bad(id::PERF_EVENT_OUTPUT, "not a perf event array"))?;
    let flags = a[2];
    if flags & !(INDEX_MASK | CTXLEN_MASK) != 0 {
        return Ok(EINVAL);
    }
    let skb_len = ((flags & CTXLEN_MASK) >> 32) as usize;
    if skb_len > m.skb.len() {
        return Ok(EFAULT);
    }
    let mut index = (flags & INDEX_MASK) as u32;
    if index == u32::MAX {
        index = m.cpu;
    }
    let mut data = arg_buf(a[3], a[4] & 0xffff_ffff)?;
    m.read(a[3], &mut data)?;
    data.extend_from_slice(&m.skb.data()[..skb_len]);
    Ok(match perf.output(index, data) {
        Ok(()) => 0,
        Err(e) => e.to_ret(),
    })
}
