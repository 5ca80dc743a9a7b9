//! The kernel's trace pipe, where `bpf_trace_printk` writes, found as `bpftool prog
//! tracelog` finds it: tracefs at /sys/kernel/debug/tracing or /sys/kernel/tracing, or any
//! tracefs mount in /proc/mounts, else tracefs is mounted at /sys/kernel/tracing.
//!
//! Reading the pipe consumes what it returns (the kernel's ring buffer is shared by every
//! reader), and it blocks until the next line: [`TracePipe::next_lines`] waits in short slices
//! so a stop signal (see [`stop_on_signals`]) ends the stream between lines.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use netkit_core::{Errno, Error};

use crate::sys;

/// `TRACEFS_MAGIC` and `DEBUGFS_MAGIC` (linux/magic.h).
const TRACEFS_MAGIC: i64 = 0x7472_6163;
const DEBUGFS_MAGIC: i64 = 0x6462_6720;

/// Where tracefs is looked for, in bpftool's order, and where it is mounted when absent.
const DEBUG_TRACING: &str = "/sys/kernel/debug/tracing";
const TRACING: &str = "/sys/kernel/tracing";

/// How long one wait for data lasts before the stop flag is checked again.
const SLICE: Duration = Duration::from_millis(200);

pub use crate::sys::{stop_on_signals, stop_requested};

fn is_tracefs(dir: &str) -> bool {
    sys::statfs_type(dir).is_ok_and(|t| t == TRACEFS_MAGIC)
}

/// A tracefs (or debugfs, whose `tracing` directory is tracefs) mount point in a
/// /proc/mounts text.
fn tracefs_in_mounts(mounts: &str) -> Option<String> {
    mounts.lines().find_map(|line| {
        let mut f = line.split_whitespace();
        let (_, dir, ty) = (f.next()?, f.next()?, f.next()?);
        match ty {
            "tracefs" => Some(dir.to_string()),
            "debugfs" => Some(format!("{dir}/tracing")),
            _ => None,
        }
    })
}

/// The tracefs directory, mounting tracefs at /sys/kernel/tracing when none is mounted.
pub fn tracefs_dir() -> Result<PathBuf, Error> {
    for dir in [DEBUG_TRACING, TRACING] {
        if is_tracefs(dir) {
            return Ok(PathBuf::from(dir));
        }
    }
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    if let Some(dir) = tracefs_in_mounts(&mounts) {
        let ty = sys::statfs_type(&dir).unwrap_or(0);
        if ty == TRACEFS_MAGIC || ty == DEBUGFS_MAGIC {
            return Ok(PathBuf::from(dir));
        }
    }
    sys::mount_fs("tracefs", TRACING).map_err(|e| {
        Error::new(
            Errno::from_raw(e.raw_os_error().unwrap_or(libc::ENOENT)),
            format!(
                "no tracefs is mounted and mounting one at {TRACING} failed: {e} \
                 (does the kernel have CONFIG_TRACING? try: mount -t tracefs tracefs {TRACING})"
            ),
        )
    })?;
    Ok(PathBuf::from(TRACING))
}

/// An open trace pipe.
pub struct TracePipe {
    file: File,
    path: PathBuf,
    /// Bytes of a line not yet complete.
    partial: Vec<u8>,
}

impl TracePipe {
    /// Finds (or mounts) tracefs and opens its `trace_pipe`.
    pub fn open() -> Result<TracePipe, Error> {
        let path = tracefs_dir()?.join("trace_pipe");
        let file = File::open(&path).map_err(|e| {
            Error::new(
                Errno::from_raw(e.raw_os_error().unwrap_or(libc::ENOENT)),
                format!("cannot open trace pipe {}: {e}", path.display()),
            )
        })?;
        Ok(TracePipe {
            file,
            path,
            partial: Vec::new(),
        })
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// The complete lines that arrived within one wait slice (often none); `None` once a
    /// stop was requested.
    pub fn next_lines(&mut self) -> Result<Option<Vec<String>>, Error> {
        if stop_requested() {
            return Ok(None);
        }
        let ready = sys::poll_readable(&self.file, SLICE).map_err(|e| self.error(e))?;
        if !ready {
            return Ok(Some(Vec::new()));
        }
        let mut buf = [0u8; 4096];
        let n = match self.file.read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => 0,
            Err(e) => return Err(self.error(e)),
        };
        Ok(Some(split_lines(&mut self.partial, &buf[..n])))
    }

    fn error(&self, e: std::io::Error) -> Error {
        Error::new(
            Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)),
            format!("reading {}: {e}", self.path.display()),
        )
    }
}

/// Appends `data` to `partial` and takes out every complete line (without its newline).
fn split_lines(partial: &mut Vec<u8>, data: &[u8]) -> Vec<String> {
    partial.extend_from_slice(data);
    let Some(last) = partial.iter().rposition(|&b| b == b'\n') else {
        return Vec::new();
    };
    let rest = partial.split_off(last + 1);
    let done = std::mem::replace(partial, rest);
    done.split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_at_newlines_and_the_rest_waits() {
        let mut partial = Vec::new();
        assert!(split_lines(&mut partial, b"  ping-1 [000] a: bpf_trace_printk: h").is_empty());
        assert_eq!(
            split_lines(&mut partial, b"i\nsecond\nthi"),
            vec![
                "  ping-1 [000] a: bpf_trace_printk: hi".to_string(),
                "second".to_string()
            ]
        );
        assert_eq!(partial, b"thi");
        assert_eq!(
            split_lines(&mut partial, b"rd\n"),
            vec!["third".to_string()]
        );
        assert!(partial.is_empty());
    }

    #[test]
    fn tracefs_is_found_in_mounts() {
        let mounts = "proc /proc proc rw 0 0\n\
                      none /sys/kernel/debug debugfs rw 0 0\n";
        assert_eq!(
            tracefs_in_mounts(mounts).as_deref(),
            Some("/sys/kernel/debug/tracing")
        );
        let mounts = "tracefs /mnt/t tracefs rw 0 0\n";
        assert_eq!(tracefs_in_mounts(mounts).as_deref(), Some("/mnt/t"));
        assert_eq!(tracefs_in_mounts("proc /proc proc rw 0 0\n"), None);
    }
}
