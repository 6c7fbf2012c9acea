/* global ms, pageImport -- set in the page by the tests and tests/firefox/fixtures/boot.js */
// Large files (FORMAT.md §17) in headless Firefox ESR: web streams through
// sealStream/openStream with Firefox's WebCrypto, Blobs, the ranged reader,
// and the typed errors for a cut, extended or reordered file. Chromium runs
// the same paths through the demo (tests/browser/files.test.mjs) and Node
// through tests/js/streams.test.mjs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { serveTests, withFirefox } from "./helpers.mjs";

const env = withFirefox(serveTests);

test("streams in Firefox: round trips, a ranged reader, and Truncated / DecryptionFailed for a cut or reordered file", async () => {
  const { ff, origin } = env;
  await ff.goto(`${origin}/ff/page.html`);
  const r = await ff.eval(async () => {
    const m = await pageImport("/pkg/dist/index.js");
    await m.init();
    window.ms = m;
    const prf = crypto.getRandomValues(new Uint8Array(32));
    const { vault } = await ms.Vault.create({ prf: { credentialId: new Uint8Array([1]), prfSalt: ms.webauthn.newPrfSalt(), prfOutput: prf } });
    const C = 16384;
    const S = C + 16;
    const n = 5 * C + 1234;
    const data = new Uint8Array(n).map((_, i) => (i * 13 + (i >> 14)) & 255);
    const binding = { recordId: "scan-1", context: "attachments" };
    const progress = [];
    const sealed = new Uint8Array(await (await vault.sealFile(new Blob([data]), { ...binding, onProgress: (d) => progress.push(d) })).arrayBuffer());
    // A reader loop, not `new Response(stream).arrayBuffer()`: Firefox rejects that with its own
    // AbortError (DOMException code 20) instead of the stream's error, losing medseal's code.
    const readAll = async (stream) => {
      const parts = [];
      const rd = stream.getReader();
      for (let x = await rd.read(); !x.done; x = await rd.read()) parts.push(x.value);
      return new Uint8Array(await new Blob(parts).arrayBuffer());
    };
    const piecewise = (bytes, piece) => new ReadableStream({ start(c) { for (let i = 0; i < bytes.length; i += piece) c.enqueue(bytes.slice(i, i + piece)); c.close(); } });
    const open = (bytes) => readAll(piecewise(bytes, 7001).pipeThrough(vault.openStream(binding))).then((b) => `opened ${b.length} bytes`, (e) => e.code ?? `${e.name}: ${e.message}`);
    const opened = await open(sealed);
    const plain = await readAll(piecewise(sealed, 7001).pipeThrough(vault.openStream(binding)));
    const same = opened === `opened ${n} bytes` && plain.every((b, i) => b === data[i]);
    const cut = await open(sealed.slice(0, 134 + 2 * S));
    const reordered = new Uint8Array([...sealed.slice(0, 134), ...sealed.slice(134 + S, 134 + 2 * S), ...sealed.slice(134, 134 + S), ...sealed.slice(134 + 2 * S)]);
    const swapped = await open(reordered);
    const extended = await open(new Uint8Array([...sealed, 1, 2, 3]));
    const other = await readAll(piecewise(sealed, S).pipeThrough(vault.openStream({ recordId: "scan-2", context: "attachments" }))).then(() => "opened", (e) => e.code);
    function piecewiseLater() {
      return piecewise(sealed.slice(0, 134 + 2 * S), 7001).pipeThrough(vault.openStream(binding));
    }
    const viaResponse = await new Response(piecewiseLater()).arrayBuffer().then(() => "opened", (e) => `${e.name} ${e.code ?? ""}`.trim());
    const reader = await vault.openRange(new Blob([sealed]), binding);
    const range = await reader.readRange(3 * C - 10, 20);
    const rangeOk = range.every((b, i) => b === data[3 * C - 10 + i]);
    return { same, size: sealed.length, expected: ms.ciphertextSize(n), cut, swapped, extended, other, readerSize: reader.size, rangeOk, lastProgress: progress.at(-1), viaResponse, simd: ms.simd128Supported() };
  });
  assert.equal(r.same, true, "the file round-trips");
  assert.equal(r.size, r.expected, "the sealed size is ciphertextSize(n)");
  assert.equal(r.cut, "Truncated");
  assert.equal(r.swapped, "DecryptionFailed");
  assert.equal(r.extended, "DecryptionFailed");
  assert.equal(r.other, "DecryptionFailed");
  assert.equal(r.readerSize, 5 * 16384 + 1234);
  assert.equal(r.rangeOk, true);
  assert.equal(r.lastProgress, 5 * 16384 + 1234);
  // Recorded, not required: what Firefox's Response gives for a stream that errors (docs/BROWSERS.md).
  console.log(`# Firefox: new Response(a stream that errors with Truncated).arrayBuffer() rejects with: ${r.viaResponse}`);
});
