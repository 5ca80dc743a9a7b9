//! The interpreter: a verified program, pre-decoded, run on a packet with every memory access
//! checked against the region its pointer names. Nothing a program does can crash the process:
//! a bad access, the instruction budget running out, or calls nested too deep abort the run
//! with an [`Abort`] that callers count as a drop.

pub(crate) mod ctx;
pub(crate) mod decode;
pub(crate) mod exec;
mod machine;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

pub use decode::DecodeError;
pub(crate) use machine::Machine;

use crate::insn::Insn;
use crate::maps::Map;
use crate::skb::Skb;
use crate::trace::TraceLog;
use crate::verifier::{self, ContextKind, MapInfo, VerifyEnv, VerifyError, VerifyOptions};

/// Stack bytes per frame, as the kernel's MAX_BPF_STACK.
pub const STACK_PER_FRAME: usize = 512;
/// Frames: the program plus 7 nested BPF-to-BPF calls or callbacks (MAX_CALL_FRAMES).
pub const MAX_FRAMES: usize = 8;
/// Instructions one run may execute, tail calls and callbacks included (the kernel's
/// BPF_COMPLEXITY_LIMIT_INSNS as a run-time bound).
pub const INSN_BUDGET: u64 = 1_000_000;
/// Tail calls one run may chain (MAX_TAIL_CALL_CNT).
pub const MAX_TAIL_CALLS: u32 = 33;

/// Why a run was aborted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AbortReason {
    #[error("{} of {size} bytes at {addr:#x} outside any region", if *write { "store" } else { "load" })]
    OutOfBounds { addr: u64, size: u32, write: bool },
    #[error("store of {size} bytes at {addr:#x} to read-only memory")]
    ReadOnly { addr: u64, size: u32 },
    #[error("invalid context access at offset {off} size {size}")]
    BadContext { off: u32, size: u32, write: bool },
    #[error("misaligned atomic at {addr:#x}")]
    Misaligned { addr: u64 },
    #[error("instruction budget of {INSN_BUDGET} exhausted")]
    Budget,
    #[error("call depth exceeds {MAX_FRAMES} frames")]
    CallDepth,
    #[error("execution fell off the end of the program")]
    FellOff,
    #[error("jump into the middle of a 16-byte load")]
    Hole,
    #[error("helper {helper}: {what}")]
    HelperArg { helper: u32, what: &'static str },
    #[error("too many map values referenced in one run")]
    TooManyRegions,
}

/// An aborted run: why, and the instruction index that caused it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("insn {insn}: {reason}")]
pub struct Abort {
    pub reason: AbortReason,
    pub insn: usize,
}

/// A run's outcome: the program's r0, or why it was aborted.
pub type RunResult = Result<u64, Abort>;

/// How to run a program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunOptions {
    /// The CPU the run is on; `None` for this thread's slot.
    pub cpu: Option<u32>,
    /// The MTU of the device the packet is on (`bpf_check_mtu`, size limits of
    /// `bpf_skb_change_tail`/`change_head`/`adjust_room`).
    pub mtu: u32,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            cpu: None,
            mtu: 1500,
        }
    }
}

/// A copy of the packet `bpf_clone_redirect` sends (the original continues).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloneRequest {
    pub target: crate::skb::RedirectRequest,
    pub frame: Vec<u8>,
    pub meta: crate::skb::SkbMeta,
}

/// What [`Program::run_with`] produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOutput {
    pub result: RunResult,
    pub clones: Vec<CloneRequest>,
}

/// Runs a callback (bpf_loop, for_each_map_elem) in `frame`; an abort ends the whole run.
pub(crate) fn exec_callback(
    prog: &Program,
    m: &mut Machine,
    entry: usize,
    frame: usize,
    args: [u64; 5],
) -> Result<u64, AbortReason> {
    exec::exec(prog, m, entry, frame, args).map_err(|a| a.reason)
}

/// Why a program could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    #[error("program {prog}: verifier: {err}")]
    Verify { prog: String, err: VerifyError },
    #[error("program {prog}: {err}")]
    Decode { prog: String, err: DecodeError },
    #[error(transparent)]
    Map(#[from] crate::maps::MapCreateError),
    #[error("program {prog}: {msg}")]
    Invalid { prog: String, msg: String },
}

/// Counters of a program's runs (durations are measured by callers).
///
/// Runs are counted in per-CPU-slot shards on separate cache lines, so threads running the
/// same program do not contend on one counter.
#[derive(Debug, Default)]
pub struct RunStats {
    runs: [Shard; STAT_SHARDS],
    aborts: AtomicU64,
}

const STAT_SHARDS: usize = 16;

#[derive(Debug, Default)]
#[repr(align(64))]
struct Shard(AtomicU64);

impl RunStats {
    pub fn runs(&self) -> u64 {
        self.runs.iter().map(|s| s.0.load(Relaxed)).sum()
    }

    pub fn aborts(&self) -> u64 {
        self.aborts.load(Relaxed)
    }

    fn count(&self, r: &RunResult, cpu: u32) {
        self.runs[cpu as usize % STAT_SHARDS]
            .0
            .fetch_add(1, Relaxed);
        if r.is_err() {
            self.aborts.fetch_add(1, Relaxed);
        }
    }
}

/// An executable program: decoded instructions and the maps it references by index.
pub struct Program {
    name: String,
    section: String,
    ops: Box<[decode::Op]>,
    maps: Vec<Arc<Map>>,
    trace: Arc<TraceLog>,
    stats: RunStats,
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("name", &self.name)
            .field("section", &self.section)
            .field("insns", &self.ops.len())
            .finish()
    }
}

pub(crate) fn map_info(m: &Map) -> MapInfo {
    let d = m.def();
    MapInfo {
        map_type: d.map_type,
        key_size: d.key_size,
        value_size: d.value_size,
        max_entries: d.max_entries,
        readonly: d.readonly,
    }
}

impl Program {
    /// Builds a program from raw bytecode whose `ld_imm64` map references (src 1/5: map,
    /// src 2/6: value of element 0) index `maps`. Runs the verifier, then decodes.
    pub fn from_insns(insns: &[Insn], maps: Vec<Arc<Map>>) -> Result<Program, LoadError> {
        let trace = Arc::new(TraceLog::default());
        Program::build("raw", "raw", insns, maps, trace, ContextKind::SkBuff)
    }

    /// Builds a program entered with r1 = a memory buffer and r2 = its length (the
    /// `prog run raw` convention, run with [`Program::run_with_mem`]), verified as such.
    pub fn from_insns_for_memory(
        insns: &[Insn],
        maps: Vec<Arc<Map>>,
    ) -> Result<Program, LoadError> {
        let trace = Arc::new(TraceLog::default());
        Program::build("raw", "raw", insns, maps, trace, ContextKind::RawMemory)
    }

    /// Builds a program from raw bytecode *without* the verifier: only the decoder's checks
    /// (known opcodes, jumps inside the program, known helpers, map indices). For testing
    /// and fuzzing that the VM alone contains untrusted programs: every memory access, the
    /// instruction budget and the call depth are still enforced at run time.
    #[doc(hidden)]
    pub fn from_insns_unverified(
        insns: &[Insn],
        maps: Vec<Arc<Map>>,
    ) -> Result<Program, LoadError> {
        let ops = decode::decode(insns, maps.len()).map_err(|err| LoadError::Decode {
            prog: "raw".to_string(),
            err,
        })?;
        Ok(Program {
            name: "raw".to_string(),
            section: "raw".to_string(),
            ops: ops.into_boxed_slice(),
            maps,
            trace: Arc::new(TraceLog::default()),
            stats: RunStats::default(),
        })
    }

    pub(crate) fn build(
        name: &str,
        section: &str,
        insns: &[Insn],
        maps: Vec<Arc<Map>>,
        trace: Arc<TraceLog>,
        context: ContextKind,
    ) -> Result<Program, LoadError> {
        let infos: Vec<MapInfo> = maps.iter().map(|m| map_info(m)).collect();
        let implemented: Vec<u32> = crate::helpers::NAMES.iter().map(|&(id, _)| id).collect();
        let opts = VerifyOptions {
            context,
            implemented_helpers: Some(&implemented),
            structure_only: false,
        };
        let verified =
            verifier::verify_with(insns, &VerifyEnv { maps: &infos }, &opts).map_err(|err| {
                LoadError::Verify {
                    prog: name.to_string(),
                    err,
                }
            })?;
        let ops =
            decode::decode(verified.insns(), maps.len()).map_err(|err| LoadError::Decode {
                prog: name.to_string(),
                err,
            })?;
        Ok(Program {
            name: name.to_string(),
            section: section.to_string(),
            ops: ops.into_boxed_slice(),
            maps,
            trace,
            stats: RunStats::default(),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn section(&self) -> &str {
        &self.section
    }

    /// Instruction slots (16-byte loads count two).
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    pub fn maps(&self) -> &[Arc<Map>] {
        &self.maps
    }

    pub fn stats(&self) -> &RunStats {
        &self.stats
    }

    /// `bpf_trace_printk` output of this program (shared by an object's programs).
    pub fn trace_log(&self) -> &Arc<TraceLog> {
        &self.trace
    }

    /// Runs on `skb` as a SCHED_CLS program on this thread's CPU slot, device MTU 1500.
    pub fn run(&self, skb: &mut Skb) -> RunResult {
        self.run_with(skb, &RunOptions::default()).result
    }

    /// Runs on `skb` as if on `cpu` (which per-CPU map values and `get_smp_processor_id`
    /// see; taken modulo [`num_cpus`]).
    pub fn run_on_cpu(&self, skb: &mut Skb, cpu: u32) -> RunResult {
        let opts = RunOptions {
            cpu: Some(cpu),
            ..RunOptions::default()
        };
        self.run_with(skb, &opts).result
    }

    /// Runs on `skb` with explicit options; returns the result and the clones the program
    /// asked for with `bpf_clone_redirect`.
    pub fn run_with(&self, skb: &mut Skb, opts: &RunOptions) -> RunOutput {
        let (result, clones, cpu) = Machine::with(skb, opts, false, |m| {
            let ctx = crate::mem::make_ptr(crate::mem::kind::CTX, 0, 0);
            let r = exec::exec(self, m, 0, 0, [ctx, 0, 0, 0, 0]);
            m.finish();
            (r, std::mem::take(&mut m.clones), m.cpu)
        });
        self.stats.count(&result, cpu);
        RunOutput { result, clones }
    }

    /// Runs with r1 = a pointer to `mem` (writable, bounded) and r2 = its length, the
    /// `prog run raw` convention; no packet context (helpers needing one fail).
    pub fn run_with_mem(&self, mem: &mut Vec<u8>) -> RunResult {
        let mut skb = Skb {
            buf: std::mem::take(mem),
            head: 0,
            meta: Default::default(),
            redirect: None,
        };
        let len = skb.buf.len() as u64;
        let opts = RunOptions {
            cpu: Some(0),
            ..RunOptions::default()
        };
        let r = Machine::with(&mut skb, &opts, true, |m| {
            let p = if len == 0 { 0 } else { ctx::pkt_ptr(0, 0) };
            let r = exec::exec(self, m, 0, 0, [p, len, 0, 0, 0]);
            m.finish();
            r
        });
        *mem = skb.buf;
        self.stats.count(&r, 0);
        r
    }
}
