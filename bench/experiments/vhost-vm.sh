#!/usr/bin/env bash
# vhost-vm.sh: boot the reference kernel (Debian 6.12 cloud, the one netkit-vm uses) with tun/veth/vhost_net loaded, and run a shell script there. This machine's own kernel has
# no vhost-net (CONFIG_VHOST_NET is not set, no modules), so the vhost experiment runs here.
# Accelerator: VM_ACCEL (default TCG, multi-threaded: nested KVM fails on this machine with an
# emulation failure, see VHOST.md; set VM_ACCEL=kvm where it works, VM_CPU for the CPU model).
# Unlike netkit-vm it copies the host's ip, tc, iperf3 and ping with their shared libraries, so
# the same tools as bench/traffic.sh measure inside: they are at /t/ip, /t/ping, /t/tc, /t/iperf3 (busybox's sh would run its own
# ip and ping applets for the bare names).
# usage: vhost-vm.sh KODIR SCRIPT [FILE...]   (KODIR: decompressed tun/tap/veth/vhost*.ko)
#   FILEs land in /data; the script runs as root with cwd /data; its output comes back on stdout.
set -euo pipefail
kodir=$1 script=$2; shift 2
kernel=${VM_KERNEL:-${NETKIT_VM_CACHE:-$HOME/.cache/netkit-vm}/vmlinuz}
[[ -s $kernel ]] || { echo "vhost-vm: no kernel at $kernel (run netkit-vm once)" >&2; exit 2; }
work=$(mktemp -d)
trap '[[ -n ${KEEP:-} ]] || rm -rf "$work"' EXIT   # KEEP=1 keeps the console log
root=$work/root
mkdir -p "$root"/{bin,sbin,proc,sys,dev,data,tmp,run/netns,etc,lib64,usr}
ln -s ../bin "$root/usr/bin"; ln -s ../sbin "$root/usr/sbin"; ln -s lib64 "$root/lib"
cp /bin/busybox "$root/bin/busybox"
for a in sh ls cat mount echo sleep poweroff grep insmod unshare nsenter kill awk sed seq cut \
    head tail taskset umount touch date timeout killall sort; do ln -sf busybox "$root/bin/$a"; done
mkdir -p "$root/t"
for t in ip iperf3 ping tc; do
    p=$(command -v "$t"); cp "$p" "$root/t/$t"
    ldd "$p" | awk '/=>/{print $3} /ld-linux/{print $1}' | while read -r l; do
        [[ -f $l ]] && cp -n "$l" "$root/lib64/"; done
done
cp "$kodir"/*.ko "$root/data/"
cp "$script" "$root/data/run.sh"
for f in "$@"; do cp "$f" "$root/data/"; done
{
    echo '#!/bin/sh'
    echo 'mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev'
    echo 'mount -t tmpfs tmp /tmp; mount -t tmpfs run /run; mkdir -p /run/netns'
    echo 'echo 127.0.0.1 localhost > /etc/hosts'
    echo 'cd /data; for m in tun tap veth vhost_iotlb vhost vhost_net; do insmod /data/$m.ko || echo "insmod $m failed"; done'
    echo 'echo; echo VHVM-BEGIN; sh /data/run.sh 2>&1; echo "VHVM-EXIT $?"; poweroff -f'
} >"$root/init"
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$work/initrd.gz"
timeout "${VM_TIMEOUT:-1800}" qemu-system-x86_64 -accel ${VM_ACCEL:-tcg,thread=multi} -cpu ${VM_CPU:-max} -m 1024 -smp 2 -nographic \
    -no-reboot -kernel "$kernel" -initrd "$work/initrd.gz" \
    -append "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init" >"$work/console" 2>&1 || true
tr -d '\r' <"$work/console" | sed -n '/^VHVM-BEGIN$/,/^VHVM-EXIT /p'
grep -q '^VHVM-EXIT' <(tr -d '\r' <"$work/console") || { tr -d '\r' <"$work/console" | tail -20 >&2; exit 3; }
