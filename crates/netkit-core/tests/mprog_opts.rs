//! spec/mprog.md §4.1 (tc_opts.c) restated for netkit's two hooks, through the user backend.

mod common;

use common::*;
use netkit_core::flags::*;
use netkit_core::*;

#[test]
fn opts_basic() {
    let mut fx = Fx::new(Hook::Primary);
    let [t1, t2] = fx.progs(2)[..] else {
        unreachable!()
    };
    assert_eq!(
        (fx.count_of(Hook::Primary), fx.count_of(Hook::Peer)),
        (0, 0)
    );
    fx.attach(t1, 0, 0, 0).unwrap();
    assert_eq!(
        (fx.count_of(Hook::Primary), fx.count_of(Hook::Peer)),
        (1, 0)
    );
    let q = fx.query_on(fx.primary, Hook::Primary, Some(2)).unwrap();
    assert_eq!(
        (q.count, q.revision, q.progs),
        (1, 2, vec![(fx.id(t1), None)])
    );
    assert_eq!(fx.ran_on_send(&[t1, t2]), [true, false]);
    fx.hook = Hook::Peer;
    fx.attach(t2, 0, 0, 0).unwrap();
    assert_eq!(
        (fx.count_of(Hook::Primary), fx.count_of(Hook::Peer)),
        (1, 1)
    );
    let q = fx.query_on(fx.primary, Hook::Peer, Some(2)).unwrap();
    assert_eq!((q.count, q.revision), (1, 2), "revisions are per hook");
    assert_eq!(
        fx.ran_on_send(&[t1, t2]),
        [false, true],
        "peer programs run on the peer's transmit"
    );
    fx.detach(Some(t2), 0, 0, 0).unwrap();
    fx.hook = Hook::Primary;
    fx.detach(Some(t1), 0, 0, 0).unwrap();
    assert_eq!(
        (fx.count_of(Hook::Primary), fx.count_of(Hook::Peer)),
        (0, 0)
    );
}

#[test]
fn opts_before() {
    for hook in HOOKS {
        let mut fx = Fx::new(hook);
        let t = fx.progs(4);
        fx.attach(t[0], 0, 0, 0).unwrap();
        fx.attach(t[1], 0, 0, 0).unwrap();
        assert_eq!((fx.rev(), fx.order()), (3, fx.ids(&[t[0], t[1]])));
        fx.attach(t[2], BEFORE, t[1].0, 0).unwrap();
        assert_eq!((fx.rev(), fx.order()), (4, fx.ids(&[t[0], t[2], t[1]])));
        let id1 = fx.id(t[0]).0;
        fx.attach(t[3], BEFORE | ID, id1, 0).unwrap();
        assert_eq!((fx.count(), fx.rev()), (4, 5));
        assert_eq!(fx.order(), fx.ids(&[t[3], t[0], t[2], t[1]]));
        assert_eq!(fx.ran_on_send(&t), [true; 4]);
        for (i, h) in t.iter().rev().enumerate() {
            fx.detach(Some(*h), 0, 0, 0).unwrap();
            assert_eq!(fx.count(), 3 - i as u32);
        }
    }
}

#[test]
fn opts_after() {
    for hook in HOOKS {
        let mut fx = Fx::new(hook);
        let t = fx.progs(4);
        fx.attach(t[0], 0, 0, 0).unwrap();
        fx.attach(t[1], 0, 0, 0).unwrap();
        fx.attach(t[2], AFTER, t[0].0, 0).unwrap();
        assert_eq!((fx.rev(), fx.order()), (4, fx.ids(&[t[0], t[2], t[1]])));
        let id2 = fx.id(t[1]).0;
        fx.attach(t[3], AFTER | ID, id2, 0).unwrap();
        assert_eq!(
            (fx.rev(), fx.order()),
            (5, fx.ids(&[t[0], t[2], t[1], t[3]]))
        );
        fx.detach(Some(t[3]), 0, 0, 0).unwrap();
        assert_eq!((fx.rev(), fx.order()), (6, fx.ids(&[t[0], t[2], t[1]])));
        fx.detach(Some(t[2]), 0, 0, 0).unwrap();
        assert_eq!((fx.rev(), fx.order()), (7, fx.ids(&[t[0], t[1]])));
        fx.detach(Some(t[1]), 0, 0, 0).unwrap();
        assert_eq!((fx.rev(), fx.order()), (8, fx.ids(&[t[0]])));
        fx.detach(Some(t[0]), 0, 0, 0).unwrap();
        assert_eq!(fx.count(), 0);
    }
}

#[test]
fn opts_revision() {
    for hook in HOOKS {
        let mut fx = Fx::new(hook);
        let t = fx.progs(2);
        fx.attach(t[0], 0, 0, 1).unwrap();
        assert_eq!(fx.attach(t[1], 0, 0, 1), Err(Errno::ESTALE));
        assert_eq!(fx.count(), 1);
        fx.attach(t[1], 0, 0, 2).unwrap();
        assert_eq!((fx.count(), fx.rev(), fx.order()), (2, 3, fx.ids(&t)));
        assert_eq!(fx.detach(Some(t[1]), 0, 0, 2), Err(Errno::ESTALE));
        assert_eq!(fx.count(), 2);
        fx.detach(Some(t[1]), 0, 0, 3).unwrap();
        fx.detach(Some(t[0]), 0, 0, 0).unwrap();
        assert_eq!(fx.count(), 0);
    }
}

#[test]
fn opts_replace() {
    for hook in HOOKS {
        let mut fx = Fx::new(hook);
        let t = fx.progs(3);
        let id1 = fx.id(t[0]).0;
        fx.attach(t[0], 0, 0, 1).unwrap();
        fx.attach(t[1], BEFORE | ID, id1, 2).unwrap();
        let q = fx.query();
        assert_eq!((q.count, q.revision), (2, 3));
        assert_eq!(fx.order(), fx.ids(&[t[1], t[0]]));
        fx.attach_full(t[2], REPLACE, 0, Some(t[1]), 3).unwrap();
        assert_eq!((fx.rev(), fx.order()), (4, fx.ids(&[t[2], t[0]])));
        assert_eq!(fx.ran_on_send(&t), [true, false, true]);
        fx.attach_full(t[1], REPLACE | BEFORE, t[0].0, Some(t[2]), 4)
            .unwrap();
        assert_eq!((fx.rev(), fx.order()), (5, fx.ids(&[t[1], t[0]])));
        assert_eq!(
            fx.attach_full(t[1], REPLACE, 0, Some(t[1]), 0),
            Err(Errno::EEXIST)
        );
        assert_eq!(
            fx.attach_full(t[2], REPLACE | AFTER, t[0].0, Some(t[1]), 5),
            Err(Errno::ERANGE)
        );
        let both = REPLACE | BEFORE | AFTER;
        assert_eq!(
            fx.attach_full(t[2], both, t[0].0, Some(t[1]), 5),
            Err(Errno::ERANGE)
        );
        assert_eq!(fx.count(), 2);
        fx.detach(Some(t[1]), BEFORE | ID, id1, 5).unwrap();
        assert_eq!(fx.count(), 1);
        fx.detach(Some(t[0]), 0, 0, 0).unwrap();
        assert_eq!(fx.count(), 0);
    }
}

#[test]
fn opts_invalid() {
    for hook in HOOKS {
        let mut fx = Fx::new(hook);
        let t = fx.progs(2);
        let id2 = fx.id(t[1]).0;
        let cases = [
            (t[0], BEFORE | AFTER, 0, Errno::ERANGE),
            (t[0], BEFORE | ID, 0, Errno::ENOENT),
            (t[0], AFTER | ID, 0, Errno::ENOENT),
            (t[0], 0, t[1].0, Errno::EINVAL),
            (t[0], BEFORE | AFTER, t[1].0, Errno::ENOENT),
            (t[0], ID, id2, Errno::EINVAL),
            (t[0], BEFORE, t[0].0, Errno::ENOENT),
            (t[0], AFTER, t[0].0, Errno::ENOENT),
        ];
        for (prog, flags, rel, errno) in cases {
            assert_eq!(
                fx.attach(prog, flags, rel, 0),
                Err(errno),
                "flags {flags:#x} rel {rel}"
            );
            assert_eq!(fx.count(), 0);
        }
        fx.attach(t[0], 0, 0, 0).unwrap();
        assert_eq!(fx.attach(t[0], 0, 0, 0), Err(Errno::EEXIST));
        assert_eq!(fx.attach(t[0], BEFORE, t[0].0, 0), Err(Errno::EEXIST));
        assert_eq!(fx.attach(t[0], AFTER, t[0].0, 0), Err(Errno::EEXIST));
        assert_eq!(
            fx.attach_full(t[1], REPLACE, t[0].0, Some(Handle(0)), 0),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            fx.attach_full(t[0], REPLACE, 0, Some(t[0]), 0),
            Err(Errno::EEXIST)
        );
        assert_eq!(fx.count(), 1);
        fx.detach(Some(t[0]), 0, 0, 0).unwrap();
        assert_eq!(fx.count(), 0);
    }
}

#[test]
fn opts_prepend_and_append() {
    for hook in HOOKS {
        for (flag, expect) in [(BEFORE, [3, 2, 1, 0]), (AFTER, [0, 1, 2, 3])] {
            let mut fx = Fx::new(hook);
            let t = fx.progs(4);
            fx.attach(t[0], 0, 0, 0).unwrap();
            fx.attach(t[1], flag, 0, 0).unwrap();
            assert_eq!(fx.rev(), 3);
            fx.attach(t[2], flag, 0, 0).unwrap();
            fx.attach(t[3], flag, 0, 0).unwrap();
            assert_eq!((fx.count(), fx.rev()), (4, 5));
            assert_eq!(fx.order(), fx.ids(&expect.map(|i| t[i])));
            assert_eq!(fx.ran_on_send(&t), [true; 4]);
            for h in t.iter().rev() {
                fx.detach(Some(*h), 0, 0, 0).unwrap();
            }
            assert_eq!(fx.count(), 0);
        }
    }
}

#[test]
fn opts_dev_cleanup() {
    for hook in HOOKS {
        let mut fx = Fx::new(hook);
        let t = fx.progs(4);
        for (i, h) in t.iter().enumerate() {
            fx.attach(*h, 0, 0, 0).unwrap();
            assert_eq!(fx.count(), i as u32 + 1);
        }
        fx.b.link_del(fx.primary).unwrap();
        assert_eq!(fx.b.link_get(fx.primary).unwrap_err().errno, Errno::ENODEV);
        assert_eq!(fx.b.link_get(fx.peer).unwrap_err().errno, Errno::ENODEV);
        // Programs were released by the device; once their handles close they are gone.
        for h in &t {
            fx.b.prog_close(*h).unwrap();
        }
        assert!(fx.b.prog_list().is_empty());
    }
}

#[test]
fn opts_mixed() {
    for hook in HOOKS {
        let mut fx = Fx::new(hook);
        let t = fx.progs(4);
        fx.attach(t[0], 0, 0, 0).unwrap();
        let (_l2, lid2) = fx.link(t[1], 0, 0, 0).unwrap();
        assert_eq!(fx.count(), 2);
        assert_eq!(
            fx.attach_full(t[1], REPLACE, 0, Some(t[0]), 0),
            Err(Errno::EEXIST)
        );
        assert_eq!(
            fx.attach_full(t[0], REPLACE, 0, Some(t[1]), 0),
            Err(Errno::EEXIST)
        );
        assert_eq!(
            fx.attach_full(t[2], REPLACE, 0, Some(t[1]), 0),
            Err(Errno::EBUSY)
        );
        fx.attach_full(t[2], REPLACE, 0, Some(t[0]), 0).unwrap();
        assert_eq!(fx.count(), 2);
        let (_l4, lid4) = fx.link(t[3], 0, 0, 0).unwrap();
        assert_eq!(
            fx.attach_full(t[1], REPLACE, 0, Some(t[3]), 0),
            Err(Errno::EEXIST)
        );
        let q = fx.query();
        assert_eq!((q.count, q.revision), (3, 5));
        assert_eq!(fx.order(), fx.ids(&[t[2], t[1], t[3]]));
        assert_eq!(fx.owners(), [None, Some(lid2), Some(lid4)]);
        fx.detach(Some(t[2]), 0, 0, 0).unwrap();
        assert_eq!(fx.count(), 2);
        fx.b.link_close(_l2).unwrap();
        fx.b.link_close(_l4).unwrap();
        assert_eq!(fx.count(), 0);
    }
}

#[test]
fn opts_demixed() {
    for hook in HOOKS {
        let mut fx = Fx::new(hook);
        let t = fx.progs(2);
        fx.attach(t[0], 0, 0, 0).unwrap();
        let (l2, _) = fx.link(t[1], 0, 0, 0).unwrap();
        assert_eq!(fx.detach(None, AFTER, 0, 0), Err(Errno::EBUSY));
        assert_eq!(fx.count(), 2);
        fx.detach(None, BEFORE, 0, 0).unwrap();
        assert_eq!(fx.order(), fx.ids(&[t[1]]));
        fx.b.link_close(l2).unwrap();
        assert_eq!(fx.count(), 0);
    }
}

fn four(fx: &mut Fx) -> Vec<Handle> {
    let t = fx.progs(4);
    for h in &t {
        fx.attach(*h, 0, 0, 0).unwrap();
    }
    assert_eq!(fx.rev(), 5);
    t
}

#[test]
fn opts_detach() {
    for hook in HOOKS {
        let mut fx = Fx::new(hook);
        let t = four(&mut fx);
        fx.detach(None, BEFORE, 0, 0).unwrap();
        assert_eq!((fx.rev(), fx.order()), (6, fx.ids(&t[1..])));
        fx.detach(None, AFTER, 0, 0).unwrap();
        assert_eq!((fx.rev(), fx.order()), (7, fx.ids(&t[1..3])));
        fx.detach(Some(t[2]), 0, 0, 0).unwrap();
        fx.detach(Some(t[1]), 0, 0, 0).unwrap();
        assert_eq!(fx.count(), 0);
        assert_eq!(fx.detach(None, BEFORE, 0, 0), Err(Errno::ENOENT));
        assert_eq!(fx.detach(None, AFTER, 0, 0), Err(Errno::ENOENT));
    }
}

#[test]
fn opts_detach_before() {
    for hook in HOOKS {
        let mut fx = Fx::new(hook);
        let t = four(&mut fx);
        fx.detach(Some(t[0]), BEFORE, t[1].0, 0).unwrap();
        assert_eq!((fx.rev(), fx.order()), (6, fx.ids(&t[1..])));
        assert_eq!(fx.detach(Some(t[0]), BEFORE, t[1].0, 0), Err(Errno::ENOENT));
        assert_eq!(fx.detach(Some(t[1]), BEFORE, t[3].0, 0), Err(Errno::ERANGE));
        assert_eq!(fx.detach(Some(t[1]), BEFORE, t[0].0, 0), Err(Errno::ENOENT));
        fx.detach(Some(t[1]), BEFORE, t[2].0, 0).unwrap();
        assert_eq!((fx.rev(), fx.order()), (7, fx.ids(&t[2..])));
        fx.detach(None, BEFORE, t[3].0, 0).unwrap();
        assert_eq!((fx.rev(), fx.order()), (8, fx.ids(&t[3..])));
        fx.detach(None, BEFORE, 0, 0).unwrap();
        assert_eq!(fx.count(), 0);
    }
}

#[test]
fn opts_detach_after() {
    for hook in HOOKS {
        let mut fx = Fx::new(hook);
        let t = four(&mut fx);
        fx.detach(Some(t[1]), AFTER, t[0].0, 0).unwrap();
        assert_eq!((fx.rev(), fx.order()), (6, fx.ids(&[t[0], t[2], t[3]])));
        assert_eq!(fx.detach(Some(t[1]), AFTER, t[0].0, 0), Err(Errno::ENOENT));
        assert_eq!(fx.detach(Some(t[0]), AFTER, t[3].0, 0), Err(Errno::ERANGE));
        assert_eq!(fx.detach(Some(t[0]), AFTER, t[2].0, 0), Err(Errno::ERANGE));
        assert_eq!(fx.detach(Some(t[0]), AFTER, t[0].0, 0), Err(Errno::ERANGE));
        fx.detach(Some(t[2]), AFTER, t[0].0, 0).unwrap();
        assert_eq!((fx.rev(), fx.order()), (7, fx.ids(&[t[0], t[3]])));
        fx.detach(None, AFTER, t[0].0, 0).unwrap();
        assert_eq!((fx.rev(), fx.order()), (8, fx.ids(&[t[0]])));
        fx.detach(None, AFTER, 0, 0).unwrap();
        assert_eq!(fx.count(), 0);
    }
}

#[test]
fn opts_delete_empty() {
    for hook in HOOKS {
        let mut fx = Fx::new(hook);
        assert_eq!(fx.detach(None, 0, 0, 0), Err(Errno::ENOENT));
        // netkit checks for an empty list before REPLACE and the revision.
        assert_eq!(fx.detach(None, REPLACE, 0, 7), Err(Errno::ENOENT));
        assert_eq!(fx.count(), 0);
    }
}

#[test]
fn opts_max() {
    for hook in HOOKS {
        let variants: [(u32, bool); 4] =
            [(0, false), (BEFORE, false), (BEFORE, true), (AFTER, true)];
        for (flags, anchored) in variants.into_iter().chain([(AFTER, false)]) {
            let mut fx = Fx::new(hook);
            let t = fx.progs(63);
            for (i, h) in t.iter().enumerate() {
                fx.attach(*h, 0, 0, 0).unwrap();
                assert_eq!(fx.count(), i as u32 + 1);
            }
            let extra = fx.load(0);
            let rel = if anchored { t[62].0 } else { 0 };
            assert_eq!(fx.attach(extra, flags, rel, 0), Err(Errno::ERANGE));
            assert_eq!(fx.count(), 63);
            // REPLACE still works at the limit.
            fx.attach_full(extra, REPLACE, 0, Some(t[5]), 0).unwrap();
            assert_eq!(fx.count(), 63);
            // "Detach last" forms compute index 63: ERANGE (quirk).
            assert_eq!(fx.detach(None, 0, 0, 0), Err(Errno::ERANGE));
            assert_eq!(fx.detach(None, AFTER, 0, 0), Err(Errno::ERANGE));
            assert_eq!(fx.detach(None, AFTER, t[62].0, 0), Err(Errno::ERANGE));
            fx.detach(None, BEFORE, 0, 0).unwrap();
            assert_eq!(fx.count(), 62);
        }
    }
}

#[test]
fn opts_query() {
    for hook in HOOKS {
        let mut fx = Fx::new(hook);
        let t = fx.progs(4);
        for (i, h) in t.iter().enumerate() {
            fx.attach(*h, 0, 0, i as u64 + 1).unwrap();
        }
        let ids = fx.ids(&t);
        let q = fx.query_on(fx.primary, hook, None).unwrap();
        assert_eq!((q.count, q.revision, q.progs.len()), (4, 5, 0));
        let q = fx.query_on(fx.primary, hook, Some(10)).unwrap();
        assert_eq!(q.progs.iter().map(|p| p.0).collect::<Vec<_>>(), ids);
        let req = QueryReq {
            ifindex: fx.primary,
            hook,
            query_flags: 0,
            attach_flags: 0,
            capacity: Some(2),
        };
        let (err, partial) = fx.b.prog_query(&req).unwrap_err();
        assert_eq!(err.errno, Errno::ENOSPC);
        let partial = partial.expect("ENOSPC copies a prefix");
        assert_eq!((partial.count, partial.revision), (4, 5));
        assert_eq!(
            partial.progs.iter().map(|p| p.0).collect::<Vec<_>>(),
            ids[..2]
        );
        let q = fx.query_on(fx.primary, hook, Some(0)).unwrap();
        assert_eq!((q.count, q.progs.len()), (4, 0));
        for (qf, af) in [(1, 0), (0, 1)] {
            let req = QueryReq {
                ifindex: fx.primary,
                hook,
                query_flags: qf,
                attach_flags: af,
                capacity: None,
            };
            assert_eq!(fx.b.prog_query(&req).unwrap_err().0.errno, Errno::EINVAL);
        }
        let req = QueryReq {
            ifindex: fx.primary,
            hook,
            query_flags: 2,
            attach_flags: 0,
            capacity: None,
        };
        assert_eq!(fx.b.prog_query(&req).unwrap_err().0.errno, Errno::EINVAL);
    }
}

#[test]
fn opts_query_attach() {
    for hook in HOOKS {
        let mut fx = Fx::new(hook);
        let q = fx.query();
        assert_eq!((q.count, q.revision), (0, 1));
        let t = fx.load(NEXT);
        fx.attach(t, 0, 0, q.revision).unwrap();
        let q = fx.query();
        assert_eq!(
            (q.count, q.revision, q.progs),
            (1, 2, vec![(fx.id(t), None)])
        );
    }
}

#[test]
fn query_reports_revision_1_when_empty_but_keeps_counting() {
    for hook in HOOKS {
        let mut fx = Fx::new(hook);
        let t = fx.load(NEXT);
        fx.attach(t, 0, 0, 0).unwrap();
        fx.detach(Some(t), 0, 0, 0).unwrap();
        assert_eq!(fx.rev(), 1, "an empty netkit hook reports revision 1");
        assert_eq!(
            fx.attach(t, 0, 0, 1),
            Err(Errno::ESTALE),
            "internally it is at 3"
        );
        fx.attach(t, 0, 0, 3).unwrap();
        assert_eq!(fx.rev(), 4);
    }
}

#[test]
fn unknown_attach_flags_are_einval() {
    let mut fx = Fx::new(Hook::Primary);
    let t = fx.load(NEXT);
    assert_eq!(
        fx.attach(t, 1, 0, 0),
        Err(Errno::EINVAL),
        "ALLOW_OVERRIDE is cgroup only"
    );
    assert_eq!(fx.attach(t, 1 << 6, 0, 0), Err(Errno::EINVAL));
    assert_eq!(fx.detach(Some(t), 2, 0, 0), Err(Errno::EINVAL));
    assert_eq!(fx.attach(Handle(99), 0, 0, 0), Err(Errno::EBADF));
    assert_eq!(fx.count(), 0);
}
