/**
 * Errors thrown by medseal. Branch on `code`, never on `message`.
 */
export const ErrorCode = {
  /** A sealed record did not authenticate: tampered, another vault, another record id or context. */
  DecryptionFailed: "DecryptionFailed",
  /** Written by a newer medseal (record, manifest or content type version). */
  UnknownVersion: "UnknownVersion",
  /** Not a medseal record or manifest at all. */
  Malformed: "Malformed",
  /** The vault was locked with `lock()`. */
  Locked: "Locked",
  /** This browser or authenticator cannot evaluate the WebAuthn PRF extension. */
  PrfUnsupported: "PrfUnsupported",
  /** The ceremony succeeded but returned no PRF result for this passkey. */
  PrfNotReturned: "PrfNotReturned",
  /** A PRF output that is not 32 non-zero bytes. */
  InvalidPrfOutput: "InvalidPrfOutput",
  /** The recovery code is mistyped (checksum mismatch). */
  InvalidRecoveryCode: "InvalidRecoveryCode",
  /** A well-formed key that does not unlock this vault. */
  UnlockFailed: "UnlockFailed",
  /** No unlock entry for that passkey or entry id. */
  UnknownUnlockEntry: "UnknownUnlockEntry",
  /** Refused: the vault would lose its recovery code or its last passkey. */
  LastUnlockMethod: "LastUnlockMethod",
  /** The manifest's signature does not check out: altered without the vault key. */
  ManifestInvalid: "ManifestInvalid",
  /** The manifest is older than one already seen: a rollback. */
  StaleManifest: "StaleManifest",
  /** A vault hand-off carried another vault than the one the receiver belongs to. */
  WrongVault: "WrongVault",
  /** The vault worker (or extension service worker) could not be reached or stopped answering. */
  WorkerUnavailable: "WorkerUnavailable",
  /** An argument of the wrong type or out of range. */
  InvalidArgument: "InvalidArgument",
  /** Input larger than the format allows. */
  TooLarge: "TooLarge",
  /** The platform's secure random number generator is unavailable. */
  RandomUnavailable: "RandomUnavailable",
  /** Two manifests claim one place in the vault's history: a server showed devices different histories. */
  ForkDetected: "ForkDetected",
  /** A newer manifest without the ones in between: pass `history`. */
  HistoryIncomplete: "HistoryIncomplete",
  /** An older version of a record than one this device saw: a rollback. */
  StaleRecord: "StaleRecord",
  /** The record was deleted (a tombstone). */
  RecordDeleted: "RecordDeleted",
  /** A person's key changed since this device pinned it: the server may have substituted it; compare fingerprints. */
  KeyChanged: "KeyChanged",
  /** The grant or link has expired. */
  GrantExpired: "GrantExpired",
  /** Outside what the grant gives: another record or grantee, or a revoked grant. */
  NotGranted: "NotGranted",
  /** A vault log checkpoint not signed by the log's known keys (the server's announced log key, the vault's identity). */
  LogSignatureInvalid: "LogSignatureInvalid",
  /** A vault log entry forged, edited, out of place, or written by someone who may not write it (`message` names its index). */
  LogEntryInvalid: "LogEntryInvalid",
  /** The vault log is smaller than one already verified: entries removed, or an old checkpoint replayed. */
  LogRolledBack: "LogRolledBack",
  /** Two signed checkpoints of the vault log disagree: the server showed devices different histories. */
  LogForked: "LogForked",
  /** The vault log does not extend the checkpoint this device pinned: an entry changed, dropped or reordered. */
  LogInconsistent: "LogInconsistent",
  /** The server withheld a proof the vault log requires: a failure, never a success. */
  LogProofMissing: "LogProofMissing",
  /** A sealed file ends without its last chunk: it was cut short; do not treat what was read as the whole file. */
  Truncated: "Truncated",
  /** A security notice not signed by an operator key the app pins (forged or altered): ignore it. */
  NoticeInvalid: "NoticeInvalid",
  /** A deletion tombstone not signed by the server key given, edited, or naming another deletion request. */
  TombstoneInvalid: "TombstoneInvalid",
  /** The passkey ceremony was cancelled or timed out. */
  Cancelled: "Cancelled",
  /** medseal's WebAssembly module is not initialised: call `await init()` first. */
  NotInitialized: "NotInitialized",
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * The codes raised by the JS layer itself (ceremonies, workers, loading).
 * Every other code comes from the wasm module, whose list (`errorCodes()`,
 * from the Rust error enum) a test checks against `ErrorCode`: one source.
 */
export const JS_ERROR_CODES: readonly ErrorCode[] = [
  ErrorCode.PrfUnsupported,
  ErrorCode.PrfNotReturned,
  ErrorCode.WorkerUnavailable,
  ErrorCode.Cancelled,
  ErrorCode.NotInitialized,
];

const KNOWN = new Set<string>(Object.values(ErrorCode));

/** The one error class medseal throws. Branch on `code`. */
export class MedsealError extends Error {
  readonly code: ErrorCode;
  /** For batch calls: the index of the item that failed. */
  index?: number;
  /** For vault log errors: the signed checkpoints compared (the one this device pinned, the one offered). */
  evidence?: { pinned: string | null; offered: string };
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "MedsealError";
    this.code = code;
  }
}

/** Turns whatever the wasm layer threw into a MedsealError (no secrets are in wasm messages). */
export function fromWasm(e: unknown): MedsealError {
  if (e instanceof MedsealError) return e;
  const err = e as { code?: unknown; message?: unknown; index?: unknown; evidence?: unknown } | null;
  if (err && typeof err.code === "string" && KNOWN.has(err.code)) {
    const out = new MedsealError(err.code as ErrorCode, typeof err.message === "string" ? err.message : err.code);
    // Batch calls say which item failed.
    if (typeof err.index === "number") Object.assign(out, { index: err.index });
    // Log errors carry the checkpoints as evidence, also across a worker channel.
    const ev = err.evidence as { pinned?: unknown; offered?: unknown } | undefined;
    if (ev && typeof ev.offered === "string" && (ev.pinned === null || typeof ev.pinned === "string")) {
      Object.assign(out, { evidence: { pinned: ev.pinned, offered: ev.offered } });
    }
    return out;
  }
  // wasm-bindgen throws plain Errors for argument types it checks itself.
  return new MedsealError(ErrorCode.InvalidArgument, `invalid argument: ${String((err && err.message) ?? e)}`);
}

/** An error as it crosses a `postMessage` channel (code, message, batch index). */
export function errorData(e: unknown): { code: string; message: string; index?: number; evidence?: { pinned: string | null; offered: string } } {
  const m = fromWasm(e);
  return { code: m.code, message: m.message, ...(m.index === undefined ? {} : { index: m.index }), ...(m.evidence ? { evidence: m.evidence } : {}) };
}

/**
 * Makes every listed method of `target` (a prototype, a class or an object)
 * throw nothing but `MedsealError`: a caller's value that throws when read
 * (a revoked Proxy, a throwing getter, a detached buffer) becomes
 * `InvalidArgument`, also for promises. The public entry points are wrapped
 * once, here, instead of guarding each argument read.
 */
export function guardMethods(target: object, names: readonly string[]): void {
  for (const name of names) {
    const d = Object.getOwnPropertyDescriptor(target, name);
    if (!d || typeof d.value !== "function") throw new Error(`guardMethods: ${name} is not a method`);
    const f = d.value as (...a: unknown[]) => unknown;
    const wrapped = {
      [name](this: unknown, ...a: unknown[]): unknown {
        let r: unknown;
        try {
          r = f.apply(this, a);
        } catch (e) {
          throw fromWasm(e);
        }
        return r instanceof Promise ? r.catch((e: unknown) => Promise.reject(fromWasm(e))) : r;
      },
    }[name];
    Object.defineProperty(target, name, { ...d, value: wrapped });
  }
}

/** Runs a wasm call, translating its errors. */
export function call<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw fromWasm(e);
  }
}
