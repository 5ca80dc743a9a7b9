//! netkitd: owns netkit pairs (the device model, their TUN/TAP interfaces and the dataplane),
//! serves the control socket, and keeps durable state so that a restart, also after
//! `kill -9`, brings everything back with the same ids.

pub mod convert;
pub mod dataplane;
mod engine;
pub mod ids;
pub mod interfaces;
mod maps;
mod moves;
mod names;
pub mod persist;
pub mod plumbing;
mod progs;
pub mod registry;
mod restore;
pub mod server;
mod views;

pub use registry::Registry;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Default state directory.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/netkit";

/// Command-line options of the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub socket: PathBuf,
    pub state_dir: PathBuf,
    /// Group allowed to use the socket (mode 0660); root only (0600) when absent.
    pub group: Option<String>,
    /// Pairs exist in the model only; no interfaces, no packets.
    pub model_only: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            socket: PathBuf::from(netkit_proto::DEFAULT_SOCKET),
            state_dir: PathBuf::from(DEFAULT_STATE_DIR),
            group: None,
            model_only: false,
        }
    }
}

pub const USAGE: &str =
    "Usage: netkit daemon [--socket PATH] [--state-dir DIR] [--group GROUP] [--model-only]";

impl Options {
    /// Parses the words after `netkit daemon`.
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |what: &str| {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{a} needs {what}\n{USAGE}"))
            };
            match a.as_str() {
                "--socket" => o.socket = PathBuf::from(value("a path")?),
                "--state-dir" => o.state_dir = PathBuf::from(value("a directory")?),
                "--group" => o.group = Some(value("a group name")?),
                "--model-only" => o.model_only = true,
                other => return Err(format!("unknown daemon option \"{other}\"\n{USAGE}")),
            }
        }
        Ok(o)
    }
}

/// Restores the saved state, binds the socket and serves until the process is killed. Devices
/// are persistent interfaces: stopping the daemon leaves them (and the pods' addresses and
/// routes) in place for the next start.
pub fn run(
    opts: &Options,
    backend: netkit_core::UserBackend,
    plumbing: Box<dyn plumbing::Plumbing>,
    admin: Option<std::sync::mpsc::Receiver<interfaces::AdminEvent>>,
) -> Result<(), String> {
    let group = opts.group.as_deref().map(server::group_id).transpose()?;
    let dir = persist::StateDir::open(&opts.state_dir)
        .map_err(|e| format!("opening state directory {}: {e}", opts.state_dir.display()))?;
    let listener = server::bind(&opts.socket, group)?;
    let mut registry = Registry::open(backend, plumbing, dir)?;
    registry.follow_bpf_stats();
    registry
        .save()
        .map_err(|e| format!("writing the state after restore: {e}"))?;
    eprintln!(
        "netkitd: serving {} (state in {})",
        opts.socket.display(),
        opts.state_dir.display()
    );
    let registry = Arc::new(Mutex::new(registry));
    if let Some(events) = admin {
        let reg = Arc::clone(&registry);
        std::thread::Builder::new()
            .name("netkitd-admin".into())
            .spawn(move || follow_admin_state(&reg, &events))
            .map_err(|e| format!("starting the admin-state thread: {e}"))?;
    }
    server::serve(listener, registry)
}

/// Applies the interfaces' admin-state changes to the model, notices pairs deleted from
/// outside, follows `kernel.bpf_stats_enabled`, and saves map contents changed by traffic
/// (every 500 ms), until the dataplane goes away.
fn follow_admin_state(
    registry: &Mutex<Registry>,
    events: &std::sync::mpsc::Receiver<interfaces::AdminEvent>,
) {
    use std::sync::mpsc::RecvTimeoutError;
    loop {
        let event = events.recv_timeout(std::time::Duration::from_millis(500));
        let mut reg = registry.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            Ok((dev, up)) => reg.set_admin_up(dev, up),
            Err(RecvTimeoutError::Timeout) => {
                reg.reap_deleted();
                reg.follow_bpf_stats();
                if let Err(e) = reg.save_if_changed() {
                    eprintln!("netkitd: saving the state: {e}");
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// [`run`] with the user-space backend and, unless `--model-only`, real interfaces.
pub fn run_default(opts: &Options) -> Result<(), String> {
    let backend = netkit_core::UserBackend::default();
    if opts.model_only {
        return run(opts, backend, Box::new(plumbing::ModelOnly), None);
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let queues = dataplane::queues_per_device();
    let plumbing = interfaces::Interfaces::new(tx, queues);
    run(opts, backend, Box::new(plumbing), Some(rx))
}
