// Before/after of builds in headless Chromium, as bench/ab.mjs does in Node:
// `node bench/ab-browser.mjs DIR...` where each DIR is a copy of pkg/. Each
// build is bundled apart and gets its own wasm instance in one page; rounds are
// interleaved so that this VM's drift hits every build alike; medians of 9
// rounds. The same envelope done by hand with WebCrypto runs in the same
// rounds, so each build's ratio to it is read off one run. For choosing
// changes (issue 18); the full side-by-side comparison is bench/run.mjs.
import { createServer } from "node:http";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { launch } from "../tests/browser/helpers.mjs";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
const dirs = process.argv.slice(2).map((d) => resolve(d));
if (dirs.length === 0) {
  console.error("usage: node bench/ab-browser.mjs PKG_DIR [PKG_DIR...]");
  process.exit(2);
}
const out = join(root, "target", "bench-ab");
await mkdir(out, { recursive: true });
const names = [];
for (const [i, d] of dirs.entries()) {
  const entry = join(out, `entry-${i}.mjs`);
  await writeFile(entry, `import * as m from ${JSON.stringify(join(d, "dist/index.js"))};
import wasmUrl from ${JSON.stringify(join(d, "dist/wasm/medseal_wasm_bg.wasm"))};
window.builds = window.builds ?? [];
window.builds[${i}] = async () => { await m.init(new URL(wasmUrl, location.href)); return m; };
`);
  await build({ entryPoints: [entry], bundle: true, format: "esm", outfile: join(out, `b${i}.js`), loader: { ".wasm": "file" }, logLevel: "error" });
  names.push(d.split("/").pop());
}
await writeFile(join(out, "index.html"), `<!doctype html><meta charset="utf-8">${dirs.map((_, i) => `<script type="module" src="b${i}.js"></script>`).join("")}`);
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
await page.waitForFunction((n) => window.builds?.length === n && window.builds.every(Boolean), dirs.length);
const rows = await page.evaluate(async () => {
  const subtle = crypto.subtle;
  const rnd = (n) => crypto.getRandomValues(new Uint8Array(n));
  const t = (f, n) => { const s = performance.now(); for (let i = 0; i < n; i++) f(); return ((performance.now() - s) * 1000) / n; };
  const ta = async (f, n) => { const s = performance.now(); for (let i = 0; i < n; i++) await f(); return ((performance.now() - s) * 1000) / n; };
  const vs = [];
  for (const load of window.builds) {
    const m = await load();
    const cred = new Uint8Array([1]);
    const prfOutput = rnd(32);
    const made = await m.Vault.create({ prf: { credentialId: cred, prfSalt: m.webauthn.newPrfSalt(), prfOutput } });
    const vault = made.vault;
    const kib = vault.seal(rnd(1024), { recordId: "r", form: "bytes" });
    const small = vault.seal(rnd(10), { recordId: "r", form: "bytes" });
    const many = vault.sealMany(Array.from({ length: 1000 }, (_, i) => ({ record: rnd(1024), recordId: `r${i}` })), { form: "bytes" }).map((sealed, i) => ({ sealed, recordId: `r${i}` }));
    const unlock = async () => (await m.Vault.unlock(made.manifest, { prf: { credentialId: cred, prfOutput } }, { store: m.seenStores.memory() })).vault.lock();
    // One store across the unlocks, as a device has: the first unlock saves the seen state.
    const store = m.seenStores.memory();
    const unlockSeen = async () => (await m.Vault.unlock(made.manifest, { prf: { credentialId: cred, prfOutput } }, { store })).vault.lock();
    vs.push({ vault, kib, small, many, unlock, unlockSeen, r: { small: [], kib: [], many: [], unlock: [], unlockSeen: [] } });
  }
  // The by-hand envelope (bench/workloads.mjs): data key wrapped under a KEK, body under the data key.
  const kek = await subtle.importKey("raw", rnd(32), "AES-GCM", false, ["encrypt", "decrypt"]);
  const aad = new TextEncoder().encode("rec-1");
  const env = async () => {
    const dek = rnd(32), wrapIv = rnd(12), iv = rnd(12);
    const wrapped = await subtle.encrypt({ name: "AES-GCM", iv: wrapIv, additionalData: aad }, kek, dek);
    const key = await subtle.importKey("raw", dek, "AES-GCM", false, ["encrypt"]);
    return { wrapIv, wrapped, iv, ct: await subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad }, key, rnd(1024)) };
  };
  const open = async (e) => {
    const dek = await subtle.decrypt({ name: "AES-GCM", iv: e.wrapIv, additionalData: aad }, kek, e.wrapped);
    const key = await subtle.importKey("raw", dek, "AES-GCM", false, ["decrypt"]);
    return subtle.decrypt({ name: "AES-GCM", iv: e.iv, additionalData: aad }, key, e.ct);
  };
  const one = await env();
  const batch = await Promise.all(Array.from({ length: 1000 }, env));
  const hand = { kib: [], many: [] };
  for (const v of vs) { t(() => v.vault.open(v.small, { recordId: "r" }), 2000); await v.unlockSeen(); }
  for (let k = 0; k < 9; k++) {
    for (const v of vs) {
      v.r.small.push(t(() => v.vault.open(v.small, { recordId: "r" }), 2000));
      v.r.kib.push(t(() => v.vault.open(v.kib, { recordId: "r" }), 2000));
      v.r.many.push(t(() => v.vault.openMany(v.many), 3) / v.many.length);
      v.r.unlock.push(await ta(v.unlock, 10));
      v.r.unlockSeen.push(await ta(v.unlockSeen, 20));
    }
    hand.kib.push(await ta(() => open(one), 2000));
    hand.many.push((await ta(() => Promise.all(batch.map(open)), 3)) / batch.length);
  }
  const med = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
  const h = { kib: med(hand.kib), many: med(hand.many) };
  return { hand: h, builds: vs.map((v) => Object.fromEntries(Object.entries(v.r).map(([k, a]) => [k, med(a)]))), ua: navigator.userAgent };
});
console.log(rows.ua.match(/HeadlessChrome\/[\d.]+/)?.[0] ?? rows.ua);
console.log(`${"by hand".padEnd(14)} 1 KiB open ${rows.hand.kib.toFixed(1)} us | 1,000 x 1 KiB Promise.all ${rows.hand.many.toFixed(1)} us/record`);
rows.builds.forEach((b, i) => console.log(names[i].padEnd(14),
  `10 B ${b.small.toFixed(1)} us | 1 KiB ${b.kib.toFixed(1)} us (${(b.kib / rows.hand.kib).toFixed(2)}x by hand) | openMany 1 KiB ${b.many.toFixed(1)} us (${(b.many / rows.hand.many).toFixed(2)}x) | unlock ${(b.unlock / 1000).toFixed(2)} ms, with seen state ${(b.unlockSeen / 1000).toFixed(2)} ms`));
await browser.close();
server.close();
