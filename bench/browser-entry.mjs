// Entry bundled by bench/run.mjs for Chromium: loads medseal from the bundle's wasm URL, runs the workloads.
import * as medseal from "../pkg/dist/index.js";
import wasmUrl from "../pkg/dist/wasm/medseal_wasm_bg.wasm";
import * as wasm from "../pkg/dist/wasm/medseal_wasm.js";
import { runAll, runRekey, runLog } from "./workloads.mjs";

// `only`: "rekey" or "log" runs only that workload (bench/run.mjs --only rekey|log).
window.runBench = async (scale, only) => {
  await medseal.init(new URL(wasmUrl, location.href));
  const lines = [];
  const results = only ? [] : await runAll({ medseal, scale, log: (l) => lines.push(l) });
  const rekey = only && only !== "rekey" ? { results: [], bytes: null } : await runRekey({ medseal, scale, log: (l) => lines.push(l) });
  const log = only && only !== "log" ? { results: [], bytes: null } : await runLog({ medseal, wasm, scale, log: (l) => lines.push(l) });
  return { results, rekey, log, userAgent: navigator.userAgent };
};
