// Before/after of builds, in one Node process: `node bench/ab.mjs DIR...` where
// each DIR is a copy of pkg/ (for example `make pkg && cp -r pkg /tmp/pkg-a`,
// change something, rebuild, `cp -r pkg /tmp/pkg-b`). Each build gets its own
// wasm instance; rounds are interleaved so that this VM's drift hits every build
// alike; medians of 9 rounds. For choosing build settings (Cargo.toml); the
// side-by-side comparison with other libraries is bench/run.mjs.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
const dirs = process.argv.slice(2).map((d) => pathToFileURL(resolve(d)).href);
if (dirs.length === 0) {
  console.error("usage: node bench/ab.mjs PKG_DIR [PKG_DIR...]");
  process.exit(2);
}
const vs = [];
for (const d of dirs) {
  const m = await import(d + "/dist/node.js");
  await m.init();
  const { vault } = await m.Vault.create({ prf: { credentialId: new Uint8Array([1]), prfSalt: m.webauthn.newPrfSalt(), prfOutput: crypto.getRandomValues(new Uint8Array(32)) } });
  const big = vault.seal(new Uint8Array(65536).fill(65), { recordId: "r", form: "bytes" });
  const small = vault.seal(new Uint8Array(10).fill(65), { recordId: "r", form: "bytes" });
  const kib = vault.seal({ note: "x".repeat(1000) }, { recordId: "r" });
  // A batch: 1,000 records of 1 KiB (bytes form), opened with openMany.
  const many = vault.sealMany(Array.from({ length: 1000 }, (_, i) => ({ record: new Uint8Array(1024).fill(i), recordId: `r${i}` })), { form: "bytes" }).map((sealed, i) => ({ sealed, recordId: `r${i}` }));
  const cred = new Uint8Array([1]); const prfOutput = crypto.getRandomValues(new Uint8Array(32));
  const made = await m.Vault.create({ prf: { credentialId: cred, prfSalt: m.webauthn.newPrfSalt(), prfOutput } });
  const unlock = async () => (await m.Vault.unlock(made.manifest, { prf: { credentialId: cred, prfOutput } })).vault.lock();
  vs.push({ d, vault, big, small, kib, many, unlock, r: { big: [], small: [], kib: [], many: [], unlock: [] } });
}
function t(f, n) { const s = performance.now(); for (let i = 0; i < n; i++) f(); return (performance.now() - s) * 1000 / n; }
async function ta(f, n) { const s = performance.now(); for (let i = 0; i < n; i++) await f(); return (performance.now() - s) * 1000 / n; }
for (const v of vs) { t(() => v.vault.open(v.small, { recordId: "r" }), 2000); t(() => v.vault.open(v.big, { recordId: "r" }), 50); }
for (let k = 0; k < 9; k++) for (const v of vs) {
  v.r.small.push(t(() => v.vault.open(v.small, { recordId: "r" }), 2000));
  v.r.kib.push(t(() => v.vault.open(v.kib, { recordId: "r" }), 2000));
  v.r.many.push(t(() => v.vault.openMany(v.many), 3) / v.many.length);
  v.r.unlock.push(await ta(v.unlock, 20));
  v.r.big.push(t(() => v.vault.open(v.big, { recordId: "r" }), 100));
}
const med = (a) => a.sort((x, y) => x - y)[a.length >> 1];
for (const v of vs) console.log(v.d.split("/").slice(-1)[0].padEnd(14), `10 B ${med(v.r.small).toFixed(1)} us | 1 KiB JSON ${med(v.r.kib).toFixed(1)} us | openMany 1 KiB ${med(v.r.many).toFixed(1)} us | 64 KiB ${(65536 / med(v.r.big)).toFixed(1)} MB/s | unlock ${med(v.r.unlock).toFixed(0)} us`);
