//! The fuzz campaign loop (seeds, time or iteration bound, failure records) and running
//! accepted programs in the VM, classifying aborts.

use crate::gen::Rng;
use netkit_bpf::insn::Insn;
use netkit_bpf::maps::MapDef;
use netkit_bpf::obj::ObjectFile;
use netkit_bpf::skb::Skb;
use netkit_bpf::verifier::MapInfo;
use netkit_bpf::{AbortReason, Map, Program};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub enum Outcome<T> {
    Done(T),
    Panic(String),
}

thread_local! {
    /// Set while [`guarded`] runs: its panics are reported as values, not printed.
    static GUARDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs, once, a panic hook that stays quiet inside [`guarded`] and prints otherwise.
fn quiet_guarded_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(|g| g.get()) {
                default(info);
            }
        }));
    });
}

/// Runs `f`, turning a panic into a value.
pub fn guarded<T>(f: impl FnOnce() -> T) -> Outcome<T> {
    quiet_guarded_panics();
    GUARDED.with(|g| g.set(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(false));
    match r {
        Ok(v) => Outcome::Done(v),
        Err(p) => Outcome::Panic(
            p.downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic".into()),
        ),
    }
}

pub fn skip_or_fail(test: &str, what: &str) {
    if std::env::var("NETKIT_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
        panic!("{test}: needs {what}");
    }
    eprintln!("SKIP {test}: needs {what}");
}

/// One fuzzing run: seeds `base..`, bounded by `NETKIT_FUZZ_SECS` or an iteration count.
pub struct Campaign {
    name: &'static str,
    base: u64,
    i: u64,
    limit: u64,
    deadline: Option<Instant>,
    start: Instant,
    last_report: Instant,
    pub accepted: u64,
    pub rejected: u64,
    pub runs: u64,
    /// Aborts the VM may legitimately produce for verified programs, by reason.
    pub aborts: std::collections::BTreeMap<String, u64>,
    failures: Vec<String>,
}

impl Campaign {
    pub fn new(name: &'static str, ci_iterations: u64, default_seed: u64) -> Campaign {
        let env = |k: &str| std::env::var(k).ok().and_then(|s| s.parse::<u64>().ok());
        let secs = env("NETKIT_FUZZ_SECS");
        Campaign {
            name,
            base: env("NETKIT_FUZZ_SEED").unwrap_or(default_seed),
            i: 0,
            limit: if secs.is_some() {
                u64::MAX
            } else {
                ci_iterations
            },
            deadline: secs.map(|s| Instant::now() + Duration::from_secs(s)),
            start: Instant::now(),
            last_report: Instant::now(),
            accepted: 0,
            rejected: 0,
            runs: 0,
            aborts: Default::default(),
            failures: Vec::new(),
        }
    }

    /// The next seed and its generator, or `None` when the run is over. Long runs report
    /// progress once a minute.
    pub fn next(&mut self) -> Option<(u64, Rng)> {
        if self.i >= self.limit || self.deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        if self.i.is_multiple_of(256) && self.last_report.elapsed() >= Duration::from_secs(60) {
            self.last_report = Instant::now();
            let line = format!("progress: {}", self.summary());
            eprintln!("{line}");
            append_out(&line);
        }
        let seed = self.base.wrapping_add(self.i);
        self.i += 1;
        Some((seed, Rng::new(seed)))
    }

    pub fn fail(&mut self, seed: u64, kind: &str, what: String, prog: &[Insn]) {
        let hex: Vec<String> = prog
            .iter()
            .map(|i| format!("{:016x}", i.to_raw().swap_bytes()))
            .collect();
        self.record(format!(
            "seed {seed} ({kind}): {what}\n  program: {}",
            hex.join(" ")
        ));
    }

    pub fn fail_bytes(&mut self, seed: u64, what: String, bytes: &[u8]) {
        self.record(format!(
            "seed {seed} (object of {} bytes): {what}",
            bytes.len()
        ));
    }

    fn record(&mut self, failure: String) {
        append_out(&failure);
        self.failures.push(failure);
    }

    fn summary(&self) -> String {
        format!(
            "{}: {} iterations in {:.1}s (seeds {}..{}), {} accepted, {} rejected, {} VM runs, aborts {:?}, {} failures",
            self.name,
            self.i,
            self.start.elapsed().as_secs_f64(),
            self.base,
            self.base.wrapping_add(self.i),
            self.accepted,
            self.rejected,
            self.runs,
            self.aborts,
            self.failures.len()
        )
    }

    pub fn finish(self) {
        let summary = self.summary();
        eprintln!("{summary}");
        append_out(&summary);
        assert!(
            self.accepted > 0,
            "{}: nothing was ever accepted",
            self.name
        );
        let shown: Vec<&str> = self.failures.iter().take(20).map(|s| s.as_str()).collect();
        assert!(self.failures.is_empty(), "{}", shown.join("\n"));
    }
}

/// Appends a line to `NETKIT_FUZZ_OUT` when set.
fn append_out(line: &str) {
    if let Ok(path) = std::env::var("NETKIT_FUZZ_OUT") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

pub fn runtime_maps(infos: &[MapInfo]) -> Vec<Arc<Map>> {
    infos
        .iter()
        .map(|m| {
            let def = MapDef {
                map_type: m.map_type,
                key_size: m.key_size,
                value_size: m.value_size,
                max_entries: m.max_entries,
                map_flags: 0,
                readonly: m.readonly,
            };
            Arc::new(Map::new("fuzz", def).expect("fuzz map"))
        })
        .collect()
}

/// The maps the loader instantiates for `obj` (it fixes up what libbpf fixes up, e.g. perf
/// arrays sized to the CPU count), and what the verifier knows of them.
pub fn object_maps(obj: &ObjectFile) -> Option<(Vec<MapInfo>, Vec<Arc<Map>>)> {
    let loaded = netkit_bpf::LoadedObject::load(obj).ok()?;
    let maps = loaded.maps().to_vec();
    let infos = maps
        .iter()
        .map(|m| {
            let d = m.def();
            MapInfo {
                map_type: d.map_type,
                key_size: d.key_size,
                value_size: d.value_size,
                max_entries: d.max_entries,
                readonly: d.readonly,
            }
        })
        .collect();
    Some((infos, maps))
}

/// The corpus objects (bytes and parse), building them first when they are missing.
pub fn corpus_objects() -> Vec<(Vec<u8>, ObjectFile)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let build = dir.join("build");
    let list = |d: &Path| -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .map(|r| {
                r.filter_map(|e| e.ok())
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "o"))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    if list(&build).is_empty() && dir.join("Makefile").is_file() {
        let _ = std::process::Command::new("make")
            .arg("-s")
            .arg("-C")
            .arg(&dir)
            .status();
    }
    list(&build)
        .into_iter()
        .filter_map(|p| {
            let bytes = std::fs::read(&p).ok()?;
            let obj = ObjectFile::parse(&bytes).ok()?;
            Some((bytes, obj))
        })
        .collect()
}

/// A random frame: mostly Ethernet + IPv4/IPv6 + TCP/UDP shaped, sometimes truncated or noise.
fn random_frame(rng: &mut Rng) -> Vec<u8> {
    let len = match rng.below(4) {
        0 => rng.below(15) as usize,
        1 => 14 + rng.below(60) as usize,
        2 => 54 + rng.below(1500) as usize,
        _ => rng.below(9000) as usize,
    };
    let mut f: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
    if len >= 34 && rng.chance(70) {
        let v6 = rng.chance(30);
        f[12..14].copy_from_slice(if v6 { &[0x86, 0xdd] } else { &[0x08, 0x00] });
        f[14] = if v6 { 0x60 } else { 0x45 };
        let proto = rng.pick(&[6u8, 17, 1, 58]);
        if v6 {
            if len > 20 {
                f[20] = proto;
            }
        } else {
            f[23] = proto;
        }
    }
    f
}

/// Aborts a verified program may meet at run time without the verifier being wrong:
/// the budget (callbacks, tail calls), run-time limits, alignment of variable offsets.
/// Helper argument refusals count too unless `NETKIT_FUZZ_STRICT` is set.
fn expected_abort(r: &AbortReason) -> bool {
    match r {
        AbortReason::Budget | AbortReason::TooManyRegions | AbortReason::Misaligned { .. } => true,
        AbortReason::HelperArg { .. } => std::env::var_os("NETKIT_FUZZ_STRICT").is_none(),
        _ => false,
    }
}

fn run_once(
    c: &mut Campaign,
    seed: u64,
    kind: &str,
    prog: &Program,
    insns: &[Insn],
    rng: &mut Rng,
) {
    let mut skb = Skb::from_frame(&random_frame(rng));
    skb.meta.mark = rng.next() as u32;
    c.runs += 1;
    match guarded(|| prog.run(&mut skb)) {
        Outcome::Panic(msg) => c.fail(seed, kind, format!("VM panicked: {msg}"), insns),
        Outcome::Done(Ok(_)) => {}
        Outcome::Done(Err(abort)) => {
            // By reason; NETKIT_FUZZ_DETAIL=1 keeps the details (helper, address).
            let full = format!("{:?}", abort.reason);
            let name = match std::env::var_os("NETKIT_FUZZ_DETAIL") {
                Some(_) => full,
                None => full
                    .split([' ', '{'])
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            };
            *c.aborts.entry(name).or_insert(0) += 1;
            if !expected_abort(&abort.reason) {
                c.fail(
                    seed,
                    kind,
                    format!("verified program aborted: {abort}"),
                    insns,
                );
            }
        }
    }
}

/// Builds the verified program for the VM and runs it on a few random packets.
pub fn run_program(
    c: &mut Campaign,
    seed: u64,
    kind: &str,
    insns: &[Insn],
    maps: Vec<Arc<Map>>,
    rng: &mut Rng,
) {
    let prog = match guarded(|| Program::from_insns(insns, maps)) {
        Outcome::Panic(msg) => {
            return c.fail(seed, kind, format!("program build panicked: {msg}"), insns)
        }
        Outcome::Done(Err(e)) => {
            return c.fail(seed, kind, format!("verified but not loadable: {e}"), insns)
        }
        Outcome::Done(Ok(p)) => p,
    };
    for _ in 0..3 {
        run_once(c, seed, kind, &prog, insns, rng);
    }
}

pub fn run_loaded(c: &mut Campaign, seed: u64, prog: &Arc<Program>, rng: &mut Rng) {
    for _ in 0..2 {
        run_once(c, seed, "object", prog, &[], rng);
    }
}
