#!/usr/bin/env bash
# Traffic benchmark (root): one run, three paths between a "host" and a "pod" namespace:
#   (a) a kernel veth pair,
#   (b) the veth with bench/count.bpf.c attached to tcx ingress and egress of the host end
#       (loaded and attached by the tcx_attach example, through netkit-kernel's bpf(2) code),
#   (c) our user-space netkit pair (TUN, L3) made by `netkit daemon` + `netkit link add`, with
#       the same object loaded by `netkit prog load` and attached to both hooks, run by our
#       eBPF engine.
# Measures iperf3 TCP single stream (pod->host, host->pod), UDP 64-byte packets per second
# (pod->host, received), and round-trip latency p50/p99 (1000 pings, 1 ms apart), then prints
# a table with ratios.
# Usage: bench/traffic.sh [SECONDS]     (TCP duration, default 10)
set -euo pipefail
DUR=${1:-10}
UDP_DUR=5
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
H=nkbh$$
P=nkbp$$
HOST_IP=10.250.0.1
POD_IP=10.250.0.2
daemon_pid=

cleanup() {
    if [[ -n $daemon_pid ]]; then
        "$nk" link del nkbprim >/dev/null 2>&1 || true
        kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
    fi
    ip netns del "$H" 2>/dev/null || true
    ip netns del "$P" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT

need() { command -v "$1" >/dev/null || { echo "traffic.sh: needs $1" >&2; exit 1; }; }
for t in ip iperf3 ping clang-19 python3 cargo; do need "$t"; done
[[ $(id -u) == 0 ]] || { echo "traffic.sh: run as root" >&2; exit 1; }

echo "building netkit (release) and count.bpf.o ..." >&2
(cd "$root" && cargo build -q --release -p netkit-cli &&
    cargo build -q --release -p netkit-daemon --example tcx_attach)
nk() { "$root/target/release/netkit" --socket "$tmp/sock" "$@"; }
nk=nk
clang-19 -O2 -g -target bpf -mcpu=v3 -Wall -I/usr/include/"$(uname -m)"-linux-gnu \
    -c "$root/bench/count.bpf.c" -o "$tmp/count.bpf.o"

fresh_ns() {
    ip netns del "$H" 2>/dev/null || true
    ip netns del "$P" 2>/dev/null || true
    ip netns add "$H"
    ip netns add "$P"
    ip -n "$H" link set lo up
    ip -n "$P" link set lo up
}

veth() {
    ip -n "$H" link add vh type veth peer name vp netns "$P"
    ip -n "$H" addr add $HOST_IP/24 dev vh
    ip -n "$P" addr add $POD_IP/24 dev vp
    ip -n "$H" link set vh up
    ip -n "$P" link set vp up
}

tcx_prog() {
    ip netns exec "$H" "$root/target/release/examples/tcx_attach" "$tmp/count.bpf.o" count vh >&2
}

ours() {
    # The daemon runs in the host namespace, so the primary is created there.
    ip netns exec "$H" "$root/target/release/netkit" daemon --socket "$tmp/sock" \
        --state-dir "$tmp/state" >"$tmp/daemon.log" 2>&1 &
    daemon_pid=$!
    for _ in $(seq 50); do [[ -S $tmp/sock ]] && break; sleep 0.1; done
    nk link add nkbprim type netkit mode l3 peer name nkbpeer netns "$P" >/dev/null
    nk prog load "$tmp/count.bpf.o" >/dev/null
    nk prog attach id 1 dev nkbprim primary
    nk prog attach id 1 dev nkbprim peer
    ip -n "$H" addr add $HOST_IP/24 dev nkbprim
    ip -n "$H" link set nkbprim up
    ip -n "$P" addr add $POD_IP/24 dev nkbpeer
    ip -n "$P" link set nkbpeer up
    for _ in $(seq 50); do
        ip netns exec "$P" ping -c 1 -W 1 $HOST_IP >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "traffic.sh: our pair did not come up:" >&2
    cat "$tmp/daemon.log" >&2
    exit 1
}

json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# measure LABEL: writes $tmp/LABEL.{tcp_up,tcp_down,udp,p50,p99}
measure() {
    local l=$1
    ip netns exec "$H" iperf3 -s -D -B $HOST_IP --pidfile "$tmp/iperf.pid"
    sleep 0.3
    ip netns exec "$P" iperf3 -c $HOST_IP -t "$DUR" -J >"$tmp/$l.up.json"
    ip netns exec "$P" iperf3 -c $HOST_IP -t "$DUR" -R -J >"$tmp/$l.down.json"
    ip netns exec "$P" iperf3 -c $HOST_IP -u -l 64 -b 0 -t $UDP_DUR -J >"$tmp/$l.udp.json"
    kill "$(cat "$tmp/iperf.pid")" 2>/dev/null || true
    json "$tmp/$l.up.json" "d['end']['sum_received']['bits_per_second']/1e9" >"$tmp/$l.tcp_up"
    json "$tmp/$l.down.json" "d['end']['sum_received']['bits_per_second']/1e9" >"$tmp/$l.tcp_down"
    json "$tmp/$l.udp.json" \
        "(d['end']['sum']['packets']-d['end']['sum']['lost_packets'])/d['end']['sum']['seconds']/1e3" >"$tmp/$l.udp"
    ip netns exec "$P" ping -c 1000 -i 0.001 $HOST_IP >"$tmp/$l.ping" 2>&1 || true
    python3 - "$tmp/$l.ping" "$tmp/$l" <<'PY'
import re, sys
rtts = sorted(float(m) * 1000 for m in re.findall(r"time=([0-9.]+) ms", open(sys.argv[1]).read()))
if not rtts:
    raise SystemExit("no ping replies")
pick = lambda q: rtts[min(len(rtts) - 1, int(q * len(rtts)))]
open(sys.argv[2] + ".p50", "w").write(f"{pick(0.50):.1f}\n")
open(sys.argv[2] + ".p99", "w").write(f"{pick(0.99):.1f}\n")
PY
    echo "  $l done" >&2
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "(a) veth" >&2
fresh_ns; veth; measure veth
echo "(b) veth + tcx program on the host end" >&2
fresh_ns; veth; tcx_prog; measure vethtc
echo "(c) user-space netkit pair, program on both hooks" >&2
fresh_ns; ours; measure ours
echo "programs after the run (run counts from our engine):" >&2
nk prog show >&2
nk link del nkbprim
kill "$daemon_pid" 2>/dev/null; wait "$daemon_pid" 2>/dev/null || true; daemon_pid=

echo "TCP ${DUR}s single stream, UDP 64-byte ${UDP_DUR}s, RTT from 1000 pings 1 ms apart;" \
    "$(nproc) CPUs, load average $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after"
python3 - "$tmp" <<'PY'
import sys
t = sys.argv[1]
v = lambda l, m: float(open(f"{t}/{l}.{m}").read())
rows = [
    ("TCP pod->host Gbit/s", "tcp_up", "vethtc", ">= 0.8x (b)", True),
    ("TCP host->pod Gbit/s", "tcp_down", "vethtc", ">= 0.8x (b)", True),
    ("UDP 64B pod->host kpps", "udp", "veth", ">= 0.5x (a)", True),
    ("RTT p50 us", "p50", "veth", "<= 1.5x (a)", False),
    ("RTT p99 us", "p99", "veth", "<= 1.5x (a)", False),
]
goal = {">= 0.8x (b)": 0.8, ">= 0.5x (a)": 0.5, "<= 1.5x (a)": 1.5}
print(f"| {'metric':24} | {'(a) veth':>9} | {'(b) veth+tcx':>12} | {'(c) ours':>9} | {'c/a':>5} | {'c/b':>5} | goal | met |")
print("|" + "---|" * 8)
for name, m, base, g, higher in rows:
    a, b, c = v("veth", m), v("vethtc", m), v("ours", m)
    ratio = c / (b if base == "vethtc" else a)
    met = ratio >= goal[g] if higher else ratio <= goal[g]
    print(f"| {name:24} | {a:9.2f} | {b:12.2f} | {c:9.2f} | {c/a:5.2f} | {c/b:5.2f} | {g} | {'yes' if met else 'NO'} |")
PY
