//! `bpf_trace_printk` output: formatted as the kernel's bpf_bprintf_prepare + bstr_printf
//! would, and kept in a per-object log readable from Rust instead of the trace pipe.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

/// Lines kept before further ones are counted as dropped.
const MAX_LINES: usize = 1 << 14;
/// The kernel formats into a buffer of MAX_BPRINTF_BUF (1024) bytes.
pub(crate) const MAX_LINE: usize = 1024;

/// The collected output of an object's programs.
#[derive(Debug, Default)]
pub struct TraceLog {
    lines: Mutex<Vec<String>>,
    dropped: AtomicU64,
}

impl TraceLog {
    pub(crate) fn push(&self, line: String) {
        let mut lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() >= MAX_LINES {
            self.dropped.fetch_add(1, Relaxed);
            return;
        }
        lines.push(line);
    }

    /// Takes the records written so far, one per call, exactly as the program formatted them.
    pub fn drain(&self) -> Vec<String> {
        std::mem::take(&mut *self.lines.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Lines lost because the log was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }
}

/// One argument as the formatter needs it: an integer, or the bytes of a `%s` string.
pub(crate) enum Arg {
    Int(u64),
    Str(Vec<u8>),
}

/// A parsed conversion: the spec text to echo and how to render the argument.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Conv {
    Signed { long: bool },
    Unsigned { long: bool },
    Hex { long: bool, upper: bool },
    Ptr,
    Str,
    Char,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Spec {
    pub conv: Conv,
    pub left: bool,
    pub zero: bool,
    pub plus: bool,
    pub space: bool,
    pub width: usize,
}

/// Parses `fmt` into literal pieces and conversions, rejecting what bpf_bprintf_prepare
/// rejects (unknown conversions, more than 3 arguments). `Err` is the kernel's -EINVAL.
pub(crate) fn parse(fmt: &[u8]) -> Result<Vec<Result<Vec<u8>, Spec>>, ()> {
    let mut out = Vec::new();
    let mut lit = Vec::new();
    let mut i = 0;
    let mut nargs = 0;
    while i < fmt.len() {
        let c = fmt[i];
        if c != b'%' {
            if !(c.is_ascii_graphic() || c.is_ascii_whitespace()) {
                return Err(());
            }
            lit.push(c);
            i += 1;
            continue;
        }
        i += 1;
        if fmt.get(i) == Some(&b'%') {
            lit.push(b'%');
            i += 1;
            continue;
        }
        if nargs == 3 {
            return Err(());
        }
        nargs += 1;
        let mut spec = Spec {
            conv: Conv::Char,
            left: false,
            zero: false,
            plus: false,
            space: false,
            width: 0,
        };
        while let Some(&f) = fmt.get(i) {
            match f {
                b'-' => spec.left = true,
                b'0' => spec.zero = true,
                b'+' => spec.plus = true,
                b' ' => spec.space = true,
                _ => break,
            }
            i += 1;
        }
        while let Some(d) = fmt.get(i).filter(|d| d.is_ascii_digit()) {
            spec.width = (spec.width * 10 + usize::from(d - b'0')).min(MAX_LINE);
            i += 1;
        }
        let mut ls = 0;
        while fmt.get(i) == Some(&b'l') && ls < 2 {
            ls += 1;
            i += 1;
        }
        let long = ls > 0;
        spec.conv = match fmt.get(i) {
            Some(b'd' | b'i') => Conv::Signed { long },
            Some(b'u') => Conv::Unsigned { long },
            Some(b'x') => Conv::Hex { long, upper: false },
            Some(b'X') => Conv::Hex { long, upper: true },
            Some(b'p') if ls == 0 => Conv::Ptr,
            Some(b's') if ls == 0 => Conv::Str,
            Some(b'c') if ls == 0 => Conv::Char,
            _ => return Err(()),
        };
        i += 1;
        if !lit.is_empty() {
            out.push(Ok(std::mem::take(&mut lit)));
        }
        out.push(Err(spec));
    }
    if !lit.is_empty() {
        out.push(Ok(lit));
    }
    Ok(out)
}

/// Renders one conversion.
pub(crate) fn render(spec: &Spec, arg: &Arg, out: &mut Vec<u8>) {
    let v = match arg {
        Arg::Int(v) => *v,
        Arg::Str(_) => 0,
    };
    let body: Vec<u8> = match spec.conv {
        Conv::Signed { long } => {
            let n = if long { v as i64 } else { i64::from(v as i32) };
            let mut s = n.to_string();
            if n >= 0 && spec.plus {
                s.insert(0, '+');
            } else if n >= 0 && spec.space {
                s.insert(0, ' ');
            }
            s.into_bytes()
        }
        Conv::Unsigned { long } => {
            let n = if long { v } else { u64::from(v as u32) };
            n.to_string().into_bytes()
        }
        Conv::Hex { long, upper } => {
            let n = if long { v } else { u64::from(v as u32) };
            if upper {
                format!("{n:X}").into_bytes()
            } else {
                format!("{n:x}").into_bytes()
            }
        }
        // The kernel hashes %p values; we print the raw value in the same form.
        Conv::Ptr => format!("{v:016x}").into_bytes(),
        Conv::Str => match arg {
            Arg::Str(s) => s.clone(),
            Arg::Int(_) => b"(null)".to_vec(),
        },
        Conv::Char => vec![v as u8],
    };
    let pad = spec.width.saturating_sub(body.len());
    if spec.left {
        out.extend_from_slice(&body);
        out.extend(std::iter::repeat_n(b' ', pad));
    } else if spec.zero && !matches!(spec.conv, Conv::Str | Conv::Char) {
        let (sign, digits) = match body.first() {
            Some(b'-' | b'+' | b' ') => body.split_at(1),
            _ => body.split_at(0),
        };
        out.extend_from_slice(sign);
        out.extend(std::iter::repeat_n(b'0', pad));
        out.extend_from_slice(digits);
    } else {
        out.extend(std::iter::repeat_n(b' ', pad));
        out.extend_from_slice(&body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(f: &str, args: &[Arg]) -> String {
        let mut out = Vec::new();
        let mut a = args.iter();
        for piece in parse(f.as_bytes()).expect("valid format") {
            match piece {
                Ok(lit) => out.extend_from_slice(&lit),
                Err(spec) => render(&spec, a.next().expect("arg"), &mut out),
            }
        }
        String::from_utf8(out).expect("utf8")
    }

    #[test]
    fn formats_like_printf() {
        assert_eq!(fmt("x=%d\n", &[Arg::Int(u64::MAX)]), "x=-1\n");
        assert_eq!(fmt("%u", &[Arg::Int(u64::MAX)]), "4294967295");
        assert_eq!(fmt("%llu", &[Arg::Int(u64::MAX)]), "18446744073709551615");
        assert_eq!(
            fmt("%08x|%-4d|", &[Arg::Int(0xbeef), Arg::Int(7)]),
            "0000beef|7   |"
        );
        assert_eq!(fmt("%s!", &[Arg::Str(b"hi".to_vec())]), "hi!");
        assert_eq!(fmt("100%%", &[]), "100%");
    }

    #[test]
    fn rejects_what_the_kernel_rejects() {
        assert!(parse(b"%d %d %d %d").is_err());
        assert!(parse(b"%f").is_err());
        assert!(parse(b"%lls").is_err());
    }
}
