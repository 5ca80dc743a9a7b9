//! The engine half of the comparison: the same object loaded into our engine, prog arrays
//! filled the same way, packets run on the skb BPF_PROG_TEST_RUN would build, maps dumped in
//! the kernel half's format.

use std::sync::Arc;

use netkit_bpf::obj::{MapType, ObjectFile};
use netkit_bpf::skb::Skb;
use netkit_bpf::{LoadedObject, Program, RunOptions};

use super::kernel::{self, MapDump, Outcome};

/// The loopback device's MTU, which test runs in the kernel see (`bpf_check_mtu`, size
/// limits of the length-changing helpers).
const LOOPBACK_MTU: u32 = 65536;

pub struct EngineObject {
    obj: LoadedObject,
}

/// The skb a test run builds from `frame` with the common ctx_in.
pub fn test_run_skb(frame: &[u8]) -> Skb {
    Skb::for_test_run(frame, Some(&kernel::ctx_in())).expect("fixture accepted by test run")
}

fn options() -> RunOptions {
    RunOptions {
        cpu: Some(0),
        mtu: LOOPBACK_MTU,
    }
}

impl EngineObject {
    pub fn load(spec: &ObjectFile) -> Result<EngineObject, String> {
        let obj = LoadedObject::load(spec).map_err(|e| e.to_string())?;
        for (mi, slot, name) in kernel::tail_slots(spec) {
            let prog = obj.program(&name).ok_or(format!("no program {name}"))?;
            obj.maps()[mi]
                .set_prog(slot, Some(Arc::clone(prog)))
                .map_err(|e| format!("prog array slot {slot}: {e}"))?;
        }
        Ok(EngineObject { obj })
    }

    fn program(&self, name: &str) -> Option<&Arc<Program>> {
        self.obj.program(name)
    }

    /// One run on `skb` as is (for the benchmark); `None` when there is no such program.
    pub fn run_raw(&self, name: &str, skb: &mut Skb) -> Option<u64> {
        let out = self.program(name)?.run_with(skb, &options());
        Some(out.result.unwrap_or(0))
    }

    /// One run on a fresh test-run skb of `frame`; an abort is an error naming the
    /// instruction (the kernel verifier would not have let such a program load).
    pub fn run(&self, name: &str, frame: &[u8]) -> Result<Outcome, String> {
        let prog = self.program(name).ok_or(format!("no program {name}"))?;
        let ctx = kernel::ctx_in();
        let mut skb = Skb::for_test_run(frame, Some(&ctx)).map_err(|e| e.to_string())?;
        let r0 = prog
            .run_with(&mut skb, &options())
            .result
            .map_err(|a| format!("aborted: {a}"))?;
        Ok(Outcome {
            retval: r0 as u32,
            data_out: skb.data().to_vec(),
            ctx_out: skb.test_run_ctx_out(Some(&ctx)).to_vec(),
            maps: self.dump_maps(),
        })
    }

    fn dump_maps(&self) -> Vec<(String, MapDump)> {
        let mut out = Vec::new();
        for m in self.obj.maps() {
            let def = m.def();
            if matches!(
                def.map_type,
                MapType::ProgArray | MapType::RingBuf | MapType::PerfEventArray
            ) {
                continue;
            }
            let percpu = matches!(def.map_type, MapType::PercpuArray | MapType::PercpuHash);
            let mut dump = Vec::new();
            for key in m.keys() {
                let Ok(val) = m.lookup(&key) else { continue };
                let value = if percpu {
                    let slot = (def.value_size as usize).div_ceil(8) * 8;
                    kernel::sum_cpus(&val, slot, def.value_size as usize)
                } else {
                    val
                };
                dump.push((key, value));
            }
            dump.sort();
            out.push((m.name().to_string(), dump));
        }
        out
    }
}
