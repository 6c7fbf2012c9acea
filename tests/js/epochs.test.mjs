// Format 2 through the npm package in Node: record versions (StaleRecord),
// tombstones (RecordDeleted), the seen-state store (rollback and fork
// detection across unlocks), re-keys (removeUnlock, rekey), re-wrapping and
// retiring old key epochs, and recordInfo.
import { test } from "node:test";
import assert from "node:assert/strict";
import { init, Vault, ErrorCode, webauthn, seenStores, recordInfo } from "../../pkg/dist/node.js";
import { code, acode } from "./codes.mjs";

await init();

const cred = new Uint8Array([7, 7, 7]);
const rnd = (n = 32) => crypto.getRandomValues(new Uint8Array(n));
/** A new vault with the process's default store (real usage in Node). */
async function newVault(opts) {
  const prfOutput = rnd();
  const made = await Vault.create({ prf: { credentialId: cred, prfSalt: webauthn.newPrfSalt(), prfOutput, label: "first" } }, opts);
  return { ...made, prfOutput };
}
const newPasskey = (credentialId, prfOutput, label) => ({ prf: { credentialId, prfSalt: webauthn.newPrfSalt(), prfOutput, label } });
/** A store that records its save calls. */
function recordingStore() {
  const inner = seenStores.memory();
  const saves = [];
  return {
    saves,
    load: (id) => inner.load(id),
    save: (id, state) => {
      saves.push({ id, state });
      inner.save(id, state);
    },
  };
}

test("a record sealed as version 2 opens; afterwards version 1 of it is StaleRecord (default store)", async () => {
  const { vault } = await newVault();
  const v1 = vault.seal({ dose: "5 mg" }, { recordId: "rx-1", version: 1 });
  assert.deepEqual(vault.open(v1, { recordId: "rx-1" }), { dose: "5 mg" }, "version 1 opens before a newer one was seen");
  const v2 = vault.seal({ dose: "10 mg" }, { recordId: "rx-1", version: 2 });
  assert.deepEqual(vault.open(v2, { recordId: "rx-1" }), { dose: "10 mg" });
  assert.equal(code(() => vault.open(v1, { recordId: "rx-1" })), ErrorCode.StaleRecord);
  // The bytes form too, and only for this record id.
  const v1b = vault.seal({ dose: "5 mg" }, { recordId: "rx-1", version: 1, form: "bytes" });
  assert.equal(code(() => vault.open(v1b, { recordId: "rx-1" })), ErrorCode.StaleRecord);
  assert.deepEqual(vault.open(vault.seal(1, { recordId: "rx-2", version: 1 }), { recordId: "rx-2" }), 1);
  // The same version again still opens.
  assert.deepEqual(vault.open(v2, { recordId: "rx-1" }), { dose: "10 mg" });
});

test("a tombstone opens as RecordDeleted, and so do older versions afterwards", async () => {
  const { vault } = await newVault();
  const live = vault.seal({ note: "x" }, { recordId: "n-1", version: 1 });
  assert.deepEqual(vault.open(live, { recordId: "n-1" }), { note: "x" });
  const tomb = vault.tombstone({ recordId: "n-1", version: 2 });
  assert.equal(typeof tomb, "string");
  assert.equal(code(() => vault.open(tomb, { recordId: "n-1" })), ErrorCode.RecordDeleted);
  assert.ok([ErrorCode.RecordDeleted, ErrorCode.StaleRecord].includes(code(() => vault.open(live, { recordId: "n-1" }))));
  const tombBytes = vault.tombstone({ recordId: "n-2", version: 5, form: "bytes" });
  assert.ok(tombBytes instanceof Uint8Array);
  assert.equal(code(() => vault.open(tombBytes, { recordId: "n-2" })), ErrorCode.RecordDeleted);
  // A tombstone is bound to its record id like any record.
  assert.equal(code(() => vault.open(tomb, { recordId: "other" })), ErrorCode.DecryptionFailed);
});

test("the seen state goes to the store; a rolled-back manifest is StaleManifest with that store", async () => {
  const store = recordingStore();
  const { vault, manifest: m1, prfOutput } = await newVault({ store: null });
  const { vault: device } = await Vault.unlock(m1, { prf: { credentialId: cred, prfOutput } }, { store });
  await device.persisted();
  assert.ok(store.saves.length >= 1, "saved after unlock");
  assert.ok(store.saves.every((s) => s.id === device.vaultId() && typeof s.state === "string" && s.state.length > 0));
  assert.ok(store.load(device.vaultId()));
  const before = store.saves.length;
  device.open(device.seal({ v: 2 }, { recordId: "r", version: 2 }), { recordId: "r" });
  await device.persisted();
  assert.ok(store.saves.length > before, "saved after a newer record version was seen");
  assert.equal(typeof store.load(device.vaultId()), "string");
  // The vault moves on (another device: no store); this device follows.
  const { manifest: m2 } = await vault.addPasskey(newPasskey(new Uint8Array([8]), rnd(), "second"));
  device.updateManifest(m2);
  await device.persisted();
  // A later session on this device with its store: the older manifest is refused.
  assert.equal(await acode(() => Vault.unlock(m1, { prf: { credentialId: cred, prfOutput } }, { store })), ErrorCode.StaleManifest);
  const { vault: again } = await Vault.unlock(m2, { prf: { credentialId: cred, prfOutput } }, { store });
  assert.deepEqual(again.manifest(), m2);
  // The record version seen persists across sessions too.
  assert.equal(code(() => again.open(again.seal({ v: 1 }, { recordId: "r", version: 1 }), { recordId: "r" })), ErrorCode.StaleRecord);
});

test("two devices changing the same revision: ForkDetected on updateManifest and on unlock with their stores", async () => {
  const { manifest: m1, prfOutput } = await newVault({ store: null });
  const storeA = seenStores.memory();
  const storeB = seenStores.memory();
  const { vault: a } = await Vault.unlock(m1, { prf: { credentialId: cred, prfOutput } }, { store: storeA });
  const { vault: b } = await Vault.unlock(m1, { prf: { credentialId: cred, prfOutput } }, { store: storeB });
  const { manifest: fromA } = await a.addPasskey(newPasskey(new Uint8Array([1, 1]), rnd(), "a"));
  const { manifest: fromB } = await b.addPasskey(newPasskey(new Uint8Array([2, 2]), rnd(), "b"));
  assert.equal(fromA.revision, fromB.revision);
  await Promise.all([a.persisted(), b.persisted()]);
  assert.equal(code(() => a.updateManifest(fromB)), ErrorCode.ForkDetected);
  assert.equal(code(() => b.updateManifest(fromA)), ErrorCode.ForkDetected);
  assert.deepEqual(a.manifest(), fromA, "a fork does not replace the device's manifest");
  assert.deepEqual(b.manifest(), fromB);
  assert.equal(await acode(() => Vault.unlock(fromB, { prf: { credentialId: cred, prfOutput } }, { store: storeA })), ErrorCode.ForkDetected);
  assert.equal(await acode(() => Vault.unlock(fromA, { prf: { credentialId: cred, prfOutput } }, { store: storeB })), ErrorCode.ForkDetected);
  // Each device's own manifest still unlocks with its store.
  await Vault.unlock(fromA, { prf: { credentialId: cred, prfOutput } }, { store: storeA });
  await Vault.unlock(fromB, { prf: { credentialId: cred, prfOutput } }, { store: storeB });
});

test("removeUnlock re-keys: the removed passkey unlocks nothing new; a device with the remaining passkey follows", async () => {
  const { vault, prfOutput } = await newVault();
  const cred2 = new Uint8Array([2, 4, 6]);
  const prf2 = rnd();
  const { manifest: m2 } = await vault.addPasskey(newPasskey(cred2, prf2, "second"));
  // Another device, unlocked with the first passkey before the removal.
  const { vault: other } = await Vault.unlock(m2, { prf: { credentialId: cred, prfOutput } }, { store: seenStores.memory() });
  const old = vault.seal({ before: true }, { recordId: "old" });
  const second = m2.unlock.find((e) => e.type === "passkey" && e.label === "second");
  const m3 = vault.removeUnlock(second.id);
  assert.equal(m3.epoch, m2.epoch + 1);
  assert.equal(m3.revision, m2.revision + 1);
  assert.equal(m3.unlock.some((e) => e.id === second.id), false);
  const after = vault.seal({ after: true }, { recordId: "new" });
  assert.deepEqual(vault.open(after, { recordId: "new" }), { after: true });
  assert.deepEqual(vault.open(old, { recordId: "old" }), { before: true }, "records of the older epoch still open");
  assert.equal(recordInfo(after).epoch, m3.epoch);
  assert.equal(await acode(() => Vault.unlock(m3, { prf: { credentialId: cred2, prfOutput: prf2 } })), ErrorCode.UnknownUnlockEntry);
  other.updateManifest(m3);
  assert.deepEqual(other.manifest(), m3);
  assert.deepEqual(other.open(after, { recordId: "new" }), { after: true });
  assert.deepEqual(other.open(old, { recordId: "old" }), { before: true });
});

test("rewrap after rekey: a string once, then null; after retireEpochs the rewrapped record opens", async () => {
  const { vault } = await newVault();
  const m1 = vault.manifest();
  const sealed = vault.seal({ lab: "HbA1c", value: 6.1 }, { recordId: "lab-1", context: "c" });
  const bytes = vault.seal(new Uint8Array([1, 2, 3]), { recordId: "raw", form: "bytes" });
  const m2 = vault.rekey();
  assert.equal(m2.epoch, m1.epoch + 1);
  const rewrapped = vault.rewrap(sealed, { recordId: "lab-1", context: "c" });
  assert.equal(typeof rewrapped, "string");
  assert.notEqual(rewrapped, sealed);
  assert.equal(recordInfo(rewrapped).epoch, m2.epoch);
  assert.equal(vault.rewrap(rewrapped, { recordId: "lab-1", context: "c" }), null, "already under the current epoch");
  const rewrappedBytes = vault.rewrap(bytes, { recordId: "raw", form: "bytes" });
  assert.ok(rewrappedBytes instanceof Uint8Array);
  assert.equal(vault.rewrap(rewrappedBytes, { recordId: "raw" }), null);
  // A rewrap is bound like open: the wrong record id is DecryptionFailed.
  assert.equal(code(() => vault.rewrap(sealed, { recordId: "other", context: "c" })), ErrorCode.DecryptionFailed);
  const m3 = vault.retireEpochs();
  assert.equal(m3.epoch, m2.epoch);
  assert.deepEqual(vault.open(rewrapped, { recordId: "lab-1", context: "c" }), { lab: "HbA1c", value: 6.1 });
  assert.deepEqual(vault.open(rewrappedBytes, { recordId: "raw" }), new Uint8Array([1, 2, 3]));
  // The record left under the retired epoch no longer opens.
  assert.notEqual(code(() => vault.open(sealed, { recordId: "lab-1", context: "c" })), undefined);
});

test("a deleted record's tombstone re-wraps into the new epoch; its older versions stay refused", async () => {
  // Before: the seen check refused the tombstone itself (RecordDeleted), so a
  // vault that ever deleted a record could not retire its old epoch without
  // re-sealing tombstones by hand.
  const { vault } = await newVault();
  const v1 = vault.seal({ note: "old" }, { recordId: "gone" });
  const tomb = vault.tombstone({ recordId: "gone", version: 2 });
  const m2 = vault.rekey();
  const rewrapped = vault.rewrap(tomb, { recordId: "gone" });
  assert.equal(typeof rewrapped, "string");
  assert.deepEqual(recordInfo(rewrapped), { format: 2, epoch: m2.epoch, version: 2 });
  assert.equal(code(() => vault.rewrap(v1, { recordId: "gone" })), ErrorCode.RecordDeleted, "the deleted content is not brought forward");
  vault.retireEpochs();
  assert.equal(code(() => vault.open(rewrapped, { recordId: "gone" })), ErrorCode.RecordDeleted, "still a tombstone");
});

test("recordInfo reports format 2, the key epoch and the version, without a key", async () => {
  const { vault } = await newVault();
  const epoch = vault.manifest().epoch;
  const text = vault.seal({ a: 1 }, { recordId: "r", version: 7 });
  assert.deepEqual(recordInfo(text), { format: 2, epoch, version: 7 });
  const bytes = vault.seal({ a: 1 }, { recordId: "r2", version: 3, form: "bytes" });
  assert.deepEqual(recordInfo(bytes), { format: 2, epoch, version: 3 });
  const plain = vault.seal("x", { recordId: "r3" });
  assert.equal(recordInfo(plain).format, 2);
  assert.equal(recordInfo(plain).epoch, epoch);
  assert.equal(typeof recordInfo(plain).version, "number");
  vault.rekey();
  assert.equal(recordInfo(vault.seal("y", { recordId: "r4" })).epoch, epoch + 1);
  vault.lock();
  assert.deepEqual(recordInfo(text), { format: 2, epoch, version: 7 }, "no key needed");
  assert.equal(code(() => recordInfo("ms3.AAAA")), ErrorCode.UnknownVersion);
  assert.equal(code(() => recordInfo("nope")), ErrorCode.Malformed);
});

test("the seen state keeps what makes the next unlock fast: the manifest's tag and a copy of the vault key only the passkey opens", async () => {
  const store = recordingStore();
  const { vault, manifest, prfOutput } = await newVault({ store });
  await vault.persisted();
  const vaultId = vault.vaultId();
  const state = () => JSON.parse(store.load(vaultId));
  const first = state();
  assert.equal(typeof first.verified, "string");
  assert.equal(first.unlock.epoch, 1);
  assert.equal(first.unlock.entryId, webauthn.passkeys(manifest)[0].entryId);
  assert.ok(!JSON.stringify(first).includes(Buffer.from(prfOutput).toString("base64url")), "no PRF output in the state");
  // The next unlock on this device uses them, and has nothing new to save.
  const saves = store.saves.length;
  const again = (await Vault.unlock(manifest, { prf: { credentialId: cred, prfOutput } }, { store })).vault;
  await again.persisted();
  assert.equal(store.saves.length, saves);
  assert.deepEqual(again.open(vault.seal({ a: 1 }, { recordId: "r" }), { recordId: "r" }), { a: 1 });
  // Another passkey's output opens nothing through the copy.
  assert.equal(await acode(() => Vault.unlock(manifest, { prf: { credentialId: cred, prfOutput: rnd() } }, { store })), ErrorCode.UnlockFailed);
  // A copy that does not open (changed bytes) changes nothing, and is replaced.
  const planted = state();
  const w = Buffer.from(planted.unlock.wrapped, "base64url");
  w[30] ^= 1;
  planted.unlock.wrapped = w.toString("base64url");
  store.save(vaultId, JSON.stringify(planted));
  const third = (await Vault.unlock(manifest, { prf: { credentialId: cred, prfOutput } }, { store })).vault;
  await third.persisted();
  assert.notEqual(state().unlock.wrapped, planted.unlock.wrapped, "replaced by one that opens");
  assert.equal(state().unlock.wrapped.length, first.unlock.wrapped.length);
});
