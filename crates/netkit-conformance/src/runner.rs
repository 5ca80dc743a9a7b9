//! Runs scenarios against a backend: one fresh backend per scenario, one verdict per step,
//! and a cleanup that releases everything the scenario created even when a step failed.

use std::path::Path;

use netkit_core::Backend;

use crate::exec::{self, Bindings, Observed};
use crate::scenario::{Expect, KernelVersion, Outcome, Scenario, Step};

/// The verdict on one step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail(String),
}

/// One reported line.
#[derive(Clone, Debug)]
pub struct StepReport {
    pub file: String,
    pub line: usize,
    pub step: String,
    pub verdict: Verdict,
    /// The step ran under a documented deviation (user backend only).
    pub deviation: bool,
}

/// Totals of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    /// Scenarios not run because they describe another kernel version.
    pub skipped_scenarios: usize,
    /// Steps not run because they describe another kernel version.
    pub skipped_steps: usize,
}

/// Opens a fresh backend for one scenario, set up for the kernel behaviour the run targets.
pub type OpenBackend<'a> = dyn FnMut(KernelVersion) -> Result<Box<dyn Backend>, String> + 'a;

/// Runs `scenario` on a backend from `open`, reporting each step through `report`.
pub fn run_scenario(
    scenario: &Scenario,
    version: KernelVersion,
    open: &mut OpenBackend<'_>,
    report: &mut dyn FnMut(StepReport),
    summary: &mut Summary,
) {
    if !scenario.applies_to(version) {
        summary.skipped_scenarios += 1;
        return;
    }
    let mut backend = match open(version) {
        Ok(backend) => backend,
        Err(e) => {
            summary.failed += 1;
            report(StepReport {
                file: scenario.file.clone(),
                line: 0,
                step: "open backend".into(),
                verdict: Verdict::Fail(e),
                deviation: false,
            });
            return;
        }
    };
    run_steps(scenario, version, backend.as_mut(), report, summary);
}

/// Runs the steps of `scenario` (which must apply to `version`) on `backend`, then releases
/// everything the steps created, so that the backend is as clean as before.
pub fn run_steps(
    scenario: &Scenario,
    version: KernelVersion,
    backend: &mut dyn Backend,
    report: &mut dyn FnMut(StepReport),
    summary: &mut Summary,
) {
    let user = backend.name() == "user";
    let dir = Path::new(&scenario.file).parent().unwrap_or(Path::new("."));
    let mut bindings = Bindings::default();
    for step in &scenario.steps {
        if step.only.is_some_and(|only| only != version) {
            summary.skipped_steps += 1;
            continue;
        }
        let (expect, deviation) = match (&step.deviation, user) {
            (Some(d), true) => (&d.user_expect, true),
            _ => (&step.expect, false),
        };
        let verdict = judge(
            step,
            expect,
            exec::execute(backend, &mut bindings, &step.words, dir),
        );
        match verdict {
            Verdict::Pass => summary.passed += 1,
            Verdict::Fail(_) => summary.failed += 1,
        }
        report(StepReport {
            file: scenario.file.clone(),
            line: step.line,
            step: step.text.clone(),
            verdict,
            deviation,
        });
    }
    bindings.cleanup(backend);
}

fn judge(step: &Step, expect: &Expect, observed: Result<Observed, String>) -> Verdict {
    let observed = match observed {
        Ok(observed) => observed,
        Err(problem) => return Verdict::Fail(format!("scenario error: {problem}")),
    };
    let got = observed.outcome.clone().unwrap_or(Outcome::Ok);
    let outcome_ok = match (&expect.outcome, &got) {
        // `ok` on a transmit accepts any outcome; the checks say more.
        (Outcome::Ok, Outcome::Delivered | Outcome::Dropped | Outcome::Redirected) => {
            step.words[0] == "xmit"
        }
        (want, got) => want == got,
    };
    if !outcome_ok {
        let detail = match (&got, &observed.message) {
            (Outcome::Errno(_), Some(message)) => format!(" ({message})"),
            (Outcome::Errno(_), None) => String::new(),
            _ => render_fields(&observed, expect),
        };
        return Verdict::Fail(format!("expected {}, got {got}{detail}", expect.outcome));
    }
    let mismatches: Vec<String> = expect
        .checks
        .iter()
        .filter_map(
            |(key, want)| match observed.fields.iter().find(|(k, _)| k == key) {
                None => Some(format!("{key}: not reported")),
                Some((_, value)) if exec::value_matches(key, want, value) => None,
                Some((_, value)) => Some(format!("{key}={want}, got {key}={value}")),
            },
        )
        .collect();
    if mismatches.is_empty() {
        Verdict::Pass
    } else {
        Verdict::Fail(format!("expected {}", mismatches.join("; expected ")))
    }
}

/// The fields a failed expectation asked about, to show what came back instead.
fn render_fields(observed: &Observed, expect: &Expect) -> String {
    let shown: Vec<String> = observed
        .fields
        .iter()
        .filter(|(k, _)| expect.checks.iter().any(|(want, _)| want == k))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if shown.is_empty() {
        String::new()
    } else {
        format!(" ({})", shown.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(text: &str) -> Step {
        Scenario::parse("t", text).unwrap().steps.remove(0)
    }

    fn observed(outcome: Outcome, fields: &[(&str, &str)]) -> Result<Observed, String> {
        Ok(Observed {
            outcome: Some(outcome),
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            message: None,
        })
    }

    #[test]
    fn judges_outcomes_and_fields() {
        let s = step("prog query nk1 primary => ok count=2 progs=P2,P1\n");
        let good = observed(
            Outcome::Ok,
            &[("count", "2"), ("rev", "3"), ("progs", "P2,P1")],
        );
        assert_eq!(judge(&s, &s.expect, good), Verdict::Pass);
        let order = observed(Outcome::Ok, &[("count", "2"), ("progs", "P1,P2")]);
        assert_eq!(
            judge(&s, &s.expect, order),
            Verdict::Fail("expected progs=P2,P1, got progs=P1,P2".into())
        );
        let errno = observed(Outcome::Errno("EACCES".into()), &[]);
        assert_eq!(
            judge(&s, &s.expect, errno),
            Verdict::Fail("expected ok, got EACCES".into())
        );
        let missing = observed(Outcome::Ok, &[("count", "2")]);
        assert_eq!(
            judge(&s, &s.expect, missing),
            Verdict::Fail("expected progs: not reported".into())
        );
    }

    #[test]
    fn xmit_ok_accepts_any_outcome_but_named_outcomes_must_match() {
        let any = step("xmit nk1 ipv4-icmp\n");
        assert_eq!(
            judge(&any, &any.expect, observed(Outcome::Dropped, &[])),
            Verdict::Pass
        );
        let want = step("xmit nk1 ipv4-icmp => delivered\n");
        assert_eq!(
            judge(&want, &want.expect, observed(Outcome::Dropped, &[])),
            Verdict::Fail("expected delivered, got dropped".into())
        );
        let not_xmit = step("dev show nk1\n");
        assert!(matches!(
            judge(&not_xmit, &not_xmit.expect, observed(Outcome::Dropped, &[])),
            Verdict::Fail(_)
        ));
        assert_eq!(
            judge(&want, &want.expect, Err("no device named nk9".into())),
            Verdict::Fail("scenario error: no device named nk9".into())
        );
    }
}
