//! Printing answers: text shaped like `ip -d -s link` and bpftool, or JSON (`-j`) with the
//! field names those tools use.

use netkit_proto::{self as proto, Response};
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, Default)]
pub struct Format {
    pub json: bool,
    pub pretty: bool,
    pub stats: bool,
}

/// Renders a response; an empty string when there is nothing to print.
pub fn render(resp: &Response, f: Format) -> String {
    if f.json {
        let v = json_of(resp, f);
        if v.is_null() {
            return String::new();
        }
        return if f.pretty {
            serde_json::to_string_pretty(&v).unwrap_or_default()
        } else {
            v.to_string()
        };
    }
    match resp {
        Response::Hello { protocol, daemon } => format!("{daemon} (protocol {protocol})"),
        Response::Done => String::new(),
        Response::Links { links } => links.iter().map(|l| link_text(l, f)).collect(),
        Response::Progs { progs } => progs.iter().map(prog_text).collect(),
        Response::Query(q) => query_text(q),
        Response::Tracelog { lines } => lines.iter().map(|l| format!("{l}\n")).collect(),
        Response::Bpflinks { links } => links.iter().map(bpflink_text).collect(),
        Response::Maps { maps } => maps.iter().map(map_text).collect(),
        Response::MapEntries { entries } => entries.iter().map(entry_text).collect(),
    }
    .trim_end()
    .to_string()
}

fn json_of(resp: &Response, f: Format) -> Value {
    match resp {
        Response::Hello { protocol, daemon } => json!({"daemon": daemon, "protocol": protocol}),
        Response::Done => Value::Null,
        Response::Links { links } => links.iter().map(|l| link_json(l, f)).collect(),
        Response::Progs { progs } => progs.iter().map(prog_json).collect(),
        Response::Query(q) => json!({
            "devname": q.dev,
            "attach_type": attach_type(q.hook),
            "revision": q.revision,
            "progs": q.progs.iter().map(|e| {
                let mut v = json!({"prog_id": e.prog_id});
                if let Some(l) = e.link_id {
                    v["link_id"] = json!(l);
                }
                v
            }).collect::<Vec<_>>(),
        }),
        Response::Tracelog { lines } => json!(lines),
        Response::Bpflinks { links } => links
            .iter()
            .map(|l| {
                json!({
                    "id": l.id, "type": "netkit", "prog_id": l.prog_id,
                    "ifindex": l.ifindex, "devname": l.devname,
                    "attach_type": attach_type(l.hook),
                })
            })
            .collect(),
        Response::Maps { maps } => maps
            .iter()
            .map(|m| {
                json!({
                    "id": m.id, "type": m.map_type, "name": m.name, "flags": m.flags,
                    "bytes_key": m.bytes_key, "bytes_value": m.bytes_value,
                    "max_entries": m.max_entries, "prog_id": m.prog_id,
                })
            })
            .collect(),
        Response::MapEntries { entries } => entries.iter().map(entry_json).collect(),
    }
}

fn attach_type(h: proto::Hook) -> &'static str {
    match h {
        proto::Hook::Primary => "netkit_primary",
        proto::Hook::Peer => "netkit_peer",
    }
}

fn flags(l: &proto::LinkView) -> Vec<&'static str> {
    let mut v = if l.mode == proto::Mode::L3 {
        vec!["POINTOPOINT", "NOARP"]
    } else {
        vec!["BROADCAST", "MULTICAST"]
    };
    if l.up {
        v.push("UP");
    }
    if l.carrier {
        v.push("LOWER_UP");
    }
    v
}

fn operstate(l: &proto::LinkView) -> &'static str {
    match (l.up, l.carrier) {
        (true, true) => "UP",
        (true, false) => "LOWERLAYERDOWN",
        _ => "DOWN",
    }
}

fn link_json(l: &proto::LinkView, f: Format) -> Value {
    let mut info = json!({
        "mode": l.mode.as_str(),
        "type": if l.primary { "primary" } else { "peer" },
        "policy": l.policy.as_str(),
        "scrub": l.scrub.as_str(),
        "headroom": l.headroom,
        "tailroom": l.tailroom,
    });
    if let Some(p) = l.peer_policy {
        info["peer_policy"] = json!(p.as_str());
    }
    if let Some(s) = l.peer_scrub {
        info["peer_scrub"] = json!(s.as_str());
    }
    let mut v = json!({
        "ifindex": l.ifindex,
        "ifname": l.ifname,
        "flags": flags(l),
        "mtu": l.mtu,
        "operstate": operstate(l),
        "link_type": if l.mode == proto::Mode::L3 { "none" } else { "ether" },
        "linkinfo": {"info_kind": "netkit", "info_data": info},
        "dataplane": l.dataplane,
    });
    if let Some(i) = l.link_ifindex {
        v["link_index"] = json!(i);
    }
    if let Some(n) = &l.link_ifname {
        v["link"] = json!(n);
    }
    if let Some(a) = &l.address {
        v["address"] = json!(a);
    }
    if let Some(ns) = &l.netns {
        v["link_netns"] = json!(ns);
    }
    if f.stats {
        let s = &l.stats;
        v["stats64"] = json!({
            "rx": {"bytes": s.rx_bytes, "packets": s.rx_packets, "errors": 0, "dropped": s.rx_dropped},
            "tx": {"bytes": s.tx_bytes, "packets": s.tx_packets, "errors": 0, "dropped": s.tx_dropped},
        });
    }
    v
}

fn link_text(l: &proto::LinkView, f: Format) -> String {
    let other = l
        .link_ifname
        .as_ref()
        .map(|n| format!("@{n}"))
        .unwrap_or_default();
    let mut s = format!(
        "{}: {}{}: <{}> mtu {} state {}{}\n",
        l.ifindex,
        l.ifname,
        other,
        flags(l).join(","),
        l.mtu,
        operstate(l),
        l.netns
            .as_ref()
            .map(|n| format!(" netns {n}"))
            .unwrap_or_default()
    );
    match &l.address {
        Some(a) => s += &format!("    link/ether {a}\n"),
        None => s += "    link/none\n",
    }
    s += &format!(
        "    netkit mode {} type {} policy {}",
        l.mode.as_str(),
        if l.primary { "primary" } else { "peer" },
        l.policy.as_str()
    );
    if let Some(p) = l.peer_policy {
        s += &format!(" peer policy {}", p.as_str());
    }
    s += &format!(" scrub {}", l.scrub.as_str());
    if let Some(p) = l.peer_scrub {
        s += &format!(" peer scrub {}", p.as_str());
    }
    s += &format!(" headroom {} tailroom {}", l.headroom, l.tailroom);
    if !l.dataplane {
        s += " (model only)";
    }
    s += "\n";
    if f.stats {
        let st = &l.stats;
        s += &format!(
            "    RX:  bytes packets dropped\n    {:>10} {:>7} {:>7}\n    TX:  bytes packets dropped\n    {:>10} {:>7} {:>7}\n",
            st.rx_bytes, st.rx_packets, st.rx_dropped, st.tx_bytes, st.tx_packets, st.tx_dropped
        );
    }
    s
}

fn prog_json(p: &proto::ProgView) -> Value {
    json!({
        "id": p.id, "type": "sched_cls", "name": p.name, "section": p.section,
        "file": p.file, "loaded_at": p.loaded_at, "run_time_ns": p.run_time_ns,
        "run_cnt": p.run_cnt, "bytes_xlated": p.bytes_xlated, "map_ids": p.map_ids,
        "attached": p.attached,
    })
}

fn prog_text(p: &proto::ProgView) -> String {
    let mut s = format!(
        "{}: sched_cls  name {}  run_time_ns {} run_cnt {}\n\tfile {}  section {}  loaded_at {}  xlated {}B\n",
        p.id,
        p.name,
        p.run_time_ns,
        p.run_cnt,
        p.file,
        p.section,
        utc(p.loaded_at),
        p.bytes_xlated
    );
    if !p.map_ids.is_empty() {
        let ids: Vec<String> = p.map_ids.iter().map(u32::to_string).collect();
        s += &format!("\tmap_ids {}\n", ids.join(","));
    }
    if !p.attached.is_empty() {
        s += &format!("\tattached {}\n", p.attached.join(" "));
    }
    s
}

/// Seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (bpftool prints `loaded_at` so).
fn utc(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn query_text(q: &proto::QueryView) -> String {
    let mut s = format!("{} {} revision {}:\n", q.dev, q.hook.as_str(), q.revision);
    for e in &q.progs {
        s += &format!("\tprog_id {}", e.prog_id);
        if let Some(l) = e.link_id {
            s += &format!(" link_id {l}");
        }
        s += "\n";
    }
    s
}

fn bpflink_text(l: &proto::BpflinkView) -> String {
    let dev = match &l.devname {
        Some(n) => format!("{n}({})", l.ifindex),
        None => "(defunct)".to_string(),
    };
    format!(
        "{}: netkit  prog {}\n\tifindex {}  attach_type {}\n",
        l.id,
        l.prog_id,
        dev,
        attach_type(l.hook)
    )
}

fn map_text(m: &proto::MapView) -> String {
    format!(
        "{}: {}  name {}  flags 0x{:x}\n\tkey {}B  value {}B  max_entries {}  prog {}\n",
        m.id, m.map_type, m.name, m.flags, m.bytes_key, m.bytes_value, m.max_entries, m.prog_id
    )
}

/// bpftool's element: `{"key": [..], "value": [..]}`, or for a per-CPU map
/// `{"key": [..], "values": [{"cpu": 0, "value": [..]}, ..]}`.
fn entry_json(e: &proto::MapEntry) -> Value {
    if e.per_cpu.is_empty() {
        return json!({"key": byte_words(&e.key), "value": byte_words(&e.value)});
    }
    let values: Vec<Value> = e
        .per_cpu
        .iter()
        .enumerate()
        .map(|(cpu, v)| json!({"cpu": cpu, "value": byte_words(v)}))
        .collect();
    json!({"key": byte_words(&e.key), "values": values})
}

fn spaced(hex: &str) -> String {
    hex.as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// bpftool's JSON form of bytes: `["0x0a", "0x00"]`.
fn byte_words(hex: &str) -> Vec<String> {
    hex.as_bytes()
        .chunks(2)
        .map(|c| format!("0x{}", String::from_utf8_lossy(c)))
        .collect()
}

fn entry_text(e: &proto::MapEntry) -> String {
    if e.per_cpu.is_empty() {
        return format!("key: {}  value: {}\n", spaced(&e.key), spaced(&e.value));
    }
    let mut s = format!("key: {}\n", spaced(&e.key));
    for (cpu, v) in e.per_cpu.iter().enumerate() {
        s += &format!("\tvalue (CPU {cpu:02}): {}\n", spaced(v));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn loaded_at_is_printed_as_utc() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_795_613_427), "2026-11-25T13:30:27Z");
    }
}
