// The npm package's API in Node 20 (no browser): vaults from `{ prf }` and
// `{ credential }` key sources, round trips, error codes, lock, tampering,
// garbage arguments, the WebAuthn helpers, and passkey ceremonies against a
// stand-in authenticator.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { init, Vault, VaultReceiver, MedsealError, ErrorCode, webauthn, simd128Supported } from "../../pkg/dist/node.js";
import { code, acode } from "./codes.mjs";

await init();

const cred = new Uint8Array([9, 8, 7, 6]);
async function newVault() {
  const prfOutput = crypto.getRandomValues(new Uint8Array(32));
  const prfSalt = webauthn.newPrfSalt();
  const made = await Vault.create({ prf: { credentialId: cred, prfSalt, prfOutput, label: "test" } });
  return { ...made, prfOutput, prfSalt };
}
const b64u = (u) => Buffer.from(u).toString("base64url");

test("init is idempotent", async () => {
  await init();
  await init();
  assert.equal(typeof simd128Supported(), "boolean");
});

test("JSON values and bytes round-trip through both forms", async () => {
  const { vault } = await newVault();
  for (const value of [{ allergy: "penicillin", severity: 3 }, [1, "two", null], "text", 42, true, null]) {
    const s = vault.seal(value, { recordId: "r" });
    assert.match(s, /^ms2\.[A-Za-z0-9_-]+$/);
    assert.deepEqual(vault.open(s, { recordId: "r" }), value);
    assert.equal(typeof vault.seal(value, { recordId: "r", form: "text" }), "string");
    const b = vault.seal(value, { recordId: "r", context: "ctx", form: "bytes" });
    assert.ok(b instanceof Uint8Array);
    assert.deepEqual(vault.open(b, { recordId: "r", context: "ctx" }), value);
    // A context given as bytes is the same context as its UTF-8 text.
    assert.deepEqual(vault.open(b, { recordId: "r", context: new TextEncoder().encode("ctx") }), value);
  }
  const bytes = new Uint8Array([0, 1, 2, 255]);
  assert.deepEqual(vault.open(vault.seal(bytes, { recordId: "b" }), { recordId: "b" }), bytes);
  assert.equal(code(() => vault.seal(1, { recordId: "r", form: "hex" })), ErrorCode.InvalidArgument);
});

test("many records", async () => {
  const { vault } = await newVault();
  const sealed = Array.from({ length: 2000 }, (_, i) => vault.seal({ i, note: `record ${i}` }, { recordId: `id-${i}` }));
  sealed.forEach((s, i) => assert.deepEqual(vault.open(s, { recordId: `id-${i}` }), { i, note: `record ${i}` }));
});

test("unlock from the stored manifest with the PRF output or the recovery code", async () => {
  const { vault, manifest, recoveryCode, prfOutput } = await newVault();
  assert.equal(typeof vault.vaultId(), "string");
  assert.equal(vault.manifest().vaultId, vault.vaultId());
  assert.deepEqual(vault.manifest(), manifest);
  const s = vault.seal({ lab: "HbA1c", value: 6.1 }, { recordId: "lab-1" });
  const stored = JSON.parse(JSON.stringify(manifest));
  const keep = prfOutput.slice();
  const { vault: v2, response } = await Vault.unlock(stored, { prf: { credentialId: cred, prfOutput } });
  assert.equal(response, undefined, "no server response for a { prf } source");
  assert.deepEqual(prfOutput, keep, "the caller's PRF output is not wiped ({ prf }: the caller owns it)");
  assert.deepEqual(v2.open(s, { recordId: "lab-1" }), { lab: "HbA1c", value: 6.1 });
  const { vault: v3 } = await Vault.unlock(JSON.stringify(stored), { recoveryCode: recoveryCode.toLowerCase().replaceAll("-", " ") });
  assert.equal(v3.vaultId(), vault.vaultId());
  assert.equal(v3.locked, false);
  v3.lock();
  assert.equal(v3.locked, true);
  v3.lock(); // idempotent
});

test("every core error code is reachable from JS", async () => {
  const { vault, manifest, recoveryCode, prfOutput } = await newVault();
  const s = vault.seal("x", { recordId: "r" });
  assert.equal(code(() => vault.open(s, { recordId: "other" })), ErrorCode.DecryptionFailed);
  assert.equal(code(() => vault.open("ms3.AAAA", { recordId: "r" })), ErrorCode.UnknownVersion);
  assert.equal(code(() => vault.open("nope", { recordId: "r" })), ErrorCode.Malformed);
  assert.equal(await acode(() => Vault.unlock(manifest, { prf: { credentialId: cred, prfOutput: new Uint8Array(32) } })), ErrorCode.InvalidPrfOutput);
  const wrong = prfOutput.slice();
  wrong[0] ^= 1;
  assert.equal(await acode(() => Vault.unlock(manifest, { prf: { credentialId: cred, prfOutput: wrong } })), ErrorCode.UnlockFailed);
  assert.equal(await acode(() => Vault.unlock(manifest, { prf: { credentialId: new Uint8Array([1]), prfOutput } })), ErrorCode.UnknownUnlockEntry);
  assert.equal(await acode(() => Vault.unlock(manifest, { recoveryCode: recoveryCode.replace(/^./, (c) => (c === "A" ? "B" : "A")) })), ErrorCode.InvalidRecoveryCode);
  assert.equal(await acode(() => Vault.unlock(manifest, { prf: { credentialId: cred, prfOutput } }, { minRevision: 2 })), ErrorCode.StaleManifest);
  const forged = { ...manifest, revision: manifest.revision + 1 };
  assert.equal(await acode(() => Vault.unlock(forged, { prf: { credentialId: cred, prfOutput } })), ErrorCode.ManifestInvalid);
  const passkeyId = manifest.unlock.find((e) => e.type === "passkey").id;
  assert.equal(code(() => vault.removeUnlock(passkeyId)), ErrorCode.LastUnlockMethod);
  assert.equal(code(() => vault.seal(new Uint8Array(300 * 1024 * 1024), { recordId: "huge" })), ErrorCode.TooLarge);
  assert.equal(code(() => vault.seal("x", { recordId: "" })), ErrorCode.InvalidArgument);
  const other = await newVault();
  // Another vault's manifest: refused (its signature is not this vault's identity key's).
  assert.ok([ErrorCode.WrongVault, ErrorCode.ManifestInvalid].includes(code(() => vault.updateManifest(other.manifest))));
  const r = new VaultReceiver();
  assert.equal(code(() => r.accept(other.vault.handOff(r.publicKey), { expect: manifest })), ErrorCode.WrongVault);
  // The platform's CSPRNG failing: RandomUnavailable, and the vault works again once it is back.
  const rng = Object.getOwnPropertyDescriptor(crypto, "getRandomValues");
  crypto.getRandomValues = () => {
    throw new Error("no entropy");
  };
  try {
    assert.equal(code(() => webauthn.newPrfSalt()), ErrorCode.RandomUnavailable);
    assert.equal(code(() => vault.seal("x", { recordId: "r" })), ErrorCode.RandomUnavailable);
  } finally {
    if (rng) Object.defineProperty(crypto, "getRandomValues", rng);
    else delete crypto.getRandomValues;
  }
  assert.deepEqual(vault.open(vault.seal("again", { recordId: "r" }), { recordId: "r" }), "again");
  vault.lock();
  assert.equal(code(() => vault.open(s, { recordId: "r" })), ErrorCode.Locked);
  assert.equal(code(() => vault.manifest()), ErrorCode.Locked);
  assert.equal(code(() => vault.vaultId()), ErrorCode.Locked);
});

test("passkeys added and removed, recovery rotated", async () => {
  const { vault, recoveryCode: oldCode } = await newVault();
  const prf2 = crypto.getRandomValues(new Uint8Array(32));
  const cred2 = new Uint8Array([1, 1, 1]);
  const added = await vault.addPasskey({ prf: { credentialId: cred2, prfSalt: webauthn.newPrfSalt(), prfOutput: prf2, label: "backup" } });
  assert.deepEqual(Object.keys(added), ["manifest"], "no response for a { prf } source");
  const m2 = added.manifest;
  assert.equal(m2.revision, 2);
  assert.deepEqual(vault.manifest(), m2);
  const first = m2.unlock.find((e) => e.type === "passkey" && e.label === "test");
  const m3 = vault.removeUnlock(first.id);
  assert.equal(m3.revision, 3);
  assert.equal(code(() => vault.removeUnlock(first.id)), ErrorCode.UnknownUnlockEntry);
  assert.equal(code(() => vault.removeUnlock(m3.unlock.find((e) => e.type === "recovery").id)), ErrorCode.LastUnlockMethod);
  assert.equal(await acode(() => Vault.unlock(m3, { prf: { credentialId: cred, prfOutput: new Uint8Array(32).fill(1) } })), ErrorCode.UnknownUnlockEntry);
  const { vault: v2 } = await Vault.unlock(m3, { prf: { credentialId: cred2, prfOutput: prf2 } }, { minRevision: 3 });
  const { manifest: m4, recoveryCode } = vault.rotateRecoveryCode();
  assert.notEqual(recoveryCode, oldCode);
  assert.equal(await acode(() => Vault.unlock(m4, { recoveryCode: oldCode })), ErrorCode.UnlockFailed);
  await Vault.unlock(m4, { recoveryCode });
  v2.updateManifest(m4);
  assert.equal(v2.manifest().revision, 4);
  // An older manifest never replaces a newer one, and is reported.
  assert.equal(code(() => v2.updateManifest(m3)), ErrorCode.StaleManifest);
  assert.deepEqual(v2.manifest(), m4);
  v2.updateManifest(JSON.stringify(m4)); // the same revision again, as text
  assert.deepEqual(v2.manifest(), m4);
});

test("updateManifest with an older manifest is StaleManifest", async () => {
  const { vault, prfOutput, manifest: m1 } = await newVault();
  const { vault: other } = await Vault.unlock(m1, { prf: { credentialId: cred, prfOutput } }, { store: null });
  const { manifest: m2 } = await vault.addPasskey({ prf: { credentialId: new Uint8Array([4, 4]), prfSalt: webauthn.newPrfSalt(), prfOutput: crypto.getRandomValues(new Uint8Array(32)) } });
  other.updateManifest(m2);
  assert.equal(code(() => other.updateManifest(m1)), ErrorCode.StaleManifest);
});

test("signLoginProof: a P-256 signature verifiable with the manifest's identity key", async () => {
  const { vault, manifest } = await newVault();
  const challenge = crypto.getRandomValues(new Uint8Array(32));
  const sig = vault.signLoginProof(challenge, "https://phr.example");
  assert.ok(sig instanceof Uint8Array && sig.length > 0);
  assert.ok(manifest.identityKey.publicKey.length > 0);
  assert.equal(code(() => vault.signLoginProof("not bytes", "https://phr.example")), ErrorCode.InvalidArgument);
  assert.equal(code(() => vault.signLoginProof(challenge, 5)), ErrorCode.InvalidArgument);
  // An ArrayBuffer is accepted as well as a view.
  assert.ok(vault.signLoginProof(challenge.buffer, "https://phr.example").length > 0);
  vault.lock();
  assert.equal(code(() => vault.signLoginProof(challenge, "https://phr.example")), ErrorCode.Locked);
});

test("tampered and truncated records give typed errors and the instance keeps working", async () => {
  const { vault } = await newVault();
  const b = vault.seal({ dx: "asthma" }, { recordId: "r", form: "bytes" });
  for (let i = 0; i < b.length; i += 7) {
    const t = b.slice();
    t[i] ^= 0x10;
    assert.ok([ErrorCode.DecryptionFailed, ErrorCode.Malformed, ErrorCode.UnknownVersion].includes(code(() => vault.open(t, { recordId: "r" }))));
  }
  for (let n = 0; n < b.length; n += 13) {
    assert.ok([ErrorCode.DecryptionFailed, ErrorCode.Malformed].includes(code(() => vault.open(b.slice(0, n), { recordId: "r" }))));
  }
  assert.deepEqual(vault.open(b, { recordId: "r" }), { dx: "asthma" });
});

test("garbage of every JS type as every argument gives a typed error, never a crash", async () => {
  const { vault, manifest, prfOutput } = await newVault();
  const garbage = [undefined, null, 0, -1, NaN, 1.5, "", "x", true, {}, [], [1, 2], Symbol("s"), 10n, () => 1, new Date(), new ArrayBuffer(3), new Uint16Array(2), new Map()];
  const ok = [ErrorCode.InvalidArgument, ErrorCode.Malformed, ErrorCode.InvalidPrfOutput, ErrorCode.DecryptionFailed, ErrorCode.UnknownUnlockEntry, ErrorCode.InvalidRecoveryCode, ErrorCode.PrfUnsupported];
  const s = vault.seal(1, { recordId: "r" });
  for (const g of garbage) {
    const calls = [
      () => vault.seal(g, g),
      () => vault.seal(1, { recordId: g }),
      () => vault.seal(1, { recordId: "r", context: g }),
      () => vault.seal(1, { recordId: "r", form: g }),
      () => vault.open(g, { recordId: "r" }),
      () => vault.open(s, g),
      () => vault.open(s, { recordId: g }),
      () => Vault.unlock(g, { prf: { credentialId: cred, prfOutput } }),
      () => Vault.unlock(manifest, g),
      () => Vault.unlock(manifest, { prf: g }),
      () => Vault.unlock(manifest, { prf: { credentialId: g, prfOutput } }),
      () => Vault.unlock(manifest, { prf: { credentialId: cred, prfOutput: g } }),
      () => Vault.unlock(manifest, { recoveryCode: g }),
      () => Vault.unlock(manifest, { credential: g }),
      () => Vault.unlock(manifest, { prf: { credentialId: cred, prfOutput } }, { minRevision: g }),
      () => Vault.create(g),
      () => Vault.create({ prf: g }),
      () => Vault.create({ prf: { credentialId: g, prfSalt: g, prfOutput: g } }),
      () => Vault.create({ prf: { credentialId: cred, prfSalt: webauthn.newPrfSalt(), prfOutput: crypto.getRandomValues(new Uint8Array(32)), label: g } }),
      () => vault.addPasskey(g),
      () => vault.removeUnlock(g),
      () => vault.updateManifest(g),
      () => vault.signLoginProof(g, g),
      () => vault.sealMany(g),
      () => vault.openMany(g),
      () => webauthn.prfInput(g),
      () => webauthn.passkeys(g),
      () => webauthn.requestExtension(g),
    ];
    // (handOff and webauthn.serverSafe with odd values: wedge.test.mjs.)
    for (const f of calls) {
      try {
        await f();
      } catch (e) {
        assert.ok(e instanceof MedsealError, `${String(e)} for ${typeof g}: ${f}`);
        assert.ok(ok.includes(e.code), `${e.code} for ${typeof g}: ${f}`);
      }
      // Some garbage is legitimately accepted (e.g. a number as a JSON record); nothing may crash.
    }
  }
  assert.deepEqual(vault.open(s, { recordId: "r" }), 1, "instance still works");
});

test("nothing secret is serializable from a vault", async () => {
  const { vault, prfOutput, recoveryCode } = await newVault();
  const json = JSON.stringify(vault);
  assert.deepEqual(JSON.parse(json), { vaultId: vault.vaultId() });
  assert.ok(!json.includes(recoveryCode));
  assert.ok(!json.includes(Buffer.from(prfOutput).toString("hex")));
  vault.lock();
  assert.deepEqual(JSON.parse(JSON.stringify(vault)), { vaultId: null });
});

test("webauthn.serverSafe strips PRF results from a credential's JSON and keeps the rest", () => {
  const results = { first: "c2VjcmV0LXByZi1vdXRwdXQtMzItYnl0ZXMtbG9uZw" };
  const c = { id: "abc", rawId: "abc", type: "public-key", response: { signature: "sig" }, clientExtensionResults: { prf: { enabled: true, results } } };
  const safe = webauthn.serverSafe(c);
  assert.ok(!JSON.stringify(safe).includes(results.first));
  assert.deepEqual(safe.clientExtensionResults, { prf: { enabled: true } });
  assert.equal(safe.response.signature, "sig");
  assert.equal(c.clientExtensionResults.prf.results, results, "the original is not modified");
  const onlyResults = webauthn.serverSafe({ clientExtensionResults: { prf: { results } } });
  assert.deepEqual(onlyResults.clientExtensionResults, {});
  // Binary PRF results (SimpleWebAuthn leaves them as they came) never reach the copy.
  const binary = webauthn.serverSafe({ rawId: "abc", clientExtensionResults: { prf: { results: { first: new Uint8Array(32).fill(7) } } } });
  assert.deepEqual(binary.clientExtensionResults, {});
  // A live credential's toJSON() is used.
  assert.deepEqual(webauthn.serverSafe({ toJSON: () => c }).clientExtensionResults, { prf: { enabled: true } });
  assert.equal(code(() => webauthn.serverSafe(null)), ErrorCode.InvalidArgument);
  // An allow list: outputs medseal does not know (another name for a PRF
  // result, hmac-secret, a Buffer, fields nested elsewhere) never pass.
  const odd = webauthn.serverSafe({
    id: "abc", rawId: "abc", type: "public-key",
    response: { clientDataJSON: "cd", signature: new Uint8Array([1, 2]), prf: results, extra: { first: results.first } },
    clientExtensionResults: { prf: { enabled: true, results: { second: results.first } }, hmacGetSecret: { output1: results.first }, credProps: { rk: true } },
    extra: Buffer.from("secret"),
  });
  assert.ok(!JSON.stringify(odd).includes(results.first));
  assert.ok(!JSON.stringify(odd).includes("secret"));
  assert.deepEqual(odd, {
    id: "abc", rawId: "abc", type: "public-key",
    response: { clientDataJSON: "cd", signature: "AQI" },
    clientExtensionResults: { credProps: { rk: true }, prf: { enabled: true } },
  });
});

test("webauthn helpers: salts, PRF inputs, passkeys of a manifest, extensions for the app's own ceremonies", async () => {
  const { vault, manifest, prfSalt } = await newVault();
  const salt = webauthn.newPrfSalt();
  assert.equal(salt.length, 32);
  assert.notDeepEqual(salt, webauthn.newPrfSalt());
  const input = webauthn.prfInput(prfSalt);
  assert.ok(input.length >= 32);
  assert.notDeepEqual(input, prfSalt, "the PRF input is domain-separated from the salt");
  assert.deepEqual(webauthn.prfInput(prfSalt), input, "deterministic");
  const pks = webauthn.passkeys(manifest);
  assert.equal(pks.length, 1);
  assert.deepEqual(pks[0].credentialId, cred);
  assert.deepEqual(pks[0].first, input);
  assert.equal(pks[0].label, "test");
  assert.equal(pks[0].entryId, manifest.unlock.find((e) => e.type === "passkey").id);
  assert.deepEqual(webauthn.passkeys(JSON.stringify(manifest)), pks);

  const json = webauthn.requestExtension(manifest);
  assert.deepEqual(json.allowCredentials, [{ type: "public-key", id: b64u(cred) }]);
  assert.deepEqual(json.extensions.prf.evalByCredential[b64u(cred)].first, input);
  const binary = webauthn.requestExtension(manifest, { form: "binary" });
  assert.deepEqual(binary.allowCredentials[0].id, cred);
  // Only the passkeys the server allows are kept (by base64url id or bytes).
  const cred2 = new Uint8Array([4, 4]);
  const { manifest: m2 } = await vault.addPasskey({ prf: { credentialId: cred2, prfSalt: webauthn.newPrfSalt(), prfOutput: crypto.getRandomValues(new Uint8Array(32)) } });
  assert.equal(webauthn.requestExtension(m2).allowCredentials.length, 2);
  const only = webauthn.requestExtension(m2, { allowCredentials: [{ id: b64u(cred2) }] });
  assert.deepEqual(only.allowCredentials, [{ type: "public-key", id: b64u(cred2) }]);
  assert.deepEqual(Object.keys(only.extensions.prf.evalByCredential), [b64u(cred2)]);
  assert.equal(webauthn.requestExtension(m2, { allowCredentials: [{ id: cred2 }] }).allowCredentials.length, 1);
  // None of the server's passkeys unlocks this vault: an error, not an open prompt for any passkey.
  assert.equal(code(() => webauthn.requestExtension(m2, { allowCredentials: [{ id: new Uint8Array([0]) }] })), ErrorCode.InvalidArgument);
  // An empty list (a discoverable-credential login) filters nothing.
  assert.equal(webauthn.requestExtension(m2, { allowCredentials: [] }).allowCredentials.length, 2);
  assert.equal(code(() => webauthn.requestExtension(m2, { form: "xml" })), ErrorCode.InvalidArgument);

  const ext = webauthn.createExtension();
  assert.equal(ext.prfSalt.length, 32);
  assert.deepEqual(ext.extensions.prf.eval.first, webauthn.prfInput(ext.prfSalt));

  assert.deepEqual(await webauthn.support(), { webauthn: false, platformAuthenticator: false, prf: false }, "Node has no WebAuthn");
  assert.equal(code(() => webauthn.passkeys({ ...manifest, version: 9 })), ErrorCode.UnknownVersion);
  assert.equal(code(() => webauthn.passkeys("{")), ErrorCode.Malformed);
  assert.equal(code(() => webauthn.prfInput("salt")), ErrorCode.InvalidArgument);
});

test("{ credential } sources: JSON credentials (SimpleWebAuthn, toJSON()) create, unlock and add passkeys; the response is server-safe", async () => {
  const { prfSalt, extensions } = webauthn.createExtension();
  const prf = createHmac("sha256", "authenticator secret").update(extensions.prf.eval.first).digest();
  const rawId = b64u(new Uint8Array([7, 7, 7, 7]));
  const registration = { id: rawId, rawId, type: "public-key", response: { attestationObject: "att" }, clientExtensionResults: { prf: { enabled: true, results: { first: b64u(prf) } } } };
  const made = await Vault.create({ credential: registration, prfSalt, label: "phone" });
  assert.ok(!JSON.stringify(made.response).includes(b64u(prf)), "the response carries no PRF result");
  assert.deepEqual(made.response.clientExtensionResults, { prf: { enabled: true } });
  assert.equal(made.response.response.attestationObject, "att");
  assert.equal(made.manifest.unlock.find((e) => e.type === "passkey").label, "phone");
  const sealed = made.vault.seal({ rx: "x" }, { recordId: "r" });

  // Login: the app's own get() with requestExtension merged in; the PRF result as an ArrayBuffer.
  const req = webauthn.requestExtension(made.manifest);
  const first = req.extensions.prf.evalByCredential[rawId].first;
  const out = createHmac("sha256", "authenticator secret").update(first).digest();
  const buf = new Uint8Array(out).buffer;
  const assertion = { id: rawId, rawId, type: "public-key", response: { signature: "sig" }, clientExtensionResults: { prf: { results: { first: buf } } } };
  const { vault, response } = await Vault.unlock(made.manifest, { credential: assertion });
  assert.deepEqual(vault.open(sealed, { recordId: "r" }), { rx: "x" });
  assert.equal(response.response.signature, "sig");
  assert.ok(!("prf" in (response.clientExtensionResults ?? {})));
  assert.ok(new Uint8Array(buf).every((b) => b === 0), "the PRF result in the credential is wiped after use");

  // addPasskey with a credential: the new passkey's PRF result, and a response.
  const ext2 = webauthn.createExtension();
  const rawId2 = b64u(new Uint8Array([8, 8]));
  const prf2 = createHmac("sha256", "key 2").update(ext2.extensions.prf.eval.first).digest();
  const added = await vault.addPasskey({ credential: { rawId: rawId2, clientExtensionResults: { prf: { enabled: true, results: { first: new Uint8Array(prf2) } } } }, prfSalt: ext2.prfSalt, label: "key" });
  assert.equal(added.manifest.unlock.filter((e) => e.type === "passkey").length, 2);
  assert.deepEqual(added.response.clientExtensionResults, { prf: { enabled: true } });
  const first2 = webauthn.passkeys(added.manifest).find((p) => b64u(p.credentialId) === rawId2).first;
  const out2 = createHmac("sha256", "key 2").update(first2).digest();
  await Vault.unlock(added.manifest, { credential: { rawId: rawId2, clientExtensionResults: { prf: { results: { first: b64u(out2) } } } } });

  // No PRF result at unlock: PrfNotReturned. An authenticator without PRF at create: PrfUnsupported.
  assert.equal(await acode(() => Vault.unlock(made.manifest, { credential: { rawId, clientExtensionResults: {} } })), ErrorCode.PrfNotReturned);
  assert.equal(await acode(() => Vault.create({ credential: { rawId, clientExtensionResults: { prf: { enabled: false } } }, prfSalt })), ErrorCode.PrfUnsupported);
  // A PRF result only at get() needs a ceremony, which Node does not have.
  assert.equal(await acode(() => Vault.create({ credential: { rawId, clientExtensionResults: { prf: { enabled: true } } }, prfSalt })), ErrorCode.PrfUnsupported);
  assert.equal(await acode(() => Vault.unlock(made.manifest, { credential: { rawId: "not base64url!" } })), ErrorCode.InvalidArgument);
  assert.equal(await acode(() => Vault.unlock(made.manifest, { credential: { rawId, clientExtensionResults: { prf: { results: { first: 5 } } } } })), ErrorCode.InvalidArgument);
});

test("non-ASCII JSON, text forms as strings, bytes and mixed in batches: the bytes-for-strings path round-trips", async () => {
  const { vault } = await newVault();
  const notes = [{ t: "é ✓ 🩺 \u0000 \"q\"" }, { t: "ascii" }, "plain string", 42, null, [1, "ü"], { t: "\ud800 lone" }];
  for (const [i, n] of notes.entries()) {
    const text = vault.seal(n, { recordId: `n${i}` });
    const expected = JSON.parse(JSON.stringify(n));
    assert.deepEqual(vault.open(text, { recordId: `n${i}` }), expected);
    assert.deepEqual(vault.open(vault.seal(n, { recordId: `m${i}`, form: "bytes" }), { recordId: `m${i}` }), expected);
  }
  const items = notes.map((n, i) => ({ record: i === 3 ? new Uint8Array([1, 2]) : n, recordId: `b${i}` }));
  const sealed = vault.sealMany(items);
  const asBytes = vault.sealMany(items, { form: "bytes" });
  const mixed = sealed.map((s, i) => ({ sealed: i % 2 ? s : asBytes[i], recordId: `b${i}` }));
  assert.deepEqual(
    vault.openMany(mixed),
    items.map((it) => ({ ok: true, value: it.record instanceof Uint8Array ? it.record : JSON.parse(JSON.stringify(it.record)) })),
  );
  // A text form with a character outside base64url, one of a newer format, and one whose prefix is not its header's version: the usual codes.
  assert.equal(code(() => vault.open(sealed[0].slice(0, 10) + "é" + sealed[0].slice(11), { recordId: "b0" })), ErrorCode.Malformed);
  assert.equal(code(() => vault.open("ms3." + sealed[0].slice(4), { recordId: "b0" })), ErrorCode.UnknownVersion);
  assert.equal(code(() => vault.open("ms1." + sealed[0].slice(4), { recordId: "b0" })), ErrorCode.Malformed);
  // A Uint8Array is always the bytes form, even when it holds a text form's characters.
  assert.equal(code(() => vault.open(new TextEncoder().encode(sealed[0]), { recordId: "b0" })), ErrorCode.Malformed);
  // Proxies of Uint8Arrays anywhere: InvalidArgument, and the vault is not left unusable.
  const proxy = new Proxy(new Uint8Array(300), {});
  assert.equal(code(() => vault.open(proxy, { recordId: "p" })), ErrorCode.InvalidArgument);
  assert.equal(code(() => vault.open(outerOk(), { recordId: "outer", context: proxy })), ErrorCode.InvalidArgument);
  assert.equal(code(() => vault.seal({ a: 1 }, { recordId: "outer", context: proxy })), ErrorCode.InvalidArgument);
  assert.equal(await acode(() => vault.openLarge(proxy, { recordId: "p" })), ErrorCode.InvalidArgument);
  const [outcome] = vault.openMany([{ sealed: proxy, recordId: "p" }]);
  assert.equal(outcome.ok, false);
  assert.equal(outcome.error.code, ErrorCode.InvalidArgument);
  assert.deepEqual(vault.open(vault.seal({ still: "works" }, { recordId: "s" }), { recordId: "s" }), { still: "works" });
  function outerOk() {
    return vault.seal({ ok: 1 }, { recordId: "outer" });
  }
});

test("sealMany/openMany: thousands of records in one call each, mixed JSON and bytes", async () => {
  const { vault } = await newVault();
  const items = Array.from({ length: 3000 }, (_, i) => ({
    record: i % 3 === 0 ? new Uint8Array([i & 255, 1, 2]) : { i, dose: `${i} mg` },
    recordId: `r-${i}`,
    context: i % 2 ? "ctx" : undefined,
  }));
  const sealed = vault.sealMany(items);
  assert.equal(sealed.length, 3000);
  assert.ok(sealed.every((s) => typeof s === "string" && s.startsWith("ms2.")));
  const opened = vault.openMany(sealed.map((s, i) => ({ sealed: s, recordId: `r-${i}`, context: i % 2 ? "ctx" : undefined })));
  opened.forEach((o, i) => assert.deepEqual(o, { ok: true, value: items[i].record }));
  const asBytes = vault.sealMany(items.slice(0, 10), { form: "bytes" });
  assert.ok(asBytes.every((b) => b instanceof Uint8Array));
  assert.deepEqual(vault.openMany([{ sealed: asBytes[1], recordId: "r-1", context: "ctx" }]), [{ ok: true, value: items[1].record }]);
});

test("openMany reports each bad record (with its index) and still opens the rest; sealMany throws with the index", async () => {
  const { vault } = await newVault();
  const sealed = vault.sealMany([0, 1, 2].map((i) => ({ record: { i }, recordId: `r-${i}` })));
  const items = sealed.map((s, i) => ({ sealed: s, recordId: `r-${i}` }));
  items[1].recordId = "moved";
  const settled = vault.openMany(items);
  assert.deepEqual(settled[0], { ok: true, value: { i: 0 } });
  assert.equal(settled[1].ok, false);
  assert.ok(settled[1].error instanceof MedsealError);
  assert.equal(settled[1].error.code, ErrorCode.DecryptionFailed);
  assert.equal(settled[1].error.index, 1);
  assert.deepEqual(settled[2], { ok: true, value: { i: 2 } });
  try {
    vault.sealMany([{ record: 1, recordId: "ok" }, { record: 2, recordId: "" }]);
    assert.fail("did not throw");
  } catch (e) {
    assert.ok(e instanceof MedsealError);
    assert.equal(e.code, ErrorCode.InvalidArgument);
    assert.equal(e.index, 1);
  }
  assert.equal(code(() => vault.sealMany([{ record: 1, recordId: "ok" }], { form: "hex" })), ErrorCode.InvalidArgument);
  for (const g of [null, 1, "x", {}]) {
    assert.equal(code(() => vault.sealMany(g)), ErrorCode.InvalidArgument);
    assert.equal(code(() => vault.openMany(g)), ErrorCode.InvalidArgument);
  }
  // Bad items: sealMany throws for the first, openMany reports each.
  for (const g of [[1], [{ sealed: 1 }], [{ record: 1 }], [{ sealed: sealed[0] }]]) {
    assert.equal(code(() => vault.sealMany(g)), ErrorCode.InvalidArgument);
    const out = vault.openMany(g);
    assert.equal(out.length, 1);
    assert.equal(out[0].ok, false);
    assert.equal(out[0].error.code, ErrorCode.InvalidArgument);
    assert.equal(out[0].error.index, 0);
  }
  assert.deepEqual(vault.openMany([]), []);
  assert.deepEqual(vault.sealMany([]), []);
  vault.lock();
  assert.equal(code(() => vault.openMany(items)), ErrorCode.Locked, "a locked vault throws rather than reporting every item");
  assert.equal(code(() => vault.sealMany([{ record: 1, recordId: "x" }])), ErrorCode.Locked);
});

test("openMany (one packed call into wasm) gives, item by item, what open gives: forms, ids, contexts, failures", async () => {
  const { vault } = await newVault();
  const items = [];
  const ids = ["a", "é-ü", "😀 ", "x".repeat(300), "r-5"];
  const contexts = [undefined, "ctx", new Uint8Array([0, 255, 7]), new Uint8Array(0), "κ"];
  for (let i = 0; i < 40; i++) {
    const recordId = ids[i % ids.length];
    const context = contexts[(i >> 1) % contexts.length];
    const record = i % 3 === 0 ? new Uint8Array(i * 37).fill(i) : { i, note: "ñ".repeat(i * 11) };
    const form = i % 2 ? "bytes" : "text";
    items.push({ sealed: vault.seal(record, { recordId, context, form }), recordId, context });
  }
  // Failures among them: a changed byte, another id, a truncated text form,
  // a string that is no text form, an item that is no item, a tombstone.
  const t = items[3].sealed.slice();
  t[t.length - 1] ^= 1;
  items[3] = { ...items[3], sealed: t };
  items[6] = { ...items[6], recordId: "elsewhere" };
  items[8] = { ...items[8], sealed: items[8].sealed.slice(0, 40) };
  items[10] = { ...items[10], sealed: "ms2.%%%" };
  items[12] = 7;
  const tomb = vault.tombstone({ recordId: "gone", version: 2 });
  items.splice(20, 0, { sealed: tomb, recordId: "gone" });
  const one = (it) => {
    try {
      return { ok: true, value: vault.open(it.sealed, it) };
    } catch (e) {
      return { ok: false, code: e.code };
    }
  };
  const many = vault.openMany(items);
  assert.equal(many.length, items.length);
  items.forEach((it, i) => {
    const want = it && typeof it === "object" ? one(it) : { ok: false, code: ErrorCode.InvalidArgument };
    const got = many[i].ok ? many[i] : { ok: false, code: many[i].error.code };
    assert.deepEqual(got, want, `item ${i}`);
    if (!many[i].ok) assert.equal(many[i].error.index, i);
  });
  assert.deepEqual(many.filter((o) => !o.ok).map((o) => o.error.index), [3, 6, 8, 10, 12, 20]);
});

test("manifests cross as plain objects or JSON text; a newer version is UnknownVersion", async () => {
  const { manifest, prfOutput } = await newVault();
  assert.equal(typeof manifest, "object");
  const prf = { credentialId: cred, prfOutput };
  await Vault.unlock(JSON.stringify(manifest), { prf });
  assert.equal(await acode(() => Vault.unlock({ ...manifest, version: 4 }, { prf })), ErrorCode.UnknownVersion);
  assert.equal(await acode(() => Vault.unlock({ ...manifest, medseal: "x" }, { prf })), ErrorCode.Malformed);
  assert.equal(await acode(() => Vault.unlock({ ...manifest, extra: 1 }, { prf })), ErrorCode.Malformed);
  assert.equal(await acode(() => Vault.unlock({ ...manifest, signature: 5 }, { prf })), ErrorCode.Malformed);
  const cyclic = { ...manifest };
  cyclic.self = cyclic;
  assert.equal(await acode(() => Vault.unlock(cyclic, { prf })), ErrorCode.Malformed);
  assert.equal(await acode(() => Vault.unlock([manifest], { prf })), ErrorCode.InvalidArgument);
});

test("passkey ceremonies outside a browser say so with PrfUnsupported", async () => {
  const { vault, manifest } = await newVault();
  const passkey = { rp: { name: "x" }, user: { id: "u", name: "n", displayName: "d" } };
  await assert.rejects(Vault.unlock(manifest, { passkey: true }), (e) => e instanceof MedsealError && e.code === ErrorCode.PrfUnsupported);
  await assert.rejects(Vault.unlock(manifest, { passkey: { timeout: 10 } }), (e) => e.code === ErrorCode.PrfUnsupported);
  await assert.rejects(Vault.create({ passkey }), (e) => e.code === ErrorCode.PrfUnsupported);
  await assert.rejects(vault.addPasskey({ passkey }), (e) => e.code === ErrorCode.PrfUnsupported);
  // Bad create options are InvalidArgument before any ceremony.
  await assert.rejects(Vault.create({ passkey: { rp: { name: "x" }, user: { id: "", name: "n", displayName: "d" } } }), (e) => e.code === ErrorCode.InvalidArgument);
  await assert.rejects(Vault.create({ passkey: { rp: { name: "x" } } }), (e) => e.code === ErrorCode.InvalidArgument);
});

/** A stand-in authenticator behind `navigator.credentials` for the duration of `f`. */
async function withFakeWebAuthn(behaviour, f) {
  const had = { navigator: Object.getOwnPropertyDescriptor(globalThis, "navigator"), PKC: Object.getOwnPropertyDescriptor(globalThis, "PublicKeyCredential"), secure: Object.getOwnPropertyDescriptor(globalThis, "isSecureContext") };
  class PublicKeyCredential {
    constructor(rawId, prf) {
      this.rawId = rawId;
      this.id = b64u(new Uint8Array(rawId));
      this.type = "public-key";
      this.prf = prf;
    }
    getClientExtensionResults() {
      return { prf: this.prf };
    }
    toJSON() {
      return { id: this.id, rawId: this.id, type: this.type, clientExtensionResults: this.prf?.results ? { prf: { results: { first: b64u(new Uint8Array(this.prf.results.first)) } } } : {} };
    }
    static isUserVerifyingPlatformAuthenticatorAvailable = async () => true;
    static getClientCapabilities = async () => ({ "extension:prf": true });
  }
  const secret = "fake authenticator";
  const hmac = (id, input) => new Uint8Array(createHmac("sha256", secret).update(id).update(input).digest()).buffer;
  const calls = [];
  const credentials = {
    async create(o) {
      calls.push(["create", o]);
      if (behaviour.cancel) throw new DOMException("The operation either timed out or was not allowed.", "NotAllowedError");
      const id = new Uint8Array([42, 42, calls.length]).buffer;
      const prf = behaviour.prfAtCreate ? { enabled: true, results: { first: hmac(new Uint8Array(id), o.publicKey.extensions.prf.eval.first) } } : { enabled: behaviour.noPrf ? false : true };
      return new PublicKeyCredential(id, prf);
    },
    async get(o) {
      calls.push(["get", o]);
      if (behaviour.cancel) throw new DOMException("cancelled", "AbortError");
      const allowed = o.publicKey.allowCredentials[0].id;
      const id = new Uint8Array(allowed).slice().buffer;
      const ev = o.publicKey.extensions.prf.evalByCredential[b64u(new Uint8Array(id))];
      return new PublicKeyCredential(id, behaviour.noPrf ? {} : { results: { first: hmac(new Uint8Array(id), ev.first) } });
    },
  };
  Object.defineProperty(globalThis, "navigator", { value: { credentials }, configurable: true, writable: true });
  Object.defineProperty(globalThis, "PublicKeyCredential", { value: PublicKeyCredential, configurable: true, writable: true });
  Object.defineProperty(globalThis, "isSecureContext", { value: true, configurable: true, writable: true });
  try {
    return await f(calls);
  } finally {
    for (const [k, d] of [["navigator", had.navigator], ["PublicKeyCredential", had.PKC], ["isSecureContext", had.secure]]) {
      if (d) Object.defineProperty(globalThis, k, d);
      else delete globalThis[k];
    }
  }
}

test("{ passkey } sources run the WebAuthn ceremony: create (PRF at create or by a follow-up get), unlock, add; cancel and no-PRF codes", async () => {
  const passkey = { rp: { name: "PHR", id: "phr.example" }, user: { id: "user-1", name: "pat", displayName: "Pat" }, label: "laptop" };
  await withFakeWebAuthn({ prfAtCreate: false }, async (calls) => {
    assert.deepEqual(await webauthn.support(), { webauthn: true, platformAuthenticator: true, prf: true });
    const made = await Vault.create({ passkey });
    assert.equal(made.response, undefined);
    assert.deepEqual(calls.map((c) => c[0]), ["create", "get"], "no PRF at create: one follow-up get()");
    const create = calls[0][1].publicKey;
    assert.equal(create.authenticatorSelection.userVerification, "required");
    assert.equal(create.rp.id, "phr.example");
    assert.equal(calls[1][1].publicKey.rpId, "phr.example");
    const sealed = made.vault.seal("MARKER", { recordId: "r" });
    const { vault } = await Vault.unlock(made.manifest, { passkey: true });
    assert.equal(vault.open(sealed, { recordId: "r" }), "MARKER");
    const get = calls[2][1].publicKey;
    assert.equal(get.userVerification, "required");
    assert.deepEqual(Object.keys(get.extensions.prf.evalByCredential), webauthn.passkeys(made.manifest).map((p) => b64u(p.credentialId)));
    const { manifest } = await vault.addPasskey({ passkey: { ...passkey, label: "phone" } });
    const excluded = calls.find((c, i) => i > 2 && c[0] === "create")[1].publicKey.excludeCredentials;
    assert.equal(excluded.length, 1, "the vault's existing passkey is excluded");
    assert.deepEqual(manifest.unlock.filter((e) => e.type === "passkey").map((e) => e.label), ["laptop", "phone"]);
  });
  await withFakeWebAuthn({ prfAtCreate: true }, async (calls) => {
    const made = await Vault.create({ passkey });
    assert.deepEqual(calls.map((c) => c[0]), ["create"], "PRF at create: no second prompt");
    await Vault.unlock(made.manifest, { passkey: { timeout: 1000 } });
  });
  const { manifest } = await newVault();
  await withFakeWebAuthn({ cancel: true }, async () => {
    assert.equal(await acode(() => Vault.create({ passkey })), ErrorCode.Cancelled);
    assert.equal(await acode(() => Vault.unlock(manifest, { passkey: true })), ErrorCode.Cancelled);
  });
  await withFakeWebAuthn({ noPrf: true }, async () => {
    assert.equal(await acode(() => Vault.create({ passkey })), ErrorCode.PrfUnsupported);
    assert.equal(await acode(() => Vault.unlock(manifest, { passkey: true })), ErrorCode.PrfNotReturned);
  });
});

test("sealLarge/openLarge: large records through WebCrypto, same format as seal/open, tamper still DecryptionFailed", async () => {
  const { vault } = await newVault();
  const scan = new Uint8Array(300 * 1024).map((_, i) => (i * 31) & 255);
  const viaWebCrypto = await vault.sealLarge(scan, { recordId: "scan-1", context: "ct" });
  assert.match(viaWebCrypto, /^ms2\./);
  // Either path opens what the other sealed.
  assert.deepEqual(vault.open(viaWebCrypto, { recordId: "scan-1", context: "ct" }), scan);
  const viaWasm = vault.seal(scan, { recordId: "scan-2" });
  assert.deepEqual(await vault.openLarge(viaWasm, { recordId: "scan-2" }), scan);
  const bytes = await vault.sealLarge({ big: "x".repeat(100000) }, { recordId: "j", form: "bytes" });
  assert.ok(bytes instanceof Uint8Array);
  assert.deepEqual(await vault.openLarge(bytes, { recordId: "j" }), { big: "x".repeat(100000) });
  // The text form, JSON with non-ASCII text, and sizes around the padding steps.
  const note = { text: "é ✓ 🩺 ".repeat(20000) };
  const noteText = await vault.sealLarge(note, { recordId: "n" });
  assert.deepEqual(vault.open(noteText, { recordId: "n" }), note);
  assert.deepEqual(await vault.openLarge(noteText, { recordId: "n" }), note);
  for (const n of [0, 1, 65536, 65537, 70000, 1 << 17]) {
    const data = new Uint8Array(n).map((_, i) => (i * 7 + 1) & 255);
    const a = await vault.sealLarge(data, { recordId: `p${n}`, form: "bytes" });
    assert.equal(a.length, vault.seal(data, { recordId: `p${n}`, form: "bytes" }).length, "same sealed size on both paths");
    const back = await vault.openLarge(a, { recordId: `p${n}` });
    assert.deepEqual(back, data);
    assert.equal(back.byteOffset, 0, "a fresh array, as open returns");
    assert.equal(back.buffer.byteLength, n, "its buffer holds the plaintext only");
    assert.deepEqual(vault.open(a, { recordId: `p${n}` }), data);
  }
  // Small records round-trip too, in both forms and with a context.
  assert.deepEqual(await vault.openLarge(await vault.sealLarge({ a: 1 }, { recordId: "s" }), { recordId: "s" }), { a: 1 });
  assert.deepEqual(await vault.openLarge(vault.seal({ a: 2 }, { recordId: "s", context: "c", form: "bytes" }), { recordId: "s", context: "c" }), { a: 2 });
  // Tampering, another record id, and another vault give the usual codes.
  const t = vault.seal(scan, { recordId: "scan-3", form: "bytes" });
  t[t.length - 100] ^= 1;
  assert.equal(await acode(() => vault.openLarge(t, { recordId: "scan-3" })), ErrorCode.DecryptionFailed);
  assert.equal(await acode(() => vault.openLarge(viaWebCrypto, { recordId: "scan-9", context: "ct" })), ErrorCode.DecryptionFailed);
  const { vault: other } = await newVault();
  assert.equal(await acode(() => other.openLarge(viaWebCrypto, { recordId: "scan-1", context: "ct" })), ErrorCode.DecryptionFailed);
  assert.equal(await acode(() => vault.openLarge("junk", { recordId: "scan-1" })), ErrorCode.Malformed);
  assert.equal(await acode(() => vault.openLarge(viaWebCrypto.slice(0, 50), { recordId: "scan-1", context: "ct" })), ErrorCode.Malformed);
  assert.equal(await acode(() => vault.sealLarge(undefined, { recordId: "u" })), ErrorCode.InvalidArgument);
  vault.lock();
  assert.equal(await acode(() => vault.openLarge(viaWasm, { recordId: "scan-2" })), ErrorCode.Locked);
  assert.equal(await acode(() => vault.sealLarge(scan, { recordId: "scan-4" })), ErrorCode.Locked);
});

test("a { prf } source's PRF output stays the caller's: not wiped, also when it is a Node Buffer", async () => {
  // Buffer#slice() is a view, not a copy: a copy made with .slice() shares the caller's memory.
  const prfOutput = Buffer.from(crypto.getRandomValues(new Uint8Array(32)));
  const keep = Buffer.from(prfOutput);
  const { vault, manifest } = await Vault.create({ prf: { credentialId: cred, prfSalt: webauthn.newPrfSalt(), prfOutput } });
  assert.deepEqual(prfOutput, keep, "Vault.create left the caller's Buffer alone");
  await Vault.unlock(manifest, { prf: { credentialId: cred, prfOutput } });
  assert.deepEqual(prfOutput, keep, "Vault.unlock left the caller's Buffer alone");
  const second = Buffer.from(crypto.getRandomValues(new Uint8Array(32)));
  const keep2 = Buffer.from(second);
  await vault.addPasskey({ prf: { credentialId: new Uint8Array([2]), prfSalt: webauthn.newPrfSalt(), prfOutput: second } });
  assert.deepEqual(second, keep2, "vault.addPasskey left the caller's Buffer alone");
});
