// Worker mode and vault hand-off in Node: RemoteVault (the page's side, no
// wasm) talking over real MessageChannels to serveVault (the worker's side),
// the hand-off's pinning and one-time receivers, and the error codes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { init, Vault, VaultReceiver, MedsealError, ErrorCode } from "../../pkg/dist/index.js";
import { serveVault } from "../../pkg/dist/host.js";
import { RemoteVault } from "../../pkg/dist/remote.js";

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

function newVault() {
  const prfOutput = crypto.getRandomValues(new Uint8Array(32));
  return { ...Vault.createFromPrf({ credentialId: new Uint8Array([1, 2]), prfSalt: Vault.newPrfSalt(), prfOutput }), prfOutput };
}

test("a vault created in the worker seals and opens for the page; PRF buffers are transferred", async () => {
  const { remote, host } = fakeWorker();
  assert.deepEqual(await remote.status(), { unlocked: false, vaultId: null });
  assert.equal(await code(remote.seal("x", { recordId: "r" })), ErrorCode.Locked);
  const req = await remote.request("createRequest");
  assert.equal(req.prfSalt.length, 32);
  assert.deepEqual(req.first, Vault.prfInput(req.prfSalt));
  const prfOutput = crypto.getRandomValues(new Uint8Array(32));
  const keep = prfOutput.slice();
  const { manifest, recoveryCode } = await remote.request(
    "createFromPrf",
    [{ credentialId: new Uint8Array([5]), prfSalt: req.prfSalt, prfOutput }],
    [prfOutput.buffer],
  );
  assert.equal(prfOutput.byteLength, 0, "the page's PRF buffer is detached after the transfer");
  assert.match(recoveryCode, /^[0-9A-Z]{4}(-[0-9A-Z]{4}){7}$/);
  assert.equal((await remote.status()).vaultId, manifest.vaultId);
  assert.ok(host.vault);

  const sealed = await remote.seal({ rx: "MARKER-amoxicillin" }, { recordId: "rx-1" });
  assert.deepEqual(await remote.open(sealed, { recordId: "rx-1" }), { rx: "MARKER-amoxicillin" });
  assert.equal(await code(remote.open(sealed, { recordId: "rx-2" })), ErrorCode.DecryptionFailed);
  const many = await remote.openManySettled([{ sealed, recordId: "rx-1" }, { sealed: "junk", recordId: "rx-1" }]);
  assert.deepEqual(many[0], { ok: true, value: { rx: "MARKER-amoxicillin" } });
  assert.equal(many[1].error.code, ErrorCode.Malformed);
  const err = await remote.openMany([{ sealed, recordId: "rx-1" }, { sealed, recordId: "no" }]).catch((e) => e);
  assert.equal(err.code, ErrorCode.DecryptionFailed);
  assert.equal(err.index, 1);

  // The same vault opens elsewhere with the same PRF output; the worker's manifest ops work.
  const here = Vault.unlockFromPrf(manifest, { credentialId: new Uint8Array([5]), prfOutput: keep });
  assert.deepEqual(here.open(sealed, { recordId: "rx-1" }), { rx: "MARKER-amoxicillin" });
  const rotated = await remote.rotateRecoveryCode();
  assert.equal(rotated.manifest.revision, manifest.revision + 1);

  await remote.lock();
  assert.equal(host.vault, null);
  assert.equal(await code(remote.open(sealed, { recordId: "rx-1" })), ErrorCode.Locked);
  await remote.unlockWithRecoveryCode(rotated.manifest, rotated.recoveryCode);
  assert.deepEqual(await remote.open(sealed, { recordId: "rx-1" }), { rx: "MARKER-amoxicillin" });
  assert.equal(await code(remote.request("noSuchOp")), ErrorCode.InvalidArgument);
});

test("hand-off: the page's vault moves to the worker sealed to a one-time key; pinning and rollback are enforced", async () => {
  const a = newVault();
  const b = newVault();
  let pin = { expect: a.manifest, minRevision: a.manifest.revision };
  const { remote } = fakeWorker({ pin: () => pin });

  await a.vault.handOffTo(remote);
  const sealed = a.vault.seal("MARKER-handed", { recordId: "h" });
  assert.equal(await remote.open(sealed, { recordId: "h" }), "MARKER-handed");

  // Another vault is refused (a compromised page cannot swap in its own vault).
  assert.equal(await code(b.vault.handOffTo(remote)), ErrorCode.WrongVault);
  // (A forged manifest with this vault's id but the forger's identity key: tests/handoff.rs.)
  // No other way in swaps the vault either: unlocking or creating another one.
  assert.equal(await code(remote.request("unlockFromPrf", [b.manifest, { credentialId: new Uint8Array([1, 2]), prfOutput: b.prfOutput }])), ErrorCode.WrongVault);
  assert.equal(await code(remote.request("createFromPrf", [{ credentialId: new Uint8Array([3]), prfSalt: Vault.newPrfSalt(), prfOutput: new Uint8Array(32).fill(9) }])), ErrorCode.WrongVault);
  assert.equal(await code(remote.unlockWithRecoveryCode(b.manifest, b.recoveryCode)), ErrorCode.WrongVault);
  // The pinned vault itself still unlocks by recovery code; not below the pin's revision.
  await remote.unlockWithRecoveryCode(a.manifest, a.recoveryCode);
  pin = { expect: a.manifest, minRevision: a.manifest.revision + 1 };
  assert.equal(await code(remote.unlockWithRecoveryCode(a.manifest, a.recoveryCode)), ErrorCode.StaleManifest);
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
  assert.equal(await code(a.vault.handOffTo(remote)), ErrorCode.StaleManifest);
});

test("VaultReceiver: 33-byte public key, one use, typed errors", () => {
  const { vault } = newVault();
  const r = new VaultReceiver();
  assert.equal(r.publicKey.length, 33);
  const msg = vault.handOff(r.publicKey);
  const text = new TextDecoder().decode(msg);
  assert.ok(!text.includes("vault-manifest"), "the manifest travels encrypted");
  const got = r.accept(msg, { expect: vault.manifest });
  assert.equal(got.vaultId, vault.vaultId);
  assert.throws(() => r.publicKey, (e) => e.code === ErrorCode.InvalidArgument);
  assert.throws(() => r.accept(msg), (e) => e.code === ErrorCode.InvalidArgument);
  assert.throws(() => vault.handOff(new Uint8Array(33)), (e) => e.code === ErrorCode.InvalidArgument);
  assert.throws(() => new VaultReceiver().accept(new Uint8Array(10)), (e) => e.code === ErrorCode.Malformed);
  vault.lock();
  assert.throws(() => vault.handOff(new VaultReceiver().publicKey), (e) => e.code === ErrorCode.Locked);
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
});
