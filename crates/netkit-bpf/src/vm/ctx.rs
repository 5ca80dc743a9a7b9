//! `struct __sk_buff` accesses (spec/mprog.md §7.1). The kernel rewrites context loads and
//! stores into accesses of the real `sk_buff` (bpf_convert_ctx_access); we map them onto
//! [`SkbMeta`] at run time. Accesses the kernel's `tc_cls_act_is_valid_access` forbids return
//! `None` and abort the run.

use crate::mem::{kind, make_ptr};
use crate::skb::Skb;

pub(crate) const SKB_CTX_SIZE: u32 = 192;

pub(crate) mod off {
    pub const LEN: u32 = 0;
    pub const PKT_TYPE: u32 = 4;
    pub const MARK: u32 = 8;
    pub const QUEUE_MAPPING: u32 = 12;
    pub const PROTOCOL: u32 = 16;
    pub const VLAN_PRESENT: u32 = 20;
    pub const VLAN_TCI: u32 = 24;
    pub const VLAN_PROTO: u32 = 28;
    pub const PRIORITY: u32 = 32;
    pub const INGRESS_IFINDEX: u32 = 36;
    pub const IFINDEX: u32 = 40;
    pub const TC_INDEX: u32 = 44;
    pub const CB: u32 = 48;
    pub const CB_END: u32 = 68;
    pub const HASH: u32 = 68;
    pub const TC_CLASSID: u32 = 72;
    pub const DATA: u32 = 76;
    pub const DATA_END: u32 = 80;
    pub const NAPI_ID: u32 = 84;
    pub const DATA_META: u32 = 140;
    pub const TSTAMP: u32 = 152;
    pub const WIRE_LEN: u32 = 160;
    pub const GSO_SEGS: u32 = 164;
    pub const SK: u32 = 168;
    pub const GSO_SIZE: u32 = 176;
    pub const TSTAMP_TYPE: u32 = 180;
    pub const HWTSTAMP: u32 = 184;
}

/// The packet pointer for byte `at` of `skb.buf` in packet generation `gen`.
pub(crate) fn pkt_ptr(gen: u32, at: usize) -> u64 {
    make_ptr(kind::PACKET, gen, at as u32)
}

/// The value of the 4-byte field at `field` (a multiple of 4), for narrow reads.
fn word(skb: &Skb, field: u32) -> Option<u32> {
    let m = &skb.meta;
    Some(match field {
        off::LEN => skb.len() as u32,
        off::PKT_TYPE => m.pkt_type,
        off::MARK => m.mark,
        off::QUEUE_MAPPING => u32::from(m.queue_mapping),
        // __be16 fields read as their in-memory bytes: 0x0800 reads as 0x0008.
        off::PROTOCOL => u32::from(m.protocol.swap_bytes()),
        off::VLAN_PRESENT => u32::from(m.vlan_present),
        off::VLAN_TCI => u32::from(m.vlan_tci),
        off::VLAN_PROTO => u32::from(m.vlan_proto.swap_bytes()),
        off::PRIORITY => m.priority,
        off::INGRESS_IFINDEX => m.ingress_ifindex,
        off::IFINDEX => m.ifindex,
        off::TC_INDEX => u32::from(m.tc_index),
        off::CB..off::CB_END => m.cb[((field - off::CB) / 4) as usize],
        off::HASH => m.hash,
        off::TC_CLASSID => m.tc_classid,
        off::NAPI_ID => m.napi_id,
        off::WIRE_LEN => m.wire_len,
        off::GSO_SEGS => m.gso_segs,
        off::GSO_SIZE => m.gso_size,
        _ => return None,
    })
}

/// Loads `size` bytes at `at` of the context. `gen` is the current packet generation.
pub(crate) fn load(skb: &Skb, gen: u32, at: u32, size: usize) -> Option<u64> {
    // The common case first: a whole 4-byte field.
    if size == 4 && at.is_multiple_of(4) {
        match at {
            off::DATA | off::DATA_META => return Some(pkt_ptr(gen, skb.head)),
            off::DATA_END => return Some(pkt_ptr(gen, skb.buf.len())),
            _ => {
                if let Some(v) = word(skb, at) {
                    return Some(u64::from(v));
                }
            }
        }
    }
    if !at.is_multiple_of(size as u32) || at >= SKB_CTX_SIZE {
        return None;
    }
    match (at, size) {
        (off::DATA, 4) | (off::DATA_META, 4) => return Some(pkt_ptr(gen, skb.head)),
        (off::DATA_END, 4) => return Some(pkt_ptr(gen, skb.buf.len())),
        (off::DATA | off::DATA_END | off::DATA_META, _) => return None,
        (off::TSTAMP, 8) => return Some(skb.meta.tstamp),
        (off::HWTSTAMP, 8) => return Some(skb.meta.hwtstamp),
        (off::SK, 8) => return Some(0),
        (off::TSTAMP_TYPE, 1) => return Some(u64::from(skb.meta.tstamp_type)),
        (off::TSTAMP | off::HWTSTAMP | off::SK, _) | (off::TSTAMP_TYPE..=183, _) => return None,
        _ => {}
    }
    if (off::CB..off::CB_END).contains(&at) && size == 8 {
        if at + 8 > off::CB_END {
            return None;
        }
        let lo = word(skb, at)?;
        let hi = word(skb, at + 4)?;
        return Some(u64::from(lo) | (u64::from(hi) << 32));
    }
    if size == 8 {
        return None;
    }
    let field = at & !3;
    let v = word(skb, field)?;
    let shift = (at - field) * 8;
    let mask = if size == 4 {
        u32::MAX
    } else {
        (1u32 << (size * 8)) - 1
    };
    Some(u64::from((v >> shift) & mask))
}

/// Stores `size` bytes of `val` at `at` of the context; only the fields SCHED_CLS may write.
pub(crate) fn store(skb: &mut Skb, at: u32, size: usize, val: u64) -> Option<()> {
    if !at.is_multiple_of(size as u32) {
        return None;
    }
    let m = &mut skb.meta;
    if (off::CB..off::CB_END).contains(&at) {
        if at + size as u32 > off::CB_END {
            return None;
        }
        for i in 0..size as u32 {
            let byte_at = at + i - off::CB;
            let slot = &mut m.cb[(byte_at / 4) as usize];
            let shift = (byte_at % 4) * 8;
            *slot = (*slot & !(0xff << shift)) | ((((val >> (i * 8)) & 0xff) as u32) << shift);
        }
        return Some(());
    }
    let v = val as u32;
    match (at, size) {
        (off::MARK, 4) => m.mark = v,
        (off::PRIORITY, 4) => m.priority = v,
        (off::TC_INDEX, 4) => m.tc_index = v as u16,
        (off::TC_CLASSID, 4) => m.tc_classid = u32::from(v as u16),
        // bpf_convert_ctx_access: values >= NO_QUEUE_MAPPING (0xffff) are ignored.
        (off::QUEUE_MAPPING, 4) => {
            if v < 0xffff {
                m.queue_mapping = v as u16;
            }
        }
        (off::TSTAMP, 8) => m.tstamp = val,
        _ => return None,
    }
    Some(())
}
