// Large files in bounded memory (issue #16), in headless Chromium: a page
// loads the built package, generates a 2 GiB plaintext as it is read, pipes
// it through vault.sealStream and straight into vault.openStream, and checks
// every output byte against the generator (bench/stream-data.mjs, served to
// the page, which waits for a task every 4 MiB as a file read would).
// Meanwhile the test samples the page's JS heap and its count of
// live ArrayBuffer contents (the DevTools protocol's Performance.getMetrics:
// JSHeapUsedSize, ArrayBufferContents; the chunks' bytes live outside the JS
// heap) and the renderer process's RSS (/proc, by the pids of
// SystemInfo.getProcessInfo), and after the run (Runtime.getHeapUsage, which
// answers only when the page is idle) what is still held, backing stores
// included. The growth must stay under stated bounds (far below the file's
// size) and must not climb through the run; nothing here is a timing assertion.
//   node --test tests/browser/streams-memory.test.mjs   (needs pkg/ built)
// MEDSEAL_STREAM_MEMORY_GIB=0.25 runs a smaller file (the bounds are the same).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, serveFiles, withBrowserAndServer } from "./helpers.mjs";

const MiB = 2 ** 20;
const SIZE = Math.round(Number(process.env.MEDSEAL_STREAM_MEMORY_GIB ?? 2) * 2 ** 30);
/**
 * Bounds on growth over the baseline (taken after a GC, once a small file
 * went through). The stream itself holds a few hundred KiB (16 chunks in
 * flight each way); what the renderer's RSS shows is mostly garbage between
 * collections: every chunk is a new ArrayBuffer from WebCrypto (sealed,
 * then opened) and the source's pieces are new too, and V8 collects them
 * by its external-memory limits. Measured on the 2-core VM, Chromium 156:
 * renderer RSS peaks of 195 MiB (256 MiB file), 220-225 MiB (1 and 2 GiB);
 * the JS heap 6-33 MiB; after the run and a GC, nothing held. A file kept
 * whole would pass the RSS bound; a leak of one chunk in a hundred, the
 * check after the run (16 MiB).
 */
const BOUNDS = {
  heap: 96 * MiB,
  rss: 384 * MiB,
};
/** RSS's peak over the second half of the run may pass the first half's by this much at most (measured: -85 to +70 MiB; +70 at 256 MiB, from a cold start). */
const CLIMB_BOUND = 96 * MiB;

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>2 GiB through sealStream and openStream</title>
<script type="importmap">{ "imports": { "medseal": "/pkg/dist/index.js" } }</script>
<script type="module">
  import { init, Vault, webauthn } from "medseal";
  import { generated, verifier } from "/bench/stream-data.mjs";
  await init();
  const prfOutput = crypto.getRandomValues(new Uint8Array(32));
  const { vault } = await Vault.create({ prf: { credentialId: new Uint8Array([1]), prfSalt: webauthn.newPrfSalt(), prfOutput } });
  const opts = { recordId: "scan-2gib", context: "imaging" };
  window.progress = 0;
  // Seals size bytes and opens them in one pipe; every byte checked; nothing of the file is kept.
  window.roundTrip = async (size) => {
    const check = verifier();
    let sealed = 0;
    const count = new TransformStream({ transform(chunk, c) { sealed += chunk.byteLength; c.enqueue(chunk); } });
    const t0 = performance.now();
    // The source waits for a task every 4 MiB, as a file read would; else the pipe would run to its end in one task, DevTools unanswered.
    const out = generated(size, { yieldEvery: 64 }).pipeThrough(vault.sealStream({ ...opts, size })).pipeThrough(count).pipeThrough(vault.openStream({ ...opts, size }));
    for await (const piece of out) {
      check.update(piece);
      window.progress = check.length;
    }
    return { checked: check.length, sealed, seconds: (performance.now() - t0) / 1000 };
  };
  window.ready = true;
</script>
`;

const env = withBrowserAndServer(() => serveFiles({ pages: { "/": PAGE, "/favicon.ico": "" }, mounts: [["/pkg/", join(ROOT, "pkg")], ["/bench/", join(ROOT, "bench")]] }));

/** Resident set size of process `pid` in bytes, or null where /proc cannot tell. */
function rssOf(pid) {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

test(`${SIZE / 2 ** 30} GiB through sealStream and straight into openStream in Chromium: every byte back, memory bounded`, async () => {
  const page = await env.browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  try {
    await page.goto(`${env.origin}/`);
    await page.waitForFunction(() => window.ready === true, null, { timeout: 30_000 });
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Performance.enable");
    const browserCdp = await env.browser.newBrowserCDPSession();
    // The renderers' pids (this page's is the one whose RSS moves; a spare renderer may exist).
    const { processInfo } = await browserCdp.send("SystemInfo.getProcessInfo");
    const renderers = processInfo.filter((p) => p.type === "renderer").map((p) => p.id);

    // What the page sets up on first use is in the baseline: a small file first, then a GC.
    await page.evaluate((n) => window.roundTrip(n), 4 * MiB);
    await cdp.send("HeapProfiler.collectGarbage");
    const heapNow = () => cdp.send("Runtime.getHeapUsage");
    const metricsNow = async () => Object.fromEntries((await cdp.send("Performance.getMetrics")).metrics.map((m) => [m.name, m.value]));
    const base = await heapNow();
    const baseMetrics = await metricsNow();
    const baseRss = new Map(renderers.map((pid) => [pid, rssOf(pid)]));

    // ArrayBuffers alive (garbage included) is reported, not bounded: it counts the 12-byte nonces as the 64 KiB pieces.
    const peak = { heap: 0, buffers: 0, rss: 0, halves: [0, 0] };
    let samples = 0;
    let rssSamples = 0;
    const sample = async () => {
      const [m, done] = await Promise.all([metricsNow(), page.evaluate(() => window.progress)]);
      peak.heap = Math.max(peak.heap, m.JSHeapUsedSize - baseMetrics.JSHeapUsedSize);
      peak.buffers = Math.max(peak.buffers, m.ArrayBufferContents - baseMetrics.ArrayBufferContents);
      for (const pid of renderers) {
        const rss = rssOf(pid);
        if (rss === null || baseRss.get(pid) === null) continue;
        rssSamples++;
        const grew = rss - baseRss.get(pid);
        peak.rss = Math.max(peak.rss, grew);
        const half = done >= SIZE / 2 ? 1 : 0;
        peak.halves[half] = Math.max(peak.halves[half], grew);
      }
      samples++;
    };

    let finished = false;
    const run = page.evaluate((n) => window.roundTrip(n), SIZE).finally(() => (finished = true));
    while (!finished) {
      await sample();
      await new Promise((ok) => setTimeout(ok, 100));
    }
    const result = await run;
    await cdp.send("HeapProfiler.collectGarbage");
    const after = await heapNow();
    const retained = after.usedSize - base.usedSize + (after.backingStorageSize ?? 0) - (base.backingStorageSize ?? 0);

    const mib = (x) => `${(x / MiB).toFixed(1)} MiB`;
    console.log(`# ${SIZE / MiB} MiB sealed and opened in the page in ${result.seconds.toFixed(1)} s (${(SIZE / MiB / result.seconds).toFixed(0)} MiB/s through both); ` +
      `${samples} samples; peak growth: JS heap ${mib(peak.heap)}, ${peak.buffers} live ArrayBuffers, ` +
      `renderer RSS ${rssSamples ? `${mib(peak.rss)} (first half ${mib(peak.halves[0])}, second ${mib(peak.halves[1])}; baseline ${mib(Math.max(...baseRss.values()))})` : "n/a"}; ` +
      `after a GC ${mib(retained)} held (bounds: heap ${mib(BOUNDS.heap)}, RSS ${mib(BOUNDS.rss)})`);

    assert.deepEqual(errors, []);
    assert.equal(result.checked, SIZE, "every byte came back");
    assert.equal(result.sealed, 134 + SIZE + 16 * (Math.floor(SIZE / 16384) + 1), "the sealed stream has the size of FORMAT.md §17.2");
    assert.ok(samples >= 10, `memory was sampled during the run (${samples} samples)`);
    assert.ok(peak.heap < BOUNDS.heap, `the JS heap grew by ${mib(peak.heap)} (bound ${mib(BOUNDS.heap)})`);
    if (rssSamples > 0) {
      assert.ok(peak.rss < BOUNDS.rss, `the renderer's RSS grew by ${mib(peak.rss)} (bound ${mib(BOUNDS.rss)})`);
      assert.ok(peak.halves[1] - peak.halves[0] < CLIMB_BOUND, `the renderer's RSS climbed by ${mib(peak.halves[1] - peak.halves[0])} from the first half of the run to the second`);
    }
    assert.ok(retained < 16 * MiB, `${mib(retained)} still held after the run and a GC`);
    await browserCdp.detach();
  } finally {
    await page.close();
  }
});
