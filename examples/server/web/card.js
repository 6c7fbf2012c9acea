// The emergency-card reader: a photo of the QR code (decoded here with jsQR)
// or its text, verified by medseal (the signature under the key the card
// carries), shown with that key's fingerprint for a person to compare.
// Nothing leaves this page.
import { init, healthCards, MedsealError } from "/pkg/dist/index.js";
import { describe } from "/shared/fhir.js";
import { jsQR } from "/vendor/jsqr.js";

const $ = (id) => document.getElementById(id);
const status = (text, isError = false) => {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
};
const explain = (e) => (e instanceof MedsealError ? `${e.message} (${e.code})` : e.message);

function show(text) {
  const card = healthCards.read(text.trim());
  const entries = card.bundle.entry ?? [];
  const tbody = $("items");
  tbody.replaceChildren();
  for (const { resource } of entries) {
    const row = (kind, details) => {
      const tr = document.createElement("tr");
      for (const t of [kind, details]) tr.append(Object.assign(document.createElement("td"), { textContent: t }));
      tbody.append(tr);
    };
    if (resource.resourceType === "Patient") {
      for (const c of resource.contact ?? []) row("emergency contact", [c.name?.text, ...(c.telecom ?? []).map((t) => t.value)].filter(Boolean).join(", "));
    } else {
      const d = describe(resource);
      row(d.kind, d.text);
    }
  }
  $("fp").textContent = card.fingerprint;
  $("issued").textContent = `Issued ${new Date(card.nbf * 1000).toLocaleString()}.`;
  $("result").hidden = false;
  status("The card's signature checks out. Compare the fingerprint before you rely on it.");
}

async function fromPhoto(file) {
  const bitmap = await globalThis.createImageBitmap(file);
  const canvas = Object.assign(document.createElement("canvas"), { width: bitmap.width, height: bitmap.height });
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0);
  const { data, width, height } = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
  const qr = jsQR(data, width, height);
  if (!qr) throw new Error("No QR code found in that picture.");
  $("text").value = qr.data;
  show(qr.data);
}

try {
  await init();
  $("read").onclick = () => {
    try {
      show($("text").value);
    } catch (e) {
      $("result").hidden = true;
      status(explain(e), true);
    }
  };
  $("photo").onchange = () => {
    const f = $("photo").files?.[0];
    if (f) fromPhoto(f).catch((e) => { $("result").hidden = true; status(explain(e), true); });
  };
  status("Take or choose a photo of the card's QR code, or paste its text.");
} catch (e) {
  status(explain(e), true);
}
