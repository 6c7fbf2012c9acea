// Error codes that only a browser can produce: a passkey that returns no PRF
// result (PrfNotReturned), a ceremony nobody answers (Cancelled), and calls
// before init() (NotInitialized).
import { test } from "node:test";
import assert from "node:assert/strict";
import { addAuthenticator, withBrowserAndServer } from "./helpers.mjs";

const env = withBrowserAndServer();

test("NotInitialized before init(), PrfNotReturned for a login-only passkey, Cancelled when no passkey answers", async () => {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${env.origin}/index.html`);
  // A fresh module instance, to call it before init().
  const notInit = await page.evaluate(async () => {
    const m = await import("/pkg/dist/index.js?fresh");
    const out = [];
    try { m.webauthn.createExtension(); out.push("no error"); } catch (e) { out.push(e.code); }
    try { await m.Vault.create({ prf: { credentialId: new Uint8Array([1]), prfSalt: new Uint8Array(32), prfOutput: new Uint8Array(32) } }); out.push("no error"); } catch (e) { out.push(e.code); }
    return out;
  });
  assert.deepEqual(notInit, ["NotInitialized", "NotInitialized"]);

  // A vault on a PRF authenticator, then a login-only passkey (no PRF) on another.
  const prfAuth = await addAuthenticator(page, { hasPrf: true });
  const r = await page.evaluate(async () => {
    const ms = await import("/pkg/dist/index.js");
    await ms.init();
    window.ms = ms;
    const { manifest } = await ms.Vault.create({ passkey: { rp: { name: "t" }, user: { id: "u1", name: "u", displayName: "U" } } });
    window.manifest = manifest;
    return manifest.unlock.find((e) => e.type === "passkey").credentialId;
  });
  assert.ok(r);
  await prfAuth.cdp.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId: prfAuth.authenticatorId });
  await addAuthenticator(page, { hasPrf: false });
  const codes = await page.evaluate(async () => {
    const loginOnly = await navigator.credentials.create({ publicKey: {
      rp: { name: "t" }, user: { id: new Uint8Array([9]), name: "u", displayName: "U" }, challenge: new Uint8Array(32),
      pubKeyCredParams: [{ type: "public-key", alg: -7 }], authenticatorSelection: { residentKey: "required", userVerification: "required" } } });
    const assertion = await navigator.credentials.get({ publicKey: {
      challenge: new Uint8Array(32), allowCredentials: [{ type: "public-key", id: loginOnly.rawId }], userVerification: "required",
      extensions: { prf: { eval: { first: new Uint8Array(32) } } } } });
    const out = {};
    try { await ms.Vault.unlock(window.manifest, { credential: assertion }); out.assertion = "unlocked"; } catch (e) { out.assertion = e.code; out.message = e.message; }
    // The vault's own passkey is gone with its authenticator: nobody can answer.
    try { await ms.Vault.unlock(window.manifest, { passkey: { timeout: 1500 } }); out.unlock = "unlocked"; } catch (e) { out.unlock = e.code; }
    return out;
  });
  assert.equal(codes.assertion, "PrfNotReturned");
  assert.match(codes.message, /PRF/);
  assert.equal(codes.unlock, "Cancelled");
  await context.close();
});
