// The browser libraries the demo's web app uses, bundled by esbuild into
// ES modules the reference server serves under /vendor/ (from
// target/web-vendor/): `qrcode` draws QR codes (SMART Health Links, the
// emergency card: it can put "shc:/" in byte mode and the digits in numeric
// mode, as SMART Health Cards require, which a one-mode encoder cannot), and
// `jsqr` reads a QR code from an image (the emergency-card reader page). Both
// are pinned in package-lock.json; this only repackages them for the browser.
// Run by scripts/setup.sh after `npm ci`; idempotent and quick.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = `${root}target/web-vendor`;
mkdirSync(out, { recursive: true });
const common = { bundle: true, format: "esm", platform: "browser", minify: true, logLevel: "warning", absWorkingDir: root };
await build({ ...common, stdin: { contents: 'export { toString, create } from "qrcode";', resolveDir: root }, outfile: `${out}/qrcode.js` });
await build({ ...common, stdin: { contents: 'export { default as jsQR } from "jsqr";', resolveDir: root }, outfile: `${out}/jsqr.js` });
// pdf.js (Mozilla, Apache-2.0): the demo draws a sealed PDF's first page
// from the ranges medseal's reader opens (examples/server/web/files.js).
// Already ES modules built for browsers: copied as they are.
for (const f of ["pdf.min.mjs", "pdf.worker.min.mjs"]) copyFileSync(`${root}node_modules/pdfjs-dist/build/${f}`, `${out}/${f}`);
