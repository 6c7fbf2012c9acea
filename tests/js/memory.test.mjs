// What a call leaves behind in the wasm instance's memory, and what it copies
// in before checking: attacks found by reviewing the API 1.0 boundary, each
// failing against the code before its fix (noted per test).
import { test } from "node:test";
import assert from "node:assert/strict";
import { init, Vault, VaultReceiver, MedsealError, ErrorCode, webauthn } from "../../pkg/dist/node.js";
import { initSync } from "../../pkg/dist/wasm/medseal_wasm.js";

await init();
// The glue's initSync() returns the exports of the instance init() made: its memory.
const exports = initSync();
const memory = () => new Uint8Array(exports.memory.buffer);

function occurrences(needle) {
  const m = memory();
  let n = 0;
  for (let i = m.indexOf(needle[0]); i !== -1 && i + needle.length <= m.length; i = m.indexOf(needle[0], i + 1)) {
    let j = 1;
    while (j < needle.length && m[i + j] === needle[j]) j++;
    if (j === needle.length) n++;
  }
  return n;
}

const marker = () => new TextEncoder().encode(`marker-${crypto.randomUUID()}`);

async function newVault() {
  const prfSalt = webauthn.newPrfSalt();
  return Vault.create({ prf: { credentialId: new Uint8Array([1, 2, 3]), prfSalt, prfOutput: crypto.getRandomValues(new Uint8Array(32)) } });
}

async function code(f) {
  try {
    await f();
  } catch (e) {
    assert.ok(e instanceof MedsealError, `not a MedsealError: ${e}`);
    return e.code;
  }
  assert.fail("did not throw");
}

test("open and openMany leave no copy of the plaintext in wasm memory (a String/Vec return did)", async () => {
  const { vault } = await newVault();
  for (const size of [64, 300, 4096, 65536]) {
    const m = marker();
    const bytes = new Uint8Array(size);
    bytes.set(m);
    const json = { note: new TextDecoder().decode(m) + "x".repeat(size) };
    const sb = vault.seal(bytes, { recordId: "b" });
    const sj = vault.seal(json, { recordId: "j" });
    assert.equal(occurrences(m), 0, `seal ${size}: none left`);
    assert.deepEqual(vault.open(sb, { recordId: "b" }), bytes);
    assert.deepEqual(vault.open(sj, { recordId: "j" }), json);
    vault.openMany([{ sealed: sb, recordId: "b" }, { sealed: sj, recordId: "j" }]);
    assert.equal(occurrences(m), 0, `open ${size}: no copy left in wasm memory`);
  }
});

test("a label that is not a string is refused before the PRF output enters wasm (it trapped with the copy inside)", async () => {
  for (const label of [123, Symbol("x"), { toString() { throw new Error("boom"); } }]) {
    const prfOutput = crypto.getRandomValues(new Uint8Array(32));
    const copy = prfOutput.slice();
    assert.equal(await code(() => Vault.create({ prf: { credentialId: new Uint8Array([9]), prfSalt: webauthn.newPrfSalt(), prfOutput, label } })), ErrorCode.InvalidArgument);
    assert.equal(occurrences(copy), 0, "no PRF copy in wasm memory");
  }
  const { vault } = await newVault();
  const prfOutput = crypto.getRandomValues(new Uint8Array(32));
  assert.equal(await code(() => vault.addPasskey({ prf: { credentialId: new Uint8Array([8]), prfSalt: webauthn.newPrfSalt(), prfOutput, label: 7 } })), ErrorCode.InvalidArgument);
  assert.equal(occurrences(prfOutput), 0);
});

test("input over the format's limit is TooLarge before it is copied into wasm (memory grew by the input's size)", async () => {
  const { vault } = await newVault();
  const before = exports.memory.buffer.byteLength;
  const huge = new Uint8Array(300 * 1024 * 1024);
  assert.equal(await code(() => vault.open(huge, { recordId: "r" })), ErrorCode.TooLarge);
  assert.equal(await code(() => vault.seal(huge, { recordId: "r" })), ErrorCode.TooLarge);
  assert.equal(await code(() => vault.open("ms1." + "A".repeat(400 * 1024 * 1024), { recordId: "r" })), ErrorCode.TooLarge);
  assert.equal(exports.memory.buffer.byteLength, before, "wasm memory did not grow");
  vault.seal({ ok: true }, { recordId: "r" });
});

test("a pin whose toJSON() gives undefined is refused, not read as no pin (another vault was accepted)", async () => {
  const { vault: a, manifest: ma } = await newVault();
  const { vault: b } = await newVault();
  const receiver = new VaultReceiver();
  const msg = b.handOff(receiver.publicKey);
  assert.equal(await code(() => receiver.accept(msg, { expect: { toJSON: () => undefined } })), ErrorCode.InvalidArgument);
  const r2 = new VaultReceiver();
  assert.equal(await code(() => r2.accept(b.handOff(r2.publicKey), { expect: ma })), ErrorCode.WrongVault);
  a.lock();
  b.lock();
});
