// Web Worker mode: the vault lives in a dedicated worker; the page runs the
// passkey ceremony, hands the PRF output over (transferred), and afterwards
// holds no vault, no wasm instance and no key material. Checked with a heap
// snapshot of the page, with a page that does hold a vault as the control.
import { test } from "node:test";
import assert from "node:assert/strict";
import { passkeyPage, withBrowserAndServer } from "./helpers.mjs";

const env = withBrowserAndServer();
const rp = { name: "medseal tests" };
const user = { id: "user-0002", name: "pat@example.test", displayName: "Pat" };

/** Object nodes in the page's heap whose constructor is one of `names`. */
async function heapObjects(page, names) {
  const cdp = await page.context().newCDPSession(page);
  const chunks = [];
  cdp.on("HeapProfiler.addHeapSnapshotChunk", (e) => chunks.push(e.chunk));
  await cdp.send("HeapProfiler.enable");
  await cdp.send("HeapProfiler.collectGarbage");
  await cdp.send("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
  await cdp.detach();
  const snap = JSON.parse(chunks.join(""));
  const f = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const [ti, ni] = [f.indexOf("type"), f.indexOf("name")];
  const found = {};
  for (let i = 0; i < snap.nodes.length; i += f.length) {
    const type = types[snap.nodes[i + ti]];
    const name = snap.strings[snap.nodes[i + ni]];
    if ((type === "object" || type === "native") && names.includes(name)) found[name] = (found[name] ?? 0) + 1;
  }
  return found;
}

// (WebAssembly.Memory/Instance nodes exist in every page's heap as built-ins, so the
// wasm check is the resource list: the page never fetches medseal's module.)
const VAULT_OBJECTS = ["Vault", "VaultHandle", "HandoffReceiver", "VaultReceiver"];

test("worker mode: create, seal, reload, unlock, open across the worker boundary; the page holds no vault", async () => {
  const { context, page, errors } = await passkeyPage(env.browser);
  // This page may not compile WebAssembly at all (script-src 'self'); the worker may.
  const resp = await page.goto(`${env.origin}/fixtures/worker-mode.nowasm.html`);
  assert.match(resp.headers()["content-security-policy"], /script-src 'self';/);
  const pageWasm = await page.evaluate(() => WebAssembly.compile(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0])).then(() => "compiled", (e) => e.name));
  assert.equal(pageWasm, "CompileError", "the CSP must forbid wasm in the page");

  const made = await page.evaluate(async ({ rp, user }) => {
    const { VaultWorker } = await import("/pkg/dist/remote.js");
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

  await page.reload();
  const after = await page.evaluate(async ({ manifest, sealed }) => {
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
    const { VaultWorker } = await import("/pkg/dist/remote.js");
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
      globals: Object.getOwnPropertyNames(globalThis).flatMap((k) => {
        let v;
        try { v = globalThis[k]; } catch { return []; }
        const name = v && typeof v === "object" ? v.constructor?.name ?? "" : "";
        return /vault|wasm/i.test(name) ? [`${k}: ${name}`] : [];
      }),
    };
  }, made);
  assert.equal(after.locked, "Locked");
  assert.deepEqual(after.unlocked, { status: { unlocked: true, vaultId: made.manifest.vaultId } });
  assert.deepEqual(after.opened, { med: "MARKER-metformin 500mg" });
  assert.deepEqual(after.many, [{ med: "MARKER-metformin 500mg" }, "DecryptionFailed"]);
  assert.equal(after.prfLeftInPage, false, "the browser's PRF buffer must be wiped");
  assert.deepEqual(after.transferred, [0], "the page's copy of the PRF output moved to the worker (detached here)");
  assert.equal(after.wasmFetchedByPage, false, "the page itself must not load medseal's wasm");
  assert.deepEqual(after.globals, ["vw: VaultWorker"]);

  // The page's heap: no vault, no wasm instance or memory.
  assert.deepEqual(await heapObjects(page, VAULT_OBJECTS), {});
  // Recovery code unlock goes through the worker too.
  const rec = await page.evaluate(async ({ manifest, recoveryCode, sealed }) => {
    await vw.lock();
    const locked = await vw.open(sealed, { recordId: "m-1" }).catch((e) => e.code);
    await vw.unlock(manifest, { recoveryCode });
    return { locked, opened: await vw.open(sealed, { recordId: "m-1" }) };
  }, made);
  assert.deepEqual(rec, { locked: "Locked", opened: { med: "MARKER-metformin 500mg" } });
  assert.deepEqual(errors, []);
  await context.close();
});

test("control: the heap check does see a vault held by the page itself (medseal in a strict-CSP page)", async () => {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  const resp = await page.goto(`${env.origin}/fixtures/blank.html`);
  assert.match(resp.headers()["content-security-policy"], /script-src 'self' 'wasm-unsafe-eval';/);
  await page.evaluate(async () => {
    const m = await import("/pkg/dist/index.js");
    await m.init();
    const prfSalt = m.webauthn.newPrfSalt();
    window.held = (await m.Vault.create({ prf: { credentialId: new Uint8Array([1, 2, 3]), prfSalt, prfOutput: new Uint8Array(32).fill(7) } })).vault;
  });
  const found = await heapObjects(page, VAULT_OBJECTS);
  assert.ok(found.Vault >= 1 && found.VaultHandle >= 1, `expected a Vault and its handle in the heap, found ${JSON.stringify(found)}`);
  await context.close();
});
