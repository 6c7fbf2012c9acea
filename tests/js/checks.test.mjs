// The project's own checks fail when they should (issue #17): each is run
// on a scratch copy with a planted problem, next to a control that passes,
// so a check that silently stopped checking shows up here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { appendFileSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { shipProblems } from "./package-rules.mjs";

const root = resolve(fileURLToPath(new URL("../..", import.meta.url)));

test("the tarball rules catch a planted source map and test key", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "medseal-planted-pkg-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(join(root, "pkg"), dir, { recursive: true });
  assert.deepEqual(shipProblems(dir, root), [], "the unplanted copy passes");
  writeFileSync(join(dir, "dist", "index.js.map"), JSON.stringify({ version: 3, sources: ["../js/index.ts"], mappings: "" }));
  appendFileSync(join(dir, "dist", "index.js"), "\n//# sourceMappingURL=index.js.map\n");
  writeFileSync(join(dir, "dist", "test-key.pem"), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
  const problems = shipProblems(dir, root).join("\n");
  assert.match(problems, /dist\/index\.js\.map: a source map/);
  assert.match(problems, /dist\/index\.js: a source map/);
  assert.match(problems, /dist\/test-key\.pem: a test file or key/);
  assert.match(problems, /dist\/test-key\.pem: a private key/);
});

/** A scratch workspace: an app depending on one path crate under `license`, checked with the repository's deny.toml. */
function denyScratch(t, license) {
  const dir = mkdtempSync(join(tmpdir(), "medseal-planted-deny-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const d of ["app/src", "dep/src"]) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, "app/Cargo.toml"), `[package]\nname = "planted-app"\nversion = "0.1.0"\nedition = "2021"\nlicense = "MIT"\npublish = false\n\n[dependencies]\nplanted-dep = { path = "../dep", version = "0.1.0" }\n\n[workspace]\n`);
  writeFileSync(join(dir, "dep/Cargo.toml"), `[package]\nname = "planted-dep"\nversion = "0.1.0"\nedition = "2021"\nlicense = "${license}"\n`);
  writeFileSync(join(dir, "app/src/lib.rs"), "");
  writeFileSync(join(dir, "dep/src/lib.rs"), "");
  copyFileSync(join(root, "deny.toml"), join(dir, "app/deny.toml"));
  const r = spawnSync("cargo", ["deny", "--offline", "check", "licenses", "bans", "sources"], { cwd: join(dir, "app"), encoding: "utf8" });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

const denyInstalled = spawnSync("cargo", ["deny", "--version"], { encoding: "utf8" }).status === 0;

test("cargo deny with deny.toml refuses a planted GPL dependency, and passes the same graph under MIT", { skip: denyInstalled ? false : "cargo-deny is not installed (scripts/setup.sh installs it)" }, (t) => {
  const gpl = denyScratch(t, "GPL-3.0-only");
  assert.notEqual(gpl.status, 0, "a GPL dependency passed cargo deny");
  assert.match(gpl.output, /licenses FAILED/);
  assert.match(gpl.output, /GPL-3\.0-only/);
  const mit = denyScratch(t, "MIT");
  assert.equal(mit.status, 0, mit.output);
  assert.match(mit.output, /licenses ok/);
});
