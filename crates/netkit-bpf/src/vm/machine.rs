//! A run's state and its memory: the stack, the context, the packet and the table of map
//! value regions the run has obtained. Every access checks the whole `[addr, addr + size)`
//! against the one region the address names, and its permission.

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::Arc;

use super::decode::AtomicOp;
use super::{ctx, AbortReason, MAX_FRAMES, STACK_PER_FRAME};
use crate::maps::Map;
use crate::mem::{self, kind, ptr_index, ptr_kind, ptr_off, Region};
use crate::skb::Skb;

pub(crate) const STACK_SIZE: usize = STACK_PER_FRAME * MAX_FRAMES;
/// Regions one run may obtain (each map lookup that finds a new value takes one).
const MAX_REGIONS: usize = 1 << 20;

/// Buffers reused from run to run on a thread so that a run allocates nothing.
pub(crate) struct Scratch {
    pub stack: Box<[u8; STACK_SIZE]>,
    pub regions: Vec<Region>,
    /// A byte buffer for helpers (keys, values in flight).
    pub bytes: Vec<u8>,
    /// Regions of `ld_imm64` map values already made this run: (map address, region).
    direct: Vec<(usize, u32)>,
    /// Callers' registers across BPF-to-BPF calls.
    pub saved: Vec<super::exec::Saved>,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            stack: Box::new([0; STACK_SIZE]),
            regions: Vec::new(),
            bytes: Vec::new(),
            direct: Vec::new(),
            saved: Vec::with_capacity(super::MAX_FRAMES),
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::new());
    static CPU: Cell<Option<u32>> = const { Cell::new(None) };
}

/// This thread's CPU slot: threads are numbered round-robin over the CPU count.
pub(crate) fn thread_cpu() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    CPU.with(|c| match c.get() {
        Some(cpu) => cpu,
        None => {
            let cpu = NEXT.fetch_add(1, Relaxed) % crate::maps::num_cpus();
            c.set(Some(cpu));
            cpu
        }
    })
}

pub(crate) struct Machine<'a> {
    pub s: &'a mut Scratch,
    pub skb: &'a mut Skb,
    /// Packet generation: bumped when a helper changes the packet's layout, which makes every
    /// packet pointer obtained before unusable.
    pub pkt_gen: u32,
    pub budget: u64,
    pub tail_calls: u32,
    pub cpu: u32,
    /// `prog run raw`: r1 is a plain memory buffer, not an `__sk_buff`.
    pub raw: bool,
    /// MTU of the device the packet is on (check_mtu, change_tail/head limits).
    pub mtu: u32,
    /// Copies `bpf_clone_redirect` asked for, in order.
    pub clones: Vec<super::CloneRequest>,
    /// CHECKSUM_UNNECESSARY level, `None` for CHECKSUM_NONE (csum_level).
    pub csum_level: Option<u8>,
}

impl Machine<'_> {
    /// Runs `f` on a machine for `skb`, using this thread's scratch buffers (a fresh set if
    /// they are in use further up the stack).
    pub fn with<R>(
        skb: &mut Skb,
        opts: &super::RunOptions,
        raw: bool,
        f: impl FnOnce(&mut Machine) -> R,
    ) -> R {
        let cpu = opts.cpu.unwrap_or_else(thread_cpu) % crate::maps::num_cpus();
        let run = |s: &mut Scratch, skb: &mut Skb| {
            let mut m = Machine {
                s,
                skb,
                pkt_gen: 0,
                budget: super::INSN_BUDGET,
                tail_calls: 0,
                cpu,
                raw,
                mtu: opts.mtu,
                clones: Vec::new(),
                csum_level: None,
            };
            let r = f(&mut m);
            m.s.regions.clear();
            m.s.direct.clear();
            m.s.saved.clear();
            r
        };
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut s) => run(&mut s, skb),
            Err(_) => run(&mut Scratch::new(), skb),
        })
    }

    /// Discards ringbuf records the program reserved and never submitted, so the ring does not
    /// stay blocked (the kernel's verifier makes this impossible for programs it accepts).
    pub fn finish(&mut self) {
        for r in &mut self.s.regions {
            if let (true, Some(rec)) = (r.live, &r.record) {
                rec.finish(&r.words, r.len as usize, false);
                r.live = false;
            }
        }
    }

    /// Zeroes a frame's stack on entry, so nothing of an earlier run or call is readable.
    /// Frames grow down from the top of the stack buffer, so frame 0's `r10` is the end of
    /// the buffer and nothing above any frame pointer is addressable.
    pub fn enter_frame(&mut self, frame: usize) -> Result<u64, AbortReason> {
        if frame >= MAX_FRAMES {
            return Err(AbortReason::CallDepth);
        }
        let lo = (MAX_FRAMES - 1 - frame) * STACK_PER_FRAME;
        self.s.stack[lo..lo + STACK_PER_FRAME].fill(0);
        Ok(mem::make_ptr(kind::STACK, 0, (lo + STACK_PER_FRAME) as u32))
    }

    /// Registers a region and returns a pointer to its first byte.
    pub fn add_region(&mut self, region: Region) -> Result<u64, AbortReason> {
        if self.s.regions.len() >= MAX_REGIONS {
            return Err(AbortReason::TooManyRegions);
        }
        self.s.regions.push(region);
        Ok(mem::make_ptr(
            kind::REGION,
            self.s.regions.len() as u32 - 1,
            0,
        ))
    }

    /// The pointer `ld_imm64` of a map value yields: element 0 of `map`, plus `off`.
    pub fn direct_value(&mut self, map: &Arc<Map>, off: u32) -> Result<u64, AbortReason> {
        let id = Arc::as_ptr(map) as usize;
        let idx = match self.s.direct.iter().find(|(m, _)| *m == id) {
            Some(&(_, idx)) => idx,
            None => {
                let region = map.prog_lookup(&0u32.to_le_bytes(), self.cpu).ok_or(
                    AbortReason::HelperArg {
                        helper: 0,
                        what: "map has no directly addressable value",
                    },
                )?;
                let p = self.add_region(region)?;
                let idx = ptr_index(p);
                self.s.direct.push((id, idx));
                idx
            }
        };
        Ok(mem::make_ptr(kind::REGION, idx, off))
    }

    /// The region `addr` names, checked for `size` bytes: (region index, offset in it).
    fn region_at(&self, addr: u64, size: usize, write: bool) -> Result<&Region, AbortReason> {
        let r = self
            .s
            .regions
            .get(ptr_index(addr) as usize)
            .filter(|r| r.live && ptr_off(addr) as u64 + size as u64 <= u64::from(r.len))
            .ok_or(AbortReason::OutOfBounds {
                addr,
                size: size as u32,
                write,
            })?;
        if write && !r.writable {
            return Err(AbortReason::ReadOnly {
                addr,
                size: size as u32,
            });
        }
        Ok(r)
    }

    fn oob(addr: u64, size: usize, write: bool) -> AbortReason {
        AbortReason::OutOfBounds {
            addr,
            size: size as u32,
            write,
        }
    }

    /// The packet byte range `[off, off + size)` if `addr` is a current packet pointer.
    fn pkt_range(&self, addr: u64, size: usize) -> Option<usize> {
        let off = ptr_off(addr) as usize;
        (ptr_index(addr) == self.pkt_gen
            && off >= self.skb.head
            && off + size <= self.skb.buf.len())
        .then_some(off)
    }

    /// Loads through a pointer: stack and packet inline, other regions out of line.
    #[inline(always)]
    pub fn load(&self, addr: u64, size: usize) -> Result<u64, AbortReason> {
        let off = ptr_off(addr) as usize;
        match ptr_kind(addr) {
            kind::STACK if ptr_index(addr) == 0 && off + size <= STACK_SIZE => {
                Ok(le(&self.s.stack[off..off + size]))
            }
            kind::PACKET
                if ptr_index(addr) == self.pkt_gen
                    && off >= self.skb.head
                    && off + size <= self.skb.buf.len() =>
            {
                Ok(le(&self.skb.buf[off..off + size]))
            }
            kind::REGION => match self.s.regions.get(ptr_index(addr) as usize) {
                Some(r) if r.live && off + size <= r.len as usize => {
                    Ok(mem::load(&r.words, r.start as usize + off, size))
                }
                _ => self.load_slow(addr, size),
            },
            _ => self.load_slow(addr, size),
        }
    }

    #[inline(never)]
    fn load_slow(&self, addr: u64, size: usize) -> Result<u64, AbortReason> {
        match ptr_kind(addr) {
            kind::STACK => {
                let off = ptr_off(addr) as usize;
                let b = self
                    .s
                    .stack
                    .get(off..off + size)
                    .filter(|_| ptr_index(addr) == 0)
                    .ok_or(Self::oob(addr, size, false))?;
                Ok(le(b))
            }
            kind::PACKET => {
                let off = self
                    .pkt_range(addr, size)
                    .ok_or(Self::oob(addr, size, false))?;
                Ok(le(&self.skb.buf[off..off + size]))
            }
            kind::REGION => {
                let r = self.region_at(addr, size, false)?;
                Ok(mem::load(
                    &r.words,
                    (r.start + ptr_off(addr)) as usize,
                    size,
                ))
            }
            kind::CTX if !self.raw && ptr_index(addr) == 0 => {
                ctx::load(self.skb, self.pkt_gen, ptr_off(addr), size).ok_or(
                    AbortReason::BadContext {
                        off: ptr_off(addr),
                        size: size as u32,
                        write: false,
                    },
                )
            }
            _ => Err(Self::oob(addr, size, false)),
        }
    }

    /// Stores through a pointer: stack and packet inline, other regions out of line.
    #[inline(always)]
    pub fn store(&mut self, addr: u64, size: usize, val: u64) -> Result<(), AbortReason> {
        let off = ptr_off(addr) as usize;
        match ptr_kind(addr) {
            kind::STACK if ptr_index(addr) == 0 && off + size <= STACK_SIZE => {
                self.s.stack[off..off + size].copy_from_slice(&val.to_le_bytes()[..size]);
                Ok(())
            }
            kind::PACKET
                if ptr_index(addr) == self.pkt_gen
                    && off >= self.skb.head
                    && off + size <= self.skb.buf.len() =>
            {
                self.skb.buf[off..off + size].copy_from_slice(&val.to_le_bytes()[..size]);
                Ok(())
            }
            kind::REGION => match self.s.regions.get(ptr_index(addr) as usize) {
                Some(r) if r.live && r.writable && off + size <= r.len as usize => {
                    mem::store(&r.words, r.start as usize + off, size, val);
                    Ok(())
                }
                _ => self.store_slow(addr, size, val),
            },
            _ => self.store_slow(addr, size, val),
        }
    }

    #[inline(never)]
    fn store_slow(&mut self, addr: u64, size: usize, val: u64) -> Result<(), AbortReason> {
        let bytes = val.to_le_bytes();
        match ptr_kind(addr) {
            kind::STACK => {
                let off = ptr_off(addr) as usize;
                let b = self
                    .s
                    .stack
                    .get_mut(off..off + size)
                    .filter(|_| ptr_index(addr) == 0)
                    .ok_or(Self::oob(addr, size, true))?;
                b.copy_from_slice(&bytes[..size]);
                Ok(())
            }
            kind::PACKET => {
                let off = self
                    .pkt_range(addr, size)
                    .ok_or(Self::oob(addr, size, true))?;
                self.skb.buf[off..off + size].copy_from_slice(&bytes[..size]);
                Ok(())
            }
            kind::REGION => {
                let r = self.region_at(addr, size, true)?;
                mem::store(&r.words, (r.start + ptr_off(addr)) as usize, size, val);
                Ok(())
            }
            kind::CTX if !self.raw && ptr_index(addr) == 0 => {
                ctx::store(self.skb, ptr_off(addr), size, val).ok_or(AbortReason::BadContext {
                    off: ptr_off(addr),
                    size: size as u32,
                    write: true,
                })
            }
            _ => Err(Self::oob(addr, size, true)),
        }
    }

    /// An atomic read-modify-write; returns the old value. Atomic on map values (shared
    /// between threads); the stack belongs to this run alone.
    pub fn atomic(
        &mut self,
        op: AtomicOp,
        wide: bool,
        addr: u64,
        val: u64,
        expected: u64,
    ) -> Result<u64, AbortReason> {
        let size = if wide { 8 } else { 4 };
        if !ptr_off(addr).is_multiple_of(size) {
            return Err(AbortReason::Misaligned { addr });
        }
        let size = size as usize;
        let apply = |old: u64| -> u64 {
            match op {
                AtomicOp::Add => old.wrapping_add(val),
                AtomicOp::Or => old | val,
                AtomicOp::And => old & val,
                AtomicOp::Xor => old ^ val,
                AtomicOp::Xchg => val,
                AtomicOp::CmpXchg => {
                    let mask = if wide { u64::MAX } else { u64::from(u32::MAX) };
                    if old & mask == expected & mask {
                        val
                    } else {
                        old
                    }
                }
            }
        };
        match ptr_kind(addr) {
            kind::STACK => {
                let old = self.load(addr, size)?;
                self.store(addr, size, apply(old))?;
                Ok(old)
            }
            kind::REGION => {
                let r = self.region_at(addr, size, true)?;
                let at = (r.start + ptr_off(addr)) as usize;
                let word = &r.words[at / 8];
                let shift = (at % 8) * 8;
                let mask = if wide {
                    u64::MAX
                } else {
                    0xffff_ffffu64 << shift
                };
                let mut cur = word.load(Relaxed);
                loop {
                    let old = (cur & mask) >> shift;
                    let new = (cur & !mask) | ((apply(old) << shift) & mask);
                    match word.compare_exchange_weak(cur, new, Relaxed, Relaxed) {
                        Ok(_) => return Ok(old),
                        Err(actual) => cur = actual,
                    }
                }
            }
            _ => Err(Self::oob(addr, size, true)),
        }
    }

    /// Copies `out.len()` bytes from program memory at `addr` (a helper's input argument).
    pub fn read(&self, addr: u64, out: &mut [u8]) -> Result<(), AbortReason> {
        let size = out.len();
        if size == 0 {
            return Ok(());
        }
        match ptr_kind(addr) {
            kind::STACK | kind::PACKET => {
                let src = self.slice(addr, size, false)?;
                out.copy_from_slice(src);
                Ok(())
            }
            kind::REGION => {
                let r = self.region_at(addr, size, false)?;
                mem::read_bytes(&r.words, (r.start + ptr_off(addr)) as usize, out);
                Ok(())
            }
            _ => Err(Self::oob(addr, size, false)),
        }
    }

    /// Copies `data` into program memory at `addr` (a helper's output argument).
    pub fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), AbortReason> {
        let size = data.len();
        if size == 0 {
            return Ok(());
        }
        match ptr_kind(addr) {
            kind::STACK | kind::PACKET => {
                self.slice_mut(addr, size)?.copy_from_slice(data);
                Ok(())
            }
            kind::REGION => {
                let r = self.region_at(addr, size, true)?;
                mem::write_bytes(&r.words, (r.start + ptr_off(addr)) as usize, data);
                Ok(())
            }
            _ => Err(Self::oob(addr, size, true)),
        }
    }

    fn slice(&self, addr: u64, size: usize, write: bool) -> Result<&[u8], AbortReason> {
        let off = ptr_off(addr) as usize;
        match ptr_kind(addr) {
            kind::STACK if ptr_index(addr) == 0 => self.s.stack.get(off..off + size),
            kind::PACKET => self
                .pkt_range(addr, size)
                .map(|o| &self.skb.buf[o..o + size]),
            _ => None,
        }
        .ok_or(Self::oob(addr, size, write))
    }

    fn slice_mut(&mut self, addr: u64, size: usize) -> Result<&mut [u8], AbortReason> {
        let off = ptr_off(addr) as usize;
        match ptr_kind(addr) {
            kind::STACK if ptr_index(addr) == 0 => self.s.stack.get_mut(off..off + size),
            kind::PACKET => match self.pkt_range(addr, size) {
                Some(o) => Some(&mut self.skb.buf[o..o + size]),
                None => None,
            },
            _ => None,
        }
        .ok_or(Self::oob(addr, size, true))
    }

    /// Reads `len` bytes at `addr` into the machine's byte buffer (for map keys and values).
    pub fn read_to_bytes(&mut self, addr: u64, len: usize) -> Result<Vec<u8>, AbortReason> {
        let mut buf = std::mem::take(&mut self.s.bytes);
        buf.clear();
        buf.resize(len, 0);
        match self.read(addr, &mut buf) {
            Ok(()) => Ok(buf),
            Err(e) => {
                self.s.bytes = buf;
                Err(e)
            }
        }
    }

    /// Returns a buffer from [`Machine::read_to_bytes`] for reuse.
    pub fn give_back(&mut self, buf: Vec<u8>) {
        if buf.capacity() >= self.s.bytes.capacity() {
            self.s.bytes = buf;
        }
    }

    /// Called after a helper changed the packet's layout.
    pub fn invalidate_packet(&mut self) {
        self.pkt_gen = (self.pkt_gen + 1) & mem::MAX_INDEX;
    }
}

#[inline(always)]
fn le(b: &[u8]) -> u64 {
    match b.len() {
        1 => u64::from(b[0]),
        2 => u64::from(u16::from_le_bytes([b[0], b[1]])),
        4 => u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        _ => u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
    }
}
