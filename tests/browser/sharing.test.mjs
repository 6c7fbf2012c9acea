// Sharing on the reference server (examples/server), in Chromium with
// virtual passkeys (issue #14): a patient shares 2 of 4 records with a
// clinician, who sees exactly those two; a label grant ("all my
// allergies") reaches an allergy added later, until it is revoked; a grant
// expired on the server opens nothing; a substituted key for the clinician
// is caught by the pin. Every request the patient's browser sent is
// captured: no plaintext, and the SQLite file holds none either.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { launch, addAuthenticator, openShared, startReferenceServer, waitStatus } from "./helpers.mjs";

let server, origin, browser;
const shots = process.env.MEDSEAL_SCREENSHOTS_DIR;
const sql = (query) => server.sql(query);
const dbBytes = () => server.dbBytes();

before(async () => {
  server = await startReferenceServer("medseal-sharing-");
  origin = server.origin;
  browser = await launch();
  if (shots) mkdirSync(shots, { recursive: true });
});
after(async () => {
  await browser?.close();
  server?.stop();
});

/** A browser profile with its own passkey, signed up as `user`. */
async function signUp(user, requests) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 1400 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  if (requests) context.on("request", (r) => requests.push({ method: r.method(), url: r.url(), body: r.postData() ?? "" }));
  await addAuthenticator(page);
  await page.goto(`${origin}/`);
  await waitStatus(page, /Sign in with your passkey/);
  await page.fill("#username", user);
  await page.click("#signup");
  await page.waitForSelector("#recovery:not([hidden])");
  await page.check("#recovery-ack");
  await page.click("#recovery-done");
  await page.waitForSelector("#sharing:not([hidden])");
  await page.waitForFunction(() => /\d{5} /.test(document.getElementById("my-fingerprint").textContent));
  return { context, page, errors };
}

async function addRecord(page, kind, text) {
  await page.selectOption("#kind", kind);
  await page.fill("#text", text);
  // Wait for this save's own "saved", as a patient would: the list shows the
  // record before the save has refreshed the other lists, and a save still
  // running wrote its status over the next action's (make-card, CI 2026-12-02).
  await page.evaluate(() => { document.getElementById("status").textContent = ""; });
  await page.click("#save");
  await page.waitForFunction((t) => document.getElementById("records").textContent.includes(t), text);
  await page.waitForFunction(() => /Record sealed and saved/.test(document.getElementById("status").textContent));
}

async function lookUp(page, who) {
  await page.fill("#grantee", who);
  await page.click("#lookup");
  await page.waitForSelector("#grantee-box:not([hidden])");
  return page.textContent("#grantee-fp .fingerprint");
}

const MARK = "PLAINTEXT-MARKER";

test("share 2 of 4 records; a label grant reaches later records until revoked; expiry; a substituted key; no plaintext leaves the browser", async () => {
  const requests = [];
  const clinician = await signUp("dr-lee");
  const clinicianFp = await clinician.page.textContent("#my-fingerprint");
  const patient = await signUp("pat", requests);
  await addRecord(patient.page, "allergy", `${MARK} penicillin: hives`);
  await addRecord(patient.page, "lab result", `${MARK} HbA1c 6.1%`);
  await addRecord(patient.page, "lab result", `${MARK} LDL 130 mg/dL`);
  await addRecord(patient.page, "note", `${MARK} private note`);

  // Share the two lab results: the clinician's fingerprint shown is the one the clinician sees at home.
  assert.equal(await lookUp(patient.page, "dr-lee"), clinicianFp);
  assert.match(await patient.page.textContent("#grantee-fp"), /first time here/);
  for (const text of ["HbA1c", "LDL"]) await patient.page.locator("#records tr", { hasText: text }).locator(".share-pick").check();
  await patient.page.selectOption("#share-scope", "records");
  await patient.page.click("#share");
  await waitStatus(patient.page, /Shared 2 record\(s\) with dr-lee/);
  // And every allergy, now and later.
  await patient.page.selectOption("#share-scope", "label:allergy");
  await patient.page.click("#share");
  await waitStatus(patient.page, /Shared all allergy records with dr-lee/);
  await addRecord(patient.page, "allergy", `${MARK} peanuts: anaphylaxis`);
  if (shots) await patient.page.screenshot({ path: join(shots, "sharing-patient.png"), fullPage: true });

  const labs = await openShared(clinician.page, "2 record(s)");
  assert.deepEqual(labs.sort(), [`${MARK} HbA1c 6.1%`, `${MARK} LDL 130 mg/dL`]);
  const allergies = await openShared(clinician.page, "all allergy records");
  assert.deepEqual(allergies.sort(), [`${MARK} peanuts: anaphylaxis`, `${MARK} penicillin: hives`], "the allergy added after the grant reached the clinician");
  if (shots) await clinician.page.screenshot({ path: join(shots, "sharing-clinician.png"), fullPage: true });

  // Revoke the allergy grant, then add an allergy: nothing new reaches the clinician.
  const allergyGrant = sql("SELECT id, grant_json FROM grants").find((g) => JSON.parse(g.grant_json).scope.label === "allergy");
  await patient.page.locator("#grants tr", { hasText: "all allergy records" }).getByRole("button", { name: "Revoke" }).click();
  await waitStatus(patient.page, /Stopped sharing with dr-lee/);
  await addRecord(patient.page, "allergy", `${MARK} latex: rash`);
  assert.deepEqual(sql(`SELECT count(*) AS n FROM grants WHERE id = '${allergyGrant.id}'`), [{ n: 0 }], "the server deleted the revoked grant");
  assert.deepEqual(sql(`SELECT count(*) AS n FROM grant_slots WHERE grant_id = '${allergyGrant.id}'`), [{ n: 0 }]);
  const gone = await clinician.page.evaluate(async (id) => (await fetch(`/api/shared/${id}`, { headers: { "x-medseal": "1" } })).status, allergyGrant.id);
  assert.equal(gone, 404);
  await clinician.page.click("#shared-refresh");
  await clinician.page.waitForFunction(() => !document.getElementById("incoming").textContent.includes("all allergy records"));

  // A new recovery code (a re-key): the lab share is re-issued under a new key, in place of the old one
  // (the old code's vault key wrapped the old grant key); the clinician still sees exactly the two lab results.
  const [{ id: oldLabGrant }] = sql("SELECT id FROM grants");
  await patient.page.click("#new-code");
  await waitStatus(patient.page, /New recovery code made.* 1 share\(s\) re-issued under new keys/);
  await patient.page.check("#recovery-ack");
  await patient.page.click("#recovery-done");
  await patient.page.waitForSelector("#sharing:not([hidden])");
  const reissued = sql("SELECT id, grant_json FROM grants");
  assert.equal(reissued.length, 1);
  assert.notEqual(reissued[0].id, oldLabGrant, "a new grant in place of the old");
  assert.equal(JSON.parse(reissued[0].grant_json).grantorEpoch, 2);
  const again = await openShared(clinician.page, "2 record(s)");
  assert.deepEqual(again.sort(), [`${MARK} HbA1c 6.1%`, `${MARK} LDL 130 mg/dL`]);

  // Expired (on the server's clock): the grant opens nothing.
  const labGrant = sql("SELECT id FROM grants")[0].id;
  sql(`UPDATE grants SET expires = 1 WHERE id = '${labGrant}'`);
  const expired = await clinician.page.evaluate(async (id) => {
    const r = await fetch(`/api/shared/${id}`, { headers: { "x-medseal": "1" } });
    return { status: r.status, body: await r.json() };
  }, labGrant);
  assert.equal(expired.status, 410);

  // The server substitutes another vault for dr-lee: the patient's browser pinned dr-lee's key.
  const mallory = await signUp("mallory");
  const [{ id: lee }] = sql("SELECT id FROM users WHERE username = 'dr-lee'");
  const [{ id: mal }] = sql("SELECT id FROM users WHERE username = 'mallory'");
  sql(`UPDATE manifests SET manifest = (SELECT manifest FROM manifests WHERE user_id = '${mal}') WHERE user_id = '${lee}'`);
  await patient.page.fill("#grantee", "dr-lee");
  await patient.page.click("#lookup");
  await waitStatus(patient.page, /this person's key is not the one this browser saw before.*KeyChanged/);
  assert.ok(await patient.page.locator("#grantee-box").isHidden(), "no share form for a changed key");

  // No plaintext in anything the patient's browser sent, nor in the server's database file.
  assert.ok(requests.length > 10);
  for (const r of requests) assert.ok(!r.body.includes(MARK), `plaintext in ${r.method} ${r.url}`);
  assert.ok(!dbBytes().includes(Buffer.from(MARK)), "plaintext in the SQLite file");
  for (const p of [patient, clinician, mallory]) assert.deepEqual(p.errors, []);
});

test("a SMART Health Link: made with a passcode, its QR code scans, opened in a fresh browser with no vault and by jose, a valid R4 Bundle; wrong passcodes counted; expired refused", async () => {
  const { compactDecrypt } = await import("jose");
  const { default: jsQR } = await import("jsqr");
  const { PNG } = await import("pngjs");
  const { default: fhirPkg } = await import("fhir");
  const requests = [];
  const patient = await signUp("rosa", requests);
  await addRecord(patient.page, "allergy", `${MARK} sulfa drugs: rash`);
  await addRecord(patient.page, "medication", `${MARK} metformin 500 mg twice daily`);
  await addRecord(patient.page, "allergy", `${MARK} bee stings: anaphylaxis`);
  await patient.page.selectOption("#link-scope", "kind:allergy");
  await patient.page.fill("#link-label", "Rosa's allergies, for the ER");
  await patient.page.fill("#link-passcode", "4711");
  await patient.page.click("#make-link");
  await waitStatus(patient.page, /Link made for 2 record\(s\), with a passcode/);
  const viewer = await patient.page.getAttribute("#link-url", "href");
  const shlink = viewer.slice(viewer.indexOf("#") + 1);
  assert.match(shlink, /^shlink:\/[A-Za-z0-9_-]+$/);
  const payload = JSON.parse(Buffer.from(shlink.slice("shlink:/".length), "base64url").toString());
  assert.equal(payload.flag, "P");
  assert.equal(payload.label, "Rosa's allergies, for the ER");
  assert.equal(Buffer.from(payload.key, "base64url").length, 32);

  // The QR code on screen decodes (jsQR, from a screenshot) to the viewer URL with the link.
  const png = PNG.sync.read(await patient.page.locator("#link-qr svg").screenshot());
  const decoded = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  assert.equal(decoded?.data, viewer);
  if (shots) await patient.page.screenshot({ path: join(shots, "sharing-link-qr.png"), fullPage: true });

  // A fresh browser context: no account, no passkey, no vault.
  const ctx = await browser.newContext({ viewport: { width: 1000, height: 800 } });
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const viewerRequests = [];
  ctx.on("request", (r) => viewerRequests.push({ url: r.url(), body: r.postData() ?? "" }));
  await page.goto(viewer);
  await waitStatus(page, /Enter the passcode/);
  assert.equal(await page.textContent("#label"), "Rosa's allergies, for the ER");
  await page.fill("#recipient", "City ER");
  await page.fill("#passcode", "0000");
  await page.click("#open");
  await waitStatus(page, /Wrong passcode\. 9 attempt\(s\) left/);
  await page.fill("#passcode", "4711");
  await page.click("#open");
  await waitStatus(page, /2 record\(s\) opened/);
  const shown = await page.$$eval("#records tr", (rows) => rows.map((r) => r.children[1].textContent));
  assert.deepEqual(shown.sort(), [`${MARK} bee stings: anaphylaxis`, `${MARK} sulfa drugs: rash`]);
  if (shots) await page.screenshot({ path: join(shots, "sharing-link-viewer.png"), fullPage: true });
  for (const r of viewerRequests) assert.ok(!r.url.includes(payload.key) && !r.body.includes(payload.key), `the link key left the viewer: ${r.url}`);

  // The same file, fetched and decrypted here by jose (an implementation nobody here wrote), is a valid R4 Bundle.
  const res = await fetch(payload.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ recipient: "jose test", passcode: "4711" }) });
  assert.equal(res.status, 200);
  const manifest = await res.json();
  assert.equal(manifest.files.length, 1);
  assert.equal(manifest.files[0].contentType, "application/fhir+json");
  const { plaintext, protectedHeader } = await compactDecrypt(manifest.files[0].embedded, Buffer.from(payload.key, "base64url"));
  assert.equal(protectedHeader.alg, "dir");
  assert.equal(protectedHeader.enc, "A256GCM");
  const bundle = JSON.parse(new TextDecoder().decode(plaintext));
  assert.equal(bundle.resourceType, "Bundle");
  assert.deepEqual(bundle.entry.map((e) => e.resource.resourceType), ["AllergyIntolerance", "AllergyIntolerance"]);
  const v = new fhirPkg.Fhir().validate(bundle);
  assert.deepEqual(v.messages.filter((m) => m.severity === "error"), []);

  // Wrong passcodes are counted by the server; the link's owner sees the opens.
  const attempts = await fetch(payload.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ recipient: "guesser", passcode: "1234" }) });
  assert.equal(attempts.status, 401);
  assert.equal((await attempts.json()).remainingAttempts, 8);

  // Expired (the server's clock): 404, and the viewer says so.
  const [{ link_id: linkId }] = sql("SELECT link_id FROM links");
  sql(`UPDATE links SET expires = 1 WHERE link_id = '${linkId}'`);
  await page.click("#open");
  await waitStatus(page, /expired or was revoked/);

  // Neither the link key nor the link itself was ever sent by the patient's browser, nor stored.
  for (const r of requests) {
    assert.ok(!r.url.includes(payload.key) && !r.body.includes(payload.key), `the link key in ${r.method} ${r.url}`);
    assert.ok(!r.body.includes(MARK), `plaintext in ${r.method} ${r.url}`);
  }
  const file = dbBytes();
  assert.ok(!file.includes(Buffer.from(payload.key)) && !file.includes(Buffer.from(MARK)));
  assert.deepEqual(errors, []);
  assert.deepEqual(patient.errors, []);
  await ctx.close();
});

test("an emergency card: made in the patient's browser, one QR code, read from a photo of it in a reader with no network, verified, fingerprint shown; a tampered card refused", async () => {
  const patient = await signUp("kim");
  await addRecord(patient.page, "allergy", "penicillin: hives");
  await addRecord(patient.page, "medication", "metformin 500 mg twice daily");
  await addRecord(patient.page, "condition", "type 2 diabetes");
  await addRecord(patient.page, "note", "private: not on the card");
  await patient.page.fill("#contact-name", "Sam Doe (partner)");
  await patient.page.fill("#contact-phone", "+1 555 0100");
  await patient.page.click("#make-card");
  await waitStatus(patient.page, /Emergency card made: 3 item\(s\)/);
  const fp = await patient.page.textContent("#card-fp");
  assert.match(fp, /^[A-Za-z0-9_-]{43}$/);
  const photo = join(server.dataDir, "card.png");
  await patient.page.locator("#card-qr svg").screenshot({ path: photo });
  if (shots) await patient.page.locator("#card").screenshot({ path: join(shots, "card-made.png") });

  // The reader: a fresh context, offline (every request but the page's own files is refused).
  const ctx = await browser.newContext({ viewport: { width: 1000, height: 900 } });
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${origin}/card.html`);
  await waitStatus(page, /Take or choose a photo/);
  await ctx.setOffline(true);
  await page.setInputFiles("#photo", photo);
  await waitStatus(page, /signature checks out/);
  assert.equal(await page.textContent("#fp"), fp, "the reader shows the fingerprint the patient's app shows");
  const rows = await page.$$eval("#items tr", (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  assert.deepEqual(rows.sort(), [
    ["allergy", "penicillin: hives"],
    ["condition", "type 2 diabetes"],
    ["emergency contact", "Sam Doe (partner), +1 555 0100"],
    ["medication", "metformin 500 mg twice daily"],
  ]);
  if (shots) await page.screenshot({ path: join(shots, "card-read.png"), fullPage: true });
  // One digit pair changed: refused, and nothing is shown.
  const text = await page.inputValue("#text");
  const i = 200;
  const tampered = text.slice(0, i) + (text[i] === "1" ? "2" : "1") + text.slice(i + 1);
  await page.fill("#text", tampered);
  await page.click("#read");
  await page.waitForFunction(() => document.getElementById("status").className === "error");
  assert.ok(await page.locator("#result").isHidden());
  assert.deepEqual(errors, []);
  assert.deepEqual(patient.errors, []);
  await ctx.close();
});
