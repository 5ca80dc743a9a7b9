//! The control socket: a Unix stream socket, root-only (0600) unless a group is named (0660
//! with that group). One thread per connection; requests are served one at a time against the
//! registry, so every request sees the effects of all earlier ones.

use crate::registry::Registry;
use netkit_proto::{self as proto, RequestEnvelope, ResponseEnvelope, WireError};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Binds `path` with its final permissions in place before it becomes visible: the socket is
/// bound under a temporary name, given its mode and group, then renamed.
pub fn bind(path: &Path, group: Option<u32>) -> Result<UnixListener, String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(format!(
                "another netkitd is listening on {}",
                path.display()
            ));
        }
        std::fs::remove_file(path)
            .map_err(|e| format!("removing stale {}: {e}", path.display()))?;
    }
    let tmp = PathBuf::from(format!("{}.{}.tmp", path.display(), std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let listener =
        UnixListener::bind(&tmp).map_err(|e| format!("binding {}: {e}", tmp.display()))?;
    let mode = if group.is_some() { 0o660 } else { 0o600 };
    let setup = || -> std::io::Result<()> {
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))?;
        if let Some(gid) = group {
            std::os::unix::fs::chown(&tmp, None, Some(gid))?;
        }
        std::fs::rename(&tmp, path)
    };
    if let Err(e) = setup() {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("setting up {}: {e}", path.display()));
    }
    Ok(listener)
}

/// A group's id from its name (or a number), as /etc/group lists it.
pub fn group_id(name: &str) -> Result<u32, String> {
    if let Ok(gid) = name.parse::<u32>() {
        return Ok(gid);
    }
    let text =
        std::fs::read_to_string("/etc/group").map_err(|e| format!("reading /etc/group: {e}"))?;
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let n = f.next()?;
            let gid = f.nth(1)?.parse::<u32>().ok()?;
            (n == name).then_some(gid)
        })
        .next()
        .ok_or_else(|| format!("no group named \"{name}\" in /etc/group"))
}

/// Accepts connections until the listener fails.
pub fn serve(listener: UnixListener, registry: Arc<Mutex<Registry>>) -> Result<(), String> {
    for conn in listener.incoming() {
        let conn = conn.map_err(|e| format!("accepting a connection: {e}"))?;
        let reg = Arc::clone(&registry);
        std::thread::Builder::new()
            .name("netkitd-conn".into())
            .spawn(move || serve_connection(conn, &reg))
            .map_err(|e| format!("starting a connection thread: {e}"))?;
    }
    Ok(())
}

fn serve_connection(conn: UnixStream, registry: &Mutex<Registry>) {
    let Ok(mut writer) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    loop {
        let mut raw = Vec::new();
        match reader
            .by_ref()
            .take(proto::MAX_LINE as u64)
            .read_until(b'\n', &mut raw)
        {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let complete = raw.ends_with(b"\n");
        let (seq, result) = match std::str::from_utf8(&raw) {
            Ok(line) => answer(line, registry),
            // Answered, not hung up on: the client learns what was wrong with its line.
            Err(e) => (
                0,
                Err(WireError::einval(format!(
                    "malformed request: not UTF-8 ({e})"
                ))),
            ),
        };
        let resp = ResponseEnvelope::from_result(seq, result);
        if proto::write_line(&mut writer, &resp).is_err() {
            return;
        }
        if !complete {
            // Longer than MAX_LINE: the rest of it cannot be framed; hang up.
            return;
        }
    }
}

fn answer(line: &str, registry: &Mutex<Registry>) -> (u64, Result<proto::Response, WireError>) {
    let env: RequestEnvelope = match serde_json::from_str(line.trim_end()) {
        Ok(env) => env,
        Err(e) => {
            let seq = serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("seq").and_then(|s| s.as_u64()))
                .unwrap_or(0);
            return (
                seq,
                Err(WireError::einval(format!("malformed request: {e}"))),
            );
        }
    };
    if env.version != proto::PROTOCOL_VERSION {
        return (
            env.seq,
            Err(WireError::new(
                "EPROTO",
                71,
                format!(
                    "protocol version {} is not spoken here (netkitd speaks {})",
                    env.version,
                    proto::PROTOCOL_VERSION
                ),
            )),
        );
    }
    // A panic in an earlier request must not take the control plane down with it.
    let mut reg = registry.lock().unwrap_or_else(|p| p.into_inner());
    (env.seq, reg.handle(env.request))
}
