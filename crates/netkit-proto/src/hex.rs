//! Hex encoding of byte strings (objects, map keys and values) inside JSON.

/// Lowercase hex, two digits per byte.
pub fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// Decodes hex; whitespace between bytes and a leading `0x` per byte are accepted, as bpftool
/// accepts `key hex 0a 00 00 00`.
pub fn decode(text: &str) -> Result<Vec<u8>, String> {
    let mut digits = Vec::with_capacity(text.len());
    for word in text.split_whitespace() {
        let word = word.strip_prefix("0x").unwrap_or(word);
        if word.len() % 2 == 1 {
            return Err(format!("\"{word}\" has an odd number of hex digits"));
        }
        digits.extend(word.bytes());
    }
    digits
        .chunks(2)
        .map(|pair| {
            let hi = nibble(pair[0])?;
            let lo = nibble(pair[1])?;
            Ok(hi << 4 | lo)
        })
        .collect()
}

fn nibble(c: u8) -> Result<u8, String> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(format!("'{}' is not a hex digit", c as char)),
    }
}
