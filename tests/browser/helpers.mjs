// Shared set-up for browser tests: Debian's Chromium driven by playwright-core,
// with Chromium's DevTools virtual authenticator standing in for a passkey.
import { before, after } from "node:test";
import { chromium } from "playwright-core";
import { startServer } from "../../scripts/serve.mjs";

export const CHROMIUM_ARGS = [
  "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
];

/** The Chromium the tests drive (Debian's, unless CHROMIUM names another). */
export const CHROMIUM_PATH = process.env.CHROMIUM ?? "/usr/bin/chromium";

export async function launch() {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}

export async function serve() {
  const server = await startServer(0);
  return { server, origin: `http://localhost:${server.address().port}` };
}

/**
 * Registers before/after hooks that start the static demo server and one
 * Chromium for the file's tests; the returned object is filled in by `before`.
 */
export function withBrowserAndServer() {
  const env = { browser: null, server: null, origin: "" };
  before(async () => {
    Object.assign(env, await serve());
    env.browser = await launch();
  });
  after(async () => {
    await env.browser?.close();
    env.server?.close();
  });
  return env;
}

/** Adds a virtual platform authenticator (user-verifying, PRF on or off) to a page. */
export async function addAuthenticator(page, { hasPrf = true } = {}) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2", ctap2Version: "ctap2_1", transport: "internal",
      hasResidentKey: true, hasUserVerification: true, isUserVerified: true,
      hasPrf, automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}
