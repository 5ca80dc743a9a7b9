//! `netkit prog run`: run a program of a BPF object on a packet in the user-space engine, the
//! equivalent of `bpftool prog run` (BPF_PROG_TEST_RUN), or raw bytecode on a memory buffer.
//!
//! ```text
//! netkit prog run OBJ [section SEC] data_in FILE [data_out FILE] [ctx_in FILE] [ctx_out FILE]
//!                     [repeat N] [-j]
//! netkit prog run raw FILE [mem FILE] [-j]
//! ```

use std::time::Instant;

use netkit_bpf::insn;
use netkit_bpf::obj::ObjectFile;
use netkit_bpf::skb::{Skb, LOOPBACK_MTU};
use netkit_bpf::{LoadedObject, Program, RunOptions};

/// Exit status for bad usage, as the rest of the CLI uses.
const EXIT_USAGE: i32 = 2;
const EXIT_FAIL: i32 = 1;

#[derive(Debug, Default, PartialEq, Eq)]
struct ObjArgs {
    obj: String,
    section: Option<String>,
    data_in: String,
    data_out: Option<String>,
    ctx_in: Option<String>,
    ctx_out: Option<String>,
    repeat: u32,
}

#[derive(Debug, PartialEq, Eq)]
enum Args {
    Obj(ObjArgs),
    Raw { file: String, mem: Option<String> },
}

fn parse(words: &[String]) -> Result<(Args, bool), String> {
    let json = words.iter().any(|w| w == "-j" || w == "--json");
    let words: Vec<&str> = words
        .iter()
        .map(String::as_str)
        .filter(|w| *w != "-j" && *w != "--json")
        .collect();
    let value = |i: usize, key: &str| -> Result<String, String> {
        words
            .get(i + 1)
            .map(|s| s.to_string())
            .ok_or_else(|| format!("`{key}` needs a value"))
    };
    match words.first() {
        None => Err("missing OBJ or `raw`".into()),
        Some(&"raw") => {
            let file = value(0, "raw")?;
            let mut mem = None;
            let mut i = 2;
            while i < words.len() {
                match words[i] {
                    "mem" => mem = Some(value(i, "mem")?),
                    other => return Err(format!("unexpected `{other}`")),
                }
                i += 2;
            }
            Ok((Args::Raw { file, mem }, json))
        }
        Some(obj) => {
            let mut a = ObjArgs {
                obj: obj.to_string(),
                repeat: 1,
                ..ObjArgs::default()
            };
            let mut data_in = None;
            let mut i = 1;
            while i < words.len() {
                let key = words[i];
                let v = value(i, key)?;
                match key {
                    "section" => a.section = Some(v),
                    "data_in" => data_in = Some(v),
                    "data_out" => a.data_out = Some(v),
                    "ctx_in" => a.ctx_in = Some(v),
                    "ctx_out" => a.ctx_out = Some(v),
                    "repeat" => {
                        a.repeat = v
                            .parse()
                            .ok()
                            .filter(|&n| n > 0)
                            .ok_or_else(|| format!("invalid repeat count `{v}`"))?
                    }
                    other => return Err(format!("unexpected `{other}`")),
                }
                i += 2;
            }
            a.data_in = data_in.ok_or("`data_in FILE` is required")?;
            Ok((Args::Obj(a), json))
        }
    }
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))
}

fn write(path: &str, data: &[u8]) -> Result<(), String> {
    std::fs::write(path, data).map_err(|e| format!("cannot write {path}: {e}"))
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs `netkit prog run ARGS`; returns the exit status.
pub fn cmd_prog_run(args: &[String]) -> i32 {
    let (parsed, json) = match parse(args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("Error: prog run: {e}");
            eprintln!(
                "Usage: netkit prog run OBJ [section SEC] data_in FILE [data_out FILE] \
                 [ctx_in FILE] [ctx_out FILE] [repeat N] [-j]\n       \
                 netkit prog run raw FILE [mem FILE]"
            );
            return EXIT_USAGE;
        }
    };
    let r = match parsed {
        Args::Raw { file, mem } => run_raw(&file, mem.as_deref(), json),
        Args::Obj(a) => run_obj(&a, json),
    };
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Error: {e}");
            EXIT_FAIL
        }
    }
}

fn run_raw(file: &str, mem: Option<&str>, json: bool) -> Result<(), String> {
    let bytes = read(file)?;
    let insns = insn::decode(&bytes)
        .ok_or_else(|| format!("{file}: length {} is not a multiple of 8", bytes.len()))?;
    let prog = Program::from_insns_for_memory(&insns, Vec::new())
        .map_err(|e| format!("{file}: program rejected: {e}"))?;
    let mut buf = match mem {
        Some(path) => read(path)?,
        None => Vec::new(),
    };
    let r0 = prog
        .run_with_mem(&mut buf)
        .map_err(|e| format!("{file}: run aborted: {e}"))?;
    if json {
        println!(
            "{}",
            serde_json::json!({ "retval": r0, "retval_hex": format!("{r0:#x}") })
        );
    } else {
        println!("{r0:#x}");
    }
    Ok(())
}

fn pick<'o>(obj: &'o LoadedObject, section: Option<&str>) -> Result<&'o Program, String> {
    match section {
        Some(sec) => obj
            .program_in_section(sec)
            .or_else(|| obj.program(sec))
            .map(|p| &**p)
            .ok_or_else(|| format!("no program in section or named `{sec}`")),
        None => obj
            .programs()
            .first()
            .map(|p| &**p)
            .ok_or_else(|| "object has no programs".to_string()),
    }
}

fn run_obj(a: &ObjArgs, json: bool) -> Result<(), String> {
    let elf = read(&a.obj)?;
    let parsed = ObjectFile::parse(&elf).map_err(|e| format!("{}: {e}", a.obj))?;
    let obj = LoadedObject::load(&parsed).map_err(|e| format!("{}: {e}", a.obj))?;
    let prog = pick(&obj, a.section.as_deref())?;
    let data = read(&a.data_in)?;
    let ctx_in = a.ctx_in.as_deref().map(read).transpose()?;
    let mut skb =
        Skb::for_test_run(&data, ctx_in.as_deref()).map_err(|e| format!("test run: {e}"))?;
    // As BPF_PROG_TEST_RUN: every repetition runs on the same skb, on loopback.
    let opts = RunOptions {
        cpu: Some(0),
        mtu: LOOPBACK_MTU,
    };
    let start = Instant::now();
    let mut retval = 0;
    for _ in 0..a.repeat {
        retval = prog
            .run_with(&mut skb, &opts)
            .result
            .map_err(|e| format!("program {} aborted: {e}", prog.name()))?;
    }
    let duration_ns = (start.elapsed().as_nanos() / u128::from(a.repeat)) as u64;
    if let Some(path) = &a.data_out {
        write(path, skb.data())?;
    }
    if let Some(path) = &a.ctx_out {
        write(path, &skb.test_run_ctx_out(ctx_in.as_deref()))?;
    }
    for line in obj.trace_log().drain() {
        eprint!("{line}");
    }
    // The kernel's retval is the program's 32-bit return value.
    let retval = retval as u32;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "retval": retval,
                "duration_ns": duration_ns,
                "data_out": hex(skb.data()),
            })
        );
    } else {
        println!("Return value: {retval}, duration (average): {duration_ns}ns");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_both_forms() {
        let (a, json) = parse(&words("x.o section tc data_in p.bin repeat 10 -j")).unwrap();
        assert!(json);
        assert_eq!(
            a,
            Args::Obj(ObjArgs {
                obj: "x.o".into(),
                section: Some("tc".into()),
                data_in: "p.bin".into(),
                repeat: 10,
                ..ObjArgs::default()
            })
        );
        let (a, json) = parse(&words("raw f.bin mem m.bin")).unwrap();
        assert!(!json);
        assert_eq!(
            a,
            Args::Raw {
                file: "f.bin".into(),
                mem: Some("m.bin".into())
            }
        );
        assert!(parse(&words("x.o")).unwrap_err().contains("data_in"));
        assert!(parse(&words("x.o data_in"))
            .unwrap_err()
            .contains("needs a value"));
        assert!(parse(&words("x.o data_in a repeat 0")).is_err());
        assert!(parse(&words("raw f.bin bogus 1")).is_err());
    }

    #[test]
    fn raw_program_on_memory() {
        let dir = std::env::temp_dir().join(format!("netkit-prog-run-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // r0 = *(u32 *)(r1 + 0) + r2; exit
        let prog: Vec<u8> = [0x61u64 | (0x10 << 8), 0x0f | (0x20 << 8), 0x95]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        let f = dir.join("p.bin");
        let m = dir.join("m.bin");
        std::fs::write(&f, &prog).unwrap();
        std::fs::write(&m, 0x100u32.to_le_bytes()).unwrap();
        let (f, m) = (f.to_str().unwrap(), m.to_str().unwrap());
        assert_eq!(run_raw(f, Some(m), false), Ok(()));
        // Without memory, r1 is 0 and the load aborts: an error naming the abort.
        let e = run_raw(f, None, false).unwrap_err();
        assert!(e.contains("aborted"), "{e}");
        std::fs::write(dir.join("bad.bin"), [1, 2, 3]).unwrap();
        let e = run_raw(dir.join("bad.bin").to_str().unwrap(), None, false).unwrap_err();
        assert!(e.contains("multiple of 8"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
