#!/usr/bin/env bash
# vhost-bench.sh (root): the vhost-net experiment end to end. This machine's kernel has no
# vhost-net, so it fetches the reference kernel's package (Debian trixie cloud, the kernel
# netkit-vm boots) once for its tun/tap/veth/vhost modules, builds vhost_relay statically, boots
# the VM (vhost-vm.sh) and runs vhost-inner.sh there, then prints medians of the rounds.
# Usage: bench/experiments/vhost-bench.sh [SECONDS] [ROUNDS]   (default 3 3)
# env: SETUPS (subset of "veth rw rwspin vhost vhostspin vhostbl vhosttun vhosttunspin"), VM_ACCEL (default TCG).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${NETKIT_VM_CACHE:-$HOME/.cache/netkit-vm}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
[[ -s $cache/vmlinuz && -s $cache/kernel-version ]] ||
    { echo "vhost-bench: no reference kernel in $cache: run netkit-vm once first" >&2; exit 2; }
ver=$(cat "$cache/kernel-version")
ko=$cache/vhost-ko
if [[ ! -s $ko/vhost_net.ko ]]; then
    apt=$cache/apt
    opts=(-o Dir::Etc::sourcelist="$apt/sources.list" -o Dir::Etc::sourceparts=-
        -o Dir::State::Lists="$apt/lists" -o Dir::Cache::Archives="$apt/archives" -o APT::Sandbox::User=root)
    (cd "$work" && apt-get "${opts[@]}" download "linux-image-$ver-unsigned" >/dev/null)
    dpkg-deb -x "$work"/linux-image-*.deb "$work/x"
    mkdir -p "$ko"
    for m in net/tun net/tap net/veth vhost/vhost_iotlb vhost/vhost vhost/vhost_net; do
        xz -dc "$work/x/usr/lib/modules/$ver/kernel/drivers/$m.ko.xz" >"$ko/$(basename $m).ko"
    done
fi
gcc -O2 -Wall -Wextra -static -o "$work/vhost_relay" "$here/vhost_relay.c"
cp "$here/vhost-inner.sh" "$work/"
{ echo "export DUR=${1:-3} ROUNDS=${2:-3} SETUPS='${SETUPS:-veth rw rwspin vhost vhostspin vhostbl}'"
  echo '. ./vhost-inner.sh'; } >"$work/run.sh"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
"$here/vhost-vm.sh" "$ko" "$work/run.sh" "$work/vhost_relay" "$work/vhost-inner.sh" | tee "$work/out" | grep '^R ' >&2
echo "host load average $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after; VM: 2 vCPUs, ${VM_ACCEL:-TCG}"
python3 "$here/vhost-table.py" "$work/out" "${1:-3}"
