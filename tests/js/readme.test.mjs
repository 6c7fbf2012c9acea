// README.md's "## Quick start" code runs as written, in Node, against the
// built package: each ```js block of that section is written to a temp
// directory as an ES module whose `import … from "medseal"` resolves to pkg/
// (node_modules/medseal is a symlink), and run in a child process. Where the
// snippet runs passkey ceremonies, a prelude puts a stand-in authenticator
// (PRF = HMAC per credential) behind navigator.credentials. The prelude also
// records what the package sealed and opened: the test asserts that the
// snippet finished and that some value went through a seal and came back from
// an open (the round trip), and shows the snippet's console output.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const readme = readFileSync(join(root, "README.md"), "utf8");

/**
 * The ```js blocks under the first "## Quick start…" heading, up to the next
 * heading ("##" or "###": subsections such as the SimpleWebAuthn one need a
 * server and other packages, and are tested in tests/browser/).
 */
function quickStartBlocks(md) {
  const start = md.search(/^## Quick start\b.*$/m);
  if (start < 0) return null;
  const rest = md.slice(start);
  const next = rest.slice(3).search(/^#{2,3} /m);
  const section = next < 0 ? rest : rest.slice(0, next + 3);
  return [...section.matchAll(/^```(?:js|javascript|mjs)[^\n]*\n([\s\S]*?)^```/gm)].map((m) => m[1]);
}

const PRELUDE = `
import { createHmac } from "node:crypto";
import * as medseal from "medseal";
const b64u = (u) => Buffer.from(u).toString("base64url");
// A stand-in authenticator: PRF(credential, input) = HMAC(secret, id || input).
class PublicKeyCredential {
  constructor(id, prf) { this.rawId = id; this.id = b64u(new Uint8Array(id)); this.type = "public-key"; this.prf = prf; this.response = {}; }
  getClientExtensionResults() { return { prf: this.prf }; }
  toJSON() { return { id: this.id, rawId: this.id, type: this.type, response: {}, clientExtensionResults: {} }; }
  static async isUserVerifyingPlatformAuthenticatorAvailable() { return true; }
  static async getClientCapabilities() { return { "extension:prf": true }; }
}
const prf = (id, input) => new Uint8Array(createHmac("sha256", "readme authenticator").update(new Uint8Array(id)).update(new Uint8Array(input.buffer ?? input, input.byteOffset ?? 0, input.byteLength)).digest()).buffer;
let n = 0;
const credentials = {
  async create(o) {
    const id = new Uint8Array([0x52, 0x44, ++n]).buffer;
    return new PublicKeyCredential(id, { enabled: true, results: { first: prf(id, o.publicKey.extensions.prf.eval.first) } });
  },
  async get(o) {
    const evals = o.publicKey.extensions.prf.evalByCredential;
    const allowed = o.publicKey.allowCredentials ?? [];
    const pick = allowed.length ? new Uint8Array(allowed[0].id.buffer ?? allowed[0].id).slice().buffer : new Uint8Array([0x52, 0x44, 1]).buffer;
    return new PublicKeyCredential(pick, { results: { first: prf(pick, evals[b64u(new Uint8Array(pick))].first) } });
  },
};
if (!globalThis.navigator?.credentials) Object.defineProperty(globalThis, "navigator", { value: { ...(globalThis.navigator ?? {}), credentials }, configurable: true, writable: true });
globalThis.PublicKeyCredential ??= PublicKeyCredential;
globalThis.isSecureContext ??= true;
// What went in and came out.
const norm = (v) => (v instanceof Uint8Array ? "bytes:" + b64u(v) : JSON.stringify(v));
const sealed = [], opened = [];
const P = medseal.Vault.prototype;
for (const m of ["seal", "sealLarge"]) { const f = P[m]; P[m] = function (record, ...a) { sealed.push(norm(record)); return f.call(this, record, ...a); }; }
for (const m of ["sealMany"]) { const f = P[m]; P[m] = function (items, ...a) { for (const it of items ?? []) sealed.push(norm(it.record)); return f.call(this, items, ...a); }; }
{ const f = P.open; P.open = function (...a) { const v = f.apply(this, a); opened.push(norm(v)); return v; }; }
{ const f = P.openLarge; P.openLarge = async function (...a) { const v = await f.apply(this, a); opened.push(norm(v)); return v; }; }
{ const f = P.openMany; P.openMany = function (...a) { const r = f.apply(this, a); for (const o of r) if (o.ok) opened.push(norm(o.value)); return r; }; }
process.on("exit", (code) => { process.stderr.write("\\n@@README " + JSON.stringify({ code, sealed, opened }) + "\\n"); });
`;

test('README "## Quick start" code runs in Node against the package and round-trips a record', (t) => {
  const blocks = quickStartBlocks(readme);
  assert.ok(blocks, 'README.md has a "## Quick start" section');
  assert.ok(blocks.length > 0, 'the "## Quick start" section has a ```js block');
  const dir = mkdtempSync(join(tmpdir(), "medseal-readme-"));
  try {
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(join(root, "pkg"), join(dir, "node_modules", "medseal"), "dir");
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    writeFileSync(join(dir, "prelude.mjs"), PRELUDE);
    // One module per block, in order: the prelude first (imports are evaluated in order).
    blocks.forEach((code, i) => writeFileSync(join(dir, `block${i}.mjs`), `import "./prelude.mjs";\n${code}`));
    writeFileSync(join(dir, "main.mjs"), blocks.map((_, i) => `await import("./block${i}.mjs");`).join("\n"));
    const run = spawnSync(process.execPath, ["main.mjs"], { cwd: dir, timeout: 60_000 });
    const stdout = run.stdout.toString();
    const stderr = run.stderr.toString();
    const code = `--- code ---\n${blocks.join("\n---\n")}`;
    assert.equal(run.status, 0, `the Quick start code failed:\n${stderr}\n${code}`);
    const line = stderr.split("\n").find((l) => l.startsWith("@@README "));
    assert.ok(line, `the snippet ran to its end:\n${stderr}`);
    const r = JSON.parse(line.slice("@@README ".length));
    t.diagnostic(`Quick start console output:\n${stdout.trim() || "(none)"}`);
    assert.ok(r.sealed.length > 0, `the snippet sealed something\n${code}`);
    assert.ok(r.opened.some((v) => r.sealed.includes(v)), `a sealed value came back from open: sealed ${r.sealed.join(", ")}; opened ${r.opened.join(", ")}`);
    if (/console\.log/.test(blocks.join("\n"))) assert.ok(stdout.trim().length > 0, "the snippet's console output is there");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

