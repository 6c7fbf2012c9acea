/**
 * The access report in the forms a patient takes away: CSV (a spreadsheet)
 * and a FHIR R4 `AuditEvent` Bundle (for another health record system).
 * Formatting only: the report itself is verified and computed in the core
 * (`Vault.accessReport`).
 */
import type { AccessEvent } from "./types.js";

const DCM = "http://dicom.nema.org/resources/ontology/DCM";

function iso(seconds: number): string {
  return new Date(seconds * 1000).toISOString();
}

function csvCell(v: string): string {
  // Quote every cell; a leading =, +, - or @ is neutralised so a spreadsheet never runs it as a formula.
  const safe = /^[=+\-@\t\r]/.test(v) ? `'${v}` : v;
  return `"${safe.replace(/"/g, '""')}"`;
}

/** The report as CSV (RFC 4180, CRLF line ends): one row per event, the 164.528 columns first. */
function csv(events: AccessEvent[]): string {
  const head = ["date", "recipient", "what", "purpose", "records", "outcome", "kind", "attested by", "log position", "until"];
  const rows = events.map((e) => [iso(e.time), e.actor, e.what, e.purpose ?? "", e.records.join(" "), e.outcome, e.kind, e.attestedBy, String(e.index), e.expires ? iso(e.expires) : ""]);
  return [head, ...rows].map((r) => r.map(csvCell).join(",")).join("\r\n") + "\r\n";
}

type Coding = { system: string; code: string; display: string };

function typeOf(e: AccessEvent): { type: Coding; subtype?: Coding; action: "C" | "R" | "U" | "D" | "E" } {
  switch (e.kind) {
    case "shared_fetch":
    case "link_fetch":
      return { type: { system: DCM, code: "110106", display: "Export" }, action: "R" };
    case "unlock":
    case "login":
      return { type: { system: DCM, code: "110114", display: "User Authentication" }, subtype: { system: DCM, code: "110122", display: "Login" }, action: "E" };
    case "delete":
      return { type: { system: DCM, code: "110110", display: "Patient Record" }, action: "D" };
    case "manifest":
      return { type: { system: DCM, code: "110113", display: "Security Alert" }, action: "U" };
    default:
      return { type: { system: DCM, code: "110110", display: "Patient Record" }, action: "U" };
  }
}

/**
 * The report as a FHIR R4 Bundle (type `collection`) of `AuditEvent`s:
 * recorded time, who (agent), what (entity: record ids), purpose
 * (`PATRQT`: at the patient's request), outcome (0 ok, 4 refused), and who
 * attests it (source: the patient's device or the server).
 */
function auditEvents(events: AccessEvent[], opts: { patient?: string } = {}): Record<string, unknown> {
  return {
    resourceType: "Bundle",
    type: "collection",
    timestamp: new Date().toISOString(),
    entry: events.map((e) => {
      const t = typeOf(e);
      const resource: Record<string, unknown> = {
        resourceType: "AuditEvent",
        type: t.type,
        ...(t.subtype ? { subtype: [t.subtype] } : {}),
        action: t.action,
        recorded: iso(e.time),
        outcome: e.outcome === "ok" ? "0" : "4",
        outcomeDesc: `${e.what} (${e.outcome})`,
        ...(e.purpose ? { purposeOfEvent: [{ coding: [{ system: "http://terminology.hl7.org/CodeSystem/v3-ActReason", code: "PATRQT", display: "patient requested" }], text: e.purpose }] } : {}),
        agent: [{ who: { display: e.actor }, requestor: e.actorKind !== "vault" }],
        source: { observer: { display: e.attestedBy === "server" ? "medseal reference server (attested, signed)" : "the patient's device (signed by the vault)" } },
        entity: [
          ...(opts.patient ? [{ what: { display: opts.patient }, role: { system: "http://terminology.hl7.org/CodeSystem/object-role", code: "1", display: "Patient" } }] : []),
          ...e.records.map((id) => ({ what: { identifier: { value: id } }, role: { system: "http://terminology.hl7.org/CodeSystem/object-role", code: "4", display: "Domain Resource" } })),
        ],
      };
      if ((resource.entity as unknown[]).length === 0) delete resource.entity;
      return { fullUrl: `urn:medseal:log:${e.index}`, resource };
    }),
  };
}

/** Exports of an access report (`Vault.accessReport(...).events`). */
export const accessReports = { csv, auditEvents };
