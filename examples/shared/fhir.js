// The demo apps' records as FHIR R4 resources (what PHR sites and SMART
// Health Links exchange). medseal itself is content-agnostic: it seals
// whatever JSON the app gives it; this file is the app's choice of content.
// Shared by examples/server/web and the tests (tests/js/fhir.test.mjs checks
// its output with an R4 validator nobody here wrote).

/** The kinds the demo offers, and the FHIR resource type each becomes. */
export const KINDS = {
  allergy: "AllergyIntolerance",
  medication: "MedicationStatement",
  condition: "Condition",
  "lab result": "Observation",
  note: "DocumentReference",
};

const utf8ToBase64 = (text) => btoa(String.fromCharCode(...new TextEncoder().encode(text)));
const base64ToUtf8 = (b64) => new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));

/**
 * A record as a FHIR R4 resource. `at` is an ISO date-time; the patient is
 * named by `display` only (the demo has no Patient resource to point to).
 */
export function toResource(kind, text, at, id) {
  const subject = { display: "Me" };
  switch (kind) {
    case "allergy":
      return { resourceType: "AllergyIntolerance", id, patient: subject, code: { text }, recordedDate: at };
    case "medication":
      return { resourceType: "MedicationStatement", id, status: "active", medicationCodeableConcept: { text }, subject, dateAsserted: at };
    case "condition":
      return { resourceType: "Condition", id, subject, code: { text }, recordedDate: at };
    case "lab result":
      return {
        resourceType: "Observation",
        id,
        status: "final",
        category: [{ coding: [{ system: "http://terminology.hl7.org/CodeSystem/observation-category", code: "laboratory" }] }],
        code: { text: "Lab result" },
        subject,
        effectiveDateTime: at,
        valueString: text,
      };
    default:
      return { resourceType: "DocumentReference", id, status: "current", subject, date: at, content: [{ attachment: { contentType: "text/plain", data: utf8ToBase64(text) } }] };
  }
}

/** What to show of a record: its kind and text (FHIR resources, and the demo's older `{kind, text}` records). */
export function describe(value) {
  if (value && typeof value === "object" && typeof value.resourceType === "string") {
    switch (value.resourceType) {
      case "AllergyIntolerance":
        return { kind: "allergy", text: value.code?.text ?? "" };
      case "MedicationStatement":
        return { kind: "medication", text: value.medicationCodeableConcept?.text ?? "" };
      case "Condition":
        return { kind: "condition", text: value.code?.text ?? "" };
      case "Observation":
        return { kind: "lab result", text: value.valueString ?? value.code?.text ?? "" };
      case "DocumentReference": {
        const data = value.content?.[0]?.attachment?.data;
        return { kind: "note", text: data ? base64ToUtf8(data) : "" };
      }
      default:
        return { kind: value.resourceType, text: "" };
    }
  }
  return { kind: String(value?.kind ?? "?"), text: String(value?.text ?? "") };
}

/** A FHIR R4 Bundle (`collection`) of resources, as a SMART Health Link file carries it. */
export function bundle(resources) {
  return {
    resourceType: "Bundle",
    type: "collection",
    timestamp: new Date().toISOString(),
    entry: resources.map((resource, i) => ({ fullUrl: `resource:${i}`, resource })),
  };
}

/**
 * The emergency summary an emergency card carries: a Patient with the
 * emergency contact, and the allergies, medications and conditions as
 * text (codes and dosages do not fit one QR code), each pointing at the
 * Patient by its `resource:0` URL as SMART Health Cards do. `records`:
 * `{ kind, text }` as `describe` gives them.
 */
export function emergencyBundle(records, contact) {
  const patient = { reference: "resource:0" };
  const resources = [
    {
      resourceType: "Patient",
      ...(contact?.name || contact?.phone
        ? { contact: [{ ...(contact.name ? { name: { text: contact.name } } : {}), ...(contact.phone ? { telecom: [{ system: "phone", value: contact.phone }] } : {}) }] }
        : {}),
    },
  ];
  for (const r of records) {
    if (r.kind === "allergy") resources.push({ resourceType: "AllergyIntolerance", patient, code: { text: r.text } });
    else if (r.kind === "medication") resources.push({ resourceType: "MedicationStatement", status: "active", medicationCodeableConcept: { text: r.text }, subject: patient });
    else if (r.kind === "condition") resources.push({ resourceType: "Condition", subject: patient, code: { text: r.text } });
  }
  return { resourceType: "Bundle", type: "collection", entry: resources.map((resource, i) => ({ fullUrl: `resource:${i}`, resource })) };
}
