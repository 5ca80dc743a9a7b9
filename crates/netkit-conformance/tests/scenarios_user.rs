//! Every scenario in `scenarios/` passes on the user-space backend, for both kernel behaviours
//! the backend can be set to. (The kernel half runs in the reference VM: scripts/conformance.sh.)

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use netkit_conformance::runner::{self, StepReport, Summary, Verdict};
use netkit_conformance::scenario::{KernelVersion, Scenario};
use netkit_conformance::{backends, load_all};

fn scenarios_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scenarios")
}

/// Builds the clang probes the `bpf-*` scenarios load (scenarios/bpf, once per test process);
/// false (after printing SKIP) when make or clang-19 is missing, a failure under
/// NETKIT_REQUIRE_PRIVILEGED=1.
fn probes_built() -> bool {
    static BUILT: OnceLock<bool> = OnceLock::new();
    *BUILT.get_or_init(|| {
        let status = Command::new("make")
            .args(["-s", "-C"])
            .arg(scenarios_dir().join("bpf"))
            .status();
        match status {
            Ok(s) if s.success() => true,
            other => {
                let required = std::env::var("NETKIT_REQUIRE_PRIVILEGED").as_deref() == Ok("1");
                assert!(!required, "building scenarios/bpf failed: {other:?}");
                eprintln!("SKIP scenarios loading objects: needs make and clang-19 ({other:?})");
                false
            }
        }
    })
}

fn loads_objects(scenario: &Scenario) -> bool {
    scenario
        .steps
        .iter()
        .any(|s| s.words.len() > 3 && s.words[..2] == ["prog", "load"] && s.words[3] == "object")
}

fn run_all(version: KernelVersion) -> (Summary, Vec<String>) {
    let mut scenarios = load_all(&[scenarios_dir()]).expect("scenarios parse");
    assert!(scenarios.len() >= 60, "only {} scenarios", scenarios.len());
    if !probes_built() {
        scenarios.retain(|s| !loads_objects(s));
    }
    let mut summary = Summary::default();
    let mut failures = Vec::new();
    let mut report = |r: StepReport| {
        if let Verdict::Fail(why) = r.verdict {
            failures.push(format!("{}:{} {}: {why}", r.file, r.line, r.step));
        }
    };
    let mut open = |v: KernelVersion| backends::open("user", v);
    for scenario in &scenarios {
        runner::run_scenario(scenario, version, &mut open, &mut report, &mut summary);
    }
    (summary, failures)
}

#[test]
fn all_scenarios_pass_on_the_user_backend_as_newest() {
    let (summary, failures) = run_all(KernelVersion::Newest);
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(summary.passed > 1000, "{summary:?}");
}

#[test]
fn all_scenarios_pass_on_the_user_backend_as_6_12() {
    let (summary, failures) = run_all(KernelVersion::V6_12);
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(summary.passed > 1000, "{summary:?}");
    // Scenarios marked `kernel newest` are skipped, not silently passed.
    assert!(summary.skipped_scenarios >= 1, "{summary:?}");
}

#[test]
fn a_wrong_expectation_fails_with_the_observed_value() {
    let text = "dev add nk1\nprog load P1 const -1\nprog attach P1 nk1 primary\n\
                prog attach P1 nk1 primary => ok\nprog query nk1 primary => ok count=1 rev=3\n";
    let scenario = Scenario::parse("wrong.scn", text).unwrap();
    let mut summary = Summary::default();
    let mut lines = Vec::new();
    let mut report = |r: StepReport| lines.push((r.line, r.verdict));
    let mut open = |v: KernelVersion| backends::open("user", v);
    runner::run_scenario(
        &scenario,
        KernelVersion::Newest,
        &mut open,
        &mut report,
        &mut summary,
    );
    assert_eq!(summary.passed, 3);
    assert_eq!(summary.failed, 2);
    // The backend's own sentence follows the errno.
    match &lines[3] {
        (4, Verdict::Fail(why)) => assert!(why.starts_with("expected ok, got EEXIST ("), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        lines[4],
        (5, Verdict::Fail("expected rev=3, got rev=2".into()))
    );
}

#[test]
fn each_scenario_starts_clean_even_after_a_failure() {
    // One backend for both scenarios, as the kernel is shared. The first fails half-way with
    // a pair, a program and a link alive; the second must find the default names free again.
    let first = "dev add => ok primary=nk1 peer=nk0\nprog load P1 const 0\n\
                 link create L1 P1 nk1 primary\nprog attach P1 nk1 peer\ndev show nk1 => ok mode=l2\n";
    let second = "dev add => ok primary=nk1 peer=nk0\nprog query nk1 primary => ok count=0 rev=1\n";
    let mut backend = backends::open("user", KernelVersion::Newest).unwrap();
    let mut summary = Summary::default();
    let mut report = |_r: StepReport| {};
    let a = Scenario::parse("a.scn", first).unwrap();
    runner::run_steps(
        &a,
        KernelVersion::Newest,
        backend.as_mut(),
        &mut report,
        &mut summary,
    );
    assert_eq!((summary.passed, summary.failed), (4, 1));
    assert!(
        backend.ifindex_by_name("nk1").is_err(),
        "cleanup left nk1 behind"
    );
    assert!(
        backend.ifindex_by_name("nk0").is_err(),
        "cleanup left nk0 behind"
    );
    let b = Scenario::parse("b.scn", second).unwrap();
    runner::run_steps(
        &b,
        KernelVersion::Newest,
        backend.as_mut(),
        &mut report,
        &mut summary,
    );
    assert_eq!((summary.passed, summary.failed), (6, 1));
}

#[test]
fn devices_are_named_per_namespace_and_cleaned_up_in_theirs() {
    // Both ends are called nkx; which one a step means depends on `netns use`. A name bound
    // only elsewhere, and a namespace never added, are scenario errors that say so.
    let text = "netns add nkt-a\n\
                dev add nkx peer name nkx netns nkt-a => ok primary=nkx peer=nkx\n\
                dev show nkx => ok primary=1 peer=nkx\n\
                dev add nky\n\
                netns use nkt-a\n\
                dev show nkx => ok primary=0 netns=nkt-a\n\
                dev show nky => ok\n\
                netns use nkt-b\n\
                netns use -\n\
                dev show nkx => ok primary=1 netns=-\n";
    let scenario = Scenario::parse("ns.scn", text).unwrap();
    let mut backend = backends::open("user", KernelVersion::Newest).unwrap();
    let mut summary = Summary::default();
    let mut lines = Vec::new();
    let mut report = |r: StepReport| lines.push((r.line, r.verdict));
    runner::run_steps(
        &scenario,
        KernelVersion::Newest,
        backend.as_mut(),
        &mut report,
        &mut summary,
    );
    let failures: Vec<_> = lines
        .iter()
        .filter_map(|(line, v)| match v {
            Verdict::Fail(why) => Some((*line, why.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert_eq!(failures[0].0, 7);
    assert!(
        failures[0].1.contains("nky lives in namespace -"),
        "{failures:?}"
    );
    assert_eq!(failures[1].0, 8);
    assert!(
        failures[1].1.contains("no `netns add nkt-b`"),
        "{failures:?}"
    );
    assert_eq!(summary.passed, 8);
    // Cleanup deleted the pair from the right namespace and left the caller in the initial one.
    assert!(backend.ifindex_by_name("nkx").is_err());
    backend.set_netns(Some("nkt-a")).unwrap();
    assert!(backend.ifindex_by_name("nkx").is_err());
}
