# Runs inside the reference VM (busybox sh, Linux 6.12 with netkit): `netkit --backend kernel`
# against the kernel's own netkit driver. Each step prints one line the test checks.
N=/data/netkit
$N --backend kernel link add nk1 type netkit mode l3 peer blackhole name nk0 >/dev/null
echo "add rc=$?"
$N --backend kernel -j link show nk1
echo
$N --backend kernel -j link show nk0
echo
$N --backend kernel link set nk1 peer forward
echo "set rc=$?"
$N --backend kernel -j link show nk1
echo
$N --backend kernel link add nk1 type netkit 2>&1
echo "dup rc=$?"
$N --backend kernel link set nope blackhole 2>&1
echo "unknown rc=$?"
$N --backend kernel link del lo 2>&1
echo "del-lo rc=$?"
$N --backend kernel prog tracelog id 1 2>&1
echo "tracelog-id rc=$?"
$N --backend kernel link add nk5 index 40 type netkit peer name nk6 index 41 >/dev/null
echo "index rc=$?"
$N --backend kernel -j link show nk5
echo
$N --backend kernel link add nk7 index 41 type netkit 2>&1
echo "index-taken rc=$?"
$N --backend kernel link del nk5
$N --backend kernel link del nk0
echo "del rc=$?"
$N --backend kernel -j link show
echo
echo "end"
