#!/usr/bin/env bash
# Runs every test: unit, engine-vs-kernel differential, conformance on both backends,
# end-to-end traffic tests (root, namespaces). Needs scripts/setup.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/.."
make -s -C examples
cargo build --workspace --all-targets
cargo test --workspace -- --test-threads=2
