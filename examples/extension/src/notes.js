// Notes in chrome.storage.local: only { id, at, sealed } is stored; the text,
// its title and the page it came from are all inside the sealed record.

/** Seals a note with `vault` (a medseal Vault or RemoteVault) and stores it; returns its id. */
export async function addNote(vault, note) {
  const id = crypto.randomUUID();
  const sealed = await vault.seal({ ...note, at: new Date().toISOString() }, { recordId: id, context: "medseal-notes/v1" });
  const { notes = [] } = await chrome.storage.local.get("notes");
  notes.push({ id, at: Date.now(), sealed });
  await chrome.storage.local.set({ notes });
  return id;
}

/** Opens one stored note. */
export function openNote(vault, stored) {
  return vault.open(stored.sealed, { recordId: stored.id, context: "medseal-notes/v1" });
}

export async function listNotes() {
  const { notes = [] } = await chrome.storage.local.get("notes");
  return notes;
}
