// The ErrorCode list has one source: the wasm module's codes (`wasmErrorCodes()`,
// from the Rust error enum) plus the codes the JS layer raises itself
// (`JS_ERROR_CODES`) are exactly `Object.values(ErrorCode)`. And every code is
// reachable from JS: a table provokes each one, and must cover the lists.
import { test } from "node:test";
import assert from "node:assert/strict";
import { init, Vault, VaultReceiver, MedsealError, ErrorCode, webauthn, wasmErrorCodes, seenStores, sharing, pinStores, notices, tombstones } from "../../pkg/dist/node.js";
import { JS_ERROR_CODES } from "../../pkg/dist/errors.js";
import { RemoteVault } from "../../pkg/dist/remote.js";
import { createHash, generateKeyPairSync, sign } from "node:crypto";

await init();

test("wasmErrorCodes() and JS_ERROR_CODES together are exactly ErrorCode", () => {
  const wasm = wasmErrorCodes();
  const all = Object.values(ErrorCode);
  assert.equal(new Set(wasm).size, wasm.length, "no code twice in the wasm list");
  assert.equal(new Set(JS_ERROR_CODES).size, JS_ERROR_CODES.length, "no code twice in the JS list");
  assert.deepEqual(wasm.filter((c) => JS_ERROR_CODES.includes(c)), [], "a code comes from one layer only");
  assert.deepEqual([...wasm, ...JS_ERROR_CODES].sort(), [...all].sort());
  assert.deepEqual(Object.keys(ErrorCode).sort(), [...all].sort(), "each key is its own value");
});

const cred = new Uint8Array([3, 1, 4]);
async function newVault() {
  const prfOutput = crypto.getRandomValues(new Uint8Array(32));
  return { ...(await Vault.create({ prf: { credentialId: cred, prfSalt: webauthn.newPrfSalt(), prfOutput } })), prfOutput };
}

/** Sets navigator.credentials to a stand-in for the duration of `f`. */
async function withCredentials(credentials, f) {
  const saved = ["navigator", "PublicKeyCredential"].map((k) => [k, Object.getOwnPropertyDescriptor(globalThis, k)]);
  Object.defineProperty(globalThis, "navigator", { value: { credentials }, configurable: true, writable: true });
  Object.defineProperty(globalThis, "PublicKeyCredential", { value: class {}, configurable: true, writable: true });
  try {
    return await f();
  } finally {
    for (const [k, d] of saved) {
      if (d) Object.defineProperty(globalThis, k, d);
      else delete globalThis[k];
    }
  }
}


// ------------------------------------------------------------ a minimal log server (FORMAT.md §16), for the log codes

const sha256 = (...parts) => new Uint8Array(createHash("sha256").update(Buffer.concat(parts.map((p) => Buffer.from(p)))).digest());
const leafHash = (leaf) => sha256([0], leaf);
const nodeHash = (l, r) => sha256([1], l, r);
const b64uDecode = (s) => new Uint8Array(Buffer.from(s, "base64url"));
const b64uEncode = (b) => Buffer.from(b).toString("base64url");
const origin = (vaultId) => `medseal.invalid/vault/${vaultId}`;

/** A server log key (node:crypto): its compressed SEC1 key, and signed checkpoints (type 0x02 signed notes). */
function logServer() {
  const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const spki = publicKey.export({ type: "spki", format: "der" });
  const point = spki.subarray(spki.length - 65);
  const compressed = Buffer.concat([Buffer.from([2 + (point[64] & 1)]), point.subarray(1, 33)]);
  const keyId = sha256(spki).subarray(0, 4);
  return {
    name: "test/log",
    key: b64uEncode(compressed),
    checkpoint(vaultId, size, root) {
      const text = `${origin(vaultId)}\n${size}\n${Buffer.from(root).toString("base64")}\n`;
      const sig = sign("sha256", Buffer.from(text), { key: privateKey, dsaEncoding: "der" });
      return `${text}\n\u2014 test/log ${Buffer.concat([keyId, sig]).toString("base64")}\n`;
    },
  };
}

/** A vault whose log holds one entry (the server's key announced), synced: the pinned state of size 1. */
async function syncedLog() {
  const v = await newVault();
  const server = logServer();
  const leaf = v.vault.logEntry({ type: "server", name: server.name, key: server.key }, { position: 0 });
  const id = v.vault.vaultId();
  v.vault.syncLog({ checkpoint: server.checkpoint(id, 1, leafHash(b64uDecode(leaf))), entries: [leaf] });
  return { ...v, server, leaf, id };
}

/** One way to provoke each code from JS. */
const PROVOKE = {
  async DecryptionFailed() {
    const { vault } = await newVault();
    vault.open(vault.seal(1, { recordId: "a" }), { recordId: "b" });
  },
  async UnknownVersion() {
    (await newVault()).vault.open("ms3.AAAA", { recordId: "r" });
  },
  async Malformed() {
    (await newVault()).vault.open("not a record", { recordId: "r" });
  },
  async Locked() {
    const { vault } = await newVault();
    vault.lock();
    vault.seal(1, { recordId: "r" });
  },
  async PrfUnsupported() {
    await Vault.unlock((await newVault()).manifest, { passkey: true }); // Node has no WebAuthn
  },
  async PrfNotReturned() {
    await Vault.unlock((await newVault()).manifest, { credential: { rawId: "AwEE", clientExtensionResults: {} } });
  },
  async InvalidPrfOutput() {
    await Vault.unlock((await newVault()).manifest, { prf: { credentialId: cred, prfOutput: new Uint8Array(32) } });
  },
  async InvalidRecoveryCode() {
    const { manifest, recoveryCode } = await newVault();
    await Vault.unlock(manifest, { recoveryCode: recoveryCode.replace(/^./, (c) => (c === "A" ? "B" : "A")) });
  },
  async UnlockFailed() {
    await Vault.unlock((await newVault()).manifest, { prf: { credentialId: cred, prfOutput: new Uint8Array(32).fill(1) } });
  },
  async UnknownUnlockEntry() {
    (await newVault()).vault.removeUnlock("no-such-entry");
  },
  async LastUnlockMethod() {
    const { vault, manifest } = await newVault();
    vault.removeUnlock(manifest.unlock.find((e) => e.type === "passkey").id);
  },
  async ManifestInvalid() {
    const { manifest, prfOutput } = await newVault();
    await Vault.unlock({ ...manifest, revision: manifest.revision + 1 }, { prf: { credentialId: cred, prfOutput } });
  },
  async StaleManifest() {
    const { manifest, prfOutput } = await newVault();
    await Vault.unlock(manifest, { prf: { credentialId: cred, prfOutput } }, { minRevision: manifest.revision + 1 });
  },
  async ForkDetected() {
    // Two devices, each with its own store, change the same revision: each is a fork to the other.
    const { manifest, prfOutput } = await newVault();
    const device = async () => (await Vault.unlock(manifest, { prf: { credentialId: cred, prfOutput } }, { store: seenStores.memory() })).vault;
    const [a, b] = [await device(), await device()];
    const newPasskey = () => ({ prf: { credentialId: crypto.getRandomValues(new Uint8Array(8)), prfSalt: webauthn.newPrfSalt(), prfOutput: crypto.getRandomValues(new Uint8Array(32)) } });
    await a.addPasskey(newPasskey());
    const { manifest: fromB } = await b.addPasskey(newPasskey());
    a.updateManifest(fromB);
  },
  async HistoryIncomplete() {
    // A device two revisions behind, offered the newest manifest without the one in between.
    const { vault, manifest, prfOutput } = await newVault();
    const { vault: behind } = await Vault.unlock(manifest, { prf: { credentialId: cred, prfOutput } }, { store: seenStores.memory() });
    const newPasskey = () => ({ prf: { credentialId: crypto.getRandomValues(new Uint8Array(8)), prfSalt: webauthn.newPrfSalt(), prfOutput: crypto.getRandomValues(new Uint8Array(32)) } });
    await vault.addPasskey(newPasskey());
    const { manifest: newest } = await vault.addPasskey(newPasskey());
    behind.updateManifest(newest);
  },
  async StaleRecord() {
    const { vault } = await newVault();
    const v1 = vault.seal({ dose: 1 }, { recordId: "r", version: 1 });
    vault.open(vault.seal({ dose: 2 }, { recordId: "r", version: 2 }), { recordId: "r" });
    vault.open(v1, { recordId: "r" });
  },
  async Truncated() {
    // A sealed file cut at a chunk boundary (its short last chunk missing), read as a stream.
    const { vault } = await newVault();
    const sealed = await vault.sealFile(new Blob([new Uint8Array(40000)]), { recordId: "scan" });
    const cut = sealed.slice(0, 134 + 2 * 16400);
    await vault.openFile(cut, { recordId: "scan", size: 32768 });
  },
  async NoticeInvalid() {
    // A notice signed by a key the app does not pin.
    const { generateKeyPairSync } = await import("node:crypto");
    const { signNote, compressed, toB64u } = await import("./log-server.mjs");
    const mk = () => ({ name: "ops", ...generateKeyPairSync("ec", { namedCurve: "P-256" }) });
    const [pinned, other] = [mk(), mk()];
    const text = "medseal-notice/v1\nid n1\nissued 1\nexpires 2\nseverity info\naction none\ntitle t\nbody b\n";
    notices.verify(signNote(text, [other]), { keys: [{ name: "ops", key: toB64u(compressed(pinned.publicKey)) }] });
  },
  async TombstoneInvalid() {
    // A tombstone signed by a key other than the server's, under its name.
    const { generateKeyPairSync } = await import("node:crypto");
    const { signNote, compressed, toB64u } = await import("./log-server.mjs");
    const mk = () => ({ name: "phr.example/log", ...generateKeyPairSync("ec", { namedCurve: "P-256" }) });
    const [server, other] = [mk(), mk()];
    const { manifest } = await newVault();
    const text = `https://phr.example/tombstone\nvault ${manifest.vaultId}\ndeleted 1\nrequest ${"A".repeat(43)}\nidentity ${manifest.identityKey.publicKey}\n`;
    tombstones.verify(signNote(text, [other]), { keyName: "phr.example/log", key: toB64u(compressed(server.publicKey)) });
  },
  async RecordDeleted() {
    const { vault } = await newVault();
    vault.open(vault.tombstone({ recordId: "r", version: 2 }), { recordId: "r" });
  },
  async KeyChanged() {
    // The server relays another vault's manifest under a person's pinned vault id.
    const pins = pinStores.memory();
    const a = await newVault();
    const b = await newVault();
    await sharing.pin("alice", a.manifest, { store: pins });
    await sharing.pin("alice", b.manifest, { store: pins });
  },
  async GrantExpired() {
    const a = await newVault();
    const b = await newVault();
    const { grant } = a.vault.grant({ grantee: b.manifest, records: ["r"], expires: Date.now() + 1500 });
    await new Promise((r) => setTimeout(r, 2100));
    a.vault.grantSlot(grant, a.vault.seal(1, { recordId: "r" }), { recordId: "r" });
  },
  async NotGranted() {
    const a = await newVault();
    const b = await newVault();
    const { grant } = a.vault.grant({ grantee: b.manifest, records: ["r"], expires: Date.now() + 60_000 });
    a.vault.grantSlot(grant, a.vault.seal(1, { recordId: "other" }), { recordId: "other" });
  },
  async WrongVault() {
    const a = await newVault();
    const b = await newVault();
    const r = new VaultReceiver();
    r.accept(b.vault.handOff(r.publicKey), { expect: a.manifest });
  },
  async WorkerUnavailable() {
    await new RemoteVault({ postMessage() {} }, { timeout: 20 }).status();
  },
  async InvalidArgument() {
    (await newVault()).vault.seal(1, { recordId: "" });
  },
  async TooLarge() {
    (await newVault()).vault.seal(new Uint8Array(300 * 1024 * 1024), { recordId: "huge" });
  },
  async RandomUnavailable() {
    const saved = Object.getOwnPropertyDescriptor(crypto, "getRandomValues");
    crypto.getRandomValues = () => {
      throw new Error("no entropy");
    };
    try {
      webauthn.newPrfSalt();
    } finally {
      if (saved) Object.defineProperty(crypto, "getRandomValues", saved);
      else delete crypto.getRandomValues;
    }
  },
  async Cancelled() {
    const { manifest } = await newVault();
    await withCredentials({ get: async () => { throw new DOMException("The operation either timed out or was not allowed.", "NotAllowedError"); } }, () => Vault.unlock(manifest, { passkey: true }));
  },
  async LogSignatureInvalid() {
    const { vault } = await newVault();
    const leaf = vault.logEntry({ type: "server", name: "test/log", key: logServer().key }, { position: 0 });
    // Entry 0 names one key; the checkpoint is signed by another.
    vault.syncLog({ checkpoint: logServer().checkpoint(vault.vaultId(), 1, leafHash(b64uDecode(leaf))), entries: [leaf] });
  },
  async LogEntryInvalid() {
    const { vault } = await newVault();
    const server = logServer();
    // Signed for position 5, served at position 0.
    const leaf = vault.logEntry({ type: "server", name: server.name, key: server.key }, { position: 5 });
    vault.syncLog({ checkpoint: server.checkpoint(vault.vaultId(), 1, leafHash(b64uDecode(leaf))), entries: [leaf] });
  },
  async LogRolledBack() {
    const { vault, server, id } = await syncedLog();
    vault.syncLog({ checkpoint: server.checkpoint(id, 0, sha256()) });
  },
  async LogForked() {
    const { vault, server, id } = await syncedLog();
    vault.syncLog({ checkpoint: server.checkpoint(id, 1, sha256("another history")) });
  },
  async LogInconsistent() {
    const { vault, server, id, leaf } = await syncedLog();
    const next = vault.logEntry({ type: "revoke", share: "s" }, { position: 1 });
    // A consistency proof from size 1 to 2 is the new leaf's hash; this one claims another first leaf.
    const root = nodeHash(sha256("not the pinned leaf"), leafHash(b64uDecode(next)));
    void leaf;
    vault.syncLog({ checkpoint: server.checkpoint(id, 2, root), proof: [b64uEncode(leafHash(b64uDecode(next)))], entries: [next] });
  },
  async LogProofMissing() {
    const { vault, server, id } = await syncedLog();
    const next = vault.logEntry({ type: "revoke", share: "s" }, { position: 1 });
    vault.syncLog({ checkpoint: server.checkpoint(id, 2, sha256("x")), entries: [next] });
  },
  async NotInitialized() {
    // A second instance of the entry module, never init()ed (the wasm glue itself is shared).
    const fresh = await import(`../../pkg/dist/index.js?not-initialized=${Date.now()}`);
    await fresh.Vault.create({ prf: { credentialId: cred, prfSalt: new Uint8Array(32), prfOutput: new Uint8Array(32).fill(1) } });
  },
};

test("the provoking table covers every code, wasm and JS", () => {
  assert.deepEqual(Object.keys(PROVOKE).sort(), Object.values(ErrorCode).sort());
});

for (const c of Object.values(ErrorCode)) {
  const layer = JS_ERROR_CODES.includes(c) ? "JS" : "core";
  test(`${layer} code ${c} is reachable from JS`, async () => {
    await assert.rejects(
      async () => PROVOKE[c](),
      (e) => {
        assert.ok(e instanceof MedsealError, `not a MedsealError: ${e}`);
        assert.equal(e.code, c, e.message);
        assert.equal(e.name, "MedsealError");
        return true;
      },
    );
  });
}

test("NotInitialized also when the module cannot be loaded", async () => {
  const { execFileSync } = await import("node:child_process");
  const script = `import("${new URL("../../pkg/dist/node.js", import.meta.url).href}").then((m) => m.init(new Uint8Array([0, 97, 115, 109, 9, 9, 9, 9]))).then(() => console.log("loaded"), (e) => console.log(e.code))`;
  assert.equal(execFileSync(process.execPath, ["--input-type=module", "-e", script]).toString().trim(), ErrorCode.NotInitialized);
});
