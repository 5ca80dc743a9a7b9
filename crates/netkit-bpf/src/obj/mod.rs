//! Parsing of clang-built BPF ELF objects into plain data, libbpf's conventions, no execution.
//!
//! The output is what the engine needs to instantiate maps and verify and run programs:
//! every program already has its `.text` subprograms appended and its BPF-to-BPF calls
//! resolved, and every map reference is a pseudo instruction naming a map by index into
//! [`ObjectFile::maps`].
//!
//! Submodules: [`elf`] reads sections, symbols and relocations; [`btf`] decodes BTF-defined map
//! definitions; `maps` collects every map (BTF, legacy, global data); `link` cuts programs out
//! of their sections, appends the subprograms they call and applies the relocations.

mod btf;
mod elf;
mod link;
mod maps;
#[cfg(test)]
mod tests;

pub use btf::BtfMapDef;

/// `BPF_F_RDONLY_PROG`: set on `.rodata` maps; programs may read but not write them.
pub const BPF_F_RDONLY_PROG: u32 = 0x80;
/// `BPF_PSEUDO_FUNC` (4): `ld_imm64` with src_reg 4 loads the address of a subprogram (the
/// callback of `bpf_loop`, `bpf_for_each_map_elem`); `imm` is relative like a call's.
pub const PSEUDO_FUNC: u8 = 4;

/// `BPF_PSEUDO_MAP_IDX` (5): `ld_imm64` with src_reg 5 loads a map handle; `imm` = map index.
pub const PSEUDO_MAP_IDX: u8 = 5;
/// `BPF_PSEUDO_MAP_IDX_VALUE` (6): `ld_imm64` with src_reg 6 loads the address of the value of
/// element 0 of the map at index `imm`, plus the offset held in the second slot's `imm`.
pub const PSEUDO_MAP_IDX_VALUE: u8 = 6;

/// BPF map types, numbered as in `enum bpf_map_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapType {
    Hash,
    Array,
    ProgArray,
    PerfEventArray,
    PercpuHash,
    PercpuArray,
    LruHash,
    LpmTrie,
    RingBuf,
    Unknown(u32),
}

impl MapType {
    pub fn from_raw(raw: u32) -> MapType {
        match raw {
            1 => MapType::Hash,
            2 => MapType::Array,
            3 => MapType::ProgArray,
            4 => MapType::PerfEventArray,
            5 => MapType::PercpuHash,
            6 => MapType::PercpuArray,
            9 => MapType::LruHash,
            11 => MapType::LpmTrie,
            27 => MapType::RingBuf,
            other => MapType::Unknown(other),
        }
    }

    pub fn raw(self) -> u32 {
        match self {
            MapType::Hash => 1,
            MapType::Array => 2,
            MapType::ProgArray => 3,
            MapType::PerfEventArray => 4,
            MapType::PercpuHash => 5,
            MapType::PercpuArray => 6,
            MapType::LruHash => 9,
            MapType::LpmTrie => 11,
            MapType::RingBuf => 27,
            MapType::Unknown(raw) => raw,
        }
    }
}

/// Where a map came from: `.maps` (BTF-defined), legacy `maps`, or a global data section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapOrigin {
    Btf,
    Legacy,
    /// `.data`, `.bss`: one-element array, writable.
    Data,
    /// `.rodata`: one-element array, read-only for programs.
    Rodata,
}

/// A map as the object declares it.
///
/// Global data maps (`.data*`, `.rodata*`, `.bss*`) are one-element arrays with a 4-byte key
/// whose value is the whole section; `.rodata` ones carry [`BPF_F_RDONLY_PROG`] in `map_flags`.
/// `max_entries` is 0 when the object leaves it to the loader (`perf_event_array`: one per CPU).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapSpec {
    pub name: String,
    pub map_type: MapType,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub origin: MapOrigin,
    /// Initial contents of element 0 for global data sections (`.bss` is zeroes).
    pub initial_value: Option<Vec<u8>>,
}

/// `enum bpf_attach_type` values the object's section names imply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedAttach {
    /// `tc`, `classifier`: no expected attach type.
    None,
    TcxIngress,
    TcxEgress,
    NetkitPrimary,
    NetkitPeer,
}

impl ExpectedAttach {
    /// The kernel's `enum bpf_attach_type` value (0 when none).
    pub fn raw(self) -> u32 {
        match self {
            ExpectedAttach::None => 0,
            ExpectedAttach::TcxIngress => 46,
            ExpectedAttach::TcxEgress => 47,
            ExpectedAttach::NetkitPrimary => 54,
            ExpectedAttach::NetkitPeer => 55,
        }
    }
}

/// One `bpf_func_info` record: the function starting at instruction `insn_off` of a linked
/// program has BTF type `type_id` (a `FUNC`). The kernel needs these to load programs that
/// take subprogram addresses (`bpf_loop`, `bpf_for_each_map_elem` callbacks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuncInfo {
    pub insn_off: u32,
    pub type_id: u32,
}

/// One program (SCHED_CLS) with its subprograms linked in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgramSpec {
    /// The function's symbol name.
    pub name: String,
    /// The ELF section, e.g. `netkit/primary`, `tc`.
    pub section: String,
    pub expected_attach: ExpectedAttach,
    /// Raw 8-byte instructions, little-endian as in the ELF, relocated.
    pub insns: Vec<u64>,
    /// One record per function of the linked program (entry first), against
    /// [`ObjectFile::btf`]; empty when the object has no BTF for them.
    pub func_info: Vec<FuncInfo>,
}

/// A parsed object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectFile {
    pub license: String,
    pub programs: Vec<ProgramSpec>,
    pub maps: Vec<MapSpec>,
    /// The object's `.BTF`, with section sizes and variable offsets filled in, ready for
    /// BPF_BTF_LOAD; `None` when the object has no BTF.
    pub btf: Option<Vec<u8>>,
}

/// Why an object could not be loaded. Every variant names the part of the file at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ObjError {
    #[error("not an ELF file")]
    NotElf,
    /// A header, table or section extends past the end of the file.
    #[error("truncated or out-of-bounds data: {0}")]
    Truncated(String),
    /// Valid ELF, but not something the loader handles (wrong machine, class, extern...).
    #[error("unsupported object: {0}")]
    Unsupported(String),
    #[error("malformed BTF: {0}")]
    Btf(String),
    #[error("map '{map}': {msg}")]
    Map { map: String, msg: String },
    #[error("section '{section}': {msg}")]
    Section { section: String, msg: String },
    #[error("symbol '{symbol}': {msg}")]
    Symbol { symbol: String, msg: String },
    /// A relocation in `section` at byte `offset` that cannot be applied.
    #[error("relocation in section '{section}' at offset {offset:#x}: {msg}")]
    Reloc {
        section: String,
        offset: u64,
        msg: String,
    },
}

impl ObjectFile {
    /// Parses a clang-built BPF object the way libbpf would load it, without touching the
    /// system: programs come out linked and relocated against [`ObjectFile::maps`].
    pub fn parse(data: &[u8]) -> Result<ObjectFile, ObjError> {
        let elf = elf::Elf::parse(data)?;
        let license = match elf.sections.iter().find(|s| s.name == "license") {
            Some(sec) => {
                let bytes = elf.section_data(sec)?;
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                String::from_utf8_lossy(&bytes[..end]).into_owned()
            }
            None => String::new(),
        };
        let btf_raw = match elf.sections.iter().find(|s| s.name == ".BTF") {
            Some(sec) => Some(elf.section_data(sec)?),
            None => None,
        };
        let btf = btf_raw.map(btf::Btf::parse).transpose()?;
        let (maps, locator) = maps::collect(&elf, btf.as_ref())?;
        let programs = link::programs(&elf, &locator, btf.as_ref())?;
        let btf = match (btf, btf_raw) {
            (Some(btf), Some(raw)) => Some(fixed_up_btf(&elf, &btf, raw)),
            _ => None,
        };
        Ok(ObjectFile {
            license,
            programs,
            maps,
            btf,
        })
    }

    /// The program whose function is called `name`.
    pub fn program(&self, name: &str) -> Option<&ProgramSpec> {
        self.programs.iter().find(|p| p.name == name)
    }

    /// The program a user's choice names: by function name first, then by section; the first
    /// program when there is no choice. (How `prog load OBJ [name|section N]` picks.)
    pub fn select_program(&self, choice: Option<&str>) -> Option<&ProgramSpec> {
        match choice {
            Some(want) => self
                .program(want)
                .or_else(|| self.programs.iter().find(|p| p.section == want)),
            None => self.programs.first(),
        }
    }

    /// The index of the map called `name` (the index `PSEUDO_MAP_IDX` instructions use).
    pub fn map_index(&self, name: &str) -> Option<usize> {
        self.maps.iter().position(|m| m.name == name)
    }
}

/// The object's BTF with DATASECs completed from the ELF section sizes and symbol values.
fn fixed_up_btf(elf: &elf::Elf, btf: &btf::Btf, raw: &[u8]) -> Vec<u8> {
    let section = |name: &str| elf.sections.iter().find(|s| s.name == name);
    let size = |name: &str| section(name).and_then(|s| u32::try_from(s.size).ok());
    let offset = |sec: &str, var: &str| {
        let index = section(sec)?.index;
        elf.symbols
            .iter()
            .find(|s| usize::from(s.shndx) == index && s.name == var)
            .and_then(|s| u32::try_from(s.value).ok())
    };
    btf.fixed_up(raw, &size, &offset)
}

/// The attach type a libbpf section name implies, or `None` when the section does not hold
/// SCHED_CLS programs. Exact names as libbpf 1.x defines them, plus the legacy `tc/...` and
/// `classifier/...` prefixes (libbpf's "sloppy" matching).
pub fn program_section(name: &str) -> Option<ExpectedAttach> {
    match name {
        "netkit/primary" => Some(ExpectedAttach::NetkitPrimary),
        "netkit/peer" => Some(ExpectedAttach::NetkitPeer),
        "tcx/ingress" | "tc/ingress" => Some(ExpectedAttach::TcxIngress),
        "tcx/egress" | "tc/egress" => Some(ExpectedAttach::TcxEgress),
        "tc" | "classifier" => Some(ExpectedAttach::None),
        _ if name.starts_with("tc/") || name.starts_with("classifier/") => {
            Some(ExpectedAttach::None)
        }
        _ => None,
    }
}
