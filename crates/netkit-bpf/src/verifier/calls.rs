//! Calls: helper calls checked against their prototypes, BPF-to-BPF calls and callbacks
//! (frames), exits, and the static call-graph rules (depth, combined stack, tail calls).

use super::cfg::Cfg;
use super::exec::{fail, Access, Explorer, Path, Step};
use super::helpers::{self, Arg, Maps, Proto, Ret};
use super::scalar::Scalar;
use super::state::{Frame, MemKind, Reg, State};
use super::{VerifyError, MAX_CALL_FRAMES};
use crate::insn::*;

type Res<T> = Result<T, VerifyError>;

/// Sizes beyond this are unbounded for the kernel (`BPF_MAX_VAR_SIZ`).
const MAX_VAR_SIZE: u64 = 1 << 29;
/// Frames below a function that tail-calls may use at most this much stack.
const TAIL_CALL_STACK_LIMIT: u32 = 256;

/// Helper ids that take a callback, and what the callback's arguments are.
const LOOP: u32 = 181;
const FOR_EACH_MAP_ELEM: u32 = 164;
const TAIL_CALL: u32 = 12;

impl Explorer<'_> {
    pub fn call(&mut self, path: &mut Path, insn: Insn) -> Res<Step> {
        let pc = path.pc;
        if insn.src == BPF_PSEUDO_CALL {
            let target = (pc as i64 + i64::from(insn.imm) + 1) as usize;
            let callee = self.cfg.subprog_of(target);
            self.push_frame(&mut path.state, callee, pc + 1, pc)?;
            let st = &mut path.state;
            let n = st.frames.len();
            for r in 1..=5 {
                st.frames[n - 1].regs[r] = st.frames[n - 2].regs[r];
            }
            return Ok(Step::Next(target));
        }
        let id = insn.imm as u32;
        let proto = helpers::proto(id).ok_or_else(|| fail(pc, helpers::unavailable(id)))?;
        let implemented = match self.opts.implemented_helpers {
            Some(list) => list.contains(&id),
            None => crate::helpers::name(id).is_some(),
        };
        if !implemented {
            return Err(fail(
                pc,
                format!(
                    "helper bpf_{}#{id} is not supported by this engine",
                    proto.name
                ),
            ));
        }
        self.helper_call(path, proto)
    }

    fn push_frame(&mut self, st: &mut State, callee: usize, ret_to: usize, pc: usize) -> Res<()> {
        if st.frames.len() >= MAX_CALL_FRAMES {
            return Err(fail(
                pc,
                format!(
                    "the call stack of {} frames is too deep !",
                    st.frames.len() + 1
                ),
            ));
        }
        let n = st.frames.len();
        st.frames.push(Frame::new(callee, Some(ret_to), n));
        Ok(())
    }

    fn helper_call(&mut self, path: &mut Path, proto: &Proto) -> Res<Step> {
        let pc = path.pc;
        let mut map: Option<usize> = None;
        let mut pending_mem: Option<(u8, Reg, bool, bool)> = None;
        let mut alloc_size = 0u32;
        let mut func: Option<usize> = None;
        let mut released: Option<u32> = None;
        for (i, arg) in proto.args.iter().enumerate() {
            let r = i as u8 + 1;
            let reg = self.read(&path.state, r, pc)?;
            let ty = reg.type_name();
            let expected = |what: &str| fail(pc, format!("R{r} type={ty} expected={what}"));
            match arg {
                Arg::Anything => {}
                Arg::Ctx => {
                    if !matches!(reg, Reg::Ctx { off: 0, var: false } | Reg::RawMem) {
                        return Err(expected("ctx"));
                    }
                }
                Arg::MapPtr => {
                    let Reg::MapPtr(m) = reg else {
                        return Err(expected("map_ptr"));
                    };
                    let t = self.env.maps[m].map_type;
                    let allowed = proto.maps.is_some_and(|want| want.accepts(t))
                        && Maps::for_map(t).is_none_or(|only| Some(only) == proto.maps);
                    if !allowed {
                        return Err(fail(
                            pc,
                            format!(
                                "cannot pass map_type {} into func bpf_{}#{}",
                                t.raw(),
                                proto.name,
                                proto.id
                            ),
                        ));
                    }
                    map = Some(m);
                }
                Arg::MapKey | Arg::MapValue | Arg::MapValueOut => {
                    let m = &self.env.maps[map.expect("map argument precedes")];
                    let size = if *arg == Arg::MapKey {
                        m.key_size
                    } else {
                        m.value_size
                    };
                    let access = if *arg == Arg::MapValueOut {
                        Access::Write
                    } else {
                        Access::Read
                    };
                    self.helper_mem(&mut path.state, pc, r, reg, i64::from(size), access)?;
                }
                Arg::MemIn | Arg::MemInOrNull | Arg::MemOut => {
                    pending_mem = Some((r, reg, *arg == Arg::MemOut, *arg == Arg::MemInOrNull));
                }
                Arg::Size | Arg::SizeOrZero => {
                    let Reg::Scalar(s) = reg else {
                        return Err(expected("scalar"));
                    };
                    let (mr, mreg, write, nullable) =
                        pending_mem.take().expect("memory precedes size");
                    if s.smin < 0 {
                        return Err(fail(
                            pc,
                            format!(
                                "R{r} min value is negative, either use unsigned or 'var &= const'"
                            ),
                        ));
                    }
                    if s.umax >= MAX_VAR_SIZE {
                        return Err(fail(pc, format!("R{r} unbounded memory access, use 'var &= const' or 'if (var < const)'")));
                    }
                    if s.umin == 0 && *arg == Arg::Size {
                        return Err(fail(
                            pc,
                            format!("R{r} invalid zero-sized read: u64=[{},{}]", s.umin, s.umax),
                        ));
                    }
                    let is_null = matches!(mreg, Reg::Scalar(z) if z.as_const() == Some(0));
                    if nullable && is_null {
                        if s.umax != 0 {
                            return Err(fail(
                                pc,
                                format!("R{mr} type=scalar expected=fp, pkt, map_value, mem"),
                            ));
                        }
                        continue;
                    }
                    if s.umax == 0 {
                        continue;
                    }
                    let access = if write { Access::Write } else { Access::Read };
                    self.helper_mem(&mut path.state, pc, mr, mreg, s.umax as i64, access)?;
                }
                Arg::AllocSize => {
                    let Reg::Scalar(s) = reg else {
                        return Err(expected("scalar"));
                    };
                    let Some(v) = s.as_const() else {
                        return Err(fail(pc, format!("R{r} is not a known constant")));
                    };
                    if v == 0 || v >= MAX_VAR_SIZE {
                        return Err(fail(pc, format!("R{r} invalid size {v}")));
                    }
                    alloc_size = v as u32;
                }
                Arg::IntOut => {
                    self.helper_mem(&mut path.state, pc, r, reg, 4, Access::Write)?;
                }
                Arg::Func => {
                    let Reg::Func(f) = reg else {
                        return Err(expected("func"));
                    };
                    func = Some(f);
                }
                Arg::RingbufRecord => {
                    let Reg::Mem {
                        kind: MemKind::Ringbuf(_),
                        off: 0,
                        null_id: None,
                        ref_id: Some(rid),
                        var,
                    } = reg
                    else {
                        return Err(expected("ringbuf_mem"));
                    };
                    if var.as_const() != Some(0) {
                        return Err(expected("ringbuf_mem"));
                    }
                    released = Some(rid);
                }
                Arg::StackOrNull => {
                    let ok = matches!(reg, Reg::Stack { .. })
                        || matches!(reg, Reg::Scalar(z) if z.as_const() == Some(0));
                    if !ok {
                        return Err(expected("fp"));
                    }
                }
            }
        }
        let st = &mut path.state;
        if let Some(rid) = released {
            st.refs.retain(|(i, _)| *i != rid);
            st.for_each_reg(|reg| {
                if matches!(reg, Reg::Mem { ref_id: Some(i), .. } if *i == rid) {
                    *reg = Reg::unknown();
                }
            });
        }
        if proto.changes_pkt {
            // Root keeps stale packet pointers as numbers; dereferencing them fails.
            st.for_each_reg(|reg| {
                if matches!(reg, Reg::Packet(_) | Reg::PacketMeta(_)) {
                    *reg = Reg::unknown();
                }
            });
        }
        if proto.id == TAIL_CALL {
            let sub = st.cur().subprog;
            self.has_tail_call[sub] = true;
        }
        let r0 = match proto.ret {
            Ret::Integer => Reg::unknown(),
            Ret::Void => Reg::Uninit,
            Ret::MapValueOrNull => Reg::Mem {
                kind: MemKind::MapValue(map.expect("lookup has a map")),
                off: 0,
                var: Scalar::constant(0),
                null_id: Some(self.fresh_id()),
                ref_id: None,
            },
            Ret::RingbufOrNull => {
                let rid = self.fresh_id();
                path.state.refs.push((rid, pc));
                Reg::Mem {
                    kind: MemKind::Ringbuf(alloc_size),
                    off: 0,
                    var: Scalar::constant(0),
                    null_id: Some(self.fresh_id()),
                    ref_id: Some(rid),
                }
            }
        };
        let st = &mut path.state;
        let frame = st.cur_mut();
        let args: [Reg; 6] = std::array::from_fn(|i| frame.regs[i]);
        for r in 1..=5 {
            frame.regs[r] = Reg::Uninit;
        }
        frame.regs[0] = r0;
        if let Some(f) = func {
            return self.enter_callback(path, proto.id, f, map, &args);
        }
        Ok(Step::Next(pc + 1))
    }

    /// Checks that `reg` points to `size` accessible bytes for a helper.
    fn helper_mem(
        &mut self,
        st: &mut State,
        pc: usize,
        r: u8,
        reg: Reg,
        size: i64,
        access: Access,
    ) -> Res<()> {
        match reg {
            Reg::Stack { frame, off, var } => {
                let bound = MAX_VAR_SIZE as i64;
                if var.smin < -bound || var.smax > bound {
                    return Err(fail(
                        pc,
                        format!("R{r} unbounded indirect variable offset stack access"),
                    ));
                }
                let lo = off + var.smin;
                let hi = off + var.smax + size;
                if lo < -super::state::STACK_SIZE || hi > 0 {
                    return Err(fail(
                        pc,
                        format!("invalid indirect access to stack R{r} off={lo} size={size}"),
                    ));
                }
                self.note_stack(st, frame, lo);
                if access != Access::Read {
                    st.frames[frame].stack_clobber(lo, (hi - lo) as u32);
                }
                Ok(())
            }
            Reg::Packet(p) | Reg::PacketMeta(p) => self.check_packet(pc, r, &p, 0, size),
            Reg::Mem {
                kind,
                off,
                var,
                null_id: None,
                ..
            } => self.check_mem_region(pc, r, kind, off, var, size, access != Access::Read),
            Reg::RawMem => Ok(()),
            _ => Err(fail(
                pc,
                format!(
                    "R{r} type={} expected=fp, pkt, pkt_meta, map_value, mem",
                    reg.type_name()
                ),
            )),
        }
    }

    /// `bpf_loop` / `bpf_for_each_map_elem`: the callback runs in a new frame with the
    /// arguments the helper passes; the call may also run it zero times.
    fn enter_callback(
        &mut self,
        path: &mut Path,
        helper: u32,
        func: usize,
        map: Option<usize>,
        args: &[Reg; 6],
    ) -> Res<Step> {
        let pc = path.pc;
        let skipped = path.state.clone();
        self.push_branch(path, pc + 1, skipped)?;
        let st = &mut path.state;
        st.cur_mut().regs[0] = Reg::Uninit;
        self.push_frame(st, func, pc + 1, pc)?;
        let frame = st.cur_mut();
        if helper == LOOP {
            frame.regs[1] = Reg::Scalar(Scalar::of_width(4));
            frame.regs[2] = args[3];
        } else {
            debug_assert_eq!(helper, FOR_EACH_MAP_ELEM);
            let m = map.expect("for_each has a map");
            let mem = |kind| Reg::Mem {
                kind,
                off: 0,
                var: Scalar::constant(0),
                null_id: None,
                ref_id: None,
            };
            frame.regs[1] = Reg::MapPtr(m);
            frame.regs[2] = mem(MemKind::MapKey(m));
            frame.regs[3] = mem(MemKind::MapValue(m));
            frame.regs[4] = args[3];
        }
        frame.callback = Some(std::array::from_fn(|i| frame.regs[i + 1]));
        Ok(Step::Next(self.cfg.subprogs[func]))
    }

    pub fn exit(&mut self, path: &mut Path) -> Res<Step> {
        let pc = path.pc;
        let r0 = self.read(&path.state, 0, pc)?;
        if path.state.frames.len() == 1 {
            if let Some((id, at)) = path.state.refs.first() {
                return Err(fail(
                    pc,
                    format!("Unreleased reference id={id} alloc_insn={at}"),
                ));
            }
            return Ok(Step::End);
        }
        let depth = path.state.frames.len() - 1;
        if matches!(r0, Reg::Stack { frame, .. } if frame >= depth) {
            return Err(fail(pc, "cannot return stack pointer to the caller"));
        }
        let callback = path.state.cur().callback;
        if let Some(args) = callback {
            if !matches!(r0, Reg::Scalar(s) if s.umax <= 1) {
                return Err(fail(
                    pc,
                    "At callback return the register R0 should have been in [0, 1]",
                ));
            }
            // The helper may call the callback again, with what this call left in the
            // caller's frames: explore that too, widened so that the iterations converge.
            let mut again = path.state.clone();
            let callee = again.frames.pop().expect("callback frame");
            for f in &mut again.frames {
                f.widen_stack_scalars();
            }
            let mut frame = Frame::new(callee.subprog, callee.ret_to, depth);
            frame.regs[1..6].copy_from_slice(&args);
            frame.callback = Some(args);
            again.frames.push(frame);
            let entry = self.cfg.subprogs[callee.subprog];
            self.push_branch(path, entry, again)?;
        }
        let st = &mut path.state;
        let callee = st.frames.pop().expect("more than one frame");
        let ret_to = callee.ret_to.expect("callee frames know their return");
        let r0 = if callback.is_some() {
            Reg::unknown()
        } else {
            r0
        };
        // Pointers into the popped frame's stack are dangling now.
        st.for_each_reg(|reg| {
            if matches!(reg, Reg::Stack { frame, .. } if *frame >= depth) {
                *reg = Reg::unknown();
            }
        });
        let frame = st.cur_mut();
        for r in 1..=5 {
            frame.regs[r] = Reg::Uninit;
        }
        frame.regs[0] = r0;
        Ok(Step::Next(ret_to))
    }
}

/// Static call-graph rules, as the kernel's `check_max_stack_depth`: at most 8 frames on
/// any chain (so no recursion), at most 512 bytes of stack along any chain, and no tail call
/// under frames that already use 256 bytes.
pub fn check_call_graph(insns: &[Insn], cfg: &Cfg, depth: &[u32], tail: &[bool]) -> Res<()> {
    let n = cfg.subprogs.len();
    let mut callees: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for (pc, insn) in insns.iter().enumerate() {
        if insn.code == BPF_JMP | BPF_CALL && insn.src == BPF_PSEUDO_CALL && !cfg.ld_second[pc] {
            let target = (pc as i64 + i64::from(insn.imm) + 1) as usize;
            callees[cfg.subprog_of(pc)].push((pc, cfg.subprog_of(target)));
        }
    }
    // Rounded as the JIT lays frames out.
    let frame_size = |s: usize| depth[s].div_ceil(16) * 16;
    // Depth-first over call chains from the entry.
    let mut chain: Vec<(usize, usize)> = vec![(0, 0)];
    let mut total = frame_size(0);
    while let Some(top) = chain.last_mut() {
        let (sub, next) = *top;
        if next < callees[sub].len() {
            top.1 += 1;
            let (pc, callee) = callees[sub][next];
            if chain.len() >= MAX_CALL_FRAMES {
                return Err(fail(
                    pc,
                    format!("the call stack of {} frames is too deep !", chain.len() + 1),
                ));
            }
            if tail[callee] && total >= TAIL_CALL_STACK_LIMIT {
                return Err(fail(
                    pc,
                    format!("tail_calls are not allowed when call stack of previous frames is {total} bytes. Too large"),
                ));
            }
            total += frame_size(callee);
            if total > super::state::STACK_SIZE as u32 {
                return Err(fail(
                    pc,
                    format!(
                        "combined stack size of {} calls is {total}. Too large",
                        chain.len() + 1
                    ),
                ));
            }
            chain.push((callee, 0));
        } else {
            total -= frame_size(sub);
            chain.pop();
        }
    }
    Ok(())
}
