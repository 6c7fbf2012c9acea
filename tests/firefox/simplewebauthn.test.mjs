/* global pageImport -- set in the page by the tests and tests/firefox/fixtures/boot.js */
// The README's SimpleWebAuthn recipe against a real relying party, in Firefox:
// tests/browser/simplewebauthn.test.mjs with Firefox's virtual authenticator
// (its soft token) in place of Chromium's. The relying party below is that
// file's (@simplewebauthn/server 14 in Node, everything in memory); the page
// loads modules through /ff/boot.js (see tests/firefox/fixtures/boot.js).
// Sign-up follows the README's prose (tests/browser/fixtures/swa/app.mjs);
// sign-in runs the README's code block itself. Every request body the server
// receives is recorded, and none may carry the PRF output. A control shows
// what medseal's `response` prevents: Firefox's toJSON() writes the PRF
// output in base64url too, and SimpleWebAuthn's server verifies it all the same.
//   node --test tests/firefox/simplewebauthn.test.mjs   (needs pkg/ built)
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import {
  generateRegistrationOptions, verifyRegistrationResponse,
  generateAuthenticationOptions, verifyAuthenticationResponse,
} from "@simplewebauthn/server";
import { readmeBlock } from "../browser/helpers.mjs";
import { ROOT, serveFiles, withFirefox } from "./helpers.mjs";

const MOUNTS = [
  ["/pkg/", join(ROOT, "pkg")],
  ["/swa/", join(ROOT, "node_modules", "@simplewebauthn", "browser")],
  ["/app/", join(ROOT, "tests", "browser", "fixtures", "swa")],
  ["/ff/", join(ROOT, "tests", "firefox", "fixtures")],
];

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>medseal + SimpleWebAuthn</title>
<script type="importmap">{ "imports": {
  "medseal": "/pkg/dist/index.js",
  "@simplewebauthn/browser": "/swa/esm/index.js"
} }</script>
<script type="module" src="/ff/boot.js"></script>
`;

/**
 * The relying party: @simplewebauthn/server with everything in memory, and
 * the static files of the page. Sessions are an HttpOnly cookie. `bodies`
 * holds every request body received, in order.
 */
async function startRelyingParty({ loginRecipe }) {
  const users = new Map(); // username -> { id, credentials: Map(id -> WebAuthnCredential), manifest, records: Map }
  const sessions = new Map(); // sid -> { challenge?, pending?, user? }
  const bodies = []; // { path, body }
  const verdicts = []; // { route, verified, userVerified, error? }
  let origin = "";
  const rpID = "localhost";

  const pages = { "/": PAGE, "/favicon.ico": "", "/app/login-recipe.mjs": loginRecipe };

  async function api(path, body, session) {
    switch (path) {
      case "/signup/options": {
        if (typeof body.username !== "string" || users.has(body.username)) throw Object.assign(new Error("username taken"), { status: 409 });
        const userID = new Uint8Array(randomBytes(16));
        const options = await generateRegistrationOptions({ rpName: "medseal test PHR", rpID, userName: body.username, userID });
        session.pending = { username: body.username, userID };
        session.challenge = options.challenge;
        return options;
      }
      case "/signup/verify": {
        const { pending, challenge } = session;
        delete session.challenge;
        if (!pending || !challenge) throw Object.assign(new Error("no registration in progress"), { status: 400 });
        let v;
        try {
          v = await verifyRegistrationResponse({ response: body, expectedChallenge: challenge, expectedOrigin: origin, expectedRPID: rpID });
        } catch (e) {
          verdicts.push({ route: path, verified: false, error: e.message });
          throw Object.assign(e, { status: 400 });
        }
        verdicts.push({ route: path, verified: v.verified, userVerified: v.registrationInfo?.userVerified });
        if (!v.verified) return { verified: false };
        const { credential } = v.registrationInfo;
        users.set(pending.username, { id: pending.userID, credentials: new Map([[credential.id, credential]]), manifest: null, records: new Map() });
        session.user = pending.username;
        delete session.pending;
        return { verified: true };
      }
      case "/login/options": {
        const user = users.get(body.username);
        if (!user) throw Object.assign(new Error("no such user"), { status: 404 });
        const options = await generateAuthenticationOptions({
          rpID,
          allowCredentials: [...user.credentials.values()].map((c) => ({ id: c.id, transports: c.transports })),
        });
        session.challenge = options.challenge;
        session.loginAs = body.username;
        return options;
      }
      case "/login/verify": {
        const { challenge, loginAs } = session;
        delete session.challenge;
        const user = users.get(loginAs);
        const credential = user?.credentials.get(body?.id);
        if (!challenge || !credential) throw Object.assign(new Error("no login in progress, or unknown passkey"), { status: 400 });
        let v;
        try {
          v = await verifyAuthenticationResponse({ response: body, expectedChallenge: challenge, expectedOrigin: origin, expectedRPID: rpID, credential });
        } catch (e) {
          verdicts.push({ route: path, verified: false, error: e.message });
          throw Object.assign(e, { status: 400 });
        }
        verdicts.push({ route: path, verified: v.verified, userVerified: v.authenticationInfo.userVerified });
        if (!v.verified) return { verified: false };
        credential.counter = v.authenticationInfo.newCounter;
        session.user = loginAs;
        return { verified: true, userVerified: v.authenticationInfo.userVerified };
      }
      case "/vault/manifest": {
        // Public: a device needs it before login, to ask the passkey for the PRF.
        const m = users.get(body.username)?.manifest;
        if (!m) throw Object.assign(new Error("no manifest"), { status: 404 });
        return m;
      }
    }
    const user = users.get(session.user);
    if (!user) throw Object.assign(new Error("not signed in"), { status: 401 });
    switch (path) {
      case "/vault/manifest/store":
        user.manifest = body.manifest;
        return { ok: true };
      case "/records/store":
        user.records.set(body.recordId, body.sealed);
        return { ok: true };
      case "/records/fetch":
        return { sealed: user.records.get(body.recordId) ?? null };
    }
    throw Object.assign(new Error("no such route"), { status: 404 });
  }

  /** Answers a POST: the JSON API, with the session cookie. */
  async function post(req, res, path) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const text = Buffer.concat(chunks).toString("utf8");
    bodies.push({ path, body: text });
    let sid = /(?:^|;\s*)sid=([\w-]+)/.exec(req.headers.cookie ?? "")?.[1];
    const headers = { "content-type": "application/json", "cache-control": "no-store" };
    if (!sid || !sessions.has(sid)) {
      sid = randomBytes(16).toString("base64url");
      sessions.set(sid, {});
      headers["set-cookie"] = `sid=${sid}; Path=/; HttpOnly; SameSite=Strict`;
    }
    let status = 200;
    let out;
    try {
      out = await api(path, JSON.parse(text), sessions.get(sid));
    } catch (e) {
      status = e.status ?? 500;
      out = { error: e.message };
    }
    res.writeHead(status, headers);
    res.end(JSON.stringify(out));
  }

  const { server, origin: served } = await serveFiles({ pages, mounts: MOUNTS, post });
  origin = served;
  return { server, origin, bodies, verdicts, users };
}

/** Every place in a JSON value where a `prf.results` sits (paths), e.g. clientExtensionResults.prf.results. */
function prfResultPaths(value, path = "$") {
  if (value === null || typeof value !== "object") return [];
  const found = [];
  for (const [k, v] of Object.entries(value)) {
    if (k === "prf" && v && typeof v === "object" && "results" in v) found.push(`${path}.prf.results`);
    found.push(...prfResultPaths(v, `${path}.${k}`));
  }
  return found;
}

/** The encodings a 32-byte secret would most likely take in a request body. */
function encodingsOf(bytes) {
  const b = Buffer.from(bytes);
  const b64 = b.toString("base64");
  return {
    base64url: b.toString("base64url"),
    base64: b64,
    base64Unpadded: b64.replace(/=+$/, ""),
    hex: b.toString("hex"),
    HEX: b.toString("hex").toUpperCase(),
    decimalList: [...b].join(","),
    typedArrayJson: JSON.stringify(Object.fromEntries([...b].entries())).slice(1, -1), // JSON.stringify(Uint8Array)
  };
}

function assertAbsent(bodies, secret, what) {
  for (const [encoding, text] of Object.entries(encodingsOf(secret))) {
    for (const { path, body } of bodies) {
      assert.ok(!body.includes(text), `the ${what} (${encoding}) was posted to ${path}`);
    }
  }
}

// FIREFOX BUG (its soft token, the WebDriver virtual authenticator; not medseal's): an assertion
// from get() with the PRF extension carries the hmac-secret output in its authenticator data
// without the ED flag (flags 0x05), so verifyAuthenticationResponse throws "Leftover bytes detected
// while parsing authenticator data". Every test that verifies a PRF sign-in is skipped for it;
// remove `skip` to reproduce. Sign-up (a registration: flags 0xC5) verifies.
const SOFT_TOKEN_ED_BUG = "Firefox soft-token bug: get() with PRF returns authenticator data with extension bytes but no ED flag (0x05); @simplewebauthn/server refuses it (\"Leftover bytes detected while parsing authenticator data\"); see docs/BROWSERS.md";

const USERNAME = "pat@example.org";
const state = {}; // filled by the tests, in order

const rp = withFirefox(async () => {
  const recipe = await readmeBlock("### Passkey login and unlock in one gesture, with SimpleWebAuthn");
  // The README block as written, plus what the test needs to look at afterwards.
  const loginRecipe = `${recipe}\nexport { optionsJSON, manifest, credential, vault, response };\n`;
  return startRelyingParty({ loginRecipe });
});
const page = { goto: (url) => rp.ff.goto(url), evaluate: (fn, arg) => rp.ff.eval(fn, arg) };
const clearCookies = () => rp.ff.cmd("DELETE", "/cookie");

test("sign-up: SimpleWebAuthn registration with medseal's PRF extension verifies, and a vault is made from it", async () => {
  await page.goto(`${rp.origin}/`);
  const out = await page.evaluate(async (username) => (await pageImport("/app/app.mjs")).signUp(username), USERNAME);
  state.signUp = out;

  assert.deepEqual(rp.verdicts, [{ route: "/signup/verify", verified: true, userVerified: true }], "verifyRegistrationResponse passed, with user verification");
  assert.equal(out.verdict.verified, true);
  assert.ok(out.clientExtensionKeys.includes("prf"), "the browser answered the PRF extension");
  const user = rp.users.get(USERNAME);
  assert.ok(user.manifest, "the manifest is stored");
  assert.ok(user.records.get("rec-1")?.startsWith("ms2."), "a sealed record is stored (format 2)");
  const credentials = await rp.ff.credentials(rp.authenticatorId);
  assert.equal(credentials.length, 1);
  assert.equal(credentials[0].credentialId, [...user.credentials.keys()][0], "the server registered the passkey the authenticator holds");
  assert.deepEqual(await rp.ff.errors(), []);
});

test("sign-in in a fresh page load: the README block logs in (verified, user verified) and unlocks in one gesture", { skip: SOFT_TOKEN_ED_BUG }, async () => {
  assert.ok(state.signUp, "needs the sign-up test");
  await clearCookies(); // the login must stand on its own, not on the sign-up session
  await page.goto(`${rp.origin}/`);
  const before = rp.verdicts.length;
  const out = await page.evaluate(async (username) => {
    const { init } = await pageImport("medseal");
    const { post } = await pageImport("/app/app.mjs");
    await init();
    // The README block's free variables.
    window.post = post;
    window.username = username;
    let m;
    try {
      m = await pageImport("/app/login-recipe.mjs");
    } catch (e) {
      return { threw: `${e?.message ?? e}\n${e?.stack ?? ""}` }; // (Firefox stacks do not repeat the message)
    }
    const { sealed } = await post("/records/fetch", { recordId: "rec-1" }); // only with the session /login/verify opened
    const first = m.credential.clientExtensionResults?.prf?.results?.first;
    return {
      record: m.vault.open(sealed, { recordId: "rec-1" }),
      response: m.response,
      allowIds: m.optionsJSON.allowCredentials.map((c) => c.id),
      // SimpleWebAuthn's response kept the browser's ArrayBuffer; medseal read and wiped it.
      swaPrfType: Object.prototype.toString.call(first),
      swaPrfWiped: first ? new Uint8Array(first).every((b) => b === 0) : null,
    };
  }, USERNAME);
  assert.equal(out.threw, undefined, `the README sign-in block threw: ${out.threw}`);

  assert.deepEqual(rp.verdicts.slice(before), [{ route: "/login/verify", verified: true, userVerified: true }], "verifyAuthenticationResponse passed, with user verification");
  assert.deepEqual(out.record, { allergy: "penicillin" }, "the record sealed at sign-up opens");
  assert.deepEqual(prfResultPaths(out.response), [], "medseal's response has no PRF results");
  assert.equal(out.response.id, [...rp.users.get(USERNAME).credentials.keys()][0]);
  assert.equal(out.swaPrfType, "[object ArrayBuffer]");
  assert.equal(out.swaPrfWiped, true, "the PRF output left in SimpleWebAuthn's object is zeroed once medseal has used it");
  assert.deepEqual(await rp.ff.errors(), []);
  state.signedIn = true;
});

test("no request the server received carries the PRF output, the recovery code or a prf.results", { skip: `needs the sign-in test: ${SOFT_TOKEN_ED_BUG}` }, async () => {
  assert.ok(state.signedIn, "needs the sign-in test");
  // The PRF output the flow used: the same passkey, asked again for the same
  // input, returns the same 32 bytes. That they open the vault proves they are the secret.
  const probe = await page.evaluate(async (username) => {
    const { Vault, webauthn } = await pageImport("medseal");
    const { post, b64u } = await pageImport("/app/app.mjs");
    const manifest = await post("/vault/manifest", { username });
    const cred = await navigator.credentials.get({
      publicKey: { challenge: crypto.getRandomValues(new Uint8Array(32)), ...webauthn.requestExtension(manifest, { form: "binary" }), userVerification: "required" },
    });
    const prf = new Uint8Array(cred.getClientExtensionResults().prf.results.first).slice();
    const prfB64u = b64u(prf);
    const { sealed } = await post("/records/fetch", { recordId: "rec-1" });
    const { vault } = await Vault.unlock(manifest, { prf: { credentialId: new Uint8Array(cred.rawId), prfOutput: prf } });
    return { prfB64u, record: vault.open(sealed, { recordId: "rec-1" }) };
  }, USERNAME);
  assert.deepEqual(probe.record, { allergy: "penicillin" }, "the probed PRF output is the vault's key source");
  const prf = Buffer.from(probe.prfB64u, "base64url");
  assert.equal(prf.length, 32);

  const bodies = rp.bodies;
  assert.deepEqual(bodies.map((b) => b.path), [
    "/signup/options", "/signup/verify", "/vault/manifest/store", "/records/store",
    "/login/options", "/vault/manifest", "/login/verify", "/records/fetch",
    "/vault/manifest", "/records/fetch", // the probe's own fetches
  ]);
  for (const { path, body } of bodies) assert.deepEqual(prfResultPaths(JSON.parse(body)), [], `${path} carries a prf.results`);
  assertAbsent(bodies, prf, "PRF output");
  assert.ok(!bodies.some((b) => b.body.includes(state.signUp.recoveryCode)), "the recovery code was posted");
  // Both verified bodies are complete credentials, minus the PRF results only.
  const reg = JSON.parse(bodies[1].body);
  assert.equal(reg.clientExtensionResults.prf?.enabled, true, "the registration response still says PRF is enabled");
  const login = JSON.parse(bodies[6].body);
  assert.deepEqual(Object.keys(login.response).sort(), ["authenticatorData", "clientDataJSON", "signature", "userHandle"]);
});

test("control: the credential itself carries the PRF output, and SimpleWebAuthn's server accepts it anyway", { skip: SOFT_TOKEN_ED_BUG }, async () => {
  assert.ok(state.signedIn, "needs the sign-in test");
  await clearCookies();
  await page.goto(`${rp.origin}/`);
  const mark = rp.bodies.length;
  const before = rp.verdicts.length;
  const out = await page.evaluate(async (username) => {
    const { init, Vault, webauthn } = await pageImport("medseal");
    const { startAuthentication, base64URLStringToBuffer } = await pageImport("@simplewebauthn/browser");
    const { post, b64u } = await pageImport("/app/app.mjs");
    await init();
    const manifest = await post("/vault/manifest", { username });

    // 1. SimpleWebAuthn's response: getClientExtensionResults() as is, the PRF output an ArrayBuffer in it.
    let optionsJSON = await post("/login/options", { username });
    const swa = await startAuthentication({ optionsJSON: { ...optionsJSON, ...webauthn.requestExtension(manifest), userVerification: "required" } });
    const swaPrf = b64u(swa.clientExtensionResults.prf.results.first);
    const swaJson = JSON.stringify(swa); // JSON.stringify turns an ArrayBuffer into {}
    const { response } = await Vault.unlock(manifest, { credential: swa });
    await post("/login/verify", response);

    // 2. The live credential's toJSON() (what a page without SimpleWebAuthn would post): the PRF output in base64url.
    optionsJSON = await post("/login/options", { username });
    const live = await navigator.credentials.get({
      publicKey: {
        challenge: base64URLStringToBuffer(optionsJSON.challenge),
        ...webauthn.requestExtension(manifest, { form: "binary" }),
        userVerification: "required",
      },
    });
    const toJSON = live.toJSON();
    const safe = webauthn.serverSafe(live);
    const verdict = await post("/login/verify", toJSON); // the leak: the server stores what it is given
    return { swaPrf, swaJson, toJSON, safe, verdict };
  }, USERNAME);

  const verdicts = rp.verdicts.slice(before);
  assert.deepEqual(verdicts, [
    { route: "/login/verify", verified: true, userVerified: true }, // medseal's response
    { route: "/login/verify", verified: true, userVerified: true }, // toJSON(), PRF output and all
  ]);
  const prf = out.toJSON.clientExtensionResults?.prf?.results?.first;
  assert.match(prf ?? "", /^[A-Za-z0-9_-]{43}$/, "Firefox's toJSON() writes the PRF output as base64url");
  assert.equal(out.swaPrf, prf, "SimpleWebAuthn's response holds the same PRF output, as bytes");
  assert.match(out.swaJson, /"results":\{"first":\{\}\}/, "JSON.stringify of SimpleWebAuthn's response drops the bytes to {} (any binary-aware encoder would not)");
  const leaked = rp.bodies.slice(mark).filter((b) => b.body.includes(prf));
  assert.deepEqual(leaked.map((b) => b.path), ["/login/verify"], "posting toJSON() hands the server the PRF output");
  assert.equal(out.verdict.verified, true, "and verifyAuthenticationResponse does not object");
  // What medseal hands back instead: the same JSON without the results.
  assert.deepEqual(prfResultPaths(out.safe), []);
  const expected = structuredClone(out.toJSON);
  delete expected.clientExtensionResults.prf.results;
  if (Object.keys(expected.clientExtensionResults.prf).length === 0) delete expected.clientExtensionResults.prf;
  assert.deepEqual(out.safe, expected, "serverSafe() removes exactly the PRF results");
  assert.deepEqual(await rp.ff.errors(), []);
});

test("Firefox: SimpleWebAuthn's JSON response unlocks (no server verification, see the skip above); sign-up and the response carry no PRF output", async () => {
  assert.ok(state.signUp, "needs the sign-up test");
  await clearCookies();
  await page.goto(`${rp.origin}/`);
  const out = await page.evaluate(async (username) => {
    const { init, Vault, webauthn } = await pageImport("medseal");
    const { startAuthentication } = await pageImport("@simplewebauthn/browser");
    const { post, b64u } = await pageImport("/app/app.mjs");
    await init();
    const manifest = await post("/vault/manifest", { username });
    const optionsJSON = await post("/login/options", { username });
    const credential = await startAuthentication({ optionsJSON: { ...optionsJSON, ...webauthn.requestExtension(manifest), userVerification: "required" } });
    const first = credential.clientExtensionResults.prf.results.first;
    const prfB64u = b64u(new Uint8Array(first).slice());
    const { vault, response } = await Vault.unlock(manifest, { credential });
    return {
      prfB64u, response, unlocked: !vault.locked,
      swaPrfType: Object.prototype.toString.call(first),
      swaPrfWiped: new Uint8Array(first).every((b) => b === 0),
    };
  }, USERNAME);
  assert.equal(out.unlocked, true);
  assert.deepEqual(prfResultPaths(out.response), [], "medseal's response has no PRF results");
  assert.equal(out.response.id, [...rp.users.get(USERNAME).credentials.keys()][0]);
  assert.equal(out.swaPrfType, "[object ArrayBuffer]");
  assert.equal(out.swaPrfWiped, true, "the PRF output left in SimpleWebAuthn's object is zeroed once medseal has used it");
  const prf = Buffer.from(out.prfB64u, "base64url");
  assert.equal(prf.length, 32);
  const bodies = rp.bodies;
  for (const { path, body } of bodies) assert.deepEqual(prfResultPaths(JSON.parse(body)), [], `${path} carries a prf.results`);
  assertAbsent(bodies, prf, "PRF output");
  assert.ok(!bodies.some((b) => b.body.includes(state.signUp.recoveryCode)), "the recovery code was posted");
  const reg = JSON.parse(bodies[1].body);
  assert.equal(reg.clientExtensionResults.prf?.enabled, true, "the registration response still says PRF is enabled");
  assert.deepEqual(await rp.ff.errors(), []);
});
