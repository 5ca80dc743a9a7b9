//! Abstract machine state: what the verifier knows of each register and stack byte on one
//! path, and when one state covers another (state pruning).

use super::scalar::Scalar;

/// The kernel's `MAX_BPF_STACK`.
pub const STACK_SIZE: i64 = 512;
/// Stack slots of 8 bytes per frame.
const SLOTS: usize = (STACK_SIZE / 8) as usize;

/// Which memory a pointer-to-memory register points into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemKind {
    /// Value of the map at this index of `VerifyEnv::maps`.
    MapValue(usize),
    /// Key of the map at this index (callback argument of `bpf_for_each_map_elem`).
    MapKey(usize),
    /// A ring buffer record of this many bytes (`bpf_ringbuf_reserve`).
    Ringbuf(u32),
}

/// The type of a register, as the kernel's `enum bpf_reg_type` plus its bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reg {
    /// Never written on this path: reading it is an error.
    Uninit,
    Scalar(Scalar),
    /// `struct __sk_buff *` plus a constant offset; `var` if a non-constant was added.
    Ctx {
        off: i64,
        var: bool,
    },
    /// Frame pointer of frame `frame` plus `off` (fixed part) plus `var` (variable part).
    Stack {
        frame: usize,
        off: i64,
        var: Scalar,
    },
    /// `skb->data` plus `off`, plus a variable part shared by every pointer with the same
    /// `id`. `range`: bytes from the start of the variable part proven below `data_end`.
    Packet(PktPtr),
    /// `skb->data_meta` plus `off`; `range` proven below `skb->data`.
    PacketMeta(PktPtr),
    PacketEnd,
    /// A map handle (`ld_imm64` of a map), argument to map helpers.
    MapPtr(usize),
    /// Memory of known size; `null_id` is set while it may still be NULL (lookup result
    /// before the NULL check): all copies with the same id learn the outcome of the check.
    Mem {
        kind: MemKind,
        off: i64,
        var: Scalar,
        null_id: Option<u32>,
        /// Reference that must be released before exit (ring buffer records).
        ref_id: Option<u32>,
    },
    /// `skb->sk`: a socket pointer, possibly NULL; nothing reads through it here.
    Sock,
    /// Address of a BPF function (`ld_imm64` with `BPF_PSEUDO_FUNC`), for callbacks.
    Func(usize),
    /// Raw-memory mode (no `__sk_buff`): a buffer whose bounds are checked only at run time.
    RawMem,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PktPtr {
    pub id: u32,
    pub off: i64,
    pub var: Scalar,
    pub range: i64,
}

impl Reg {
    pub fn unknown() -> Reg {
        Reg::Scalar(Scalar::UNKNOWN)
    }

    pub fn constant(v: u64) -> Reg {
        Reg::Scalar(Scalar::constant(v))
    }

    pub fn is_pointer(&self) -> bool {
        !matches!(self, Reg::Uninit | Reg::Scalar(_))
    }

    /// The kernel's `reg_type_str`, used in messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Reg::Uninit => "uninit",
            Reg::Scalar(_) => "scalar",
            Reg::Ctx { .. } => "ctx",
            Reg::Stack { .. } => "fp",
            Reg::Packet(_) => "pkt",
            Reg::PacketMeta(_) => "pkt_meta",
            Reg::PacketEnd => "pkt_end",
            Reg::MapPtr(_) => "map_ptr",
            Reg::Mem {
                kind: MemKind::MapValue(_),
                null_id,
                ..
            } => {
                if null_id.is_some() {
                    "map_value_or_null"
                } else {
                    "map_value"
                }
            }
            Reg::Mem {
                kind: MemKind::MapKey(_),
                ..
            } => "map_key",
            Reg::Mem { null_id, .. } => {
                if null_id.is_some() {
                    "ringbuf_mem_or_null"
                } else {
                    "ringbuf_mem"
                }
            }
            Reg::Sock => "sock_common_or_null",
            Reg::Func(_) => "func",
            Reg::RawMem => "mem",
        }
    }
}

/// One 8-byte stack slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// A register spilled with a store at the slot's start: (value, store size).
    pub spill: Option<(Reg, u8)>,
    /// Per byte: written at all, and known to be zero.
    pub written: u8,
    pub zero: u8,
}

impl Slot {
    const EMPTY: Slot = Slot {
        spill: None,
        written: 0,
        zero: 0,
    };
}

/// One call frame: registers, the stack it owns, and where it returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub regs: [Reg; 11],
    pub slots: Vec<Slot>,
    /// Instruction after the call that created this frame (`None` for the main frame).
    pub ret_to: Option<usize>,
    /// Index of the subprogram this frame runs.
    pub subprog: usize,
    /// For a callback frame: the arguments each call of it gets (r1-r5), so that it can
    /// be entered again for the next iteration.
    pub callback: Option<[Reg; 5]>,
}

impl Frame {
    pub fn new(subprog: usize, ret_to: Option<usize>, frame_no: usize) -> Frame {
        let mut regs = [Reg::Uninit; 11];
        regs[10] = Reg::Stack {
            frame: frame_no,
            off: 0,
            var: Scalar::constant(0),
        };
        Frame {
            regs,
            slots: Vec::new(),
            ret_to,
            subprog,
            callback: None,
        }
    }

    fn slot_mut(&mut self, i: usize) -> &mut Slot {
        if self.slots.len() <= i {
            self.slots.resize(i + 1, Slot::EMPTY);
        }
        &mut self.slots[i]
    }

    fn slot(&self, i: usize) -> Slot {
        self.slots.get(i).copied().unwrap_or(Slot::EMPTY)
    }

    /// Records a store of `size` bytes at `off` (negative, in bounds, checked by the caller).
    /// `value` is the stored register when it is kept (spilled), otherwise what is known.
    pub fn stack_write(&mut self, off: i64, size: u32, value: Option<Reg>) {
        let start = (STACK_SIZE + off) as usize;
        // Any spill overlapped by this store turns into plain data.
        for byte in start..start + size as usize {
            let slot = self.slot_mut(SLOTS - 1 - byte / 8);
            if slot.spill.is_some() {
                slot.spill = None;
                slot.zero = 0;
            }
        }
        let zero = matches!(value, Some(Reg::Scalar(s)) if s.as_const() == Some(0));
        for byte in start..start + size as usize {
            let bit = 1u8 << (byte % 8);
            let slot = self.slot_mut(SLOTS - 1 - byte / 8);
            slot.written |= bit;
            if zero {
                slot.zero |= bit;
            } else {
                slot.zero &= !bit;
            }
        }
        let aligned = start.is_multiple_of(8);
        if let Some(v) = value {
            let keep = match v {
                Reg::Scalar(_) => aligned && size.is_power_of_two(),
                _ => aligned && size == 8,
            };
            if keep {
                self.slot_mut(SLOTS - 1 - start / 8).spill = Some((v, size as u8));
            }
        }
    }

    /// What a load of `size` bytes at `off` yields, or an error message.
    pub fn stack_read(&self, off: i64, size: u32) -> Result<Reg, String> {
        let start = (STACK_SIZE + off) as usize;
        let first = self.slot(SLOTS - 1 - start / 8);
        if start.is_multiple_of(8) {
            if let Some((reg, spill_size)) = first.spill {
                if u32::from(spill_size) == size {
                    return Ok(reg);
                }
                if reg.is_pointer() {
                    return Err(format!(
                        "invalid size of register fill off={off} size={size}"
                    ));
                }
            }
        }
        let mut all_zero = true;
        for byte in start..start + size as usize {
            let slot = self.slot(SLOTS - 1 - byte / 8);
            if let Some((reg, _)) = slot.spill {
                if reg.is_pointer() {
                    return Err(format!(
                        "invalid size of register fill off={off} size={size}"
                    ));
                }
            }
            if slot.zero & (1 << (byte % 8)) == 0 {
                all_zero = false;
            }
        }
        // Reads of never-written stack are allowed to root (`allow_uninit_stack`).
        Ok(if all_zero {
            Reg::constant(0)
        } else {
            Reg::Scalar(Scalar::of_width(size))
        })
    }

    /// Forgets the values of spilled numbers and known-zero bytes (pointers stay): the
    /// widening that makes repeated callback iterations converge.
    pub fn widen_stack_scalars(&mut self) {
        for slot in &mut self.slots {
            if let Some((Reg::Scalar(v), size)) = &mut slot.spill {
                *v = Scalar::of_width(u32::from(*size));
            }
            slot.zero = 0;
        }
    }

    /// Forgets everything about stack bytes a variable-offset or helper write may touch.
    pub fn stack_clobber(&mut self, off: i64, size: u32) {
        self.stack_write(off, size, None);
    }
}

/// Everything known on one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct State {
    pub frames: Vec<Frame>,
    /// Unreleased references (ring buffer records): (id, instruction that acquired it).
    pub refs: Vec<(u32, usize)>,
}

impl State {
    pub fn cur(&self) -> &Frame {
        self.frames.last().expect("at least one frame")
    }

    pub fn cur_mut(&mut self) -> &mut Frame {
        self.frames.last_mut().expect("at least one frame")
    }

    /// Applies `f` to every register and spilled register of every frame.
    pub fn for_each_reg(&mut self, mut f: impl FnMut(&mut Reg)) {
        for frame in &mut self.frames {
            frame.regs.iter_mut().for_each(&mut f);
            for slot in &mut frame.slots {
                if let Some((reg, _)) = &mut slot.spill {
                    f(reg);
                }
            }
        }
    }

    /// Whether every concrete state described by `cur` is also described by `self`, so that
    /// having verified from `self` proves `cur` safe (the kernel's `states_equal`).
    pub fn covers(&self, cur: &State) -> bool {
        if self.frames.len() != cur.frames.len() || self.refs.len() != cur.refs.len() {
            return false;
        }
        let mut ids = IdMap::default();
        for (old, new) in self.frames.iter().zip(&cur.frames) {
            if old.ret_to != new.ret_to || old.subprog != new.subprog {
                return false;
            }
            for (a, b) in old.regs.iter().zip(&new.regs) {
                if !reg_covers(a, b, &mut ids) {
                    return false;
                }
            }
            let n = old.slots.len().max(new.slots.len());
            for i in 0..n {
                if !slot_covers(&old.slot(i), &new.slot(i), &mut ids) {
                    return false;
                }
            }
        }
        true
    }
}

/// A consistent renaming of ids between two states.
#[derive(Default)]
struct IdMap(Vec<(u32, u32)>);

impl IdMap {
    fn check(&mut self, old: u32, new: u32) -> bool {
        for &(a, b) in &self.0 {
            if a == old || b == new {
                return a == old && b == new;
            }
        }
        self.0.push((old, new));
        true
    }

    fn check_opt(&mut self, old: Option<u32>, new: Option<u32>) -> bool {
        match (old, new) {
            (None, None) => true,
            (Some(a), Some(b)) => self.check(a, b),
            _ => false,
        }
    }
}

fn pkt_covers(a: &PktPtr, b: &PktPtr, ids: &mut IdMap) -> bool {
    a.off == b.off && a.range <= b.range && a.var.contains(&b.var) && ids.check(a.id, b.id)
}

fn reg_covers(old: &Reg, new: &Reg, ids: &mut IdMap) -> bool {
    match (old, new) {
        // The old path never read this register before writing it, or it would have failed.
        (Reg::Uninit, _) => true,
        (Reg::Scalar(a), Reg::Scalar(b)) => a.contains(b),
        (Reg::Packet(a), Reg::Packet(b)) | (Reg::PacketMeta(a), Reg::PacketMeta(b)) => {
            pkt_covers(a, b, ids)
        }
        (
            Reg::Mem {
                kind: k1,
                off: o1,
                var: v1,
                null_id: n1,
                ref_id: r1,
            },
            Reg::Mem {
                kind: k2,
                off: o2,
                var: v2,
                null_id: n2,
                ref_id: r2,
            },
        ) => {
            k1 == k2
                && o1 == o2
                && v1.contains(v2)
                && ids.check_opt(*n1, *n2)
                && ids.check_opt(r1.map(|r| r | 1 << 31), r2.map(|r| r | 1 << 31))
        }
        (
            Reg::Stack {
                frame: f1,
                off: o1,
                var: v1,
            },
            Reg::Stack {
                frame: f2,
                off: o2,
                var: v2,
            },
        ) => f1 == f2 && o1 == o2 && v1.contains(v2),
        _ => old == new,
    }
}

fn slot_covers(old: &Slot, new: &Slot, ids: &mut IdMap) -> bool {
    match (old.spill, new.spill) {
        (Some((a, sa)), Some((b, sb))) => sa == sb && reg_covers(&a, &b, ids),
        (Some((Reg::Scalar(a), size)), None) => {
            a.contains(&Scalar::of_width(u32::from(size))) && old.zero & !new.zero == 0
        }
        (Some(_), None) => false,
        (None, Some((b, _))) => !b.is_pointer() && old.zero == 0,
        // Plain bytes read as unknown scalars unless known zero.
        (None, None) => old.zero & !new.zero == 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spill_and_fill_keep_the_register() {
        let mut f = Frame::new(0, None, 0);
        let ptr = Reg::Ctx { off: 0, var: false };
        f.stack_write(-8, 8, Some(ptr));
        assert_eq!(f.stack_read(-8, 8), Ok(ptr));
        assert!(f.stack_read(-8, 4).is_err(), "partial fill of a pointer");
        f.stack_write(-16, 4, Some(Reg::constant(0)));
        assert_eq!(f.stack_read(-16, 4), Ok(Reg::constant(0)));
        assert_eq!(f.stack_read(-14, 2), Ok(Reg::constant(0)));
        // Uninitialised stack reads as an unknown value for root.
        assert_eq!(f.stack_read(-512, 2), Ok(Reg::Scalar(Scalar::of_width(2))));
    }

    #[test]
    fn overwriting_part_of_a_spill_forgets_it() {
        let mut f = Frame::new(0, None, 0);
        f.stack_write(-8, 8, Some(Reg::Ctx { off: 0, var: false }));
        f.stack_write(-4, 4, Some(Reg::constant(7)));
        assert_eq!(f.stack_read(-8, 8), Ok(Reg::unknown()));
    }

    #[test]
    fn wider_scalar_covers_narrower() {
        let mut a = State {
            frames: vec![Frame::new(0, None, 0)],
            refs: vec![],
        };
        let mut b = a.clone();
        a.cur_mut().regs[1] = Reg::Scalar(Scalar::unsigned(0, 10));
        b.cur_mut().regs[1] = Reg::constant(3);
        assert!(a.covers(&b));
        assert!(!b.covers(&a));
    }
}
