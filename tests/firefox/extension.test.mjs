/* global WebExtensionPolicy, ChromeUtils -- Firefox chrome-context globals, in the scripts run by ff.chrome() */
// The example Manifest V3 extension (examples/extension) in headless Firefox ESR
// as a temporary add-on: tests/browser/extension.test.mjs where the engine
// allows, and what differs asserted as observed (docs/EXTENSIONS.md, "Firefox").
//
// - The Chromium build is refused at install (its background is only a service
//   worker). The Firefox build (`build.mjs --browser=firefox`) runs the same
//   sw.js as a module event page (`background.scripts`), which the page reaches
//   with runtime.getBackgroundPage(); the same CSP ('wasm-unsafe-eval') loads the wasm.
// - Passkeys of the extension's own origin (moz-extension://<uuid>, rp.id
//   omitted): Firefox refuses create() with SecurityError, so the stand-alone
//   build cannot make a vault here. With a host permission for a site, the
//   extension claims that site's RP id (as in Chromium): the whole journey runs
//   with the build that shares http://localhost's passkeys (`--site=localhost`).
//
// WebDriver classic needs geckodriver's --allow-system-access to open
// moz-extension:// pages ("Navigation to … is not allowed in this context"
// without it) and to stop the background (the chrome context: what
// about:debugging's "Terminate background script" does).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Firefox, ROOT, serveTests } from "./helpers.mjs";
import { FIREFOX_ID, buildExtension } from "../../examples/extension/build.mjs";

const shots = join(ROOT, "target", "screenshots");
let ff, authenticatorId, server, origin;
let popup = ""; // moz-extension://<UUID Firefox picked at install>/popup.html
const builds = {};

before(async () => {
  mkdirSync(shots, { recursive: true });
  builds.chromium = await buildExtension();
  builds.firefox = await buildExtension({ browser: "firefox" });
  builds.firefoxSite = await buildExtension({ browser: "firefox", site: "localhost" });
  ({ server, origin } = await serveTests());
  ff = await Firefox.start({
    systemAccess: true,
    width: 600,
    height: 700,
    prefs: {
      // The event page is stopped by the test (stopBackground), not by the 30 s idle timer mid-step.
      "extensions.background.idle.timeout": 600000,
    },
  });
  authenticatorId = await ff.addAuthenticator();
});

after(async () => {
  try {
    await ff?.stop();
  } finally {
    server?.close();
  }
});

/** Installs `dir` as the temporary add-on FIREFOX_ID (replacing the one there), with no credentials on the authenticator. */
async function install(dir) {
  // Off the extension's page first: uninstalling closes its tabs, and with the last one Firefox quits.
  await ff.goto("about:blank");
  await ff.uninstallAddon(FIREFOX_ID).catch(() => {});
  assert.equal(await ff.installAddon(dir), FIREFOX_ID);
  // Each install gets a new random UUID as its moz-extension:// host (uninstalling forgets the old one).
  const host = await ff.chrome((id) => WebExtensionPolicy.getByID(id).mozExtensionHostname, FIREFOX_ID);
  popup = `moz-extension://${host}/popup.html`;
  await ff.removeAllCredentials(authenticatorId);
}

/** Installs `dir` and opens the extension's page in the tab. */
async function openExtension(dir) {
  await install(dir);
  await ff.goto(popup);
}

/** Stops the extension's event page (as Firefox does when it is idle) and waits until it is stopped. */
async function stopBackground() {
  const state = await ff.chrome(async (id) => {
    const { ExtensionParent } = ChromeUtils.importESModule("resource://gre/modules/ExtensionParent.sys.mjs");
    const ext = ExtensionParent.GlobalManager.getExtension(id);
    await ext.terminateBackground({ ignoreDevToolsAttached: true, disableResetIdleForTest: true });
    return ext.backgroundState;
  }, FIREFOX_ID);
  assert.equal(state, "stopped");
}

/** Asks the background for its state with a raw protocol message (getBackgroundPage wakes it if stopped). */
function backgroundStatus() {
  return ff.eval(async () => {
    const bg = await chrome.runtime.getBackgroundPage();
    const { port1, port2 } = new window.MessageChannel();
    const reply = new Promise((ok) => (port1.onmessage = (e) => ok(e.data)));
    bg.postMessage({ medseal: "medseal/rpc/1", op: "status", args: [] }, location.origin, [port2]);
    return (await reply).value;
  });
}

/** The context-menu handler of the background (sealSelection), called as the menu click would. */
function sealSelection(text, url) {
  return ff.eval(async ({ text, url }) => JSON.parse(JSON.stringify(await (await chrome.runtime.getBackgroundPage()).sealSelection(text, url))), { text, url });
}

const storage = () => ff.eval(async () => JSON.parse(JSON.stringify(await chrome.storage.local.get(null))));
const waitState = (re) => ff.waitFor((src) => new RegExp(src).test(document.getElementById("state")?.textContent ?? ""), re.source, { what: `state ${re}` });

async function openNote(index) {
  await ff.click(`#list li:nth-child(${index + 1}) button`);
  return ff.waitFor((i) => document.querySelectorAll("#list li")[i]?.querySelector(".opened")?.textContent, index, { what: `note ${index} opened` });
}

test("the Chromium build is refused: Firefox 153 ESR runs no MV3 background service worker", async () => {
  await assert.rejects(ff.installAddon(builds.chromium), /Could not install Add-on: background\.service_worker is currently disabled\. Add background\.scripts\./);
});

test("stand-alone build (passkeys of the extension's own origin): Firefox refuses the ceremony with SecurityError", async () => {
  await openExtension(builds.firefox);
  // The page, its CSP with 'wasm-unsafe-eval' and the event page work: the background answers the page.
  await waitState(/^no vault$/);
  assert.deepEqual(await backgroundStatus(), { unlocked: false, vaultId: null });
  assert.equal(await ff.eval(async () => (await WebAssembly.compile(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]))) instanceof WebAssembly.Module), true);

  // Chromium creates the vault here (rp.id omitted: the extension's RP). Firefox 153: SecurityError.
  await ff.click("#create");
  await ff.waitFor(() => document.getElementById("status").className === "error", null, { what: "an error" });
  assert.equal(await ff.text("#status"), "PrfUnsupported: passkeys are not available here (SecurityError: The operation is insecure.); medseal needs a secure context (https or localhost), WebAuthn, and an RP id this origin may use (its own domain, or a site an extension has host permission for).");
  assert.equal((await storage()).manifest, undefined);
  assert.deepEqual(await ff.credentials(authenticatorId), []);

  // The bare ceremony: the extension's own origin as RP in any spelling, and a site's RP id
  // without the host permission (Chromium's "control" case), are all refused.
  const names = await ff.eval(async () => {
    const out = {};
    const ids = { omitted: undefined, uuid: location.host, origin: location.origin, site: "localhost" };
    for (const [name, id] of Object.entries(ids)) {
      out[name] = await navigator.credentials.create({ publicKey: {
        rp: id === undefined ? { name: "x" } : { id, name: "x" }, user: { id: new Uint8Array([1]), name: "x", displayName: "x" },
        challenge: new Uint8Array(32), pubKeyCredParams: [{ type: "public-key", alg: -7 }],
      } }).then(() => "created", (e) => `${e.name}: ${e.message}`);
    }
    return { secure: window.isSecureContext, out };
  });
  assert.deepEqual(names, {
    secure: true,
    out: Object.fromEntries(["omitted", "uuid", "origin", "site"].map((k) => [k, "SecurityError: The operation is insecure."])),
  });
  assert.deepEqual(await ff.errors(), []);
});

test("MV3 extension (site RP id): passkey vault handed to the event page; seal, open, stop, open again", { timeout: 180_000 }, async () => {
  await openExtension(builds.firefoxSite);
  await waitState(/^no vault$/);

  // Create: passkey ceremony on the extension page (rp id localhost, by the host permission), vault handed over.
  await ff.click("#create");
  const recoveryCode = await ff.waitFor(() => {
    const c = document.getElementById("recovery-code").textContent;
    return /^[0-9A-Z]{4}(-[0-9A-Z]{4}){7}$/.test(c) ? c : null;
  }, null, { what: "the recovery code" });
  await waitState(/^unlocked$/);
  await ff.screenshot(join(shots, "firefox-extension-1-created.png"));
  await ff.click("#recovery-done");
  assert.equal((await backgroundStatus()).unlocked, true);
  assert.deepEqual((await ff.credentials(authenticatorId)).map((c) => c.rpId), ["localhost"]);

  // Seal a typed note (in the event page) and open it.
  await ff.fill("#note", "MARKER-ext-note: lower lisinopril to 5 mg");
  await ff.click("#seal");
  await ff.waitFor(() => document.querySelectorAll("#list li").length === 1, null, { what: "one note" });
  assert.equal(await openNote(0), "MARKER-ext-note: lower lisinopril to 5 mg");

  // A page selection sealed by the context-menu handler in the background.
  const sel = await sealSelection("MARKER-selection: HbA1c 6.1 %", "https://portal.example/labs");
  assert.match(sel.id, /^[0-9a-f-]{36}$/);
  await ff.waitFor(() => document.querySelectorAll("#list li").length === 2, null, { what: "two notes" });

  // Firefox stops the event page: the vault is gone with it (the raw status, which wakes it, says so)...
  await stopBackground();
  assert.equal((await backgroundStatus()).unlocked, false);
  // ...and the open page hands it over again on the next request, without a prompt.
  assert.equal(await openNote(1), "MARKER-selection: HbA1c 6.1 %\n— from https://portal.example/labs");
  assert.equal((await backgroundStatus()).unlocked, true);

  // Storage: only ids, times and sealed records; no plaintext, no key material.
  const stored = await storage();
  const text = JSON.stringify(stored);
  assert.ok(!text.includes("MARKER") && !text.includes("portal.example") && !text.includes("lisinopril"));
  assert.ok(!text.includes(recoveryCode.replaceAll("-", "")) && !text.includes(recoveryCode));
  const noteKeys = Object.keys(stored).filter((k) => k.startsWith("note:"));
  assert.equal(noteKeys.length, 2);
  assert.deepEqual(Object.keys(stored).filter((k) => !k.startsWith("note:")), ["manifest"]);
  for (const k of noteKeys) assert.deepEqual(Object.keys(stored[k]).sort(), ["at", "id", "sealed"]);

  // The page reloads and the background stops: both copies are gone. The new page unlocks with the passkey.
  await stopBackground();
  await ff.reload();
  await waitState(/^locked$/);
  // Locked: a selection is refused and nothing is stored.
  assert.deepEqual(await sealSelection("MARKER-while-locked", null), { error: "Locked" });
  assert.equal(Object.keys(await storage()).filter((k) => k.startsWith("note:")).length, 2);
  await ff.click("#unlock-btn");
  await waitState(/^unlocked$/);
  assert.equal(await openNote(0), "MARKER-ext-note: lower lisinopril to 5 mg");
  assert.equal(await openNote(1), "MARKER-selection: HbA1c 6.1 %\n— from https://portal.example/labs");
  await ff.screenshot(join(shots, "firefox-extension-2-opened.png"));

  // Lock wipes both; the background then holds nothing.
  await ff.click("#lock");
  await waitState(/^locked$/);
  assert.equal((await backgroundStatus()).unlocked, false);
  assert.deepEqual(await ff.errors(), []);
});

test("MV3 extension sharing a site's passkeys: a vault made on the site unlocks in the extension", { timeout: 180_000 }, async () => {
  await install(builds.firefoxSite);
  // On the site (http://localhost:PORT): sign-up with a passkey, one note sealed (in the extension's note format).
  await ff.goto(`${origin}/ff/page.html`);
  const site = await ff.eval(async () => {
    const { init, Vault } = await window.pageImport("/pkg/dist/index.js");
    await init();
    const { vault, manifest } = await Vault.create({
      passkey: { rp: { id: "localhost", name: "PHR site" }, user: { id: "site-user-1", name: "pat@example.test", displayName: "Pat" }, label: "site passkey" },
    });
    const id = crypto.randomUUID();
    const sealed = vault.seal({ text: "MARKER-from-the-site: flu shot 2026-10-02", kind: "note" }, { recordId: id, context: "medseal-notes/v1" });
    return { manifest, note: { id, at: Date.now(), sealed } };
  });
  // The extension gets the site's (public) manifest and sealed note, as it would from the site's server.
  await ff.goto(popup);
  await ff.eval((site) => chrome.storage.local.set({ manifest: site.manifest, [`note:${site.note.id}`]: site.note }), site);
  await ff.reload();
  await waitState(/^locked$/);
  await ff.click("#unlock-btn");
  await waitState(/^unlocked$/);
  assert.equal(await openNote(0), "MARKER-from-the-site: flu shot 2026-10-02");
  // One passkey in the authenticator, for the site's RP id: the same one unlocked both.
  assert.deepEqual((await ff.credentials(authenticatorId)).map((c) => c.rpId), ["localhost"]);
  assert.deepEqual(await ff.errors(), []);
});
