// Where a vault's seen state (the newest manifest this device saw, record
// versions: rollback and fork detection) lives in a browser. In a vault
// worker (VaultWorker / serveVault) there is no localStorage: the host keeps
// it in IndexedDB, so a worker restart does not reset rollback protection to
// trust-on-first-use. In a page the default stays localStorage; the
// IndexedDB store round-trips and reports failures; a sandboxed frame (which
// may use neither) still works, with memory.
import { test } from "node:test";
import assert from "node:assert/strict";
import { withBrowserAndServer } from "./helpers.mjs";

const env = withBrowserAndServer();

/**
 * In `page`: creates a vault in a VaultWorker running `workerUrl` (the
 * package's own host script if undefined), adds a passkey (revision 2),
 * terminates the worker, starts another and unlocks the revision-1 manifest
 * there, then the revision-2 one.
 */
function createChangeRestart(page, workerUrl) {
  return page.evaluate(async (workerUrl) => {
    const { VaultWorker } = await import("/pkg/dist/remote.js");
    const rnd = () => crypto.getRandomValues(new Uint8Array(32));
    const credentialId = new Uint8Array([7, 7]);
    const prfOutput = rnd();
    const vw = VaultWorker.start(workerUrl);
    const { manifest: m1 } = await vw.create({ prf: { credentialId, prfSalt: rnd(), prfOutput } });
    const { manifest: m2 } = await vw.addPasskey({ prf: { credentialId: new Uint8Array([8, 8]), prfSalt: rnd(), prfOutput: rnd(), label: "phone" } });
    vw.terminate(); // the worker's memory is gone
    const again = VaultWorker.start(workerUrl);
    const old = await again.unlock(m1, { prf: { credentialId, prfOutput } }).then(() => "unlocked", (e) => e.code);
    const current = await again.unlock(m2, { prf: { credentialId, prfOutput } }).then((r) => r.status.unlocked, (e) => e.code);
    again.terminate();
    return { m1, m2, old, current, prfOutput: [...prfOutput] };
  }, workerUrl);
}

test("VaultWorker: the seen state survives a worker restart (IndexedDB): the revision-1 manifest is StaleManifest in a new worker", async () => {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  // Worker mode's page: it may not compile WebAssembly; the worker does.
  await page.goto(`${env.origin}/fixtures/worker-mode.nowasm.html`);
  const r = await createChangeRestart(page, undefined);
  assert.equal(r.m1.revision, 1);
  assert.equal(r.m2.revision, 2);
  assert.equal(r.old, "StaleManifest", "a new worker must remember that this device saw revision 2");
  assert.equal(r.current, true);

  // It is in IndexedDB, under the vault id (the page shares the worker's origin).
  const stored = await page.evaluate(async (vaultId) => {
    const db = await new Promise((ok, fail) => {
      const req = indexedDB.open("medseal-seen");
      req.onsuccess = () => ok(req.result);
      req.onerror = () => fail(req.error);
    });
    const stores = [...db.objectStoreNames];
    const value = await new Promise((ok, fail) => {
      const req = db.transaction("seen").objectStore("seen").get(vaultId);
      req.onsuccess = () => ok(req.result);
      req.onerror = () => fail(req.error);
    });
    db.close();
    return { stores, type: typeof value, length: value?.length ?? 0 };
  }, r.m1.vaultId);
  assert.deepEqual(stored.stores, ["seen"]);
  assert.equal(stored.type, "string");
  assert.ok(stored.length > 0);

  // A new page session (the tab reloaded: every worker gone) remembers too.
  await page.reload();
  const later = await page.evaluate(async ({ m1, m2, prfOutput }) => {
    const { VaultWorker } = await import("/pkg/dist/remote.js");
    const prf = { credentialId: new Uint8Array([7, 7]), prfOutput: new Uint8Array(prfOutput) };
    const vw = VaultWorker.start();
    const old = await vw.unlock(m1, { prf }).then(() => "unlocked", (e) => e.code);
    const current = await vw.unlock(m2, { prf }).then((x) => x.status.unlocked, (e) => e.code);
    await vw.persisted();
    vw.terminate();
    return { old, current };
  }, r);
  assert.deepEqual(later, { old: "StaleManifest", current: true });
  assert.deepEqual(errors, []);
  await context.close();
});

test("control: a vault worker whose host keeps the seen state in memory forgets it at a restart (the revision-1 manifest unlocks)", async () => {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${env.origin}/fixtures/worker-mode.nowasm.html`);
  const r = await createChangeRestart(page, "/fixtures/seen-memory-worker.js");
  assert.equal(r.m2.revision, 2);
  assert.equal(r.old, "unlocked", "with memory only, the new worker trusts the first manifest it is shown");
  assert.equal(r.current, true);
  await context.close();
});

test("page: seenStores.indexedDB round-trips and reports failures; the default store is still localStorage", async () => {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  await page.goto(`${env.origin}/fixtures/blank.html`);
  const r = await page.evaluate(async () => {
    const m = await import("/pkg/dist/index.js");
    await m.init();
    const rnd = () => crypto.getRandomValues(new Uint8Array(32));
    const credentialId = new Uint8Array([1, 2, 3]);
    const prfOutput = rnd();
    /** Opens `name` at `version`, running `upgrade(db)` if it is new; closes it again. */
    const makeDb = (name, version, upgrade = () => {}) =>
      new Promise((ok, fail) => {
        const req = indexedDB.open(name, version);
        req.onupgradeneeded = () => upgrade(req.result);
        req.onsuccess = () => ok(req.result.close());
        req.onerror = () => fail(req.error);
      });
    const out = {};

    // Round trip: nothing, then what was saved, then what replaced it (also through a second connection).
    const s = m.seenStores.indexedDB("medseal-seen-roundtrip");
    out.first = await s.load("vault-a");
    out.saveResult = await s.save("vault-a", "state-1");
    out.second = await s.load("vault-a");
    await s.save("vault-a", "state-2");
    out.third = await s.load("vault-a");
    out.otherConnection = await m.seenStores.indexedDB("medseal-seen-roundtrip").load("vault-a");
    out.otherVault = await s.load("vault-b");

    // A Vault with it: a rotated recovery code (revision 2) makes revision 1 stale for a later unlock.
    const idb = m.seenStores.indexedDB("medseal-seen-vault");
    const { vault, manifest: m1 } = await m.Vault.create({ prf: { credentialId, prfSalt: rnd(), prfOutput } }, { store: idb });
    const { manifest: m2 } = vault.rotateRecoveryCode();
    await vault.persisted();
    vault.lock();
    out.revisions = [m1.revision, m2.revision];
    out.staleWithIdb = await m.Vault.unlock(m1, { prf: { credentialId, prfOutput } }, { store: m.seenStores.indexedDB("medseal-seen-vault") }).then(() => "unlocked", (e) => e.code);

    // A database this store cannot open (a newer version of it): load rejects, and so does an unlock with it.
    await makeDb("medseal-seen-v2", 2);
    const newer = m.seenStores.indexedDB("medseal-seen-v2");
    out.openFails = await newer.load("x").then(() => "loaded", (e) => e.name);
    out.unlockWithIt = await m.Vault.unlock(m2, { prf: { credentialId, prfOutput } }, { store: newer }).then(() => "unlocked", (e) => `${e.code}: ${e.message}`);
    // A database without its object store: the transaction fails; persisted() reports the save.
    await makeDb("medseal-seen-empty", 1);
    const empty = m.seenStores.indexedDB("medseal-seen-empty");
    out.txFails = await empty.save("x", "y").then(() => "saved", (e) => e.name);
    const made = await m.Vault.create({ prf: { credentialId, prfSalt: rnd(), prfOutput: rnd() } }, { store: empty });
    out.persistedReports = await made.vault.persisted().then(() => "saved", (e) => `${e.code}: ${e.message}`);
    made.vault.lock();

    // The default in a page: localStorage, not IndexedDB.
    const { vault: d } = await m.Vault.create({ prf: { credentialId, prfSalt: rnd(), prfOutput: rnd() } });
    await d.persisted();
    out.defaultInLocalStorage = typeof localStorage.getItem(`medseal.seen.${d.vaultId()}`);
    d.lock();
    out.databases = (await indexedDB.databases()).map((x) => x.name).sort();
    return out;
  });
  assert.equal(r.first, null);
  assert.equal(r.saveResult, undefined);
  assert.equal(r.second, "state-1");
  assert.equal(r.third, "state-2");
  assert.equal(r.otherConnection, "state-2");
  assert.equal(r.otherVault, null);
  assert.deepEqual(r.revisions, [1, 2]);
  assert.equal(r.staleWithIdb, "StaleManifest");
  assert.equal(r.openFails, "VersionError");
  assert.match(r.unlockWithIt, /^InvalidArgument: the seen-state store failed to load: /);
  assert.equal(r.txFails, "NotFoundError");
  assert.match(r.persistedReports, /^InvalidArgument: the seen-state store failed to save: /);
  assert.equal(r.defaultInLocalStorage, "string");
  assert.deepEqual(r.databases, ["medseal-seen-empty", "medseal-seen-roundtrip", "medseal-seen-v2", "medseal-seen-vault"], "the default store in a page made no IndexedDB database");
  await context.close();
});

test("sandboxed frame (opaque origin: localStorage and IndexedDB both refused): the default falls back to memory and vaults still work", async () => {
  const context = await env.browser.newContext();
  const page = await context.newPage();
  // The frame's origin is opaque: its module and wasm fetches are cross-origin and need CORS.
  await page.route("**/pkg/**", async (route) => {
    const res = await route.fetch();
    await route.fulfill({ response: res, headers: { ...res.headers(), "access-control-allow-origin": "*" } });
  });
  await page.goto(`${env.origin}/fixtures/blank.html`);
  await page.evaluate(() => new Promise((ok) => {
    const f = document.createElement("iframe");
    f.sandbox = "allow-scripts";
    f.srcdoc = "<p>sandboxed</p>";
    f.onload = ok;
    document.body.append(f);
  }));
  const frame = page.frames().find((f) => f !== page.mainFrame());
  const r = await frame.evaluate(async (origin) => {
    const out = {};
    try {
      out.localStorage = typeof localStorage;
    } catch (e) {
      out.localStorage = e.name;
    }
    try {
      indexedDB.open("probe");
      out.indexedDB = "opened";
    } catch (e) {
      out.indexedDB = e.name;
    }
    const m = await import(`${origin}/pkg/dist/index.js`);
    await m.init();
    const rnd = () => crypto.getRandomValues(new Uint8Array(32));
    const prf = { credentialId: new Uint8Array([4]), prfOutput: rnd() };
    const { vault, manifest } = await m.Vault.create({ prf: { ...prf, prfSalt: rnd() } });
    vault.rotateRecoveryCode();
    out.persisted = await vault.persisted().then(() => "saved", (e) => e.message);
    vault.lock();
    // The same realm remembers (memory): the revision-1 manifest is stale here.
    out.unlock = await m.Vault.unlock(manifest, { prf }).then(() => "unlocked", (e) => e.code);
    return out;
  }, env.origin);
  assert.deepEqual(r, { localStorage: "SecurityError", indexedDB: "SecurityError", persisted: "saved", unlock: "StaleManifest" });
  await context.close();
});
