// "Download my data" (GDPR art. 20, HIPAA right of access): one file with
// every record and file of this vault exactly as stored, the manifest
// history and the vault log, sealed by medseal (vault.export, FORMAT.md §19)
// so that the recovery code alone opens it, offline, with the `medseal`
// command-line tool. Nothing is decrypted for it: the browser only gathers
// what the server holds and medseal seals the whole.
import { attachmentOf } from "./files.js";

/** Every page of a paged list. */
async function all(api, path, key) {
  const out = [];
  for (let after = null; ;) {
    const page = await api("GET", after === null ? path : `${path}?after=${encodeURIComponent(after)}`);
    out.push(...page[key]);
    if (page.next == null) return out;
    after = page.next;
  }
}

/** The verified log's checkpoint and every leaf up to it (the server pages entries). */
async function logOf(vault, api) {
  const { size, checkpoint } = vault.logStatus();
  if (!checkpoint || size === 0) return undefined;
  const leaves = [];
  for (let start = 0; start < size;) {
    const end = Math.min(size, start + 1000);
    const { entries } = await api("GET", `/api/log/entries?start=${start}&end=${end}&size=${size}`);
    leaves.push(...entries.map((e) => e.leaf));
    start = end;
  }
  return { checkpoint, leaves };
}

/** A stored file's sealed bytes, as the server keeps them. */
async function sealedFile(id) {
  const r = await fetch(`/api/attachments/${encodeURIComponent(id)}`, { credentials: "same-origin", headers: { "x-medseal": "1" } });
  if (!r.ok) throw new Error(`could not read a stored file: HTTP ${r.status}`);
  return r.blob();
}

/**
 * Builds the export; returns it as a Blob. `onProgress(done)` counts the
 * plaintext bytes sealed so far.
 */
export async function exportAll(vault, api, log, onProgress) {
  await log.sync(vault, api);
  const records = await all(api, "/api/records", "records");
  const { history } = await api("GET", "/api/manifest?since=0");
  // A file's name and type are in its sealed DocumentReference record: opened here to name the file in the export.
  const opened = vault.openMany(records.map((r) => ({ sealed: r.sealed, recordId: r.id })));
  const files = [];
  opened.forEach((o) => {
    const id = o.ok ? attachmentOf(o.value) : null;
    if (id) files.push({ id, attachment: o.value.content[0].attachment });
  });
  const fileItems = [];
  for (const f of files) {
    fileItems.push({ recordId: f.id, context: "attachment", sealed: await sealedFile(f.id), name: f.attachment.title, type: f.attachment.contentType });
  }
  return vault.export({
    records: records.map((r) => ({ recordId: r.id, sealed: r.sealed })),
    files: fileItems,
    history,
    log: await logOf(vault, api),
    app: "medseal demo",
    onProgress,
  });
}

/** Offers the export as a download named after the day. */
export function offer(blob) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = `medseal-export-${new Date().toISOString().slice(0, 10)}.msex`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
}
