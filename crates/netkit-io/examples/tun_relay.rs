//! The floor of any TUN-based datapath: two TUN devices (one per namespace, made the way the
//! daemon makes them: virtio-net header, offloads, noqueue) and one thread copying every frame
//! read from one into the other. No programs, no parsing, no counters: what it costs is what
//! the kernel's TUN read and write cost on this machine. `bench/traffic.sh` measures it beside
//! veth and our pair, so a ratio against the goals can be split into "TUN's price" and "ours".
//!
//! Usage (root): `tun_relay HOST_NS POD_NS HOST_DEV POD_DEV [poll|spin]`
//!   poll: sleep in poll() while both queues are empty (the daemon's default);
//!   spin: never sleep (the daemon with a busy-poll window longer than the traffic's gaps).
//! Runs until killed. Prints "ready" once both devices exist.

use std::io::{ErrorKind, Write};
use std::process::ExitCode;

use netkit_io::netns::NetNs;
use netkit_io::poll::wait_readable;
use netkit_io::tun::{TunConfig, TunDevice, TunKind, TunQueue};

/// A 64 KiB GSO frame plus its virtio-net header and some slack.
const BUF: usize = 70 * 1024;
/// Frames moved from one side before looking at the other.
const BATCH: usize = 32;

fn open(ns: &str, name: &str) -> Result<TunDevice, String> {
    let cfg = TunConfig::new(name, TunKind::Tun).netns(NetNs::Named(ns.to_string()));
    let dev = TunDevice::open(&cfg).map_err(|e| format!("{name} in {ns}: {e}"))?;
    dev.set_noqueue()
        .map_err(|e| format!("{name}: noqueue: {e}"))?;
    Ok(dev)
}

/// Moves up to [`BATCH`] frames from `from` to `to`; true when at least one crossed.
fn relay(from: &TunQueue, to: &TunQueue, buf: &mut [u8]) -> Result<bool, String> {
    for i in 0..BATCH {
        match from.recv(buf) {
            Ok(n) => {
                // A full ring on the other side drops, as the kernel's TUN does.
                let _ = to.send(&buf[..n]);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                return Ok(i > 0)
            }
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    Ok(true)
}

fn run(args: &[String]) -> Result<(), String> {
    let [host_ns, pod_ns, host_dev, pod_dev, rest @ ..] = args else {
        return Err("usage: tun_relay HOST_NS POD_NS HOST_DEV POD_DEV [poll|spin]".into());
    };
    let spin = match rest.first().map(String::as_str) {
        None | Some("poll") => false,
        Some("spin") => true,
        Some(other) => return Err(format!("mode {other:?}: expected poll or spin")),
    };
    let host = open(host_ns, host_dev)?;
    let pod = open(pod_ns, pod_dev)?;
    let (a, b) = (&host.queues()[0], &pod.queues()[0]);
    println!("ready");
    let _ = std::io::stdout().flush();
    let mut buf = vec![0u8; BUF];
    let mut ready = [false; 2];
    loop {
        let moved = relay(a, b, &mut buf)? | relay(b, a, &mut buf)?;
        if !moved && !spin {
            wait_readable(&[a.as_fd(), b.as_fd()], -1, &mut ready).map_err(|e| e.to_string())?;
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tun_relay: {e}");
            ExitCode::FAILURE
        }
    }
}
