//! netkit-proto: the control protocol between `netkit` (the CLI) and `netkitd` (the daemon).
//!
//! One JSON object per line over a Unix stream socket. The client sends a [`RequestEnvelope`],
//! the daemon answers each with exactly one [`ResponseEnvelope`] carrying the same `seq`. The
//! protocol is versioned by [`PROTOCOL_VERSION`]; a daemon rejects a request whose `version`
//! it does not speak with `EPROTONOSUPPORT`-like [`WireError`] named "EPROTO". Every error
//! carries the errno name the kernel would return and a sentence saying what was wrong.
//! docs/protocol.md documents the wire format with examples.
#![forbid(unsafe_code)]

pub mod hex;
mod types;

pub use types::*;

use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};

/// Bumped on any incompatible change of [`Request`] or [`Response`].
pub const PROTOCOL_VERSION: u32 = 2;

/// Where the daemon listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/netkit/netkitd.sock";

/// Longest request line the daemon accepts (objects travel hex-encoded inside a request).
pub const MAX_LINE: usize = 64 << 20;

/// One request on the wire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestEnvelope {
    pub version: u32,
    /// Chosen by the client; echoed in the response.
    pub seq: u64,
    pub request: Request,
}

/// One response on the wire: exactly one of `ok` and `error` is present.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResponseEnvelope {
    pub version: u32,
    pub seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<Response>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<WireError>,
}

impl ResponseEnvelope {
    pub fn from_result(seq: u64, result: Result<Response, WireError>) -> ResponseEnvelope {
        let (ok, error) = match result {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(e)),
        };
        ResponseEnvelope {
            version: PROTOCOL_VERSION,
            seq,
            ok,
            error,
        }
    }

    pub fn into_result(self) -> Result<Response, WireError> {
        match (self.ok, self.error) {
            (_, Some(e)) => Err(e),
            (Some(r), None) => Ok(r),
            (None, None) => Err(WireError::new(
                "EPROTO",
                71,
                "daemon answered with neither a result nor an error",
            )),
        }
    }
}

/// An error as it crosses the socket: the errno's name and number and what was wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{errno}: {message}")]
pub struct WireError {
    /// Symbolic name, e.g. "ENOENT".
    pub errno: String,
    /// Numeric value, e.g. 2 (what a C caller would see negated).
    pub code: i32,
    pub message: String,
}

impl WireError {
    pub fn new(errno: &str, code: i32, message: impl Into<String>) -> WireError {
        WireError {
            errno: errno.to_string(),
            code,
            message: message.into(),
        }
    }

    pub fn einval(message: impl Into<String>) -> WireError {
        WireError::new("EINVAL", 22, message)
    }

    pub fn enoent(message: impl Into<String>) -> WireError {
        WireError::new("ENOENT", 2, message)
    }
}

/// Errors of the client side of a connection.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(
        "{}: cannot reach netkitd at {path}: {source} (is the daemon running? try `netkit daemon`)",
        io_errno(source)
    )]
    Connect {
        path: String,
        source: std::io::Error,
    },
    #[error("{errno}: talking to netkitd: {0}", errno = io_errno(.0))]
    Io(#[from] std::io::Error),
    #[error("EPROTO: netkitd sent a malformed response: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("EPIPE: netkitd closed the connection without answering")]
    Closed,
    #[error(transparent)]
    Daemon(#[from] WireError),
}

/// The errno name of an I/O error, for messages ("ECONNREFUSED").
fn io_errno(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(1) => "EPERM",
        Some(2) => "ENOENT",
        Some(13) => "EACCES",
        Some(32) => "EPIPE",
        Some(104) => "ECONNRESET",
        Some(111) => "ECONNREFUSED",
        _ => "EIO",
    }
}

/// A connection to the daemon.
pub struct Client {
    reader: std::io::BufReader<std::os::unix::net::UnixStream>,
    writer: std::os::unix::net::UnixStream,
    seq: u64,
}

impl Client {
    pub fn connect(path: &str) -> Result<Client, ClientError> {
        let stream = std::os::unix::net::UnixStream::connect(path).map_err(|source| {
            ClientError::Connect {
                path: path.to_string(),
                source,
            }
        })?;
        let writer = stream.try_clone()?;
        Ok(Client {
            reader: std::io::BufReader::new(stream),
            writer,
            seq: 0,
        })
    }

    /// Sends one request and waits for its answer.
    pub fn call(&mut self, request: Request) -> Result<Response, ClientError> {
        self.seq += 1;
        let env = RequestEnvelope {
            version: PROTOCOL_VERSION,
            seq: self.seq,
            request,
        };
        write_line(&mut self.writer, &env)?;
        let resp: ResponseEnvelope = match read_line(&mut self.reader)? {
            Some(r) => r,
            None => return Err(ClientError::Closed),
        };
        Ok(resp.into_result()?)
    }
}

/// Writes `value` as one JSON line.
pub fn write_line<W: Write, T: Serialize>(w: &mut W, value: &T) -> std::io::Result<()> {
    let mut buf = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    buf.push(b'\n');
    w.write_all(&buf)?;
    w.flush()
}

/// Reads one JSON line; `Ok(None)` at end of stream.
pub fn read_line<R: BufRead, T: for<'de> Deserialize<'de>>(
    r: &mut R,
) -> Result<Option<T>, ClientError> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    Ok(Some(serde_json::from_str(line.trim_end())?))
}

#[cfg(test)]
mod tests;
