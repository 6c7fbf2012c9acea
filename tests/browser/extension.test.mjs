// The example Manifest V3 extension (examples/extension), built from the
// packed npm package and loaded unpacked into Chromium: the extension page
// creates a vault with a passkey (virtual authenticator, PRF on) and hands it
// to the service worker, which seals and opens notes kept in
// chrome.storage.local; the service worker is stopped and still opens what
// was sealed; a page reload + passkey unlock works; storage holds no plaintext.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS, CHROMIUM_PATH, addAuthenticator, serve } from "./helpers.mjs";
import { buildExtension } from "../../examples/extension/build.mjs";

const repo = resolve(fileURLToPath(new URL("../..", import.meta.url)));
// The manifest's "key" fixes the id (and with it the passkeys' relying party).
const EXTENSION_ID = "bnmggbonielnahbckghiedmgblhcgjfi";
// Screenshots of the popup, to look at (docs/screenshots/extension-*.png are copies).
const shots = join(repo, "target", "screenshots");
let context, sw;
const profiles = [];

/** Chromium with one unpacked extension loaded, in a fresh profile. */
async function launchWith(ext) {
  const profile = mkdtempSync(join(tmpdir(), "medseal-ext-"));
  profiles.push(profile);
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    // Playwright passes --disable-extensions unless an exception is named.
    args: [...CHROMIUM_ARGS, `--disable-extensions-except=${ext}`, `--load-extension=${ext}`],
  });
  ctx.setDefaultTimeout(20_000);
  const worker = ctx.serviceWorkers()[0] ?? (await ctx.waitForEvent("serviceworker"));
  return { ctx, worker };
}

before(async () => {
  mkdirSync(shots, { recursive: true });
  ({ ctx: context, worker: sw } = await launchWith(await buildExtension()));
});

after(async () => {
  await context?.close();
  for (const p of profiles) rmSync(p, { recursive: true, force: true });
});

/**
 * Stops the extension's service worker (as Chrome does when it is idle) and
 * waits until it is gone. (CDP ServiceWorker.stopAllWorkers from a page
 * session also stops it, but detaching that session leaves the page's virtual
 * authenticator unresponsive; closing the worker's target does not.)
 */
async function stopServiceWorker() {
  const b = await context.browser().newBrowserCDPSession();
  const ours = (infos) => infos.filter((t) => t.type === "service_worker" && t.url.startsWith(`chrome-extension://${EXTENSION_ID}/`));
  for (const t of ours((await b.send("Target.getTargets")).targetInfos)) await b.send("Target.closeTarget", { targetId: t.targetId });
  for (let i = 0; i < 500 && ours((await b.send("Target.getTargets")).targetInfos).length > 0; i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  await b.detach();
}

/** Asks the service worker for its state with a raw protocol message (wakes it if stopped). */
function workerStatus(page) {
  return page.evaluate(async () => {
    const reg = await navigator.serviceWorker.ready;
    const { port1, port2 } = new MessageChannel();
    const reply = new Promise((ok) => (port1.onmessage = (e) => ok(e.data)));
    reg.active.postMessage({ medseal: "medseal/rpc/1", op: "status", args: [] }, [port2]);
    return (await reply).value;
  });
}

const storage = (page) => page.evaluate(() => chrome.storage.local.get(null));

async function openNote(page, index) {
  const li = page.locator("#list li").nth(index);
  await li.getByRole("button", { name: "Open" }).click();
  await li.locator(".opened").waitFor();
  return li.locator(".opened").textContent();
}

test("MV3 extension: passkey vault handed to the service worker; seal, open, restart, open again", { timeout: 180_000 }, async () => {
  assert.equal(new URL(sw.url()).host, EXTENSION_ID);
  const page = await context.newPage();
  await page.setViewportSize({ width: 390, height: 420 });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await addAuthenticator(page);
  await page.goto(`chrome-extension://${EXTENSION_ID}/popup.html`);
  await page.locator("#state", { hasText: "no vault" }).waitFor();

  // Create: passkey ceremony on the extension page (rp id = the extension), vault handed over.
  await page.getByRole("button", { name: "Create vault with a passkey" }).click();
  await page.locator("#recovery-code").filter({ hasText: /^[0-9A-Z]{4}(-[0-9A-Z]{4}){7}$/ }).waitFor();
  await page.locator("#state", { hasText: /^unlocked$/ }).waitFor();
  const recoveryCode = await page.locator("#recovery-code").textContent();
  await page.screenshot({ path: join(shots, "extension-1-created.png") });
  await page.getByRole("button", { name: "I have written it down" }).click();
  assert.equal((await workerStatus(page)).unlocked, true);

  // Seal a typed note (in the service worker) and open it.
  await page.locator("#note").fill("MARKER-ext-note: lower lisinopril to 5 mg");
  await page.getByRole("button", { name: "Seal note" }).click();
  await page.locator("#list li").first().waitFor();
  assert.equal(await openNote(page, 0), "MARKER-ext-note: lower lisinopril to 5 mg");

  // A page selection sealed from the context-menu handler in the service worker.
  const sel = await sw.evaluate(() => self.sealSelection("MARKER-selection: HbA1c 6.1 %", "https://portal.example/labs"));
  assert.match(sel.id, /^[0-9a-f-]{36}$/);
  await page.locator("#list li").nth(1).waitFor();

  // Chrome stops the worker: the vault is gone with it (the raw status says so)...
  await stopServiceWorker();
  assert.equal((await workerStatus(page)).unlocked, false);
  // ...and the open page hands it over again on the next request, without a prompt.
  assert.equal(await openNote(page, 1), "MARKER-selection: HbA1c 6.1 %\n— from https://portal.example/labs");
  assert.equal((await workerStatus(page)).unlocked, true);

  // Storage: only ids, times and sealed records; no plaintext, no key material.
  const stored = await storage(page);
  const text = JSON.stringify(stored);
  assert.ok(!text.includes("MARKER") && !text.includes("portal.example") && !text.includes("lisinopril"));
  assert.ok(!text.includes(recoveryCode.replaceAll("-", "")) && !text.includes(recoveryCode));
  const noteKeys = Object.keys(stored).filter((k) => k.startsWith("note:"));
  assert.equal(noteKeys.length, 2);
  assert.deepEqual(Object.keys(stored).filter((k) => !k.startsWith("note:")), ["manifest"]);
  for (const k of noteKeys) assert.deepEqual(Object.keys(stored[k]).sort(), ["at", "id", "sealed"]);

  // The page closes and the worker stops: both copies are gone. A new page unlocks with the passkey.
  await stopServiceWorker();
  await page.reload(); // its first request wakes the worker, which starts without a vault
  await page.locator("#state", { hasText: /^locked$/ }).waitFor();
  // Locked: a selection is refused and nothing is stored.
  assert.deepEqual(await sw.evaluate(() => self.sealSelection("MARKER-while-locked", null)), { error: "Locked" });
  assert.equal(Object.keys(await storage(page)).filter((k) => k.startsWith("note:")).length, 2);
  await page.getByRole("button", { name: "Unlock with passkey" }).click();
  await page.locator("#state", { hasText: /^unlocked$/ }).waitFor();
  assert.equal(await openNote(page, 0), "MARKER-ext-note: lower lisinopril to 5 mg");
  assert.equal(await openNote(page, 1), "MARKER-selection: HbA1c 6.1 %\n— from https://portal.example/labs");
  await page.screenshot({ path: join(shots, "extension-2-opened.png") });

  // Lock wipes both; opening then says Locked.
  await page.getByRole("button", { name: "Lock" }).click();
  await page.locator("#state", { hasText: /^locked$/ }).waitFor();
  assert.equal((await workerStatus(page)).unlocked, false);
  assert.deepEqual(errors, []);
  await page.close();
});

test("MV3 extension sharing a site's passkeys: a vault made on the site unlocks in the extension", { timeout: 180_000 }, async () => {
  // The site is http://localhost:PORT (a secure context); the extension build claims its RP id "localhost"
  // through the host permission http://localhost/* (see docs/EXTENSIONS.md).
  const { server, origin } = await serve();
  const { ctx } = await launchWith(await buildExtension({ site: "localhost" }));
  try {
    const page = await ctx.newPage();
    const { cdp, authenticatorId } = await addAuthenticator(page);
    await page.goto(`${origin}/fixtures/blank.html`);
    // On the site: sign-up with a passkey, one note sealed (in the extension's note format).
    const site = await page.evaluate(async () => {
      const { init, Vault } = await import("/pkg/dist/index.js");
      await init();
      const { vault, manifest } = await Vault.create({
        passkey: {
          rp: { id: "localhost", name: "PHR site" },
          user: { id: "site-user-1", name: "pat@example.test", displayName: "Pat" },
          label: "site passkey",
        },
      });
      const id = crypto.randomUUID();
      const sealed = vault.seal({ text: "MARKER-from-the-site: flu shot 2026-10-02", kind: "note" }, { recordId: id, context: "medseal-notes/v1" });
      return { manifest, note: { id, at: Date.now(), sealed } };
    });
    // The extension gets the site's (public) manifest and sealed note, as it would from the site's server.
    await page.goto(`chrome-extension://${EXTENSION_ID}/popup.html`);
    await page.evaluate((site) => chrome.storage.local.set({ manifest: site.manifest, [`note:${site.note.id}`]: site.note }), site);
    await page.reload();
    await page.locator("#state", { hasText: /^locked$/ }).waitFor();
    await page.getByRole("button", { name: "Unlock with passkey" }).click();
    await page.locator("#state", { hasText: /^unlocked$/ }).waitFor();
    assert.equal(await openNote(page, 0), "MARKER-from-the-site: flu shot 2026-10-02");
    // One passkey in the authenticator, for the site's RP id: the same one unlocked both.
    const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
    assert.deepEqual(credentials.map((c) => c.rpId), ["localhost"]);
  } finally {
    await ctx.close();
    server.close();
  }
});

test("control: without the host permission the extension cannot claim the site's RP id", async () => {
  const page = await context.newPage();
  await addAuthenticator(page);
  await page.goto(`chrome-extension://${EXTENSION_ID}/popup.html`);
  const name = await page.evaluate(() =>
    navigator.credentials
      .create({ publicKey: { rp: { id: "localhost", name: "x" }, user: { id: new Uint8Array([1]), name: "x", displayName: "x" }, challenge: new Uint8Array(32), pubKeyCredParams: [{ type: "public-key", alg: -7 }] } })
      .then(() => "created", (e) => e.name),
  );
  assert.equal(name, "SecurityError");
  await page.close();
});
