// A SMART Health Link viewer (HL7 SMART Health Links, STU1) for someone with
// no vault: reads the `shlink:/` from this page's URL fragment (never sent to
// any server), asks the link's server for the manifest (with a passcode when
// the link says P), and opens each file with medseal (JWE, alg dir,
// A256GCM). The records are FHIR R4 resources; shown by kind and text.
import { init, healthLinks, MedsealError } from "/pkg/dist/index.js";
import { describe } from "/shared/fhir.js";

const $ = (id) => document.getElementById(id);
const status = (text, isError = false) => {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
};

/** The resources of a FHIR Bundle, or the resource itself. */
const resourcesOf = (v) => (v?.resourceType === "Bundle" ? (v.entry ?? []).map((e) => e.resource) : [v]);

function recordedAt(r) {
  return r.recordedDate ?? r.dateAsserted ?? r.effectiveDateTime ?? r.date ?? "";
}

async function open(shlink, info) {
  const body = { recipient: $("recipient").value.trim() || "SMART Health Link viewer" };
  if (info.flag.includes("P")) body.passcode = $("passcode").value;
  const r = await fetch(info.url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  const j = await r.json().catch(() => ({}));
  if (r.status === 401) {
    throw new Error(`Wrong passcode. ${j.remainingAttempts ?? 0} attempt(s) left before the link is disabled.`);
  }
  if (r.status === 404) throw new Error("This link has expired or was revoked by the person who shared it.");
  if (!r.ok) throw new Error(j.message ?? `The link's server answered ${r.status}.`);
  const rows = [];
  for (const f of j.files ?? []) {
    const jwe = f.embedded ?? (await (await fetch(f.location)).text());
    const { value } = healthLinks.openFile(shlink, jwe);
    for (const res of resourcesOf(value)) rows.push(res);
  }
  const tbody = $("records");
  tbody.replaceChildren();
  for (const res of rows) {
    const d = describe(res);
    const tr = document.createElement("tr");
    for (const text of [d.kind, d.text, recordedAt(res) ? new Date(recordedAt(res)).toLocaleString() : ""]) tr.append(Object.assign(document.createElement("td"), { textContent: text }));
    tbody.append(tr);
  }
  $("content").hidden = false;
  status(`${rows.length} record(s) opened and decrypted in this browser.`);
}

try {
  await init();
  const shlink = decodeURIComponent(location.hash.slice(1));
  if (!shlink.startsWith("shlink:/")) throw new Error("No SMART Health Link in this page's address.");
  const info = healthLinks.parse(shlink);
  $("label").textContent = info.label ?? "Shared health records";
  $("expiry").textContent = info.exp ? `Available until ${new Date(info.exp * 1000).toLocaleString()}.` : "";
  $("passcode-box").hidden = !info.flag.includes("P");
  $("link").hidden = false;
  $("open").onclick = () => open(shlink, info).catch((e) => status(e instanceof MedsealError ? `${e.message} (${e.code})` : e.message, true));
  status(info.flag.includes("P") ? "Enter the passcode you were given, then open." : "Open the shared records.");
} catch (e) {
  status(e instanceof MedsealError ? `${e.message} (${e.code})` : e.message, true);
}
