// The extension page (popup, or opened as a tab). It runs the passkey
// ceremonies (service workers cannot) and hands the unlocked vault to the
// service worker, which seals and opens notes. While the page is open it
// keeps its own copy, so a service worker that Chrome stopped gets the vault
// again without another passkey prompt.
import { init, simd128Supported, Vault, ErrorCode } from "medseal";
import { RemoteVault } from "medseal/worker";
import { addNote, openNote, listNotes } from "./notes.js";

// Set at build time (build.mjs --site=…): the PHR site whose passkeys this
// extension shares; null: the passkeys belong to the extension itself.
const SITE_RP_ID = typeof __SITE_RP_ID__ === "string" ? __SITE_RP_ID__ : undefined;

const ready = init(new URL(simd128Supported() ? "./medseal.wasm" : "./medseal-scalar.wasm", import.meta.url));
// The background that holds the vault. Chromium: the extension's service worker. Firefox (MV3
// without service workers; build.mjs --browser=firefox): an event page, a window of this
// extension's origin, which runtime.getBackgroundPage() wakes if it was stopped; a Window's
// postMessage takes the target origin before the transfer list.
const serviceWorker = !!chrome.runtime.getManifest().background?.service_worker;
const BACKGROUND = serviceWorker ? "service worker" : "background page"; // for the status line
const worker = new RemoteVault(serviceWorker
  ? async () => (await navigator.serviceWorker.ready).active
  : async () => {
    const background = await chrome.runtime.getBackgroundPage();
    return { postMessage: (message, transfer) => background.postMessage(message, location.origin, transfer) };
  });
let vault = null;

const $ = (id) => document.getElementById(id);
const show = (id, on) => ($(id).hidden = !on);

function say(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

/** Runs a request on the worker; if Chrome restarted it (Locked), hands the vault over again and retries once. */
async function viaWorker(fn) {
  try {
    return await fn();
  } catch (e) {
    if (e?.code !== ErrorCode.Locked || !vault || vault.locked) throw e;
    await vault.handOff(worker);
    return fn();
  }
}

async function render() {
  const { manifest } = await chrome.storage.local.get("manifest");
  let unlocked = (await worker.status()).unlocked;
  if (!unlocked && vault && !vault.locked) {
    await vault.handOff(worker);
    unlocked = true;
  }
  $("state").textContent = !manifest ? "no vault" : unlocked ? "unlocked" : "locked";
  $("state").className = `pill ${manifest ? (unlocked ? "unlocked" : "locked") : ""}`;
  show("setup", !manifest);
  show("unlock", !!manifest && !unlocked);
  show("compose", unlocked);
  const notes = await listNotes();
  show("list-section", notes.length > 0);
  $("list").replaceChildren(
    ...notes.map((n) => {
      const li = document.createElement("li");
      li.dataset.id = n.id;
      const meta = document.createElement("span");
      meta.className = "meta";
      meta.textContent = `sealed ${new Date(n.at).toLocaleString()} `;
      const btn = document.createElement("button");
      btn.className = "small secondary";
      btn.textContent = "Open";
      btn.onclick = () => act(async () => {
        const note = await viaWorker(() => openNote(worker, n));
        const out = li.querySelector(".opened") ?? li.appendChild(document.createElement("span"));
        out.className = "opened";
        out.textContent = note.source ? `${note.text}\n— from ${note.source}` : note.text;
        say(`Opened in the ${BACKGROUND}.`);
      });
      li.append(meta, btn);
      return li;
    }),
  );
}

async function act(f) {
  try {
    await f();
  } catch (e) {
    const hint = e?.code === ErrorCode.Locked ? " Unlock with your passkey first." : "";
    say(`${e?.code ?? "Error"}: ${e?.message ?? e}.${hint}`, true);
  }
}

$("create").onclick = () => act(async () => {
  await ready;
  const created = await Vault.create({
    passkey: {
      // No rp.id: the passkey belongs to this extension; or the site's RP id (docs/EXTENSIONS.md).
      rp: SITE_RP_ID ? { id: SITE_RP_ID, name: "medseal notes" } : { name: "medseal notes" },
      user: { id: crypto.randomUUID(), name: "medseal notes", displayName: "medseal notes" },
      label: "this browser",
    },
  });
  await chrome.storage.local.set({ manifest: created.manifest });
  vault = created.vault;
  await vault.handOff(worker);
  $("recovery-code").textContent = created.recoveryCode;
  show("recovery", true);
  await render();
  say("Vault created.");
});

$("recovery-done").onclick = () => {
  $("recovery-code").textContent = "";
  show("recovery", false);
};

$("unlock-btn").onclick = () => act(async () => {
  await ready;
  const { manifest } = await chrome.storage.local.get("manifest");
  ({ vault } = await Vault.unlock(manifest, { passkey: { rpId: SITE_RP_ID } }, { minRevision: manifest.revision }));
  await vault.handOff(worker);
  await render();
  say("Unlocked.");
});

$("seal").onclick = () => act(async () => {
  const text = $("note").value.trim();
  if (!text) return say("Type a note first.", true);
  await viaWorker(() => addNote(worker, { text, kind: "note" }));
  $("note").value = "";
  await render();
  say(`Sealed by the ${BACKGROUND} and stored.`);
});

function dropLocalCopy() {
  vault?.lock();
  vault = null;
}

$("lock").onclick = () => act(async () => {
  dropLocalCopy(); // first, so nothing can hand it back
  // Other open pages of the extension drop their copies too.
  await chrome.runtime.sendMessage({ medsealNotes: "lock" }).catch(() => {});
  await worker.lock();
  await render();
  say(`Locked: keys wiped from the page and the ${BACKGROUND}.`);
});

chrome.runtime.onMessage.addListener((msg) => {
  if (msg?.medsealNotes === "lock") {
    dropLocalCopy();
    void act(render);
  }
});

// Notes sealed elsewhere (the context menu) show up at once.
chrome.storage.onChanged.addListener((changes) => {
  if (Object.keys(changes).some((k) => k.startsWith("note:"))) void act(render);
});

act(render);
