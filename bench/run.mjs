// The benchmark harness: `node bench/run.mjs [--scale 1]` (after `make pkg`).
// Runs bench/workloads.mjs in Node 20 and in headless Chromium in one run,
// then writes bench/results.json, docs/BENCHMARKS.md and docs/benchmarks.png.
// Benchmarks are never assertions: this reports what was measured.
import { createServer } from "node:http";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { statSync, readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import os from "node:os";
import { build } from "esbuild";
import * as medseal from "../pkg/dist/index.js";
import { runAll, ratios } from "./workloads.mjs";
import { launch } from "../tests/browser/helpers.mjs";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
const arg = (name, dflt) => { const i = process.argv.indexOf(name); return i > 0 ? process.argv[i + 1] : dflt; };
const scale = Number(arg("--scale", "1"));
const write = !process.argv.includes("--no-write");
if (process.argv.includes("--report-only")) {
  // Rewrites docs/BENCHMARKS.md from bench/results.json without measuring again.
  const r = JSON.parse(readFileSync(join(root, "bench", "results.json"), "utf8"));
  await writeFile(join(root, "docs", "BENCHMARKS.md"), markdown(r));
  console.log("rewrote docs/BENCHMARKS.md from bench/results.json");
  process.exit(0);
}

console.log(`# Node ${process.version}`);
await medseal.init();
const node = await runAll({ medseal, scale, log: (l) => console.log(l) });

console.log("# Chromium");
const out = join(root, "target", "bench");
await build({ entryPoints: [join(root, "bench", "browser-entry.mjs")], bundle: true, format: "esm", outdir: out, loader: { ".wasm": "file" }, logLevel: "error" });
await writeFile(join(out, "index.html"), '<!doctype html><meta charset="utf-8"><script type="module" src="browser-entry.js"></script>');
const server = createServer(async (req, res) => {
  try {
    const p = join(out, new URL(req.url, "http://x").pathname);
    const type = p.endsWith(".wasm") ? "application/wasm" : p.endsWith(".js") ? "text/javascript" : "text/html";
    const body = await readFile(p);
    // Cross-origin isolated: Chromium's timer resolution is 5 us instead of 100 us.
    res.writeHead(200, { "content-type": type, "cross-origin-opener-policy": "same-origin", "cross-origin-embedder-policy": "require-corp" });
    res.end(body);
  } catch {
    res.writeHead(404);
    res.end();
  }
});
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const browser = await launch();
const page = await browser.newPage();
await page.goto(`http://localhost:${server.address().port}/index.html`);
await page.waitForFunction(() => typeof window.runBench === "function");
const chromium = await page.evaluate((s) => window.runBench(s), scale);
for (const r of chromium.results) console.log(`${r.workload.padEnd(28)} ${r.impl.padEnd(34)} median ${r.median_us.toFixed(1).padStart(9)} us   p95 ${r.p95_us.toFixed(1).padStart(9)} us`);

// Sizes: the .wasm and the JS it needs, raw and gzip.
const files = ["dist/wasm/medseal_wasm_bg.wasm", "dist/wasm/medseal_wasm.js", "dist/index.js", "dist/errors.js", "dist/passkey.js"];
const size = files.map((f) => {
  const b = readFileSync(join(root, "pkg", f));
  return { file: f, raw: b.length, gzip: gzipSync(b, { level: 9 }).length };
});
const total = size.reduce((a, s) => ({ raw: a.raw + s.raw, gzip: a.gzip + s.gzip }), { raw: 0, gzip: 0 });
// The scalar build replaces the SIMD128 one where SIMD128 is missing (Safari < 16.4): one of the two is loaded.
const fallbackBytes = readFileSync(join(root, "pkg", "dist/wasm/medseal_wasm_scalar_bg.wasm"));
const fallback = { file: "dist/wasm/medseal_wasm_scalar_bg.wasm", raw: fallbackBytes.length, gzip: gzipSync(fallbackBytes, { level: 9 }).length };

const report = {
  date: new Date().toISOString(),
  scale,
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30) },
  versions: { node: process.version, chromium: chromium.userAgent, medseal: JSON.parse(readFileSync(join(root, "pkg", "package.json"), "utf8")).version,
    "@noble/ciphers": pkgVersion("@noble/ciphers"), "@noble/curves": pkgVersion("@noble/curves"), "age-encryption": pkgVersion("age-encryption") },
  node: { results: node, ratios: ratios(node) },
  chromium: { results: chromium.results, ratios: ratios(chromium.results) },
  size: { files: size, total, fallback },
};
function pkgVersion(name) {
  return JSON.parse(readFileSync(join(root, "node_modules", name, "package.json"), "utf8")).version;
}

if (write) {
  await writeFile(join(root, "bench", "results.json"), JSON.stringify(report, null, 2) + "\n");
  await writeFile(join(root, "docs", "BENCHMARKS.md"), markdown(report));
  await mkdir(join(root, "docs"), { recursive: true });
  await page.setContent(chartHtml(report));
  await page.setViewportSize({ width: 1000, height: 620 });
  await page.screenshot({ path: join(root, "docs", "benchmarks.png") });
  console.log("wrote bench/results.json, docs/BENCHMARKS.md, docs/benchmarks.png");
}
await browser.close();
server.close();
console.log(`benchmark harness: ${node.length} Node and ${chromium.results.length} Chromium measurements`);

function fmt(us) {
  return us >= 1000 ? `${(us / 1000).toFixed(2)} ms` : `${us.toFixed(1)} µs`;
}

function goals(r) {
  const med = (env, workload, impl) => r[env].results.find((x) => x.workload === workload && x.impl === impl)?.median_us;
  const ratio = (env, workload, mine, alt) => med(env, workload, mine) / med(env, workload, alt);
  const batch = r.chromium.results.find((x) => x.workload.startsWith("batch") && x.workload.endsWith("open"))?.workload;
  const rows = [
    ["1 KiB open in Chromium", med("chromium", "open 1 KiB", "medseal open"), "≤ 10 µs", (v) => v <= 10, fmt],
    ["1 KiB open vs the same envelope by hand with WebCrypto (Chromium)", ratio("chromium", "open 1 KiB", "medseal open", "WebCrypto envelope by hand"), "≤ 0.5", (v) => v <= 0.5],
    ["1 KiB open vs @noble/ciphers (Chromium)", ratio("chromium", "open 1 KiB", "medseal open", "@noble/ciphers AES-GCM"), "≤ 0.2", (v) => v <= 0.2],
    ["1 KiB open vs age-encryption (Chromium)", ratio("chromium", "open 1 KiB", "medseal open", "age-encryption (X25519)"), "≤ 0.02", (v) => v <= 0.02],
    ["1 KiB open vs awaited raw WebCrypto (Node)", ratio("node", "open 1 KiB", "medseal open", "WebCrypto raw AES-GCM"), "≤ 0.25", (v) => v <= 0.25],
    ["batch open vs raw WebCrypto one by one (Chromium)", ratio("chromium", batch, "medseal openMany", "WebCrypto raw, awaited one by one"), "≤ 1", (v) => v <= 1],
    ["batch open vs the envelope by hand (Chromium)", ratio("chromium", batch, "medseal openMany", "WebCrypto envelope by hand, Promise.all"), "≤ 0.33", (v) => v <= 0.33],
    ["1 MiB open vs raw WebCrypto (Chromium), wasm AES", ratio("chromium", "open 1 MiB", "medseal open", "WebCrypto raw AES-GCM"), "≤ 2", (v) => v <= 2],
    ["1 MiB openAsync (body by WebCrypto) vs raw WebCrypto (Chromium)", ratio("chromium", "open 1 MiB", "medseal openAsync (WebCrypto body)", "WebCrypto raw AES-GCM"), "≤ 2", (v) => v <= 2],
    ["wasm + JS, gzip", r.size.total.gzip / 1000, "≤ 120 KB (aim 80)", (v) => v <= 120, (v) => `${v.toFixed(1)} KB`],
  ];
  return `| goal | measured | target | |\n|---|---|---|---|\n${rows
    .map(([name, v, target, ok, f]) => `| ${name} | ${Number.isFinite(v) ? (f ? f(v) : v.toFixed(2)) : "n/a"} | ${target} | ${Number.isFinite(v) && ok(v) ? "met" : "not met"} |`)
    .join("\n")}\n`;
}

function markdown(r) {
  const table = (env) => {
    const rows = r[env].results.map((x) => `| ${x.workload} | ${x.impl} | ${fmt(x.median_us)} | ${fmt(x.p95_us)} |`).join("\n");
    const rat = r[env].ratios.map((x) => `| ${x.workload} | ${x.medseal} | ${x.alternative} | ${x.ratio.toFixed(2)} |`).join("\n");
    return `### Times (per operation; batches per record)\n\n| workload | implementation | median | p95 |\n|---|---|---|---|\n${rows}\n\n### Ratios (medseal time / alternative time: below 1 means medseal is faster)\n\n| workload | medseal | alternative | ratio |\n|---|---|---|---|\n${rat}\n`;
  };
  return `# Benchmarks

Generated by \`node bench/run.mjs\` (after \`make pkg\`) on ${r.date.slice(0, 10)}, scale ${r.scale}.
Machine: ${r.machine.cpus} cores (${r.machine.model}), ${r.machine.memoryGiB} GiB. Node ${r.versions.node};
${r.versions.chromium}; @noble/ciphers ${r.versions["@noble/ciphers"]}, @noble/curves ${r.versions["@noble/curves"]},
age-encryption ${r.versions["age-encryption"]}. Every implementation ran in the same process, warm, with several
repetitions; medians and 95th percentiles. The raw numbers are in \`bench/results.json\`.

![ratios](benchmarks.png)

## Goals (issue "Benchmarks and size"), from this run

${goals(r)}
On this 2-core VM the same workload varies by up to ±50 % from run to run;
read ratios near a goal's line as "at the line", not as met or missed.

### What limits the goals not met

- **Small records (1 KiB open, batches).** medseal's per-record work is
  software AES-256-GCM in wasm (RustCrypto \`aes\` fixsliced, constant time,
  and a software POLYVAL/GHASH) over the body, plus the envelope: the data-key
  unwrap (AES-GCM over 32 bytes with the vault's cached key schedule), one
  HKDF-SHA256 extract and two expands (body key and commitment), the body
  key's AES key schedule, the commitment check and the padding, and the
  string conversions at the JS boundary. The \`aes-gcm\` crate alone costs
  12-14 µs per KiB in wasm (measured for the issue), so 10 µs per record is
  below what software AES in wasm does today; WebCrypto runs AES-NI and
  CLMUL natively (about 6 µs per call in Chromium). RustCrypto has no wasm
  SIMD128 backend for AES or POLYVAL, and a \`+simd128\` build measured no
  gain. What would move it: a constant-time v128 bitsliced AES and a v128
  GHASH (not attempted), or bodies of small records through WebCrypto, which
  is fast per call in Chromium but about 50 µs per call in Node.
  \`openMany\` reads its items with one \`Reflect.get\` per field (it used
  serde-wasm-bindgen, which cost as much as the calls it saved); it now runs
  at the speed of a loop of \`open\`, because the cryptography dominates.
  The text form's base64url went from constant-time \`base64ct\` (12.9 µs to
  encode a 1 KiB record in V8's wasm) to a table codec (3.6 µs); nothing in it
  is secret. \`opt-level = 3\` would take about a third off the fixed
  per-record cost (20 -> 14.5 µs for a 10-byte record in Node) for 11-22 KB
  more gzip, which would break the size goal (measurements in Cargo.toml).
- **1 MiB in wasm** is software AES-GCM at about 55-60 MB/s (18 ms per MiB with the copies across the boundary); the WebCrypto path
  (\`openAsync\`, the issue's allowed exception) is the answer for large
  records and lands at about 1.6-2.2x raw WebCrypto here (the envelope work
  and one extra copy of the body on top of WebCrypto's own decrypt).
- **Size** is met: 131.8 KB -> 119.8 KB gzip in this session (serde-wasm-bindgen
  out of the shipped module, a flat parse of unlock entries instead of serde's
  buffered tagged enum, whitespace-minified JS). What remains is mostly P-256
  (ECDSA, ECDH), serde_json and float formatting that serde's error paths pull
  in, and the AES/GHASH/SHA-256 code.

## Size

| file | raw | gzip -9 |
|---|---|---|
${r.size.files.map((f) => `| ${f.file} | ${f.raw} B | ${f.gzip} B |`).join("\n")}
| **total** | **${r.size.total.raw} B** | **${r.size.total.gzip} B** |
${r.size.fallback ? `| (instead of the first row where SIMD128 is missing: ${r.size.fallback.file}) | ${r.size.fallback.raw} B | ${r.size.fallback.gzip} B |\n` : ""}
## Chromium

${table("chromium")}
## Node 20

${table("node")}`;
}

function chartHtml(r) {
  // Ratios against the main alternatives, log scale, in both environments.
  const pick = (env) => r[env].ratios.filter((x) => /^open /.test(x.workload) && (x.medseal === "medseal open" || x.medseal.includes("openAsync")) || /batch .* open/.test(x.workload) && x.medseal === "medseal openMany");
  const rows = [...pick("chromium").map((x) => ({ ...x, env: "Chromium" })), ...pick("node").map((x) => ({ ...x, env: "Node" }))];
  const w = 1000, rowH = 13, top = 40, left = 430;
  const h = top + rows.length * rowH + 30;
  const x = (ratio) => left + ((Math.log10(ratio) + 3) / 5) * (w - left - 20);
  const bars = rows.map((d, i) => {
    const y = top + i * rowH;
    const x0 = x(1), x1 = x(Math.max(1e-3, Math.min(100, d.ratio)));
    const color = d.ratio <= 1 ? "#2a9d8f" : "#e76f51";
    return `<text x="${left - 6}" y="${y + 10}" text-anchor="end" font-size="10">${d.env}: ${d.workload} vs ${d.alternative}</text><rect x="${Math.min(x0, x1)}" y="${y + 2}" width="${Math.abs(x1 - x0)}" height="9" fill="${color}"/><text x="${Math.max(x0, x1) + 4}" y="${y + 10}" font-size="9">${d.ratio.toFixed(2)}</text>`;
  }).join("");
  const ticks = [0.001, 0.01, 0.1, 1, 10, 100].map((t) => `<line x1="${x(t)}" x2="${x(t)}" y1="${top - 4}" y2="${h - 25}" stroke="#ccc"/><text x="${x(t)}" y="${top - 8}" font-size="10" text-anchor="middle">${t}</text>`).join("");
  return `<!doctype html><body style="margin:0;font-family:sans-serif;background:#fff"><svg width="${w}" height="${h}" xmlns="http://www.w3.org/2000/svg"><text x="10" y="18" font-size="14" font-weight="bold">medseal open time / alternative time (log scale; green: medseal faster)</text>${ticks}${bars}</svg></body>`;
}
