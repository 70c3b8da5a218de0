#!/usr/bin/env bash
# The project's whole test suite: format, lints, build, every test, corpus conformance.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo build --release --locked
cargo test --release --locked
