// Security review of sharing (format 3), through the npm package in Node.
// Every test here is an attack that worked at 3a43a38 (each test's comment
// says the attack and its impact as found then) and is refused now: the
// tests failed there and pass since the fixes that followed the review.
import { test } from "node:test";
import assert from "node:assert/strict";
import { init, Vault, ErrorCode, webauthn, sharing, pinStores, seenStores } from "../../pkg/dist/node.js";

await init();

const rnd = (n = 32) => crypto.getRandomValues(new Uint8Array(n));
const DAY = 86_400_000;
const key = (name) => ({ credentialId: new TextEncoder().encode(name), prfSalt: webauthn.newPrfSalt(), prfOutput: rnd(), label: name });

/** A person whose vault has two passkeys (a laptop and a phone); returns the vault, the phone's key and the manifest the phone last saw. */
async function personWithPhone(name) {
  const laptop = key(`${name}-laptop`);
  const phone = key(`${name}-phone`);
  const { vault } = await Vault.create({ prf: { ...laptop, prfOutput: laptop.prfOutput.slice() } }, { store: seenStores.memory() });
  await vault.addPasskey({ prf: { ...phone, prfOutput: phone.prfOutput.slice() } });
  return { vault, phone, phoneManifest: vault.manifest() };
}

/** The person loses the phone and removes its passkey: a re-key, so the phone "opens nothing sealed afterwards and can sign nothing a client accepts". */
function removePhone(p) {
  const cred = btoa(String.fromCharCode(...p.phone.credentialId)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const entry = p.vault.manifest().unlock.find((e) => e.type === "passkey" && e.credentialId === cred);
  assert.ok(entry, "the phone's entry");
  p.vault.removeUnlock(entry.id);
}

/** Whoever holds the removed phone (a thief) unlocks the manifest the phone last saw, which the server keeps. */
async function thief(p) {
  const { vault } = await Vault.unlock(p.phoneManifest, { prf: { credentialId: p.phone.credentialId, prfOutput: p.phone.prfOutput.slice() } }, { store: seenStores.memory() });
  return vault;
}

async function person(name) {
  const k = key(name);
  const { vault } = await Vault.create({ prf: k }, { store: seenStores.memory() });
  return vault;
}

// ATTACK (removed passkey forges a grant): the patient removed a stolen phone's
// passkey (re-key to epoch 2). The thief unlocks the epoch-1 manifest with the
// phone, signs a grant with the epoch-1 identity key and seals a record of its
// own under one of the patient's record ids. The clinician's `openShared`,
// checked against the patient's CURRENT manifest (and its pinned fingerprint),
// accepts the grant: `Grant::verify` takes any older epoch's identity key, and
// `accept_grant` never checks that the grantor's manifest lists the grant.
// IMPACT: forged medical records shown as the patient's (integrity), by a
// credential the patient revoked; the grant is not in the patient's list, so
// the patient cannot see or revoke it.
test("removed passkey forges a grant that openShared accepts against the grantor's current manifest", async () => {
  const patient = await personWithPhone("patient");
  const clinician = await person("clinician");
  removePhone(patient);
  const stolen = await thief(patient);
  const { grant } = stolen.grant({ grantee: clinician.manifest(), records: ["allergy-1"], expires: Date.now() + DAY });
  const forged = stolen.seal({ allergies: "none known" }, { recordId: "allergy-1" });
  const slot = stolen.grantSlot(grant, forged, { recordId: "allergy-1" });
  // The clinician pins the real patient (first use) and opens what the server relays.
  const pins = pinStores.memory();
  await sharing.pin("patient", patient.vault.manifest(), { store: pins });
  let outcome;
  try {
    outcome = clinician.openShared({ grant, grantor: patient.vault.manifest(), items: [{ sealed: forged, slot, recordId: "allergy-1" }] });
  } catch (e) {
    outcome = e;
  }
  assert.ok(
    outcome instanceof Error,
    `a grant signed by a revoked epoch's key was accepted; the clinician read: ${JSON.stringify(outcome?.[0]?.value)}; ` +
      `the patient's manifest lists ${sharing.shares(patient.vault.manifest()).length} grant(s)`,
  );
});

// ATTACK (removed passkey + server fork the grantee past its pin): the clinician
// removed a stolen phone (epoch 2); the patient pinned the clinician's manifest
// AFTER that removal. The thief unlocks the clinician's epoch-1 manifest with the
// phone and re-keys it: a fork whose epoch-1 key (the fingerprint's root) is the
// clinician's, at the same revision. The server relays the fork as the clinician's:
// `sharing.pin` accepts it (same fingerprint, revision not lower), the patient
// grants to the fork's share key, and the thief reads the patient's records.
// IMPACT: confidentiality of every record granted afterwards, to a revoked device;
// pins and fingerprint comparison are both defeated (the fingerprint is the same).
test("a fork made by the grantee's removed passkey passes sharing.pin and receives the grant", async () => {
  const patient = await person("patient");
  const clinician = await personWithPhone("clinician");
  removePhone(clinician);
  const pins = pinStores.memory();
  await sharing.pin("dr-lee", clinician.vault.manifest(), { store: pins });
  const stolen = await thief(clinician);
  const fork = stolen.rekey();
  assert.equal(fork.revision, clinician.vault.manifest().revision, "the fork is at the pinned revision");
  let refused = null;
  try {
    await sharing.pin("dr-lee", fork, { store: pins });
  } catch (e) {
    refused = e;
  }
  let read = null;
  if (refused === null) {
    const sealed = patient.seal({ hiv: "positive" }, { recordId: "lab-1" });
    const { grant, manifest } = patient.grant({ grantee: fork, records: ["lab-1"], expires: Date.now() + DAY });
    const slot = patient.grantSlot(grant, sealed, { recordId: "lab-1" });
    const [o] = stolen.openShared({ grant, grantor: manifest, items: [{ sealed, slot, recordId: "lab-1" }] });
    read = o.ok ? o.value : o.error.code;
  }
  assert.ok(refused !== null, `sharing.pin accepted a fork signed by a removed passkey; the thief read the patient's record: ${JSON.stringify(read)}`);
});

// ATTACK (server rolls back a shared record): the patient edits a shared record
// (version 2, a new data key, a new slot). The clinician opens version 2. The
// server then serves version 1 with its old slot (it kept both): `openShared`
// opens it as current, with no StaleRecord (a vault's own records have a seen
// state; shared ones have none, and `openShared` does not even return the
// version, so an app cannot check it either).
// IMPACT: a clinician silently shown an outdated allergy list or lab result after
// seeing the newer one: the rollback the threat model says a client detects.
test("a shared record rolled back to an older version opens without StaleRecord", async () => {
  const patient = await person("patient");
  const clinician = await person("clinician");
  const { grant, manifest } = patient.grant({ grantee: clinician.manifest(), records: ["allergy-1"], expires: Date.now() + DAY });
  const v1 = patient.seal({ allergy: "none known" }, { recordId: "allergy-1" });
  const slot1 = patient.grantSlot(grant, v1, { recordId: "allergy-1" });
  const v2 = patient.seal({ allergy: "penicillin: anaphylaxis" }, { recordId: "allergy-1", version: 2 });
  const slot2 = patient.grantSlot(grant, v2, { recordId: "allergy-1" });
  const [now] = clinician.openShared({ grant, grantor: manifest, items: [{ sealed: v2, slot: slot2, recordId: "allergy-1" }] });
  assert.deepEqual(now.value, { allergy: "penicillin: anaphylaxis" });
  const [old] = clinician.openShared({ grant, grantor: manifest, items: [{ sealed: v1, slot: slot1, recordId: "allergy-1" }] });
  assert.equal(old.ok, false, `version 1 opened after version 2 was seen: ${JSON.stringify(old.value)}`);
  assert.equal(old.error.code, ErrorCode.StaleRecord);
});

// ATTACK (https rule of a SMART Health Link bypassed): medseal refuses a
// link whose url is plain http unless its host is loopback. Its host check
// splits the authority on '/', '?' and '#' only, so
// `http://evil.example\@localhost/...` reads as host "localhost"; every
// browser (WHATWG URL: '\' ends the authority of http URLs) sends the
// viewer's POST, with the passcode and recipient, in clear text to
// evil.example. IMPACT: a network attacker on the path reads and rewrites the
// manifest request and answer (passcode, recipient, which files); a link that
// medseal's check calls https-only is not.
test("a shlink url with a backslash passes the https-or-loopback check but goes to another host over http", async () => {
  const { healthLinks } = await import("../../pkg/dist/node.js");
  const url = "http://evil.example\\@localhost/shl/abc";
  const payload = { url, key: Buffer.from(rnd(32)).toString("base64url"), flag: "P" };
  const shlink = "shlink:/" + Buffer.from(JSON.stringify(payload)).toString("base64url");
  assert.equal(new URL(url).host, "evil.example", "where a browser's fetch goes");
  let refused = null;
  try {
    healthLinks.parse(shlink);
  } catch (e) {
    refused = e;
  }
  assert.ok(refused !== null, "healthLinks.parse accepted a plain-http url whose host is evil.example");
});

// BUG (a valid grant that nobody can read): `grant` accepts up to 1000 record
// ids of up to 1024 bytes each (FORMAT.md §15.4), but the grant parser refuses
// any grant JSON over 128 KiB (`TooLarge`). A grant of 200 records with
// 1000-byte ids is made, signed and listed in the manifest, yet the grantor
// itself cannot make a slot for it, the grantee cannot open it and the server
// refuses to store it. IMPACT: a share the patient believes active that gives
// nothing (and a manifest entry that only revocation removes).
test("a grant inside the documented limits does not parse back (TooLarge)", async () => {
  // Fixed by bounding a grant's record ids (64 KiB together) and sizing the
  // JSON limit for the worst escaping of those: a grant at the limit parses
  // back and gives slots; one past it is refused when made, not later.
  const patient = await person("patient");
  const clinician = await person("clinician");
  const ids = Array.from({ length: 64 }, (_, i) => `r${String(i).padStart(3, "0")}-${"\u0001".repeat(1019)}`);
  const { grant } = patient.grant({ grantee: clinician.manifest(), records: ids, expires: Date.now() + DAY });
  const sealed = patient.seal({ a: 1 }, { recordId: ids[0] });
  let slotError = null;
  try {
    patient.grantSlot(grant, sealed, { recordId: ids[0] });
  } catch (e) {
    slotError = e.code;
  }
  assert.equal(slotError, null, `the grantor cannot make a slot for its own grant of ${grant.length} characters: ${slotError}`);
  const tooMany = Array.from({ length: 200 }, (_, i) => `r${String(i).padStart(3, "0")}-${"x".repeat(995)}`);
  assert.throws(() => patient.grant({ grantee: clinician.manifest(), records: tooMany, expires: Date.now() + DAY }), (e) => e.code === ErrorCode.InvalidArgument);
});
