/**
 * The types of medseal's JS API, shared by the in-page `Vault` (synchronous
 * record calls) and the `RemoteVault` of a worker or extension (the same
 * calls, asynchronous), and the table of operations that drives the
 * worker protocol on both ends.
 */
import type { MedsealError } from "./errors.js";

/** A passkey unlock entry of a manifest. */
export type PasskeyEntry = { type: "passkey"; id: string; credentialId: string; prfSalt: string; publicKey?: string; wrappedVaultKey: string; label?: string };
/** The recovery entry of a manifest. */
export type RecoveryEntry = { type: "recovery"; id: string; publicKey?: string; loginKey?: string; wrappedVaultKey: string };
/** An older key epoch of a manifest (its vault key is absent once retired). */
export type EpochEntry = { epoch: number; publicKey: string; handover: string; wrappedVaultKey?: string };

/** A vault manifest: public and signed. Store it (server side) after every change; pass it back to unlock. */
export type Manifest = {
  medseal: "vault-manifest";
  version: number;
  vaultId: string;
  revision: number;
  /** Hash of the manifest this one replaces (version 2; absent at revision 1). */
  parent?: string;
  /** The current key epoch (version 2). */
  epoch?: number;
  identityKey: { publicKey: string; wrappedPrivateKey: string };
  /** Older key epochs, oldest first (version 2). */
  epochs?: EpochEntry[];
  unlock: Array<PasskeyEntry | RecoveryEntry>;
  /** The current epoch's share key: grants to this vault are sealed to it (version 3). */
  shareKey?: string;
  /** The active grants and links this vault made (version 3). */
  shares?: ShareEntry[];
  signature: string;
};

/** An active grant or link as the manifest lists it (its key wrapped by the vault key). */
export type ShareEntry = { id: string; kind: "grant" | "link"; scope?: string; expires: number; digest: string; key: string };

/**
 * What a grant gives: exactly these records (by record id), or every record
 * the app files under `label`, now and later, until revoked or expired.
 */
export type GrantScope = { records: string[] } | { label: string };

/** Options of `grant`. `grantee`: the person's manifest (pin it first with `sharing.pin(person, manifest)`); `expires`: a `Date` or milliseconds since 1970. */
export type GrantOptions = GrantScope & { grantee: Manifest | string; expires: Date | number };

/** A record shared with this vault: the sealed record, its slot in the grant, and its binding. */
export type SharedItem = RecordBinding & { sealed: string | Uint8Array; slot: string };

/** Options of `openShared`: the grant (JSON text), the grantor's manifest (pinned), the records. */
export type OpenSharedOptions = { grant: string; grantor: Manifest | string; items: SharedItem[] };

/** A vault's fingerprint: what two people compare before they share. */
export type Fingerprint = { vaultId: string; digits: string; qr: string; digest: string };

/** Options of `createLink`: where its manifest URL lives (the link id is appended), a label (at most 80 characters) for the receiver, the expiry (a `Date` or milliseconds since 1970), and whether the server asks for a passcode. */
export type LinkOptions = { baseUrl: string; label?: string; expires: Date | number; passcode?: boolean };

/** A SMART Health Link just made. `shlink` holds the key: show it (a QR code), never send it to a server. */
export type NewLink = { shareId: string; linkId: string; flag: string; shlink: string; manifest: Manifest };

/** What a `shlink:/` says, without its key. `exp` in seconds since 1970. */
export type ShlinkInfo = { url: string; exp?: number; flag: string; label?: string };

/** An emergency card (`emergencyCard`): the SMART Health Card JWS, its `shc:/` QR text (put `shc:/` in a byte-mode segment and the digits in a numeric-mode one, error correction L), and the card key's fingerprint to show beside it. */
export type EmergencyCard = { jws: string; qr: string; fingerprint: string };

/** A card read and verified (`healthCards.read`): its issuer, not-before time (seconds since 1970), the fingerprint of the key that signed it (compare it with the patient's), and the FHIR Bundle. */
export type VerifiedCard<T = unknown> = { iss: string; nbf: number; fingerprint: string; bundle: T };

/** What a grant says (see `sharing.grantInfo`); times in seconds since 1970. */
export type GrantInfo = { id: string; grantor: string; grantorEpoch: number; grantee: string; records?: string[]; label?: string; created: number; expires: number; digest: string };

/** An active grant or link of a manifest (`sharing.shares`); `expires` in seconds since 1970. */
export type ShareItem = { id: string; link: boolean; scope?: string; expires: number; digest: string };

/** What a record is bound to: opening with another `recordId` or `context` fails. */
export type RecordBinding = { recordId: string; context?: string | Uint8Array };

/** How a sealed record is returned: the text form `ms2.…` (default) or bytes. */
export type SealedForm = "text" | "bytes";

/** Options of `seal`: the binding, the form of the result, and the record's version (1 unless it is an edit: then the version opened plus one). */
export type SealOptions<F extends SealedForm = SealedForm> = RecordBinding & { form?: F; version?: number };

/**
 * Options of the large-file calls (`sealStream`, `openStream`, `sealFile`,
 * `openFile`, `openRange`): the binding, the record's version (sealing),
 * a progress callback (plaintext bytes done, and the total when known), an
 * `AbortSignal`, and the plaintext size when the caller knows it (for the
 * progress total; `sealFile` and `openFile` know it).
 */
export type StreamOptions = RecordBinding & {
  version?: number;
  onProgress?: (done: number, total: number | undefined) => void;
  signal?: AbortSignal;
  size?: number;
};

/** A sealed record to export, as the app stores it (text form or bytes). */
export type ExportRecord = RecordBinding & { sealed: string | Uint8Array };

/**
 * A sealed file to export: a `Blob` (as `sealFile` returns or a download
 * gives), bytes, or a stream with its sealed `size`. `name` and `type` are
 * written beside it for the reader (a tool makes `name` safe as a path).
 */
export type ExportFile = RecordBinding & {
  sealed: Blob | Uint8Array | ReadableStream<Uint8Array>;
  size?: number;
  name?: string;
  type?: string;
};

/**
 * What `vault.export()` puts in an export (FORMAT.md §19): every sealed
 * record and file the app holds for this vault, the manifest history
 * (oldest first; the current manifest is added when it is not last), and
 * the vault log's checkpoint and leaves where the app keeps one.
 */
export type ExportSource = {
  records?: Iterable<ExportRecord> | AsyncIterable<ExportRecord>;
  files?: Iterable<ExportFile> | AsyncIterable<ExportFile>;
  history?: Array<Manifest | string>;
  log?: { checkpoint: string; leaves: Array<string | Uint8Array> };
  /** The app's name, written in the export's header. */
  app?: string;
  /** Progress in plaintext bytes of the export's stream. */
  onProgress?: (done: number, total: number | undefined) => void;
  signal?: AbortSignal;
};

/**
 * A security notice from the service's operator, verified against the
 * operator keys the app pins (`notices.verify`): show `title` and `body`
 * with one button for `action`.
 */
export type Notice = {
  id: string;
  /** Seconds since 1970. */
  issued: number;
  /** Seconds since 1970: not shown from then on. */
  expires: number;
  severity: "info" | "warning" | "critical";
  action: "none" | "rekey" | "rotate-recovery" | "add-passkey" | "review-activity" | "update-app";
  title: string;
  body: string;
  /** Whether it is to be shown now (issued, not expired). */
  current: boolean;
};

/** An operator key an app pins for notices: its name and the base64url of its compressed P-256 public key. */
export type OperatorKeyPin = { name: string; key: string };

/** A sealed record's header, readable without a key (`recordInfo`). */
export type RecordInfo = { format: number; epoch: number; version: number };

/** The sealed record for a form: a string for `"text"`, bytes for `"bytes"`. */
export type Sealed<F extends SealedForm> = F extends "bytes" ? Uint8Array : string;

/** A batch item to seal. */
export type SealItem = RecordBinding & { record: unknown };
/** A batch item to open. */
export type OpenItem = RecordBinding & { sealed: string | Uint8Array };
/** The outcome of one item of `openMany`: one bad record does not hide the others. */
export type OpenOutcome<T = unknown> = { ok: true; value: T } | { ok: false; error: MedsealError };

/**
 * Where a vault remembers what this device has seen of it (the newest
 * manifest, edited and deleted records' versions), so that a server cannot
 * roll it back or fork it unnoticed. It also keeps what makes the next
 * unlock on this device fast (about 0.3 ms instead of 3): the vault's tag of
 * the manifest it verified, and a copy of the vault key that only the
 * passkey (or recovery code) that last unlocked it opens. `load` and `save`
 * get the vault id.
 * `remove`, where the store has it, forgets a vault (`vault.destroy()`
 * calls it: a deleted vault leaves no state on the device).
 */
export type SeenStore = {
  load(vaultId: string): string | null | undefined | Promise<string | null | undefined>;
  save(vaultId: string, state: string): void | Promise<void>;
  remove?(vaultId: string): void | Promise<void>;
};

/**
 * A server's tombstone of a deleted vault (`tombstones.verify`), signed
 * under its log key: which vault (`vaultId`, base64url), when (`deleted`,
 * seconds since 1970), at which request (`request`: base64url SHA-256 of
 * the signature `vault.destroy()` returned), signed by which identity key
 * (`identity`, base64url), and the server's `origin`. It names no person.
 */
export type Tombstone = { origin: string; vaultId: string; deleted: number; request: string; identity: string };

/**
 * Options of an unlock. `history`: the manifests after the one this device
 * saw, oldest first (a server's `since` answer); `store`: where the seen
 * state lives (default: `localStorage` in a page, IndexedDB in a worker or
 * service worker, memory where neither may be used; `null`: none);
 * `minRevision`: a floor of the caller's own (rarely needed now).
 */
export type UnlockOptions = { minRevision?: number; history?: Array<Manifest | string>; store?: SeenStore | null };

/** Whether a vault host holds an unlocked vault, and which. */
export type VaultStatus = { unlocked: boolean; vaultId: string | null };

/** A value, or a promise of it: `Vault` answers at once, `RemoteVault` asynchronously. */
export type Answer<Mode extends "sync" | "async", T> = Mode extends "sync" ? T : Promise<T>;

/**
 * The record and unlock-method calls of an unlocked vault, the same for a
 * `Vault` in this page (`VaultApi<"sync">`) and a `RemoteVault` whose vault
 * lives in a worker (`VaultApi<"async">`).
 */
export interface VaultApi<Mode extends "sync" | "async"> {
  /** Seals a record (any JSON value, or bytes) bound to `recordId` and `context`. @throws {@link MedsealError} `InvalidArgument`, `TooLarge`, `Locked`, `RandomUnavailable` */
  seal<F extends SealedForm = "text">(record: unknown, opts: SealOptions<F>): Answer<Mode, Sealed<F>>;
  /** Opens a sealed record (either form). @throws {@link MedsealError} `DecryptionFailed`, `Malformed`, `UnknownVersion`, `InvalidArgument`, `Locked` */
  open<T = unknown>(sealed: string | Uint8Array, opts: RecordBinding): Answer<Mode, T>;
  /** Seals many records; all or nothing (the error has the failing item's `index`). @throws {@link MedsealError} as `seal` */
  sealMany<F extends SealedForm = "text">(items: SealItem[], opts?: { form?: F }): Answer<Mode, Array<Sealed<F>>>;
  /** Opens many records; one outcome per item. @throws {@link MedsealError} `InvalidArgument` (not an array), `Locked` */
  openMany<T = unknown>(items: OpenItem[]): Answer<Mode, Array<OpenOutcome<T>>>;
  /** Seals a large record (a scan, a PDF) with WebCrypto; same format as `seal`. @throws {@link MedsealError} as `seal` */
  sealLarge<F extends SealedForm = "text">(record: unknown, opts: SealOptions<F>): Promise<Sealed<F>>;
  /** Opens a record with WebCrypto for its body; same result as `open`. @throws {@link MedsealError} as `open` */
  openLarge<T = unknown>(sealed: string | Uint8Array, opts: RecordBinding): Promise<T>;
  /** The current signed manifest. @throws {@link MedsealError} `Locked` */
  manifest(): Answer<Mode, Manifest>;
  /** The vault id (base64url). @throws {@link MedsealError} `Locked` */
  vaultId(): Answer<Mode, string>;
  /** Removes an unlock entry; returns the new manifest. @throws {@link MedsealError} `LastUnlockMethod`, `UnknownUnlockEntry`, `Locked` */
  removeUnlock(entryId: string): Answer<Mode, Manifest>;
  /** Replaces the recovery code: show the new one once. @throws {@link MedsealError} `Locked`, `RandomUnavailable` */
  rotateRecoveryCode(): Answer<Mode, { manifest: Manifest; recoveryCode: string }>;
  /** Adopts a newer manifest of this vault (checked: it follows this one, through `history` if given). @throws {@link MedsealError} `ForkDetected`, `HistoryIncomplete`, `StaleManifest`, `ManifestInvalid` (also another vault's), `UnlockFailed` (a re-key this device's passkey was removed from), `Malformed`, `Locked` */
  updateManifest(manifest: Manifest | string, opts?: { history?: Array<Manifest | string> }): Answer<Mode, void>;
  /** Seals a tombstone (version `version`) to store in a deleted record's place. @throws {@link MedsealError} `InvalidArgument`, `Locked` */
  tombstone<F extends SealedForm = "text">(opts: RecordBinding & { version: number; form?: F }): Answer<Mode, Sealed<F>>;
  /** Re-wraps a record under the current key epoch; `null` if it already is. @throws {@link MedsealError} as `open` */
  rewrap<F extends SealedForm = "text">(sealed: string | Uint8Array, opts: RecordBinding & { form?: F }): Answer<Mode, Sealed<F> | null>;
  /** Starts a new key epoch (no passkey prompt); returns the new manifest. @throws {@link MedsealError} `InvalidArgument`, `Locked` */
  rekey(): Answer<Mode, Manifest>;
  /** Drops older epochs' keys (after every record was re-wrapped). @throws {@link MedsealError} `Locked` */
  retireEpochs(): Answer<Mode, Manifest>;
  /** Signs a server's recovery-login challenge with the recovery code's login key. @throws {@link MedsealError} `UnlockFailed` (not unlocked with the recovery code), `InvalidArgument`, `Locked` */
  signRecoveryLogin(challenge: Uint8Array, audience: string): Answer<Mode, Uint8Array>;
  /** Signs a server's login challenge with the vault's identity key. @throws {@link MedsealError} `InvalidArgument`, `Locked` */
  signLoginProof(challenge: Uint8Array, audience: string): Answer<Mode, Uint8Array>;
  /** Grants records to another vault (signed, sealed to its share key); returns the grant (JSON text, for the grantee and the server) and the new manifest. @throws {@link MedsealError} `InvalidArgument`, `ManifestInvalid` (the grantee's manifest), `Locked` */
  grant(opts: GrantOptions): Answer<Mode, { grant: string; manifest: Manifest }>;
  /** A record's slot in one of this vault's active grants (base64url): store it with the grant. @throws {@link MedsealError} `NotGranted` (revoked, or outside the grant), `GrantExpired`, as `open` */
  grantSlot(grant: string, sealed: string | Uint8Array, opts: RecordBinding): Answer<Mode, string>;
  /** Revokes a grant or link by id; returns the new manifest. @throws {@link MedsealError} `NotGranted`, `Locked` */
  revokeShare(id: string): Answer<Mode, Manifest>;
  /** Re-issues a grant under a new key (after removing a passkey or rotating the recovery code); give its records new slots. @throws {@link MedsealError} `NotGranted`, `GrantExpired`, `ManifestInvalid`, `Locked` */
  reissueGrant(grant: string, opts: { grantee: Manifest | string }): Answer<Mode, { grant: string; manifest: Manifest }>;
  /** Opens records shared with this vault under a grant (checked against the grantor's manifest); one outcome per item. @throws {@link MedsealError} `NotGranted`, `GrantExpired`, `ManifestInvalid` (grant or manifest), `Malformed`, `Locked` */
  openShared<T = unknown>(opts: OpenSharedOptions): Answer<Mode, Array<OpenOutcome<T>>>;
  /** Makes a SMART Health Link (listed in the manifest: store it before the link's files). @throws {@link MedsealError} `InvalidArgument`, `Locked` */
  createLink(opts: LinkOptions): Answer<Mode, NewLink>;
  /** The `shlink:/` text of an active link again (label and passcode flag as made). @throws {@link MedsealError} `NotGranted` (revoked), `InvalidArgument`, `Locked` */
  linkPayload(shareId: string, opts: Omit<LinkOptions, "expires">): Answer<Mode, string>;
  /** Encrypts a file of an active link (a FHIR Bundle by default) as a JWE. @throws {@link MedsealError} `NotGranted`, `GrantExpired`, `InvalidArgument`, `Locked` */
  sealLinkFile(shareId: string, content: unknown, opts?: { contentType?: string }): Answer<Mode, string>;
  /** Signs an emergency card (a FHIR Bundle) that anyone verifies offline from one QR code. @throws {@link MedsealError} `TooLarge` (more than one QR code holds), `InvalidArgument`, `Locked` */
  emergencyCard(bundle: unknown, opts?: { notBefore?: Date | number }): Answer<Mode, EmergencyCard>;
  /** The fingerprint of the key that signs this vault's cards now (show it beside the card). @throws {@link MedsealError} `Locked` */
  cardFingerprint(): Answer<Mode, string>;
  /** A vault log entry signed by this vault for `position` (the log's size): the leaf (base64url) to append. @throws {@link MedsealError} `InvalidArgument` (not a vault event), `Locked` */
  logEntry(event: LogEvent, opts: { position: number; time?: Date | number }): Answer<Mode, string>;
  /** Verifies a server's log sync answer against this device's pinned checkpoint and moves the pin; returns the new entries, the alerts they raised and the checkpoint cosigned by this vault (give it back to the server). @throws {@link MedsealError} `LogRolledBack`, `LogForked`, `LogInconsistent`, `LogEntryInvalid`, `LogSignatureInvalid`, `LogProofMissing`, `Malformed`, `Locked` (log errors carry `evidence`) */
  syncLog(answer: LogSync | string, opts?: SyncLogOptions): Answer<Mode, LogSyncResult>;
  /** The log as this device verified it: size and pinned checkpoint. @throws {@link MedsealError} `Locked` */
  logStatus(): Answer<Mode, { size: number; checkpoint: string | null }>;
  /** The access report of the newest entries (a contiguous run up to the pinned size, each with its inclusion proof) and the alerts raised since `since`. @throws {@link MedsealError} `LogEntryInvalid`, `LogProofMissing`, `InvalidArgument`, `Malformed`, `Locked` */
  accessReport(entries: LogProofItem[], opts?: AccessReportOptions): Answer<Mode, AccessReport>;
  /** Wipes the vault's keys; later calls throw `Locked`. */
  lock(): Answer<Mode, void>;
}

/**
 * An event a vault writes to its log (FORMAT.md §16.2). Times are seconds
 * since 1970. For `manifest`, medseal fills in the current manifest's
 * revision, hash and epoch and the unlock entries added and removed since
 * `previous` (the manifest before the change). `unlock`'s `uv`: whether
 * the passkey's authenticator verified the user (`Vault.unlock` returns it;
 * not for the recovery code). `recovery_check`: the patient typed the
 * recovery code and `confirmRecoveryCode` accepted it (`via`: the recovery
 * entry's id).
 */
export type LogEvent =
  | { type: "server"; name: string; key: string }
  | { type: "manifest"; previous?: Manifest | string }
  | { type: "unlock"; via: string; method: "passkey" | "recovery"; device?: string; uv?: boolean }
  | { type: "recovery_check"; via: string }
  | { type: "grant"; share: string; to: string; records?: number; scope?: string; expires: number }
  | { type: "link"; share: string; label?: string; expires: number }
  | { type: "revoke"; share: string }
  | { type: "delete"; record: string };

/** An access event only the server sees, attested under its log key. `from` is a keyed token of the requester's network. */
export type ServerLogEvent =
  | { type: "shared_fetch"; grant: string; by: string; records?: string[]; outcome: "ok" | "expired" | "revoked" }
  | { type: "link_fetch"; link: string; recipient: string; from: string; outcome: "ok" | "passcode" | "expired" | "revoked" | "locked" }
  | { type: "login"; method: "passkey" | "recovery"; outcome: "ok" | "failed"; from: string; via?: string };

/** A verified log entry: position, time (seconds), the signing epoch of vault entries, author and event. */
export type LogEntry = { n: number; t: number; e?: number; author: "vault" | "server"; event: Exclude<LogEvent, { type: "manifest" }> | ManifestLogEvent | ServerLogEvent };

/** A manifest entry as the log holds it. */
export type ManifestLogEvent = { type: "manifest"; rev: number; hash: string; epoch: number; added?: string[]; removed?: string[] };

/** A server's answer to a log sync (FORMAT.md §16.5): the new head, the consistency proof from this device's pin, the entries after it, checkpoints the vault's devices cosigned. Hashes and leaves in base64url. */
export type LogSync = { checkpoint: string; proof?: string[]; entries?: string[]; cosigned?: Array<{ note: string; proof: string[] }>; size?: number; more?: boolean };

/** A log entry with its inclusion proof (base64url). */
export type LogProofItem = { index: number; leaf: string; proof: string[] };

/** Options of `accessReport`: a time window for the events, and the alerts to return: those raised at positions `since` and after (default 0: all kept). */
export type AccessReportOptions = {
  from?: Date | number;
  to?: Date | number;
  since?: number;
};

/**
 * Options of `syncLog`. Alerts are raised as entries are verified, under
 * `rules` (defaults: more than 20 records in 10 minutes by one grantee, a
 * link from more than 3 networks), never for this device's own unlock
 * entries (`own`). `expect`: entries this device appended (position and
 * leaf, as `logEntry` returned it): a server that acknowledged one and then
 * dropped or replaced it is `LogInconsistent`.
 */
export type SyncLogOptions = {
  own?: string[];
  rules?: { burstRecords?: number; burstMinutes?: number; linkPlaces?: number };
  expect?: Array<{ position: number; leaf: string }>;
};

/** What `syncLog` returns: the new entries, verified; the alerts they raised; the size now pinned; the checkpoint cosigned by this vault (null for an empty log). */
export type LogSyncResult = { entries: LogEntry[]; alerts: AccessAlert[]; size: number; cosigned: string | null };

/** One line of the access report (the 45 CFR 164.528 fields: time, recipient, what, purpose). `time` in seconds. */
export type AccessEvent = {
  index: number;
  time: number;
  kind: string;
  actor: string;
  actorKind: "device" | "person" | "link" | "sign-in" | "vault";
  what: string;
  records: string[];
  purpose: string | null;
  outcome: string;
  disclosure: boolean;
  attestedBy: "vault" | "server";
  target: string | null;
  /** For a grant or link made: when it ends (seconds). */
  expires: number | null;
};

/** An alert on unusual access, with the action that answers it. */
export type AccessAlert = {
  rule: "new-unlock-method" | "recovery-used" | "burst" | "after-expiry" | "link-places";
  index: number;
  time: number;
  actor: string;
  count: number;
  target: string | null;
  action: "remove-passkey" | "rotate-recovery-code" | "revoke-grant" | "revoke-link";
};

/** What `accessReport` returns. */
export type AccessReport = { events: AccessEvent[]; alerts: AccessAlert[] };

/**
 * Options of `posture` (the security check-up). Without `log`, the
 * findings that need it (`RecoveryUnconfirmed`, `RecoveryOlderThanRekey`,
 * `PasskeyUnused`, `PasskeyWithoutUv`) are not judged.
 */
export type PostureOptions = {
  /** The vault log, oldest first: entries as `syncLog` returned them, or with inclusion proofs (as `accessReport` takes them; verified against the pinned checkpoint). Pass the whole log, or at least since the recovery code and every passkey were added. */
  log?: LogEntry[] | LogProofItem[];
  /** Now (a `Date` or milliseconds since 1970); default the current time. */
  now?: Date | number;
  /** Whether this browser can evaluate PRF: what `webauthn.support()` returned, or `false` after a ceremony here returned no PRF result. Default unknown. */
  prf?: PrfSupportLike | boolean;
  /** A passkey not used for more than this many days is reported (1 to 36500, default 180). */
  unusedDays?: number;
};

/** What `webauthn.support()` returns (the fields `posture` reads). */
export type PrfSupportLike = { webauthn: boolean; prf: boolean | "unknown" };

/**
 * One finding of the security check-up (`posture`), told apart by `kind`.
 * Times in seconds since 1970. Each names what to do:
 * - `OnePasskey`: only one passkey unlocks the vault; if it is lost only the recovery code is left. Add a backup passkey.
 * - `RecoveryUnconfirmed`: the current recovery code was never confirmed since it was made (nothing shows the patient still has it). Have them type it (`confirmRecoveryCode`, then log a `recovery_check`), or make a new one.
 * - `RecoveryOlderThanRekey`: the recovery code was made before the latest key epoch, so it survived a re-key (and anyone who copied it still gets in). Make a new recovery code.
 * - `PasskeyUnused`: a passkey has not unlocked (or signed in) for more than `unusedDays`, or never since it was added that long ago: it may be lost, or on a device someone else has. Use it once, or remove it.
 * - `PasskeyWithoutUv`: the passkey's latest unlock had no user verification (no PIN, fingerprint or face): whoever holds the device can use it. Remove it (add one that verifies first if it is the only one).
 * - `PrfUnsupported`: this browser cannot evaluate PRF, so no passkey unlocks here. Use a browser and passkey provider with PRF.
 * - `ActiveShare`: a grant or link is active (listed for review; `expired` when it ended but is still listed). Revoke it when it is no longer needed.
 * - `OldEpochKeys`: older key epochs' vault keys are still in the manifest. Re-wrap every record (`rewrap`, `rewrapStream`), then `retireEpochs`.
 */
export type PostureFinding =
  | { kind: "OnePasskey" }
  | {
      kind: "RecoveryUnconfirmed";
      /** The recovery entry's id: the `via` of the `recovery_check` to log. */
      entry: string;
    }
  | {
      kind: "RecoveryOlderThanRekey";
      /** The recovery entry's id. */
      entry: string;
      /** The oldest key epoch the log shows the code in. */
      sinceEpoch: number;
      /** The current key epoch. */
      epoch: number;
    }
  | {
      kind: "PasskeyUnused";
      /** The passkey's unlock entry id (what `removeUnlock` takes). */
      entry: string;
      /** Its label, if it has one. */
      label: string | null;
      /** Its last unlock or sign-in; `null`: never, in the log given. */
      lastUsed: number | null;
    }
  | {
      kind: "PasskeyWithoutUv";
      /** The passkey's unlock entry id. */
      entry: string;
      /** Its label, if it has one. */
      label: string | null;
    }
  | { kind: "PrfUnsupported" }
  | {
      kind: "ActiveShare";
      /** The share id (what `revokeShare` takes). */
      id: string;
      /** A SMART Health Link (else a grant to a person). */
      link: boolean;
      /** When it ends. */
      expires: number;
      /** It has ended but the manifest still lists it. */
      expired: boolean;
      /** The scope label of a grant that follows a kind of records. */
      scope: string | null;
      /** Who it is for, from the log: the grantee's account name, or the link's label. */
      name: string | null;
    }
  | {
      kind: "OldEpochKeys";
      /** The older epochs whose keys the manifest still holds, oldest first. */
      epochs: number[];
    };

/** PRF data obtained outside medseal: a credential id and the PRF output for the entry's salt. */
export type PrfKey = { credentialId: Uint8Array; prfOutput: Uint8Array };

/**
 * The operations a `RemoteVault` sends and a vault host runs: name, the
 * arguments as sent, and the result. Both ends are typed from this table.
 */
export type Ops = {
  status: { args: []; result: VaultStatus };
  /** Salts and a challenge from the host's CSPRNG for a passkey ceremony run by the page. */
  createRequest: { args: []; result: { prfSalt: Uint8Array; first: Uint8Array; challenge: Uint8Array } };
  addPasskeyRequest: { args: []; result: { prfSalt: Uint8Array; first: Uint8Array; challenge: Uint8Array; exclude: Uint8Array[] } };
  unlockRequest: { args: [manifest: Manifest | string]; result: { passkeys: Array<{ credentialId: Uint8Array; first: Uint8Array; label?: string }>; challenge: Uint8Array } };
  create: { args: [prf: PrfKey & { prfSalt: Uint8Array; label?: string }]; result: { manifest: Manifest; recoveryCode: string } };
  unlockWithPrf: { args: [manifest: Manifest | string, prf: PrfKey, opts: UnlockOptions]; result: VaultStatus };
  unlockWithRecoveryCode: { args: [manifest: Manifest | string, code: string, opts: UnlockOptions]; result: VaultStatus };
  addPasskey: { args: [prf: PrfKey & { prfSalt: Uint8Array; label?: string }]; result: Manifest };
  receiverKey: { args: []; result: Uint8Array };
  acceptHandoff: { args: [message: Uint8Array, receiverKey: Uint8Array]; result: VaultStatus };
  lock: { args: []; result: VaultStatus };
  seal: { args: [record: unknown, opts: SealOptions]; result: string | Uint8Array };
  open: { args: [sealed: string | Uint8Array, opts: RecordBinding]; result: unknown };
  sealMany: { args: [items: SealItem[], opts: { form?: SealedForm }]; result: Array<string | Uint8Array> };
  openMany: { args: [items: OpenItem[]]; result: Array<{ ok: true; value: unknown } | { ok: false; error: ErrorData }> };
  sealLarge: { args: [record: unknown, opts: SealOptions]; result: string | Uint8Array };
  openLarge: { args: [sealed: string | Uint8Array, opts: RecordBinding]; result: unknown };
  manifest: { args: []; result: Manifest };
  vaultId: { args: []; result: string };
  removeUnlock: { args: [entryId: string]; result: Manifest };
  rotateRecoveryCode: { args: []; result: { manifest: Manifest; recoveryCode: string } };
  updateManifest: { args: [manifest: Manifest | string, opts: { history?: Array<Manifest | string> }]; result: null };
  tombstone: { args: [opts: RecordBinding & { version: number; form?: SealedForm }]; result: string | Uint8Array };
  rewrap: { args: [sealed: string | Uint8Array, opts: RecordBinding & { form?: SealedForm }]; result: string | Uint8Array | null };
  rekey: { args: []; result: Manifest };
  retireEpochs: { args: []; result: Manifest };
  signRecoveryLogin: { args: [challenge: Uint8Array, audience: string]; result: Uint8Array };
  signLoginProof: { args: [challenge: Uint8Array, audience: string]; result: Uint8Array };
  grant: { args: [opts: GrantOptions]; result: { grant: string; manifest: Manifest } };
  grantSlot: { args: [grant: string, sealed: string | Uint8Array, opts: RecordBinding]; result: string };
  revokeShare: { args: [id: string]; result: Manifest };
  reissueGrant: { args: [grant: string, opts: { grantee: Manifest | string }]; result: { grant: string; manifest: Manifest } };
  openShared: { args: [opts: OpenSharedOptions]; result: Array<{ ok: true; value: unknown } | { ok: false; error: ErrorData }> };
  createLink: { args: [opts: LinkOptions]; result: NewLink };
  emergencyCard: { args: [bundle: unknown, opts: { notBefore?: Date | number }]; result: EmergencyCard };
  cardFingerprint: { args: []; result: string };
  linkPayload: { args: [shareId: string, opts: Omit<LinkOptions, "expires">]; result: string };
  sealLinkFile: { args: [shareId: string, content: unknown, opts: { contentType?: string }]; result: string };
  logEntry: { args: [event: LogEvent, opts: { position: number; time?: Date | number }]; result: string };
  syncLog: { args: [answer: LogSync | string, opts: SyncLogOptions]; result: LogSyncResult };
  logStatus: { args: []; result: { size: number; checkpoint: string | null } };
  accessReport: { args: [entries: LogProofItem[], opts: AccessReportOptions]; result: AccessReport };
  /** Reports a failed save of the host's seen state (each answer waits for the saves its operation caused). */
  persisted: { args: []; result: null };
};

/** An operation's name. */
export type Op = keyof Ops;

/** An error as it crosses a `postMessage` channel. */
export type ErrorData = { code: string; message: string; index?: number; evidence?: { pinned: string | null; offered: string } };
