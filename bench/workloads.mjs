// Benchmark workloads, the same code in Node 20 and in Chromium (bundled by
// bench/run.mjs). medseal and the alternatives a web developer would use
// instead run side by side in one process: WebCrypto AES-256-GCM (raw, and the
// same envelope work done by hand), @noble/ciphers AES-256-GCM, age-encryption
// (typage) per record, and WebCrypto / @noble/curves for P-256.
import { gcm } from "@noble/ciphers/aes.js";
import { p256 } from "@noble/curves/nist.js";
import * as age from "age-encryption";

const subtle = globalThis.crypto.subtle;
const rnd = (n) => globalThis.crypto.getRandomValues(new Uint8Array(n));
const now = () => performance.now();

function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { median: q(0.5), p95: q(0.95), n: s.length };
}

/**
 * Measures several implementations of one workload side by side: each entry
 * is `{ fn, reps, ops }` (`fn` does `ops` operations). After a warm-up call
 * that also sets how many calls make one sample (about 5 ms, because browsers
 * coarsen `performance.now()`: Chromium to 100 us without cross-origin
 * isolation), the samples are taken in rounds, one per implementation per
 * round, so that this machine's drift (other tenants, thermal, GC) falls on
 * every implementation alike and the ratios hold even when the times move.
 * A synchronous `fn` is called in a plain loop, an asynchronous one awaited.
 * Returns microseconds per operation for each entry.
 */
async function measureSideBySide(entries) {
  for (const e of entries) {
    const w0 = now();
    const r = e.fn();
    e.async = !!r && typeof r.then === "function";
    if (e.async) await r;
    const once = Math.max(now() - w0, 0.001);
    e.inner = Math.max(1, Math.min(2000, Math.ceil(5 / once)));
    e.samples = [];
  }
  const rounds = Math.max(...entries.map((e) => e.reps));
  for (let i = 0; i < rounds; i++) {
    for (const e of entries) {
      if (i >= e.reps) continue;
      const t0 = now();
      if (e.async) for (let k = 0; k < e.inner; k++) await e.fn();
      else for (let k = 0; k < e.inner; k++) e.fn();
      e.samples.push(((now() - t0) * 1000) / ((e.ops ?? 1) * e.inner));
    }
  }
  return entries.map((e) => stats(e.samples));
}

function payload(size) {
  const b = rnd(Math.min(size, 65536));
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i += b.length) out.set(b.subarray(0, Math.min(b.length, size - i)), i);
  return out;
}

/** A by-hand envelope with WebCrypto: fresh data key, wrapped with AES-GCM under a KEK, body encrypted with AES-GCM. */
async function webcryptoEnvelope(kek) {
  return {
    async seal(pt, aad) {
      const dek = rnd(32);
      const wrapIv = rnd(12);
      const wrapped = new Uint8Array(await subtle.encrypt({ name: "AES-GCM", iv: wrapIv, additionalData: aad }, kek, dek));
      const key = await subtle.importKey("raw", dek, "AES-GCM", false, ["encrypt"]);
      const iv = rnd(12);
      const ct = new Uint8Array(await subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad }, key, pt));
      return { wrapIv, wrapped, iv, ct };
    },
    async open(env, aad) {
      const dek = await subtle.decrypt({ name: "AES-GCM", iv: env.wrapIv, additionalData: aad }, kek, env.wrapped);
      const key = await subtle.importKey("raw", dek, "AES-GCM", false, ["decrypt"]);
      return new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv: env.iv, additionalData: aad }, key, env.ct));
    },
  };
}

/**
 * Runs every workload. `medseal` is the package's module (already init()ed).
 * `scale` shrinks repetitions and batch sizes (1 = the full run; the test
 * suite uses a tiny scale only to check that the harness works).
 */
export async function runAll({ medseal, scale = 1, log = () => {} }) {
  const { Vault, webauthn } = medseal;
  const results = [];
  const add = (workload, impl, st) => {
    results.push({ workload, impl, median_us: st.median, p95_us: st.p95, n: st.n });
    log(`${workload.padEnd(28)} ${impl.padEnd(34)} median ${st.median.toFixed(1).padStart(9)} us   p95 ${st.p95.toFixed(1).padStart(9)} us`);
  };
  const reps = (n) => Math.max(3, Math.round(n * scale));
  // Workloads queue their implementations; flush() measures them side by side.
  const pending = [];
  const queue = (workload, impl, fn, opts) => pending.push({ workload, impl, fn, ...opts });
  const flush = async () => {
    const st = await measureSideBySide(pending);
    pending.forEach((p, i) => add(p.workload, p.impl, st[i]));
    pending.length = 0;
  };

  const prfOutput = rnd(32);
  const credentialId = rnd(16);
  const { vault, manifest } = await Vault.create({ prf: { credentialId, prfSalt: webauthn.newPrfSalt(), prfOutput } });
  const rawKey = await subtle.importKey("raw", rnd(32), "AES-GCM", false, ["encrypt", "decrypt"]);
  const kek = await subtle.importKey("raw", rnd(32), "AES-GCM", false, ["encrypt", "decrypt"]);
  const env = await webcryptoEnvelope(kek);
  const nobleKey = rnd(32);
  const ageIdentity = await age.generateIdentity();
  const ageRecipient = await age.identityToRecipient(ageIdentity);
  const aad = new TextEncoder().encode("rec-1");

  for (const size of [256, 1024, 65536, 1 << 20]) {
    const label = size >= 1 << 20 ? `${size >> 20} MiB` : size >= 1024 ? `${size >> 10} KiB` : `${size} B`;
    const pt = payload(size);
    const r = size >= 1 << 20 ? 0.2 : size >= 65536 ? 0.5 : 1;
    const n = reps(200 * r);

    const sealed = vault.seal(pt, { recordId: "rec-1", form: "bytes" });
    queue(`seal ${label}`, "medseal seal", () => vault.seal(pt, { recordId: "rec-1", form: "bytes" }), { reps: n });
    queue(`open ${label}`, "medseal open", () => vault.open(sealed, { recordId: "rec-1" }), { reps: n });
    if (size <= 65536) {
      // The text form ("ms1." + base64url), what apps that store strings pass.
      const text = vault.seal(pt, { recordId: "rec-1" });
      queue(`open ${label}`, "medseal open (text form)", () => vault.open(text, { recordId: "rec-1" }), { reps: n });
    }

    if (size >= 65536) {
      queue(`seal ${label}`, "medseal sealLarge (WebCrypto body)", () => vault.sealLarge(pt, { recordId: "rec-1", form: "bytes" }), { reps: n });
      queue(`open ${label}`, "medseal openLarge (WebCrypto body)", () => vault.openLarge(sealed, { recordId: "rec-1" }), { reps: n });
    }

    const iv = rnd(12);
    const rawCt = await subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad }, rawKey, pt);
    queue(`seal ${label}`, "WebCrypto raw AES-GCM", () => subtle.encrypt({ name: "AES-GCM", iv: rnd(12), additionalData: aad }, rawKey, pt), { reps: n });
    queue(`open ${label}`, "WebCrypto raw AES-GCM", () => subtle.decrypt({ name: "AES-GCM", iv, additionalData: aad }, rawKey, rawCt), { reps: n });

    const e = await env.seal(pt, aad);
    queue(`seal ${label}`, "WebCrypto envelope by hand", () => env.seal(pt, aad), { reps: n });
    queue(`open ${label}`, "WebCrypto envelope by hand", () => env.open(e, aad), { reps: n });

    const nonce = rnd(12);
    const nCt = gcm(nobleKey, nonce, aad).encrypt(pt);
    queue(`seal ${label}`, "@noble/ciphers AES-GCM", () => gcm(nobleKey, rnd(12), aad).encrypt(pt), { reps: reps(n * (size >= 65536 ? 0.3 : 1)) });
    queue(`open ${label}`, "@noble/ciphers AES-GCM", () => gcm(nobleKey, nonce, aad).decrypt(nCt), { reps: reps(n * (size >= 65536 ? 0.3 : 1)) });

    if (size <= 1024) {
      const enc = new age.Encrypter();
      enc.addRecipient(ageRecipient);
      const dec = new age.Decrypter();
      dec.addIdentity(ageIdentity);
      const aged = await enc.encrypt(pt);
      queue(`seal ${label}`, "age-encryption (X25519)", () => enc.encrypt(pt), { reps: reps(30) });
      queue(`open ${label}`, "age-encryption (X25519)", () => dec.decrypt(aged), { reps: reps(30) });
    }
    await flush();
  }

  // A batch of 1 KiB records.
  const count = Math.max(20, Math.round(10000 * scale));
  const batchLabel = `batch ${count} x 1 KiB open`;
  const one = payload(1024);
  const items = Array.from({ length: count }, (_, i) => ({ record: one, recordId: `r${i}` }));
  const sealedMany = vault.sealMany(items, { form: "bytes" });
  const openItems = sealedMany.map((s, i) => ({ sealed: s, recordId: `r${i}` }));
  const br = reps(5);
  queue(batchLabel, "medseal openMany", () => vault.openMany(openItems), { reps: br, ops: count });
  queue(batchLabel, "medseal open, loop", () => { for (const it of openItems) vault.open(it.sealed, it); }, { reps: br, ops: count });
  const rawBatch = await Promise.all(Array.from({ length: count }, async () => { const iv = rnd(12); return { iv, ct: await subtle.encrypt({ name: "AES-GCM", iv }, rawKey, one) }; }));
  queue(batchLabel, "WebCrypto raw, awaited one by one", async () => { for (const b of rawBatch) await subtle.decrypt({ name: "AES-GCM", iv: b.iv }, rawKey, b.ct); }, { reps: br, ops: count });
  queue(batchLabel, "WebCrypto raw, Promise.all", () => Promise.all(rawBatch.map((b) => subtle.decrypt({ name: "AES-GCM", iv: b.iv }, rawKey, b.ct))), { reps: br, ops: count });
  const envBatch = await Promise.all(Array.from({ length: count }, () => env.seal(one, aad)));
  queue(batchLabel, "WebCrypto envelope by hand, Promise.all", () => Promise.all(envBatch.map((x) => env.open(x, aad))), { reps: br, ops: count });
  const nobleBatch = rawBatch.map(() => { const n = rnd(12); return { n, ct: gcm(nobleKey, n).encrypt(one) }; });
  queue(batchLabel, "@noble/ciphers AES-GCM, loop", () => { for (const b of nobleBatch) gcm(nobleKey, b.n).decrypt(b.ct); }, { reps: reps(3), ops: count });
  const sealLabel = `batch ${count} x 1 KiB seal`;
  queue(sealLabel, "medseal sealMany", () => vault.sealMany(items, { form: "bytes" }), { reps: br, ops: count });
  queue(sealLabel, "WebCrypto envelope by hand, Promise.all", () => Promise.all(items.map(() => env.seal(one, aad))), { reps: br, ops: count });
  await flush();

  // Unlock and P-256.
  // No seen-state store: the manifest change below moves the vault on, and this unlocks the first manifest again each time.
  // It is the first unlock on a device: the manifest's signatures verified, the vault key opened with HPKE (P-256).
  queue("unlock from PRF", "medseal unlock ({ prf }), first on this device", async () => (await Vault.unlock(manifest, { prf: { credentialId, prfOutput } }, { store: null })).vault.lock(), { reps: reps(50) });
  // A device that unlocked this vault before (its seen state in a store): the manifest's tag and the
  // device's copy of the vault key stand for the signatures and HPKE (docs/SECURITY.md §4).
  const again = { credentialId: rnd(16), prfOutput: rnd(32) };
  const { manifest: manifest2 } = await Vault.create({ prf: { ...again, prfSalt: webauthn.newPrfSalt() } }, { store: null });
  const device = medseal.seenStores.memory();
  await (await Vault.unlock(manifest2, { prf: again }, { store: device })).vault.lock();
  queue("unlock from PRF", "medseal unlock ({ prf }), device that unlocked before", async () => (await Vault.unlock(manifest2, { prf: again }, { store: device })).vault.lock(), { reps: reps(50) });
  queue("manifest change (P-256 sign)", "medseal rotateRecoveryCode", () => vault.rotateRecoveryCode(), { reps: reps(50) });
  const ecKeys = await subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
  const msg = rnd(300);
  const sig = await subtle.sign({ name: "ECDSA", hash: "SHA-256" }, ecKeys.privateKey, msg);
  queue("P-256 sign", "WebCrypto ECDSA", () => subtle.sign({ name: "ECDSA", hash: "SHA-256" }, ecKeys.privateKey, msg), { reps: reps(50) });
  queue("P-256 verify", "WebCrypto ECDSA", () => subtle.verify({ name: "ECDSA", hash: "SHA-256" }, ecKeys.publicKey, sig, msg), { reps: reps(50) });
  const nSk = p256.utils.randomSecretKey();
  const nPk = p256.getPublicKey(nSk);
  const nSig = p256.sign(msg, nSk);
  queue("P-256 sign", "@noble/curves", () => p256.sign(msg, nSk), { reps: reps(30) });
  queue("P-256 verify", "@noble/curves", () => p256.verify(nSig, msg, nPk), { reps: reps(30) });
  const other = p256.utils.randomSecretKey();
  queue("P-256 ECDH", "@noble/curves", () => p256.getSharedSecret(nSk, p256.getPublicKey(other)), { reps: reps(30) });
  const dh1 = await subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
  const dh2 = await subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
  queue("P-256 ECDH", "WebCrypto ECDH", () => subtle.deriveBits({ name: "ECDH", public: dh2.publicKey }, dh1.privateKey, 256), { reps: reps(50) });

  await flush();
  vault.lock();
  return results;
}

/** The bytes of a v2 record that `rewrap` replaces: magic, version, suite, epoch, record version, wrapped DEK (FORMAT.md §14.7). */
export const REWRAP_HEADER_BYTES = 78;

/**
 * Issue #13: re-key of a vault with 3 passkeys and 10,000 records of 1 KiB.
 * `rekey()` seals a new vault key to each unlock entry (3 passkeys and the
 * recovery entry) and signs a new manifest; then every record is re-wrapped
 * (`rewrap`, bytes form: new epoch and wrapped data key, body untouched).
 * The alternative for an app without `rewrap`: open and seal every record
 * again. Reports times (`results`, as `runAll`'s) and the bytes each way
 * writes (`bytes`). `scale` shrinks the record count and the repetitions.
 */
export async function runRekey({ medseal, scale = 1, log = () => {} }) {
  const { Vault, webauthn } = medseal;
  const passkeys = 3;
  const count = Math.max(20, Math.round(10000 * scale));
  const reps = (n) => Math.max(3, Math.round(n * scale));
  const results = [];
  const add = (workload, impl, st) => {
    results.push({ workload, impl, median_us: st.median, p95_us: st.p95, n: st.n });
    log(`${workload.padEnd(28)} ${impl.padEnd(34)} median ${st.median.toFixed(1).padStart(9)} us   p95 ${st.p95.toFixed(1).padStart(9)} us`);
  };
  const utf8Length = (s) => new TextEncoder().encode(s).length;
  const newVault = async () => {
    const key = () => ({ credentialId: rnd(16), prfSalt: webauthn.newPrfSalt(), prfOutput: rnd(32) });
    const { vault } = await Vault.create({ prf: key() });
    for (let i = 1; i < passkeys; i++) await vault.addPasskey({ prf: key() });
    return vault;
  };

  const vault = await newVault();
  const one = payload(1024);
  const ids = Array.from({ length: count }, (_, i) => `r${i}`);
  const old = vault.sealMany(ids.map((recordId) => ({ record: one, recordId })), { form: "bytes" });
  const manifestBefore = utf8Length(JSON.stringify(vault.manifest()));

  // rekey(): once on this vault, then on fresh vaults of the same shape (3
  // passkeys, epoch 1 -> 2; a re-key does not read the records, and each
  // re-key adds an epoch to the manifest, so the samples stay alike).
  const rekeyUs = [];
  let t0 = now();
  const manifest = vault.rekey();
  rekeyUs.push((now() - t0) * 1000);
  for (let i = 1; i < reps(20); i++) {
    const v = await newVault();
    t0 = now();
    v.rekey();
    rekeyUs.push((now() - t0) * 1000);
    v.lock();
  }
  add(`re-key: rekey(), ${passkeys} passkeys`, "medseal rekey()", stats(rekeyUs));

  // One re-wrap of every record for the bytes: the whole new record, and the
  // span that changed (rewrap leaves everything after the header as it was).
  const rewrapAll = () => ids.map((recordId, i) => vault.rewrap(old[i], { recordId, form: "bytes" }));
  const resealAll = () => ids.map((recordId, i) => vault.seal(vault.open(old[i], { recordId }), { recordId, form: "bytes" }));
  const rewrapped = rewrapAll();
  const resealed = resealAll();
  let changedSpan = 0;
  rewrapped.forEach((r, i) => {
    if (!r || r.length !== old[i].length) throw new Error(`rewrap of ${ids[i]}: ${r ? `length ${r.length}, was ${old[i].length}` : "null"}`);
    for (let k = r.length - 1; k >= changedSpan; k--) if (r[k] !== old[i][k]) { changedSpan = k + 1; break; }
  });
  const sum = (xs) => xs.reduce((n, x) => n + x.length, 0);
  const manifestAfter = utf8Length(JSON.stringify(manifest));
  const bytes = {
    passkeys,
    unlockEntries: manifest.unlock.length,
    records: count,
    recordBytes: old[0].length,
    manifestBefore,
    manifestAfter,
    changedSpan,
    rewrapWhole: manifestAfter + sum(rewrapped),
    rewrapHeaders: manifestAfter + count * REWRAP_HEADER_BYTES,
    reseal: manifestAfter + sum(resealed),
  };
  log(`re-key bytes: manifest ${manifestBefore} -> ${manifestAfter} B; records ${count} x ${bytes.recordBytes} B; changed span ${changedSpan} B; written: whole records ${bytes.rewrapWhole} B, headers only ${bytes.rewrapHeaders} B, re-seal ${bytes.reseal} B`);

  // Re-wrap against re-seal, side by side, per record.
  const st = await measureSideBySide([
    { fn: rewrapAll, reps: reps(5), ops: count },
    { fn: resealAll, reps: reps(5), ops: count },
  ]);
  add(`re-key: ${count} x 1 KiB records`, "medseal rewrap, loop", st[0]);
  add(`re-key: ${count} x 1 KiB records`, "re-seal: medseal open + seal, loop", st[1]);
  vault.lock();
  return { results, bytes };
}

/** medseal time / alternative time for every workload medseal ran in. */
export function ratios(results) {
  const out = [];
  const byWorkload = new Map();
  for (const r of results) byWorkload.set(r.workload, [...(byWorkload.get(r.workload) ?? []), r]);
  for (const [workload, rs] of byWorkload) {
    const mine = rs.filter((r) => r.impl.startsWith("medseal"));
    for (const m of mine) {
      for (const alt of rs.filter((r) => !r.impl.startsWith("medseal"))) {
        out.push({ workload, medseal: m.impl, alternative: alt.impl, ratio: m.median_us / alt.median_us });
      }
    }
  }
  return out;
}

/**
 * Issue #15: the vault log. Appending entries to an RFC 6962 tree (the
 * server's stored hashes), signing entries (what a device does per
 * action), and proving and verifying consistency between a log of `old`
 * and one of `big` entries (1,000 and 1,000,000 at scale 1): medseal's wasm
 * (`LogTree`, `verifyLogConsistency`: the core's merkle module, exported
 * for these benchmarks) against the same done by hand in JavaScript with
 * @noble/hashes, and entry signing against WebCrypto ECDSA. `wasm` is
 * medseal's wasm glue module (already initialised by `medseal.init()`).
 */
export async function runLog({ medseal, wasm, scale = 1, log = () => {} }) {
  const { JsTree, leafHash, verifyConsistency } = await import("./log-js.mjs");
  const { Vault, webauthn } = medseal;
  const n = Math.max(100, Math.round(10000 * scale));
  const big = Math.max(4000, Math.round(1_000_000 * scale));
  const old = Math.min(1000, big / 4);
  const reps = (k) => Math.max(3, Math.round(k * Math.max(scale, 0.05)));
  const results = [];
  const add = (workload, impl, st) => {
    results.push({ workload, impl, median_us: st.median, p95_us: st.p95, n: st.n });
    log(`${workload.padEnd(28)} ${impl.padEnd(34)} median ${st.median.toFixed(1).padStart(9)} us   p95 ${st.p95.toFixed(1).padStart(9)} us`);
  };
  const eq = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

  // Entries as a device writes them (an unlock: ~300 bytes with the signature).
  const { vault } = await Vault.create({ prf: { credentialId: rnd(16), prfSalt: webauthn.newPrfSalt(), prfOutput: rnd(32) } });
  const event = { type: "unlock", via: "passkey-entry-1", method: "passkey", device: "Chrome on Linux" };
  const b64 = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  const leaves = Array.from({ length: n }, (_, i) => b64(vault.logEntry(event, { position: i, time: 1_800_000_000 + i })));

  // Append n entries to a fresh tree, per entry.
  const st = await measureSideBySide([
    { fn: () => { const t = new wasm.LogTree(); for (const l of leaves) t.push(l); t.free(); }, reps: reps(9), ops: n },
    { fn: () => { const t = new JsTree(); for (const l of leaves) t.push(l); }, reps: reps(9), ops: n },
  ]);
  add(`log: append ${n} entries`, "medseal LogTree.push (wasm)", st[0]);
  add(`log: append ${n} entries`, "JS + @noble/hashes by hand", st[1]);

  // Signing an entry: medseal's logEntry (P-256 in wasm, the JSON written and checked) against WebCrypto ECDSA of the same bytes.
  const keys = await subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  const m = Math.max(20, Math.round(n / 20));
  const one = leaves[0];
  const sg = await measureSideBySide([
    { fn: () => { for (let i = 0; i < m; i++) vault.logEntry(event, { position: i, time: 1_800_000_000 }); }, reps: reps(9), ops: m },
    { fn: async () => { for (let i = 0; i < m; i++) await subtle.sign({ name: "ECDSA", hash: "SHA-256" }, keys.privateKey, one); }, reps: reps(9), ops: m },
  ]);
  add("log: sign one entry", "medseal vault.logEntry", sg[0]);
  add("log: sign one entry", "WebCrypto ECDSA P-256 sign", sg[1]);
  vault.lock();

  // A big tree, built once in each (leaf hashes of distinct leaves).
  const hashes = new Uint8Array(32 * big);
  for (let i = 0; i < big; i++) hashes.set(leafHash(leaves[i % n].subarray(0, leaves[i % n].length - 1 - (i % 7))), 32 * i);
  let t0 = now();
  const wt = new wasm.LogTree();
  for (let i = 0; i < big; i += 65536) wt.pushLeafHashes(hashes.subarray(32 * i, 32 * Math.min(big, i + 65536)));
  const wasmBuildUs = ((now() - t0) * 1000) / big;
  t0 = now();
  const jt = new JsTree();
  for (let i = 0; i < big; i++) jt.pushHash(hashes.subarray(32 * i, 32 * i + 32));
  const jsBuildUs = ((now() - t0) * 1000) / big;
  add(`log: build a ${big.toLocaleString("en-US")}-entry tree (per entry)`, "medseal LogTree (wasm)", { median: wasmBuildUs, p95: wasmBuildUs, n: 1 });
  add(`log: build a ${big.toLocaleString("en-US")}-entry tree (per entry)`, "JS + @noble/hashes by hand", { median: jsBuildUs, p95: jsBuildUs, n: 1 });
  const [oldRoot, bigRoot] = [wt.root(old), wt.root(big)];
  if (!eq(oldRoot, jt.root(old)) || !eq(bigRoot, jt.root(big))) throw new Error("the JS tree and medseal's disagree");
  const proof = wt.proveConsistency(old, big);
  const jsProof = jt.proveConsistency(old, big);
  if (!eq(proof, Uint8Array.from(jsProof.flatMap((h) => [...h])))) throw new Error("the JS proof and medseal's disagree");
  if (!verifyConsistency(old, big, oldRoot, bigRoot, jsProof)) throw new Error("the JS verifier refused the proof");
  wasm.verifyLogConsistency(old, big, oldRoot, bigRoot, proof);

  const label = `log: consistency ${old.toLocaleString("en-US")} -> ${big.toLocaleString("en-US")}`;
  const pr = await measureSideBySide([
    { fn: () => wt.proveConsistency(old, big), reps: reps(30) },
    { fn: () => jt.proveConsistency(old, big), reps: reps(30) },
  ]);
  add(`${label}: prove`, "medseal LogTree (wasm)", pr[0]);
  add(`${label}: prove`, "JS + @noble/hashes by hand", pr[1]);
  const vf = await measureSideBySide([
    { fn: () => wasm.verifyLogConsistency(old, big, oldRoot, bigRoot, proof), reps: reps(30) },
    { fn: () => verifyConsistency(old, big, oldRoot, bigRoot, jsProof), reps: reps(30) },
  ]);
  add(`${label}: verify`, "medseal verifyLogConsistency (wasm)", vf[0]);
  add(`${label}: verify`, "JS + @noble/hashes by hand", vf[1]);
  const inclusion = wt.proveInclusion(big - 1, big);
  wt.free();
  const bytes = { entries: n, entryBytes: leaves[0].length, old, big, proofHashes: proof.length / 32, proofBytes: proof.length, inclusionBytes: inclusion.length };
  log(`log bytes: entry ${bytes.entryBytes} B; consistency proof ${old} -> ${big}: ${bytes.proofHashes} hashes, ${bytes.proofBytes} B; inclusion proof at ${big}: ${bytes.inclusionBytes} B`);
  return { results, bytes };
}
