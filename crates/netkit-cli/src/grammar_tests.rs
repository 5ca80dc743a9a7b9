use super::*;

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

fn req(s: &str) -> Request {
    match parse(&words(s)) {
        Ok(Command::Request(r)) => r,
        other => panic!("{s:?} parsed as {other:?}"),
    }
}

fn err(s: &str) -> String {
    match parse(&words(s)) {
        Err(e) => e,
        Ok(c) => panic!("{s:?} was accepted as {c:?}"),
    }
}

#[test]
fn link_add_takes_the_iproute2_grammar() {
    let r = req("link add nk1 type netkit mode l2 blackhole scrub none headroom 32 tailroom 0x10 peer forward scrub default name nk0 netns pod1");
    assert_eq!(
        r,
        Request::LinkAdd(LinkAddReq {
            name: Some("nk1".into()),
            mode: Some(Mode::L2),
            policy: Some(Policy::Blackhole),
            scrub: Some(Scrub::None),
            headroom: Some(32),
            tailroom: Some(16),
            peer_policy: Some(Policy::Forward),
            peer_scrub: Some(Scrub::Default),
            peer_name: Some("nk0".into()),
            peer_netns: Some("pod1".into()),
            ..LinkAddReq::default()
        })
    );
    // No name: the kernel's default naming applies.
    assert_eq!(
        req("link add type netkit"),
        Request::LinkAdd(LinkAddReq::default())
    );
    assert_eq!(
        req("link add name a type netkit peer blackhole"),
        Request::LinkAdd(LinkAddReq {
            name: Some("a".into()),
            peer_policy: Some(Policy::Blackhole),
            ..LinkAddReq::default()
        })
    );
}

#[test]
fn link_add_takes_requested_ifindexes() {
    let r = req("link add nk0 index 40 type netkit peer name nk1 index 41 netns pod");
    assert_eq!(
        r,
        Request::LinkAdd(LinkAddReq {
            name: Some("nk0".into()),
            ifindex: Some(40),
            peer_name: Some("nk1".into()),
            peer_ifindex: Some(41),
            peer_netns: Some("pod".into()),
            ..LinkAddReq::default()
        })
    );
    // `index` may come before the name; 0 asks for an allocated one.
    assert_eq!(
        req("link add index 0 name a type netkit"),
        Request::LinkAdd(LinkAddReq {
            name: Some("a".into()),
            ifindex: Some(0),
            ..LinkAddReq::default()
        })
    );
    assert!(err("link add a index -1 type netkit").contains("-1"));
    assert!(err("link add a index x type netkit").contains("\"x\""));
    assert!(err("link add a type netkit peer index").contains("index"));
    // As in iproute2, the primary's index is a link option, not a netkit one.
    assert!(err("link add a type netkit index 4").contains("index"));
}

#[test]
fn link_add_errors_name_the_bad_word() {
    assert!(err("link add nk1 type veth").contains("veth"));
    assert!(err("link add nk1").contains("type netkit"));
    assert!(err("link add nk1 type netkit mode l4").contains("l4"));
    assert!(err("link add nk1 type netkit headroom 70000").contains("70000"));
    assert!(err("link add nk1 type netkit headroom").contains("headroom"));
    assert!(err("link add nk1 type netkit peer mode l2").contains("mode"));
    assert!(err("link add nk1 type netkit bogus").contains("bogus"));
}

#[test]
fn link_set_del_show() {
    assert_eq!(
        req("link set dev nk1 blackhole peer forward"),
        Request::LinkSet(LinkSetReq {
            name: "nk1".into(),
            policy: Some(Policy::Blackhole),
            peer_policy: Some(Policy::Forward),
            netns: None,
        })
    );
    assert_eq!(
        req("link set eth0 netns pod1"),
        Request::LinkSet(LinkSetReq {
            name: "eth0".into(),
            netns: Some("pod1".into()),
            ..LinkSetReq::default()
        })
    );
    assert!(err("link set eth0 netns").contains("netns"));
    assert!(err("link set nk1").contains("needs"));
    assert!(err("link set nk1 peer sideways").contains("sideways"));
    assert_eq!(req("link del nk1"), Request::LinkDel { name: "nk1".into() });
    assert!(err("link del").contains("device name"));
    assert_eq!(req("link show"), Request::LinkShow { name: None });
    assert_eq!(req("link"), Request::LinkShow { name: None });
    assert_eq!(
        req("link show dev nk1"),
        Request::LinkShow {
            name: Some("nk1".into())
        }
    );
    assert!(err("link frob").contains("frob"));
}

#[test]
fn prog_commands_follow_bpftool() {
    assert_eq!(
        parse(&words("prog load x.o section netkit/peer name pol")).unwrap(),
        Command::ProgLoad {
            path: "x.o".into(),
            section: Some("netkit/peer".into()),
            name: Some("pol".into()),
        }
    );
    assert_eq!(req("prog show id 3"), Request::ProgShow { id: Some(3) });
    assert_eq!(req("prog show"), Request::ProgShow { id: None });
    assert!(err("prog show id x").contains("\"x\""));
    assert_eq!(
        req("prog attach id 4 dev nk1 peer before link 2 replace id 3 expected-revision 7"),
        Request::ProgAttach(ProgAttachReq {
            prog_id: 4,
            dev: "nk1".into(),
            hook: Hook::Peer,
            anchor: Some(Anchor::BeforeLink(2)),
            replace_prog_id: Some(3),
            expected_revision: Some(7),
        })
    );
    assert_eq!(
        req("prog detach dev nk1 primary after"),
        Request::ProgDetach(ProgDetachReq {
            prog_id: None,
            dev: "nk1".into(),
            hook: Hook::Primary,
            anchor: Some(Anchor::Last),
            expected_revision: None,
        })
    );
    assert!(err("prog attach dev nk1 peer").contains("id N"));
    assert!(err("prog attach id 1 dev nk1").contains("primary or peer"));
    assert!(err("prog attach id 1 dev nk1 middle").contains("middle"));
    assert!(err("prog attach id 1").contains("dev NAME"));
    assert!(err("prog detach id 1 dev nk1 peer replace id 2").contains("replace"));
    assert_eq!(
        parse(&words("prog run raw f.bin")).unwrap(),
        Command::ProgRun(words("raw f.bin"))
    );
}

#[test]
fn bpflink_and_map_commands() {
    assert_eq!(
        req("bpflink create id 2 dev nk1 primary first"),
        Request::BpflinkCreate(BpflinkCreateReq {
            prog_id: 2,
            dev: "nk1".into(),
            hook: Hook::Primary,
            anchor: Some(Anchor::First),
            expected_revision: None,
        })
    );
    assert_eq!(
        req("bpflink update id 1 prog id 5 replace 2"),
        Request::BpflinkUpdate {
            id: 1,
            prog_id: 5,
            old_prog_id: Some(2)
        }
    );
    assert!(err("bpflink update id 1").contains("prog N"));
    assert_eq!(req("bpflink detach id 1"), Request::BpflinkDetach { id: 1 });
    assert_eq!(
        req("map update id 3 key 0x01 2 0 0 value hex 0a0b0c0d noexist"),
        Request::MapUpdate {
            id: 3,
            key: "01020000".into(),
            value: "0a0b0c0d".into(),
            flag: UpdateFlag::NoExist,
        }
    );
    assert!(err("map lookup id 3 key 300").contains("300"));
    assert!(err("map lookup id 3").contains("key"));
    assert!(err("map dump").contains("id M"));
    assert!(err("map update id 3 key 1").contains("value"));
}

#[test]
fn unknown_objects_and_empty_input_are_errors() {
    assert!(err("").contains("no command"));
    assert!(err("route add").contains("route"));
    assert_eq!(parse(&words("help")).unwrap(), Command::Help(None));
    for w in ["link help", "link -h", "daemon --help", "map help"] {
        let object = w.split_whitespace().next().unwrap().to_string();
        assert_eq!(
            parse(&words(w)).unwrap(),
            Command::Help(Some(object)),
            "{w}"
        );
    }
    assert!(parse(&words("nosuch help")).is_err());
    let link = usage(Some("link"));
    assert!(
        link.contains("netkit link add") && link.contains("[index M]"),
        "{link}"
    );
    assert!(!link.contains("netkit prog"), "{link}");
    let prog = usage(Some("prog"));
    assert!(
        prog.contains("prog attach") && prog.contains("ANCHOR :="),
        "{prog}"
    );
    assert!(!prog.contains("BYTES  :="), "{prog}");
    assert!(usage(Some("map")).contains("BYTES  :="));
    assert!(usage(Some("daemon")).contains("--model-only"));
}
