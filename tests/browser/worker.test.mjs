// medseal inside a dedicated module worker, under the demo server's strict CSP
// (script-src 'self' 'wasm-unsafe-eval').
import { test } from "node:test";
import assert from "node:assert/strict";
import { withBrowserAndServer } from "./helpers.mjs";

const env = withBrowserAndServer();

test("seal and open inside a Web Worker", async () => {
  const page = await env.browser.newPage();
  await page.goto(`${env.origin}/index.html`);
  const r = await page.evaluate(
    () =>
      new Promise((ok) => {
        const w = new Worker("/fixtures/worker.js", { type: "module" });
        w.onmessage = (e) => ok(e.data);
        w.onerror = (e) => ok({ error: e.message });
        w.postMessage("go");
      }),
  );
  assert.deepEqual(r, { opened: { worker: "MARKER-in-worker" }, code: "DecryptionFailed", expected: "DecryptionFailed" });
  await page.close();
});
