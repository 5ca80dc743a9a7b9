//! The scenario format: one step per line, each with the result it expects (docs/conformance.md).
//!
//! Parsing is separate from running: a [`Scenario`] is plain data, so a malformed file is
//! reported with its line number before any backend is touched.

use std::fmt;

/// Which kernel behaviour a scenario or a step describes, where the kernel changed over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelVersion {
    /// Linux 6.12, the reference VM's kernel.
    V6_12,
    /// The newest behaviour the specs describe.
    Newest,
}

impl KernelVersion {
    pub fn parse(word: &str) -> Option<KernelVersion> {
        match word {
            "6.12" => Some(KernelVersion::V6_12),
            "newest" => Some(KernelVersion::Newest),
            _ => None,
        }
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KernelVersion::V6_12 => "6.12",
            KernelVersion::Newest => "newest",
        })
    }
}

/// What a step expects to happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expect {
    pub outcome: Outcome,
    /// `key=value` checks on what the step returned (fields of a dump, a query, ...).
    pub checks: Vec<(String, String)>,
}

/// The headline result of a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// The step must fail with this errno (its symbolic name, e.g. "EEXIST").
    Errno(String),
    /// Transmit outcomes (`ok` accepts any of them).
    Delivered,
    Dropped,
    Redirected,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Ok => f.write_str("ok"),
            Outcome::Errno(name) => f.write_str(name),
            Outcome::Delivered => f.write_str("delivered"),
            Outcome::Dropped => f.write_str("dropped"),
            Outcome::Redirected => f.write_str("redirected"),
        }
    }
}

/// One line of a scenario that does something.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// 1-based line number in the file.
    pub line: usize,
    /// The command words as written (without the expectation), for reports.
    pub text: String,
    pub words: Vec<String>,
    /// Only run when the run targets this kernel behaviour (`@6.12` / `@newest` prefix).
    pub only: Option<KernelVersion>,
    /// What the kernel does (the judge).
    pub expect: Expect,
    /// A documented deviation: what the user-space backend does instead, and why.
    pub deviation: Option<Deviation>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deviation {
    pub reason: String,
    pub user_expect: Expect,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    pub file: String,
    pub title: String,
    /// `kernel 6.12` / `kernel newest`: the whole scenario describes one version's behaviour.
    pub only: Option<KernelVersion>,
    pub steps: Vec<Step>,
}

/// A malformed scenario file.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {msg}")]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    pub msg: String,
}

/// The errno names a step may expect (those `netkit_core::Errno` knows, plus ENETDOWN).
const ERRNO_NAMES: &[&str] = &[
    "EPERM",
    "ENOENT",
    "ENXIO",
    "EBADF",
    "EBADFD",
    "EAGAIN",
    "ENOMEM",
    "EACCES",
    "EFAULT",
    "EBUSY",
    "EEXIST",
    "ENODEV",
    "EINVAL",
    "ENOSPC",
    "ERANGE",
    "E2BIG",
    "ENOLINK",
    "EMSGSIZE",
    "EOPNOTSUPP",
    "EADDRNOTAVAIL",
    "ENOTCONN",
    "ESTALE",
    "ENETDOWN",
];

/// Command verbs: the first one or two words of a step.
const VERBS: &[&str] = &[
    "dev add",
    "dev change",
    "dev set",
    "dev del",
    "dev show",
    "dev ifindex",
    "prog load",
    "prog close",
    "prog attach",
    "prog detach",
    "prog query",
    "link create",
    "link update",
    "link detach",
    "link close",
    "link info",
    "xmit",
    "netns add",
    "netns use",
];

impl Scenario {
    /// Parses one scenario file's text; `file` names it in reports.
    pub fn parse(file: &str, text: &str) -> Result<Scenario, ParseError> {
        let err = |line: usize, msg: String| ParseError {
            file: file.to_string(),
            line,
            msg,
        };
        let mut scenario = Scenario {
            file: file.to_string(),
            title: String::new(),
            only: None,
            steps: Vec::new(),
        };
        let mut pending_deviation: Option<(usize, String)> = None;
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let content = strip_comment(raw).trim();
            if content.is_empty() {
                continue;
            }
            if let Some(title) = content.strip_prefix("scenario ") {
                scenario.title = title.trim().to_string();
                continue;
            }
            if let Some(version) = content.strip_prefix("kernel ") {
                scenario.only = Some(KernelVersion::parse(version.trim()).ok_or_else(|| {
                    err(
                        line,
                        format!("unknown kernel version {version:?}; use 6.12 or newest"),
                    )
                })?);
                continue;
            }
            if let Some(reason) = content.strip_prefix("deviation:") {
                if reason.trim().is_empty() {
                    return Err(err(line, "a deviation must say why".into()));
                }
                pending_deviation = Some((line, reason.trim().to_string()));
                continue;
            }
            let step = parse_step(line, content, pending_deviation.take())
                .map_err(|msg| err(line, msg))?;
            scenario.steps.push(step);
        }
        if let Some((line, _)) = pending_deviation {
            return Err(err(line, "deviation is not followed by a step".into()));
        }
        if scenario.title.is_empty() {
            scenario.title = file.to_string();
        }
        if scenario.steps.is_empty() {
            return Err(err(1, "scenario has no steps".into()));
        }
        Ok(scenario)
    }

    /// Whether the scenario applies to a run that targets `version`.
    pub fn applies_to(&self, version: KernelVersion) -> bool {
        self.only.is_none_or(|only| only == version)
    }
}

fn strip_comment(line: &str) -> &str {
    match line.find('#') {
        // `#N` is a literal ifindex; a comment starts with "# " or a lone "#".
        Some(pos) if line[pos + 1..].starts_with(|c: char| c.is_ascii_digit()) => {
            let rest = &line[pos + 1..];
            let skip = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let tail = strip_comment(&rest[skip..]);
            &line[..pos + 1 + skip + tail.len()]
        }
        Some(pos) => &line[..pos],
        None => line,
    }
}

fn parse_step(
    line: usize,
    content: &str,
    deviation: Option<(usize, String)>,
) -> Result<Step, String> {
    let (command, expectations) = match content.split_once("=>") {
        Some((command, rest)) => (command.trim(), Some(rest)),
        None => (content, None),
    };
    let (only, command) = match command.strip_prefix('@') {
        Some(rest) => {
            let (version, command) = rest
                .split_once(' ')
                .ok_or("a version prefix needs a step after it")?;
            let version = KernelVersion::parse(version).ok_or_else(|| {
                format!("unknown version prefix @{version}; use @6.12 or @newest")
            })?;
            (Some(version), command.trim())
        }
        None => (None, command),
    };
    let words: Vec<String> = command.split_whitespace().map(str::to_string).collect();
    let verb_ok = VERBS.iter().any(|verb| {
        let verb_words: Vec<&str> = verb.split(' ').collect();
        words.len() >= verb_words.len() && words.iter().zip(&verb_words).all(|(a, b)| a == b)
    });
    if !verb_ok {
        return Err(format!("unknown step {command:?}"));
    }
    let (kernel_text, user_text) = match expectations {
        None => (None, None),
        Some(rest) => match rest.split_once("=>user") {
            Some((kernel, user)) => (Some(kernel), Some(user)),
            None => (Some(rest), None),
        },
    };
    let expect = match kernel_text {
        Some(text) => parse_expect(text)?,
        None => Expect {
            outcome: Outcome::Ok,
            checks: Vec::new(),
        },
    };
    let deviation = match (deviation, user_text) {
        (Some((_, reason)), Some(user)) => Some(Deviation {
            reason,
            user_expect: parse_expect(user)?,
        }),
        (None, Some(_)) => return Err("`=>user` needs a `deviation:` line before the step".into()),
        (Some(_), None) => {
            return Err("a step after `deviation:` needs a `=>user` expectation".into())
        }
        (None, None) => None,
    };
    Ok(Step {
        line,
        text: command.to_string(),
        words,
        only,
        expect,
        deviation,
    })
}

fn parse_expect(text: &str) -> Result<Expect, String> {
    let mut words = text.split_whitespace();
    let head = words.next().ok_or("`=>` needs an expected result")?;
    let outcome = match head {
        "ok" => Outcome::Ok,
        "delivered" => Outcome::Delivered,
        "dropped" => Outcome::Dropped,
        "redirected" => Outcome::Redirected,
        errno if ERRNO_NAMES.contains(&errno) => Outcome::Errno(errno.to_string()),
        other => return Err(format!("unknown expected result {other:?}")),
    };
    let checks = words
        .map(|word| {
            word.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| format!("expected key=value, got {word:?}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Expect { outcome, checks })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_steps_versions_and_deviations() {
        let text = "scenario attach order\nkernel 6.12\n# comment\n\
                    dev add nk1 mode l2   # trailing comment\n\
                    prog attach P1 nk1 primary rev 1 => ESTALE\n\
                    @newest dev show nk1 => ok headroom=32 mode=l2\n\
                    deviation: AF_PACKET cannot send runts\n\
                    xmit nk1 runt => EINVAL =>user dropped\n\
                    dev show #7 => ENODEV\n";
        let s = Scenario::parse("t.nks", text).unwrap();
        assert_eq!(s.title, "attach order");
        assert_eq!(s.only, Some(KernelVersion::V6_12));
        assert_eq!(s.steps.len(), 5);
        assert_eq!(s.steps[0].words, ["dev", "add", "nk1", "mode", "l2"]);
        assert_eq!(s.steps[0].expect.outcome, Outcome::Ok);
        assert_eq!(s.steps[1].expect.outcome, Outcome::Errno("ESTALE".into()));
        assert_eq!(s.steps[2].only, Some(KernelVersion::Newest));
        assert_eq!(
            s.steps[2].expect.checks,
            [
                ("headroom".to_string(), "32".to_string()),
                ("mode".into(), "l2".into())
            ]
        );
        let dev = s.steps[3].deviation.as_ref().unwrap();
        assert_eq!(dev.user_expect.outcome, Outcome::Dropped);
        assert_eq!(s.steps[4].words, ["dev", "show", "#7"]);
        assert_eq!(s.steps[4].line, 9);
        assert!(!s.applies_to(KernelVersion::Newest));
    }

    #[test]
    fn rejects_malformed_lines_with_their_line_number() {
        let cases = [
            ("dev frob nk1\n", 1, "unknown step"),
            (
                "dev add nk1\nprog load P const 0 => EWHAT\n",
                2,
                "unknown expected result",
            ),
            ("dev add nk1 => ok mode\n", 1, "key=value"),
            ("xmit nk1 runt => EINVAL =>user dropped\n", 1, "deviation"),
            ("deviation: why\n", 1, "not followed"),
            ("kernel 5.4\ndev add\n", 1, "unknown kernel version"),
            ("@6.13 dev add\n", 1, "unknown version prefix"),
            ("# nothing\n", 1, "no steps"),
        ];
        for (text, line, needle) in cases {
            let e = Scenario::parse("f", text).unwrap_err();
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.msg.contains(needle), "{text:?}: {e}");
        }
    }
}
