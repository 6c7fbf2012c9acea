// The security check-up through the JS API (`vault.posture`,
// `vault.confirmRecoveryCode`; issue 17): each finding made true on a real
// vault and a real log (entries the vault signs, appended to the independent
// log server of log-server.mjs, synced and passed back with their inclusion
// proofs, which medseal verifies against the pinned checkpoint), then fixed
// the way the demo's Security page fixes it, through the API, then gone.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { init, Vault, ErrorCode, webauthn, seenStores, sharing } from "../../pkg/dist/node.js";
import { code } from "./codes.mjs";
import { b64u, utf8, publicKeyFromSec1, LogServer } from "./log-server.mjs";

await init();

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
const kinds = (f) => f.map((x) => x.kind);
const has = (f, kind) => f.some((x) => x.kind === kind);
const prfKey = (name) => ({ credentialId: utf8(`posture-${name}-${crypto.randomUUID()}`), prfSalt: webauthn.newPrfSalt(), prfOutput: crypto.getRandomValues(new Uint8Array(32)) });

/** A vault with one passkey, its log on an independent server, and the helpers a device uses. */
async function setup() {
  const { vault, manifest, recoveryCode } = await Vault.create({ prf: { ...prfKey("first"), label: "laptop" } }, { store: seenStores.memory() });
  const srv = new LogServer({ vaultId: vault.vaultId(), vaultKeys: new Map([[manifest.epoch, publicKeyFromSec1(b64u(manifest.identityKey.publicKey))]]) });
  const synced = [];
  const log = {
    /** A vault entry, signed for the log's next position, appended, and synced back. */
    write(event, ms) {
      srv.appendVault(vault.logEntry(event, { position: srv.size, time: ms }));
      synced.push(...vault.syncLog(srv.sync(vault.logStatus().size)).entries);
    },
    /** After a manifest change: the server learns the new epoch's identity key; the log's manifest entry. */
    changed(previous, ms) {
      const m = vault.manifest();
      srv.vaultKeys.set(m.epoch, publicKeyFromSec1(b64u(m.identityKey.publicKey)));
      log.write({ type: "manifest", previous }, ms);
    },
    /** The whole log with inclusion proofs, as the demo passes it. */
    entries: () => srv.entries(),
    /** The entries as syncLog returned them (no proofs: the app's own verified copies). */
    synced: () => synced,
  };
  log.write(srv.announce(), T0);
  log.write({ type: "manifest" }, T0);
  const first = passkeyIds(vault)[0];
  log.write({ type: "unlock", via: first, method: "passkey", device: "laptop", uv: true }, T0);
  const check = (ms, opts = {}) => vault.posture({ log: log.entries(), now: ms, prf: true, ...opts });
  return { vault, recoveryCode, log, check, first };
}

const passkeyIds = (vault) => vault.manifest().unlock.filter((e) => e.type === "passkey").map((e) => e.id);
const recoveryId = (vault) => vault.manifest().unlock.find((e) => e.type === "recovery").id;

/** Adds a passkey, logs the manifest change; returns its entry id. */
async function addPasskey(vault, log, ms, label) {
  const previous = vault.manifest();
  const before = new Set(passkeyIds(vault));
  await vault.addPasskey({ prf: { ...prfKey(label), label } });
  log.changed(previous, ms);
  return passkeyIds(vault).find((id) => !before.has(id));
}

/** Removes an unlock entry (a re-key), logs it. */
function remove(vault, log, id, ms) {
  const previous = vault.manifest();
  vault.removeUnlock(id);
  log.changed(previous, ms);
}

test("OnePasskey: until a backup passkey is added (judged from the manifest alone)", async () => {
  const { vault, log } = await setup();
  assert.deepEqual(vault.posture({ now: T0, prf: true }), [{ kind: "OnePasskey" }], "without a log: the manifest's findings only");
  const backup = await addPasskey(vault, log, T0 + 1000, "phone");
  assert.ok(!has(vault.posture({ now: T0, prf: true }), "OnePasskey"));
  // Removing the backup brings it back.
  remove(vault, log, backup, T0 + 2000);
  assert.ok(has(vault.posture({ now: T0, prf: true }), "OnePasskey"));
});

test("RecoveryUnconfirmed: until the code is typed (confirmRecoveryCode) and a recovery_check logged; a wrong code is UnlockFailed, a typo InvalidRecoveryCode", async () => {
  const { vault, recoveryCode, log, check } = await setup();
  const rc = recoveryId(vault);
  assert.deepEqual(check(T0 + 1000).filter((f) => f.kind === "RecoveryUnconfirmed"), [{ kind: "RecoveryUnconfirmed", entry: rc }]);
  assert.ok(!has(vault.posture({ now: T0, prf: true }), "RecoveryUnconfirmed"), "not judged without the log");

  // Another vault's code (well formed, checksum right): not this vault's.
  const { recoveryCode: other } = await Vault.create({ prf: prfKey("other") }, { store: null });
  assert.equal(code(() => vault.confirmRecoveryCode(other)), ErrorCode.UnlockFailed);
  // One character mistyped: the checksum catches it before any key is derived.
  const i = recoveryCode.search(/[A-Z2-9]/);
  const typo = recoveryCode.slice(0, i) + (recoveryCode[i] === "A" ? "B" : "A") + recoveryCode.slice(i + 1);
  assert.equal(code(() => vault.confirmRecoveryCode(typo)), ErrorCode.InvalidRecoveryCode);
  assert.equal(code(() => vault.confirmRecoveryCode("")), ErrorCode.InvalidRecoveryCode);
  assert.equal(code(() => vault.confirmRecoveryCode(42)), ErrorCode.InvalidArgument);
  assert.ok(has(check(T0 + 2000), "RecoveryUnconfirmed"), "a failed check confirms nothing");

  // The code as typed (lower case, spaces): confirmed, then logged.
  assert.equal(vault.confirmRecoveryCode(recoveryCode.toLowerCase().replaceAll("-", " ")), undefined);
  log.write({ type: "recovery_check", via: rc }, T0 + 3000);
  assert.ok(!has(check(T0 + 4000), "RecoveryUnconfirmed"));

  // A new code: the old check no longer counts, and the old code no longer confirms.
  const previous = vault.manifest();
  const { recoveryCode: fresh } = vault.rotateRecoveryCode();
  log.changed(previous, T0 + 5000);
  assert.equal(code(() => vault.confirmRecoveryCode(recoveryCode)), ErrorCode.UnlockFailed);
  assert.deepEqual(check(T0 + 6000).filter((f) => f.kind === "RecoveryUnconfirmed"), [{ kind: "RecoveryUnconfirmed", entry: recoveryId(vault) }]);
  vault.confirmRecoveryCode(fresh);
  log.write({ type: "recovery_check", via: recoveryId(vault) }, T0 + 7000);
  assert.ok(!has(check(T0 + 8000), "RecoveryUnconfirmed"));
  vault.lock();
  assert.equal(code(() => vault.confirmRecoveryCode(fresh)), ErrorCode.Locked);
});

test("RecoveryOlderThanRekey and OldEpochKeys: a re-key leaves the code and the old keys; a new code and retireEpochs fix them", async () => {
  const { vault, log, check } = await setup();
  await addPasskey(vault, log, T0 + 1000, "phone");
  assert.ok(!has(check(T0 + 1000), "RecoveryOlderThanRekey"));
  assert.ok(!has(check(T0 + 1000), "OldEpochKeys"));
  // A re-key (as after a leak): the code made in epoch 1 still opens epoch 2, and epoch 1's key is kept.
  const sealed = vault.seal({ allergy: "penicillin" }, { recordId: "r1" });
  const previous = vault.manifest();
  vault.rekey();
  log.changed(previous, T0 + 2000);
  const f = check(T0 + 3000);
  assert.deepEqual(f.find((x) => x.kind === "RecoveryOlderThanRekey"), { kind: "RecoveryOlderThanRekey", entry: recoveryId(vault), sinceEpoch: 1, epoch: 2 });
  assert.deepEqual(f.find((x) => x.kind === "OldEpochKeys"), { kind: "OldEpochKeys", epochs: [1] });

  // Fix 1: a new recovery code, made in an epoch of its own.
  const before = vault.manifest();
  vault.rotateRecoveryCode();
  log.changed(before, T0 + 4000);
  const g = check(T0 + 5000);
  assert.ok(!has(g, "RecoveryOlderThanRekey"), JSON.stringify(g));
  assert.deepEqual(g.find((x) => x.kind === "OldEpochKeys"), { kind: "OldEpochKeys", epochs: [1, 2] });

  // Fix 2: re-wrap every record, then retire the older epochs.
  const rewrapped = vault.rewrap(sealed, { recordId: "r1" });
  const prior = vault.manifest();
  vault.retireEpochs();
  log.changed(prior, T0 + 6000);
  const h = check(T0 + 7000);
  assert.ok(!has(h, "OldEpochKeys"), JSON.stringify(h));
  assert.deepEqual(vault.open(rewrapped, { recordId: "r1" }), { allergy: "penicillin" });
});

test("PasskeyUnused: a passkey not used for more than unusedDays, until it is used or removed", async () => {
  const { vault, log, check, first } = await setup();
  const phone = await addPasskey(vault, log, T0, "phone");
  const key = await addPasskey(vault, log, T0, "security key");
  assert.ok(!has(check(T0 + 10 * DAY), "PasskeyUnused"));
  const later = T0 + 200 * DAY;
  const unused = check(later).filter((f) => f.kind === "PasskeyUnused");
  assert.deepEqual(unused.map((f) => [f.entry, f.label, f.lastUsed]).sort(), [
    [first, "laptop", Math.floor(T0 / 1000)],
    [phone, "phone", null],
    [key, "security key", null],
  ].sort());
  assert.equal(check(later, { unusedDays: 365 }).filter((f) => f.kind === "PasskeyUnused").length, 0, "unusedDays sets the limit");
  // Used once: the laptop and the phone unlock again.
  log.write({ type: "unlock", via: first, method: "passkey", uv: true }, later);
  log.write({ type: "unlock", via: phone, method: "passkey", uv: true }, later);
  // The security key is lost: removed (the Security page's fix).
  remove(vault, log, key, later + 1000);
  assert.ok(!has(check(later + 2000), "PasskeyUnused"), JSON.stringify(check(later + 2000)));
  for (const unusedDays of [0, 36501, 1.5, "180"]) assert.equal(code(() => check(later, { unusedDays })), ErrorCode.InvalidArgument, String(unusedDays));
});

test("PasskeyWithoutUv: a passkey whose last unlock did not verify the user, until it is removed", async () => {
  const { vault, log, check } = await setup();
  const key = await addPasskey(vault, log, T0, "old key");
  log.write({ type: "unlock", via: key, method: "passkey", device: "desktop", uv: false }, T0 + 1000);
  assert.deepEqual(check(T0 + 2000).filter((f) => f.kind === "PasskeyWithoutUv"), [{ kind: "PasskeyWithoutUv", entry: key, label: "old key" }]);
  // An unlock that says nothing of uv changes nothing; only removal (or a verified unlock) clears it.
  log.write({ type: "unlock", via: key, method: "passkey" }, T0 + 3000);
  assert.ok(has(check(T0 + 4000), "PasskeyWithoutUv"));
  remove(vault, log, key, T0 + 5000);
  assert.ok(!has(check(T0 + 6000), "PasskeyWithoutUv"));
  // The recovery code has no authenticator: an unlock with it may not carry uv.
  assert.equal(code(() => vault.logEntry({ type: "unlock", via: recoveryId(vault), method: "recovery", uv: false }, { position: 0 })), ErrorCode.InvalidArgument);
});

test("PrfUnsupported: only when the browser says it cannot (webauthn.support()'s answer, or false)", async () => {
  const { vault } = await setup();
  const prfOf = (prf) => has(vault.posture({ now: T0, prf }), "PrfUnsupported");
  assert.equal(prfOf({ webauthn: true, platformAuthenticator: true, prf: false }), true);
  assert.equal(prfOf({ webauthn: false, platformAuthenticator: false, prf: false }), true);
  assert.equal(prfOf(false), true);
  // The fix is another browser: one that says it can, or one that cannot tell, raises nothing.
  assert.equal(prfOf({ webauthn: true, platformAuthenticator: true, prf: true }), false);
  assert.equal(prfOf({ webauthn: true, platformAuthenticator: false, prf: "unknown" }), false);
  assert.equal(prfOf(true), false);
  assert.equal(prfOf(undefined), false);
  // What webauthn.support() says here (Node: no WebAuthn) counts as unsupported.
  assert.equal(prfOf(await webauthn.support()), true);
  for (const prf of ["yes", 1, null]) assert.equal(code(() => vault.posture({ now: T0, prf })), ErrorCode.InvalidArgument, String(prf));
});

test("ActiveShare: every grant and link listed with who it is for, until revoked; an expired one is flagged", async () => {
  const { vault, log, check } = await setup();
  await addPasskey(vault, log, T0, "phone");
  const { manifest: theirs } = await Vault.create({ prf: prfKey("dr-lee") }, { store: null });
  vault.seal({ allergy: "penicillin" }, { recordId: "r1" });
  // Shares must end after they are made: this test's clock is the real one.
  const now = Date.now();
  const grantExpires = now + 7 * DAY;
  const { grant } = vault.grant({ grantee: theirs, expires: grantExpires, records: ["r1"] });
  const grantId = sharing.grantInfo(grant).id;
  log.write({ type: "grant", share: grantId, to: "dr-lee", records: 1, expires: Math.floor(grantExpires / 1000) }, now + 1000);
  const link = vault.createLink({ baseUrl: "https://phr.example/shl/", label: "For the ER", expires: now + DAY });
  log.write({ type: "link", share: link.shareId, label: "For the ER", expires: Math.floor((now + DAY) / 1000) }, now + 2000);

  const shares = check(now + 3000).filter((f) => f.kind === "ActiveShare");
  assert.deepEqual(
    shares.map((f) => ({ id: f.id, link: f.link, name: f.name, expired: f.expired, expires: f.expires })).sort((a, b) => Number(a.link) - Number(b.link)),
    [
      { id: grantId, link: false, name: "dr-lee", expired: false, expires: Math.floor(grantExpires / 1000) },
      { id: link.shareId, link: true, name: "For the ER", expired: false, expires: Math.floor((now + DAY) / 1000) },
    ],
  );
  // Two days on the link has ended but is still listed: flagged.
  assert.equal(check(now + 2 * DAY).find((f) => f.link).expired, true);

  vault.revokeShare(grantId);
  log.write({ type: "revoke", share: grantId }, now + 4000);
  vault.revokeShare(link.shareId);
  log.write({ type: "revoke", share: link.shareId }, now + 5000);
  assert.ok(!has(check(now + 6000), "ActiveShare"));
});

test("a well-kept vault: nothing to fix; the log is verified against the pinned checkpoint", async () => {
  const { vault, recoveryCode, log, check } = await setup();
  await addPasskey(vault, log, T0, "phone");
  vault.confirmRecoveryCode(recoveryCode);
  log.write({ type: "recovery_check", via: recoveryId(vault) }, T0 + 1000);
  assert.deepEqual(check(T0 + 2000), []);
  // The same entries without proofs (as syncLog returned them) give the same answer.
  assert.equal(log.synced().length, log.entries().length);
  assert.deepEqual(kinds(check(T0 + 2000, { log: log.synced() })), []);
  const items = log.entries();
  // An entry with a proof that does not lead to the pinned root is refused, not skipped.
  const forged = items.map((x, i) => (i === 1 ? { ...x, proof: x.proof.map(() => "A".repeat(43)) } : x));
  assert.equal(code(() => check(T0 + 2000, { log: forged })), ErrorCode.LogEntryInvalid);
  // Options are checked.
  for (const opts of [null, "x", { log: "[]" }, { now: "today" }]) assert.equal(code(() => vault.posture(opts)), ErrorCode.InvalidArgument, JSON.stringify(opts));
  vault.lock();
  assert.equal(code(() => vault.posture({ now: T0 })), ErrorCode.Locked);
});
