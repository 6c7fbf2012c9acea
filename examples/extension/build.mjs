// Builds the unpacked extension the way an extension builder would: installs
// the packed npm package (`npm pack pkg/`, the tarball users get), bundles the
// page and service worker with esbuild, and copies medseal's .wasm next to
// them. Output: target/extension/unpacked/ (load it at chrome://extensions).
// Run `make pkg` first (the test suite does).
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = fileURLToPath(new URL(".", import.meta.url));
const repo = resolve(here, "../..");
const outRoot = join(repo, "target", "extension");
const work = join(outRoot, "work");
const out = join(outRoot, "unpacked");

export async function buildExtension() {
  rmSync(outRoot, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const tarball = execFileSync("npm", ["pack", join(repo, "pkg"), "--pack-destination", work, "--silent"], { encoding: "utf8" }).trim().split("\n").pop();
  writeFileSync(join(work, "package.json"), JSON.stringify({ name: "medseal-notes-extension", private: true, type: "module" }));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", "--silent", join(work, tarball)], { cwd: work });
  await build({
    entryPoints: [join(here, "src", "popup.js"), join(here, "src", "sw.js")],
    bundle: true,
    format: "esm",
    target: "chrome120",
    outdir: out,
    nodePaths: [join(work, "node_modules")],
    logLevel: "warning",
  });
  for (const f of ["manifest.json", "popup.html", "popup.css"]) cpSync(join(here, "src", f), join(out, f));
  cpSync(join(work, "node_modules", "medseal", "dist", "wasm", "medseal_wasm_bg.wasm"), join(out, "medseal.wasm"));
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(`built ${await buildExtension()}`);
}
