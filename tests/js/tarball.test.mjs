// What `npm publish` would ship (issue #17, "checks that keep the project
// honest"): the tarball `npm pack` makes of pkg/ holds package.json, the
// README and dist/ only; no source maps (they would carry the sources and
// their comments), no test vectors or test keys, no build machine paths,
// and a wasm module built without the test-only deterministic RNG. The
// package has no runtime dependencies, so a user installs nothing else: if
// one is ever added, `npm audit` of it runs here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const pkg = join(root, "pkg");
const [packed] = JSON.parse(execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: pkg, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }));
const files = packed.files.map((f) => f.path);

test("the tarball holds package.json, README.md and dist/ only", () => {
  assert.ok(files.includes("package.json") && files.includes("README.md"));
  const outside = files.filter((f) => f !== "package.json" && f !== "README.md" && !f.startsWith("dist/"));
  assert.deepEqual(outside, []);
  for (const must of ["dist/index.js", "dist/node.js", "dist/wasm/medseal_wasm_bg.wasm", "dist/wasm/medseal_wasm_scalar_bg.wasm"]) assert.ok(files.includes(must), must);
});

test("no source maps, no test vectors or keys, no build machine paths", () => {
  assert.deepEqual(files.filter((f) => f.endsWith(".map") || /sourceMappingURL/.test(readFileSync(join(pkg, f), "latin1"))), [], "source maps");
  assert.deepEqual(files.filter((f) => /vector|fixture|test|\.pem$|\.key$/i.test(f)), [], "test files");
  for (const f of files) {
    const text = readFileSync(join(pkg, f), "latin1");
    assert.doesNotMatch(text, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, `${f}: a private key`);
    assert.ok(!text.includes(root), `${f}: names the build machine's checkout (${root})`);
    assert.doesNotMatch(text, /\/root\/|\/home\/[a-z]|\.cargo\/registry/, `${f}: a build machine path`);
  }
});

test("the shipped modules are not built with the test-only deterministic RNG", () => {
  for (const f of files.filter((x) => x.endsWith(".wasm"))) {
    const bytes = readFileSync(join(pkg, f), "latin1");
    // The feature adds the seeded Rng of src/rng.rs: its Debug name and its label would be in the module's strings.
    assert.ok(!/Rng::Seeded|medseal\/test-rng/.test(bytes), `${f} holds deterministic-RNG code`);
  }
});

test("no runtime dependencies: a user installs medseal alone (npm audit runs if that changes)", () => {
  const manifest = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8"));
  const deps = { ...manifest.dependencies, ...manifest.optionalDependencies, ...manifest.peerDependencies };
  if (Object.keys(deps).length === 0) return;
  const out = execFileSync("npm", ["audit", "--omit=dev", "--json"], { cwd: pkg, encoding: "utf8" });
  assert.equal(JSON.parse(out).metadata.vulnerabilities.total, 0);
});
