#!/usr/bin/env bash
# vm-run.sh: run an already built, statically linked program as root inside the reference VM
# (Linux 6.12 with netkit), copying extra files next to it. Builds nothing.
#
# usage: scripts/vm-run.sh [--file SRC[:DST]]... [--timeout S] [--mem MiB] BINARY [ARGS...]
#   Files land in /data/<name> (the program's working directory) unless DST is given.
#   Exit status: the program's, or 2 for a usage error.
# Build a static binary first, e.g.
#   RUSTFLAGS='-C target-feature=+crt-static' CARGO_TARGET_DIR=target/static \
#     cargo build --target x86_64-unknown-linux-gnu -p netkit-kernel --example vm_smoke
set -euo pipefail
vm=${NETKIT_VM:-$(realpath -m "$(dirname "$0")/../../shared/oracle/netkit-vm")}
opts=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --file|--timeout|--mem)
      [[ $# -ge 2 ]] || { echo "vm-run.sh: $1 needs a value" >&2; exit 2; }
      opts+=("$1" "$2"); shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
[[ $# -ge 1 ]] || { echo "vm-run.sh: no program given (see --help)" >&2; exit 2; }
bin=$1; shift
[[ -x $bin ]] || { echo "vm-run.sh: $bin is not an executable file" >&2; exit 2; }
[[ -x $vm ]] || { echo "vm-run.sh: the reference VM script $vm is missing" >&2; exit 2; }
exec "$vm" "${opts[@]}" -- "$bin" "$@"
