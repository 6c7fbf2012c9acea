// The vault log in the demo (FORMAT.md §16): this device syncs the server's
// log into medseal, which verifies every checkpoint, proof and entry and
// pins what it verified; the app only carries the server's answers, appends
// the entries medseal signs, and shows the access report and alerts medseal
// computes from the verified log.
import { accessReports } from "/pkg/dist/index.js";

/** A short label for this device, written into the log's unlock entries (no identifier, just what a person recognises). */
export function deviceLabel() {
  const ua = navigator.userAgent;
  const browser = /Firefox\//.test(ua) ? "Firefox" : /Edg\//.test(ua) ? "Edge" : /Chrome\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "a browser";
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Mac OS X/.test(ua) ? "macOS" : /Windows/.test(ua) ? "Windows" : /Linux/.test(ua) ? "Linux" : "a computer";
  return `${browser} on ${os}`;
}

// What this device has shown the patient already (alerts are for entries after it), and which unlock
// entries are its own: kept per vault in localStorage (not secret; losing it only re-shows alerts).
const key = (vaultId, what) => `medseal.demo.log.${what}.${vaultId}`;
const ownOf = (vaultId) => JSON.parse(localStorage.getItem(key(vaultId, "own")) ?? "[]");
function addOwn(vaultId, entryId) {
  const list = ownOf(vaultId);
  if (!list.includes(entryId)) localStorage.setItem(key(vaultId, "own"), JSON.stringify([...list, entryId]));
}
const ackOf = (vaultId) => {
  const v = localStorage.getItem(key(vaultId, "ack"));
  return v === null ? null : Number(v);
};
export function acknowledge(vaultId, size) {
  localStorage.setItem(key(vaultId, "ack"), String(size));
}

/**
 * Syncs the log: pages of the server's answer, each verified by medseal against this device's pin
 * (LogRolledBack, LogForked, LogInconsistent, LogEntryInvalid, LogSignatureInvalid, LogProofMissing
 * refuse it all); then this device's cosignature goes back, for the vault's other devices to compare.
 */
export async function sync(vault, api, { expect = [] } = {}) {
  const own = ownOf(vault.vaultId());
  let size = vault.logStatus().size;
  for (;;) {
    const answer = await api("GET", `/api/log?from=${size}`);
    // medseal raises alerts as it verifies (never for this device's own unlock entries), and checks that what this
    // device appended is where the server said it put it.
    // (On the last page every expected entry must be there; earlier pages check those they reach.)
    const r = vault.syncLog(answer, { own, expect: answer.more ? expect.filter((x) => x.position < answer.size) : expect });
    size = r.size;
    if (r.cosigned) await api("POST", "/api/log/cosign", { checkpoint: r.cosigned });
    if (!answer.more) break;
  }
  // A new vault's log starts with the vault naming the server's log key (trust on first use, signed by the vault).
  if (size === 0) {
    const { name, key: serverKey } = await api("GET", "/api/log/key");
    await append(vault, api, { type: "server", name, key: serverKey });
  }
  const id = vault.vaultId();
  if (ackOf(id) === null) acknowledge(id, vault.logStatus().size);
  return vault.logStatus().size;
}

/**
 * Appends an entry medseal signs for the log's current size; if the server moved on meanwhile
 * (its own access events), sync and sign again for the new size.
 */
export async function append(vault, api, event) {
  for (let attempt = 0; attempt < 5; attempt++) {
    const position = (await api("GET", `/api/log?from=${vault.logStatus().size}`)).size;
    const leaf = vault.logEntry(event, { position });
    try {
      await api("POST", "/api/log", { size: position, leaf });
    } catch (e) {
      if (e.code !== "log_moved") throw e;
      await sync(vault, api);
      continue;
    }
    // Acknowledged: the next sync must find it at that position (a server that drops it afterwards is caught).
    await sync(vault, api, { expect: [{ position, leaf }] });
    return;
  }
  throw new Error("the log kept moving: try again");
}

/**
 * After an unlock: record it (which unlock entry, this device's label and, for a passkey, whether the
 * authenticator verified the user: `uv`, the UV flag of the assertion's authenticator data, as medseal
 * read it) and remember the entry as this device's own. The security check-up reads `uv`.
 */
export async function unlocked(vault, api, { via, method, uv }) {
  const id = vault.vaultId();
  if (method === "passkey") addOwn(id, via);
  await sync(vault, api);
  await append(vault, api, { type: "unlock", via, method, device: deviceLabel(), ...(method === "passkey" && typeof uv === "boolean" ? { uv } : {}) });
  // This device used the recovery code itself: that is no alert for it (its other devices will say so).
  if (method === "recovery") acknowledge(id, vault.logStatus().size);
}

/** After a manifest change: the log's manifest entry (medseal fills in revision, hash, epoch and what changed since `before`). */
export async function manifestChanged(vault, api, before) {
  await append(vault, api, { type: "manifest", previous: before });
}

/** The newest `count` entries of the verified log, each with its inclusion proof in the pinned tree. */
async function newest(vault, api, count = 1000) {
  const size = vault.logStatus().size;
  const start = Math.max(0, size - count);
  return start < size ? (await api("GET", `/api/log/entries?start=${start}&end=${size}&size=${size}`)).entries : [];
}

/**
 * The verified log from its first entry (up to medseal's 10 000 a call), each entry with its inclusion
 * proof in the pinned tree, a page of 1000 at a time: what the security check-up reads.
 */
export async function all(vault, api) {
  const size = vault.logStatus().size;
  const out = [];
  for (let start = Math.max(0, size - 10_000); start < size; start += 1000) {
    const end = Math.min(size, start + 1000);
    out.push(...(await api("GET", `/api/log/entries?start=${start}&end=${end}&size=${size}`)).entries);
  }
  return out;
}

/** The access report of the newest entries, and the alerts raised since this device last acknowledged. */
export async function report(vault, api, opts = {}) {
  const id = vault.vaultId();
  const items = await newest(vault, api);
  const r = vault.accessReport(items, { ...opts, since: ackOf(id) ?? vault.logStatus().size });
  return { ...r, size: vault.logStatus().size, checkpoint: vault.logStatus().checkpoint };
}

const when = (t) => new Date(t * 1000).toLocaleString();

const RULES = {
  "new-unlock-method": (a) => `A passkey this device has not seen before unlocked your vault (${a.actor}, ${when(a.time)}). If it was not you, remove that passkey now.`,
  "recovery-used": (a) => `Your recovery code was used (${when(a.time)}). If it was not you, make a new recovery code now and check your passkeys.`,
  burst: (a) => `${a.actor} opened ${a.count} of your records within a few minutes (${when(a.time)}). If that is more than you expected, stop sharing with them.`,
  "after-expiry": (a) => `${a.actor} tried to open your records after the share ended (${when(a.time)}).`,
  "link-places": (a) => `Your health link was opened from ${a.count} different networks (latest ${when(a.time)}). If you gave it to one person, revoke it.`,
};
const ACTIONS = { "remove-passkey": "Remove this passkey", "rotate-recovery-code": "Make a new recovery code", "revoke-grant": "Stop sharing with them", "revoke-link": "Revoke the link" };

/** The alert banner: one line per alert, with the button that answers it, and a dismiss. */
export function renderAlerts(el, alerts, { onAction, onDismiss }) {
  el.replaceChildren();
  el.hidden = alerts.length === 0;
  if (!alerts.length) return;
  el.append(Object.assign(document.createElement("strong"), { textContent: `Unusual access to your vault (${alerts.length})` }));
  const ul = document.createElement("ul");
  for (const a of alerts) {
    const li = document.createElement("li");
    li.dataset.rule = a.rule;
    li.append(RULES[a.rule]?.(a) ?? a.rule, " ");
    const b = Object.assign(document.createElement("button"), { textContent: ACTIONS[a.action] ?? a.action });
    b.onclick = () => onAction(a);
    li.append(b);
    ul.append(li);
  }
  const dismiss = Object.assign(document.createElement("button"), { textContent: "These were me / dismiss" });
  dismiss.onclick = onDismiss;
  el.append(ul, dismiss);
}

function download(name, type, text) {
  const a = Object.assign(document.createElement("a"), { href: URL.createObjectURL(new Blob([text], { type })), download: name });
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

/** The Activity page: a timeline of the verified log, a filter by person, and exports. */
export function renderActivity(root, r, { patient }) {
  const sel = root.querySelector("#activity-who");
  const people = [...new Set(r.events.filter((e) => e.actorKind === "person" || e.actorKind === "link").map((e) => e.actor))].sort();
  const was = sel.value;
  sel.replaceChildren(new globalThis.Option("everyone", ""), ...people.map((p) => new globalThis.Option(p, p)));
  sel.value = people.includes(was) ? was : "";
  const draw = () => {
    const who = sel.value;
    const shown = r.events.filter((e) => !who || e.actor === who).slice().reverse();
    const tbody = root.querySelector("#activity-rows");
    tbody.replaceChildren();
    for (const e of shown) {
      const tr = document.createElement("tr");
      tr.dataset.kind = e.kind;
      if (e.outcome !== "ok") tr.className = "refused";
      const by = e.attestedBy === "server" ? "server (signed)" : "your vault (signed)";
      const what = e.expires ? `${e.what}, until ${new Date(e.expires * 1000).toLocaleDateString()}` : e.what;
      for (const text of [when(e.time), e.actor, what, e.purpose ?? "", by]) tr.append(Object.assign(document.createElement("td"), { textContent: text }));
      tbody.append(tr);
    }
    root.querySelector("#activity-summary").textContent =
      `${shown.length} event(s)${who ? ` for ${who}` : ""}. Verified by this device: ${r.size} log entries, every one signed and in the tree of checkpoint ${r.checkpoint?.split("\n")[2] ?? "-"}.`;
    return shown;
  };
  sel.onchange = draw;
  draw();
  root.querySelector("#activity-csv").onclick = () => download("medseal-access-report.csv", "text/csv", accessReports.csv(r.events));
  root.querySelector("#activity-fhir").onclick = () => download("medseal-access-report.json", "application/fhir+json", JSON.stringify(accessReports.auditEvents(r.events, { patient }), null, 2));
}
