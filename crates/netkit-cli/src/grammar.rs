//! The command grammar: iproute2's for `link`, bpftool's for `prog`, `bpflink` and `map`.
//! Parsing is pure: words in, a [`Command`] or a sentence saying what was wrong out.

use netkit_proto::{
    self as proto, Anchor, BpflinkCreateReq, Hook, LinkAddReq, LinkSetReq, Mode, Policy,
    ProgAttachReq, ProgDetachReq, Request, Scrub, UpdateFlag,
};

/// What the words ask for.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// A request to the daemon.
    Request(Request),
    /// `prog load`: the file is read by the CLI and sent as bytes.
    ProgLoad {
        path: String,
        section: Option<String>,
        name: Option<String>,
    },
    Daemon(Vec<String>),
    ProgRun(Vec<String>),
    Conformance(Vec<String>),
    /// The grammar, or one object's part of it (`netkit link help`).
    Help(Option<String>),
}

pub const USAGE: &str = "\
Usage: netkit [-j] [-s] [--socket PATH] [--backend daemon|kernel] OBJECT COMMAND
  netkit link add [NAME] [index N] type netkit [mode l2|l3] [forward|blackhole]
                  [scrub default|none] [headroom N] [tailroom N]
                  [peer [forward|blackhole] [scrub default|none] [name PEER] [netns NS] [index M]]
  netkit link set NAME [forward|blackhole] [peer forward|blackhole] [netns NS]
  netkit link del NAME
  netkit link show [NAME]
  netkit prog load OBJ [section SEC] [name N]
  netkit prog show [id N]
  netkit prog unload id N
  netkit prog attach id N dev NAME primary|peer [ANCHOR] [replace id N] [expected-revision R]
  netkit prog detach [id N] dev NAME primary|peer [ANCHOR] [expected-revision R]
  netkit prog query dev NAME primary|peer
  netkit prog tracelog [id N]
  netkit prog run OBJ ... | raw FILE ...
  netkit bpflink create id N dev NAME primary|peer [ANCHOR] [expected-revision R]
  netkit bpflink update id L prog N [replace N]
  netkit bpflink detach id L
  netkit bpflink show [id L]
  netkit map show [id M]
  netkit map dump id M
  netkit map lookup id M key BYTES
  netkit map update id M key BYTES value BYTES [any|noexist|exist]
  netkit map delete id M key BYTES
  netkit conformance run ...
  netkit daemon [--socket PATH] [--state-dir DIR] [--group GROUP] [--model-only]
ANCHOR := first | last | before|after [id N | link L]
BYTES  := bytes as 0xNN or decimal, or `hex` followed by hex digits";

/// The part of [`USAGE`] about `object` (its commands and the notations they use), or all of it.
pub fn usage(object: Option<&str>) -> String {
    let Some(object) = object else {
        return USAGE.to_string();
    };
    let prefix = format!("  netkit {object} ");
    let mut lines = USAGE.lines();
    let mut out = vec![lines.next().unwrap_or_default().to_string()];
    let mut in_command = false;
    for line in lines {
        if line.starts_with("  netkit ") {
            in_command = line.starts_with(&prefix);
        } else if !line.starts_with("    ") {
            in_command = false;
            let notation = line.split_whitespace().next().unwrap_or_default();
            if out.iter().any(|l| l.contains(notation)) {
                out.push(line.to_string());
            }
            continue;
        }
        if in_command {
            out.push(line.to_string());
        }
    }
    if out.len() == 1 {
        return USAGE.to_string();
    }
    out.join("\n")
}

type Parse<T> = Result<T, String>;

/// A cursor over the words of one command.
struct Words<'a> {
    words: &'a [String],
    pos: usize,
}

impl<'a> Words<'a> {
    fn next(&mut self) -> Option<&'a str> {
        let w = self.words.get(self.pos)?;
        self.pos += 1;
        Some(w.as_str())
    }

    fn peek(&self) -> Option<&'a str> {
        self.words.get(self.pos).map(String::as_str)
    }

    fn value(&mut self, after: &str, what: &str) -> Parse<&'a str> {
        self.next()
            .ok_or_else(|| format!("\"{after}\" needs {what} after it"))
    }

    fn number<T: std::str::FromStr>(&mut self, after: &str, range: &str) -> Parse<T> {
        let w = self.value(after, range)?;
        parse_number(w).ok_or_else(|| format!("\"{after}\" takes {range}, not \"{w}\""))
    }

    fn rest(&self) -> Vec<String> {
        self.words[self.pos..].to_vec()
    }
}

/// Decimal or 0x-hex.
fn parse_number<T: std::str::FromStr>(w: &str) -> Option<T> {
    if let Some(hex) = w.strip_prefix("0x") {
        let v = u64::from_str_radix(hex, 16).ok()?;
        return v.to_string().parse().ok();
    }
    w.parse().ok()
}

fn unknown(word: &str, context: &str) -> String {
    format!("unknown argument \"{word}\" in {context}")
}

/// Parses the words after the global options.
pub fn parse(words: &[String]) -> Parse<Command> {
    let mut w = Words { words, pos: 0 };
    let object = w.next().ok_or("no command given")?;
    let help = |word: Option<&str>| matches!(word, Some("help" | "-h" | "--help"));
    if help(Some(object)) {
        return Ok(Command::Help(None));
    }
    let known = ["link", "prog", "bpflink", "map", "daemon"];
    if known.contains(&object) && help(w.peek()) {
        return Ok(Command::Help(Some(object.to_string())));
    }
    match object {
        "daemon" => Ok(Command::Daemon(w.rest())),
        "conformance" => Ok(Command::Conformance(w.rest())),
        "link" => parse_link(&mut w),
        "prog" => parse_prog(&mut w),
        "bpflink" => parse_bpflink(&mut w),
        "map" => parse_map(&mut w),
        other => Err(format!(
            "unknown object \"{other}\" (expected link, prog, bpflink, map, conformance or daemon)"
        )),
    }
}

fn policy(word: &str) -> Option<Policy> {
    match word {
        "forward" | "pass" => Some(Policy::Forward),
        "blackhole" | "drop" => Some(Policy::Blackhole),
        _ => None,
    }
}

fn scrub(w: &mut Words) -> Parse<Scrub> {
    match w.value("scrub", "default or none")? {
        "default" => Ok(Scrub::Default),
        "none" => Ok(Scrub::None),
        other => Err(format!("scrub takes default or none, not \"{other}\"")),
    }
}

fn dev_name(w: &mut Words, context: &str) -> Parse<String> {
    match w.next() {
        Some("dev") => Ok(w.value("dev", "a device name")?.to_string()),
        Some(name) => Ok(name.to_string()),
        None => Err(format!("{context} needs a device name")),
    }
}

fn parse_link(w: &mut Words) -> Parse<Command> {
    let req = match w.next().unwrap_or("show") {
        "add" => Request::LinkAdd(parse_link_add(w)?),
        "set" | "change" => {
            let name = dev_name(w, "link set")?;
            let mut r = LinkSetReq {
                name,
                ..LinkSetReq::default()
            };
            while let Some(word) = w.next() {
                if let Some(p) = policy(word) {
                    r.policy = Some(p);
                } else if word == "peer" {
                    let p = w.value("peer", "forward or blackhole")?;
                    r.peer_policy =
                        Some(policy(p).ok_or_else(|| {
                            format!("peer takes forward or blackhole, not \"{p}\"")
                        })?);
                } else if word == "netns" {
                    r.netns = Some(w.value("netns", "a namespace name")?.to_string());
                } else {
                    return Err(unknown(word, "link set"));
                }
            }
            if r.policy.is_none() && r.peer_policy.is_none() && r.netns.is_none() {
                return Err(
                    "link set needs forward, blackhole, peer forward|blackhole or netns NS".into(),
                );
            }
            Request::LinkSet(r)
        }
        "del" | "delete" => {
            let name = dev_name(w, "link del")?;
            if let Some(extra) = w.next() {
                return Err(unknown(extra, "link del"));
            }
            Request::LinkDel { name }
        }
        "show" | "list" | "ls" => {
            let name = match w.peek() {
                Some(_) => Some(dev_name(w, "link show")?),
                None => None,
            };
            if let Some(extra) = w.next() {
                return Err(unknown(extra, "link show"));
            }
            Request::LinkShow { name }
        }
        other => {
            return Err(format!(
                "unknown link command \"{other}\" (add, set, del, show)"
            ))
        }
    };
    Ok(Command::Request(req))
}

/// `index N`: the ifindex a device is created at, 0 = allocated (as `ip link add ... index N`).
fn ifindex(w: &mut Words) -> Parse<i32> {
    let word = w.value("index", "an ifindex")?;
    match word.parse::<i32>() {
        Ok(i) if i >= 0 => Ok(i),
        _ => Err(format!(
            "index takes an ifindex 0..2147483647 (0: allocate one), not \"{word}\""
        )),
    }
}

fn parse_link_add(w: &mut Words) -> Parse<LinkAddReq> {
    let mut r = LinkAddReq::default();
    // Before `type`: the name, bare or after `name`.
    loop {
        match w.next() {
            Some("type") => break,
            Some("name") => r.name = Some(w.value("name", "a device name")?.to_string()),
            Some("index") => r.ifindex = Some(ifindex(w)?),
            Some(word) if r.name.is_none() => r.name = Some(word.to_string()),
            Some(word) => return Err(unknown(word, "link add")),
            None => return Err("link add needs \"type netkit\"".into()),
        }
    }
    match w.next() {
        Some("netkit") => {}
        Some(other) => {
            return Err(format!(
                "only \"type netkit\" is supported, not \"{other}\""
            ))
        }
        None => return Err("\"type\" needs netkit after it".into()),
    }
    let mut in_peer = false;
    while let Some(word) = w.next() {
        if let Some(p) = policy(word) {
            if in_peer {
                r.peer_policy = Some(p);
            } else {
                r.policy = Some(p);
            }
            continue;
        }
        match (word, in_peer) {
            ("peer", false) => in_peer = true,
            ("mode", false) => {
                r.mode = Some(match w.value("mode", "l2 or l3")? {
                    "l2" => Mode::L2,
                    "l3" => Mode::L3,
                    other => return Err(format!("mode takes l2 or l3, not \"{other}\"")),
                })
            }
            ("scrub", false) => r.scrub = Some(scrub(w)?),
            ("scrub", true) => r.peer_scrub = Some(scrub(w)?),
            ("headroom", false) => r.headroom = Some(w.number("headroom", "a number 0..65535")?),
            ("tailroom", false) => r.tailroom = Some(w.number("tailroom", "a number 0..65535")?),
            ("name", true) => r.peer_name = Some(w.value("name", "a device name")?.to_string()),
            ("netns", true) => {
                r.peer_netns = Some(w.value("netns", "a namespace name")?.to_string())
            }
            ("index", true) => r.peer_ifindex = Some(ifindex(w)?),
            (other, false) => return Err(unknown(other, "link add ... type netkit")),
            (other, true) => return Err(unknown(other, "the peer options of link add")),
        }
    }
    Ok(r)
}

fn hook(w: &mut Words, context: &str) -> Parse<Hook> {
    match w.next() {
        Some("primary") => Ok(Hook::Primary),
        Some("peer") => Ok(Hook::Peer),
        Some(other) => Err(format!(
            "{context}: expected primary or peer, not \"{other}\""
        )),
        None => Err(format!("{context} needs primary or peer after the device")),
    }
}

/// `before|after [id N | link L]`, `first`, `last`; the keyword was consumed.
fn anchor(w: &mut Words, keyword: &str) -> Parse<Anchor> {
    let before = match keyword {
        "first" => return Ok(Anchor::First),
        "last" => return Ok(Anchor::Last),
        "before" => true,
        _ => false,
    };
    Ok(match w.peek() {
        Some("id") => {
            w.next();
            let id = w.number("id", "a program id")?;
            if before {
                Anchor::BeforeProg(id)
            } else {
                Anchor::AfterProg(id)
            }
        }
        Some("link") => {
            w.next();
            let id = w.number("link", "a link id")?;
            if before {
                Anchor::BeforeLink(id)
            } else {
                Anchor::AfterLink(id)
            }
        }
        _ if before => Anchor::First,
        _ => Anchor::Last,
    })
}

/// The shared tail of attach, detach and link create.
#[derive(Default)]
struct Placement {
    prog_id: Option<u32>,
    dev: Option<String>,
    hook: Option<Hook>,
    anchor: Option<Anchor>,
    replace: Option<u32>,
    expected_revision: Option<u64>,
}

fn placement(w: &mut Words, context: &str, allow_replace: bool) -> Parse<Placement> {
    let mut p = Placement::default();
    while let Some(word) = w.next() {
        match word {
            "id" if p.prog_id.is_none() => p.prog_id = Some(w.number("id", "a program id")?),
            "dev" => {
                p.dev = Some(w.value("dev", "a device name")?.to_string());
                p.hook = Some(hook(w, context)?);
            }
            "first" | "last" | "before" | "after" if p.anchor.is_none() => {
                p.anchor = Some(anchor(w, word)?)
            }
            "replace" if allow_replace => {
                match w.next() {
                    Some("id") => {}
                    other => {
                        return Err(format!(
                            "replace takes \"id N\", not \"{}\"",
                            other.unwrap_or("nothing")
                        ))
                    }
                }
                p.replace = Some(w.number("replace id", "a program id")?);
            }
            "expected-revision" | "expected_revision" => {
                p.expected_revision = Some(w.number(word, "a revision number")?)
            }
            other => return Err(unknown(other, context)),
        }
    }
    if p.dev.is_none() {
        return Err(format!("{context} needs \"dev NAME primary|peer\""));
    }
    Ok(p)
}

fn parse_prog(w: &mut Words) -> Parse<Command> {
    let req = match w.next().unwrap_or("show") {
        "run" => return Ok(Command::ProgRun(w.rest())),
        "load" => {
            let path = w.value("prog load", "an object file")?.to_string();
            let (mut section, mut name) = (None, None);
            while let Some(word) = w.next() {
                match word {
                    "section" | "sec" => section = Some(w.value(word, "a section name")?.to_string()),
                    "name" => name = Some(w.value("name", "a program name")?.to_string()),
                    other => return Err(unknown(other, "prog load")),
                }
            }
            return Ok(Command::ProgLoad {
                path,
                section,
                name,
            });
        }
        "show" | "list" => Request::ProgShow {
            id: optional_id(w, "prog show")?,
        },
        "tracelog" => Request::ProgTracelog {
            id: optional_id(w, "prog tracelog")?,
        },
        "unload" => Request::ProgUnload {
            id: required_id(w, "prog unload")?,
        },
        "query" => {
            let p = placement(w, "prog query", false)?;
            Request::ProgQuery {
                dev: p.dev.unwrap_or_default(),
                hook: p.hook.unwrap_or(Hook::Primary),
            }
        }
        "attach" => {
            let p = placement(w, "prog attach", true)?;
            Request::ProgAttach(ProgAttachReq {
                prog_id: p.prog_id.ok_or("prog attach needs \"id N\"")?,
                dev: p.dev.unwrap_or_default(),
                hook: p.hook.unwrap_or(Hook::Primary),
                anchor: p.anchor,
                replace_prog_id: p.replace,
                expected_revision: p.expected_revision,
            })
        }
        "detach" => {
            let p = placement(w, "prog detach", false)?;
            Request::ProgDetach(ProgDetachReq {
                prog_id: p.prog_id,
                dev: p.dev.unwrap_or_default(),
                hook: p.hook.unwrap_or(Hook::Primary),
                anchor: p.anchor,
                expected_revision: p.expected_revision,
            })
        }
        other => {
            return Err(format!(
                "unknown prog command \"{other}\" (load, show, unload, attach, detach, query, tracelog, run)"
            ))
        }
    };
    Ok(Command::Request(req))
}

fn optional_id(w: &mut Words, context: &str) -> Parse<Option<u32>> {
    match w.next() {
        None => Ok(None),
        Some("id") => {
            let id = w.number("id", "an id")?;
            match w.next() {
                None => Ok(Some(id)),
                Some(extra) => Err(unknown(extra, context)),
            }
        }
        Some(other) => Err(unknown(other, context)),
    }
}

fn required_id(w: &mut Words, context: &str) -> Parse<u32> {
    optional_id(w, context)?.ok_or_else(|| format!("{context} needs \"id N\""))
}

fn parse_bpflink(w: &mut Words) -> Parse<Command> {
    let req = match w.next().unwrap_or("show") {
        "create" => {
            let p = placement(w, "bpflink create", false)?;
            Request::BpflinkCreate(BpflinkCreateReq {
                prog_id: p
                    .prog_id
                    .ok_or("bpflink create needs \"id N\" (the program)")?,
                dev: p.dev.unwrap_or_default(),
                hook: p.hook.unwrap_or(Hook::Primary),
                anchor: p.anchor,
                expected_revision: p.expected_revision,
            })
        }
        "update" => {
            let (mut id, mut prog, mut old) = (None, None, None);
            while let Some(word) = w.next() {
                match word {
                    "id" => id = Some(w.number("id", "a link id")?),
                    "prog" => {
                        if w.peek() == Some("id") {
                            w.next();
                        }
                        prog = Some(w.number("prog", "a program id")?);
                    }
                    "replace" | "old" => {
                        if w.peek() == Some("id") {
                            w.next();
                        }
                        old = Some(w.number(word, "a program id")?);
                    }
                    other => return Err(unknown(other, "bpflink update")),
                }
            }
            Request::BpflinkUpdate {
                id: id.ok_or("bpflink update needs \"id L\"")?,
                prog_id: prog.ok_or("bpflink update needs \"prog N\"")?,
                old_prog_id: old,
            }
        }
        "detach" => Request::BpflinkDetach {
            id: required_id(w, "bpflink detach")?,
        },
        "show" | "list" => Request::BpflinkShow {
            id: optional_id(w, "bpflink show")?,
        },
        other => {
            return Err(format!(
                "unknown bpflink command \"{other}\" (create, update, detach, show)"
            ))
        }
    };
    Ok(Command::Request(req))
}

/// Bytes until one of `stop` words: `0xNN`/decimal words, or `hex` followed by hex digits.
fn bytes(w: &mut Words, what: &str, stop: &[&str]) -> Parse<String> {
    let mut out = Vec::new();
    let mut hex_mode = false;
    while let Some(word) = w.peek() {
        if stop.contains(&word) {
            break;
        }
        w.next();
        if word == "hex" {
            hex_mode = true;
            continue;
        }
        if hex_mode {
            out.extend(proto::hex::decode(word).map_err(|e| format!("{what}: {e}"))?);
        } else {
            let b: u8 = parse_number(word)
                .ok_or_else(|| format!("{what}: \"{word}\" is not a byte (0..255 or 0xNN)"))?;
            out.push(b);
        }
    }
    if out.is_empty() {
        return Err(format!("{what} needs at least one byte"));
    }
    Ok(proto::hex::encode(&out))
}

fn parse_map(w: &mut Words) -> Parse<Command> {
    let cmd = w.next().unwrap_or("show");
    if matches!(cmd, "show" | "list") {
        return Ok(Command::Request(Request::MapShow {
            id: optional_id(w, "map show")?,
        }));
    }
    match w.next() {
        Some("id") => {}
        _ => return Err(format!("map {cmd} needs \"id M\"")),
    }
    let id = w.number("id", "a map id")?;
    let key = |w: &mut Words| -> Parse<String> {
        match w.next() {
            Some("key") => bytes(w, "key", &["value", "any", "noexist", "exist"]),
            _ => Err(format!("map {cmd} needs \"key BYTES\"")),
        }
    };
    let req = match cmd {
        "dump" => Request::MapDump { id },
        "lookup" => Request::MapLookup { id, key: key(w)? },
        "delete" => Request::MapDelete { id, key: key(w)? },
        "update" => {
            let k = key(w)?;
            match w.next() {
                Some("value") => {}
                _ => return Err("map update needs \"value BYTES\"".into()),
            }
            let value = bytes(w, "value", &["any", "noexist", "exist"])?;
            let flag = match w.next() {
                None | Some("any") => UpdateFlag::Any,
                Some("noexist") => UpdateFlag::NoExist,
                Some("exist") => UpdateFlag::Exist,
                Some(other) => return Err(unknown(other, "map update")),
            };
            Request::MapUpdate {
                id,
                key: k,
                value,
                flag,
            }
        }
        other => {
            return Err(format!(
                "unknown map command \"{other}\" (show, dump, lookup, update, delete)"
            ))
        }
    };
    if let Some(extra) = w.next() {
        return Err(unknown(extra, &format!("map {cmd}")));
    }
    Ok(Command::Request(req))
}

#[cfg(test)]
#[path = "grammar_tests.rs"]
mod tests;
