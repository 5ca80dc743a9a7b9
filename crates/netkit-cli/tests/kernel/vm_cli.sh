#!/bin/sh
# Runs `netkit --backend kernel` commands inside the reference VM (busybox sh, Linux with
# netkit) and checks their output and exit codes. Prints PASS/FAIL lines and a SUMMARY;
# exits 1 if any check failed. Usage: sh vm_cli.sh NETKIT_BINARY OBJECT_DIR
NK="$1 --backend kernel"
OBJ=$2
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
else
	echo "SKIP peer netns: busybox unshare --net=FILE unavailable"
fi

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
