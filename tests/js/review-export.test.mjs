// Review of vault.export() (FORMAT §19) fed by a server that rolls a record
// back. The device knows the record is stale (open() says StaleRecord, and
// the demo's exportAll() calls openMany() and drops the failure), yet
// export() packages the stale version, and `medseal export verify` calls it
// authentic. Failed (the attack succeeded) until export() opened each
// record first; passes since.
//
// Run: node --test tests/js/review-export.test.mjs   (needs pkg/ and target/debug/medseal)
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { init, Vault, webauthn, ErrorCode } from "../../pkg/dist/node.js";

await init();
const rnd = (n = 32) => crypto.getRandomValues(new Uint8Array(n));

test("a record the vault itself refuses as rolled back goes into the export", async () => {
  const { vault, recoveryCode } = await Vault.create({ prf: { credentialId: rnd(16), prfSalt: webauthn.newPrfSalt(), prfOutput: rnd() } });
  const v1 = vault.seal({ resourceType: "MedicationStatement", id: "m", dosage: "5 mg" }, { recordId: "med", version: 1 });
  const v2 = vault.seal({ resourceType: "MedicationStatement", id: "m", dosage: "50 mg" }, { recordId: "med", version: 2 });
  vault.open(v2, { recordId: "med" });
  // The device refuses the old version ...
  let refused = null;
  try {
    vault.open(v1, { recordId: "med" });
  } catch (e) {
    refused = e.code;
  }
  assert.equal(refused, ErrorCode.StaleRecord, "precondition: the device knows v1 is stale");
  // ... and the demo's exportAll() only drops it from the file list:
  const opened = vault.openMany([{ sealed: v1, recordId: "med" }]);
  assert.equal(opened[0].ok, false);
  // The server's page of records holds the rolled-back version.
  let exported;
  try {
    const blob = await vault.export({ records: [{ recordId: "med", sealed: v1 }] });
    exported = new Uint8Array(await blob.arrayBuffer());
  } catch (e) {
    exported = null;
  }
  if (exported) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "review-export-"));
    fs.writeFileSync(path.join(dir, "x.msex"), exported);
    fs.writeFileSync(path.join(dir, "code.txt"), `${recoveryCode}\n`);
    const bin = new URL("../../target/debug/medseal", import.meta.url).pathname;
    const r = spawnSync(bin, ["export", "verify", path.join(dir, "x.msex"), "--code-file", path.join(dir, "code.txt"), "-q"], { encoding: "utf8" });
    console.log(r.stdout.split("\n")[0]);
    assert.equal(r.status, 0);
  }
  assert.ok(exported === null, "ATTACK SUCCEEDED: export() sealed a record version the vault refuses as stale, and the CLI verifies it");
});

// One record the server corrupts (or another vault's) is sealed into the
// export without a check; the reader then refuses the WHOLE export, so the
// patient who downloaded it and deleted the account has nothing left.
test("one bad record from the server makes the whole export unopenable, and export() does not say so", async () => {
  const { vault, recoveryCode } = await Vault.create({ prf: { credentialId: rnd(16), prfSalt: webauthn.newPrfSalt(), prfOutput: rnd() } });
  const good = vault.seal({ resourceType: "Observation", id: "o1", status: "final" }, { recordId: "o1" });
  const other = (await Vault.create({ prf: { credentialId: rnd(16), prfSalt: webauthn.newPrfSalt(), prfOutput: rnd() } })).vault;
  const foreign = other.seal({ x: 1 }, { recordId: "o2" });
  let blob;
  try {
    blob = await vault.export({ records: [{ recordId: "o1", sealed: good }, { recordId: "o2", sealed: foreign }] });
  } catch (e) {
    blob = null;
  }
  if (blob) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "review-export-"));
    fs.writeFileSync(path.join(dir, "x.msex"), new Uint8Array(await blob.arrayBuffer()));
    fs.writeFileSync(path.join(dir, "code.txt"), `${recoveryCode}\n`);
    const bin = new URL("../../target/debug/medseal", import.meta.url).pathname;
    const r = spawnSync(bin, ["export", "open", path.join(dir, "x.msex"), "--out", path.join(dir, "out"), "--code-file", path.join(dir, "code.txt"), "-q"], { encoding: "utf8" });
    console.log(r.stderr.trim(), "| out exists:", fs.existsSync(path.join(dir, "out")));
    assert.ok(r.status === 0, "ATTACK SUCCEEDED: export() accepted a record the vault cannot open; the CLI then refuses the whole export (the good record too)");
  }
});
