// The benchmark harness runs (a tiny workload in Node): every workload produces
// a measurement and every medseal workload a ratio. No timing is asserted.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as medseal from "../../pkg/dist/node.js";
import { runAll, ratios } from "../../bench/workloads.mjs";

test("benchmark harness runs on a tiny workload", async () => {
  await medseal.init();
  const results = await runAll({ medseal, scale: 0.002 });
  assert.ok(results.length >= 40, `${results.length} measurements`);
  for (const r of results) assert.ok(Number.isFinite(r.median_us) && r.median_us >= 0 && r.n >= 3, JSON.stringify(r));
  const rs = ratios(results);
  assert.ok(rs.some((r) => r.workload === "open 1 KiB" && r.alternative === "WebCrypto envelope by hand"));
  assert.ok(rs.every((r) => Number.isFinite(r.ratio) && r.ratio > 0));
});
