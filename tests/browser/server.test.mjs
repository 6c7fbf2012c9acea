// The whole journey on the reference server (examples/server: axum,
// webauthn-rs, SQLite) in headless Chromium with virtual PRF authenticators,
// recording every request the pages send. Proves: no record plaintext, PRF
// output or recovery code ever leaves the browser, and the SQLite file holds
// none either; users cannot touch each other's data; stale manifest writes
// are refused; a second device joins through the recovery code and its own
// passkey and sees the same records.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { launch, addAuthenticator } from "./helpers.mjs";

const repo = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const shots = process.env.MEDSEAL_SCREENSHOTS_DIR;
let server, origin, dataDir, browser;
const requests = [];
const prfOutputs = new Set();

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "medseal-server-"));
  // The server serves web/ and pkg/ from the checkout it was built in (CARGO_MANIFEST_DIR):
  // MEDSEAL_SERVER_BIN names another build when target/ is shared between checkouts.
  const bin = process.env.MEDSEAL_SERVER_BIN ?? join(repo, "target", "debug", "medseal-server");
  server = spawn(bin, [], { env: { ...process.env, MEDSEAL_ADDR: "127.0.0.1:0", MEDSEAL_DATA: dataDir }, stdio: ["ignore", "pipe", "pipe"] });
  server.stderr.on("data", () => {});
  origin = await new Promise((ok, fail) => {
    server.stdout.on("data", (d) => {
      const m = /(http:\/\/localhost:\d+)\//.exec(String(d));
      if (m) ok(m[1]);
    });
    server.on("exit", (c) => fail(new Error(`server exited ${c}`)));
  });
  browser = await launch();
  if (shots) mkdirSync(shots, { recursive: true });
});
after(async () => {
  await browser?.close();
  server?.kill();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

// Inside the page, before medseal strips and wipes them: copy every PRF output the browser returns.
const CAPTURE_PRF = () => {
  const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");
  window.__prf = [];
  for (const name of ["create", "get"]) {
    const orig = navigator.credentials[name].bind(navigator.credentials);
    navigator.credentials[name] = async (opts) => {
      const cred = await orig(opts);
      const first = cred?.getClientExtensionResults?.().prf?.results?.first;
      if (first) window.__prf.push(hex(first instanceof ArrayBuffer ? first : first.buffer.slice(first.byteOffset, first.byteOffset + first.byteLength)));
      return cred;
    };
  }
};

async function device(name) {
  const context = await browser.newContext();
  await context.addInitScript(CAPTURE_PRF);
  context.on("request", (r) => requests.push({ device: name, url: r.url(), headers: r.headers(), body: r.postData() ?? "" }));
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const auth = await addAuthenticator(page);
  await page.goto(`${origin}/`);
  await waitStatus(page, /Sign in with your passkey/);
  return { context, page, auth, errors };
}

async function waitStatus(page, re) {
  await page.waitForFunction((src) => new RegExp(src).test(document.getElementById("status").textContent), re.source, { timeout: 15000 }).catch(async (e) => {
    throw new Error(`status is "${await page.textContent("#status")}", wanted ${re}: ${e.message}`);
  });
}

async function collectPrf(page) {
  for (const h of await page.evaluate(() => window.__prf)) prfOutputs.add(h);
}

async function addRecord(page, kind, text) {
  await page.selectOption("#kind", kind);
  await page.fill("#text", text);
  await page.click("#save");
  await page.waitForFunction((t) => document.getElementById("records").textContent.includes(t), text);
}

const MARKERS = {
  allergy: "MARKER-ALLERGY-penicillin-anaphylaxis",
  medication: "MARKER-MED-metformin-500mg",
  "lab result": "MARKER-LAB-HbA1c-6.1",
  note: "MARKER-NOTE-follow-up-cardiology",
};
let recoveryCode;

test("the whole journey, with every request recorded", async () => {
  // Sign up: one ceremony registers the login passkey and creates the vault.
  const a = await device("alice-laptop");
  await a.page.fill("#username", "alice");
  await a.page.click("#signup");
  await a.page.waitForSelector("#recovery:not([hidden])");
  recoveryCode = await a.page.textContent("#recovery-code");
  assert.match(recoveryCode, /^[0-9A-Z]{4}(-[0-9A-Z]{4}){7}$/);
  assert.equal(await a.page.isDisabled("#recovery-done"), true, "continue only after confirming");
  if (shots) await a.page.screenshot({ path: join(shots, "1-recovery-code.png"), fullPage: true });
  await a.page.check("#recovery-ack");
  await a.page.click("#recovery-done");
  await a.page.waitForSelector("#app:not([hidden])");

  for (const [kind, text] of Object.entries(MARKERS)) await addRecord(a.page, kind, text);
  // Edit one record, delete another.
  const rows = a.page.locator("#records tr");
  await rows.filter({ hasText: MARKERS.note }).getByRole("button", { name: "Edit" }).click();
  await a.page.fill("#text", `${MARKERS.note}-edited`);
  await a.page.click("#save");
  await a.page.waitForFunction((t) => document.getElementById("records").textContent.includes(t), `${MARKERS.note}-edited`);
  await addRecord(a.page, "note", "MARKER-TEMP-to-delete");
  await rows.filter({ hasText: "MARKER-TEMP-to-delete" }).getByRole("button", { name: "Delete" }).click();
  await a.page.waitForFunction(() => !document.getElementById("records").textContent.includes("MARKER-TEMP-to-delete"));
  if (shots) await a.page.screenshot({ path: join(shots, "2-records.png"), fullPage: true });
  await collectPrf(a.page);

  // Reload: one passkey gesture signs in and unlocks.
  await a.page.reload();
  await waitStatus(a.page, /Sign in with your passkey/);
  if (shots) await a.page.screenshot({ path: join(shots, "0-sign-in.png"), fullPage: true });
  await a.page.fill("#username", "alice");
  await a.page.click("#login");
  await waitStatus(a.page, /Signed in and unlocked with one passkey gesture/);
  await a.page.waitForFunction((t) => document.getElementById("records").textContent.includes(t), MARKERS.allergy);
  for (const t of [MARKERS.allergy, MARKERS.medication, MARKERS["lab result"], `${MARKERS.note}-edited`]) {
    assert.ok((await a.page.textContent("#records")).includes(t), t);
  }
  await collectPrf(a.page);

  // A second device: its own authenticator, in through the recovery code, then its own passkey.
  const b = await device("alice-phone");
  await b.page.fill("#username", "alice");
  await b.page.click("summary");
  await b.page.fill("#code", recoveryCode.toLowerCase().replaceAll("-", " "));
  await b.page.click("#recover");
  await waitStatus(b.page, /Recovered with your recovery code/);
  await b.page.click("#add-passkey");
  await waitStatus(b.page, /Backup passkey added/);
  await b.page.click("#logout");
  await waitStatus(b.page, /Signed out/);
  await b.page.fill("#username", "alice");
  await b.page.click("#login");
  await waitStatus(b.page, /Signed in and unlocked/);
  await b.page.waitForFunction((t) => document.getElementById("records").textContent.includes(t), MARKERS.medication);
  if (shots) await b.page.screenshot({ path: join(shots, "3-second-device.png"), fullPage: true });
  await collectPrf(b.page);

  // The first device sees the vault's new manifest (two passkeys) and still unlocks.
  await a.page.click("#logout");
  await a.page.fill("#username", "alice");
  await a.page.click("#login");
  await waitStatus(a.page, /Signed in and unlocked/);
  // The status is set before the records and vault summary finish rendering.
  await a.page.waitForFunction(() => /first passkey, backup passkey/.test(document.getElementById("vault-info").textContent));
  await collectPrf(a.page);

  // Lock while a save is still refreshing (the list is shown, the sharing
  // list not yet fetched): the save must not write "Record sealed and
  // saved." over "Locked" when it ends (it did: Firefox CI, 2026-12-02).
  let release;
  const held = new Promise((ok) => (release = ok));
  const passed = [];
  await a.page.route("**/api/grants", (route) => {
    passed.push(held.then(() => route.continue()));
  });
  await addRecord(a.page, "note", "MARKER-SAVED-WHILE-LOCKING");
  await a.page.click("#lock");
  await waitStatus(a.page, /Locked/);
  release();
  await Promise.all(passed);
  await a.page.unroute("**/api/grants");
  await a.page.waitForTimeout(500);
  assert.match(await a.page.textContent("#status"), /Locked/, "the save's end does not overwrite the lock");
  await a.page.fill("#username", "alice");
  await a.page.click("#login");
  await waitStatus(a.page, /Signed in and unlocked/);

  // Lock wipes keys and hides records.
  await a.page.click("#lock");
  await waitStatus(a.page, /Locked/);
  assert.ok(!(await a.page.textContent("body")).includes(MARKERS.allergy));

  assert.deepEqual([...a.errors, ...b.errors], []);
  await a.context.close();
  await b.context.close();
});

test("no request carried plaintext, a PRF output or the recovery code; the SQLite file holds none", () => {
  assert.ok(requests.length > 20, `only ${requests.length} requests recorded`);
  assert.ok(prfOutputs.size >= 2, `only ${prfOutputs.size} distinct PRF outputs captured (one per device passkey)`);
  const needles = [...Object.values(MARKERS), "MARKER-"];
  for (const hex of prfOutputs) {
    const bytes = Buffer.from(hex, "hex");
    needles.push(hex, bytes.toString("base64"), bytes.toString("base64url"), bytes.toString("base64").replace(/=+$/, ""));
  }
  needles.push(recoveryCode, recoveryCode.replaceAll("-", ""), recoveryCode.toLowerCase(), recoveryCode.toLowerCase().replaceAll("-", " "));
  for (const r of requests) {
    const text = `${r.url}\n${JSON.stringify(r.headers)}\n${r.body}`;
    for (const n of needles) assert.ok(!text.includes(n), `request ${r.url} from ${r.device} contains a secret or plaintext (${n.slice(0, 12)}…)`);
  }
  const files = readdirSync(dataDir).filter((f) => f.startsWith("medseal.sqlite3"));
  assert.ok(files.includes("medseal.sqlite3"));
  for (const f of files) {
    const bytes = readFileSync(join(dataDir, f));
    for (const n of needles) assert.ok(!bytes.includes(Buffer.from(n)), `${f} contains ${n.slice(0, 12)}…`);
  }
});

test("users cannot read, list, overwrite or delete each other's records or manifest; stale manifest writes are refused", async () => {
  const m = await device("mallory");
  await m.page.fill("#username", "mallory");
  await m.page.click("#signup");
  await m.page.waitForSelector("#recovery:not([hidden])");
  const aliceIds = [...new Set(requests.filter((r) => r.device.startsWith("alice") && /\/api\/records\/rec-/.test(r.url)).map((r) => new URL(r.url).pathname.split("/").pop()))];
  assert.ok(aliceIds.length >= 4);
  const res = await m.page.evaluate(async (ids) => {
    const h = { "content-type": "application/json", "x-medseal": "1" };
    const out = {};
    out.read = (await fetch(`/api/records/${ids[0]}`, { headers: h })).status;
    out.list = (await (await fetch("/api/records", { headers: h })).json()).records.length;
    out.del = (await fetch(`/api/records/${ids[0]}`, { method: "DELETE", headers: h })).status;
    // A well-formed sealed record (the server checks the form) under one of Alice's ids lands in Mallory's own records.
    const ms = await import("/pkg/dist/index.js");
    await ms.init();
    const { vault } = await ms.Vault.create({ prf: { credentialId: new Uint8Array([1]), prfSalt: ms.webauthn.newPrfSalt(), prfOutput: crypto.getRandomValues(new Uint8Array(32)) } });
    const sealed = vault.seal({ kind: "note", text: "overwrite attempt" }, { recordId: ids[1] });
    vault.lock();
    out.put = (await fetch(`/api/records/${ids[1]}`, { method: "PUT", headers: h, body: JSON.stringify({ sealed }) })).status;
    const mine = await (await fetch("/api/manifest", { headers: h })).json();
    out.manifestIsMine = mine.manifest.revision === 1 && mine.revision === 1;
    out.stale = (await fetch("/api/manifest", { method: "PUT", headers: h, body: JSON.stringify({ replaces: 0, manifest: mine.manifest }) })).status;
    // A manifest not signed by its identity key, and another vault's (validly signed) manifest, are refused.
    out.forged = (await fetch("/api/manifest", { method: "PUT", headers: h, body: JSON.stringify({ replaces: 1, manifest: { ...mine.manifest, revision: 2 } }) })).status;
    const alice = await (await fetch("/api/login/start", { method: "POST", headers: h, body: JSON.stringify({ username: "alice" }) })).json();
    out.foreign = (await fetch("/api/manifest", { method: "PUT", headers: h, body: JSON.stringify({ replaces: 1, manifest: alice.manifest }) })).status;
    out.noHeader = (await fetch("/api/records")).status;
    out.notSealed = (await fetch("/api/records/x1", { method: "PUT", headers: h, body: JSON.stringify({ sealed: "plaintext diagnosis" }) })).status;
    return out;
  }, aliceIds);
  assert.deepEqual(res, { read: 404, list: 0, del: 404, put: 200, manifestIsMine: true, stale: 409, forged: 400, foreign: 400, noHeader: 403, notSealed: 400 });
  await m.context.close();

  // Alice's records are untouched: a fresh device of hers still opens them all.
  const a = await device("alice-check");
  await a.page.fill("#username", "alice");
  await a.page.click("summary");
  await a.page.fill("#code", recoveryCode);
  await a.page.click("#recover");
  await waitStatus(a.page, /Recovered/);
  await a.page.waitForFunction((t) => document.getElementById("records").textContent.includes(t), MARKERS.medication);
  const text = await a.page.textContent("#records");
  assert.ok(!text.includes("cannot open"), text);
  assert.ok(text.includes(MARKERS.allergy) && text.includes(MARKERS.medication));
  await a.context.close();
});
