//! `netkit`: the command line of netkit in Rust. Talks to `netkitd` over its control socket
//! (iproute2's grammar for pairs, bpftool's for programs, links and maps), and runs the daemon
//! itself (`netkit daemon`).

mod grammar;
mod kernel_cmd;
mod output;
mod prog_run;

use grammar::Command;
use netkit_proto::{self as proto, Client, ClientError, ProgLoadReq, Request};
use output::Format;

/// Global options, accepted before the object and (except for pass-through commands) anywhere.
struct Global {
    format: Format,
    socket: String,
    /// `--backend kernel` (or `NETKIT_BACKEND=kernel`): act on the kernel's netkit instead of
    /// the daemon.
    kernel: bool,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(run(args));
}

fn run(args: Vec<String>) -> i32 {
    let mut g = Global {
        format: Format::default(),
        socket: std::env::var("NETKIT_SOCKET").unwrap_or_else(|_| proto::DEFAULT_SOCKET.into()),
        kernel: false,
    };
    match kernel_cmd::backend_from_env() {
        Ok(kernel) => g.kernel = kernel,
        Err(e) => return usage_error(&e),
    }
    let mut words = Vec::new();
    let mut it = args.into_iter();
    let mut leading = true;
    while let Some(a) = it.next() {
        let pass_through = words
            .first()
            .is_some_and(|o: &String| o == "daemon" || o == "conformance")
            || (words.first().is_some_and(|o| o == "prog")
                && words.get(1).is_some_and(|c| c == "run"));
        if !leading && pass_through {
            words.push(a);
            continue;
        }
        match a.as_str() {
            "-j" | "--json" => g.format.json = true,
            "-p" | "--pretty" => {
                g.format.json = true;
                g.format.pretty = true
            }
            "-s" | "--stats" => g.format.stats = true,
            "-d" | "--details" => {}
            "--socket" if leading => match it.next() {
                Some(p) => g.socket = p,
                None => return usage_error("--socket needs a path"),
            },
            "--backend" => match it.next().as_deref() {
                Some("kernel") => g.kernel = true,
                Some("daemon") | Some("user") => g.kernel = false,
                other => {
                    return usage_error(&format!(
                        "--backend takes kernel or daemon, not \"{}\"",
                        other.unwrap_or("nothing")
                    ))
                }
            },
            _ => {
                leading = false;
                words.push(a);
            }
        }
    }
    let command = match grammar::parse(&words) {
        Ok(c) => c,
        Err(e) => return usage_error(&e),
    };
    if g.kernel && matches!(command, Command::Request(_) | Command::ProgLoad { .. }) {
        return kernel_cmd::run(command, g.format);
    }
    match command {
        Command::Help(object) => {
            println!("{}", grammar::usage(object.as_deref()));
            0
        }
        Command::Daemon(args) => daemon(&args),
        Command::ProgRun(mut args) => {
            if g.format.json {
                args.push("-j".into());
            }
            prog_run::cmd_prog_run(&args)
        }
        Command::Conformance(args) => netkit_conformance::cli_main(&args),
        Command::ProgLoad {
            path,
            section,
            name,
        } => {
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) => {
                    let errno = proto::WireError::new(
                        if e.kind() == std::io::ErrorKind::NotFound {
                            "ENOENT"
                        } else {
                            "EACCES"
                        },
                        e.raw_os_error().unwrap_or(2),
                        format!("cannot read object {path}: {e}"),
                    );
                    return report(&ClientError::Daemon(errno));
                }
            };
            let file = std::path::Path::new(&path)
                .file_name()
                .map_or(path.clone(), |n| n.to_string_lossy().into_owned());
            let req = Request::ProgLoad(ProgLoadReq {
                file,
                object: proto::hex::encode(&bytes),
                section,
                name,
            });
            call(&g, req)
        }
        Command::Request(req) => call(&g, req),
    }
}

fn call(g: &Global, req: Request) -> i32 {
    let result = Client::connect(&g.socket).and_then(|mut c| c.call(req));
    match result {
        Ok(resp) => {
            let text = output::render(&resp, g.format);
            if !text.is_empty() {
                println!("{text}");
            }
            0
        }
        Err(e) => report(&e),
    }
}

fn report(e: &ClientError) -> i32 {
    eprintln!("Error: {e}");
    1
}

fn usage_error(msg: &str) -> i32 {
    eprintln!("Error: EINVAL: {msg}\nRun `netkit help` for the grammar.");
    1
}

fn daemon(args: &[String]) -> i32 {
    let opts = match netkit_daemon::Options::parse(args) {
        Ok(o) => o,
        Err(e) => return usage_error(&e),
    };
    match netkit_daemon::run_default(&opts) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("netkitd: {e}");
            1
        }
    }
}
