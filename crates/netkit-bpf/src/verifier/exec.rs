//! Path exploration: the abstract interpreter (the kernel's `do_check`), with state pruning
//! and loop detection at jump targets (`is_state_visited`).

use super::cfg::{Cfg, PSEUDO_FUNC};
use super::ctx;
use super::scalar::Scalar;
use super::state::{Frame, MemKind, PktPtr, Reg, State, STACK_SIZE};
use super::{ContextKind, VerifyEnv, VerifyError, VerifyOptions, COMPLEXITY_LIMIT};
use crate::insn::*;
use crate::obj::{PSEUDO_MAP_IDX, PSEUDO_MAP_IDX_VALUE};

/// The kernel's `BPF_MAX_VAR_OFF`: pointer offsets beyond this are refused outright.
pub const MAX_VAR_OFF: i64 = 1 << 29;
/// The kernel's `BPF_COMPLEXITY_LIMIT_JMP_SEQ`: pending branches at once.
const MAX_PENDING: usize = 8192;
/// States remembered per jump target; beyond this, new states are not stored (pruning
/// gets weaker, never unsound).
const MAX_STATES_PER_INSN: usize = 64;

/// A path being explored: where it is and what it knows.
pub struct Path {
    pub pc: usize,
    pub state: State,
    /// The last remembered state on this path (for loop detection).
    node: Option<u32>,
}

/// A remembered state's place in the exploration tree: it is still being explored (and so
/// an ancestor of the current path) while `pending > 0`.
struct Node {
    parent: Option<u32>,
    pending: u32,
}

/// A remembered state at a jump target, with how often it pruned a path and failed to.
struct Explored {
    node: u32,
    state: State,
    hits: u32,
    misses: u32,
}

pub enum Step {
    Next(usize),
    End,
}

pub struct Explorer<'a> {
    pub insns: &'a [Insn],
    pub env: &'a VerifyEnv<'a>,
    pub opts: &'a VerifyOptions<'a>,
    pub cfg: &'a Cfg,
    explored: Vec<Vec<Explored>>,
    /// Conditional jumps processed, and (instructions, jumps) when a state was last stored.
    pub jumps: u64,
    last_store: (u64, u64),
    nodes: Vec<Node>,
    work: Vec<Path>,
    next_id: u32,
    pub processed: u64,
    /// Deepest stack use per function.
    pub stack_depth: Vec<u32>,
    pub has_tail_call: Vec<bool>,
    /// Instructions some path reached; the others never run.
    pub visited: Vec<bool>,
}

pub fn fail(pc: usize, msg: impl Into<String>) -> VerifyError {
    VerifyError {
        insn: Some(pc),
        msg: msg.into(),
    }
}

type Res<T> = Result<T, VerifyError>;

/// Access kinds for memory checks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Atomic,
}

impl<'a> Explorer<'a> {
    pub fn new(
        insns: &'a [Insn],
        env: &'a VerifyEnv<'a>,
        opts: &'a VerifyOptions<'a>,
        cfg: &'a Cfg,
    ) -> Explorer<'a> {
        Explorer {
            insns,
            env,
            opts,
            cfg,
            explored: (0..insns.len()).map(|_| Vec::new()).collect(),
            jumps: 0,
            last_store: (0, 0),
            nodes: Vec::new(),
            work: Vec::new(),
            next_id: 1,
            processed: 0,
            stack_depth: vec![0; cfg.subprogs.len()],
            has_tail_call: vec![false; cfg.subprogs.len()],
            visited: vec![false; insns.len()],
        }
    }

    pub fn fresh_id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    fn initial_state(&self) -> State {
        let mut frame = Frame::new(0, None, 0);
        match self.opts.context {
            ContextKind::SkBuff => frame.regs[1] = Reg::Ctx { off: 0, var: false },
            ContextKind::RawMemory => {
                frame.regs[1] = Reg::RawMem;
                frame.regs[2] = Reg::unknown();
            }
        }
        State {
            frames: vec![frame],
            refs: Vec::new(),
        }
    }

    pub fn run(&mut self) -> Res<()> {
        let init = self.initial_state();
        self.work.push(Path {
            pc: 0,
            state: init,
            node: None,
        });
        while let Some(mut path) = self.work.pop() {
            loop {
                if self.cfg.prune_point[path.pc] && self.visit(&mut path)? {
                    break;
                }
                self.processed += 1;
                if self.processed > COMPLEXITY_LIMIT {
                    return Err(fail(
                        path.pc,
                        format!(
                            "BPF program is too large. Processed {} insn",
                            self.processed
                        ),
                    ));
                }
                match self.step(&mut path)? {
                    Step::Next(pc) => path.pc = pc,
                    Step::End => {
                        self.finish(path.node);
                        break;
                    }
                }
            }
        }
        Ok(())
    }

    /// At a jump target: prune if a finished state covers this one, reject if a state on
    /// this very path does (the loop can repeat forever), else remember this state.
    /// Returns whether the path ends here.
    fn visit(&mut self, path: &mut Path) -> Res<bool> {
        let pc = path.pc;
        let mut covered = None;
        for (i, e) in self.explored[pc].iter_mut().enumerate() {
            if e.state.covers(&path.state) {
                covered = Some(i);
                break;
            }
            e.misses += 1;
        }
        if let Some(i) = covered {
            let e = &mut self.explored[pc][i];
            // An earlier call of the same callback on this path covers this one: the
            // iterations have converged (the helper bounds how often it calls).
            let converged = self.cfg.callback_entry[pc] && path.state.cur().callback.is_some();
            if self.nodes[e.node as usize].pending > 0 && !converged {
                return Err(fail(pc, format!("infinite loop detected at insn {pc}")));
            }
            e.hits += 1;
            self.finish(path.node);
            return Ok(true);
        }
        // States that never prune anything only cost comparisons (the kernel's miss_cnt).
        self.explored[pc].retain(|e| e.misses <= 4 * e.hits + 8);
        // Like the kernel, remember a new state only every few jumps or instructions.
        let recent = self.processed - self.last_store.0 < 64
            && self.jumps - self.last_store.1 < 8
            && !self.cfg.callback_entry[pc];
        if !recent && self.explored[pc].len() < MAX_STATES_PER_INSN {
            let id = self.nodes.len() as u32;
            self.nodes.push(Node {
                parent: path.node,
                pending: 1,
            });
            self.explored[pc].push(Explored {
                node: id,
                state: path.state.clone(),
                hits: 0,
                misses: 0,
            });
            path.node = Some(id);
            self.last_store = (self.processed, self.jumps);
        }
        Ok(false)
    }

    /// A path ended: every remembered state it passed through has one fewer live branch.
    fn finish(&mut self, mut node: Option<u32>) {
        while let Some(n) = node {
            let n = &mut self.nodes[n as usize];
            n.pending -= 1;
            if n.pending > 0 {
                return;
            }
            node = n.parent;
        }
    }

    /// Queues `state` to be explored from `pc` later (the other side of a branch).
    pub fn push_branch(&mut self, from: &Path, pc: usize, state: State) -> Res<()> {
        if self.work.len() >= MAX_PENDING {
            return Err(fail(
                from.pc,
                format!("The sequence of {MAX_PENDING} jumps is too complex."),
            ));
        }
        if let Some(n) = from.node {
            self.nodes[n as usize].pending += 1;
        }
        self.work.push(Path {
            pc,
            state,
            node: from.node,
        });
        Ok(())
    }

    fn step(&mut self, path: &mut Path) -> Res<Step> {
        let pc = path.pc;
        let insn = self.insns[pc];
        self.visited[pc] = true;
        match insn.class() {
            BPF_ALU | BPF_ALU64 => {
                self.alu(&mut path.state, insn, pc)?;
                Ok(Step::Next(pc + 1))
            }
            BPF_LDX => {
                self.ldx(&mut path.state, insn, pc)?;
                Ok(Step::Next(pc + 1))
            }
            BPF_ST | BPF_STX => {
                self.store(&mut path.state, insn, pc)?;
                Ok(Step::Next(pc + 1))
            }
            BPF_LD if insn.code & 0xe0 == BPF_IMM => {
                self.ld_imm64(&mut path.state, insn, pc)?;
                Ok(Step::Next(pc + 2))
            }
            BPF_LD => {
                self.ld_abs(&mut path.state, insn, pc)?;
                Ok(Step::Next(pc + 1))
            }
            _ => self.jump(path, insn),
        }
    }

    pub fn read(&self, st: &State, r: u8, pc: usize) -> Res<Reg> {
        match st.cur().regs[r as usize] {
            Reg::Uninit => Err(fail(pc, format!("R{r} !read_ok"))),
            reg => Ok(reg),
        }
    }

    pub fn write(&self, st: &mut State, r: u8, v: Reg, pc: usize) -> Res<()> {
        if r == 10 {
            return Err(fail(pc, "frame pointer is read only"));
        }
        st.cur_mut().regs[r as usize] = v;
        Ok(())
    }

    fn ld_imm64(&mut self, st: &mut State, insn: Insn, pc: usize) -> Res<()> {
        let next = self.insns[pc + 1];
        let v = match insn.src {
            0 => Reg::constant(u64::from(insn.imm as u32) | (u64::from(next.imm as u32) << 32)),
            PSEUDO_FUNC => {
                let target = (pc as i64 + i64::from(insn.imm) + 1) as usize;
                Reg::Func(self.cfg.subprog_of(target))
            }
            // Raw bytecode may use the kernel's map src values with map indexes for fds.
            PSEUDO_MAP_IDX | PSEUDO_MAP_IDX_VALUE | BPF_PSEUDO_MAP_FD | BPF_PSEUDO_MAP_VALUE => {
                let idx = insn.imm as u32 as usize;
                let Some(map) = self.env.maps.get(idx) else {
                    return Err(fail(
                        pc,
                        format!("fd {} is not pointing to valid bpf_map", insn.imm),
                    ));
                };
                if matches!(insn.src, PSEUDO_MAP_IDX | BPF_PSEUDO_MAP_FD) {
                    Reg::MapPtr(idx)
                } else {
                    let off = next.imm as u32;
                    if off >= map.value_size {
                        return Err(fail(
                            pc,
                            format!(
                                "invalid access to map value pointer, value_size={} off={off}",
                                map.value_size
                            ),
                        ));
                    }
                    Reg::Mem {
                        kind: MemKind::MapValue(idx),
                        off: off.into(),
                        var: Scalar::constant(0),
                        null_id: None,
                        ref_id: None,
                    }
                }
            }
            other => {
                return Err(fail(
                    pc,
                    format!("unrecognized bpf_ld_imm64 insn src_reg {other}"),
                ))
            }
        };
        self.write(st, insn.dst, v, pc)
    }

    /// Legacy packet loads: r6 must hold the context; they clobber r1-r5 like a call.
    fn ld_abs(&mut self, st: &mut State, insn: Insn, pc: usize) -> Res<()> {
        if self.opts.context != ContextKind::SkBuff
            || !matches!(st.cur().regs[6], Reg::Ctx { off: 0, var: false })
        {
            return Err(fail(
                pc,
                "at the time of BPF_LD_ABS|IND R6 != pointer to skb",
            ));
        }
        if insn.code & 0xe0 == BPF_IND {
            if let Reg::Scalar(_) = self.read(st, insn.src, pc)? {
            } else {
                return Err(fail(
                    pc,
                    format!("R{} leaks addr into packet offset", insn.src),
                ));
            }
        }
        let size = size_of(insn);
        let frame = st.cur_mut();
        for r in 1..=5 {
            frame.regs[r] = Reg::Uninit;
        }
        frame.regs[0] = Reg::Scalar(Scalar::of_width(size));
        Ok(())
    }

    fn ldx(&mut self, st: &mut State, insn: Insn, pc: usize) -> Res<()> {
        let base = self.read(st, insn.src, pc)?;
        let size = size_of(insn);
        let v = self.mem_access(st, pc, insn.src, base, insn.off, size, Access::Read, None)?;
        let v = match (v, insn.code & 0xe0 == BPF_MEMSX) {
            (Reg::Scalar(s), true) => Reg::Scalar(s.sext(size * 8)),
            (v, _) => v,
        };
        self.write(st, insn.dst, v, pc)
    }

    fn store(&mut self, st: &mut State, insn: Insn, pc: usize) -> Res<()> {
        let base = self.read(st, insn.dst, pc)?;
        let size = size_of(insn);
        if insn.class() == BPF_ST {
            let v = Scalar::constant(insn.imm as i64 as u64);
            let v = if size < 8 {
                v.and(&Scalar::of_width(size))
            } else {
                v
            };
            self.mem_access(
                st,
                pc,
                insn.dst,
                base,
                insn.off,
                size,
                Access::Write,
                Some(Reg::Scalar(v)),
            )?;
            return Ok(());
        }
        let value = self.read(st, insn.src, pc)?;
        if insn.code & 0xe0 != BPF_ATOMIC {
            let value = match value {
                Reg::Scalar(s) if size < 8 => Reg::Scalar(if s.umax < 1 << (size * 8) {
                    s
                } else {
                    Scalar::of_width(size)
                }),
                v => v,
            };
            self.mem_access(
                st,
                pc,
                insn.dst,
                base,
                insn.off,
                size,
                Access::Write,
                Some(value),
            )?;
            return Ok(());
        }
        if insn.imm == BPF_CMPXCHG {
            self.read(st, 0, pc)?;
        }
        self.mem_access(st, pc, insn.dst, base, insn.off, size, Access::Atomic, None)?;
        let loaded = Reg::Scalar(Scalar::of_width(size));
        if insn.imm == BPF_CMPXCHG {
            self.write(st, 0, loaded, pc)?;
        } else if insn.imm & BPF_FETCH != 0 {
            self.write(st, insn.src, loaded, pc)?;
        }
        Ok(())
    }

    /// Checks an access of `size` bytes at `base + off` and returns what a load yields.
    #[allow(clippy::too_many_arguments)]
    pub fn mem_access(
        &mut self,
        st: &mut State,
        pc: usize,
        r: u8,
        base: Reg,
        off: i16,
        size: u32,
        access: Access,
        value: Option<Reg>,
    ) -> Res<Reg> {
        let off = i64::from(off);
        let ty = base.type_name();
        let write = access != Access::Read;
        match base {
            Reg::Ctx { off: ctx_off, var } => {
                if access == Access::Atomic {
                    return Err(fail(
                        pc,
                        format!("BPF_ATOMIC stores into R{r} ctx is not allowed"),
                    ));
                }
                if var {
                    return Err(fail(
                        pc,
                        format!("variable ctx access var_off R{r} disallowed"),
                    ));
                }
                if ctx_off != 0 {
                    return Err(fail(
                        pc,
                        format!("dereference of modified ctx ptr R{r} off={ctx_off} disallowed"),
                    ));
                }
                let id = self.fresh_id();
                ctx::access(off, size, write, id).ok_or_else(|| {
                    fail(
                        pc,
                        format!("invalid bpf_context access off={off} size={size}"),
                    )
                })
            }
            Reg::Stack {
                frame,
                off: fixed,
                var,
            } => {
                if var.smin < -MAX_VAR_OFF || var.smax > MAX_VAR_OFF {
                    return Err(fail(
                        pc,
                        format!("R{r} unbounded indirect variable offset stack access"),
                    ));
                }
                let lo = fixed + off + var.smin;
                let hi = fixed + off + var.smax;
                if lo < -STACK_SIZE || hi + i64::from(size) > 0 {
                    return Err(fail(
                        pc,
                        format!(
                            "invalid {} stack R{r} off={lo} size={size}",
                            if write { "write to" } else { "read from" }
                        ),
                    ));
                }
                let exact = var.as_const().is_some();
                if exact && lo % i64::from(size) != 0 {
                    return Err(fail(
                        pc,
                        format!("misaligned stack access off {lo} size {size}"),
                    ));
                }
                if matches!(value, Some(Reg::Stack { frame: vf, .. }) if vf > frame) {
                    return Err(fail(
                        pc,
                        "cannot spill pointers to stack into stack frame of the caller",
                    ));
                }
                self.note_stack(st, frame, lo);
                let f = &mut st.frames[frame];
                match (access, exact) {
                    (Access::Read, true) => f.stack_read(lo, size).map_err(|m| fail(pc, m)),
                    (Access::Read, false) => Ok(Reg::Scalar(Scalar::of_width(size))),
                    (Access::Write, true) => {
                        f.stack_write(lo, size, value);
                        Ok(Reg::Uninit)
                    }
                    _ => {
                        f.stack_clobber(lo, (hi - lo) as u32 + size);
                        Ok(Reg::Scalar(Scalar::of_width(size)))
                    }
                }
            }
            Reg::Packet(p) | Reg::PacketMeta(p) => {
                if access == Access::Atomic {
                    return Err(fail(
                        pc,
                        format!("BPF_ATOMIC stores into R{r} {ty} is not allowed"),
                    ));
                }
                self.check_packet(pc, r, &p, off, i64::from(size))?;
                Ok(Reg::Scalar(Scalar::of_width(size)))
            }
            Reg::Mem {
                kind,
                off: fixed,
                var,
                null_id: None,
                ..
            } => {
                // Atomics need natural alignment; a variable part is left to the VM.
                let at = fixed + off + var.smin;
                if access == Access::Atomic && var.as_const().is_some() && at % i64::from(size) != 0
                {
                    return Err(fail(
                        pc,
                        format!("misaligned value access off {at} size {size}"),
                    ));
                }
                self.check_mem_region(pc, r, kind, fixed + off, var, i64::from(size), write)?;
                Ok(Reg::Scalar(Scalar::of_width(size)))
            }
            Reg::RawMem => Ok(Reg::Scalar(Scalar::of_width(size))),
            _ => Err(fail(pc, format!("R{r} invalid mem access '{ty}'"))),
        }
    }

    /// Records that the function owning `frame` uses the stack down to `lo`.
    pub fn note_stack(&mut self, st: &State, frame: usize, lo: i64) {
        let sub = st.frames[frame].subprog;
        let depth = (-lo).max(0) as u32;
        self.stack_depth[sub] = self.stack_depth[sub].max(depth);
    }

    pub fn check_packet(&self, pc: usize, r: u8, p: &PktPtr, off: i64, size: i64) -> Res<()> {
        if p.var.smin < 0 {
            return Err(fail(
                pc,
                format!("R{r} min value is negative, either use unsigned index or do a if (index >=0) check."),
            ));
        }
        let o = p.off + off;
        if o < 0 || o + size > p.range {
            return Err(fail(
                pc,
                format!(
                    "invalid access to packet, off={o} size={size}, R{r}(id={},off={},r={})",
                    p.id, p.off, p.range
                ),
            ));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    pub fn check_mem_region(
        &self,
        pc: usize,
        r: u8,
        kind: MemKind,
        off: i64,
        var: Scalar,
        size: i64,
        write: bool,
    ) -> Res<()> {
        let (region, readonly, what) = match kind {
            MemKind::MapValue(i) => {
                let m = &self.env.maps[i];
                (i64::from(m.value_size), m.readonly, "map value")
            }
            MemKind::MapKey(i) => (i64::from(self.env.maps[i].key_size), true, "map key"),
            MemKind::Ringbuf(n) => (i64::from(n), false, "memory"),
        };
        if var.smin < 0 {
            return Err(fail(
                pc,
                format!("R{r} min value is negative, either use unsigned index or do a if (index >=0) check."),
            ));
        }
        if var.umax >= MAX_VAR_OFF as u64 {
            return Err(fail(
                pc,
                format!("R{r} unbounded memory access, make sure to bounds check any such access"),
            ));
        }
        let lo = off + var.smin;
        let hi = off + var.umax as i64;
        if lo < 0 || hi + size > region {
            return Err(fail(
                pc,
                format!("invalid access to {what}, value_size={region} off={lo} size={size}"),
            ));
        }
        if write && readonly {
            return Err(fail(
                pc,
                format!("write into map forbidden, value_size={region} off={lo} size={size}"),
            ));
        }
        Ok(())
    }
}

pub fn size_of(insn: Insn) -> u32 {
    match insn.code & 0x18 {
        BPF_B => 1,
        BPF_H => 2,
        BPF_W => 4,
        _ => 8,
    }
}
