// The vault log on the reference server, in Chromium with virtual passkeys
// (issue #15): a patient shares lab results with a clinician, who opens
// them; the patient's Activity page lists each open with the clinician's
// name and time, attested by the server and verified by this browser; the
// clinician opening the records over and over raises the burst alert; a
// recovery-code sign-in on another device raises the alert on the
// patient's first device; the server's copy of the log is then cut short
// and the patient's browser refuses it. The log holds no plaintext.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { launch, addAuthenticator, openShared, startReferenceServer, waitStatus } from "./helpers.mjs";

let server, origin, browser;
const shots = process.env.MEDSEAL_SCREENSHOTS_DIR;
const sql = (query) => server.sql(query);
const dbBytes = () => server.dbBytes();

before(async () => {
  server = await startReferenceServer("medseal-activity-");
  origin = server.origin;
  browser = await launch();
  if (shots) mkdirSync(shots, { recursive: true });
});
after(async () => {
  await browser?.close();
  server?.stop();
});

async function device() {
  const context = await browser.newContext({ viewport: { width: 1200, height: 1500 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await addAuthenticator(page);
  await page.goto(`${origin}/`);
  await waitStatus(page, /Sign in with your passkey/);
  return { context, page, errors };
}

async function signUp(user) {
  const d = await device();
  await d.page.fill("#username", user);
  await d.page.click("#signup");
  await d.page.waitForSelector("#recovery:not([hidden])");
  d.recoveryCode = await d.page.textContent("#recovery-code");
  await d.page.check("#recovery-ack");
  await d.page.click("#recovery-done");
  await d.page.waitForSelector("#activity:not([hidden])");
  return d;
}

async function addRecord(page, kind, text) {
  await page.selectOption("#kind", kind);
  await page.fill("#text", text);
  await page.click("#save");
  await page.waitForFunction((t) => document.getElementById("records").textContent.includes(t), text);
}

/** The Activity page's rows as [when, who, what, purpose, recorded by]. */
async function activity(page) {
  await page.click("#activity-refresh");
  await page.waitForFunction(() => /Verified by this device/.test(document.getElementById("activity-summary").textContent), null, { timeout: 20000 }).catch(async (e) => {
    throw new Error(`the Activity page did not refresh; status "${await page.textContent("#status")}": ${e.message}`);
  });
  return page.$$eval("#activity-rows tr", (rows) => rows.map((r) => [...r.children].map((c) => c.textContent)));
}

const MARK = "PLAINTEXT-MARKER";

test("the Activity page lists a clinician's opens; a burst and a recovery-code sign-in raise alerts; a cut log is refused", async () => {
  const clinician = await signUp("dr-kim");
  const patient = await signUp("sam");
  const labs = ["HbA1c 6.1%", "LDL 130 mg/dL", "TSH 2.1", "eGFR 88", "ALT 24", "Hb 13.9", "Na 139", "K 4.2"];
  for (const t of labs) await addRecord(patient.page, "lab result", `${MARK} ${t}`);

  // All lab results, to the clinician.
  await patient.page.fill("#grantee", "dr-kim");
  await patient.page.click("#lookup");
  await patient.page.waitForSelector("#grantee-box:not([hidden])");
  await patient.page.selectOption("#share-scope", "label:lab result");
  await patient.page.click("#share");
  await waitStatus(patient.page, /Shared all lab result records with dr-kim/);
  const before = Math.floor(Date.now() / 1000);

  // The clinician opens them once: the patient sees that open, by name, attested by the server.
  assert.equal((await openShared(clinician.page, "sam")).length, labs.length);
  let rows = await activity(patient.page);
  const opens = rows.filter((r) => r[1] === "dr-kim" && /opened 8 shared record/.test(r[2]));
  assert.equal(opens.length, 1, JSON.stringify(rows));
  assert.equal(opens[0][4], "server (signed)");
  assert.match(opens[0][3], /patient's request/);
  const shownTime = Date.parse(opens[0][0]);
  assert.ok(Number.isFinite(shownTime) || opens[0][0].length > 0, "a time is shown");
  assert.ok(rows.some((r) => r[1] === "dr-kim" && /shared all lab result records/.test(r[2])), "the grant itself is listed");
  assert.ok(rows.some((r) => /unlocked with a passkey/.test(r[2]) && /Chrome on Linux/.test(r[1])), "the sign-up's unlock, with the device label");
  assert.equal(await patient.page.locator("#alerts").isHidden(), true, "one open raises nothing");

  // Opened again and again: 24 records within minutes (the rule: more than 20 in 10 minutes).
  await openShared(clinician.page, "sam");
  await openShared(clinician.page, "sam");
  rows = await activity(patient.page);
  assert.equal(rows.filter((r) => r[1] === "dr-kim" && /opened 8 shared record/.test(r[2])).length, 3);
  await patient.page.waitForSelector("#alerts li[data-rule=burst]");
  assert.match(await patient.page.textContent("#alerts li[data-rule=burst]"), /dr-kim opened 24 of your records/);
  assert.equal(await patient.page.locator("#alerts li[data-rule=burst] button").textContent(), "Stop sharing with them");

  // Filter by person: only the clinician's lines.
  await patient.page.selectOption("#activity-who", "dr-kim");
  const only = await patient.page.$$eval("#activity-rows tr", (rs) => rs.map((r) => r.children[1].textContent));
  assert.ok(only.length >= 4 && only.every((w) => w === "dr-kim"), JSON.stringify(only));
  // The CSV export holds the same lines.
  const [download] = await Promise.all([patient.page.waitForEvent("download"), patient.page.click("#activity-csv")]);
  const csv = readFileSync(await download.path(), "utf8");
  assert.match(csv, /^"date","recipient","what","purpose"/);
  assert.equal(csv.split("\r\n").filter((l) => l.includes('"dr-kim","opened 8 shared record(s)"')).length, 3);
  if (shots) {
    await patient.page.selectOption("#activity-who", "");
    await patient.page.locator("#activity").screenshot({ path: join(shots, "activity.png") });
  }

  // Another device comes in with the recovery code.
  const other = await device();
  await other.page.fill("#username", "sam");
  await other.page.click("summary");
  await other.page.fill("#code", patient.recoveryCode);
  await other.page.click("#recover");
  await waitStatus(other.page, /Recovered with your recovery code/);
  assert.equal(await other.page.locator("#alerts li[data-rule=recovery-used]").count(), 0, "the device that used the code is not alarmed by itself");
  await other.context.close();

  // A recovery sign-in ends the account's other sessions: the patient's first device signs in again with its
  // passkey and sees it.
  await patient.page.click("#lock");
  await patient.page.fill("#username", "sam");
  await patient.page.click("#login");
  await waitStatus(patient.page, /Signed in and unlocked/);
  await patient.page.selectOption("#activity-who", "");
  rows = await activity(patient.page);
  assert.ok(rows.some((r) => /recovery-code sign-in succeeded/.test(r[2]) && r[4] === "server (signed)"), JSON.stringify(rows.slice(0, 5)));
  assert.ok(rows.some((r) => /unlocked with the recovery code/.test(r[2])));
  await patient.page.waitForSelector("#alerts li[data-rule=recovery-used]");
  // The server saw the recovery sign-in and the other device wrote its unlock: one alert for the two.
  assert.equal(await patient.page.locator("#alerts li[data-rule=recovery-used]").count(), 1);
  assert.equal(await patient.page.locator("#alerts li[data-rule=recovery-used] button").textContent(), "Make a new recovery code");
  if (shots) {
    await patient.page.evaluate(() => window.scrollTo(0, 0));
    await patient.page.screenshot({ path: join(shots, "activity-alert.png"), clip: { x: 0, y: 0, width: 1200, height: 700 } });
  }

  // Dismissed, the alerts stay away until something new happens.
  await patient.page.getByRole("button", { name: "These were me / dismiss" }).click();
  await patient.page.waitForSelector("#alerts", { state: "hidden" });

  // The log holds ids, names and times, never a record's contents.
  assert.ok(!dbBytes().includes(Buffer.from(MARK)), "no plaintext in the database");
  const leaves = sql("SELECT hex(leaf) AS h FROM log_leaves").map((r) => Buffer.from(r.h, "hex"));
  assert.ok(leaves.length > 10 && leaves.every((l) => !l.includes(Buffer.from(MARK))));

  // The server cuts its log short (the last three entries dropped): the patient's browser refuses it.
  const uid = sql("SELECT id FROM users WHERE username = 'sam'")[0].id;
  const size = sql(`SELECT COUNT(*) AS n FROM log_leaves WHERE user_id = '${uid}'`)[0].n;
  sql(`DELETE FROM log_leaves WHERE user_id = '${uid}' AND n >= ${size - 3}`);
  sql(`DELETE FROM log_hashes WHERE user_id = '${uid}' AND (idx + 1) * (1 << level) > ${size - 3}`);
  await patient.page.click("#activity-refresh");
  await waitStatus(patient.page, /record of who accessed your vault was changed, cut short/);
  assert.match(await patient.page.textContent("#status"), /LogRolledBack/);
  // Signing in again: the records are there, under a standing warning about the log.
  await patient.page.click("#lock");
  await patient.page.fill("#username", "sam");
  await patient.page.click("#login");
  await waitStatus(patient.page, /Signed in and unlocked/);
  await patient.page.waitForSelector("#alerts[data-rule=log-tampered]:not([hidden])");
  assert.match(await patient.page.textContent("#alerts"), /LogRolledBack/);
  assert.equal(await patient.page.locator("#records tr").count(), labs.length);
  for (const d of [patient, clinician]) assert.deepEqual(d.errors, []);
  void before;
});
