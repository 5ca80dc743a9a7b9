//! Bringing the registry back from its saved [`State`] after a restart: programs under their
//! old ids, then per pair: the model's devices, every hook's attachments and links in their old
//! order, and only then its interfaces (reattached by name, so ifindexes, addresses and routes
//! stay) — no packet crosses a pair before its programs are back.
//!
//! What cannot come back is reported: a pair whose pod namespace was deleted while the daemon
//! was down is removed; a pair some of whose programs cannot be re-attached (an object the
//! engine now rejects) is kept but does not forward (fail closed); the rest is restored.

use crate::persist::State;
use crate::registry::Registry;
use netkit_proto::{Anchor, BpflinkCreateReq, ProgAttachReq};

pub(crate) fn restore(reg: &mut Registry, state: &State) {
    for prog in &state.progs {
        if let Err(e) = reg.load_record(prog.clone()) {
            eprintln!(
                "netkitd: cannot reload program {} ({}): {e}",
                prog.id, prog.file
            );
        }
    }
    reg.maps.restore(&state.maps);
    for dev in &state.devices {
        let name = dev.create.name.clone().unwrap_or_default();
        let i = match reg.create_pair(&dev.create, Some(dev)) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("netkitd: cannot restore pair \"{name}\": {e}");
                continue;
            }
        };
        let mut complete = true;
        for hook in state.hooks.iter().filter(|h| h.dev == name) {
            for entry in &hook.entries {
                let result = match entry.link_id {
                    Some(link) => {
                        let req = BpflinkCreateReq {
                            prog_id: entry.prog_id.0,
                            dev: hook.dev.clone(),
                            hook: hook.hook,
                            anchor: Some(Anchor::Last),
                            expected_revision: None,
                        };
                        reg.create_link(link, &req)
                    }
                    None => {
                        let req = ProgAttachReq {
                            prog_id: entry.prog_id.0,
                            dev: hook.dev.clone(),
                            hook: hook.hook,
                            anchor: Some(Anchor::Last),
                            replace_prog_id: None,
                            expected_revision: None,
                        };
                        reg.prog_attach(req).map(|_| ())
                    }
                };
                if let Err(e) = result {
                    complete = false;
                    eprintln!(
                        "netkitd: cannot re-attach program {} to {} {}: {e}",
                        entry.prog_id,
                        hook.dev,
                        hook.hook.as_str()
                    );
                }
            }
        }
        if !complete {
            // Fail closed: a pair whose programs did not all come back must not forward with
            // fewer of them. Its interfaces stay idle (packets to them are dropped) until the
            // cause is fixed and the daemon restarted, or the pair is deleted.
            eprintln!(
                "netkitd: pair \"{name}\" is not forwarding: not all of its programs could be restored"
            );
            continue;
        }
        if let Err(e) = reg.start_interfaces(i) {
            eprintln!("netkitd: cannot reattach the interfaces of \"{name}\": {e}");
            reg.forget_pair(i);
        }
    }
}
