//! Map semantics from Rust and from programs: flags, errnos, per-CPU values, eviction,
//! longest-prefix match, tail calls, ring buffer and perf records, concurrent atomics.

mod common;
use std::sync::Arc;

use common::*;
use netkit_bpf::insn::*;
use netkit_bpf::maps::{num_cpus, BPF_ANY, BPF_EXIST, BPF_NOEXIST};
use netkit_bpf::obj::MapType;
use netkit_bpf::skb::Skb;
use netkit_bpf::{Map, MapDef, MapError};

fn k(i: u32) -> [u8; 4] {
    i.to_le_bytes()
}

#[test]
fn array_semantics() {
    let m = map(MapType::Array, 4, 8, 4);
    assert_eq!(m.lookup(&k(3)).unwrap(), vec![0; 8], "preallocated, zeroed");
    assert_eq!(m.lookup(&k(4)), Err(MapError::NotFound));
    assert_eq!(m.update(&k(1), &[7; 8], BPF_ANY), Ok(()));
    assert_eq!(m.update(&k(1), &[8; 8], BPF_EXIST), Ok(()));
    assert_eq!(m.update(&k(1), &[9; 8], BPF_NOEXIST), Err(MapError::Exists));
    assert_eq!(m.update(&k(4), &[9; 8], BPF_ANY), Err(MapError::Full));
    assert_eq!(m.update(&k(1), &[9; 8], 3), Err(MapError::Invalid));
    assert_eq!(m.delete(&k(1)), Err(MapError::Invalid));
    assert_eq!(m.lookup(&k(1)).unwrap(), vec![8; 8]);
    assert_eq!(m.keys().len(), 4);
    assert_eq!(MapError::Full.errno(), 7);
    assert!(Map::new(
        "bad",
        MapDef {
            key_size: 8,
            ..m.def().clone()
        }
    )
    .is_err());
}

#[test]
fn hash_semantics() {
    let m = map(MapType::Hash, 4, 4, 2);
    assert_eq!(m.lookup(&k(1)), Err(MapError::NotFound));
    assert_eq!(m.update(&k(1), &k(10), BPF_EXIST), Err(MapError::NotFound));
    assert_eq!(m.update(&k(1), &k(10), BPF_NOEXIST), Ok(()));
    assert_eq!(m.update(&k(1), &k(11), BPF_NOEXIST), Err(MapError::Exists));
    assert_eq!(m.update(&k(2), &k(20), BPF_ANY), Ok(()));
    assert_eq!(
        m.update(&k(3), &k(30), BPF_ANY),
        Err(MapError::Full),
        "E2BIG when full"
    );
    assert_eq!(
        m.update(&k(2), &k(21), BPF_ANY),
        Ok(()),
        "replacing works when full"
    );
    assert_eq!(m.lookup(&k(2)).unwrap(), k(21));
    let mut keys = m.keys();
    keys.sort();
    assert_eq!(keys, vec![k(1).to_vec(), k(2).to_vec()]);
    assert_eq!(m.delete(&k(1)), Ok(()));
    assert_eq!(m.delete(&k(1)), Err(MapError::NotFound));
    assert_eq!(m.lookup(&[1, 2]), Err(MapError::Invalid), "wrong key size");
}

#[test]
fn lru_evicts_least_recently_used() {
    let m = map(MapType::LruHash, 4, 4, 3);
    for i in 0..3 {
        m.update(&k(i), &k(i), BPF_ANY).unwrap();
    }
    // Touch 0 from a program-visible path (Rust update counts as use too).
    m.update(&k(0), &k(100), BPF_EXIST).unwrap();
    m.update(&k(3), &k(3), BPF_ANY).unwrap();
    assert_eq!(
        m.lookup(&k(1)),
        Err(MapError::NotFound),
        "1 was least recently used"
    );
    assert_eq!(m.lookup(&k(0)).unwrap(), k(100));
    assert_eq!(m.keys().len(), 3);
}

#[test]
fn lpm_longest_prefix() {
    let m = map(MapType::LpmTrie, 8, 4, 16);
    let key = |plen: u32, a: [u8; 4]| {
        let mut v = plen.to_le_bytes().to_vec();
        v.extend_from_slice(&a);
        v
    };
    m.update(&key(8, [10, 0, 0, 0]), &k(8), BPF_ANY).unwrap();
    m.update(&key(24, [10, 1, 2, 0]), &k(24), BPF_ANY).unwrap();
    m.update(&key(0, [0; 4]), &k(0), BPF_ANY).unwrap();
    assert_eq!(m.lookup(&key(32, [10, 1, 2, 3])).unwrap(), k(24));
    assert_eq!(m.lookup(&key(32, [10, 1, 3, 3])).unwrap(), k(8));
    assert_eq!(m.lookup(&key(32, [11, 1, 3, 3])).unwrap(), k(0));
    assert_eq!(
        m.lookup(&key(16, [10, 1, 2, 3])).unwrap(),
        k(8),
        "query prefix bounds matches"
    );
    assert_eq!(
        m.update(&key(33, [0; 4]), &k(1), BPF_ANY),
        Err(MapError::Invalid)
    );
    assert_eq!(
        m.delete(&key(24, [10, 1, 2, 99])),
        Ok(()),
        "host bits ignored"
    );
    assert_eq!(m.lookup(&key(32, [10, 1, 2, 3])).unwrap(), k(8));
    assert_eq!(m.delete(&key(24, [10, 1, 2, 0])), Err(MapError::NotFound));
}

#[test]
fn percpu_values_per_cpu() {
    let n = num_cpus() as usize;
    let m = map(MapType::PercpuArray, 4, 4, 2);
    assert_eq!(m.user_value_size(), 8 * n);
    // A program adds 5 to its CPU's value of element 1.
    let p = build(
        &prog![
            st(BPF_W, 10, -4, 1),
            ld_map(1, 0),
            mov64_reg(2, 10),
            alu64_imm(BPF_ADD, 2, -4),
            call(1),
            jmp_imm(BPF_JEQ, 0, 0, 2),
            mov64_imm(1, 5),
            atomic(BPF_W, 0, 1, 0, BPF_ADD as i32),
            mov64_imm(0, 0),
            exit()
        ],
        vec![m.clone()],
    );
    let last = (n - 1) as u32;
    for _ in 0..3 {
        assert_eq!(p.run_on_cpu(&mut Skb::from_frame(&[0; 14]), last), Ok(0));
    }
    let v = m.lookup(&k(1)).unwrap();
    for cpu in 0..n {
        let want = if cpu == n - 1 { 15 } else { 0 };
        assert_eq!(v[cpu * 8..cpu * 8 + 4], k(want), "cpu {cpu}");
    }
    // Rust updates set every CPU.
    let all: Vec<u8> = (0..n)
        .flat_map(|c| [c as u8, 0, 0, 0, 0, 0, 0, 0])
        .collect();
    m.update(&k(0), &all, BPF_ANY).unwrap();
    assert_eq!(m.lookup(&k(0)).unwrap(), all);

    let h = map(MapType::PercpuHash, 4, 4, 4);
    h.update(&k(9), &vec![1; 8 * n], BPF_ANY).unwrap();
    assert_eq!(h.lookup(&k(9)).unwrap().len(), 8 * n);
}

/// The program: key = r_key; value = lookup(map, &key); if !value { update(map, &key,
/// &one, NOEXIST) } else { atomic add 1 }.
fn counter_prog(m: &Arc<Map>) -> netkit_bpf::Program {
    build(
        &prog![
            st(BPF_W, 10, -4, 7),
            st(BPF_DW, 10, -16, 1),
            ld_map(1, 0),
            mov64_reg(2, 10),
            alu64_imm(BPF_ADD, 2, -4),
            call(1),
            jmp_imm(BPF_JEQ, 0, 0, 4),
            mov64_imm(1, 1),
            atomic(BPF_DW, 0, 1, 0, BPF_ADD as i32),
            mov64_imm(0, 1),
            exit(),
            ld_map(1, 0),
            mov64_reg(2, 10),
            alu64_imm(BPF_ADD, 2, -4),
            mov64_reg(3, 10),
            alu64_imm(BPF_ADD, 3, -16),
            mov64_imm(4, BPF_NOEXIST as i32),
            call(2),
            exit()
        ],
        vec![m.clone()],
    )
}

#[test]
fn program_map_ops_and_concurrent_atomics() {
    let m = map(MapType::Hash, 4, 8, 16);
    let p = Arc::new(counter_prog(&m));
    assert_eq!(p.run(&mut Skb::from_frame(&[0; 14])), Ok(0), "created");
    assert_eq!(m.lookup(&k(7)).unwrap(), 1u64.to_le_bytes());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let p = p.clone();
            std::thread::spawn(move || {
                for _ in 0..2500 {
                    assert_eq!(p.run(&mut Skb::from_frame(&[0; 14])), Ok(1));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        m.lookup(&k(7)).unwrap(),
        10_001u64.to_le_bytes(),
        "no lost increments"
    );
}

#[test]
fn program_update_errnos() {
    let m = map(MapType::Hash, 4, 8, 1);
    m.update(&k(1), &[0; 8], BPF_ANY).unwrap();
    // The program's NOEXIST insert of key 7 into a full map returns -E2BIG.
    let p = counter_prog(&m);
    assert_eq!(p.run(&mut Skb::from_frame(&[0; 14])), Ok((-7i64) as u64));
    // Delete from a program: present → 0, absent → -ENOENT.
    let del = build(
        &prog![
            st(BPF_W, 10, -4, 1),
            ld_map(1, 0),
            mov64_reg(2, 10),
            alu64_imm(BPF_ADD, 2, -4),
            call(3),
            exit()
        ],
        vec![m.clone()],
    );
    assert_eq!(del.run(&mut Skb::from_frame(&[0; 14])), Ok(0));
    assert_eq!(del.run(&mut Skb::from_frame(&[0; 14])), Ok((-2i64) as u64));
    let arr = map(MapType::Array, 4, 8, 4);
    let del_arr = build(&del_insns(), vec![arr]);
    assert_eq!(
        del_arr.run(&mut Skb::from_frame(&[0; 14])),
        Ok((-22i64) as u64)
    );
}

fn del_insns() -> Vec<Insn> {
    prog![
        st(BPF_W, 10, -4, 1),
        ld_map(1, 0),
        mov64_reg(2, 10),
        alu64_imm(BPF_ADD, 2, -4),
        call(3),
        exit()
    ]
}

#[test]
fn map_value_bounds_and_readonly() {
    let m = map(MapType::Array, 4, 6, 2);
    // Access at value offset 4, size 4 runs past the 6-byte value.
    let p = build(
        &prog![
            st(BPF_W, 10, -4, 0),
            ld_map(1, 0),
            mov64_reg(2, 10),
            alu64_imm(BPF_ADD, 2, -4),
            call(1),
            jmp_imm(BPF_JEQ, 0, 0, 1),
            ldx(BPF_W, 0, 0, 4),
            exit()
        ],
        vec![m.clone()],
    );
    let e = p.run(&mut Skb::from_frame(&[0; 14])).unwrap_err();
    assert!(matches!(
        e.reason,
        netkit_bpf::AbortReason::OutOfBounds { .. }
    ));
    // Read-only global data: loads work, stores abort.
    let ro = Arc::new(
        Map::new(
            ".rodata",
            MapDef {
                readonly: true,
                ..map(MapType::Array, 4, 8, 1).def().clone()
            },
        )
        .unwrap(),
    );
    ro.update(&k(0), &42u64.to_le_bytes(), BPF_ANY).unwrap();
    let load = build(
        &prog![ld_map_value(1, 0, 0), ldx(BPF_DW, 0, 1, 0), exit()],
        vec![ro.clone()],
    );
    assert_eq!(load.run(&mut Skb::from_frame(&[0; 14])), Ok(42));
    let store = build(
        &prog![
            ld_map_value(1, 0, 0),
            st(BPF_DW, 1, 0, 1),
            mov64_imm(0, 0),
            exit()
        ],
        vec![ro],
    );
    let e = store.run(&mut Skb::from_frame(&[0; 14])).unwrap_err();
    assert!(matches!(e.reason, netkit_bpf::AbortReason::ReadOnly { .. }));
}

#[test]
fn tail_calls_chain_up_to_33() {
    let pa = map(MapType::ProgArray, 4, 4, 2);
    let counter = map(MapType::Array, 4, 8, 1);
    // Each run: counter += 1; tail_call(ctx, pa, 0); return 99.
    let p = Arc::new(build(
        &prog![
            mov64_reg(6, 1),
            ld_map_value(2, 1, 0),
            mov64_imm(3, 1),
            atomic(BPF_DW, 2, 3, 0, BPF_ADD as i32),
            mov64_reg(1, 6),
            ld_map(2, 0),
            mov64_imm(3, 0),
            call(12),
            mov64_imm(0, 99),
            exit()
        ],
        vec![pa.clone(), counter.clone()],
    ));
    // Empty slot: the call falls through.
    assert_eq!(p.run(&mut Skb::from_frame(&[0; 14])), Ok(99));
    assert_eq!(counter.lookup(&k(0)).unwrap(), 1u64.to_le_bytes());
    // Self tail call: 1 + 33 runs, then the 34th call fails and falls through.
    pa.set_prog(0, Some(p.clone())).unwrap();
    counter.update(&k(0), &[0; 8], BPF_ANY).unwrap();
    assert_eq!(p.run(&mut Skb::from_frame(&[0; 14])), Ok(99));
    assert_eq!(counter.lookup(&k(0)).unwrap(), 34u64.to_le_bytes());
    // Index out of range: falls through.
    assert_eq!(pa.set_prog(2, Some(p.clone())), Err(MapError::Full));
    pa.set_prog(0, None).unwrap();
}

#[test]
fn ringbuf_records_in_order() {
    let rb = map(MapType::RingBuf, 0, 0, 4096);
    // reserve 8; if ok { *rec = 0x1122; submit }; output 4 bytes from the stack.
    let p = build(
        &prog![
            ld_map(1, 0),
            mov64_imm(2, 8),
            mov64_imm(3, 0),
            call(131),
            jmp_imm(BPF_JEQ, 0, 0, 4),
            st(BPF_DW, 0, 0, 0x1122),
            mov64_reg(1, 0),
            mov64_imm(2, 0),
            call(132),
            st(BPF_W, 10, -4, 0x33),
            ld_map(1, 0),
            mov64_reg(2, 10),
            alu64_imm(BPF_ADD, 2, -4),
            mov64_imm(3, 4),
            mov64_imm(4, 0),
            call(130),
            exit()
        ],
        vec![rb.clone()],
    );
    assert_eq!(p.run(&mut Skb::from_frame(&[0; 14])), Ok(0));
    let ring = rb.ringbuf().unwrap();
    assert_eq!(ring.used(), 16 + 16);
    let recs = ring.drain();
    assert_eq!(
        recs,
        vec![
            0x1122u64.to_le_bytes().to_vec(),
            0x33u32.to_le_bytes().to_vec()
        ]
    );
    assert_eq!(ring.used(), 0);
    // Fill the ring: 4096 bytes hold 256 16-byte records (128 runs); then both the reserve
    // (NULL) and the output (-EAGAIN) fail.
    for _ in 0..128 {
        assert_eq!(p.run(&mut Skb::from_frame(&[0; 14])), Ok(0));
    }
    let r = p.run(&mut Skb::from_frame(&[0; 14]));
    assert_eq!(r, Ok((-11i64) as u64));
    assert_eq!(ring.drain().len(), 256);
}

#[test]
fn unsubmitted_records_do_not_block_the_ring() {
    let rb = map(MapType::RingBuf, 0, 0, 4096);
    let leak = build(
        &prog![
            ld_map(1, 0),
            mov64_imm(2, 8),
            mov64_imm(3, 0),
            call(131),
            mov64_imm(0, 0),
            exit()
        ],
        vec![rb.clone()],
    );
    assert_eq!(leak.run(&mut Skb::from_frame(&[0; 14])), Ok(0));
    assert!(rb.ringbuf().unwrap().drain().is_empty());
    assert_eq!(rb.ringbuf().unwrap().used(), 0);
}

#[test]
fn perf_event_output() {
    let pe = map(MapType::PerfEventArray, 4, 4, 4);
    // perf_event_output(ctx, pe, flags = index 1 | 3 packet bytes << 32, &stack, 4)
    let p = build(
        &prog![
            st(BPF_W, 10, -4, 0x0a0b0c0d),
            ld_map(2, 0),
            ld_imm64(3, (3u64 << 32) | 1),
            mov64_reg(4, 10),
            alu64_imm(BPF_ADD, 4, -4),
            mov64_imm(5, 4),
            call(25),
            exit()
        ],
        vec![pe.clone()],
    );
    let frame: Vec<u8> = (1..=20).collect();
    assert_eq!(
        p.run(&mut Skb::from_frame(&frame)),
        Ok((-2i64) as u64),
        "slot not open"
    );
    pe.perf_open(1).unwrap();
    assert_eq!(p.run(&mut Skb::from_frame(&frame)), Ok(0));
    let recs = pe.perf_drain();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].index, 1);
    assert_eq!(recs[0].data, vec![0x0d, 0x0c, 0x0b, 0x0a, 1, 2, 3]);
}
