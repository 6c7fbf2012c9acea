// The demo journey on the reference server (examples/server) in headless
// Firefox ESR: tests/browser/server.test.mjs where the engine allows. Sign-up
// (Firefox's create() gives no PRF output, so the app's Vault.create takes the
// create-then-get path), records, lock, one-gesture sign-in, recovery with the
// code on a second Firefox profile (its own authenticator), which adds its own
// passkey and signs in with it. Every request is recorded by a small proxy in
// front of the server (WebDriver classic has no network events), and none may
// carry plaintext, a PRF output or the recovery code; nor may the SQLite file.
// A screenshot goes to /tmp/firefox-demo.png, and the steps' screenshots to
// MEDSEAL_SCREENSHOTS_DIR when it is set.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer, request as httpRequest } from "node:http";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Firefox, ROOT } from "./helpers.mjs";

const shots = process.env.MEDSEAL_SCREENSHOTS_DIR;
const SCREENSHOT = process.env.MEDSEAL_FIREFOX_SCREENSHOT ?? "/tmp/firefox-demo.png";
let ref, proxy, origin;
const requests = [];
const devices = [];

/** A recording reverse proxy on localhost: the browser's origin; the reference server is told it is its origin. */
async function startProxy() {
  let target = null;
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      requests.push({ device: req.headers["x-test-device"] ?? "?", url: req.url, headers: req.headers, body: body.toString("utf8") });
      const up = httpRequest({ host: "127.0.0.1", port: target, method: req.method, path: req.url, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      });
      up.on("error", () => { res.writeHead(502); res.end(); });
      up.end(body);
    });
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return { server, origin: `http://localhost:${server.address().port}`, setTarget: (port) => { target = port; } };
}

/** A free port on 127.0.0.1 (the reference server prints its origin, not its port, when MEDSEAL_ORIGIN is set). */
async function freePort() {
  const s = createServer();
  await new Promise((ok) => s.listen(0, "127.0.0.1", ok));
  const { port } = s.address();
  await new Promise((ok) => s.close(ok));
  return port;
}

/**
 * The reference server (target/debug/medseal-server, or MEDSEAL_SERVER_BIN) on `port`, with a fresh
 * data folder, for the site `origin` (webauthn-rs checks the browser's origin: the proxy's).
 */
async function startReferenceServerBehind(origin, port) {
  const dataDir = mkdtempSync(join(tmpdir(), "medseal-ff-server-"));
  const bin = process.env.MEDSEAL_SERVER_BIN ?? join(ROOT, "target", "debug", "medseal-server");
  const proc = spawn(bin, [], { env: { ...process.env, MEDSEAL_ADDR: `127.0.0.1:${port}`, MEDSEAL_DATA: dataDir, MEDSEAL_ORIGIN: origin }, stdio: ["ignore", "pipe", "pipe"] });
  proc.stderr.on("data", () => {});
  await new Promise((ok, fail) => {
    proc.stdout.on("data", (d) => /medseal PHR demo: http/.test(String(d)) && ok());
    proc.on("exit", (c) => fail(new Error(`server exited ${c}`)));
  });
  return { dataDir, stop: () => { proc.kill(); rmSync(dataDir, { recursive: true, force: true }); } };
}

before(async () => {
  proxy = await startProxy();
  origin = proxy.origin;
  const port = await freePort();
  ref = await startReferenceServerBehind(origin, port);
  proxy.setTarget(port);
  if (shots) mkdirSync(shots, { recursive: true });
});
after(async () => {
  try {
    for (const d of devices) await d.ff.stop();
  } finally {
    ref?.stop();
    proxy?.server.close();
  }
});

// Inside the page, before medseal strips and wipes them: copy every PRF output the browser returns.
const CAPTURE_PRF = () => {
  const hex = (b) => Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");
  window.__prf ??= [];
  for (const name of ["create", "get"]) {
    const orig = navigator.credentials[name].bind(navigator.credentials);
    navigator.credentials[name] = async (opts) => {
      const cred = await orig(opts);
      const first = cred?.getClientExtensionResults?.().prf?.results?.first;
      if (first) window.__prf.push(hex(first));
      // The assertion's authenticator data: flags, and whether extension data follows (ED = 0x80).
      if (name === "get" && cred?.response?.authenticatorData) {
        const ad = new Uint8Array(cred.response.authenticatorData);
        (window.__authData ??= []).push({ flags: ad[32], extensionBytes: ad.length - 37 });
      }
      return cred;
    };
  }
};
const prfOutputs = new Set();

/** A device: its own Firefox profile (a geckodriver session) with its own authenticator. */
async function device(name) {
  const ff = await Firefox.start();
  const d = { name, ff, authenticatorId: await ff.addAuthenticator() };
  devices.push(d);
  await open(d);
  return d;
}

/** (Re)loads the app and installs the PRF capture (WebDriver classic has no init scripts: after every load). */
async function open(d, reload = false) {
  if (reload) await d.ff.reload(); else await d.ff.goto(`${origin}/`);
  await d.ff.waitStatus(/Sign in with your passkey/);
  await d.ff.eval(CAPTURE_PRF);
}

async function collectPrf(d) {
  for (const h of await d.ff.eval(() => window.__prf ?? [])) prfOutputs.add(h);
}

async function recordsInclude(d, text) {
  await d.ff.waitFor((t) => document.getElementById("records").textContent.includes(t), text, { what: `a record with ${text}` });
}

async function addRecord(d, kind, text) {
  await d.ff.eval((kind) => {
    const s = document.getElementById("kind");
    s.value = kind;
    s.dispatchEvent(new Event("change", { bubbles: true }));
  }, kind);
  await d.ff.fill("#text", text);
  await d.ff.click("#save");
  await recordsInclude(d, text);
}

const MARKERS = {
  allergy: "MARKER-ALLERGY-penicillin-anaphylaxis",
  medication: "MARKER-MED-metformin-500mg",
  "lab result": "MARKER-LAB-HbA1c-6.1",
  note: "MARKER-NOTE-follow-up-cardiology",
};
let recoveryCode;
let a, b; // the two devices (Firefox profiles)

// FIREFOX BUG (its soft token, the WebDriver virtual authenticator; not medseal's): an assertion
// from get() with the PRF extension carries the hmac-secret output in its authenticator data
// without setting the ED flag (flags 0x05: UP|UV), which WebAuthn §6.1 forbids. webauthn-rs
// (the reference server) and @simplewebauthn/server refuse it ("the passkey did not verify";
// "Leftover bytes detected while parsing authenticator data"), so no PRF sign-in verifies on a
// server here. Registrations are well formed (flags 0xC5) and verify. A real authenticator
// builds its own authenticator data. Remove `skip` from the tests below to reproduce.
const SOFT_TOKEN_ED_BUG = "Firefox soft-token bug: get() with PRF returns authenticator data with extension bytes but no ED flag (0x05), which webauthn-rs refuses (\"the passkey did not verify\"); see docs/BROWSERS.md";

test("sign-up (create, then get for the PRF), records, lock", async () => {
  // Sign up: one ceremony registers the login passkey; the app's Vault.create asks once more (get) for the PRF.
  a = await device("alice-laptop");
  await a.ff.fill("#username", "alice");
  await a.ff.click("#signup");
  await a.ff.waitFor(() => !document.getElementById("recovery").hidden, null, { what: "the recovery code screen" });
  recoveryCode = await a.ff.text("#recovery-code");
  assert.match(recoveryCode, /^[0-9A-Z]{4}(-[0-9A-Z]{4}){7}$/);
  assert.equal(await a.ff.eval(() => document.getElementById("recovery-done").disabled), true, "continue only after confirming");
  if (shots) await a.ff.screenshot(join(shots, "firefox-1-recovery-code.png"));
  await a.ff.click("#recovery-ack");
  await a.ff.click("#recovery-done");
  await a.ff.waitFor(() => !document.getElementById("app").hidden, null, { what: "the app" });
  const calls = await a.ff.eval(() => ({ prf: window.__prf.length, gets: window.__authData?.length ?? 0 }));
  assert.deepEqual(calls, { prf: 1, gets: 1 }, "create() gave no PRF output; one get() did");
  await collectPrf(a);

  for (const [kind, text] of Object.entries(MARKERS)) await addRecord(a, kind, text);
  if (shots) await a.ff.screenshot(join(shots, "firefox-2-records.png"));
  await a.ff.screenshot(SCREENSHOT);

  // Lock wipes keys and hides records.
  await a.ff.click("#lock");
  await a.ff.waitStatus(/Locked/);
  assert.ok(!(await a.ff.text("body")).includes(MARKERS.allergy));
  assert.deepEqual(await a.ff.errors(), []);
});

test("reload, then one passkey gesture signs in and unlocks", { skip: SOFT_TOKEN_ED_BUG }, async () => {
  await open(a, true);
  await a.ff.fill("#username", "alice");
  await a.ff.click("#login");
  await a.ff.waitStatus(/Signed in and unlocked with one passkey gesture/);
  await recordsInclude(a, MARKERS.allergy);
  for (const t of Object.values(MARKERS)) assert.ok((await a.ff.text("#records")).includes(t), t);
  await collectPrf(a);
});

test("a second device (another Firefox profile) recovers with the code, sees the records, adds its own passkey", async () => {
  assert.ok(recoveryCode, "needs the sign-up test");
  b = await device("alice-phone");
  await b.ff.fill("#username", "alice");
  await b.ff.click("summary");
  await b.ff.fill("#code", recoveryCode.toLowerCase().replaceAll("-", " "));
  await b.ff.click("#recover");
  await b.ff.waitStatus(/Recovered with your recovery code/);
  await recordsInclude(b, MARKERS.medication);
  for (const t of Object.values(MARKERS)) assert.ok((await b.ff.text("#records")).includes(t), t);
  await b.ff.click("#add-passkey");
  await b.ff.waitStatus(/Backup passkey added/);
  await b.ff.waitFor(() => /first passkey, backup passkey/.test(document.getElementById("vault-info").textContent), null, { what: "both passkeys in the vault summary" });
  if (shots) await b.ff.screenshot(join(shots, "firefox-3-second-device.png"));
  await collectPrf(b);
  assert.equal((await b.ff.credentials(b.authenticatorId)).length, 1, "the passkey lives on the second profile's authenticator");
  assert.deepEqual(await b.ff.errors(), []);
});

test("the second device signs in with its own passkey; the first sees both passkeys and signs in with its own", { skip: SOFT_TOKEN_ED_BUG }, async () => {
  await b.ff.click("#logout");
  await b.ff.waitStatus(/Signed out/);
  await b.ff.fill("#username", "alice");
  await b.ff.click("#login");
  await b.ff.waitStatus(/Signed in and unlocked/);
  await recordsInclude(b, MARKERS.medication);
  await collectPrf(b);
  await open(a, true);
  await a.ff.fill("#username", "alice");
  await a.ff.click("#login");
  await a.ff.waitStatus(/Signed in and unlocked/);
  await a.ff.waitFor(() => /first passkey, backup passkey/.test(document.getElementById("vault-info").textContent), null, { what: "both passkeys in the vault summary" });
  await collectPrf(a);
  assert.deepEqual([...(await a.ff.errors()), ...(await b.ff.errors())], []);
});

test("no request carried plaintext, a PRF output or the recovery code; the SQLite file holds none", () => {
  assert.ok(recoveryCode, "needs the sign-up test");
  assert.ok(requests.length > 20, `only ${requests.length} requests recorded`);
  // (Firefox's soft token gives the same PRF output for the same input whatever the credential; the
  // two passkeys have different PRF inputs, so two outputs are expected, but never "different keys per passkey".)
  assert.ok(prfOutputs.size >= 2, `only ${prfOutputs.size} distinct PRF outputs captured`);
  const needles = [...Object.values(MARKERS), "MARKER-"];
  for (const hex of prfOutputs) {
    const bytes = Buffer.from(hex, "hex");
    needles.push(hex, bytes.toString("base64"), bytes.toString("base64url"), bytes.toString("base64").replace(/=+$/, ""));
  }
  needles.push(recoveryCode, recoveryCode.replaceAll("-", ""), recoveryCode.toLowerCase(), recoveryCode.toLowerCase().replaceAll("-", " "));
  for (const r of requests) {
    const text = `${r.url}\n${JSON.stringify(r.headers)}\n${r.body}`;
    for (const n of needles) assert.ok(!text.includes(n), `request ${r.url} contains a secret or plaintext (${n.slice(0, 12)}…)`);
  }
  const files = readdirSync(ref.dataDir).filter((f) => f.startsWith("medseal.sqlite3"));
  assert.ok(files.includes("medseal.sqlite3"));
  for (const f of files) {
    const bytes = readFileSync(join(ref.dataDir, f));
    for (const n of needles) assert.ok(!bytes.includes(Buffer.from(n)), `${f} contains ${n.slice(0, 12)}…`);
  }
});

test("users cannot read each other's records; stale manifest writes are refused", {
  skip: "server-side authorization, the same for every engine: tests/browser/server.test.mjs checks it (it imports medseal from a test script, which in Firefox's WebDriver sandbox would run with the wrong realm's built-ins)",
}, () => {});
