// The package ships two builds of the module (scripts/build-pkg.sh): SIMD128
// (AES eight blocks at a time, crates/aes/MEDSEAL.md) and scalar. init() must
// load the SIMD128 build where the engine has SIMD128 and the scalar build
// where it does not, and the two must be the same format: each opens what the
// other sealed, sizes from 0 B to 200 KB (AES-GCM's tags make any difference
// in the keystream or the hash an error).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { statSync } from "node:fs";
import { fileURLToPath } from "node:url";

const child = fileURLToPath(new URL("./simd-child.mjs", import.meta.url));
const wasm = (f) => statSync(fileURLToPath(new URL(`../../pkg/dist/wasm/${f}`, import.meta.url))).size;
const run = (mode, input, extra = []) => JSON.parse(execFileSync(process.execPath, [child, mode, ...extra], { input: input ? JSON.stringify(input) : "", maxBuffer: 64 << 20 }).toString());

test("init() picks the SIMD128 build where SIMD128 validates, the scalar build where it does not; each opens the other's records", () => {
  const simdSize = wasm("medseal_wasm_bg.wasm");
  const scalarSize = wasm("medseal_wasm_scalar_bg.wasm");
  assert.notEqual(simdSize, scalarSize);

  const a = run("simd");
  assert.equal(a.simd128Supported, true, "Node 20 runs SIMD128");
  assert.deepEqual(a.loaded, [simdSize], "the SIMD128 build was instantiated");

  const b = run("scalar", { shared: a.shared, records: a.records });
  assert.equal(b.simd128Supported, false);
  assert.deepEqual(b.loaded, [scalarSize], "the scalar build was instantiated");
  assert.equal(b.opened.length, a.records.length);
  assert.ok(b.opened.every(Boolean), "the scalar build opens every record the SIMD128 build sealed");

  const c = run("simd", { shared: a.shared, records: b.records });
  assert.deepEqual(c.loaded, [simdSize]);
  assert.equal(c.opened.length, b.records.length);
  assert.ok(c.opened.every(Boolean), "the SIMD128 build opens every record the scalar build sealed");
});

test("init() falls back to the scalar build when the SIMD128 build does not compile (pre-standard SIMD)", () => {
  const simdSize = wasm("medseal_wasm_bg.wasm");
  const a = run("simd");
  const d = run("early-simd", { shared: a.shared, records: a.records }, [String(simdSize)]);
  assert.equal(d.simd128Supported, true);
  assert.deepEqual(d.loaded, [simdSize, wasm("medseal_wasm_scalar_bg.wasm")], "tried the SIMD128 build, then loaded the scalar one");
  assert.ok(d.opened.length > 0 && d.opened.every(Boolean));
});
