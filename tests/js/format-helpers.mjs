// FORMAT.md rebuilt in JS, for the interop tests (hpke-interop, grant-interop):
// byte helpers, WebCrypto HKDF / AES-GCM / SHA-256, the HPKE suite of §14.3
// through @hpke/core, and the derivations of FORMAT.md both tests use. Every
// derivation here is built from the text of FORMAT.md, independent of
// medseal's code (nothing is imported from medseal). Not a test file.
import assert from "node:assert/strict";
import { CipherSuite, DhkemP256HkdfSha256, HkdfSha256, Aes256Gcm } from "@hpke/core";

// RFC 9180 base mode with the suite of §14.3 (and §15.4): DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-256-GCM.
const suite = new CipherSuite({ kem: new DhkemP256HkdfSha256(), kdf: new HkdfSha256(), aead: new Aes256Gcm() });

const enc = new TextEncoder();
const subtle = globalThis.crypto.subtle;

// ------------------------------------------------------------ bytes

export const rnd = (n = 32) => crypto.getRandomValues(new Uint8Array(n));
export const b64u = (s) => new Uint8Array(Buffer.from(s, "base64url"));
export const toB64u = (u) => Buffer.from(u).toString("base64url");
export const cat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};
export const u8 = (n) => new Uint8Array([n]);
export const u32be = (n) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
};
export const u64be = (n) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
};
export const utf8 = (s) => enc.encode(s);
export const EMPTY = new Uint8Array(0);
/** lp(x) = u32be(len(x)) || x (FORMAT.md §1); a string is its UTF-8. */
export const lp = (x) => {
  const b = typeof x === "string" ? utf8(x) : x;
  return cat(u32be(b.length), b);
};

// ------------------------------------------------------------ WebCrypto

/** HKDF-SHA256 with WebCrypto, 32 bytes out (§1). */
export async function hkdf(ikm, salt, info) {
  const k = await subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  return new Uint8Array(await subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info }, k, 256));
}
export const sha256 = async (b) => new Uint8Array(await subtle.digest("SHA-256", b));
/** §5: nonce(12) || ct || tag(16), AES-256-GCM with WebCrypto. */
export async function aesOpen(key, wrapped, aad) {
  const k = await subtle.importKey("raw", key, "AES-GCM", false, ["decrypt"]);
  return new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv: wrapped.subarray(0, 12), additionalData: aad }, k, wrapped.subarray(12)));
}
export async function aesWrap(key, plain, aad) {
  const k = await subtle.importKey("raw", key, "AES-GCM", false, ["encrypt"]);
  const iv = rnd(12);
  return cat(iv, new Uint8Array(await subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad }, k, plain)));
}
/** WebCrypto's AES-GCM failure (a tag that does not verify). */
export const gcmFails = (e) => e instanceof Error && e.name === "OperationError";

// ------------------------------------------------------------ FORMAT.md, rebuilt here

/** §4.1: KEK_passkey = HKDF(prf_output, prf_salt, "medseal/v1/kek/prf" || lp(credential_id) || lp(vault_id)). */
export const passkeyKek = (prfOutput, prfSalt, credentialId, vaultId) => hkdf(prfOutput, prfSalt, cat(utf8("medseal/v1/kek/prf"), lp(credentialId), lp(vaultId)));
/** §14.3: seed = HKDF(KEK, "", "medseal/v2/entry/hpke"), the ikm of DeriveKeyPair. */
export const entrySeed = (kek) => hkdf(kek, EMPTY, utf8("medseal/v2/entry/hpke"));
/** §4.3 (and §14.2, §15.2, §15.3): a sub-key of the vault key, empty salt. */
export const subkey = (vk, label) => hkdf(vk, EMPTY, utf8(label));
/** §14.3: info = "medseal/v2/hpke/vault-key" || lp(vault_id) || u32be(epoch). */
export const entryInfo = (vaultId, epoch) => cat(utf8("medseal/v2/hpke/vault-key"), lp(vaultId), u32be(epoch));
/** §14.3: aad = "medseal/v2/aad/vault-key" || type || lp(vault_id) || lp(id) || fields. */
export function entryAad(entry, vaultId) {
  const head = cat(utf8("medseal/v2/aad/vault-key"), u8(entry.type === "passkey" ? 1 : 2), lp(vaultId), lp(entry.id));
  return entry.type === "passkey"
    ? cat(head, lp(b64u(entry.credentialId)), lp(b64u(entry.prfSalt)), lp(b64u(entry.publicKey)))
    : cat(head, lp(b64u(entry.publicKey)), lp(b64u(entry.loginKey)));
}
/** §7.5: aad_identity = "medseal/v1/aad/identity-key" || lp(vault_id) || lp(public_key). */
export const identityAad = (vaultId, publicKey33) => cat(utf8("medseal/v1/aad/identity-key"), lp(vaultId), lp(publicKey33));
/** §14.2: AAD of an older epoch's vault key wrapped by the current one. */
export const epochKeyAad = (vaultId, k, current) => cat(utf8("medseal/v2/aad/epoch-key"), lp(vaultId), u32be(k), u32be(current));
/**
 * The signed bytes of a v2 (§14.4) or v3 (§15.3) manifest (the reader's copy, for ECDSA with
 * @noble/curves). v3 is v2 with its own label and, after the entries, the share key and the share list.
 */
export function manifestSignedBytes(m) {
  assert.ok(m.version === 2 || m.version === 3, `this test knows manifest versions 2 and 3, not ${m.version}`);
  const v3 = m.version === 3;
  const opt = (x) => (x === undefined ? EMPTY : b64u(x));
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
/** §14.5: hash(M) = SHA-256(lp("medseal/v2/manifest/hash") || signed_bytes(M)). */
export const manifestHash = async (m) => sha256(cat(lp("medseal/v2/manifest/hash"), manifestSignedBytes(m)));

// ------------------------------------------------------------ HPKE with @hpke/core

/** RFC 9180 §7.1.3 DeriveKeyPair(seed) for DHKEM(P-256, HKDF-SHA256), by @hpke/core; and SerializePublicKey (65 bytes, uncompressed). */
export async function deriveKeyPair(seed) {
  const keyPair = await suite.kem.deriveKeyPair(seed);
  return { keyPair, publicKey: new Uint8Array(await suite.kem.serializePublicKey(keyPair.publicKey)) };
}
/** OpenBase with sealed = enc (65) || ct. */
export async function hpkeOpen(keyPair, sealed, info, aad) {
  return new Uint8Array(await suite.open({ recipientKey: keyPair, enc: sealed.subarray(0, 65), info }, sealed.subarray(65), aad));
}
/** SealBase(pkR, info, aad, pt) -> enc || ct. */
export async function hpkeSeal(publicKey65, pt, info, aad) {
  const recipientPublicKey = await suite.kem.deserializePublicKey(publicKey65);
  const { enc: e, ct } = await suite.seal({ recipientPublicKey, info }, pt, aad);
  return cat(new Uint8Array(e), new Uint8Array(ct));
}
/** §14.3: OpenBase(enc, skR, info, aad, ct) of an unlock entry, with wrappedVaultKey = enc (65) || ct (48). */
export async function openEntry(entry, keyPair, vaultId, epoch) {
  const sealed = b64u(entry.wrappedVaultKey);
  assert.equal(sealed.length, 113, "wrappedVaultKey = enc (65) || ct (32 + 16)");
  return hpkeOpen(keyPair, sealed, entryInfo(vaultId, epoch), entryAad(entry, vaultId));
}
/** §4.3 + §7.5: unwraps identityKey.wrappedPrivateKey under K_wrap_identity(VK). */
export async function unwrapIdentity(manifest, vk) {
  const kWrapIdentity = await subkey(vk, "medseal/v1/vault/wrap-identity");
  return aesOpen(kWrapIdentity, b64u(manifest.identityKey.wrappedPrivateKey), identityAad(b64u(manifest.vaultId), b64u(manifest.identityKey.publicKey)));
}
