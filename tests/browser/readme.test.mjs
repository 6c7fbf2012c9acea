// The README's "Quick start" block, run as it stands: the first ```js block
// under "## Quick start" is served verbatim as a module (the bare specifier
// "medseal" resolved by an import map to the built package's browser entry)
// in headless Chromium with a virtual passkey that has PRF. If the block
// throws, stops printing what its comments promise, or the API it shows
// changes, this test fails: the README cannot rot.
//   node --test tests/browser/readme.test.mjs   (needs pkg/ built)
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const pkgDir = join(root, "pkg");

// Same Chromium and flags as tests/browser/helpers.mjs (copied: that file is shared and moving).
const CHROMIUM_ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
];
const CHROMIUM_PATH = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** The first fenced block of `lang` under the heading line `heading` (up to the next heading of the same or a higher level). */
function blockUnder(markdown, heading, lang = "js") {
  const lines = markdown.split("\n");
  const at = lines.findIndex((l) => l.trim() === heading);
  if (at < 0) throw new Error(`README has no heading ${JSON.stringify(heading)}`);
  const level = heading.match(/^#+/)[0].length;
  let inside = false;
  const body = [];
  for (const line of lines.slice(at + 1)) {
    if (!inside) {
      const h = line.match(/^(#+)\s/);
      if (h && h[1].length <= level) break;
      if (line.trim() === "```" + lang) inside = true;
      continue;
    }
    if (line.trim() === "```") return body.join("\n") + "\n";
    body.push(line);
  }
  throw new Error(`no complete \`\`\`${lang} block under ${JSON.stringify(heading)}`);
}

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8", ".wasm": "application/wasm", ".json": "application/json", ".map": "application/json" };

/** Serves `pages` (path -> [type, text]) and pkg/ under /pkg/, on localhost (a secure context for WebAuthn). */
async function startServer(pages) {
  const server = createServer(async (req, res) => {
    try {
      const path = decodeURIComponent(new URL(req.url ?? "/", "http://localhost").pathname);
      if (pages[path]) {
        const [type, text] = pages[path];
        res.writeHead(200, { "content-type": type, "cache-control": "no-store" });
        return res.end(text);
      }
      if (!path.startsWith("/pkg/")) throw Object.assign(new Error("not found"), { status: 404 });
      const file = normalize(join(pkgDir, path.slice("/pkg/".length)));
      if (!file.startsWith(pkgDir + "/")) throw Object.assign(new Error("outside"), { status: 403 });
      if (!(await stat(file)).isFile()) throw Object.assign(new Error("not a file"), { status: 404 });
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
      res.end(await readFile(file));
    } catch (e) {
      const status = e.status ?? (e.code === "ENOENT" ? 404 : 500);
      res.writeHead(status, { "content-type": "text/plain" });
      res.end(String(status));
    }
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return server;
}

let server, browser, origin, snippet;

before(async () => {
  const readme = await readFile(join(root, "README.md"), "utf8");
  snippet = blockUnder(readme, "## Quick start");
  const page = `<!doctype html>
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
  server = await startServer({
    "/": ["text/html; charset=utf-8", page],
    "/quick-start.mjs": ["text/javascript; charset=utf-8", snippet],
    "/favicon.ico": ["image/x-icon", ""], // else Chromium's own request logs a 404 as a console error
  });
  origin = `http://localhost:${server.address().port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  server?.close();
});

test("the Quick start block is the one the README shows, importing medseal", () => {
  assert.match(snippet, /from "medseal"/, "the block imports the package by its name");
  assert.match(snippet, /Vault\.create\(/);
  assert.match(snippet, /Vault\.unlock\(/);
});

test("README Quick start runs unchanged in Chromium with a PRF passkey", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  try {
    const cdp = await context.newCDPSession(page);
    await cdp.send("WebAuthn.enable");
    const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: {
        protocol: "ctap2", ctap2Version: "ctap2_1", transport: "internal",
        hasResidentKey: true, hasUserVerification: true, isUserVerified: true,
        hasPrf: true, automaticPresenceSimulation: true,
      },
    });

    const logs = []; // each console call: its arguments as JSON values
    const pending = [];
    const errors = [];
    page.on("console", (msg) => {
      if (msg.type() === "error") errors.push(`console.error: ${msg.text()}`);
      const at = logs.push(null) - 1; // keep the order of the calls, not of their values' arrival
      pending.push(Promise.all(msg.args().map((a) => a.jsonValue().catch(() => msg.text()))).then((args) => (logs[at] = { type: msg.type(), args })));
    });
    page.on("pageerror", (e) => errors.push(`pageerror: ${e.stack ?? e.message}`));
    const failed = [];
    page.on("requestfailed", (r) => failed.push(`${r.url()}: ${r.failure()?.errorText}`));
    page.on("response", (r) => {
      if (r.status() >= 400) failed.push(`${r.url()}: HTTP ${r.status()}`);
    });

    await page.goto(`${origin}/`);
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
