//! Tail calls: a run looks a target up once and reuses it while the prog array is unchanged,
//! so chains through several slots, and slots replaced between runs, must still go where the
//! array says at the moment of each call.

mod common;
use std::sync::Arc;

use common::*;
use netkit_bpf::insn::*;
use netkit_bpf::obj::MapType;
use netkit_bpf::skb::Skb;
use netkit_bpf::{Map, Program};

/// A program that adds `add` to r0's running total in map 1's value and tail-calls slot
/// `slot` of map 0, returning `ret` when the call fails.
fn chainer(pa: &Arc<Map>, acc: &Arc<Map>, add: i32, slot: i32, ret: i32) -> Arc<Program> {
    Arc::new(build(
        &prog![
            mov64_reg(6, 1),
            ld_map_value(2, 1, 0),
            mov64_imm(3, add),
            atomic(BPF_DW, 2, 3, 0, BPF_ADD as i32),
            mov64_reg(1, 6),
            ld_map(2, 0),
            mov64_imm(3, slot),
            call(12),
            mov64_imm(0, ret),
            exit()
        ],
        vec![pa.clone(), acc.clone()],
    ))
}

fn total(acc: &Map) -> u64 {
    let v = acc.lookup(&0u32.to_le_bytes()).expect("element 0");
    u64::from_le_bytes(v[..8].try_into().unwrap())
}

#[test]
fn chains_follow_each_slot_and_see_replacements() {
    let pa = map(MapType::ProgArray, 4, 4, 4);
    let acc = map(MapType::Array, 4, 8, 1);
    // entry -> slot 1 (adds 10) -> slot 2 (adds 100, calls empty slot 3, returns 2).
    let entry = chainer(&pa, &acc, 1, 1, 0);
    pa.set_prog(1, Some(chainer(&pa, &acc, 10, 2, 1))).unwrap();
    pa.set_prog(2, Some(chainer(&pa, &acc, 100, 3, 2))).unwrap();
    let mut skb = Skb::from_frame(&[0; 14]);
    assert_eq!(entry.run(&mut skb), Ok(2));
    assert_eq!(total(&acc), 111);
    // Slot 2 replaced between runs: the next run reaches the new program.
    pa.set_prog(2, Some(chainer(&pa, &acc, 1000, 3, 3)))
        .unwrap();
    assert_eq!(entry.run(&mut skb), Ok(3));
    assert_eq!(total(&acc), 111 + 1011);
    // Slot 1 emptied: the entry's call falls through.
    pa.set_prog(1, None).unwrap();
    assert_eq!(entry.run(&mut skb), Ok(0));
    assert_eq!(total(&acc), 111 + 1011 + 1);
}

#[test]
fn a_chain_alternating_between_two_programs_stops_after_33_calls() {
    let pa = map(MapType::ProgArray, 4, 4, 2);
    let acc = map(MapType::Array, 4, 8, 1);
    // a (adds 1) -> slot 1 = b (adds 1000) -> slot 0 = a -> ...
    let a = chainer(&pa, &acc, 1, 1, 5);
    let b = chainer(&pa, &acc, 1000, 0, 6);
    pa.set_prog(0, Some(a.clone())).unwrap();
    pa.set_prog(1, Some(b)).unwrap();
    // 1 + 33 runs: a, then 17 of b and 16 more of a; the 34th call (made by b) fails.
    assert_eq!(a.run(&mut Skb::from_frame(&[0; 14])), Ok(6));
    assert_eq!(total(&acc), 17 + 17 * 1000);
    // Break the program <-> array reference cycle.
    pa.set_prog(0, None).unwrap();
    pa.set_prog(1, None).unwrap();
}
