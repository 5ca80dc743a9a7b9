//! For bench/traffic.sh: loads a program from a clang-built object into the kernel and attaches
//! it with BPF_PROG_ATTACH to tcx ingress (46) and egress (47) of an interface of the current
//! namespace. The attachments stay after this process exits (tcx keeps them until detached or
//! the device goes away).
//!
//! Usage: tcx_attach OBJECT PROGRAM IFNAME

use std::path::Path;

const BPF_TCX_INGRESS: u32 = 46;
const BPF_TCX_EGRESS: u32 = 47;

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [obj, prog, ifname] = match args.as_slice() {
        [a, b, c] => [a, b, c],
        _ => return Err("usage: tcx_attach OBJECT PROGRAM IFNAME".into()),
    };
    let ifindex = netkit_io::rtnl::Rtnl::open()
        .and_then(|r| r.link_by_name(ifname))
        .map_err(|e| e.to_string())?
        .ifindex;
    let handle =
        netkit_kernel::object::load(Path::new(obj), Some(prog)).map_err(|e| e.to_string())?;
    for attach_type in [BPF_TCX_INGRESS, BPF_TCX_EGRESS] {
        netkit_kernel::progs::attach_raw(ifindex, handle, attach_type)
            .map_err(|e| format!("attach type {attach_type} on {ifname}: {e}"))?;
    }
    println!("attached {prog} to tcx ingress and egress of {ifname} (ifindex {ifindex})");
    Ok(())
}
