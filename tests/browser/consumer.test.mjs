// A consumer project outside the repository: installs the `npm pack` tarball,
// type-checks its TypeScript against the package's .d.ts with `tsc --strict`,
// bundles it with esbuild, Vite and webpack 5, and runs a seal/open in
// Chromium from each bundle. The bundlers must take the browser entry (the
// package's "node" condition is for Node only), emit both .wasm builds, and
// print no warning about medseal; Node itself takes the "node" entry.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { build } from "esbuild";
import { launch } from "./helpers.mjs";

const repo = resolve(fileURLToPath(new URL("../..", import.meta.url)));
let dir, browser;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), "medseal-consumer-"));
  browser = await launch();
  const packed = execFileSync("npm", ["pack", join(repo, "pkg"), "--pack-destination", dir, "--silent"], { encoding: "utf8" }).trim().split("\n").pop();
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--silent", join(dir, packed)], { cwd: dir });
});
after(async () => {
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const MAIN_TS = `
import { init, Vault, MedsealError, ErrorCode, webauthn, type Manifest, type OpenOutcome } from "medseal";
import wasmUrl from "medseal/medseal.wasm";

async function main(): Promise<string> {
  await init(new URL(wasmUrl, location.href));
  const prfOutput: Uint8Array = crypto.getRandomValues(new Uint8Array(32));
  const prfSalt: Uint8Array = webauthn.newPrfSalt();
  const created = await Vault.create({ prf: { credentialId: new Uint8Array([1, 2, 3]), prfSalt, prfOutput } });
  const manifest: Manifest = created.manifest;
  const code: string = created.recoveryCode;
  const sealed: string = created.vault.seal({ med: "MARKER-ibuprofen" }, { recordId: "m-1" });
  const bytes: Uint8Array = created.vault.seal({ med: "MARKER-ibuprofen" }, { recordId: "m-1", form: "bytes" });
  const { vault: again } = await Vault.unlock(manifest, { prf: { credentialId: new Uint8Array([1, 2, 3]), prfOutput } }, { minRevision: manifest.revision });
  const back = again.open<{ med: string }>(sealed, { recordId: "m-1" });
  const outcomes: OpenOutcome<{ med: string }>[] = again.openMany<{ med: string }>([{ sealed: bytes, recordId: "m-1" }, { sealed, recordId: "x" }]);
  const large: string = await again.sealLarge(new Uint8Array(70_000), { recordId: "scan", context: "imaging" });
  const largeBack: Uint8Array = await again.openLarge<Uint8Array>(large, { recordId: "scan", context: "imaging" });
  const { vault: viaCode } = await Vault.unlock(manifest, { recoveryCode: code });
  const id: string = viaCode.vaultId();
  const rotated: { manifest: Manifest; recoveryCode: string } = viaCode.rotateRecoveryCode();
  again.updateManifest(rotated.manifest);
  if (id !== again.manifest().vaultId || again.manifest().revision !== rotated.manifest.revision) return "manifest mismatch";
  if (!outcomes[0]!.ok || outcomes[1]!.ok || largeBack.length !== 70_000) return "batch or large failed";
  try {
    again.open(sealed, { recordId: "m-2" });
  } catch (e) {
    if (e instanceof MedsealError && e.code === ErrorCode.DecryptionFailed) return back.med + " / " + e.code;
  }
  return "no error";
}
main().then((r) => { document.body.dataset.result = r; }, (e) => { document.body.dataset.result = "failed: " + String(e); });
`;

// Type-checked only: the app-run ceremonies of a server login, and the 0.x names that are gone.
const FLOWS_TS = `
import { Vault, webauthn, type Manifest, type ServerSafeResponse, type PrfSupport } from "medseal";

export async function signUp(options: PublicKeyCredentialCreationOptions): Promise<{ vault: Vault; manifest: Manifest; post: ServerSafeResponse | undefined }> {
  const { prfSalt, extensions } = webauthn.createExtension();
  const credential = (await navigator.credentials.create({ publicKey: { ...options, extensions: { ...options.extensions, ...extensions } } })) as PublicKeyCredential;
  const { vault, manifest, response } = await Vault.create({ credential, prfSalt, label: "first passkey" });
  return { vault, manifest, post: response };
}

export async function signIn(manifest: Manifest, serverAllow: { id: string; type: "public-key" }[]): Promise<ServerSafeResponse | undefined> {
  const json = webauthn.requestExtension(manifest, { allowCredentials: serverAllow });
  const ids: string[] = json.allowCredentials.map((c) => c.id);
  const bin = webauthn.requestExtension(manifest, { form: "binary" });
  const raw: Uint8Array[] = bin.allowCredentials.map((c) => c.id);
  void ids; void raw;
  const credential = (await navigator.credentials.get({ publicKey: { challenge: new Uint8Array(32), allowCredentials: bin.allowCredentials, extensions: bin.extensions, userVerification: "required" } })) as PublicKeyCredential;
  const { vault, response } = await Vault.unlock(manifest, { credential }, { minRevision: manifest.revision });
  const added: { manifest: Manifest; response?: ServerSafeResponse } = await vault.addPasskey({ passkey: { rp: { name: "x" }, user: { id: "u", name: "u", displayName: "U" }, label: "backup" } });
  const safe: ServerSafeResponse = webauthn.serverSafe(credential);
  const support: PrfSupport = await webauthn.support();
  const viaPasskey = await Vault.unlock(added.manifest, { passkey: { timeout: 60_000, mediation: "optional" } });
  await Vault.unlock(added.manifest, { passkey: true });
  viaPasskey.vault.lock();
  void safe; void support;
  return response;
}

export function gone(): void {
  // @ts-expect-error removed in 1.0: Vault.create({ prf })
  Vault.createFromPrf;
  // @ts-expect-error removed in 1.0: Vault.unlock(manifest, { credential })
  Vault.unlockWithAssertion;
  // @ts-expect-error removed in 1.0: Vault.unlock(manifest, { recoveryCode })
  Vault.unlockWithRecoveryCode;
  // @ts-expect-error removed in 1.0: webauthn.requestExtension
  Vault.prfExtension;
  // @ts-expect-error removed in 1.0: webauthn.serverSafe
  Vault.withoutPrf;
}
`;

const SUBPATHS_TS = `
import { VaultWorker, RemoteVault, ErrorCode } from "medseal/worker";
import { serveVault, type Pin } from "medseal/host";
import { Vault, VaultReceiver, type Manifest, type OpenOutcome, type VaultStatus } from "medseal";

export async function page(): Promise<string> {
  const vw: VaultWorker = VaultWorker.start();
  const created: { manifest: Manifest; recoveryCode: string } = await vw.create({ passkey: { rp: { name: "x" }, user: { id: "u", name: "u", displayName: "U" } } });
  const { status }: { status: VaultStatus } = await vw.unlock(created.manifest, { recoveryCode: created.recoveryCode }, { minRevision: 1 });
  const sealed: string = await vw.seal({ a: 1 }, { recordId: "r" });
  const bytes: Uint8Array = await vw.seal({ a: 1 }, { recordId: "r", form: "bytes" });
  const opened: unknown = await vw.open(sealed, { recordId: "r" });
  const many: OpenOutcome[] = await vw.openMany([{ sealed: bytes, recordId: "r" }]);
  const m: Manifest = await vw.manifest();
  const id: string = await vw.vaultId();
  const added: { manifest: Manifest } = await vw.addPasskey({ passkey: { rp: { name: "x" }, user: { id: "u", name: "u", displayName: "U" } } });
  const now: VaultStatus = await vw.status();
  vw.terminate();
  return String(opened) + status.unlocked + now.unlocked + many.length + m.revision + id + added.manifest.revision + ErrorCode.WrongVault;
}

export function host(scope: { addEventListener(type: "message", f: (e: MessageEvent) => void): void }, pin: Pin): void {
  const h = serveVault(scope, { pin: () => pin, wasm: new URL("medseal.wasm", "https://x.example/") });
  const v: Vault | null = h.vault;
  void v;
}

export async function handOver(vault: Vault, remote: RemoteVault): Promise<Vault> {
  await vault.handOff(remote);
  const r = new VaultReceiver();
  const message: Uint8Array = vault.handOff(r.publicKey);
  return r.accept(message, { expect: vault.manifest(), minRevision: 1 });
}
`;

// The bundlers' entry: plain JavaScript, init() with no argument (each bundler must find the .wasm files itself).
const BUNDLED_JS = `
import { init, Vault, webauthn, ErrorCode } from "medseal";

async function main() {
  await init();
  const prfOutput = crypto.getRandomValues(new Uint8Array(32));
  const { vault, manifest } = await Vault.create({ prf: { credentialId: new Uint8Array([7]), prfSalt: webauthn.newPrfSalt(), prfOutput } });
  const sealed = vault.seal({ med: "MARKER-bundled" }, { recordId: "b-1" });
  const { vault: again } = await Vault.unlock(manifest, { prf: { credentialId: new Uint8Array([7]), prfOutput } });
  let code = "none";
  try { again.open(sealed, { recordId: "b-2" }); } catch (e) { code = e.code; }
  return again.open(sealed, { recordId: "b-1" }).med + " / " + (code === ErrorCode.DecryptionFailed ? code : "wrong: " + code);
}
main().then((r) => { document.body.dataset.result = r; }, (e) => { document.body.dataset.result = "failed: " + String(e); });
`;

/** Serves `root` under the strict CSP a medseal page needs; returns its origin and a stop function. */
async function serveDir(root) {
  const server = createServer(async (req, res) => {
    const path = join(root, new URL(req.url, "http://x").pathname.replace(/^\/$/, "/index.html"));
    try {
      const body = await readFile(path);
      const type = path.endsWith(".wasm") ? "application/wasm" : path.endsWith(".js") ? "text/javascript" : "text/html";
      res.writeHead(200, { "content-type": type, "content-security-policy": "script-src 'self' 'wasm-unsafe-eval'" });
      res.end(body);
    } catch {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return { origin: `http://localhost:${server.address().port}`, close: () => server.close() };
}

/** Loads a built page in Chromium; returns its result and the .wasm files it fetched. */
async function runPage(root) {
  const { origin, close } = await serveDir(root);
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => document.body?.dataset.result !== undefined);
    const result = await page.evaluate(() => document.body.dataset.result);
    const wasm = await page.evaluate(() => performance.getEntriesByType("resource").map((r) => r.name).filter((n) => n.endsWith(".wasm")).map((n) => n.split("/").pop()));
    await page.close();
    assert.deepEqual(errors, []);
    return { result, wasm };
  } finally {
    close();
  }
}

/** Every file under `root`, relative. */
function filesUnder(root, at = "") {
  return readdirSync(join(root, at)).flatMap((f) => (statSync(join(root, at, f)).isDirectory() ? filesUnder(root, join(at, f)) : [join(at, f)]));
}

/** The emitted files: both wasm builds, and no trace of the Node entry in the JavaScript. */
function checkEmitted(out, bundler) {
  const files = filesUnder(out);
  const wasm = files.filter((f) => f.endsWith(".wasm"));
  assert.ok(wasm.some((f) => /medseal_wasm_bg[^/]*\.wasm$/.test(f)), `${bundler} did not emit the SIMD128 build: ${wasm}`);
  assert.ok(wasm.some((f) => /medseal_wasm_scalar_bg[^/]*\.wasm$/.test(f)), `${bundler} did not emit the scalar build: ${wasm}`);
  const js = files.filter((f) => f.endsWith(".js")).map((f) => readFileSync(join(out, f), "utf8")).join("\n");
  assert.ok(js.includes("MARKER-bundled"), `${bundler}: the entry is not in the bundle`);
  for (const nodeOnly of ["node:fs", "readFile", "setPackagedReader"]) assert.ok(!js.includes(nodeOnly), `${bundler} bundled the Node entry (${nodeOnly})`);
}

/** `tsc --strict` over `files` of the consumer project; throws with tsc's output. */
function tscStrict(name, files) {
  writeFileSync(
    join(dir, name),
    JSON.stringify({ compilerOptions: { strict: true, noEmit: true, target: "ES2022", module: "ES2022", moduleResolution: "bundler", lib: ["ES2022", "DOM", "ESNext.Disposable"] }, files }),
  );
  try {
    execFileSync(join(repo, "node_modules", ".bin", "tsc"), ["-p", join(dir, name)], { cwd: dir, encoding: "utf8", stdio: "pipe" });
  } catch (e) {
    throw new Error(`tsc --strict failed on ${files.join(", ")}:\n${e.stdout}${e.stderr}`, { cause: e });
  }
}

const aboutMedseal = (warnings) => warnings.filter((w) => /medseal/i.test(w));

test("npm pack tarball installs, type-checks strictly, bundles with esbuild, and runs in Chromium", async () => {
  const installed = readdirSync(join(dir, "node_modules", "medseal", "dist", "wasm"));
  assert.ok(installed.includes("medseal_wasm_bg.wasm") && installed.includes("medseal_wasm_scalar_bg.wasm"));

  writeFileSync(join(dir, "main.ts"), MAIN_TS);
  writeFileSync(join(dir, "wasm.d.ts"), 'declare module "*.wasm" { const url: string; export default url; }\n');
  // The subpath exports (Worker mode, the host side) type-check too.
  writeFileSync(join(dir, "subpaths.ts"), SUBPATHS_TS);
  tscStrict("tsconfig.json", ["main.ts", "subpaths.ts", "wasm.d.ts"]);

  const esb = await build({
    entryPoints: [join(dir, "main.ts")],
    bundle: true,
    format: "esm",
    outdir: join(dir, "out"),
    loader: { ".wasm": "file" },
    absWorkingDir: dir,
    logLevel: "silent",
  });
  assert.deepEqual(esb.warnings.map((w) => w.text), []);
  writeFileSync(join(dir, "out", "index.html"), '<!doctype html><html><body><script type="module" src="main.js"></script></body></html>');
  const { result } = await runPage(join(dir, "out"));
  assert.equal(result, "MARKER-ibuprofen / DecryptionFailed");
});

// The PRF values and binary ids medseal hands out for the app's own ceremony
// must be assignable to the DOM's BufferSource under TypeScript >= 5.7
// (a bare Uint8Array is Uint8Array<ArrayBufferLike>, which is not): they are
// typed `Bytes` (Uint8Array<ArrayBuffer>).
test("the app-run ceremonies of a server login type-check strictly (and the 0.x names are gone)", () => {
  writeFileSync(join(dir, "flows.ts"), FLOWS_TS);
  tscStrict("tsconfig.flows.json", ["flows.ts"]);
});

test("Node resolves the \"node\" entry: init() with no argument reads the packaged module", () => {
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", `
    import { init, Vault, webauthn } from "medseal";
    await init();
    const prfOutput = new Uint8Array(32).fill(3);
    const { vault, manifest } = await Vault.create({ prf: { credentialId: new Uint8Array([1]), prfSalt: webauthn.newPrfSalt(), prfOutput } });
    const { vault: again } = await Vault.unlock(manifest, { prf: { credentialId: new Uint8Array([1]), prfOutput } });
    console.log(again.open(vault.seal("MARKER-node", { recordId: "n" }), { recordId: "n" }), import.meta.resolve("medseal").split("/").slice(-2).join("/"));
  `], { cwd: dir, encoding: "utf8" });
  assert.equal(out.trim(), "MARKER-node dist/node.js");
});

test("Vite takes the browser entry, emits both .wasm builds, warns about nothing in medseal, and the bundle runs", async () => {
  const root = join(dir, "vite");
  execFileSync("mkdir", ["-p", root]);
  writeFileSync(join(root, "app.js"), BUNDLED_JS);
  writeFileSync(join(root, "index.html"), '<!doctype html><html><body><script type="module" src="/app.js"></script></body></html>');
  const { build: viteBuild, createLogger } = await import("vite");
  const warnings = [];
  const logger = createLogger("warn");
  for (const level of ["warn", "warnOnce", "error"]) logger[level] = (msg) => warnings.push(`${level}: ${msg}`);
  await viteBuild({
    root,
    configFile: false,
    logLevel: "warn",
    customLogger: logger,
    build: {
      outDir: join(root, "dist"),
      emptyOutDir: true,
      rolldownOptions: { onwarn: (w) => warnings.push(`onwarn: ${w.message ?? w}`) },
    },
  });
  assert.deepEqual(aboutMedseal(warnings), [], `Vite warned about medseal:\n${warnings.join("\n")}`);
  checkEmitted(join(root, "dist"), "Vite");
  const { result, wasm } = await runPage(join(root, "dist"));
  assert.equal(result, "MARKER-bundled / DecryptionFailed");
  assert.ok(wasm.length > 0 && wasm.every((f) => /^medseal_wasm_bg/.test(f)), `wasm loaded: ${wasm}`);
});

test("webpack 5 takes the browser entry, emits both .wasm builds, warns about nothing in medseal, and the bundle runs", async () => {
  const root = join(dir, "webpack");
  execFileSync("mkdir", ["-p", root]);
  writeFileSync(join(root, "app.js"), BUNDLED_JS);
  const { default: webpack } = await import("webpack");
  const stats = await new Promise((ok, fail) =>
    webpack(
      {
        mode: "production",
        context: root,
        entry: "./app.js",
        output: { path: join(root, "dist"), filename: "main.js", assetModuleFilename: "[name].[contenthash:8][ext]", clean: true },
        // The consumer's own node_modules (the installed tarball).
        resolve: { modules: [join(dir, "node_modules"), "node_modules"] },
        // Size hints name the .wasm assets but say nothing about how medseal is written.
        performance: { hints: false },
      },
      (err, s) => (err ? fail(err) : ok(s)),
    ),
  );
  const info = stats.toJson({ all: false, warnings: true, errors: true });
  assert.deepEqual(info.errors.map((e) => e.message), []);
  const warnings = info.warnings.map((w) => `${w.moduleName ?? ""}: ${w.message}`);
  assert.deepEqual(aboutMedseal(warnings), [], `webpack warned about medseal:\n${warnings.join("\n")}`);
  assert.deepEqual(warnings, [], "no webpack warnings at all");
  checkEmitted(join(root, "dist"), "webpack");
  writeFileSync(join(root, "dist", "index.html"), '<!doctype html><html><body><script src="main.js"></script></body></html>');
  const { result, wasm } = await runPage(join(root, "dist"));
  assert.equal(result, "MARKER-bundled / DecryptionFailed");
  assert.ok(wasm.length > 0 && wasm.every((f) => /^medseal_wasm_bg/.test(f)), `wasm loaded: ${wasm}`);
});
