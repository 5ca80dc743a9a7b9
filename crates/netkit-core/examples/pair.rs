//! The README's library example: a pair whose peer is blackholed until a program is attached,
//! then a frame through the peer's transmit path, with the verdict and the counters.
//!
//! `cargo run -p netkit-core --example pair [OBJECT.bpf.o]` — without an object, a constant
//! program returning NETKIT_PASS stands in.

use netkit_core::{AttachReq, Backend, Hook, NewLink, PeerInfo, ProgSource, UserBackend};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut nk = UserBackend::default(); // or netkit_kernel::KernelBackend::new()?
    let pair = nk.link_add(&NewLink {
        name: Some("nk0".into()),
        peer_policy: Some(2), // NETKIT_DROP: blackhole until programs attach
        peer: Some(PeerInfo {
            name: Some("nk1".into()),
            ..Default::default()
        }),
        ..Default::default()
    })?;
    let peer = pair.peer.expect("pair mode creates a peer");
    nk.link_set_up(pair.primary, true)?;
    nk.link_set_up(peer, true)?;

    // An IPv4/ICMP frame as the pod would send it (L3 mode: zero MACs, ethertype 0x0800).
    let mut frame = vec![0u8; 12];
    frame.extend_from_slice(&[0x08, 0x00]);
    frame.extend_from_slice(&[
        0x45, 0, 0, 28, 0, 0, 0, 0, 64, 1, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1,
    ]);
    frame.extend_from_slice(&[8, 0, 0xf7, 0xff, 0, 0, 0, 0]);

    println!(
        "no program, peer policy drop: {:?}",
        nk.transmit(peer, &frame)?
    );

    let src = match std::env::args().nth(1) {
        Some(path) => ProgSource::Object {
            path: path.into(),
            program: None,
        },
        None => ProgSource::Constant(0),
    };
    let (prog, id) = nk.prog_load(&src)?;
    // Programs are managed through the primary, for both hooks.
    nk.prog_attach(&AttachReq::append(pair.primary, Hook::Peer, prog))?;
    println!(
        "program {id:?} attached:      {:?}",
        nk.transmit(peer, &frame)?
    );
    println!("peer counters: {:?}", nk.link_get(peer)?.stats);
    Ok(())
}
