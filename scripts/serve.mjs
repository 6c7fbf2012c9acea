// Serves the demo web app (examples/demo, with the stylesheet it shares with
// the reference server's app under /shared/) and the built package (pkg/) on
// localhost. A static server with no dependencies: the reference server with
// passkey login comes with examples/server.
//   node scripts/serve.mjs [port]     (default 8080; 0 picks a free port)
import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { extname, join, normalize, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(fileURLToPath(new URL("..", import.meta.url)));
const mounts = [
  ["/pkg/", join(root, "pkg")],
  ["/fixtures/", join(root, "tests", "browser", "fixtures")],
  ["/shared/", join(root, "examples", "shared")],
  ["/", join(root, "examples", "demo")],
];
const types = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".wasm": "application/wasm", ".json": "application/json", ".png": "image/png", ".svg": "image/svg+xml" };

export function startServer(port = 8080, host = "127.0.0.1") {
  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? "/", "http://localhost");
      let path = decodeURIComponent(url.pathname);
      if (path.endsWith("/")) path += "index.html";
      const [prefix, dir] = mounts.find(([p]) => path.startsWith(p));
      const file = normalize(join(dir, path.slice(prefix.length)));
      if (!file.startsWith(dir)) throw Object.assign(new Error("outside"), { status: 403 });
      if (!(await stat(file)).isFile()) throw Object.assign(new Error("not a file"), { status: 404 });
      const body = await readFile(file);
      // Pages named *.nowasm.html may not compile WebAssembly at all (Worker mode:
      // only the worker, served under the normal policy, runs medseal's wasm).
      const wasm = file.endsWith(".nowasm.html") ? "" : " 'wasm-unsafe-eval'";
      res.writeHead(200, {
        "content-type": types[extname(file)] ?? "application/octet-stream",
        "cache-control": "no-store",
        "content-security-policy": `default-src 'self'; script-src 'self'${wasm}; style-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'`,
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
      });
      res.end(body);
    } catch (e) {
      const status = e.status ?? (e.code === "ENOENT" ? 404 : 500);
      res.writeHead(status, { "content-type": "text/plain" });
      res.end(status === 404 ? "not found" : "error");
    }
  });
  return new Promise((ok) => server.listen(port, host, () => ok(server)));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2] ?? 8080);
  const server = await startServer(port);
  const { port: actual } = server.address();
  console.log(`medseal demo: http://localhost:${actual}/  (Ctrl-C to stop)`);
}
