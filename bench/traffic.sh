#!/usr/bin/env bash
# Traffic benchmark (root): one run, three paths between a "host" and a "pod" namespace:
#   (a) a kernel veth pair,
#   (b) the veth with bench/count.bpf.c attached to tcx ingress and egress of the host end
#       (loaded and attached by the tcx_attach example, through netkit-kernel's bpf(2) code),
#   (c) our user-space netkit pair (TUN, L3) made by `netkit daemon` + `netkit link add`, with
#       the same object loaded by `netkit prog load` and attached to both hooks, run by our
#       eBPF engine.
#   (c') the same pair with the workers busy-polling (NETKIT_DATAPLANE_BUSY_POLL_US=2000),
#   (d) the floor of any TUN-based datapath: netkit-io's tun_relay example, two TUN devices made
#       the same way and one thread copying frames between them, no programs (sleeping in poll),
#   (d') the same relay never sleeping (spin).
# (d) and (d') tell how much of the gap to veth is the price of TUN read/write on this machine
# and how much is ours: (c)/(d) near 1 means our datapath adds nothing measurable to it.
# Measures iperf3 TCP single stream (pod->host, host->pod), UDP 64-byte packets per second
# (pod->host, received), and round-trip latency p50/p99 (1000 pings, 1 ms apart). Every setup
# is measured ROUNDS times, the setups interleaved round by round so that a slow spell of the
# machine hits them alike; the table shows medians and ratios of medians.
# Usage: bench/traffic.sh [SECONDS] [ROUNDS]    (TCP duration, default 10; rounds, default 3)
# In a KVM guest with the haltpoll cpuidle driver, HALT_POLL_NS=N sets the guest's halt polling
# (/sys/module/haltpoll/parameters/guest_halt_poll_ns) for the run and restores it afterwards:
# how long an idle vCPU polls before halting (on the development machine 200000 changed nothing
# measurable: docs/dataplane.md).
set -euo pipefail
DUR=${1:-10}
ROUNDS=${2:-3}
UDP_DUR=5
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
H=nkbh$$
P=nkbp$$
HOST_IP=10.250.0.1
POD_IP=10.250.0.2
daemon_pid=
relay_pid=

stop_relay() {
    if [[ -n $relay_pid ]]; then kill "$relay_pid" 2>/dev/null; wait "$relay_pid" 2>/dev/null || true; fi
    relay_pid=
}

stop_daemon() {
    if [[ -n $daemon_pid ]]; then
        "$nk" link del nkbprim >/dev/null 2>&1 || true
        kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
    fi
    daemon_pid=
}

HALT_POLL=/sys/module/haltpoll/parameters/guest_halt_poll_ns
halt_poll_was=
if [[ -n ${HALT_POLL_NS:-} ]]; then
    [[ -w $HALT_POLL ]] || { echo "traffic.sh: HALT_POLL_NS needs $HALT_POLL (haltpoll cpuidle)" >&2; exit 1; }
    halt_poll_was=$(cat "$HALT_POLL")
    echo "$HALT_POLL_NS" >"$HALT_POLL"
fi
halt_poll_now() { if [[ -r $HALT_POLL ]]; then cat "$HALT_POLL"; else echo "n/a"; fi; }

cleanup() {
    if [[ -n $halt_poll_was ]]; then echo "$halt_poll_was" >"$HALT_POLL"; fi
    stop_relay
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
    cargo build -q --release -p netkit-daemon --example tcx_attach &&
    cargo build -q --release -p netkit-io --example tun_relay)
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

addresses() {
    ip -n "$H" addr add $HOST_IP/24 dev nkbprim
    ip -n "$H" link set nkbprim up
    ip -n "$P" addr add $POD_IP/24 dev nkbpeer
    ip -n "$P" link set nkbpeer up
}

wait_up() {
    for _ in $(seq 50); do
        ip netns exec "$P" ping -c 1 -W 1 $HOST_IP >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "traffic.sh: $1 did not come up:" >&2
    cat "$2" >&2
    exit 1
}

relay() {
    "$root/target/release/examples/tun_relay" "$H" "$P" nkbprim nkbpeer "$1" >"$tmp/relay.log" 2>&1 &
    relay_pid=$!
    for _ in $(seq 50); do grep -q ready "$tmp/relay.log" && break; sleep 0.1; done
    addresses
    wait_up "the TUN relay" "$tmp/relay.log"
}

ours() {
    # The daemon runs in the host namespace, so the primary is created there. Each run starts
    # from no state (a restored program would change the ids).
    rm -rf "$tmp/state" "$tmp/sock"
    ip netns exec "$H" env NETKIT_DATAPLANE_BUSY_POLL_US="$1" "$root/target/release/netkit" daemon --socket "$tmp/sock" \
        --state-dir "$tmp/state" >"$tmp/daemon.log" 2>&1 &
    daemon_pid=$!
    for _ in $(seq 50); do [[ -S $tmp/sock ]] && break; sleep 0.1; done
    nk link add nkbprim type netkit mode l3 peer name nkbpeer netns "$P" >/dev/null
    nk prog load "$tmp/count.bpf.o" >/dev/null
    nk prog attach id 1 dev nkbprim primary
    nk prog attach id 1 dev nkbprim peer
    addresses
    wait_up "our pair" "$tmp/daemon.log"
}

json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }

# measure LABEL ROUND: writes $tmp/LABEL.ROUND.{tcp_up,tcp_down,udp,p50,p99}
measure() {
    local l=$1.$2
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
    echo "  $l: TCP $(cat "$tmp/$l.tcp_up")/$(cat "$tmp/$l.tcp_down") Gbit/s, UDP $(cat "$tmp/$l.udp") kpps, RTT $(cat "$tmp/$l.p50")/$(cat "$tmp/$l.p99") us" >&2
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$ROUNDS"); do
    echo "round $r of $ROUNDS" >&2
    fresh_ns; veth; measure veth "$r"
    fresh_ns; veth; tcx_prog; measure vethtc "$r"
    fresh_ns; ours 0; measure ours "$r"
    echo "  programs after the run (run counts from our engine):" >&2
    nk prog show >&2
    stop_daemon
    fresh_ns; ours 2000; measure oursbp "$r"
    stop_daemon
    fresh_ns; relay poll; measure relay "$r"
    stop_relay
    fresh_ns; relay spin; measure relayspin "$r"
    stop_relay
done

echo "TCP ${DUR}s single stream, UDP 64-byte ${UDP_DUR}s, RTT from 1000 pings 1 ms apart; medians of" \
    "$ROUNDS rounds; $(nproc) CPUs, guest_halt_poll_ns $(halt_poll_now), load average $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after"
python3 - "$tmp" "$ROUNDS" <<'PY'
import statistics, sys
t, rounds = sys.argv[1], int(sys.argv[2])
def v(l, m):
    return statistics.median(float(open(f"{t}/{l}.{r}.{m}").read()) for r in range(1, rounds + 1))
setups = [("veth", "(a) veth"), ("vethtc", "(b) veth+tcx"), ("ours", "(c) ours"),
          ("oursbp", "(c') busy"), ("relay", "(d) relay"), ("relayspin", "(d') spin")]
rows = [
    ("TCP pod->host Gbit/s", "tcp_up", "vethtc", 0.8, True),
    ("TCP host->pod Gbit/s", "tcp_down", "vethtc", 0.8, True),
    ("UDP 64B pod->host kpps", "udp", "veth", 0.5, True),
    ("RTT p50 us", "p50", "veth", 1.5, False),
    ("RTT p99 us", "p99", "veth", 1.5, False),
]
print("| metric | " + " | ".join(n for _, n in setups) + " | goal | c | c' | c/d | c'/d' |")
print("|" + "---|" * (len(setups) + 6))
for name, m, base, goal, higher in rows:
    val = {l: v(l, m) for l, _ in setups}
    ratio = lambda l: val[l] / val[base]
    met = lambda r: "yes" if (r >= goal if higher else r <= goal) else "NO"
    g = f"{'>=' if higher else '<='} {goal}x ({'b' if base == 'vethtc' else 'a'})"
    cells = " | ".join(f"{val[l]:.2f}" for l, _ in setups)
    print(f"| {name} | {cells} | {g} | {ratio('ours'):.2f} {met(ratio('ours'))} "
          f"| {ratio('oursbp'):.2f} {met(ratio('oursbp'))} "
          f"| {val['ours'] / val['relay']:.2f} | {val['oursbp'] / val['relayspin']:.2f} |")
PY
