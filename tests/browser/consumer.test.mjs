// A consumer project outside the repository: installs the `npm pack` tarball,
// type-checks its TypeScript against the package's .d.ts with `tsc --strict`,
// bundles it with esbuild, and runs a seal/open in Chromium.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync, readdirSync } from "node:fs";
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
});
after(async () => {
  await browser?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const MAIN_TS = `
import { init, Vault, MedsealError, ErrorCode, type Manifest } from "medseal";
import wasmUrl from "medseal/medseal.wasm";

async function main(): Promise<string> {
  await init(new URL(wasmUrl, location.href));
  const prfOutput: Uint8Array = crypto.getRandomValues(new Uint8Array(32));
  const prfSalt: Uint8Array = Vault.newPrfSalt();
  const created = Vault.createFromPrf({ credentialId: new Uint8Array([1, 2, 3]), prfSalt, prfOutput });
  const manifest: Manifest = created.manifest;
  const sealed: string = created.vault.seal({ med: "MARKER-ibuprofen" }, { recordId: "m-1" });
  const again = Vault.unlockFromPrf(manifest, { credentialId: new Uint8Array([1, 2, 3]), prfOutput });
  const back = again.open(sealed, { recordId: "m-1" }) as { med: string };
  try {
    again.open(sealed, { recordId: "m-2" });
  } catch (e) {
    if (e instanceof MedsealError && e.code === ErrorCode.DecryptionFailed) return back.med + " / " + e.code;
  }
  return "no error";
}
main().then((r) => { document.body.dataset.result = r; }, (e) => { document.body.dataset.result = "failed: " + String(e); });
`;

const SUBPATHS_TS = `
import { VaultWorker, RemoteVault, ErrorCode } from "medseal/worker";
import { serveVault, type Pin } from "medseal/host";
import { Vault, VaultReceiver } from "medseal";

export async function page(): Promise<string> {
  const vw: VaultWorker = VaultWorker.start();
  const sealed: string = await vw.seal({ a: 1 }, { recordId: "r" });
  const opened: unknown = await vw.open(sealed, { recordId: "r" });
  const status: { unlocked: boolean; vaultId: string | null } = await vw.status();
  vw.terminate();
  return String(opened) + status.unlocked + ErrorCode.WrongVault;
}

export function host(scope: { addEventListener(type: "message", f: (e: MessageEvent) => void): void }, pin: Pin): void {
  const h = serveVault(scope, { pin: () => pin, wasm: new URL("medseal.wasm", "https://x.example/") });
  const v: Vault | null = h.vault;
  void v;
}

export async function handOver(vault: Vault, remote: RemoteVault): Promise<Vault> {
  await vault.handOffTo(remote);
  const r = new VaultReceiver();
  return r.accept(vault.handOff(r.publicKey), { expect: vault.manifest, minRevision: 1 });
}
`;

test("npm pack tarball installs, type-checks strictly, bundles with esbuild, and runs in Chromium", async () => {
  const packed = execFileSync("npm", ["pack", join(repo, "pkg"), "--pack-destination", dir, "--silent"], { encoding: "utf8" }).trim().split("\n").pop();
  const tarball = join(dir, packed);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--silent", tarball], { cwd: dir });
  const installed = readdirSync(join(dir, "node_modules", "medseal", "dist", "wasm"));
  assert.ok(installed.includes("medseal_wasm_bg.wasm"));

  writeFileSync(join(dir, "main.ts"), MAIN_TS);
  writeFileSync(join(dir, "wasm.d.ts"), 'declare module "*.wasm" { const url: string; export default url; }\n');
  // The subpath exports (Worker mode, the host side) type-check too.
  writeFileSync(join(dir, "subpaths.ts"), SUBPATHS_TS);
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({ compilerOptions: { strict: true, noEmit: true, target: "ES2022", module: "ES2022", moduleResolution: "bundler", lib: ["ES2022", "DOM", "ESNext.Disposable"] }, files: ["main.ts", "subpaths.ts", "wasm.d.ts"] }),
  );
  execFileSync(join(repo, "node_modules", ".bin", "tsc"), ["-p", join(dir, "tsconfig.json")], { cwd: dir, stdio: "inherit" });

  await build({
    entryPoints: [join(dir, "main.ts")],
    bundle: true,
    format: "esm",
    outdir: join(dir, "out"),
    loader: { ".wasm": "file" },
    absWorkingDir: dir,
    logLevel: "error",
  });
  writeFileSync(join(dir, "out", "index.html"), '<!doctype html><html><body><script type="module" src="main.js"></script></body></html>');

  const server = createServer(async (req, res) => {
    const path = join(dir, "out", new URL(req.url, "http://x").pathname.replace(/^\/$/, "/index.html"));
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
  try {
    const page = await browser.newPage();
    await page.goto(`http://localhost:${server.address().port}/`);
    await page.waitForFunction(() => document.body.dataset.result !== undefined);
    assert.equal(await page.evaluate(() => document.body.dataset.result), "MARKER-ibuprofen / DecryptionFailed");
    await page.close();
  } finally {
    server.close();
  }
});
