//! Redirects on live traffic: pod-to-pod through two pairs, egress into a kernel interface
//! with `redirect_neigh`, and the counted drop of ingress into a kernel interface (root).

mod common;

use std::sync::Arc;

use common::*;
use netkit_bpf::skb::{RedirectKind, RedirectRequest, Skb};
use netkit_core::IfIndex;
use netkit_daemon::dataplane::Dataplane;
use netkit_io::tun::TunKind;

/// A program redirecting by the last byte of the IPv4 destination: `table[last]`.
fn redirect_by_dst(table: Vec<(u8, u32, RedirectKind)>) -> Prog {
    Arc::new(move |skb: &mut Skb| {
        let last = skb.data().get(33).copied();
        match table.iter().find(|(b, _, _)| Some(*b) == last) {
            Some((_, ifindex, kind)) => {
                skb.redirect = Some(RedirectRequest {
                    ifindex: *ifindex,
                    kind: *kind,
                });
                7
            }
            None => 0,
        }
    })
}

#[test]
fn pod_to_pod_through_two_pairs() {
    if !requirements("pod_to_pod_through_two_pairs", &["ip", "ping"]) {
        return;
    }
    let (host, pod1, pod2) = (netns("nkh"), netns("nkp"), netns("nkp"));
    let (prim_a, peer_a, prim_b, peer_b) = (IfIndex(201), IfIndex(200), IfIndex(203), IfIndex(202));
    let path = TestPath::with_pairs(&[(prim_a, peer_a), (prim_b, peer_b)]);
    // Pod egress (the peer's programs): to the other pod, transmit out of its primary, which
    // runs that primary's transmit path into the other pod.
    path.set_prog(
        peer_a,
        redirect_by_dst(vec![(2, prim_b.0, RedirectKind::Egress)]),
    );
    path.set_prog(
        peer_b,
        redirect_by_dst(vec![(1, prim_a.0, RedirectKind::Egress)]),
    );
    let dp = Dataplane::new();
    let mk = |pod, ids, pod_addr| PairSpec {
        kind: TunKind::Tun,
        host: &host,
        pod,
        ids,
        host_addr: "10.221.255.1/32",
        pod_addr,
        queues: 1,
    };
    let a = start(&dp, &path, &mk(&pod1, (prim_a, peer_a), "10.221.0.1/24"));
    let b = start(&dp, &path, &mk(&pod2, (prim_b, peer_b), "10.221.0.2/24"));
    assert!(ping(&pod1, "10.221.0.2", 3), "pod1 -> pod2");
    assert!(ping(&pod2, "10.221.0.1", 3), "pod2 -> pod1");
    let (sa, sb) = (a.running.stats(), b.running.stats());
    assert!(
        sa.redirect_ours >= 6 && sb.redirect_ours >= 6,
        "{sa:?} {sb:?}"
    );
}

#[test]
fn redirect_neigh_out_of_a_kernel_interface() {
    if !requirements("redirect_neigh_out_of_a_kernel_interface", &["ip", "ping"]) {
        return;
    }
    let (host, pod, far) = (netns("nkh"), netns("nkp"), netns("nkf"));
    // A kernel veth from the host to a third namespace.
    let (va, vb) = veth_into(Some(&host), &far);
    sh(&[
        "ip",
        "-n",
        host.name(),
        "addr",
        "add",
        "10.231.0.1/24",
        "dev",
        &va,
    ]);
    sh(&[
        "ip",
        "-n",
        far.name(),
        "addr",
        "add",
        "10.231.0.2/24",
        "dev",
        &vb,
    ]);
    sh(&[
        "ip",
        "-n",
        far.name(),
        "route",
        "add",
        "10.222.0.0/24",
        "via",
        "10.231.0.1",
    ]);
    sh(&[
        "ip",
        "netns",
        "exec",
        host.name(),
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
    ]);
    // Resolve the far end once so the neighbour table holds its MAC.
    assert!(run(&[
        "ip",
        "netns",
        "exec",
        host.name(),
        "ping",
        "-c",
        "1",
        "-W",
        "2",
        "10.231.0.2"
    ])
    .status
    .success());
    let va_ifindex = host
        .netns()
        .run(|| Ok(netkit_io::rtnl::Rtnl::open()?.link_by_name(&va)?.ifindex))
        .unwrap();

    let (prim, peer) = (IfIndex(301), IfIndex(300));
    let path = TestPath::with_pairs(&[(prim, peer)]);
    path.set_prog(
        peer,
        redirect_by_dst(vec![(2, va_ifindex, RedirectKind::Neigh(None))]),
    );
    let dp = Dataplane::new();
    let pair = start(
        &dp,
        &path,
        &PairSpec {
            kind: TunKind::Tun,
            host: &host,
            pod: &pod,
            ids: (prim, peer),
            host_addr: "10.222.0.1/24",
            pod_addr: "10.222.0.2/24",
            queues: 1,
        },
    );
    sh(&[
        "ip",
        "-n",
        pod.name(),
        "route",
        "add",
        "10.231.0.0/24",
        "dev",
        &pair.peer,
    ]);
    // Pod -> far goes out of the veth by redirect_neigh; the reply is routed by the host
    // into the primary and crosses the pair normally.
    assert!(ping(&pod, "10.231.0.2", 3), "pod -> far via redirect_neigh");
    let st = pair.running.stats();
    assert!(st.redirect_kernel >= 3, "{st:?}");

    // Ingress into a kernel interface cannot be done from user space: counted drop.
    path.set_prog(
        peer,
        redirect_by_dst(vec![(2, va_ifindex, RedirectKind::Ingress)]),
    );
    assert!(!ping(&pod, "10.231.0.2", 1));
    assert!(pair.running.stats().dropped_ingress_kernel >= 1);

    // A target that does not exist is a counted drop, not a crash.
    path.set_prog(peer, redirect_by_dst(vec![(2, 9999, RedirectKind::Egress)]));
    assert!(!ping(&pod, "10.231.0.2", 1));
    assert!(pair.running.stats().dropped_no_target >= 1);
}

#[test]
fn redirect_loop_is_cut_at_the_recursion_limit() {
    if !requirements(
        "redirect_loop_is_cut_at_the_recursion_limit",
        &["ip", "ping"],
    ) {
        return;
    }
    let (host, pod) = (netns("nkh"), netns("nkp"));
    let (prim, peer) = (IfIndex(401), IfIndex(400));
    let path = TestPath::with_pairs(&[(prim, peer)]);
    // The ends redirect to each other's egress forever (each target is in the namespace of
    // the redirecting end's other end, where redirect targets are looked up).
    path.set_prog(
        peer,
        redirect_by_dst(vec![(1, prim.0, RedirectKind::Egress)]),
    );
    path.set_prog(
        prim,
        redirect_by_dst(vec![(1, peer.0, RedirectKind::Egress)]),
    );
    let dp = Dataplane::new();
    let pair = start(
        &dp,
        &path,
        &PairSpec {
            kind: TunKind::Tun,
            host: &host,
            pod: &pod,
            ids: (prim, peer),
            host_addr: "10.223.0.1/24",
            pod_addr: "10.223.0.2/24",
            queues: 1,
        },
    );
    assert!(!ping(&pod, "10.223.0.1", 1));
    assert!(
        pair.running.stats().dropped_loop >= 1,
        "{:?}",
        pair.running.stats()
    );
}
