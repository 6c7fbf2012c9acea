// Deletion that destroys keys (docs/FORMAT.md "Deletion"): `vault.destroy()`
// returns a request that verifies with nothing but node:crypto's WebCrypto
// (ECDSA P-256 over the message rebuilt here from the text, with the
// manifest hash of tests/js/format-helpers.mjs, against the manifest's
// identity public key), then the vault is locked for good and its seen
// state is gone from its store. A tombstone signed with node:crypto (a
// signed-note implementation apart from medseal's, tests/js/log-server.mjs)
// verifies with `tombstones.verify`; an edited one, one signed by another
// key, or one naming another request does not.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { init, Vault, webauthn, seenStores, tombstones, ErrorCode, MedsealError } from "../../pkg/dist/node.js";
import { code } from "./codes.mjs";
import { b64u, cat, lp, manifestHash, rnd, toB64u } from "./format-helpers.mjs";
import { signNote, compressed } from "./log-server.mjs";

await init();

const AUDIENCE = "https://phr.example";
const subtle = globalThis.crypto.subtle;

async function newVault(opts = {}) {
  const prfOutput = rnd();
  const made = await Vault.create({ prf: { credentialId: rnd(16), prfSalt: webauthn.newPrfSalt(), prfOutput } }, opts);
  return { ...made, prfOutput };
}

/** FORMAT.md: lp("medseal/v3/vault/destroy") || lp(vault id) || lp(manifest hash) || lp(challenge) || lp(audience). */
const destroyMessage = async (m, challenge, audience) => cat(lp("medseal/v3/vault/destroy"), lp(b64u(m.vaultId)), lp(await manifestHash(m)), lp(challenge), lp(audience));

/** Verifies r || s with WebCrypto under a compressed SEC1 P-256 key (decompressed by node:crypto). */
async function webcryptoVerifies(publicKey33, signature, message) {
  const raw = crypto.ECDH.convertKey(Buffer.from(publicKey33), "prime256v1", undefined, undefined, "uncompressed");
  const key = await subtle.importKey("raw", raw, { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]);
  return subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, signature, message);
}

test("destroy() returns a request that WebCrypto verifies against the manifest's identity key", async () => {
  const { vault, manifest } = await newVault();
  const challenge = rnd(32);
  const sig = vault.destroy({ challenge, audience: AUDIENCE });
  assert.ok(sig instanceof Uint8Array);
  assert.equal(sig.length, 64);
  const identity = b64u(manifest.identityKey.publicKey);
  assert.equal(await webcryptoVerifies(identity, sig, await destroyMessage(manifest, challenge, AUDIENCE)), true);
  // Bound to its challenge, its audience, its manifest.
  assert.equal(await webcryptoVerifies(identity, sig, await destroyMessage(manifest, rnd(32), AUDIENCE)), false);
  assert.equal(await webcryptoVerifies(identity, sig, await destroyMessage(manifest, challenge, "https://evil.example")), false);
  assert.equal(await webcryptoVerifies(identity, sig, await destroyMessage({ ...manifest, revision: manifest.revision + 1 }, challenge, AUDIENCE)), false);
  // Low-S, as every medseal signature (FORMAT.md §14.4).
  const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
  assert.ok(BigInt(`0x${Buffer.from(sig.subarray(32)).toString("hex")}`) <= n / 2n);
});

test("after destroy() every call throws Locked, as after lock()", async () => {
  const { vault, manifest } = await newVault();
  const sealed = vault.seal({ a: 1 }, { recordId: "r" });
  vault.destroy({ challenge: rnd(32), audience: AUDIENCE });
  assert.equal(vault.locked, true);
  assert.deepEqual(vault.toJSON(), { vaultId: null });
  const calls = {
    seal: () => vault.seal({ a: 2 }, { recordId: "r2" }),
    open: () => vault.open(sealed, { recordId: "r" }),
    manifest: () => vault.manifest(),
    vaultId: () => vault.vaultId(),
    signLoginProof: () => vault.signLoginProof(rnd(32), AUDIENCE),
    destroy: () => vault.destroy({ challenge: rnd(32), audience: AUDIENCE }),
    rekey: () => vault.rekey(),
    rotateRecoveryCode: () => vault.rotateRecoveryCode(),
    removeUnlock: () => vault.removeUnlock(manifest.unlock[0].id),
    tombstone: () => vault.tombstone({ recordId: "r", version: 2 }),
    rewrap: () => vault.rewrap(sealed, { recordId: "r" }),
    emergencyCard: () => vault.emergencyCard({ resourceType: "Bundle", type: "collection", entry: [] }),
    cardFingerprint: () => vault.cardFingerprint(),
    logEntry: () => vault.logEntry({ type: "revoke", share: "s" }, { position: 1 }),
    logStatus: () => vault.logStatus(),
    createLink: () => vault.createLink({ baseUrl: "https://phr.example/shl/", expires: Date.now() + 60_000 }),
    handOff: () => vault.handOff(rnd(33)),
  };
  calls.openMany = () => vault.openMany([{ sealed, recordId: "r" }]);
  for (const [name, f] of Object.entries(calls)) assert.equal(code(f), ErrorCode.Locked, name);
  vault.lock(); // and lock() still throws nothing
});

test("destroy() removes the vault's seen state from its store; a store without remove is fine", async () => {
  const calls = [];
  const inner = seenStores.memory();
  const store = {
    load: (id) => inner.load(id),
    save: (id, s) => (calls.push(["save", id]), inner.save(id, s)),
    remove: async (id) => (calls.push(["remove", id]), inner.remove(id)),
  };
  const { vault } = await newVault({ store });
  const id = vault.vaultId();
  await vault.persisted();
  assert.ok(inner.load(id), "the state was saved");
  vault.destroy({ challenge: rnd(32), audience: AUDIENCE });
  await vault.persisted();
  assert.deepEqual(calls.at(-1), ["remove", id]);
  assert.equal(inner.load(id), null, "nothing of the vault is left in the store");
  // A store of load and save only: destroy works, the state stays (the app's to clear).
  const plain = seenStores.memory();
  const { vault: v2 } = await newVault({ store: { load: plain.load, save: plain.save } });
  await v2.persisted();
  v2.destroy({ challenge: rnd(32), audience: AUDIENCE });
  await v2.persisted();
  assert.equal(v2.locked, true);
});

test("a bad argument signs nothing and leaves the vault unlocked", async () => {
  const { vault } = await newVault();
  for (const opts of [undefined, null, {}, { challenge: rnd(15), audience: AUDIENCE }, { challenge: rnd(32), audience: "" }, { challenge: "x".repeat(32), audience: AUDIENCE }, { challenge: rnd(32), audience: 7 }]) {
    assert.equal(code(() => vault.destroy(opts)), ErrorCode.InvalidArgument, JSON.stringify(opts));
    assert.equal(vault.locked, false);
  }
  assert.deepEqual(vault.open(vault.seal({ ok: 1 }, { recordId: "w" }), { recordId: "w" }), { ok: 1 });
  vault.lock();
});

// ------------------------------------------------------------ tombstones

const serverKey = () => {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
  return { name: "phr.example/log", privateKey, publicKey, key: toB64u(compressed(publicKey)) };
};
const sha256 = (b) => new Uint8Array(crypto.createHash("sha256").update(b).digest());
const tombstoneText = (manifest, sig, deleted = 1767225600) =>
  `${AUDIENCE}/tombstone\nvault ${manifest.vaultId}\ndeleted ${deleted}\nrequest ${toB64u(sha256(sig))}\nidentity ${manifest.identityKey.publicKey}\n`;

test("a tombstone signed by the server key verifies, and names the request", async () => {
  const { vault, manifest } = await newVault();
  const sig = vault.destroy({ challenge: rnd(32), audience: AUDIENCE });
  const server = serverKey();
  const note = signNote(tombstoneText(manifest, sig), [server]);
  const expected = { origin: AUDIENCE, vaultId: manifest.vaultId, deleted: 1767225600, request: toB64u(sha256(sig)), identity: manifest.identityKey.publicKey };
  assert.deepEqual(tombstones.verify(note, { keyName: server.name, key: server.key }), expected);
  assert.deepEqual(tombstones.verify(note, { keyName: server.name, key: b64u(server.key), request: sig }), expected);
  // Another request (a signature this vault never made for it).
  assert.equal(code(() => tombstones.verify(note, { keyName: server.name, key: server.key, request: rnd(64) })), ErrorCode.TombstoneInvalid);
});

test("forged, edited or mis-keyed tombstones are refused", async () => {
  const { vault, manifest } = await newVault();
  const sig = vault.destroy({ challenge: rnd(32), audience: AUDIENCE });
  const server = serverKey();
  const note = signNote(tombstoneText(manifest, sig), [server]);
  const opts = { keyName: server.name, key: server.key };
  const edited = [note.replace("deleted 1767225600", "deleted 1767225601"), note.replace(`vault ${manifest.vaultId}`, `vault ${toB64u(rnd(16))}`)];
  for (const n of edited) assert.equal(code(() => tombstones.verify(n, opts)), ErrorCode.TombstoneInvalid);
  // Signed by another key under the server's name; the server's key under another name; unsigned.
  assert.equal(code(() => tombstones.verify(signNote(tombstoneText(manifest, sig), [{ ...serverKey(), name: server.name }]), opts)), ErrorCode.TombstoneInvalid);
  assert.equal(code(() => tombstones.verify(note, { ...opts, keyName: "other.example/log" })), ErrorCode.TombstoneInvalid);
  assert.equal(code(() => tombstones.verify(tombstoneText(manifest, sig), opts)), ErrorCode.TombstoneInvalid);
  // Signed by the server key but not a tombstone (a name in it, a line missing).
  assert.equal(code(() => tombstones.verify(signNote(`${tombstoneText(manifest, sig)}name Pat Doe\n`, [server]), opts)), ErrorCode.Malformed);
  assert.equal(code(() => tombstones.verify(signNote(tombstoneText(manifest, sig).replace(/identity .*\n/, ""), [server]), opts)), ErrorCode.Malformed);
  // Arguments that cannot be a key.
  for (const bad of [{ ...opts, key: "AAAA" }, { ...opts, key: 7 }, { ...opts, keyName: "has space" }, { keyName: server.name }, null]) {
    assert.equal(code(() => tombstones.verify(note, bad)), ErrorCode.InvalidArgument);
  }
  assert.ok(code(() => tombstones.verify(42, opts)) === ErrorCode.InvalidArgument);
  assert.ok(new MedsealError(ErrorCode.TombstoneInvalid, "x") instanceof Error);
});
