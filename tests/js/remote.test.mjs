// Worker mode and vault hand-off in Node: RemoteVault (the page's side, no
// wasm) talking over real MessageChannels to serveVault (the worker's side),
// the hand-off's pinning and one-time receivers, and the error codes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { init, Vault, VaultReceiver, MedsealError, ErrorCode, webauthn } from "../../pkg/dist/node.js";
import { serveVault, VaultHost } from "../../pkg/dist/host.js";
import { RemoteVault, VaultWorker, RPC } from "../../pkg/dist/remote.js";

await init();

/** A worker's `self` in this realm: requests arrive as message events with the reply port. */
function fakeWorker(opts) {
  const listeners = [];
  const scope = { location: { origin: "https://phr.example" }, addEventListener: (_t, f) => listeners.push(f) };
  const host = serveVault(scope, opts);
  const target = {
    origin: "https://phr.example",
    postMessage(data, transfer) {
      const copy = structuredClone(data, { transfer: transfer.filter((t) => !(t instanceof MessagePort)) });
      for (const f of listeners) f({ data: copy, ports: transfer.filter((t) => t instanceof MessagePort), origin: this.origin });
    },
  };
  return { host, target, remote: new RemoteVault(target) };
}

async function code(p) {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof MedsealError, `not a MedsealError: ${e}`);
    return e.code;
  }
  assert.fail("did not throw");
}

async function newVault() {
  const prfOutput = crypto.getRandomValues(new Uint8Array(32));
  const made = await Vault.create({ prf: { credentialId: new Uint8Array([1, 2]), prfSalt: webauthn.newPrfSalt(), prfOutput } });
  return { ...made, prfOutput };
}

test("a vault created in the worker seals and opens for the page; PRF buffers are transferred", async () => {
  const { remote, host } = fakeWorker();
  assert.deepEqual(await remote.status(), { unlocked: false, vaultId: null });
  assert.equal(await code(remote.seal("x", { recordId: "r" })), ErrorCode.Locked);
  const req = await remote.request("createRequest", []);
  assert.equal(req.prfSalt.length, 32);
  assert.equal(req.challenge.length, 32);
  assert.deepEqual(req.first, webauthn.prfInput(req.prfSalt));
  const prfOutput = crypto.getRandomValues(new Uint8Array(32));
  const keep = prfOutput.slice();
  const { manifest, recoveryCode } = await remote.request("create", [{ credentialId: new Uint8Array([5]), prfSalt: req.prfSalt, prfOutput }], [prfOutput.buffer]);
  assert.equal(prfOutput.byteLength, 0, "the page's PRF buffer is detached after the transfer");
  assert.match(recoveryCode, /^[0-9A-Z]{4}(-[0-9A-Z]{4}){7}$/);
  assert.equal((await remote.status()).vaultId, manifest.vaultId);
  assert.equal(await remote.vaultId(), manifest.vaultId);
  assert.deepEqual(await remote.manifest(), manifest);
  assert.ok(host.vault);

  const sealed = await remote.seal({ rx: "MARKER-amoxicillin" }, { recordId: "rx-1" });
  assert.deepEqual(await remote.open(sealed, { recordId: "rx-1" }), { rx: "MARKER-amoxicillin" });
  assert.equal(await code(remote.open(sealed, { recordId: "rx-2" })), ErrorCode.DecryptionFailed);
  const asBytes = await remote.seal({ b: 1 }, { recordId: "b", context: "c", form: "bytes" });
  assert.ok(asBytes instanceof Uint8Array);
  assert.deepEqual(await remote.open(asBytes, { recordId: "b", context: "c" }), { b: 1 });
  const many = await remote.openMany([{ sealed, recordId: "rx-1" }, { sealed: "junk", recordId: "rx-1" }, { sealed, recordId: "no" }]);
  assert.deepEqual(many[0], { ok: true, value: { rx: "MARKER-amoxicillin" } });
  assert.equal(many[1].ok, false);
  assert.ok(many[1].error instanceof MedsealError, "errors are MedsealErrors again on the page's side");
  assert.equal(many[1].error.code, ErrorCode.Malformed);
  assert.equal(many[2].error.code, ErrorCode.DecryptionFailed);
  assert.equal(many[2].error.index, 2);
  const err = await remote.sealMany([{ record: 1, recordId: "ok" }, { record: 2, recordId: "" }]).catch((e) => e);
  assert.ok(err instanceof MedsealError);
  assert.equal(err.code, ErrorCode.InvalidArgument);
  assert.equal(err.index, 1, "the batch index crosses the channel");
  const batch = await remote.sealMany([{ record: "a", recordId: "m0" }, { record: new Uint8Array([1]), recordId: "m1" }], { form: "bytes" });
  assert.ok(batch.every((b) => b instanceof Uint8Array));
  assert.deepEqual(await remote.openMany([{ sealed: batch[1], recordId: "m1" }]), [{ ok: true, value: new Uint8Array([1]) }]);
  const scan = new Uint8Array(200 * 1024).fill(3);
  const large = await remote.sealLarge(scan, { recordId: "scan" });
  assert.deepEqual(await remote.openLarge(large, { recordId: "scan" }), scan);
  assert.equal(await code(remote.openLarge(large, { recordId: "other" })), ErrorCode.DecryptionFailed);
  const proof = await remote.signLoginProof(new Uint8Array(32), "https://phr.example");
  assert.ok(proof instanceof Uint8Array && proof.length > 0);

  // The same vault opens elsewhere with the same PRF output; the worker's manifest ops work.
  const { vault: here } = await Vault.unlock(manifest, { prf: { credentialId: new Uint8Array([5]), prfOutput: keep } });
  assert.deepEqual(here.open(sealed, { recordId: "rx-1" }), { rx: "MARKER-amoxicillin" });
  const rotated = await remote.rotateRecoveryCode();
  assert.equal(rotated.manifest.revision, manifest.revision + 1);
  here.updateManifest(rotated.manifest);
  const added = await here.addPasskey({ prf: { credentialId: new Uint8Array([6]), prfSalt: webauthn.newPrfSalt(), prfOutput: crypto.getRandomValues(new Uint8Array(32)) } });
  await remote.updateManifest(added.manifest);
  assert.equal((await remote.manifest()).revision, added.manifest.revision);
  // An older manifest never replaces the newer one in the host, and is reported.
  await assert.rejects(remote.updateManifest(manifest), (e) => e instanceof MedsealError && e.code === ErrorCode.StaleManifest);
  assert.deepEqual(await remote.manifest(), added.manifest);
  const removed = await remote.removeUnlock(added.manifest.unlock.find((e) => e.type === "passkey" && e.credentialId !== "BQ").id);
  assert.equal(removed.revision, added.manifest.revision + 1);

  await remote.lock();
  assert.equal(host.vault, null);
  assert.equal(await code(remote.open(sealed, { recordId: "rx-1" })), ErrorCode.Locked);
  assert.equal(await code(remote.manifest()), ErrorCode.Locked);
  // The newest manifest (the host saw it: an older one is a rollback now), with the rotated recovery code.
  const { status } = await remote.unlock(removed, { recoveryCode: rotated.recoveryCode });
  assert.deepEqual(status, { unlocked: true, vaultId: manifest.vaultId });
  assert.deepEqual(await remote.open(sealed, { recordId: "rx-1" }), { rx: "MARKER-amoxicillin" });
  assert.equal(await code(remote.request("noSuchOp", [])), ErrorCode.InvalidArgument);
  assert.equal(await code(remote.request("toString", [])), ErrorCode.InvalidArgument, "only own operations of the table");
});

test("RemoteVault create/unlock/addPasskey with { prf } sources: the caller's buffer is copied, the copy moves", async () => {
  const { remote, host } = fakeWorker();
  const prfOutput = crypto.getRandomValues(new Uint8Array(32));
  const keep = prfOutput.slice();
  const { manifest, recoveryCode } = await remote.create({ prf: { credentialId: new Uint8Array([5]), prfSalt: webauthn.newPrfSalt(), prfOutput, label: "w" } });
  assert.deepEqual(prfOutput, keep, "the caller's own buffer is neither detached nor wiped");
  assert.equal(manifest.unlock.find((e) => e.type === "passkey").label, "w");
  assert.equal(typeof recoveryCode, "string");
  const sealed = await remote.seal("MARKER", { recordId: "r" });
  await remote.lock();
  const { status, response } = await remote.unlock(manifest, { prf: { credentialId: new Uint8Array([5]), prfOutput } });
  assert.equal(response, undefined);
  assert.deepEqual(status, { unlocked: true, vaultId: manifest.vaultId });
  assert.deepEqual(prfOutput, keep);
  assert.equal(await remote.open(sealed, { recordId: "r" }), "MARKER");
  const second = crypto.getRandomValues(new Uint8Array(32));
  const { manifest: m2 } = await remote.addPasskey({ prf: { credentialId: new Uint8Array([6]), prfSalt: webauthn.newPrfSalt(), prfOutput: second } });
  assert.equal(m2.unlock.filter((e) => e.type === "passkey").length, 2);
  const req = await remote.request("addPasskeyRequest", []);
  assert.equal(req.exclude.length, 2, "the vault's passkeys are excluded from a new registration");
  const ureq = await remote.request("unlockRequest", [m2]);
  assert.equal(ureq.passkeys.length, 2);
  assert.deepEqual(ureq.passkeys.map((p) => p.first), webauthn.passkeys(m2).map((p) => p.first));
  await remote.lock();
  await remote.unlock(m2, { prf: { credentialId: new Uint8Array([6]), prfOutput: second } }, { minRevision: m2.revision });
  assert.equal(await code(remote.unlock(manifest, { prf: { credentialId: new Uint8Array([5]), prfOutput } }, { minRevision: m2.revision })), ErrorCode.StaleManifest);
  assert.equal(await code(remote.unlock(m2, { prf: { credentialId: new Uint8Array([6]), prfOutput: new Uint8Array(32).fill(1) } })), ErrorCode.UnlockFailed);
  assert.equal(await code(remote.unlock(m2, { credential: { rawId: "Bg", clientExtensionResults: {} } })), ErrorCode.PrfNotReturned);
  // A JSON credential with a PRF result unlocks, and the response to post is server-safe.
  const { status: s2, response: r2 } = await remote.unlock(m2, { credential: { rawId: "Bg", response: { sig: 1 }, clientExtensionResults: { prf: { results: { first: Buffer.from(second).toString("base64url") } } } } });
  assert.equal(s2.unlocked, true);
  assert.deepEqual(r2, { rawId: "Bg", response: {}, clientExtensionResults: {} }, "only fields known to be safe");
  // Ceremonies run in the page, which here (Node) has no WebAuthn.
  const passkey = { rp: { name: "x" }, user: { id: "u", name: "n", displayName: "d" } };
  assert.equal(await code(remote.create({ passkey })), ErrorCode.PrfUnsupported);
  assert.equal(await code(remote.addPasskey({ passkey })), ErrorCode.PrfUnsupported);
  assert.equal(await code(remote.unlock(m2, { passkey: true })), ErrorCode.PrfUnsupported);
  assert.equal(await code(remote.create(null)), ErrorCode.InvalidArgument);
  assert.equal(await code(remote.unlock(m2, null)), ErrorCode.InvalidArgument);
  assert.ok(host.vault);
});

test("VaultHost runs the Ops table for hosts with their own transport", async () => {
  const changes = [];
  const host = new VaultHost({ onChange: (s) => changes.push(s) });
  assert.deepEqual(await host.run("status", []), { unlocked: false, vaultId: null });
  const a = await newVault();
  const key = await host.run("receiverKey", []);
  const status = await host.run("acceptHandoff", [a.vault.handOff(key), key]);
  assert.deepEqual(status, { unlocked: true, vaultId: a.vault.vaultId() });
  assert.deepEqual(changes.at(-1), status);
  const sealed = await host.run("seal", ["MARKER", { recordId: "r" }]);
  assert.equal(a.vault.open(sealed, { recordId: "r" }), "MARKER");
  assert.equal(host.vault.vaultId(), a.vault.vaultId());
  await host.run("lock", []);
  assert.deepEqual(changes.at(-1), { unlocked: false, vaultId: null });
  assert.equal(a.vault.locked, false, "the host's copy is locked, not the page's");
  await assert.rejects(host.run("seal", ["x", { recordId: "r" }]), (e) => e instanceof MedsealError && e.code === ErrorCode.Locked);
  await assert.rejects(host.run("nope", []), (e) => e.code === ErrorCode.InvalidArgument);
});

test("hand-off: the page's vault moves to the worker sealed to a one-time key; pinning and rollback are enforced", async () => {
  const a = await newVault();
  const b = await newVault();
  let pin = { expect: a.manifest, minRevision: a.manifest.revision };
  const { remote } = fakeWorker({ pin: () => pin });

  await a.vault.handOff(remote);
  const sealed = a.vault.seal("MARKER-handed", { recordId: "h" });
  assert.equal(await remote.open(sealed, { recordId: "h" }), "MARKER-handed");

  // Another vault is refused (a compromised page cannot swap in its own vault).
  assert.equal(await code(b.vault.handOff(remote)), ErrorCode.WrongVault);
  // (A forged manifest with this vault's id but the forger's identity key: tests/handoff.rs.)
  // No other way in swaps the vault either: unlocking or creating another one.
  assert.equal(await code(remote.request("unlockWithPrf", [b.manifest, { credentialId: new Uint8Array([1, 2]), prfOutput: b.prfOutput.slice() }, {}])), ErrorCode.WrongVault);
  assert.equal(await code(remote.unlock(b.manifest, { prf: { credentialId: new Uint8Array([1, 2]), prfOutput: b.prfOutput } })), ErrorCode.WrongVault);
  assert.equal(await code(remote.request("create", [{ credentialId: new Uint8Array([3]), prfSalt: webauthn.newPrfSalt(), prfOutput: new Uint8Array(32).fill(9) }])), ErrorCode.WrongVault);
  assert.equal(await code(remote.create({ prf: { credentialId: new Uint8Array([3]), prfSalt: webauthn.newPrfSalt(), prfOutput: new Uint8Array(32).fill(9) } })), ErrorCode.WrongVault);
  assert.equal(await code(remote.unlock(b.manifest, { recoveryCode: b.recoveryCode })), ErrorCode.WrongVault);
  assert.equal(await remote.open(sealed, { recordId: "h" }), "MARKER-handed", "the pinned vault is still there");
  // The pinned vault itself still unlocks by recovery code; not below the pin's revision.
  await remote.unlock(a.manifest, { recoveryCode: a.recoveryCode });
  pin = { expect: a.manifest, minRevision: a.manifest.revision + 1 };
  assert.equal(await code(remote.unlock(a.manifest, { recoveryCode: a.recoveryCode })), ErrorCode.StaleManifest);
  pin = { expect: a.manifest, minRevision: a.manifest.revision };
  assert.equal(await remote.open(sealed, { recordId: "h" }), "MARKER-handed");
  // A receiver key is used once; a hand-off to a key the host did not make is refused.
  const key = await remote.receiverKey();
  await remote.acceptHandoff(a.vault.handOff(key), key);
  assert.equal(await code(remote.acceptHandoff(a.vault.handOff(key), key)), ErrorCode.InvalidArgument);
  const other = new VaultReceiver();
  assert.equal(await code(remote.acceptHandoff(a.vault.handOff(other.publicKey), other.publicKey)), ErrorCode.InvalidArgument);
  // A message for another pending receiver does not open with this one.
  const k1 = await remote.receiverKey();
  const k2 = await remote.receiverKey();
  assert.equal(await code(remote.acceptHandoff(a.vault.handOff(k1), k2)), ErrorCode.DecryptionFailed);
  // Two pages handing over at once: each has its own receiver.
  const [k3, k4] = [await remote.receiverKey(), await remote.receiverKey()];
  await Promise.all([remote.acceptHandoff(a.vault.handOff(k3), k3), remote.acceptHandoff(a.vault.handOff(k4), k4)]);
  // Rollback: the host has seen a newer manifest than the vault carries.
  pin = { expect: a.manifest, minRevision: a.manifest.revision + 1 };
  assert.equal(await code(a.vault.handOff(remote)), ErrorCode.StaleManifest);
});

test("VaultReceiver: 33-byte public key, one use, typed errors", async () => {
  const { vault } = await newVault();
  const r = new VaultReceiver();
  assert.equal(r.publicKey.length, 33);
  const msg = vault.handOff(r.publicKey);
  const text = new TextDecoder().decode(msg);
  assert.ok(!text.includes("vault-manifest"), "the manifest travels encrypted");
  const got = r.accept(msg, { expect: vault.manifest() });
  assert.equal(got.vaultId(), vault.vaultId());
  assert.deepEqual(got.open(vault.seal("x", { recordId: "r" }), { recordId: "r" }), "x");
  assert.throws(() => r.publicKey, (e) => e.code === ErrorCode.InvalidArgument);
  assert.throws(() => r.accept(msg), (e) => e.code === ErrorCode.InvalidArgument);
  r.discard(); // idempotent
  assert.throws(() => vault.handOff(new Uint8Array(33)), (e) => e.code === ErrorCode.InvalidArgument);
  assert.throws(() => new VaultReceiver().accept(new Uint8Array(10)), (e) => e.code === ErrorCode.Malformed);
  // minRevision and expect (as JSON text) on accept.
  const r2 = new VaultReceiver();
  assert.throws(() => r2.accept(vault.handOff(r2.publicKey), { minRevision: vault.manifest().revision + 1 }), (e) => e.code === ErrorCode.StaleManifest);
  const r3 = new VaultReceiver();
  r3.accept(vault.handOff(r3.publicKey), { expect: JSON.stringify(vault.manifest()), minRevision: vault.manifest().revision });
  const r4 = new VaultReceiver();
  r4.discard();
  assert.throws(() => r4.publicKey, (e) => e.code === ErrorCode.InvalidArgument);
  vault.lock();
  assert.throws(() => vault.handOff(new VaultReceiver().publicKey), (e) => e.code === ErrorCode.Locked);
  assert.equal(got.locked, false, "a hand-off is a copy: locking one leaves the other");
});

test("requests from an untrusted sender are refused; a silent worker gives WorkerUnavailable", async () => {
  const { remote, target } = fakeWorker();
  target.origin = "https://evil.example";
  assert.equal(await code(remote.status()), ErrorCode.InvalidArgument);
  // Origin "" is trusted only in a dedicated worker (this scope is not one).
  target.origin = "";
  assert.equal(await code(remote.status()), ErrorCode.InvalidArgument);
  const silent = new RemoteVault({ postMessage() {} }, { timeout: 50 });
  assert.equal(await code(silent.status()), ErrorCode.WorkerUnavailable);
  const broken = new RemoteVault({ postMessage() { throw new Error("worker terminated"); } });
  assert.equal(await code(broken.status()), ErrorCode.WorkerUnavailable);
  // A target function that never resolves (a service worker that does not start).
  const never = new RemoteVault(() => new Promise(() => {}), { timeout: 50 });
  assert.equal(await code(never.status()), ErrorCode.WorkerUnavailable);
  // The protocol tag, and the custom allow hook.
  assert.equal(RPC, "medseal/rpc/1");
  const allowAll = fakeWorker({ allow: () => true });
  allowAll.target.origin = "https://elsewhere.example";
  assert.deepEqual(await allowAll.remote.status(), { unlocked: false, vaultId: null });
  // Node has no Web Workers.
  assert.throws(() => VaultWorker.start(), (e) => e instanceof MedsealError && e.code === ErrorCode.WorkerUnavailable);
});

test("the host answers after the seen state is saved; a failed save is reported by remote.persisted(), once", async () => {
  // A slow store: each save completes 30 ms after it starts.
  const done = [];
  const slow = {
    load: () => null,
    save: (id, state) => new Promise((ok) => setTimeout(() => ok(void done.push({ id, state })), 30)),
  };
  const { remote } = fakeWorker({ store: slow });
  let n = 0;
  const prf = () => ({ prf: { credentialId: new Uint8Array([3, n++]), prfSalt: webauthn.newPrfSalt(), prfOutput: crypto.getRandomValues(new Uint8Array(32)) } });
  const { manifest: m1 } = await remote.create(prf());
  assert.equal(done.length, 1, "create answered after its save completed");
  assert.equal(done[0].id, m1.vaultId);
  const { manifest: m2 } = await remote.addPasskey(prf());
  assert.equal(m2.revision, 2);
  assert.equal(done.length, 2, "addPasskey answered after its save completed");
  await remote.persisted();

  // A store whose saves fail: the calls themselves succeed (they took effect), persisted() reports it.
  let failing = true;
  const flaky = { load: () => null, save: () => (failing ? Promise.reject(new Error("disk full")) : undefined) };
  const f = fakeWorker({ store: flaky });
  const { manifest } = await f.remote.create(prf());
  assert.equal(manifest.revision, 1);
  const rotated = await f.remote.rotateRecoveryCode();
  assert.equal(rotated.manifest.revision, 2);
  await assert.rejects(f.remote.persisted(), (e) => e instanceof MedsealError && e.code === ErrorCode.InvalidArgument && /the seen-state store failed to save: disk full/.test(e.message));
  await f.remote.persisted(); // reported once
  failing = false;
  await f.remote.addPasskey(prf());
  await f.remote.persisted();
});
