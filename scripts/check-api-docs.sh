#!/usr/bin/env bash
# docs/api (the committed API reference) must be what typedoc makes of the
# TSDoc in js/ now: regenerate it aside and compare. `make api-docs` updates it.
# Needs target/ts-src from scripts/build-pkg.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/api-check
rm -rf "$out"
node_modules/.bin/typedoc --out "$out" --logLevel Warn
if ! diff -r docs/api "$out" >/dev/null; then
  diff -ru docs/api "$out" | head -40
  echo "docs/api is stale: run \`make api-docs\` and commit it"
  exit 1
fi
echo "docs/api matches the TSDoc in js/"
