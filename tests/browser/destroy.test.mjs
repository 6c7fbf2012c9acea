// Deleting an account through the demo (GDPR art. 17, docs/FORMAT.md
// "Deletion"), in Chromium with a virtual PRF authenticator against the
// real reference server: sign up, seal a record, type DELETE and delete.
// The vault signs the destroy request and locks; the server deletes every
// row and answers its signed tombstone, which the page checks and shows;
// the page asks the password manager to forget the passkey (WebAuthn
// signal API). Afterwards the same passkey and the recovery code sign in
// to nothing, the tombstone verifies under the server's log key (here, in
// Node, with the package), and the database files hold no byte of the
// record's ciphertext. MEDSEAL_SCREENSHOTS_DIR=dir keeps screenshots
// (docs/screenshots/delete-account*.png are copies).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { launch, addAuthenticator, startReferenceServer, waitStatus } from "./helpers.mjs";
import { init, tombstones, ErrorCode, MedsealError } from "../../pkg/dist/node.js";

let server, browser;
const shots = process.env.MEDSEAL_SCREENSHOTS_DIR;

before(async () => {
  await init();
  server = await startReferenceServer("medseal-destroy-");
  browser = await launch();
  if (shots) mkdirSync(shots, { recursive: true });
});
after(async () => {
  await browser?.close();
  server?.stop();
});

test("Delete my account: the passkey and the code sign in to nothing, the tombstone verifies, no ciphertext is left", async () => {
  const context = await browser.newContext({ viewport: { width: 1100, height: 1000 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const { cdp, authenticatorId } = await addAuthenticator(page);
  await page.goto(`${server.origin}/`);
  await waitStatus(page, /Sign in with your passkey/);

  await page.fill("#username", "rosa");
  await page.click("#signup");
  await page.waitForSelector("#recovery:not([hidden])");
  const recoveryCode = (await page.textContent("#recovery-code")).trim();
  await page.check("#recovery-ack");
  await page.click("#recovery-done");
  await page.waitForSelector("#app:not([hidden])");
  await page.selectOption("#kind", "allergy");
  await page.fill("#text", "penicillin: hives");
  await page.click("#save");
  await waitStatus(page, /Record sealed and saved/);

  const [{ sealed }] = server.sql("SELECT sealed FROM records");
  const piece = Buffer.from(sealed.slice(40, 88));
  const manifest = JSON.parse(server.sql("SELECT manifest FROM manifests")[0].manifest);
  const wrappedKey = Buffer.from(manifest.unlock[0].wrappedVaultKey);
  assert.ok(server.dbBytes().includes(piece), "the record's ciphertext is in the database before");
  const logKey = await page.evaluate(async () => (await fetch("/api/log/key", { headers: { "x-medseal": "1" } })).json());
  const before = (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials;
  assert.equal(before.length, 1);

  // The button stays disabled until DELETE is typed exactly.
  await page.locator("#delete-account").scrollIntoViewIfNeeded();
  assert.equal(await page.isDisabled("#delete-go"), true);
  await page.fill("#delete-confirm", "delete");
  assert.equal(await page.isDisabled("#delete-go"), true);
  await page.fill("#delete-confirm", "DELETE");
  assert.equal(await page.isDisabled("#delete-go"), false);
  const text = await page.textContent("#delete-account");
  assert.match(text, /cannot be undone/);
  assert.match(text, /destroy your recovery code/);
  if (shots) await page.locator("#delete-account").screenshot({ path: join(shots, "delete-account-confirm.png") });

  await page.click("#delete-go");
  await waitStatus(page, /Your account is deleted/);
  assert.equal(await page.isVisible("#deleted"), true);
  assert.equal(await page.isHidden("#app"), true);
  const note = await page.textContent("#tombstone");
  if (shots) await page.screenshot({ path: join(shots, "delete-account.png"), fullPage: false });

  // The tombstone verifies under the server's log key, and names this vault; an edited copy does not.
  const t = tombstones.verify(note, { keyName: logKey.name, key: logKey.key });
  assert.equal(t.vaultId, manifest.vaultId);
  assert.equal(t.identity, manifest.identityKey.publicKey);
  assert.equal(t.origin, server.origin);
  assert.ok(!note.includes("rosa"), "no name in it");
  const edited = note.replace(/deleted (\d+)/, (_, n) => `deleted ${Number(n) + 1}`);
  assert.throws(() => tombstones.verify(edited, { keyName: logKey.name, key: logKey.key }), (e) => e instanceof MedsealError && e.code === ErrorCode.TombstoneInvalid);
  const published = await (await fetch(`${server.origin}/api/tombstones/${manifest.vaultId}`, { headers: { "x-medseal": "1" } })).json();
  assert.equal(published.tombstone, note);

  // The page asked the password manager to forget the passkey (Chromium's signal API).
  const signalled = await page.textContent("#deleted-passkeys");
  const after = (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials;
  assert.match(signalled, /told to forget this site's passkey/);
  assert.equal(after.length, 0, "the authenticator dropped the passkey");

  // The same passkey signs in to nothing: put it back (a password manager that ignored the signal).
  await cdp.send("WebAuthn.addCredential", { authenticatorId, credential: before[0] });
  await page.fill("#username", "rosa");
  await page.click("#login");
  await waitStatus(page, /unknown username/);
  assert.equal(await page.isHidden("#app"), true);
  // Nor does the recovery code.
  await page.click("#auth details summary");
  await page.fill("#code", recoveryCode);
  await page.click("#recover");
  await waitStatus(page, /unknown username/);
  // A request with the old session cookie answers 401.
  const me = await page.evaluate(async () => (await fetch("/api/me", { headers: { "x-medseal": "1" } })).status);
  assert.equal(me, 401);

  // Nothing of it in the database but the tombstone, and no byte of its ciphertext in the files.
  assert.deepEqual(server.sql("SELECT COUNT(*) AS n FROM users"), [{ n: 0 }]);
  assert.deepEqual(server.sql("SELECT COUNT(*) AS n FROM records"), [{ n: 0 }]);
  assert.deepEqual(server.sql("SELECT COUNT(*) AS n FROM manifest_history"), [{ n: 0 }]);
  assert.deepEqual(server.sql("SELECT COUNT(*) AS n FROM tombstones"), [{ n: 1 }]);
  const bytes = server.dbBytes();
  assert.equal(bytes.includes(piece), false, "the record's ciphertext is gone from the files");
  assert.equal(bytes.includes(wrappedKey), false, "the wrapped vault key is gone from the files");
  assert.deepEqual(errors, []);
  await context.close();
});
