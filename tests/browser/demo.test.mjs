// The demo page end to end in headless Chromium with a virtual passkey (PRF):
// create a vault, seal records, reload, unlock with the passkey, read them back.
// Also: what the page stores holds no plaintext, and a passkey without PRF is refused clearly.
import { test } from "node:test";
import assert from "node:assert/strict";
import { passkeyPage, withBrowserAndServer } from "./helpers.mjs";

const env = withBrowserAndServer();

test("create with a passkey, seal, reload, unlock with the passkey, open", async () => {
  const { context, page, errors } = await passkeyPage(env.browser);
  await page.goto(`${env.origin}/`);
  await page.waitForFunction(() => document.getElementById("status").textContent.includes("No vault yet"));

  await page.click("#create");
  await page.waitForFunction(() => document.getElementById("status").textContent.includes("Vault created"));
  const code = await page.textContent("#recovery-code");
  assert.match(code, /^[0-9A-Z]{4}(-[0-9A-Z]{4}){7}$/);
  await page.click("#recovery-done");

  const markers = ["MARKER-penicillin-anaphylaxis", "MARKER-metformin-500mg"];
  for (const m of markers) {
    await page.fill("#text", m);
    await page.click("#seal");
    await page.waitForFunction((m) => document.getElementById("records").textContent.includes(m), m);
  }

  // What the page keeps (our stand-in for a server) is ciphertext only.
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }));
  for (const m of markers) assert.ok(!stored.includes(m), "plaintext found in storage");
  assert.ok(!stored.includes(code.replaceAll("-", "")) && !stored.includes(code), "recovery code found in storage");
  assert.match(stored, /ms2\./);
  assert.doesNotMatch(stored, /ms1\./, "records are sealed in format 2");

  await page.reload();
  await page.waitForFunction(() => document.getElementById("status").textContent.includes("unlock it with your passkey"));
  assert.ok(!(await page.textContent("#records")).includes(markers[0]), "records readable before unlock");
  await page.click("#unlock");
  await page.waitForFunction(() => document.getElementById("status").textContent.includes("Unlocked"));
  for (const m of markers) assert.ok((await page.textContent("#records")).includes(m));

  // Chromium runs SIMD128: init() loaded that build, and never fell back to the scalar one.
  const wasmFiles = await page.evaluate(() => performance.getEntriesByType("resource").map((r) => r.name).filter((n) => n.endsWith(".wasm")).map((n) => n.split("/").pop()));
  assert.ok(wasmFiles.length > 0 && wasmFiles.every((f) => f === "medseal_wasm_bg.wasm"), `wasm loaded: ${wasmFiles}`);

  await page.click("#lock");
  await page.waitForFunction(() => document.getElementById("status").textContent.includes("Locked"));
  assert.ok(!(await page.textContent("#records")).includes(markers[0]));
  if (process.env.MEDSEAL_SCREENSHOT) await page.screenshot({ path: process.env.MEDSEAL_SCREENSHOT, fullPage: true });
  assert.deepEqual(errors, []);
  await context.close();
});

test("a passkey without PRF gets a clear refusal, not a broken vault", async () => {
  const { context, page } = await passkeyPage(env.browser, { hasPrf: false });
  await page.goto(`${env.origin}/`);
  await page.waitForFunction(() => document.getElementById("status").textContent.includes("No vault yet"));
  await page.click("#create");
  await page.waitForFunction(() => document.getElementById("status").className === "error");
  assert.match(await page.textContent("#status"), /PRF/);
  assert.equal(await page.evaluate(() => localStorage.getItem("medseal.manifest")), null);
  await context.close();
});
