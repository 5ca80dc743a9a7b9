//! Parser tests on the clang-built corpus (tests/corpus, built here with make + clang-19) and
//! on corrupted copies of it.

use super::*;
use crate::insn::{Insn, BPF_CALL, BPF_DW, BPF_IMM, BPF_JMP, BPF_LD, BPF_PSEUDO_CALL};

/// The corpus objects as (stem, bytes), or `None` after reporting when clang-19/make is absent.
fn corpus(test: &str) -> Option<Vec<(String, Vec<u8>)>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let ok = std::process::Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(&dir)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var("NETKIT_REQUIRE_PRIVILEGED").is_ok_and(|v| v == "1") {
            panic!("{test}: building the corpus needs make and clang-19");
        }
        eprintln!("SKIP {test}: needs make and clang-19 to build the corpus");
        return None;
    }
    let mut out: Vec<_> = std::fs::read_dir(dir.join("build"))
        .expect("corpus build dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "o"))
        .map(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            (stem, std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    Some(out)
}

fn object(objs: &[(String, Vec<u8>)], stem: &str) -> ObjectFile {
    let (_, bytes) = objs.iter().find(|(s, _)| s == stem).expect(stem);
    ObjectFile::parse(bytes).unwrap_or_else(|e| panic!("{stem}: {e}"))
}

const LD_IMM64: u8 = BPF_LD | BPF_IMM | BPF_DW;

/// Checks the linking invariants of one program: every call and subprogram address lands
/// inside the program, every map reference names a map of the object.
fn check_linked(obj: &ObjectFile, p: &ProgramSpec) {
    let insns: Vec<Insn> = p.insns.iter().map(|&r| Insn::from_raw(r)).collect();
    let mut i = 0;
    while i < insns.len() {
        let insn = insns[i];
        if insn.code == BPF_JMP | BPF_CALL && insn.src == BPF_PSEUDO_CALL
            || insn.code == LD_IMM64 && insn.src == PSEUDO_FUNC
        {
            let target = i as i64 + 1 + i64::from(insn.imm);
            assert!(
                (0..insns.len() as i64).contains(&target),
                "{}: insn {i} targets {target} outside {} insns",
                p.name,
                insns.len()
            );
            if !p.func_info.is_empty() {
                assert!(
                    p.func_info.iter().any(|f| i64::from(f.insn_off) == target),
                    "{}: call target {target} starts no function",
                    p.name
                );
            }
        }
        if insn.code == LD_IMM64 {
            if insn.src == PSEUDO_MAP_IDX || insn.src == PSEUDO_MAP_IDX_VALUE {
                let map = &obj.maps[insn.imm as usize];
                if insn.src == PSEUDO_MAP_IDX_VALUE {
                    let off = Insn::from_raw(p.insns[i + 1]).imm;
                    assert!(
                        off >= 0 && (off as u32) < map.value_size,
                        "{}: offset",
                        p.name
                    );
                }
            }
            i += 2;
        } else {
            i += 1;
        }
    }
}

#[test]
fn every_corpus_object_parses_and_links() {
    let Some(objs) = corpus("every_corpus_object_parses_and_links") else {
        return;
    };
    assert!(objs.len() >= 40, "{} objects", objs.len());
    for (stem, bytes) in &objs {
        let obj = ObjectFile::parse(bytes).unwrap_or_else(|e| panic!("{stem}: {e}"));
        assert_eq!(obj.license, "GPL", "{stem}");
        assert!(!obj.programs.is_empty(), "{stem}");
        assert!(obj.btf.is_some(), "{stem}");
        for p in &obj.programs {
            check_linked(&obj, p);
            assert_eq!(
                p.func_info.first().map(|f| f.insn_off),
                Some(0),
                "{stem} {}",
                p.name
            );
        }
    }
}

#[test]
fn sections_and_attach_types() {
    let Some(objs) = corpus("sections_and_attach_types") else {
        return;
    };
    let encap = object(&objs, "encap_ipip.v4");
    let names: Vec<_> = encap
        .programs
        .iter()
        .map(|p| (p.name.as_str(), p.section.as_str(), p.expected_attach))
        .collect();
    assert_eq!(
        names,
        [
            ("encap_ipip", "tcx/egress", ExpectedAttach::TcxEgress),
            ("shrink_room", "tcx/ingress", ExpectedAttach::TcxIngress)
        ]
    );
    let lpm = object(&objs, "lpm_route.v3");
    assert_eq!(
        lpm.programs[0].expected_attach,
        ExpectedAttach::NetkitPrimary
    );
    let gd = object(&objs, "global_data.v3");
    assert_eq!(gd.programs[0].expected_attach, ExpectedAttach::NetkitPeer);
    assert_eq!(gd.programs[0].expected_attach.raw(), 55);
    // Four programs in one section, split by symbol, in offset order.
    let tail = object(&objs, "tail_calls.v4");
    let names: Vec<_> = tail.programs.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["tail_0", "tail_1", "tail_2", "dispatch"]);
    assert!(tail.programs.iter().all(|p| p.section == "tc"));
    assert_eq!(program_section("classifier/x"), Some(ExpectedAttach::None));
    assert_eq!(
        program_section("tc/egress"),
        Some(ExpectedAttach::TcxEgress)
    );
    assert_eq!(program_section("xdp"), None);
}

#[test]
fn btf_legacy_and_data_maps() {
    let Some(objs) = corpus("btf_legacy_and_data_maps") else {
        return;
    };
    let fh = object(&objs, "flow_hash.v3");
    let flows = &fh.maps[fh.map_index("flows").unwrap()];
    assert_eq!(
        (
            flows.map_type,
            flows.key_size,
            flows.value_size,
            flows.max_entries
        ),
        (MapType::Hash, 16, 8, 4)
    );
    assert_eq!(flows.origin, MapOrigin::Btf);
    let pch = &fh.maps[fh.map_index("bytes_by_proto").unwrap()];
    assert_eq!(
        (pch.map_type, pch.key_size, pch.max_entries),
        (MapType::PercpuHash, 4, 16)
    );

    let rb = object(&objs, "ringbuf_perf.v4");
    let events = &rb.maps[rb.map_index("events").unwrap()];
    assert_eq!(
        (events.map_type, events.max_entries, events.key_size),
        (MapType::RingBuf, 4096, 0)
    );
    let perf = &rb.maps[rb.map_index("perf").unwrap()];
    assert_eq!(
        (
            perf.map_type,
            perf.key_size,
            perf.value_size,
            perf.max_entries
        ),
        (MapType::PerfEventArray, 4, 4, 0)
    );

    let lpm = object(&objs, "lpm_route.v4");
    let routes = &lpm.maps[lpm.map_index("routes").unwrap()];
    assert_eq!(
        (routes.map_type, routes.key_size, routes.map_flags),
        (MapType::LpmTrie, 8, 1)
    );

    let legacy = object(&objs, "legacy_maps.v3");
    let lc = &legacy.maps[legacy.map_index("legacy_counts").unwrap()];
    assert_eq!(
        (
            lc.origin,
            lc.map_type,
            lc.key_size,
            lc.value_size,
            lc.max_entries
        ),
        (MapOrigin::Legacy, MapType::Array, 4, 8, 4)
    );

    let gd = object(&objs, "global_data.v4");
    let data = &gd.maps[gd.map_index(".data").unwrap()];
    assert_eq!(data.origin, MapOrigin::Data);
    assert_eq!(
        data.initial_value.as_deref(),
        Some(&100u64.to_le_bytes()[..])
    );
    let bss = &gd.maps[gd.map_index(".bss").unwrap()];
    assert_eq!(bss.value_size, 24);
    assert!(bss.initial_value.as_ref().unwrap().iter().all(|&b| b == 0));
    let ro = &gd.maps[gd.map_index(".rodata").unwrap()];
    assert_eq!(
        (ro.origin, ro.map_flags),
        (MapOrigin::Rodata, BPF_F_RDONLY_PROG)
    );
    let ro_bytes = ro.initial_value.as_ref().unwrap();
    assert!(ro_bytes.windows(4).any(|w| w == 0xc0ffeeu32.to_le_bytes()));
    assert!(ro_bytes.windows(8).any(|w| w == [3, 1, 4, 1, 5, 9, 2, 6]));
    let strs = &gd.maps[gd.map_index(".rodata.str1.1").unwrap()];
    assert_eq!(strs.origin, MapOrigin::Rodata);
    assert!(strs
        .initial_value
        .as_ref()
        .unwrap()
        .starts_with(b"netkit-corpus"));
    // The program reaches .rodata.str1.1 through a value load at the string's offset.
    let idx = gd.map_index(".rodata.str1.1").unwrap() as i32;
    let insns = &gd.programs[0].insns;
    assert!(insns.iter().enumerate().any(|(i, &r)| {
        let insn = Insn::from_raw(r);
        insn.code == LD_IMM64
            && insn.src == PSEUDO_MAP_IDX_VALUE
            && insn.imm == idx
            && Insn::from_raw(insns[i + 1]).imm == 0
    }));
}

#[test]
fn subprograms_are_appended_and_calls_fixed() {
    let Some(objs) = corpus("subprograms_are_appended_and_calls_fixed") else {
        return;
    };
    let b = object(&objs, "bpf2bpf.v3");
    for p in &b.programs {
        // Entry, fold, sum_bytes, mix (.text) and the static helper of section "tc".
        assert_eq!(p.func_info.len(), 5, "{}: {:?}", p.name, p.func_info);
        let calls = p
            .insns
            .iter()
            .filter(|&&r| {
                let i = Insn::from_raw(r);
                i.code == BPF_JMP | BPF_CALL && i.src == BPF_PSEUDO_CALL
            })
            .count();
        assert!(calls >= 4, "{}: {calls} calls", p.name);
    }
    // The bpf_loop callback is loaded as a subprogram address inside the program.
    let loops = object(&objs, "loops.v4");
    let p = loops.program("with_bpf_loop").unwrap();
    let funcs: Vec<_> = p.insns.iter().map(|&r| Insn::from_raw(r)).collect();
    let (at, ld) = funcs
        .iter()
        .enumerate()
        .find(|(_, i)| i.code == LD_IMM64 && i.src == PSEUDO_FUNC)
        .expect("PSEUDO_FUNC load");
    let target = (at as i64 + 1 + i64::from(ld.imm)) as u32;
    assert_eq!(p.func_info.len(), 2);
    assert_eq!(p.func_info[1].insn_off, target);
}

#[test]
fn malformed_headers_are_errors() {
    assert_eq!(
        ObjectFile::parse(b""),
        Err(ObjError::Truncated("ELF header".into()))
    );
    assert_eq!(ObjectFile::parse(&[0u8; 64]), Err(ObjError::NotElf));
    let mut hdr = vec![0u8; 64];
    hdr[..4].copy_from_slice(b"\x7fELF");
    hdr[4] = 1; // 32-bit
    hdr[5] = 1;
    assert!(matches!(
        ObjectFile::parse(&hdr),
        Err(ObjError::Unsupported(_))
    ));
    hdr[4] = 2;
    hdr[18] = 62; // x86-64
    let err = ObjectFile::parse(&hdr).unwrap_err();
    assert!(err.to_string().contains("not BPF"), "{err}");
}

#[test]
fn errors_name_the_culprit() {
    let Some(objs) = corpus("errors_name_the_culprit") else {
        return;
    };
    let (_, bytes) = objs.iter().find(|(s, _)| s == "parse_count.v3").unwrap();
    // Rename the program section to one that is not SCHED_CLS. "tc" shares its bytes with
    // ".reltc" in the string table, so both change.
    let mut bad = bytes.clone();
    let pos = bad
        .windows(7)
        .position(|w| w == b".reltc\0")
        .expect("section name '.reltc' in the string table");
    bad[pos + 4..pos + 6].copy_from_slice(b"xd");
    let err = ObjectFile::parse(&bad).unwrap_err();
    assert!(err.to_string().contains("'xd'"), "{err}");
}

/// A tiny deterministic generator (xorshift) so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn corrupted_objects_never_panic() {
    let Some(objs) = corpus("corrupted_objects_never_panic") else {
        return;
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let extremes: [u64; 6] = [
        0,
        1,
        0x7fff_ffff,
        0xffff_ffff,
        u64::MAX,
        0x8000_0000_0000_0000,
    ];
    let mut errors = 0usize;
    let mut total = 0usize;
    for (_, bytes) in objs.iter().filter(|(s, _)| s.ends_with(".v4")) {
        // Every truncation point in steps, then random corruptions of several kinds.
        for cut in (0..bytes.len()).step_by(bytes.len() / 97 + 1) {
            errors += ObjectFile::parse(&bytes[..cut]).is_err() as usize;
            total += 1;
        }
        for _ in 0..400 {
            let mut m = bytes.clone();
            match rng.below(4) {
                0 => {
                    for _ in 0..1 + rng.below(8) {
                        let at = rng.below(m.len());
                        m[at] ^= 1 << rng.below(8);
                    }
                }
                1 => {
                    let at = rng.below(m.len() - 8);
                    let v = extremes[rng.below(extremes.len())];
                    m[at..at + 8].copy_from_slice(&v.to_le_bytes());
                }
                2 => {
                    // Section header table fields (offsets, sizes, links) specifically.
                    let shoff = u64::from_le_bytes(m[40..48].try_into().unwrap()) as usize;
                    let at = shoff + rng.below(m.len().saturating_sub(shoff + 8).max(1));
                    let v = extremes[rng.below(extremes.len())] as u32;
                    if at + 4 <= m.len() {
                        m[at..at + 4].copy_from_slice(&v.to_le_bytes());
                    }
                }
                _ => {
                    let at = rng.below(m.len());
                    let len = rng.below(64).min(m.len() - at);
                    for b in &mut m[at..at + len] {
                        *b = rng.next() as u8;
                    }
                }
            }
            errors += ObjectFile::parse(&m).is_err() as usize;
            total += 1;
        }
    }
    // The corruptions must actually be noticed some of the time.
    assert!(
        errors > total / 10,
        "{errors} errors of {total} corruptions"
    );
    let random: Vec<u8> = (0..4096).map(|_| rng.next() as u8).collect();
    assert!(ObjectFile::parse(&random).is_err());
}

/// Every symbol's value and size, and every relocation's symbol index, set to extreme values:
/// arithmetic on them must not overflow.
#[test]
fn extreme_symbol_and_relocation_fields() {
    let Some(objs) = corpus("extreme_symbol_and_relocation_fields") else {
        return;
    };
    let (_, bytes) = objs.iter().find(|(s, _)| s == "global_data.v4").unwrap();
    let rd64 = |b: &[u8], o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap()) as usize;
    let shoff = rd64(bytes, 40);
    let shnum = u16::from_le_bytes([bytes[60], bytes[61]]) as usize;
    let tables: Vec<(u32, usize, usize)> = (0..shnum)
        .map(|i| {
            let h = shoff + i * 64;
            let ty = u32::from_le_bytes(bytes[h + 4..h + 8].try_into().unwrap());
            (ty, rd64(bytes, h + 24), rd64(bytes, h + 32))
        })
        .collect();
    for extreme in [u64::MAX, i64::MAX as u64, 1 << 63, 0xffff_fff8, 7] {
        for &(ty, off, size) in &tables {
            let mut m = bytes.clone();
            match ty {
                // SHT_SYMTAB: st_value at +8, st_size at +16 of each 24-byte entry.
                2 => {
                    for e in (off..off + size).step_by(24) {
                        m[e + 8..e + 16].copy_from_slice(&extreme.to_le_bytes());
                        m[e + 16..e + 24].copy_from_slice(&extreme.to_le_bytes());
                    }
                }
                // SHT_REL: r_offset at +0, r_info at +8.
                9 => {
                    for e in (off..off + size).step_by(16) {
                        m[e..e + 8].copy_from_slice(&extreme.to_le_bytes());
                        m[e + 8..e + 16].copy_from_slice(&extreme.to_le_bytes());
                    }
                }
                _ => continue,
            }
            // Relocations of debug sections are not used; those of code sections and every
            // symbol are, so a corrupted symbol table must be refused.
            let result = ObjectFile::parse(&m);
            if ty == 2 {
                assert!(result.is_err(), "extreme {extreme:#x} in the symbol table");
            }
        }
    }
}
