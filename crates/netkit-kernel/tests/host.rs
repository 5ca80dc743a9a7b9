//! Kernel-backend tests that run on the host (root, any kernel with BPF): program load and
//! ids, rtnetlink errors with extack, namespaces, and the AF_PACKET transmit observer over a
//! veth pair. netkit itself is exercised in the reference VM (`examples/vm_smoke`).

use std::process::Command;

use netkit_core::*;
use netkit_kernel::{netns, KernelBackend};

/// Root is needed; without it the test says so and passes, unless CI demands privileges.
fn privileged(test: &str) -> bool {
    if netkit_kernel::is_root() {
        return true;
    }
    assert!(
        std::env::var("NETKIT_REQUIRE_PRIVILEGED").as_deref() != Ok("1"),
        "{test} needs root (NETKIT_REQUIRE_PRIVILEGED=1)"
    );
    eprintln!("SKIP {test}: needs root");
    false
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
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[test]
fn constant_programs_load_with_distinct_ids_and_handles_close_once() {
    if !privileged("constant_programs_load_with_distinct_ids_and_handles_close_once") {
        return;
    }
    let mut b = KernelBackend::new().unwrap();
    let (h1, id1) = b.prog_load(&ProgSource::Constant(-1)).unwrap();
    let (h2, id2) = b.prog_load(&ProgSource::Constant(2)).unwrap();
    assert_ne!(h1, h2);
    assert!(id1.0 > 0 && id2.0 > 0 && id1 != id2);
    b.prog_close(h1).unwrap();
    let again = b.prog_close(h1).unwrap_err();
    assert_eq!(again.errno, Errno::EBADF, "{again}");
    let foreign = b.prog_close(Handle(0)).unwrap_err();
    assert_eq!(
        foreign.errno,
        Errno::EBADF,
        "never closes what it did not open: {foreign}"
    );
    b.prog_close(h2).unwrap();
}

#[test]
fn objects_load_by_name_or_section_and_bad_ones_say_why() {
    let test = "objects_load_by_name_or_section_and_bad_ones_say_why";
    if !privileged(test) {
        return;
    }
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let made = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(&examples)
        .status();
    if !made.is_ok_and(|s| s.success()) {
        assert!(
            std::env::var("NETKIT_REQUIRE_PRIVILEGED").as_deref() != Ok("1"),
            "{test} needs clang-19 (make -C examples)"
        );
        eprintln!("SKIP {test}: needs clang-19 (make -C examples)");
        return;
    }
    let mut b = KernelBackend::new().unwrap();
    let obj = |file: &str, program: Option<&str>| ProgSource::Object {
        path: examples.join(file),
        program: program.map(String::from),
    };
    let (h1, id1) = b.prog_load(&obj("pass.bpf.o", None)).unwrap();
    let (h2, id2) = b
        .prog_load(&obj("policy.bpf.o", Some("netkit/peer")))
        .unwrap();
    let (h3, id3) = b.prog_load(&obj("policy.bpf.o", Some("policy"))).unwrap();
    assert!(
        id1.0 > 0 && id1 != id2 && id2 != id3,
        "each load is a new program"
    );
    for h in [h1, h2, h3] {
        b.prog_close(h).unwrap();
    }
    let err = b.prog_load(&obj("pass.bpf.o", Some("nope"))).unwrap_err();
    assert_eq!(err.errno, Errno::ENOENT, "{err}");
    assert!(
        err.msg.contains("programs: pass"),
        "lists what the object has: {err}"
    );
    let err = b.prog_load(&obj("pass.bpf.c", None)).unwrap_err();
    assert_eq!(err.errno, Errno::EINVAL, "C source is not an object: {err}");
    let err = b.prog_load(&obj("missing.bpf.o", None)).unwrap_err();
    assert_eq!(err.errno, Errno::ENOENT, "{err}");
}

#[test]
fn creating_netkit_reports_what_the_kernel_says() {
    if !privileged("creating_netkit_reports_what_the_kernel_says") {
        return;
    }
    let mut b = KernelBackend::new().unwrap();
    let req = NewLink {
        name: Some("nkhost1".into()),
        ..NewLink::default()
    };
    match b.link_add(&req) {
        // A kernel with netkit: a real pair, deleted again.
        Ok(c) => {
            let info = b.link_get(c.primary).unwrap();
            assert!(info.primary && info.peer_ifindex == c.peer);
            b.link_del(c.primary).unwrap();
        }
        // Without netkit (this host's 6.18): rtnetlink's own answer and extack message.
        Err(e) => {
            assert_eq!(e.errno, Errno::EOPNOTSUPP, "{e}");
            assert!(e.msg.contains("create netkit pair"), "{e}");
        }
    }
    let primary = NewLink {
        name: Some("nkhost2".into()),
        primary: Some(1),
        ..NewLink::default()
    };
    assert!(
        b.link_add(&primary).is_err(),
        "PRIMARY is read-only on every kernel"
    );
}

#[test]
fn non_netkit_devices_are_enxio_and_missing_ones_enodev() {
    if !privileged("non_netkit_devices_are_enxio_and_missing_ones_enodev") {
        return;
    }
    let b = KernelBackend::new().unwrap();
    let lo = b.ifindex_by_name("lo").unwrap();
    assert_eq!(lo, IfIndex(1));
    let err = b.link_get(lo).unwrap_err();
    assert_eq!(err.errno, Errno::ENXIO, "{err}");
    let err = b.link_get(IfIndex(0x7fff_fff0)).unwrap_err();
    assert_eq!(err.errno, Errno::ENODEV, "{err}");
    let err = b.ifindex_by_name("nk-no-such-dev").unwrap_err();
    assert_eq!(err.errno, Errno::ENODEV, "{err}");
}

#[test]
fn named_namespaces_are_created_entered_and_removed() {
    if !privileged("named_namespaces_are_created_entered_and_removed") {
        return;
    }
    let name = format!("nkhost-{}", std::process::id());
    netns::create(&name).unwrap();
    let lo_up = netns::run_in(Some(&name), || {
        Ok(std::fs::read_to_string("/sys/class/net/lo/operstate").is_ok())
    });
    // A fresh namespace has exactly one device, lo, with ifindex 1.
    let mut rtnl = netkit_kernel::rtnl::Rtnl::open(Some(&name)).unwrap();
    let devices = rtnl.dump().unwrap();
    netns::delete(&name).unwrap();
    assert!(lo_up.is_ok());
    assert_eq!(devices.len(), 1, "{devices:?}");
    assert_eq!(
        (devices[0].ifindex, devices[0].name.as_str()),
        (IfIndex(1), "lo")
    );
    assert!(netns::open(&name).is_err(), "deleted");
    assert!(netns::open("../etc").is_err(), "names are plain names");
}

#[test]
fn transmit_observes_delivery_over_a_veth_pair() {
    if !privileged("transmit_observes_delivery_over_a_veth_pair") {
        return;
    }
    let (va, vb) = ("nkhost-va", "nkhost-vb");
    let _ = ip(&["link", "del", va]);
    ip(&["link", "add", va, "type", "veth", "peer", "name", vb]).unwrap();
    for dev in [va, vb] {
        let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6"), "1");
    }
    let run = || -> Result<(), String> {
        let mut b = KernelBackend::new().map_err(|e| e.to_string())?;
        let a = b.ifindex_by_name(va).map_err(|e| e.to_string())?;
        let peer = b.ifindex_by_name(vb).map_err(|e| e.to_string())?;
        let mut frame = vec![0u8; 64];
        frame[..6].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
        frame[12..14].copy_from_slice(&[0x88, 0xb5]);
        frame[20] = 0x5a;
        let down = b.transmit(a, &frame).map_err(|e| e.errno);
        assert_eq!(down, Err(Errno::Other(libc::ENETDOWN)), "device down");
        b.link_set_up(a, true).map_err(|e| e.to_string())?;
        b.link_set_up(peer, true).map_err(|e| e.to_string())?;
        let out = b
            .transmit_observed(a, &frame, Default::default())
            .map_err(|e| e.to_string())?;
        assert_eq!(out.outcome, TxOutcome::Delivered(frame.clone()));
        assert_eq!(
            out.pkt_type,
            Some(3),
            "unicast to a foreign MAC is OTHERHOST"
        );
        let back = b.transmit(peer, &frame).map_err(|e| e.to_string())?;
        assert_eq!(back, TxOutcome::Delivered(frame));
        Ok(())
    };
    let res = run();
    ip(&["link", "del", va]).unwrap();
    res.unwrap();
}
