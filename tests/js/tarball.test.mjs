// What `npm publish` would ship (issue #17, "checks that keep the project
// honest"): the tarball `npm pack` makes of pkg/ holds package.json, the
// README and dist/ only; no source maps (they would carry the sources and
// their comments), no test vectors or test keys, no build machine paths,
// and a wasm module built without the test-only deterministic RNG. The
// package has no runtime dependencies, so a user installs nothing else: if
// one is ever added, `npm audit` of it runs here. The rules are in
// package-rules.mjs; checks.test.mjs shows each failing on a planted copy.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { runtimeDependencies, shipProblems } from "./package-rules.mjs";

const root = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const pkg = join(root, "pkg");

test("the tarball holds package.json, README.md and dist/ only; no source maps, test files, keys, build paths or test RNG", () => {
  assert.deepEqual(shipProblems(pkg, root), []);
});

test("no runtime dependencies: a user installs medseal alone (npm audit runs if that changes)", () => {
  const deps = runtimeDependencies(pkg);
  if (Object.keys(deps).length === 0) return;
  const out = execFileSync("npm", ["audit", "--omit=dev", "--json"], { cwd: pkg, encoding: "utf8" });
  assert.equal(JSON.parse(out).metadata.vulnerabilities.total, 0);
});
