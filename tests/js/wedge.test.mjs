// No JS value can leave a handle wedged. Every method of every exported class
// (and the webauthn helpers, RemoteVault over an in-process VaultHost, and
// VaultHost.run) gets every odd value (revoked proxies, throwing getters,
// proxies of typed arrays, detached and shared buffers, huge lengths,
// numbers, symbols, null, undefined) in every argument position and options
// field. Each call must succeed or throw a MedsealError (never another error,
// never hang), and afterwards the vault it ran against must still seal and
// open, and `lock()` must not throw.
//
// What this catches: a wasm call that throws while Rust holds `&mut self`
// (the old bug: a Proxy of a Uint8Array read from inside wasm) leaves the
// handle's borrow flag set; from then on every call on that handle throws
// wasm-bindgen's "recursive use of an object detected which would lead to
// unsafe aliasing in rust". Here that shows up as (1) "still works" failing
// (seal/open turn into InvalidArgument: fromWasm maps the plain Error), and
// (2) "lock() threw Error: recursive use of an object…" (lock() is not wrapped).
// The last test runs the same checker against a stand-in for such a handle
// and asserts that it reports both.
import { test } from "node:test";
import assert from "node:assert/strict";
import { init, Vault, VaultReceiver, MedsealError, ErrorCode, webauthn, seenStores } from "../../pkg/dist/node.js";
import { serveVault, VaultHost } from "../../pkg/dist/host.js";
import { RemoteVault } from "../../pkg/dist/remote.js";

await init();

const CODES = new Set(Object.values(ErrorCode));
const b64u = (u) => Buffer.from(u).toString("base64url");
const rnd = (n = 32) => crypto.getRandomValues(new Uint8Array(n));
const HANG_MS = 3_000;
/** The checkpoint of a vault's empty log (FORMAT.md §16.3): accepted as nothing, no key needed. */
const emptyLog = (vaultId) => `medseal.invalid/vault/${vaultId}\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n\u2014 k AAAAAAA=\n`;

// ------------------------------------------------------------------ odd values

const throwAll = () => {
  throw new Error("odd value: trap");
};
/** Every odd value, made fresh per use (revoking and detaching are one-way). */
const ODD = {
  "revoked Proxy": () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    return proxy;
  },
  "revoked Proxy of a function": () => {
    const { proxy, revoke } = Proxy.revocable(() => {}, {});
    revoke();
    return proxy;
  },
  "throwing getters": () => {
    const o = {};
    for (const k of ["recordId", "context", "form", "record", "sealed", "prf", "passkey", "credential", "recoveryCode", "prfSalt", "prfOutput", "credentialId", "label", "minRevision", "expect", "length", "timeout", "rawId", "clientExtensionResults", "allowCredentials", "id", "toJSON", "receiverKey", "acceptHandoff", "then", "exclude", "rp", "user", "revision", "signature", "pin", "wasm", "allow", "onChange", "results", "first", "enabled", "signal", "mediation", "rpId", "postMessage", "0"]) {
      Object.defineProperty(o, k, { get: throwAll, enumerable: true });
    }
    return o;
  },
  "Proxy with throwing traps": () => new Proxy({}, { get: throwAll, has: throwAll, ownKeys: throwAll, getOwnPropertyDescriptor: throwAll, getPrototypeOf: throwAll }),
  "Proxy of a Uint8Array": () => new Proxy(rnd(33), {}),
  "view of a detached buffer": () => {
    const buf = new ArrayBuffer(33);
    const view = new Uint8Array(buf);
    structuredClone(buf, { transfer: [buf] });
    return view;
  },
  "detached ArrayBuffer": () => {
    const buf = new ArrayBuffer(33);
    structuredClone(buf, { transfer: [buf] });
    return buf;
  },
  "Uint16Array of a detached buffer": () => {
    const buf = new ArrayBuffer(34);
    const view = new Uint16Array(buf);
    structuredClone(buf, { transfer: [buf] });
    return view;
  },
  "view of a SharedArrayBuffer": () => new Uint8Array(new SharedArrayBuffer(33)).fill(7),
  "huge length": () => ({ length: 2 ** 40 }),
  "huge length array-like with index getter": () => ({ length: 2 ** 40, get 0() { throw new Error("odd value: index"); } }),
  "number 0": () => 0,
  "number NaN": () => NaN,
  "number -1": () => -1,
  "number 2**53": () => 2 ** 53,
  "number Infinity": () => Infinity,
  symbol: () => Symbol("odd"),
  null: () => null,
  undefined: () => undefined,
  "bigint": () => 10n,
  "empty object": () => ({}),
};

// ------------------------------------------------------------------ fixtures

const cred = new Uint8Array([9, 8, 7, 6]);
const cred2 = new Uint8Array([5, 5]);
const base = await (async () => {
  const prfOutput = rnd();
  const prf2 = rnd();
  const made = await Vault.create({ prf: { credentialId: cred, prfSalt: webauthn.newPrfSalt(), prfOutput, label: "one" } });
  await made.vault.addPasskey({ prf: { credentialId: cred2, prfSalt: webauthn.newPrfSalt(), prfOutput: prf2, label: "two" } });
  // Sharing: a grant to another vault (listed in the base manifest), and one from it.
  const other = await Vault.create({ prf: { credentialId: rnd(4), prfSalt: webauthn.newPrfSalt(), prfOutput: rnd() } }, { store: seenStores.memory() });
  const { grant, manifest } = made.vault.grant({ grantee: other.vault.manifest(), records: ["r"], expires: Date.now() + 3_600_000 });
  const incoming = other.vault.grant({ grantee: manifest, records: ["s"], expires: Date.now() + 3_600_000 });
  const incomingSealed = other.vault.seal({ b: 2 }, { recordId: "s" });
  const incomingStream = new Uint8Array(await new Response(new Blob([rnd(20000)]).stream().pipeThrough(other.vault.sealStream({ recordId: "s" }))).arrayBuffer());
  const out = {
    get manifest() {
      return this.link.manifest;
    },
    other: other.vault.manifest(),
    grant,
    grantId: JSON.parse(grant).id,
    incoming: incoming.grant,
    incomingGrantor: incoming.manifest,
    incomingSealed,
    incomingSlot: other.vault.grantSlot(incoming.grant, incomingSealed, { recordId: "s" }),
    incomingStream,
    incomingStreamSlot: other.vault.grantSlot(incoming.grant, incomingStream.subarray(0, 134), { recordId: "s" }),
    link: made.vault.createLink({ baseUrl: "https://phr.example/shl/", label: "ER", expires: Date.now() + 3_600_000, passcode: true }),
    prfOutput,
    prf2,
    recoveryCode: made.recoveryCode,
    secondId: manifest.unlock.find((e) => e.label === "two").id,
    sealedText: made.vault.seal({ a: 1 }, { recordId: "r", context: "c" }),
    sealedBytes: made.vault.seal({ a: 1 }, { recordId: "r", context: "c", form: "bytes" }),
    sealedStream: new Uint8Array(await new Response(new Blob([rnd(40000)]).stream().pipeThrough(made.vault.sealStream({ recordId: "r", context: "c" }))).arrayBuffer()),
  };
  made.vault.lock();
  other.vault.lock();
  return deepFreeze(out);
})();
function deepFreeze(o) {
  if (o && typeof o === "object" && !ArrayBuffer.isView(o)) for (const v of Object.values(o)) deepFreeze(v);
  return ArrayBuffer.isView(o) ? o : Object.freeze(o);
}
/** A copy of the base manifest: the cases write odd values into their arguments. */
const M = () => structuredClone(base.manifest);
const jsonAssertion = () => ({ id: b64u(cred), rawId: b64u(cred), type: "public-key", response: { signature: "s" }, clientExtensionResults: { prf: { results: { first: b64u(base.prfOutput) } } } });
const jsonRegistration = (prfSalt) => ({ rawId: b64u(rnd(8)), clientExtensionResults: { prf: { enabled: true, results: { first: b64u(rnd()) } } }, prfSaltUsed: b64u(prfSalt) });
const passkeyOpts = () => ({ rp: { name: "PHR" }, user: { id: "user-1", name: "pat", displayName: "Pat" }, label: "k", timeout: 10, exclude: [new Uint8Array([1])] });

/** A fresh handle of the base vault, and what the cases need around it. */
async function fresh() {
  // Each fixture is a device of its own: the cases change the vault (add and
  // remove passkeys), and a shared store would then refuse the base manifest.
  const { vault } = await Vault.unlock(base.manifest, { prf: { credentialId: cred, prfOutput: base.prfOutput } }, { store: seenStores.memory() });
  return { vault, receiver: new VaultReceiver() };
}

/** RemoteVault over a serveVault in this realm (structured clone, real reply ports). */
async function freshRemote() {
  const listeners = [];
  const scope = { location: { origin: "https://phr.example" }, addEventListener: (_t, f) => listeners.push(f) };
  serveVault(scope, { store: seenStores.memory() }); // a device of its own, as in fresh()
  const target = {
    postMessage(data, transfer) {
      const copy = structuredClone(data, { transfer: transfer.filter((t) => !(t instanceof MessagePort)) });
      for (const f of listeners) f({ data: copy, ports: transfer.filter((t) => t instanceof MessagePort), origin: "https://phr.example" });
    },
  };
  const remote = new RemoteVault(target);
  await remote.unlock(base.manifest, { prf: { credentialId: cred, prfOutput: base.prfOutput } });
  return { remote, target };
}

/** A VaultHost holding a hand-off of a fresh handle. */
async function freshHost(opts) {
  const fx = await fresh();
  const host = new VaultHost(opts);
  const key = await host.run("receiverKey", []);
  await host.run("acceptHandoff", [fx.vault.handOff(key), key]);
  return { ...fx, host };
}

// ------------------------------------------------------------------ the table

// Each entry: the normal arguments (`args`, from the fixture), the call, and
// the positions (`paths`: an argument index, then option fields) that get
// each odd value. `fixture` makes the per-case state; `works` checks it
// afterwards (seal + open), `lock` locks it (must not throw).
const vaultFx = { fixture: fresh, works: (fx) => sealOpen(fx.vault), lock: (fx) => fx.vault.lock(), locked: (fx) => fx.vault.locked };
const remoteFx = {
  fixture: freshRemote,
  works: async (fx) => assert.deepEqual(await fx.remote.open(await fx.remote.seal({ ok: 1 }, { recordId: "w" }), { recordId: "w" }), { ok: 1 }),
  lock: (fx) => fx.remote.lock(),
  locked: async (fx) => !(await fx.remote.status()).unlocked,
};
const hostFx = {
  fixture: freshHost,
  works: async (fx) => assert.deepEqual(await fx.host.run("open", [await fx.host.run("seal", [{ ok: 1 }, { recordId: "w" }]), { recordId: "w" }]), { ok: 1 }),
  lock: async (fx) => {
    await fx.host.run("lock", []);
    fx.vault.lock();
  },
  locked: (fx) => fx.host.vault === null && fx.vault.locked,
};
function sealOpen(vault) {
  assert.deepEqual(vault.open(vault.seal({ ok: 1 }, { recordId: "w" }), { recordId: "w" }), { ok: 1 });
}

const prfSource = (id = rnd(4)) => ({ prf: { credentialId: id, prfSalt: webauthn.newPrfSalt(), prfOutput: rnd(), label: "n" } });
const prfSourcePaths = [[0], [0, "prf"], [0, "prf", "credentialId"], [0, "prf", "prfSalt"], [0, "prf", "prfOutput"], [0, "prf", "label"], [0, "passkey"], [0, "credential"]];
const credSource = () => {
  const prfSalt = webauthn.newPrfSalt();
  return { credential: jsonRegistration(prfSalt), prfSalt, label: "c", timeout: 10, rpId: "phr.example" };
};
const credSourcePaths = [[0, "credential"], [0, "prfSalt"], [0, "label"], [0, "timeout"], [0, "rpId"], [0, "credential", "rawId"], [0, "credential", "clientExtensionResults"], [0, "credential", "clientExtensionResults", "prf"], [0, "credential", "clientExtensionResults", "prf", "enabled"], [0, "credential", "clientExtensionResults", "prf", "results"], [0, "credential", "clientExtensionResults", "prf", "results", "first"]];
const passkeyPaths = [[0, "passkey"], [0, "passkey", "rp"], [0, "passkey", "user"], [0, "passkey", "user", "id"], [0, "passkey", "label"], [0, "passkey", "timeout"], [0, "passkey", "exclude"], [0, "passkey", "exclude", 0]];
const unlockPaths = (i) => [[i], [i, "prf"], [i, "prf", "credentialId"], [i, "prf", "prfOutput"], [i, "recoveryCode"], [i, "credential"], [i, "passkey"]];
const assertionPaths = (i) => [[i, "credential"], [i, "credential", "rawId"], [i, "credential", "clientExtensionResults"], [i, "credential", "clientExtensionResults", "prf"], [i, "credential", "clientExtensionResults", "prf", "results"], [i, "credential", "clientExtensionResults", "prf", "results", "first"]];
const ceremonyPaths = (i) => [[i, "passkey"], [i, "passkey", "timeout"], [i, "passkey", "signal"], [i, "passkey", "rpId"], [i, "passkey", "mediation"]];
const manifestPaths = (i) => [[i], [i, "revision"], [i, "signature"], [i, "unlock"], [i, "unlock", 0], [i, "vaultId"], [i, "identityKey"]];
const bindingPaths = (i) => [[i], [i, "recordId"], [i, "context"]];
const remoteLike = (fx) => ({ receiverKey: async () => fx.receiver.publicKey, acceptHandoff: async (m) => fx.receiver.accept(m) });

const TABLE = [
  // ---------------------------------------------------------------- Vault, static
  { name: "Vault.create {prf}", ...vaultFx, args: () => [prfSource()], call: (_fx, a) => Vault.create(...a), paths: prfSourcePaths, cleanup: (r) => r?.vault?.lock() },
  { name: "Vault.create {credential}", ...vaultFx, args: () => [credSource()], call: (_fx, a) => Vault.create(...a), paths: credSourcePaths, cleanup: (r) => r?.vault?.lock() },
  { name: "Vault.create {passkey}", ...vaultFx, args: () => [{ passkey: passkeyOpts() }], call: (_fx, a) => Vault.create(...a), paths: passkeyPaths },
  { name: "Vault.unlock {prf}", ...vaultFx, args: () => [M(), { prf: { credentialId: cred, prfOutput: base.prfOutput.slice() } }, { minRevision: 1 }], call: (_fx, a) => Vault.unlock(...a), paths: [...manifestPaths(0), ...unlockPaths(1), [2], [2, "minRevision"]], cleanup: (r) => r?.vault?.lock() },
  { name: "Vault.unlock {recoveryCode}", ...vaultFx, args: () => [JSON.stringify(M()), { recoveryCode: base.recoveryCode }], call: (_fx, a) => Vault.unlock(...a), paths: [[0], [1, "recoveryCode"], [2]], cleanup: (r) => r?.vault?.lock() },
  { name: "Vault.unlock {credential}", ...vaultFx, args: () => [M(), { credential: jsonAssertion() }], call: (_fx, a) => Vault.unlock(...a), paths: assertionPaths(1), cleanup: (r) => r?.vault?.lock() },
  { name: "Vault.unlock {passkey}", ...vaultFx, args: () => [M(), { passkey: { timeout: 10 } }], call: (_fx, a) => Vault.unlock(...a), paths: ceremonyPaths(1) },
  // ---------------------------------------------------------------- Vault, records
  { name: "vault.seal", ...vaultFx, args: () => [{ a: 1 }, { recordId: "r", context: "c", form: "text" }], call: (fx, a) => fx.vault.seal(...a), paths: [[0], ...bindingPaths(1), [1, "form"]] },
  { name: "vault.open (text)", ...vaultFx, args: () => [base.sealedText, { recordId: "r", context: "c" }], call: (fx, a) => fx.vault.open(...a), paths: [[0], ...bindingPaths(1)] },
  { name: "vault.open (bytes)", ...vaultFx, args: () => [base.sealedBytes.slice(), { recordId: "r", context: new TextEncoder().encode("c") }], call: (fx, a) => fx.vault.open(...a), paths: [[0], [1, "context"]] },
  { name: "vault.sealMany", ...vaultFx, args: () => [[{ record: { a: 1 }, recordId: "r", context: "c" }, { record: rnd(3), recordId: "s" }], { form: "bytes" }], call: (fx, a) => fx.vault.sealMany(...a), paths: [[0], [0, 0], [0, 1], [0, 0, "record"], [0, 0, "recordId"], [0, 0, "context"], [1], [1, "form"]] },
  { name: "vault.openMany", ...vaultFx, args: () => [[{ sealed: base.sealedText, recordId: "r", context: "c" }, { sealed: base.sealedBytes.slice(), recordId: "r", context: "c" }]], call: (fx, a) => fx.vault.openMany(...a), paths: [[0], [0, 0], [0, 1], [0, 0, "sealed"], [0, 1, "sealed"], [0, 0, "recordId"], [0, 0, "context"], [1]] },
  { name: "vault.sealLarge", ...vaultFx, args: () => [new Uint8Array(70000).fill(7), { recordId: "r", context: "c", form: "bytes" }], call: (fx, a) => fx.vault.sealLarge(...a), paths: [[0], ...bindingPaths(1), [1, "form"]] },
  { name: "vault.openLarge (text)", ...vaultFx, args: () => [base.sealedText, { recordId: "r", context: "c" }], call: (fx, a) => fx.vault.openLarge(...a), paths: [[0], ...bindingPaths(1)] },
  { name: "vault.sealStream", ...vaultFx, args: () => [{ recordId: "r", context: "c", version: 1, onProgress: () => {}, signal: new AbortController().signal, size: 20000 }], call: (fx, a) => new Response(new Blob([rnd(20000)]).stream().pipeThrough(fx.vault.sealStream(...a))).arrayBuffer(), paths: [...bindingPaths(0), [0, "version"], [0, "onProgress"], [0, "signal"], [0, "size"]] },
  { name: "vault.openStream", ...vaultFx, args: () => [{ recordId: "r", context: "c", onProgress: () => {} }], call: (fx, a) => new Response(new Blob([base.sealedStream]).stream().pipeThrough(fx.vault.openStream(...a))).arrayBuffer(), paths: [...bindingPaths(0), [0, "onProgress"]] },
  { name: "vault.sealFile", ...vaultFx, args: () => [new Blob([rnd(100)]), { recordId: "r", context: "c", signal: new AbortController().signal }], call: (fx, a) => fx.vault.sealFile(...a), paths: [[0], ...bindingPaths(1), [1, "signal"], [1, "size"]] },
  { name: "vault.openFile", ...vaultFx, args: () => [new Blob([base.sealedStream]), { recordId: "r", context: "c", type: "application/pdf" }], call: (fx, a) => fx.vault.openFile(...a), paths: [[0], ...bindingPaths(1), [1, "type"], [1, "size"]] },
  { name: "vault.openRange", ...vaultFx, args: () => [{ size: base.sealedStream.length, read: async (x, y) => base.sealedStream.slice(x, y) }, { recordId: "r", context: "c" }], call: async (fx, a) => { const r = await fx.vault.openRange(...a); await r.readRange(0, 10); await new Response(r.stream()).arrayBuffer(); r.close(); }, paths: [[0], [0, "size"], [0, "read"], ...bindingPaths(1)] },
  { name: "vault.openSharedStream", ...vaultFx, args: () => [{ grant: base.incoming, grantor: structuredClone(base.incomingGrantor), slot: base.incomingStreamSlot, recordId: "s" }], call: (fx, a) => new Response(new Blob([base.incomingStream]).stream().pipeThrough(fx.vault.openSharedStream(...a))).arrayBuffer(), paths: [[0], [0, "grant"], [0, "grantor"], [0, "slot"], [0, "recordId"], [0, "context"]] },
  { name: "vault.openSharedRange", ...vaultFx, args: () => [new Blob([base.incomingStream]), { grant: base.incoming, grantor: structuredClone(base.incomingGrantor), slot: base.incomingStreamSlot, recordId: "s" }], call: async (fx, a) => { const r = await fx.vault.openSharedRange(...a); await r.readRange(0, 10); }, paths: [[0], [1], [1, "grant"], [1, "grantor"], [1, "slot"], [1, "recordId"]] },
  { name: "vault.rewrapStream", ...vaultFx, args: () => [base.sealedStream.slice(0, 134), { recordId: "r", context: "c" }], call: (fx, a) => fx.vault.rewrapStream(...a), paths: [[0], ...bindingPaths(1)] },
  { name: "vault.openLarge (bytes)", ...vaultFx, args: () => [base.sealedBytes.slice(), { recordId: "r", context: "c" }], call: (fx, a) => fx.vault.openLarge(...a), paths: [[0], [1, "context"]] },
  // ---------------------------------------------------------------- Vault, unlock methods and the rest
  { name: "vault.manifest", ...vaultFx, args: () => [], call: (fx, a) => fx.vault.manifest(...a), paths: [[0]] },
  { name: "vault.vaultId", ...vaultFx, args: () => [], call: (fx, a) => fx.vault.vaultId(...a), paths: [[0]] },
  { name: "vault.addPasskey {prf}", ...vaultFx, args: () => [prfSource()], call: (fx, a) => fx.vault.addPasskey(...a), paths: prfSourcePaths },
  { name: "vault.addPasskey {credential}", ...vaultFx, args: () => [credSource()], call: (fx, a) => fx.vault.addPasskey(...a), paths: credSourcePaths },
  { name: "vault.addPasskey {passkey}", ...vaultFx, args: () => [{ passkey: passkeyOpts() }], call: (fx, a) => fx.vault.addPasskey(...a), paths: passkeyPaths },
  { name: "vault.removeUnlock", ...vaultFx, args: () => [base.secondId], call: (fx, a) => fx.vault.removeUnlock(...a), paths: [[0], [1]] },
  { name: "vault.rotateRecoveryCode", ...vaultFx, args: () => [], call: (fx, a) => fx.vault.rotateRecoveryCode(...a), paths: [[0]] },
  { name: "vault.updateManifest", ...vaultFx, args: () => [structuredClone(M())], call: (fx, a) => fx.vault.updateManifest(...a), paths: manifestPaths(0) },
  { name: "vault.tombstone", ...vaultFx, args: () => [{ recordId: "r", context: "c", version: 2, form: "text" }], call: (fx, a) => fx.vault.tombstone(...a), paths: [...bindingPaths(0), [0, "version"], [0, "form"]] },
  { name: "vault.rewrap", ...vaultFx, args: () => [base.sealedText, { recordId: "r", context: "c", form: "bytes" }], call: (fx, a) => fx.vault.rewrap(...a), paths: [[0], ...bindingPaths(1), [1, "form"]] },
  { name: "vault.rekey", ...vaultFx, args: () => [], call: (fx, a) => fx.vault.rekey(...a), paths: [[0]] },
  { name: "vault.retireEpochs", ...vaultFx, args: () => [], call: (fx, a) => fx.vault.retireEpochs(...a), paths: [[0]] },
  { name: "vault.persisted", ...vaultFx, args: () => [], call: (fx, a) => fx.vault.persisted(...a), paths: [[0]] },
  // Unlocked with the recovery code: the one unlock signRecoveryLogin signs for.
  { name: "vault.signRecoveryLogin", ...vaultFx, before: async (fx) => { fx.vault.lock(); fx.vault = (await Vault.unlock(base.manifest, { recoveryCode: base.recoveryCode }, { store: seenStores.memory() })).vault; }, args: () => [rnd(), "https://phr.example"], call: (fx, a) => fx.vault.signRecoveryLogin(...a), paths: [[0], [1]] },
  { name: "vault.signLoginProof", ...vaultFx, args: () => [rnd(), "https://phr.example"], call: (fx, a) => fx.vault.signLoginProof(...a), paths: [[0], [1]] },
  // A call that succeeds locks the vault for good; one that fails leaves it working.
  { name: "vault.destroy", ...vaultFx, works: (fx) => (fx.vault.locked ? assert.throws(() => fx.vault.seal(1, { recordId: "w" }), { code: ErrorCode.Locked }) : sealOpen(fx.vault)), args: () => [{ challenge: rnd(), audience: "https://phr.example" }], call: (fx, a) => fx.vault.destroy(...a), paths: [[0], [0, "challenge"], [0, "audience"]] },
  // The export is pulled to the end: the odd values must surface as typed errors from the stream.
  { name: "vault.exportStream", ...vaultFx, args: () => [{ records: [{ recordId: "r", context: "c", sealed: base.sealedText }], files: [{ recordId: "r", context: "c", sealed: base.sealedStream.slice(), name: "f.bin" }], app: "wedge" }], call: async (fx, a) => { await new Response(fx.vault.exportStream(...a)).arrayBuffer(); }, paths: [[0], [0, "records"], [0, "records", 0], [0, "records", 0, "sealed"], [0, "records", 0, "recordId"], [0, "files"], [0, "files", 0, "sealed"], [0, "files", 0, "name"], [0, "app"]] },
  { name: "vault.export", ...vaultFx, args: () => [{ records: [{ recordId: "r", context: "c", sealed: base.sealedBytes.slice() }], history: [M()] }], call: async (fx, a) => { await (await fx.vault.export(...a)).arrayBuffer(); }, paths: [[0], [0, "records"], [0, "history"], [0, "history", 0], [0, "log"]] },
  { name: "vault.posture", ...vaultFx, args: () => [{ now: Date.now(), prf: true, unusedDays: 180, log: [] }], call: (fx, a) => fx.vault.posture(...a), paths: [[0], [0, "now"], [0, "prf"], [0, "unusedDays"], [0, "log"]] },
  { name: "vault.confirmRecoveryCode", ...vaultFx, args: () => [base.recoveryCode], call: (fx, a) => fx.vault.confirmRecoveryCode(...a), paths: [[0]] },
  { name: "vault.handOff(key)", ...vaultFx, args: (fx) => [fx.receiver.publicKey], call: (fx, a) => fx.vault.handOff(...a), paths: [[0]] },
  { name: "vault.handOff(remote)", ...vaultFx, args: (fx) => [remoteLike(fx)], call: (fx, a) => fx.vault.handOff(...a), paths: [[0], [0, "receiverKey"], [0, "acceptHandoff"]] },
  { name: "vault.lock", ...vaultFx, args: () => [], call: (fx, a) => fx.vault.lock(...a), paths: [[0]], afterLock: true },
  { name: "vault.toJSON", ...vaultFx, args: () => [], call: (fx, a) => fx.vault.toJSON(...a), paths: [[0]] },
  // ---------------------------------------------------------------- VaultReceiver
  { name: "new VaultReceiver", ...vaultFx, args: () => [], call: (_fx, a) => new VaultReceiver(...a).discard(), paths: [[0]] },
  { name: "receiver.publicKey", ...vaultFx, args: () => [], call: (fx) => fx.receiver.publicKey, paths: [[0]] },
  { name: "receiver.accept", ...vaultFx, args: (fx) => [fx.vault.handOff(fx.receiver.publicKey), { expect: M(), minRevision: 1 }], call: (fx, a) => fx.receiver.accept(...a), paths: [[0], [1], [1, "expect"], [1, "minRevision"]], cleanup: (r) => r?.lock?.(), extra: receiverStillUsable },
  { name: "receiver.discard", ...vaultFx, args: () => [], call: (fx, a) => fx.receiver.discard(...a), paths: [[0]], extra: receiverStillUsable },
  // ---------------------------------------------------------------- webauthn helpers
  { name: "vault.grant", ...vaultFx, args: () => [{ grantee: structuredClone(base.other), records: ["r", "s"], expires: Date.now() + 60_000 }], call: (fx, a) => fx.vault.grant(...a), paths: [[0], [0, "grantee"], [0, "records"], [0, "records", 0], [0, "expires"], [0, "label"], ...manifestPaths(0).map((p) => [0, "grantee", ...p.slice(1)])] },
  { name: "vault.grantSlot", ...vaultFx, args: () => [base.grant, base.sealedText, { recordId: "r", context: "c" }], call: (fx, a) => fx.vault.grantSlot(...a), paths: [[0], [1], ...bindingPaths(2)] },
  { name: "vault.reissueGrant", ...vaultFx, args: () => [base.grant, { grantee: structuredClone(base.other) }], call: (fx, a) => fx.vault.reissueGrant(...a), paths: [[0], [1], [1, "grantee"], ...manifestPaths(1).map((p) => [1, "grantee", ...p.slice(1)])] },
  { name: "vault.revokeShare", ...vaultFx, args: () => [base.grantId], call: (fx, a) => fx.vault.revokeShare(...a), paths: [[0]] },
  { name: "vault.openShared", ...vaultFx, args: () => [{ grant: base.incoming, grantor: structuredClone(base.incomingGrantor), items: [{ sealed: base.incomingSealed, slot: base.incomingSlot, recordId: "s" }] }], call: (fx, a) => fx.vault.openShared(...a), paths: [[0], [0, "grant"], [0, "grantor"], [0, "items"], [0, "items", 0], [0, "items", 0, "sealed"], [0, "items", 0, "slot"], [0, "items", 0, "recordId"], [0, "items", 0, "context"]] },
  { name: "vault.createLink", ...vaultFx, args: () => [{ baseUrl: "https://phr.example/shl/", label: "x", expires: Date.now() + 60_000, passcode: false }], call: (fx, a) => fx.vault.createLink(...a), paths: [[0], [0, "baseUrl"], [0, "label"], [0, "expires"], [0, "passcode"]] },
  { name: "vault.linkPayload", ...vaultFx, args: () => [base.link.shareId, { baseUrl: "https://phr.example/shl/", label: "ER", passcode: true }], call: (fx, a) => fx.vault.linkPayload(...a), paths: [[0], [1], [1, "baseUrl"], [1, "label"], [1, "passcode"]] },
  { name: "vault.sealLinkFile", ...vaultFx, args: () => [base.link.shareId, { resourceType: "Bundle" }, { contentType: "application/fhir+json" }], call: (fx, a) => fx.vault.sealLinkFile(...a), paths: [[0], [1], [2], [2, "contentType"]] },
  { name: "vault.emergencyCard", ...vaultFx, args: () => [{ resourceType: "Bundle", type: "collection", entry: [] }, { notBefore: Date.now() }], call: (fx, a) => fx.vault.emergencyCard(...a), paths: [[0], [1], [1, "notBefore"]] },
  { name: "vault.cardFingerprint", ...vaultFx, args: () => [], call: (fx, a) => fx.vault.cardFingerprint(...a), paths: [[0]] },
  { name: "vault.logEntry", ...vaultFx, args: () => [{ type: "revoke", share: "s" }, { position: 0, time: 1 }], call: (fx, a) => fx.vault.logEntry(...a), paths: [[0], [0, "type"], [0, "share"], [1], [1, "position"], [1, "time"]] },
  { name: "vault.logEntry manifest", ...vaultFx, args: () => [{ type: "manifest", previous: M() }, { position: 0 }], call: (fx, a) => fx.vault.logEntry(...a), paths: [[0, "previous"], ...manifestPaths(0).map((p) => [0, "previous", ...p.slice(1)])] },
  { name: "vault.syncLog", ...vaultFx, args: (fx) => [{ checkpoint: emptyLog(fx.vault.vaultId()), proof: [], entries: [], cosigned: [] }], call: (fx, a) => fx.vault.syncLog(...a), paths: [[0], [0, "checkpoint"], [0, "proof"], [0, "entries"], [0, "cosigned"]] },
  { name: "vault.logStatus", ...vaultFx, args: () => [], call: (fx, a) => fx.vault.logStatus(...a), paths: [[0]] },
  { name: "vault.accessReport", ...vaultFx, args: () => [[], { from: 0, to: 1, since: 0, own: ["a"], rules: { burstRecords: 1, burstMinutes: 1, linkPlaces: 1 } }], call: (fx, a) => fx.vault.accessReport(...a), paths: [[0], [1], [1, "from"], [1, "to"], [1, "since"], [1, "own"], [1, "own", 0], [1, "rules"], [1, "rules", "burstRecords"], [1, "rules", "linkPlaces"]] },
  { name: "webauthn.support", ...vaultFx, args: () => [], call: (_fx, a) => webauthn.support(...a), paths: [[0]] },
  { name: "webauthn.requestExtension", ...vaultFx, args: () => [M(), { allowCredentials: [{ id: b64u(cred) }, { id: cred2 }], form: "binary" }], call: (_fx, a) => webauthn.requestExtension(...a), paths: [...manifestPaths(0), [1], [1, "allowCredentials"], [1, "allowCredentials", 0], [1, "allowCredentials", 1, "id"], [1, "form"]] },
  { name: "webauthn.createExtension", ...vaultFx, args: () => [], call: (_fx, a) => webauthn.createExtension(...a), paths: [[0]] },
  { name: "webauthn.serverSafe", ...vaultFx, args: () => [jsonAssertion()], call: (_fx, a) => webauthn.serverSafe(...a), paths: [[0], [0, "response"], [0, "clientExtensionResults"], [0, "clientExtensionResults", "prf"], [0, "clientExtensionResults", "prf", "results"], [0, "toJSON"]] },
  { name: "webauthn.passkeys", ...vaultFx, args: () => [M()], call: (_fx, a) => webauthn.passkeys(...a), paths: manifestPaths(0) },
  { name: "webauthn.newPrfSalt", ...vaultFx, args: () => [], call: (_fx, a) => webauthn.newPrfSalt(...a), paths: [[0]] },
  { name: "webauthn.prfInput", ...vaultFx, args: () => [webauthn.newPrfSalt()], call: (_fx, a) => webauthn.prfInput(...a), paths: [[0]] },
  // ---------------------------------------------------------------- RemoteVault over a VaultHost
  { name: "new RemoteVault", ...remoteFx, args: (fx) => [{ postMessage: (d, t) => fx.target.postMessage(d, t) }, { timeout: 5000 }], call: (_fx, a) => new RemoteVault(...a).status(), paths: [[0], [0, "postMessage"], [1], [1, "timeout"]] },
  { name: "remote.request", ...remoteFx, args: () => ["seal", [{ a: 1 }, { recordId: "r" }], [new ArrayBuffer(4)]], call: (fx, a) => fx.remote.request(...a), paths: [[0], [1], [1, 0], [1, 1], [1, 1, "recordId"], [2], [2, 0]] },
  { name: "remote.status", ...remoteFx, args: () => [], call: (fx, a) => fx.remote.status(...a), paths: [[0]] },
  { name: "remote.create", ...remoteFx, args: () => [prfSource()], call: (fx, a) => fx.remote.create(...a), paths: prfSourcePaths, before: (fx) => fx.remote.lock() },
  { name: "remote.create {passkey}", ...remoteFx, args: () => [{ passkey: passkeyOpts() }], call: (fx, a) => fx.remote.create(...a), paths: passkeyPaths, before: (fx) => fx.remote.lock() },
  { name: "remote.unlock", ...remoteFx, args: () => [M(), { prf: { credentialId: cred, prfOutput: base.prfOutput.slice() } }, { minRevision: 1 }], call: (fx, a) => fx.remote.unlock(...a), paths: [...manifestPaths(0), ...unlockPaths(1), [2], [2, "minRevision"]] },
  { name: "remote.unlock {passkey}", ...remoteFx, args: () => [M(), { passkey: { timeout: 10 } }], call: (fx, a) => fx.remote.unlock(...a), paths: ceremonyPaths(1) },
  { name: "remote.unlock {credential}", ...remoteFx, args: () => [M(), { credential: jsonAssertion() }], call: (fx, a) => fx.remote.unlock(...a), paths: assertionPaths(1) },
  { name: "remote.addPasskey", ...remoteFx, args: () => [prfSource()], call: (fx, a) => fx.remote.addPasskey(...a), paths: prfSourcePaths },
  { name: "remote.addPasskey {passkey}", ...remoteFx, args: () => [{ passkey: passkeyOpts() }], call: (fx, a) => fx.remote.addPasskey(...a), paths: passkeyPaths },
  { name: "remote.receiverKey + acceptHandoff", ...remoteFx, args: () => [], call: async (fx, a) => fx.remote.acceptHandoff(...a), argsAsync: async (fx) => { const key = await fx.remote.receiverKey(); const v = (await fresh()).vault; try { return [v.handOff(key), key]; } finally { v.lock(); } }, paths: [[0], [1]] },
  { name: "remote.seal", ...remoteFx, args: () => [{ a: 1 }, { recordId: "r", context: "c", form: "bytes" }], call: (fx, a) => fx.remote.seal(...a), paths: [[0], ...bindingPaths(1), [1, "form"]] },
  { name: "remote.open", ...remoteFx, args: () => [base.sealedText, { recordId: "r", context: "c" }], call: (fx, a) => fx.remote.open(...a), paths: [[0], ...bindingPaths(1)] },
  { name: "remote.sealMany", ...remoteFx, args: () => [[{ record: 1, recordId: "r" }], { form: "text" }], call: (fx, a) => fx.remote.sealMany(...a), paths: [[0], [0, 0], [0, 0, "record"], [0, 0, "recordId"], [1], [1, "form"]] },
  { name: "remote.openMany", ...remoteFx, args: () => [[{ sealed: base.sealedText, recordId: "r", context: "c" }]], call: (fx, a) => fx.remote.openMany(...a), paths: [[0], [0, 0], [0, 0, "sealed"], [0, 0, "recordId"], [0, 0, "context"]] },
  { name: "remote.sealLarge", ...remoteFx, args: () => [new Uint8Array(70000).fill(7), { recordId: "r" }], call: (fx, a) => fx.remote.sealLarge(...a), paths: [[0], ...bindingPaths(1)] },
  { name: "remote.openLarge", ...remoteFx, args: () => [base.sealedBytes.slice(), { recordId: "r", context: "c" }], call: (fx, a) => fx.remote.openLarge(...a), paths: [[0], ...bindingPaths(1)] },
  { name: "remote.manifest/vaultId/rotateRecoveryCode", ...remoteFx, args: () => [], call: async (fx, a) => [await fx.remote.manifest(...a), await fx.remote.vaultId(...a), await fx.remote.rotateRecoveryCode(...a)], paths: [[0]] },
  { name: "remote.removeUnlock", ...remoteFx, args: () => [base.secondId], call: (fx, a) => fx.remote.removeUnlock(...a), paths: [[0]] },
  { name: "remote.updateManifest", ...remoteFx, args: () => [structuredClone(M())], call: (fx, a) => fx.remote.updateManifest(...a), paths: manifestPaths(0) },
  { name: "remote.tombstone", ...remoteFx, args: () => [{ recordId: "r", context: "c", version: 2, form: "bytes" }], call: (fx, a) => fx.remote.tombstone(...a), paths: [...bindingPaths(0), [0, "version"], [0, "form"]] },
  { name: "remote.rewrap", ...remoteFx, args: () => [base.sealedText, { recordId: "r", context: "c" }], call: (fx, a) => fx.remote.rewrap(...a), paths: [[0], ...bindingPaths(1)] },
  { name: "remote.rekey/retireEpochs", ...remoteFx, args: () => [], call: async (fx, a) => [await fx.remote.rekey(...a), await fx.remote.retireEpochs(...a)], paths: [[0]] },
  { name: "remote.signRecoveryLogin", ...remoteFx, before: async (fx) => { await fx.remote.lock(); await fx.remote.unlock(M(), { recoveryCode: base.recoveryCode }); }, args: () => [rnd(), "https://phr.example"], call: (fx, a) => fx.remote.signRecoveryLogin(...a), paths: [[0], [1]] },
  { name: "remote.reissueGrant", ...remoteFx, args: () => [base.grant, { grantee: structuredClone(base.other) }], call: (fx, a) => fx.remote.reissueGrant(...a), paths: [[0], [1], [1, "grantee"]] },
  { name: "remote.grant/grantSlot/revokeShare", ...remoteFx, args: () => [{ grantee: structuredClone(base.other), label: "labs", expires: Date.now() + 60_000 }], call: async (fx, a) => { const { grant } = await fx.remote.grant(...a); await fx.remote.grantSlot(grant, await fx.remote.seal(1, { recordId: "x" }), { recordId: "x" }); return fx.remote.revokeShare(JSON.parse(grant).id); }, paths: [[0], [0, "grantee"], [0, "label"], [0, "expires"]] },
  { name: "remote.link createLink/linkPayload/sealLinkFile", ...remoteFx, args: () => [{ baseUrl: "https://phr.example/shl/", label: "x", expires: Date.now() + 60_000 }], call: async (fx, a) => { const l = await fx.remote.createLink(...a); await fx.remote.linkPayload(l.shareId, { baseUrl: "https://phr.example/shl/", label: "x" }); return fx.remote.sealLinkFile(l.shareId, { a: 1 }); }, paths: [[0], [0, "baseUrl"], [0, "label"], [0, "expires"], [0, "passcode"]] },
  { name: "remote.emergencyCard/cardFingerprint", ...remoteFx, args: () => [{ resourceType: "Bundle", type: "collection", entry: [] }, { notBefore: 1 }], call: async (fx, a) => [await fx.remote.emergencyCard(...a), await fx.remote.cardFingerprint()], paths: [[0], [1], [1, "notBefore"]] },
  { name: "remote.log logEntry/syncLog/logStatus/accessReport", ...remoteFx, args: () => [{ type: "revoke", share: "s" }, { position: 0 }], call: async (fx, a) => { await fx.remote.logEntry(...a); await fx.remote.logStatus(); await fx.remote.accessReport([], {}); return fx.remote.syncLog({ checkpoint: emptyLog(await fx.remote.vaultId()) }); }, paths: [[0], [0, "type"], [1], [1, "position"]] },
  { name: "remote.openShared", ...remoteFx, args: () => [{ grant: base.incoming, grantor: structuredClone(base.incomingGrantor), items: [{ sealed: base.incomingSealed, slot: base.incomingSlot, recordId: "s" }] }], call: (fx, a) => fx.remote.openShared(...a), paths: [[0], [0, "grant"], [0, "grantor"], [0, "items"], [0, "items", 0, "slot"]] },
  { name: "remote.signLoginProof", ...remoteFx, args: () => [rnd(), "https://phr.example"], call: (fx, a) => fx.remote.signLoginProof(...a), paths: [[0], [1]] },
  { name: "remote.persisted", ...remoteFx, args: () => [], call: (fx, a) => fx.remote.persisted(...a), paths: [[0]] },
  { name: "remote.lock", ...remoteFx, args: () => [], call: (fx, a) => fx.remote.lock(...a), paths: [[0]], afterLock: true },
  // ---------------------------------------------------------------- VaultHost, for hosts with their own transport
  { name: "new VaultHost + run", ...hostFx, args: () => [{ pin: () => ({}), onChange: () => {}, allow: () => true }], call: async (fx, a) => { const h = new VaultHost(...a); await h.run("status", []); await h.run("lock", []); }, paths: [[0], [0, "pin"], [0, "wasm"], [0, "onChange"]] },
  { name: "host.run", ...hostFx, args: () => ["seal", [{ a: 1 }, { recordId: "r" }]], call: (fx, a) => fx.host.run(...a), paths: [[0], [1], [1, 0], [1, 1], [1, 1, "recordId"]] },
  { name: "host.run create/unlock", ...hostFx, args: () => ["unlockWithPrf", [M(), { credentialId: cred, prfOutput: base.prfOutput.slice() }, { minRevision: 1 }]], call: (fx, a) => fx.host.run(...a), paths: [[1, 0], [1, 1], [1, 1, "credentialId"], [1, 1, "prfOutput"], [1, 2], [1, 2, "minRevision"]] },
  { name: "host.run acceptHandoff", ...hostFx, argsAsync: async (fx) => { const key = await fx.host.run("receiverKey", []); return ["acceptHandoff", [fx.vault.handOff(key), key]]; }, call: (fx, a) => fx.host.run(...a), paths: [[1, 0], [1, 1]] },
];

/** A receiver still works after whatever happened to another one. */
function receiverStillUsable(fx) {
  const r = new VaultReceiver();
  const v = r.accept(fx.vault.handOff(r.publicKey), { expect: M() });
  sealOpen(v);
  v.lock();
}

function setPath(args, path, value) {
  let o = args;
  for (const k of path.slice(0, -1)) o = o[k];
  o[path.at(-1)] = value;
}

function describe(e) {
  return `${e?.constructor?.name ?? typeof e}: ${String(e?.message ?? e).slice(0, 120)}`;
}

function timeout(p, what) {
  let t;
  return Promise.race([p, new Promise((_, reject) => (t = setTimeout(() => reject(new Error(`HANG: ${what} did not settle in ${HANG_MS} ms`)), HANG_MS)))]).finally(() => clearTimeout(t));
}

/**
 * Runs one case: the call with the odd value in place, then the checks.
 * Returns the failures (strings); an empty list is a pass.
 */
export async function runCase(entry, path, valueName, makeValue) {
  const label = `${entry.name} [${path.join(".")}] = ${valueName}`;
  const failures = [];
  const fx = await entry.fixture();
  if (entry.before) await entry.before(fx);
  const args = entry.argsAsync ? await entry.argsAsync(fx) : entry.args(fx);
  setPath(args, path, makeValue()); // outside the try: a path the arguments do not have is a bug of the table
  let result;
  try {
    result = await timeout(Promise.resolve().then(() => entry.call(fx, args)), label);
  } catch (e) {
    if (!(e instanceof MedsealError)) failures.push(`${label}: threw ${describe(e)} (not a MedsealError)`);
    else if (!CODES.has(e.code)) failures.push(`${label}: MedsealError with unknown code ${e.code}`);
  }
  // openMany's outcomes: every error is a MedsealError too.
  if (Array.isArray(result)) {
    for (const o of result) if (o && o.ok === false && !(o.error instanceof MedsealError)) failures.push(`${label}: outcome error ${describe(o.error)} (not a MedsealError)`);
  }
  try {
    await entry.cleanup?.(result);
  } catch (e) {
    failures.push(`${label}: cleanup of the result threw ${describe(e)}`);
  }
  if (entry.afterLock) return failures; // the call under test was lock() itself: checked to throw nothing above
  try {
    if (entry.name.startsWith("remote.create")) await fx.remote.unlock(M(), { prf: { credentialId: cred, prfOutput: base.prfOutput.slice() } });
    await timeout(Promise.resolve().then(() => entry.works(fx)), `${label}: still works`);
    await entry.extra?.(fx);
  } catch (e) {
    failures.push(`${label}: the handle no longer works afterwards: ${describe(e)}`);
  }
  try {
    await timeout(Promise.resolve().then(() => entry.lock(fx)), `${label}: lock`);
    if (!(await entry.locked(fx))) failures.push(`${label}: not locked after lock()`);
  } catch (e) {
    failures.push(`${label}: lock() afterwards threw ${describe(e)}`);
  }
  return failures;
}

for (const entry of TABLE) {
  test(`no odd value wedges ${entry.name}`, async () => {
    const failures = [];
    // The normal call first: the table's arguments are valid.
    const fx = await entry.fixture();
    if (entry.before) await entry.before(fx);
    await timeout(Promise.resolve().then(async () => entry.call(fx, entry.argsAsync ? await entry.argsAsync(fx) : entry.args(fx))), `${entry.name} normal`).then(
      (r) => entry.cleanup?.(r),
      (e) => {
        // Passkey ceremonies cannot run in Node: PrfUnsupported is their normal outcome here.
        if (!(e instanceof MedsealError && e.code === ErrorCode.PrfUnsupported)) throw e;
      },
    );
    for (const path of entry.paths) {
      for (const [valueName, makeValue] of Object.entries(ODD)) failures.push(...(await runCase(entry, path, valueName, makeValue)));
    }
    assert.deepEqual(failures, [], `${failures.length} failing case(s):\n${failures.slice(0, 40).join("\n")}`);
  });
}

test("every exported method is in the table", () => {
  const names = TABLE.map((e) => e.name).join(" ");
  const vaultMethods = Object.getOwnPropertyNames(Vault.prototype).filter((m) => m !== "constructor" && m !== "locked");
  for (const m of vaultMethods) assert.match(names, new RegExp(`vault\\.${m}\\b`), `Vault.prototype.${m}`);
  for (const m of Object.getOwnPropertyNames(Vault).filter((m) => typeof Vault[m] === "function")) assert.match(names, new RegExp(`Vault\\.${m}\\b`), `Vault.${m}`);
  for (const m of Object.getOwnPropertyNames(VaultReceiver.prototype).filter((m) => m !== "constructor")) assert.match(names, new RegExp(`receiver\\.${m}\\b`), `VaultReceiver.${m}`);
  for (const m of Object.keys(webauthn)) assert.match(names, new RegExp(`webauthn\\.${m}\\b`), `webauthn.${m}`);
  for (const m of Object.getOwnPropertyNames(RemoteVault.prototype).filter((m) => m !== "constructor")) assert.match(names, new RegExp(`remote\\.[\\w/+ ]*${m}\\b`), `RemoteVault.${m}`);
});

test("the checker reports a wedged handle (the old bug: 'recursive use of an object')", async () => {
  // A stand-in for a handle whose borrow flag a throwing wasm call left set:
  // the call under test throws a MedsealError (as fromWasm made of it), then
  // every later call throws wasm-bindgen's plain Error.
  const recursive = () => {
    throw new Error("recursive use of an object detected which would lead to unsafe aliasing in rust");
  };
  const wedgedFx = () => {
    let wedged = false;
    const h = { sealText: () => (wedged ? recursive() : "ms1.x"), lock: () => (wedged ? recursive() : undefined) };
    const call = (f) => {
      try {
        return f();
      } catch (e) {
        throw new MedsealError(ErrorCode.InvalidArgument, `invalid argument: ${e.message}`);
      }
    };
    const vault = {
      seal: () => call(() => h.sealText()),
      open: () => ({ ok: 1 }),
      poison: () => {
        wedged = true;
        throw new MedsealError(ErrorCode.InvalidArgument, "bad argument");
      },
      lock: () => h.lock(),
      locked: false,
    };
    return { vault };
  };
  const entry = { name: "stand-in", fixture: async () => wedgedFx(), works: (fx) => sealOpen(fx.vault), lock: (fx) => fx.vault.lock(), locked: () => true, args: () => [1], call: (fx) => fx.vault.poison() };
  const failures = await runCase(entry, [0], "revoked Proxy", ODD["revoked Proxy"]);
  assert.equal(failures.length, 2, failures.join("\n"));
  assert.match(failures[0], /no longer works afterwards: MedsealError: invalid argument: recursive use of an object/);
  assert.match(failures[1], /lock\(\) afterwards threw Error: recursive use of an object/);
});
