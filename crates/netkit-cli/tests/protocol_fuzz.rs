//! The control socket under hostile input. A model-only daemon (no root needed) gets thousands
//! of requests: garbage bytes, truncated and bit-flipped lines, valid requests with fields
//! removed, retyped, out of range or unknown, bogus objects to load. The daemon must stay up,
//! answer every line with exactly one well-formed response, change nothing when it refuses, and
//! restore after a restart exactly the state it showed last.
//! `NETKIT_PROTO_FUZZ_ITERS=N` (default 3000) and `NETKIT_PROTO_FUZZ_SEED=S` for longer runs.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use common::{example, require, ModelDaemon as Daemon, Rng};
use netkit_proto::{
    self as proto, Anchor, BpflinkCreateReq, Hook, LinkAddReq, LinkSetReq, Mode, Policy,
    ProgAttachReq, ProgDetachReq, ProgLoadReq, Request, RequestEnvelope, UpdateFlag,
    PROTOCOL_VERSION,
};
use serde_json::Value;

/// One connection: a line out, a line back.
struct Conn {
    out: UnixStream,
    lines: BufReader<UnixStream>,
}

impl Conn {
    fn open(d: &Daemon) -> Conn {
        let out = UnixStream::connect(&d.socket).expect("connect");
        out.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let lines = BufReader::new(out.try_clone().unwrap());
        Conn { out, lines }
    }

    /// Sends `line` (a newline is added) and returns the response line, parsed.
    fn ask(&mut self, line: &[u8]) -> Value {
        self.out.write_all(line).unwrap();
        self.out.write_all(b"\n").unwrap();
        let mut back = String::new();
        self.lines.read_line(&mut back).expect("a response line");
        serde_json::from_str(&back).unwrap_or_else(|e| panic!("response {back:?}: {e}"))
    }

    fn request(&mut self, seq: u64, request: Request) -> Value {
        let env = RequestEnvelope {
            version: PROTOCOL_VERSION,
            seq,
            request,
        };
        self.ask(&serde_json::to_vec(&env).unwrap())
    }
}

/// What the daemon shows of its state: links, programs, BPF links, maps.
fn snapshot(c: &mut Conn) -> Value {
    let reqs = [
        Request::LinkShow { name: None },
        Request::ProgShow { id: None },
        Request::BpflinkShow { id: None },
        Request::MapShow { id: None },
    ];
    let mut all = Vec::new();
    for (i, r) in reqs.into_iter().enumerate() {
        let mut v = c.request(1_000_000 + i as u64, r);
        // Run counts move only with traffic, which model-only has none of; keep them anyway.
        if let Some(o) = v.as_object_mut() {
            o.remove("seq");
        }
        all.push(v);
    }
    Value::Array(all)
}

/// Valid requests of every kind, against the pair, program and link the test sets up.
fn seeds(object_hex: &str) -> Vec<Request> {
    let link = |name: &str| LinkAddReq {
        name: Some(name.into()),
        mode: Some(Mode::L3),
        peer_name: Some(format!("{name}p")),
        peer_policy: Some(Policy::Blackhole),
        ..LinkAddReq::default()
    };
    vec![
        Request::Hello,
        Request::LinkAdd(link("fz1")),
        Request::LinkAdd(LinkAddReq {
            ifindex: Some(400),
            peer_ifindex: Some(401),
            ..link("fz2")
        }),
        Request::LinkSet(LinkSetReq {
            name: "fz0".into(),
            policy: Some(Policy::Forward),
            peer_policy: Some(Policy::Blackhole),
            netns: None,
        }),
        Request::LinkDel { name: "fz1".into() },
        Request::LinkShow {
            name: Some("fz0".into()),
        },
        Request::ProgLoad(ProgLoadReq {
            file: "pass.bpf.o".into(),
            object: object_hex.into(),
            section: None,
            name: None,
        }),
        Request::ProgShow { id: Some(1) },
        Request::ProgUnload { id: 1 },
        Request::ProgAttach(ProgAttachReq {
            prog_id: 1,
            dev: "fz0".into(),
            hook: Hook::Peer,
            anchor: Some(Anchor::BeforeProg(1)),
            replace_prog_id: None,
            expected_revision: Some(2),
        }),
        Request::ProgDetach(ProgDetachReq {
            prog_id: Some(1),
            dev: "fz0".into(),
            hook: Hook::Primary,
            anchor: None,
            expected_revision: None,
        }),
        Request::ProgQuery {
            dev: "fz0".into(),
            hook: Hook::Peer,
        },
        Request::ProgTracelog { id: Some(1) },
        Request::BpflinkCreate(BpflinkCreateReq {
            prog_id: 1,
            dev: "fz0".into(),
            hook: Hook::Primary,
            anchor: Some(Anchor::AfterLink(1)),
            expected_revision: None,
        }),
        Request::BpflinkUpdate {
            id: 1,
            prog_id: 1,
            old_prog_id: Some(1),
        },
        Request::BpflinkDetach { id: 1 },
        Request::BpflinkShow { id: Some(1) },
        Request::MapShow { id: Some(1) },
        Request::MapDump { id: 1 },
        Request::MapLookup {
            id: 1,
            key: "00000000".into(),
        },
        Request::MapUpdate {
            id: 1,
            key: "00000000".into(),
            value: "0100000000000000".into(),
            flag: UpdateFlag::Any,
        },
        Request::MapDelete {
            id: 1,
            key: "00000000".into(),
        },
    ]
}

/// Values a field may be replaced with: other types, edges of ranges, hostile strings.
fn odd_value(rng: &mut Rng) -> Value {
    match rng.below(14) {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 1),
        2 => (-1i64).into(),
        3 => u64::MAX.into(),
        4 => i64::MIN.into(),
        5 => 4_294_967_296u64.into(),
        6 => 1.5e300.into(),
        7 => "".into(),
        8 => "x".repeat(rng.below(5000)).into(),
        9 => "../../etc/passwd\u{0}\u{fffd}é".into(),
        10 => serde_json::json!([1, "two", null]),
        11 => serde_json::json!({"unknown": {"deeper": []}}),
        12 => "zz".repeat(rng.below(40)).into(),
        _ => (rng.next() as i64).into(),
    }
}

/// Mutates one place of a JSON tree: replace a value, remove a field, add an unknown one.
fn mutate_json(v: &mut Value, rng: &mut Rng) {
    match v {
        Value::Object(map) if !map.is_empty() && rng.below(4) != 0 => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let k = keys[rng.below(keys.len())].clone();
            match rng.below(5) {
                0 => {
                    map.remove(&k);
                }
                1 => {
                    map.insert(format!("extra{}", rng.below(9)), odd_value(rng));
                }
                2 => {
                    map.insert(k, odd_value(rng));
                }
                _ => mutate_json(map.get_mut(&k).unwrap(), rng),
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let i = rng.below(items.len());
            mutate_json(&mut items[i], rng);
        }
        other => *other = odd_value(rng),
    }
}

/// Mutates the bytes of a line: truncate, flip, insert, splice garbage.
fn mutate_bytes(line: &mut Vec<u8>, rng: &mut Rng) {
    if line.is_empty() {
        line.push(b'{');
    }
    match rng.below(4) {
        0 => line.truncate(rng.below(line.len())),
        1 => {
            let i = rng.below(line.len());
            line[i] ^= 1 << rng.below(8);
        }
        2 => {
            let i = rng.below(line.len());
            let junk: Vec<u8> = (0..rng.below(16)).map(|_| rng.next() as u8).collect();
            line.splice(i..i, junk);
        }
        _ => {
            let n = rng.below(64);
            *line = (0..n).map(|_| rng.next() as u8).collect();
        }
    }
    // A newline inside would split it into two requests; the test frames one per line.
    for b in line.iter_mut() {
        if *b == b'\n' {
            *b = b' ';
        }
    }
}

fn check_envelope(resp: &Value, line: &[u8]) -> bool {
    let shown = String::from_utf8_lossy(&line[..line.len().min(300)]).into_owned();
    let o = resp
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {resp} for {shown}"));
    assert_eq!(
        o.get("version").and_then(Value::as_u64),
        Some(u64::from(PROTOCOL_VERSION)),
        "{resp} for {shown}"
    );
    assert!(
        o.get("seq").is_some_and(Value::is_u64),
        "{resp} for {shown}"
    );
    let (ok, err) = (o.get("ok"), o.get("error"));
    assert!(ok.is_some() != err.is_some(), "{resp} for {shown}");
    if let Some(e) = err {
        let e: proto::WireError = serde_json::from_value(e.clone())
            .unwrap_or_else(|x| panic!("error {e}: {x} for {shown}"));
        assert!(e.errno.starts_with('E'), "{e:?} for {shown}");
        assert!(!e.message.is_empty(), "{e:?} for {shown}");
    }
    ok.is_some()
}

#[test]
fn hostile_control_requests_are_refused_without_losing_state() {
    let test = "hostile_control_requests_are_refused_without_losing_state";
    let obj = example("pass");
    if !require(
        test,
        &[("clang-19 to build examples/pass.bpf.o", obj.is_some())],
    ) {
        return;
    }
    let object_hex = proto::hex::encode(&std::fs::read(obj.unwrap()).unwrap());
    let iters: usize = std::env::var("NETKIT_PROTO_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let seed: u64 = std::env::var("NETKIT_PROTO_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x6e6b_6675_7a7a);
    let dir = std::env::temp_dir().join(format!("netkit-protofuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut daemon = Daemon::start(&dir);
    let mut c = Conn::open(&daemon);

    // Something to lose: a pair with a program on a hook, a BPF link, a map entry.
    for r in [
        Request::LinkAdd(LinkAddReq {
            name: Some("fz0".into()),
            peer_name: Some("fz0p".into()),
            ..LinkAddReq::default()
        }),
        seeds(&object_hex).swap_remove(6), // the program load
        Request::ProgAttach(ProgAttachReq {
            prog_id: 1,
            dev: "fz0".into(),
            hook: Hook::Peer,
            anchor: None,
            replace_prog_id: None,
            expected_revision: None,
        }),
        Request::BpflinkCreate(BpflinkCreateReq {
            prog_id: 1,
            dev: "fz0".into(),
            hook: Hook::Primary,
            anchor: None,
            expected_revision: None,
        }),
    ] {
        let v = c.request(1, r);
        assert!(v.get("ok").is_some(), "setup: {v}");
    }

    let seeds: Vec<Value> = seeds(&object_hex)
        .into_iter()
        .map(|r| {
            serde_json::to_value(RequestEnvelope {
                version: PROTOCOL_VERSION,
                seq: 0,
                request: r,
            })
            .unwrap()
        })
        .collect();
    let mut rng = Rng(seed | 1);
    let mut state = snapshot(&mut c);
    let (mut refused, mut done) = (0, 0);
    for i in 0..iters {
        let mut env = seeds[rng.below(seeds.len())].clone();
        env["seq"] = (i as u64).into();
        let line = match rng.below(3) {
            0 => {
                mutate_json(&mut env, &mut rng);
                serde_json::to_vec(&env).unwrap()
            }
            1 => {
                mutate_json(&mut env, &mut rng);
                mutate_json(&mut env, &mut rng);
                serde_json::to_vec(&env).unwrap()
            }
            _ => {
                let mut bytes = serde_json::to_vec(&env).unwrap();
                mutate_bytes(&mut bytes, &mut rng);
                bytes
            }
        };
        let resp = c.ask(&line);
        let ok = check_envelope(&resp, &line);
        let now = snapshot(&mut c);
        if ok {
            done += 1;
            state = now;
        } else {
            refused += 1;
            assert_eq!(
                now,
                state,
                "seed {seed} iteration {i}: a refused request changed the state: {}",
                String::from_utf8_lossy(&line)
            );
        }
        assert!(daemon.alive(), "seed {seed} iteration {i}: the daemon died");
    }
    eprintln!("{iters} hostile requests (seed {seed}): {refused} refused, {done} carried out");
    assert!(
        refused > iters / 2,
        "mutations were too tame: {refused} refused"
    );

    // Lines that are not requests at all, then the state after a restart.
    for line in [
        &b""[..],
        b"   ",
        b"\xff\xfe\x00",
        b"null",
        b"[]",
        b"{}",
        b"123",
    ] {
        let resp = c.ask(line);
        assert!(!check_envelope(&resp, line), "{resp}");
    }
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(!check_envelope(&c.ask(deep.as_bytes()), b"deep nesting"));
    assert_eq!(snapshot(&mut c), state);
    drop(c);
    drop(daemon);
    let daemon = Daemon::start(&dir);
    let mut c = Conn::open(&daemon);
    assert_eq!(snapshot(&mut c), state, "the state after a restart");
    drop(c);
    drop(daemon);
    let _ = std::fs::remove_dir_all(&dir);
}
