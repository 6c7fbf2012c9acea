// Format 2's unlock entries (FORMAT.md §14.3) against an HPKE implementation
// nobody here wrote: @hpke/core (RFC 9180; P-256 through WebCrypto). medseal
// seals each entry's vault key with the Rust `hpke` crate; this test derives
// the entry's key pair and opens what medseal wrote with @hpke/core, checks
// that what it opens is the vault key (it unwraps the identity key under
// WebCrypto AES-GCM), follows a re-key to epoch 2, and goes the other way:
// a key sealed by @hpke/core, in a manifest re-signed here, unlocks medseal.
// Every derivation below is built in this file from the text of FORMAT.md,
// not taken from medseal.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CipherSuite, DhkemP256HkdfSha256, HkdfSha256, Aes256Gcm } from "@hpke/core";
import { p256 } from "@noble/curves/nist.js";
import { init, Vault, MedsealError, ErrorCode, webauthn } from "../../pkg/dist/node.js";

await init();

// RFC 9180 base mode with the suite of §14.3: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM.
const suite = new CipherSuite({ kem: new DhkemP256HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() });

const enc = new TextEncoder();
const subtle = globalThis.crypto.subtle;
const rnd = (n = 32) => crypto.getRandomValues(new Uint8Array(n));
const b64u = (s) => new Uint8Array(Buffer.from(s, "base64url"));
const toB64u = (u) => Buffer.from(u).toString("base64url");
const cat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};
const u8 = (n) => new Uint8Array([n]);
const u32be = (n) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
};
const u64be = (n) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
};
const utf8 = (s) => enc.encode(s);
/** lp(x) = u32be(len(x)) || x (FORMAT.md §1). */
const lp = (x) => cat(u32be(x.length), typeof x === "string" ? utf8(x) : x);

/** HKDF-SHA256 with WebCrypto, 32 bytes out. */
async function hkdf(ikm, salt, info) {
  const k = await subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  return new Uint8Array(await subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info }, k, 256));
}
/** §5: nonce(12) || ct || tag(16), AES-256-GCM with WebCrypto. */
async function aesOpen(key, wrapped, aad) {
  const k = await subtle.importKey("raw", key, "AES-GCM", false, ["decrypt"]);
  return new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv: wrapped.subarray(0, 12), additionalData: aad }, k, wrapped.subarray(12)));
}
async function aesWrap(key, plain, aad) {
  const k = await subtle.importKey("raw", key, "AES-GCM", false, ["encrypt"]);
  const iv = rnd(12);
  return cat(iv, new Uint8Array(await subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad }, k, plain)));
}
/** WebCrypto's AES-GCM failure (a tag that does not verify). */
const gcmFails = (e) => e instanceof Error && e.name === "OperationError";

// ------------------------------------------------------------ FORMAT.md, rebuilt here

/** §4.1: KEK_passkey = HKDF(prf_output, prf_salt, "medseal/v1/kek/prf" || lp(credential_id) || lp(vault_id)). */
const passkeyKek = (prfOutput, prfSalt, credentialId, vaultId) => hkdf(prfOutput, prfSalt, cat(utf8("medseal/v1/kek/prf"), lp(credentialId), lp(vaultId)));
/** §4.2: KEK_recovery = HKDF(entropy, vault_id, "medseal/v1/kek/recovery"). */
const recoveryKek = (entropy, vaultId) => hkdf(entropy, vaultId, utf8("medseal/v1/kek/recovery"));
/** §14.3: seed = HKDF(KEK, "", "medseal/v2/entry/hpke"), the ikm of DeriveKeyPair. */
const entrySeed = (kek) => hkdf(kek, new Uint8Array(0), utf8("medseal/v2/entry/hpke"));
/** §4.3: vault sub-keys. */
const subkey = (vk, label) => hkdf(vk, new Uint8Array(0), utf8(label));
/** §14.3: info = "medseal/v2/hpke/vault-key" || lp(vault_id) || u32be(epoch). */
const hpkeInfo = (vaultId, epoch) => cat(utf8("medseal/v2/hpke/vault-key"), lp(vaultId), u32be(epoch));
/** §14.3: aad = "medseal/v2/aad/vault-key" || type || lp(vault_id) || lp(id) || fields. */
function hpkeAad(entry, vaultId) {
  const head = cat(utf8("medseal/v2/aad/vault-key"), u8(entry.type === "passkey" ? 1 : 2), lp(vaultId), lp(entry.id));
  return entry.type === "passkey"
    ? cat(head, lp(b64u(entry.credentialId)), lp(b64u(entry.prfSalt)), lp(b64u(entry.publicKey)))
    : cat(head, lp(b64u(entry.publicKey)), lp(b64u(entry.loginKey)));
}
/** §7.5: aad_identity = "medseal/v1/aad/identity-key" || lp(vault_id) || lp(public_key). */
const identityAad = (vaultId, publicKey33) => cat(utf8("medseal/v1/aad/identity-key"), lp(vaultId), lp(publicKey33));
/** §14.2: AAD of an older epoch's vault key wrapped by the current one. */
const epochKeyAad = (vaultId, k, current) => cat(utf8("medseal/v2/aad/epoch-key"), lp(vaultId), u32be(k), u32be(current));
/** §9: the 16 bytes of entropy in a recovery code (Crockford base32, 160 bits, MSB first). */
function recoveryEntropy(code) {
  const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  const symbols = code.replace(/[-\s]/g, "").toUpperCase();
  assert.equal(symbols.length, 32);
  let bits = 0n;
  for (const c of symbols) bits = (bits << 5n) | BigInt(alphabet.indexOf(c));
  const raw = new Uint8Array(20);
  for (let i = 19; i >= 0; i--, bits >>= 8n) raw[i] = Number(bits & 0xffn);
  return raw.subarray(0, 16);
}
/**
 * The signed bytes of a v2 (§14.4) or v3 (§15.3) manifest (here: the reader's copy, for ECDSA with
 * @noble/curves). v3 is v2 with its own label and, after the entries, the share key and the share list.
 */
function manifestSignedBytes(m) {
  assert.ok(m.version === 2 || m.version === 3, `this test knows manifest versions 2 and 3, not ${m.version}`);
  const v3 = m.version === 3;
  const opt = (x) => (x === undefined ? new Uint8Array(0) : b64u(x));
  const parts = [lp(v3 ? "medseal/v3/manifest/signature" : "medseal/v2/manifest/signature"), u64be(m.version), lp(b64u(m.vaultId)), u64be(m.revision), lp(opt(m.parent)), u32be(m.epoch)];
  parts.push(lp(b64u(m.identityKey.publicKey)), lp(b64u(m.identityKey.wrappedPrivateKey)), u32be(m.epochs.length));
  for (const e of m.epochs) parts.push(u32be(e.epoch), lp(b64u(e.publicKey)), lp(b64u(e.handover)), lp(opt(e.wrappedVaultKey)));
  parts.push(u32be(m.unlock.length));
  for (const e of m.unlock) {
    if (e.type === "passkey") {
      parts.push(u8(1), lp(e.id), lp(b64u(e.credentialId)), lp(b64u(e.prfSalt)), lp(opt(e.publicKey)), lp(b64u(e.wrappedVaultKey)));
      parts.push(e.label === undefined ? u8(0) : cat(u8(1), lp(e.label)));
    } else {
      parts.push(u8(2), lp(e.id), lp(opt(e.publicKey)), lp(opt(e.loginKey)), lp(b64u(e.wrappedVaultKey)));
    }
  }
  if (v3) {
    // §15.3: || lp(shareKey) || u32be(#shares) || each: lp(id) || u8(kind) || (0x01 || lp(scope) | 0x00) || u64be(expires) || lp(digest) || lp(key)
    parts.push(lp(b64u(m.shareKey)), u32be(m.shares.length));
    for (const s of m.shares) {
      assert.ok(s.kind === "grant" || s.kind === "link");
      parts.push(lp(b64u(s.id)), u8(s.kind === "grant" ? 1 : 2), s.scope === undefined ? u8(0) : cat(u8(1), lp(s.scope)));
      parts.push(u64be(s.expires), lp(b64u(s.digest)), lp(b64u(s.key)));
    }
  }
  return cat(...parts);
}

// ------------------------------------------------------------ HPKE with @hpke/core

/** RFC 9180 §7.1.3 DeriveKeyPair(seed) for DHKEM(P-256, HKDF-SHA256), by @hpke/core; and SerializePublicKey (65 bytes, uncompressed). */
async function deriveEntryKeyPair(seed) {
  const keyPair = await suite.kem.deriveKeyPair(seed);
  return { keyPair, publicKey: new Uint8Array(await suite.kem.serializePublicKey(keyPair.publicKey)) };
}
/** OpenBase(enc, skR, info, aad, ct) with wrappedVaultKey = enc (65) || ct (48). */
async function openEntry(entry, keyPair, vaultId, epoch) {
  const sealed = b64u(entry.wrappedVaultKey);
  assert.equal(sealed.length, 113, "wrappedVaultKey = enc (65) || ct (32 + 16)");
  const pt = await suite.open({ recipientKey: keyPair, enc: sealed.subarray(0, 65), info: hpkeInfo(vaultId, epoch) }, sealed.subarray(65), hpkeAad(entry, vaultId));
  return new Uint8Array(pt);
}
/** SealBase(pkR, info, aad, key) -> enc || ct, by @hpke/core. */
async function sealToEntry(entry, key, vaultId, epoch) {
  const recipientPublicKey = await suite.kem.deserializePublicKey(b64u(entry.publicKey));
  const { enc: e, ct } = await suite.seal({ recipientPublicKey, info: hpkeInfo(vaultId, epoch) }, key, hpkeAad(entry, vaultId));
  return cat(new Uint8Array(e), new Uint8Array(ct));
}
/** §4.3 + §7.5: unwraps identityKey.wrappedPrivateKey under K_wrap_identity(VK). */
async function unwrapIdentity(manifest, vk) {
  const kWrapIdentity = await subkey(vk, "medseal/v1/vault/wrap-identity");
  return aesOpen(kWrapIdentity, b64u(manifest.identityKey.wrappedPrivateKey), identityAad(b64u(manifest.vaultId), b64u(manifest.identityKey.publicKey)));
}

// ------------------------------------------------------------ the vault under test

const credA = utf8("hpke-interop-credential-A");
const credB = utf8("hpke-interop-credential-B");
/** A vault with two passkeys of known PRF output (and its recovery code), no seen store. */
async function newVault() {
  const a = { credentialId: credA, prfSalt: webauthn.newPrfSalt(), prfOutput: rnd(), label: "laptop" };
  const b = { credentialId: credB, prfSalt: webauthn.newPrfSalt(), prfOutput: rnd() };
  const made = await Vault.create({ prf: { ...a } }, { store: null });
  await made.vault.addPasskey({ prf: { ...b } });
  return { ...made, manifest: made.vault.manifest(), keys: [a, b] };
}
/** The KEK of every entry of a manifest, from what the test knows (PRF outputs, recovery code). */
async function keksOf(manifest, keys, recoveryCode) {
  const vaultId = b64u(manifest.vaultId);
  const out = [];
  for (const entry of manifest.unlock) {
    if (entry.type === "passkey") {
      const k = keys.find((k) => toB64u(k.credentialId) === entry.credentialId);
      assert.deepEqual(b64u(entry.prfSalt), k.prfSalt, "the entry stores the salt given");
      out.push({ entry, kek: await passkeyKek(k.prfOutput, k.prfSalt, k.credentialId, vaultId) });
    } else {
      out.push({ entry, kek: await recoveryKek(recoveryEntropy(recoveryCode), vaultId) });
    }
  }
  return out;
}
/** (a) and (b) for every entry: the public key derived by @hpke/core is the entry's, and OpenBase gives 32 bytes, the same for all. */
async function openAll(manifest, keys, recoveryCode) {
  const vaultId = b64u(manifest.vaultId);
  let vk;
  for (const { entry, kek } of await keksOf(manifest, keys, recoveryCode)) {
    const { keyPair, publicKey } = await deriveEntryKeyPair(await entrySeed(kek));
    assert.equal(publicKey.length, 65);
    assert.equal(publicKey[0], 0x04, "SerializePublicKey of P-256 is uncompressed SEC1");
    assert.deepEqual(publicKey, b64u(entry.publicKey), `(a) ${entry.type} ${entry.id}: @hpke/core's DeriveKeyPair(seed) is the entry's publicKey`);
    const opened = await openEntry(entry, keyPair, vaultId, manifest.epoch);
    assert.equal(opened.length, 32, `(b) ${entry.type} ${entry.id}: @hpke/core opens 32 bytes`);
    if (vk) assert.deepEqual(opened, vk, "every entry holds the same vault key");
    vk = opened;
  }
  return vk;
}

test("(a)-(c): @hpke/core derives every entry's public key and opens its wrappedVaultKey to the vault key", async () => {
  const { vault, manifest, keys, recoveryCode } = await newVault();
  assert.equal(manifest.version, 3, "medseal writes format 3 (§15.3)");
  assert.equal(manifest.epoch, 1);
  assert.deepEqual(manifest.shares, [], "a new vault has no grants");
  assert.deepEqual(
    manifest.unlock.map((e) => e.type),
    ["passkey", "recovery", "passkey"],
  );
  const vk = await openAll(manifest, keys, recoveryCode);

  // (c) The 32 bytes are the vault key: K_wrap_identity(VK) unwraps the identity key (WebCrypto AES-GCM),
  // and the scalar it gives is the private key of identityKey.publicKey.
  const scalar = await unwrapIdentity(manifest, vk);
  assert.equal(scalar.length, 32);
  assert.deepEqual(p256.getPublicKey(scalar, true), b64u(manifest.identityKey.publicKey));
  // ... and it signed this manifest: the signed bytes of §15.3 (§14.4 extended), rebuilt here, verify (low-S) under it.
  assert.ok(p256.verify(b64u(manifest.signature), manifestSignedBytes(manifest), b64u(manifest.identityKey.publicKey), { lowS: true }));
  // ... and K_wrap_dek(VK) unwraps a record's data key (§14.7: bytes 18..78, aad_dek).
  const rec = vault.seal({ allergy: "penicillin" }, { recordId: "r-1", context: "ctx", form: "bytes" });
  const aadDek = cat(utf8("medseal/v2/aad/dek"), rec.subarray(0, 18), lp(b64u(manifest.vaultId)), lp("r-1"), lp("ctx"));
  assert.equal((await aesOpen(await subkey(vk, "medseal/v1/vault/wrap-dek"), rec.subarray(18, 78), aadDek)).length, 32);

  // Negative: the info and the aad are bound. Another epoch in info, or another entry's aad, does not open.
  const [{ entry, kek }] = await keksOf(manifest, keys, recoveryCode);
  const { keyPair } = await deriveEntryKeyPair(await entrySeed(kek));
  await assert.rejects(openEntry(entry, keyPair, b64u(manifest.vaultId), 2), "epoch 2 in info does not open an epoch-1 key");
  await assert.rejects(openEntry({ ...entry, id: entry.id + "x" }, keyPair, b64u(manifest.vaultId), 1), "another entry id in aad does not open");
  await assert.rejects(unwrapIdentity(manifest, rnd()), gcmFails, "another key does not unwrap the identity key");
  vault.lock();
});

test("(d): after rekey() every entry opens to the epoch-2 vault key, and the epoch-1 key no longer unwraps the identity key", async () => {
  const { vault, manifest: m1, keys, recoveryCode } = await newVault();
  const vk1 = await openAll(m1, keys, recoveryCode);
  const m2 = vault.rekey();
  assert.equal(m2.epoch, 2);
  assert.equal(m2.revision, m1.revision + 1);
  for (const [i, e] of m2.unlock.entries()) assert.equal(e.publicKey, m1.unlock[i].publicKey, "an entry keeps its key pair across a re-key");

  const vk2 = await openAll(m2, keys, recoveryCode); // epoch 2 in info
  assert.notDeepEqual(vk2, vk1, "a re-key makes a new vault key");
  const scalar2 = await unwrapIdentity(m2, vk2);
  assert.deepEqual(p256.getPublicKey(scalar2, true), b64u(m2.identityKey.publicKey));
  assert.ok(p256.verify(b64u(m2.signature), manifestSignedBytes(m2), b64u(m2.identityKey.publicKey), { lowS: true }));
  await assert.rejects(unwrapIdentity(m2, vk1), gcmFails, "the epoch-1 vault key does not open the epoch-2 identity key");

  // The epoch-2 entries do not open as epoch 1 (the epoch is in info).
  const [{ entry, kek }] = await keksOf(m2, keys, recoveryCode);
  const { keyPair } = await deriveEntryKeyPair(await entrySeed(kek));
  await assert.rejects(openEntry(entry, keyPair, b64u(m2.vaultId), 1));

  // §14.2: the epoch-1 key is kept wrapped by K_wrap_epoch(VK_2), and the identity key of epoch 1 is in epochs[0].
  assert.equal(m2.epochs.length, 1);
  assert.equal(m2.epochs[0].publicKey, m1.identityKey.publicKey);
  const kWrapEpoch = await subkey(vk2, "medseal/v2/vault/wrap-epoch");
  assert.deepEqual(await aesOpen(kWrapEpoch, b64u(m2.epochs[0].wrappedVaultKey), epochKeyAad(b64u(m2.vaultId), 1, 2)), vk1);
  vault.lock();
});

test("the other direction: a fresh vault key sealed by @hpke/core to each entry unlocks medseal", async () => {
  const { vault, manifest, keys, recoveryCode } = await newVault();
  const vaultId = b64u(manifest.vaultId);
  const vk = await openAll(manifest, keys, recoveryCode);
  const scalar = await unwrapIdentity(manifest, vk);
  const before = vault.seal({ note: "sealed under the old key" }, { recordId: "old" });
  vault.lock();

  // A new manifest, written here: a fresh 32-byte vault key sealed by @hpke/core (SealBase, same info and
  // aad) to every entry's publicKey, the same identity key wrapped under K_wrap_identity(fresh), the
  // share key of the fresh key (§15.2: DeriveKeyPair(HKDF(fresh, "", "medseal/v3/vault/share-key")) by
  // @hpke/core), no shares, the next revision naming this one as parent (§14.5), re-signed (low-S)
  // with @noble/curves over the v3 signed bytes (§15.3).
  assert.equal(manifest.version, 3);
  assert.deepEqual(manifest.shares, [], "no share keys to move to the fresh vault key");
  const fresh = rnd(32);
  const m = structuredClone(manifest);
  for (const entry of m.unlock) entry.wrappedVaultKey = toB64u(await sealToEntry(entry, fresh, vaultId, m.epoch));
  m.identityKey.wrappedPrivateKey = toB64u(await aesWrap(await subkey(fresh, "medseal/v1/vault/wrap-identity"), scalar, identityAad(vaultId, b64u(m.identityKey.publicKey))));
  const freshShareKey = (await deriveEntryKeyPair(await subkey(fresh, "medseal/v3/vault/share-key"))).publicKey;
  m.shareKey = toB64u(freshShareKey);
  m.parent = toB64u(new Uint8Array(await subtle.digest("SHA-256", cat(lp("medseal/v2/manifest/hash"), manifestSignedBytes(manifest)))));
  m.revision = manifest.revision + 1;
  // Field order of §15.3 (§14.4's up to unlock, then shareKey, shares, signature; the reader does not need it).
  const ordered = {
    medseal: m.medseal,
    version: m.version,
    vaultId: m.vaultId,
    revision: m.revision,
    parent: m.parent,
    epoch: m.epoch,
    identityKey: m.identityKey,
    epochs: m.epochs,
    unlock: m.unlock,
    shareKey: m.shareKey,
    shares: m.shares,
  };
  ordered.signature = toB64u(p256.sign(manifestSignedBytes(ordered), scalar, { lowS: true }));

  // medseal (OpenBase in the Rust hpke crate) opens @hpke/core's enc || ct through each passkey and the recovery code ...
  const other = (await Vault.create({ prf: { credentialId: utf8("other"), prfSalt: webauthn.newPrfSalt(), prfOutput: rnd() } }, { store: null })).vault;
  const { grant: toFresh } = other.grant({ grantee: ordered, records: ["x"], expires: Date.now() + 3600e3 });
  assert.equal(JSON.parse(toFresh).granteeKey, toB64u(freshShareKey));
  const unlocked = [];
  for (const k of keys) unlocked.push((await Vault.unlock(ordered, { prf: { credentialId: k.credentialId, prfOutput: k.prfOutput } }, { store: null })).vault);
  unlocked.push((await Vault.unlock(ordered, { recoveryCode }, { store: null })).vault);
  for (const v of unlocked) {
    // ... and holds exactly the fresh key: what it seals now, K_wrap_dek(fresh) opens (WebCrypto) ...
    const rec = v.seal({ note: "new" }, { recordId: "new", form: "bytes" });
    const aadDek = cat(utf8("medseal/v2/aad/dek"), rec.subarray(0, 18), lp(vaultId), lp("new"), lp(new Uint8Array(0)));
    assert.equal((await aesOpen(await subkey(fresh, "medseal/v1/vault/wrap-dek"), rec.subarray(18, 78), aadDek)).length, 32);
    assert.deepEqual(v.open(rec, { recordId: "new" }), { note: "new" });
    // ... and derives from it the share key written here: a grant sealed to that key opens (medseal
    // requires the share key it derives from the grantee epoch's vault key to equal granteeKey).
    assert.deepEqual(v.openShared({ grant: toFresh, grantor: other.manifest(), items: [] }), []);
    // ... and no longer the old one (this manifest has no wrapped epoch keys).
    assert.throws(() => v.open(before, { recordId: "old" }), (e) => e instanceof MedsealError && e.code === ErrorCode.DecryptionFailed);
    v.lock();
  }

  // A key @hpke/core sealed with another epoch in info is refused (UnlockFailed), as medseal's own would be.
  const wrong = structuredClone(ordered);
  for (const entry of wrong.unlock) entry.wrappedVaultKey = toB64u(await sealToEntry(entry, fresh, vaultId, m.epoch + 1));
  wrong.signature = toB64u(p256.sign(manifestSignedBytes(wrong), scalar, { lowS: true }));
  await assert.rejects(
    Vault.unlock(wrong, { prf: { credentialId: keys[0].credentialId, prfOutput: keys[0].prfOutput } }, { store: null }),
    (e) => e instanceof MedsealError && e.code === ErrorCode.UnlockFailed,
  );
});
