// Format 3's sharing (FORMAT.md §15) against implementations nobody here
// wrote: @hpke/core (RFC 9180) for the grant key, @noble/curves for the
// grant's ECDSA signature, WebCrypto for HKDF, AES-GCM and SHA-256.
// (a) medseal -> independent: a grant medseal made is verified, its key
//     opened, its manifest entry and a slot unwrapped, and the shared record
//     decrypted here. (b) independent -> medseal: a grant, a manifest entry
//     and slots built here open in medseal, and each binding is checked by a
//     grant medseal must refuse. (c) the fingerprint, and that a re-key keeps
//     it. Every derivation is built from the text of FORMAT.md (§§4–6,
//     §14, §15), here and in format-helpers.mjs, not taken from medseal.
import { test } from "node:test";
import assert from "node:assert/strict";
import { p256 } from "@noble/curves/nist.js";
import { init, Vault, ErrorCode, webauthn, seenStores, sharing, MedsealError } from "../../pkg/dist/node.js";
import {
  rnd, b64u, toB64u, cat, u8, u32be, u64be, utf8, EMPTY, lp, hkdf, sha256, aesOpen, aesWrap, gcmFails,
  passkeyKek, entrySeed, subkey, manifestSignedBytes, manifestHash,
  deriveKeyPair, hpkeOpen, hpkeSeal, openEntry, unwrapIdentity,
} from "./format-helpers.mjs";

await init();

const nowSeconds = () => Math.floor(Date.now() / 1000);
/** A MedsealError with this code. */
const medsealError = (code) => (e) => e instanceof MedsealError && e.code === code;

// ------------------------------------------------------------ FORMAT.md, rebuilt here (the rest: format-helpers.mjs)

/** §14.4 + §14.6: the manifest's signature and every hand-over verify (low-S) with @noble/curves. */
function verifyManifest(m) {
  const vaultId = b64u(m.vaultId);
  const keys = [...m.epochs.map((e) => b64u(e.publicKey)), b64u(m.identityKey.publicKey)]; // epoch 1 .. current
  assert.equal(keys.length, m.epoch);
  for (const [i, e] of m.epochs.entries()) {
    assert.equal(e.epoch, i + 1);
    const handover = cat(lp("medseal/v2/identity/handover"), lp(vaultId), u32be(e.epoch + 1), lp(keys[i + 1]));
    assert.ok(p256.verify(b64u(e.handover), handover, keys[i], { lowS: true }), `hand-over of epoch ${e.epoch}`);
  }
  assert.ok(p256.verify(b64u(m.signature), manifestSignedBytes(m), b64u(m.identityKey.publicKey), { lowS: true }), "manifest signature");
}

/** §15.3: the AAD of a share entry's key: "medseal/v3/aad/share-key" || lp(vault_id) || lp(id) || u8(kind) || u32be(epoch). */
const shareKeyAad = (vaultId, id, kind, epoch) => cat(utf8("medseal/v3/aad/share-key"), lp(vaultId), lp(id), u8(kind === "grant" ? 1 : 2), u32be(epoch));

/** §15.4: a grant's parts, from its fields (binary fields as bytes). */
function grantScope(scope) {
  return "records" in scope ? cat(u8(1), u32be(scope.records.length), ...scope.records.map((r) => lp(r))) : cat(u8(2), lp(scope.label));
}
function grantBody(g) {
  return cat(lp(g.id), lp(g.grantor), u32be(g.grantorEpoch), lp(g.grantee), u32be(g.granteeEpoch), lp(g.granteeKey), grantScope(g.scope), u64be(g.created), u64be(g.expires));
}
const grantInfo = (g) => cat(utf8("medseal/v3/hpke/grant"), lp(g.id), lp(g.grantor), lp(g.grantee), lp(g.granteeKey));
const grantAad = (g) => cat(utf8("medseal/v3/aad/grant"), grantBody(g));
const grantSignedBytes = (g, wrappedKey) => cat(lp("medseal/v3/grant/signature"), u64be(1), grantBody(g), lp(wrappedKey));
const grantDigest = (signedBytes) => sha256(cat(lp("medseal/v3/grant/digest"), signedBytes));
/** A grant's JSON (as parsed) with its binary fields decoded. */
const grantFields = (j) => ({ ...j, id: b64u(j.id), grantor: b64u(j.grantor), grantee: b64u(j.grantee), granteeKey: b64u(j.granteeKey) });
/** §15.4's field order. */
const GRANT_FIELDS = ["medseal", "version", "id", "grantor", "grantorEpoch", "grantee", "granteeEpoch", "granteeKey", "scope", "created", "expires", "wrappedKey", "signature"];

/** §15.5: K_slot = HKDF(GK, "", "medseal/v3/grant/slot"); aad = "medseal/v3/aad/slot" || lp(grant id) || lp(grantor) || lp(record id) || lp(context). */
const slotKey = (gk) => hkdf(gk, EMPTY, utf8("medseal/v3/grant/slot"));
const slotAad = (grantId, grantor, recordId, context = EMPTY) => cat(utf8("medseal/v3/aad/slot"), lp(grantId), lp(grantor), lp(recordId), lp(context));

/** §6.4: Padme. */
function padme(L) {
  if (L < 2) return L;
  const E = 31 - Math.clz32(L);
  const S = 31 - Math.clz32(E) + 1;
  const mask = 2 ** (E - S) - 1;
  return (L + mask) & ~mask;
}
/** §14.7: the bytes of a v2 record's text form, and its fields. */
function parseRecordV2(text) {
  assert.ok(text.startsWith("ms2."), "§14.7: the text form of a v2 record is ms2. || b64u(bytes)");
  const b = b64u(text.slice(4));
  assert.deepEqual(b.subarray(0, 6), cat(utf8("msrc"), u8(2), u8(1)), "magic, version 2, suite 1");
  const view = new DataView(b.buffer, b.byteOffset);
  return {
    bytes: b,
    epoch: view.getUint32(6),
    version: Number(view.getBigUint64(10)),
    wrappedDek: b.subarray(18, 78),
    commitment: b.subarray(78, 110),
    nonce: b.subarray(110, 122),
    body: b.subarray(122),
  };
}
/** §14.7 aad_dek = "medseal/v2/aad/dek" || sealed[0..18] || lp(vault_id) || lp(record_id) || lp(context). */
const dekAad = (rec, vaultId, recordId, context = EMPTY) => cat(utf8("medseal/v2/aad/dek"), rec.bytes.subarray(0, 18), lp(vaultId), lp(recordId), lp(context));
/** §4.4 + §14.7 + §6.4: opens a v2 record with its data key, returns [content type, plaintext]. */
async function openRecordWithDek(rec, dek, recordId, context = EMPTY) {
  assert.deepEqual(rec.commitment, await hkdf(dek, EMPTY, utf8("medseal/v1/record/commitment")), "§4.4: the commitment of the data key");
  const kEnc = await hkdf(dek, EMPTY, utf8("medseal/v1/record/encryption"));
  const aadBody = cat(utf8("medseal/v2/aad/record"), utf8("msrc"), u8(2), u8(1), u64be(rec.version), rec.commitment, lp(recordId), lp(context));
  const padded = await aesOpen(kEnc, cat(rec.nonce, rec.body), aadBody);
  let end = padded.length - 1;
  while (end >= 0 && padded[end] === 0) end--;
  assert.ok(end >= 1 && padded[end] === 0x80, "§6.4: the last non-zero byte is 0x80, after the content type");
  const n = end - 1;
  assert.equal(padded.length, Math.max(256, padme(n + 2)), "§6.4: the padded size");
  return [padded[0], padded.subarray(1, end)];
}

// ------------------------------------------------------------ vaults under test

/** A vault with one passkey of known PRF output, through the package. */
async function person(name) {
  const prf = { credentialId: utf8(`grant-interop-${name}`), prfSalt: webauthn.newPrfSalt(), prfOutput: rnd() };
  const { vault } = await Vault.create({ prf: { ...prf } }, { store: seenStores.memory() });
  return { vault, prf, vaultId: b64u(vault.manifest().vaultId) };
}
/** §4.1 -> §14.3: the vault key of the manifest's current epoch, opened with @hpke/core through the passkey entry. */
async function vaultKeyOf(p, manifest = p.vault.manifest()) {
  const entry = manifest.unlock.find((e) => e.type === "passkey" && e.credentialId === toB64u(p.prf.credentialId));
  const kek = await passkeyKek(p.prf.prfOutput, p.prf.prfSalt, p.prf.credentialId, p.vaultId);
  const { keyPair, publicKey } = await deriveKeyPair(await entrySeed(kek));
  assert.deepEqual(publicKey, b64u(entry.publicKey));
  const vk = await openEntry(entry, keyPair, p.vaultId, manifest.epoch);
  assert.equal(vk.length, 32);
  return vk;
}
/** §15.2: the share key pair of a vault key. */
const shareKeyPair = async (vk) => deriveKeyPair(await subkey(vk, "medseal/v3/vault/share-key"));
/** §4.3 + §7.5: the identity private scalar, unwrapped under K_wrap_identity(VK). */
async function identityScalar(manifest, vk) {
  const scalar = await unwrapIdentity(manifest, vk);
  assert.deepEqual(p256.getPublicKey(scalar, true), b64u(manifest.identityKey.publicKey));
  return scalar;
}

test("(a) medseal -> independent: a grant medseal made is verified, opened and used here", async () => {
  const patient = await person("patient");
  const clinician = await person("clinician");
  const vkP = await vaultKeyOf(patient);
  const vkC = await vaultKeyOf(clinician);

  // §15.2: each manifest's shareKey is SerializePublicKey(DeriveKeyPair(HKDF(VK, "", "medseal/v3/vault/share-key"))).
  for (const [p, vk] of [
    [patient, vkP],
    [clinician, vkC],
  ]) {
    const m = p.vault.manifest();
    assert.equal(m.version, 3);
    assert.deepEqual((await shareKeyPair(vk)).publicKey, b64u(m.shareKey), "@hpke/core derives the manifest's shareKey");
  }
  const { keyPair: clinicianShare } = await shareKeyPair(vkC);

  const before = nowSeconds();
  const { grant, manifest } = patient.vault.grant({ grantee: clinician.vault.manifest(), records: ["lab-1"], expires: Date.now() + 3600e3 });
  const j = JSON.parse(grant);
  assert.deepEqual(Object.keys(j), GRANT_FIELDS, "§15.4: the fields, in this order");
  assert.equal(j.medseal, "grant");
  assert.equal(j.version, 1);
  const g = grantFields(j);
  assert.equal(g.id.length, 16);
  assert.deepEqual(g.grantor, patient.vaultId);
  assert.deepEqual(g.grantee, clinician.vaultId);
  assert.equal(j.grantorEpoch, 1);
  assert.equal(j.granteeEpoch, 1);
  assert.equal(j.granteeKey, clinician.vault.manifest().shareKey);
  assert.deepEqual(j.scope, { records: ["lab-1"] });
  assert.ok(j.created >= before && j.created <= nowSeconds(), "created: seconds since 1970");
  assert.ok(Math.abs(j.expires - (j.created + 3600)) <= 1, "expires: seconds since 1970");

  // The signature: ECDSA P-256/SHA-256, low-S, by the identity key of grantorEpoch over the §15.4 signed bytes.
  const wrappedKey = b64u(j.wrappedKey);
  assert.equal(wrappedKey.length, 113, "wrappedKey = enc (65) || ct (32 + 16)");
  const signed = grantSignedBytes(g, wrappedKey);
  assert.ok(p256.verify(b64u(j.signature), signed, b64u(manifest.identityKey.publicKey), { lowS: true }), "noble verifies the grant's signature");
  assert.ok(!p256.verify(b64u(j.signature), grantSignedBytes({ ...g, expires: g.expires + 1 }, wrappedKey), b64u(manifest.identityKey.publicKey)), "the expiry is signed");

  // §15.3: the patient's new manifest lists the grant with its digest, signed (v3 signed bytes with a share).
  verifyManifest(manifest);
  assert.equal(manifest.shares.length, 1);
  const share = manifest.shares[0];
  assert.deepEqual(Object.keys(share), ["id", "kind", "expires", "digest", "key"], "a records grant has no scope in its entry");
  assert.equal(share.id, j.id);
  assert.equal(share.kind, "grant");
  assert.equal(share.expires, j.expires);
  assert.deepEqual(b64u(share.digest), await grantDigest(signed), "§15.4: the digest is the manifest's");

  // The grant key: @hpke/core opens wrappedKey with the clinician's share key (info and aad of §15.4) ...
  const gk = await hpkeOpen(clinicianShare, wrappedKey, grantInfo(g), grantAad(g));
  assert.equal(gk.length, 32);
  await assert.rejects(hpkeOpen(clinicianShare, wrappedKey, grantInfo({ ...g, id: rnd(16) }), grantAad(g)), "another grant id in info does not open");
  await assert.rejects(hpkeOpen(clinicianShare, wrappedKey, grantInfo(g), grantAad({ ...g, expires: g.expires + 1 })), "the body is the aad");
  // ... and it is the key the manifest keeps for the patient, wrapped under K_wrap_share(VK) (§15.3).
  const kWrapShare = await subkey(vkP, "medseal/v3/vault/wrap-share");
  assert.equal(b64u(share.key).length, 60);
  assert.deepEqual(await aesOpen(kWrapShare, b64u(share.key), shareKeyAad(patient.vaultId, g.id, "grant", manifest.epoch)), gk);
  await assert.rejects(aesOpen(kWrapShare, b64u(share.key), shareKeyAad(patient.vaultId, g.id, "link", manifest.epoch)), gcmFails, "the kind is in the aad");

  // A slot for a record: K_slot(GK) unwraps it to the record's data key, which opens the record here.
  const value = { test: "HbA1c", value: 5.4, unit: "%", note: "fasting — ü" };
  const sealed = patient.vault.seal(value, { recordId: "lab-1" });
  const slot = b64u(patient.vault.grantSlot(grant, sealed, { recordId: "lab-1" }));
  assert.equal(slot.length, 60);
  const dek = await aesOpen(await slotKey(gk), slot, slotAad(g.id, g.grantor, "lab-1"));
  await assert.rejects(aesOpen(await slotKey(gk), slot, slotAad(g.id, g.grantor, "lab-2")), gcmFails, "the record id is in the slot's aad");
  const rec = parseRecordV2(sealed);
  assert.equal(rec.epoch, 1);
  assert.equal(rec.version, 1);
  assert.deepEqual(await aesOpen(await subkey(vkP, "medseal/v1/vault/wrap-dek"), rec.wrappedDek, dekAad(rec, patient.vaultId, "lab-1")), dek, "the slot holds the record's own data key");
  const [contentType, plaintext] = await openRecordWithDek(rec, dek, "lab-1");
  assert.equal(contentType, 1, "§6.4: content type 1, JSON");
  assert.deepEqual(JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plaintext)), value);
});

test("(b) independent -> medseal: a grant built here opens in medseal, and each binding is refused when broken", async () => {
  const patient = await person("patient");
  const clinician = await person("clinician");
  const vkP = await vaultKeyOf(patient);
  const m0 = patient.vault.manifest();
  const scalar = await identityScalar(m0, vkP);
  const granteeKey = b64u(clinician.vault.manifest().shareKey);
  const kWrapDek = await subkey(vkP, "medseal/v1/vault/wrap-dek");

  /** A grant written here (§15.4): seals gk with @hpke/core, signs with noble; `infoOf`/`signedOf`/`sigOf` tamper with one part. */
  async function makeGrant({ scope, created, expires, gk = rnd(32), id = rnd(16), infoOf = (g) => g, signedOf = (g) => g, sigOf = (sig) => sig }) {
    const g = { id, grantor: patient.vaultId, grantorEpoch: m0.epoch, grantee: clinician.vaultId, granteeEpoch: clinician.vault.manifest().epoch, granteeKey, scope, created, expires };
    const wrappedKey = await hpkeSeal(granteeKey, gk, grantInfo(infoOf(g)), grantAad(g));
    const signed = grantSignedBytes(g, wrappedKey);
    const signature = sigOf(p256.sign(grantSignedBytes(signedOf(g), wrappedKey), scalar, { lowS: true }));
    assert.equal(signature.length, 64);
    const json = JSON.stringify({
      medseal: "grant",
      version: 1,
      id: toB64u(g.id),
      grantor: toB64u(g.grantor),
      grantorEpoch: g.grantorEpoch,
      grantee: toB64u(g.grantee),
      granteeEpoch: g.granteeEpoch,
      granteeKey: toB64u(g.granteeKey),
      scope,
      created,
      expires,
      wrappedKey: toB64u(wrappedKey),
      signature: toB64u(signature),
    });
    return { g, gk, json, digest: await grantDigest(signed) };
  }
  /** A slot (§15.5) made here: the record's data key, unwrapped under K_wrap_dek(VK) (§14.7), wrapped under K_slot(GK). */
  async function makeSlot(grant, sealed, recordId, aadRecordId = recordId) {
    const rec = parseRecordV2(sealed);
    const dek = await aesOpen(kWrapDek, rec.wrappedDek, dekAad(rec, patient.vaultId, recordId));
    return toB64u(await aesWrap(await slotKey(grant.gk), dek, slotAad(grant.g.id, grant.g.grantor, aadRecordId)));
  }

  const now = nowSeconds();
  const lab1 = { panel: "lipids", ldl: 2.9 };
  const lab2 = { panel: "CBC", hb: 141 };
  const sealed1 = patient.vault.seal(lab1, { recordId: "lab-1" });
  const sealed2 = patient.vault.seal(lab2, { recordId: "lab-2" });
  const grantor = patient.vault.manifest();
  const grant = await makeGrant({ scope: { records: ["lab-1", "lab-2"] }, created: now, expires: now + 3600 });
  assert.deepEqual(Object.keys(JSON.parse(grant.json)), GRANT_FIELDS);
  const slot1 = await makeSlot(grant, sealed1, "lab-1");
  const slot2 = await makeSlot(grant, sealed2, "lab-2");
  const byLabel = await makeGrant({ scope: { label: "labs" }, created: now, expires: now + 3600 });
  // GK sealed with an info naming another grant id (signed over what was sealed): only the info differs.
  const otherInfo = await makeGrant({ scope: { records: ["lab-1"] }, created: now, expires: now + 3600, infoOf: (g) => ({ ...g, id: rnd(16) }) });
  // Expired (validly signed, created ≤ expires < now).
  const expired = await makeGrant({ scope: { records: ["lab-1"] }, created: now - 7200, expires: now - 3600 });

  /**
   * The patient's next manifest, written here (§15.3): it lists `grants` (digest, GK under K_wrap_share),
   * re-signed. A grantee accepts only a grant its grantor's manifest lists (§15.4).
   */
  async function listing(grants) {
    const next = structuredClone(grantor);
    for (const gr of grants) {
      next.shares.push({
        id: toB64u(gr.g.id),
        kind: "grant",
        ...(gr.g.scope.label ? { scope: gr.g.scope.label } : {}),
        expires: gr.g.expires,
        digest: toB64u(gr.digest),
        key: toB64u(await aesWrap(await subkey(vkP, "medseal/v3/vault/wrap-share"), gr.gk, shareKeyAad(patient.vaultId, gr.g.id, "grant", grantor.epoch))),
      });
    }
    next.parent = toB64u(await manifestHash(grantor));
    next.revision = grantor.revision + 1;
    delete next.signature;
    next.signature = toB64u(p256.sign(manifestSignedBytes(next), scalar, { lowS: true }));
    return next;
  }
  const listedAll = await listing([grant, byLabel, otherInfo, expired]);

  // Signed by the grantor's key but not listed in its manifest: refused (what a removed passkey could sign).
  assert.throws(() => clinician.vault.openShared({ grant: grant.json, grantor, items: [] }), medsealError(ErrorCode.NotGranted));

  // medseal verifies the grant (signature, addressee, expiry), opens GK (HPKE) and the slots.
  assert.deepEqual(sharing.grantInfo(grant.json).digest, toB64u(grant.digest), "medseal computes the digest of §15.4");
  const out = clinician.vault.openShared({
    grant: grant.json,
    grantor: listedAll,
    items: [
      { sealed: sealed1, slot: slot1, recordId: "lab-1" },
      { sealed: sealed2, slot: slot2, recordId: "lab-2" },
    ],
  });
  assert.deepEqual(out, [
    { ok: true, value: lab1 },
    { ok: true, value: lab2 },
  ]);

  // A label scope (0x02 || lp(label)) too.
  const [o] = clinician.vault.openShared({ grant: byLabel.json, grantor: listedAll, items: [{ sealed: sealed2, slot: await makeSlot(byLabel, sealed2, "lab-2"), recordId: "lab-2" }] });
  assert.deepEqual(o, { ok: true, value: lab2 });

  // The patient's next manifest, written here (§15.3): it lists the grant (digest, GK under K_wrap_share),
  // re-signed. medseal unlocks it and makes slots for the grant: it reads the entry, unwraps our key, and
  // finds its own digest of the grant equal to ours.
  const listed = await listing([grant]);
  const { vault: patient2 } = await Vault.unlock(listed, { prf: { credentialId: patient.prf.credentialId, prfOutput: patient.prf.prfOutput } }, { store: null });
  assert.deepEqual(sharing.shares(listed).map((s) => s.id), [toB64u(grant.g.id)]);
  const slotByMedseal = patient2.grantSlot(grant.json, sealed1, { recordId: "lab-1" });
  assert.deepEqual(await aesOpen(await slotKey(grant.gk), b64u(slotByMedseal), slotAad(grant.g.id, patient.vaultId, "lab-1")), await aesOpen(kWrapDek, parseRecordV2(sealed1).wrappedDek, dekAad(parseRecordV2(sealed1), patient.vaultId, "lab-1")));
  assert.throws(() => patient2.grantSlot(byLabel.json, sealed1, { recordId: "lab-1" }), medsealError(ErrorCode.NotGranted), "a grant the manifest does not list");
  patient2.lock();

  // Negative cases, each refused with its code.
  // otherInfo: listed, signed, but its GK was sealed with another grant's info: HPKE refuses it.
  assert.throws(() => clinician.vault.openShared({ grant: otherInfo.json, grantor: listedAll, items: [] }), medsealError(ErrorCode.NotGranted));
  // A signature over another expiry than the grant says.
  const otherExpiry = await makeGrant({ scope: { records: ["lab-1"] }, created: now, expires: now + 3600, signedOf: (g) => ({ ...g, expires: g.expires + 1 }) });
  assert.throws(() => clinician.vault.openShared({ grant: otherExpiry.json, grantor, items: [] }), medsealError(ErrorCode.ManifestInvalid));
  // The same signature with s replaced by n - s (valid ECDSA, but high-S: §15.4 requires low-S).
  const n = p256.Point.Fn.ORDER;
  const highS = (sig) => {
    const s = BigInt(`0x${Buffer.from(sig.subarray(32)).toString("hex")}`);
    return cat(sig.subarray(0, 32), new Uint8Array(Buffer.from((n - s).toString(16).padStart(64, "0"), "hex")));
  };
  const highSGrant = await makeGrant({ scope: { records: ["lab-1"] }, created: now, expires: now + 3600, sigOf: highS });
  const hs = JSON.parse(highSGrant.json);
  assert.ok(p256.verify(b64u(hs.signature), grantSignedBytes(highSGrant.g, b64u(hs.wrappedKey)), b64u(grantor.identityKey.publicKey), { lowS: false }), "a valid high-S signature");
  assert.throws(() => clinician.vault.openShared({ grant: highSGrant.json, grantor, items: [] }), medsealError(ErrorCode.ManifestInvalid));
  // A slot made with the AAD of another record id: that item is NotGranted, the others open.
  const wrongSlot = await makeSlot(grant, sealed1, "lab-1", "lab-2");
  const mixed = clinician.vault.openShared({
    grant: grant.json,
    grantor: listedAll,
    items: [
      { sealed: sealed1, slot: wrongSlot, recordId: "lab-1" },
      { sealed: sealed2, slot: slot2, recordId: "lab-2" },
    ],
  });
  assert.equal(mixed[0].ok, false);
  assert.equal(mixed[0].error.code, ErrorCode.NotGranted);
  assert.deepEqual(mixed[1], { ok: true, value: lab2 });
  const expiredSlot = await makeSlot(expired, sealed1, "lab-1");
  assert.throws(() => clinician.vault.openShared({ grant: expired.json, grantor: listedAll, items: [{ sealed: sealed1, slot: expiredSlot, recordId: "lab-1" }] }), medsealError(ErrorCode.GrantExpired));
});

test("(c) the fingerprint of §15.6 is medseal's, and a re-key keeps it", async () => {
  /** §15.6, from a manifest whose signature and hand-overs verify. */
  async function fingerprint(m) {
    verifyManifest(m);
    const first = m.epoch === 1 ? b64u(m.identityKey.publicKey) : b64u(m.epochs[0].publicKey);
    const digest = await sha256(cat(lp("medseal/v3/fingerprint"), lp(b64u(m.vaultId)), lp(first)));
    const groups = [];
    for (let i = 0; i < 32; i += 4) groups.push(String(new DataView(digest.buffer).getUint32(i) % 100000).padStart(5, "0"));
    return { vaultId: m.vaultId, digits: groups.join(" "), qr: `medseal-fingerprint:1:${toB64u(digest)}`, digest: toB64u(digest) };
  }
  const patient = await person("patient");
  const clinician = await person("clinician");
  const { grant } = patient.vault.grant({ grantee: clinician.vault.manifest(), label: "allergies", expires: Date.now() + 3600e3 });
  const m1 = patient.vault.manifest();
  const fp1 = await fingerprint(m1);
  assert.match(fp1.digits, /^(\d{5} ){7}\d{5}$/);
  assert.deepEqual(sharing.fingerprint(m1), fp1);
  assert.deepEqual(sharing.fingerprint(clinician.vault.manifest()), await fingerprint(clinician.vault.manifest()));

  const gk1 = await aesOpen(await subkey(await vaultKeyOf(patient, m1), "medseal/v3/vault/wrap-share"), b64u(m1.shares[0].key), shareKeyAad(patient.vaultId, b64u(m1.shares[0].id), "grant", 1));
  assert.equal(m1.shares[0].scope, "allergies", "a label grant's entry carries its scope");
  const m2 = patient.vault.rekey();
  assert.equal(m2.epoch, 2);
  assert.notEqual(m2.identityKey.publicKey, m1.identityKey.publicKey);
  assert.equal(m2.epochs[0].publicKey, m1.identityKey.publicKey);
  const fp2 = await fingerprint(m2); // verifies the hand-over of epoch 1 to 2
  assert.deepEqual(fp2, fp1, "the fingerprint names the epoch-1 identity key");
  assert.deepEqual(sharing.fingerprint(m2), fp1);

  // §15.2 and §15.7 after the re-key: the share key is epoch 2's, and GK moved under K_wrap_share(VK_2) with epoch 2 in its aad.
  const vk2 = await vaultKeyOf(patient, m2);
  assert.deepEqual((await shareKeyPair(vk2)).publicKey, b64u(m2.shareKey));
  assert.notEqual(m2.shareKey, m1.shareKey);
  assert.equal(m2.shares[0].digest, m1.shares[0].digest);
  const kWrapShare2 = await subkey(vk2, "medseal/v3/vault/wrap-share");
  assert.deepEqual(await aesOpen(kWrapShare2, b64u(m2.shares[0].key), shareKeyAad(patient.vaultId, b64u(m2.shares[0].id), "grant", 2)), gk1);
  // ... and the grant made in epoch 1 still works: slot for a record sealed in epoch 2.
  const sealed = patient.vault.seal({ allergy: "latex" }, { recordId: "allergy-1" });
  const slot = patient.vault.grantSlot(grant, sealed, { recordId: "allergy-1" });
  assert.deepEqual(clinician.vault.openShared({ grant, grantor: m2, items: [{ sealed, slot, recordId: "allergy-1" }] }), [{ ok: true, value: { allergy: "latex" } }]);
});
