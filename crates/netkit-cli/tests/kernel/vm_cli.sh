#!/bin/sh
# Runs `netkit --backend kernel` commands inside the reference VM (busybox sh, Linux with
# netkit) and checks their output and exit codes. Prints PASS/FAIL lines and a SUMMARY;
# exits 1 if any check failed. Usage: sh vm_cli.sh NETKIT_BINARY OBJECT_DIR [BPFTOOL]
# BPFTOOL (optional) is a command running bpftool, to compare map output with.
NK="$1 --backend kernel"
OBJ=$2
BPFTOOL=$3
pass=0
fail=0
out=/tmp/out
err=/tmp/err

# run CMD...: runs a netkit command, keeping stdout in $out, stderr in $err, status in $rc.
run() {
	$NK "$@" >$out 2>$err
	rc=$?
}
ok() { pass=$((pass + 1)); echo "PASS $1"; }
bad() {
	fail=$((fail + 1))
	echo "FAIL $1"
	echo "  rc=$rc stdout: $(cat $out)"
	echo "  stderr: $(cat $err)"
}
# expect NAME RC [PATTERN]: the last command exited with RC and (if given) printed PATTERN
# (a grep -E pattern) on stdout (RC 0) or stderr (RC != 0).
expect() {
	name=$1 want=$2 pattern=$3
	where=$out
	[ "$want" = 0 ] || where=$err
	if [ "$rc" != "$want" ]; then bad "$name (status $rc, wanted $want)"; return; fi
	if [ -n "$pattern" ] && ! grep -Eq -- "$pattern" $where; then
		bad "$name (no match for /$pattern/)"
		return
	fi
	ok "$name"
}
# absent NAME PATTERN: the last command's stdout does not match PATTERN.
absent() {
	if grep -Eq -- "$2" $out; then bad "$1 (unexpected /$2/)"; else ok "$1"; fi
}
# id_of: the first "id" of the last command's JSON output.
# (serde_json sorts keys: the one `"id":` key, not `"prog_id":`.)
id_of() { sed -n 's/.*"id":\([0-9]*\).*/\1/p' $out; }

# --- pairs ---
run link add nk1 type netkit mode l2 blackhole scrub none headroom 64 tailroom 32 \
	peer forward scrub default name nk0
expect "link add prints both ends" 0 '^[0-9]+: nk1@nk0: <BROADCAST,MULTICAST> mtu 1500 state DOWN'
run link show nk1 -j
expect "link show -j: primary attributes" 0 '"ifname":"nk1"'
grep -q '"info_kind":"netkit"' $out && grep -q '"mode":"l2"' $out &&
	grep -q '"type":"primary"' $out && grep -q '"policy":"blackhole"' $out &&
	grep -q '"peer_policy":"forward"' $out && grep -q '"scrub":"none"' $out &&
	grep -q '"peer_scrub":"default"' $out && grep -q '"link":"nk0"' $out &&
	grep -q '"address":"' $out && ok "link show -j: netkit info_data" ||
	bad "link show -j: netkit info_data"
# IFLA_NETKIT_HEADROOM/TAILROOM exist since Linux 6.14; older kernels ignore them and
# report none (0).
case $(uname -r) in
6.[0-9].* | 6.1[0-3].*) room='"headroom":0,.*"tailroom":0' ;;
*) room='"headroom":64,.*"tailroom":32' ;;
esac
grep -Eq "$room" $out && ok "link show -j: headroom and tailroom as the kernel keeps them" ||
	bad "link show -j: headroom and tailroom ($room)"
run link show nk0
expect "link show: the peer" 0 'netkit mode l2 type peer policy forward'
run link show -s
expect "link show -s: counters" 0 'RX:  bytes packets dropped'
[ "$(grep -c 'netkit mode' $out)" = 2 ] && ok "link show: both ends listed" ||
	bad "link show: both ends listed"
run link add nk1 type netkit
expect "link add: name taken" 1 '^Error: EEXIST'
run link add nk2 type netkit mode l4
expect "link add: grammar error" 1 '^Error: EINVAL: mode takes l2 or l3'
run link set nk1 forward peer blackhole
expect "link set through the primary" 0
run link show nk1
expect "link set: policies changed" 0 'policy forward peer policy blackhole'
run link show nk0
expect "link set: the peer's policy is the primary's peer policy" 0 'type peer policy blackhole'
run link set nk0 forward
expect "link set through the peer: the kernel refuses" 1 '^Error: E[A-Z]+: .*primary'
run link show nk0
expect "link set through the peer: nothing changed" 0 'type peer policy blackhole'
run link show nosuch
expect "link show: unknown device" 1 '^Error: ENODEV'

# --- programs ---
run prog load $OBJ/pass.bpf.o -j
expect "prog load pass" 0 '"name":"pass"'
P1=$(id_of)
run prog load $OBJ/policy.bpf.o section netkit/peer -j
expect "prog load policy" 0 '"map_ids":\[[0-9]+\]'
P2=$(id_of)
run prog load $OBJ/nosuch.bpf.o
expect "prog load: missing file" 1 '^Error: ENOENT'
run prog show
expect "prog show lists the pinned programs" 0 "^$P1: sched_cls"
grep -q "^$P2: sched_cls" $out && ok "prog show: second program" || bad "prog show: second program"
run prog attach id $P1 dev nk1 primary
expect "prog attach" 0
run prog attach id $P2 dev nk1 primary before id $P1
expect "prog attach before id" 0
run prog query dev nk1 primary -j
expect "prog query: order and revision" 0 "\"progs\":\[\{\"prog_id\":$P2\},\{\"prog_id\":$P1\}\],\"revision\":3"
run prog attach id $P1 dev nk1 primary
expect "prog attach twice: EEXIST" 1 '^Error: EEXIST'
run prog attach id $P1 dev nk1 peer expected-revision 7
expect "prog attach: stale revision" 1 '^Error: ESTALE'
run prog attach id $P1 dev nk0 peer
expect "prog attach through the peer device" 1 '^Error: E'
run prog attach id $P1 dev nk1 primary replace id $P2
expect "prog attach replace: P1 already there" 1 '^Error: EEXIST'
run prog load $OBJ/pass.bpf.o -j
PR=$(id_of)
run prog attach id $PR dev nk1 primary replace id $P2
expect "prog attach replace" 0
run prog query dev nk1 primary -j
expect "prog attach replace: in place, one revision" 0 "\"progs\":\[\{\"prog_id\":$PR\},\{\"prog_id\":$P1\}\],\"revision\":4"
run prog detach id $PR dev nk1 primary
expect "prog detach" 0
run prog query dev nk1 primary
expect "prog query after detach" 0 "^nk1 primary revision 5:"
absent "prog query: detached program gone" "prog_id $PR\$"
run prog unload id $PR
expect "prog unload of a detached program" 0
run prog show id $PR
expect "an unpinned, detached program is freed" 1 '^Error: ENOENT'
run prog show id $P1
expect "prog show: where it is attached" 0 'attached nk1/primary'
run prog unload id $P1
expect "prog unload: unpinned" 0
run prog query dev nk1 primary
expect "prog unload: the attachment holds the program" 0 "prog_id $P1\$"
run prog unload id $P1
expect "prog unload twice" 1 '^Error: ENOENT'
run prog detach dev nk1 primary last
expect "prog detach by anchor" 0
run prog query dev nk1 primary -j
expect "prog detach by anchor: empty hook" 0 '"progs":\[\]'

# --- BPF links ---
run bpflink create id $P2 dev nk1 peer -j
expect "bpflink create" 0 '"type":"netkit"'
L=$(id_of)
# The kernel reports the device whose hook it is: the peer for netkit_peer.
grep -q "\"prog_id\":$P2" $out && grep -q '"attach_type":"netkit_peer"' $out &&
	grep -q '"devname":"nk0"' $out && ok "bpflink create: view" || bad "bpflink create: view"
run bpflink show
expect "bpflink show: the link outlives its command" 0 "^$L: netkit  prog $P2"
run prog query dev nk1 peer
expect "bpflink: query shows the link" 0 "prog_id $P2 link_id $L"
run prog detach id $P2 dev nk1 peer
expect "prog detach of a link's program" 1 '^Error: E'
run prog load $OBJ/pass.bpf.o -j
P3=$(id_of)
run prog attach id $P3 dev nk1 peer before link $L
expect "prog attach before link" 0
run prog query dev nk1 peer -j
expect "prog attach before link: order" 0 "\"progs\":\[\{\"prog_id\":$P3\},\{\"link_id\":$L,\"prog_id\":$P2\}\]"
run prog detach id $P3 dev nk1 peer
expect "prog detach next to a link" 0
run bpflink update id $L prog $P3
expect "bpflink update" 0
run prog query dev nk1 peer
expect "bpflink update: new program" 0 "prog_id $P3 link_id $L"
run bpflink update id $L prog $P2 replace $P2
expect "bpflink update replace: wrong old program" 1 '^Error: EPERM'
run bpflink detach id $L
expect "bpflink detach" 0
run prog query dev nk1 peer -j
expect "bpflink detach: hook empty" 0 '"progs":\[\]'
run bpflink show -j
expect "bpflink detach: link released" 0 '^\[\]$'
run bpflink detach id $L
expect "bpflink detach twice" 1 '^Error: ENOENT'

# --- peers in another namespace ---
mkdir -p /run/netns && touch /run/netns/pod
if busybox unshare --net=/run/netns/pod true 2>/dev/null; then
	run link add nkp1 type netkit peer name nkp0 netns pod
	expect "link add: peer in a named namespace" 0 'nkp0: .* netns pod'
	busybox nsenter --net=/run/netns/pod ip link show nkp0 >$out 2>&1
	grep -q nkp0 $out && ok "peer lives in the namespace" || bad "peer lives in the namespace"
	run link del nkp1
	expect "link del: pair across namespaces" 0
	# CNI style: the peer is made beside the primary, then moved into the pod.
	run link add nkv1 type netkit peer name nkv0
	expect "link add: peer beside the primary" 0
	run link set nkv0 netns pod
	expect "link set netns: peer moved" 0
	busybox nsenter --net=/run/netns/pod ip link show nkv0 >$out 2>&1
	grep -q nkv0 $out && ok "moved peer lives in the namespace" || bad "moved peer lives in the namespace"
	if ip link show nkv0 >$out 2>&1; then bad "moved peer left the host namespace"; else ok "moved peer left the host namespace"; fi
	run link set nkv1 netns nosuchns
	expect "link set netns: unknown namespace" 1 '^Error: ENOENT'
	run link del nkv1
	expect "link del: after the move" 0
else
	echo "SKIP peer netns: busybox unshare --net=FILE unavailable"
fi

# --- maps and the trace pipe (examples/trace.bpf.o on the primary hook) ---
run link add nkm1 type netkit mode l3 peer name nkm0
expect "maps: a pair for traffic" 0
# Only the pings below may cross: no IPv6 chatter.
echo 1 >/proc/sys/net/ipv6/conf/nkm1/disable_ipv6
echo 1 >/proc/sys/net/ipv6/conf/nkm0/disable_ipv6
ip addr add 10.77.0.1/24 dev nkm1 && ip link set nkm1 up && ip link set nkm0 up
run prog load $OBJ/trace.bpf.o -j
expect "prog load trace" 0 '"name":"trace"'
PT=$(id_of)
run prog attach id $PT dev nkm1 primary
expect "prog attach trace" 0
run map show
expect "map show lists the kernel's maps" 0 ' percpu_array  name pkts  flags 0x0$'
PKTS=$(sed -n 's/^\([0-9]*\): percpu_array  name pkts .*/\1/p' $out)
LENS=$(sed -n 's/^\([0-9]*\): hash  name lens .*/\1/p' $out)
run map show id $PKTS -j
expect "map show id: bpf_map_info" 0 "^\[\{\"bytes_key\":4,\"bytes_value\":8,\"flags\":0,\"id\":$PKTS,\"max_entries\":1,\"name\":\"pkts\",\"prog_id\":$PT,\"type\":\"percpu_array\"\}\]$"
run map show id $LENS -j
expect "map show id: the hash map" 0 "\"id\":$LENS,\"max_entries\":64,\"name\":\"lens\",\"prog_id\":$PT,\"type\":\"hash\""
run map show id 4294967295
expect "map show: unknown id" 1 '^Error: ENOENT'

# No tracefs in the VM until tracelog mounts it, as bpftool does.
tracefs_before=$(grep -c ' tracefs ' /proc/mounts)
# Three pings out of nkm1 (84-byte IPv4 packets; programs see them with a 14-byte Ethernet
# header: 98 bytes) while tracelog streams the trace pipe.
$NK prog tracelog >/tmp/tracelog 2>&1 &
TL=$!
sleep 1
ping -c 3 -W 1 10.77.0.9 >/dev/null 2>&1
sleep 1
kill $TL
wait $TL
rc=$?
cat /tmp/tracelog >$out
expect "prog tracelog: ends with status 0 on SIGTERM" 0 'bpf_trace_printk: netkit trace: len 98$'
[ "$(grep -c 'netkit trace: len 98' /tmp/tracelog)" = 3 ] && ok "prog tracelog: one line per packet" ||
	bad "prog tracelog: one line per packet ($(grep -c 'netkit trace' /tmp/tracelog) lines)"
if [ "$tracefs_before" = 0 ]; then
	grep -q '^tracefs /sys/kernel/tracing tracefs ' /proc/mounts &&
		ok "prog tracelog: mounted tracefs where none was" ||
		bad "prog tracelog: mounted tracefs where none was"
else
	echo "NOTE tracefs was mounted before tracelog ran"
fi
run prog tracelog id $PT
expect "prog tracelog id: the trace pipe has no program ids" 1 '^Error: EOPNOTSUPP'

run map lookup id $LENS key 98 0 0 0 -j
expect "map lookup: three packets of 98 bytes" 0 '^\[\{"key":\["0x62","0x00","0x00","0x00"\],"value":\["0x03","0x00","0x00","0x00","0x00","0x00","0x00","0x00"\]\}\]$'
run map dump id $LENS -j
expect "map dump: only those" 0 '^\[\{"key":\["0x62","0x00","0x00","0x00"\],"value":\["0x03",'
run map dump id $PKTS -j
expect "map dump per-CPU: one value per CPU" 0 '"values":\[\{"cpu":0,"value":\['
total=0
for b in $(grep -o '"value":\["0x[0-9a-f]*"' $out | sed 's/.*"0x\([0-9a-f]*\)"/\1/'); do
	total=$((total + 0x$b))
done
[ "$total" = 3 ] && ok "map dump per-CPU: the CPUs' counts add up to 3" ||
	bad "map dump per-CPU: the CPUs' counts add up to 3 (got $total)"
if [ -n "$BPFTOOL" ]; then
	$BPFTOOL -j map dump id $PKTS >/tmp/bt 2>&1
	[ "$(cat /tmp/bt)" = "$(cat $out)" ] && ok "map dump per-CPU: as bpftool prints it" ||
		bad "map dump per-CPU: as bpftool prints it (bpftool: $(cat /tmp/bt))"
	run map dump id $LENS -j
	$BPFTOOL -j map dump id $LENS >/tmp/bt 2>&1
	[ "$(cat /tmp/bt)" = "$(cat $out)" ] && ok "map dump: as bpftool prints it" ||
		bad "map dump: as bpftool prints it (bpftool: $(cat /tmp/bt))"
	$BPFTOOL -j map show id $PKTS >/tmp/bt 2>&1
	grep -q "\"id\":$PKTS,\"type\":\"percpu_array\",\"name\":\"pkts\",\"flags\":0,\"bytes_key\":4,\"bytes_value\":8,\"max_entries\":1," /tmp/bt &&
		ok "map show: bpftool agrees" || bad "map show: bpftool agrees ($(cat /tmp/bt))"
else
	echo "NOTE no bpftool in the VM: map output checked against the values written"
fi

run map update id $LENS key 98 0 0 0 value 1 2 3
expect "map update: wrong value size" 1 '^Error: EINVAL: .*value has 3 bytes'
run map update id $LENS key 98 0 value hex 0100000000000000
expect "map update: wrong key size" 1 '^Error: EINVAL: .*key has 2 bytes'
run map lookup id $LENS key 98 0 0 0
expect "map update refused: nothing changed" 0 '^key: 62 00 00 00  value: 03 00 00 00 00 00 00 00$'
run map update id $LENS key 9 0 0 0 value hex 0700000000000000 noexist
expect "map update noexist" 0
run map update id $LENS key 9 0 0 0 value hex 0800000000000000 noexist
expect "map update noexist: the key exists" 1 '^Error: EEXIST'
run map update id $LENS key 10 0 0 0 value hex 0800000000000000 exist
expect "map update exist: no such key" 1 '^Error: ENOENT'
run map lookup id $LENS key 9 0 0 0
expect "map lookup after update" 0 '^key: 09 00 00 00  value: 07 00 00 00 00 00 00 00$'
if [ -n "$BPFTOOL" ]; then
	$BPFTOOL map lookup id $LENS key 9 0 0 0 >/tmp/bt 2>&1
	grep -q '07 00 00 00 00 00 00 00' /tmp/bt && ok "map update: bpftool reads it" ||
		bad "map update: bpftool reads it ($(cat /tmp/bt))"
fi
run map update id $PKTS key 0 0 0 0 value hex 2a00000000000000
expect "map update per-CPU: one value for every CPU" 0
run map lookup id $PKTS key 0 0 0 0
expect "map lookup per-CPU" 0 'value \(CPU 00\): 2a 00 00 00 00 00 00 00'
absent "map lookup per-CPU: every CPU written" 'value \(CPU [0-9]+\): 03'
run map delete id $LENS key 9 0 0 0
expect "map delete" 0
run map delete id $LENS key 9 0 0 0
expect "map delete: no such key" 1 '^Error: ENOENT'
run map lookup id $LENS key 9 0 0 0
expect "map lookup: deleted" 1 '^Error: ENOENT'
run map delete id $PKTS key 0 0 0 0
expect "map delete from an array: the kernel refuses" 1 '^Error: EINVAL'
run link del nkm1
expect "maps: pair deleted" 0
run prog unload id $PT
expect "maps: trace unpinned" 0

# --- deletion ---
run bpflink create id $P3 dev nk1 primary -j
L2=$(id_of)
expect "bpflink create on the primary hook" 0 '"devname":"nk1"'
run link del nk0
expect "link del through the peer" 0
run bpflink show
expect "a deleted device leaves its pinned link defunct" 0 "^$L2: netkit  prog $P3"
grep -q '(defunct)' $out && ok "bpflink show: defunct" || bad "bpflink show: defunct"
run bpflink detach id $L2
expect "bpflink detach of a defunct link" 0
run bpflink show -j
expect "defunct link released" 0 '^\[\]$'
run link show -j
expect "link del: both ends gone" 0 '^\[\]$'
run link del nk1
expect "link del: unknown device" 1 '^Error: ENODEV'

echo "SUMMARY $pass passed, $fail failed"
[ "$fail" = 0 ]
