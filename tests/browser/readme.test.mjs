// The README's "Quick start" block, run as it stands: the first ```js block
// under "## Quick start" is served verbatim as a module (the bare specifier
// "medseal" resolved by an import map to the built package's browser entry)
// in headless Chromium with a virtual passkey that has PRF. If the block
// throws, stops printing what its comments promise, or the API it shows
// changes, this test fails: the README cannot rot.
//   node --test tests/browser/readme.test.mjs   (needs pkg/ built)
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT, passkeyPage, readmeBlock, serveFiles, withBrowserAndServer } from "./helpers.mjs";

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>README quick start</title>
<script type="importmap">{ "imports": { "medseal": "/pkg/dist/index.js" } }</script>
<script type="module">
  // The snippet is its own module, so it runs exactly as written; this only reports how it ended.
  try {
    await import("/quick-start.mjs");
    window.__readme = { ok: true };
  } catch (e) {
    window.__readme = { ok: false, error: String(e && e.stack || e), code: e && e.code };
  }
</script>
`;

// The page and the snippet, and pkg/ under /pkg/.
const env = withBrowserAndServer(async () => {
  const snippet = await readmeBlock("## Quick start");
  const pages = {
    "/": PAGE,
    "/quick-start.mjs": snippet,
    "/favicon.ico": "", // else Chromium's own request logs a 404 as a console error
  };
  return { snippet, ...(await serveFiles({ pages, mounts: [["/pkg/", join(ROOT, "pkg")]] })) };
});

test("the Quick start block is the one the README shows, importing medseal", () => {
  assert.match(env.snippet, /from "medseal"/, "the block imports the package by its name");
  assert.match(env.snippet, /Vault\.create\(/);
  assert.match(env.snippet, /Vault\.unlock\(/);
});

test("README Quick start runs unchanged in Chromium with a PRF passkey", async () => {
  const { context, page, errors, auth: { cdp, authenticatorId } } = await passkeyPage(env.browser);
  try {
    const logs = []; // each console call: its arguments as JSON values
    const pending = [];
    page.on("console", (msg) => {
      if (msg.type() === "error") errors.push(`console.error: ${msg.text()}`);
      const at = logs.push(null) - 1; // keep the order of the calls, not of their values' arrival
      pending.push(Promise.all(msg.args().map((a) => a.jsonValue().catch(() => msg.text()))).then((args) => (logs[at] = { type: msg.type(), args })));
    });
    const failed = [];
    page.on("requestfailed", (r) => failed.push(`${r.url()}: ${r.failure()?.errorText}`));
    page.on("response", (r) => {
      if (r.status() >= 400) failed.push(`${r.url()}: HTTP ${r.status()}`);
    });

    await page.goto(`${env.origin}/`);
    await page.waitForFunction(() => window.__readme !== undefined, null, { timeout: 30_000 });
    const outcome = await page.evaluate(() => window.__readme);
    await Promise.all(pending);

    assert.deepEqual(failed, [], "every file the page loads is served");
    assert.equal(outcome.ok, true, `the Quick start block threw: ${outcome.error}${outcome.code ? ` (code ${outcome.code})` : ""}`);
    assert.deepEqual(errors, [], "no page error and no console.error");
    const printed = logs.filter((l) => l.type === "log").map((l) => l.args);
    assert.deepEqual(printed, [[{ allergy: "penicillin" }], ["refused: wrong record id"]], "prints the opened record, then the refusal, and nothing else");

    // The block really used a passkey: the virtual authenticator holds the one it created.
    const { credentials } = await cdp.send("WebAuthn.getCredentials", { authenticatorId });
    assert.equal(credentials.length, 1, "one passkey registered by Vault.create");
    assert.equal(credentials[0].isResidentCredential, true);
  } finally {
    await context.close();
  }
});
