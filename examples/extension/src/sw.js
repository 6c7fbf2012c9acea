// The extension's service worker. It holds the unlocked vault while it runs,
// received from the extension page by hand-off (sealed to a one-time key of
// this worker: no key bytes cross the message channel), and seals page
// selections from the context menu. Chrome may stop it at any moment; then
// the vault is gone with it and the page hands it over again (or the user
// unlocks with a passkey). Nothing secret is ever written to storage.
// In Firefox (build.mjs --browser=firefox) this same file is the extension's
// event page (background.scripts): `self` is its window, and Firefox stops it
// when idle just as Chrome stops the worker.
import { simd128Supported } from "medseal";
import { serveVault } from "medseal/host";
import { addNote } from "./notes.js";

// Listeners are registered synchronously (no top-level await in a service
// worker); each request loads the module first if needed.
const host = serveVault(self, {
  wasm: new URL(simd128Supported() ? "./medseal.wasm" : "./medseal-scalar.wasm", import.meta.url),
  // Take only the vault this extension was set up with (its vault id and
  // identity key), never an older manifest.
  pin: async () => {
    const { manifest } = await chrome.storage.local.get("manifest");
    return manifest ? { expect: manifest, minRevision: manifest.revision } : {};
  },
});

chrome.runtime.onInstalled.addListener(() => {
  chrome.contextMenus.create({ id: "seal-selection", title: "Seal selection with medseal", contexts: ["selection"] });
});

/**
 * Seals selected text (and the page it came from) as a note. Returns the
 * note's id, or { error: "Locked" } when no vault is held: then nothing is
 * stored, not even in plaintext for later.
 */
async function sealSelection(text, pageUrl) {
  const vault = host.vault;
  if (!vault) {
    await chrome.action.setBadgeText({ text: "!" }); // "open medseal notes to unlock"
    return { error: "Locked" };
  }
  const id = await addNote(vault, { text, source: pageUrl ?? null, kind: "selection" });
  await chrome.action.setBadgeText({ text: "+1" });
  return { id };
}
self.sealSelection = sealSelection; // also reachable from DevTools (and the tests)

chrome.contextMenus.onClicked.addListener((info) => {
  // info.pageUrl needs no "tabs" permission (tab.url would be empty without it).
  if (info.menuItemId === "seal-selection" && info.selectionText) void sealSelection(info.selectionText, info.pageUrl);
});
