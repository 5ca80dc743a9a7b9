//! `netkit --backend kernel map ...` and `prog tracelog` on this machine's own kernel (which
//! runs BPF whether or not it has netkit): examples/trace.bpf.o is loaded with the CLI, run
//! with BPF_PROG_TEST_RUN, and its maps are read and written with the CLI, compared with
//! `bpftool -j map ...` on the same maps. The same commands run against kernel netkit in the
//! reference VM in tests/kernel/vm_cli.sh.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{bpffs_mounted, example, have, is_root, nk_kernel as nk, require, Pins, NETKIT};
use serde_json::Value;

fn ok_json(pins: &Path, args: &[&str]) -> Value {
    let out = nk(pins, args);
    assert!(out.status.success(), "netkit {args:?}: {out:?}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

/// The command failed with exit status 1, printing `Error: ERRNO: ...` and nothing else.
fn fails(pins: &Path, args: &[&str], errno: &str) -> String {
    let out = nk(pins, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "netkit {args:?}: {out:?}");
    assert!(out.stdout.is_empty(), "netkit {args:?}: {out:?}");
    assert!(
        stderr.starts_with(&format!("Error: {errno}: ")),
        "netkit {args:?}: wanted {errno}, got {stderr}"
    );
    stderr
}

fn bpftool_json(args: &[&str]) -> Value {
    let out = Command::new("bpftool")
        .arg("-j")
        .args(args)
        .output()
        .expect("run bpftool");
    assert!(out.status.success(), "bpftool {args:?}: {out:?}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"))
}

/// bpftool adds `formatted` (BTF) and other fields; the elements' bytes are what we compare.
fn elements(v: &Value) -> Vec<Value> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|e| {
            let mut e = e.clone();
            if let Some(o) = e.as_object_mut() {
                o.retain(|k, _| matches!(k.as_str(), "key" | "value" | "values"));
            }
            e
        })
        .collect()
}

/// Runs the program once on a `len`-byte frame with BPF_PROG_TEST_RUN.
fn run_once(prog_id: u32, len: usize) {
    let fd = netkit_kernel::bpf::prog_get_fd_by_id(prog_id).expect("open the program");
    let mut frame = vec![0u8; len];
    frame[12..14].copy_from_slice(&[0x08, 0x00]);
    let run = netkit_kernel::bpf::TestRun {
        data_in: &frame,
        repeat: 1,
        ..Default::default()
    };
    let result = netkit_kernel::bpf::prog_test_run(&fd, &run).expect("test run");
    assert_eq!(result.retval, 0, "trace passes everything");
}

fn byte_words(bytes: &[u8]) -> Value {
    bytes.iter().map(|b| format!("0x{b:02x}")).collect()
}

fn u64_of(words: &Value) -> u64 {
    let bytes: Vec<u8> = words
        .as_array()
        .expect("bytes")
        .iter()
        .map(|w| {
            u8::from_str_radix(w.as_str().expect("0xNN").trim_start_matches("0x"), 16).unwrap()
        })
        .collect();
    u64::from_le_bytes(bytes.try_into().expect("8 bytes"))
}

#[test]
fn maps_are_shown_read_and_written_as_bpftool_does_on_this_kernel() {
    let test = "maps_are_shown_read_and_written_as_bpftool_does_on_this_kernel";
    let obj = example("trace");
    if !require(
        test,
        &[
            ("root", is_root()),
            ("bpffs at /sys/fs/bpf", bpffs_mounted()),
            ("clang-19 to build examples/trace.bpf.o", obj.is_some()),
            ("bpftool", have("bpftool")),
        ],
    ) {
        return;
    }
    let obj = obj.expect("checked");
    let pins = Pins(PathBuf::from(format!(
        "/sys/fs/bpf/netkit-kmaps-test-{}",
        std::process::id()
    )));
    let p = &pins.0;
    let loaded = ok_json(p, &["prog", "load", obj.to_str().unwrap(), "-j"]);
    let prog = loaded[0]["id"].as_u64().expect("an id") as u32;
    let map_ids: Vec<u64> = loaded[0]["map_ids"]
        .as_array()
        .expect("map_ids")
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(map_ids.len(), 2, "{loaded}");

    // map show: bpf_map_info as bpftool reads it.
    let mut by_name = std::collections::BTreeMap::new();
    for id in &map_ids {
        let id = id.to_string();
        let ours = ok_json(p, &["map", "show", "id", &id, "-j"]);
        let theirs = bpftool_json(&["map", "show", "id", &id]);
        for field in [
            "id",
            "type",
            "name",
            "flags",
            "bytes_key",
            "bytes_value",
            "max_entries",
        ] {
            assert_eq!(ours[0][field], theirs[field], "{field}: {ours} vs {theirs}");
        }
        assert_eq!(ours[0]["prog_id"], prog, "the program using it: {ours}");
        by_name.insert(ours[0]["name"].as_str().unwrap().to_string(), id);
    }
    let (pkts, lens) = (&by_name["pkts"], &by_name["lens"]);
    let listed = ok_json(p, &["map", "show", "-j"]);
    for id in &map_ids {
        assert!(
            listed.as_array().unwrap().iter().any(|m| m["id"] == *id),
            "map show lists map {id}: {listed}"
        );
    }

    // Traffic (one test run of a 77-byte frame) moves both maps; dumps equal bpftool's.
    run_once(prog, 77);
    let ours = ok_json(p, &["map", "dump", "id", pkts, "-j"]);
    assert_eq!(
        elements(&ours),
        elements(&bpftool_json(&["map", "dump", "id", pkts]))
    );
    let cpus = ours[0]["values"].as_array().expect("per-CPU values");
    assert!(!cpus.is_empty());
    let total: u64 = cpus.iter().map(|c| u64_of(&c["value"])).sum();
    assert_eq!(total, 1, "one packet, counted on one CPU: {ours}");
    let ours = ok_json(p, &["map", "dump", "id", lens, "-j"]);
    assert_eq!(
        elements(&ours),
        elements(&bpftool_json(&["map", "dump", "id", lens]))
    );
    assert_eq!(
        ours,
        serde_json::json!([{"key": byte_words(&77u32.to_le_bytes()),
                            "value": byte_words(&1u64.to_le_bytes())}])
    );

    // lookup, update (any|noexist|exist), delete, and their errors, each changing nothing.
    let got = ok_json(
        p,
        &[
            "map", "lookup", "id", lens, "key", "77", "0", "0", "0", "-j",
        ],
    );
    assert_eq!(got, ours);
    fails(
        p,
        &["map", "lookup", "id", lens, "key", "1", "0", "0", "0"],
        "ENOENT",
    );
    fails(p, &["map", "lookup", "id", lens, "key", "1", "0"], "EINVAL");
    let set = [
        "map", "update", "id", lens, "key", "hex", "05000000", "value", "hex",
    ];
    let ok = nk(p, &[&set[..], &["0900000000000000", "noexist"]].concat());
    assert!(ok.status.success() && ok.stdout.is_empty(), "{ok:?}");
    fails(
        p,
        &[&set[..], &["0a00000000000000", "noexist"]].concat(),
        "EEXIST",
    );
    let wrong = fails(p, &[&set[..], &["0a000000"]].concat(), "EINVAL");
    assert!(wrong.contains("4 bytes") && wrong.contains('8'), "{wrong}");
    fails(
        p,
        &[
            "map",
            "update",
            "id",
            lens,
            "key",
            "6",
            "0",
            "0",
            "0",
            "value",
            "hex",
            "0100000000000000",
            "exist",
        ],
        "ENOENT",
    );
    let bpftool_lookup = bpftool_json(&["map", "lookup", "id", lens, "key", "5", "0", "0", "0"]);
    assert_eq!(
        u64_of(&bpftool_lookup["value"]),
        9,
        "written through to the kernel: {bpftool_lookup}"
    );
    let ok = nk(p, &[&set[..], &["0b00000000000000", "exist"]].concat());
    assert!(ok.status.success(), "{ok:?}");
    let got = ok_json(
        p,
        &["map", "lookup", "id", lens, "key", "5", "0", "0", "0", "-j"],
    );
    assert_eq!(u64_of(&got[0]["value"]), 11, "{got}");
    assert_eq!(
        ok_json(p, &["map", "dump", "id", lens, "-j"])
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let ok = nk(p, &["map", "delete", "id", lens, "key", "5", "0", "0", "0"]);
    assert!(ok.status.success(), "{ok:?}");
    fails(
        p,
        &["map", "delete", "id", lens, "key", "5", "0", "0", "0"],
        "ENOENT",
    );
    assert_eq!(
        elements(&ok_json(p, &["map", "dump", "id", lens, "-j"])),
        elements(&ours)
    );

    // A per-CPU map takes one value for every CPU (or every CPU's slot); an array refuses
    // deletion as the kernel does.
    let ok = nk(
        p,
        &[
            "map",
            "update",
            "id",
            pkts,
            "key",
            "0",
            "0",
            "0",
            "0",
            "value",
            "hex",
            "2a00000000000000",
        ],
    );
    assert!(ok.status.success(), "{ok:?}");
    let ours = ok_json(
        p,
        &["map", "lookup", "id", pkts, "key", "0", "0", "0", "0", "-j"],
    );
    let values = ours[0]["values"].as_array().expect("per-CPU values");
    assert!(values.iter().all(|c| u64_of(&c["value"]) == 42), "{ours}");
    assert_eq!(
        elements(&ours),
        elements(&bpftool_json(&["map", "dump", "id", pkts])),
        "bpftool reads the same"
    );
    fails(
        p,
        &[
            "map", "update", "id", pkts, "key", "0", "0", "0", "0", "value", "1", "2", "3",
        ],
        "EINVAL",
    );
    fails(
        p,
        &["map", "delete", "id", pkts, "key", "0", "0", "0", "0"],
        "EINVAL",
    );
    fails(p, &["map", "dump", "id", "4294967295"], "ENOENT");
    fails(p, &["map", "show", "id", "4294967295"], "ENOENT");

    // Text output, bpftool's layout.
    let out = nk(p, &["map", "show", "id", pkts]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!("{pkts}: percpu_array  name pkts  flags 0x0\n")),
        "{text}"
    );
    let out = nk(p, &["map", "dump", "id", pkts]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("value (CPU 00): 2a 00 00 00 00 00 00 00"),
        "{text}"
    );

    let gone = nk(p, &["prog", "unload", "id", &prog.to_string()]);
    assert!(gone.status.success(), "{gone:?}");
}

#[test]
fn tracelog_streams_the_trace_pipe_until_a_signal() {
    let test = "tracelog_streams_the_trace_pipe_until_a_signal";
    let obj = example("trace");
    if !require(
        test,
        &[
            ("root", is_root()),
            ("bpffs at /sys/fs/bpf", bpffs_mounted()),
            ("clang-19 to build examples/trace.bpf.o", obj.is_some()),
        ],
    ) {
        return;
    }
    let obj = obj.expect("checked");
    let pins = Pins(PathBuf::from(format!(
        "/sys/fs/bpf/netkit-ktrace-test-{}",
        std::process::id()
    )));
    let p = &pins.0;
    fails(p, &["prog", "tracelog", "id", "1"], "EOPNOTSUPP");
    let loaded = ok_json(p, &["prog", "load", obj.to_str().unwrap(), "-j"]);
    let prog = loaded[0]["id"].as_u64().expect("an id") as u32;

    let log = std::env::temp_dir().join(format!("netkit-tracelog-{}.json", std::process::id()));
    let mut child = Command::new(NETKIT)
        .args(["--backend", "kernel", "-j", "prog", "tracelog"])
        .env("NETKIT_BPF_PIN_DIR", p)
        .stdout(std::fs::File::create(&log).expect("log file"))
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tracelog");
    // A frame length no other test uses marks this test's line.
    let len = 1000 + (std::process::id() % 400) as usize;
    let want = format!("netkit trace: len {len}");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = false;
    while !seen && Instant::now() < deadline {
        // The reader may still be opening the pipe: run again until the line shows.
        run_once(prog, len);
        std::thread::sleep(Duration::from_millis(300));
        seen = std::fs::read_to_string(&log).is_ok_and(|t| t.contains(&want));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = child.wait().expect("wait");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    assert!(seen, "no \"{want}\" line within 20 s: {stderr}\n{text}");
    assert!(
        status.success(),
        "a stop signal ends tracelog with status 0: {status:?} {stderr}"
    );
    // The stream is one JSON array, closed at the signal.
    let lines: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert!(
        lines
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().is_some_and(|l| l.contains(&want))),
        "{text}"
    );
    let gone = nk(p, &["prog", "unload", "id", &prog.to_string()]);
    assert!(gone.status.success(), "{gone:?}");
}

/// Without privileges the kernel says no, and the CLI says what it was doing.
#[test]
fn without_privileges_maps_and_tracelog_fail_clearly() {
    let test = "without_privileges_maps_and_tracelog_fail_clearly";
    if !require(
        test,
        &[
            ("root (to drop privileges from)", is_root()),
            ("setpriv (util-linux)", have("setpriv")),
        ],
    ) {
        return;
    }
    let nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args([
                "--reuid",
                "65534",
                "--regid",
                "65534",
                "--clear-groups",
                NETKIT,
            ])
            .args(["--backend", "kernel"])
            .args(args)
            .env_remove("NETKIT_BACKEND")
            .output()
            .expect("run setpriv")
    };
    let out = nobody(&["prog", "tracelog"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(
        stderr.starts_with("Error: EACCES: ") || stderr.starts_with("Error: EPERM: "),
        "{stderr}"
    );
    assert!(
        stderr.contains("trace"),
        "names the trace pipe or tracefs: {stderr}"
    );
    let out = nobody(&["map", "show"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(stderr.starts_with("Error: EPERM: "), "{stderr}");
}
