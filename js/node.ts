/**
 * The package's entry under the `node` export condition: the main entry,
 * plus reading the wasm module from the package's own files (`fetch()`
 * cannot read `file:` URLs in Node).
 */
import { readFile } from "node:fs/promises";
import { setPackagedReader } from "./loader.js";

setPackagedReader(async (url) => new Uint8Array(await readFile(url)));

export * from "./index.js";
