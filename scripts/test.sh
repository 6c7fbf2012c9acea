#!/usr/bin/env bash
# The whole test suite: runs every check even if an earlier one failed, and
# exits non-zero if any did. It installs nothing: `make test` runs
# scripts/setup.sh first (idempotent), so a test run on a prepared machine
# never touches apt, cargo install or npm ci.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
[ -f target/.wasm-toolchain ] && [ -d node_modules ] || { echo "not set up: run \`make setup\` (or \`make test\`) first"; exit 1; }
WASM_TC=$(cat target/.wasm-toolchain)
export CHROMEDRIVER=/usr/bin/chromedriver

results=()
failed=0
run() {
  local name="$1"; shift
  local t0; t0=$(date +%s)
  echo; echo "==> $name"
  if "$@"; then results+=("ok    $name ($(( $(date +%s) - t0 ))s)")
  else results+=("FAIL  $name ($(( $(date +%s) - t0 ))s)"); failed=$((failed + 1)); fi
}

run "cargo fmt --check" cargo fmt --all -- --check
# One invocation for the core, the AEAD crate and the server (with their tests):
# cargo then keeps both cores busy across them. The bindings are checked for wasm32 below.
run "clippy, host (core, server, tests), warnings denied" cargo clippy --locked --workspace --exclude medseal-wasm --all-targets -- -D warnings
run "clippy, wasm32 (bindings and core), warnings denied" env RUSTUP_TOOLCHAIN="$WASM_TC" cargo clippy --locked --target wasm32-unknown-unknown -p medseal-wasm --all-targets -- -D warnings
run "cargo test (native core; AES-GCM composition vs aes-gcm)" cargo test --locked -p medseal -p medseal-aead
# Natively the aes crate picks AES-NI; the wasm builds run its fixsliced
# software AES, so the composition is checked on that backend too.
run "AES-GCM composition vs aes-gcm on the software AES backend (the wasm builds')" \
  env RUSTFLAGS='--cfg aes_backend="soft"' CARGO_TARGET_DIR=target/aead-soft cargo test --locked --release -p medseal-aead --test differential
run "stream vectors by an independent Python implementation (FORMAT.md §17, cryptography)" python3 tests/interop/stream_c2sp.py
run "crates/aes is upstream aes 0.9.4 plus the documented SIMD128 word" bash scripts/check-aes-patch.sh
run "wasm-bindgen tests in headless Chromium" env RUSTUP_TOOLCHAIN="$WASM_TC" \
  wasm-pack test --headless --chrome --chromedriver /usr/bin/chromedriver crates/medseal-wasm --locked --test wasm
run "build the npm package" bash scripts/build-pkg.sh
run "ESLint (TypeScript API with type-aware rules; tests, bench, examples)" node_modules/.bin/eslint .
run "API reference docs/api is generated from the current TSDoc" bash scripts/check-api-docs.sh
run "cargo deny: licenses, bans, sources of the dependency graph (deny.toml; advisories are a release step)" \
  cargo deny --locked check licenses bans sources
run "fuzz smoke run: every target for 10 s (cargo-fuzz, nightly)" bash scripts/fuzz-smoke.sh
run "build the reference server" cargo build --locked -p medseal-server
run "reference server tests (real SQLite, HTTP, kill -9)" cargo test --locked -p medseal-server
# After the server: both build the core with its default features, so only the CLI crate is compiled here.
run "command-line tool tests (export vector opened offline, under unshare -rn)" cargo test --locked -p medseal-cli
run "node tests (the package's API in Node 20)" node --test tests/js/
run "browser tests (playwright-core, Chromium, virtual passkey)" node --test tests/browser/
run "browser tests in Firefox (geckodriver, Firefox ESR, WebDriver virtual authenticator)" node --test tests/firefox/

echo
echo "medseal test suite:"
printf '  %s\n' "${results[@]}"
[ "$failed" -eq 0 ] && echo "all checks passed" || echo "$failed check(s) FAILED"
exit "$failed"
