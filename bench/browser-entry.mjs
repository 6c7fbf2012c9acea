// Entry bundled by bench/run.mjs for Chromium: loads medseal from the bundle's wasm URL, runs the workloads.
import * as medseal from "../pkg/dist/index.js";
import wasmUrl from "../pkg/dist/wasm/medseal_wasm_bg.wasm";
import { runAll, runRekey } from "./workloads.mjs";

// `only`: "rekey" runs only the re-key workload (bench/run.mjs --only rekey).
window.runBench = async (scale, only) => {
  await medseal.init(new URL(wasmUrl, location.href));
  const lines = [];
  const results = only ? [] : await runAll({ medseal, scale, log: (l) => lines.push(l) });
  const rekey = await runRekey({ medseal, scale, log: (l) => lines.push(l) });
  return { results, rekey, userAgent: navigator.userAgent };
};
