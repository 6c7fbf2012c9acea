#!/usr/bin/env bash
# A short run of every cargo-fuzz target (fuzz/Cargo.toml), so that a parser
# that panics on the first inputs libFuzzer tries is caught on every run, and
# the targets keep building. Open-ended fuzzing is in fuzz/README.md. Skipped,
# with the reason printed, where nightly Rust or cargo-fuzz is missing.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
SECONDS_EACH=${MEDSEAL_FUZZ_SECONDS:-10}
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "skipped: no nightly Rust toolchain here (cargo-fuzz needs it); 0 passed, 0 failed"; exit 0
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  echo "skipped: cargo-fuzz is not installed (scripts/setup.sh installs it); 0 passed, 0 failed"; exit 0
fi
targets=$(awk '/^\[\[bin\]\]/ {getline; gsub(/name = |"/, ""); print}' fuzz/Cargo.toml)
cd fuzz
# One build of every target first (its time is not the targets' run time).
if ! cargo +nightly fuzz build -O >/dev/null 2>build.log; then
  tail -20 build.log; echo "0 passed, 1 failed (the fuzz targets do not build)"; exit 1
fi
passed=0; failed=0
for t in $targets; do
  if cargo +nightly fuzz run -O "$t" -- -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 >"run-$t.log" 2>&1; then
    runs=$(grep -oE 'Done [0-9]+ runs' "run-$t.log" | tail -1)
    echo "ok    $t (${runs:-ran} in ${SECONDS_EACH}s)"; passed=$((passed + 1))
  else
    echo "FAIL  $t:"; tail -30 "run-$t.log"; failed=$((failed + 1))
  fi
done
rm -f run-*.log build.log
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
