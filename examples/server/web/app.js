// Demo PHR web app for the reference server. medseal seals every record in
// the browser; the server (webauthn-rs login) stores ciphertext and the signed
// vault manifest. One passkey gesture both signs in and unlocks.
import { init, Vault, MedsealError, webauthn } from "/pkg/dist/index.js";

const $ = (id) => document.getElementById(id);
let vault = null;

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

function explain(e) {
  if (e instanceof MedsealError) return `${e.message} (${e.code})`;
  return e?.message ?? String(e);
}

function show(view) {
  for (const id of ["auth", "recovery", "app"]) $(id).hidden = id !== view;
}

const sealOpts = (id) => ({ recordId: id });

async function refreshRecords() {
  // The list is paged: follow `next` until the server says there is no more.
  const records = [];
  for (let after = null; ;) {
    const page = await api("GET", after === null ? "/api/records" : `/api/records?after=${encodeURIComponent(after)}`);
    records.push(...page.records);
    if (page.next == null) break;
    after = page.next;
  }
  const opened = vault.openMany(records.map((r) => ({ sealed: r.sealed, recordId: r.id })));
  const tbody = $("records");
  tbody.replaceChildren();
  records.forEach((r, i) => {
    const o = opened[i];
    const tr = document.createElement("tr");
    const value = o.ok ? o.value : { kind: "?", text: `cannot open: ${explain(o.error)}` };
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
    del.onclick = () => action(async () => { await api("DELETE", `/api/records/${r.id}`); await refreshRecords(); status("Record deleted."); });
    actions.append(" ", del);
    tr.append(actions);
    tbody.append(tr);
  });
  const m = vault.manifest();
  const passkeys = m.unlock.filter((e) => e.type === "passkey").map((e) => e.label ?? "passkey");
  $("vault-info").textContent = `${records.length} sealed record(s). Vault unlocks with: ${passkeys.join(", ")}, or the recovery code. Manifest revision ${m.revision}.`;
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
  const minRevision = Number(localStorage.getItem(`medseal.rev.${manifest.vaultId}`) ?? 0);
  const unlocked = await Vault.unlock(manifest, { credential }, { minRevision });
  vault = unlocked.vault;
  await api("POST", "/api/login/finish", { flow, credential: unlocked.response });
  localStorage.setItem(`medseal.rev.${manifest.vaultId}`, String(manifest.revision));
  await enterApp();
  status("Signed in and unlocked with one passkey gesture.");
}

async function recover() {
  const { flow, challenge, audience, manifest } = await api("POST", "/api/recover/start", { username: username() });
  const { vault: v } = await Vault.unlock(manifest, { recoveryCode: $("code").value });
  const bytes = Uint8Array.from(atob(challenge.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));
  const sig = v.signLoginProof(bytes, audience);
  await api("POST", "/api/recover/finish", { flow, signature: btoa(String.fromCharCode(...sig)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "") });
  vault = v;
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
  const replaces = vault.manifest().revision;
  const { manifest, response } = await vault.addPasskey({ credential, prfSalt, label: `backup passkey ${new Date().toLocaleDateString()}` });
  await api("POST", "/api/passkeys/finish", { flow, credential: response, manifest, replaces });
  status("Backup passkey added: it can sign in and unlock on its own.");
  await refreshRecords();
}

async function newRecoveryCode() {
  const replaces = vault.manifest().revision;
  const { manifest, recoveryCode } = vault.rotateRecoveryCode();
  await api("PUT", "/api/manifest", { replaces, manifest });
  status("New recovery code made; the old one no longer works with the current vault.");
  await enterApp(recoveryCode);
}

async function saveRecord(ev) {
  ev.preventDefault();
  const id = $("edit-id").value || `rec-${crypto.randomUUID()}`;
  const record = { kind: $("kind").value, text: $("text").value, at: new Date().toISOString() };
  await api("PUT", `/api/records/${id}`, { sealed: vault.seal(record, sealOpts(id)) });
  $("text").value = "";
  $("edit-id").value = "";
  $("cancel-edit").hidden = true;
  $("save").textContent = "Seal and save";
  status("Record sealed and saved.");
  await refreshRecords();
}

async function action(f) {
  try {
    await f();
  } catch (e) {
    status(explain(e), true);
  }
}

$("signup").onclick = () => action(signup);
$("login").onclick = () => action(login);
$("recover").onclick = () => action(recover);
$("add-passkey").onclick = () => action(addPasskey);
$("new-code").onclick = () => action(newRecoveryCode);
$("record-form").onsubmit = (ev) => action(() => saveRecord(ev));
$("cancel-edit").onclick = () => { $("edit-id").value = ""; $("text").value = ""; $("cancel-edit").hidden = true; $("save").textContent = "Seal and save"; };
$("recovery-ack").onchange = () => { $("recovery-done").disabled = !$("recovery-ack").checked; };
$("recovery-done").onclick = () => action(async () => { $("recovery-code").textContent = ""; show("app"); await refreshRecords(); });
$("lock").onclick = () => action(async () => { vault?.lock(); vault = null; $("records").replaceChildren(); show("auth"); status("Locked: keys wiped from memory. Sign in again with your passkey to unlock."); });
$("logout").onclick = () => action(async () => { vault?.lock(); vault = null; await api("POST", "/api/logout"); $("records").replaceChildren(); show("auth"); status("Signed out."); });

try {
  await init();
  show("auth");
  status("Sign in with your passkey, or sign up.");
} catch (e) {
  status(explain(e), true);
}
