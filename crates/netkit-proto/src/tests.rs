use super::*;

#[test]
fn hex_round_trips_and_rejects_garbage() {
    let bytes: Vec<u8> = (0..=255).collect();
    assert_eq!(hex::decode(&hex::encode(&bytes)).unwrap(), bytes);
    assert_eq!(hex::decode("0x0a 00 ff").unwrap(), vec![0x0a, 0, 0xff]);
    assert_eq!(
        hex::decode("DEADbeef").unwrap(),
        vec![0xde, 0xad, 0xbe, 0xef]
    );
    assert!(hex::decode("abc").unwrap_err().contains("odd"));
    assert!(hex::decode("zz").unwrap_err().contains("not a hex digit"));
}

#[test]
fn requests_have_a_stable_wire_form() {
    let env = RequestEnvelope {
        version: PROTOCOL_VERSION,
        seq: 7,
        request: Request::LinkSet(LinkSetReq {
            name: "nk1".into(),
            policy: Some(Policy::Blackhole),
            peer_policy: None,
        }),
    };
    let text = serde_json::to_string(&env).unwrap();
    assert_eq!(
        text,
        r#"{"version":2,"seq":7,"request":{"op":"link_set","name":"nk1","policy":"blackhole","peer_policy":null}}"#
    );
    let back: RequestEnvelope = serde_json::from_str(&text).unwrap();
    assert_eq!(back, env);
    // Absent optional fields default to None.
    let short: Request = serde_json::from_str(r#"{"op":"link_show"}"#).unwrap();
    assert_eq!(short, Request::LinkShow { name: None });
    let anchor: Request = serde_json::from_str(
        r#"{"op":"prog_attach","prog_id":3,"dev":"nk1","hook":"peer","anchor":{"before_link":9}}"#,
    )
    .unwrap();
    match anchor {
        Request::ProgAttach(a) => assert_eq!(a.anchor, Some(Anchor::BeforeLink(9))),
        other => panic!("decoded as {other:?}"),
    }
}

#[test]
fn unknown_ops_are_rejected_by_the_decoder() {
    let err = serde_json::from_str::<Request>(r#"{"op":"link_explode"}"#).unwrap_err();
    assert!(err.to_string().contains("link_explode"), "{err}");
}

#[test]
fn response_envelope_carries_one_of_ok_or_error() {
    let ok = ResponseEnvelope::from_result(1, Ok(Response::Done));
    assert_eq!(
        serde_json::to_string(&ok).unwrap(),
        r#"{"version":2,"seq":1,"ok":{"kind":"done"}}"#
    );
    let err = ResponseEnvelope::from_result(2, Err(WireError::enoent("no device \"x\"")));
    let text = serde_json::to_string(&err).unwrap();
    assert_eq!(
        text,
        r#"{"version":2,"seq":2,"error":{"errno":"ENOENT","code":2,"message":"no device \"x\""}}"#
    );
    let back: ResponseEnvelope = serde_json::from_str(&text).unwrap();
    assert_eq!(back.into_result().unwrap_err().errno, "ENOENT");
    let neither: ResponseEnvelope = serde_json::from_str(r#"{"version":2,"seq":3}"#).unwrap();
    assert_eq!(neither.into_result().unwrap_err().errno, "EPROTO");
}

#[test]
fn client_and_server_halves_talk_over_a_socket_pair() {
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let server = std::thread::spawn(move || {
        let mut reader = std::io::BufReader::new(b.try_clone().unwrap());
        let mut writer = b;
        let req: RequestEnvelope = read_line(&mut reader).unwrap().unwrap();
        assert_eq!(req.request, Request::Hello);
        let resp = ResponseEnvelope::from_result(
            req.seq,
            Ok(Response::Hello {
                protocol: PROTOCOL_VERSION,
                daemon: "test".into(),
            }),
        );
        write_line(&mut writer, &resp).unwrap();
    });
    let writer = a.try_clone().unwrap();
    let mut client = Client {
        reader: std::io::BufReader::new(a),
        writer,
        seq: 0,
    };
    match client.call(Request::Hello).unwrap() {
        Response::Hello { protocol, .. } => assert_eq!(protocol, PROTOCOL_VERSION),
        other => panic!("unexpected {other:?}"),
    }
    server.join().unwrap();
}
