//! Real TUN/TAP devices in real namespaces (root).

use netkit_io::netns::{NamedNetns, NetNs};
use netkit_io::rtnl::{LinkEvent, LinkMonitor, Rtnl};
use netkit_io::testing::{have_root_and_tun, require, unique_name};
use netkit_io::tun::{offload, TunConfig, TunDevice, TunKind};
use netkit_io::vnet::VNET_HDR_LEN;

fn sh(args: &[&str]) -> String {
    let out = std::process::Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("run command");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn tun_in_named_namespace_with_queues_offloads_and_carrier() {
    if !require(
        "tun_in_named_namespace_with_queues_offloads_and_carrier",
        "root and /dev/net/tun",
        have_root_and_tun(),
    ) {
        return;
    }
    let ns = NamedNetns::create(&unique_name("nkio")).unwrap();
    let name = unique_name("nkt");
    let dev = TunDevice::open(
        &TunConfig::new(&name, TunKind::Tun)
            .netns(ns.netns())
            .queues(2),
    )
    .unwrap();
    assert_eq!(dev.queues().len(), 2);
    assert_eq!(dev.vnet_hdr_len(), VNET_HDR_LEN);
    assert_ne!(dev.offloads() & offload::TSO4, 0, "kernel refused TSO4");
    // The device lives in the namespace, not here.
    assert!(Rtnl::open().unwrap().link_by_name(&name).is_err());
    let st = dev.rtnl(|r| r.link_by_name(&name)).unwrap();
    assert_eq!(st.ifindex, dev.ifindex());
    assert!(!st.is_up());

    dev.set_noqueue().unwrap();
    let qdisc = sh(&[
        "ip",
        "netns",
        "exec",
        ns.name(),
        "tc",
        "qdisc",
        "show",
        "dev",
        &name,
    ]);
    assert!(qdisc.contains("noqueue"), "qdisc: {qdisc}");

    // Carrier follows TUNSETCARRIER once the device is up.
    let ifindex = dev.ifindex();
    dev.rtnl(|r| r.set_up(ifindex, true)).unwrap();
    dev.set_carrier(false).unwrap();
    assert_eq!(dev.rtnl(|r| r.link(ifindex)).unwrap().carrier, Some(false));
    dev.set_carrier(true).unwrap();
    assert_eq!(dev.rtnl(|r| r.link(ifindex)).unwrap().carrier, Some(true));

    dev.delete().unwrap();
    let err = ns
        .netns()
        .run(|| Rtnl::open()?.link_by_name(&name))
        .unwrap_err();
    assert_eq!(err.errno(), Some(libc::ENODEV), "{err}");
}

#[test]
fn persistent_tap_survives_close_and_reattaches_by_name() {
    if !require(
        "persistent_tap_survives_close_and_reattaches_by_name",
        "root and /dev/net/tun",
        have_root_and_tun(),
    ) {
        return;
    }
    let name = unique_name("nkp");
    let dev = TunDevice::open(&TunConfig::new(&name, TunKind::Tap)).unwrap();
    dev.set_persist(true).unwrap();
    let ifindex = dev.ifindex();
    let mac = Rtnl::open().unwrap().link(ifindex).unwrap().address;
    assert_eq!(mac.len(), 6);
    drop(dev);
    // Still there, same ifindex and MAC.
    let st = Rtnl::open().unwrap().link_by_name(&name).unwrap();
    assert_eq!((st.ifindex, st.address.clone()), (ifindex, mac));
    // Exclusive create refuses; reattach works.
    let err = TunDevice::open(&TunConfig::new(&name, TunKind::Tap)).unwrap_err();
    assert_eq!(err.errno(), Some(libc::EBUSY), "{err}");
    let again = TunDevice::open(&TunConfig::new(&name, TunKind::Tap).reattach()).unwrap();
    assert_eq!(again.ifindex(), ifindex);
    again.delete().unwrap();
    assert!(Rtnl::open().unwrap().link_by_name(&name).is_err());
}

#[test]
fn link_monitor_reports_admin_state_and_deletion() {
    if !require(
        "link_monitor_reports_admin_state_and_deletion",
        "root and /dev/net/tun",
        have_root_and_tun(),
    ) {
        return;
    }
    let ns = NamedNetns::create(&unique_name("nkio")).unwrap();
    let mut mon = ns.netns().run(LinkMonitor::open).unwrap();
    let name = unique_name("nkm");
    let dev = TunDevice::open(&TunConfig::new(&name, TunKind::Tun).netns(ns.netns())).unwrap();
    let ifindex = dev.ifindex();
    dev.rtnl(|r| r.set_up(ifindex, true)).unwrap();
    let mut ready = [false];
    netkit_io::poll::wait_readable(&[mon.as_fd()], 2000, &mut ready).unwrap();
    let events = mon.drain().unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, LinkEvent::Changed(st) if st.ifindex == ifindex && st.is_up())),
        "{events:?}"
    );
    dev.delete().unwrap();
    netkit_io::poll::wait_readable(&[mon.as_fd()], 2000, &mut ready).unwrap();
    let events = mon.drain().unwrap();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, LinkEvent::Deleted { ifindex: i, .. } if *i == ifindex)),
        "{events:?}"
    );
}

#[test]
fn missing_namespace_is_a_clear_error() {
    let err = NetNs::Named("nk-no-such-ns-xyz".into()).open().unwrap_err();
    assert_eq!(err.errno(), Some(libc::ENODEV));
    assert!(err.to_string().contains("nk-no-such-ns-xyz"), "{err}");
    let err = NetNs::Named("../etc".into()).open().unwrap_err();
    assert!(matches!(err, netkit_io::Error::Invalid(_)), "{err}");
}

#[test]
fn route_and_neighbour_lookup_in_a_namespace() {
    if !require(
        "route_and_neighbour_lookup_in_a_namespace",
        "root",
        have_root_and_tun(),
    ) {
        return;
    }
    let ns = NamedNetns::create(&unique_name("nkio")).unwrap();
    let n = ns.name();
    let dummy = unique_name("nkd");
    let other = unique_name("nkd");
    sh(&[
        "ip", "-n", n, "link", "add", &dummy, "type", "veth", "peer", "name", &other,
    ]);
    sh(&["ip", "-n", n, "link", "set", &dummy, "up"]);
    sh(&["ip", "-n", n, "addr", "add", "10.77.0.1/24", "dev", &dummy]);
    sh(&[
        "ip",
        "-n",
        n,
        "route",
        "add",
        "10.88.0.0/16",
        "via",
        "10.77.0.254",
    ]);
    sh(&[
        "ip",
        "-n",
        n,
        "neigh",
        "add",
        "10.77.0.254",
        "lladdr",
        "02:00:00:00:00:fe",
        "dev",
        &dummy,
    ]);
    let (hop, mac, none) = ns
        .netns()
        .run(|| {
            let r = Rtnl::open()?;
            let hop = r.route_get("10.88.1.2".parse().unwrap(), None)?;
            let mac = r.neigh_get(hop.oif, hop.gateway.unwrap())?;
            let none = r.neigh_get(hop.oif, "10.77.0.9".parse().unwrap())?;
            Ok((hop, mac, none))
        })
        .unwrap();
    assert_eq!(hop.gateway, Some("10.77.0.254".parse().unwrap()));
    assert_eq!(mac, Some(vec![2, 0, 0, 0, 0, 0xfe]));
    assert_eq!(none, None);
}

#[test]
fn bad_device_requests_are_refused_before_touching_the_system() {
    let long = "a234567890123456";
    let err = TunDevice::open(&TunConfig::new(long, TunKind::Tun)).unwrap_err();
    assert!(
        matches!(err, netkit_io::Error::Invalid(_)) && err.to_string().contains(long),
        "{err}"
    );
    let err = TunDevice::open(&TunConfig::new("nkq", TunKind::Tun).queues(0)).unwrap_err();
    assert!(err.to_string().contains("0 queues"), "{err}");
    let err = TunDevice::open(&TunConfig::new("nkq", TunKind::Tun).queues(257)).unwrap_err();
    assert!(err.to_string().contains("257 queues"), "{err}");
    let err = netkit_io::poll::set_realtime(0).unwrap_err();
    assert!(matches!(err, netkit_io::Error::Invalid(_)), "{err}");
}

#[test]
fn reattach_to_a_missing_device_names_it() {
    if !require(
        "reattach_to_a_missing_device_names_it",
        "root and /dev/net/tun",
        have_root_and_tun(),
    ) {
        return;
    }
    // Without IFF_TUN_EXCL the kernel would create it; reattach means "attach or create", so
    // a missing name is created: check that it then exists and is deleted again cleanly.
    let name = unique_name("nkr");
    let dev = TunDevice::open(&TunConfig::new(&name, TunKind::Tun).reattach()).unwrap();
    assert_eq!(
        Rtnl::open().unwrap().link_by_name(&name).unwrap().ifindex,
        dev.ifindex()
    );
    dev.delete().unwrap();
    let err = Rtnl::open().unwrap().link_by_name(&name).unwrap_err();
    assert!(err.to_string().contains(&name), "{err}");
}

#[test]
fn a_moved_tun_keeps_its_queues_and_reports_its_new_namespace() {
    if !require(
        "a_moved_tun_keeps_its_queues_and_reports_its_new_namespace",
        "root and /dev/net/tun",
        have_root_and_tun(),
    ) {
        return;
    }
    let (a, b) = (
        NamedNetns::create(&unique_name("nkio")).unwrap(),
        NamedNetns::create(&unique_name("nkio")).unwrap(),
    );
    let name = unique_name("nkt");
    let dev = TunDevice::open(&TunConfig::new(&name, TunKind::Tun).netns(a.netns())).unwrap();
    assert_eq!(dev.current_netns().unwrap(), a.netns().id().unwrap());
    let ifindex = dev.ifindex();
    let target = b.netns().open().unwrap();
    a.netns()
        .run(|| Rtnl::open()?.set_netns(ifindex, std::os::fd::AsFd::as_fd(&target)))
        .unwrap();
    // Gone from a, in b under its name and ifindex; our queue still attached to it.
    assert!(a.netns().run(|| Rtnl::open()?.link(ifindex)).is_err());
    let there = b.netns().run(|| Rtnl::open()?.link_by_name(&name)).unwrap();
    assert_eq!(there.ifindex, ifindex);
    assert_eq!(dev.queues()[0].attached_name().unwrap(), name);
    assert_eq!(dev.current_netns().unwrap(), b.netns().id().unwrap());
    assert_ne!(a.netns().id().unwrap(), b.netns().id().unwrap());
}

#[test]
fn a_tun_is_created_at_the_ifindex_asked_for_and_a_taken_one_is_ebusy() {
    if !require(
        "a_tun_is_created_at_the_ifindex_asked_for_and_a_taken_one_is_ebusy",
        "root and /dev/net/tun",
        have_root_and_tun(),
    ) {
        return;
    }
    let ns = NamedNetns::create(&unique_name("nkio")).unwrap();
    let name = unique_name("nkt");
    let cfg = TunConfig::new(&name, TunKind::Tun)
        .netns(ns.netns())
        .queues(2)
        .ifindex(77);
    let dev = TunDevice::open(&cfg).unwrap();
    assert_eq!(dev.ifindex(), 77);
    assert_eq!(dev.rtnl(|r| r.link_by_name(&name)).unwrap().ifindex, 77);
    // Another device at 77 in that namespace, and one at lo's 1: EBUSY, nothing created.
    for at in [77, 1] {
        let other = unique_name("nkt");
        let err = TunDevice::open(
            &TunConfig::new(&other, TunKind::Tun)
                .netns(ns.netns())
                .ifindex(at),
        )
        .unwrap_err();
        assert_eq!(err.errno(), Some(libc::EBUSY), "{err}");
        let gone = ns.netns().run(move || Rtnl::open()?.link_by_name(&other));
        assert!(gone.is_err(), "a device was left behind at {at}");
    }
    // The same ifindex is free in another namespace.
    let ns2 = NamedNetns::create(&unique_name("nkio")).unwrap();
    let twin = TunDevice::open(
        &TunConfig::new(&name, TunKind::Tun)
            .netns(ns2.netns())
            .ifindex(77),
    )
    .unwrap();
    assert_eq!(twin.ifindex(), 77);
    twin.delete().unwrap();
    dev.delete().unwrap();
}
