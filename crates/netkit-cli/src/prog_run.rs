//! `netkit prog run` (owned by the engine's helper; this placeholder is replaced when that lands).

pub fn cmd_prog_run(_args: &[String]) -> i32 {
    eprintln!("Error: EOPNOTSUPP: `netkit prog run` is not built into this netkit yet");
    1
}
