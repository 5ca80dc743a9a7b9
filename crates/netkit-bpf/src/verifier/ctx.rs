//! `struct __sk_buff` access rules for SCHED_CLS programs (spec/mprog.md §7.1): the
//! kernel's `tc_cls_act_is_valid_access` and `bpf_skb_is_valid_access`.

use super::scalar::Scalar;
use super::state::{PktPtr, Reg};

/// `sizeof(struct __sk_buff)`.
pub const CTX_SIZE: i64 = 192;

pub mod off {
    pub const MARK: i64 = 8;
    pub const QUEUE_MAPPING: i64 = 12;
    pub const PRIORITY: i64 = 32;
    pub const TC_INDEX: i64 = 44;
    pub const CB: i64 = 48;
    pub const CB_END: i64 = 68;
    pub const TC_CLASSID: i64 = 72;
    pub const DATA: i64 = 76;
    pub const DATA_END: i64 = 80;
    /// `family` .. `local_port`: socket fields, not for tc.
    pub const SOCK_FIELDS: i64 = 88;
    pub const SOCK_FIELDS_END: i64 = 140;
    pub const DATA_META: i64 = 140;
    pub const FLOW_KEYS: i64 = 144;
    pub const TSTAMP: i64 = 152;
    pub const SK: i64 = 168;
    pub const TSTAMP_TYPE: i64 = 180;
    pub const HWTSTAMP: i64 = 184;
}

fn in_field(o: i64, start: i64, size: i64) -> bool {
    (start..start + size).contains(&o)
}

/// Checks an access of `size` bytes at offset `o`; returns what a load yields (for writes,
/// the value is ignored). `None` when the kernel answers "invalid bpf_context access".
pub fn access(o: i64, size: u32, write: bool, fresh_pkt_id: u32) -> Option<Reg> {
    let size_i = i64::from(size);
    if !(0..CTX_SIZE).contains(&o) || o % size_i != 0 {
        return None;
    }
    if write {
        let writable = in_field(o, off::MARK, 4)
            || in_field(o, off::TC_INDEX, 4)
            || in_field(o, off::PRIORITY, 4)
            || in_field(o, off::TC_CLASSID, 4)
            || (off::CB..off::CB_END).contains(&o)
            || in_field(o, off::TSTAMP, 8)
            || in_field(o, off::QUEUE_MAPPING, 4);
        if !writable {
            return None;
        }
    }
    let pkt = PktPtr {
        id: fresh_pkt_id,
        off: 0,
        var: Scalar::constant(0),
        range: 0,
    };
    if in_field(o, off::DATA, 4) || in_field(o, off::DATA_END, 4) || in_field(o, off::DATA_META, 4)
    {
        if size != 4 || write {
            return None;
        }
        return Some(match o {
            off::DATA => Reg::Packet(pkt),
            off::DATA_END => Reg::PacketEnd,
            _ => Reg::PacketMeta(pkt),
        });
    }
    if (off::SOCK_FIELDS..off::SOCK_FIELDS_END).contains(&o) || in_field(o, off::FLOW_KEYS, 8) {
        return None;
    }
    if o == off::TSTAMP_TYPE {
        return (size == 1 && !write).then(|| Reg::Scalar(Scalar::of_width(1)));
    }
    if in_field(o, off::TSTAMP_TYPE, 4) {
        // Padding after tstamp_type.
        return None;
    }
    if (off::CB..off::CB_END).contains(&o) {
        return (o + size_i <= off::CB_END).then(|| Reg::Scalar(Scalar::of_width(size)));
    }
    if in_field(o, off::TSTAMP, 8) || in_field(o, off::HWTSTAMP, 8) {
        if size != 8 || (write && o == off::HWTSTAMP) {
            return None;
        }
        return Some(Reg::unknown());
    }
    if in_field(o, off::SK, 8) {
        return (size == 8 && !write && o == off::SK).then_some(Reg::Sock);
    }
    // Plain u32 fields: full-size writes, narrow (1, 2, 4 byte) reads.
    if write {
        return (size == 4).then(Reg::unknown);
    }
    (size <= 4).then(|| Reg::Scalar(Scalar::of_width(size)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_rules() {
        assert!(access(0, 4, false, 1).is_some(), "len");
        assert!(access(2, 2, false, 1).is_some(), "narrow read of len");
        assert!(access(1, 2, false, 1).is_none(), "misaligned");
        assert!(access(0, 4, true, 1).is_none(), "len is read-only");
        assert!(access(off::MARK, 4, true, 1).is_some());
        assert!(access(off::MARK, 2, true, 1).is_none(), "narrow write");
        assert!(access(off::MARK, 8, false, 1).is_none(), "wide read");
        assert!(access(off::CB + 8, 8, true, 1).is_some());
        assert!(access(off::CB + 16, 8, true, 1).is_none(), "past cb[4]");
        assert!(access(off::DATA, 2, false, 1).is_none());
        assert!(matches!(
            access(off::DATA, 4, false, 1),
            Some(Reg::Packet(_))
        ));
        assert!(access(off::SOCK_FIELDS, 4, false, 1).is_none(), "family");
        assert!(
            access(off::TSTAMP_TYPE + 1, 1, false, 1).is_none(),
            "padding"
        );
        assert!(access(off::TSTAMP_TYPE, 1, false, 1).is_some());
        assert!(access(off::TSTAMP, 8, true, 1).is_some());
        assert!(access(off::HWTSTAMP, 8, true, 1).is_none());
        assert!(access(CTX_SIZE, 4, false, 1).is_none());
        assert!(access(-4, 4, false, 1).is_none());
    }
}
