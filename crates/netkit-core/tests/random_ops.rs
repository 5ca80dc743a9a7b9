//! Random operation sequences: the model never panics, a failed operation changes nothing
//! visible, and the invariants of bpf_mprog hold after every step.

mod common;

use common::*;
use netkit_core::flags::*;
use netkit_core::*;

/// xorshift64*: deterministic, so a failure reproduces from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
}

/// Everything a caller can observe about the programs and links.
fn snapshot(b: &UserBackend, devs: &[IfIndex], handles: &[Handle]) -> String {
    let mut out = String::new();
    for d in devs {
        for hook in HOOKS {
            let q = QueryReq {
                ifindex: *d,
                hook,
                query_flags: 0,
                attach_flags: 0,
                capacity: Some(64),
            };
            out += &format!("{d:?} {hook:?} {:?}\n", b.prog_query(&q));
        }
        out += &format!(
            "{:?}\n",
            b.link_get(*d)
                .map(|i| (i.policy, i.peer_policy, i.up, i.carrier))
        );
    }
    for h in handles {
        out += &format!("{h:?} {:?}\n", b.link_info(*h));
    }
    out += &format!(
        "{:?}\n",
        b.prog_list().iter().map(|p| p.id).collect::<Vec<_>>()
    );
    out
}

fn check_invariants(b: &UserBackend, primaries: &[IfIndex]) {
    for p in primaries {
        for hook in HOOKS {
            let q = QueryReq {
                ifindex: *p,
                hook,
                query_flags: 0,
                attach_flags: 0,
                capacity: Some(64),
            };
            let Ok(r) = b.prog_query(&q) else { continue };
            assert!(r.count <= 63);
            assert_eq!(r.count as usize, r.progs.len());
            let mut ids: Vec<ProgId> = r.progs.iter().map(|e| e.0).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(
                ids.len(),
                r.progs.len(),
                "a program appears at most once per hook"
            );
            assert!(r.count > 0 || r.revision == 1);
        }
    }
}

#[test]
fn random_sequences_keep_the_model_consistent() {
    let mut succeeded = [0u32; 10];
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut b = UserBackend::default();
        let mut primaries = Vec::new();
        let mut devs = vec![IfIndex(1), IfIndex(999)];
        for _ in 0..2 {
            let c = b.link_add(&NewLink::default()).unwrap();
            primaries.push(c.primary);
            devs.extend([c.primary, c.peer.unwrap()]);
        }
        for d in devs.clone() {
            let _ = b.link_set_up(d, true);
        }
        let mut handles: Vec<Handle> = (0..6)
            .map(|i| b.prog_load(&ProgSource::Constant(i - 1)).unwrap().0)
            .collect();
        handles.extend([Handle(0), Handle(2), Handle(77)]);
        let flag_bits = [
            0,
            REPLACE,
            BEFORE,
            AFTER,
            ID,
            LINK,
            BEFORE | ID,
            AFTER | LINK,
            BEFORE | AFTER,
            1 << 20,
        ];
        for step in 0..400 {
            let before = snapshot(&b, &devs, &handles);
            // Biased towards requests that can succeed, so that state actually evolves.
            let dev = if rng.below(4) > 0 {
                rng.pick(&primaries)
            } else {
                rng.pick(&devs)
            };
            let hook = rng.pick(&HOOKS);
            let prog = rng.pick(&handles);
            let flags = match rng.below(3) {
                0 => 0,
                1 => rng.pick(&flag_bits),
                _ => rng.pick(&flag_bits) | rng.pick(&flag_bits),
            };
            let rel = match rng.below(4) {
                0 | 1 => 0,
                2 => rng.pick(&handles).0,
                _ => rng.below(12) as u32,
            };
            let rev = if rng.below(4) > 0 {
                0
            } else {
                rng.pick(&[1, 2, 3, 5, 8])
            };
            let op = rng.below(10);
            let result: Result<(), Errno> = match op {
                0 | 1 => b
                    .prog_attach(&AttachReq {
                        ifindex: dev,
                        hook,
                        prog,
                        flags,
                        relative: Relative(rel),
                        replace: Some(rng.pick(&handles)),
                        expected_revision: rev,
                    })
                    .map_err(|e| e.errno),
                2 | 3 => b
                    .prog_detach(&DetachReq {
                        ifindex: dev,
                        hook,
                        prog: Some(prog).filter(|_| rng.below(2) == 0),
                        flags,
                        relative: Relative(rel),
                        expected_revision: rev,
                    })
                    .map_err(|e| e.errno),
                4 | 5 => b
                    .link_create(&LinkCreateReq {
                        ifindex: dev,
                        hook,
                        prog,
                        flags,
                        relative: Relative(rel),
                        expected_revision: rev,
                    })
                    .map(|(h, _)| handles.push(h))
                    .map_err(|e| e.errno),
                6 => b
                    .link_update(prog, rng.pick(&handles), None)
                    .map_err(|e| e.errno),
                7 => b.link_detach(prog).map_err(|e| e.errno),
                8 => match rng.below(3) {
                    0 => b.link_close(prog).map_err(|e| e.errno),
                    1 => b.link_set_up(dev, rng.below(2) == 0).map_err(|e| e.errno),
                    _ => b
                        .transmit(dev, &frame([0; 6]))
                        .map(|_| ())
                        .map_err(|e| e.errno),
                },
                _ => {
                    let c = ChangeLink {
                        policy: Some(rng.pick(&[0, 2, 7])),
                        ..ChangeLink::default()
                    };
                    b.link_change(dev, &c).map_err(|e| e.errno)
                }
            };
            if result.is_ok() {
                succeeded[op as usize] += 1;
            }
            if result.is_err() && op != 9 {
                let after = snapshot(&b, &devs, &handles);
                assert_eq!(
                    before, after,
                    "seed {seed} step {step}: op {op} failed with {result:?} but changed state"
                );
            }
            check_invariants(&b, &primaries);
        }
        // Deleting everything leaves only defunct links and programs held by handles.
        for p in &primaries {
            b.link_del(*p).unwrap();
        }
        for h in &handles {
            if let Ok(info) = b.link_info(*h) {
                assert_eq!(
                    info.ifindex, 0,
                    "seed {seed}: links are defunct after deletion"
                );
            }
        }
    }
    // The sequences are not vacuous: every kind of operation succeeded sometimes.
    for (op, n) in succeeded.iter().enumerate() {
        assert!(*n > 0, "operation {op} never succeeded: {succeeded:?}");
    }
    eprintln!("successful operations by kind: {succeeded:?}");
}

#[test]
fn random_creations_either_succeed_whole_or_leave_nothing() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut b = UserBackend::default();
    let mut live = 0usize;
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..3000 {
        // Mostly valid values (0 is valid everywhere), sometimes out of range.
        let small = |rng: &mut Rng| {
            Some(rng.pick(&[0u32, 0, 0, 0, 0, 0, 1, 2, 7, u32::MAX])).filter(|_| rng.below(2) == 0)
        };
        let mac = |rng: &mut Rng| {
            let macs: [&[u8]; 5] = [
                &[2, 0, 0, 0, 0, 1],
                &[1, 0, 0, 0, 0, 1],
                &[0; 6],
                &[2, 0, 0],
                &[2, 0, 0, 0, 0, 2, 9],
            ];
            Some(rng.pick(&macs).to_vec()).filter(|_| rng.below(8) == 0)
        };
        let name = |rng: &mut Rng| {
            Some(
                rng.pick(&["a", "nk0", "nk%d", "nk%d", "x y", "waytoolongname123"])
                    .to_string(),
            )
            .filter(|_| rng.below(4) == 0)
        };
        // Requested ifindexes (mostly none): taken ones, loopback's, negative ones.
        let ifindex = |rng: &mut Rng| {
            let i = rng.pick(&[1, 2, 3, 40, 41, -1]);
            if rng.below(4) == 0 {
                i
            } else {
                0
            }
        };
        let req = NewLink {
            name: name(&mut rng),
            primary: Some(1).filter(|_| rng.below(50) == 0),
            mode: small(&mut rng),
            policy: small(&mut rng),
            peer_policy: small(&mut rng),
            scrub: small(&mut rng),
            peer_scrub: small(&mut rng),
            headroom: Some(32).filter(|_| rng.below(3) == 0),
            tailroom: None,
            pairing: small(&mut rng),
            mtu: Some(rng.pick(&[67, 68, 1500, 9000, 65535, 65536])).filter(|_| rng.below(4) == 0),
            address: mac(&mut rng),
            peer: Some(PeerInfo {
                name: name(&mut rng),
                mtu: Some(rng.pick(&[10, 1400, 1400])).filter(|_| rng.below(4) == 0),
                address: mac(&mut rng),
                netns: Some("pod".to_string()).filter(|_| rng.below(2) == 0),
                ifindex: ifindex(&mut rng),
            })
            .filter(|_| rng.below(2) == 0),
            ifindex: ifindex(&mut rng),
        };
        let progs_before: Vec<String> = b.prog_list().iter().map(|p| p.name.clone()).collect();
        match b.link_add(&req) {
            Ok(c) => {
                ok += 1;
                live += 1 + c.peer.is_some() as usize;
                if req.ifindex != 0 {
                    assert_eq!(
                        c.primary,
                        IfIndex(req.ifindex as u32),
                        "the requested ifindex"
                    );
                    let peer_at = req.peer.as_ref().map_or(0, |p| p.ifindex);
                    if peer_at != 0 {
                        assert_eq!(c.peer, Some(IfIndex(peer_at as u32)));
                    }
                }
                let p = b.link_get(c.primary).unwrap();
                assert!((68..=65535).contains(&p.mtu) && p.primary);
                assert_eq!(p.peer_ifindex, c.peer);
                if p.mode == Mode::L3 {
                    assert_eq!(p.address, [0; 6]);
                } else {
                    assert_eq!(p.address[0] & 1, 0, "unicast");
                }
                // Keep the namespace small: delete now and then.
                if rng.below(2) == 0 {
                    b.link_del(c.primary).unwrap();
                    live -= 1 + c.peer.is_some() as usize;
                }
            }
            Err(e) => {
                failed += 1;
                assert!(!e.msg.is_empty());
                assert!(e.errno != Errno::EBADF && e.errno != Errno::ENOENT, "{e}");
            }
        }
        let mut count = 0;
        for ns in [None, Some("pod")] {
            b.set_caller_netns(ns);
            count += b.link_list().len();
        }
        b.set_caller_netns(None);
        assert_eq!(count, live, "a failed creation left a device behind");
        assert_eq!(progs_before.len(), b.prog_list().len());
    }
    assert!(ok > 200 && failed > 200, "ok {ok} failed {failed}");
}
