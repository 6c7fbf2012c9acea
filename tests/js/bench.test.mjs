// The benchmark harness runs (a tiny workload in Node): every workload produces
// a measurement and every medseal workload a ratio. No timing is asserted.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as medseal from "../../pkg/dist/node.js";
import { runAll, runRekey, runLog, ratios, REWRAP_HEADER_BYTES } from "../../bench/workloads.mjs";
import * as wasm from "../../pkg/dist/wasm/medseal_wasm.js";

test("benchmark harness runs on a tiny workload", async () => {
  await medseal.init();
  const results = await runAll({ medseal, scale: 0.002 });
  assert.ok(results.length >= 40, `${results.length} measurements`);
  for (const r of results) assert.ok(Number.isFinite(r.median_us) && r.median_us >= 0 && r.n >= 3, JSON.stringify(r));
  const rs = ratios(results);
  assert.ok(rs.some((r) => r.workload === "open 1 KiB" && r.alternative === "WebCrypto envelope by hand"));
  assert.ok(rs.every((r) => Number.isFinite(r.ratio) && r.ratio > 0));
});

test("re-key workload (issue #13) runs on a tiny workload and counts the bytes written", async () => {
  await medseal.init();
  const { results, bytes } = await runRekey({ medseal, scale: 0.002 });
  assert.deepEqual(results.map((r) => r.impl), ["medseal rekey()", "medseal rewrap, loop", "re-seal: medseal open + seal, loop"]);
  for (const r of results) assert.ok(Number.isFinite(r.median_us) && r.median_us >= 0 && r.n >= 3, JSON.stringify(r));
  assert.equal(bytes.passkeys, 3);
  assert.equal(bytes.unlockEntries, 4, "3 passkeys and the recovery entry");
  assert.equal(bytes.records, 20);
  assert.equal(bytes.changedSpan, REWRAP_HEADER_BYTES, "rewrap changes the header and nothing after it");
  assert.ok(bytes.manifestAfter > bytes.manifestBefore, "the re-keyed manifest carries the older epoch");
  assert.equal(bytes.rewrapWhole, bytes.manifestAfter + bytes.records * bytes.recordBytes);
  assert.equal(bytes.rewrapHeaders, bytes.manifestAfter + bytes.records * REWRAP_HEADER_BYTES);
  assert.equal(bytes.reseal, bytes.rewrapWhole, "a record sealed again has the same length");
  assert.ok(ratios(results).some((r) => r.medseal === "medseal rewrap, loop" && r.alternative === "re-seal: medseal open + seal, loop"));
});

test("vault log workload (issue #15) runs on a tiny workload; medseal and the JS tree agree", async () => {
  await medseal.init();
  const { results, bytes } = await runLog({ medseal, wasm, scale: 0.002 });
  assert.equal(results.length, 10);
  for (const r of results) assert.ok(Number.isFinite(r.median_us) && r.median_us >= 0, JSON.stringify(r));
  assert.equal(bytes.big, 4000);
  assert.ok(bytes.proofHashes > 0 && bytes.proofBytes === 32 * bytes.proofHashes);
  assert.ok(ratios(results).some((r) => r.medseal === "medseal verifyLogConsistency (wasm)"));
});
