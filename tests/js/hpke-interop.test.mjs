// Format 2's unlock entries (FORMAT.md §14.3) against an HPKE implementation
// nobody here wrote: @hpke/core (RFC 9180; P-256 through WebCrypto). medseal
// seals each entry's vault key with the Rust `hpke` crate; this test derives
// the entry's key pair and opens what medseal wrote with @hpke/core, checks
// that what it opens is the vault key (it unwraps the identity key under
// WebCrypto AES-GCM), follows a re-key to epoch 2, and goes the other way:
// a key sealed by @hpke/core, in a manifest re-signed here, unlocks medseal.
// Every derivation is built from the text of FORMAT.md, here and in
// format-helpers.mjs, not taken from medseal.
import { test } from "node:test";
import assert from "node:assert/strict";
import { p256 } from "@noble/curves/nist.js";
import { init, Vault, MedsealError, ErrorCode, webauthn } from "../../pkg/dist/node.js";
import {
  rnd, b64u, toB64u, cat, utf8, lp, hkdf, aesOpen, aesWrap, gcmFails,
  passkeyKek, entrySeed, subkey, entryInfo, entryAad, identityAad, epochKeyAad, manifestSignedBytes, manifestHash,
  deriveKeyPair, hpkeSeal, openEntry, unwrapIdentity,
} from "./format-helpers.mjs";

await init();

// ------------------------------------------------------------ FORMAT.md, rebuilt here (the rest: format-helpers.mjs)

/** §4.2: KEK_recovery = HKDF(entropy, vault_id, "medseal/v1/kek/recovery"). */
const recoveryKek = (entropy, vaultId) => hkdf(entropy, vaultId, utf8("medseal/v1/kek/recovery"));
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
/** §14.3: SealBase(pkR, info, aad, key) -> enc || ct of an unlock entry, by @hpke/core. */
const sealToEntry = (entry, key, vaultId, epoch) => hpkeSeal(b64u(entry.publicKey), key, entryInfo(vaultId, epoch), entryAad(entry, vaultId));

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
    const { keyPair, publicKey } = await deriveKeyPair(await entrySeed(kek));
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
  const { keyPair } = await deriveKeyPair(await entrySeed(kek));
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
  const { keyPair } = await deriveKeyPair(await entrySeed(kek));
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
  const freshShareKey = (await deriveKeyPair(await subkey(fresh, "medseal/v3/vault/share-key"))).publicKey;
  m.shareKey = toB64u(freshShareKey);
  m.parent = toB64u(await manifestHash(manifest));
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
