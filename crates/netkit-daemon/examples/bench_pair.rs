//! Drives one user-space netkit pair for bench/traffic.sh until killed: the primary (TUN) in
//! HOST_NS, the peer in POD_NS, addressed and up, with a counting program on both hooks.
//!
//! Usage: bench_pair HOST_NS POD_NS HOST_CIDR POD_CIDR [QUEUES]
//!
//! The program stands in for bench/count.bpf.c (a per-ethertype hash-map counter) until the
//! eBPF engine runs that object in the device model: a read-only map of atomic counters.

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use netkit_bpf::skb::Skb;
use netkit_core::IfIndex;
use netkit_daemon::dataplane::{Dataplane, Delivery, PacketPath, PairIo};
use netkit_io::netns::NetNs;
use netkit_io::tun::{TunConfig, TunDevice, TunKind};

const PRIMARY: IfIndex = IfIndex(2);
const PEER: IfIndex = IfIndex(1);

struct CountingPath {
    up: [AtomicBool; 2],
    counts: HashMap<u16, AtomicU64>,
}

impl CountingPath {
    fn index(dev: IfIndex) -> usize {
        (dev == PRIMARY) as usize
    }
}

impl PacketPath for CountingPath {
    fn xmit(&self, dev: IfIndex, skb: Skb) -> Delivery {
        let peer = if dev == PRIMARY { PEER } else { PRIMARY };
        if !self.up[Self::index(peer)].load(Relaxed) {
            return Delivery::Drop(netkit_core::DropReason::PeerDown);
        }
        if let Some(c) = self.counts.get(&skb.meta.protocol) {
            c.fetch_add(1, Relaxed);
        }
        Delivery::ToPeer { peer, skb }
    }

    fn set_admin_up(&self, dev: IfIndex, up: bool) {
        self.up[Self::index(dev)].store(up, Relaxed);
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, pod, host_cidr, pod_cidr] = match args.get(..4) {
        Some([a, b, c, d]) => [a, b, c, d],
        _ => return Err("usage: bench_pair HOST_NS POD_NS HOST_CIDR POD_CIDR [QUEUES]".into()),
    };
    let queues: usize = args
        .get(4)
        .map(|q| q.parse().map_err(|_| format!("bad queue count {q:?}")))
        .transpose()?
        .unwrap_or(1);
    let make = |name: &str, ns: &str| {
        let dev = TunDevice::open(
            &TunConfig::new(name, TunKind::Tun)
                .netns(NetNs::Named(ns.to_string()))
                .queues(queues),
        )
        .map_err(|e| e.to_string())?;
        dev.set_noqueue().map_err(|e| e.to_string())?;
        Ok::<_, String>(dev)
    };
    let peer = make("nkbpeer", pod)?;
    let primary = make("nkbprim", host)?;
    for (ns, dev, cidr) in [(host, "nkbprim", host_cidr), (pod, "nkbpeer", pod_cidr)] {
        ip(&["-n", ns, "addr", "add", cidr, "dev", dev])?;
        ip(&["-n", ns, "link", "set", dev, "up"])?;
    }
    let path = Arc::new(CountingPath {
        up: [AtomicBool::new(false), AtomicBool::new(false)],
        counts: [0x0800u16, 0x86dd, 0x0806]
            .into_iter()
            .map(|p| (p, AtomicU64::new(0)))
            .collect(),
    });
    let dp = match std::env::var("NETKIT_RT_PRIO")
        .ok()
        .and_then(|p| p.parse().ok())
    {
        Some(prio) => Dataplane::new().with_realtime(prio),
        None => Dataplane::new(),
    };
    let running = dp
        .start_pair(
            path.clone(),
            PairIo {
                primary: (PRIMARY, primary),
                peer: (PEER, peer),
            },
        )
        .map_err(|e| e.to_string())?;
    println!("ready (offloads {:#x})", running.devices().0.offloads());
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
