// A rollback on the reference server (examples/server): a passkey is added
// and then removed (a re-key with no passkey prompt), the server is stopped
// and its SQLite file rolled back to the manifest that still names the
// removed passkey, and the same browser profile signs in again. The web app
// must refuse (StaleManifest, shown to the user), for a passkey sign-in and
// for a recovery-code sign-in alike, and must not write a manifest that
// puts the removed passkey back.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, launch, addAuthenticator } from "./helpers.mjs";

let server, origin, port, dataDir, browser;
const db = () => join(dataDir, "medseal.sqlite3");

/** Starts the server on `addr`; resolves with its origin. */
function startServer(addr) {
  const bin = process.env.MEDSEAL_SERVER_BIN ?? join(ROOT, "target", "debug", "medseal-server");
  server = spawn(bin, [], { env: { ...process.env, MEDSEAL_ADDR: addr, MEDSEAL_DATA: dataDir }, stdio: ["ignore", "pipe", "pipe"] });
  server.stderr.on("data", () => {});
  return new Promise((ok, fail) => {
    server.stdout.on("data", (d) => {
      const m = /(http:\/\/localhost:(\d+))\//.exec(String(d));
      if (m) ok(m);
    });
    server.on("exit", (c) => fail(new Error(`server exited ${c}`)));
  });
}

async function stopServer() {
  const exited = new Promise((ok) => server.once("exit", ok));
  server.kill();
  await exited;
  server = null;
}

/** sqlite3's answer to `sql` on the server's database, as rows of JSON. */
function sql(query) {
  const out = execFileSync("sqlite3", ["-json", db(), query], { encoding: "utf8" });
  return out.trim() ? JSON.parse(out) : [];
}

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "medseal-rollback-"));
  const m = await startServer("127.0.0.1:0");
  [, origin, port] = m;
  browser = await launch();
});
after(async () => {
  await browser?.close();
  server?.kill();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function waitStatus(page, re) {
  await page.waitForFunction((src) => new RegExp(src).test(document.getElementById("status").textContent), re.source, { timeout: 15000 }).catch(async (e) => {
    throw new Error(`status is "${await page.textContent("#status")}", wanted ${re}: ${e.message}`);
  });
}

async function device(requests) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  if (requests) context.on("request", (r) => requests.push({ method: r.method(), url: r.url(), body: r.postData() ?? "" }));
  const auth = await addAuthenticator(page);
  await page.goto(`${origin}/`);
  await waitStatus(page, /Sign in with your passkey/);
  return { context, page, auth, errors };
}

async function signIn(page, user) {
  await page.fill("#username", user);
  await page.click("#login");
}

test("a rolled-back manifest is refused (StaleManifest) and the removed passkey is not signed back in; the removal prompts no passkey", async () => {
  const requests = [];
  // Device A signs up (revision 1).
  const a = await device(requests);
  await a.page.fill("#username", "rosa");
  await a.page.click("#signup");
  await a.page.waitForSelector("#recovery:not([hidden])");
  const recoveryCode = await a.page.textContent("#recovery-code");
  await a.page.check("#recovery-ack");
  await a.page.click("#recovery-done");
  await a.page.waitForSelector("#app:not([hidden])");
  await a.page.selectOption("#kind", "allergy");
  await a.page.fill("#text", "latex: hives");
  await a.page.click("#save");
  await a.page.waitForFunction(() => document.getElementById("records").textContent.includes("latex: hives"));

  // Device B (its own authenticator) comes in with the recovery code and adds its passkey (revision 2).
  const b = await device();
  await b.page.fill("#username", "rosa");
  await b.page.click("summary");
  await b.page.fill("#code", recoveryCode);
  await b.page.click("#recover");
  await waitStatus(b.page, /Recovered with your recovery code/);
  await b.page.click("#add-passkey");
  await waitStatus(b.page, /Backup passkey added/);
  const { credentials: [bCred] } = await b.auth.cdp.send("WebAuthn.getCredentials", { authenticatorId: b.auth.authenticatorId });
  assert.ok(bCred, "device B holds its passkey");
  assert.deepEqual(b.errors, []);
  await b.context.close();

  // A signs in again: revision 2 follows the revision 1 it saw (through the server's history).
  const asserted = [];
  a.auth.cdp.on("WebAuthn.credentialAsserted", (e) => asserted.push(e));
  await a.page.click("#logout");
  await waitStatus(a.page, /Signed out/);
  await signIn(a.page, "rosa");
  await waitStatus(a.page, /Signed in and unlocked/);
  await a.page.waitForFunction(() => /first passkey, backup passkey/.test(document.getElementById("vault-info").textContent));
  // A control: the events are reported (Chromium may count more than one for one sign-in ceremony).
  assert.ok(asserted.length >= 1, "the sign-in asserted with A's passkey");
  const old = sql("SELECT revision, manifest FROM manifests");
  assert.equal(old.length, 1);
  assert.equal(old[0].revision, 2);
  const oldManifest = JSON.parse(old[0].manifest);
  const bId = Buffer.from(bCred.credentialId, "base64").toString("base64url");
  assert.ok(oldManifest.unlock.some((e) => e.type === "passkey" && e.credentialId === bId), "revision 2 names B's passkey");

  // A removes B's passkey: a re-key (revision 3: new epoch, new identity key) with no authenticator call.
  const countBefore = asserted.length;
  const signCount = async () => (await a.auth.cdp.send("WebAuthn.getCredentials", { authenticatorId: a.auth.authenticatorId })).credentials.map((c) => c.signCount);
  const signCountBefore = await signCount();
  await a.page.click("summary:has-text('Passkeys')");
  await a.page.locator("#passkeys li", { hasText: "backup passkey" }).getByRole("button", { name: "Remove" }).click();
  await waitStatus(a.page, /Passkey "backup passkey[^"]*" removed/);
  await a.page.waitForFunction(() => /Manifest revision 3/.test(document.getElementById("vault-info").textContent));
  assert.equal(asserted.length, countBefore, "no passkey assertion during removeUnlock");
  assert.deepEqual(await signCount(), signCountBefore, "the authenticator's sign count did not move during removeUnlock");
  const current = sql("SELECT revision, manifest FROM manifests");
  assert.equal(current[0].revision, 3);
  const m3 = JSON.parse(current[0].manifest);
  assert.ok(!m3.unlock.some((e) => e.credentialId === bId), "revision 3 no longer names B's passkey");
  assert.notEqual(m3.identityKey.publicKey, oldManifest.identityKey.publicKey, "the removal re-keyed (a new identity key)");
  assert.ok(m3.epoch > (oldManifest.epoch ?? 0), "the removal started a new key epoch");
  assert.deepEqual(sql(`SELECT cred_id FROM passkeys WHERE cred_id = '${bId}'`), [], "the server revoked B's login passkey with the write");
  await a.page.click("#logout");
  await waitStatus(a.page, /Signed out/);

  // The server is rolled back to revision 2 (B's passkey back in, the revision-3 history gone).
  await stopServer();
  const [{ user_id: userId }] = sql("SELECT user_id FROM manifests");
  execFileSync("sqlite3", [db()], {
    input: `BEGIN;
      UPDATE manifests SET revision = 2, manifest = '${old[0].manifest.replaceAll("'", "''")}' WHERE user_id = '${userId}';
      DELETE FROM manifest_history WHERE user_id = '${userId}' AND revision > 2;
      COMMIT;`,
  });
  await startServer(`127.0.0.1:${port}`);
  const rolledBackAt = requests.length;

  // The same browser profile signs in with its passkey: the app refuses, and says why.
  await a.page.reload();
  await waitStatus(a.page, /Sign in with your passkey/);
  await signIn(a.page, "rosa");
  await waitStatus(a.page, /older or different history of your vault/);
  assert.match(await a.page.textContent("#status"), /StaleManifest/);
  assert.equal(await a.page.getAttribute("#status", "class"), "error");
  assert.equal(await a.page.isHidden("#app"), true, "the vault stays locked");
  assert.ok(!(await a.page.textContent("body")).includes("latex: hives"), "no record is shown");
  // MEDSEAL_SCREENSHOTS_DIR=dir: what the patient sees (looked at when changing the app).
  if (process.env.MEDSEAL_SCREENSHOTS_DIR) {
    mkdirSync(process.env.MEDSEAL_SCREENSHOTS_DIR, { recursive: true });
    await a.page.screenshot({ path: join(process.env.MEDSEAL_SCREENSHOTS_DIR, "4-rolled-back.png"), fullPage: true });
  }

  // And with the recovery code (the rolled-back manifest still has its entry): refused too.
  await a.page.click("summary:has-text('Lost every passkey')");
  await a.page.fill("#code", recoveryCode);
  await a.page.evaluate(() => { document.getElementById("status").textContent = ""; }); // not the sign-in's warning
  await a.page.click("#recover");
  await waitStatus(a.page, /older or different history of your vault.*StaleManifest/);
  assert.equal(await a.page.isHidden("#app"), true, "the vault stays locked");

  // Nothing was written back: no manifest (that would put B's passkey back), no passkey, no record;
  // each refused sign-in was signed out again.
  const after = requests.slice(rolledBackAt);
  const writes = after.filter((r) => r.method !== "GET" && /\/api\/(manifest|passkeys|records)/.test(r.url));
  assert.deepEqual(writes, [], "no write after the rollback");
  assert.equal(after.filter((r) => r.method === "POST" && r.url.endsWith("/api/logout")).length, 2, "both refused sign-ins signed out");
  const stored = sql("SELECT revision, manifest FROM manifests");
  assert.equal(stored[0].revision, 2, "the server still holds only the rolled-back revision");
  assert.deepEqual(sql("SELECT revision FROM manifest_history ORDER BY revision").map((r) => r.revision), [1, 2]);
  assert.deepEqual(a.errors, []);
  await a.context.close();
});
