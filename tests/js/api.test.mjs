// The npm package's API in Node 20, through createFromPrf/unlockFromPrf (no
// browser): round trips, error codes, lock, tampering, and garbage arguments.
import { test } from "node:test";
import assert from "node:assert/strict";
import { init, Vault, MedsealError, ErrorCode } from "../../pkg/dist/index.js";

await init();

const cred = new Uint8Array([9, 8, 7, 6]);
function newVault() {
  const prfOutput = crypto.getRandomValues(new Uint8Array(32));
  const prfSalt = Vault.newPrfSalt();
  return { ...Vault.createFromPrf({ credentialId: cred, prfSalt, prfOutput, label: "test" }), prfOutput };
}
function code(f) {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof MedsealError, `not a MedsealError: ${e}`);
    return e.code;
  }
  assert.fail("did not throw");
}

test("init is idempotent", async () => {
  await init();
  await init();
});

test("JSON values and bytes round-trip through both forms", () => {
  const { vault } = newVault();
  for (const value of [{ allergy: "penicillin", severity: 3 }, [1, "two", null], "text", 42, true, null]) {
    const s = vault.seal(value, { recordId: "r" });
    assert.match(s, /^ms1\.[A-Za-z0-9_-]+$/);
    assert.deepEqual(vault.open(s, { recordId: "r" }), value);
    const b = vault.sealBytes(value, { recordId: "r", context: "ctx" });
    assert.ok(b instanceof Uint8Array);
    assert.deepEqual(vault.open(b, { recordId: "r", context: "ctx" }), value);
  }
  const bytes = new Uint8Array([0, 1, 2, 255]);
  assert.deepEqual(vault.open(vault.seal(bytes, { recordId: "b" }), { recordId: "b" }), bytes);
});

test("many records", () => {
  const { vault } = newVault();
  const sealed = Array.from({ length: 2000 }, (_, i) => vault.seal({ i, note: `record ${i}` }, { recordId: `id-${i}` }));
  sealed.forEach((s, i) => assert.deepEqual(vault.open(s, { recordId: `id-${i}` }), { i, note: `record ${i}` }));
});

test("unlock from the stored manifest with the passkey or the recovery code", () => {
  const { vault, manifest, recoveryCode, prfOutput } = newVault();
  const s = vault.seal({ lab: "HbA1c", value: 6.1 }, { recordId: "lab-1" });
  const stored = JSON.parse(JSON.stringify(manifest));
  const v2 = Vault.unlockFromPrf(stored, { credentialId: cred, prfOutput });
  assert.deepEqual(v2.open(s, { recordId: "lab-1" }), { lab: "HbA1c", value: 6.1 });
  const v3 = Vault.unlockWithRecoveryCode(JSON.stringify(stored), recoveryCode.toLowerCase().replaceAll("-", " "));
  assert.equal(v3.vaultId, vault.vaultId);
});

test("every core error code is reachable from JS", () => {
  const { vault, manifest, recoveryCode, prfOutput } = newVault();
  const s = vault.seal("x", { recordId: "r" });
  assert.equal(code(() => vault.open(s, { recordId: "other" })), ErrorCode.DecryptionFailed);
  assert.equal(code(() => vault.open("ms2.AAAA", { recordId: "r" })), ErrorCode.UnknownVersion);
  assert.equal(code(() => vault.open("nope", { recordId: "r" })), ErrorCode.Malformed);
  assert.equal(code(() => Vault.unlockFromPrf(manifest, { credentialId: cred, prfOutput: new Uint8Array(32) })), ErrorCode.InvalidPrfOutput);
  const wrong = prfOutput.slice();
  wrong[0] ^= 1;
  assert.equal(code(() => Vault.unlockFromPrf(manifest, { credentialId: cred, prfOutput: wrong })), ErrorCode.UnlockFailed);
  assert.equal(code(() => Vault.unlockFromPrf(manifest, { credentialId: new Uint8Array([1]), prfOutput })), ErrorCode.UnknownUnlockEntry);
  assert.equal(code(() => Vault.unlockWithRecoveryCode(manifest, recoveryCode.replace(/^./, (c) => (c === "A" ? "B" : "A")))), ErrorCode.InvalidRecoveryCode);
  assert.equal(code(() => Vault.unlockFromPrf(manifest, { credentialId: cred, prfOutput }, { minRevision: 2 })), ErrorCode.StaleManifest);
  const forged = { ...manifest, revision: manifest.revision + 1 };
  assert.equal(code(() => Vault.unlockFromPrf(forged, { credentialId: cred, prfOutput })), ErrorCode.ManifestInvalid);
  const passkeyId = manifest.unlock.find((e) => e.type === "passkey").id;
  assert.equal(code(() => vault.removeUnlock(passkeyId)), ErrorCode.LastUnlockMethod);
  assert.equal(code(() => vault.seal(new Uint8Array(300 * 1024 * 1024), { recordId: "huge" })), ErrorCode.TooLarge);
  assert.equal(code(() => vault.seal("x", { recordId: "" })), ErrorCode.InvalidArgument);
  vault.lock();
  assert.equal(code(() => vault.open(s, { recordId: "r" })), ErrorCode.Locked);
});

test("passkeys added and removed, recovery rotated", () => {
  const { vault, recoveryCode: oldCode } = newVault();
  const prf2 = crypto.getRandomValues(new Uint8Array(32));
  const cred2 = new Uint8Array([1, 1, 1]);
  const m2 = vault.addPasskeyFromPrf({ credentialId: cred2, prfSalt: Vault.newPrfSalt(), prfOutput: prf2, label: "backup" });
  assert.equal(m2.revision, 2);
  const first = m2.unlock.find((e) => e.type === "passkey" && e.label === "test");
  const m3 = vault.removeUnlock(first.id);
  assert.equal(m3.revision, 3);
  assert.equal(code(() => Vault.unlockFromPrf(m3, { credentialId: cred, prfOutput: new Uint8Array(32).fill(1) })), ErrorCode.UnknownUnlockEntry);
  const v2 = Vault.unlockFromPrf(m3, { credentialId: cred2, prfOutput: prf2 }, { minRevision: 3 });
  const { manifest: m4, recoveryCode } = vault.rotateRecoveryCode();
  assert.notEqual(recoveryCode, oldCode);
  assert.equal(code(() => Vault.unlockWithRecoveryCode(m4, oldCode)), ErrorCode.UnlockFailed);
  Vault.unlockWithRecoveryCode(m4, recoveryCode);
  v2.updateManifest(m4);
  assert.equal(v2.manifest.revision, 4);
});

test("tampered and truncated records give typed errors and the instance keeps working", () => {
  const { vault } = newVault();
  const b = vault.sealBytes({ dx: "asthma" }, { recordId: "r" });
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

test("garbage of every JS type as every argument gives InvalidArgument, never a crash", () => {
  const { vault, manifest, prfOutput } = newVault();
  const garbage = [undefined, null, 0, -1, NaN, 1.5, "", "x", true, {}, [], [1, 2], Symbol("s"), 10n, () => 1, new Date(), new ArrayBuffer(3), new Uint16Array(2), new Map()];
  const ok = [ErrorCode.InvalidArgument, ErrorCode.Malformed, ErrorCode.InvalidPrfOutput, ErrorCode.DecryptionFailed, ErrorCode.UnknownUnlockEntry, ErrorCode.InvalidRecoveryCode];
  const s = vault.seal(1, { recordId: "r" });
  for (const g of garbage) {
    const calls = [
      () => vault.seal(g, g),
      () => vault.seal(1, { recordId: g }),
      () => vault.seal(1, { recordId: "r", context: g }),
      () => vault.open(g, { recordId: "r" }),
      () => vault.open(s, g),
      () => vault.open(s, { recordId: g }),
      () => Vault.unlockFromPrf(g, { credentialId: cred, prfOutput }),
      () => Vault.unlockFromPrf(manifest, g),
      () => Vault.unlockFromPrf(manifest, { credentialId: g, prfOutput }),
      () => Vault.unlockFromPrf(manifest, { credentialId: cred, prfOutput: g }),
      () => Vault.unlockWithRecoveryCode(manifest, g),
      () => Vault.createFromPrf(g),
      () => Vault.createFromPrf({ credentialId: g, prfSalt: g, prfOutput: g }),
      () => vault.removeUnlock(g),
      () => vault.updateManifest(g),
    ];
    for (const f of calls) {
      let threw = false;
      try {
        f();
      } catch (e) {
        threw = true;
        assert.ok(e instanceof MedsealError, `${String(e)} for ${typeof g}`);
        assert.ok(ok.includes(e.code), `${e.code} for ${typeof g}`);
      }
      // Some garbage is legitimately accepted (e.g. a number as a JSON record); nothing may crash.
      void threw;
    }
  }
  assert.deepEqual(vault.open(s, { recordId: "r" }), 1, "instance still works");
});

test("nothing secret is serializable from a vault", () => {
  const { vault, prfOutput, recoveryCode } = newVault();
  const json = JSON.stringify(vault);
  assert.deepEqual(Object.keys(JSON.parse(json)), ["vaultId"]);
  assert.ok(!json.includes(recoveryCode));
  assert.ok(!json.includes(Buffer.from(prfOutput).toString("hex")));
});

test("withoutPrf strips PRF results from a credential's JSON and keeps the rest", () => {
  const results = { first: "c2VjcmV0LXByZi1vdXRwdXQtMzItYnl0ZXMtbG9uZw" };
  const cred = { id: "abc", rawId: "abc", type: "public-key", response: { signature: "sig" }, clientExtensionResults: { prf: { enabled: true, results } } };
  const safe = Vault.withoutPrf(cred);
  assert.ok(!JSON.stringify(safe).includes(results.first));
  assert.deepEqual(safe.clientExtensionResults, { prf: { enabled: true } });
  assert.equal(safe.response.signature, "sig");
  assert.equal(cred.clientExtensionResults.prf.results, results, "the original is not modified");
  const onlyResults = Vault.withoutPrf({ clientExtensionResults: { prf: { results } } });
  assert.deepEqual(onlyResults.clientExtensionResults, {});
  assert.equal(code(() => Vault.withoutPrf(null)), ErrorCode.InvalidArgument);
});

test("non-ASCII JSON, text forms as strings, bytes and mixed in batches: the bytes-for-strings path round-trips", async () => {
  const { vault } = newVault();
  const notes = [{ t: "é ✓ 🩺 \u0000 \"q\"" }, { t: "ascii" }, "plain string", 42, null, [1, "ü"], { t: "\ud800 lone" }];
  for (const [i, n] of notes.entries()) {
    const text = vault.seal(n, { recordId: `n${i}` });
    const expected = JSON.parse(JSON.stringify(n));
    assert.deepEqual(vault.open(text, { recordId: `n${i}` }), expected);
    assert.deepEqual(vault.open(vault.sealBytes(n, { recordId: `m${i}` }), { recordId: `m${i}` }), expected);
  }
  const items = notes.map((n, i) => ({ record: i === 3 ? new Uint8Array([1, 2]) : n, recordId: `b${i}` }));
  const sealed = vault.sealMany(items);
  const asBytes = vault.sealMany(items, { form: "bytes" });
  const mixed = sealed.map((s, i) => ({ sealed: i % 2 ? s : asBytes[i], recordId: `b${i}` }));
  assert.deepEqual(vault.openMany(mixed), items.map((it) => (it.record instanceof Uint8Array ? it.record : JSON.parse(JSON.stringify(it.record)))));
  // A text form with a character outside base64url, and one that is not "ms1.": the usual codes.
  assert.equal(code(() => vault.open(sealed[0].slice(0, 10) + "é" + sealed[0].slice(11), { recordId: "b0" })), ErrorCode.Malformed);
  assert.equal(code(() => vault.open("ms2." + sealed[0].slice(4), { recordId: "b0" })), ErrorCode.UnknownVersion);
  // A Uint8Array is always the bytes form, even when it holds a text form's characters.
  assert.equal(code(() => vault.open(new TextEncoder().encode(sealed[0]), { recordId: "b0" })), ErrorCode.Malformed);
  // Proxies of Uint8Arrays anywhere: InvalidArgument, and the vault is not left unusable.
  const proxy = new Proxy(new Uint8Array(300), {});
  assert.equal(code(() => vault.open(proxy, { recordId: "p" })), ErrorCode.InvalidArgument);
  assert.equal(code(() => vault.open(outerOk(), { recordId: "outer", context: proxy })), ErrorCode.InvalidArgument);
  assert.equal(code(() => vault.seal({ a: 1 }, { recordId: "outer", context: proxy })), ErrorCode.InvalidArgument);
  await assert.rejects(vault.openAsync(proxy, { recordId: "p", webCryptoFrom: 1 }), (e) => e.code === ErrorCode.InvalidArgument);
  assert.equal(code(() => vault.openMany([{ sealed: proxy, recordId: "p" }])), ErrorCode.InvalidArgument);
  assert.deepEqual(vault.open(vault.seal({ still: "works" }, { recordId: "s" }), { recordId: "s" }), { still: "works" });
  function outerOk() {
    return vault.seal({ ok: 1 }, { recordId: "outer" });
  }
});

test("sealMany/openMany: thousands of records in one call each, mixed JSON and bytes", () => {
  const { vault } = newVault();
  const items = Array.from({ length: 3000 }, (_, i) => ({
    record: i % 3 === 0 ? new Uint8Array([i & 255, 1, 2]) : { i, dose: `${i} mg` },
    recordId: `r-${i}`,
    context: i % 2 ? "ctx" : undefined,
  }));
  const sealed = vault.sealMany(items);
  assert.equal(sealed.length, 3000);
  assert.ok(sealed.every((s) => typeof s === "string" && s.startsWith("ms1.")));
  const opened = vault.openMany(sealed.map((s, i) => ({ sealed: s, recordId: `r-${i}`, context: i % 2 ? "ctx" : undefined })));
  opened.forEach((v, i) => assert.deepEqual(v, items[i].record));
  const asBytes = vault.sealMany(items.slice(0, 10), { form: "bytes" });
  assert.ok(asBytes.every((b) => b instanceof Uint8Array));
  assert.deepEqual(vault.openMany([{ sealed: asBytes[1], recordId: "r-1", context: "ctx" }]), [items[1].record]);
});

test("openManySettled reports each bad record and still opens the rest; openMany throws with the index", () => {
  const { vault } = newVault();
  const sealed = vault.sealMany([0, 1, 2].map((i) => ({ record: { i }, recordId: `r-${i}` })));
  const items = sealed.map((s, i) => ({ sealed: s, recordId: `r-${i}` }));
  items[1].recordId = "moved";
  const settled = vault.openManySettled(items);
  assert.deepEqual(settled[0], { ok: true, value: { i: 0 } });
  assert.equal(settled[1].ok, false);
  assert.ok(settled[1].error instanceof MedsealError);
  assert.equal(settled[1].error.code, ErrorCode.DecryptionFailed);
  assert.deepEqual(settled[2], { ok: true, value: { i: 2 } });
  try {
    vault.openMany(items);
    assert.fail("did not throw");
  } catch (e) {
    assert.equal(e.code, ErrorCode.DecryptionFailed);
    assert.equal(e.index, 1);
  }
  try {
    vault.sealMany([{ record: 1, recordId: "ok" }, { record: 2, recordId: "" }]);
    assert.fail("did not throw");
  } catch (e) {
    assert.equal(e.code, ErrorCode.InvalidArgument);
    assert.equal(e.index, 1);
  }
  for (const g of [null, 1, "x", {}, [1], [{ sealed: 1 }], [{ record: 1 }]]) {
    assert.equal(code(() => vault.sealMany(g)), ErrorCode.InvalidArgument);
    assert.equal(code(() => vault.openMany(g)), ErrorCode.InvalidArgument);
  }
});

test("manifests cross as plain objects or JSON text; a newer version is UnknownVersion", () => {
  const { manifest, prfOutput } = newVault();
  assert.equal(typeof manifest, "object");
  Vault.unlockFromPrf(JSON.stringify(manifest), { credentialId: cred, prfOutput });
  assert.equal(code(() => Vault.unlockFromPrf({ ...manifest, version: 2 }, { credentialId: cred, prfOutput })), ErrorCode.UnknownVersion);
  assert.equal(code(() => Vault.unlockFromPrf({ ...manifest, medseal: "x" }, { credentialId: cred, prfOutput })), ErrorCode.Malformed);
  assert.equal(code(() => Vault.unlockFromPrf({ ...manifest, extra: 1 }, { credentialId: cred, prfOutput })), ErrorCode.Malformed);
  assert.equal(code(() => Vault.unlockFromPrf({ ...manifest, signature: 5 }, { credentialId: cred, prfOutput })), ErrorCode.Malformed);
});

test("passkey ceremonies outside a browser say so with PrfUnsupported", async () => {
  const { manifest } = newVault();
  await assert.rejects(Vault.unlock(manifest), (e) => e instanceof MedsealError && e.code === ErrorCode.PrfUnsupported);
  await assert.rejects(Vault.create({ rp: { name: "x" }, user: { id: "u", name: "n", displayName: "d" } }), (e) => e.code === ErrorCode.PrfUnsupported);
});

test("sealAsync/openAsync: large records through WebCrypto, same format as seal/open, tamper still DecryptionFailed", async () => {
  const { vault } = newVault();
  const scan = new Uint8Array(300 * 1024).map((_, i) => (i * 31) & 255);
  const viaWebCrypto = await vault.sealAsync(scan, { recordId: "scan-1", context: "ct" });
  assert.match(viaWebCrypto, /^ms1\./);
  // Either path opens what the other sealed.
  assert.deepEqual(vault.open(viaWebCrypto, { recordId: "scan-1", context: "ct" }), scan);
  const viaWasm = vault.seal(scan, { recordId: "scan-2" });
  assert.deepEqual(await vault.openAsync(viaWasm, { recordId: "scan-2" }), scan);
  const bytes = await vault.sealAsync({ big: "x".repeat(100000) }, { recordId: "j", form: "bytes" });
  assert.ok(bytes instanceof Uint8Array);
  assert.deepEqual(await vault.openAsync(bytes, { recordId: "j" }), { big: "x".repeat(100000) });
  // The text form, JSON with non-ASCII text, and sizes around the padding steps.
  const note = { text: "é ✓ 🩺 ".repeat(20000) };
  const noteText = await vault.sealAsync(note, { recordId: "n" });
  assert.deepEqual(vault.open(noteText, { recordId: "n" }), note);
  assert.deepEqual(await vault.openAsync(noteText, { recordId: "n" }), note);
  for (const n of [65536, 65537, 70000, 1 << 17]) {
    const data = new Uint8Array(n).map((_, i) => (i * 7 + 1) & 255);
    const a = await vault.sealAsync(data, { recordId: `p${n}`, form: "bytes" });
    assert.equal(a.length, vault.sealBytes(data, { recordId: `p${n}` }).length, "same sealed size on both paths");
    const back = await vault.openAsync(a, { recordId: `p${n}` });
    assert.deepEqual(back, data);
    assert.equal(back.byteOffset, 0, "a fresh array, as open returns");
    assert.equal(back.buffer.byteLength, n, "its buffer holds the plaintext only");
    assert.deepEqual(vault.open(a, { recordId: `p${n}` }), data);
  }
  // Small records stay in wasm and still round-trip.
  assert.deepEqual(await vault.openAsync(await vault.sealAsync({ a: 1 }, { recordId: "s" }), { recordId: "s" }), { a: 1 });
  // Tampering, another record id, and another vault give the usual codes.
  const t = vault.sealBytes(scan, { recordId: "scan-3" });
  t[t.length - 100] ^= 1;
  await assert.rejects(vault.openAsync(t, { recordId: "scan-3" }), (e) => e.code === ErrorCode.DecryptionFailed);
  await assert.rejects(vault.openAsync(viaWebCrypto, { recordId: "scan-9", context: "ct" }), (e) => e.code === ErrorCode.DecryptionFailed);
  const { vault: other } = newVault();
  await assert.rejects(other.openAsync(viaWebCrypto, { recordId: "scan-1", context: "ct" }), (e) => e.code === ErrorCode.DecryptionFailed);
  vault.lock();
  await assert.rejects(vault.openAsync(viaWasm, { recordId: "scan-2" }), (e) => e.code === ErrorCode.Locked);
});
