// Builds the unpacked extension the way an extension builder would: installs
// the packed npm package (`npm pack pkg/`, the tarball users get), bundles the
// page and service worker with esbuild, and copies medseal's two .wasm builds next to
// them. Output: target/extension/unpacked/ (load it at chrome://extensions);
// with --site=phr.example, target/extension/unpacked-phr.example/, sharing
// that site's passkeys; with --browser=firefox, target/extension/unpacked-firefox/
// (…-firefox-phr.example/ with --site), the Firefox variant: the same code, with
// the background as an event page instead of a service worker (docs/EXTENSIONS.md).
// Run `make pkg` first (the test suite does).
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = fileURLToPath(new URL(".", import.meta.url));
const repo = resolve(here, "../..");
const outRoot = join(repo, "target", "extension");
const work = join(outRoot, "work");

/** The Firefox variant's add-on id (a temporary add-on without one gets a random id). */
export const FIREFOX_ID = "medseal-notes@example.org";

/**
 * `site`: a PHR site whose passkeys the extension shares (its RP id, e.g.
 * "phr.example"). Adds the host permission that lets the extension claim that
 * RP id (docs/EXTENSIONS.md), so one passkey unlocks the same vault on the
 * site and in the extension. Without it the passkeys belong to the extension.
 * `browser`: "chromium" (the default) or "firefox" (see firefoxManifest).
 */
export async function buildExtension({ site = null, browser = "chromium" } = {}) {
  if (browser !== "chromium" && browser !== "firefox") throw new Error(`unknown browser ${browser}`);
  const firefox = browser === "firefox";
  const out = join(outRoot, ["unpacked", firefox ? "firefox" : null, site].filter(Boolean).join("-"));
  rmSync(out, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const tarball = execFileSync("npm", ["pack", join(repo, "pkg"), "--pack-destination", work, "--silent"], { encoding: "utf8" }).trim().split("\n").pop();
  writeFileSync(join(work, "package.json"), JSON.stringify({ name: "medseal-notes-extension", private: true, type: "module" }));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--silent", join(work, tarball)], { cwd: work });
  await build({
    entryPoints: [join(here, "src", "popup.js"), join(here, "src", "sw.js")],
    bundle: true,
    format: "esm",
    target: firefox ? "firefox128" : "chrome120",
    outdir: out,
    nodePaths: [join(work, "node_modules")],
    define: { __SITE_RP_ID__: JSON.stringify(site) },
    logLevel: "warning",
  });
  for (const f of ["popup.html", "popup.css"]) cpSync(join(here, "src", f), join(out, f));
  let manifest = JSON.parse(readFileSync(join(here, "src", "manifest.json"), "utf8"));
  if (firefox) manifest = firefoxManifest(manifest);
  if (site) manifest.host_permissions = [`${site === "localhost" ? "http" : "https"}://${site}/*`];
  writeFileSync(join(out, "manifest.json"), JSON.stringify(manifest, null, 2));
  const wasmDir = join(work, "node_modules", "medseal", "dist", "wasm");
  cpSync(join(wasmDir, "medseal_wasm_bg.wasm"), join(out, "medseal.wasm"));
  cpSync(join(wasmDir, "medseal_wasm_scalar_bg.wasm"), join(out, "medseal-scalar.wasm"));
  return out;
}

/**
 * The Firefox variant of the manifest. Firefox 153 ESR refuses to install an
 * MV3 extension whose background is only a service worker ("background.service_worker
 * is currently disabled. Add background.scripts."): the same sw.js runs as a
 * module event page (`background.scripts`), which popup.js reaches with
 * runtime.getBackgroundPage() instead of navigator.serviceWorker (undefined in
 * Firefox's extension pages). `key` is Chromium's (Firefox ignores it): the
 * add-on id comes from `browser_specific_settings.gecko.id`. The CSP is the same.
 */
function firefoxManifest(chromium) {
  const { key: _chromiumKey, background, ...rest } = chromium;
  return {
    ...rest,
    background: { scripts: [background.service_worker], type: background.type },
    browser_specific_settings: { gecko: { id: FIREFOX_ID, data_collection_permissions: { required: ["none"] } } },
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = (name) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? null;
  console.log(`built ${await buildExtension({ site: arg("site"), browser: arg("browser") ?? "chromium" })}`);
}
