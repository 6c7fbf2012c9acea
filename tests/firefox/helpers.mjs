// Shared set-up for the Firefox tests: Debian's Firefox ESR, headless, driven
// by geckodriver (built by scripts/setup.sh) over WebDriver classic, plain
// HTTP from Node (no client library), with the WebDriver WebAuthn extension's
// virtual authenticator standing in for a passkey. Each test file starts its
// own geckodriver and session(s); geckodriver is ended by its pid in a finally.
//
// What Firefox's virtual authenticator does (153 ESR, seen here; see docs/BROWSERS.md):
// - it is Firefox's soft token: PRF is always on (`hasPrf` is ignored), so a
//   PRF-less authenticator cannot be made;
// - create() answers the PRF extension with `enabled: true` and no results,
//   so medseal must ask once more with get();
// - its PRF output is SHA-256("WebAuthn PRF" || 0x00 || input), the same for
//   every credential: never assert that two passkeys give different keys;
// - a discoverable get() with several credentials waits for an account chooser
//   that headless never shows: pass allowCredentials, or clear credentials.
import { after, before } from "node:test";
import { spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { createServer } from "node:http";
import { homedir } from "node:os";
import { delimiter, extname, join, normalize } from "node:path";
import { ROOT } from "../browser/helpers.mjs";

export { ROOT, serve, serveFiles, startReferenceServer } from "../browser/helpers.mjs";

/** The Firefox the tests drive (Debian's ESR, unless FIREFOX names another). */
export const FIREFOX_PATH = process.env.FIREFOX ?? "/usr/bin/firefox-esr";

/** geckodriver: GECKODRIVER, else on PATH, else where setup.sh's `cargo install` puts it. */
export const GECKODRIVER_PATH = process.env.GECKODRIVER ?? (() => {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) if (dir && existsSync(join(dir, "geckodriver"))) return join(dir, "geckodriver");
  return join(homedir(), ".cargo", "bin", "geckodriver");
})();

/** Firefox preferences: the soft token (the virtual authenticator) on, USB keys off, and no background network. */
export const FIREFOX_PREFS = {
  // Without these, create() waits for a USB security key forever.
  "security.webauth.webauthn_enable_softtoken": true,
  "security.webauth.webauthn_enable_usbtoken": false,
  // A closed network: nothing in the background that could slow or flake a test.
  "app.update.disabledForTesting": true,
  "app.normandy.enabled": false,
  "messaging-system.rsexperimentloader.enabled": false,
  "services.settings.server": "data:,",
  "datareporting.policy.dataSubmissionEnabled": false,
  "toolkit.telemetry.enabled": false,
  "network.captive-portal-service.enabled": false,
  "network.connectivity-service.enabled": false,
  "browser.safebrowsing.update.enabled": false,
  "extensions.getAddons.cache.enabled": false,
};

/** Short time limits: a ceremony that waits for a prompt must fail the test, not hang it. */
export const TIMEOUTS = { script: 30000, pageLoad: 30000, implicit: 0 };

/** The authenticator of WebDriver's WebAuthn extension, as a platform passkey with user verification. */
export const AUTHENTICATOR = {
  protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true,
  isUserConsenting: true, isUserVerified: true,
};

class WebDriverError extends Error {}

const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8", ".wasm": "application/wasm", ".json": "application/json",
};

/**
 * The static demo server's layout and headers (scripts/serve.mjs: the demo,
 * /pkg/, /fixtures/, the same CSP, `*.nowasm.html` pages without
 * 'wasm-unsafe-eval'), plus this folder's fixtures under /ff/ (page.html and
 * boot.js, through which tests import modules into the page: see boot.js).
 * `mounts` adds [prefix, folder] pairs in front.
 */
export async function serveTests({ mounts = [] } = {}) {
  const all = [
    ...mounts,
    ["/ff/", join(ROOT, "tests", "firefox", "fixtures")],
    ["/pkg/", join(ROOT, "pkg")],
    ["/fixtures/", join(ROOT, "tests", "browser", "fixtures")],
    ["/shared/", join(ROOT, "examples", "shared")],
    ["/", join(ROOT, "examples", "demo")],
  ];
  const server = createServer(async (req, res) => {
    try {
      let path = decodeURIComponent(new URL(req.url ?? "/", "http://localhost").pathname);
      if (path.endsWith("/")) path += "index.html";
      const [prefix, dir] = all.find(([p]) => path.startsWith(p));
      const file = normalize(join(dir, path.slice(prefix.length)));
      if (!file.startsWith(dir)) throw Object.assign(new Error("outside"), { status: 403 });
      if (!(await stat(file)).isFile()) throw Object.assign(new Error("not a file"), { status: 404 });
      const wasm = file.endsWith(".nowasm.html") ? "" : " 'wasm-unsafe-eval'";
      res.writeHead(200, {
        "content-type": TYPES[extname(file)] ?? "application/octet-stream",
        "cache-control": "no-store",
        "content-security-policy": `default-src 'self'; script-src 'self'${wasm}; style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'`,
        "x-content-type-options": "nosniff",
      });
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
 * The page's own JavaScript built-ins, bound over the sandbox's in every
 * script `eval` runs (WebDriver classic in Firefox runs scripts in a sandbox
 * whose Uint8Array, Object, Promise... are not the page's, so `instanceof`
 * across the two fails; literals stay the sandbox's).
 */
const PAGE_BUILTINS = [
  "Object", "Array", "ArrayBuffer", "SharedArrayBuffer", "DataView", "Uint8Array", "Uint8ClampedArray", "Int8Array", "Uint16Array",
  "Int16Array", "Uint32Array", "Int32Array", "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array", "JSON", "Promise",
  "Error", "TypeError", "RangeError", "Map", "Set", "WeakMap", "Date", "RegExp", "Symbol", "Reflect", "Proxy", "BigInt", "Number", "String",
  "Boolean", "Math", "WebAssembly",
];

/**
 * One geckodriver process with one Firefox session, over WebDriver classic.
 * `stop()` deletes the session and kills geckodriver by its pid.
 */
export class Firefox {
  static async start({ prefs = {}, width = 1280, height = 1000, systemAccess = false } = {}) {
    // --port 0 / --websocket-port 0: free ports, so sessions can run side by side (the port
    // chosen is read from geckodriver's "Listening on" log line, hence the default log level).
    // systemAccess: geckodriver's --allow-system-access (Firefox's --remote-allow-system-access), which
    // lets WebDriver navigate to moz-extension:// pages and run scripts in the browser's chrome
    // context (see `chrome()`); the extension test needs it, other tests run without it.
    const driverArgs = ["--port", "0", "--websocket-port", "0", ...(systemAccess ? ["--allow-system-access"] : [])];
    const proc = spawn(GECKODRIVER_PATH, driverArgs, { stdio: ["ignore", "pipe", "pipe"] });
    const ff = new Firefox(proc);
    try {
      ff.base = await new Promise((ok, fail) => {
        let out = "";
        const timer = setTimeout(() => fail(new Error(`geckodriver did not start: ${out}`)), 15000);
        const onData = (d) => {
          out += d;
          const m = /Listening on ([\d.]+:\d+)/.exec(out);
          if (m) { clearTimeout(timer); ok(`http://${m[1]}`); }
        };
        proc.stdout.on("data", onData);
        proc.stderr.on("data", onData);
        proc.on("error", (e) => { clearTimeout(timer); fail(new Error(`cannot run ${GECKODRIVER_PATH} (run scripts/setup.sh): ${e.message}`)); });
        proc.on("exit", (c) => { clearTimeout(timer); fail(new Error(`geckodriver exited ${c}: ${out}`)); });
      });
      proc.stdout.removeAllListeners("data");
      proc.stderr.removeAllListeners("data");
      proc.stdout.resume();
      proc.stderr.resume();
      const { sessionId, capabilities } = await ff.#send("POST", "/session", {
        capabilities: {
          alwaysMatch: {
            browserName: "firefox",
            timeouts: TIMEOUTS,
            "moz:firefoxOptions": {
              binary: FIREFOX_PATH,
              args: ["-headless", `--width=${width}`, `--height=${height}`],
              prefs: { ...FIREFOX_PREFS, ...prefs },
            },
          },
        },
      });
      ff.sessionId = sessionId;
      ff.capabilities = capabilities;
      return ff;
    } catch (e) {
      proc.kill("SIGKILL");
      throw e;
    }
  }

  constructor(proc) {
    this.proc = proc;
    this.base = "";
    this.sessionId = null;
  }

  get version() {
    return this.capabilities?.browserVersion;
  }

  async #send(method, path, body) {
    const res = await fetch(this.base + path, {
      method,
      headers: { "content-type": "application/json; charset=utf-8" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: globalThis.AbortSignal.timeout(TIMEOUTS.script + 15000),
    });
    const json = await res.json();
    if (!res.ok) throw new WebDriverError(`${method} ${path}: ${json.value?.error}: ${json.value?.message}`);
    return json.value;
  }

  cmd(method, path, body) {
    return this.#send(method, `/session/${this.sessionId}${path}`, body);
  }

  async stop() {
    try {
      if (this.sessionId) await this.#send("DELETE", `/session/${this.sessionId}`).catch(() => {});
    } finally {
      this.sessionId = null;
      if (this.proc.exitCode === null) {
        this.proc.kill("SIGTERM");
        const gone = new Promise((ok) => this.proc.once("exit", ok));
        const timer = setTimeout(() => this.proc.kill("SIGKILL"), 3000);
        await gone;
        clearTimeout(timer);
      }
    }
  }

  /** Navigates and waits for the load, then installs the page-error collector (see `errors()`). */
  async goto(url) {
    await this.cmd("POST", "/url", { url });
    await this.#collectErrors();
  }

  async reload() {
    await this.cmd("POST", "/refresh", {});
    await this.#collectErrors();
  }

  #collectErrors() {
    return this.cmd("POST", "/execute/sync", {
      script: `window.__errors ??= [];
        addEventListener("error", (e) => window.__errors.push("error: " + (e.error?.stack ?? e.message)));
        addEventListener("unhandledrejection", (e) => window.__errors.push("unhandledrejection: " + (e.reason?.stack ?? e.reason)));`,
      args: [],
    });
  }

  /** Uncaught errors and unhandled rejections in the page since it loaded (from the load event on). */
  errors() {
    return this.eval(() => window.__errors ?? []);
  }

  /**
   * Runs `fn(arg)` in the page and returns its (JSON) result; `fn` may be
   * async. An exception in the page comes back as an Error with the page's
   * name, code and stack.
   */
  async eval(fn, arg) {
    const script = `const { ${PAGE_BUILTINS.join(", ")} } = window;
      const structuredClone = (v) => window.structuredClone(v);
      const fn = (${fn});
      return Promise.resolve().then(() => fn(arguments[0])).then(
        (value) => ({ ok: true, value: value === undefined ? null : value }),
        (e) => ({ ok: false, name: e?.name, code: e?.code, message: String(e?.message ?? e), stack: String(e?.stack ?? "") }));`;
    const r = await this.cmd("POST", "/execute/sync", { script, args: [arg ?? null] });
    if (!r.ok) throw Object.assign(new Error(`in the page: ${r.name}: ${r.message}\n${r.stack}`), { name: r.name, code: r.code });
    return r.value;
  }

  /** Polls `fn(arg)` in the page until it returns something truthy. */
  async waitFor(fn, arg, { timeout = 20000, what = String(fn) } = {}) {
    const end = Date.now() + timeout;
    for (;;) {
      const v = await this.eval(fn, arg);
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Waits until the demo's status line matches `re`; fails with what it says instead. */
  async waitStatus(re, timeout = 20000) {
    try {
      await this.waitFor((src) => new RegExp(src).test(document.getElementById("status")?.textContent ?? ""), re.source, { timeout, what: `status ${re}` });
    } catch (e) {
      throw new Error(`status is "${await this.text("#status")}", wanted ${re}: ${e.message}`, { cause: e });
    }
  }

  async #element(css) {
    const el = await this.cmd("POST", "/element", { using: "css selector", value: css });
    return Object.values(el)[0];
  }

  /** A real click (WebDriver element click: scrolled into view, with user activation). */
  async click(css) {
    await this.cmd("POST", `/element/${await this.#element(css)}/click`, {});
  }

  /** Clears a field and types `text` into it (WebDriver key events). */
  async fill(css, text) {
    const id = await this.#element(css);
    await this.cmd("POST", `/element/${id}/clear`, {});
    await this.cmd("POST", `/element/${id}/value`, { text });
  }

  async text(css) {
    return this.eval((css) => document.querySelector(css)?.textContent ?? null, css);
  }

  /** A screenshot of the whole page (Firefox's full-page endpoint), written to `path`. */
  async screenshot(path) {
    const b64 = await this.cmd("GET", "/moz/screenshot/full").catch(() => this.cmd("GET", "/screenshot"));
    writeFileSync(path, Buffer.from(b64, "base64"));
  }

  // ---- Add-ons and the browser's chrome context (geckodriver's Firefox-only endpoints)

  /** Installs an add-on (an unpacked folder or an .xpi, absolute path) as a temporary add-on; returns its id. */
  installAddon(path) {
    return this.cmd("POST", "/moz/addon/install", { path, temporary: true });
  }

  uninstallAddon(id) {
    return this.cmd("POST", "/moz/addon/uninstall", { id });
  }

  /**
   * Runs `fn(arg)` in the browser's chrome (parent-process, privileged) context and returns its
   * JSON result; needs a session started with `systemAccess: true`. For what a page cannot do,
   * e.g. stopping an extension's background as Firefox does when it is idle.
   */
  async chrome(fn, arg) {
    await this.cmd("POST", "/moz/context", { context: "chrome" });
    try {
      return await this.cmd("POST", "/execute/sync", { script: `return (${fn})(arguments[0]);`, args: [arg ?? null] });
    } finally {
      await this.cmd("POST", "/moz/context", { context: "content" });
    }
  }

  // ---- WebDriver WebAuthn extension (https://w3c.github.io/webauthn/#sctn-automation)

  async addAuthenticator(options = {}) {
    return this.cmd("POST", "/webauthn/authenticator", { ...AUTHENTICATOR, ...options });
  }

  removeAuthenticator(id) {
    return this.cmd("DELETE", `/webauthn/authenticator/${id}`);
  }

  credentials(id) {
    return this.cmd("GET", `/webauthn/authenticator/${id}/credentials`);
  }

  removeAllCredentials(id) {
    return this.cmd("DELETE", `/webauthn/authenticator/${id}/credentials`);
  }
}

/**
 * Registers before/after hooks for a test file: a server (`start`, the static
 * demo server unless another is given: an object with `server` and `origin`)
 * and one Firefox session with a virtual authenticator; the returned object is
 * filled in by `before` with `ff`, `authenticatorId` and what `start` returned.
 */
export function withFirefox(start, setUp = async () => {}) {
  const env = { ff: null, authenticatorId: null, server: null, origin: "" };
  before(async () => {
    Object.assign(env, await start());
    env.ff = await Firefox.start();
    env.authenticatorId = await env.ff.addAuthenticator();
    await setUp(env);
  });
  after(async () => {
    try {
      await env.ff?.stop();
    } finally {
      env.server?.close?.();
      env.stop?.();
    }
  });
  return env;
}
