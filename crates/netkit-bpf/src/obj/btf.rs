//! Just enough BTF (the `.BTF` section) to read BTF-defined maps: libbpf's `__uint(name, N)`
//! is encoded as a member of type `int (*)[N]`, and `__type(key, T)` as a member of type
//! `T *`. Types are kept as parsed; sizes are resolved on demand with a depth limit, so a
//! cyclic or dangling type graph is an error, not a hang.

use super::ObjError;

const BTF_MAGIC: u16 = 0xeb9f;
/// Chains of typedefs/modifiers deeper than this are treated as malformed.
const MAX_RESOLVE_DEPTH: usize = 32;

/// `BTF_KIND_*` values.
mod kind {
    pub const INT: u32 = 1;
    pub const PTR: u32 = 2;
    pub const ARRAY: u32 = 3;
    pub const STRUCT: u32 = 4;
    pub const UNION: u32 = 5;
    pub const ENUM: u32 = 6;
    pub const FWD: u32 = 7;
    pub const TYPEDEF: u32 = 8;
    pub const VOLATILE: u32 = 9;
    pub const CONST: u32 = 10;
    pub const RESTRICT: u32 = 11;
    pub const FUNC: u32 = 12;
    pub const FUNC_PROTO: u32 = 13;
    pub const VAR: u32 = 14;
    pub const DATASEC: u32 = 15;
    pub const FLOAT: u32 = 16;
    pub const DECL_TAG: u32 = 17;
    pub const TYPE_TAG: u32 = 18;
    pub const ENUM64: u32 = 19;
}

/// A struct/union member (name, type id) or a datasec entry (no name; the variable's type id).
#[derive(Clone, Debug)]
struct Member {
    name: String,
    type_id: u32,
}

#[derive(Clone, Debug)]
struct Type {
    name: String,
    kind: u32,
    /// `size` for sized kinds, referenced type id for the others.
    size_or_type: u32,
    /// ARRAY: (element type, nelems).
    array: Option<(u32, u32)>,
    members: Vec<Member>,
    /// Byte position of this type's header in the raw BTF (for fix-ups).
    pos: usize,
}

/// A parsed BTF type table. Type id 0 is `void`; ids start at 1.
pub struct Btf {
    types: Vec<Type>,
}

/// The map attributes a BTF map definition spells out; absent ones are `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BtfMapDef {
    pub map_type: Option<u32>,
    pub key_size: Option<u32>,
    pub value_size: Option<u32>,
    pub max_entries: Option<u32>,
    pub map_flags: Option<u32>,
}

fn rd_u32(b: &[u8], off: usize) -> Result<u32, ObjError> {
    b.get(off..off + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or_else(|| ObjError::Btf(format!("truncated at byte {off}")))
}

impl Btf {
    pub fn parse(data: &[u8]) -> Result<Btf, ObjError> {
        let magic = data
            .get(..2)
            .map(|m| u16::from_le_bytes([m[0], m[1]]))
            .ok_or_else(|| ObjError::Btf("truncated header".into()))?;
        if magic != BTF_MAGIC {
            return Err(ObjError::Btf(format!("bad magic {magic:#x}")));
        }
        let hdr_len = rd_u32(data, 4)? as usize;
        let type_off = rd_u32(data, 8)? as usize;
        let type_len = rd_u32(data, 12)? as usize;
        let str_off = rd_u32(data, 16)? as usize;
        let str_len = rd_u32(data, 20)? as usize;
        let body = data
            .get(hdr_len..)
            .ok_or_else(|| ObjError::Btf("header longer than section".into()))?;
        let range = |off: usize, len: usize, what: &str| {
            off.checked_add(len)
                .and_then(|end| body.get(off..end))
                .ok_or_else(|| ObjError::Btf(format!("{what} out of bounds")))
        };
        let types_b = range(type_off, type_len, "type section")?;
        let strs = range(str_off, str_len, "string section")?;
        let name = |off: u32| -> Result<String, ObjError> {
            let tail = strs
                .get(off as usize..)
                .ok_or_else(|| ObjError::Btf(format!("name offset {off} out of bounds")))?;
            let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
            Ok(String::from_utf8_lossy(&tail[..end]).into_owned())
        };

        let mut types = vec![Type {
            name: "void".into(),
            kind: 0,
            size_or_type: 0,
            array: None,
            members: Vec::new(),
            pos: 0,
        }];
        let types_start = hdr_len + type_off;
        let mut p = 0usize;
        while p < types_b.len() {
            let pos = types_start + p;
            let name_off = rd_u32(types_b, p)?;
            let info = rd_u32(types_b, p + 4)?;
            let size_or_type = rd_u32(types_b, p + 8)?;
            p += 12;
            let vlen = (info & 0xffff) as usize;
            let k = (info >> 24) & 0x1f;
            let mut t = Type {
                name: name(name_off)?,
                kind: k,
                size_or_type,
                array: None,
                members: Vec::new(),
                pos,
            };
            // Each kind is followed by kind-specific data of a known size.
            let (entry, count) = match k {
                kind::INT | kind::VAR | kind::DECL_TAG => (4, 1),
                kind::ARRAY => {
                    let elem = rd_u32(types_b, p)?;
                    let nelems = rd_u32(types_b, p + 8)?;
                    t.array = Some((elem, nelems));
                    (12, 1)
                }
                kind::STRUCT | kind::UNION | kind::DATASEC | kind::ENUM64 => (12, vlen),
                kind::ENUM | kind::FUNC_PROTO => (8, vlen),
                kind::PTR
                | kind::FWD
                | kind::TYPEDEF
                | kind::VOLATILE
                | kind::CONST
                | kind::RESTRICT
                | kind::FUNC
                | kind::FLOAT
                | kind::TYPE_TAG => (0, 0),
                other => {
                    return Err(ObjError::Btf(format!(
                        "type {} has unknown kind {other}",
                        types.len()
                    )))
                }
            };
            if matches!(k, kind::STRUCT | kind::UNION) {
                // struct btf_member { name_off, type, offset }
                for i in 0..vlen {
                    let m = p + i * 12;
                    t.members.push(Member {
                        name: name(rd_u32(types_b, m)?)?,
                        type_id: rd_u32(types_b, m + 4)?,
                    });
                }
            } else if k == kind::DATASEC {
                // struct btf_var_secinfo { type, offset, size }
                for i in 0..vlen {
                    t.members.push(Member {
                        name: String::new(),
                        type_id: rd_u32(types_b, p + i * 12)?,
                    });
                }
            }
            p = p
                .checked_add(entry * count)
                .filter(|&end| end <= types_b.len())
                .ok_or_else(|| ObjError::Btf(format!("type {} truncated", types.len())))?;
            types.push(t);
        }
        Ok(Btf { types })
    }

    fn get(&self, id: u32) -> Result<&Type, ObjError> {
        self.types
            .get(id as usize)
            .ok_or_else(|| ObjError::Btf(format!("type id {id} out of range")))
    }

    /// Follows typedefs and qualifiers to the underlying type.
    fn skip_mods(&self, mut id: u32) -> Result<(u32, &Type), ObjError> {
        for _ in 0..MAX_RESOLVE_DEPTH {
            let t = self.get(id)?;
            match t.kind {
                kind::TYPEDEF | kind::VOLATILE | kind::CONST | kind::RESTRICT | kind::TYPE_TAG => {
                    id = t.size_or_type
                }
                _ => return Ok((id, t)),
            }
        }
        Err(ObjError::Btf(format!("type chain at id {id} too deep")))
    }

    /// The byte size of a type, as `sizeof` would give it.
    pub fn size_of(&self, id: u32) -> Result<u32, ObjError> {
        self.size_of_depth(id, 0)
    }

    fn size_of_depth(&self, id: u32, depth: usize) -> Result<u32, ObjError> {
        if depth > MAX_RESOLVE_DEPTH {
            return Err(ObjError::Btf(format!("type chain at id {id} too deep")));
        }
        let t = self.get(id)?;
        match t.kind {
            kind::INT
            | kind::STRUCT
            | kind::UNION
            | kind::ENUM
            | kind::ENUM64
            | kind::FLOAT
            | kind::DATASEC => Ok(t.size_or_type),
            kind::PTR => Ok(8),
            kind::ARRAY => {
                let (elem, n) = t.array.unwrap_or((0, 0));
                self.size_of_depth(elem, depth + 1)?
                    .checked_mul(n)
                    .ok_or_else(|| ObjError::Btf(format!("array type {id} size overflows")))
            }
            kind::TYPEDEF
            | kind::VOLATILE
            | kind::CONST
            | kind::RESTRICT
            | kind::TYPE_TAG
            | kind::VAR => self.size_of_depth(t.size_or_type, depth + 1),
            _ => Err(ObjError::Btf(format!(
                "type {id} ('{}') has no size",
                t.name
            ))),
        }
    }

    /// Looks up the `VAR` called `name` inside the datasec called `section` and decodes it as a
    /// libbpf map definition.
    pub fn map_def(&self, section: &str, name: &str) -> Result<BtfMapDef, ObjError> {
        let err = |msg: String| ObjError::Map {
            map: name.to_string(),
            msg,
        };
        let datasec = self
            .types
            .iter()
            .find(|t| t.kind == kind::DATASEC && t.name == section)
            .ok_or_else(|| err(format!("no BTF datasec '{section}'")))?;
        let var = datasec
            .members
            .iter()
            .map(|m| self.get(m.type_id))
            .find(|t| matches!(t, Ok(t) if t.kind == kind::VAR && t.name == name))
            .ok_or_else(|| err(format!("no BTF variable in '{section}'")))??;
        let (_, def) = self.skip_mods(var.size_or_type)?;
        if def.kind != kind::STRUCT {
            return Err(err("definition is not a struct".into()));
        }
        let mut out = BtfMapDef::default();
        for m in &def.members {
            let (_, mt) = self.skip_mods(m.type_id)?;
            match m.name.as_str() {
                "type" | "max_entries" | "map_flags" | "key_size" | "value_size" => {
                    let v = self
                        .uint_value(mt)
                        .map_err(|e| err(format!("member '{}': {e}", m.name)))?;
                    match m.name.as_str() {
                        "type" => out.map_type = Some(v),
                        "max_entries" => out.max_entries = Some(v),
                        "map_flags" => out.map_flags = Some(v),
                        "key_size" => out.key_size = Some(v),
                        _ => out.value_size = Some(v),
                    }
                }
                "key" | "value" => {
                    if mt.kind != kind::PTR {
                        return Err(err(format!("member '{}' is not a pointer", m.name)));
                    }
                    let size = self.size_of(mt.size_or_type)?;
                    if m.name == "key" {
                        out.key_size = Some(size);
                    } else {
                        out.value_size = Some(size);
                    }
                }
                // Pinning is a loader policy we do not apply; `values` (static prog_array
                // initialisation) and nested map templates are not loaded.
                "pinning" | "values" => {}
                other => return Err(err(format!("unknown map attribute '{other}'"))),
            }
        }
        Ok(out)
    }

    /// `__uint(name, N)` is `int (*name)[N]`: a pointer to an array of N elements.
    fn uint_value(&self, t: &Type) -> Result<u32, ObjError> {
        if t.kind != kind::PTR {
            return Err(ObjError::Btf("not a pointer (expected __uint)".into()));
        }
        let (_, arr) = self.skip_mods(t.size_or_type)?;
        match arr.array {
            Some((_, n)) if arr.kind == kind::ARRAY => Ok(n),
            _ => Err(ObjError::Btf(
                "not a pointer to an array (expected __uint)".into(),
            )),
        }
    }
}

impl Btf {
    /// The id of the `FUNC` type called `name`.
    pub fn func_id(&self, name: &str) -> Option<u32> {
        self.types
            .iter()
            .position(|t| t.kind == kind::FUNC && t.name == name)
            .map(|i| i as u32)
    }

    /// A copy of `raw` (the bytes this table was parsed from) with every `DATASEC` completed
    /// as libbpf does before loading BTF: clang leaves section sizes and variable offsets 0,
    /// so they are taken from the ELF section sizes and symbol values, and the variables are
    /// sorted by offset as the kernel requires. Sections the callbacks do not know stay as is.
    pub fn fixed_up(
        &self,
        raw: &[u8],
        section_size: &dyn Fn(&str) -> Option<u32>,
        var_offset: &dyn Fn(&str, &str) -> Option<u32>,
    ) -> Vec<u8> {
        let mut out = raw.to_vec();
        let put = |out: &mut Vec<u8>, at: usize, v: u32| {
            if let Some(dst) = out.get_mut(at..at + 4) {
                dst.copy_from_slice(&v.to_le_bytes());
            }
        };
        for t in self.types.iter().filter(|t| t.kind == kind::DATASEC) {
            let Some(size) = section_size(&t.name) else {
                continue;
            };
            put(&mut out, t.pos + 8, size);
            let mut vars: Vec<(u32, u32, u32)> = Vec::new();
            for (i, m) in t.members.iter().enumerate() {
                let at = t.pos + 12 + i * 12;
                let old_off = rd_u32(raw, at + 4).unwrap_or(0);
                let var_size = rd_u32(raw, at + 8).unwrap_or(0);
                let name = self
                    .types
                    .get(m.type_id as usize)
                    .map_or("", |v| v.name.as_str());
                let off = var_offset(&t.name, name).unwrap_or(old_off);
                vars.push((off, m.type_id, var_size));
            }
            vars.sort();
            for (i, (off, type_id, var_size)) in vars.into_iter().enumerate() {
                let at = t.pos + 12 + i * 12;
                put(&mut out, at, type_id);
                put(&mut out, at + 4, off);
                put(&mut out, at + 8, var_size);
            }
        }
        out
    }
}
