#!/usr/bin/env bash
# Runs every test: unit, engine-vs-kernel differential, conformance on both backends,
# end-to-end traffic tests (root, namespaces). Needs scripts/setup.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/.."
# Under sudo, root's PATH lacks the invoking user's rustup toolchain: borrow it.
if ! command -v cargo >/dev/null && [[ -n ${SUDO_USER:-} ]]; then
    PATH="$(getent passwd "$SUDO_USER" | cut -d: -f6)/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null || { echo "$(basename "$0"): needs cargo (Rust 1.95) on PATH" >&2; exit 1; }
# Privileged tests fail (instead of printing SKIP) when root, namespaces, clang or the VM are missing.
export NETKIT_REQUIRE_PRIVILEGED=${NETKIT_REQUIRE_PRIVILEGED:-1}
# The VM tests boot ../shared/oracle/netkit-vm through a wrapper that retries a VM that did not boot.
if [[ -z ${NETKIT_VM:-} && -x ../shared/oracle/netkit-vm ]]; then export NETKIT_VM=$PWD/scripts/netkit-vm-retry.sh; fi
make -s -C examples
if [[ -f crates/netkit-bpf/tests/corpus/Makefile ]]; then make -s -C crates/netkit-bpf/tests/corpus; fi
cargo build --workspace --all-targets
cargo test --workspace -- --test-threads=2
bash scripts/conformance.sh
