// The static demo (examples/demo, served by scripts/serve.mjs) end to end in
// headless Firefox ESR with the WebDriver virtual authenticator (Firefox's soft
// token): tests/browser/demo.test.mjs where the engine allows. Create a vault
// with a passkey (Firefox's create() gives no PRF output, so medseal's
// create-then-get path runs: counted below), seal records, reload, unlock with
// the passkey, read them back; what the page stores holds no plaintext.
import { test } from "node:test";
import assert from "node:assert/strict";
import { serve, withFirefox } from "./helpers.mjs";

const env = withFirefox(serve);

test("create with a passkey, seal, reload, unlock with the passkey, open", async () => {
  const { ff, origin, authenticatorId } = env;
  await ff.removeAllCredentials(authenticatorId);
  await ff.goto(`${origin}/`);
  await ff.waitStatus(/No vault yet/);
  // Count the ceremonies the page runs (the app calls navigator.credentials from its click handlers).
  await ff.eval(() => {
    window.__calls = [];
    for (const name of ["create", "get"]) {
      const orig = navigator.credentials[name].bind(navigator.credentials);
      navigator.credentials[name] = async (o) => {
        const cred = await orig(o);
        window.__calls.push(name);
        return cred;
      };
    }
  });

  await ff.click("#create");
  await ff.waitStatus(/Vault created/);
  const code = await ff.text("#recovery-code");
  assert.match(code, /^[0-9A-Z]{4}(-[0-9A-Z]{4}){7}$/);
  // Firefox: PRF is enabled at create() but its output comes only from a get(); medseal asked once more.
  assert.deepEqual(await ff.eval(() => window.__calls), ["create", "get"]);
  await ff.click("#recovery-done");

  const markers = ["MARKER-penicillin-anaphylaxis", "MARKER-metformin-500mg"];
  for (const m of markers) {
    await ff.fill("#text", m);
    await ff.click("#seal");
    await ff.waitFor((m) => document.getElementById("records").textContent.includes(m), m, { what: `record ${m}` });
  }

  // What the page keeps (our stand-in for a server) is ciphertext only.
  const stored = await ff.eval(() => JSON.stringify({ ...localStorage }));
  for (const m of markers) assert.ok(!stored.includes(m), "plaintext found in storage");
  assert.ok(!stored.includes(code.replaceAll("-", "")) && !stored.includes(code), "recovery code found in storage");
  assert.match(stored, /ms2\./);
  assert.doesNotMatch(stored, /ms1\./, "records are sealed in format 2");

  await ff.reload();
  await ff.waitStatus(/unlock it with your passkey/);
  assert.ok(!(await ff.text("#records")).includes(markers[0]), "records readable before unlock");
  await ff.click("#unlock");
  await ff.waitStatus(/Unlocked/);
  for (const m of markers) assert.ok((await ff.text("#records")).includes(m));

  // Firefox runs SIMD128: init() loaded that build, and never fell back to the scalar one.
  const wasmFiles = await ff.eval(() => performance.getEntriesByType("resource").map((r) => r.name).filter((n) => n.endsWith(".wasm")).map((n) => n.split("/").pop()));
  assert.ok(wasmFiles.length > 0 && wasmFiles.every((f) => f === "medseal_wasm_bg.wasm"), `wasm loaded: ${wasmFiles}`);

  await ff.click("#lock");
  await ff.waitStatus(/Locked/);
  assert.ok(!(await ff.text("#records")).includes(markers[0]));
  if (process.env.MEDSEAL_FIREFOX_DEMO_SCREENSHOT) await ff.screenshot(process.env.MEDSEAL_FIREFOX_DEMO_SCREENSHOT);
  assert.deepEqual(await ff.errors(), []);
});

test("a passkey without PRF gets a clear refusal, not a broken vault", {
  skip: "Firefox's WebDriver virtual authenticator is its soft token, which always evaluates PRF (hasPrf and extensions are ignored): a PRF-less authenticator cannot be made",
}, () => {});
