//! What the engine's tests share: the assembler (re-exported here), building and running
//! programs, and the packets differential tests run on.
#![allow(dead_code)]

#[macro_use]
pub mod asm;
// Not every test crate assembles programs by hand.
#[allow(unused_imports)]
pub use asm::*;

use std::sync::Arc;

use netkit_bpf::insn::Insn;
use netkit_bpf::obj::MapType;
use netkit_bpf::{Map, MapDef, Program, RunResult};

/// A writable map named "m" of `t` with key size `ks`, value size `vs` and `max` entries.
pub fn map(t: MapType, ks: u32, vs: u32, max: u32) -> Arc<Map> {
    Arc::new(
        Map::new(
            "m",
            MapDef {
                map_type: t,
                key_size: ks,
                value_size: vs,
                max_entries: max,
                map_flags: 0,
                readonly: false,
            },
        )
        .expect("map created"),
    )
}

/// Builds without the verifier: these tests check what the VM itself guarantees, including
/// for programs the verifier would reject (constant division by zero, stray accesses).
pub fn build(insns: &[Insn], maps: Vec<Arc<Map>>) -> Program {
    Program::from_insns_unverified(insns, maps).expect("program decodes")
}

/// Builds through the verifier, as loading an object does.
pub fn build_verified(insns: &[Insn], maps: Vec<Arc<Map>>) -> Program {
    Program::from_insns(insns, maps).expect("program passes the verifier")
}

/// Runs raw bytecode with `mem` as r1/r2.
pub fn run_raw(insns: &[Insn], mem: &mut Vec<u8>) -> RunResult {
    build(insns, Vec::new()).run_with_mem(mem)
}

/// r0 of a program with no memory argument.
pub fn r0(insns: &[Insn]) -> u64 {
    run_raw(insns, &mut Vec::new()).expect("run completes")
}

/// An Ethernet + IPv4 + UDP frame (checksums valid) with `payload`.
pub fn udp4_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![
        0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00, // ethernet
    ];
    let total = 20 + 8 + payload.len();
    let mut ip = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0x40,
        0,
        64,
        17,
        0,
        0,
        10,
        0,
        0,
        1,
        10,
        0,
        0,
        2,
    ];
    let sum = netkit_bpf::helpers::csum::csum_fold(netkit_bpf::helpers::csum::csum_partial(&ip, 0));
    ip[10..12].copy_from_slice(&sum.to_le_bytes());
    f.extend_from_slice(&ip);
    let ulen = 8 + payload.len();
    f.extend_from_slice(&[0x30, 0x39, 0x00, 0x35, (ulen >> 8) as u8, ulen as u8, 0, 0]);
    f.extend_from_slice(payload);
    f
}

fn fold(sum: u64) -> u16 {
    let mut s = sum;
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// The Internet checksum of `parts` concatenated (each part of even length but the last).
fn inet_csum(parts: &[&[u8]]) -> u16 {
    let mut all = Vec::new();
    for p in parts {
        all.extend_from_slice(p);
    }
    if all.len() % 2 == 1 {
        all.push(0);
    }
    fold(
        all.chunks(2)
            .map(|c| u64::from(u16::from_be_bytes([c[0], c[1]])))
            .sum(),
    )
}

const MAC_HDR: [u8; 12] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];

fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = MAC_HDR.to_vec();
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn ipv4(proto: u8, l4: &[u8]) -> Vec<u8> {
    let total = (20 + l4.len()) as u16;
    let mut h = vec![0x45, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    let c = inet_csum(&[&h]);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(l4);
    h
}

fn ipv6(proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(l4.len() as u16).to_be_bytes());
    h.extend_from_slice(&[proto, 64]);
    h.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    h.extend_from_slice(&[0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    h.extend_from_slice(l4);
    h
}

/// A UDP or TCP segment with its checksum over the pseudo header of `v6` or IPv4.
fn l4(proto: u8, v6: bool, mut seg: Vec<u8>, csum_at: usize) -> Vec<u8> {
    let len = seg.len() as u32;
    let pseudo: Vec<u8> = if v6 {
        let mut p = ipv6(proto, &[])[8..40].to_vec();
        p.extend_from_slice(&len.to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, proto]);
        p
    } else {
        let mut p = vec![10, 0, 0, 1, 10, 0, 0, 2, 0, proto];
        p.extend_from_slice(&(len as u16).to_be_bytes());
        p
    };
    let c = inet_csum(&[&pseudo, &seg]);
    seg[csum_at..csum_at + 2].copy_from_slice(&c.to_be_bytes());
    seg
}

fn udp(v6: bool, payload: &[u8]) -> Vec<u8> {
    let mut s = vec![0x30, 0x39, 0x00, 0x35];
    s.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    s.extend_from_slice(&[0, 0]);
    s.extend_from_slice(payload);
    l4(17, v6, s, 6)
}

fn tcp(v6: bool, payload: &[u8]) -> Vec<u8> {
    let mut s = vec![
        0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0,
    ];
    s.extend_from_slice(payload);
    l4(6, v6, s, 16)
}

/// The packets differential tests run every program on: (name, frame).
pub fn packet_set() -> Vec<(&'static str, Vec<u8>)> {
    let udp4 = eth(0x0800, &ipv4(17, &udp(false, b"hello world")));
    let mut icmp = vec![8, 0, 0, 0, 0, 1, 0, 1];
    icmp.extend_from_slice(b"pingpingpingping");
    let c = inet_csum(&[&icmp]);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut vlan = udp4[..12].to_vec();
    vlan.extend_from_slice(&[0x81, 0x00, 0x00, 0x64]);
    vlan.extend_from_slice(&udp4[12..]);
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2]);
    let mut udp4_zero_csum = udp4.clone();
    udp4_zero_csum[40..42].fill(0);
    vec![
        ("udp4", udp4.clone()),
        (
            "tcp4",
            eth(0x0800, &ipv4(6, &tcp(false, b"GET / HTTP/1.1\r\n"))),
        ),
        ("icmp4", eth(0x0800, &ipv4(1, &icmp))),
        ("udp6", eth(0x86dd, &ipv6(17, &udp(true, b"v6 payload")))),
        ("tcp6", eth(0x86dd, &ipv6(6, &tcp(true, b"")))),
        ("arp", arp),
        ("vlan", vlan),
        ("truncated", udp4[..20].to_vec()),
        ("jumbo", eth(0x0800, &ipv4(17, &udp(false, &[0x4a; 3000])))),
        ("udp4_zero_csum", udp4_zero_csum),
    ]
}
