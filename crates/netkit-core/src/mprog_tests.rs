//! Unit tests of the bare mprog algorithm: the worked examples of spec/mprog.md §1.7 and the
//! quirk checklist of §8, without any device or handle around it.

use std::sync::Arc;

use super::*;
use crate::prog::ConstProg;
use crate::types::flags::*;

fn prog(id: u32) -> Arc<Prog> {
    Arc::new(Prog::new(
        ProgId(id),
        format!("p{id}"),
        Arc::new(ConstProg(-1)),
    ))
}

fn at(id: u32) -> Option<Anchor> {
    Some(Anchor {
        prog: ProgId(id),
        link: None,
    })
}

fn op(id: u32, flags: u32) -> AttachOp {
    AttachOp {
        prog: prog(id),
        link: None,
        replace: None,
        flags,
        expected_revision: 0,
    }
}

fn attach(b: &mut Bundle, id: u32, flags: u32, anchor: Option<Anchor>) -> Result<(), Errno> {
    b.attach(op(id, flags), || Ok(anchor)).map_err(|e| e.errno)
}

fn replace(
    b: &mut Bundle,
    new: u32,
    old: u32,
    flags: u32,
    anchor: Option<Anchor>,
) -> Result<(), Errno> {
    let o = AttachOp {
        replace: Some(ProgId(old)),
        ..op(new, REPLACE | flags)
    };
    b.attach(o, || Ok(anchor)).map_err(|e| e.errno)
}

fn detach(
    b: &mut Bundle,
    id: Option<u32>,
    flags: u32,
    anchor: Option<Anchor>,
) -> Result<u32, Errno> {
    let o = DetachOp {
        prog: id.map(ProgId),
        link: None,
        flags,
        expected_revision: 0,
    };
    b.detach(o, || Ok(anchor))
        .map(|e| e.prog.id.0)
        .map_err(|e| e.errno)
}

fn ids(b: &Bundle) -> Vec<u32> {
    b.entries().iter().map(|e| e.prog.id.0).collect()
}

fn bundle(ids: &[u32]) -> Bundle {
    let mut b = Bundle::default();
    for id in ids {
        attach(&mut b, *id, 0, None).unwrap();
    }
    b
}

#[test]
fn worked_examples() {
    let mut b = bundle(&[1, 2]);
    attach(&mut b, 3, BEFORE, at(2)).unwrap();
    assert_eq!(ids(&b), [1, 3, 2]);
    attach(&mut b, 4, BEFORE | ID, at(1)).unwrap();
    assert_eq!(ids(&b), [4, 1, 3, 2]);

    let mut b = bundle(&[1, 2]);
    attach(&mut b, 3, AFTER, at(1)).unwrap();
    attach(&mut b, 4, AFTER | ID, at(2)).unwrap();
    assert_eq!(ids(&b), [1, 3, 2, 4]);

    let mut b = bundle(&[1]);
    for id in [2, 3, 4] {
        attach(&mut b, id, BEFORE, None).unwrap();
    }
    assert_eq!(ids(&b), [4, 3, 2, 1]);
    let mut b = bundle(&[1]);
    for id in [2, 3, 4] {
        attach(&mut b, id, AFTER, None).unwrap();
    }
    assert_eq!(ids(&b), [1, 2, 3, 4]);

    let mut b = bundle(&[2, 1]);
    replace(&mut b, 3, 2, 0, None).unwrap();
    assert_eq!(ids(&b), [3, 1]);
    replace(&mut b, 2, 3, BEFORE, at(1)).unwrap();
    assert_eq!(ids(&b), [2, 1]);
    assert_eq!(replace(&mut b, 3, 2, AFTER, at(1)), Err(Errno::ERANGE));
    assert_eq!(
        replace(&mut b, 3, 2, BEFORE | AFTER, at(1)),
        Err(Errno::ERANGE)
    );
    assert_eq!(b.revision(), 5);
}

#[test]
fn check_order_estale_before_eexist_before_anchor() {
    let mut b = bundle(&[1]);
    let stale = AttachOp {
        expected_revision: 9,
        ..op(1, 0)
    };
    let err = b
        .attach(stale, || panic!("anchor must not be resolved"))
        .unwrap_err();
    assert_eq!(err.errno, Errno::ESTALE);
    let err = b
        .attach(op(1, BEFORE), || panic!("anchor must not be resolved"))
        .unwrap_err();
    assert_eq!(err.errno, Errno::EEXIST);
    let bad_anchor = || Err(Error::new(Errno::EBADF, "bad fd"));
    assert_eq!(
        b.attach(op(2, BEFORE), bad_anchor).unwrap_err().errno,
        Errno::EBADF
    );
    // Detach: empty first, then REPLACE, then the revision.
    let mut empty = Bundle::default();
    let d = DetachOp {
        prog: None,
        link: None,
        flags: REPLACE,
        expected_revision: 5,
    };
    assert_eq!(
        empty.detach(d, || Ok(None)).unwrap_err().errno,
        Errno::ENOENT
    );
    assert_eq!(b.detach(d, || Ok(None)).unwrap_err().errno, Errno::EINVAL);
    let d = DetachOp { flags: 0, ..d };
    assert_eq!(b.detach(d, || Ok(None)).unwrap_err().errno, Errno::ESTALE);
    assert_eq!(b.revision(), 2, "failures never bump the revision");
}

#[test]
fn link_anchors_only_match_their_own_entry() {
    let mut b = Bundle::default();
    let l = AttachOp {
        link: Some(LinkId(7)),
        ..op(1, 0)
    };
    b.attach(l, || Ok(None)).unwrap();
    let link_anchor = Some(Anchor {
        prog: ProgId(1),
        link: Some(LinkId(7)),
    });
    let other_link = Some(Anchor {
        prog: ProgId(1),
        link: Some(LinkId(8)),
    });
    attach(&mut b, 2, AFTER, link_anchor).unwrap();
    assert_eq!(attach(&mut b, 3, AFTER, other_link), Err(Errno::ENOENT));
    attach(&mut b, 3, BEFORE, at(1)).unwrap();
    assert_eq!(ids(&b), [3, 1, 2]);
    // Opts REPLACE or detach of the link's entry: EBUSY.
    assert_eq!(replace(&mut b, 4, 1, 0, None), Err(Errno::EBUSY));
    assert_eq!(detach(&mut b, Some(1), 0, None), Err(Errno::EBUSY));
    assert_eq!(detach(&mut b, None, AFTER, at(3)), Err(Errno::EBUSY));
}

#[test]
fn detach_quirks() {
    let mut b = bundle(&[1, 2, 3]);
    assert_eq!(
        detach(&mut b, None, 0, None),
        Ok(3),
        "no program, no flags: the last"
    );
    assert_eq!(
        detach(&mut b, None, BEFORE, at(1)),
        Ok(1),
        "BEFORE(first) removes the anchor"
    );
    let mut b = bundle(&[1, 2, 3]);
    assert_eq!(
        detach(&mut b, None, AFTER, at(3)),
        Ok(3),
        "AFTER(last) removes the anchor"
    );
    assert_eq!(detach(&mut b, Some(1), BEFORE, None), Err(Errno::ERANGE));
    assert_eq!(detach(&mut b, Some(2), AFTER, None), Err(Errno::ERANGE));
    assert_eq!(
        detach(&mut b, None, 0, at(1)),
        Err(Errno::EINVAL),
        "anchor without direction"
    );
    assert_eq!(
        detach(&mut b, None, ID, None),
        Err(Errno::EINVAL),
        "flags without direction"
    );
    assert_eq!(ids(&b), [1, 2]);
}

#[test]
fn query_copies_prefix_on_enospc() {
    let b = bundle(&[1, 2, 3]);
    let (err, part) = b.query(Some(2)).unwrap_err();
    assert_eq!(err.errno, Errno::ENOSPC);
    assert_eq!((part.count, part.revision, part.progs.len()), (3, 4, 2));
    assert_eq!(b.query(None).unwrap().progs.len(), 0);
    assert_eq!(b.query(Some(3)).unwrap().progs.len(), 3);
    let empty = Bundle::default();
    let q = empty.query(Some(5)).unwrap();
    assert_eq!((q.count, q.revision), (0, 1));
}
