//! A netkit pair on the user backend with short helpers for the bpf_mprog selftests.
#![allow(dead_code)]

use netkit_core::*;

pub const HOOKS: [Hook; 2] = [Hook::Primary, Hook::Peer];
pub const NEXT: i32 = -1;

pub struct Fx {
    pub b: UserBackend,
    pub primary: IfIndex,
    pub peer: IfIndex,
    pub hook: Hook,
}

impl Fx {
    /// An L3 pair "nk1" (primary) / "nk0" (peer), programs managed on `hook`.
    pub fn new(hook: Hook) -> Fx {
        Fx::with(
            hook,
            NewLink {
                name: Some("nk1".into()),
                ..NewLink::default()
            },
        )
    }

    pub fn with(hook: Hook, req: NewLink) -> Fx {
        let mut b = UserBackend::default();
        let c = b.link_add(&req).expect("create pair");
        Fx {
            b,
            primary: c.primary,
            peer: c.peer.expect("pair"),
            hook,
        }
    }

    /// Loads a program returning `v`; returns its handle.
    pub fn load(&mut self, v: i32) -> Handle {
        self.b.prog_load(&ProgSource::Constant(v)).unwrap().0
    }

    /// Loads `n` NEXT programs; returns their handles.
    pub fn progs(&mut self, n: usize) -> Vec<Handle> {
        (0..n).map(|_| self.load(NEXT)).collect()
    }

    pub fn id(&self, h: Handle) -> ProgId {
        self.b.prog_info(h).unwrap().id
    }

    pub fn attach(&mut self, prog: Handle, flags: u32, rel: u32, rev: u64) -> Result<(), Errno> {
        self.attach_full(prog, flags, rel, None, rev)
    }

    pub fn attach_full(
        &mut self,
        prog: Handle,
        flags: u32,
        rel: u32,
        replace: Option<Handle>,
        rev: u64,
    ) -> Result<(), Errno> {
        let req = AttachReq {
            ifindex: self.primary,
            hook: self.hook,
            prog,
            flags,
            relative: Relative(rel),
            replace,
            expected_revision: rev,
        };
        self.b.prog_attach(&req).map_err(|e| e.errno)
    }

    pub fn detach(
        &mut self,
        prog: Option<Handle>,
        flags: u32,
        rel: u32,
        rev: u64,
    ) -> Result<(), Errno> {
        let req = DetachReq {
            ifindex: self.primary,
            hook: self.hook,
            prog,
            flags,
            relative: Relative(rel),
            expected_revision: rev,
        };
        self.b.prog_detach(&req).map_err(|e| e.errno)
    }

    pub fn link(
        &mut self,
        prog: Handle,
        flags: u32,
        rel: u32,
        rev: u64,
    ) -> Result<(Handle, LinkId), Errno> {
        let req = LinkCreateReq {
            ifindex: self.primary,
            hook: self.hook,
            prog,
            flags,
            relative: Relative(rel),
            expected_revision: rev,
        };
        self.b.link_create(&req).map_err(|e| e.errno)
    }

    pub fn query_on(
        &self,
        ifindex: IfIndex,
        hook: Hook,
        cap: Option<u32>,
    ) -> Result<QueryResult, Errno> {
        let req = QueryReq {
            ifindex,
            hook,
            query_flags: 0,
            attach_flags: 0,
            capacity: cap,
        };
        self.b.prog_query(&req).map_err(|(e, _)| e.errno)
    }

    pub fn query(&self) -> QueryResult {
        self.query_on(self.primary, self.hook, Some(64)).unwrap()
    }

    pub fn count(&self) -> u32 {
        self.query_on(self.primary, self.hook, None).unwrap().count
    }

    pub fn count_of(&self, hook: Hook) -> u32 {
        self.query_on(self.primary, hook, None).unwrap().count
    }

    pub fn rev(&self) -> u64 {
        self.query().revision
    }

    /// Attached program ids in order.
    pub fn order(&self) -> Vec<ProgId> {
        self.query().progs.iter().map(|(p, _)| *p).collect()
    }

    /// Owning link ids in order (None for opts entries).
    pub fn owners(&self) -> Vec<Option<LinkId>> {
        self.query().progs.iter().map(|(_, l)| *l).collect()
    }

    pub fn ids(&self, hs: &[Handle]) -> Vec<ProgId> {
        hs.iter().map(|h| self.id(*h)).collect()
    }
}

/// An IPv4 Ethernet frame of 60 bytes to `dst`.
pub fn frame(dst: [u8; 6]) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[..6].copy_from_slice(&dst);
    f[12] = 0x08;
    f[14] = 0x45;
    f
}

impl Fx {
    /// Sends one frame through the device whose programs `self.hook` names (both ends up).
    pub fn send(&mut self) -> TxOutcome {
        self.b.link_set_up(self.primary, true).unwrap();
        self.b.link_set_up(self.peer, true).unwrap();
        let from = match self.hook {
            Hook::Primary => self.primary,
            Hook::Peer => self.peer,
        };
        self.b.transmit(from, &frame([0; 6])).unwrap()
    }

    /// How often the program behind `h` ran.
    pub fn ran(&self, h: Handle) -> u64 {
        self.b.prog_info(h).unwrap().stats.run_cnt
    }

    /// Sends one frame and returns which of `hs` ran during it.
    pub fn ran_on_send(&mut self, hs: &[Handle]) -> Vec<bool> {
        let before: Vec<u64> = hs.iter().map(|h| self.ran(*h)).collect();
        self.send();
        hs.iter()
            .zip(before)
            .map(|(h, b)| self.ran(*h) > b)
            .collect()
    }
}
