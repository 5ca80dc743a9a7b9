//! The transmit path running clang-built BPF objects in the eBPF engine (tests/bpf/*.bpf.c).
//! Needs clang-19 and libbpf headers; without them the tests print SKIP, unless
//! NETKIT_REQUIRE_PRIVILEGED=1 makes a missing requirement a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::*;
use netkit_bpf::skb::{pkt_type, RedirectKind, Skb};
use netkit_core::engine::{load_object, ObjectProg};
use netkit_core::*;

/// Builds `tests/bpf/<name>.bpf.c`; `None` (after printing SKIP) when clang is missing.
fn build(test: &str, name: &str) -> Option<PathBuf> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/bpf/{name}.bpf.c"));
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.bpf.o"));
    let multiarch = format!("-I/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    let status = Command::new("clang-19")
        .args(["-O2", "-g", "-target", "bpf", "-mcpu=v3", &multiarch, "-c"])
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .status();
    match status {
        Ok(s) if s.success() => Some(out),
        other => {
            if std::env::var("NETKIT_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
                panic!(
                    "{test}: clang-19 could not build {}: {other:?}",
                    src.display()
                );
            }
            eprintln!("SKIP {test}: needs clang-19 and libbpf headers ({other:?})");
            None
        }
    }
}

/// The `seen` global of probe.bpf.c, as u32 fields.
fn seen(p: &ObjectProg) -> [u32; 8] {
    let bss = p
        .object
        .maps()
        .iter()
        .find(|m| m.name().ends_with(".bss"))
        .expect(".bss map");
    let v = bss.lookup(&0u32.to_le_bytes()).expect("bss value");
    std::array::from_fn(|i| u32::from_le_bytes(v[i * 4..i * 4 + 4].try_into().unwrap()))
}

fn attach_obj(fx: &mut Fx, obj: &Path, name: &str) -> Arc<ObjectProg> {
    let p = Arc::new(load_object(obj, Some(name)).unwrap());
    let (h, _) = fx.b.load_classifier(name, p.clone());
    fx.attach(h, 0, 0, 0).unwrap();
    p
}

#[test]
fn engine_programs_see_the_kernel_view() {
    let Some(obj) = build("engine_programs_see_the_kernel_view", "probe") else {
        return;
    };
    let peer_mac = [0x02, 0, 0, 0, 0, 9];
    let req = NewLink {
        mode: Some(0),
        peer: Some(PeerInfo {
            address: Some(peer_mac.to_vec()),
            netns: Some("pod".into()),
            ..PeerInfo::default()
        }),
        ..NewLink::default()
    };
    let mut fx = Fx::with(Hook::Primary, req);
    fx.b.set_caller_netns(Some("pod"));
    fx.b.link_set_up(fx.peer, true).unwrap();
    fx.b.set_caller_netns(None);
    let rec = attach_obj(&mut fx, &obj, "record");
    let dp = fx.b.datapath();
    let mut skb = Skb::from_frame(&frame(peer_mac));
    skb.meta.mark = 42;
    skb.meta.priority = 7;
    skb.meta.ingress_ifindex = 99;
    let Delivery::ToPeer { .. } = dp.xmit(fx.primary, skb) else {
        panic!("not delivered")
    };
    let [runs, mark, prio, ptype, ifindex, iif, len, ethertype] = seen(&rec);
    assert_eq!(runs, 1);
    assert_eq!(
        (mark, prio),
        (0, 0),
        "scrubbed: crossing into another namespace"
    );
    assert_eq!((ptype, ifindex, iif), (pkt_type::HOST, fx.peer.0, 0));
    assert_eq!((len, ethertype), (60, 0x0800));
    dp.xmit(fx.primary, Skb::from_frame(&frame([0xff; 6])));
    assert_eq!(seen(&rec)[3], pkt_type::BROADCAST);
}

#[test]
fn engine_program_changes_reach_the_peer() {
    let Some(obj) = build("engine_program_changes_reach_the_peer", "probe") else {
        return;
    };
    let mut fx = Fx::with(
        Hook::Primary,
        NewLink {
            scrub: Some(0),
            ..NewLink::default()
        },
    );
    fx.b.link_set_up(fx.peer, true).unwrap();
    attach_obj(&mut fx, &obj, "set_type");
    attach_obj(&mut fx, &obj, "mark_it");
    let rec = attach_obj(&mut fx, &obj, "record");
    let out =
        fx.b.datapath()
            .xmit(fx.primary, Skb::from_frame(&frame([0; 6])));
    let Delivery::ToPeer { skb, .. } = out else {
        panic!("{out:?}")
    };
    assert_eq!(
        (skb.data()[0], skb.meta.pkt_type),
        (0x04, pkt_type::MULTICAST)
    );
    assert_eq!((skb.meta.mark, skb.meta.priority), (42, 0xeb9f));
    let s = seen(&rec);
    assert_eq!(
        (s[1], s[2], s[3]),
        (42, 0xeb9f, pkt_type::MULTICAST),
        "later programs see earlier changes"
    );
}

#[test]
fn engine_verdicts_and_redirects() {
    let Some(obj) = build("engine_verdicts_and_redirects", "probe") else {
        return;
    };
    let mut fx = Fx::new(Hook::Primary);
    fx.b.link_set_up(fx.peer, true).unwrap();
    fx.b.link_set_up(fx.primary, true).unwrap();
    attach_obj(&mut fx, &obj, "only_ipv4");
    let dp = fx.b.datapath();
    assert!(matches!(
        dp.xmit(fx.primary, Skb::from_frame(&frame([0; 6]))),
        Delivery::ToPeer { .. }
    ));
    let mut arp = frame([0xff; 6]);
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    assert_eq!(
        dp.xmit(fx.primary, Skb::from_frame(&arp)).drop_reason(),
        Some(DropReason::Verdict(2))
    );
    fx.hook = Hook::Peer;
    for (name, expect) in [
        ("to_lo", Some(RedirectKind::Egress)),
        ("into_lo", Some(RedirectKind::Ingress)),
        ("peer_of_lo", None),
        ("to_nowhere", None),
    ] {
        let p = Arc::new(load_object(&obj, Some(name)).unwrap());
        let (h, _) = fx.b.load_classifier(name, p);
        fx.attach(h, 0, 0, 0).unwrap();
        let out = dp.xmit(fx.peer, Skb::from_frame(&frame([0; 6])));
        match (out, expect) {
            (Delivery::Redirect { target, kind, .. }, Some(k)) => {
                assert_eq!((target, kind), (IfIndex(1), k), "{name}")
            }
            (Delivery::Drop { reason: r, .. }, None) => assert!(
                matches!(r, DropReason::RedirectPeer | DropReason::RedirectTarget),
                "{name}: {r:?}"
            ),
            (out, _) => panic!("{name}: {out:?}"),
        }
        fx.detach(Some(h), 0, 0, 0).unwrap();
    }
    let st = fx.b.link_get(fx.peer).unwrap().stats;
    assert_eq!(
        (st.tx_packets, st.tx_dropped),
        (4, 0),
        "REDIRECT counts tx whatever happens next"
    );
}

#[test]
fn objects_load_through_the_backend() {
    let Some(obj) = build("objects_load_through_the_backend", "probe") else {
        return;
    };
    let Some(bad) = build("objects_load_through_the_backend", "bad") else {
        return;
    };
    let mut fx = Fx::new(Hook::Primary);
    let src = |program: Option<&str>| ProgSource::Object {
        path: obj.clone(),
        program: program.map(str::to_string),
    };
    let (h, _) = fx.b.prog_load(&src(Some("only_ipv4"))).unwrap();
    assert_eq!(fx.b.prog_info(h).unwrap().name, "only_ipv4");
    let (h, _) = fx.b.prog_load(&src(Some("netkit/peer"))).unwrap();
    assert_eq!(
        fx.b.prog_info(h).unwrap().name,
        "to_lo",
        "a section picks its first program"
    );
    let (h, _) = fx.b.prog_load(&src(None)).unwrap();
    assert_eq!(fx.b.prog_info(h).unwrap().name, "record");
    let mut err = |s: ProgSource| fx.b.prog_load(&s).unwrap_err();
    let e = err(src(Some("nope")));
    assert_eq!(e.errno, Errno::ENOENT);
    assert!(
        e.msg.contains("only_ipv4"),
        "the error lists what the object has: {}",
        e.msg
    );
    let e = err(ProgSource::Object {
        path: "/nonexistent/x.o".into(),
        program: None,
    });
    assert_eq!(e.errno, Errno::ENOENT);
    let e = err(ProgSource::Object {
        path: "/proc/self/status".into(),
        program: None,
    });
    assert_eq!(e.errno, Errno::EINVAL, "not an ELF object: {}", e.msg);
    let e = err(ProgSource::Object {
        path: bad,
        program: None,
    });
    assert_eq!(e.errno, Errno::EINVAL, "refused by the verifier: {}", e.msg);
    // Constants are real bytecode too.
    let (h, _) = fx.b.prog_load(&ProgSource::Constant(2)).unwrap();
    fx.attach(h, 0, 0, 0).unwrap();
    assert_eq!(fx.send(), TxOutcome::Dropped);
    assert_eq!(fx.b.prog_info(h).unwrap().stats.run_cnt, 1);
}
