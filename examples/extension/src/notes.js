// Notes in chrome.storage.local, one key per note ("note:<id>", so writers in
// the page and the service worker never overwrite each other): only
// { id, at, sealed } is stored; the text, and the page it came from, are
// inside the sealed record.

const CONTEXT = "medseal-notes/v1";

/** Seals a note with `vault` (a medseal Vault or RemoteVault) and stores it; returns its id. */
export async function addNote(vault, note) {
  const id = crypto.randomUUID();
  const sealed = await vault.seal({ ...note, at: new Date().toISOString() }, { recordId: id, context: CONTEXT });
  await chrome.storage.local.set({ [`note:${id}`]: { id, at: Date.now(), sealed } });
  return id;
}

/** Opens one stored note. */
export function openNote(vault, stored) {
  return vault.open(stored.sealed, { recordId: stored.id, context: CONTEXT });
}

/** The stored notes, oldest first. */
export async function listNotes() {
  const all = await chrome.storage.local.get(null);
  return Object.entries(all)
    .filter(([k]) => k.startsWith("note:"))
    .map(([, v]) => v)
    .sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : 1));
}
