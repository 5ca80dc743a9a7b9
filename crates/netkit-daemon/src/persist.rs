//! The daemon's durable state: what it must recreate after a restart (also after `kill -9`) so
//! that every id a client has seen stays valid. Written as one JSON file, atomically (temporary
//! file, fsync, rename, fsync of the directory) after every change; loaded objects are copied
//! into `objects/` beside it. Holds no file descriptors and no backend handles.

use crate::ids::{LinkId, MapId, ProgId};
use netkit_proto::{Hook, LinkAddReq, Policy};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Bumped on an incompatible change of [`State`].
pub const STATE_VERSION: u32 = 1;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// Next program id to hand out; ids are never reused, as in the kernel.
    pub next_prog_id: ProgId,
    pub next_link_id: LinkId,
    pub devices: Vec<DeviceRecord>,
    pub progs: Vec<ProgRecord>,
    /// Attachments per hook in order; link-owned entries name their link.
    pub hooks: Vec<HookRecord>,
    pub links: Vec<LinkRecord>,
    /// Map contents (array and hash maps), by map id.
    #[serde(default)]
    pub maps: Vec<MapRecord>,
    #[serde(default)]
    pub next_map_id: MapId,
}

/// A map's entries, key and value as hex.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapRecord {
    pub id: MapId,
    pub entries: Vec<(String, String)>,
}

/// A pair as it was created, with the names the backend chose and the policies as they are now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    /// The creation request with `name` and `peer_name` filled in.
    pub create: LinkAddReq,
    pub policy: Policy,
    pub peer_policy: Policy,
    /// Ifindexes when it was created (kept by the persistent TUN/TAPs).
    pub ifindex: u32,
    pub peer_ifindex: u32,
    /// The model's MACs (L2), restored as they were.
    #[serde(default)]
    pub address: Option<[u8; 6]>,
    #[serde(default)]
    pub peer_address: Option<[u8; 6]>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgRecord {
    pub id: ProgId,
    /// The name the client gave the file.
    pub file: String,
    /// The copy inside the state directory's `objects/`.
    pub object: String,
    /// What selected the program in the object (its name or section), if anything did.
    pub select: Option<String>,
    pub name: String,
    pub section: String,
    pub loaded_at: u64,
    /// Ids of the object's maps, in the object's order.
    #[serde(default)]
    pub map_ids: Vec<MapId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookRecord {
    /// The primary's name.
    pub dev: String,
    pub hook: Hook,
    pub entries: Vec<HookEntry>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookEntry {
    pub prog_id: ProgId,
    pub link_id: Option<LinkId>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkRecord {
    pub id: LinkId,
    pub prog_id: ProgId,
    pub dev: String,
    pub hook: Hook,
}

impl State {
    pub fn empty() -> State {
        State {
            version: STATE_VERSION,
            next_prog_id: ProgId(1),
            next_link_id: LinkId(1),
            next_map_id: MapId(1),
            ..State::default()
        }
    }
}

/// The state directory: `state.json` plus `objects/`.
#[derive(Clone, Debug)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// Creates the directory (mode 0700: it holds programs) if needed.
    pub fn open(root: &Path) -> std::io::Result<StateDir> {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root.join("objects"))?;
        Ok(StateDir {
            root: root.to_path_buf(),
        })
    }

    pub fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }

    pub fn object_path(&self, name: &str) -> PathBuf {
        self.root.join("objects").join(name)
    }

    /// Reads the saved state; an absent file is a fresh start.
    pub fn load(&self) -> Result<State, String> {
        let path = self.state_file();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::empty()),
            Err(e) => return Err(format!("reading {}: {e}", path.display())),
        };
        let state: State = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a netkitd state file: {e}", path.display()))?;
        if state.version != STATE_VERSION {
            return Err(format!(
                "{} has state version {}, this netkitd reads version {STATE_VERSION}",
                path.display(),
                state.version
            ));
        }
        Ok(state)
    }

    /// Replaces the state file so that a crash at any point leaves either the old or the new one.
    pub fn save(&self, state: &State) -> std::io::Result<()> {
        let text = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
        write_atomically(&self.state_file(), &text)
    }

    /// Stores a loaded object's bytes under `name` (atomically, like the state).
    pub fn save_object(&self, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
        let path = self.object_path(name);
        write_atomically(&path, bytes)?;
        Ok(path)
    }

    pub fn remove_object(&self, name: &str) {
        // A leftover file is harmless: it is overwritten if the name comes back.
        let _ = fs::remove_file(self.object_path(name));
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state")
    ));
    {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_replaces_atomically() {
        let dir = std::env::temp_dir().join(format!("netkitd-persist-{}", std::process::id()));
        let sd = StateDir::open(&dir).unwrap();
        assert_eq!(sd.load().unwrap(), State::empty());
        let mut st = State::empty();
        st.next_prog_id = ProgId(9);
        st.progs.push(ProgRecord {
            id: ProgId(8),
            file: "policy.bpf.o".into(),
            object: "prog-8.o".into(),
            select: None,
            name: "policy".into(),
            section: "netkit/peer".into(),
            loaded_at: 1,
            map_ids: vec![MapId(3)],
        });
        st.hooks.push(HookRecord {
            dev: "nk1".into(),
            hook: Hook::Peer,
            entries: vec![HookEntry {
                prog_id: ProgId(8),
                link_id: None,
            }],
        });
        sd.save(&st).unwrap();
        assert_eq!(sd.load().unwrap(), st);
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
        fs::write(sd.state_file(), b"{not json").unwrap();
        assert!(sd.load().unwrap_err().contains("not a netkitd state file"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
