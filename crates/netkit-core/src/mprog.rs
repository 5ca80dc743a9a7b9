//! bpf_mprog: the ordered program list of one hook, with the kernel's positioning rules,
//! check order and errnos (spec/mprog.md §1–§2).
//!
//! A [`Bundle`] is pure data. Resolving handles and ids to programs and links needs the
//! object registry, so callers pass the anchor resolution as a closure: it runs exactly at
//! the point of the kernel's check order where the kernel resolves the relative object.

use std::sync::Arc;

use crate::error::{fail, Errno, Error};
use crate::prog::Prog;
use crate::types::{flags, LinkId, ProgId, QueryResult};

/// `bpf_mprog_max()`: 64 slots, one always kept empty as the fast path's terminator.
pub const MAX_PROGS: usize = 63;

/// One attached program and, for link attachments, the owning link.
#[derive(Clone, Debug)]
pub struct Entry {
    pub prog: Arc<Prog>,
    pub link: Option<LinkId>,
}

/// The resolved relative object ("rtuple"): a program, or a link and its current program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anchor {
    pub prog: ProgId,
    pub link: Option<LinkId>,
}

/// An attach request after handles were resolved: new program `prog`, owning `link` (none
/// for BPF_PROG_ATTACH), `replace` = the old program with BPF_F_REPLACE.
#[derive(Clone, Debug)]
pub struct AttachOp {
    pub prog: Arc<Prog>,
    pub link: Option<LinkId>,
    pub replace: Option<ProgId>,
    pub flags: u32,
    pub expected_revision: u64,
}

/// A detach request after handles were resolved.
#[derive(Clone, Copy, Debug)]
pub struct DetachOp {
    pub prog: Option<ProgId>,
    pub link: Option<LinkId>,
    pub flags: u32,
    pub expected_revision: u64,
}

/// The program list of one hook plus its revision. netkit embeds one per device, so the
/// revision persists across empty periods (see [`Bundle::query`]).
#[derive(Clone, Debug)]
pub struct Bundle {
    entries: Vec<Entry>,
    revision: u64,
}

impl Default for Bundle {
    fn default() -> Bundle {
        Bundle {
            entries: Vec::new(),
            revision: 1,
        }
    }
}

/// A position as the kernel computes it: -1 = "before the first", `n` = "after the last".
type Pos = isize;

impl Bundle {
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The internal revision (what `expected_revision` is compared with).
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The programs in run order, for publishing to the datapath.
    pub fn programs(&self) -> Vec<Arc<Prog>> {
        self.entries.iter().map(|e| e.prog.clone()).collect()
    }

    fn position_of(&self, prog: ProgId) -> Option<usize> {
        self.entries.iter().position(|e| e.prog.id == prog)
    }

    /// EXACT(prog, link): the slot of `prog`; ENOENT if absent, EBUSY if owned differently.
    fn exact(&self, prog: Option<ProgId>, link: Option<LinkId>) -> Result<Pos, Error> {
        let Some(i) = prog.and_then(|p| self.position_of(p)) else {
            return fail(
                Errno::ENOENT,
                "the program to replace or detach is not attached",
            );
        };
        if self.entries[i].link != link {
            return fail(
                Errno::EBUSY,
                match link {
                    None => "the program is owned by a link; use the link to change it",
                    Some(_) => "the program is not owned by this link",
                },
            );
        }
        Ok(i as Pos)
    }

    /// Index of the entry an anchor names: a program anchor matches any owner, a link anchor
    /// only its own entry.
    fn anchor_index(&self, anchor: Anchor) -> Result<usize, Error> {
        self.entries
            .iter()
            .position(|e| {
                e.prog.id == anchor.prog && (anchor.link.is_none() || e.link == anchor.link)
            })
            .ok_or_else(|| {
                Error::new(
                    Errno::ENOENT,
                    "the relative program or link is not attached",
                )
            })
    }

    fn before(&self, anchor: Option<Anchor>) -> Result<Pos, Error> {
        match anchor {
            None => Ok(-1),
            Some(a) => Ok(self.anchor_index(a)? as Pos - 1),
        }
    }

    fn after(&self, anchor: Option<Anchor>) -> Result<Pos, Error> {
        match anchor {
            None => Ok(self.entries.len() as Pos),
            Some(a) => Ok(self.anchor_index(a)? as Pos + 1),
        }
    }

    /// Applies BEFORE/AFTER to a position fixed so far (ERANGE when they disagree).
    fn position(
        &self,
        f: u32,
        anchor: Option<Anchor>,
        mut idx: Option<Pos>,
    ) -> Result<Option<Pos>, Error> {
        if f & flags::BEFORE != 0 {
            let t = self.before(anchor)?;
            if idx.is_some_and(|i| i != t) {
                return fail(
                    Errno::ERANGE,
                    "BEFORE position conflicts with the requested slot",
                );
            }
            idx = Some(t);
        }
        if f & flags::AFTER != 0 {
            let t = self.after(anchor)?;
            if idx.is_some_and(|i| i != t) {
                return fail(
                    Errno::ERANGE,
                    "AFTER position conflicts with the requested slot",
                );
            }
            idx = Some(t);
        }
        Ok(idx)
    }

    fn check_revision(&self, expected: u64) -> Result<(), Error> {
        if expected != 0 && expected != self.revision {
            return fail(
                Errno::ESTALE,
                format!("expected revision {expected}, hook is at {}", self.revision),
            );
        }
        Ok(())
    }

    /// `bpf_mprog_attach`, spec/mprog.md §1.6, in the kernel's check order.
    #[doc(alias = "bpf_mprog_attach")]
    pub fn attach(
        &mut self,
        op: AttachOp,
        anchor: impl FnOnce() -> Result<Option<Anchor>, Error>,
    ) -> Result<(), Error> {
        self.check_revision(op.expected_revision)?;
        if self.position_of(op.prog.id).is_some() {
            return fail(
                Errno::EEXIST,
                "the program is already attached to this hook",
            );
        }
        let anchor = anchor()?;
        let mut idx = None;
        if op.flags & flags::REPLACE != 0 {
            idx = Some(self.exact(op.replace, op.link)?);
        } else if self.entries.len() == MAX_PROGS {
            return fail(Errno::ERANGE, "the hook already holds 63 programs");
        }
        let idx = match self.position(op.flags, anchor, idx)? {
            Some(i) => i,
            None if anchor.is_some() || op.flags != 0 => {
                return fail(
                    Errno::EINVAL,
                    "a relative object needs BEFORE, AFTER or REPLACE",
                );
            }
            None => self.entries.len() as Pos,
        };
        if idx >= MAX_PROGS as Pos {
            return fail(Errno::ERANGE, "position beyond the 63-program limit");
        }
        let entry = Entry {
            prog: op.prog,
            link: op.link,
        };
        if op.flags & flags::REPLACE != 0 {
            self.entries[idx as usize] = entry;
        } else if op.flags & flags::BEFORE != 0 {
            self.entries.insert((idx + 1) as usize, entry);
        } else {
            self.entries.insert(idx as usize, entry);
        }
        self.revision += 1;
        Ok(())
    }

    /// `bpf_mprog_detach`, spec/mprog.md §2.1; returns the removed entry. netkit's "no active
    /// list → ENOENT" is checked first, before REPLACE and the revision.
    #[doc(alias = "bpf_mprog_detach")]
    pub fn detach(
        &mut self,
        op: DetachOp,
        anchor: impl FnOnce() -> Result<Option<Anchor>, Error>,
    ) -> Result<Entry, Error> {
        if self.entries.is_empty() {
            return fail(Errno::ENOENT, "no program is attached to this hook");
        }
        if op.flags & flags::REPLACE != 0 {
            return fail(Errno::EINVAL, "BPF_F_REPLACE is not valid for detach");
        }
        self.check_revision(op.expected_revision)?;
        let anchor = anchor()?;
        let idx = match op.prog {
            Some(p) => Some(self.exact(Some(p), op.link)?),
            None => None,
        };
        let n = self.entries.len() as Pos;
        let idx = match self.position(op.flags, anchor, idx)? {
            Some(i) => i,
            None if anchor.is_some() || op.flags != 0 => {
                return fail(Errno::EINVAL, "a relative object needs BEFORE or AFTER");
            }
            None => n,
        };
        if idx >= MAX_PROGS as Pos {
            return fail(Errno::ERANGE, "position beyond the 63-program limit");
        }
        let victim = idx.clamp(0, n - 1) as usize;
        if op.link.is_none() && self.entries[victim].link.is_some() {
            return fail(Errno::EBUSY, "the selected program is owned by a link");
        }
        let removed = self.entries.remove(victim);
        self.revision += 1;
        Ok(removed)
    }

    /// Removes every entry (device teardown); the revision is not bumped.
    pub fn take_all(&mut self) -> Vec<Entry> {
        std::mem::take(&mut self.entries)
    }

    /// `bpf_mprog_query` for netkit: an empty hook is inactive and reports revision 1 although
    /// its internal revision keeps counting (spec/mprog.md §1.2 quirk). `capacity` = the
    /// caller's array size (`None` = NULL prog_ids). On ENOSPC the copied prefix comes back
    /// with the error.
    #[doc(alias = "bpf_mprog_query")]
    pub fn query(&self, capacity: Option<u32>) -> Result<QueryResult, (Error, QueryResult)> {
        let total = self.entries.len();
        let mut out = QueryResult {
            count: total as u32,
            revision: if total == 0 { 1 } else { self.revision },
            progs: Vec::new(),
        };
        let cap = match capacity {
            Some(c) if c > 0 && total > 0 => c as usize,
            _ => return Ok(out),
        };
        out.progs = self.entries[..cap.min(total)]
            .iter()
            .map(|e| (e.prog.id, e.link))
            .collect();
        if cap < total {
            let msg = format!("array of {cap} entries is too small for {total} programs");
            return Err((Error::new(Errno::ENOSPC, msg), out));
        }
        Ok(out)
    }
}

#[cfg(test)]
#[path = "mprog_tests.rs"]
mod tests;
