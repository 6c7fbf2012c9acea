/**
 * How `init()` reads the module files shipped in the package when they are
 * `file:` URLs. Browsers, workers and extensions fetch them and need nothing
 * here; the package's `node` entry (`node.ts`) registers a file reader. Kept
 * apart so the default entry holds no Node import at all: bundlers then have
 * nothing to warn about.
 */
export let readPackaged: ((url: URL) => Promise<Uint8Array>) | null = null;

/** Registers the reader (the `node` entry does, once). */
export function setPackagedReader(read: (url: URL) => Promise<Uint8Array>): void {
  readPackaged = read;
}
