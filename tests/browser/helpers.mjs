// Shared set-up for browser tests: Debian's Chromium driven by playwright-core,
// with Chromium's DevTools virtual authenticator standing in for a passkey.
import { before, after } from "node:test";
import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startServer } from "../../scripts/serve.mjs";

/** The repository's root folder. */
export const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));

export const CHROMIUM_ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
];

/** The Chromium the tests drive (Debian's, unless CHROMIUM names another). */
export const CHROMIUM_PATH = process.env.CHROMIUM ?? "/usr/bin/chromium";

export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}

/** The static demo server (scripts/serve.mjs) on a free port. */
export async function serve() {
  const server = await startServer(0);
  return { server, origin: `http://localhost:${server.address().port}` };
}

const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm", ".json": "application/json", ".map": "application/json", ".ico": "image/x-icon",
};

/**
 * A server for a test's own pages, on localhost (a secure context for
 * WebAuthn): `pages` maps paths to texts (typed by the path's extension, HTML
 * without one), `mounts` lists [path prefix, folder] pairs served as files,
 * and `post(req, res, path)`, if given, answers every POST.
 */
export async function serveFiles({ pages = {}, mounts = [], post } = {}) {
  const server = createServer(async (req, res) => {
    try {
      const path = decodeURIComponent(new URL(req.url ?? "/", "http://localhost").pathname);
      if (post && req.method === "POST") return await post(req, res, path);
      if (path in pages) {
        res.writeHead(200, { "content-type": TYPES[extname(path)] ?? TYPES[".html"], "cache-control": "no-store" });
        return res.end(pages[path]);
      }
      const mount = mounts.find(([prefix]) => path.startsWith(prefix));
      if (!mount) throw Object.assign(new Error("not found"), { status: 404 });
      const [prefix, dir] = mount;
      const file = normalize(join(dir, path.slice(prefix.length)));
      if (!file.startsWith(dir + "/")) throw Object.assign(new Error("outside"), { status: 403 });
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
  // localhost, not 127.0.0.1: an IP address cannot be a WebAuthn RP id.
  return { server, origin: `http://localhost:${server.address().port}` };
}

/**
 * Registers before/after hooks that start a server (the static demo server
 * unless `start` returns another: an object with `server` and `origin`) and
 * one Chromium for the file's tests, then run `setUp(env)`; the returned
 * object is filled in by `before` with `browser` and what `start` returned.
 * (One hook for it all: Node 20 runs a file's top-level `before` hooks concurrently.)
 */
export function withBrowserAndServer(start = serve, setUp = async () => {}) {
  const env = { browser: null, server: null, origin: "" };
  before(async () => {
    Object.assign(env, await start());
    env.browser = await launch();
    await setUp(env);
  });
  after(async () => {
    await env.browser?.close();
    env.server?.close();
  });
  return env;
}

/** Adds a virtual platform authenticator (user-verifying, PRF on or off) to a page. */
export async function addAuthenticator(page, { hasPrf = true } = {}) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2", ctap2Version: "ctap2_1", transport: "internal",
      hasResidentKey: true, hasUserVerification: true, isUserVerified: true,
      hasPrf, automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}

/**
 * A page in a fresh context of `browser`, with a virtual authenticator
 * (`auth`, as from addAuthenticator) and `errors`, which collects the page's
 * uncaught errors.
 */
export async function passkeyPage(browser, { hasPrf = true } = {}) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.stack ?? e.message}`));
  const auth = await addAuthenticator(page, { hasPrf });
  return { context, page, errors, auth };
}

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

/** A README block: `blockUnder` applied to the repository's README.md. */
export async function readmeBlock(heading, lang = "js") {
  return blockUnder(await readFile(join(ROOT, "README.md"), "utf8"), heading, lang);
}

/**
 * The reference server (examples/server, built by `cargo build -p
 * medseal-server`) on a free port with a fresh data folder: its origin, its
 * SQLite file, `sql(query)` (sqlite3's rows as JSON), `dbBytes()` (the
 * database and its write-ahead log, where recent writes live) and `stop()`
 * (also removes the folder). MEDSEAL_SERVER_BIN names another build.
 */
export async function startReferenceServer(prefix = "medseal-server-") {
  const { spawn, execFileSync } = await import("node:child_process");
  const { existsSync, mkdtempSync, readFileSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const dataDir = mkdtempSync(join(tmpdir(), prefix));
  const db = join(dataDir, "medseal.sqlite3");
  const bin = process.env.MEDSEAL_SERVER_BIN ?? join(ROOT, "target", "debug", "medseal-server");
  const proc = spawn(bin, [], { env: { ...process.env, MEDSEAL_ADDR: "127.0.0.1:0", MEDSEAL_DATA: dataDir }, stdio: ["ignore", "pipe", "pipe"] });
  proc.stderr.on("data", () => {});
  const origin = await new Promise((ok, fail) => {
    proc.stdout.on("data", (d) => {
      const m = /(http:\/\/localhost:\d+)\//.exec(String(d));
      if (m) ok(m[1]);
    });
    proc.on("exit", (c) => fail(new Error(`server exited ${c}`)));
  });
  return {
    origin,
    dataDir,
    db,
    sql(query) {
      const out = execFileSync("sqlite3", ["-json", db, query], { encoding: "utf8" });
      return out.trim() ? JSON.parse(out) : [];
    },
    dbBytes: () => Buffer.concat([db, `${db}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f))),
    stop() {
      proc.kill();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Waits until the demo's status line matches `re`; fails with what it says instead. */
export async function waitStatus(page, re, timeout = 20000) {
  await page.waitForFunction((src) => new RegExp(src).test(document.getElementById("status").textContent), re.source, { timeout }).catch(async (e) => {
    throw new Error(`status is "${await page.textContent("#status")}", wanted ${re}: ${e.message}`);
  });
}

/**
 * In the demo, opens the share listed under "Shared with me" whose row holds
 * `rowText`; returns the details of its records. The view is cleared first,
 * so the rows read are this open's, not an earlier one's still on screen.
 */
export async function openShared(page, rowText) {
  await page.click("#shared-refresh");
  await page.evaluate(() => {
    document.getElementById("shared-records").replaceChildren();
    document.getElementById("shared-view").hidden = true;
  });
  const row = page.locator("#incoming tr", { hasText: rowText });
  await row.getByRole("button", { name: "Open" }).click();
  await page.waitForSelector("#shared-view:not([hidden])");
  return page.$$eval("#shared-records tr", (rows) => rows.map((r) => r.children[1].textContent));
}
