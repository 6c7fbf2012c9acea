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
    res.writeHead(200, { "content-type": type });
    res.end(await readFile(p));
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

const report = {
  date: new Date().toISOString(),
  scale,
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memoryGiB: Math.round(os.totalmem() / 2 ** 30) },
  versions: { node: process.version, chromium: chromium.userAgent, medseal: JSON.parse(readFileSync(join(root, "pkg", "package.json"), "utf8")).version,
    "@noble/ciphers": pkgVersion("@noble/ciphers"), "@noble/curves": pkgVersion("@noble/curves"), "age-encryption": pkgVersion("age-encryption") },
  node: { results: node, ratios: ratios(node) },
  chromium: { results: chromium.results, ratios: ratios(chromium.results) },
  size: { files: size, total },
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

## Size

| file | raw | gzip -9 |
|---|---|---|
${r.size.files.map((f) => `| ${f.file} | ${f.raw} B | ${f.gzip} B |`).join("\n")}
| **total** | **${r.size.total.raw} B** | **${r.size.total.gzip} B** |

## Chromium

${table("chromium")}
## Node 20

${table("node")}`;
}

function chartHtml(r) {
  // Ratios against the main alternatives, log scale, in both environments.
  const pick = (env) => r[env].ratios.filter((x) => /^open /.test(x.workload) && x.medseal === "medseal open" || /batch .* open/.test(x.workload) && x.medseal === "medseal openMany");
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
