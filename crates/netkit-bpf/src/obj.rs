//! Parsing of clang-built BPF ELF objects into plain data, libbpf's conventions, no execution.
//!
//! The output is what the engine needs to instantiate maps and verify and run programs:
//! every program already has its `.text` subprograms appended and its BPF-to-BPF calls
//! resolved, and every map reference is a pseudo instruction naming a map by index into
//! [`ObjectFile::maps`].

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
}

/// A parsed object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectFile {
    pub license: String,
    pub programs: Vec<ProgramSpec>,
    pub maps: Vec<MapSpec>,
}
