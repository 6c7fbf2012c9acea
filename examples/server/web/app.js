// Demo PHR web app for the reference server. medseal seals every record in
// the browser; the server (webauthn-rs login) stores ciphertext and the signed
// vault manifest. One passkey gesture both signs in and unlocks.
//
// What this device has seen of the vault (the newest manifest, record
// versions) is kept by medseal itself (its default store: localStorage), so
// a server that serves an older manifest (a rollback) or a different history
// (a fork) is refused at unlock: every unlock passes the server's manifest
// history (`GET /api/manifest?since=0`) for medseal to check.
import { init, Vault, MedsealError, ErrorCode, webauthn, recordInfo, sharing, notices, tombstones, ciphertextSize } from "/pkg/dist/index.js";
import { toResource, describe, bundle, emergencyBundle } from "/shared/fhir.js";
import * as log from "./log.js";
import * as files from "./files.js";
import * as exporting from "./export.js";
import * as security from "./security.js";
import { OPERATOR_KEYS } from "./notice-keys.js";

const $ = (id) => document.getElementById(id);
let vault = null;
// The sealed form of each record as last listed, by id: an edit seals the next version.
let listed = new Map();
// The opened records (kind and text) by id: what a share gives and what a label scope matches.
let openedById = new Map();
// The opened FHIR resources by id: what a SMART Health Link's Bundle holds.
let resourcesById = new Map();
// Grants this vault made (as the server lists them, with the grantee's username).
let myGrants = [];
// The signed-in account name (the patient, in the access report's FHIR export).
let me = "";

async function api(method, path, body) {
  const r = await fetch(path, {
    method,
    headers: { "content-type": "application/json", "x-medseal": "1" },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const j = await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(j.message ?? `HTTP ${r.status}`), { status: r.status, code: j.error });
  return j;
}

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

// The server showed this device a manifest older than one it saw, or a history that disagrees with it.
const HISTORY_ERRORS = new Set([ErrorCode.StaleManifest, ErrorCode.ForkDetected, ErrorCode.HistoryIncomplete]);
// The server's copy of the vault log does not extend what this device verified before.
const LOG_ERRORS = new Set([ErrorCode.LogRolledBack, ErrorCode.LogForked, ErrorCode.LogInconsistent, ErrorCode.LogEntryInvalid, ErrorCode.LogSignatureInvalid, ErrorCode.LogProofMissing]);

function explain(e) {
  if (e instanceof MedsealError && HISTORY_ERRORS.has(e.code)) {
    return `Warning: the server showed an older or different history of your vault than this device saw before (${e.code}). ` +
      "The vault was not unlocked and nothing was changed. Do not trust this server's copy; contact its operator. " +
      `(${e.message})`;
  }
  if (e instanceof MedsealError && LOG_ERRORS.has(e.code)) {
    return `Warning: the server's record of who accessed your vault was changed, cut short, or differs from what this device verified before (${e.code}). ` +
      "Entries may have been hidden or rewritten. Keep this device's copy as evidence and contact the server's operator. " +
      `(${e.message})`;
  }
  if (e instanceof MedsealError && e.code === ErrorCode.KeyChanged) {
    return "Warning: this person's key is not the one this browser saw before. The server may be showing you someone else's key. " +
      "Do not share until you have compared fingerprints with them in person or by phone. (KeyChanged)";
  }
  if (e instanceof MedsealError) return `${e.message} (${e.code})`;
  return e?.message ?? String(e);
}

function show(view) {
  for (const id of ["auth", "recovery", "app"]) $(id).hidden = id !== view;
  for (const id of ["nav", "sharing", "card", "shared", "activity", "security", "your-data", "delete-account"]) $(id).hidden = view !== "app";
  $("deleted").hidden = true;
  if (view !== "app") $("alerts").hidden = true;
}

const sealOpts = (id, version) => (version === undefined ? { recordId: id } : { recordId: id, version });
const b64u = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

/**
 * Unlocks the vault once signed in, with the server's manifest and its whole
 * history (`since=0`: the server bounds it to 1000 revisions). medseal checks
 * it against what this device saw before (StaleManifest, ForkDetected,
 * HistoryIncomplete). A refused unlock signs out again. Returns the vault and, for a passkey, `uv`
 * (whether the authenticator verified the user: the UV flag of the assertion, logged with the unlock).
 */
async function unlockSignedIn(source) {
  try {
    let current;
    try {
      current = await api("GET", "/api/manifest?since=0");
    } catch (e) {
      // Over 1000 revisions: the manifest alone (medseal asks for history only if this device saw an older one).
      if (e.code !== "history_too_long") throw e;
      current = await api("GET", "/api/manifest");
    }
    const { vault: v, uv } = await Vault.unlock(current.manifest, source, current.history ? { history: current.history } : {});
    return { vault: v, uv };
  } catch (e) {
    await api("POST", "/api/logout").catch(() => {});
    throw e;
  }
}

async function refreshRecords() {
  const started = vault;
  // The list is paged: follow `next` until the server says there is no more.
  const records = [];
  for (let after = null; ;) {
    const page = await api("GET", after === null ? "/api/records" : `/api/records?after=${encodeURIComponent(after)}`);
    records.push(...page.records);
    if (page.next == null) break;
    after = page.next;
  }
  const opened = vault.openMany(records.map((r) => ({ sealed: r.sealed, recordId: r.id })));
  listed = new Map(records.map((r) => [r.id, r.sealed]));
  // Records are FHIR R4 resources (examples/shared/fhir.js); shown by kind and text.
  openedById = new Map(records.flatMap((r, i) => (opened[i].ok ? [[r.id, describe(opened[i].value)]] : [])));
  resourcesById = new Map(records.flatMap((r, i) => (opened[i].ok ? [[r.id, opened[i].value]] : [])));
  const tbody = $("records");
  tbody.replaceChildren();
  let shown = 0;
  const fileRows = [];
  records.forEach((r, i) => {
    const o = opened[i];
    // A tombstone stands in the place of a deleted record: it is gone.
    if (!o.ok && o.error.code === ErrorCode.RecordDeleted) return;
    // A file's record (its name, type, size) is listed with the files.
    if (o.ok && files.attachmentOf(o.value)) {
      fileRows.push({ record: r, resource: o.value });
      return;
    }
    shown++;
    const tr = document.createElement("tr");
    tr.dataset.recordId = r.id;
    const pick = document.createElement("td");
    if (o.ok) {
      const box = document.createElement("input");
      box.type = "checkbox";
      box.className = "share-pick";
      box.value = r.id;
      box.setAttribute("aria-label", "share this record");
      pick.append(box);
    }
    tr.append(pick);
    const value = o.ok ? describe(o.value) : { kind: "?", text: `cannot open: ${explain(o.error)}` };
    for (const text of [value.kind, value.text, new Date(r.updated * 1000).toLocaleString()]) {
      const td = document.createElement("td");
      td.textContent = text;
      tr.append(td);
    }
    const actions = document.createElement("td");
    if (o.ok) {
      const edit = document.createElement("button");
      edit.textContent = "Edit";
      edit.onclick = () => { $("edit-id").value = r.id; $("kind").value = value.kind; $("text").value = value.text; $("cancel-edit").hidden = false; $("save").textContent = "Seal and update"; };
      actions.append(edit);
    }
    const del = document.createElement("button");
    del.textContent = "Delete";
    // A signed tombstone (the next version) replaces the record: the server cannot bring the old one back unnoticed.
    del.onclick = () => action(async () => {
      const version = recordInfo(r.sealed).version + 1;
      await api("PUT", `/api/records/${r.id}`, { sealed: vault.tombstone({ recordId: r.id, version }) });
      await log.append(vault, api, { type: "delete", record: r.id });
      await refreshRecords();
      status("Record deleted.");
    });
    actions.append(" ", del);
    tr.append(actions);
    tbody.append(tr);
  });
  showFiles(fileRows);
  const m = vault.manifest();
  const passkeys = m.unlock.filter((e) => e.type === "passkey");
  $("vault-info").textContent = `${shown} sealed record(s). Vault unlocks with: ${passkeys.map((e) => e.label ?? "passkey").join(", ")}, or the recovery code. Manifest revision ${m.revision}.`;
  await refreshSharing();
  // A log the server tampered with is reported, but does not lock the patient out of their records.
  await refreshActivity().catch(logProblem);
  // Nor does a check-up that cannot run: it says so on its page.
  await refreshSecurity().catch((e) => {
    logProblem(e);
  }).catch((e) => {
    $("security-summary").textContent = `The check-up could not run: ${explain(e)}`;
  });
  const list = $("passkeys");
  list.replaceChildren();
  for (const e of passkeys) {
    const li = document.createElement("li");
    li.textContent = `${e.label ?? "passkey"} `;
    li.dataset.credentialId = e.credentialId;
    const rm = document.createElement("button");
    rm.textContent = "Remove";
    rm.disabled = passkeys.length < 2; // medseal refuses to remove the last passkey
    rm.onclick = () => action(() => removePasskey(e.id, e.label ?? "passkey"));
    li.append(rm);
    list.append(li);
  }
  // Locked or signed out while this ran (it awaits the server several
  // times): say so as the vault would, so that the action that asked for
  // the refresh ends without a success status over "Locked" (see action()).
  if (vault !== started) throw new MedsealError(ErrorCode.Locked, "the vault was locked during the refresh");
}

// A security notice the operator signed (FORMAT.md §18), checked against the keys this app pins:
// one the server forged or altered is ignored (NoticeInvalid) and nothing is shown.
const NOTICE_ACTIONS = {
  rekey: ["Re-key now", rekeyVault],
  "rotate-recovery": ["Make a new recovery code", newRecoveryCode],
  "add-passkey": ["Add a backup passkey", addPasskey],
  "review-activity": ["Review activity", async () => { $("activity").scrollIntoView(); await refreshActivity(); }],
  "update-app": ["Reload the app", async () => location.reload()],
};

async function showNotice() {
  $("notice").hidden = true;
  if (!OPERATOR_KEYS.length) return;
  const { notice } = await api("GET", "/api/notice");
  if (!notice) return;
  let n;
  try {
    n = notices.verify(notice, { keys: OPERATOR_KEYS });
  } catch (e) {
    // Shown nowhere on purpose: a forged notice must not reach the patient.
    console.warn(`a security notice failed verification and was ignored (${e.code})`);
    $("notice").dataset.ignored = e.code;
    return;
  }
  if (!n.current) return;
  $("notice").className = `notice-${n.severity}`;
  $("notice-title").textContent = n.title;
  $("notice-body").textContent = n.body;
  $("notice-meta").textContent = `Signed by the service's operator, ${new Date(n.issued * 1000).toLocaleDateString()}.`;
  const act = NOTICE_ACTIONS[n.action];
  $("notice-action").hidden = !act;
  if (act) {
    $("notice-action").textContent = act[0];
    $("notice-action").onclick = () => action(act[1]);
  }
  $("notice").hidden = false;
}

async function rekeyVault() {
  // A new key epoch, no passkey prompt: what is sealed from now on needs the new epoch's key.
  const before = vault.manifest();
  const manifest = vault.rekey();
  await storeManifest(before.revision, manifest);
  await log.manifestChanged(vault, api, before);
  const n = await reissueGrants();
  await refreshRecords();
  status(`Re-keyed: what is sealed from now on needs the new key.${n ? ` ${n} share(s) re-issued under new keys.` : ""}`);
}

async function enterApp(recoveryCode) {
  if (recoveryCode) {
    $("recovery-code").textContent = recoveryCode;
    $("recovery-ack").checked = false;
    $("recovery-done").disabled = true;
    show("recovery");
  } else {
    show("app");
    await refreshRecords();
    await showNotice().catch((e) => console.warn("no security notice", e));
  }
}

function username() {
  const u = $("username").value.trim();
  if (!u) throw new Error("Enter a username first.");
  return u;
}

async function signup() {
  const user = username();
  const { flow, options } = await api("POST", "/api/signup/start", { username: user });
  const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey);
  // The PRF extension rides on the server's own ceremony: one prompt registers the login passkey and keys the vault.
  const { prfSalt, extensions } = webauthn.createExtension();
  publicKey.extensions = { ...publicKey.extensions, ...extensions };
  publicKey.authenticatorSelection = { ...publicKey.authenticatorSelection, residentKey: "preferred", userVerification: "required" };
  const credential = await navigator.credentials.create({ publicKey });
  const created = await Vault.create({ credential, prfSalt, label: "first passkey" });
  // `response` is the credential without its PRF results: the only form that may be posted.
  await api("POST", "/api/signup/finish", { flow, credential: created.response, manifest: created.manifest });
  vault = created.vault;
  me = user;
  await log.unlocked(vault, api, { via: created.manifest.unlock.find((e) => e.type === "passkey").id, method: "passkey", uv: created.uv }).catch(logProblem);
  status(`Welcome, ${user}. Your vault is ready.`);
  await enterApp(created.recoveryCode);
}

async function login() {
  const { flow, options, manifest } = await api("POST", "/api/login/start", { username: username() });
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(options.publicKey);
  // A PRF evaluation for each of the vault's passkeys that the server allows (its list holds base64url ids).
  const { extensions } = webauthn.requestExtension(manifest, { allowCredentials: options.publicKey.allowCredentials });
  publicKey.extensions = { ...publicKey.extensions, ...extensions };
  publicKey.userVerification = "required";
  const credential = await navigator.credentials.get({ publicKey });
  // Sign in first (the credential without its PRF result), then read the manifest history, which only a
  // signed-in user may, and unlock with it: medseal checks it against what this device saw before.
  await api("POST", "/api/login/finish", { flow, credential: webauthn.serverSafe(credential) });
  const { vault: v, uv } = await unlockSignedIn({ credential });
  vault = v;
  me = username();
  const used = vault.manifest().unlock.find((e) => e.type === "passkey" && e.credentialId === credential.id);
  await log.unlocked(vault, api, { via: used?.id ?? "unknown passkey", method: "passkey", uv }).catch(logProblem);
  await enterApp();
  status("Signed in and unlocked with one passkey gesture.");
}

async function recover() {
  const { flow, challenge, audience, manifest } = await api("POST", "/api/recover/start", { username: username() });
  const code = $("code").value;
  // The sign-in proof only: this unlock neither reads nor records what the device saw (`store: null`); the vault
  // is unlocked for use below, once signed in, with the manifest history checked.
  // signRecoveryLogin: the recovery code's own login key (the server checks it against the recovery entry, so
  // a rotated code signs in no more).
  const { vault: prover } = await Vault.unlock(manifest, { recoveryCode: code }, { store: null });
  let sig;
  try {
    const bytes = Uint8Array.from(atob(challenge.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
    sig = prover.signRecoveryLogin(bytes, audience);
  } finally {
    prover.lock();
  }
  await api("POST", "/api/recover/finish", { flow, signature: b64u(sig) });
  ({ vault } = await unlockSignedIn({ recoveryCode: code }));
  me = username();
  await log.unlocked(vault, api, { via: vault.manifest().unlock.find((e) => e.type === "recovery").id, method: "recovery" }).catch(logProblem);
  $("code").value = "";
  await enterApp();
  status("Recovered with your recovery code. Add a new passkey now, and make a new recovery code.");
}

async function addPasskey() {
  const { flow, options } = await api("POST", "/api/passkeys/start");
  const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(options.publicKey);
  const { prfSalt, extensions } = webauthn.createExtension();
  publicKey.extensions = { ...publicKey.extensions, ...extensions };
  publicKey.authenticatorSelection = { ...publicKey.authenticatorSelection, residentKey: "preferred", userVerification: "required" };
  const credential = await navigator.credentials.create({ publicKey });
  const before = vault.manifest();
  const replaces = before.revision;
  const { manifest, response } = await vault.addPasskey({ credential, prfSalt, label: `backup passkey ${new Date().toLocaleDateString()}` });
  await api("POST", "/api/passkeys/finish", { flow, credential: response, manifest, replaces });
  await log.manifestChanged(vault, api, before);
  await refreshRecords();
  status("Backup passkey added: it can sign in and unlock on its own.");
}

// A manifest this device just signed is already what it saw (the SDK's seen state): if the server never
// stores it, the next sign-in here reads the server's copy as a rollback. So a write that failed on the
// way (network, 5xx) is retried; a refusal (4xx, e.g. 409 when another device changed the vault first)
// is not, and is shown.
async function storeManifest(replaces, manifest) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await api("PUT", "/api/manifest", { replaces, manifest });
    } catch (e) {
      if (attempt >= 3 || (e.status && e.status < 500)) throw e;
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
}

async function removePasskey(entryId, label) {
  // A re-key with no passkey prompt: the removed passkey opens nothing sealed from now on. The server
  // deletes its login along with the write and signs out the user's other sessions.
  const before = vault.manifest();
  const replaces = before.revision;
  const manifest = vault.removeUnlock(entryId);
  await storeManifest(replaces, manifest);
  await log.manifestChanged(vault, api, before);
  const n = await reissueGrants();
  await refreshRecords();
  status(`Passkey "${label}" removed: it no longer signs in or unlocks.${n ? ` ${n} share(s) re-issued under new keys.` : ""}`);
}

async function newRecoveryCode() {
  const before = vault.manifest();
  const replaces = before.revision;
  const { manifest, recoveryCode } = vault.rotateRecoveryCode();
  await storeManifest(replaces, manifest);
  await log.manifestChanged(vault, api, before);
  const n = await reissueGrants();
  status(`New recovery code made; the old one no longer works with the current vault.${n ? ` ${n} share(s) re-issued under new keys.` : ""}`);
  await enterApp(recoveryCode);
}

async function saveRecord(ev) {
  ev.preventDefault();
  const editing = $("edit-id").value;
  const id = editing || `rec-${crypto.randomUUID()}`;
  const kind = $("kind").value;
  const record = toResource(kind, $("text").value, new Date().toISOString(), id);
  // An edit is the next version of the record (a server that serves the older one again is caught: StaleRecord).
  const version = editing && listed.has(id) ? recordInfo(listed.get(id)).version + 1 : undefined;
  const sealed = vault.seal(record, sealOpts(id, version));
  await api("PUT", `/api/records/${id}`, { sealed });
  await giveSlots(id, kind, sealed);
  $("text").value = "";
  $("edit-id").value = "";
  $("cancel-edit").hidden = true;
  $("save").textContent = "Seal and save";
  await refreshRecords();
  status("Record sealed and saved.");
}

// ---------------------------------------------------------------- sharing

const inDays = (days) => Date.now() + days * 86_400_000;
const until = (seconds) => new Date(seconds * 1000).toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
const scopeText = (info) => (info.label ? `all ${info.label} records` : `${info.records.length} record(s)`);
/** What one of my grants gives, with the records named (this device can read them). */
function myScopeText(info) {
  if (info.label) return scopeText(info);
  const names = info.records.map((id) => openedById.get(id)?.text ?? "(deleted)");
  return `${scopeText(info)}: ${names.slice(0, 3).join("; ")}${names.length > 3 ? "; …" : ""}`;
}

/** Whether a grant covers a record: its ids, or its label is the record's kind. */
function covers(info, id, kind) {
  return info.records ? info.records.includes(id) : info.label === kind;
}

/**
 * A record just sealed (new, or the next version of one: a new data key) gets a slot in
 * every active grant that covers it, so that grantees can open it. Revoked or expired grants
 * are no longer listed: medseal makes no slot for them (NotGranted, GrantExpired).
 */
async function giveSlots(id, kind, sealed) {
  for (const g of myGrants) {
    const info = sharing.grantInfo(g.grant);
    if (!covers(info, id, kind) || info.expires * 1000 <= Date.now()) continue;
    const slot = vault.grantSlot(g.grant, sealed, { recordId: id });
    await api("POST", `/api/grants/${info.id}/slots`, { slots: [{ recordId: id, slot }] });
  }
}

let grantee = null;

async function lookUp() {
  const name = $("grantee").value.trim();
  if (!name) throw new Error("Enter their username.");
  grantee = null;
  $("grantee-box").hidden = true;
  const { manifest } = await api("GET", `/api/people/${encodeURIComponent(name)}`);
  // Trust on first use: the server relays their key; this browser pins it and refuses a changed one.
  // Pinned under the username asked for: a server that answers with another vault is caught here.
  const fp = await sharing.pin(name, manifest);
  grantee = { name, manifest };
  $("grantee-fp").replaceChildren(
    `${name}'s fingerprint${fp.firstUse ? " (first time here: compare it with them)" : " (the same as before)"}: `,
    Object.assign(document.createElement("span"), { className: "fingerprint", textContent: fp.digits }),
  );
  $("grantee-box").hidden = false;
}

async function share() {
  if (!grantee) throw new Error("Look the person up first.");
  const scope = $("share-scope").value;
  const expires = inDays(Number($("share-days").value));
  let what;
  if (scope === "records") {
    const ids = [...document.querySelectorAll(".share-pick:checked")].map((b) => b.value);
    if (ids.length === 0) throw new Error("Tick the records to share in the table above.");
    what = { records: ids };
  } else {
    what = { label: scope.slice("label:".length) };
  }
  // Checked again at the moment of sharing: the key must still be the one pinned.
  await sharing.pin(grantee.name, grantee.manifest);
  const replaces = vault.manifest().revision;
  const { grant, manifest } = vault.grant({ grantee: grantee.manifest, expires, ...what });
  // The manifest that lists the grant first: the server accepts only grants the signed manifest lists.
  await storeManifest(replaces, manifest);
  const info = sharing.grantInfo(grant);
  const slots = [];
  for (const [id, value] of openedById) {
    if (covers(info, id, value.kind)) slots.push({ recordId: id, slot: vault.grantSlot(grant, listed.get(id), { recordId: id }) });
  }
  await api("POST", "/api/grants", { grant, slots });
  await log.append(vault, api, { type: "grant", share: info.id, to: grantee.name, ...(info.records ? { records: info.records.length } : { scope: info.label }), expires: info.expires });
  status(`Shared ${scopeText(info)} with ${grantee.name} until ${until(info.expires)}.`);
  for (const b of document.querySelectorAll(".share-pick:checked")) b.checked = false;
  await refreshSharing();
}

const linkBase = () => `${location.origin}/shl/`;
const viewerUrl = (shlink) => `${location.origin}/shl.html#${shlink}`;

async function showLink(shlink) {
  const url = viewerUrl(shlink);
  // The QR library (qrcode, bundled by scripts/vendor-web.mjs, served under /vendor/) loads on first use.
  const { toString } = await import("/vendor/qrcode.js");
  $("link-url").href = url;
  $("link-url").textContent = "the link";
  // The QR code holds the viewer URL with the link (and its key) in the fragment, which browsers never send.
  $("link-qr").innerHTML = await toString(url, { type: "svg", errorCorrectionLevel: "M", margin: 2 });
  $("link-out").hidden = false;
}

async function makeLink() {
  const scope = $("link-scope").value;
  let ids;
  if (scope === "records") {
    ids = [...document.querySelectorAll(".share-pick:checked")].map((b) => b.value);
    if (ids.length === 0) throw new Error("Tick the records to put in the link in the table above.");
  } else {
    const kind = scope.slice("kind:".length);
    ids = [...openedById].filter(([, v]) => v.kind === kind).map(([id]) => id);
    if (ids.length === 0) throw new Error(`You have no ${kind} records yet.`);
  }
  const label = $("link-label").value.trim() || undefined;
  const passcode = $("link-passcode").value;
  const expires = inDays(Number($("link-days").value));
  const replaces = vault.manifest().revision;
  const link = vault.createLink({ baseUrl: linkBase(), label, expires, passcode: passcode !== "" });
  await storeManifest(replaces, link.manifest);
  // One file: a FHIR R4 Bundle of the chosen records, encrypted (JWE) to the link key in this browser.
  const jwe = vault.sealLinkFile(link.shareId, bundle(ids.map((id) => resourcesById.get(id))));
  const exp = Math.floor(expires / 1000);
  await api("POST", "/api/links", { shareId: link.shareId, linkId: link.linkId, label, flag: link.flag, expires: exp, ...(passcode ? { passcode } : {}), files: [{ contentType: "application/fhir+json", jwe }] });
  await log.append(vault, api, { type: "link", share: link.shareId, ...(label ? { label } : {}), expires: exp });
  $("link-passcode").value = "";
  await showLink(link.shlink);
  status(`Link made for ${ids.length} record(s)${passcode ? ", with a passcode" : ""}, until ${until(exp)}.`);
  await refreshSharing();
}

async function makeCard() {
  const summary = [...openedById.values()].filter((v) => ["allergy", "medication", "condition"].includes(v.kind));
  const card = vault.emergencyCard(emergencyBundle(summary, { name: $("contact-name").value.trim(), phone: $("contact-phone").value.trim() }));
  // SMART Health Cards: "shc:/" in a byte-mode segment, the digits in a numeric-mode one, error correction L.
  const { toString } = await import("/vendor/qrcode.js");
  const digits = card.qr.slice("shc:/".length);
  $("card-qr").innerHTML = await toString([{ data: "shc:/", mode: "byte" }, { data: digits, mode: "numeric" }], { type: "svg", errorCorrectionLevel: "L", margin: 2 });
  $("card-fp").textContent = card.fingerprint;
  $("card-out").hidden = false;
  status(`Emergency card made: ${summary.length} item(s) and your contact, signed, in one QR code.`);
}

/**
 * After a re-key (a passkey removed, the recovery code rotated): every share made before it gets a new
 * key, in place of the old, because the removed credential knew the old keys. The grantee's key is
 * checked against its pin first; each record of the share gets a slot in the new grant.
 */
async function reissueGrants() {
  const epoch = vault.manifest().epoch;
  const active = new Set(sharing.shares(vault.manifest()).map((s) => s.id));
  let n = 0;
  for (const g of (await api("GET", "/api/grants")).grants) {
    const info = sharing.grantInfo(g.grant);
    if (!active.has(info.id) || info.grantorEpoch >= epoch || info.expires * 1000 <= Date.now()) continue;
    const { manifest: theirs } = await api("GET", `/api/people/${encodeURIComponent(g.grantee)}`);
    await sharing.pin(g.grantee, theirs);
    const replaces = vault.manifest().revision;
    const { grant, manifest } = vault.reissueGrant(g.grant, { grantee: theirs });
    await storeManifest(replaces, manifest);
    const next = sharing.grantInfo(grant);
    const slots = [];
    for (const [id, value] of openedById) {
      if (covers(next, id, value.kind)) slots.push({ recordId: id, slot: vault.grantSlot(grant, listed.get(id), { recordId: id }) });
    }
    await api("POST", "/api/grants", { grant, slots });
    await log.append(vault, api, { type: "grant", share: next.id, to: g.grantee, ...(next.records ? { records: next.records.length } : { scope: next.label }), expires: next.expires });
    n++;
  }
  return n;
}

async function revoke(id, who) {
  // The signed manifest stops listing the grant: no device of this vault gives it a record again, and
  // the server deletes it with the manifest write.
  const replaces = vault.manifest().revision;
  const manifest = vault.revokeShare(id);
  await storeManifest(replaces, manifest);
  await log.append(vault, api, { type: "revoke", share: id });
  status(`Stopped sharing with ${who}. What they already opened, they keep; nothing new reaches them.`);
  await refreshSharing();
}

async function openIncoming(g) {
  // Paged: a label grant can give more records than one page holds.
  const items = [];
  let grant, grantorManifest;
  for (let after = null; ;) {
    const page = await api("GET", `/api/shared/${encodeURIComponent(g.id)}${after === null ? "" : `?after=${encodeURIComponent(after)}`}`);
    ({ grant, grantorManifest } = page);
    items.push(...page.items);
    if (page.next == null) break;
    after = page.next;
  }
  await sharing.pin(g.grantor, grantorManifest);
  const opened = vault.openShared({ grant, grantor: grantorManifest, items });
  $("shared-title").textContent = `From ${g.grantor}: ${scopeText(sharing.grantInfo(grant))}`;
  const tbody = $("shared-records");
  tbody.replaceChildren();
  opened.forEach((o) => {
    const tr = document.createElement("tr");
    const v = o.ok ? describe(o.value) : { kind: "?", text: `cannot open: ${explain(o.error)}` };
    for (const text of [v.kind, v.text]) tr.append(Object.assign(document.createElement("td"), { textContent: text }));
    tbody.append(tr);
  });
  $("shared-view").hidden = false;
}

function cell(text) {
  return Object.assign(document.createElement("td"), { textContent: text });
}

async function refreshSharing() {
  $("my-fingerprint").textContent = sharing.fingerprint(vault.manifest()).digits;
  $("my-fingerprint").className = "fingerprint";
  // The manifest is the authority on what is shared; the server's list adds who it is shared with.
  const active = new Set(sharing.shares(vault.manifest()).map((s) => s.id));
  myGrants = (await api("GET", "/api/grants")).grants.filter((g) => active.has(g.id));
  const grants = $("grants");
  grants.replaceChildren();
  for (const g of myGrants) {
    const info = sharing.grantInfo(g.grant);
    const tr = document.createElement("tr");
    tr.append(cell(g.grantee), cell(myScopeText(info)), cell(until(info.expires)));
    const td = document.createElement("td");
    const b = Object.assign(document.createElement("button"), { textContent: "Revoke" });
    b.onclick = () => action(() => revoke(info.id, g.grantee));
    td.append(b);
    tr.append(td);
    grants.append(tr);
  }
  const incoming = $("incoming");
  incoming.replaceChildren();
  for (const g of (await api("GET", "/api/shared")).grants) {
    const info = sharing.grantInfo(g.grant);
    const tr = document.createElement("tr");
    tr.append(cell(g.grantor), cell(scopeText(info)), cell(until(info.expires)));
    const td = document.createElement("td");
    const b = Object.assign(document.createElement("button"), { textContent: "Open" });
    b.onclick = () => action(() => openIncoming(g));
    td.append(b);
    tr.append(td);
    incoming.append(tr);
  }
  const linkRows = $("links");
  linkRows.replaceChildren();
  for (const l of (await api("GET", "/api/links")).links.filter((x) => active.has(x.shareId))) {
    const tr = document.createElement("tr");
    tr.append(cell(l.label ?? "(no label)"), cell(`${l.views} time(s)`), cell(until(l.expires)));
    const td = document.createElement("td");
    const qr = Object.assign(document.createElement("button"), { textContent: "Show QR" });
    qr.onclick = () => action(() => showLink(vault.linkPayload(l.shareId, { baseUrl: linkBase(), label: l.label ?? undefined, passcode: l.flag.includes("P") })));
    const rm = Object.assign(document.createElement("button"), { textContent: "Revoke" });
    rm.onclick = () => action(() => revoke(l.shareId, `the link "${l.label ?? ""}"`));
    td.append(qr, " ", rm);
    tr.append(td);
    linkRows.append(tr);
  }
}

// ---------------------------------------------------------------- activity (the vault log)

/**
 * A vault log the server cut, changed or forked (a Log* error, with the two checkpoints as evidence):
 * shown as a standing warning above the app; anything else is an ordinary error.
 */
function logProblem(e) {
  if (!(e instanceof MedsealError && LOG_ERRORS.has(e.code))) throw e;
  const box = $("alerts");
  box.replaceChildren(Object.assign(document.createElement("p"), { textContent: explain(e) }));
  box.dataset.rule = "log-tampered";
  box.hidden = false;
  console.warn("medseal: the vault log was refused", e.code, e.evidence);
}

/**
 * Syncs the vault log (medseal verifies it against what this device pinned) and shows the access
 * report and the alerts raised since this device last acknowledged.
 */
async function refreshActivity() {
  $("activity-summary").textContent = "Checking the log…";
  await log.sync(vault, api);
  const r = await log.report(vault, api);
  log.renderActivity($("activity"), r, { patient: me });
  log.renderAlerts($("alerts"), r.alerts, {
    onAction: (a) => action(async () => {
      if (a.action === "remove-passkey") {
        const e = vault.manifest().unlock.find((x) => x.id === a.target);
        if (!e) throw new Error("That passkey is no longer in your vault.");
        await removePasskey(e.id, e.label ?? "passkey");
      } else if (a.action === "rotate-recovery-code") {
        await newRecoveryCode();
      } else {
        await revoke(a.target, a.actor);
      }
      log.acknowledge(vault.vaultId(), r.size);
      await refreshActivity();
    }),
    onDismiss: () => action(async () => {
      log.acknowledge(vault.vaultId(), r.size);
      await refreshActivity();
    }),
  });
}

// ---------------------------------------------------------------- security check-up

/** The Security page: medseal's check-up of this vault (`vault.posture`), each finding with its fix. */
async function refreshSecurity() {
  if (!vault) return;
  const findings = await security.check(vault, api, log);
  const passkeys = vault.manifest().unlock.filter((e) => e.type === "passkey").length;
  security.render($("security"), findings, {
    passkeys,
    run: (fix) => action(async () => {
      await fix();
      await refreshSecurity();
    }),
    handlers: {
      addPasskey: () => addPasskey(),
      checkRecoveryCode: (f, code) => checkRecoveryCode(f.entry, code),
      newRecoveryCode: () => newRecoveryCode(),
      removePasskey: (f) => removePasskey(f.entry, f.label ?? "passkey"),
      revoke: (f) => revoke(f.id, f.link ? `the link "${f.name ?? ""}"` : (f.name ?? "them")),
      retireOldKeys: () => retireOldKeys(),
    },
  });
}

/**
 * The patient types their recovery code: medseal checks it against the vault's current recovery entry
 * without unlocking with it, and the check goes into the vault log (a `recovery_check` naming the entry),
 * which is what tells the check-up, on every device, that the code is still held.
 */
async function checkRecoveryCode(entry, typed) {
  try {
    vault.confirmRecoveryCode(typed);
  } catch (e) {
    if (e instanceof MedsealError && e.code === ErrorCode.InvalidRecoveryCode) throw new Error("That is not a recovery code: check it for a typo (InvalidRecoveryCode).", { cause: e });
    if (e instanceof MedsealError && e.code === ErrorCode.UnlockFailed) throw new Error("That is not your current recovery code (UnlockFailed). If you have lost it, make a new one.", { cause: e });
    throw e;
  }
  await log.append(vault, api, { type: "recovery_check", via: entry });
  status("Your recovery code is correct. Keep it somewhere safe, away from your devices.");
}

/**
 * Finishes a re-key: every record and every file re-wrapped under the current key epoch (a record's
 * header and wrapped key, a file's first bytes: the ciphertext stays as it is; a deleted record's
 * tombstone sealed again), then the older epochs' keys dropped from the manifest (`retireEpochs`). A record already re-wrapped is skipped (`rewrap`
 * answers null), so an interrupted run can simply run again.
 */
async function retireOldKeys() {
  status("Re-wrapping your records under the current key…");
  const records = [];
  for (let after = null; ;) {
    const page = await api("GET", after === null ? "/api/records" : `/api/records?after=${encodeURIComponent(after)}`);
    records.push(...page.records);
    if (page.next == null) break;
    after = page.next;
  }
  let n = 0;
  for (const r of records) {
    let sealed;
    try {
      sealed = vault.rewrap(r.sealed, { recordId: r.id });
    } catch (e) {
      // A deleted record's tombstone holds no key to re-wrap: a new tombstone of the same version, under the current key.
      if (!(e instanceof MedsealError && e.code === ErrorCode.RecordDeleted)) throw e;
      const info = recordInfo(r.sealed);
      sealed = info.epoch === vault.manifest().epoch ? null : vault.tombstone({ recordId: r.id, version: info.version });
    }
    if (sealed === null) continue;
    await api("PUT", `/api/records/${r.id}`, { sealed });
    n++;
  }
  // A file's key is wrapped in its first bytes: read those (a range request), write the new ones back.
  const head = ciphertextSize(0) - 16;
  for (const a of (await api("GET", "/api/attachments")).attachments) {
    const url = `/api/attachments/${encodeURIComponent(a.id)}`;
    const r = await fetch(url, { credentials: "same-origin", headers: { "x-medseal": "1", range: `bytes=0-${head - 1}` } });
    if (!r.ok) throw new Error(`could not read a stored file: HTTP ${r.status}`);
    const next = vault.rewrapStream(new Uint8Array(await r.arrayBuffer()), { recordId: a.id, context: "attachment" });
    if (next === null) continue;
    const w = await fetch(`${url}/head`, { method: "PUT", credentials: "same-origin", headers: { "x-medseal": "1", "content-type": "application/octet-stream" }, body: next });
    if (!w.ok) throw new Error(`could not re-wrap a stored file: HTTP ${w.status}`);
    n++;
  }
  const before = vault.manifest();
  const manifest = vault.retireEpochs();
  await storeManifest(before.revision, manifest);
  await log.manifestChanged(vault, api, before);
  await refreshRecords();
  status(`Old keys retired: ${n} record(s) and file(s) re-wrapped under the current key.`);
}

const megabytes = (n) => `${(n / 1048576).toFixed(1)} MB`;

function showFiles(rows) {
  const tbody = $("files");
  tbody.replaceChildren();
  for (const { record, resource } of rows) {
    const a = resource.content[0].attachment;
    const id = files.attachmentOf(resource);
    const tr = document.createElement("tr");
    tr.dataset.attachment = id;
    for (const text of [a.title, a.contentType, megabytes(a.size)]) tr.append(cell(text));
    const actions = document.createElement("td");
    const view = document.createElement("button");
    view.textContent = "View";
    view.onclick = () => action(() => viewFile(id, a));
    const save = document.createElement("button");
    save.textContent = "Download";
    save.onclick = () => action(async () => {
      const blob = await files.download(vault, id, a.contentType, a.size);
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = a.title;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
      status(`Downloaded and opened ${a.title} in this browser.`);
    });
    const del = document.createElement("button");
    del.textContent = "Delete";
    del.onclick = () => action(async () => {
      await api("DELETE", `/api/attachments/${encodeURIComponent(id)}`);
      const version = recordInfo(record.sealed).version + 1;
      await api("PUT", `/api/records/${record.id}`, { sealed: vault.tombstone({ recordId: record.id, version }) });
      await log.append(vault, api, { type: "delete", record: record.id });
      await refreshRecords();
      status(`Deleted ${a.title}.`);
    });
    actions.append(view, " ", save, " ", del);
    tr.append(actions);
    tbody.append(tr);
  }
}

async function viewFile(id, a) {
  const { reader, sealedSize, fetched } = await files.reader(vault, id);
  const canvas = $("file-canvas");
  const img = $("file-img");
  canvas.hidden = true;
  img.hidden = true;
  $("file-view").hidden = false;
  let what;
  if (a.contentType === "application/pdf") {
    const pages = await files.firstPdfPage(reader, canvas);
    canvas.hidden = false;
    what = `Page 1 of ${pages} of ${a.title}`;
  } else if (a.contentType.startsWith("image/")) {
    // An image is decoded whole: all its chunks are read (each checked before use).
    img.src = URL.createObjectURL(new Blob([await reader.readRange(0, reader.size)], { type: a.contentType }));
    img.hidden = false;
    what = a.title;
  } else {
    what = `${a.title}: first bytes ${Array.from(await reader.readRange(0, Math.min(16, reader.size)), (b) => b.toString(16).padStart(2, "0")).join(" ")}`;
  }
  reader.close();
  $("file-view-note").textContent = `${what}, opened in this browser. Fetched ${megabytes(fetched())} of the ${megabytes(sealedSize)} stored.`;
  $("file-view-note").dataset.fetched = String(fetched());
}

async function uploadFile() {
  const file = $("file-input").files?.[0];
  if (!file) throw new Error("Choose a file first.");
  const bar = $("file-progress");
  bar.hidden = false;
  bar.value = 0;
  const id = await files.upload(vault, file, (stage, done, total) => {
    bar.value = total ? done / total : 0;
    $("file-status").textContent = `${stage} ${file.name}: ${megabytes(done)} of ${megabytes(total ?? 0)}`;
  });
  const recordId = `${id}-info`;
  const sealed = vault.seal(files.describeFile(id, file, new Date().toISOString()), { recordId });
  await api("PUT", `/api/records/${recordId}`, { sealed });
  $("file-status").textContent = `Sealed and uploaded ${file.name} (${megabytes(file.size)}).`;
  $("file-input").value = "";
  await refreshRecords();
}

async function downloadMyData() {
  const bar = $("export-progress");
  bar.hidden = false;
  bar.removeAttribute("value");
  $("export-status").textContent = "Gathering and sealing your data…";
  try {
    const blob = await exporting.exportAll(vault, api, log, (done) => { $("export-status").textContent = `Sealing your data: ${megabytes(done)}`; });
    exporting.offer(blob);
    $("export-status").textContent = `Your export is downloading (${megabytes(blob.size)}). Open it with your recovery code: medseal export open <file> --out <folder>.`;
    $("export-status").dataset.size = String(blob.size);
  } finally {
    bar.hidden = true;
  }
}

const fromB64u = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));

/**
 * Deletes the account for good (GDPR art. 17): the vault signs a destroy request for the server's challenge
 * (bound to the manifest the server holds) and locks itself; the server checks it, deletes every row of the
 * account in one transaction, and answers its signed tombstone, checked here against the log key this vault's
 * log announced. Then the password manager is asked to forget the account's passkeys.
 */
async function deleteAccount() {
  if ($("delete-confirm").value !== "DELETE") throw new Error("Type DELETE, in capitals, to confirm.");
  // Read while signed in: the server's log key (the one this vault's log pins) and the account's passkeys.
  const logKey = await api("GET", "/api/log/key");
  const passkeys = vault.manifest().unlock.filter((e) => e.type === "passkey").map((e) => e.credentialId);
  const { flow, challenge, audience } = await api("POST", "/api/account/delete/start");
  // Signs, then wipes the keys and forgets what this device saw of the vault: there is no way back from here.
  const request = vault.destroy({ challenge: fromB64u(challenge), audience });
  vault = null;
  $("records").replaceChildren();
  let tombstone;
  try {
    ({ tombstone } = await api("POST", "/api/account/delete/finish", { flow, signature: b64u(request) }));
  } catch (e) {
    show("auth");
    throw new Error(`Your account was not deleted (${e.message}). Sign in again and retry.`, { cause: e });
  }
  // WebAuthn signal API: the password manager drops the passkeys of an account the site no longer knows.
  let signalled = 0;
  if (typeof globalThis.PublicKeyCredential?.signalUnknownCredential === "function") {
    for (const credentialId of passkeys) {
      try {
        await PublicKeyCredential.signalUnknownCredential({ rpId: location.hostname, credentialId });
        signalled++;
      } catch (e) {
        console.warn("signalUnknownCredential failed", e);
      }
    }
  }
  const t = tombstones.verify(tombstone, { keyName: logKey.name, key: logKey.key, request });
  show("auth");
  $("username").value = "";
  $("delete-confirm").value = "";
  $("delete-go").disabled = true;
  $("deleted-summary").textContent = `Deleted on ${new Date(t.deleted * 1000).toLocaleString()}. The server's note is signed by its key "${logKey.name}" and names the deletion request this browser signed. Now destroy your recovery code.`;
  $("tombstone").textContent = tombstone;
  $("deleted-passkeys").textContent = signalled
    ? `Your password manager was told to forget ${signalled === 1 ? "this site's passkey" : `${signalled} passkeys of this site`}; if it still lists one, remove it by hand.`
    : "This browser cannot tell your password manager to forget the passkey: remove it by hand (it signs in to nothing now).";
  $("deleted").hidden = false;
  $("deleted").dataset.vaultId = t.vaultId;
  status("Your account is deleted. Nothing of it is left on the server but the signed note below.");
}

// How many times the patient locked or signed out (see action()).
let leaves = 0;

async function action(f) {
  const left = leaves;
  try {
    await f();
  } catch (e) {
    // The patient locked or signed out while this was still running (a
    // refresh after an action, say): what it ran into (Locked, a vault
    // gone from under it) is not news, and must not overwrite what the
    // lock or sign-out said.
    if (leaves !== left) return;
    status(explain(e), true);
  }
}

$("signup").onclick = () => action(signup);
$("login").onclick = () => action(login);
$("recover").onclick = () => action(recover);
$("add-passkey").onclick = () => action(addPasskey);
$("new-code").onclick = () => action(newRecoveryCode);
$("lookup").onclick = () => action(lookUp);
$("shared-refresh").onclick = () => action(refreshSharing);
$("activity-refresh").onclick = () => action(refreshActivity);
$("security-refresh").onclick = () => action(refreshSecurity);
// Opening the Security page runs the check-up afresh (the link still scrolls to it).
$("nav-security").onclick = () => action(refreshSecurity);
$("share").onclick = () => action(share);
$("make-link").onclick = () => action(makeLink);
$("make-card").onclick = () => action(makeCard);
$("record-form").onsubmit = (ev) => action(() => saveRecord(ev));
$("file-upload").onclick = () => action(uploadFile);
$("delete-confirm").oninput = () => { $("delete-go").disabled = $("delete-confirm").value !== "DELETE"; };
$("delete-go").onclick = () => action(deleteAccount);
$("export-download").onclick = () => action(downloadMyData);
$("cancel-edit").onclick = () => { $("edit-id").value = ""; $("text").value = ""; $("cancel-edit").hidden = true; $("save").textContent = "Seal and save"; };
$("recovery-ack").onchange = () => { $("recovery-done").disabled = !$("recovery-ack").checked; };
$("recovery-done").onclick = () => action(async () => { $("recovery-code").textContent = ""; show("app"); await refreshRecords(); await showNotice().catch((e) => console.warn("no security notice", e)); });
$("lock").onclick = () => { leaves++; return action(async () => { vault?.lock(); vault = null; $("records").replaceChildren(); show("auth"); status("Locked: keys wiped from memory. Sign in again with your passkey to unlock."); }); };
$("logout").onclick = () => { leaves++; return action(async () => { vault?.lock(); vault = null; await api("POST", "/api/logout"); $("records").replaceChildren(); show("auth"); status("Signed out."); }); };

try {
  await init();
  show("auth");
  status("Sign in with your passkey, or sign up.");
} catch (e) {
  status(explain(e), true);
}
