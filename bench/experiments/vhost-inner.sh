# Runs inside the VM (vhost-vm.sh): every setup ROUNDS times, interleaved round by round, and
# prints one "R label round key=value..." line per measurement for vhost-bench.sh to tabulate.
# Setups: veth; rw/rwspin = the read()/write() relay on two TUNs (tun_relay's loop, in C);
# vhost/vhostspin = the vhost-net relay on two TAPs (vhost-net drops every frame it sends into
# an IFF_TUN device while the TUN's sndbuf is unlimited, see VHOST.md); vhostbl = vhostspin
# plus a 50 us vhost busy-loop; vhosttun/vhosttunspin = vhost-net on two TUNs with a finite
# sndbuf (no tx batching).
IP=/t/ip PING=/t/ping IPERF=/t/iperf3
DUR=${DUR:-3} ROUNDS=${ROUNDS:-3} H=10.250.0.1 P=10.250.0.2
ticks() { # user+system jiffies of a pid's threads whose comm matches $2 (grep pattern)
    t=0
    for s in /proc/$1/task/*/stat; do
        grep -q "($2" "$s" 2>/dev/null || continue
        set -- "$1" "$2" $(sed 's/.*) //' "$s")
        t=$((t + ${14} + ${15}))
    done
    echo $t
}
busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }
fresh() {
    $IP netns del H 2>/dev/null; $IP netns del P 2>/dev/null
    $IP netns add H; $IP netns add P; $IP -n H link set lo up; $IP -n P link set lo up
}
addr() {
    $IP -n H addr add $H/24 dev nkbprim; $IP -n H link set nkbprim up
    $IP -n P addr add $P/24 dev nkbpeer; $IP -n P link set nkbpeer up
}
setup() {
    relay=
    case $1 in
    veth) $IP -n H link add nkbprim type veth peer name nkbpeer netns P; addr ;;
    rw|rwspin) ./vhost_relay H P nkbprim nkbpeer $1 >relay.log 2>&1 & relay=$! ;;
    vhost) VHOST_RELAY_TAP=1 ./vhost_relay H P nkbprim nkbpeer poll >relay.log 2>&1 & relay=$! ;;
    vhostspin) VHOST_RELAY_TAP=1 ./vhost_relay H P nkbprim nkbpeer spin >relay.log 2>&1 & relay=$! ;;
    vhosttun) VHOST_RELAY_SNDBUF=$((1 << 30)) ./vhost_relay H P nkbprim nkbpeer poll >relay.log 2>&1 & relay=$! ;;
    vhosttunspin) VHOST_RELAY_SNDBUF=$((1 << 30)) ./vhost_relay H P nkbprim nkbpeer spin >relay.log 2>&1 & relay=$! ;;
    vhostbl) VHOST_RELAY_TAP=1 ./vhost_relay H P nkbprim nkbpeer spin 50 >relay.log 2>&1 & relay=$! ;;
    esac
    if [ -n "$relay" ]; then
        for i in $(seq 50); do grep -q ready relay.log && break; sleep 0.1; done
        addr
        /t/tc -n H qdisc replace dev nkbprim root noqueue; /t/tc -n P qdisc replace dev nkbpeer root noqueue
    fi
    for i in $(seq 50); do $IP netns exec P $PING -c 1 -W 1 $H >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "setup $1 did not come up"; cat relay.log
}
measure() {
    $IP netns exec H $IPERF -s -D -B $H; sleep 0.3
    up=$($IP netns exec P timeout $((DUR + 10)) $IPERF -c $H -t $DUR -f m | awk '/receiver/{print $7}')
    down=$($IP netns exec P timeout $((DUR + 10)) $IPERF -c $H -t $DUR -R -f m | awk '/receiver/{print $7}')
    b0=$(busy); r0=0; v0=0
    [ -n "$relay" ] && { r0=$(ticks $relay vhost_relay); v0=$(ticks $relay vhost-); }
    udp=$($IP netns exec P timeout $((DUR + 10)) $IPERF -c $H -u -l 64 -b 0 -t $DUR -f m | awk '/receiver/{split($0,a,"/"); print}' | sed 's/.*  *\([0-9]*\)\/\([0-9]*\) .*/\1 \2/')
    b1=$(busy); r1=0; v1=0
    [ -n "$relay" ] && { r1=$(ticks $relay vhost_relay); v1=$(ticks $relay vhost-); }
    killall iperf3 2>/dev/null
    rtt=$($IP netns exec P $PING -c 500 -i 0.001 -q $H >/dev/null; $IP netns exec P $PING -c 500 -i 0.001 $H | sed -n 's/.*time=\([0-9.]*\) ms/\1/p' | sort -n | awk '{a[NR]=$1} END{print a[int(NR*0.5)+1], a[int(NR*0.99)+1]}')
    echo "R $1 $2 tcp_up=$up tcp_down=$down udp='$udp' rtt='$rtt' cpu_all=$((b1-b0)) cpu_relay=$((r1-r0)) cpu_vhost=$((v1-v0)) load='$(cut -d' ' -f1-3 /proc/loadavg)'"
}
for r in $(seq $ROUNDS); do
    for s in ${SETUPS:-veth rw rwspin vhost vhostspin vhostbl}; do
        fresh; setup $s; measure $s $r
        [ -n "$relay" ] && kill $relay; sleep 0.2
    done
done
