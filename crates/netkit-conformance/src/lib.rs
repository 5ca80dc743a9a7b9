//! netkit-conformance: scenarios written once as data (docs/conformance.md) and a runner that
//! executes them against the user-space backend or the real kernel, so that the kernel judges
//! the model step by step.
#![forbid(unsafe_code)]

pub mod args;
pub mod backends;
pub mod exec;
pub mod frames;
pub mod runner;
pub mod scenario;

use std::path::{Path, PathBuf};

use runner::{StepReport, Summary, Verdict};
use scenario::{KernelVersion, Scenario};

const USAGE: &str =
    "usage: netkit conformance run FILE|DIR... [--backend user|kernel] [--kernel 6.12|newest] [-j]
       netkit conformance list FILE|DIR...
       netkit conformance deviations FILE|DIR...
Scenario files end in .scn; a directory stands for the .scn files in it, sorted by name.";

/// `netkit conformance ...`: `args` are the words after `conformance`. Returns the exit code.
pub fn cli_main(args: &[String]) -> i32 {
    match args.first().map(String::as_str) {
        Some("run") => run_command(&args[1..]),
        Some("list") => list_command(&args[1..], false),
        Some("deviations") => list_command(&args[1..], true),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            0
        }
        _ => {
            eprintln!("{USAGE}");
            2
        }
    }
}

struct RunArgs {
    paths: Vec<PathBuf>,
    backend: String,
    version: Option<KernelVersion>,
    json: bool,
}

fn parse_run_args(args: &[String]) -> Result<RunArgs, String> {
    let mut run = RunArgs {
        paths: Vec::new(),
        backend: "user".to_string(),
        version: None,
        json: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--backend" => run.backend = it.next().ok_or("--backend needs user or kernel")?.clone(),
            "--kernel" => {
                let word = it.next().ok_or("--kernel needs 6.12 or newest")?;
                run.version = Some(
                    KernelVersion::parse(word)
                        .ok_or_else(|| format!("--kernel {word}: use 6.12 or newest"))?,
                );
            }
            "-j" | "--json" => run.json = true,
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}")),
            path => run.paths.push(PathBuf::from(path)),
        }
    }
    if run.paths.is_empty() {
        return Err("no scenario files given".into());
    }
    if !backends::NAMES.contains(&run.backend.as_str()) {
        return Err(format!(
            "unknown backend {:?}; use user or kernel",
            run.backend
        ));
    }
    Ok(run)
}

fn run_command(args: &[String]) -> i32 {
    let run = match parse_run_args(args) {
        Ok(run) => run,
        Err(e) => {
            eprintln!("netkit conformance: {e}\n{USAGE}");
            return 2;
        }
    };
    // The kernel backend is whatever kernel runs; the reference VM's is 6.12.
    let version = run.version.unwrap_or(match run.backend.as_str() {
        "kernel" => KernelVersion::V6_12,
        _ => KernelVersion::Newest,
    });
    let scenarios = match load_all(&run.paths) {
        Ok(scenarios) => scenarios,
        Err(e) => {
            eprintln!("netkit conformance: {e}");
            return 2;
        }
    };
    let mut summary = Summary::default();
    let json = run.json;
    let mut report = |r: StepReport| print_report(&r, json);
    let mut open = |v: KernelVersion| backends::open(&run.backend, v);
    for scenario in &scenarios {
        runner::run_scenario(scenario, version, &mut open, &mut report, &mut summary);
    }
    if json {
        let line = serde_json::json!({
            "backend": run.backend,
            "kernel": version.to_string(),
            "scenarios": scenarios.len(),
            "passed": summary.passed,
            "failed": summary.failed,
            "skipped_scenarios": summary.skipped_scenarios,
            "skipped_steps": summary.skipped_steps,
        });
        println!("{line}");
    } else {
        println!(
            "{} passed, {} failed ({} scenarios on {} backend, kernel {}; skipped: {} scenarios, {} steps for another kernel)",
            summary.passed,
            summary.failed,
            scenarios.len() - summary.skipped_scenarios,
            run.backend,
            version,
            summary.skipped_scenarios,
            summary.skipped_steps
        );
    }
    i32::from(summary.failed > 0)
}

fn print_report(r: &StepReport, json: bool) {
    if json {
        let (pass, why) = match &r.verdict {
            Verdict::Pass => (true, None),
            Verdict::Fail(why) => (false, Some(why.clone())),
        };
        let line = serde_json::json!({
            "file": r.file, "line": r.line, "step": r.step, "pass": pass,
            "reason": why, "deviation": r.deviation,
        });
        println!("{line}");
        return;
    }
    let note = if r.deviation { " [deviation]" } else { "" };
    match &r.verdict {
        Verdict::Pass => println!("PASS {}:{} {}{note}", r.file, r.line, r.step),
        Verdict::Fail(why) => println!("FAIL {}:{} {}: {why}{note}", r.file, r.line, r.step),
    }
}

fn list_command(args: &[String], deviations_only: bool) -> i32 {
    let paths: Vec<PathBuf> = args.iter().map(PathBuf::from).collect();
    if paths.is_empty() {
        eprintln!("{USAGE}");
        return 2;
    }
    let scenarios = match load_all(&paths) {
        Ok(scenarios) => scenarios,
        Err(e) => {
            eprintln!("netkit conformance: {e}");
            return 2;
        }
    };
    let mut steps = 0;
    for s in &scenarios {
        steps += s.steps.len();
        if deviations_only {
            for step in &s.steps {
                if let Some(d) = &step.deviation {
                    println!("{}:{} {}: {}", s.file, step.line, step.text, d.reason);
                }
            }
        } else {
            let only = s.only.map(|v| format!(" (kernel {v})")).unwrap_or_default();
            println!("{}: {} — {} steps{only}", s.file, s.title, s.steps.len());
        }
    }
    if !deviations_only {
        println!("{} scenarios, {steps} steps", scenarios.len());
    }
    0
}

/// Loads every scenario named by `paths` (files, or directories of `.scn` files).
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<Scenario>, String> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let entries =
                std::fs::read_dir(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "scn"))
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(format!(
                    "{}: no .scn scenario files in this directory",
                    path.display()
                ));
            }
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    files.iter().map(|f| load(f)).collect()
}

fn load(path: &Path) -> Result<Scenario, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Scenario::parse(&path.display().to_string(), &text).map_err(|e| e.to_string())
}
