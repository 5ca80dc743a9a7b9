//! Bringing the registry back from its saved [`State`] after a restart: pairs first (their
//! persistent interfaces are reattached by name, so ifindexes, addresses and routes stay), then
//! programs under their old ids, then every hook's attachments and links in their old order.

use crate::persist::State;
use crate::registry::Registry;
use netkit_proto::{Anchor, BpflinkCreateReq, LinkSetReq, ProgAttachReq};

pub(crate) fn restore(reg: &mut Registry, state: &State) -> Result<(), String> {
    for dev in &state.devices {
        let name = dev.create.name.clone().unwrap_or_default();
        reg.create_pair(&dev.create, Some(dev))
            .map_err(|e| format!("restoring pair \"{name}\": {e}"))?;
        let set = LinkSetReq {
            name: name.clone(),
            policy: Some(dev.policy),
            peer_policy: Some(dev.peer_policy),
        };
        reg.link_set(set)
            .map_err(|e| format!("restoring the policies of \"{name}\": {e}"))?;
    }
    for prog in &state.progs {
        let id = prog.id;
        reg.load_record(prog.clone())
            .map_err(|e| format!("reloading program {id} ({}): {e}", prog.file))?;
    }
    for hook in &state.hooks {
        for entry in &hook.entries {
            let what = match entry.link_id {
                Some(link) => {
                    let req = BpflinkCreateReq {
                        prog_id: entry.prog_id,
                        dev: hook.dev.clone(),
                        hook: hook.hook,
                        anchor: Some(Anchor::Last),
                        expected_revision: None,
                    };
                    reg.create_link(link, &req)
                }
                None => {
                    let req = ProgAttachReq {
                        prog_id: entry.prog_id,
                        dev: hook.dev.clone(),
                        hook: hook.hook,
                        anchor: Some(Anchor::Last),
                        replace_prog_id: None,
                        expected_revision: None,
                    };
                    reg.prog_attach(req).map(|_| ())
                }
            };
            what.map_err(|e| {
                format!(
                    "re-attaching program {} to {} {}: {e}",
                    entry.prog_id,
                    hook.dev,
                    hook.hook.as_str()
                )
            })?;
        }
    }
    Ok(())
}
