#!/usr/bin/env bash
# crates/aes is the RustCrypto aes 0.9.4 crate plus a SIMD128 word type
# (crates/aes/MEDSEAL.md). This checks that it is exactly that: it downloads
# aes 0.9.4 from crates.io, checks the archive against the checksum Cargo.lock
# recorded before the patch, and compares the trees: only word_v128.rs may be
# new, only fixslice/mod.rs may differ, and only by lines that mention simd128
# or the new module.
set -euo pipefail
cd "$(dirname "$0")/.."
SHA256=fc0fc36d7440d015b45468ba08a21e80e056ebbd014c611c6298bb7503e04bd1
work=target/aes-upstream
mkdir -p "$work"
crate="$work/aes-0.9.4.crate"
if ! echo "$SHA256  $crate" | sha256sum -c --status 2>/dev/null; then
  curl -fsSL --retry 3 -o "$crate" https://static.crates.io/crates/aes/aes-0.9.4.crate
  echo "$SHA256  $crate" | sha256sum -c --status || { echo "aes-0.9.4.crate: checksum mismatch" >&2; exit 1; }
fi
rm -rf "$work/aes-0.9.4" && tar -xzf "$crate" -C "$work"
up="$work/aes-0.9.4"
cmp -s "$up/Cargo.toml.orig" crates/aes/Cargo.toml || { echo "crates/aes/Cargo.toml differs from upstream" >&2; exit 1; }
diff -rq "$up/src" crates/aes/src > "$work/diff.txt" || true
expected="Files $up/src/backends/fixslice/mod.rs and crates/aes/src/backends/fixslice/mod.rs differ
Only in crates/aes/src/backends/fixslice: word_v128.rs"
[ "$(cat "$work/diff.txt")" = "$expected" ] || { echo "crates/aes/src differs from upstream beyond the documented patch:" >&2; cat "$work/diff.txt" >&2; exit 1; }
# Every changed line of mod.rs is one of the documented additions.
changed=$(diff "$up/src/backends/fixslice/mod.rs" crates/aes/src/backends/fixslice/mod.rs | grep '^[<>]' || true)
if echo "$changed" | grep -q '^<'; then echo "mod.rs: upstream lines removed" >&2; exit 1; fi
bad=$(echo "$changed" | grep -v -E '^> (#\[cfg\((not\()?all\(target_arch = "wasm32", target_feature = "simd128"\)\)?\)\]|mod word_v128;|pub\(super\) type NativeWord = word_v128::V128;|// .*|)$' || true)
[ -z "$bad" ] || { echo "mod.rs: undocumented change:" >&2; echo "$bad" >&2; exit 1; }
for f in LICENSE-MIT LICENSE-APACHE; do cmp -s "$up/$f" "crates/aes/$f" || { echo "$f differs" >&2; exit 1; }; done
echo "crates/aes = aes 0.9.4 from crates.io + the documented SIMD128 word type"
