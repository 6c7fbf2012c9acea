// Large files as streams (FORMAT.md §17) through the package in Node 20:
// web streams in and out, Blobs, ranges, progress, abort, lock; every size
// class; the sealed bytes cut, extended, reordered or moved refused with a
// typed error, with nothing of the bad chunk released; WebCrypto and the
// wasm path agree byte for byte on what they accept.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { init, Vault, ErrorCode, MedsealError, webauthn, ciphertextSize, plaintextSize, streamInfo } from "../../pkg/dist/node.js";
import { code, acode } from "./codes.mjs";

await init();

const C = 16384;
const S = C + 16;
const H = 134;

async function newVault() {
  const prfOutput = crypto.getRandomValues(new Uint8Array(32));
  const { vault } = await Vault.create({ prf: { credentialId: new Uint8Array([1]), prfSalt: webauthn.newPrfSalt(), prfOutput } });
  return vault;
}

const data = (n, seed = 1) => new Uint8Array(n).map((_, i) => (i * 31 + seed * 7 + (i >> 14)) & 255);

/** A ReadableStream of `bytes` in pieces of `piece` bytes (odd sizes cross chunk boundaries). */
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

/** Reads until the stream fails; returns what came out before and the error. */
async function readUntilError(stream) {
  const out = [];
  try {
    for await (const p of stream) out.push(p);
    return { out: new Uint8Array(Buffer.concat(out)), error: null };
  } catch (e) {
    return { out: new Uint8Array(Buffer.concat(out)), error: e };
  }
}

const seal = async (v, bytes, opts = { recordId: "scan-1" }) => readAll(source(bytes).pipeThrough(v.sealStream(opts)));
const open = (v, sealed, opts = { recordId: "scan-1" }, piece) => readUntilError(source(sealed, piece).pipeThrough(v.openStream(opts)));

test("every size class round-trips through sealStream/openStream with the exact size", async () => {
  const v = await newVault();
  for (const n of [0, 1, C - 1, C, C + 1, 3 * C, 5 * C + 123, 40 * C + 9]) {
    const d = data(n);
    const s = await seal(v, d);
    assert.equal(s.length, ciphertextSize(n), `n = ${n}`);
    assert.equal(plaintextSize(s.length), n);
    // Pieces of every kind of size, including 1 byte and a whole chunk.
    for (const piece of [1 + (n % 7) * 1000, S, 65536]) {
      if (piece === 1 && n > C) continue;
      const { out, error } = await open(v, s, undefined, piece);
      assert.equal(error, null, `n = ${n}, pieces of ${piece}: ${error}`);
      assert.deepEqual(out, d);
    }
  }
});

test("truncated, extended, reordered, duplicated or foreign chunks: typed errors, nothing of the bad chunk released", async () => {
  const v = await newVault();
  const n = 4 * C + 999;
  const d = data(n);
  const s = await seal(v, d);
  const chunk = (k) => s.subarray(H + k * S, Math.min(s.length, H + (k + 1) * S));
  const rebuild = (order) => new Uint8Array(Buffer.concat([s.subarray(0, H), ...order.map(chunk)]));
  const cases = [
    ["cut after the header", s.subarray(0, H), ErrorCode.Truncated, 0],
    ["cut at a chunk boundary", s.subarray(0, H + 2 * S), ErrorCode.Truncated, 2],
    ["cut inside a chunk", s.subarray(0, H + 2 * S + 500), ErrorCode.DecryptionFailed, 2],
    ["cut inside a tag", s.subarray(0, H + 2 * S + 5), ErrorCode.Malformed, 2],
    ["one byte short", s.subarray(0, s.length - 1), ErrorCode.DecryptionFailed, 4],
    ["bytes appended", new Uint8Array([...s, 1, 2, 3]), ErrorCode.DecryptionFailed, 4],
    ["a whole chunk appended", new Uint8Array(Buffer.concat([s, chunk(1)])), ErrorCode.DecryptionFailed, 4],
    ["chunks 1 and 2 swapped", rebuild([0, 2, 1, 3, 4]), ErrorCode.DecryptionFailed, 1],
    ["chunk 1 duplicated", rebuild([0, 1, 1, 2, 3, 4]), ErrorCode.DecryptionFailed, 2],
    ["chunk 2 dropped", rebuild([0, 1, 3, 4]), ErrorCode.DecryptionFailed, 2],
    ["the last chunk dropped", rebuild([0, 1, 2, 3]), ErrorCode.Truncated, 4],
  ];
  for (const [what, bytes, expected, goodChunks] of cases) {
    const { out, error } = await open(v, bytes);
    assert.ok(error instanceof MedsealError, `${what}: ${error}`);
    assert.equal(error.code, expected, what);
    // Only whole good chunks (a stream that errors may drop what its reader had not taken yet).
    assert.ok(out.length <= goodChunks * C && out.length % C === 0, `${what}: ${out.length} bytes released`);
    assert.deepEqual(out, d.subarray(0, out.length), `${what}: nothing but the good chunks before the bad one`);
  }
  // Another record id or context, another vault, a flipped header byte.
  for (const opts of [{ recordId: "scan-2" }, { recordId: "scan-1", context: "x" }]) {
    assert.equal((await open(v, s, opts)).error?.code, ErrorCode.DecryptionFailed);
  }
  assert.equal((await open(await newVault(), s)).error?.code, ErrorCode.DecryptionFailed);
  const flipped = s.slice();
  flipped[110] ^= 1;
  assert.equal((await open(v, flipped)).error?.code, ErrorCode.DecryptionFailed);
  const junk = new Uint8Array(500);
  assert.equal((await open(v, junk)).error?.code, ErrorCode.Malformed);
  assert.equal((await open(v, s.subarray(0, 20))).error?.code, ErrorCode.Malformed, "a header cut short");
});

test("the wasm path (no WebCrypto) and the WebCrypto path read each other's streams", async () => {
  const v = await newVault();
  const d = data(3 * C + 77);
  const viaWebCrypto = await seal(v, d);
  const subtle = Object.getOwnPropertyDescriptor(globalThis, "crypto");
  const noSubtle = { getRandomValues: (a) => subtle.get.call(globalThis).getRandomValues(a) };
  Object.defineProperty(globalThis, "crypto", { value: noSubtle, configurable: true });
  let viaWasm, opened, tamperedError;
  try {
    viaWasm = await seal(v, d);
    opened = await open(v, viaWebCrypto);
    const t = viaWebCrypto.slice();
    t[H + S + 3] ^= 1;
    tamperedError = (await open(v, t)).error;
  } finally {
    Object.defineProperty(globalThis, "crypto", subtle);
  }
  assert.equal(opened.error, null);
  assert.deepEqual(opened.out, d);
  assert.equal(tamperedError?.code, ErrorCode.DecryptionFailed);
  assert.deepEqual((await open(v, viaWasm)).out, d);
  assert.equal(viaWasm.length, viaWebCrypto.length);
});

test("sealFile/openFile with Blobs, progress to the exact total, and Node streams", async () => {
  const v = await newVault();
  const d = data(2 * C + 5000);
  const seen = [];
  const sealed = await v.sealFile(new Blob([d]), { recordId: "pdf-1", context: "attachments", onProgress: (done, total) => seen.push([done, total]) });
  assert.equal(sealed.size, ciphertextSize(d.length));
  assert.deepEqual(seen.at(-1), [d.length, d.length]);
  assert.ok(seen.every(([a], i) => i === 0 || a >= seen[i - 1][0]), "progress only grows");
  const back = await v.openFile(sealed, { recordId: "pdf-1", context: "attachments", type: "application/pdf" });
  assert.equal(back.type, "application/pdf");
  assert.deepEqual(new Uint8Array(await back.arrayBuffer()), d);
  // A Node Readable, as a web stream.
  const web = Readable.toWeb(Readable.from([Buffer.from(d.subarray(0, 100)), Buffer.from(d.subarray(100))]));
  const s2 = await readAll(web.pipeThrough(v.sealStream({ recordId: "pdf-2" })));
  assert.deepEqual((await open(v, s2, { recordId: "pdf-2" })).out, d);
});

test("openRange reads any range, verifies the last chunk first, and refuses a cut or substituted file", async () => {
  const v = await newVault();
  const n = 6 * C + 321;
  const d = data(n);
  const s = await seal(v, d, { recordId: "ct-1" });
  let reads = [];
  const src = { size: s.length, read: async (a, b) => { reads.push([a, b]); return s.slice(a, b); } };
  const r = await v.openRange(src, { recordId: "ct-1" });
  assert.equal(r.size, n);
  assert.equal(r.version, 1);
  assert.deepEqual(reads[1], [H + 6 * S, s.length], "the last chunk is read (and verified) when the reader is made");
  for (const [a, len] of [[0, 10], [C - 5, 10], [3 * C, C], [n - 7, 7], [0, n], [12345, 0], [5 * C + 1, C + 320]]) {
    reads = [];
    assert.deepEqual(await r.readRange(a, len), d.subarray(a, a + len), `[${a}, +${len})`);
    const fetched = reads.reduce((t, [x, y]) => t + y - x, 0);
    assert.ok(fetched <= (Math.ceil(len / C) + 1) * S, `[${a}, +${len}) read only the chunks it needs (${fetched} bytes)`);
  }
  assert.equal(await acode(() => r.readRange(n - 1, 2)), ErrorCode.InvalidArgument);
  assert.deepEqual(await readAll(r.stream()), d);
  // A Blob source.
  const rb = await v.openRange(new Blob([s]), { recordId: "ct-1" });
  assert.deepEqual(await rb.readRange(100, 50), d.subarray(100, 150));
  // The server cut the file at a chunk boundary and reports the shorter size: refused.
  const cut = s.slice(0, H + 3 * S);
  assert.equal(await acode(() => v.openRange({ size: cut.length, read: async (a, b) => cut.slice(a, b) }, { recordId: "ct-1" })), ErrorCode.Truncated);
  // Cut at a boundary and then a valid-looking tail: the "last" chunk is a full one and fails.
  const forged = new Uint8Array([...s.slice(0, H + 3 * S), ...s.slice(H + 3 * S, H + 3 * S + 500)]);
  assert.equal(await acode(() => v.openRange({ size: forged.length, read: async (a, b) => forged.slice(a, b) }, { recordId: "ct-1" })), ErrorCode.DecryptionFailed);
  // A source that answers with other bytes for a chunk (another file's chunk) fails on that read.
  const other = await seal(v, data(n, 2), { recordId: "ct-1" });
  const mixed = { size: s.length, read: async (a, b) => (a >= H + S && a < H + 2 * S ? other : s).slice(a, b) };
  const rm = await v.openRange(mixed, { recordId: "ct-1" });
  assert.deepEqual(await rm.readRange(0, 100), d.subarray(0, 100));
  assert.equal(await acode(() => rm.readRange(C + 10, 10)), ErrorCode.DecryptionFailed);
  r.close();
  assert.equal(await acode(() => r.readRange(0, 1)), ErrorCode.InvalidArgument);
});

test("abort, lock and bad arguments", async () => {
  const v = await newVault();
  const d = data(20 * C);
  const ac = new AbortController();
  const t = v.sealStream({ recordId: "x", signal: ac.signal });
  const reader = source(d, C).pipeThrough(t).getReader();
  await reader.read();
  ac.abort(new Error("user cancelled"));
  let err;
  try {
    for (;;) if ((await reader.read()).done) break;
  } catch (e) {
    err = e;
  }
  assert.equal(err?.code, ErrorCode.Cancelled);
  assert.equal(code(() => v.sealStream({ recordId: "x", signal: ac.signal })), ErrorCode.Cancelled, "an aborted signal before the start");
  assert.equal(await acode(() => v.sealFile(new Blob([d]), { recordId: "x", signal: ac.signal })), ErrorCode.Cancelled);
  // Bad arguments.
  assert.equal(code(() => v.sealStream({ recordId: "" })), ErrorCode.InvalidArgument);
  assert.equal(code(() => v.sealStream({ recordId: "x", version: 0 })), ErrorCode.InvalidArgument);
  assert.equal(code(() => v.sealStream({ recordId: "x", onProgress: 5 })), ErrorCode.InvalidArgument);
  assert.equal(await acode(() => v.sealFile("not a blob", { recordId: "x" })), ErrorCode.InvalidArgument);
  assert.equal(await acode(() => v.openRange({ size: -1 }, { recordId: "x" })), ErrorCode.InvalidArgument);
  const wrongChunk = await readUntilError(new ReadableStream({ start(c) { c.enqueue("text"); c.close(); } }).pipeThrough(v.sealStream({ recordId: "x" })));
  assert.equal(wrongChunk.error?.code, ErrorCode.InvalidArgument);
  assert.equal(code(() => ciphertextSize(-1)), ErrorCode.InvalidArgument);
  assert.equal(code(() => plaintextSize(H)), ErrorCode.Truncated);
  assert.equal(code(() => plaintextSize(H + 5)), ErrorCode.Malformed);
  // Lock: a running stream stops with Locked; new ones cannot start.
  const s = await seal(v, d);
  const running = source(s, S).pipeThrough(v.openStream({ recordId: "scan-1" })).getReader();
  await running.read();
  v.lock();
  let lockErr;
  try {
    for (;;) if ((await running.read()).done) break;
  } catch (e) {
    lockErr = e;
  }
  assert.equal(lockErr?.code, ErrorCode.Locked);
  assert.equal(code(() => v.sealStream({ recordId: "x" })), ErrorCode.Locked);
});

test("versions: a stream's version is checked against what this device saw; a re-wrap keeps the chunks", async () => {
  const prfOutput = crypto.getRandomValues(new Uint8Array(32));
  const { vault: v, manifest } = await Vault.create({ prf: { credentialId: new Uint8Array([1]), prfSalt: webauthn.newPrfSalt(), prfOutput } });
  const d1 = data(C + 1, 1);
  const d2 = data(C + 2, 2);
  const s1 = await seal(v, d1, { recordId: "img-1" });
  const s2 = await seal(v, d2, { recordId: "img-1", version: 2 });
  assert.deepEqual((await open(v, s2, { recordId: "img-1" })).out, d2);
  const old = await open(v, s1, { recordId: "img-1" });
  assert.equal(old.error?.code, ErrorCode.StaleRecord, "version 1 after version 2 was seen: a rollback");
  assert.equal(await acode(() => v.openRange(new Blob([s1]), { recordId: "img-1" })), ErrorCode.StaleRecord);
  // Re-key, re-wrap the header, keep the chunks.
  assert.equal(v.rewrapStream(s2.subarray(0, H), { recordId: "img-1" }), null);
  const m2 = v.rekey();
  assert.ok(m2);
  const head = v.rewrapStream(s2.subarray(0, H), { recordId: "img-1" });
  assert.equal(head.length, 78);
  const s2b = new Uint8Array([...head, ...s2.subarray(78)]);
  assert.deepEqual(streamInfo(s2.subarray(0, H)), { epoch: 1, version: 2 });
  assert.deepEqual(streamInfo(s2b.subarray(0, H)), { epoch: 2, version: 2 });
  assert.equal(code(() => streamInfo(new Uint8Array(10))), ErrorCode.Malformed);
  assert.deepEqual((await open(v, s2b, { recordId: "img-1" })).out, d2);
  v.retireEpochs();
  assert.equal((await open(v, s2, { recordId: "img-1" })).error?.code, ErrorCode.DecryptionFailed, "the epoch-1 header no longer opens");
  void manifest;
});

test("a file shared under a grant: the grantee streams it and reads ranges; outside the grant it is NotGranted", async () => {
  const owner = await newVault();
  const clinician = await newVault();
  const d = data(3 * C + 500);
  const s = await seal(owner, d, { recordId: "scan-9", context: "attachments" });
  const { grant, manifest } = owner.grant({ grantee: clinician.manifest(), records: ["scan-9"], expires: Date.now() + 3_600_000 });
  const slot = owner.grantSlot(grant, s.subarray(0, H), { recordId: "scan-9", context: "attachments" });
  const shared = { grant, grantor: manifest, slot, recordId: "scan-9", context: "attachments" };
  const out = await readUntilError(source(s).pipeThrough(clinician.openSharedStream(shared)));
  assert.equal(out.error, null);
  assert.deepEqual(out.out, d);
  const r = await clinician.openSharedRange(new Blob([s]), shared);
  assert.deepEqual(await r.readRange(2 * C + 7, 100), d.subarray(2 * C + 7, 2 * C + 107));
  // Another record id than the grant names, another vault, a tampered file.
  assert.equal(await acode(() => clinician.openSharedRange(new Blob([s]), { ...shared, recordId: "scan-8" })), ErrorCode.NotGranted);
  const stranger = await newVault();
  assert.equal((await readUntilError(source(s).pipeThrough(stranger.openSharedStream(shared)))).error?.code, ErrorCode.NotGranted);
  const t = s.slice();
  t[H + 5] ^= 1;
  assert.equal((await readUntilError(source(t).pipeThrough(clinician.openSharedStream(shared)))).error?.code, ErrorCode.DecryptionFailed);
});
