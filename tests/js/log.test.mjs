// The vault log's API (issue #15, FORMAT.md §16): argument checking of
// `logEntry`, `syncLog` and `accessReport`; the log's pin kept in the seen
// store across a lock and an unlock (and what the store holds, checked with
// the independent tree of log-server.mjs); the access report's exports:
// `accessReports.csv` (RFC 4180, formula neutralisation) and
// `accessReports.auditEvents`, validated as FHIR R4 by a validator nobody
// here wrote (the `fhir` package, as tests/js/fhir.test.mjs uses it), with a
// control that it refuses a broken AuditEvent.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fhirPkg from "fhir";
import { init, Vault, ErrorCode, webauthn, seenStores, accessReports } from "../../pkg/dist/node.js";
import { code } from "./codes.mjs";
import { b64u, toB64u, utf8, mth, publicKeyFromSec1, compressed, LogServer } from "./log-server.mjs";

await init();
const { Fhir } = fhirPkg;
const fhir = new Fhir();

const T0 = Date.UTC(2026, 10, 2, 9, 0, 0);
const at = (minutes) => T0 + minutes * 60_000;
const sec = (ms) => Math.floor(ms / 1000);

async function setup(store = seenStores.memory()) {
  const prf = { credentialId: utf8(`log-test-${crypto.randomUUID()}`), prfSalt: webauthn.newPrfSalt(), prfOutput: crypto.getRandomValues(new Uint8Array(32)) };
  const { vault, manifest } = await Vault.create({ prf: { ...prf } }, { store });
  const srv = new LogServer({ vaultId: vault.vaultId(), vaultKeys: new Map([[manifest.epoch, publicKeyFromSec1(b64u(manifest.identityKey.publicKey))]]) });
  const unlockAgain = (s = store) => Vault.unlock(manifest, { prf: { credentialId: prf.credentialId, prfOutput: prf.prfOutput } }, { store: s }).then((r) => r.vault);
  return { vault, manifest, srv, store, unlockAgain };
}
const write = (vault, srv, event, ms) => srv.appendVault(vault.logEntry(event, { position: srv.size, time: ms }));

test("argument checking: positions, events a vault may not write, entries that are not an array, options", async () => {
  const { vault, srv } = await setup();
  const del = { type: "delete", record: "r1" };
  for (const position of [-1, 1.5, "1", NaN, Infinity, 2 ** 53, null, undefined, 1n]) {
    assert.equal(code(() => vault.logEntry(del, { position })), ErrorCode.InvalidArgument, `position ${String(position)}`);
  }
  assert.equal(code(() => vault.logEntry(del)), ErrorCode.InvalidArgument, "no options");
  assert.equal(code(() => vault.logEntry(del, 0)), ErrorCode.InvalidArgument, "options not an object");
  for (const time of [-1, "now", NaN, {}]) assert.equal(code(() => vault.logEntry(del, { position: 0, time })), ErrorCode.InvalidArgument, `time ${String(time)}`);
  // The server's access events: only the server attests them.
  for (const event of [
    { type: "shared_fetch", grant: "g1", by: "dr.lee", records: ["r1"], outcome: "ok" },
    { type: "link_fetch", link: "l1", recipient: "ER", from: "net-A", outcome: "ok" },
    { type: "login", method: "passkey", outcome: "ok", from: "net-A" },
  ]) {
    assert.equal(code(() => vault.logEntry(event, { position: 0 })), ErrorCode.InvalidArgument, event.type);
  }
  for (const event of [null, "delete", [], {}, { type: "nope" }, { record: "r1" }, { ...del, extra: 1 }, { type: "delete", record: 5 }, { type: "grant", share: "s", to: "t", expires: "soon" }]) {
    assert.equal(code(() => vault.logEntry(event, { position: 0 })), ErrorCode.InvalidArgument, JSON.stringify(event));
  }
  assert.equal(code(() => vault.logEntry({ type: "manifest", rev: 2, hash: "x", epoch: 1 }, { position: 0 })), ErrorCode.InvalidArgument, "medseal fills a manifest entry in itself");
  // A valid entry, for reference: position and time are the ones given (time in milliseconds, as everywhere in the API).
  const leaf = b64u(vault.logEntry(del, { position: 7, time: at(0) }));
  assert.deepEqual(JSON.parse(Buffer.from(leaf.subarray(80)).toString()), { e: 1, n: 7, record: "r1", t: sec(at(0)), type: "delete" });

  // accessReport: entries must be an array; options checked.
  for (const entries of [{}, "[]", null, undefined, 3]) assert.equal(code(() => vault.accessReport(entries)), ErrorCode.InvalidArgument, `entries ${String(entries)}`);
  for (const opts of [null, "x", { since: -1 }, { since: 1.5 }, { from: "yesterday" }]) {
    assert.equal(code(() => vault.accessReport([], opts)), ErrorCode.InvalidArgument, JSON.stringify(opts));
  }
  // syncLog's options (the alert rules, this device's own entries, what it appended) are checked before the answer.
  for (const opts of [null, "x", { own: "pk-1" }, { own: [1] }, { rules: "x" }, { rules: { burstRecords: -1 } }, { expect: "x" }, { expect: [{ position: -1, leaf: "AA" }] }, { expect: [{ position: 1, leaf: 5 }] }]) {
    assert.equal(code(() => vault.syncLog({ checkpoint: "x" }, opts)), ErrorCode.InvalidArgument, JSON.stringify(opts));
  }
  assert.deepEqual(vault.accessReport([]), { events: [], alerts: [] }, "an empty log, before any sync");
  // syncLog: an answer that is not an object is the app's mistake; a malformed one is the server's.
  for (const answer of [null, undefined, 5, true]) assert.equal(code(() => vault.syncLog(answer)), ErrorCode.InvalidArgument, String(answer));
  for (const answer of ["not json", {}, [], { checkpoint: "not a note" }]) assert.equal(code(() => vault.syncLog(answer)), ErrorCode.Malformed, JSON.stringify(answer));
  assert.deepEqual(vault.logStatus(), { size: 0, checkpoint: null });

  // Locked: every log call says so.
  write(vault, srv, srv.announce(), at(0));
  vault.lock();
  assert.equal(code(() => vault.logEntry(del, { position: 1 })), ErrorCode.Locked);
  assert.equal(code(() => vault.syncLog(srv.sync(0))), ErrorCode.Locked);
  assert.equal(code(() => vault.logStatus()), ErrorCode.Locked);
  assert.equal(code(() => vault.accessReport([])), ErrorCode.Locked);
});

// A field of the right type but a value §16.2 forbids (an empty string, a control character, more than 256 bytes,
// an unknown method, a server key that is not a P-256 point) is the caller's argument: InvalidArgument.
test("argument checking: field values §16.2 forbids are InvalidArgument", async () => {
  const { vault } = await setup();
  for (const event of [
    { type: "delete", record: "" },
    { type: "delete", record: "a\u0007b" },
    { type: "delete", record: "x".repeat(257) },
    { type: "unlock", via: "pk-1", method: "password" },
    { type: "server", name: "log.test", key: "AAAA" },
  ]) {
    assert.equal(code(() => vault.logEntry(event, { position: 1 })), ErrorCode.InvalidArgument, JSON.stringify(event).slice(0, 60));
  }
});

test("the log's pin survives a lock and an unlock through the seen store", async () => {
  const { vault, srv, store, unlockAgain } = await setup();
  assert.deepEqual(vault.syncLog(srv.sync(0)), { entries: [], alerts: [], size: 0, cosigned: null }, "an empty log is accepted as nothing");
  assert.deepEqual(vault.logStatus(), { size: 0, checkpoint: null });
  write(vault, srv, srv.announce(), at(0));
  for (let i = 1; i < 7; i++) srv.appendServer({ type: "login", method: "passkey", outcome: "ok", from: `net-${i}` }, sec(at(i)));
  const answer = srv.sync(0);
  assert.equal(vault.syncLog(answer).size, 7);
  const status = vault.logStatus();
  assert.deepEqual(status, { size: 7, checkpoint: answer.checkpoint });
  await vault.persisted();

  // What the store holds (§16.4: origin, size, root, frontier, checkpoint, server key, epoch floor), checked with the
  // independent tree: the frontier of 7 leaves is MTH(0..4), MTH(4..6), leaf 6, largest first.
  const saved = JSON.parse(store.load(vault.vaultId()));
  const h = srv.hashes();
  assert.deepEqual(saved.log, {
    medseal: "vault-log-state",
    version: 1,
    origin: srv.origin,
    size: 7,
    root: toB64u(mth(h)),
    peaks: [mth(h.slice(0, 4)), mth(h.slice(4, 6)), h[6]].map(toB64u),
    checkpoint: answer.checkpoint,
    serverName: srv.key.name,
    serverKey: toB64u(compressed(srv.key.publicKey)),
    epochFloor: saved.log.epochFloor,
    digest: saved.log.digest,
  });
  assert.ok(saved.log.epochFloor <= 1);
  // And the digest the alerts are raised from (§16.4): six passkey sign-ins, no alert.
  assert.deepEqual(saved.log.digest.alerts, []);

  vault.lock();
  const again = await unlockAgain();
  assert.deepEqual(again.logStatus(), status, "size and checkpoint kept");
  // The pin is in force: a shorter log is a rollback, and the log goes on from the pin with a consistency proof.
  assert.equal(code(() => again.syncLog(srv.sync(0, 5))), ErrorCode.LogRolledBack);
  srv.appendServer({ type: "login", method: "recovery", outcome: "failed", from: "net-9" }, sec(at(9)));
  assert.equal(code(() => again.syncLog({ ...srv.sync(7), proof: undefined })), ErrorCode.LogProofMissing, "the stored pin asks for a proof");
  const r = again.syncLog(srv.sync(7));
  assert.deepEqual([r.size, r.entries.map((e) => e.n)], [8, [7]]);
  assert.equal(again.accessReport(srv.entries()).events.length, 7, "the report is checked against the stored tree");
  await again.persisted();
  again.lock();
  assert.equal((await unlockAgain()).logStatus().size, 8);
  // Another store is another device: it knows nothing yet.
  assert.deepEqual((await unlockAgain(seenStores.memory())).logStatus(), { size: 0, checkpoint: null });
});

// ------------------------------------------------------------ exports

/** An RFC 4180 reader: rows of cells, CRLF line ends, "" inside quotes. */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let cell = "";
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (cell += '"'), (i += 2);
      else if (c === '"') (quoted = false), i++;
      else (cell += c), i++;
    } else if (c === '"') (quoted = true), i++;
    else if (c === ",") row.push(cell), (cell = ""), i++;
    else if (c === "\r" && text[i + 1] === "\n") row.push(cell), rows.push(row), (row = []), (cell = ""), (i += 2);
    else (cell += c), i++;
  }
  assert.ok(!quoted && cell === "" && row.length === 0, "the text ends with CRLF, outside quotes");
  return rows;
}

/** A log with every kind of event, people named as a spreadsheet would run them, synced and reported. */
async function reportOfEveryKind() {
  const { vault, manifest, srv } = await setup();
  const pk = manifest.unlock.find((e) => e.type === "passkey").id;
  write(vault, srv, srv.announce(), at(0));
  write(vault, srv, { type: "unlock", via: pk, method: "passkey", device: "Laptop" }, at(1));
  write(vault, srv, { type: "grant", share: "g1", to: "=cmd()", records: 2, expires: sec(at(600)) }, at(2));
  write(vault, srv, { type: "grant", share: "g2", to: 'Dr "Bob", MD', records: 1, expires: sec(at(600)) }, at(3));
  write(vault, srv, { type: "link", share: "l1", label: "+SUM(A1:A9)", expires: sec(at(60)) }, at(4));
  srv.appendServer({ type: "shared_fetch", grant: "g1", by: "=cmd()", records: ["lab-1", "lab-2"], outcome: "ok" }, sec(at(5)));
  srv.appendServer({ type: "shared_fetch", grant: "g2", by: 'Dr "Bob", MD', records: ["lab-1"], outcome: "revoked" }, sec(at(6)));
  srv.appendServer({ type: "link_fetch", link: "l1", recipient: "@ER desk", from: "net-A", outcome: "ok" }, sec(at(7)));
  srv.appendServer({ type: "link_fetch", link: "l1", recipient: "-urgent", from: "net-B", outcome: "passcode" }, sec(at(8)));
  srv.appendServer({ type: "login", method: "recovery", outcome: "failed", from: "net-C" }, sec(at(9)));
  const previous = vault.manifest();
  const { manifest: rotated } = vault.rotateRecoveryCode();
  srv.vaultKeys.set(rotated.epoch, publicKeyFromSec1(b64u(rotated.identityKey.publicKey))); // a new code is a new epoch
  write(vault, srv, { type: "manifest", previous }, at(10));
  write(vault, srv, { type: "revoke", share: "g1" }, at(11));
  write(vault, srv, { type: "delete", record: "lab-2" }, at(12));
  vault.syncLog(srv.sync(0));
  return { vault, report: vault.accessReport(srv.entries(), { own: [pk] }), srv };
}

test("accessReports.csv: header, every cell quoted, quotes doubled, formulas neutralised, CRLF", async () => {
  const { report } = await reportOfEveryKind();
  const text = accessReports.csv(report.events);
  assert.ok(text.endsWith("\r\n"));
  assert.ok(!/[^\r]\n/.test(text), "CRLF line ends only");
  const lines = text.split("\r\n").slice(0, -1);
  assert.equal(lines[0], '"date","recipient","what","purpose","records","outcome","kind","attested by","log position","until"');
  for (const l of lines) assert.match(l, /^"(?:[^"]|"")*"(?:,"(?:[^"]|"")*")*$/, "every cell quoted");
  const rows = parseCsv(text);
  assert.deepEqual(rows[0], ["date", "recipient", "what", "purpose", "records", "outcome", "kind", "attested by", "log position", "until"]);
  assert.equal(rows.length, report.events.length + 1);
  rows.slice(1).forEach((r, i) => {
    const e = report.events[i];
    assert.equal(r.length, 10);
    assert.equal(r[0], new Date(e.time * 1000).toISOString());
    assert.equal(r[4], e.records.join(" "));
    assert.deepEqual(r.slice(5), [e.outcome, e.kind, e.attestedBy, String(e.index), e.expires ? new Date(e.expires * 1000).toISOString() : ""]);
    // No cell a spreadsheet would run: none starts with = + - @ (or a tab or CR before one).
    for (const cell of r) assert.doesNotMatch(cell, /^[=+\-@\t\r]/, `cell ${JSON.stringify(cell)}`);
  });
  const recipients = rows.slice(1).map((r) => r[1]);
  assert.ok(recipients.includes("'=cmd()"), "=cmd() is shown as text");
  assert.ok(recipients.includes("'+SUM(A1:A9)"));
  assert.ok(recipients.includes("'@ER desk"));
  assert.ok(recipients.includes("'-urgent"));
  assert.ok(recipients.includes('Dr "Bob", MD'), "a quote and a comma survive the round trip");
  assert.ok(text.includes('"Dr ""Bob"", MD"'), "quotes doubled inside a quoted cell");
  const fetch = rows.find((r) => r[6] === "shared_fetch" && r[1] === "'=cmd()");
  assert.deepEqual([fetch[3], fetch[4], fetch[5], fetch[7]], ["at the patient's request", "lab-1 lab-2", "ok", "server"]);
  assert.equal(accessReports.csv([]), '"date","recipient","what","purpose","records","outcome","kind","attested by","log position","until"\r\n');
});

test("accessReports.auditEvents: every AuditEvent is valid FHIR R4, and the validator refuses a broken one", async () => {
  const { report } = await reportOfEveryKind();
  const kinds = new Set(report.events.map((e) => e.kind));
  assert.deepEqual([...kinds].sort(), ["delete", "grant", "link", "link_fetch", "login", "manifest", "revoke", "shared_fetch", "unlock"]);
  const bundle = accessReports.auditEvents(report.events, { patient: "Sam Doe" });
  assert.equal(bundle.resourceType, "Bundle");
  assert.equal(bundle.type, "collection");
  assert.equal(bundle.entry.length, report.events.length);
  // Errors fail; the only other messages allowed are the validator not holding the v3 PurposeOfUse value set (the
  // binding is extensible, and PATRQT, "patient requested", is a v3 purpose of use).
  const onlyPurposeNotes = (v, what) => {
    assert.deepEqual(v.messages.filter((m) => m.severity === "error"), [], what);
    for (const m of v.messages) assert.match(m.location, /purposeOfEvent/, `${what}: ${m.message}`);
    assert.equal(v.valid, true, what);
  };
  for (const [i, { fullUrl, resource }] of bundle.entry.entries()) {
    const e = report.events[i];
    assert.equal(resource.resourceType, "AuditEvent");
    assert.equal(fullUrl, `urn:medseal:log:${e.index}`);
    onlyPurposeNotes(fhir.validate(resource), `${e.kind} at ${e.index}`);
    assert.equal(resource.recorded, new Date(e.time * 1000).toISOString());
    assert.equal(resource.outcome, e.outcome === "ok" ? "0" : "4");
    assert.equal(resource.agent[0].who.display, e.actor, "the name as given (no CSV escaping in FHIR)");
    assert.deepEqual(
      (resource.entity ?? []).filter((x) => x.what.identifier).map((x) => x.what.identifier.value),
      e.records,
    );
  }
  onlyPurposeNotes(fhir.validate(bundle), "the Bundle");
  const fetch = bundle.entry.find((x) => x.resource.agent[0].who.display === "=cmd()" && x.resource.action === "R").resource;
  assert.equal(fetch.type.code, "110106");
  assert.equal(fetch.source.observer.display.includes("server"), true);
  assert.deepEqual(fetch.entity[0].what, { display: "Sam Doe" });

  // The control: the validator refuses an AuditEvent that is not R4 (so a pass above means something).
  const broken = structuredClone(fetch);
  broken.action = "Z";
  broken.outcome = "7";
  delete broken.recorded;
  delete broken.agent[0].requestor;
  delete broken.source;
  const v = fhir.validate(broken);
  assert.equal(v.valid, false);
  const where = v.messages.filter((m) => m.severity === "error").map((m) => m.location);
  for (const l of ["AuditEvent.action", "AuditEvent.outcome", "AuditEvent.recorded", "AuditEvent.agent[0].requestor", "AuditEvent.source"]) assert.ok(where.includes(l), l);
  const badBundle = accessReports.auditEvents(report.events);
  delete badBundle.entry[0].resource.recorded;
  const vb = fhir.validate(badBundle);
  assert.equal(vb.valid, false, "a broken AuditEvent inside the Bundle");
  assert.ok(vb.messages.some((m) => m.severity === "error" && m.location === "AuditEvent.recorded" && m.resourceId === "Bundle.entry[0].resource"));
});
