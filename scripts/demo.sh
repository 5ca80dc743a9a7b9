#!/usr/bin/env bash
# The netkit demo (root): a pod namespace behind an L3 netkit pair whose peer policy is
# blackhole, as Cilium sets it up: no traffic until programs are attached. Then the example
# policy (allow ICMP and TCP port 80, drop the rest) is attached, ping and HTTP work, port
# 8080 does not, and the counters show what happened. Everything is removed at the end.
# Needs scripts/setup.sh (clang, iproute2, curl, python3) and cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
# Under sudo, root's PATH lacks the invoking user's rustup toolchain: borrow it.
if ! command -v cargo >/dev/null && [[ -n ${SUDO_USER:-} ]]; then
    PATH="$(getent passwd "$SUDO_USER" | cut -d: -f6)/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null || { echo "$(basename "$0"): needs cargo (Rust 1.95) on PATH" >&2; exit 1; }

if [[ $EUID -ne 0 ]]; then
    echo "demo.sh: run as root (it creates namespaces and interfaces)" >&2
    exit 1
fi

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
expect_fail() {
    printf '$ %s   (expected to fail)\n' "$*"
    if "$@"; then
        echo "demo.sh: that should have failed" >&2
        exit 1
    fi
}

bold "Building netkit (release) and the example programs"
cargo build --release -q -p netkit-cli
make -s -C examples
NK=$PWD/target/release/netkit

WORK=$(mktemp -d /tmp/netkit-demo.XXXXXX)
export NETKIT_SOCKET=$WORK/netkitd.sock
POD=netkit-demo-pod
HOST_DEV=nkdemo0
POD_DEV=nkdemo1
HOST_IP=10.99.0.1
POD_IP=10.99.0.2
PIDS=()
# Program run times are measured while kernel.bpf_stats_enabled is 1, for the daemon's programs
# as for the kernel's: on for the demo, back to what it was afterwards.
STATS_WAS=$(cat /proc/sys/kernel/bpf_stats_enabled 2>/dev/null || true)

cleanup() {
    set +e
    [[ -n $STATS_WAS ]] && echo "$STATS_WAS" >/proc/sys/kernel/bpf_stats_enabled
    "$NK" link del "$HOST_DEV" >/dev/null 2>&1
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    ip netns del "$POD" 2>/dev/null
    ip link del "$HOST_DEV" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

[[ -n $STATS_WAS ]] && echo 1 >/proc/sys/kernel/bpf_stats_enabled
bold "Starting the daemon (socket $NETKIT_SOCKET)"
"$NK" daemon --socket "$NETKIT_SOCKET" --state-dir "$WORK/state" 2>"$WORK/netkitd.log" &
PIDS+=($!)
for _ in $(seq 100); do "$NK" link show >/dev/null 2>&1 && break; sleep 0.05; done
run "$NK" link show

bold "A pod namespace and an L3 pair whose peer policy is blackhole"
ip netns del "$POD" 2>/dev/null || true
run ip netns add "$POD"
ip -n "$POD" link set lo up
run "$NK" link add "$HOST_DEV" type netkit mode l3 forward peer blackhole name "$POD_DEV" netns "$POD"
ip addr add "$HOST_IP/24" dev "$HOST_DEV"
ip link set "$HOST_DEV" up
ip -n "$POD" addr add "$POD_IP/24" dev "$POD_DEV"
ip -n "$POD" link set "$POD_DEV" up
ip -n "$POD" route add default via "$HOST_IP" dev "$POD_DEV"
run "$NK" link show "$HOST_DEV"

bold "No program attached: the peer's blackhole policy drops the pod's packets"
expect_fail ping -c 2 -W 1 -q "$POD_IP"

bold "Web servers in the pod on ports 80 and 8080"
ip netns exec "$POD" python3 -m http.server 80 --bind "$POD_IP" >/dev/null 2>&1 &
PIDS+=($!)
ip netns exec "$POD" python3 -m http.server 8080 --bind "$POD_IP" >/dev/null 2>&1 &
PIDS+=($!)
for port in 80 8080; do
    for _ in $(seq 100); do
        ip netns exec "$POD" ss -ltn "sport = :$port" | grep -q LISTEN && break
        sleep 0.1
    done
done

bold "Loading examples/policy.bpf.o and attaching it to both hooks"
PROG=$("$NK" -j prog load examples/policy.bpf.o | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')
echo "program id $PROG"
run "$NK" prog attach id "$PROG" dev "$HOST_DEV" peer
run "$NK" prog attach id "$PROG" dev "$HOST_DEV" primary
run "$NK" prog query dev "$HOST_DEV" peer

bold "ICMP is allowed"
run ping -c 3 -i 0.2 -W 1 "$POD_IP"

bold "TCP port 80 is allowed"
run curl -sS --max-time 5 -o /dev/null -w 'HTTP %{http_code} from port 80\n' "http://$POD_IP/"

bold "TCP port 8080 is dropped"
expect_fail curl -sS --max-time 3 -o /dev/null "http://$POD_IP:8080/"

bold "Counters"
run "$NK" -s link show
run "$NK" prog show
MAP=$("$NK" -j map show | python3 -c 'import json,sys; m=[x for x in json.load(sys.stdin) if x["name"]=="verdicts"]; print(m[0]["id"] if m else "")' || true)
if [[ -n "$MAP" ]]; then
    echo "(verdicts map: key 0 = passed, key 1 = dropped)"
    run "$NK" map dump id "$MAP"
fi

bold "Cleaning up"
run "$NK" link del "$HOST_DEV"
echo "demo done"
