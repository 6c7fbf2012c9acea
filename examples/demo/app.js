// The demo app: runs the WebAuthn ceremonies itself (navigator.credentials
// with the PRF extension) and hands the PRF output to medseal. It does no
// cryptography: sealing, opening and keys all live in medseal's wasm module.
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
  if (e?.name === "NotAllowedError") return "The passkey prompt was cancelled or timed out.";
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

const random = (n) => crypto.getRandomValues(new Uint8Array(n)); // WebAuthn challenges and user ids (no server in this demo)

async function createVault() {
  const prfSalt = Vault.newPrfSalt();
  const first = Vault.prfInput(prfSalt);
  const cred = await navigator.credentials.create({
    publicKey: {
      rp: { name: "medseal demo", id: location.hostname },
      user: { id: random(16), name: "patient@localhost", displayName: "Demo patient" },
      challenge: random(32),
      pubKeyCredParams: [{ type: "public-key", alg: -7 }, { type: "public-key", alg: -257 }],
      authenticatorSelection: { residentKey: "required", userVerification: "required" },
      extensions: { prf: { eval: { first } } },
    },
  });
  const ext = cred.getClientExtensionResults().prf;
  let output = ext?.results?.first;
  if (!output) {
    // Many authenticators only evaluate PRF on get(): ask once more.
    const again = await navigator.credentials.get({
      publicKey: {
        challenge: random(32),
        allowCredentials: [{ type: "public-key", id: cred.rawId }],
        userVerification: "required",
        extensions: { prf: { eval: { first } } },
      },
    });
    output = again.getClientExtensionResults().prf?.results?.first;
  }
  if (!output) throw new Error("This passkey cannot derive keys (no WebAuthn PRF support). Try another authenticator.");
  const created = Vault.createFromPrf({ credentialId: new Uint8Array(cred.rawId), prfSalt, prfOutput: new Uint8Array(output), label: "first passkey" });
  vault = created.vault;
  store.manifest = created.manifest;
  store.records = [];
  $("recovery-code").textContent = created.recoveryCode;
  $("recovery").hidden = false;
  status("Vault created and unlocked.");
}

async function unlockVault() {
  const manifest = store.manifest;
  const { extensions, allowCredentials } = Vault.prfExtension(manifest);
  const assertion = await navigator.credentials.get({
    publicKey: { challenge: random(32), allowCredentials, userVerification: "required", extensions },
  });
  vault = Vault.unlockWithAssertion(manifest, assertion);
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
