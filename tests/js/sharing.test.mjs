// Sharing through the npm package in Node (issue #14): a patient grants 2 of
// 4 records to a clinician, who opens exactly those; a label grant reaches a
// record added later until it is revoked; expiry; a substituted key caught
// by the pin; and the same grant calls through worker mode (RemoteVault).
import { test } from "node:test";
import assert from "node:assert/strict";
import { init, Vault, ErrorCode, webauthn, sharing, pinStores, seenStores } from "../../pkg/dist/node.js";
import { serveVault } from "../../pkg/dist/host.js";
import { RemoteVault } from "../../pkg/dist/remote.js";
import { code, acode } from "./codes.mjs";

await init();

const rnd = (n = 32) => crypto.getRandomValues(new Uint8Array(n));
async function person(name) {
  const prf = { credentialId: new TextEncoder().encode(name), prfSalt: webauthn.newPrfSalt(), prfOutput: rnd(), label: name };
  const { vault } = await Vault.create({ prf }, { store: seenStores.memory() });
  return vault;
}
const DAY = 86_400_000;

/** A worker's `self` in this realm (as tests/js/remote.test.mjs): requests arrive as message events with the reply port. */
function fakeWorker(opts) {
  const listeners = [];
  const scope = { location: { origin: "https://phr.example" }, addEventListener: (_t, f) => listeners.push(f) };
  serveVault(scope, opts);
  const target = {
    origin: "https://phr.example",
    postMessage(data, transfer) {
      const copy = structuredClone(data, { transfer: transfer.filter((t) => !(t instanceof MessagePort)) });
      for (const f of listeners) f({ data: copy, ports: transfer.filter((t) => t instanceof MessagePort), origin: this.origin });
    },
  };
  return new RemoteVault(target);
}

test("a grant of 2 of 4 records: the clinician opens exactly those two", async () => {
  const patient = await person("patient");
  const clinician = await person("clinician");
  const records = ["allergy-1", "lab-1", "lab-2", "note-1"].map((id) => ({ id, sealed: patient.seal({ id, secret: `about ${id}` }, { recordId: id }) }));
  const pins = pinStores.memory();
  const fp = await sharing.pin("dr-lee", clinician.manifest(), { store: pins });
  assert.equal(fp.firstUse, true);
  assert.match(fp.digits, /^(\d{5} ){7}\d{5}$/);
  assert.deepEqual(sharing.fingerprint(clinician.manifest()), { vaultId: fp.vaultId, digits: fp.digits, qr: fp.qr, digest: fp.digest });
  const { grant, manifest } = patient.grant({ grantee: clinician.manifest(), records: ["lab-1", "lab-2"], expires: Date.now() + DAY });
  assert.equal(manifest.version, 3);
  const info = sharing.grantInfo(grant);
  assert.deepEqual(info.records, ["lab-1", "lab-2"]);
  assert.deepEqual(sharing.shares(manifest).map((s) => s.id), [info.id]);
  const slots = {};
  for (const r of records) {
    if (info.records.includes(r.id)) slots[r.id] = patient.grantSlot(grant, r.sealed, { recordId: r.id });
    else assert.equal(code(() => patient.grantSlot(grant, r.sealed, { recordId: r.id })), ErrorCode.NotGranted);
  }
  await sharing.pin("pat", patient.manifest(), { store: pins });
  const items = records.map((r) => ({ sealed: r.sealed, recordId: r.id, slot: slots[r.id] ?? slots["lab-1"] }));
  const out = clinician.openShared({ grant, grantor: patient.manifest(), items });
  assert.deepEqual(
    out.map((o) => (o.ok ? o.value.id : o.error.code)),
    [ErrorCode.NotGranted, "lab-1", "lab-2", ErrorCode.NotGranted],
  );
  // Another person's vault cannot open it.
  const mallory = await person("mallory");
  assert.equal(code(() => mallory.openShared({ grant, grantor: patient.manifest(), items })), ErrorCode.NotGranted);
});

test("a label grant reaches a record added later, until revoked; expiry; KeyChanged", async () => {
  const patient = await person("patient");
  const clinician = await person("clinician");
  const { grant } = patient.grant({ grantee: clinician.manifest(), label: "allergies", expires: new Date(Date.now() + DAY) });
  const later = patient.seal({ allergy: "peanuts" }, { recordId: "allergy-9" });
  const slot = patient.grantSlot(grant, later, { recordId: "allergy-9" });
  const [o] = clinician.openShared({ grant, grantor: patient.manifest(), items: [{ sealed: later, slot, recordId: "allergy-9" }] });
  assert.deepEqual(o.value, { allergy: "peanuts" });
  const id = sharing.grantInfo(grant).id;
  const m = patient.revokeShare(id);
  assert.deepEqual(sharing.shares(m), []);
  const after = patient.seal({ allergy: "latex" }, { recordId: "allergy-10" });
  assert.equal(code(() => patient.grantSlot(grant, after, { recordId: "allergy-10" })), ErrorCode.NotGranted);
  assert.equal(code(() => patient.revokeShare(id)), ErrorCode.NotGranted);
  // Expired: the grant was made to end in the past.
  const past = patient.grant({ grantee: clinician.manifest(), label: "x", expires: Date.now() + 1000 });
  assert.equal(code(() => patient.grant({ grantee: clinician.manifest(), label: "x", expires: Date.now() - 1000 })), ErrorCode.InvalidArgument);
  assert.ok(past.grant);
  // The pin: the server relays another vault's manifest as the clinician's.
  const pins = pinStores.memory();
  await sharing.pin("dr-lee", clinician.manifest(), { store: pins });
  const impostor = await person("impostor");
  // A manifest relabelled with the clinician's vault id fails its signature; the impostor's own is another key.
  const fake = { ...impostor.manifest(), vaultId: clinician.manifest().vaultId };
  assert.equal(await acode(() => sharing.pin("dr-lee", fake, { store: pins })), ErrorCode.ManifestInvalid);
  assert.equal(await acode(() => sharing.pin("dr-lee", impostor.manifest(), { store: pins })), ErrorCode.KeyChanged);
  assert.equal((await sharing.pin("dr-lee", clinician.manifest(), { store: pins })).firstUse, false, "the real one still passes");
  const again = await sharing.pin("dr-lee", impostor.manifest(), { store: pins, replace: true });
  assert.equal(again.firstUse, true);
  assert.equal(await acode(() => sharing.pin("dr-lee", clinician.manifest(), { store: pins })), ErrorCode.KeyChanged);
});

test("worker mode: grant, grantSlot, openShared, revokeShare through RemoteVault", async () => {
  const patient = await person("patient");
  const clinician = await person("clinician");
  const remote = fakeWorker({ store: null });
  const prf = { credentialId: new TextEncoder().encode("remote"), prfSalt: webauthn.newPrfSalt(), prfOutput: rnd(), label: "remote" };
  await remote.create({ prf });
  const sealed = await remote.seal({ a: 1 }, { recordId: "r1" });
  const { grant, manifest } = await remote.grant({ grantee: clinician.manifest(), records: ["r1"], expires: Date.now() + DAY });
  assert.equal(manifest.shares.length, 1);
  const slot = await remote.grantSlot(grant, sealed, { recordId: "r1" });
  const [o] = clinician.openShared({ grant, grantor: manifest, items: [{ sealed, slot, recordId: "r1" }] });
  assert.deepEqual(o.value, { a: 1 });
  // The clinician's side in a worker too.
  assert.equal(await acode(() => remote.openShared({ grant, grantor: manifest, items: [{ sealed, slot, recordId: "r1" }] })), ErrorCode.NotGranted, "the grantor's own vault is not the grantee");
  const back = clinician.grant({ grantee: manifest, records: ["c1"], expires: Date.now() + DAY });
  const cs = clinician.seal("from the clinician", { recordId: "c1" });
  const [r] = await remote.openShared({ grant: back.grant, grantor: back.manifest, items: [{ sealed: cs, slot: clinician.grantSlot(back.grant, cs, { recordId: "c1" }), recordId: "c1" }] });
  assert.equal(r.value, "from the clinician");
  const m2 = await remote.revokeShare(sharing.grantInfo(grant).id);
  assert.deepEqual(m2.shares, []);
  assert.equal(await acode(() => remote.grantSlot(grant, sealed, { recordId: "r1" })), ErrorCode.NotGranted);
  void patient;
});

test("a SMART Health Link: made by the vault, its file opened by medseal's viewer side and by jose, ended by revocation", async () => {
  const { compactDecrypt } = await import("jose");
  const { healthLinks } = await import("../../pkg/dist/node.js");
  const patient = await person("patient");
  const bundle = { resourceType: "Bundle", type: "collection", entry: [{ resource: { resourceType: "AllergyIntolerance", code: { text: "peanuts" } } }] };
  const link = patient.createLink({ baseUrl: "https://phr.example/shl/", label: "For the ER", expires: Date.now() + DAY, passcode: true });
  assert.equal(link.linkId.length, 43);
  assert.match(link.shlink, /^shlink:\/[A-Za-z0-9_-]+$/);
  assert.deepEqual(sharing.shares(link.manifest).map((s) => [s.id, s.link]), [[link.shareId, true]]);
  const info = healthLinks.parse(`https://viewer.example/#${link.shlink}`);
  assert.equal(info.url, `https://phr.example/shl/${link.linkId}`);
  assert.equal(info.flag, "P");
  assert.equal(info.label, "For the ER");
  const jwe = patient.sealLinkFile(link.shareId, bundle);
  assert.deepEqual(healthLinks.openFile(link.shlink, jwe), { contentType: "application/fhir+json", value: bundle });
  // jose, from the payload's own JSON (the spec's layout: base64url JSON after "shlink:/").
  const payload = JSON.parse(Buffer.from(link.shlink.slice("shlink:/".length), "base64url").toString());
  assert.deepEqual(Object.keys(payload).sort(), ["exp", "flag", "key", "label", "url"]);
  const { plaintext, protectedHeader } = await compactDecrypt(jwe, Buffer.from(payload.key, "base64url"));
  assert.deepEqual(protectedHeader, { alg: "dir", enc: "A256GCM", cty: "application/fhir+json" });
  assert.deepEqual(JSON.parse(new TextDecoder().decode(plaintext)), bundle);
  assert.equal(patient.linkPayload(link.shareId, { baseUrl: "https://phr.example/shl/", label: "For the ER", passcode: true }), link.shlink);
  patient.revokeShare(link.shareId);
  assert.equal(code(() => patient.sealLinkFile(link.shareId, bundle)), ErrorCode.NotGranted);
  const other = patient.createLink({ baseUrl: "https://phr.example/shl/", expires: Date.now() + DAY });
  assert.equal(code(() => healthLinks.openFile(other.shlink, jwe)), ErrorCode.DecryptionFailed);
});

test("reissueGrant: after a re-key, a grant under a new key in place of the old; the old one is refused", async () => {
  const patient = await person("patient");
  const clinician = await person("clinician");
  const { grant } = patient.grant({ grantee: clinician.manifest(), label: "labs", expires: Date.now() + DAY });
  const sealed = patient.seal({ ldl: 130 }, { recordId: "lab-1" });
  const oldSlot = patient.grantSlot(grant, sealed, { recordId: "lab-1" });
  patient.rekey();
  const before = sharing.grantInfo(grant);
  assert.equal(before.grantorEpoch, 1);
  const { grant: next, manifest } = patient.reissueGrant(grant, { grantee: clinician.manifest() });
  const info = sharing.grantInfo(next);
  assert.notEqual(info.id, before.id);
  assert.equal(info.grantorEpoch, 2);
  assert.equal(info.label, "labs");
  assert.equal(info.expires, before.expires);
  assert.deepEqual(sharing.shares(manifest).map((s) => s.id), [info.id]);
  assert.equal(code(() => clinician.openShared({ grant, grantor: manifest, items: [] })), ErrorCode.NotGranted, "the old grant is no longer listed");
  const slot = patient.grantSlot(next, sealed, { recordId: "lab-1" });
  const out = clinician.openShared({ grant: next, grantor: manifest, items: [{ sealed, slot, recordId: "lab-1" }, { sealed, slot: oldSlot, recordId: "lab-1" }] });
  assert.deepEqual(out[0], { ok: true, value: { ldl: 130 } });
  assert.equal(out[1].error.code, ErrorCode.NotGranted, "an old slot opens nothing under the new grant");
  assert.equal(code(() => patient.reissueGrant(grant, { grantee: clinician.manifest() })), ErrorCode.NotGranted);
});
