//! `ProgSource::Object`: a clang-built object loaded through the crate's object loader
//! ([`crate::bpf::KernelObject`]), one program picked by name or section.

use std::os::fd::IntoRawFd;
use std::path::Path;

use netkit_bpf::obj::ObjectFile;
use netkit_core::{Errno, Error, Handle};

use crate::bpf::KernelObject;
use crate::sys;

/// Loads every map and program of the object at `path` and returns a handle on the program
/// named `program` (symbol name or section; the first program if `None`). The other
/// programs and the maps live on only as long as a loaded program refers to them.
pub fn load(path: &Path, program: Option<&str>) -> Result<Handle, Error> {
    let shown = path.display();
    let data = std::fs::read(path).map_err(|e| {
        Error::new(
            Errno::from_raw(e.raw_os_error().unwrap_or(libc::ENOENT)),
            format!("read object {shown}: {e}"),
        )
    })?;
    let obj = ObjectFile::parse(&data)
        .map_err(|e| Error::new(Errno::EINVAL, format!("object {shown}: {e}")))?;
    let spec = obj.select_program(program);
    let Some(spec) = spec else {
        let names: Vec<&str> = obj.programs.iter().map(|p| p.name.as_str()).collect();
        return Err(Error::new(
            Errno::ENOENT,
            format!(
                "object {shown} has no program {:?} (programs: {})",
                program.unwrap_or("(any)"),
                names.join(", ")
            ),
        ));
    };
    let name = spec.name.clone();
    let loaded = KernelObject::load(&obj).map_err(|e| {
        Error::new(
            Errno::from_raw(e.errno().unwrap_or(libc::EINVAL)),
            format!("load object {shown}: {e}"),
        )
    })?;
    let prog = loaded.program(&name).ok_or_else(|| {
        Error::new(
            Errno::ENOENT,
            format!("object {shown}: program {name} was not loaded"),
        )
    })?;
    // Our own descriptor: the loader's copies close when `loaded` drops.
    let fd = sys::dup(prog.fd.raw()).map_err(|e| {
        Error::new(
            Errno::from_raw(e.raw_os_error().unwrap_or(libc::EMFILE)),
            format!("duplicate program fd: {e}"),
        )
    })?;
    Ok(Handle(fd.into_raw_fd() as u32))
}
