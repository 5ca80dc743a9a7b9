//! clang-built objects (`ProgSource::Object`) through the kernel backend: the repository's
//! examples/pass.bpf.o and examples/policy.bpf.o, passed as `--objects DIR`.

use std::path::Path;

use netkit_core::*;
use netkit_kernel::KernelBackend;

use crate::checks::Report;

/// An IPv4 frame (L3 mode: zero MACs) carrying `protocol` with ports 1234 → `dport` and a
/// whole TCP header (20 bytes) or 8 bytes of anything else.
fn ipv4(protocol: u8, dport: u16) -> Vec<u8> {
    let l4 = if protocol == 6 { 20 } else { 8 };
    let mut f = vec![0u8; 14 + 20 + l4];
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&(20 + l4 as u16).to_be_bytes());
    ip[8] = 64;
    ip[9] = protocol;
    ip[12..16].copy_from_slice(&[10, 0, 0, 1]);
    ip[16..20].copy_from_slice(&[10, 0, 0, 2]);
    f[34..36].copy_from_slice(&1234u16.to_be_bytes());
    f[36..38].copy_from_slice(&dport.to_be_bytes());
    f
}

fn source(dir: &Path, file: &str, program: Option<&str>) -> ProgSource {
    ProgSource::Object {
        path: dir.join(file),
        program: program.map(String::from),
    }
}

pub fn objects(b: &mut KernelBackend, r: &mut Report, dir: &Path) {
    let missing = b.prog_load(&source(dir, "pass.bpf.o", Some("no_such_prog")));
    r.errno("object without that program", missing, Errno::ENOENT);
    let not_elf = b.prog_load(&ProgSource::Object {
        path: "/proc/self/status".into(),
        program: None,
    });
    r.errno("not an ELF object", not_elf, Errno::EINVAL);
    let absent = b.prog_load(&source(dir, "absent.bpf.o", None));
    r.errno("object file missing", absent, Errno::ENOENT);

    let Some(c) = crate::pair(b, "nko") else {
        return;
    };
    let peer = c.peer.unwrap_or(IfIndex(0));
    let _ = b.link_set_up(c.primary, true);
    let _ = b.link_set_up(peer, true);
    let pass = r.ok(
        "load pass.bpf.o",
        b.prog_load(&source(dir, "pass.bpf.o", None)),
    );
    let policy = r.ok(
        "load policy.bpf.o by section",
        b.prog_load(&source(dir, "policy.bpf.o", Some("netkit/peer"))),
    );
    let (Some((pass, _)), Some((policy, _))) = (pass, policy) else {
        let _ = b.link_del(c.primary);
        return;
    };
    let udp = ipv4(17, 53);
    let icmp = ipv4(1, 0);
    let web = ipv4(6, 80);
    r.ok(
        "attach policy on the PEER hook",
        b.prog_attach(&AttachReq::append(c.primary, Hook::Peer, policy)),
    );
    r.eq(
        "pod sends UDP: dropped",
        b.transmit(peer, &udp).ok(),
        Some(TxOutcome::Dropped),
    );
    r.eq(
        "pod sends ICMP: delivered",
        b.transmit(peer, &icmp).ok(),
        Some(TxOutcome::Delivered(icmp.clone())),
    );
    r.eq(
        "pod sends TCP to port 80: delivered",
        b.transmit(peer, &web).ok(),
        Some(TxOutcome::Delivered(web.clone())),
    );
    r.eq(
        "host sends UDP (primary hook empty): delivered",
        b.transmit(c.primary, &udp).ok(),
        Some(TxOutcome::Delivered(udp.clone())),
    );
    let _ = b.link_change(
        c.primary,
        &ChangeLink {
            policy: Some(2),
            ..ChangeLink::default()
        },
    );
    r.ok(
        "attach pass on the PRIMARY hook",
        b.prog_attach(&AttachReq::append(c.primary, Hook::Primary, pass)),
    );
    r.eq(
        "pass.bpf.o overrides policy drop",
        b.transmit(c.primary, &udp).ok(),
        Some(TxOutcome::Delivered(udp)),
    );
    r.ok("delete", b.link_del(c.primary));
    let _ = b.prog_close(pass);
    let _ = b.prog_close(policy);
}
