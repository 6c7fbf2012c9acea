// Child process of simd.test.mjs: loads the package with init() as a user
// would, the SIMD128 build or (with WebAssembly.validate answering false for
// the SIMD128 probe, as an engine without SIMD128 does) the scalar build;
// opens the records it is given on stdin, seals its own, writes JSON to stdout.
// Mode "early-simd": the probe validates but the SIMD128 build fails to compile.
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";

const mode = process.argv[2];
const loaded = [];
const instantiate = WebAssembly.instantiate;
const simdSize = Number(process.argv[3] ?? 0);
WebAssembly.instantiate = function (source, imports) {
  if (ArrayBuffer.isView(source) || source instanceof ArrayBuffer) {
    loaded.push(source.byteLength);
    // An engine with pre-standard SIMD: it validates the probe but cannot
    // compile the SIMD128 build.
    if (mode === "early-simd" && source.byteLength === simdSize) return Promise.reject(new WebAssembly.CompileError("invalid opcode"));
  }
  return instantiate.call(this, source, imports);
};
if (mode === "scalar") {
  const validate = WebAssembly.validate;
  // An engine without SIMD128 rejects any module that uses it; the probe is the only module validated here.
  WebAssembly.validate = (bytes) => (new Uint8Array(bytes.buffer ?? bytes).includes(253) ? false : validate(bytes));
}
const { init, Vault, webauthn, simd128Supported } = await import("../../pkg/dist/node.js");
await init();

const input = JSON.parse(readFileSync(0, "utf8") || "null");
const b64 = (u) => Buffer.from(u).toString("base64");
const unb64 = (s) => new Uint8Array(Buffer.from(s, "base64"));
let vault, shared;
if (input) {
  shared = input.shared;
  ({ vault } = await Vault.unlock(shared.manifest, { prf: { credentialId: unb64(shared.credentialId), prfOutput: unb64(shared.prfOutput) } }));
} else {
  const credentialId = randomBytes(16);
  const prfOutput = randomBytes(32);
  shared = { credentialId: b64(credentialId), prfOutput: b64(prfOutput) };
  const made = await Vault.create({ prf: { credentialId, prfSalt: webauthn.newPrfSalt(), prfOutput } });
  vault = made.vault;
  shared.manifest = made.manifest;
}
const opened = [];
for (const r of input?.records ?? []) {
  const value = vault.open(r.sealed.b64 ? unb64(r.sealed.b64) : r.sealed, { recordId: r.id });
  opened.push(r.json ? JSON.stringify(value) === r.plain : b64(value) === r.plain);
}
const records = [];
for (const size of [0, 1, 15, 16, 17, 127, 128, 129, 1000, 4095, 65537, 200001]) {
  const data = randomBytes(size);
  const id = `${mode}-${size}`;
  records.push({ id, plain: b64(data), sealed: { b64: b64(vault.seal(data, { recordId: id, form: "bytes" })) } });
}
const note = { note: "é ✓ " + "x".repeat(3000) };
records.push({ id: `${mode}-json`, json: true, plain: JSON.stringify(note), sealed: vault.seal(note, { recordId: `${mode}-json` }) });
process.stdout.write(JSON.stringify({ simd128Supported: simd128Supported(), loaded, opened, shared, records }));
