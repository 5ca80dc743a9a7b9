//! Request encoding and dump decoding, without a kernel.

use netkit_core::*;

use super::{new_link_msg, Dumped};
use crate::netlink::consts::*;
use crate::netlink::{self, IfInfoMsg, LinkMsg, Reply};

/// The attributes after nlmsghdr + ifinfomsg.
fn body(msg: &[u8]) -> &[u8] {
    &msg[32..]
}

fn info_data(msg: &[u8]) -> Vec<u8> {
    let info = netlink::find(body(msg), IFLA_LINKINFO).expect("IFLA_LINKINFO");
    assert_eq!(
        netlink::find(info, IFLA_INFO_KIND)
            .map(netlink::get_str)
            .as_deref(),
        Some("netkit")
    );
    netlink::find(info, IFLA_INFO_DATA)
        .expect("IFLA_INFO_DATA")
        .to_vec()
}

#[test]
fn a_default_request_adds_no_netkit_attribute() {
    let msg = new_link_msg(&NewLink::default(), None).finish(1);
    assert_eq!(
        &msg[16..32],
        &[0u8; 16][..],
        "ifindex 0: the kernel allocates"
    );
    let flags = u16::from_ne_bytes([msg[6], msg[7]]);
    assert_eq!(flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
    assert_eq!(
        netlink::find(body(&msg), IFLA_IFNAME),
        None,
        "kernel picks the names"
    );
    assert!(info_data(&msg).is_empty(), "the kernel's defaults apply");
}

#[test]
fn every_attribute_is_sent_as_given() {
    let req = NewLink {
        name: Some("nk1".into()),
        primary: Some(1),
        mode: Some(7),
        policy: Some(u32::MAX),
        peer_policy: Some(2),
        scrub: Some(0),
        peer_scrub: Some(5),
        headroom: Some(128),
        tailroom: Some(64),
        pairing: Some(1),
        mtu: Some(9000),
        address: Some(vec![2, 0, 0, 0, 0, 1]),
        peer: Some(PeerInfo {
            name: Some("eth0".into()),
            mtu: Some(1400),
            address: Some(vec![1, 2, 3]),
            netns: Some("pod".into()),
            ifindex: 41,
        }),
        ifindex: 40,
    };
    let msg = new_link_msg(&req, Some(42)).finish(9);
    let ifi_index = |ifinfo: &[u8]| i32::from_ne_bytes(ifinfo[4..8].try_into().unwrap());
    assert_eq!(
        ifi_index(&msg[16..32]),
        40,
        "the primary's ifindex in the header"
    );
    let top = body(&msg);
    assert_eq!(
        netlink::find(top, IFLA_IFNAME)
            .map(netlink::get_str)
            .as_deref(),
        Some("nk1")
    );
    assert_eq!(
        netlink::find(top, IFLA_MTU).and_then(netlink::get_u32),
        Some(9000)
    );
    assert_eq!(
        netlink::find(top, IFLA_ADDRESS),
        Some(&[2u8, 0, 0, 0, 0, 1][..])
    );
    let data = info_data(&msg);
    let u32_of = |ty| netlink::find(&data, ty).and_then(netlink::get_u32);
    assert_eq!(netlink::find(&data, IFLA_NETKIT_PRIMARY), Some(&[1u8][..]));
    assert_eq!(
        u32_of(IFLA_NETKIT_MODE),
        Some(7),
        "out-of-range values reach the kernel"
    );
    assert_eq!(u32_of(IFLA_NETKIT_POLICY), Some(u32::MAX));
    assert_eq!(u32_of(IFLA_NETKIT_PEER_POLICY), Some(2));
    assert_eq!(u32_of(IFLA_NETKIT_SCRUB), Some(0));
    assert_eq!(u32_of(IFLA_NETKIT_PEER_SCRUB), Some(5));
    assert_eq!(u32_of(IFLA_NETKIT_PAIRING), Some(1));
    let u16_of = |ty| {
        netlink::find(&data, ty)
            .map(|p| p.len())
            .zip(netlink::find(&data, ty).and_then(netlink::get_u16))
    };
    assert_eq!(u16_of(IFLA_NETKIT_HEADROOM), Some((2, 128)), "u16 payloads");
    assert_eq!(u16_of(IFLA_NETKIT_TAILROOM), Some((2, 64)));
    // PEER_INFO: a whole ifinfomsg, then the peer's own attributes.
    let peer = netlink::find(&data, IFLA_NETKIT_PEER_INFO).expect("PEER_INFO");
    assert_eq!(
        ifi_index(&peer[..16]),
        41,
        "the peer's ifindex in its ifinfomsg"
    );
    assert_eq!(&peer[..4], &[0u8; 4][..]);
    assert_eq!(&peer[8..16], &[0u8; 8][..]);
    let attrs = &peer[16..];
    assert_eq!(
        netlink::find(attrs, IFLA_IFNAME)
            .map(netlink::get_str)
            .as_deref(),
        Some("eth0")
    );
    assert_eq!(
        netlink::find(attrs, IFLA_MTU).and_then(netlink::get_u32),
        Some(1400)
    );
    assert_eq!(
        netlink::find(attrs, IFLA_ADDRESS),
        Some(&[1u8, 2, 3][..]),
        "bad lengths too"
    );
    assert_eq!(
        netlink::find(attrs, IFLA_NET_NS_FD).and_then(netlink::get_u32),
        Some(42)
    );
}

/// A dump message as the kernel would send it for a netkit peer.
fn dumped_peer() -> Vec<u8> {
    let header = IfInfoMsg {
        index: 7,
        flags: IFF_UP | IFF_LOWER_UP,
        change: 0,
    };
    let mut stats = Vec::new();
    for v in [11u64, 22, 333, 444, 0, 0, 5, 6] {
        stats.extend_from_slice(&v.to_ne_bytes());
    }
    stats.resize(200, 0);
    let mut m = LinkMsg::new(RTM_NEWLINK, 0, header);
    m.str(IFLA_IFNAME, "nk0")
        .u32(IFLA_MTU, 1500)
        .attr(IFLA_ADDRESS, &[0; 6])
        .u32(IFLA_LINK, 8)
        .u8(IFLA_CARRIER, 1)
        .attr(IFLA_STATS64, &stats)
        .begin_nest(IFLA_LINKINFO)
        .str(IFLA_INFO_KIND, "netkit")
        .begin_nest(IFLA_INFO_DATA)
        .u8(IFLA_NETKIT_PRIMARY, 0)
        .u32(IFLA_NETKIT_POLICY, 2)
        .u32(IFLA_NETKIT_MODE, 0)
        .u32(IFLA_NETKIT_PEER_POLICY, 0)
        .end_nest()
        .end_nest();
    m.finish(3)
}

#[test]
fn a_dump_becomes_link_info_with_defaults_for_absent_attributes() {
    let msg = dumped_peer();
    let parsed = netlink::parse(&msg);
    let [(3, _, Reply::Link { ifi, attrs })] = parsed.as_slice() else {
        panic!("one link message expected: {parsed:?}");
    };
    let d = Dumped::parse(*ifi, attrs);
    let nk = d.netkit.clone().expect("netkit data");
    assert_eq!(
        nk.order,
        vec![
            IFLA_NETKIT_PRIMARY,
            IFLA_NETKIT_POLICY,
            IFLA_NETKIT_MODE,
            IFLA_NETKIT_PEER_POLICY
        ]
    );
    let info = d.to_link_info(Some("pod".into())).expect("a netkit device");
    assert_eq!(
        info,
        LinkInfo {
            ifindex: IfIndex(7),
            name: "nk0".into(),
            peer_ifindex: Some(IfIndex(8)),
            netns: Some("pod".into()),
            primary: false,
            policy: Policy::Drop,
            peer_policy: Some(Policy::Pass),
            mode: Mode::L2,
            // A kernel without the SCRUB attribute scrubs by default.
            scrub: Scrub::Default,
            peer_scrub: None,
            headroom: 0,
            tailroom: 0,
            pairing: Pairing::Pair,
            mtu: 1500,
            address: [0; 6],
            up: true,
            carrier: true,
            stats: Stats {
                rx_packets: 11,
                tx_packets: 22,
                rx_bytes: 333,
                tx_bytes: 444,
                rx_dropped: 5,
                tx_dropped: 6,
            },
        }
    );
}

#[test]
fn non_netkit_devices_have_no_link_info_and_garbage_is_harmless() {
    let mut m = LinkMsg::new(
        RTM_NEWLINK,
        0,
        IfInfoMsg {
            index: 1,
            flags: 0,
            change: 0,
        },
    );
    m.str(IFLA_IFNAME, "lo")
        .begin_nest(IFLA_LINKINFO)
        .str(IFLA_INFO_KIND, "veth")
        .end_nest();
    let msg = m.finish(1);
    let parsed = netlink::parse(&msg);
    let [(_, _, Reply::Link { ifi, attrs })] = parsed.as_slice() else {
        panic!("{parsed:?}")
    };
    let d = Dumped::parse(*ifi, attrs);
    assert_eq!(d.kind.as_deref(), Some("veth"));
    assert_eq!(d.to_link_info(None), None);
    let whole = dumped_peer();
    for cut in 0..whole.len() {
        for (_, _, reply) in netlink::parse(&whole[..cut]) {
            if let Reply::Link { ifi, attrs } = reply {
                let _ = Dumped::parse(ifi, attrs).to_link_info(None);
            }
        }
    }
}
