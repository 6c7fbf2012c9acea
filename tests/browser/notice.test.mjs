// Security notices through the demo (issue #17, FORMAT.md §18): the
// operator makes a key and signs a notice offline with `medseal-notice`;
// the reference server relays it; the app, pinning the operator's key,
// shows it with its action ("Re-key now", which re-keys the vault). A
// notice the server forged (edited after signing, or signed by a key of
// its own) is ignored: nothing is shown.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, launch, addAuthenticator, startReferenceServer, waitStatus } from "./helpers.mjs";

let server, browser, dir, noticeFile;
const shots = process.env.MEDSEAL_SCREENSHOTS_DIR;
const tool = join(ROOT, "target", "debug", "medseal-notice");
const notice = (...args) => execFileSync(tool, args, { encoding: "utf8" });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "medseal-notice-test-"));
  noticeFile = join(dir, "notice.txt");
  process.env.MEDSEAL_NOTICE_FILE = noticeFile;
  try {
    server = await startReferenceServer("medseal-notice-");
  } finally {
    delete process.env.MEDSEAL_NOTICE_FILE;
  }
  browser = await launch();
  if (shots) mkdirSync(shots, { recursive: true });
});
after(async () => {
  await browser?.close();
  server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("a signed notice is shown with its action; a forged one is ignored", async () => {
  const pin = JSON.parse(notice("keygen", "notices.phr.example", join(dir, "operator.key")));
  const signed = notice("sign", "notices.phr.example", join(dir, "operator.key"), "2026-12-incident", "critical", "rekey", "14",
    "We had a security incident", "Someone copied our database. Your records stay encrypted; start a new key now.");
  writeFileSync(noticeFile, signed);

  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  // The app pins the operator's key in its own code (examples/server/web/notice-keys.js).
  await context.route("**/notice-keys.js", (route) => route.fulfill({ contentType: "text/javascript", body: `export const OPERATOR_KEYS = ${JSON.stringify([pin])};` }));
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await addAuthenticator(page);
  await page.goto(`${server.origin}/`);
  await waitStatus(page, /Sign in with your passkey/);
  await page.fill("#username", "noor");
  await page.click("#signup");
  await page.waitForSelector("#recovery:not([hidden])");
  await page.check("#recovery-ack");
  await page.click("#recovery-done");
  await page.waitForSelector("#notice:not([hidden])");
  assert.equal(await page.textContent("#notice-title"), "We had a security incident");
  assert.equal(await page.textContent("#notice-action"), "Re-key now");
  if (shots) await page.screenshot({ path: join(shots, "notice.png") });

  // The action re-keys the vault: the stored manifest's epoch moves on.
  const epochBefore = JSON.parse(server.sql("SELECT manifest FROM manifests")[0].manifest).epoch;
  await page.click("#notice-action");
  await waitStatus(page, /Re-keyed/);
  const epochAfter = JSON.parse(server.sql("SELECT manifest FROM manifests")[0].manifest).epoch;
  assert.equal(epochAfter, epochBefore + 1);

  // The server edits the notice (another action, another text): ignored, nothing shown.
  for (const forged of [
    signed.replace("action rekey", "action update-app"),
    signed.replace("start a new key now", "call 555-0100 and read us your recovery code"),
  ]) {
    writeFileSync(noticeFile, forged);
    await page.click("#lock");
    await page.fill("#username", "noor");
    await page.click("#login");
    await waitStatus(page, /Signed in and unlocked/);
    await page.waitForFunction(() => document.getElementById("notice").dataset.ignored === "NoticeInvalid");
    assert.equal(await page.isHidden("#notice"), true, "a forged notice is not shown");
    await page.evaluate(() => delete document.getElementById("notice").dataset.ignored);
  }
  // A notice signed by a key the server made itself: ignored too.
  notice("keygen", "notices.phr.example", join(dir, "server-made.key"));
  writeFileSync(noticeFile, notice("sign", "notices.phr.example", join(dir, "server-made.key"), "fake", "critical", "update-app", "1", "Update now", "Install our new app."));
  await page.click("#lock");
  await page.fill("#username", "noor");
  await page.click("#login");
  await waitStatus(page, /Signed in and unlocked/);
  await page.waitForFunction(() => document.getElementById("notice").dataset.ignored === "NoticeInvalid");
  assert.equal(await page.isHidden("#notice"), true);
  assert.ok(readFileSync(join(dir, "operator.key"), "utf8").trim().length === 64);
  assert.deepEqual(errors, []);
  await context.close();
});
