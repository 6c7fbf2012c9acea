// Which way should a JSON record cross into wasm? Measures, side by side in one
// process, seal+open of realistic PHR records through
//   A) the shipped path: JSON.stringify in JS, the text copied into wasm once,
//      JSON.parse of the opened text in JS;
//   B) serde-wasm-bindgen: the JS object walked field by field from Rust into a
//      serde_json::Value, serialized there; opened back into a JS object.
// Run: bash bench/payload-path.sh   (builds the wasm with the bench-only exports)
import { readFile } from "node:fs/promises";
import init, { VaultHandle, newPrfSalt } from "../target/wasm-pkg-bench/medseal_wasm.js";

await init({ module_or_path: await readFile(new URL("../target/wasm-pkg-bench/medseal_wasm_bg.wasm", import.meta.url)) });
const prf = crypto.getRandomValues(new Uint8Array(32));
const h = VaultHandle.createFromPrf(new Uint8Array([1]), newPrfSalt(), prf, undefined);

const record = (i) => ({
  resourceType: "Observation", id: `obs-${i}`, status: "final",
  code: { coding: [{ system: "http://loinc.org", code: "4548-4", display: "Hemoglobin A1c/Hemoglobin.total in Blood" }] },
  subject: { reference: "Patient/123" }, effectiveDateTime: "2026-11-02T08:30:00Z",
  valueQuantity: { value: 6.1 + (i % 10) / 10, unit: "%", system: "http://unitsofmeasure.org", code: "%" },
  referenceRange: [{ low: { value: 4.0 }, high: { value: 5.6 } }], note: [{ text: "Fasting sample; repeat in 3 months." }],
});
const N = 5000;
const records = Array.from({ length: N }, (_, i) => record(i));
const median = (xs) => xs.sort((a, b) => a - b)[xs.length >> 1];

function pathA() {
  const t0 = performance.now();
  const sealed = records.map((r, i) => h.seal(JSON.stringify(r), `r${i}`, undefined, true));
  const t1 = performance.now();
  for (let i = 0; i < N; i++) JSON.parse(h.open(sealed[i], `r${i}`, undefined));
  return [t1 - t0, performance.now() - t1];
}
function pathB() {
  const t0 = performance.now();
  const sealed = records.map((r, i) => h.benchSealValue(r, `r${i}`));
  const t1 = performance.now();
  for (let i = 0; i < N; i++) h.benchOpenValue(sealed[i], `r${i}`);
  return [t1 - t0, performance.now() - t1];
}
pathA(); pathB(); // warm-up
const a = [], b = [];
for (let k = 0; k < 7; k++) { a.push(pathA()); b.push(pathB()); }
const us = (ms) => ((ms / N) * 1000).toFixed(1);
const sa = median(a.map((x) => x[0])), oa = median(a.map((x) => x[1]));
const sb = median(b.map((x) => x[0])), ob = median(b.map((x) => x[1]));
console.log(`record: ${JSON.stringify(records[0]).length} B of JSON, ${N} records, median of 7 runs, Node ${process.version}`);
console.log(`A JSON text         seal ${us(sa)} us/record, open ${us(oa)} us/record`);
console.log(`B serde-wasm-bindgen seal ${us(sb)} us/record, open ${us(ob)} us/record`);
console.log(`ratio B/A: seal ${(sb / sa).toFixed(2)}x, open ${(ob / oa).toFixed(2)}x`);
