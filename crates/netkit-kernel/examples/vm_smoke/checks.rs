//! Device checks: creation, naming, dump fields, validation errnos, changelink, carrier.

use std::fmt::Debug;

use netkit_core::*;
use netkit_kernel::KernelBackend;

#[derive(Default)]
pub struct Report {
    pub checks: u32,
    pub failed: u32,
}

impl Report {
    pub fn pass(&mut self, name: &str, ok: bool, detail: impl Debug) {
        self.checks += 1;
        if ok {
            println!("ok   {name}");
        } else {
            self.failed += 1;
            println!("FAIL {name}: {detail:?}");
        }
    }

    pub fn eq<T: PartialEq + Debug>(&mut self, name: &str, got: T, want: T) {
        let ok = got == want;
        self.pass(name, ok, format!("got {got:?}, want {want:?}"));
    }

    pub fn ok<T: Debug>(&mut self, name: &str, res: Result<T, Error>) -> Option<T> {
        match res {
            Ok(v) => {
                self.pass(name, true, ());
                Some(v)
            }
            Err(e) => {
                self.pass(name, false, e.to_string());
                None
            }
        }
    }

    pub fn errno<T: Debug>(&mut self, name: &str, res: Result<T, Error>, want: Errno) {
        match res {
            Err(e) if e.errno == want => {
                self.checks += 1;
                println!("ok   {name}: {e}");
            }
            other => self.pass(name, false, format!("got {other:?}, want {want}")),
        }
    }
}

/// Prints the outcome of a version-dependent request as a FACT line and checks it against
/// what Linux 6.12 was seen to do (`want` is the start of the line: "accepted", "EINVAL", ...).
pub fn fact<T: Debug>(r: &mut Report, key: &str, res: &Result<T, Error>, want: &str) {
    let text = match res {
        Ok(v) => format!("accepted ({v:?})"),
        Err(e) => e.to_string(),
    };
    println!("FACT {key}: {text}");
    r.pass(
        &format!("6.12: {key}"),
        text.starts_with(want),
        format!("want {want}"),
    );
}

fn del(b: &mut KernelBackend, c: &Option<Created>) {
    if let Some(c) = c {
        let _ = b.link_del(c.primary);
    }
}

fn create(b: &mut KernelBackend, req: NewLink) -> Result<Created, Error> {
    b.link_add(&req)
}

fn named(name: &str) -> NewLink {
    NewLink {
        name: Some(name.into()),
        ..NewLink::default()
    }
}

pub fn devices(b: &mut KernelBackend, r: &mut Report) {
    default_pair(b, r);
    validation(b, r);
    version_dependent_create(b, r);
    changelink(b, r);
    mac_and_mtu(b, r);
    carrier(b, r);
}

fn default_pair(b: &mut KernelBackend, r: &mut Report) {
    let Some(c) = r.ok("create default pair", create(b, NewLink::default())) else {
        return;
    };
    let primary = b.link_get(c.primary);
    let peer = c.peer.map(|p| b.link_get(p));
    if let (Ok(p), Some(Ok(q))) = (&primary, &peer) {
        r.eq("default primary name", p.name.as_str(), "nk1");
        r.eq("default peer name", q.name.as_str(), "nk0");
        r.pass(
            "peer gets the lower ifindex",
            q.ifindex < p.ifindex,
            (q.ifindex, p.ifindex),
        );
        r.eq("primary flag", (p.primary, q.primary), (true, false));
        r.eq(
            "IFLA_LINK points at the other end",
            (p.peer_ifindex, q.peer_ifindex),
            (Some(q.ifindex), Some(p.ifindex)),
        );
        r.eq("default mode L3", p.mode, Mode::L3);
        r.eq(
            "default policies",
            (p.policy, p.peer_policy),
            (Policy::Pass, Some(Policy::Pass)),
        );
        r.eq(
            "created down, carrier off",
            (p.up, p.carrier, q.up, q.carrier),
            (false, false, false, false),
        );
        r.eq("default mtu", (p.mtu, q.mtu), (1500, 1500));
        r.eq("L3 address is zero", p.address, [0u8; 6]);
        println!("FACT default primary LinkInfo: {p:?}");
        println!("FACT default peer LinkInfo: {q:?}");
    } else {
        r.pass("dump default pair", false, (&primary, &peer));
    }
    for (what, ifx) in [("primary", Some(c.primary)), ("peer", c.peer)] {
        if let Some(Ok(d)) = ifx.map(|i| b.link_dump(i)) {
            let nk = d.netkit.unwrap_or_default();
            println!(
                "FACT dump attributes of {what} (IFLA_NETKIT_* in kernel order): {:?}",
                nk.order
            );
            println!("FACT dump of {what}: {nk:?}");
        }
    }
    // Deleting the peer deletes both.
    if let Some(peer) = c.peer {
        r.ok("delete through the peer", b.link_del(peer));
        r.errno(
            "primary gone with the peer",
            b.link_get(c.primary),
            Errno::ENODEV,
        );
    }
}

fn validation(b: &mut KernelBackend, r: &mut Report) {
    let mut req = named("nkv");
    req.primary = Some(1);
    r.errno(
        "create with PRIMARY attribute",
        create(b, req),
        Errno::EINVAL,
    );
    for bad in [1u32, 7, u32::MAX] {
        let mut req = named("nkv");
        req.policy = Some(bad);
        r.errno(
            &format!("create with policy {}", bad as i32),
            create(b, req),
            Errno::EINVAL,
        );
        let mut req = named("nkv");
        req.peer_policy = Some(bad);
        r.errno(
            &format!("create with peer policy {}", bad as i32),
            create(b, req),
            Errno::EINVAL,
        );
    }
    let mut req = named("nkv");
    req.address = Some(vec![2, 0, 0, 0, 0, 1]);
    r.errno("L3 with address", create(b, req), Errno::EOPNOTSUPP);
    let mut req = named("nkv");
    req.mode = Some(0);
    req.address = Some(vec![2, 0, 0, 0, 1]);
    r.errno("L2 with 5-byte address", create(b, req), Errno::EINVAL);
    let mut req = named("nkv");
    req.mode = Some(0);
    req.address = Some(vec![1, 0, 0, 0, 0, 1]);
    r.errno(
        "L2 with multicast address",
        create(b, req),
        Errno::EADDRNOTAVAIL,
    );
    let mut req = named("nkv");
    req.mode = Some(0);
    req.peer = Some(PeerInfo {
        address: Some(vec![0; 6]),
        ..PeerInfo::default()
    });
    r.errno(
        "L2 with zero peer address",
        create(b, req),
        Errno::EADDRNOTAVAIL,
    );
    let mut req = named("nkv");
    req.mode = Some(0);
    req.address = Some(vec![2, 0, 0, 0, 0, 1]);
    req.peer = Some(PeerInfo {
        name: Some("nkvp".into()),
        address: Some(vec![2, 0, 0, 0, 0, 2]),
        mtu: Some(9000),
        netns: None,
        ifindex: 0,
    });
    let c = r.ok("L2 with addresses, peer name and mtu", create(b, req));
    if let Some(c) = &c {
        let p = b.link_get(c.primary).ok();
        let q = c.peer.and_then(|i| b.link_get(i).ok());
        r.eq(
            "L2 primary address",
            p.as_ref().map(|p| p.address),
            Some([2, 0, 0, 0, 0, 1]),
        );
        r.eq(
            "L2 peer address, name, mtu",
            q.as_ref().map(|q| (q.address, q.name.clone(), q.mtu)),
            Some(([2, 0, 0, 0, 0, 2], "nkvp".to_string(), 9000)),
        );
        r.eq("primary mtu stays default", p.map(|p| p.mtu), Some(1500));
    }
    del(b, &c);
    let mut req = named("nkv");
    req.mtu = Some(9000);
    let c = r.ok("top-level mtu without PEER_INFO", create(b, req));
    if let Some(c) = &c {
        let mtus = (
            b.link_get(c.primary).map(|l| l.mtu).ok(),
            c.peer.and_then(|p| b.link_get(p).map(|l| l.mtu).ok()),
        );
        r.eq(
            "top-level mtu applies to both",
            mtus,
            (Some(9000), Some(9000)),
        );
    }
    del(b, &c);
    let mut req = named("nkv");
    req.mode = Some(0);
    let c = r.ok("L2 without addresses", create(b, req));
    if let Some(c) = &c {
        let a = b.link_get(c.primary).map(|l| l.address).unwrap_or_default();
        r.pass(
            "L2 random MAC is locally administered unicast",
            a[0] & 3 == 2,
            a,
        );
    }
    del(b, &c);
}

fn version_dependent_create(b: &mut KernelBackend, r: &mut Report) {
    let mut req = named("nkf");
    req.mode = Some(2);
    fact(r, "create with mode 2", &create(b, req), "EINVAL");
    let _ = b.ifindex_by_name("nkf").map(|i| b.link_del(i));
    for (what, scrub, peer_scrub) in [("scrub 2", Some(2), None), ("peer scrub 2", None, Some(2))] {
        let mut req = named("nkf");
        req.scrub = scrub;
        req.peer_scrub = peer_scrub;
        let res = create(b, req);
        fact(r, &format!("create with {what}"), &res, "ERANGE");
        if let Ok(c) = &res {
            let _ = b.link_del(c.primary);
        }
    }
    let mut req = named("nkf");
    req.scrub = Some(0);
    req.peer_scrub = Some(0);
    req.headroom = Some(128);
    req.tailroom = Some(64);
    let res = create(b, req);
    fact(
        r,
        "create with scrub NONE, headroom 128, tailroom 64",
        &res,
        "accepted",
    );
    if let Ok(c) = &res {
        if let Ok(d) = b.link_dump(c.primary) {
            println!("FACT dump after scrub NONE + head/tailroom: {:?}", d.netkit);
        }
        let _ = b.link_del(c.primary);
    }
    let mut req = named("nkf");
    req.pairing = Some(1);
    let res = create(b, req);
    fact(r, "create with pairing SINGLE", &res, "accepted");
    if let Ok(c) = &res {
        println!("FACT pairing SINGLE created peer: {:?}", c.peer);
        let _ = b.link_del(c.primary);
    }
    let mut req = named("nkf");
    req.pairing = Some(2);
    let res = create(b, req);
    fact(r, "create with pairing 2", &res, "accepted");
    if let Ok(c) = &res {
        let _ = b.link_del(c.primary);
    }
    let mut req = named("nkf");
    req.peer = Some(PeerInfo::default());
    let res = create(b, req);
    fact(
        r,
        "create with empty PEER_INFO (peer name)",
        &res.clone()
            .map(|c| c.peer.and_then(|p| b.link_get(p).ok()).map(|l| l.name)),
        "accepted (Some(\"nk0\"))",
    );
    if let Ok(c) = &res {
        let _ = b.link_del(c.primary);
    }
}

fn changelink(b: &mut KernelBackend, r: &mut Report) {
    let c = super::pair(b, "nkc");
    let Some(c) = c else { return };
    let peer = c.peer.unwrap_or(IfIndex(0));
    let policy = |v| ChangeLink {
        policy: Some(v),
        ..ChangeLink::default()
    };
    r.errno(
        "changelink on the peer",
        b.link_change(peer, &policy(2)),
        Errno::EACCES,
    );
    r.errno(
        "changelink mode",
        b.link_change(
            c.primary,
            &ChangeLink {
                mode: Some(0),
                ..ChangeLink::default()
            },
        ),
        Errno::EACCES,
    );
    r.errno(
        "changelink policy 7",
        b.link_change(c.primary, &policy(7)),
        Errno::EINVAL,
    );
    let version_dependent = [
        (
            "PEER_INFO",
            ChangeLink {
                peer_info: true,
                ..ChangeLink::default()
            },
        ),
        (
            "SCRUB",
            ChangeLink {
                scrub: Some(0),
                ..ChangeLink::default()
            },
        ),
        (
            "PEER_SCRUB",
            ChangeLink {
                peer_scrub: Some(0),
                ..ChangeLink::default()
            },
        ),
        (
            "HEADROOM",
            ChangeLink {
                headroom: Some(64),
                ..ChangeLink::default()
            },
        ),
        (
            "TAILROOM",
            ChangeLink {
                tailroom: Some(64),
                ..ChangeLink::default()
            },
        ),
        (
            "PAIRING",
            ChangeLink {
                pairing: Some(0),
                ..ChangeLink::default()
            },
        ),
    ];
    for (what, req) in version_dependent {
        let want = match what {
            "PEER_INFO" => "EINVAL",
            "SCRUB" | "PEER_SCRUB" => "EACCES",
            _ => "accepted", // HEADROOM, TAILROOM, PAIRING: unknown to 6.12, ignored
        };
        fact(
            r,
            &format!("changelink {what}"),
            &b.link_change(c.primary, &req),
            want,
        );
    }
    r.ok(
        "changelink policy drop",
        b.link_change(c.primary, &policy(2)),
    );
    r.ok(
        "changelink peer policy drop",
        b.link_change(
            c.primary,
            &ChangeLink {
                peer_policy: Some(2),
                ..ChangeLink::default()
            },
        ),
    );
    let p = b.link_get(c.primary).ok();
    r.eq(
        "policies after changelink",
        p.map(|p| (p.policy, p.peer_policy)),
        Some((Policy::Drop, Some(Policy::Drop))),
    );
    let q = b.link_get(peer).ok();
    r.eq(
        "peer's view: own policy, PEER_POLICY = primary's",
        q.map(|q| (q.policy, q.peer_policy)),
        Some((Policy::Drop, Some(Policy::Drop))),
    );
    let quirk = ChangeLink {
        policy: Some(0),
        peer_policy: Some(7),
        ..ChangeLink::default()
    };
    r.errno(
        "valid policy + invalid peer policy",
        b.link_change(c.primary, &quirk),
        Errno::EINVAL,
    );
    let p = b.link_get(c.primary).ok();
    println!(
        "FACT policy after (valid policy, invalid peer policy) changelink: {:?}",
        p.map(|p| (p.policy, p.peer_policy))
    );
    del(b, &Some(c));
}

fn mac_and_mtu(b: &mut KernelBackend, r: &mut Report) {
    if let Some(c) = super::pair(b, "nkm") {
        r.errno(
            "set MAC in L3",
            b.link_set_address(c.primary, &[2, 0, 0, 0, 0, 9]),
            Errno::EOPNOTSUPP,
        );
        r.errno("mtu 65536", b.link_set_mtu(c.primary, 65536), Errno::EINVAL);
        r.errno("mtu 67", b.link_set_mtu(c.primary, 67), Errno::EINVAL);
        r.ok("mtu 65535", b.link_set_mtu(c.primary, 65535));
        r.ok(
            "mtu 68 on the peer",
            b.link_set_mtu(c.peer.unwrap_or(IfIndex(0)), 68),
        );
        del(b, &Some(c));
    }
    let mut req = named("nkm");
    req.mode = Some(0);
    if let Some(c) = r.ok("create L2 pair", create(b, req)) {
        r.ok(
            "set MAC in L2",
            b.link_set_address(c.primary, &[2, 0, 0, 0, 0, 9]),
        );
        r.eq(
            "MAC after set",
            b.link_get(c.primary).map(|l| l.address).ok(),
            Some([2, 0, 0, 0, 0, 9]),
        );
        r.errno(
            "set multicast MAC in L2",
            b.link_set_address(c.primary, &[1, 0, 0, 0, 0, 9]),
            Errno::EADDRNOTAVAIL,
        );
        r.ok(
            "set MAC on the peer in L2",
            b.link_set_address(c.peer.unwrap_or(IfIndex(0)), &[2, 0, 0, 0, 0, 8]),
        );
        del(b, &Some(c));
    }
}

fn carrier(b: &mut KernelBackend, r: &mut Report) {
    let Some(c) = super::pair(b, "nkup") else {
        return;
    };
    let peer = c.peer.unwrap_or(IfIndex(0));
    let state = |b: &KernelBackend| {
        let p = b.link_get(c.primary).ok().map(|l| (l.up, l.carrier));
        let q = b.link_get(peer).ok().map(|l| (l.up, l.carrier));
        (p, q)
    };
    r.ok("primary up", b.link_set_up(c.primary, true));
    r.eq(
        "one end up: no carrier",
        state(b),
        (Some((true, false)), Some((false, false))),
    );
    r.ok("peer up", b.link_set_up(peer, true));
    r.eq(
        "both up: carrier on both",
        state(b),
        (Some((true, true)), Some((true, true))),
    );
    r.ok("primary down", b.link_set_up(c.primary, false));
    r.eq(
        "one end down: carrier off on both",
        state(b),
        (Some((false, false)), Some((true, false))),
    );
    del(b, &Some(c));
}
