//! Every corpus object loads into the real kernel through our parser and bpf(2) layer, and
//! runs on every fixture packet with BPF_PROG_TEST_RUN (root; this machine's kernel).

mod harness;

use harness::kernel;
use netkit_bpf::obj::ObjectFile;

#[test]
fn corpus_loads_and_runs_in_kernel() {
    let name = "corpus_loads_and_runs_in_kernel";
    let Some(objs) = harness::corpus(name) else {
        return;
    };
    if !harness::is_root() {
        return harness::skip(name, "root for bpf(2)");
    }
    let packets = harness::packets::fixtures();
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

fn load_kernel(stem: &str) -> Option<(ObjectFile, netkit_kernel::bpf::KernelObject)> {
    let objs = harness::corpus(stem)?;
    if !harness::is_root() {
        harness::skip(stem, "root for bpf(2)");
        return None;
    }
    let (_, bytes) = objs.iter().find(|(s, _)| s == stem).expect("corpus object");
    let obj = ObjectFile::parse(bytes).expect("parses");
    let k = kernel::load(&obj).expect("loads");
    Some((obj, k))
}

fn fixture(name: &str) -> Vec<u8> {
    harness::packets::fixtures()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| f)
        .expect("fixture")
}

/// The fixtures' checksums are right, and the kernel's NAT through our loader keeps them right.
#[test]
fn nat44_in_kernel_rewrites_source_with_valid_checksums() {
    for variant in ["nat44.v3", "nat44.v4"] {
        let Some((_, k)) = load_kernel(variant) else {
            return;
        };
        for pkt in ["ipv4_tcp", "ipv4_udp", "ipv4_icmp", "jumbo_udp"] {
            let frame = fixture(pkt);
            assert!(harness::packets::ipv4_checksums_ok(&frame), "fixture {pkt}");
            let out = kernel::run(&k, "nat44", &frame).expect("test run");
            assert_eq!(out.retval, 0, "{variant} {pkt}");
            assert_eq!(out.data_out[26..30], [192, 168, 100, 1], "{variant} {pkt}");
            assert!(
                harness::packets::ipv4_checksums_ok(&out.data_out),
                "{variant} {pkt}"
            );
        }
    }
}

/// Global data is wired through our relocations: the self-chaining tail call runs 1 + 33
/// times per packet (the kernel's limit), counted in `.bss`.
#[test]
fn tail_call_chain_stops_at_kernel_limit() {
    let Some((_, k)) = load_kernel("tail_calls.v4") else {
        return;
    };
    let out = kernel::run(&k, "tail_0", &fixture("ipv4_icmp")).expect("test run");
    assert_eq!(out.retval, 40);
    let bss = &out.maps.iter().find(|(n, _)| n == ".bss").expect(".bss").1[0].1;
    assert_eq!(u32::from_le_bytes(bss[..4].try_into().unwrap()), 34);
}
