// The demo's records as FHIR R4 (examples/shared/fhir.js), checked by an R4
// validator nobody here wrote (the `fhir` package, FHIR.js, with its cached
// R4 StructureDefinitions and value sets): every kind, in a Bundle as a
// SMART Health Link file carries it; and the validator is shown to refuse a
// broken resource (so a pass means something).
import { test } from "node:test";
import assert from "node:assert/strict";
import fhirPkg from "fhir";
import { KINDS, toResource, describe, bundle, emergencyBundle } from "../../examples/shared/fhir.js";

const { Fhir } = fhirPkg;
const fhir = new Fhir();

test("every kind becomes a valid R4 resource, and a Bundle of them is a valid R4 Bundle", () => {
  const at = "2026-11-30T10:00:00.000Z";
  const resources = Object.keys(KINDS).map((kind, i) => toResource(kind, `${kind} text é ✓`, at, `r${i}`));
  for (const r of resources) {
    const v = fhir.validate(r);
    assert.deepEqual(v.messages.filter((m) => m.severity === "error"), [], r.resourceType);
    assert.equal(v.valid, true);
    assert.equal(r.resourceType, KINDS[describe(r).kind]);
  }
  const b = bundle(resources);
  const v = fhir.validate(b);
  assert.deepEqual(v.messages.filter((m) => m.severity === "error"), []);
  assert.equal(v.valid, true);
  for (const [i, kind] of Object.keys(KINDS).entries()) assert.deepEqual(describe(b.entry[i].resource), { kind, text: `${kind} text é ✓` });
});

test("the validator refuses what is not R4 (a control)", () => {
  const bad = bundle([{ resourceType: "AllergyIntolerance", code: { text: "x" } }, { resourceType: "Observation", status: "nonsense", code: { text: "y" } }]);
  bad.type = "not-a-type";
  const v = fhir.validate(bad);
  assert.equal(v.valid, false);
  const where = v.messages.map((m) => m.location);
  assert.ok(where.includes("Bundle.type"));
  assert.ok(where.includes("AllergyIntolerance.patient"));
  assert.ok(where.includes("Observation.status"));
});

test("the emergency summary is a valid R4 Bundle whose resources point at its Patient", () => {
  const b = emergencyBundle(
    [{ kind: "allergy", text: "penicillin" }, { kind: "medication", text: "metformin 500 mg" }, { kind: "condition", text: "type 2 diabetes" }, { kind: "note", text: "left out" }],
    { name: "Sam Doe", phone: "+1 555 0100" },
  );
  const v = fhir.validate(b);
  assert.deepEqual(v.messages.filter((m) => m.severity === "error"), []);
  assert.deepEqual(b.entry.map((e) => e.resource.resourceType), ["Patient", "AllergyIntolerance", "MedicationStatement", "Condition"]);
  assert.equal(b.entry[0].resource.contact[0].telecom[0].value, "+1 555 0100");
});
