// ESLint for the TypeScript API (js/) and the JS of tests, bench and examples:
// typescript-eslint's recommended type-aware rules on js/, the recommended
// rules elsewhere. Run by scripts/test.sh.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["pkg/**", "target/**", "node_modules/**", "crates/**", "fuzz/**", "docs/**", "**/dist/**"] },
  js.configs.recommended,
  {
    files: ["js/**/*.ts"],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: { parserOptions: { project: "./js/tsconfig.lint.json", tsconfigRootDir: import.meta.dirname } },
    rules: {
      // Errors from wasm and user code are caught as unknown and narrowed.
      "@typescript-eslint/only-throw-error": "error",
      "@typescript-eslint/no-floating-promises": "error",
    },
  },
  {
    files: ["**/*.mjs", "**/*.js"],
    languageOptions: {
      ecmaVersion: 2024,
      sourceType: "module",
      globals: {
        console: "readonly", process: "readonly", crypto: "readonly", URL: "readonly", TextEncoder: "readonly",
        TextDecoder: "readonly", setTimeout: "readonly", clearTimeout: "readonly", fetch: "readonly",
        document: "readonly", window: "readonly", navigator: "readonly", self: "readonly", chrome: "readonly",
        location: "readonly", MessageChannel: "readonly", Worker: "readonly", structuredClone: "readonly",
        performance: "readonly", Response: "readonly", Blob: "readonly", globalThis: "readonly", atob: "readonly",
        btoa: "readonly", WebAssembly: "readonly", SharedArrayBuffer: "readonly", localStorage: "readonly",
        sessionStorage: "readonly", alert: "readonly", confirm: "readonly", PublicKeyCredential: "readonly",
        Buffer: "readonly", queueMicrotask: "readonly", AbortController: "readonly", setInterval: "readonly",
        clearInterval: "readonly", Event: "readonly", HTMLElement: "readonly", requestAnimationFrame: "readonly",
        FormData: "readonly", Headers: "readonly", Request: "readonly", ReadableStream: "readonly",
        DOMException: "readonly", importScripts: "readonly", caches: "readonly", indexedDB: "readonly",
        XMLHttpRequest: "readonly", WritableStream: "readonly", TransformStream: "readonly", AbortSignal: "readonly",
      },
    },
    rules: { "no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }] },
  },
  {
    // Functions passed to page.evaluate() run in the page, where the test put these globals.
    files: ["tests/browser/**/*.mjs", "tests/js/**/*.mjs"],
    languageOptions: { globals: { ms: "readonly", v: "readonly", vw: "readonly", MessagePort: "readonly" } },
  },
  {
    // Replaced at build time by examples/extension/build.mjs (esbuild define).
    files: ["examples/extension/src/**/*.js"],
    languageOptions: { globals: { __SITE_RP_ID__: "readonly" } },
  },
);
