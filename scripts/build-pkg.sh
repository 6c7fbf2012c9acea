#!/usr/bin/env bash
# Builds the npm package into pkg/: wasm (release, via wasm-pack with the wasm
# toolchain chosen by setup.sh), wasm-opt -Os (binaryen from npm; -O3 measured no faster, 0.9 KB larger), the TypeScript
# layer (tsc), and package.json/README from pkg-template/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
WASM_TC=$(cat target/.wasm-toolchain)
t0=$(date +%s)

RAW=target/wasm-pkg
RAW_SCALAR=target/wasm-pkg-scalar
# The features rustc enables by default for wasm32-unknown-unknown (wasm-bindgen drops the section that says so).
WASM_FEATURES="--enable-bulk-memory --enable-bulk-memory-opt --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals --enable-multivalue --enable-reference-types"
# --weak-refs: a handle the page drops without lock() is freed (and its keys
# zeroed) by a FinalizationRegistry instead of living as long as the instance.
# Panic locations name source files: strip the build machine's paths (smaller,
# reproducible, and no home directory in the shipped binary).
REMAP="--remap-path-prefix=$PWD=medseal"
for d in "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/; do REMAP="$REMAP --remap-path-prefix=${d%/}="; done
# Two modules from the same source: with SIMD128 (AES eight blocks at a time,
# crates/aes/MEDSEAL.md; SHA-256's SIMD backend), loaded wherever the engine
# validates SIMD128, and a scalar fallback for engines without it. WebAssembly
# has no run-time feature detection inside a module, so init() picks the file.
# Separate target directories: different RUSTFLAGS would otherwise rebuild
# every dependency on each switch.
build() { # out-dir target-dir extra-rustflags
  RUSTFLAGS="$REMAP $3" CARGO_TARGET_DIR="$2" RUSTUP_TOOLCHAIN="$WASM_TC" \
    wasm-pack --quiet --log-level warn build --target web --release --no-pack --weak-refs \
    --out-dir "$PWD/$1" --out-name medseal_wasm crates/medseal-wasm >/dev/null
}
# Side by side: each build ends in long single-threaded codegen (one codegen
# unit), so two at once keep both cores busy.
build "$RAW" "$PWD/target" "-C target-feature=+simd128" & simd=$!
build "$RAW_SCALAR" "$PWD/target/wasm-scalar" "" & scalar=$!
wait "$simd" || { echo "the SIMD128 build failed" >&2; exit 1; }
wait "$scalar" || { echo "the scalar build failed" >&2; exit 1; }
# One JS glue serves both modules only if they import and export the same things.
cmp -s "$RAW/medseal_wasm.js" "$RAW_SCALAR/medseal_wasm.js" \
  || { echo "the SIMD and scalar builds disagree on their JS glue" >&2; exit 1; }
node_modules/.bin/wasm-opt -Os $WASM_FEATURES --enable-simd --strip-debug --strip-producers "$RAW/medseal_wasm_bg.wasm" -o "$RAW/medseal_wasm_bg.opt.wasm"
node_modules/.bin/wasm-opt -Os $WASM_FEATURES --strip-debug --strip-producers "$RAW_SCALAR/medseal_wasm_bg.wasm" -o "$RAW_SCALAR/medseal_wasm_bg.opt.wasm"

rm -rf pkg target/ts-src
mkdir -p pkg/dist/wasm target/ts-src/wasm
cp js/*.ts js/tsconfig.json target/ts-src/
cp "$RAW/medseal_wasm.d.ts" target/ts-src/wasm/
sed -i 's#"outDir": "../pkg/dist"#"outDir": "../../pkg/dist"#' target/ts-src/tsconfig.json
node_modules/.bin/tsc -p target/ts-src/tsconfig.json
cp "$RAW/medseal_wasm.js" "$RAW/medseal_wasm.d.ts" pkg/dist/wasm/
cp "$RAW/medseal_wasm_bg.opt.wasm" pkg/dist/wasm/medseal_wasm_bg.wasm
cp "$RAW_SCALAR/medseal_wasm_bg.opt.wasm" pkg/dist/wasm/medseal_wasm_scalar_bg.wasm
rm -f pkg/dist/wasm/*.d.ts.map
# Shipped JS without comments and whitespace (names kept, so stack traces stay
# readable; the documented source is js/ and the .d.ts files keep every doc comment).
for f in pkg/dist/*.js pkg/dist/wasm/*.js; do
  node_modules/.bin/esbuild "$f" --minify-whitespace --log-level=warning --outfile="$f" --allow-overwrite
done
cp pkg-template/package.json pkg-template/README.md pkg/
raw=$(stat -c %s pkg/dist/wasm/medseal_wasm_bg.wasm)
gz=$(gzip -9c pkg/dist/wasm/medseal_wasm_bg.wasm | wc -c)
js=$(cat pkg/dist/wasm/medseal_wasm.js pkg/dist/index.js pkg/dist/errors.js pkg/dist/webauthn.js pkg/dist/loader.js | gzip -9c | wc -c)
sraw=$(stat -c %s pkg/dist/wasm/medseal_wasm_scalar_bg.wasm)
sgz=$(gzip -9c pkg/dist/wasm/medseal_wasm_scalar_bg.wasm | wc -c)
echo "built pkg/ in $(( $(date +%s) - t0 ))s: medseal_wasm_bg.wasm (SIMD128) ${raw} B (${gz} B gzip), scalar fallback ${sraw} B (${sgz} B gzip); main entry JS ${js} B gzip"
