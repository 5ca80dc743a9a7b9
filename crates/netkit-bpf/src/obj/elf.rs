//! A minimal reader for 64-bit little-endian relocatable ELF files (what `clang -target bpf`
//! emits): section headers, the symbol table and `SHT_REL` relocation sections.
//!
//! Every offset and length read from the file is checked against the file before use, so a
//! truncated or corrupted object yields an [`ObjError`], never a panic.

use super::ObjError;

const SHT_SYMTAB: u32 = 2;
const SHT_REL: u32 = 9;
const SHT_NOBITS: u32 = 8;
const EM_BPF: u16 = 247;
const ET_REL: u16 = 1;
const SHF_EXECINSTR: u64 = 0x4;

/// `STT_*` symbol types used by the loader.
pub const STT_FUNC: u8 = 2;
pub const STT_SECTION: u8 = 3;
/// `STB_GLOBAL` / `STB_WEAK` symbol bindings (anything else is local).
pub const STB_GLOBAL: u8 = 1;
pub const STB_WEAK: u8 = 2;
/// `SHN_UNDEF`: the symbol is not defined in this object (an extern).
pub const SHN_UNDEF: u16 = 0;

/// One section header, with its name resolved.
#[derive(Clone, Debug)]
pub struct Section {
    pub index: usize,
    pub name: String,
    pub sh_type: u32,
    pub flags: u64,
    pub offset: u64,
    pub size: u64,
    pub link: u32,
    pub info: u32,
}

impl Section {
    pub fn is_exec(&self) -> bool {
        self.flags & SHF_EXECINSTR != 0
    }

    pub fn is_nobits(&self) -> bool {
        self.sh_type == SHT_NOBITS
    }

    pub fn is_rel(&self) -> bool {
        self.sh_type == SHT_REL
    }
}

/// One symbol table entry, with its name resolved.
#[derive(Clone, Debug)]
pub struct Symbol {
    pub name: String,
    pub kind: u8,
    pub bind: u8,
    pub shndx: u16,
    pub value: u64,
    pub size: u64,
}

/// One `Elf64_Rel` entry.
#[derive(Clone, Copy, Debug)]
pub struct Rel {
    pub offset: u64,
    pub sym: usize,
    pub r_type: u32,
}

/// The parsed file: sections, symbols, and a borrowed view of the bytes.
pub struct Elf<'a> {
    data: &'a [u8],
    pub sections: Vec<Section>,
    pub symbols: Vec<Symbol>,
}

fn read<const N: usize>(data: &[u8], off: u64, what: &str) -> Result<[u8; N], ObjError> {
    let start = usize::try_from(off).map_err(|_| ObjError::Truncated(what.to_string()))?;
    data.get(start..)
        .and_then(|d| d.get(..N))
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| ObjError::Truncated(what.to_string()))
}

fn u16_at(data: &[u8], off: u64, what: &str) -> Result<u16, ObjError> {
    read::<2>(data, off, what).map(u16::from_le_bytes)
}

fn u32_at(data: &[u8], off: u64, what: &str) -> Result<u32, ObjError> {
    read::<4>(data, off, what).map(u32::from_le_bytes)
}

fn u64_at(data: &[u8], off: u64, what: &str) -> Result<u64, ObjError> {
    read::<8>(data, off, what).map(u64::from_le_bytes)
}

/// `data[off..off+len]`, or an error naming `what` when it does not fit.
pub fn slice<'a>(data: &'a [u8], off: u64, len: u64, what: &str) -> Result<&'a [u8], ObjError> {
    let end = off
        .checked_add(len)
        .ok_or_else(|| ObjError::Truncated(what.to_string()))?;
    let (off, end) = match (usize::try_from(off), usize::try_from(end)) {
        (Ok(o), Ok(e)) => (o, e),
        _ => return Err(ObjError::Truncated(what.to_string())),
    };
    data.get(off..end)
        .ok_or_else(|| ObjError::Truncated(what.to_string()))
}

/// A NUL-terminated string at `off` inside the string table `strtab`.
fn c_str(strtab: &[u8], off: u32, what: &str) -> Result<String, ObjError> {
    let tail = strtab
        .get(off as usize..)
        .ok_or_else(|| ObjError::Truncated(format!("{what}: name offset {off}")))?;
    let end = tail
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| ObjError::Truncated(format!("{what}: unterminated name")))?;
    Ok(String::from_utf8_lossy(&tail[..end]).into_owned())
}

impl<'a> Elf<'a> {
    pub fn parse(data: &'a [u8]) -> Result<Elf<'a>, ObjError> {
        let ident = read::<16>(data, 0, "ELF header")?;
        if ident[..4] != *b"\x7fELF" {
            return Err(ObjError::NotElf);
        }
        if ident[4] != 2 || ident[5] != 1 {
            return Err(ObjError::Unsupported(
                "only 64-bit little-endian ELF is supported".into(),
            ));
        }
        let e_type = u16_at(data, 16, "ELF header")?;
        let machine = u16_at(data, 18, "ELF header")?;
        if machine != EM_BPF {
            return Err(ObjError::Unsupported(format!(
                "ELF machine {machine} is not BPF (247)"
            )));
        }
        if e_type != ET_REL {
            return Err(ObjError::Unsupported(format!(
                "ELF type {e_type} is not a relocatable object"
            )));
        }
        let shoff = u64_at(data, 40, "ELF header")?;
        let shentsize = u16_at(data, 58, "ELF header")?;
        let shnum = u16_at(data, 60, "ELF header")?;
        let shstrndx = u16_at(data, 62, "ELF header")?;
        if shentsize != 64 {
            return Err(ObjError::Unsupported(format!(
                "section header size {shentsize}, expected 64"
            )));
        }
        let mut raw = Vec::with_capacity(usize::from(shnum));
        let mut name_offs = Vec::with_capacity(usize::from(shnum));
        for i in 0..u64::from(shnum) {
            let base = shoff
                .checked_add(i * 64)
                .ok_or_else(|| ObjError::Truncated("section headers".into()))?;
            let what = format!("section header {i}");
            raw.push(Section {
                index: i as usize,
                name: String::new(),
                sh_type: u32_at(data, base + 4, &what)?,
                flags: u64_at(data, base + 8, &what)?,
                offset: u64_at(data, base + 24, &what)?,
                size: u64_at(data, base + 32, &what)?,
                link: u32_at(data, base + 40, &what)?,
                info: u32_at(data, base + 44, &what)?,
            });
            // Names are resolved once the section-name table is known.
            name_offs.push(u32_at(data, base, &what)?);
        }
        let shstr = raw
            .get(usize::from(shstrndx))
            .ok_or_else(|| ObjError::Truncated("section-name table index".into()))?;
        let shstrtab = slice(data, shstr.offset, shstr.size, "section-name table")?;
        for (s, off) in raw.iter_mut().zip(name_offs) {
            s.name = c_str(shstrtab, off, &format!("section {}", s.index))?;
        }
        let mut elf = Elf {
            data,
            sections: raw,
            symbols: Vec::new(),
        };
        elf.symbols = elf.read_symbols()?;
        Ok(elf)
    }

    fn read_symbols(&self) -> Result<Vec<Symbol>, ObjError> {
        let Some(symtab) = self.sections.iter().find(|s| s.sh_type == SHT_SYMTAB) else {
            return Ok(Vec::new());
        };
        let strsec = self
            .sections
            .get(symtab.link as usize)
            .ok_or_else(|| ObjError::Truncated("symbol string table index".into()))?;
        let strtab = self.section_data(strsec)?;
        let bytes = self.section_data(symtab)?;
        let mut out = Vec::with_capacity(bytes.len() / 24);
        for (i, e) in bytes.chunks_exact(24).enumerate() {
            let what = format!("symbol {i}");
            let name_off = u32_at(e, 0, &what)?;
            let info = e[4];
            out.push(Symbol {
                name: c_str(strtab, name_off, &what)?,
                kind: info & 0xf,
                bind: info >> 4,
                shndx: u16_at(e, 6, &what)?,
                value: u64_at(e, 8, &what)?,
                size: u64_at(e, 16, &what)?,
            });
        }
        Ok(out)
    }

    /// The bytes of a section (empty for `SHT_NOBITS`, e.g. `.bss`).
    pub fn section_data(&self, s: &Section) -> Result<&'a [u8], ObjError> {
        if s.is_nobits() {
            return Ok(&[]);
        }
        slice(
            self.data,
            s.offset,
            s.size,
            &format!("section '{}'", s.name),
        )
    }

    /// The relocations of a `SHT_REL` section.
    pub fn rels(&self, s: &Section) -> Result<Vec<Rel>, ObjError> {
        let bytes = self.section_data(s)?;
        let mut out = Vec::with_capacity(bytes.len() / 16);
        for e in bytes.chunks_exact(16) {
            let info = u64_at(e, 8, &s.name)?;
            out.push(Rel {
                offset: u64_at(e, 0, &s.name)?,
                sym: (info >> 32) as usize,
                r_type: info as u32,
            });
        }
        Ok(out)
    }
}
