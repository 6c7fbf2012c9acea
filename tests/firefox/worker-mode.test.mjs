/* global vw, pageImport -- set in the page by the tests and tests/firefox/fixtures/boot.js */
// Web Worker mode in Firefox (tests/browser/worker-mode.test.mjs where the
// engine allows): the vault lives in a dedicated worker; the page, whose CSP
// forbids WebAssembly, runs the passkey ceremony and hands the PRF output over
// (transferred), and afterwards holds no vault and never fetched medseal's wasm.
import { test } from "node:test";
import assert from "node:assert/strict";
import { serveTests, withFirefox } from "./helpers.mjs";

const env = withFirefox(serveTests);
const rp = { name: "medseal tests" };
const user = { id: "user-0002", name: "pat@example.test", displayName: "Pat" };

test("worker mode: create, seal, reload, unlock, open across the worker boundary; the page holds no vault", async () => {
  const { ff, origin } = env;
  await ff.goto(`${origin}/ff/worker-mode.nowasm.html`);
  const pageWasm = await ff.eval(() => WebAssembly.compile(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])).then(() => "compiled", (e) => e.name));
  assert.equal(pageWasm, "CompileError", "the CSP must forbid wasm in the page");

  const made = await ff.eval(async ({ rp, user }) => {
    const { VaultWorker } = await pageImport("/pkg/dist/remote.js");
    const vw = VaultWorker.start();
    const { manifest, recoveryCode } = await vw.create({ passkey: { rp, user, label: "laptop" } });
    const sealed = await vw.seal({ med: "MARKER-metformin 500mg" }, { recordId: "m-1" });
    const opened = await vw.open(sealed, { recordId: "m-1" });
    const wrongId = await vw.open(sealed, { recordId: "m-2" }).catch((e) => e.code);
    return { manifest, recoveryCode, sealed, opened, wrongId, status: await vw.status() };
  }, { rp, user });
  assert.deepEqual(made.opened, { med: "MARKER-metformin 500mg" });
  assert.equal(made.wrongId, "DecryptionFailed");
  assert.equal(made.status.unlocked, true);
  assert.equal(made.status.vaultId, made.manifest.vaultId);

  await ff.reload();
  const after = await ff.eval(async ({ manifest, sealed }) => {
    // Keep the credential the browser returns, to check its PRF buffer afterwards.
    const get = navigator.credentials.get.bind(navigator.credentials);
    let cred;
    navigator.credentials.get = async (o) => (cred = await get(o));
    // Record what the page transfers to the worker: the PRF output must move, not stay.
    const transferred = [];
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (msg, transfer) {
      for (const t of transfer ?? []) if (t instanceof ArrayBuffer) transferred.push(t);
      return post.call(this, msg, transfer);
    };
    const { VaultWorker } = await pageImport("/pkg/dist/remote.js");
    const vw = VaultWorker.start();
    const locked = await vw.open(sealed, { recordId: "m-1" }).catch((e) => e.code);
    const unlocked = await vw.unlock(manifest, { passkey: true }, { minRevision: manifest.revision });
    window.vw = vw; // the page keeps only the client
    const opened = await vw.open(sealed, { recordId: "m-1" });
    const many = await vw.openMany([{ sealed, recordId: "m-1" }, { sealed, recordId: "x" }]);
    const prf = new Uint8Array(cred.getClientExtensionResults().prf.results.first);
    return {
      locked, opened, unlocked,
      many: many.map((o) => (o.ok ? o.value : o.error.code)),
      prfLeftInPage: prf.some((b) => b !== 0),
      transferred: transferred.map((b) => b.byteLength),
      wasmFetchedByPage: performance.getEntriesByType("resource").some((r) => r.name.endsWith(".wasm")),
      // Globals holding anything vault-like: only the client itself.
      globals: Object.getOwnPropertyNames(window).flatMap((k) => {
        let v;
        try { v = window[k]; } catch { return []; }
        const name = v && typeof v === "object" ? v.constructor?.name ?? "" : "";
        return /vault|wasm/i.test(name) ? [`${k}: ${name}`] : [];
      }),
    };
  }, made);
  assert.equal(after.locked, "Locked");
  assert.deepEqual(after.unlocked, { status: { unlocked: true, vaultId: made.manifest.vaultId } });
  assert.deepEqual(after.opened, { med: "MARKER-metformin 500mg" });
  assert.deepEqual(after.many, [{ med: "MARKER-metformin 500mg" }, "DecryptionFailed"]);
  // (Not asserted here: that the browser's PRF buffer is all zero afterwards. In Firefox it is not
  // wipeable: see the skipped test below.)
  assert.deepEqual(after.transferred, [0], "the page's copy of the PRF output moved to the worker (detached here)");
  assert.equal(after.wasmFetchedByPage, false, "the page itself must not load medseal's wasm");
  assert.deepEqual(after.globals, ["vw: VaultWorker"]);

  // Recovery code unlock goes through the worker too.
  const rec = await ff.eval(async ({ manifest, recoveryCode, sealed }) => {
    await vw.lock();
    const locked = await vw.open(sealed, { recordId: "m-1" }).catch((e) => e.code);
    await vw.unlock(manifest, { recoveryCode });
    return { locked, opened: await vw.open(sealed, { recordId: "m-1" }) };
  }, made);
  assert.deepEqual(rec, { locked: "Locked", opened: { med: "MARKER-metformin 500mg" } });
  assert.deepEqual(await ff.errors(), []);
});

// FIREFOX BUG (medseal's wipe claim, docs/SECURITY.md "copied out of the credential, whose buffer is
// wiped"; docs/BROWSERS.md): Firefox's getClientExtensionResults() builds a new object with a fresh
// ArrayBuffer copy of the PRF output at every call, and toJSON() serializes it again, so wiping the
// buffer medseal was given leaves the output readable from the credential for as long as the
// credential is reachable. Remove `skip` to reproduce (fails: prfLeftInPage and toJSON carry it).
test("the browser's PRF buffer is all zero after unlock (the credential keeps no PRF output)", {
  skip: "Firefox bug: getClientExtensionResults() returns a fresh copy of the PRF output at every call (and toJSON() re-serializes it), so medseal cannot wipe the browser's copy; see docs/BROWSERS.md",
}, async () => {
  const { ff, origin } = env;
  await ff.goto(`${origin}/ff/page.html`);
  const r = await ff.eval(async ({ rp, user }) => {
    const ms = await pageImport("/pkg/dist/index.js");
    await ms.init();
    const { manifest } = await ms.Vault.create({ passkey: { rp, user } });
    const get = navigator.credentials.get.bind(navigator.credentials);
    let cred;
    navigator.credentials.get = async (o) => (cred = await get(o));
    await ms.Vault.unlock(manifest, { passkey: true });
    return {
      prfLeftInPage: new Uint8Array(cred.getClientExtensionResults().prf.results.first).some((b) => b !== 0),
      toJSON: cred.toJSON().clientExtensionResults.prf?.results?.first ?? null,
    };
  }, { rp, user });
  assert.equal(r.prfLeftInPage, false, "the browser's PRF buffer must be wiped");
  assert.ok(r.toJSON === null || /^A+$/.test(r.toJSON), `toJSON() still carries the PRF output: ${r.toJSON}`);
});

test("the page's heap holds no vault (heap snapshot), with a page holding one as the control", {
  skip: "needs a heap snapshot of the page: Chromium's DevTools HeapProfiler has one, WebDriver (classic or BiDi) in Firefox has none; the resource, globals and transfer checks above run here",
}, () => {});
