// The rules for what `npm publish` may ship, as one function, so that
// tarball.test.mjs applies them to pkg/ and checks.test.mjs shows them
// failing on a copy with a planted problem.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** The files `npm pack` would put in the tarball of the package in `dir`. */
export function packedFiles(dir) {
  const [packed] = JSON.parse(execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: dir, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }));
  return packed.files.map((f) => f.path);
}

/**
 * What is wrong with the tarball of the package in `dir` (an empty list:
 * nothing). `root` is the checkout, whose path must not be in any file.
 */
export function shipProblems(dir, root) {
  const files = packedFiles(dir);
  const problems = [];
  for (const must of ["package.json", "README.md", "dist/index.js", "dist/node.js", "dist/wasm/medseal_wasm_bg.wasm", "dist/wasm/medseal_wasm_scalar_bg.wasm"]) {
    if (!files.includes(must)) problems.push(`${must}: missing`);
  }
  for (const f of files) {
    if (f !== "package.json" && f !== "README.md" && !f.startsWith("dist/")) problems.push(`${f}: outside dist/`);
    if (/vector|fixture|test|\.pem$|\.key$/i.test(f)) problems.push(`${f}: a test file or key`);
    const text = readFileSync(join(dir, f), "latin1");
    if (f.endsWith(".map") || /sourceMappingURL/.test(text)) problems.push(`${f}: a source map`);
    if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) problems.push(`${f}: a private key`);
    if (text.includes(root)) problems.push(`${f}: names the build machine's checkout (${root})`);
    if (/\/root\/|\/home\/[a-z]|\.cargo\/registry/.test(text)) problems.push(`${f}: a build machine path`);
    // The test-only seeded Rng of src/rng.rs: its Debug name and label would be in the module's strings.
    if (f.endsWith(".wasm") && /Rng::Seeded|medseal\/test-rng/.test(text)) problems.push(`${f}: holds deterministic-RNG code`);
  }
  return problems;
}

/** The package's runtime dependencies (a user installs these with it). */
export function runtimeDependencies(dir) {
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  return { ...manifest.dependencies, ...manifest.optionalDependencies, ...manifest.peerDependencies };
}
