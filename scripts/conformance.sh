#!/usr/bin/env bash
# conformance.sh: runs the conformance scenarios on the user-space backend here (as kernel 6.12
# and as the newest kernel) and on the real kernel inside the reference VM (6.12), and fails if
# any step fails on any of the three. The kernel is the judge: every scenario must pass on it.
#
# usage: scripts/conformance.sh [--user-only | --kernel-only] [-v] [PATH...]
#   PATH: scenario files or directories relative to the repository root (default: scenarios).
#   -v prints every PASS line too (by default only FAIL lines and the summaries).
#   Full logs: target/conformance-{user-6.12,user-newest,kernel}.log
# The kernel run needs the reference VM (/work/shared/oracle/netkit-vm, or $NETKIT_VM) and
# qemu; without them it prints SKIP, or fails when NETKIT_REQUIRE_PRIVILEGED=1 (CI).
set -euo pipefail
cd "$(dirname "$0")/.."
user=1 kernel=1 verbose=0 paths=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --user-only) kernel=0; shift ;;
    --kernel-only) user=0; shift ;;
    -v) verbose=1; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    -*) echo "conformance.sh: unknown option $1" >&2; exit 2 ;;
    *) paths+=("$1"); shift ;;
  esac
done
[[ ${#paths[@]} -gt 0 ]] || paths=(scenarios)
mkdir -p target
status=0
# The clang-built probes some scenarios load (scenarios/bpf/*.bpf.c -> .bpf.o).
make -s -C scenarios/bpf

show() {  # show LOG: the lines worth reading
  if [[ $verbose == 1 ]]; then cat "$1"; else grep -E '^(FAIL|SKIP)|passed, [0-9]+ failed' "$1" || true; fi
}

if [[ $user == 1 ]]; then
  cargo build -q -p netkit-cli --bin netkit
  for version in 6.12 newest; do
    log=target/conformance-user-$version.log
    echo "== user backend, kernel $version"
    target/debug/netkit conformance run "${paths[@]}" --backend user --kernel "$version" >"$log" 2>&1 || status=1
    show "$log"
  done
fi

if [[ $kernel == 1 ]]; then
  vm=${NETKIT_VM:-$(realpath -m "$(dirname "$0")/../../shared/oracle/netkit-vm")}
  echo "== kernel backend in the reference VM (6.12)"
  if [[ ! -x $vm ]]; then
    if [[ ${NETKIT_REQUIRE_PRIVILEGED:-0} == 1 ]]; then
      echo "conformance.sh: the reference VM $vm is missing" >&2; exit 1
    fi
    echo "SKIP conformance kernel backend: needs the reference VM ($vm)" >&2
    exit "$status"
  fi
  # The netkit binary, static so that it runs in the VM's bare initramfs.
  RUSTFLAGS='-C target-feature=+crt-static' CARGO_TARGET_DIR=target/static \
    cargo build -q --target x86_64-unknown-linux-gnu -p netkit-cli --bin netkit
  files=()
  for p in "${paths[@]}"; do files+=(--file "$p:/data/$p"); done
  # Scenario files given one by one still need the probes next to them.
  [[ " ${paths[*]} " == *" scenarios "* ]] || files+=(--file "scenarios/bpf:/data/scenarios/bpf")
  log=target/conformance-kernel.log
  NETKIT_VM=$vm scripts/vm-run.sh --timeout 600 "${files[@]}" \
    target/static/x86_64-unknown-linux-gnu/debug/netkit \
    conformance run "${paths[@]}" --backend kernel >"$log" 2>&1 || status=1
  show "$log"
  grep -q 'passed, [0-9]* failed' "$log" || { echo "conformance.sh: the VM run did not finish; see $log" >&2; status=1; }
fi
exit "$status"
