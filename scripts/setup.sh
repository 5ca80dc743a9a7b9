#!/usr/bin/env bash
# Installs what netkit needs on a fresh Debian 12 machine (run as root) and mounts bpffs.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(clang-19 llvm-19 libbpf-dev bpftool iproute2 iperf3 tcpdump iputils-ping curl python3
      qemu-system-x86 busybox-static cpio procps)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
    apt-get update -q
    apt-get install -y -q "${missing[@]}"
fi
if ! mountpoint -q /sys/fs/bpf; then
    mkdir -p /sys/fs/bpf && mount -t bpf bpf /sys/fs/bpf
fi
