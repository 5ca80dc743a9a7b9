#!/usr/bin/env bash
# The reference VM (../shared/oracle/netkit-vm beside the repository), booted once more when the
# VM itself did not finish (netkit-vm's exit status 3: boot crash or timeout under load): a
# VM that fails to boot says nothing about the program under test. Every other status, the
# program's own included, is passed through unchanged.
set -uo pipefail
vm=$(realpath -m "$(dirname "$0")/../../shared/oracle/netkit-vm")
[[ -x $vm ]] || { echo "netkit-vm-retry: the reference VM $vm is missing" >&2; exit 2; }
"$vm" "$@"
rc=$?
if [[ $rc == 3 ]]; then
    echo "netkit-vm-retry: the VM did not finish; booting it once more" >&2
    "$vm" "$@"
    rc=$?
fi
exit "$rc"
