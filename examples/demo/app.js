// The demo app: medseal runs the passkey ceremonies (WebAuthn with the PRF
// extension) and keeps the keys in its wasm module; this page only shows and
// stores what medseal returns: ciphertext, a public manifest, and the recovery
// code once.
import { init, Vault, MedsealError } from "/pkg/dist/index.js";

const $ = (id) => document.getElementById(id);
const store = {
  get manifest() { return localStorage.getItem("medseal.manifest"); },
  set manifest(m) { localStorage.setItem("medseal.manifest", JSON.stringify(m)); },
  get records() { return JSON.parse(localStorage.getItem("medseal.records") ?? "[]"); },
  set records(r) { localStorage.setItem("medseal.records", JSON.stringify(r)); },
  clear() { localStorage.removeItem("medseal.manifest"); localStorage.removeItem("medseal.records"); },
};
let vault = null;

function status(text, isError = false) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

function explain(e) {
  if (e instanceof MedsealError) return `${e.code}: ${e.message}`;
  return String(e?.message ?? e);
}

function refresh() {
  const has = store.manifest !== null;
  $("create").disabled = has;
  $("unlock").disabled = !has || !!vault;
  $("lock").disabled = !vault;
  $("reset").disabled = !has;
  $("seal").disabled = !vault;
  const tbody = $("records");
  tbody.replaceChildren();
  for (const r of store.records) {
    const tr = document.createElement("tr");
    let kind = "—", content = "(locked)";
    if (vault) {
      try { ({ kind, text: content } = vault.open(r.sealed, { recordId: r.id })); } catch (e) { kind = "?"; content = `cannot open: ${explain(e)}`; }
    }
    for (const [text, cls] of [[r.id, ""], [kind, ""], [content, "content"], [r.sealed.slice(0, 96) + "…", "cipher"]]) {
      const td = document.createElement("td");
      td.textContent = text;
      if (cls) td.className = cls;
      tr.append(td);
    }
    tbody.append(tr);
  }
}

const rp = { name: "medseal demo" };

async function createVault() {
  // One passkey ceremony (plus a second prompt on authenticators that only evaluate PRF at get()).
  const userId = crypto.getRandomValues(new Uint8Array(16)); // a random opaque user handle (no server in this demo)
  const created = await Vault.create({ passkey: { rp, user: { id: userId, name: "patient@localhost", displayName: "Demo patient" }, label: "first passkey" } });
  vault = created.vault;
  store.manifest = created.manifest;
  store.records = [];
  $("recovery-code").textContent = created.recoveryCode;
  $("recovery").hidden = false;
  status("Vault created and unlocked.");
}

async function unlockVault() {
  ({ vault } = await Vault.unlock(store.manifest, { passkey: true }));
  status("Unlocked with your passkey.");
}

async function action(f) {
  try { await f(); } catch (e) { status(explain(e), true); }
  refresh();
}

$("create").onclick = () => action(createVault);
$("unlock").onclick = () => action(unlockVault);
$("lock").onclick = () => action(async () => { vault?.lock(); vault = null; status("Locked: keys wiped from memory."); });
$("reset").onclick = () => action(async () => { vault?.lock(); vault = null; store.clear(); status("Vault forgotten on this device."); });
$("recovery-done").onclick = () => { $("recovery-code").textContent = ""; $("recovery").hidden = true; };
$("add").onsubmit = (ev) => {
  ev.preventDefault();
  action(async () => {
    const id = `rec-${Date.now().toString(36)}-${store.records.length}`;
    const kind = $("kind").value;
    const sealed = vault.seal({ kind, text: $("text").value, at: new Date().toISOString() }, { recordId: id });
    store.records = [...store.records, { id, sealed }]; // only the id and ciphertext are stored
    $("text").value = "";
    status(`Sealed ${id}.`);
  });
};

try {
  await init();
  status(store.manifest ? "Vault found on this device: unlock it with your passkey." : "No vault yet: create one with a passkey.");
} catch (e) {
  status(explain(e), true);
}
refresh();
