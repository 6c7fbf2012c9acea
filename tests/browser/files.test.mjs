// Large files through the demo on the reference server, in Chromium with a
// virtual passkey (issue #16): a 50 MB PDF is sealed in the page and
// uploaded with a progress bar; after a reload and a passkey sign-in its
// first page is drawn through medseal's ranged reader and HTTP Range
// requests, fetching a small part of the ciphertext (counted on the wire);
// the download's hash equals the original's. No request and nothing on the
// server's disk holds the plaintext.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { launch, addAuthenticator, startReferenceServer, waitStatus } from "./helpers.mjs";
import { writePdf } from "./fixtures/pdf.mjs";

let server, browser, dir;
const shots = process.env.MEDSEAL_SCREENSHOTS_DIR;
const MARK = "PLAINTEXT-MARKER-files";

before(async () => {
  server = await startReferenceServer("medseal-files-");
  browser = await launch();
  dir = mkdtempSync(join(tmpdir(), "medseal-files-test-"));
  if (shots) mkdirSync(shots, { recursive: true });
});
after(async () => {
  await browser?.close();
  server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");

/** Every file under `d`, recursively. */
function filesUnder(d) {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(d, e.name)) : [join(d, e.name)]));
}

test("a 50 MB PDF: sealed and uploaded with progress, page 1 drawn from a few ranges, downloaded intact", async () => {
  const pdfPath = join(dir, "discharge-summary.pdf");
  const size = await writePdf(pdfPath, { fillerBytes: 50 * 1024 * 1024, title: "Discharge summary", marker: MARK });
  const original = readFileSync(pdfPath);

  const context = await browser.newContext({ viewport: { width: 1100, height: 1400 }, acceptDownloads: true });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  const consoleErrors = [];
  page.on("console", (m) => { if (m.type() === "error" || m.type() === "warning") consoleErrors.push(m.text()); });
  // Every request body the page sends, checked for the plaintext marker.
  const leaks = [];
  page.on("request", (r) => {
    const body = r.postDataBuffer();
    if (body && body.includes(MARK)) leaks.push(`${r.method()} ${r.url()}`);
  });
  await addAuthenticator(page);
  await page.goto(`${server.origin}/`);
  await waitStatus(page, /Sign in with your passkey/);
  await page.fill("#username", "pat");
  await page.click("#signup");
  await page.waitForSelector("#recovery:not([hidden])");
  await page.check("#recovery-ack");
  await page.click("#recovery-done");
  await page.waitForSelector("#app:not([hidden])");

  // Seal and upload, watching the progress bar move.
  await page.setInputFiles("#file-input", pdfPath);
  const progress = [];
  const sampling = setInterval(() => {
    page.evaluate(() => [document.getElementById("file-progress").value, document.getElementById("file-status").textContent]).then((p) => progress.push(p), () => {});
  }, 50);
  await page.click("#file-upload");
  let shot = false;
  await page.waitForFunction(() => /Uploading .*: [1-9]/.test(document.getElementById("file-status").textContent), null, { timeout: 120000 });
  if (shots) {
    await page.screenshot({ path: join(shots, "files-upload.png") });
    shot = true;
  }
  await page.waitForFunction(() => /Sealed and uploaded/.test(document.getElementById("file-status").textContent), null, { timeout: 180000 });
  clearInterval(sampling);
  const mid = progress.filter(([v]) => v > 0.05 && v < 0.95);
  assert.ok(mid.length > 0, `the progress bar showed intermediate values: ${JSON.stringify(progress.slice(0, 20))}`);
  assert.ok(progress.some(([, t]) => /^Sealing/.test(t)) && progress.some(([, t]) => /^Uploading/.test(t)), "both stages were shown");
  await page.waitForSelector("#files tr");
  assert.equal(await page.textContent("#files tr td:nth-child(1)"), "discharge-summary.pdf");
  assert.ok(shot || !shots);

  // The server holds ciphertext only: the sealed file on disk is exactly ciphertextSize(n), no marker anywhere.
  const onDisk = filesUnder(server.dataDir);
  const sealedSize = 134 + size + 16 * (Math.floor(size / 16384) + 1);
  assert.ok(onDisk.some((f) => statSync(f).size === sealedSize), `a file of ${sealedSize} bytes under the data directory: ${onDisk.map((f) => `${f} ${statSync(f).size}`).join(", ")}`);
  for (const f of onDisk) assert.ok(!readFileSync(f).includes(MARK), `no plaintext in ${f}`);
  assert.ok(!server.dbBytes().includes("discharge-summary"), "the file name is not in the database either");

  // Reload, sign in with the passkey again, view page 1: count the bytes fetched on the wire.
  await page.reload();
  await waitStatus(page, /Sign in with your passkey/);
  await page.fill("#username", "pat");
  await page.click("#login");
  await waitStatus(page, /Signed in and unlocked/);
  await page.waitForSelector("#files tr");
  let wire = 0;
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  const attachmentRequests = new Map();
  cdp.on("Network.requestWillBeSent", (e) => {
    if (e.request.url.includes("/api/attachments/")) attachmentRequests.set(e.requestId, e.request.headers.Range ?? e.request.headers.range ?? "");
  });
  cdp.on("Network.loadingFinished", (e) => {
    if (attachmentRequests.has(e.requestId)) wire += e.encodedDataLength;
  });
  await page.click("#files tr button:has-text('View')");
  await page.waitForSelector("#file-canvas:not([hidden])", { timeout: 60000 }).catch(async (e) => {
    throw new Error(`page 1 was not drawn; status "${await page.textContent("#status")}"; console: ${consoleErrors.join(" | ")}: ${e.message}`);
  });
  await page.waitForFunction(() => /Page 1 of 2/.test(document.getElementById("file-view-note").textContent));
  const fetched = Number(await page.getAttribute("#file-view-note", "data-fetched"));
  assert.ok([...attachmentRequests.values()].every((r) => /^bytes=\d+-\d+$/.test(r)), `every request was a Range request: ${[...attachmentRequests.values()]}`);
  assert.ok(fetched < 1024 * 1024, `the viewer read ${fetched} sealed bytes of ${sealedSize}`);
  assert.ok(wire < 2 * 1024 * 1024, `the page fetched ${wire} bytes on the wire for a ${sealedSize}-byte file`);
  // Page 1 was drawn: the canvas is not blank.
  const inked = await page.evaluate(() => {
    const c = document.getElementById("file-canvas");
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let dark = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] < 128 && d[i + 3] > 0) dark++;
    return dark;
  });
  assert.ok(inked > 500, `page 1 has ink (${inked} dark pixels)`);
  if (shots) await page.screenshot({ path: join(shots, "files-view.png") });
  console.log(`# viewed page 1 of a ${sealedSize}-byte sealed PDF: ${fetched} sealed bytes read, ${wire} bytes on the wire`);

  // Download the whole file through openStream; the hash matches the original.
  const [download] = await Promise.all([page.waitForEvent("download", { timeout: 120000 }), page.click("#files tr button:has-text('Download')")]);
  const saved = join(dir, "downloaded.pdf");
  await download.saveAs(saved);
  assert.equal(sha256(readFileSync(saved)), sha256(original));

  assert.deepEqual(leaks, [], "no request carried the plaintext");
  assert.deepEqual(errors, []);
  await context.close();
});
