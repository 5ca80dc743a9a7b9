//! bpf_mprog checks through the kernel: attach/detach/query errnos, revisions, links.

use netkit_core::*;
use netkit_kernel::KernelBackend;

use crate::checks::{fact, Report};

fn detach(ifindex: IfIndex, hook: Hook, prog: Option<Handle>) -> DetachReq {
    DetachReq {
        ifindex,
        hook,
        prog,
        flags: 0,
        relative: Relative(0),
        expected_revision: 0,
    }
}

fn query(ifindex: IfIndex, hook: Hook, capacity: Option<u32>) -> QueryReq {
    QueryReq {
        ifindex,
        hook,
        query_flags: 0,
        attach_flags: 0,
        capacity,
    }
}

fn link(ifindex: IfIndex, hook: Hook, prog: Handle) -> LinkCreateReq {
    LinkCreateReq {
        ifindex,
        hook,
        prog,
        flags: 0,
        relative: Relative(0),
        expected_revision: 0,
    }
}

/// Loads `n` distinct programs (constant NEXT with different names is not enough: every
/// load is a distinct program, so equal code is fine).
fn load(b: &mut KernelBackend, r: &mut Report, n: usize, value: i32) -> Vec<(Handle, ProgId)> {
    (0..n)
        .filter_map(|i| {
            let res = b.prog_load(&ProgSource::Constant(value));
            if i == 0 {
                r.ok(&format!("load constant {value}"), res)
            } else {
                res.map_err(|e| println!("FAIL load #{i}: {e}")).ok()
            }
        })
        .collect()
}

fn summary(b: &KernelBackend, ifindex: IfIndex, hook: Hook) -> Option<(u32, u64)> {
    b.prog_query(&query(ifindex, hook, Some(64)))
        .ok()
        .map(|q| (q.count, q.revision))
}

pub fn mprog(b: &mut KernelBackend, r: &mut Report) {
    let Some(c) = crate::pair(b, "nkp") else {
        return;
    };
    let nk = c.primary;
    let peer = c.peer.unwrap_or(IfIndex(0));
    let progs = load(b, r, 64, -1);
    if progs.len() < 64 {
        return;
    }
    let (a, a_id) = progs[0];
    let (bb, b_id) = progs[1];
    r.errno(
        "attach through the peer",
        b.prog_attach(&AttachReq::append(peer, Hook::Primary, a)),
        Errno::EACCES,
    );
    r.errno(
        "attach PEER hook through the peer",
        b.prog_attach(&AttachReq::append(peer, Hook::Peer, a)),
        Errno::EACCES,
    );
    r.errno(
        "attach on lo",
        b.prog_attach(&AttachReq::append(IfIndex(1), Hook::Primary, a)),
        Errno::ENXIO,
    );
    r.errno(
        "attach on unknown ifindex",
        b.prog_attach(&AttachReq::append(IfIndex(9999), Hook::Primary, a)),
        Errno::ENODEV,
    );
    r.errno(
        "query through the peer",
        b.prog_query(&query(peer, Hook::Primary, None))
            .map_err(|e| e.0),
        Errno::EACCES,
    );
    r.errno(
        "detach on empty hook",
        b.prog_detach(&detach(nk, Hook::Primary, None)),
        Errno::ENOENT,
    );
    r.eq(
        "query empty: count 0, revision 1",
        summary(b, nk, Hook::Primary),
        Some((0, 1)),
    );
    r.ok(
        "attach A",
        b.prog_attach(&AttachReq::append(nk, Hook::Primary, a)),
    );
    r.errno(
        "attach A again",
        b.prog_attach(&AttachReq::append(nk, Hook::Primary, a)),
        Errno::EEXIST,
    );
    let mut stale = AttachReq::append(nk, Hook::Primary, bb);
    stale.expected_revision = 1;
    r.errno(
        "attach with stale revision",
        b.prog_attach(&stale),
        Errno::ESTALE,
    );
    let mut before = AttachReq::append(nk, Hook::Primary, bb);
    before.flags = flags::BEFORE;
    before.relative = Relative(a.0);
    r.ok("attach B before A (by fd)", b.prog_attach(&before));
    let q = b.prog_query(&query(nk, Hook::Primary, Some(64)));
    r.eq(
        "query order B, A; revision 3",
        q.ok().map(|q| (q.count, q.revision, q.progs)),
        Some((2, 3, vec![(b_id, None), (a_id, None)])),
    );
    r.eq(
        "query with NULL prog_ids: count only",
        b.prog_query(&query(nk, Hook::Primary, None)).ok(),
        Some(QueryResult {
            count: 2,
            revision: 3,
            progs: vec![],
        }),
    );
    r.eq(
        "query with capacity 0: count only, no ENOSPC",
        b.prog_query(&query(nk, Hook::Primary, Some(0))).ok(),
        Some(QueryResult {
            count: 2,
            revision: 3,
            progs: vec![],
        }),
    );
    let (c_prog, c_id) = progs[2];
    let mut repl = AttachReq::append(nk, Hook::Primary, c_prog);
    repl.flags = flags::REPLACE;
    repl.replace = Some(bb);
    r.ok("opts REPLACE B with C", b.prog_attach(&repl));
    r.eq(
        "C takes B's slot, revision 4",
        b.prog_query(&query(nk, Hook::Primary, Some(64)))
            .ok()
            .map(|q| (q.revision, q.progs)),
        Some((4, vec![(c_id, None), (a_id, None)])),
    );
    let mut back = AttachReq::append(nk, Hook::Primary, bb);
    back.flags = flags::REPLACE;
    back.replace = Some(c_prog);
    r.ok("opts REPLACE C with B", b.prog_attach(&back));
    let mut after_id = AttachReq::append(nk, Hook::Primary, c_prog);
    after_id.flags = flags::AFTER | flags::ID;
    after_id.relative = Relative(b_id.0);
    after_id.expected_revision = 5;
    r.ok(
        "attach C AFTER B by id at revision 5",
        b.prog_attach(&after_id),
    );
    r.eq(
        "order B, C, A",
        b.prog_query(&query(nk, Hook::Primary, Some(64)))
            .ok()
            .map(|q| q.progs),
        Some(vec![(b_id, None), (c_id, None), (a_id, None)]),
    );
    let mut first = detach(nk, Hook::Primary, None);
    first.flags = flags::BEFORE;
    r.ok(
        "detach BEFORE (no relative) removes the first",
        b.prog_detach(&first),
    );
    r.ok(
        "detach C",
        b.prog_detach(&detach(nk, Hook::Primary, Some(c_prog))),
    );
    let mut back_b = AttachReq::append(nk, Hook::Primary, bb);
    back_b.flags = flags::BEFORE;
    r.ok("attach B at the front again", b.prog_attach(&back_b));
    let mut anchor_only = AttachReq::append(nk, Hook::Primary, progs[2].0);
    anchor_only.relative = Relative(a.0);
    r.errno(
        "relative without BEFORE/AFTER",
        b.prog_attach(&anchor_only),
        Errno::EINVAL,
    );
    let mut id0 = AttachReq::append(nk, Hook::Primary, progs[2].0);
    id0.flags = flags::BEFORE | flags::ID;
    r.errno("BPF_F_ID with id 0", b.prog_attach(&id0), Errno::ENOENT);
    let mut both = AttachReq::append(nk, Hook::Primary, progs[2].0);
    both.flags = flags::BEFORE | flags::AFTER;
    fact(
        r,
        "attach BEFORE|AFTER without relative",
        &b.prog_attach(&both),
        "ERANGE",
    );
    let q = b.prog_query(&query(nk, Hook::Primary, Some(1)));
    match q {
        Err((e, Some(partial))) if e.errno == Errno::ENOSPC => r.eq(
            "ENOSPC partial copy",
            (partial.count, partial.progs.len()),
            (summary(b, nk, Hook::Primary).map_or(0, |s| s.0), 1),
        ),
        other => r.pass("query capacity 1 gives ENOSPC", false, other),
    }
    r.ok(
        "detach A",
        b.prog_detach(&detach(nk, Hook::Primary, Some(a))),
    );
    r.ok(
        "detach last (B) by position",
        b.prog_detach(&detach(nk, Hook::Primary, None)),
    );
    let s = summary(b, nk, Hook::Primary);
    r.eq(
        "empty again: count 0, query revision",
        s.map(|s| s.0),
        Some(0),
    );
    println!(
        "FACT query revision after attach/detach cycle to empty: {:?}",
        s.map(|s| s.1)
    );
    let mut again = AttachReq::append(nk, Hook::Primary, a);
    again.expected_revision = 1;
    fact(
        r,
        "attach with expected_revision 1 after cycle",
        &b.prog_attach(&again),
        "ESTALE",
    );
    let _ = b.prog_detach(&detach(nk, Hook::Primary, None));
    let _ = b.prog_detach(&detach(nk, Hook::Primary, None));
    // 63-program limit on the PEER hook.
    let mut attached = 0;
    for (i, (p, _)) in progs.iter().take(63).enumerate() {
        match b.prog_attach(&AttachReq::append(nk, Hook::Peer, *p)) {
            Ok(()) => attached += 1,
            Err(e) => {
                println!("FAIL attach #{i} on peer hook: {e}");
                break;
            }
        }
    }
    r.eq("63 programs attach", attached, 63);
    r.errno(
        "64th program",
        b.prog_attach(&AttachReq::append(nk, Hook::Peer, progs[63].0)),
        Errno::ERANGE,
    );
    r.eq(
        "primary hook unaffected",
        summary(b, nk, Hook::Primary).map(|s| s.0),
        Some(0),
    );
    let mut del_pos = detach(nk, Hook::Peer, None);
    del_pos.flags = flags::AFTER;
    fact(
        r,
        "detach AFTER (no relative) with 63 attached",
        &b.prog_detach(&del_pos),
        "ERANGE",
    );
    r.ok("delete pair with programs attached", b.link_del(nk));
    for (p, _) in progs {
        let _ = b.prog_close(p);
    }
}

pub fn links(b: &mut KernelBackend, r: &mut Report) {
    let Some(c) = crate::pair(b, "nkl") else {
        return;
    };
    let nk = c.primary;
    let peer = c.peer.unwrap_or(IfIndex(0));
    let progs = load(b, r, 4, -1);
    if progs.len() < 4 {
        return;
    }
    let (a, a_id) = progs[0];
    let (bb, _) = progs[1];
    let Some((la, la_id)) = r.ok(
        "link create primary",
        b.link_create(&link(nk, Hook::Primary, a)),
    ) else {
        return;
    };
    let Some((lp, _)) = r.ok(
        "link create peer hook",
        b.link_create(&link(nk, Hook::Peer, bb)),
    ) else {
        return;
    };
    r.eq(
        "link info primary",
        b.link_info(la).ok(),
        Some(BpfLinkInfo {
            id: la_id,
            prog_id: a_id,
            ifindex: nk.0,
            hook: Hook::Primary,
        }),
    );
    r.eq(
        "peer link reports the peer's ifindex",
        b.link_info(lp).ok().map(|i| i.ifindex),
        Some(peer.0),
    );
    r.errno(
        "link create through the peer",
        b.link_create(&link(peer, Hook::Primary, progs[2].0)),
        Errno::EACCES,
    );
    let q = b.prog_query(&query(nk, Hook::Primary, Some(8))).ok();
    r.eq(
        "query shows link id",
        q.map(|q| q.progs),
        Some(vec![(a_id, Some(la_id))]),
    );
    let mut before_link = link(nk, Hook::Primary, progs[3].0);
    before_link.flags = flags::BEFORE | flags::LINK;
    before_link.relative = Relative(la.0);
    let l2 = r.ok(
        "link create BEFORE a link (by fd)",
        b.link_create(&before_link),
    );
    let q = b.prog_query(&query(nk, Hook::Primary, Some(8))).ok();
    r.eq(
        "link before link order",
        q.map(|q| q.progs),
        l2.map(|(_, id)| vec![(progs[3].1, Some(id)), (a_id, Some(la_id))]),
    );
    if let Some((l2, _)) = l2 {
        r.ok("close the second link (release detaches)", b.link_close(l2));
    }
    r.eq(
        "closing a link's last fd detached it",
        b.prog_query(&query(nk, Hook::Primary, Some(8)))
            .ok()
            .map(|q| q.progs),
        Some(vec![(a_id, Some(la_id))]),
    );
    r.errno(
        "opts detach of a link's program",
        b.prog_detach(&detach(nk, Hook::Primary, Some(a))),
        Errno::EBUSY,
    );
    let mut repl = AttachReq::append(nk, Hook::Primary, progs[2].0);
    repl.flags = flags::REPLACE;
    repl.replace = Some(a);
    r.errno(
        "opts replace of a link's program",
        b.prog_attach(&repl),
        Errno::EBUSY,
    );
    let mut lrepl = link(nk, Hook::Primary, progs[2].0);
    lrepl.flags = flags::REPLACE;
    r.errno(
        "REPLACE in link create",
        b.link_create(&lrepl),
        Errno::ENOENT,
    );
    let rev = summary(b, nk, Hook::Primary).map(|s| s.1);
    r.ok(
        "link update to the same program",
        b.link_update(la, a, None),
    );
    r.eq(
        "same-program update keeps revision",
        summary(b, nk, Hook::Primary).map(|s| s.1),
        rev,
    );
    r.errno(
        "link update with wrong old program",
        b.link_update(la, progs[2].0, Some(progs[3].0)),
        Errno::EPERM,
    );
    r.errno(
        "link update to a program attached on the same hook",
        {
            let _ = b.prog_attach(&AttachReq::append(nk, Hook::Primary, progs[3].0));
            b.link_update(la, progs[3].0, None)
        },
        Errno::EEXIST,
    );
    r.ok("link update to C", b.link_update(la, progs[2].0, Some(a)));
    r.eq(
        "link info after update",
        b.link_info(la).ok().map(|i| i.prog_id),
        Some(progs[2].1),
    );
    r.ok("link detach", b.link_detach(la));
    r.eq(
        "detached link is defunct",
        b.link_info(la).ok().map(|i| i.ifindex),
        Some(0),
    );
    r.errno(
        "update defunct link",
        b.link_update(la, a, None),
        Errno::ENOLINK,
    );
    r.ok("detach defunct link again", b.link_detach(la));
    r.ok("delete pair with a peer link", b.link_del(nk));
    r.eq(
        "peer link defunct after delete",
        b.link_info(lp).ok().map(|i| i.ifindex),
        Some(0),
    );
    r.errno(
        "update link of deleted device",
        b.link_update(lp, a, None),
        Errno::ENOLINK,
    );
    r.ok("close defunct link", b.link_close(lp));
    let _ = b.link_close(la);
    for (p, _) in progs {
        let _ = b.prog_close(p);
    }
}
