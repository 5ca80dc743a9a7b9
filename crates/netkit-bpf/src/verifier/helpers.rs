//! Helper prototypes (the kernel's `struct bpf_func_proto`) for the helpers a SCHED_CLS
//! program may call, keyed by helper id (spec/mprog.md §7.2).

use crate::obj::MapType;

/// What the verifier requires of one argument register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// Any initialised register.
    Anything,
    /// The program's context, unmodified.
    Ctx,
    /// A map handle.
    MapPtr,
    /// Pointer to `key_size` readable bytes of the preceding map argument.
    MapKey,
    /// Pointer to `value_size` readable bytes of the preceding map argument.
    MapValue,
    /// Pointer to `value_size` bytes the helper writes (map_pop/peek).
    MapValueOut,
    /// Pointer to memory the helper reads; its size is the next argument.
    MemIn,
    /// Pointer to memory the helper reads, or NULL (then the size must be 0).
    MemInOrNull,
    /// Pointer to memory the helper writes; its size is the next argument.
    MemOut,
    /// Size of the preceding memory argument: a bounded value > 0.
    Size,
    /// Size of the preceding memory argument: a bounded value ≥ 0.
    SizeOrZero,
    /// A constant size of a record the helper allocates.
    AllocSize,
    /// Pointer to a `u32` the helper writes.
    IntOut,
    /// A BPF function used as a callback.
    Func,
    /// A ring buffer record from `bpf_ringbuf_reserve` (released by this call).
    RingbufRecord,
    /// Pointer to the caller's stack, or NULL (callback context).
    StackOrNull,
}

/// What the helper leaves in r0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ret {
    Integer,
    /// r0 is not readable after the call.
    Void,
    /// Pointer to a value of the map argument, or NULL.
    MapValueOrNull,
    /// Pointer to a ring buffer record of the `AllocSize` argument, or NULL.
    RingbufOrNull,
}

/// Which maps a helper accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Maps {
    /// Hash, array and trie families.
    Data,
    /// Hash and array families (no tries): for_each_map_elem.
    Iterable,
    ProgArray,
    PerfEventArray,
    RingBuf,
    /// Queue and stack maps (not supported by this engine; no map qualifies).
    QueueStack,
}

impl Maps {
    pub fn accepts(self, t: MapType) -> bool {
        use MapType::*;
        match self {
            Maps::Data => matches!(
                t,
                Hash | Array | PercpuHash | PercpuArray | LruHash | LpmTrie
            ),
            Maps::Iterable => matches!(t, Hash | Array | PercpuHash | PercpuArray | LruHash),
            Maps::ProgArray => t == ProgArray,
            Maps::PerfEventArray => t == PerfEventArray,
            Maps::RingBuf => t == RingBuf,
            Maps::QueueStack => false,
        }
    }

    /// Helpers a map of this type may be passed to (the reverse direction of the kernel's
    /// `check_map_func_compatibility`): special maps only go to their own helpers.
    pub fn for_map(t: MapType) -> Option<Maps> {
        match t {
            MapType::ProgArray => Some(Maps::ProgArray),
            MapType::PerfEventArray => Some(Maps::PerfEventArray),
            MapType::RingBuf => Some(Maps::RingBuf),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Proto {
    pub id: u32,
    pub name: &'static str,
    pub args: &'static [Arg],
    pub ret: Ret,
    pub maps: Option<Maps>,
    /// The helper may move or resize the packet: every packet pointer becomes invalid
    /// (`bpf_helper_changes_pkt_data`).
    pub changes_pkt: bool,
}

use Arg::*;

const fn p(id: u32, name: &'static str, args: &'static [Arg], ret: Ret) -> Proto {
    Proto {
        id,
        name,
        args,
        ret,
        maps: None,
        changes_pkt: false,
    }
}

const fn pkt(mut proto: Proto) -> Proto {
    proto.changes_pkt = true;
    proto
}

const fn maps(mut proto: Proto, m: Maps) -> Proto {
    proto.maps = Some(m);
    proto
}

const INT: Ret = Ret::Integer;

/// Every helper the verifier knows for SCHED_CLS programs, by id.
pub const PROTOS: &[Proto] = &[
    maps(
        p(1, "map_lookup_elem", &[MapPtr, MapKey], Ret::MapValueOrNull),
        Maps::Data,
    ),
    maps(
        p(
            2,
            "map_update_elem",
            &[MapPtr, MapKey, MapValue, Anything],
            INT,
        ),
        Maps::Data,
    ),
    maps(p(3, "map_delete_elem", &[MapPtr, MapKey], INT), Maps::Data),
    p(5, "ktime_get_ns", &[], INT),
    // The kernel's bpf_trace_printk_proto declares only fmt and fmt_size: the up to three
    // values after them are not checked, so bpf_printk with fewer leaves them unset.
    p(6, "trace_printk", &[MemIn, Size], INT),
    p(7, "get_prandom_u32", &[], INT),
    p(8, "get_smp_processor_id", &[], INT),
    pkt(p(
        9,
        "skb_store_bytes",
        &[Ctx, Anything, MemIn, Size, Anything],
        INT,
    )),
    pkt(p(
        10,
        "l3_csum_replace",
        &[Ctx, Anything, Anything, Anything, Anything],
        INT,
    )),
    pkt(p(
        11,
        "l4_csum_replace",
        &[Ctx, Anything, Anything, Anything, Anything],
        INT,
    )),
    maps(
        p(12, "tail_call", &[Ctx, MapPtr, Anything], Ret::Void),
        Maps::ProgArray,
    ),
    pkt(p(13, "clone_redirect", &[Ctx, Anything, Anything], INT)),
    p(17, "get_cgroup_classid", &[Ctx], INT),
    pkt(p(18, "skb_vlan_push", &[Ctx, Anything, Anything], INT)),
    pkt(p(19, "skb_vlan_pop", &[Ctx], INT)),
    p(
        20,
        "skb_get_tunnel_key",
        &[Ctx, MemOut, Size, Anything],
        INT,
    ),
    p(21, "skb_set_tunnel_key", &[Ctx, MemIn, Size, Anything], INT),
    p(23, "redirect", &[Anything, Anything], INT),
    p(24, "get_route_realm", &[Ctx], INT),
    maps(
        p(
            25,
            "perf_event_output",
            &[Ctx, MapPtr, Anything, MemIn, SizeOrZero],
            INT,
        ),
        Maps::PerfEventArray,
    ),
    p(26, "skb_load_bytes", &[Ctx, Anything, MemOut, Size], INT),
    p(
        28,
        "csum_diff",
        &[MemInOrNull, SizeOrZero, MemInOrNull, SizeOrZero, Anything],
        INT,
    ),
    pkt(p(31, "skb_change_proto", &[Ctx, Anything, Anything], INT)),
    p(32, "skb_change_type", &[Ctx, Anything], INT),
    p(34, "get_hash_recalc", &[Ctx], INT),
    pkt(p(38, "skb_change_tail", &[Ctx, Anything, Anything], INT)),
    pkt(p(39, "skb_pull_data", &[Ctx, Anything], INT)),
    p(40, "csum_update", &[Ctx, Anything], INT),
    p(41, "set_hash_invalid", &[Ctx], INT),
    p(42, "get_numa_node_id", &[], INT),
    pkt(p(43, "skb_change_head", &[Ctx, Anything, Anything], INT)),
    p(46, "get_socket_cookie", &[Ctx], INT),
    p(47, "get_socket_uid", &[Ctx], INT),
    p(48, "set_hash", &[Ctx, Anything], INT),
    pkt(p(
        50,
        "skb_adjust_room",
        &[Ctx, Anything, Anything, Anything],
        INT,
    )),
    p(
        68,
        "skb_load_bytes_relative",
        &[Ctx, Anything, MemOut, Size, Anything],
        INT,
    ),
    p(69, "fib_lookup", &[Ctx, MemOut, Size, Anything], INT),
    p(79, "skb_cgroup_id", &[Ctx], INT),
    p(83, "skb_ancestor_cgroup_id", &[Ctx, Anything], INT),
    maps(
        p(87, "map_push_elem", &[MapPtr, MapValue, Anything], INT),
        Maps::QueueStack,
    ),
    maps(
        p(88, "map_pop_elem", &[MapPtr, MapValueOut], INT),
        Maps::QueueStack,
    ),
    maps(
        p(89, "map_peek_elem", &[MapPtr, MapValueOut], INT),
        Maps::QueueStack,
    ),
    p(97, "skb_ecn_set_ce", &[Ctx], INT),
    p(118, "jiffies64", &[], INT),
    p(125, "ktime_get_boot_ns", &[], INT),
    maps(
        p(
            130,
            "ringbuf_output",
            &[MapPtr, MemIn, SizeOrZero, Anything],
            INT,
        ),
        Maps::RingBuf,
    ),
    maps(
        p(
            131,
            "ringbuf_reserve",
            &[MapPtr, AllocSize, Anything],
            Ret::RingbufOrNull,
        ),
        Maps::RingBuf,
    ),
    p(132, "ringbuf_submit", &[RingbufRecord, Anything], Ret::Void),
    p(
        133,
        "ringbuf_discard",
        &[RingbufRecord, Anything],
        Ret::Void,
    ),
    p(135, "csum_level", &[Ctx, Anything], INT),
    p(151, "skb_cgroup_classid", &[Ctx], INT),
    p(
        152,
        "redirect_neigh",
        &[Anything, MemInOrNull, SizeOrZero, Anything],
        INT,
    ),
    p(155, "redirect_peer", &[Anything, Anything], INT),
    p(160, "ktime_get_coarse_ns", &[], INT),
    p(
        163,
        "check_mtu",
        &[Ctx, Anything, IntOut, Anything, Anything],
        INT,
    ),
    maps(
        p(
            164,
            "for_each_map_elem",
            &[MapPtr, Func, StackOrNull, Anything],
            INT,
        ),
        Maps::Iterable,
    ),
    p(181, "loop", &[Anything, Func, StackOrNull, Anything], INT),
    p(192, "skb_set_tstamp", &[Ctx, Anything, Anything], INT),
    p(208, "ktime_get_tai_ns", &[], INT),
];

/// Kernel helpers a SCHED_CLS program may call that this engine has no prototype for
/// (socket and cgroup storage helpers): they fail to load, named.
const UNSUPPORTED_TC: &[(u32, &str)] = &[
    (84, "sk_lookup_tcp"),
    (85, "sk_lookup_udp"),
    (86, "sk_release"),
    (95, "sk_fullsock"),
    (96, "tcp_sock"),
    (98, "get_listener_sock"),
    (99, "skc_lookup_tcp"),
    (107, "sk_storage_get"),
    (108, "sk_storage_delete"),
    (124, "sk_assign"),
    (66, "skb_get_xfrm_state"),
    (33, "skb_under_cgroup"),
    (165, "snprintf"),
    (169, "timer_init"),
];

/// Kernel helpers that exist but are not offered to SCHED_CLS programs.
const NOT_FOR_TC: &[(u32, &str)] = &[
    (4, "probe_read"),
    (14, "get_current_pid_tgid"),
    (15, "get_current_uid_gid"),
    (16, "get_current_comm"),
    (22, "perf_event_read"),
    (27, "get_stackid"),
    (35, "get_current_task"),
    (36, "probe_write_user"),
    (44, "xdp_adjust_head"),
    (51, "redirect_map"),
    (54, "xdp_adjust_meta"),
    (58, "override_return"),
    (65, "xdp_adjust_tail"),
    (109, "send_signal"),
];

/// `__BPF_FUNC_MAX_ID` of Linux 6.12: ids at or above it are not helpers at all.
pub const FUNC_MAX_ID: u32 = 212;

pub fn proto(id: u32) -> Option<&'static Proto> {
    PROTOS.iter().find(|p| p.id == id)
}

/// Why a helper id cannot be called, in the kernel's words where it has them.
pub fn unavailable(id: u32) -> String {
    if let Some((_, name)) = UNSUPPORTED_TC.iter().find(|(i, _)| *i == id) {
        return format!("helper bpf_{name}#{id} is not supported by this engine");
    }
    if let Some((_, name)) = NOT_FOR_TC.iter().find(|(i, _)| *i == id) {
        return format!("program of this type cannot use helper bpf_{name}#{id}");
    }
    if id >= FUNC_MAX_ID {
        return format!("invalid func unknown#{id}");
    }
    format!("program of this type cannot use helper unknown#{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_keyed_uniquely_and_sized_arguments_follow_memory() {
        for (i, a) in PROTOS.iter().enumerate() {
            assert!(a.args.len() <= 5, "{}", a.name);
            assert!(
                PROTOS[i + 1..].iter().all(|b| b.id != a.id),
                "duplicate {}",
                a.id
            );
            for (j, arg) in a.args.iter().enumerate() {
                if matches!(arg, MemIn | MemOut | MemInOrNull) {
                    assert!(
                        matches!(a.args.get(j + 1), Some(Size | SizeOrZero)),
                        "{}",
                        a.name
                    );
                }
            }
        }
    }

    #[test]
    fn messages_name_the_helper() {
        assert_eq!(unavailable(999), "invalid func unknown#999");
        assert!(unavailable(44).contains("bpf_xdp_adjust_head#44"));
        assert!(unavailable(84).contains("bpf_sk_lookup_tcp#84"));
    }
}
