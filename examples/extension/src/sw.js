// The extension's service worker. It holds the unlocked vault while it runs,
// received from the extension page by hand-off (sealed to a one-time key of
// this worker: no key bytes cross the message channel), and seals page
// selections from the context menu. Chrome may stop it at any moment; then
// the vault is gone with it and the page hands it over again (or the user
// unlocks with a passkey). Nothing secret is ever written to storage.
import { init } from "medseal";
import { serveVault } from "medseal/host";
import { addNote } from "./notes.js";

// Start loading the module now; every request waits for it. (No top-level
// await: service workers must register their listeners synchronously.)
init(new URL("./medseal.wasm", import.meta.url));

const host = serveVault(self, {
  // Take only the vault this extension was set up with, never an older manifest.
  handoff: async () => {
    const { manifest } = await chrome.storage.local.get("manifest");
    return manifest ? { vaultId: manifest.vaultId, minRevision: manifest.revision } : {};
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

chrome.contextMenus.onClicked.addListener((info, tab) => {
  if (info.menuItemId === "seal-selection" && info.selectionText) void sealSelection(info.selectionText, tab?.url);
});
