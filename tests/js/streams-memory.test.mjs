// Large files in bounded memory (issue #16), in Node 20: a 2 GiB plaintext,
// generated as it is read, piped through vault.sealStream and straight into
// vault.openStream, every output byte checked against the generator, while
// the process's memory is sampled. The growth must stay under a stated bound
// (far below the file's size) and must not climb through the run; nothing
// here is a timing assertion.
//   node --test tests/js/streams-memory.test.mjs   (needs pkg/ built)
// MEDSEAL_STREAM_MEMORY_GIB=0.25 runs a smaller file (the bounds are the same).
import { test } from "node:test";
import assert from "node:assert/strict";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { init, Vault, webauthn } from "../../pkg/dist/node.js";
import { generated, verifier } from "../../bench/stream-data.mjs";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc");

const MiB = 2 ** 20;
const SIZE = Math.round(Number(process.env.MEDSEAL_STREAM_MEMORY_GIB ?? 2) * 2 ** 30);
/**
 * Bounds on growth over the baseline (taken after a GC, once a small file
 * went through, so that what Node sets up on first use is in it). Measured
 * on the 2-core VM, Node 20.20, 2 GiB, five runs: peaks of 58-75 MiB RSS
 * (the allocator's and the WebCrypto thread pool's working set; 32-55 MiB
 * at 256 MiB), 29-50 MiB of JS heap + array buffers (garbage chunks between
 * collections), the two halves of the run within 10 MiB of each other, and
 * at most 8 MiB held after the run and a GC. The stream itself holds a few
 * hundred KiB (16 chunks in flight each way); a file kept whole would pass
 * every bound, a leak of one chunk in a hundred the one after the run.
 */
const RSS_BOUND = 160 * MiB;
const HEAP_BOUND = 96 * MiB;
/** RSS's peak over the second half of the run may pass the first half's by this much at most. */
const CLIMB_BOUND = 32 * MiB;

await init();

test(`${SIZE / 2 ** 30} GiB through sealStream and straight into openStream: every byte back, memory bounded`, async () => {
  const prfOutput = crypto.getRandomValues(new Uint8Array(32));
  const { vault } = await Vault.create({ prf: { credentialId: new Uint8Array([1]), prfSalt: webauthn.newPrfSalt(), prfOutput } });
  const opts = { recordId: "scan-2gib", context: "imaging" };
  /** Seals `size` bytes and opens them in one pipe, every byte checked by `check`; returns the sealed length. */
  const roundTrip = async (size, check) => {
    let sealed = 0;
    const count = new TransformStream({
      transform(chunk, c) {
        sealed += chunk.byteLength;
        c.enqueue(chunk);
      },
    });
    const out = generated(size).pipeThrough(vault.sealStream({ ...opts, size })).pipeThrough(count).pipeThrough(vault.openStream({ ...opts, size }));
    for await (const piece of out) check.update(piece);
    return sealed;
  };
  await roundTrip(4 * MiB, verifier());

  gc();
  const base = process.memoryUsage();
  const check = verifier();
  // Peak growth over the baseline: over the whole run, and RSS over each half (by bytes checked).
  const peak = { rss: 0, heap: 0, halves: [0, 0] };
  let samples = 0;
  const sample = () => {
    const m = process.memoryUsage();
    const rss = m.rss - base.rss;
    peak.rss = Math.max(peak.rss, rss);
    peak.heap = Math.max(peak.heap, m.heapUsed + m.arrayBuffers - base.heapUsed - base.arrayBuffers);
    const half = check.length >= SIZE / 2 ? 1 : 0;
    peak.halves[half] = Math.max(peak.halves[half], rss);
    samples++;
  };
  const timer = setInterval(sample, 50);
  const t0 = performance.now();
  let sealedBytes;
  try {
    sealedBytes = await roundTrip(SIZE, check);
  } finally {
    clearInterval(timer);
  }
  sample();
  const seconds = (performance.now() - t0) / 1000;
  // Twice, a turn of the event loop apart: array buffers are freed after the sweep.
  gc();
  await new Promise((ok) => setTimeout(ok, 50));
  gc();
  const after = process.memoryUsage();
  const retained = after.heapUsed + after.arrayBuffers - base.heapUsed - base.arrayBuffers;

  const mib = (x) => `${(x / MiB).toFixed(1)} MiB`;
  console.log(`# ${SIZE / MiB} MiB sealed and opened in ${seconds.toFixed(1)} s (${(SIZE / MiB / seconds).toFixed(0)} MiB/s through both); ` +
    `${samples} samples; peak growth: RSS ${mib(peak.rss)} (first half ${mib(peak.halves[0])}, second ${mib(peak.halves[1])}), ` +
    `JS heap + array buffers ${mib(peak.heap)}; after a GC ${mib(retained)} held`);
  assert.equal(check.length, SIZE, "every byte came back");
  assert.equal(sealedBytes, 134 + SIZE + 16 * (Math.floor(SIZE / 16384) + 1), "the sealed stream has the size of FORMAT.md §17.2");
  assert.ok(samples >= 10, `memory was sampled during the run (${samples} samples)`);
  assert.ok(peak.rss < RSS_BOUND, `RSS grew by ${mib(peak.rss)} (bound ${mib(RSS_BOUND)})`);
  assert.ok(peak.heap < HEAP_BOUND, `JS heap + array buffers grew by ${mib(peak.heap)} (bound ${mib(HEAP_BOUND)})`);
  assert.ok(peak.halves[1] - peak.halves[0] < CLIMB_BOUND, `RSS climbed by ${mib(peak.halves[1] - peak.halves[0])} from the first half of the run to the second`);
  assert.ok(retained < 16 * MiB, `${mib(retained)} still held after the run and a GC`);
  vault.lock();
});
