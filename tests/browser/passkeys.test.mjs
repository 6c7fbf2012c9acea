// The package's passkey ceremonies in headless Chromium with DevTools virtual
// authenticators (PRF on): create, reload, unlock; a second device's passkey
// added and the first removed; recovery; a PRF-less authenticator refused;
// and what webauthn.serverSafe (and the `response` medseal returns) lets
// through to a server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { passkeyPage, withBrowserAndServer } from "./helpers.mjs";

const env = withBrowserAndServer();

async function freshPage({ hasPrf = true } = {}) {
  const { context, page, errors, auth } = await passkeyPage(env.browser, { hasPrf });
  await page.goto(`${env.origin}/index.html`);
  await page.evaluate(async () => {
    const m = await import("/pkg/dist/index.js");
    await m.init();
    window.ms = m;
  });
  return { context, page, auth, errors };
}

const rp = { name: "medseal tests" };
const user = { id: "user-0001", name: "pat@example.test", displayName: "Pat" };

test("create with a passkey, seal, reload, unlock with the passkey, open", async () => {
  const { context, page, errors } = await freshPage();
  const { manifest, sealed, code } = await page.evaluate(async ({ rp, user }) => {
    const { vault, manifest, recoveryCode } = await ms.Vault.create({ passkey: { rp, user, label: "laptop" } });
    const sealed = vault.seal({ allergy: "MARKER-latex" }, { recordId: "a-1" });
    return { manifest, sealed, code: recoveryCode };
  }, { rp, user });
  assert.equal(manifest.unlock.filter((e) => e.type === "passkey").length, 1);
  assert.match(code, /^[0-9A-Z]{4}(-[0-9A-Z]{4}){7}$/);
  await page.reload();
  const opened = await page.evaluate(async ({ manifest, sealed }) => {
    const m = await import("/pkg/dist/index.js");
    await m.init();
    const { vault } = await m.Vault.unlock(manifest, { passkey: true }, { minRevision: manifest.revision });
    return vault.open(sealed, { recordId: "a-1" });
  }, { manifest, sealed });
  assert.deepEqual(opened, { allergy: "MARKER-latex" });
  assert.deepEqual(errors, []);
  await context.close();
});

test("a second device's passkey added, the first removed, the second unlocks; recovery still works", async () => {
  const { context, page, auth } = await freshPage();
  const first = await page.evaluate(async ({ rp, user }) => {
    const { vault, manifest, recoveryCode } = await ms.Vault.create({ passkey: { rp, user, label: "phone" } });
    window.v = vault;
    return { manifest, recoveryCode, sealed: vault.seal("MARKER-note", { recordId: "n-1" }) };
  }, { rp, user });

  // The first device goes away; a second authenticator (a security key, another phone) is registered.
  await auth.cdp.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId: auth.authenticatorId });
  const second = await auth.cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", ctap2Version: "ctap2_1", transport: "usb", hasResidentKey: true, hasUserVerification: true, isUserVerified: true, hasPrf: true, automaticPresenceSimulation: true },
  });
  const after = await page.evaluate(async ({ rp, user }) => {
    const { manifest: withTwo } = await v.addPasskey({ passkey: { rp, user, label: "security key" } });
    const phone = withTwo.unlock.find((e) => e.type === "passkey" && e.label === "phone");
    const withOne = v.removeUnlock(phone.id);
    let lastError = null;
    const key = withOne.unlock.find((e) => e.type === "passkey");
    try { v.removeUnlock(key.id); } catch (e) { lastError = e.code; }
    return { withTwo, withOne, lastError };
  }, { rp, user });
  assert.equal(after.withTwo.unlock.filter((e) => e.type === "passkey").length, 2);
  assert.deepEqual(after.withOne.unlock.filter((e) => e.type === "passkey").map((e) => e.label), ["security key"]);
  assert.equal(after.lastError, "LastUnlockMethod");
  const creds = await auth.cdp.send("WebAuthn.getCredentials", { authenticatorId: second.authenticatorId });
  assert.equal(creds.credentials.length, 1);

  const opened = await page.evaluate(async ({ manifest, sealed, code }) => {
    const { vault: v2 } = await ms.Vault.unlock(manifest, { passkey: true }, { minRevision: manifest.revision });
    const { vault: v3 } = await ms.Vault.unlock(manifest, { recoveryCode: code.toLowerCase() });
    return [v2.open(sealed, { recordId: "n-1" }), v3.open(sealed, { recordId: "n-1" })];
  }, { manifest: after.withOne, sealed: first.sealed, code: first.recoveryCode });
  assert.deepEqual(opened, ["MARKER-note", "MARKER-note"]);
  await context.close();
});

test("an authenticator without PRF gets PrfUnsupported", async () => {
  const { context, page } = await freshPage({ hasPrf: false });
  const r = await page.evaluate(async ({ rp, user }) => {
    try {
      await ms.Vault.create({ passkey: { rp, user } });
      return "created";
    } catch (e) {
      return { name: e.name, code: e.code, message: e.message };
    }
  }, { rp, user });
  assert.equal(r.code, "PrfUnsupported");
  assert.match(r.message, /PRF/);
  const support = await page.evaluate(() => ms.webauthn.support());
  assert.equal(support.webauthn, true);
  await context.close();
});

test("serverSafe: the credential JSON sent to a server carries no PRF output; unlock's response is the same", async () => {
  const { context, page } = await freshPage();
  const r = await page.evaluate(async ({ rp, user }) => {
    const { manifest } = await ms.Vault.create({ passkey: { rp, user } });
    // Both forms of the request extension: binary for navigator.credentials.get(), JSON (base64url ids) for JSON options.
    const { extensions, allowCredentials } = ms.webauthn.requestExtension(manifest, { form: "binary" });
    const json = ms.webauthn.requestExtension(manifest);
    const cred = await navigator.credentials.get({ publicKey: { challenge: new Uint8Array(32).fill(7), allowCredentials, userVerification: "required", extensions } });
    const first = new Uint8Array(cred.getClientExtensionResults().prf.results.first).slice();
    const hex = Array.from(first, (b) => b.toString(16).padStart(2, "0")).join("");
    const b64 = btoa(String.fromCharCode(...first));
    const b64u = b64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    const raw = JSON.stringify(cred.toJSON());
    const safe = JSON.stringify(ms.webauthn.serverSafe(cred));
    const { vault, response } = await ms.Vault.unlock(manifest, { credential: cred });
    return {
      raw, safe, response: JSON.stringify(response), forms: [hex, b64, b64u, b64.replace(/=+$/, "")], unlocked: !vault.locked,
      jsonIds: json.allowCredentials.map((c) => c.id), binaryIds: allowCredentials.map((c) => c.id instanceof Uint8Array), credId: cred.id,
    };
  }, { rp, user });
  assert.ok(r.forms.some((f) => r.raw.includes(f)), "the browser's own JSON carries the PRF output (this is what must be stripped)");
  for (const f of r.forms) assert.ok(!r.safe.includes(f), `PRF output found in serverSafe output as ${f}`);
  for (const f of r.forms) assert.ok(!r.response.includes(f), `PRF output found in unlock's response as ${f}`);
  assert.ok(JSON.parse(r.safe).response.signature, "the assertion itself is kept");
  assert.deepEqual(JSON.parse(r.response), JSON.parse(r.safe));
  assert.deepEqual(r.jsonIds, [r.credId]);
  assert.deepEqual(r.binaryIds, [true]);
  assert.equal(r.unlocked, true);
  await context.close();
});
