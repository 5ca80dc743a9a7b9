//! The worker's steady-state packet path does not touch the heap (root, clang-19): a counting
//! global allocator keeps a per-thread count, the dataplane's packet probe attributes a
//! worker thread's count to the reads it made, and after a warm-up 1000 packets through the
//! real dataplane and the real device model — passed to the peer by a clang-built program,
//! on TUNs and on TAPs, dropped by a program's verdict, dropped by a blackhole policy,
//! redirected by a program to another of our devices or out of a kernel veth — allocate and
//! free nothing.
//!
//! A test binary of its own: the allocator counts only here.

mod common;

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::bpf::{attach, classifier, load_object, map_u64};
use common::model_fixture::{fixture, fixture_mode, TwoPods};
use common::*;
use netkit_core::{Backend, Datapath, Hook, IfIndex, Mode, ProgSource, Stats};
use netkit_io::netns::NetNs;

#[global_allocator]
static ALLOC: sys::Counting = sys::Counting;

/// Packets measured after the warm-up.
const N: u64 = 1000;
/// Packets that may allocate: first lookups, first use of per-thread state.
const WARM_UP: u64 = 100;

/// Heap operations on worker threads between probe calls, and reads that handled a packet,
/// since the last [`reset`].
static HEAP_OPS: AtomicU64 = AtomicU64::new(0);
static PACKETS: AtomicU64 = AtomicU64::new(0);

std::thread_local! {
    /// This worker thread's heap-operation count at its previous probe call.
    static LAST: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// Runs on a worker thread after each read: what the thread did since its previous read
/// (the read, the transmit path, the delivery, any wait in poll) is charged to the window.
fn probe(packet: bool) {
    let now = sys::thread_heap_ops();
    if let Some(last) = LAST.with(|l| l.replace(Some(now))) {
        HEAP_OPS.fetch_add(now - last, Relaxed);
    }
    if packet {
        PACKETS.fetch_add(1, Relaxed);
    }
}

fn reset() {
    HEAP_OPS.store(0, Relaxed);
    PACKETS.store(0, Relaxed);
}

/// The dataplane tests share the probe's counters: one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static ONE: Mutex<()> = Mutex::new(());
    // The counter itself works: a zero count must not come from an allocator not counting.
    let before = sys::thread_heap_ops();
    drop(std::hint::black_box(Box::new(1u64)));
    assert_eq!(
        sys::thread_heap_ops() - before,
        2,
        "allocation and free counted"
    );
    netkit_daemon::dataplane::set_packet_probe(probe);
    ONE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Sends UDP datagrams from namespace `ns` to `dst` (a closed port: the far stack answers
/// some with ICMP, which the worker also carries) until `done` says enough, for at most 20 s.
/// True if `done` was reached.
fn blast(ns: &NetNs, dst: &str, done: impl Fn() -> bool + Send) -> bool {
    let dst: std::net::SocketAddr = format!("{dst}:9").parse().unwrap();
    ns.run(move || {
        let sock =
            std::net::UdpSocket::bind("0.0.0.0:0").map_err(|source| netkit_io::Error::Os {
                what: "bind UDP socket".into(),
                source,
            })?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if done() {
                return Ok(true);
            }
            for _ in 0..16 {
                // A full queue (ENOBUFS) only delays: the loop sends until done.
                let _ = sock.send_to(&[0x5a; 64], dst);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(done())
    })
    .unwrap()
}

/// Waits (up to 5 s) until the workers have been idle for a moment, so a warm-up packet
/// still in flight is not charged to the measured window.
fn settle() {
    let mut seen = PACKETS.load(Relaxed);
    for _ in 0..25 {
        std::thread::sleep(Duration::from_millis(200));
        let now = PACKETS.load(Relaxed);
        if now == seen {
            return;
        }
        seen = now;
    }
}

/// Warms up with traffic from `ns` to `dst`, then measures until at least [`N`] packets
/// were handled and `outcome` (the scenario's counter: packets passed, dropped,
/// redirected) grew by [`N`]. Returns (heap operations, packets) of the window.
fn measure(ns: &NetNs, dst: &str, outcome: impl Fn() -> u64 + Send + Sync) -> (u64, u64) {
    reset();
    let base = outcome();
    let warm = blast(ns, dst, || {
        PACKETS.load(Relaxed) >= WARM_UP && outcome() >= base + WARM_UP
    });
    assert!(warm, "warm-up traffic never got through the worker");
    settle();
    reset();
    let base = outcome();
    let done = blast(ns, dst, || {
        PACKETS.load(Relaxed) >= N && outcome() >= base + N
    });
    let (ops, packets) = (HEAP_OPS.load(Relaxed), PACKETS.load(Relaxed));
    assert!(
        done,
        "only {packets} packets, outcome +{} in 20 s",
        outcome() - base
    );
    (ops, packets)
}

fn stats_of(dp: &Datapath, netns: netkit_core::xmit::NetnsId, dev: IfIndex) -> Stats {
    dp.stats_in(netns, dev).expect("device in the model")
}

/// Host-to-pod traffic through a clang-built program that passes it (NETKIT_NEXT).
fn passing_to_the_peer(test: &str, net: u8, mode: Mode) {
    if !requirements(test, &["ip", "clang-19"]) {
        return;
    }
    let _one = serial();
    let pod = netns("nka");
    let mut fx = fixture_mode(&pod, net, 0, mode);
    assert!(
        eventually(3000, || fx.sync()),
        "model never saw both ends up"
    );
    let obj = load_object();
    let count = classifier(&mut fx.backend, &obj, "count_a");
    attach(&mut fx.backend, fx.primary, Hook::Primary, count, None);
    let (dp, primary) = (fx.backend.datapath(), fx.primary);
    let (ops, packets) = measure(&NetNs::Current, &format!("10.{net}.0.2"), || {
        stats_of(&dp, 0, primary).tx_packets
    });
    assert!(map_u64(&obj, "runs", 0) >= N, "the program carried them");
    assert_eq!(
        ops, 0,
        "{ops} heap operations over {packets} packets passed"
    );
    eprintln!("{test}: {packets} packets, {ops} heap operations");
}

#[test]
fn passing_to_the_peer_allocates_nothing() {
    passing_to_the_peer("passing_to_the_peer_allocates_nothing", 171, Mode::L3);
}

#[test]
fn passing_to_the_peer_over_taps_allocates_nothing() {
    passing_to_the_peer(
        "passing_to_the_peer_over_taps_allocates_nothing",
        175,
        Mode::L2,
    );
}

#[test]
fn a_drop_verdict_allocates_nothing() {
    let test = "a_drop_verdict_allocates_nothing";
    if !requirements(test, &["ip"]) {
        return;
    }
    let _one = serial();
    let pod = netns("nka");
    let mut fx = fixture(&pod, 172, 0);
    assert!(
        eventually(3000, || fx.sync()),
        "model never saw both ends up"
    );
    let (drop, _) = fx.backend.prog_load(&ProgSource::Constant(2)).unwrap();
    let req = netkit_core::AttachReq::append(fx.primary, Hook::Primary, drop);
    fx.backend.prog_attach(&req).unwrap();
    let (dp, primary) = (fx.backend.datapath(), fx.primary);
    let (ops, packets) = measure(&NetNs::Current, "10.172.0.2", || {
        stats_of(&dp, 0, primary).tx_dropped
    });
    assert_eq!(
        ops, 0,
        "{ops} heap operations over {packets} packets, dropped by DROP"
    );
    eprintln!("{test}: {packets} packets, {ops} heap operations");
}

#[test]
fn a_blackhole_policy_allocates_nothing() {
    let test = "a_blackhole_policy_allocates_nothing";
    if !requirements(test, &["ip"]) {
        return;
    }
    let _one = serial();
    let pod = netns("nka");
    // Peer policy blackhole: the pod's traffic to the host drops on the peer's transmit path.
    let mut fx = fixture(&pod, 173, 2);
    assert!(
        eventually(3000, || fx.sync()),
        "model never saw both ends up"
    );
    let pod_id = fx.backend.netns_id(Some(pod.name()));
    let (dp, peer) = (fx.backend.datapath(), fx.peer);
    let (ops, packets) = measure(&pod.netns(), "10.173.0.1", || {
        stats_of(&dp, pod_id, peer).tx_dropped
    });
    assert_eq!(
        ops, 0,
        "{ops} heap operations over {packets} packets, blackholed"
    );
    eprintln!("{test}: {packets} packets, {ops} heap operations");
}

#[test]
fn a_redirect_to_another_of_our_devices_allocates_nothing() {
    let test = "a_redirect_to_another_of_our_devices_allocates_nothing";
    if !requirements(test, &["ip", "clang-19"]) {
        return;
    }
    let _one = serial();
    let (pod1, pod2) = (netns("nka"), netns("nka"));
    let mut pods = TwoPods::new([&pod1, &pod2], 174);
    assert!(eventually(3000, || pods.sync()), "pairs never came up");
    let (a, b) = (pods.pairs[0].0, pods.pairs[1].0);
    let obj = load_object();
    let targets = obj.map("targets").unwrap();
    // Pod 1's traffic to .2 leaves out of pair B's primary, whose transmit path delivers it
    // into pod 2; the answers take the mirror way.
    targets
        .update(&2u32.to_ne_bytes(), &b.0.to_ne_bytes(), 0)
        .unwrap();
    targets
        .update(&1u32.to_ne_bytes(), &a.0.to_ne_bytes(), 0)
        .unwrap();
    let prog = classifier(&mut pods.backend, &obj, "to_pod");
    for primary in [a, b] {
        attach(&mut pods.backend, primary, Hook::Peer, prog, None);
    }
    let dp = pods.backend.datapath();
    // Only the redirect reaches pod 2: the initial namespace has no route to the pods.
    let (ops, packets) = measure(&pod1.netns(), "10.174.0.2", || {
        stats_of(&dp, 0, b).tx_packets
    });
    assert_eq!(
        ops, 0,
        "{ops} heap operations over {packets} packets, redirected"
    );
    eprintln!("{test}: {packets} packets, {ops} heap operations");
}

#[test]
fn a_redirect_out_of_a_kernel_interface_allocates_nothing() {
    let test = "a_redirect_out_of_a_kernel_interface_allocates_nothing";
    if !requirements(test, &["ip", "clang-19"]) {
        return;
    }
    let _one = serial();
    let (pod, far) = (netns("nka"), netns("nkf"));
    let mut fx = fixture(&pod, 176, 0);
    assert!(
        eventually(3000, || fx.sync()),
        "model never saw both ends up"
    );
    // A kernel veth from the initial namespace (where the primary, the receiving end of the
    // pod's traffic, is) into `far`; deleting `far` deletes it.
    let (va, _vb) = veth_into(None, &far);
    sh(&[
        "ip",
        "-n",
        pod.name(),
        "route",
        "add",
        "10.177.0.0/24",
        "via",
        "10.176.0.1",
    ]);
    let veth = kernel_ifindex(&va);
    let obj = load_object();
    // The pod's traffic to 10.177.0.2 leaves out of the veth (plain bpf_redirect, egress).
    let targets = obj.map("targets").unwrap();
    targets
        .update(&2u32.to_ne_bytes(), &veth.to_ne_bytes(), 0)
        .unwrap();
    let prog = classifier(&mut fx.backend, &obj, "to_pod");
    attach(&mut fx.backend, fx.primary, Hook::Peer, prog, None);
    // The scenario's outcome is what the veth sent. The first packet opens the packet
    // socket on it: that is part of the warm-up.
    let (ops, packets) = measure(&pod.netns(), "10.177.0.2", || tx_packets(&va));
    assert_eq!(
        ops, 0,
        "{ops} heap operations over {packets} packets, out of a veth"
    );
    eprintln!("{test}: {packets} packets, {ops} heap operations");
}

/// The kernel's ifindex of `dev` in the initial namespace.
fn kernel_ifindex(dev: &str) -> u32 {
    let path = format!("/sys/class/net/{dev}/ifindex");
    let text = std::fs::read_to_string(&path).unwrap();
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{path}: {text:?}"))
}

/// Packets `dev` (in the initial namespace) transmitted.
fn tx_packets(dev: &str) -> u64 {
    let path = format!("/sys/class/net/{dev}/statistics/tx_packets");
    let text = std::fs::read_to_string(&path).unwrap();
    text.trim()
        .parse()
        .unwrap_or_else(|_| panic!("{path}: {text:?}"))
}

/// The counting allocator: the system allocator, plus a count per thread.
mod sys {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    std::thread_local! {
        // Constant-initialised without a destructor: reading or bumping it never allocates,
        // so the allocator can use it.
        static OPS: Cell<u64> = const { Cell::new(0) };
    }

    fn count() {
        let _ = OPS.try_with(|c| c.set(c.get() + 1));
    }

    /// Allocations, reallocations and frees made by the calling thread so far.
    pub fn thread_heap_ops() -> u64 {
        OPS.try_with(Cell::get).unwrap_or(0)
    }

    pub struct Counting;

    // SAFETY: every call is forwarded unchanged to the system allocator, which upholds
    // GlobalAlloc's contract; counting touches only a thread-local integer.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            count();
            // SAFETY: same layout contract as our caller's.
            unsafe { System.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            count();
            // SAFETY: same layout contract as our caller's.
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            count();
            // SAFETY: `ptr` came from this allocator (i.e. System) with `layout`.
            unsafe { System.realloc(ptr, layout, new_size) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            count();
            // SAFETY: `ptr` came from this allocator (i.e. System) with `layout`.
            unsafe { System.dealloc(ptr, layout) }
        }
    }
}
