// The one Node API the `node` entry uses, declared here so that the package
// builds without @types/node (the rest of the package is for browsers).
declare module "node:fs/promises" {
  export function readFile(path: URL): Promise<Uint8Array>;
}
