//! spec/mprog.md §4.2 (tc_links.c) and the link rules of §3.4–§3.7, for netkit's two hooks.

mod common;

use common::*;
use netkit_core::flags::*;
use netkit_core::*;

#[test]
fn links_basic() {
    let mut fx = Fx::new(Hook::Primary);
    let t = fx.progs(2);
    let (l1, lid1) = fx.link(t[0], 0, 0, 0).unwrap();
    assert_eq!(
        (fx.count_of(Hook::Primary), fx.count_of(Hook::Peer)),
        (1, 0)
    );
    let q = fx.query_on(fx.primary, Hook::Primary, Some(2)).unwrap();
    assert_eq!(
        (q.count, q.revision, q.progs),
        (1, 2, vec![(fx.id(t[0]), Some(lid1))])
    );
    fx.hook = Hook::Peer;
    let (l2, lid2) = fx.link(t[1], 0, 0, 0).unwrap();
    assert_ne!(lid1, lid2);
    let q = fx.query_on(fx.primary, Hook::Peer, Some(2)).unwrap();
    assert_eq!(
        (q.count, q.revision, q.progs),
        (1, 2, vec![(fx.id(t[1]), Some(lid2))])
    );
    let info = fx.b.link_info(l2).unwrap();
    assert_eq!(
        (info.ifindex, info.hook, info.prog_id),
        (fx.peer.0, Hook::Peer, fx.id(t[1]))
    );
    assert_eq!(fx.b.link_info(l1).unwrap().ifindex, fx.primary.0);
    fx.b.link_close(l1).unwrap();
    fx.b.link_close(l2).unwrap();
    assert_eq!(
        (fx.count_of(Hook::Primary), fx.count_of(Hook::Peer)),
        (0, 0)
    );
}

#[test]
fn links_before_and_after() {
    for hook in HOOKS {
        let mut fx = Fx::new(hook);
        let t = fx.progs(4);
        let (_, l1) = fx.link(t[0], 0, 0, 0).unwrap();
        let (_, l2) = fx.link(t[1], 0, 0, 0).unwrap();
        assert_eq!((fx.count(), fx.rev()), (2, 3));
        // A program anchor matches a link-owned entry.
        let (_, l3) = fx.link(t[2], BEFORE, t[1].0, 0).unwrap();
        let (_, l4) = fx.link(t[3], BEFORE | LINK | ID, l1.0, 0).unwrap();
        assert_eq!((fx.count(), fx.rev()), (4, 5));
        assert_eq!(fx.order(), fx.ids(&[t[3], t[0], t[2], t[1]]));
        assert_eq!(fx.owners(), [Some(l4), Some(l1), Some(l3), Some(l2)]);
        assert_eq!(fx.ran_on_send(&t), [true; 4]);

        let mut fx = Fx::new(hook);
        let t = fx.progs(4);
        let (_, l1) = fx.link(t[0], 0, 0, 0).unwrap();
        let (h2, l2) = fx.link(t[1], 0, 0, 0).unwrap();
        let (_, l3) = fx.link(t[2], AFTER, t[0].0, 0).unwrap();
        let (_, l4) = fx.link(t[3], AFTER | LINK, h2.0, 0).unwrap();
        assert_eq!(fx.rev(), 5);
        assert_eq!(fx.order(), fx.ids(&[t[0], t[2], t[1], t[3]]));
        assert_eq!(fx.owners(), [Some(l1), Some(l3), Some(l2), Some(l4)]);
    }
}

#[test]
fn links_revision() {
    for hook in HOOKS {
        let mut fx = Fx::new(hook);
        let t = fx.progs(2);
        let (_, l1) = fx.link(t[0], 0, 0, 1).unwrap();
        assert_eq!(fx.link(t[1], 0, 0, 1).unwrap_err(), Errno::ESTALE);
        assert_eq!(fx.count(), 1);
        let (_, l2) = fx.link(t[1], 0, 0, 2).unwrap();
        assert_eq!((fx.count(), fx.rev()), (2, 3));
        assert_eq!(fx.owners(), [Some(l1), Some(l2)]);
    }
}

#[test]
fn links_replace() {
    for hook in HOOKS {
        let mut fx = Fx::new(hook);
        let t = fx.progs(3);
        let id1 = fx.id(t[0]).0;
        let (h1, l1) = fx.link(t[0], 0, 0, 1).unwrap();
        let (h2, l2) = fx.link(t[1], BEFORE | ID, id1, 2).unwrap();
        assert_eq!(
            (fx.count(), fx.rev(), fx.order()),
            (2, 3, fx.ids(&[t[1], t[0]]))
        );
        assert_eq!(fx.owners(), [Some(l2), Some(l1)]);
        assert_eq!(
            fx.link(t[2], REPLACE, t[1].0, 3).unwrap_err(),
            Errno::ENOENT
        );
        assert_eq!(
            fx.link(t[2], REPLACE | LINK, h2.0, 3).unwrap_err(),
            Errno::ENOENT
        );
        assert_eq!(
            fx.link(t[2], REPLACE | LINK | AFTER | ID, l2.0, 3)
                .unwrap_err(),
            Errno::ENOENT
        );
        assert_eq!(fx.count(), 2);
        fx.b.link_update(h2, t[2], None).unwrap();
        assert_eq!(
            (fx.count(), fx.rev(), fx.order()),
            (2, 4, fx.ids(&[t[2], t[0]]))
        );
        assert_eq!(
            fx.owners(),
            [Some(l2), Some(l1)],
            "link id and position kept"
        );
        assert_eq!(fx.ran_on_send(&t), [true, false, true]);
        fx.b.link_detach(h2).unwrap();
        assert_eq!((fx.count(), fx.rev(), fx.owners()), (1, 5, vec![Some(l1)]));
        fx.b.link_update(h1, t[0], None).unwrap();
        assert_eq!(fx.rev(), 5, "updating to the same program is a no-op");
    }
}

#[test]
fn links_update_errors() {
    for hook in HOOKS {
        let mut fx = Fx::new(hook);
        let t = fx.progs(3);
        let (h1, _) = fx.link(t[0], 0, 0, 0).unwrap();
        fx.attach(t[1], 0, 0, 0).unwrap();
        let err = |r: Result<(), Error>| r.unwrap_err().errno;
        assert_eq!(err(fx.b.link_update(h1, t[2], Some(t[1]))), Errno::EPERM);
        assert_eq!(err(fx.b.link_update(h1, t[1], None)), Errno::EEXIST);
        assert_eq!(
            err(fx.b.link_update(t[0], t[2], None)),
            Errno::EINVAL,
            "program handle as link"
        );
        assert_eq!(
            err(fx.b.link_update(h1, h1, None)),
            Errno::EINVAL,
            "link handle as program"
        );
        assert_eq!(err(fx.b.link_update(Handle(77), t[2], None)), Errno::EBADF);
        fx.b.link_update(h1, t[2], Some(t[0])).unwrap();
        fx.b.link_detach(h1).unwrap();
        assert_eq!(err(fx.b.link_update(h1, t[0], None)), Errno::ENOLINK);
        fx.b.link_detach(h1).unwrap();
        assert_eq!(fx.b.link_info(h1).unwrap().ifindex, 0);
        assert_eq!(fx.count(), 1);
    }
}

#[test]
fn links_invalid() {
    for hook in HOOKS {
        let mut fx = Fx::new(hook);
        let t = fx.progs(2);
        let pid2 = fx.id(t[1]).0;
        let cases = [
            (BEFORE | AFTER, 0, Errno::ERANGE),
            (BEFORE | ID, 0, Errno::ENOENT),
            (AFTER | ID, 0, Errno::ENOENT),
            (ID, 0, Errno::ENOENT),
            (LINK, t[1].0, Errno::EINVAL),
            (LINK, 0, Errno::EINVAL),
            (0, t[1].0, Errno::EINVAL),
            (BEFORE | AFTER, t[1].0, Errno::ENOENT),
            (BEFORE, t[0].0, Errno::ENOENT),
            (ID, pid2, Errno::EINVAL),
            (ID, 42, Errno::ENOENT),
            (BEFORE | LINK, t[0].0, Errno::EINVAL),
            (AFTER, t[0].0, Errno::ENOENT),
            (AFTER | LINK, t[0].0, Errno::EINVAL),
        ];
        for (flags, rel, errno) in cases {
            assert_eq!(
                fx.link(t[0], flags, rel, 0).unwrap_err(),
                errno,
                "flags {flags:#x} rel {rel}"
            );
            assert_eq!(fx.count(), 0);
        }
        let q = fx.query_on(IfIndex(0), hook, None).unwrap_err();
        assert_eq!(q, Errno::ENODEV, "ifindex 0 names no device");
        let (_, l1) = fx.link(t[0], 0, 0, 0).unwrap();
        assert_eq!(
            fx.link(t[1], AFTER | LINK, t[0].0, 0).unwrap_err(),
            Errno::EINVAL
        );
        assert_eq!(
            fx.link(t[1], BEFORE | LINK | ID, u32::MAX, 0).unwrap_err(),
            Errno::ENOENT
        );
        assert_eq!(
            fx.link(t[0], BEFORE | LINK | ID, l1.0, 0).unwrap_err(),
            Errno::EEXIST
        );
        let pid1 = fx.id(t[0]).0;
        assert_eq!(
            fx.link(t[0], BEFORE | ID, pid1, 0).unwrap_err(),
            Errno::EEXIST
        );
        assert_eq!(fx.count(), 1);
        fx.link(t[1], BEFORE | LINK | ID, l1.0, 0).unwrap();
        assert_eq!(fx.count(), 2);
        // Link-create flags are not masked: an unknown bit is harmless next to a direction.
        let t3 = fx.load(NEXT);
        fx.link(t3, AFTER | (1 << 20), 0, 0).unwrap();
        let t4 = fx.load(NEXT);
        assert_eq!(fx.link(t4, 1 << 20, 0, 0).unwrap_err(), Errno::EINVAL);
    }
}

#[test]
fn links_prepend_and_append() {
    for hook in HOOKS {
        for (flag, expect) in [(BEFORE, [3, 2, 1, 0]), (AFTER, [0, 1, 2, 3])] {
            let mut fx = Fx::new(hook);
            let t = fx.progs(4);
            let mut lids = vec![fx.link(t[0], 0, 0, 0).unwrap().1];
            for h in &t[1..] {
                lids.push(fx.link(*h, flag, 0, 0).unwrap().1);
            }
            assert_eq!(fx.rev(), 5);
            assert_eq!(fx.order(), fx.ids(&expect.map(|i| t[i])));
            assert_eq!(fx.owners(), expect.map(|i| Some(lids[i])));
        }
    }
}

#[test]
fn links_go_defunct_when_the_device_is_deleted() {
    for del_peer in [false, true] {
        let mut fx = Fx::new(Hook::Primary);
        let t = fx.progs(4);
        let mut links = Vec::new();
        for (i, h) in t.iter().enumerate() {
            fx.hook = HOOKS[i % 2];
            links.push(fx.link(*h, 0, 0, 0).unwrap().0);
        }
        let opts = fx.load(NEXT);
        fx.attach(opts, 0, 0, 0).unwrap();
        fx.b.link_del(if del_peer { fx.peer } else { fx.primary })
            .unwrap();
        for l in &links {
            let info = fx.b.link_info(*l).unwrap();
            assert_eq!(info.ifindex, 0, "defunct link reports ifindex 0");
            assert_eq!(
                fx.b.link_update(*l, t[0], None).unwrap_err().errno,
                Errno::ENOLINK
            );
            fx.b.link_detach(*l).unwrap();
        }
        for l in links {
            fx.b.link_close(l).unwrap();
        }
        for h in t {
            fx.b.prog_close(h).unwrap();
        }
        // Only the opts program's own handle still holds a program.
        let last = fx.b.prog_list();
        assert_eq!(last.len(), 1);
    }
}

#[test]
fn closing_handles_keeps_attached_programs_alive() {
    let mut fx = Fx::new(Hook::Primary);
    let t = fx.load(DROP_V);
    let id = fx.id(t);
    fx.attach(t, 0, 0, 0).unwrap();
    fx.b.prog_close(t).unwrap();
    assert_eq!(fx.b.prog_close(t).unwrap_err().errno, Errno::EBADF);
    assert_eq!(fx.order(), [id]);
    assert_eq!(fx.send(), TxOutcome::Dropped, "the program still runs");
    // Still addressable by id, e.g. as an anchor and for detach-by-position.
    let t2 = fx.load(NEXT);
    fx.attach(t2, BEFORE | ID, id.0, 0).unwrap();
    fx.detach(None, 0, 0, 0).unwrap();
    assert_eq!(fx.order(), [fx.id(t2)]);
    assert!(
        fx.b.prog_list().iter().all(|p| p.id != id),
        "detached and closed: gone"
    );
    assert_eq!(fx.attach(t2, AFTER | ID, id.0, 0), Err(Errno::EEXIST));
    let t3 = fx.load(NEXT);
    assert_eq!(fx.attach(t3, AFTER | ID, id.0, 0), Err(Errno::ENOENT));
}

const DROP_V: i32 = 2;

#[test]
fn handles_are_lowest_free_like_fds() {
    let mut fx = Fx::new(Hook::Primary);
    let a = fx.load(0);
    let b = fx.load(0);
    assert_eq!((a, b), (Handle(3), Handle(4)));
    fx.b.prog_close(a).unwrap();
    assert_eq!(fx.load(0), Handle(3));
    let (l, _) = fx.link(b, 0, 0, 0).unwrap();
    assert_eq!(l, Handle(5));
    assert_eq!(fx.b.prog_close(l).unwrap_err().errno, Errno::EINVAL);
    assert_eq!(fx.b.link_close(b).unwrap_err().errno, Errno::EINVAL);
}
