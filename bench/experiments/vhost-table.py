"""Tabulates the "R label round key=value..." lines of vhost-inner.sh: medians over rounds.
Usage: vhost-table.py OUTPUT SECONDS (the UDP run's length, to turn counts into rates).
CPU columns: jiffies (USER_HZ 100) over the UDP run / SECONDS = percent of one CPU (2 CPUs: max 200)."""
import shlex
import statistics
import sys

secs = float(sys.argv[2])

rows = {}
for line in open(sys.argv[1]):
    if not line.startswith("R "):
        continue
    f = shlex.split(line)
    label, kv = f[1], dict(x.split("=", 1) for x in f[3:])
    udp = kv["udp"].split()
    rtt = kv["rtt"].split()
    m = {
        "TCP pod->host Mbit/s": kv["tcp_up"],
        "TCP host->pod Mbit/s": kv["tcp_down"],
        "UDP 64B received kpps": (int(udp[1]) - int(udp[0])) / secs / 1e3 if len(udp) == 2 else None,
        "RTT p50 us": float(rtt[0]) * 1000 if rtt else None,
        "RTT p99 us": float(rtt[1]) * 1000 if len(rtt) > 1 else None,
        "CPU% all (UDP run)": int(kv["cpu_all"]) / secs,
        "CPU% relay thread": int(kv["cpu_relay"]) / secs,
        "CPU% vhost workers": int(kv["cpu_vhost"]) / secs,
    }
    rows.setdefault(label, []).append(m)

labels = list(rows)
metrics = list(next(iter(rows.values()))[0])


def med(label, metric):
    vals = [float(r[metric]) for r in rows[label] if r[metric] not in (None, "")]
    return statistics.median(vals) if vals else float("nan")


print("| metric | " + " | ".join(labels) + " |")
print("|---" * (len(labels) + 1) + "|")
for metric in metrics:
    print(f"| {metric} | " + " | ".join(f"{med(l, metric):.2f}" for l in labels) + " |")
print(f"rounds: {', '.join(f'{l}={len(rows[l])}' for l in labels)}")
