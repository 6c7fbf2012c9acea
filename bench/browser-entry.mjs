// Entry bundled by bench/run.mjs for Chromium: loads medseal from the bundle's wasm URL, runs the workloads.
import * as medseal from "../pkg/dist/index.js";
import wasmUrl from "../pkg/dist/wasm/medseal_wasm_bg.wasm";
import { runAll } from "./workloads.mjs";

window.runBench = async (scale) => {
  await medseal.init(new URL(wasmUrl, location.href));
  const lines = [];
  const results = await runAll({ medseal, scale, log: (l) => lines.push(l) });
  return { results, userAgent: navigator.userAgent };
};
