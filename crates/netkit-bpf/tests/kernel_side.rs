//! Every corpus object loads into the real kernel through our parser and bpf(2) layer, and
//! runs on every fixture packet with BPF_PROG_TEST_RUN (root; this machine's kernel).

mod common;

use common::kernel;
use netkit_bpf::obj::ObjectFile;

#[test]
fn corpus_loads_and_runs_in_kernel() {
    let name = "corpus_loads_and_runs_in_kernel";
    let Some(objs) = common::corpus(name) else {
        return;
    };
    if !common::is_root() {
        return common::skip(name, "root for bpf(2)");
    }
    let packets = common::packets::fixtures();
    let mut failures = Vec::new();
    let mut runs = 0;
    for (file, bytes) in &objs {
        let obj = ObjectFile::parse(bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        let k = match kernel::load(&obj) {
            Ok(k) => k,
            Err(e) => {
                failures.push(format!("{file}: {e}"));
                continue;
            }
        };
        for p in &obj.programs {
            for (pkt, frame) in &packets {
                match kernel::run(&k, &p.name, frame) {
                    Ok(_) => runs += 1,
                    Err(e) => failures.push(format!("{file} {} {pkt}: {e}", p.name)),
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(runs >= 20 * 10, "only {runs} runs");
}
