// Entry bundled by bench/run.mjs for Chromium: loads medseal from the bundle's wasm URL, runs the workloads.
import * as medseal from "../pkg/dist/index.js";
import wasmUrl from "../pkg/dist/wasm/medseal_wasm_bg.wasm";
import * as wasm from "../pkg/dist/wasm/medseal_wasm.js";
import { runAll, runRekey, runLog } from "./workloads.mjs";
import { runStream } from "./streams.mjs";

// `only`: "rekey", "log" or "stream" runs only that workload (bench/run.mjs --only rekey|log|stream);
// `streamSizes` (bytes) and `streamRounds` (per size) are the stream group's.
window.runBench = async (scale, only, { streamSizes, streamRounds } = {}) => {
  await medseal.init(new URL(wasmUrl, location.href));
  const lines = [];
  if (only === "stream") {
    // Logged as it goes (bench/run.mjs prints the page's console): a 1 GiB round takes a while.
    const stream = await runStream({ medseal, sizes: streamSizes, rounds: (size) => streamRounds[size], log: (l) => console.log(l) });
    return { results: [], rekey: { results: [] }, log: { results: [] }, stream, userAgent: navigator.userAgent };
  }
  const results = only ? [] : await runAll({ medseal, scale, log: (l) => lines.push(l) });
  const rekey = only && only !== "rekey" ? { results: [], bytes: null } : await runRekey({ medseal, scale, log: (l) => lines.push(l) });
  const log = only && only !== "log" ? { results: [], bytes: null } : await runLog({ medseal, wasm, scale, log: (l) => lines.push(l) });
  return { results, rekey, log, userAgent: navigator.userAgent };
};
