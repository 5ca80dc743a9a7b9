//! The words of a step turned into backend requests: names for enums, numbers, MACs.

use std::path::{Path, PathBuf};

use netkit_core::{ChangeLink, Hook, NewLink, PeerInfo, Policy, ProgSource, Scrub};

/// The request of `dev add ARGS`.
pub fn new_link(args: &[&str]) -> Result<NewLink, String> {
    let mut req = NewLink::default();
    let mut args = args;
    if let [name, rest @ ..] = args {
        if !is_dev_add_keyword(name) {
            req.name = Some(name.to_string());
            args = rest;
        }
    }
    let mut in_peer = false;
    let mut it = args.iter();
    while let Some(key) = it.next() {
        if *key == "peer" {
            in_peer = true;
            req.peer.get_or_insert_with(PeerInfo::default);
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{key} needs a value"))?;
        if in_peer {
            let peer = req.peer.get_or_insert_with(PeerInfo::default);
            match *key {
                "name" => peer.name = Some(value.to_string()),
                "mtu" => peer.mtu = Some(parse_num(value)?),
                "address" => peer.address = Some(parse_mac_bytes(value)?),
                "netns" => peer.netns = Some(value.to_string()),
                "index" => peer.ifindex = parse_ifindex(value)?,
                other => return Err(format!("unknown peer attribute {other}")),
            }
            continue;
        }
        match *key {
            "mode" => req.mode = Some(parse_enum(value, &[("l2", 0), ("l3", 1)])?),
            "policy" => req.policy = Some(parse_policy(value)?),
            "peer-policy" => req.peer_policy = Some(parse_policy(value)?),
            "scrub" => req.scrub = Some(parse_scrub(value)?),
            "peer-scrub" => req.peer_scrub = Some(parse_scrub(value)?),
            "headroom" => req.headroom = Some(parse_num(value)?),
            "tailroom" => req.tailroom = Some(parse_num(value)?),
            "pairing" => req.pairing = Some(parse_enum(value, &[("pair", 0), ("single", 1)])?),
            "mtu" => req.mtu = Some(parse_num(value)?),
            "address" => req.address = Some(parse_mac_bytes(value)?),
            "primary" => req.primary = Some(parse_num(value)?),
            "index" => req.ifindex = parse_ifindex(value)?,
            other => return Err(format!("unknown dev add attribute {other}")),
        }
    }
    Ok(req)
}

pub fn is_dev_add_keyword(word: &str) -> bool {
    [
        "mode",
        "policy",
        "peer-policy",
        "scrub",
        "peer-scrub",
        "headroom",
        "tailroom",
        "pairing",
        "mtu",
        "address",
        "primary",
        "index",
        "peer",
    ]
    .contains(&word)
}

pub fn change_link(args: &[&str]) -> Result<ChangeLink, String> {
    let mut req = ChangeLink::default();
    let mut it = args.iter();
    while let Some(key) = it.next() {
        if *key == "peer-info" {
            req.peer_info = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{key} needs a value"))?;
        match *key {
            "mode" => req.mode = Some(parse_enum(value, &[("l2", 0), ("l3", 1)])?),
            "policy" => req.policy = Some(parse_policy(value)?),
            "peer-policy" => req.peer_policy = Some(parse_policy(value)?),
            "scrub" => req.scrub = Some(parse_scrub(value)?),
            "peer-scrub" => req.peer_scrub = Some(parse_scrub(value)?),
            "headroom" => req.headroom = Some(parse_num(value)?),
            "tailroom" => req.tailroom = Some(parse_num(value)?),
            "pairing" => req.pairing = Some(parse_enum(value, &[("pair", 0), ("single", 1)])?),
            other => return Err(format!("unknown dev change attribute {other}")),
        }
    }
    Ok(req)
}
pub fn prog_source(words: &[&str], dir: &Path) -> Result<ProgSource, String> {
    match words {
        ["const", value] => {
            let value = value
                .parse::<i32>()
                .map_err(|_| format!("const {value}: not a 32-bit integer"))?;
            Ok(ProgSource::Constant(value))
        }
        ["object", path, rest @ ..] => {
            let path = PathBuf::from(path);
            let path = if path.is_absolute() {
                path
            } else {
                dir.join(path)
            };
            let program = match rest {
                [] => None,
                [name] => Some(name.to_string()),
                _ => return Err("prog load object takes PATH [PROGRAM]".into()),
            };
            Ok(ProgSource::Object { path, program })
        }
        _ => Err(format!(
            "prog load takes `const N` or `object PATH [PROGRAM]`; got {words:?}"
        )),
    }
}

pub fn parse_hook(word: &str) -> Result<Hook, String> {
    match word {
        "primary" => Ok(Hook::Primary),
        "peer" => Ok(Hook::Peer),
        _ => Err(format!("hook must be primary or peer, got {word}")),
    }
}

pub fn hook_name(hook: Hook) -> &'static str {
    match hook {
        Hook::Primary => "primary",
        Hook::Peer => "peer",
    }
}

pub fn parse_enum(word: &str, names: &[(&str, u32)]) -> Result<u32, String> {
    names
        .iter()
        .find(|(name, _)| *name == word)
        .map(|(_, v)| Ok(*v))
        .unwrap_or_else(|| parse_num(word))
}

pub fn parse_policy(word: &str) -> Result<u32, String> {
    parse_enum(
        word,
        &[
            ("pass", 0),
            ("drop", 2),
            ("next", u32::MAX),
            ("redirect", 7),
        ],
    )
}

pub fn parse_scrub(word: &str) -> Result<u32, String> {
    parse_enum(word, &[("none", 0), ("default", 1)])
}

pub fn policy_name(policy: Option<Policy>) -> &'static str {
    match policy {
        Some(Policy::Pass) => "pass",
        Some(Policy::Drop) => "drop",
        None => "none",
    }
}

pub fn scrub_name(scrub: Option<Scrub>) -> &'static str {
    match scrub {
        Some(Scrub::None) => "none",
        Some(Scrub::Default) => "default",
        None => "absent",
    }
}

/// A decimal or `0x` hexadecimal number.
pub fn parse_num<T: TryFrom<u64>>(word: &str) -> Result<T, String> {
    let value = match word.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => word.parse::<u64>(),
    }
    .map_err(|_| format!("{word}: not a number"))?;
    T::try_from(value).map_err(|_| format!("{word}: out of range"))
}

/// A requested ifindex (`ifi_index`): any `i32`, negative ones too, so that the kernel's
/// EINVAL for them can be asked for.
pub fn parse_ifindex(word: &str) -> Result<i32, String> {
    word.parse::<i32>()
        .map_err(|_| format!("{word}: not an ifindex (a 32-bit signed number)"))
}

/// A MAC as colon-separated hex bytes; any number of bytes, so that wrong lengths can be sent.
pub fn parse_mac_bytes(word: &str) -> Result<Vec<u8>, String> {
    word.split(':')
        .map(|byte| u8::from_str_radix(byte, 16).map_err(|_| format!("{word}: not a MAC address")))
        .collect()
}

pub fn parse_mac(word: &str) -> Result<[u8; 6], String> {
    parse_mac_bytes(word)?
        .try_into()
        .map_err(|_| format!("{word}: a MAC has 6 bytes"))
}

pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_macs_and_random_addresses() {
        assert_eq!(parse_num::<u32>("0xffffffff"), Ok(u32::MAX));
        assert!(parse_num::<u16>("65536").is_err());
        assert_eq!(parse_mac_bytes("ee:ff:bb:cc:aa:dd").unwrap().len(), 6);
        assert_eq!(parse_mac_bytes("ee:ff").unwrap(), [0xee, 0xff]);
        assert!(parse_mac("ee:ff").is_err());
    }

    #[test]
    fn policy_words_map_to_netkit_actions() {
        assert_eq!(parse_policy("drop"), Ok(2));
        assert_eq!(parse_policy("next"), Ok(u32::MAX));
        assert_eq!(parse_policy("9"), Ok(9));
        assert!(parse_policy("maybe").is_err());
    }
}
