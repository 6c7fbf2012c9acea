// "Download my data" end to end (issue #17): in Chromium with a virtual
// passkey on the reference server, a patient signs up (noting the recovery
// code the demo shows), saves FHIR records and a PDF, and downloads the
// export; the `medseal` command-line tool (crates/medseal-cli) then opens the
// downloaded file with no network at all (`unshare -rn`), the code on its
// standard input. Every record it writes equals what the browser sealed (the
// server's ciphertext opened here by the npm package with the same code),
// the PDF's hash is the original's, the FHIR bundle is valid R4 (the `fhir`
// validator); a wrong code and a tampered copy fail with one line naming the
// problem and write nothing.
//   node --test tests/browser/export.test.mjs
//   (needs pkg/, target/debug/medseal-server and target/debug/medseal:
//    cargo build -p medseal-server -p medseal-cli)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fhirPkg from "fhir";
import { init, Vault } from "../../pkg/dist/node.js";
import { describe as describeResource } from "../../examples/shared/fhir.js";
import { ROOT, launch, addAuthenticator, startReferenceServer, waitStatus } from "./helpers.mjs";
import { writePdf } from "./fixtures/pdf.mjs";

const CLI = process.env.MEDSEAL_CLI_BIN ?? join(ROOT, "target", "debug", "medseal");
// Another vault's recovery code (a valid one: tests/vectors/v2-recovery-code.txt).
const OTHER_CODE = "GPDQ-EV8X-YYYR-N1V9-6MZV-BX3M-A9AY-3S07";

let server, browser, dir;
before(async () => {
  assert.ok(existsSync(CLI), `${CLI} is missing: cargo build -p medseal-cli`);
  server = await startReferenceServer("medseal-export-");
  browser = await launch();
  dir = mkdtempSync(join(tmpdir(), "medseal-export-test-"));
});
after(async () => {
  await browser?.close();
  server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const sha256 = (buf) => createHash("sha256").update(buf).digest("hex");
const offline = spawnSync("unshare", ["-rn", "true"]).status === 0;

/** The CLI, under `unshare -rn` (no network) when the machine allows it, `stdin` on its standard input. */
function cli(args, stdin) {
  const [cmd, argv] = offline ? ["unshare", ["-rn", CLI, ...args]] : [CLI, args];
  return spawnSync(cmd, argv, { input: stdin, encoding: "utf8" });
}

/** Every file under `d`, relative, sorted. */
function tree(d, base = d) {
  return readdirSync(d, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? tree(join(d, e.name), base) : [join(d, e.name).slice(base.length + 1)]))
    .sort();
}

async function addRecord(page, kind, text) {
  await page.selectOption("#kind", kind);
  await page.fill("#text", text);
  await page.click("#save");
  await page.waitForFunction((t) => document.getElementById("records").textContent.includes(t), text);
}

test("Download my data: the CLI opens the download offline with the recovery code; a wrong code or a changed byte writes nothing", async () => {
  if (!offline) console.log("# `unshare -rn` is not available here: the CLI runs with the network as it is");
  const pdfPath = join(dir, "lab-report.pdf");
  await writePdf(pdfPath, { fillerBytes: 60 * 1024, title: "Lab report", marker: "EXPORT-MARKER" });
  const pdf = readFileSync(pdfPath);

  const context = await browser.newContext({ acceptDownloads: true });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await addAuthenticator(page);
  await page.goto(`${server.origin}/`);
  await waitStatus(page, /Sign in with your passkey/);
  await page.fill("#username", "pat");
  await page.click("#signup");
  await page.waitForSelector("#recovery:not([hidden])");
  const code = (await page.textContent("#recovery-code")).trim();
  assert.match(code, /^[0-9A-Z]{4}(-[0-9A-Z]{4}){7}$/);
  await page.check("#recovery-ack");
  await page.click("#recovery-done");
  await page.waitForSelector("#app:not([hidden])");

  const typed = [
    ["allergy", "penicillin: hives"],
    ["medication", "metformin 500 mg twice daily"],
    ["condition", "type 2 diabetes (é, ✓)"],
    ["lab result", "HbA1c 6.1%"],
  ];
  for (const [kind, text] of typed) await addRecord(page, kind, text);
  await page.setInputFiles("#file-input", pdfPath);
  await page.click("#file-upload");
  await page.waitForFunction(() => /Sealed and uploaded/.test(document.getElementById("file-status").textContent), null, { timeout: 60000 });

  const [download] = await Promise.all([page.waitForEvent("download", { timeout: 60000 }), page.click("#export-download")]);
  const exported = join(dir, download.suggestedFilename());
  await download.saveAs(exported);
  await page.waitForFunction(() => /Your export is downloading/.test(document.getElementById("export-status").textContent));
  // To look at (docs/screenshots/export.png is a copy).
  mkdirSync(join(ROOT, "target", "screenshots"), { recursive: true });
  await page.locator("#your-data").screenshot({ path: join(ROOT, "target", "screenshots", "export.png") });

  // What the server holds (ciphertext), read through the page's session.
  const held = await page.evaluate(async () => {
    const get = async (p) => (await fetch(p, { headers: { "x-medseal": "1" }, credentials: "same-origin" })).json();
    const records = [];
    for (let after = null; ;) {
      const r = await get(after === null ? "/api/records" : `/api/records?after=${encodeURIComponent(after)}`);
      records.push(...r.records);
      if (r.next == null) break;
      after = r.next;
    }
    const { history } = await get("/api/manifest?since=0");
    return { records, history };
  });
  assert.deepEqual(errors, []);
  await context.close();

  // The CLI, offline, the code on stdin.
  const out = join(dir, "opened");
  const r = cli(["export", "open", exported, "--out", out], `${code}\n`);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Checked:/);
  const written = tree(out);
  assert.ok(written.includes("INDEX.md") && written.includes("fhir/bundle.json"), written.join(", "));

  // Every record: what the CLI wrote equals the server's ciphertext opened by the npm package with the code.
  await init();
  const current = held.history[held.history.length - 1];
  const { vault } = await Vault.unlock(current, { recoveryCode: code }, { store: null });
  // INDEX.md's table says where each record id went: `| id | context | what | [path](link) | size |`.
  const index = readFileSync(join(out, "INDEX.md"), "utf8");
  const pathOf = new Map([...index.matchAll(/^\| ([^|]+) \| [^|]* \| FHIR \w+ \| \[[^\]]+\]\(([^)]+)\) \|/gm)].map((m) => [m[1], m[2]]));
  const fhirFiles = written.filter((p) => p.startsWith("fhir/") && p !== "fhir/bundle.json");
  assert.equal(held.records.length, typed.length + 1, "four records and the PDF's DocumentReference");
  assert.equal(fhirFiles.length, held.records.length);
  assert.equal(pathOf.size, held.records.length, index);
  const resources = [];
  for (const { id, sealed } of held.records) {
    const sealedByBrowser = vault.open(sealed, { recordId: id });
    assert.ok(pathOf.has(id), `record ${id} in INDEX.md`);
    const res = JSON.parse(readFileSync(join(out, pathOf.get(id)), "utf8"));
    assert.deepEqual(res, sealedByBrowser, `record ${id}`);
    resources.push(res);
  }
  vault.lock();
  const described = resources.map(describeResource);
  for (const [kind, text] of typed) assert.ok(described.some((d) => d.kind === kind && d.text === text), `${kind}: ${text}`);
  // The PDF, under its own name, byte for byte.
  assert.equal(sha256(readFileSync(join(out, "files", "lab-report.pdf"))), sha256(pdf));
  // The bundle lists them all, and is valid R4.
  const bundle = JSON.parse(readFileSync(join(out, "fhir", "bundle.json"), "utf8"));
  assert.equal(bundle.type, "collection");
  assert.deepEqual(bundle.entry.map((e) => e.resource).sort((a, b) => a.id.localeCompare(b.id)), resources.sort((a, b) => a.id.localeCompare(b.id)));
  assert.ok(bundle.entry.every((e) => /^urn:uuid:[0-9a-f-]{36}$/.test(e.fullUrl)));
  const v = new fhirPkg.Fhir().validate(bundle);
  assert.deepEqual(v.messages.filter((m) => m.severity === "error"), []);
  // The index says what was checked, the demo's log included.
  assert.match(index, new RegExp(`- Records: ${held.records.length} records authenticated under the vault's keys`));
  assert.match(index, /- Files: 1 file, every chunk authenticated/);
  assert.match(index, /- Log: \d+ leaves match the signed checkpoint/);
  // The log itself, readable: every entry parsed, the sign-in with the passkey among them.
  const log = JSON.parse(readFileSync(join(out, "log.json"), "utf8"));
  assert.match(log.checkpoint, /\n\n— /);
  assert.equal(Number(index.match(/- Log: (\d+) leaves/)[1]), log.entries.length);
  assert.deepEqual(log.entries.map((e) => e.n), log.entries.map((_, i) => i));
  assert.ok(log.entries.some((e) => e.event.type === "unlock"), JSON.stringify(log.entries.map((e) => e.event.type)));
  assert.match(index, new RegExp(`- History: .*ending at the export's manifest|- History: 1 manifest`));

  // A wrong code and a typo: one line each, nothing written.
  const typo = (code[0] === "A" ? "B" : "A") + code.slice(1);
  for (const [c, want] of [[OTHER_CODE, "the recovery code does not open this export"], [typo, "that is not a valid recovery code (check for typos)"]]) {
    const o = cli(["export", "open", exported, "--out", join(dir, "wrong")], `${c}\n`);
    assert.equal(o.status, 1);
    assert.equal(o.stderr, `medseal: ${want}\n`);
    assert.ok(!existsSync(join(dir, "wrong")));
  }
  // A tampered copy: a byte changed in the middle; the part is named, nothing written.
  const bytes = readFileSync(exported);
  bytes[Math.floor(bytes.length / 2)] ^= 1;
  const tampered = join(dir, "tampered.msex");
  writeFileSync(tampered, bytes);
  const t = cli(["export", "open", tampered, "--out", join(dir, "tampered")], `${code}\n`);
  assert.equal(t.status, 1);
  assert.match(t.stderr, /^medseal: chunk \d+ of the export \(bytes [\d,]+–[\d,]+\) does not authenticate: it was altered\n$/);
  assert.ok(!existsSync(join(dir, "tampered")));
  assert.ok(!t.stderr.includes(code) && !t.stderr.includes("penicillin"));
  assert.deepEqual(readdirSync(dir).filter((n) => n.includes("medseal-partial")), []);
  console.log(`# export of ${bytes.length} bytes opened offline (${offline ? "unshare -rn" : "network present"}): ${written.length} files written`);
});
