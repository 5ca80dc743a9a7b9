//! Shared by the corpus tests and the benchmark: building the C corpus and the packet fixtures.
#![allow(dead_code)]

pub mod engine;
pub mod kernel;
pub mod packets;

use std::path::{Path, PathBuf};
use std::process::Command;

/// True when missing requirements must fail instead of skip (CI sets it).
pub fn require_privileged() -> bool {
    std::env::var("NETKIT_REQUIRE_PRIVILEGED").is_ok_and(|v| v == "1")
}

/// Reports a missing requirement: a failure under NETKIT_REQUIRE_PRIVILEGED=1, else a SKIP line.
pub fn skip(test: &str, needs: &str) {
    if require_privileged() {
        panic!("{test}: needs {needs} (NETKIT_REQUIRE_PRIVILEGED=1)");
    }
    eprintln!("SKIP {test}: needs {needs}");
}

pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// Builds the corpus with make + clang-19 (a no-op when up to date) and returns every object
/// as (file stem, e.g. `nat44.v4`, bytes), sorted; `None` (after reporting) when clang-19 or
/// make is missing.
pub fn corpus(test: &str) -> Option<Vec<(String, Vec<u8>)>> {
    let dir = corpus_dir();
    let status = Command::new("make").arg("-s").arg("-C").arg(&dir).status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!(
            "building the corpus failed ({s}); run make -C {}",
            dir.display()
        ),
        Err(_) => {
            skip(test, "make and clang-19 to build the C corpus");
            return None;
        }
    }
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.join("build"))
        .expect("corpus build directory")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "o"))
        .map(|p| {
            let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
            (stem, std::fs::read(&p).expect("read object"))
        })
        .collect();
    out.sort();
    assert!(out.len() >= 40, "corpus has {} objects", out.len());
    Some(out)
}

/// True when this process may use bpf(2) (root).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}
