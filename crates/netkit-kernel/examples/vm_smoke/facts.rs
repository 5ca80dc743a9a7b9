//! Observations of the transmit path that need small hand-written programs: what a netkit
//! program sees in `__sk_buff`, what arrives at the peer (scrub, pkt_type), redirects.

use netkit_bpf::insn::Insn;
use netkit_core::*;
use netkit_kernel::xmit::SendMeta;
use netkit_kernel::{netns, progs, KernelBackend};

use crate::checks::Report;

const BPF_TCX_INGRESS: u32 = 46;
/// Bytes per record slot: ifindex, mark, priority, pkt_type, ingress_ifindex, count.
const SLOT: usize = 24;

fn ins(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        dst,
        src,
        off,
        imm,
    }
}

fn mov_imm(dst: u8, imm: i32) -> Insn {
    ins(0xb7, dst, 0, 0, imm)
}
fn mov_reg(dst: u8, src: u8) -> Insn {
    ins(0xbf, dst, src, 0, 0)
}
fn ldx_w(dst: u8, src: u8, off: i16) -> Insn {
    ins(0x61, dst, src, off, 0)
}
fn stx_w(dst: u8, src: u8, off: i16) -> Insn {
    ins(0x63, dst, src, off, 0)
}
fn call(helper: i32) -> Insn {
    ins(0x85, 0, 0, 0, helper)
}
fn exit() -> Insn {
    ins(0x95, 0, 0, 0, 0)
}

/// Records ctx fields into `map[slot]` and returns `ret`.
fn recorder(map: Handle, slot: i32, ret: i32) -> Vec<Insn> {
    let mut p = vec![
        mov_reg(6, 1),
        mov_imm(1, slot),
        stx_w(10, 1, -4),
        mov_reg(2, 10),
        ins(0x07, 2, 0, 0, -4),           // r2 += -4
        ins(0x18, 1, 1, 0, map.0 as i32), // r1 = map (BPF_PSEUDO_MAP_FD)
        ins(0, 0, 0, 0, 0),
        call(1),                // map_lookup_elem
        ins(0x15, 0, 0, 13, 0), // if r0 == 0 goto out
    ];
    for (i, ctx_off) in [40i16, 8, 32, 4, 36].into_iter().enumerate() {
        p.push(ldx_w(1, 6, ctx_off));
        p.push(stx_w(0, 1, 4 * i as i16));
    }
    p.extend([
        ldx_w(1, 0, 20),
        ins(0x07, 1, 0, 0, 1), // count += 1
        stx_w(0, 1, 20),
        mov_imm(0, ret), // out:
        exit(),
    ]);
    p
}

/// Sets mark 42 and priority 7, returns NEXT.
fn marker() -> Vec<Insn> {
    vec![
        mov_imm(2, 42),
        stx_w(1, 2, 8),
        mov_imm(2, 7),
        stx_w(1, 2, 32),
        mov_imm(0, -1),
        exit(),
    ]
}

/// `return bpf_<helper>(ifindex, flags)` (redirect 23, redirect_peer 155).
fn redirector(helper: i32, ifindex: u32, flags: i32) -> Vec<Insn> {
    vec![
        mov_imm(1, ifindex as i32),
        mov_imm(2, flags),
        call(helper),
        exit(),
    ]
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Seen {
    ifindex: u32,
    mark: u32,
    priority: u32,
    pkt_type: u32,
    ingress_ifindex: u32,
    count: u32,
}

fn read(map: Handle, slot: u32) -> Option<Seen> {
    let v = progs::map_lookup(map, slot, SLOT).ok()?;
    let w = |i: usize| u32::from_ne_bytes(v[4 * i..4 * i + 4].try_into().unwrap());
    Some(Seen {
        ifindex: w(0),
        mark: w(1),
        priority: w(2),
        pkt_type: w(3),
        ingress_ifindex: w(4),
        count: w(5),
    })
}

fn load(insns: &[Insn], name: &str) -> Option<Handle> {
    progs::load_insns(insns, name)
        .map_err(|e| println!("FAIL load {name}: {e}"))
        .ok()
}

fn frame(dst: [u8; 6]) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f
}

/// Pair `name` (peer in `netns` if given), both up, with a marker + recorder (slot 0) on the
/// primary hook and a tcx-ingress recorder (slot 1) on the peer; sends one frame to `dst`.
fn observe(b: &mut KernelBackend, r: &mut Report, what: &str, req: NewLink, dst: [u8; 6]) {
    observe_with(
        b,
        r,
        &format!("{what}, program sets mark"),
        req.clone(),
        dst,
        true,
    );
    observe_with(b, r, &format!("{what}, socket sets mark"), req, dst, false);
}

fn observe_with(
    b: &mut KernelBackend,
    r: &mut Report,
    what: &str,
    req: NewLink,
    dst: [u8; 6],
    program_marks: bool,
) {
    let Some(map) = progs::map_create_array(SLOT as u32, 2)
        .map_err(|e| println!("FAIL map: {e}"))
        .ok()
    else {
        return;
    };
    let peer_ns = req.peer.as_ref().and_then(|p| p.netns.clone());
    let Some(c) = r.ok(&format!("{what}: create"), b.link_add(&req)) else {
        return;
    };
    let peer = c.peer.unwrap_or(IfIndex(0));
    let _ = b.link_set_up(c.primary, true);
    // The peer's ifindex is its own namespace's.
    let _ = b.set_netns(peer_ns.as_deref());
    let _ = b.link_set_up(peer, true);
    let _ = b.set_netns(None);
    let (Some(mark), Some(rec0), Some(rec1)) = (
        load(&marker(), "marker"),
        load(&recorder(map, 0, -1), "rec_netkit"),
        load(&recorder(map, 1, 0), "rec_ingress"),
    ) else {
        return;
    };
    if program_marks {
        r.ok(
            &format!("{what}: attach marker"),
            b.prog_attach(&AttachReq::append(c.primary, Hook::Primary, mark)),
        );
    }
    r.ok(
        &format!("{what}: attach recorder"),
        b.prog_attach(&AttachReq::append(c.primary, Hook::Primary, rec0)),
    );
    let attached = netns::run_in(peer_ns.as_deref(), move || {
        progs::attach_raw(peer.0, rec1, BPF_TCX_INGRESS)
            .map_err(|e| std::io::Error::other(e.to_string()))
    });
    r.pass(
        &format!("{what}: tcx ingress recorder on the peer"),
        attached.is_ok(),
        &attached,
    );
    let meta = if program_marks {
        SendMeta::default()
    } else {
        SendMeta {
            mark: 42,
            priority: 7,
        }
    };
    let out = b.transmit_observed(c.primary, &frame(dst), meta);
    println!(
        "FACT {what}: outcome {:?}",
        out.as_ref().map(|o| (&o.outcome, o.pkt_type))
    );
    println!(
        "FACT {what}: netkit program on the primary hook saw {:?}",
        read(map, 0)
    );
    println!(
        "FACT {what}: tcx ingress on the peer saw {:?}",
        read(map, 1)
    );
    println!(
        "FACT {what}: (primary ifindex {}, peer ifindex {})",
        c.primary.0, peer.0
    );
    // What 6.12 was seen to do (docs/kernel-6.12-facts.md §5).
    let cleared = !program_marks && what.contains("across netns, scrub default");
    let want_meta = if cleared { (0, 0) } else { (42, 7) };
    let want_pkt_type = if what.contains("peer's MAC") {
        0
    } else if what.contains("broadcast") {
        1
    } else {
        3
    };
    let (in_prog, at_peer) = (read(map, 0), read(map, 1));
    r.eq(
        &format!("6.12: {what}: the program sees the peer's ifindex"),
        in_prog
            .as_ref()
            .map(|s| (s.ifindex, s.ingress_ifindex, s.pkt_type)),
        Some((peer.0, 0, want_pkt_type)),
    );
    r.eq(
        &format!("6.12: {what}: mark/priority at the peer"),
        at_peer.as_ref().map(|s| (s.mark, s.priority, s.count)),
        Some((want_meta.0, want_meta.1, 1)),
    );
    r.eq(
        &format!("6.12: {what}: delivered with pkt_type"),
        out.ok()
            .map(|o| (matches!(o.outcome, TxOutcome::Delivered(_)), o.pkt_type)),
        Some((true, Some(want_pkt_type as u8))),
    );
    let _ = b.link_del(c.primary);
    for h in [map, mark, rec0, rec1] {
        let _ = progs::close(h);
    }
}

pub fn skb_fields(b: &mut KernelBackend, r: &mut Report) {
    let named = |name: &str| NewLink {
        name: Some(name.into()),
        ..NewLink::default()
    };
    observe(
        b,
        r,
        "L3 same netns, scrub default",
        named("nkx"),
        [2, 0, 0, 0, 0, 2],
    );
    let mut none = named("nkx");
    none.scrub = Some(0);
    observe(b, r, "L3 same netns, scrub none", none, [2, 0, 0, 0, 0, 2]);
    let mut l2 = named("nkx");
    l2.mode = Some(0);
    l2.peer = Some(PeerInfo {
        address: Some(vec![2, 0, 0, 0, 0, 2]),
        ..PeerInfo::default()
    });
    observe(b, r, "L2 to the peer's MAC", l2.clone(), [2, 0, 0, 0, 0, 2]);
    observe(b, r, "L2 to another MAC", l2.clone(), [2, 0, 0, 0, 0, 3]);
    observe(b, r, "L2 to broadcast", l2, [0xff; 6]);
    if netns::create("nkx").is_err() {
        println!("FAIL create netns nkx");
        return;
    }
    for (what, scrub) in [
        ("L3 across netns, scrub default", None),
        ("L3 across netns, scrub none", Some(0)),
    ] {
        let mut req = named("nkx");
        req.scrub = scrub;
        req.peer = Some(PeerInfo {
            netns: Some("nkx".into()),
            ..PeerInfo::default()
        });
        observe(b, r, what, req, [2, 0, 0, 0, 0, 2]);
    }
    let _ = netns::delete("nkx");
}

pub fn redirects(b: &mut KernelBackend, r: &mut Report) {
    let (Some(a), Some(t)) = (crate::pair(b, "nka"), crate::pair(b, "nkb")) else {
        return;
    };
    for dev in [Some(a.primary), a.peer, Some(t.primary), t.peer]
        .into_iter()
        .flatten()
    {
        let _ = b.link_set_up(dev, true);
    }
    let f = frame([2, 0, 0, 0, 0, 2]);
    let cases = [
        (
            "bpf_redirect to nkb egress",
            23,
            t.primary.0,
            0,
            Some(TxOutcome::Redirected {
                ifindex: t.primary,
                ingress: false,
            }),
        ),
        (
            "bpf_redirect to nkb ingress",
            23,
            t.primary.0,
            1,
            Some(TxOutcome::Redirected {
                ifindex: t.primary,
                ingress: true,
            }),
        ),
        (
            "bpf_redirect to a missing ifindex",
            23,
            9999,
            0,
            Some(TxOutcome::Dropped),
        ),
        ("bpf_redirect_peer to nkb", 155, t.primary.0, 0, None),
        ("bpf_redirect with bad flags", 23, t.primary.0, 4, None),
    ];
    for (what, helper, target, flags, want) in cases {
        let Some(p) = load(&redirector(helper, target, flags), "redir") else {
            continue;
        };
        if b.prog_attach(&AttachReq::append(a.primary, Hook::Primary, p))
            .is_err()
        {
            println!("FAIL attach {what}");
            continue;
        }
        let s0 = b.link_get(a.primary).map(|l| l.stats).unwrap_or_default();
        let t0 = b.link_get(t.primary).map(|l| l.stats).unwrap_or_default();
        let out = b.transmit_observed(a.primary, &f, SendMeta::default());
        let s1 = b.link_get(a.primary).map(|l| l.stats).unwrap_or_default();
        let t1 = b.link_get(t.primary).map(|l| l.stats).unwrap_or_default();
        println!(
            "FACT {what}: outcome {:?}",
            out.as_ref().map(|o| (&o.outcome, o.pkt_type))
        );
        println!(
            "FACT {what}: sender tx +{} dropped +{}; nkb tx +{} rx +{} dropped +{}",
            s1.tx_packets - s0.tx_packets,
            s1.tx_dropped - s0.tx_dropped,
            t1.tx_packets - t0.tx_packets,
            t1.rx_packets - t0.rx_packets,
            t1.tx_dropped - t0.tx_dropped,
        );
        if let Some(want) = want {
            r.eq(what, out.ok().map(|o| o.outcome), Some(want));
        }
        let _ = b.prog_detach(&DetachReq {
            ifindex: a.primary,
            hook: Hook::Primary,
            prog: Some(p),
            flags: 0,
            relative: Relative(0),
            expected_revision: 0,
        });
        let _ = progs::close(p);
    }
    let _ = b.link_del(a.primary);
    let _ = b.link_del(t.primary);
}
