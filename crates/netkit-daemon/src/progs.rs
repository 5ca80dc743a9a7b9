//! Programs, attachments, BPF links and trace output: the bpf(2) half of the registry.

use crate::convert::{self, errno, wire};
use crate::ids::{LinkId, MapId, ProgId};
use crate::persist::{LinkRecord, ProgRecord};
use crate::registry::{now_secs, Link, Prog, Registry};
use netkit_core::{self as core, flags, Backend, Errno, IfIndex, Relative};
use netkit_proto::{self as proto, Anchor, Hook, Response, WireError};

type Reply = Result<Response, WireError>;

impl Registry {
    // --- programs ---

    pub(crate) fn prog_load(&mut self, r: proto::ProgLoadReq) -> Reply {
        let bytes = proto::hex::decode(&r.object)
            .map_err(|e| errno(Errno::EINVAL, format!("object bytes: {e}")))?;
        let id = self.next_prog_id;
        let object = format!("prog-{id}.o");
        let select = r.name.clone().or(r.section.clone());
        let obj = crate::engine::parse(&bytes)?;
        let spec = crate::engine::select(&obj, select.as_deref())?;
        let rec = ProgRecord {
            id,
            file: r.file.clone(),
            object: object.clone(),
            select: Some(spec.name.clone()),
            name: spec.name.clone(),
            section: spec.section.clone(),
            loaded_at: now_secs(),
            map_ids: Vec::new(),
        };
        self.dir
            .save_object(&object, &bytes)
            .map_err(|e| errno(Errno::EFAULT, format!("storing the object: {e}")))?;
        match self.load_record(rec) {
            Ok(()) => {
                self.next_prog_id = ProgId(id.0 + 1);
                crate::views::prog_show(self, Some(id))
            }
            Err(e) => {
                self.dir.remove_object(&object);
                Err(e)
            }
        }
    }

    /// Loads the program a record describes into the engine and the model and registers it
    /// with its maps (under the record's map ids, or new ones).
    pub(crate) fn load_record(&mut self, mut rec: ProgRecord) -> Result<(), WireError> {
        let path = self.dir.object_path(&rec.object);
        let bytes = std::fs::read(&path)
            .map_err(|e| errno(Errno::ENOENT, format!("reading {}: {e}", path.display())))?;
        let obj = crate::engine::parse(&bytes)?;
        let loaded = crate::engine::load(&obj, &rec.name)?;
        let maps = loaded.object.maps();
        if rec.map_ids.len() != maps.len() {
            rec.map_ids = (0..maps.len() as u32)
                .map(|i| MapId(self.next_map_id.0 + i))
                .collect();
        }
        let classifier = std::sync::Arc::new(crate::engine::EngineProg(loaded.program.clone()));
        let (handle, backend_id) = self.backend.load_classifier(&rec.name, classifier);
        for (id, map) in rec.map_ids.iter().zip(maps) {
            self.maps.slots.insert(
                *id,
                crate::maps::MapSlot {
                    map: map.clone(),
                    prog_id: rec.id,
                },
            );
            self.next_map_id = self.next_map_id.max(MapId(id.0 + 1));
        }
        self.progs.insert(
            rec.id,
            Prog {
                rec,
                handle,
                backend_id,
                loaded,
            },
        );
        Ok(())
    }

    pub(crate) fn tracelog(&mut self, id: Option<ProgId>) -> Reply {
        let ids: Vec<ProgId> = match id {
            Some(id) => vec![self.prog(id)?.rec.id],
            None => self.progs.keys().copied().collect(),
        };
        let mut lines = Vec::new();
        for id in ids {
            let p = &self.progs[&id];
            for line in p.loaded.object.trace_log().drain() {
                lines.push(format!("prog {id}: {}", line.trim_end()));
            }
        }
        Ok(Response::Tracelog { lines })
    }

    pub(crate) fn prog(&self, id: ProgId) -> Result<&Prog, WireError> {
        self.progs
            .get(&id)
            .ok_or_else(|| errno(Errno::ENOENT, format!("no program with id {id}")))
    }

    pub(crate) fn link(&self, id: LinkId) -> Result<&Link, WireError> {
        self.links
            .get(&id)
            .ok_or_else(|| errno(Errno::ENOENT, format!("no BPF link with id {id}")))
    }

    pub(crate) fn prog_unload(&mut self, id: ProgId) -> Reply {
        let prog = self.prog(id)?;
        let users = crate::views::attached_to(self, id);
        if !users.is_empty() {
            return Err(errno(
                Errno::EBUSY,
                format!(
                    "program {id} is attached to {}; detach it first",
                    users.join(", ")
                ),
            ));
        }
        self.backend.prog_close(prog.handle).map_err(wire)?;
        if let Some(p) = self.progs.remove(&id) {
            for m in &p.rec.map_ids {
                self.maps.slots.remove(m);
            }
            self.dir.remove_object(&p.rec.object);
        }
        Ok(Response::Done)
    }

    /// The ifindex (model) a hook request goes to: the named device's, as the kernel takes the
    /// target ifindex as given (naming the peer yields its EACCES).
    pub(crate) fn hook_target(&self, dev: &str) -> Result<IfIndex, WireError> {
        let (i, primary) = self.device(dev)?;
        let d = &self.devices[i];
        if primary {
            return Ok(d.model_primary);
        }
        // Requests resolve ifindexes in the daemon's namespace: a peer in a pod is not there
        // (its ifindex may well name another device here).
        if let Some(ns) = &d.rec.create.peer_netns {
            return Err(errno(
                Errno::ENODEV,
                format!("device \"{dev}\" is in namespace {ns}, not the daemon's"),
            ));
        }
        Ok(d.model_peer)
    }

    /// Flags and relative object for an anchor, in the backend's ids.
    pub(crate) fn anchor(&self, anchor: Option<Anchor>) -> Result<(u32, Relative), WireError> {
        let prog = |id| self.prog(ProgId(id)).map(|p| p.backend_id.0);
        let link = |id| self.link(LinkId(id)).map(|l| l.backend_id.0);
        Ok(match anchor {
            None => (0, Relative(0)),
            Some(Anchor::First) => (flags::BEFORE, Relative(0)),
            Some(Anchor::Last) => (flags::AFTER, Relative(0)),
            Some(Anchor::BeforeProg(id)) => (flags::BEFORE | flags::ID, Relative(prog(id)?)),
            Some(Anchor::AfterProg(id)) => (flags::AFTER | flags::ID, Relative(prog(id)?)),
            Some(Anchor::BeforeLink(id)) => {
                (flags::BEFORE | flags::ID | flags::LINK, Relative(link(id)?))
            }
            Some(Anchor::AfterLink(id)) => {
                (flags::AFTER | flags::ID | flags::LINK, Relative(link(id)?))
            }
        })
    }

    pub(crate) fn prog_attach(&mut self, r: proto::ProgAttachReq) -> Reply {
        let ifindex = self.hook_target(&r.dev)?;
        let prog = self.prog(ProgId(r.prog_id))?.handle;
        let (mut fl, relative) = self.anchor(r.anchor)?;
        let replace = match r.replace_prog_id {
            Some(id) => {
                fl |= flags::REPLACE;
                Some(self.prog(ProgId(id))?.handle)
            }
            None => None,
        };
        let req = core::AttachReq {
            ifindex,
            hook: convert::hook(r.hook),
            prog,
            flags: fl,
            relative,
            replace,
            expected_revision: r.expected_revision.unwrap_or(0),
        };
        self.backend.prog_attach(&req).map_err(wire)?;
        Ok(Response::Done)
    }

    pub(crate) fn prog_detach(&mut self, r: proto::ProgDetachReq) -> Reply {
        let ifindex = self.hook_target(&r.dev)?;
        let prog = match r.prog_id {
            Some(id) => Some(self.prog(ProgId(id))?.handle),
            None => None,
        };
        let (fl, relative) = self.anchor(r.anchor)?;
        let req = core::DetachReq {
            ifindex,
            hook: convert::hook(r.hook),
            prog,
            flags: fl,
            relative,
            expected_revision: r.expected_revision.unwrap_or(0),
        };
        self.backend.prog_detach(&req).map_err(wire)?;
        Ok(Response::Done)
    }

    pub(crate) fn prog_query(&self, dev: &str, hook: Hook) -> Result<proto::QueryView, WireError> {
        let ifindex = self.hook_target(dev)?;
        let req = core::QueryReq {
            ifindex,
            hook: convert::hook(hook),
            query_flags: 0,
            attach_flags: 0,
            capacity: Some(64),
        };
        let q = self.backend.prog_query(&req).map_err(|(e, _)| wire(e))?;
        let progs = q
            .progs
            .iter()
            .map(|(p, l)| proto::QueryEntry {
                prog_id: self
                    .progs
                    .iter()
                    .find(|(_, x)| x.backend_id == *p)
                    .map_or(0, |(id, _)| id.0),
                link_id: l.and_then(|l| {
                    self.links
                        .iter()
                        .find(|(_, x)| x.backend_id == l)
                        .map(|(id, _)| id.0)
                }),
            })
            .collect();
        Ok(proto::QueryView {
            dev: dev.to_string(),
            hook,
            revision: q.revision,
            progs,
        })
    }

    // --- BPF links ---

    pub(crate) fn bpflink_create(&mut self, r: proto::BpflinkCreateReq) -> Reply {
        let id = self.next_link_id;
        self.create_link(id, &r)?;
        self.next_link_id = LinkId(id.0 + 1);
        crate::views::bpflink_show(self, Some(id))
    }

    pub(crate) fn create_link(
        &mut self,
        id: LinkId,
        r: &proto::BpflinkCreateReq,
    ) -> Result<(), WireError> {
        let ifindex = self.hook_target(&r.dev)?;
        let (i, _) = self.device(&r.dev)?;
        let primary_name = self.devices[i].rec.create.name.clone().unwrap_or_default();
        let prog = self.prog(ProgId(r.prog_id))?.handle;
        let (fl, relative) = self.anchor(r.anchor)?;
        let req = core::LinkCreateReq {
            ifindex,
            hook: convert::hook(r.hook),
            prog,
            flags: fl,
            relative,
            expected_revision: r.expected_revision.unwrap_or(0),
        };
        let (handle, backend_id) = self.backend.link_create(&req).map_err(wire)?;
        self.links.insert(
            id,
            Link {
                rec: LinkRecord {
                    id,
                    prog_id: ProgId(r.prog_id),
                    dev: primary_name,
                    hook: r.hook,
                },
                handle,
                backend_id,
            },
        );
        Ok(())
    }

    pub(crate) fn bpflink_update(
        &mut self,
        id: LinkId,
        prog_id: ProgId,
        old: Option<ProgId>,
    ) -> Reply {
        let link = self.link(id)?.handle;
        let new = self.prog(prog_id)?.handle;
        let old = match old {
            Some(o) => Some(self.prog(o)?.handle),
            None => None,
        };
        self.backend.link_update(link, new, old).map_err(wire)?;
        if let Some(l) = self.links.get_mut(&id) {
            l.rec.prog_id = prog_id;
        }
        Ok(Response::Done)
    }

    pub(crate) fn bpflink_detach(&mut self, id: LinkId) -> Reply {
        let link = self.link(id)?.handle;
        self.backend.link_detach(link).map_err(wire)?;
        if let Some(l) = self.links.remove(&id) {
            let _ = self.backend.link_close(l.handle);
        }
        Ok(Response::Done)
    }
}
