#!/usr/bin/env bash
# Builds the wasm module with the bench-only exports and runs bench/payload-path.mjs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
CARGO_TARGET_DIR=target/wasm-bench RUSTUP_TOOLCHAIN="$(cat target/.wasm-toolchain)" wasm-pack --quiet --log-level warn build --target web --release --no-pack \
  --out-dir target/wasm-pkg-bench --out-name medseal_wasm . --features bench-exports >/dev/null
node bench/payload-path.mjs
