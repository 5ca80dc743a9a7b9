//! Stand-alone entry point of the conformance runner (the same as `netkit conformance ...`),
//! small enough to build static and run inside the reference VM.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(netkit_conformance::cli_main(&args));
}
