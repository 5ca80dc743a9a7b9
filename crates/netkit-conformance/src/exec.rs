//! Executes one step against a backend and renders what happened symbolically (program, link
//! and device names instead of ids), so that the same expectation holds on every backend.

use std::collections::HashMap;
use std::path::Path;

use netkit_core::{
    flags, AttachReq, Backend, DetachReq, Errno, Error, Handle, Hook, IfIndex, LinkCreateReq,
    LinkId, LinkInfo, Mode, Pairing, ProgId, QueryReq, QueryResult, Relative, TxMeta, TxOutcome,
};

use crate::args::{
    self, change_link, format_mac, hook_name, parse_hook, parse_mac, parse_mac_bytes, parse_num,
    policy_name, prog_source, scrub_name,
};
use crate::frames;
use crate::scenario::Outcome;

/// What a step produced: its headline outcome and the fields its checks may name.
#[derive(Debug, Default)]
pub struct Observed {
    pub outcome: Option<Outcome>,
    pub fields: Vec<(String, String)>,
    /// The backend's sentence when the step failed, for reports.
    pub message: Option<String>,
}

impl Observed {
    fn ok() -> Observed {
        Observed {
            outcome: Some(Outcome::Ok),
            fields: Vec::new(),
            message: None,
        }
    }

    fn failed(e: &Error) -> Observed {
        Observed {
            outcome: Some(Outcome::Errno(errno_name(e.errno))),
            fields: Vec::new(),
            message: Some(e.msg.clone()),
        }
    }

    fn from(result: Result<(), Error>) -> Observed {
        match result {
            Ok(()) => Observed::ok(),
            Err(e) => Observed::failed(&e),
        }
    }

    fn field(&mut self, key: &str, value: impl ToString) {
        self.fields.push((key.to_string(), value.to_string()));
    }
}

/// The symbolic errno name; ENETDOWN and EBADFD are not ones `netkit_core::Errno` names.
pub fn errno_name(errno: Errno) -> String {
    match errno {
        Errno::Other(100) => "ENETDOWN".to_string(),
        Errno::Other(77) => "EBADFD".to_string(),
        other => other.name(),
    }
}

/// A device as a scenario names it: its namespace (`None` = the initial one) and its name
/// there. Names, like ifindexes, are per namespace.
type DevKey = (Option<String>, String);

/// A device bound by `dev add`: its ifindex in its namespace, and its other end.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Dev {
    ifindex: IfIndex,
    other_end: Option<DevKey>,
}

/// Names bound during a scenario, and what must be released when it ends.
#[derive(Default)]
pub struct Bindings {
    devs: HashMap<DevKey, Dev>,
    /// The namespace steps act in (`netns use`); `None` = the initial one.
    netns: Option<String>,
    progs: HashMap<String, (Handle, ProgId)>,
    links: HashMap<String, (Handle, LinkId)>,
    /// Devices created, with their namespace (deleting a primary or peer deletes both;
    /// errors are ignored).
    created: Vec<(Option<String>, IfIndex)>,
    open_progs: Vec<Handle>,
    open_links: Vec<Handle>,
    /// Namespaces `netns add` created, removed last.
    namespaces: Vec<String>,
}

impl Bindings {
    /// Releases everything the scenario created, links first so that programs and devices
    /// are free; errors are ignored (things may already be gone).
    pub fn cleanup(&mut self, backend: &mut dyn Backend) {
        for link in self.open_links.drain(..).rev() {
            let _ = backend.link_close(link);
        }
        for prog in self.open_progs.drain(..).rev() {
            let _ = backend.prog_close(prog);
        }
        for (netns, dev) in self.created.drain(..) {
            if backend.set_netns(netns.as_deref()).is_ok() {
                let _ = backend.link_del(dev);
            }
        }
        let _ = backend.set_netns(None);
        for ns in self.namespaces.drain(..).rev() {
            let _ = crate::backends::netns_del(backend.name(), &ns);
        }
    }

    /// The name bound to `ifindex`, preferring a device of the current namespace (ifindexes
    /// are per namespace).
    fn dev_name(&self, ifindex: u32) -> String {
        let mut named: Vec<&DevKey> = self
            .devs
            .iter()
            .filter(|(_, d)| d.ifindex.0 == ifindex)
            .map(|(key, _)| key)
            .collect();
        named.sort_by_key(|(netns, name)| (*netns != self.netns, name.as_str()));
        named
            .first()
            .map(|(_, name)| name.to_string())
            .unwrap_or_else(|| format!("#{ifindex}"))
    }

    fn key(&self, name: &str) -> DevKey {
        (self.netns.clone(), name.to_string())
    }

    /// The key of a device argument: a literal `#N` stands for the device bound to ifindex N
    /// in the current namespace (so that its other end is known even when that end has the
    /// same ifindex in its own namespace).
    fn bound_key(&self, dev: &str) -> DevKey {
        let literal = dev.strip_prefix('#').and_then(|n| n.parse::<u32>().ok());
        let bound = literal.and_then(|n| {
            self.devs
                .iter()
                .find(|((netns, _), d)| *netns == self.netns && d.ifindex.0 == n)
                .map(|(key, _)| key.clone())
        });
        bound.unwrap_or_else(|| self.key(dev))
    }

    /// The name of `dev`'s other end if it has `ifindex` (in whatever namespace it lives),
    /// else whatever is bound to `ifindex` here.
    fn peer_name(&self, dev: &str, ifindex: u32) -> String {
        let other = self
            .devs
            .get(&self.bound_key(dev))
            .and_then(|d| d.other_end.as_ref());
        match other.and_then(|o| self.devs.get(o).map(|d| (o, d))) {
            Some(((_, name), d)) if d.ifindex.0 == ifindex => name.clone(),
            _ => self.dev_name(ifindex),
        }
    }

    fn prog_name(&self, id: ProgId) -> String {
        self.progs
            .iter()
            .find(|(_, (_, i))| *i == id)
            .map(|(name, _)| name.clone())
            .unwrap_or_else(|| format!("prog-id:{}", id.0))
    }

    fn link_name(&self, id: Option<LinkId>) -> String {
        match id {
            None => "-".to_string(),
            Some(id) => self
                .links
                .iter()
                .find(|(_, (_, i))| *i == id)
                .map(|(name, _)| name.clone())
                .unwrap_or_else(|| format!("link-id:{}", id.0)),
        }
    }

    fn prog(&self, name: &str) -> Result<(Handle, ProgId), String> {
        self.progs
            .get(name)
            .copied()
            .ok_or_else(|| format!("no program named {name}"))
    }

    fn link(&self, name: &str) -> Result<(Handle, LinkId), String> {
        self.links
            .get(name)
            .copied()
            .ok_or_else(|| format!("no link named {name}"))
    }

    /// A device: a bound name, `#N` for a literal ifindex, or a name the backend knows (`lo`).
    fn dev(&self, backend: &dyn Backend, word: &str) -> Result<IfIndex, String> {
        if let Some(raw) = word.strip_prefix('#') {
            return parse_num(raw).map(IfIndex);
        }
        if let Some(dev) = self.devs.get(&self.key(word)) {
            return Ok(dev.ifindex);
        }
        if let Some(((netns, _), _)) = self.devs.iter().find(|((_, n), _)| n == word) {
            let netns = netns.as_deref().unwrap_or("-");
            return Err(format!(
                "device {word} lives in namespace {netns}; `netns use {netns}` first"
            ));
        }
        backend
            .ifindex_by_name(word)
            .map_err(|e| format!("no device named {word} ({e})"))
    }
}

/// Executes one step (its words, verb first). `Err` is a problem with the scenario itself
/// (an unbound name, a malformed argument), not a result of the backend.
pub fn execute(
    backend: &mut dyn Backend,
    b: &mut Bindings,
    words: &[String],
    dir: &Path,
) -> Result<Observed, String> {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    match w.as_slice() {
        ["dev", "add", args @ ..] => dev_add(backend, b, args),
        ["dev", "change", dev, args @ ..] => {
            let ifindex = b.dev(backend, dev)?;
            let req = change_link(args)?;
            Ok(Observed::from(backend.link_change(ifindex, &req)))
        }
        ["dev", "set", dev, "netns", netns] => dev_set_netns(backend, b, dev, netns),
        ["dev", "set", dev, args @ ..] => {
            let ifindex = b.dev(backend, dev)?;
            let result = match args {
                ["up"] => backend.link_set_up(ifindex, true),
                ["down"] => backend.link_set_up(ifindex, false),
                ["mtu", mtu] => backend.link_set_mtu(ifindex, parse_num(mtu)?),
                ["address", mac] => backend.link_set_address(ifindex, &parse_mac_bytes(mac)?),
                _ => {
                    return Err(format!(
                        "dev set takes up, down, mtu N, address MAC or netns NS; got {args:?}"
                    ))
                }
            };
            Ok(Observed::from(result))
        }
        ["dev", "del", dev] => {
            let ifindex = b.dev(backend, dev)?;
            Ok(Observed::from(backend.link_del(ifindex)))
        }
        ["dev", "show", dev] => {
            let ifindex = b.dev(backend, dev)?;
            Ok(match backend.link_get(ifindex) {
                Ok(info) => show_fields(b, dev, &info),
                Err(e) => Observed::failed(&e),
            })
        }
        ["dev", "ifindex", name] => Ok(match backend.ifindex_by_name(name) {
            Ok(ifindex) => {
                let mut o = Observed::ok();
                o.field("is", b.dev_name(ifindex.0));
                o
            }
            Err(e) => Observed::failed(&e),
        }),
        ["prog", "load", name, source @ ..] => {
            let src = prog_source(source, dir)?;
            Ok(match backend.prog_load(&src) {
                Ok((handle, id)) => {
                    b.progs.insert(name.to_string(), (handle, id));
                    b.open_progs.push(handle);
                    Observed::ok()
                }
                Err(e) => Observed::failed(&e),
            })
        }
        ["prog", "close", name] => {
            let (handle, _) = b.prog(name)?;
            b.open_progs.retain(|h| *h != handle);
            Ok(Observed::from(backend.prog_close(handle)))
        }
        ["prog", "attach", prog, dev, hook, args @ ..] => {
            let req = AttachReq {
                ifindex: b.dev(backend, dev)?,
                hook: parse_hook(hook)?,
                prog: b.prog(prog)?.0,
                ..mprog_args(b, args)?
            };
            Ok(Observed::from(backend.prog_attach(&req)))
        }
        ["prog", "detach", prog, dev, hook, args @ ..] => {
            let prog = match *prog {
                "none" => None,
                name => Some(b.prog(name)?.0),
            };
            let a = mprog_args(b, args)?;
            let req = DetachReq {
                ifindex: b.dev(backend, dev)?,
                hook: parse_hook(hook)?,
                prog,
                flags: a.flags,
                relative: a.relative,
                expected_revision: a.expected_revision,
            };
            Ok(Observed::from(backend.prog_detach(&req)))
        }
        ["prog", "query", dev, hook, args @ ..] => prog_query(backend, b, dev, hook, args),
        ["link", "create", link, prog, dev, hook, args @ ..] => {
            let a = mprog_args(b, args)?;
            let req = LinkCreateReq {
                ifindex: b.dev(backend, dev)?,
                hook: parse_hook(hook)?,
                prog: b.prog(prog)?.0,
                flags: a.flags,
                relative: a.relative,
                expected_revision: a.expected_revision,
            };
            Ok(match backend.link_create(&req) {
                Ok((handle, id)) => {
                    b.links.insert(link.to_string(), (handle, id));
                    b.open_links.push(handle);
                    Observed::ok()
                }
                Err(e) => Observed::failed(&e),
            })
        }
        ["link", "update", link, prog, rest @ ..] => {
            let old = match rest {
                [] => None,
                ["old", old] => Some(b.prog(old)?.0),
                _ => {
                    return Err(format!(
                        "link update takes an optional `old PROG`; got {rest:?}"
                    ))
                }
            };
            let (handle, _) = b.link(link)?;
            Ok(Observed::from(backend.link_update(
                handle,
                b.prog(prog)?.0,
                old,
            )))
        }
        ["link", "detach", link] => Ok(Observed::from(backend.link_detach(b.link(link)?.0))),
        ["link", "close", link] => {
            let (handle, _) = b.link(link)?;
            b.open_links.retain(|h| *h != handle);
            Ok(Observed::from(backend.link_close(handle)))
        }
        ["link", "info", link] => Ok(match backend.link_info(b.link(link)?.0) {
            Ok(info) => {
                let mut o = Observed::ok();
                o.field("id", b.link_name(Some(info.id)));
                o.field("prog", b.prog_name(info.prog_id));
                o.field(
                    "ifindex",
                    if info.ifindex == 0 {
                        "0".to_string()
                    } else {
                        b.dev_name(info.ifindex)
                    },
                );
                o.field("hook", hook_name(info.hook));
                o
            }
            Err(e) => Observed::failed(&e),
        }),
        ["xmit", dev, frame, args @ ..] => xmit(backend, b, dev, frame, args),
        ["netns", "use", name] => {
            let netns = (*name != "-").then(|| name.to_string());
            // The user backend's namespaces are labels: only added ones are real on both.
            if netns.is_some() && !b.namespaces.iter().any(|n| n == name) {
                return Err(format!("netns use {name}: no `netns add {name}` before"));
            }
            backend
                .set_netns(netns.as_deref())
                .map_err(|e| format!("netns use {name}: {e}"))?;
            b.netns = netns;
            Ok(Observed::ok())
        }
        ["netns", "add", name] => {
            crate::backends::netns_add(backend.name(), name)?;
            b.namespaces.push(name.to_string());
            Ok(Observed::ok())
        }
        _ => Err(format!("malformed step {:?}", words.join(" "))),
    }
}

fn dev_add(backend: &mut dyn Backend, b: &mut Bindings, args: &[&str]) -> Result<Observed, String> {
    let req = args::new_link(args)?;
    let created = match backend.link_add(&req) {
        Ok(created) => created,
        Err(e) => return Ok(Observed::failed(&e)),
    };
    b.created.push((b.netns.clone(), created.primary));
    let peer_ns = match req.peer.as_ref().and_then(|p| p.netns.clone()) {
        Some(ns) => Some(ns),
        None => b.netns.clone(),
    };
    let mut o = Observed::ok();
    let mut names = Vec::new();
    for (role, ifindex, netns) in [
        ("primary", Some(created.primary), b.netns.clone()),
        ("peer", created.peer, peer_ns),
    ] {
        let name = match ifindex {
            None => "none".to_string(),
            Some(ifindex) => {
                match in_netns(backend, b, netns.as_deref(), |be| be.link_get(ifindex)) {
                    Ok(info) => {
                        let dev = Dev {
                            ifindex,
                            other_end: None,
                        };
                        let key = (netns, info.name.clone());
                        b.devs.insert(key.clone(), dev);
                        names.push(key);
                        info.name
                    }
                    Err(e) => format!("unreadable ({e})"),
                }
            }
        };
        o.field(role, name);
    }
    if let [primary, peer] = names.as_slice() {
        for (a, z) in [(primary, peer), (peer, primary)] {
            if let Some(dev) = b.devs.get_mut(a) {
                dev.other_end = Some(z.clone());
            }
        }
    }
    Ok(o)
}

/// `dev set DEV netns NS|-`: moves the device, whose name is then bound in the namespace it
/// went to, under the ifindex it has there.
fn dev_set_netns(
    backend: &mut dyn Backend,
    b: &mut Bindings,
    dev: &str,
    netns: &str,
) -> Result<Observed, String> {
    let target = (netns != "-").then(|| netns.to_string());
    if target.is_some() && !b.namespaces.iter().any(|n| n == netns) {
        return Err(format!(
            "dev set {dev} netns {netns}: no `netns add {netns}` before"
        ));
    }
    let ifindex = b.dev(backend, dev)?;
    if let Err(e) = backend.link_set_netns(ifindex, target.as_deref()) {
        return Ok(Observed::failed(&e));
    }
    let moved = in_netns(backend, b, target.as_deref(), |be| be.ifindex_by_name(dev))
        .map_err(|e| format!("{dev} is not in namespace {netns} after the move: {e}"))?;
    let old_key = b.key(dev);
    let new_key = (target, dev.to_string());
    let mut bound = b.devs.remove(&old_key).unwrap_or(Dev {
        ifindex: moved,
        other_end: None,
    });
    bound.ifindex = moved;
    if let Some(other) = bound.other_end.as_ref().and_then(|o| b.devs.get_mut(o)) {
        other.other_end = Some(new_key.clone());
    }
    if let Some(created) = b
        .created
        .iter_mut()
        .find(|c| (&c.0, c.1) == (&old_key.0, ifindex))
    {
        *created = (new_key.0.clone(), moved);
    }
    b.devs.insert(new_key, bound);
    Ok(Observed::ok())
}

/// Runs `f` with the backend acting in `netns`, then back in the scenario's namespace.
fn in_netns<T>(
    backend: &mut dyn Backend,
    b: &Bindings,
    netns: Option<&str>,
    f: impl FnOnce(&mut dyn Backend) -> Result<T, Error>,
) -> Result<T, Error> {
    if netns == b.netns.as_deref() {
        return f(backend);
    }
    backend.set_netns(netns)?;
    let result = f(backend);
    backend.set_netns(b.netns.as_deref())?;
    result
}

fn show_fields(b: &Bindings, dev: &str, info: &LinkInfo) -> Observed {
    let mut o = Observed::ok();
    o.field("name", &info.name);
    o.field("primary", u8::from(info.primary));
    o.field("policy", policy_name(Some(info.policy)));
    o.field("peer-policy", policy_name(info.peer_policy));
    o.field("mode", if info.mode == Mode::L2 { "l2" } else { "l3" });
    o.field("scrub", scrub_name(Some(info.scrub)));
    o.field("peer-scrub", scrub_name(info.peer_scrub));
    o.field("headroom", info.headroom);
    o.field("tailroom", info.tailroom);
    o.field(
        "pairing",
        if info.pairing == Pairing::Pair {
            "pair"
        } else {
            "single"
        },
    );
    o.field("mtu", info.mtu);
    o.field("address", format_mac(&info.address));
    o.field("up", u8::from(info.up));
    o.field("carrier", u8::from(info.carrier));
    o.field(
        "peer",
        info.peer_ifindex
            .map_or("none".to_string(), |p| b.peer_name(dev, p.0)),
    );
    o.field("netns", info.netns.as_deref().unwrap_or("-"));
    let s = info.stats;
    for (key, value) in [
        ("rx_packets", s.rx_packets),
        ("rx_bytes", s.rx_bytes),
        ("tx_packets", s.tx_packets),
        ("tx_bytes", s.tx_bytes),
        ("tx_dropped", s.tx_dropped),
        ("rx_dropped", s.rx_dropped),
    ] {
        o.field(key, value);
    }
    o
}

fn prog_query(
    backend: &mut dyn Backend,
    b: &Bindings,
    dev: &str,
    hook: &str,
    args: &[&str],
) -> Result<Observed, String> {
    let mut req = QueryReq {
        ifindex: b.dev(backend, dev)?,
        hook: parse_hook(hook)?,
        query_flags: 0,
        attach_flags: 0,
        capacity: Some(64),
    };
    let mut it = args.iter();
    while let Some(key) = it.next() {
        let value = it.next().ok_or_else(|| format!("{key} needs a value"))?;
        match *key {
            "cap" if *value == "null" => req.capacity = None,
            "cap" => req.capacity = Some(parse_num(value)?),
            "qflags" => req.query_flags = parse_num(value)?,
            "aflags" => req.attach_flags = parse_num(value)?,
            other => return Err(format!("unknown query argument {other}")),
        }
    }
    let (mut o, result) = match backend.prog_query(&req) {
        Ok(result) => (Observed::ok(), Some(result)),
        Err((e, partial)) => (Observed::failed(&e), partial),
    };
    if let Some(QueryResult {
        count,
        revision,
        progs,
    }) = result
    {
        o.field("count", count);
        o.field("rev", revision);
        let names: Vec<String> = progs.iter().map(|(p, _)| b.prog_name(*p)).collect();
        let links: Vec<String> = progs.iter().map(|(_, l)| b.link_name(*l)).collect();
        o.field("progs", names.join(","));
        o.field("links", links.join(","));
    }
    Ok(o)
}

fn xmit(
    backend: &mut dyn Backend,
    b: &Bindings,
    dev: &str,
    frame: &str,
    args: &[&str],
) -> Result<Observed, String> {
    let ifindex = b.dev(backend, dev)?;
    let own = backend
        .link_get(ifindex)
        .map_err(|e| format!("cannot read {dev}: {e}"))?;
    let mut dst = None;
    let mut meta = TxMeta::default();
    let mut it = args.iter();
    while let Some(key) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("xmit: {key} needs a value"))?;
        match *key {
            "dst" if *value == "peer" => dst = None,
            "dst" => dst = Some(parse_mac(value)?),
            "mark" => meta.mark = parse_num(value)?,
            "priority" => meta.priority = parse_num(value)?,
            other => {
                return Err(format!(
                    "xmit takes `dst MAC|peer`, `mark N`, `priority N`; got {other}"
                ))
            }
        }
    }
    let dst = match (dst, own.peer_ifindex) {
        (Some(mac), _) => mac,
        (None, Some(peer)) => peer_address(backend, b, dev, peer),
        (None, None) => [0; 6],
    };
    let frame = frames::build(frame, dst, own.address)
        .ok_or_else(|| format!("unknown frame {frame}; known: {}", frames::NAMES.join(", ")))?;
    Ok(match backend.transmit_meta(ifindex, &frame, meta) {
        Ok(TxOutcome::Delivered(bytes)) => {
            let mut o = Observed {
                outcome: Some(Outcome::Delivered),
                ..Observed::default()
            };
            o.field("len", bytes.len());
            o
        }
        Ok(TxOutcome::Dropped) => Observed {
            outcome: Some(Outcome::Dropped),
            ..Observed::default()
        },
        Ok(TxOutcome::Redirected { ifindex, ingress }) => {
            let mut o = Observed {
                outcome: Some(Outcome::Redirected),
                ..Observed::default()
            };
            o.field("to", b.dev_name(ifindex.0));
            o.field("ingress", u8::from(ingress));
            o
        }
        Err(e) => Observed::failed(&e),
    })
}

/// The address of `dev`'s other end, read in the namespace it lives in.
fn peer_address(backend: &mut dyn Backend, b: &Bindings, dev: &str, peer: IfIndex) -> [u8; 6] {
    let other = b.devs.get(&b.key(dev)).and_then(|d| d.other_end.as_ref());
    let netns = match other.and_then(|o| b.devs.get(o).map(|d| (o, d))) {
        Some(((netns, _), d)) if d.ifindex == peer => netns.clone(),
        _ => b.netns.clone(),
    };
    in_netns(backend, b, netns.as_deref(), |be| be.link_get(peer))
        .map(|p| p.address)
        .unwrap_or([0; 6])
}

/// Flags, anchor, replaced program and expected revision of attach, detach and link create.
fn mprog_args(b: &Bindings, args: &[&str]) -> Result<AttachReq, String> {
    let mut req = AttachReq::append(IfIndex(0), Hook::Primary, Handle(0));
    let mut relative: Option<&str> = None;
    let mut it = args.iter();
    while let Some(word) = it.next() {
        match *word {
            "before" => req.flags |= flags::BEFORE,
            "after" => req.flags |= flags::AFTER,
            "replace" => req.flags |= flags::REPLACE,
            "id" => req.flags |= flags::ID,
            "link" => req.flags |= flags::LINK,
            key @ ("rel" | "old" | "rev" | "flags") => {
                let value = it.next().ok_or_else(|| format!("{key} needs a value"))?;
                match key {
                    "rel" => relative = Some(value),
                    "old" => req.replace = Some(b.prog(value)?.0),
                    "rev" => req.expected_revision = parse_num(value)?,
                    _ => req.flags |= parse_num::<u32>(value)?,
                }
            }
            other => return Err(format!("unknown attach argument {other}")),
        }
    }
    // The anchor is an id or a handle depending on BPF_F_ID, exactly as bpf(2) reads it.
    if let Some(word) = relative {
        let by_id = req.flags & flags::ID != 0;
        req.relative = Relative(if let Ok((handle, id)) = b.prog(word) {
            if by_id {
                id.0
            } else {
                handle.0
            }
        } else if let Ok((handle, id)) = b.link(word) {
            if by_id {
                id.0
            } else {
                handle.0
            }
        } else {
            parse_num(word)
                .map_err(|_| format!("rel {word}: neither a program, a link nor a number"))?
        });
    }
    Ok(req)
}

/// Whether an observed value satisfies an expected one. Besides equality: `random` for an
/// address means "a locally administered unicast address" (what the kernel generates).
pub fn value_matches(key: &str, expected: &str, observed: &str) -> bool {
    if key == "address" && expected == "random" {
        return parse_mac(observed)
            .map(|mac| mac[0] & 0x01 == 0 && mac[0] & 0x02 != 0)
            .unwrap_or(false);
    }
    expected == observed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_addresses_are_locally_administered_unicast() {
        assert!(value_matches("address", "random", "da:01:02:03:04:05"));
        assert!(!value_matches("address", "random", "00:00:00:00:00:00"));
        assert!(!value_matches("address", "random", "01:00:5e:00:00:01"));
        assert!(!value_matches("mtu", "random", "1500"));
    }

    #[test]
    fn anchors_send_the_id_or_the_handle_as_bpf_f_id_says() {
        let mut b = Bindings::default();
        b.progs.insert("P1".into(), (Handle(7), ProgId(1001)));
        b.links.insert("L1".into(), (Handle(9), LinkId(55)));
        let words = |s: &'static str| s.split(' ').collect::<Vec<_>>();
        let by_handle = mprog_args(&b, &words("before rel P1 rev 3")).unwrap();
        assert_eq!(
            (
                by_handle.flags,
                by_handle.relative,
                by_handle.expected_revision
            ),
            (flags::BEFORE, Relative(7), 3)
        );
        let by_id = mprog_args(&b, &words("after id rel P1")).unwrap();
        assert_eq!(
            (by_id.flags, by_id.relative),
            (flags::AFTER | flags::ID, Relative(1001))
        );
        let link_id = mprog_args(&b, &words("before link id rel L1")).unwrap();
        assert_eq!(link_id.relative, Relative(55));
        let link_fd = mprog_args(&b, &words("after link rel L1 flags 0x40")).unwrap();
        assert_eq!(
            (link_fd.flags, link_fd.relative),
            (flags::AFTER | flags::LINK | 0x40, Relative(9))
        );
        let replace = mprog_args(&b, &words("replace old P1 rel 0xfffffff0")).unwrap();
        assert_eq!(
            (replace.replace, replace.relative),
            (Some(Handle(7)), Relative(0xffff_fff0))
        );
        assert!(mprog_args(&b, &words("before rel P9"))
            .unwrap_err()
            .contains("P9"));
        assert!(mprog_args(&b, &words("sideways"))
            .unwrap_err()
            .contains("sideways"));
        assert!(mprog_args(&b, &words("old P9")).unwrap_err().contains("P9"));
    }
}
