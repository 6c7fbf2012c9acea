// The vault log (FORMAT.md §16) against implementations nobody here wrote.
// (a) An independent log server in plain JS and node:crypto, written from
//     §16 alone (log-server.mjs): it checks and stores the entries the vault
//     signs (`vault.logEntry`), attests its own (shared_fetch, link_fetch,
//     login), signs checkpoints, and drives a Vault through several
//     `syncLog` steps; `accessReport` is given its inclusion proofs and must
//     return the events and alerts; the checkpoints the vault cosigns and the
//     leaves it writes verify under this side's verifier.
// (b) Sigstore's verifier (@sigstore/verify, sigstore-js): its signed-note
//     checkpoint verifier and its RFC 6962 inclusion verifier accept a
//     checkpoint medseal cosigned and inclusion proofs of medseal entries.
// (c) Attacks through the package: each is refused with its typed
//     MedsealError code and `evidence`, and the pin does not move.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import crypto from "node:crypto";
import { init, Vault, ErrorCode, webauthn, seenStores, MedsealError } from "../../pkg/dist/node.js";
import { manifestHash } from "./format-helpers.mjs";
import {
  b64u, toB64u, utf8, cat, sha256, leafHash, mth, path, proof, verifyInclusion, verifyConsistency,
  publicKeyFromSec1, keyId, spki, checkpointText, signNote, parseNote, verifyNote, parseLeaf, makeLeaf, signedMessage,
  signRaw, verifyRaw, checkLeaf, serverKey, LogServer, VAULT, SERVER,
} from "./log-server.mjs";

await init();

const T0 = Date.UTC(2026, 10, 2, 9, 0, 0); // milliseconds, as the package takes times
const sec = (ms) => Math.floor(ms / 1000);
const at = (minutes) => T0 + minutes * 60_000;

/** A vault with one passkey of known PRF output, through the package, and an independent server for it. */
async function setup(store = seenStores.memory()) {
  const prf = { credentialId: utf8(`log-interop-${crypto.randomUUID()}`), prfSalt: webauthn.newPrfSalt(), prfOutput: crypto.getRandomValues(new Uint8Array(32)) };
  const { vault, manifest } = await Vault.create({ prf: { ...prf } }, { store });
  const vaultKeys = new Map([[manifest.epoch, publicKeyFromSec1(b64u(manifest.identityKey.publicKey))]]);
  const srv = new LogServer({ vaultId: vault.vaultId(), vaultKeys });
  return { vault, manifest, prf, srv, identity: vaultKeys.get(manifest.epoch) };
}
/** The vault signs `event` for the server's current size; the server checks it (§16.4 step 3, here) and appends it. */
const write = (vault, srv, event, ms) => srv.appendVault(vault.logEntry(event, { position: srv.size, time: ms }));
/** The error `f()` throws, which must be a MedsealError. */
function thrown(f) {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof MedsealError, `not a MedsealError: ${e?.stack ?? e}`);
    return e;
  }
  assert.fail("did not throw");
}

// ------------------------------------------------------------ the independent implementation, checked first

test("the JS tree matches RFC 6962's definitions and the certificate-transparency test vectors", () => {
  // The 8 leaves and roots of the certificate-transparency merkle tree tests (reference vectors of RFC 6962 trees).
  const leaves = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"].map((h) => Uint8Array.from(Buffer.from(h, "hex")));
  const roots = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
  ];
  const h = leaves.map(leafHash);
  assert.equal(Buffer.from(mth([])).toString("hex"), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "the empty tree: SHA-256(\"\")");
  roots.forEach((r, i) => assert.equal(Buffer.from(mth(h.slice(0, i + 1))).toString("hex"), r, `root of ${i + 1}`));
  // Every inclusion and consistency proof up to 33 leaves verifies with the RFC 9162 algorithms, and a changed one does not.
  const many = Array.from({ length: 33 }, (_, i) => leafHash(utf8(`leaf ${i}`)));
  for (let n = 1; n <= many.length; n++) {
    const root = mth(many.slice(0, n));
    for (let m = 0; m < n; m++) {
      const p = path(m, many.slice(0, n));
      assert.ok(verifyInclusion(m, n, many[m], p, root), `inclusion ${m} in ${n}`);
      assert.ok(!verifyInclusion(m, n, many[(m + 1) % n === m ? 0 : (m + 1) % n], p, root) || n === 1, `not another leaf ${m} in ${n}`);
      const c = proof(m, many.slice(0, n));
      assert.ok(verifyConsistency(m, n, c, mth(many.slice(0, m)), root), `consistency ${m} -> ${n}`);
      if (c.length > 0) assert.ok(!verifyConsistency(m, n, [...c.slice(0, -1), sha256(c.at(-1))], mth(many.slice(0, m)), root), `broken consistency ${m} -> ${n}`);
    }
  }
  // The entry signature: r || s with s ≤ n/2, whatever node:crypto drew.
  const k = serverKey();
  for (let i = 0; i < 20; i++) assert.ok(verifyRaw(k.publicKey, utf8(`m${i}`), signRaw(k.privateKey, utf8(`m${i}`))));
});

// ------------------------------------------------------------ (a) interop with the independent server

test("(a) a vault synced by an independent server: entries, cosigned checkpoints, access report and alerts", async () => {
  const { vault, manifest, prf, srv, identity } = await setup();
  const pk = manifest.unlock.find((e) => e.type === "passkey").id;
  const rc = manifest.unlock.find((e) => e.type === "recovery").id;
  const origin = `medseal.invalid/vault/${vault.vaultId()}`;
  assert.equal(srv.origin, origin);
  const vaultNoteKey = { name: origin, publicKey: identity };
  const serverNoteKey = { name: srv.key.name, publicKey: srv.key.publicKey };

  /** One sync step: the server's answer from the device's pin; the vault's answer checked here; its cosignature kept. */
  const seen = [];
  function step(expectNew) {
    const from = vault.logStatus().size;
    const answer = srv.sync(from);
    // Alerts are raised as the entries are verified; never for this device's own passkey entry.
    const r = vault.syncLog(answer, { own: [pk] });
    assert.equal(r.size, srv.size);
    assert.deepEqual(vault.logStatus(), { size: srv.size, checkpoint: answer.checkpoint }, "the pin is the server's checkpoint as sent");
    assert.equal(r.entries.length, expectNew);
    // Each entry returned is the one stored here, read back.
    r.entries.forEach((e, i) => {
      const { author, body } = parseLeaf(srv.leaves[from + i]);
      const { n, t, e: epoch, type, ...fields } = body;
      assert.deepEqual(e, { n, t, ...(epoch === undefined ? {} : { e: epoch }), author: author === VAULT ? "vault" : "server", event: { type, ...fields } });
      assert.equal(e.n, from + i);
    });
    // The other direction: the cosigned checkpoint verifies here, under key name = origin and the identity key.
    const p = verifyNote(r.cosigned, [vaultNoteKey]);
    assert.deepEqual(p.signed, [origin]);
    assert.equal(p.size, srv.size);
    assert.deepEqual(p.root, srv.root());
    assert.equal(p.text, checkpointText(origin, srv.size, srv.root()), "§16.3: the text, no extension lines");
    assert.deepEqual(verifyNote(r.cosigned, [vaultNoteKey, serverNoteKey]).signed.sort(), [origin, srv.key.name].sort(), "the server's line is kept");
    srv.cosign(r.cosigned);
    seen.push(...r.entries);
    return r;
  }

  // Step 1: entry 0 announces this server's key; the device's own unlock; a grant and a link.
  write(vault, srv, srv.announce(), at(0));
  write(vault, srv, { type: "unlock", via: pk, method: "passkey", device: "Laptop" }, at(1));
  write(vault, srv, { type: "grant", share: "g-lee", to: "dr.lee@clinic.example", records: 8, expires: sec(at(60 * 24)) }, at(2));
  write(vault, srv, { type: "link", share: "l-er", label: "ER visit", expires: sec(at(60)) }, at(3));
  step(4);

  // Step 2: the server attests access (a burst by the grantee, a recovery sign-in, a link opened from four networks).
  const fetch = (records, minutes, outcome = "ok") => srv.appendServer({ type: "shared_fetch", grant: "g-lee", by: "dr.lee@clinic.example", records, outcome }, sec(at(minutes)));
  const linkFetch = (from, minutes, outcome = "ok") => srv.appendServer({ type: "link_fetch", link: "l-er", recipient: "ER desk", from, outcome }, sec(at(minutes)));
  const ids = (k, n) => Array.from({ length: n }, (_, i) => `lab-${k}-${i}`);
  const fetch1 = fetch(ids(1, 8), 10);
  fetch(ids(2, 8), 12);
  const burstAt = fetch(ids(3, 8), 14); // 24 records in 4 minutes: more than 20 within 10 minutes
  srv.appendServer({ type: "login", method: "passkey", outcome: "ok", from: "net-AAAA" }, sec(at(15)));
  const recoveryLogin = srv.appendServer({ type: "login", method: "recovery", outcome: "ok", from: "net-BBBB" }, sec(at(16)));
  for (const [i, net] of ["net-AAAA", "net-BBBB", "net-CCCC"].entries()) linkFetch(net, 20 + i);
  const placesAt = linkFetch("net-DDDD", 23); // a fourth network: more than 3
  step(9);
  const sinceStep3 = srv.size;

  // Step 3: a new passkey (manifest entry with the hash computed here), used from another device; the recovery code
  // used on a third; access after expiry, both kinds; a revocation and a deleted record.
  const cred2 = utf8("log-interop-second-passkey");
  const m1 = vault.manifest();
  const { manifest: m2 } = await vault.addPasskey({ prf: { credentialId: cred2, prfSalt: webauthn.newPrfSalt(), prfOutput: crypto.getRandomValues(new Uint8Array(32)), label: "tablet" } });
  const pk2 = m2.unlock.find((e) => e.type === "passkey" && e.credentialId === toB64u(cred2)).id;
  const manifestAt = write(vault, srv, { type: "manifest", previous: m1 }, at(30));
  // medseal fills in the manifest entry (revision, hash, epoch, added): checked here with §14.5's hash computed in JS.
  const { n: _n, t: _t, ...mBody } = parseLeaf(srv.leaves[manifestAt]).body;
  assert.deepEqual(mBody, { e: m2.epoch, type: "manifest", rev: m2.revision, hash: toB64u(await manifestHash(m2)), epoch: m2.epoch, added: [pk2] });
  const newMethod = write(vault, srv, { type: "unlock", via: pk2, method: "passkey", device: "Tablet" }, at(31));
  const recoveryUnlock = write(vault, srv, { type: "unlock", via: rc, method: "recovery", device: "Phone" }, at(32));
  write(vault, srv, { type: "unlock", via: pk, method: "passkey", device: "Laptop" }, at(33)); // this device again: no alert
  const expiredFetch = fetch(["lab-1-0"], 60 * 25, "expired");
  const expiredLink = linkFetch("net-AAAA", 61, "expired");
  write(vault, srv, { type: "revoke", share: "g-lee" }, at(60 * 26));
  write(vault, srv, { type: "delete", record: "lab-1-1" }, at(60 * 27));
  // Step 3 pages: the server answers the first part, then the rest (two syncs; cosigned checkpoints ride along).
  const endOfPage = srv.size - 3;
  const r3a = vault.syncLog(srv.sync(vault.logStatus().size, endOfPage), { own: [pk] });
  assert.equal(r3a.size, endOfPage);
  srv.cosign(r3a.cosigned);
  seen.push(...r3a.entries);
  step(3);
  assert.equal(seen.length, srv.size);
  assert.ok(srv.cosigned.length >= 4);

  // Every vault-written leaf verifies here (the server checked each on append; once more over the whole log).
  let ctx = { origin, vaultKeys: srv.vaultKeys, serverKey: null, epochFloor: 0 };
  srv.leaves.forEach((leaf, i) => (ctx = checkLeaf(leaf, i, ctx)));
  assert.equal(srv.leaves.filter((l) => l[15] === VAULT).length, 10);

  // The access report from the whole log, each entry with its inclusion proof built here.
  const all = srv.entries(0, srv.size, srv.size);
  for (const it of all) assert.ok(verifyInclusion(it.index, srv.size, leafHash(b64u(it.leaf)), it.proof.map(b64u), srv.root()));
  const report = vault.accessReport(all);
  assert.equal(report.events.length, srv.size - 1, "every entry but the `server` announcement is an event");
  assert.deepEqual(report.events.map((e) => e.index), all.slice(1).map((e) => e.index));
  const byIndex = (i) => report.events.find((e) => e.index === i);
  assert.deepEqual(byIndex(fetch1), {
    index: fetch1, time: sec(at(10)), kind: "shared_fetch", actor: "dr.lee@clinic.example", actorKind: "person", what: "opened 8 shared record(s)",
    records: ids(1, 8), purpose: "at the patient's request", outcome: "ok", disclosure: true, attestedBy: "server", target: "g-lee", expires: null,
  });
  assert.equal(byIndex(placesAt).what, "opened the health link \u201cER visit\u201d", "the link's label, carried from its `link` entry");
  assert.equal(byIndex(recoveryLogin).actor, "network net-BBBB");
  assert.equal(byIndex(recoveryLogin).attestedBy, "server");
  assert.equal(byIndex(newMethod).attestedBy, "vault");
  assert.equal(byIndex(expiredFetch).outcome, "expired");
  assert.equal(byIndex(expiredFetch).disclosure, false);
  assert.equal(report.events.filter((e) => e.disclosure).length, 3 + 4, "3 fetches and 4 link opens disclosed records");
  assert.equal(report.events.find((e) => e.kind === "revoke").actor, "dr.lee@clinic.example");

  const alerts = report.alerts.map(({ rule, index, count, target, action }) => ({ rule, index, count, target, action }));
  assert.deepEqual(
    alerts.sort((a, b) => a.index - b.index),
    [
      { rule: "burst", index: burstAt, count: 24, target: "g-lee", action: "revoke-grant" },
      { rule: "recovery-used", index: recoveryLogin, count: 1, target: null, action: "rotate-recovery-code" },
      { rule: "link-places", index: placesAt, count: 4, target: "l-er", action: "revoke-link" },
      { rule: "new-unlock-method", index: newMethod, count: 1, target: pk2, action: "remove-passkey" },
      { rule: "recovery-used", index: recoveryUnlock, count: 1, target: rc, action: "rotate-recovery-code" },
      { rule: "after-expiry", index: expiredFetch, count: 1, target: "g-lee", action: "revoke-grant" },
      { rule: "after-expiry", index: expiredLink, count: 1, target: "l-er", action: "revoke-link" },
    ],
  );
  // Only what this device has not shown yet raises alerts (`since`); a time window narrows the events, not the proofs.
  assert.deepEqual(vault.accessReport(all, { since: sinceStep3 }).alerts.map((a) => a.index), [newMethod, recoveryUnlock, expiredFetch, expiredLink]);
  const window = vault.accessReport(all, { from: at(10), to: at(16) });
  assert.deepEqual(window.events.map((e) => e.kind), ["shared_fetch", "shared_fetch", "shared_fetch", "login"]);

  // The report believes only entries proven in the pinned tree.
  const codeOf = (items) => thrown(() => vault.accessReport(items)).code;
  assert.equal(codeOf([...all, { index: srv.size, leaf: all[1].leaf, proof: all[1].proof }]), ErrorCode.LogProofMissing, "beyond the pinned size");
  const with3 = (change) => all.map((x, i) => (i === 3 ? { ...x, ...change } : x));
  assert.equal(codeOf(with3({ proof: [] })), ErrorCode.LogProofMissing, "no proof in a tree of more than one leaf");
  assert.equal(codeOf(with3({ proof: all[3].proof.slice(1) })), ErrorCode.LogEntryInvalid, "a proof that does not lead to the pinned root");
  assert.equal(codeOf(with3({ leaf: all[4].leaf })), ErrorCode.LogEntryInvalid, "another leaf at position 3");
  assert.equal(codeOf([all[3]]), ErrorCode.LogProofMissing, "a run that stops short of the pinned size (the newest left out)");
  assert.equal(codeOf(all.slice(0, 5)), ErrorCode.LogProofMissing, "a prefix of the log hides its newest entries");
  assert.equal(codeOf([all[0], ...all.slice(2)]), ErrorCode.LogProofMissing, "a gap in the run");
  assert.equal(vault.accessReport(all.slice(-5)).events.length, 5, "the newest entries: a page of the report");

  // A second device of the vault, with its own memory, catches up in one sync and sees the same log.
  const { vault: other } = await Vault.unlock(vault.manifest(), { prf: { credentialId: prf.credentialId, prfOutput: prf.prfOutput } }, { store: seenStores.memory() });
  const r = other.syncLog(srv.sync(0), { own: [pk] });
  assert.deepEqual(r.entries, seen);
  assert.deepEqual(other.accessReport(all), report, "one sync of the whole log raises what the steps raised");
  // The thresholds are the app's to set: a third device with higher ones raises no burst and no link-places alert.
  const { vault: third } = await Vault.unlock(vault.manifest(), { prf: { credentialId: prf.credentialId, prfOutput: prf.prfOutput } }, { store: seenStores.memory() });
  const lax = third.syncLog(srv.sync(0), { own: [pk], rules: { burstRecords: 30, linkPlaces: 4 } });
  assert.equal(lax.alerts.filter((a) => a.rule === "burst" || a.rule === "link-places").length, 0);
});

// ------------------------------------------------------------ (b) Sigstore

// @sigstore/verify's public entry (dist/index.js) exports only `Verifier`, `toTrustMaterial`, `toSignedEntity` and
// the error classes: the checkpoint and Merkle verifiers are internal. The package has no "exports" map, so this test
// deep-imports its dist files (acceptable in a test; pinned to the exact version in package.json, 3.1.1, the last
// line that supports this repository's Node 20: 4.x asks for Node 22):
//   dist/tlog/checkpoint.js  verifyCheckpoint(entry, tlogs)      — the C2SP signed note of entry.inclusionProof.checkpoint
//   dist/tlog/merkle.js      verifyMerkleInclusion(entry, cp)    — RFC 6962 / RFC 9162 §2.1.3.2 inclusion of
//                                                                  SHA-256(0x00 || entry.canonicalizedBody)
//   dist/tlog/index.js       verifyTLogInclusion(entry, tlogs)   — both, as Sigstore runs them on a Rekor entry
// The shapes they read: entry = { inclusionProof: { logIndex, hashes: Buffer[], checkpoint: { envelope } },
// canonicalizedBody: Buffer } (a protobuf TransparencyLogEntry, of which only these fields are used), and a
// TLogAuthority = { logID, baseURL, publicKey: KeyObject, validFor: { start, end } }.
// Conventions, and how medseal's fit:
// - logID: Sigstore's log ID is SHA-256 of the log key's DER SubjectPublicKeyInfo (32 bytes); a signature line's key
//   hint must equal its first 4 bytes. That is exactly §16.3's type-0x02 key ID, so the authority's logID is
//   SHA-256(SPKI(identity key)) in full and no translation is needed.
// - Key name: Sigstore does not compare the signature line's key name with a configured name; it tests
//   `tlog.baseURL.match(name)`, i.e. the name used as a regular expression searched in the authority's base URL.
//   medseal's cosigning name is the origin "medseal.invalid/vault/<id>", so the authority's baseURL is
//   "https://" + origin (the dots of the name match any character there: a looser check than §16.3's exact name).
// - Signature lines: Sigstore accepts a note when SOME line verifies under a matching authority; §16.3 also rejects
//   a note whose known key's signature fails. Shown below: Sigstore accepts a note with a broken line of a known key,
//   medseal refuses it.
// - Node's crypto.verify(undefined, data, ecKey, derSig): SHA-256 for a P-256 key, DER signature: §16.3's form.
// - Size and hash count: Sigstore requires logIndex < the checkpoint's size and exactly inner + border hashes,
//   as RFC 9162 does; medseal's proofs are RFC 6962 PATH(m, D[n]), the same list.
const require = createRequire(import.meta.url);
const { verifyCheckpoint } = require("@sigstore/verify/dist/tlog/checkpoint.js");
const { verifyMerkleInclusion } = require("@sigstore/verify/dist/tlog/merkle.js");
const { verifyTLogInclusion } = require("@sigstore/verify/dist/tlog/index.js");
const FOREVER = { start: new Date(0), end: new Date(8.64e15) };
const authority = (name, publicKey) => ({ logID: Buffer.from(sha256(spki(publicKey))), baseURL: `https://${name}`, publicKey, validFor: FOREVER });
const rekorEntry = (note, index, leaf, hashes) => ({
  logIndex: String(index),
  canonicalizedBody: Buffer.from(leaf),
  inclusionProof: { logIndex: String(index), treeSize: String(parseNote(note).size), rootHash: Buffer.from(parseNote(note).root), hashes: hashes.map((h) => Buffer.from(h)), checkpoint: { envelope: note } },
});

test("(b) Sigstore's checkpoint and inclusion verifiers accept medseal's cosigned checkpoint and entry proofs", async () => {
  const ctx = await setup();
  const { vault, manifest, srv, identity } = ctx;
  write(vault, srv, srv.announce(), at(0));
  write(vault, srv, { type: "unlock", via: manifest.unlock[0].id, method: "passkey", device: "Laptop" }, at(1));
  for (let i = 0; i < 5; i++) srv.appendServer({ type: "shared_fetch", grant: "g1", by: "dr.lee", records: [`r${i}`], outcome: "ok" }, sec(at(2 + i)));
  write(vault, srv, { type: "delete", record: "r0" }, at(9));
  const { cosigned } = vault.syncLog(srv.sync(0));
  const n = srv.size;
  const vaultLog = authority(srv.origin, identity);
  assert.deepEqual(keyId(identity), new Uint8Array(vaultLog.logID.subarray(0, 4)), "§16.3's key ID is Sigstore's key hint");

  // The checkpoint the vault cosigned (vault identity under the origin; the server's line is unknown to this authority).
  const cp = verifyCheckpoint(rekorEntry(cosigned, 0, srv.leaves[0], []), [vaultLog]);
  assert.equal(cp.origin, srv.origin);
  assert.equal(cp.logSize, BigInt(n));
  assert.deepEqual(new Uint8Array(cp.logHash), srv.root());
  assert.deepEqual(cp.rest, [], "no extension lines");
  // Every entry, with the inclusion proof the server gives for accessReport, checked by Sigstore's Merkle verifier,
  // vault-written leaves included (their bytes are medseal's, as logEntry returned them).
  for (const { index, leaf, proof: p } of srv.entries()) {
    const entry = rekorEntry(cosigned, index, b64u(leaf), p.map(b64u));
    verifyMerkleInclusion(entry, cp);
    verifyTLogInclusion(entry, [vaultLog]);
  }
  // The server's own checkpoint (this side's signer) under Sigstore too, with the server as authority.
  verifyTLogInclusion(rekorEntry(srv.checkpoint(), 3, srv.leaves[3], path(3, srv.hashes())), [authority(srv.key.name, srv.key.publicKey)]);

  // Controls: Sigstore refuses what is wrong.
  const refuses = (f, what) => assert.throws(f, (e) => e.name === "VerificationError" || e.code === "TLOG_INCLUSION_PROOF_ERROR", what);
  const good = srv.entries()[4];
  refuses(() => verifyTLogInclusion(rekorEntry(cosigned, 4, b64u(srv.entries()[5].leaf), good.proof.map(b64u)), [vaultLog]), "another leaf at index 4");
  refuses(() => verifyTLogInclusion(rekorEntry(cosigned, 4, b64u(good.leaf), good.proof.slice(1).map(b64u)), [vaultLog]), "a short proof");
  refuses(() => verifyTLogInclusion(rekorEntry(cosigned, n, b64u(good.leaf), good.proof.map(b64u)), [vaultLog]), "an index beyond the size");
  const stranger = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey;
  refuses(() => verifyCheckpoint(rekorEntry(cosigned, 0, srv.leaves[0], []), [{ ...vaultLog, publicKey: stranger }]), "another key with the same hint");
  refuses(() => verifyCheckpoint(rekorEntry(cosigned, 0, srv.leaves[0], []), [authority(srv.origin, stranger)]), "a key that did not sign");
  const other = cosigned.replace(`\n${n}\n`, `\n${n + 1}\n`);
  refuses(() => verifyCheckpoint(rekorEntry(other, 0, srv.leaves[0], []), [vaultLog]), "a changed size");

  // Where Sigstore is looser than §16.3: a note with a broken signature of a known key still passes Sigstore when
  // another known key's line verifies; §16.3 (this side's verifier, and medseal) rejects it.
  const serverLog = authority(srv.key.name, srv.key.publicKey);
  const broken = breakLine(cosigned, srv.key.name);
  verifyCheckpoint(rekorEntry(broken, 0, srv.leaves[0], []), [vaultLog, serverLog]);
  assert.throws(() => verifyNote(broken, [{ name: srv.origin, publicKey: identity }, { name: srv.key.name, publicKey: srv.key.publicKey }]), /does not verify/);
  // medseal, given such a note as the head of a sync: a second device of the vault cosigns the next tree (a note
  // with both lines valid), the server's line is broken, and the first device refuses it.
  write(vault, srv, { type: "delete", record: "r1" }, at(10));
  const { cosigned: head } = (await secondDevice(ctx)).syncLog(srv.sync(0));
  const pinned = vault.logStatus();
  const e = thrown(() => vault.syncLog({ ...srv.sync(n), checkpoint: breakLine(head, srv.key.name) }));
  assert.equal(e.code, ErrorCode.LogSignatureInvalid, "§16.3: a known key's failing signature rejects the note");
  assert.deepEqual(vault.logStatus(), pinned);
  verifyCheckpoint(rekorEntry(breakLine(head, srv.key.name), 0, srv.leaves[0], []), [vaultLog, serverLog]); // Sigstore: accepted
  assert.equal(vault.syncLog({ ...srv.sync(n), checkpoint: head }).size, n + 1, "the same note unbroken is accepted");
});

/** The note with the signature of key `name` changed (its last byte flipped). */
function breakLine(note, name) {
  const prefix = `\u2014 ${name} `;
  return note
    .split("\n")
    .map((l) => {
      if (!l.startsWith(prefix)) return l;
      const b = Buffer.from(l.slice(prefix.length), "base64");
      b[b.length - 1] ^= 1;
      return prefix + b.toString("base64");
    })
    .join("\n");
}
/** Another device of the same vault (unlocked with the same passkey), with its own memory. */
async function secondDevice({ vault, prf }) {
  const { vault: other } = await Vault.unlock(vault.manifest(), { prf: { credentialId: prf.credentialId, prfOutput: prf.prfOutput } }, { store: seenStores.memory() });
  return other;
}

// ------------------------------------------------------------ (c) attacks through the package

/** A server entry at position n, signed by `key` (the server's unless another is given). */
function serverLeaf(srv, n, t, event, key = srv.key) {
  const body = utf8(JSON.stringify({ n, t, ...event }));
  return makeLeaf(SERVER, signRaw(key.privateKey, signedMessage(srv.origin, body)), body);
}
/** A lying copy of `srv` whose leaves are `leaves` (no cosigned checkpoints unless given). */
function liar(srv, leaves, cosigned = []) {
  const d = srv.clone();
  d.leaves = leaves;
  d.cosigned = cosigned;
  return d;
}

test("(c) attacks: each refused with its code and evidence, and the pin does not move", async () => {
  const ctx = await setup();
  const { vault, manifest, srv } = ctx;
  const pk = manifest.unlock[0].id;
  const fetch = (t, records) => srv.appendServer({ type: "shared_fetch", grant: "g1", by: "dr.lee", records, outcome: "ok" }, sec(at(t)));
  const honest = (to = srv.size) => {
    const r = vault.syncLog(srv.sync(vault.logStatus().size, to));
    srv.cosign(r.cosigned);
    return r;
  };
  write(vault, srv, srv.announce(), at(0));
  write(vault, srv, { type: "grant", share: "g1", to: "dr.lee", records: 2, expires: sec(at(600)) }, at(1));
  fetch(2, ["a"]);
  const old = srv.sync(0, 3); // a checkpoint of size 3, pinned, later replayed
  srv.cosign(vault.syncLog(old).cosigned);
  write(vault, srv, { type: "unlock", via: pk, method: "passkey", device: "Laptop" }, at(3));
  fetch(4, ["b"]);
  srv.appendServer({ type: "login", method: "passkey", outcome: "ok", from: "net-A" }, sec(at(5)));
  honest(); // pinned: 6
  const P = 6;
  assert.equal(vault.logStatus().size, P);
  // Not yet pinned: 6..9.
  write(vault, srv, { type: "unlock", via: pk, method: "passkey", device: "Laptop" }, at(6));
  fetch(7, ["c"]);
  fetch(8, ["d"]);
  write(vault, srv, { type: "delete", record: "a" }, at(9));
  const N = srv.size;
  assert.equal(N, 10);

  /** syncLog(answer) must throw `code`, carry { pinned, offered } and leave the pin where it was. */
  const refused = (answer, code, what) => {
    const before = vault.logStatus();
    assert.ok(before.checkpoint);
    const e = thrown(() => vault.syncLog(answer));
    assert.equal(e.code, code, `${what}: ${e.message}`);
    assert.deepEqual(e.evidence, { pinned: before.checkpoint, offered: answer.checkpoint }, `${what}: evidence`);
    assert.deepEqual(vault.logStatus(), before, `${what}: the pin did not move`);
    return e;
  };
  const entryAt = (e, i) => assert.match(e.message, new RegExp(`\\bentry ${i}\\b`), "the message names the entry");

  // Drop an entry: not yet pinned (the log without it: the next entry is out of place) ...
  entryAt(refused(liar(srv, srv.leaves.filter((_, i) => i !== 7)).sync(P), ErrorCode.LogEntryInvalid, "drop an entry"), 7);
  // ... left out of the answer only (fewer entries than the checkpoint's size asks) ...
  const answer = srv.sync(P);
  refused({ ...answer, entries: answer.entries.filter((_, i) => i !== 1) }, ErrorCode.LogProofMissing, "drop an entry from the answer");
  // ... or already pinned (no consistency proof can lead from the pin to a log without it).
  refused(liar(srv, srv.leaves.filter((_, i) => i !== 4)).sync(P), ErrorCode.LogInconsistent, "drop a pinned entry");

  // Reorder two entries (a vault entry's position is signed).
  const swapped = [...srv.leaves];
  [swapped[6], swapped[7]] = [swapped[7], swapped[6]];
  entryAt(refused(liar(srv, swapped).sync(P), ErrorCode.LogEntryInvalid, "reorder two"), 6);
  const swappedAnswer = { ...answer, entries: [answer.entries[1], answer.entries[0], ...answer.entries.slice(2)] };
  entryAt(refused(swappedAnswer, ErrorCode.LogEntryInvalid, "reorder two in the answer only"), 6);

  // Edit an entry, re-signed by the server: a pinned one (the log grows: inconsistent; same size: a fork) ...
  const edited = [...srv.leaves];
  edited[4] = serverLeaf(srv, 4, sec(at(4)), { type: "shared_fetch", grant: "g1", by: "dr.lee", records: ["other"], outcome: "ok" });
  refused(liar(srv, edited).sync(P), ErrorCode.LogInconsistent, "edit a pinned entry");
  refused(liar(srv, edited).sync(P, P), ErrorCode.LogForked, "edit a pinned entry, same size");
  // ... or a vault entry not yet pinned, "re-signed" by the server (the server cannot sign for the vault).
  const vaultEdited = [...srv.leaves];
  const { body: b9 } = parseLeaf(srv.leaves[9]);
  const body9 = utf8(JSON.stringify({ ...b9, record: "b" }));
  vaultEdited[9] = makeLeaf(VAULT, signRaw(srv.key.privateKey, signedMessage(srv.origin, body9)), body9);
  entryAt(refused(liar(srv, vaultEdited).sync(P), ErrorCode.LogEntryInvalid, "edit a vault entry"), 9);

  // Truncate below the pin (a fresh checkpoint of a shorter log), and replay an old checkpoint.
  refused(liar(srv, srv.leaves.slice(0, 4)).sync(0), ErrorCode.LogRolledBack, "truncate below the pin");
  refused({ checkpoint: old.checkpoint, proof: [], entries: [] }, ErrorCode.LogRolledBack, "replay an old checkpoint");
  refused({ ...old, cosigned: [] }, ErrorCode.LogRolledBack, "replay an old sync answer");

  // A fork: another device of the vault is shown another history from position 6 on, and cosigns it; the server
  // passes that checkpoint along (as it must, §16.5) to this device, with a proof into this history.
  const forkLeaves = srv.leaves.slice(0, P);
  for (let i = P; i < N; i++) forkLeaves.push(serverLeaf(srv, i, sec(at(i)), { type: "login", method: "recovery", outcome: "ok", from: "net-X" }));
  const fork = liar(srv, forkLeaves);
  const device2 = await secondDevice(ctx);
  const { cosigned: forkNote } = device2.syncLog(fork.sync(0));
  assert.equal(parseNote(forkNote).size, N);
  refused({ ...answer, cosigned: [{ note: forkNote, proof: [] }] }, ErrorCode.LogForked, "a cosigned checkpoint of another history, same size");
  const device3 = await secondDevice(ctx);
  const { cosigned: forkNote8 } = device3.syncLog(fork.sync(0, 8));
  refused({ ...answer, cosigned: [{ note: forkNote8, proof: proof(8, srv.hashes()).map(toB64u) }] }, ErrorCode.LogForked, "a cosigned checkpoint of another history, smaller");
  const device4 = await secondDevice(ctx);
  write(vault, srv, { type: "delete", record: "b" }, at(10));
  const { cosigned: ahead } = device4.syncLog(srv.sync(0)); // this history, one entry further
  srv.leaves.pop();
  refused({ ...answer, cosigned: [{ note: ahead, proof: [] }] }, ErrorCode.LogRolledBack, "a cosigned checkpoint beyond the head");

  // A forged server event (another key under the server's name), and a `server` entry written by the server.
  const evil = serverKey(srv.key.name);
  const forged = [...srv.leaves.slice(0, N), serverLeaf(srv, N, sec(at(11)), { type: "login", method: "passkey", outcome: "ok", from: "net-Z" }, evil)];
  entryAt(refused(liar(srv, forged).sync(P), ErrorCode.LogEntryInvalid, "a server event under another key"), N);
  const rekeyed = [...srv.leaves.slice(0, N), serverLeaf(srv, N, sec(at(11)), { type: "server", name: evil.name, key: toB64u(compressedKey(evil)) })];
  entryAt(refused(liar(srv, rekeyed).sync(P), ErrorCode.LogEntryInvalid, "the server announcing its own key"), N);

  // No consistency proof where one is needed.
  const { proof: _omitted, ...noProof } = answer;
  refused(noProof, ErrorCode.LogProofMissing, "a missing consistency proof");

  // A checkpoint signed by a key the vault does not know (under the server's name, or another), or not signed.
  const text = checkpointText(srv.origin, N, srv.root());
  refused({ ...answer, checkpoint: signNote(text, [evil]) }, ErrorCode.LogSignatureInvalid, "a checkpoint signed by an unknown key");
  refused({ ...answer, checkpoint: signNote(text, [serverKey("stranger.test")]) }, ErrorCode.LogSignatureInvalid, "a checkpoint signed by an unknown name and key");
  refused({ ...answer, checkpoint: breakLine(answer.checkpoint, srv.key.name) }, ErrorCode.LogSignatureInvalid, "a checkpoint whose server signature fails");
  refused({ ...answer, checkpoint: signNote(text, [{ ...srv.key, name: "other.name.test" }]) }, ErrorCode.LogSignatureInvalid, "the server's key under another key name");

  // After all of it, the honest answer is still accepted, and the pin moves.
  assert.equal(honest().size, N);
  assert.equal(vault.logStatus().size, N);
});

/** The compressed SEC1 point of a key pair made by serverKey(). */
const compressedKey = (k) => {
  const jwk = k.publicKey.export({ format: "jwk" });
  return cat(Uint8Array.of(0x02 | (b64u(jwk.y)[31] & 1)), b64u(jwk.x));
};

test("(c) key changes: an entry of a retired epoch after a re-key; no second server key", async () => {
  const ctx = await setup();
  const { vault, srv } = ctx;
  write(vault, srv, srv.announce(), at(0));
  srv.appendServer({ type: "login", method: "passkey", outcome: "ok", from: "net-A" }, sec(at(1)));
  assert.equal(vault.syncLog(srv.sync(0)).size, 2);
  // The vault signs an entry for position 3 at epoch 1, then re-keys and logs the new manifest at position 2.
  const held = b64u(vault.logEntry({ type: "delete", record: "r1" }, { position: 3, time: at(2) }));
  const m1 = vault.manifest();
  const m2 = vault.rekey();
  assert.equal(m2.epoch, 2);
  srv.vaultKeys.set(2, publicKeyFromSec1(b64u(m2.identityKey.publicKey)));
  // Older epochs' keys stay listed in the manifest (§14.2): this side verifies with them.
  assert.deepEqual(publicKeyFromSec1(b64u(m2.epochs[0].publicKey)).export({ format: "jwk" }), srv.vaultKeys.get(1).export({ format: "jwk" }));
  write(vault, srv, { type: "manifest", previous: m1 }, at(3));
  assert.equal(parseLeaf(srv.leaves[2]).body.epoch, 2);
  assert.equal(parseLeaf(srv.leaves[2]).body.e, 2);
  // The epoch-1 entry after the manifest of epoch 2: below the floor, refused here and by medseal.
  assert.throws(() => checkLeaf(held, 3, { ...srv.ctx }), /epoch floor/);
  const withHeld = liar(srv, [...srv.leaves, held]);
  const before = vault.logStatus();
  const e = thrown(() => vault.syncLog(withHeld.sync(2)));
  assert.equal(e.code, ErrorCode.LogEntryInvalid);
  assert.match(e.message, /\bentry 3\b/);
  assert.deepEqual(vault.logStatus(), before);

  // A second `server` entry is refused even from the vault's current epoch: only entry 0 names the server's key
  // (§16.2; a later one could come from a removed device before its re-key is logged). So the server's key never
  // changes: a checkpoint under another key is refused.
  const newKey = serverKey("log-2.medseal.test");
  const rotated = liar(srv, [...srv.leaves]);
  write(vault, rotated, { type: "server", name: newKey.name, key: toB64u(compressedKey(newKey)) }, at(4));
  const e2 = thrown(() => vault.syncLog(rotated.sync(2)));
  assert.equal(e2.code, ErrorCode.LogEntryInvalid, "a second announcement");
  assert.match(e2.message, /\bentry 3\b/);
  srv.appendServer({ type: "login", method: "passkey", outcome: "ok", from: "net-A" }, sec(at(5)));
  const answer = srv.sync(2);
  const text = checkpointText(srv.origin, srv.size, srv.root());
  assert.equal(thrown(() => vault.syncLog({ ...answer, checkpoint: signNote(text, [newKey]) })).code, ErrorCode.LogSignatureInvalid, "a checkpoint under a key never announced");
  assert.deepEqual(vault.logStatus(), before);
  const r = vault.syncLog(answer);
  assert.equal(r.size, 4);
  assert.deepEqual(r.entries.map((x) => [x.author, x.event.type, x.e]), [["vault", "manifest", 2], ["server", "login", undefined]]);
  verifyNote(r.cosigned, [{ name: srv.origin, publicKey: srv.vaultKeys.get(2) }]);
  assert.throws(() => verifyNote(r.cosigned, [{ name: srv.origin, publicKey: srv.vaultKeys.get(1) }]), /no known key|does not verify/, "cosigned with the current identity key");
});
