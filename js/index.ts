/**
 * medseal: client-side encryption of health records with keys from passkeys.
 *
 * Two verbs open a vault, `Vault.create` and `Vault.unlock`, each taking the
 * source of its key as an argument: a passkey ceremony medseal runs, a
 * credential from the application's own ceremony (live or JSON), a PRF
 * output, or the recovery code. An unlocked vault seals and opens records.
 *
 * This layer does no cryptography and knows no byte layout: every key
 * operation happens inside the WebAssembly module, which holds the keys.
 * JavaScript sees opaque handles, sealed records, public manifests and
 * (once) a recovery code to show the user.
 *
 * ESM only. The types use the DOM library's WebAuthn and WebCrypto types.
 * @packageDocumentation
 */
import initWasm, * as wasm from "./wasm/medseal_wasm.js";
import type { InitInput as WasmInitInput } from "./wasm/medseal_wasm.js";
import { ErrorCode, MedsealError, call, fromWasm, guardMethods } from "./errors.js";
import { readPackaged } from "./loader.js";
import type { AccessAlert, AccessReport, AccessReportOptions, LogEntry, LogEvent, LogProofItem, LogSync, LogSyncResult, SyncLogOptions, ExportRecord, ExportSource } from "./types.js";
import { accessReports } from "./report.js";
import { exportItems, streamOf } from "./export.js";
import { type RangeReader, type RangeSource, type StreamControl, aborted, blobRangeSource, openTransform, rangeReader, sealTransform } from "./streams.js";
export { accessReports } from "./report.js";
import type { EmergencyCard, Fingerprint, GrantInfo, GrantOptions, LinkOptions, Manifest, NewLink, ShlinkInfo, VerifiedCard, OpenItem, OpenOutcome, OpenSharedOptions, RecordBinding, RecordInfo, SealItem, Sealed, SealedForm, SealOptions, SeenStore, ShareItem, StreamOptions, UnlockOptions, VaultApi, Notice, OperatorKeyPin, Tombstone } from "./types.js";
import { type CeremonyOptions, type CreateOptions, type CredentialLike, b64u, byteView, createWithPrf, fromB64u, getWithPrf, prfFromCreated, prfSupport, readCredential, serverSafe, userVerified } from "./webauthn.js";
import type { PostureFinding, PostureOptions } from "./types.js";

export { ErrorCode, MedsealError } from "./errors.js";
export { httpRangeSource } from "./streams.js";
export type { RangeReader, RangeSource } from "./streams.js";
export type { CeremonyOptions, CreateOptions, CredentialLike, PrfSupport } from "./webauthn.js";
export type * from "./types.js";

let ready: Promise<void> | null = null;
let initialized = false;

/** What `init()` accepts: nothing (load the module shipped in the package), bytes, a URL, a Response or a compiled module. */
export type InitInput = BufferSource | URL | string | Response | WebAssembly.Module;

// The smallest module that uses SIMD128 (a function returning v128.const 0):
// it validates exactly where the engine runs SIMD128.
const SIMD128_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11,
]);

/**
 * Whether this engine runs WebAssembly SIMD128 (every current browser; not
 * Safari before 16.4). The package ships two builds of the same module:
 * `medseal.wasm` (SIMD128, faster) and `medseal-scalar.wasm`. `init()` with no
 * argument picks one; pass the file yourself with this when you host it.
 */
export function simd128Supported(): boolean {
  try {
    return WebAssembly.validate(SIMD128_PROBE);
  } catch {
    return false;
  }
}

/**
 * Loads the WebAssembly module. Call once before anything else; later calls
 * return the same promise. With no argument the module is loaded from the
 * package itself (fetch in browsers, workers and extensions; the file system
 * in Node, through the package's `node` entry): the SIMD128 build where the
 * engine has SIMD128, else the scalar one. Extensions and strict-CSP pages
 * need `'wasm-unsafe-eval'` only.
 * @throws {@link MedsealError} `NotInitialized` when the module cannot be loaded.
 */
export function init(input?: InitInput): Promise<void> {
  if (!ready) {
    ready = (async () => {
      // Two literal URLs, so that bundlers see (and emit) both files.
      const scalar = async () => initWasm({ module_or_path: await packaged(new URL("./wasm/medseal_wasm_scalar_bg.wasm", import.meta.url)) });
      if (input !== undefined) {
        await initWasm({ module_or_path: input });
      } else if (simd128Supported()) {
        try {
          await initWasm({ module_or_path: await packaged(new URL("./wasm/medseal_wasm_bg.wasm", import.meta.url)) });
        } catch {
          // An engine whose early SIMD accepted the probe but not the final
          // instruction set: the scalar build runs everywhere.
          await scalar();
        }
      } else {
        await scalar();
      }
      initialized = true;
    })().catch((e) => {
      ready = null;
      throw new MedsealError(ErrorCode.NotInitialized, `could not load medseal's WebAssembly module: ${String((e as Error)?.message ?? e)}`);
    });
  }
  return ready;
}

/** A module shipped in the package: its URL (fetched by the glue), or its bytes where a file reader is registered (Node). */
async function packaged(url: URL): Promise<WasmInitInput> {
  if (url.protocol !== "file:") return url;
  if (!readPackaged) throw new Error("a file: URL cannot be fetched here: import medseal under the \"node\" export condition, or pass the module to init()");
  return await readPackaged(url);
}

function ensureInit(): void {
  if (!initialized) throw new MedsealError(ErrorCode.NotInitialized, "call `await init()` before using medseal");
}

function invalid(message: string): MedsealError {
  return new MedsealError(ErrorCode.InvalidArgument, message);
}

function tooLarge(): MedsealError {
  return new MedsealError(ErrorCode.TooLarge, "input larger than the format allows");
}

function obj(v: unknown, what: string): asserts v is Record<string, unknown> {
  if (v === null || typeof v !== "object") throw invalid(what);
}

/** A real byte view (not a Proxy of one, which passes `instanceof` but cannot be read as one). */
function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array && ArrayBuffer.isView(v);
}

/** An ArrayBuffer or any view as a Uint8Array, without copying. */
function bytesOf(v: unknown, what: string): Uint8Array {
  const view = byteView(v);
  if (!view) throw invalid(`${what} must be a Uint8Array or ArrayBuffer`);
  return view;
}

function str(v: unknown, what: string): string {
  if (typeof v !== "string") throw invalid(`${what} must be a string`);
  return v;
}

const utf8Encoder = new TextEncoder();
const NO_CONTEXT = new Uint8Array(0);

/** The record's binding, read once: its id and its context as bytes. */
function bindingOf(opts: unknown): { recordId: string; context: Uint8Array } {
  obj(opts, "options must be { recordId, context? }");
  const recordId = str(opts.recordId, "recordId");
  const c = opts.context;
  const context = c === undefined || c === null ? NO_CONTEXT : typeof c === "string" ? utf8Encoder.encode(c) : bytesOf(c, "context");
  return { recordId, context };
}

function labelOf(v: unknown): string | undefined {
  return v === undefined || v === null ? undefined : str(v, "label");
}

function formOf(v: unknown): SealedForm {
  if (v === undefined || v === "text") return "text";
  if (v === "bytes") return "bytes";
  throw invalid('form must be "text" or "bytes"');
}

/** A manifest as the wasm module reads it: its JSON text. */
function manifestText(m: unknown): string {
  if (typeof m === "string") return m;
  if (m === null || typeof m !== "object" || Array.isArray(m)) throw invalid("manifest must be a vault manifest object or its JSON text");
  let text: unknown;
  try {
    text = JSON.stringify(m);
  } catch (e) {
    throw new MedsealError(ErrorCode.Malformed, `manifest object cannot be serialized as JSON: ${(e as Error)?.message}`);
  }
  // A toJSON() that returns undefined must not read as "no manifest" (a pin dropped).
  if (typeof text !== "string") throw invalid("manifest must be a vault manifest object or its JSON text");
  return text;
}

function manifestOf(json: string): Manifest {
  return JSON.parse(json) as Manifest;
}

/** Manifests of a history, as JSON texts. */
function historyOf(history: unknown): string[] {
  if (history === undefined || history === null) return [];
  if (!Array.isArray(history)) throw invalid("history must be an array of manifests");
  return history.map(manifestText);
}

/** The `vaultId` field of a manifest's JSON (to find this vault's seen state). */
function vaultIdOf(text: string): string {
  let id: unknown;
  try {
    id = (JSON.parse(text) as { vaultId?: unknown })?.vaultId;
  } catch {
    throw new MedsealError(ErrorCode.Malformed, "manifest is not JSON");
  }
  if (typeof id !== "string") throw new MedsealError(ErrorCode.Malformed, "manifest has no vaultId");
  return id;
}

/** The object store of `seenStores.indexedDB`'s database: key the vault id, value the state. */
const SEEN_OBJECTS = "seen";

/** A request's result, or its error (an aborted transaction's, if it has none). */
function idbResult<T>(r: IDBRequest<T>, tx: IDBTransaction): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const fail = () => reject(r.error ?? tx.error ?? new DOMException("the IndexedDB transaction was aborted", "AbortError"));
    r.onsuccess = () => resolve(r.result);
    r.onerror = fail;
    tx.onabort = fail;
  });
}

/** A transaction's commit: resolves once the write is in the database, rejects if it aborted. */
function idbCommit(tx: IDBTransaction): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = tx.onabort = () => reject(tx.error ?? new DOMException("the IndexedDB transaction was aborted", "AbortError"));
  });
}

/**
 * Stores for what a device has seen of a vault (see `SeenStore`):
 * `localStorage` (the default in a page), IndexedDB (the default in a
 * worker or service worker, which have no `localStorage`: their memory is
 * gone at every restart, and rollback protection with it), memory (the
 * default where neither may be used, as in Node or a sandboxed frame; lost
 * when the realm ends), or your own `{ load, save, remove? }` (a file, a native
 * app's storage).
 */
export const seenStores = {
  /** In this realm's memory only. */
  memory(): SeenStore {
    const m = new Map<string, string>();
    return { load: (id) => m.get(id) ?? null, save: (id, state) => void m.set(id, state), remove: (id) => void m.delete(id) };
  },
  /** In `localStorage`, under `prefix` + the vault id. */
  localStorage(prefix = "medseal.seen."): SeenStore {
    return {
      load: (id) => globalThis.localStorage.getItem(prefix + id),
      save: (id, state) => globalThis.localStorage.setItem(prefix + id, state),
      remove: (id) => globalThis.localStorage.removeItem(prefix + id),
    };
  },
  /**
   * In IndexedDB: the database `dbName` (version 1, made on first use), one
   * object store whose keys are vault ids and values the states. IndexedDB
   * is the storage that workers and extension service workers have, so a
   * vault host that restarts still knows what it saw. `load` and `save`
   * reject when the database cannot be opened (storage denied, a newer
   * version of it) or a transaction fails; `save` resolves only once the
   * transaction has committed. The connection is opened once and kept
   * (closed again when another connection upgrades the database or the
   * browser closes it, then reopened on the next call).
   */
  indexedDB(dbName = "medseal-seen"): SeenStore {
    if (typeof dbName !== "string" || dbName === "") throw invalid("dbName must be a non-empty string");
    let db: Promise<IDBDatabase> | null = null;
    const open = (): Promise<IDBDatabase> => {
      if (db) return db;
      const p = new Promise<IDBDatabase>((resolve, reject) => {
        const r = globalThis.indexedDB.open(dbName, 1);
        r.onupgradeneeded = () => r.result.createObjectStore(SEEN_OBJECTS);
        r.onsuccess = () => {
          const conn = r.result;
          const drop = () => {
            if (db === p) db = null;
          };
          // Another tab or worker upgrading the database must not wait for this connection.
          conn.onversionchange = () => {
            conn.close();
            drop();
          };
          conn.onclose = drop; // closed by the browser (storage cleared)
          resolve(conn);
        };
        r.onerror = () => reject(r.error ?? new DOMException(`IndexedDB database "${dbName}" could not be opened`, "UnknownError"));
      });
      db = p;
      // A failed open is tried again on the next call, not remembered.
      p.catch(() => {
        if (db === p) db = null;
      });
      return p;
    };
    return {
      load: async (id) => {
        const tx = (await open()).transaction(SEEN_OBJECTS, "readonly");
        const v = await idbResult<unknown>(tx.objectStore(SEEN_OBJECTS).get(id), tx);
        return (v ?? null) as string | null;
      },
      save: async (id, state) => {
        const tx = (await open()).transaction(SEEN_OBJECTS, "readwrite");
        const done = idbCommit(tx);
        tx.objectStore(SEEN_OBJECTS).put(state, id);
        await done;
      },
      remove: async (id) => {
        const tx = (await open()).transaction(SEEN_OBJECTS, "readwrite");
        const done = idbCommit(tx);
        tx.objectStore(SEEN_OBJECTS).delete(id);
        await done;
      },
    };
  },
};

const realmMemory = seenStores.memory();

/**
 * The default store where there is no usable `localStorage`: IndexedDB, or,
 * where this realm may not use IndexedDB at all (an opaque origin, such as
 * a sandboxed frame: `open` throws `SecurityError`), memory, as for a
 * blocked `localStorage`. Any other failure rejects (the caller sees it).
 */
function indexedDBOrMemory(): SeenStore {
  const idb = seenStores.indexedDB();
  let store: SeenStore | null = null;
  const pick = async <T>(f: (s: SeenStore) => T | Promise<T>): Promise<T> => {
    if (store) return f(store);
    try {
      const out = await f(idb);
      store = idb;
      return out;
    } catch (e) {
      if ((e as { name?: unknown } | null)?.name !== "SecurityError") throw e;
      store = realmMemory;
      return f(realmMemory);
    }
  };
  return { load: (id) => pick((s) => s.load(id)), save: (id, state) => pick((s) => s.save(id, state)), remove: (id) => pick((s) => s.remove?.(id)) };
}

let realmIndexedDB: SeenStore | null = null;

function storeOf(opts: { store?: SeenStore | null } | undefined): SeenStore | null {
  const s = opts?.store;
  if (s === null) return null;
  if (s !== undefined) {
    if (typeof s !== "object" || typeof s.load !== "function" || typeof s.save !== "function") throw invalid("store must be { load, save } or null");
    return s;
  }
  try {
    if (typeof globalThis.localStorage?.getItem === "function") return seenStores.localStorage();
  } catch {
    // localStorage throws where storage is blocked (sandboxed frames): try IndexedDB.
  }
  // Workers and service workers have IndexedDB but no localStorage.
  if (typeof globalThis.indexedDB?.open === "function") return (realmIndexedDB ??= indexedDBOrMemory());
  return realmMemory;
}

/**
 * Saves of a vault's seen state still running in this realm, by vault id: a
 * vault locked and unlocked again at once must not load the state from
 * before them (it would forget a pinned checkpoint or manifest and accept a
 * rollback, then save that over the real one).
 */
const pendingSaves = new Map<string, Promise<void>>();

async function loadSeen(store: SeenStore | null, vaultId: string): Promise<string | undefined> {
  if (!store) return undefined;
  await pendingSaves.get(vaultId);
  let s: unknown;
  try {
    s = await store.load(vaultId);
  } catch (e) {
    if (e instanceof MedsealError) throw e;
    throw invalid(`the seen-state store failed to load: ${String((e as Error)?.message ?? e)}`);
  }
  if (s === null || s === undefined) return undefined;
  if (typeof s !== "string") throw invalid("store.load must return a string or null");
  return s;
}

/** Seconds since 1970 from a `Date` or milliseconds. */
function secondsOf(v: unknown, what: string): number {
  const ms = v instanceof Date ? v.getTime() : v;
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) throw invalid(`${what} must be a Date or milliseconds since 1970`);
  return Math.floor(ms / 1000);
}

/**
 * Where this device remembers the people it shares with (see
 * `sharing.pin`): a fingerprint pinned at first use. Same shape as a
 * `SeenStore`, keyed by the app's name for the person (not by the vault id
 * a manifest claims: a substituted manifest claims its own).
 */
export type PinStore = SeenStore;

/** Stores for pins: `localStorage` (the default in a page) or memory. */
export const pinStores = {
  /** In this realm's memory only. */
  memory(): PinStore {
    return seenStores.memory();
  },
  /** In `localStorage`, under `prefix` + the person's name. */
  localStorage(prefix = "medseal.pin."): PinStore {
    return seenStores.localStorage(prefix);
  },
};

let realmPins: PinStore | null = null;

function defaultPins(): PinStore {
  try {
    if (typeof globalThis.localStorage?.getItem === "function") return pinStores.localStorage();
  } catch {
    // Storage blocked (a sandboxed frame): memory.
  }
  return pinStores.memory();
}

/**
 * Sharing without a vault: fingerprints, pins, and what manifests and
 * grants say. Nothing here needs a key.
 */
export const sharing = {
  /**
   * A vault's fingerprint from its manifest (every signature checked): 40
   * digits two people read to each other, or a QR payload one scans from
   * the other's screen. The same through the vault's re-keys.
   * @throws {@link MedsealError} `ManifestInvalid`, `Malformed`
   */
  fingerprint(manifest: Manifest | string): Fingerprint {
    const f = call(() => wasm.fingerprint(manifestText(manifest)));
    return { vaultId: f.vaultId, digits: f.digits, qr: f.qr, digest: f.digest };
  },
  /**
   * Trust on first use: checks the manifest a server relayed for `person`
   * (the app's stable name for them: a username, an email) against the
   * fingerprint pinned for that person, pins it the first time, and returns
   * the fingerprint with `firstUse`. Another vault or key is `KeyChanged`:
   * the server may have substituted it; compare fingerprints with the
   * person before trusting it, then pin anew with `{ replace: true }`. An
   * older manifest than seen is `StaleManifest`.
   * @throws {@link MedsealError} `KeyChanged`, `StaleManifest`, `ManifestInvalid`, `Malformed`, `InvalidArgument`
   */
  async pin(person: string, manifest: Manifest | string, opts: { store?: PinStore; replace?: boolean } = {}): Promise<Fingerprint & { firstUse: boolean }> {
    const who = str(person, "person");
    if (who === "") throw invalid("person must name someone");
    const text = manifestText(manifest);
    const store = opts.store ?? (realmPins ??= defaultPins());
    const f = sharing.fingerprint(text);
    const old = opts.replace === true ? null : await store.load(who);
    if (old !== null && old !== undefined && typeof old !== "string") throw invalid("store.load must return a string or null");
    const next = call(() => wasm.checkPin(text, old ?? undefined));
    await store.save(who, next);
    return { ...f, firstUse: old === null || old === undefined };
  },
  /** The active grants and links a manifest lists. @throws {@link MedsealError} `Malformed`, `ManifestInvalid` */
  shares(manifest: Manifest | string): ShareItem[] {
    return call(() => wasm.manifestShares(manifestText(manifest))).map((s) => ({ id: s.id, link: s.link, ...(s.scope === undefined ? {} : { scope: s.scope }), expires: s.expires, digest: s.digest }));
  },
  /** What a grant says, unverified (`openShared` verifies). @throws {@link MedsealError} `Malformed`, `UnknownVersion` */
  grantInfo(grant: string): GrantInfo {
    const g = call(() => wasm.grantInfo(str(grant, "grant")));
    return {
      id: g.id,
      grantor: g.grantor,
      grantorEpoch: g.grantorEpoch,
      grantee: g.grantee,
      ...(g.records === undefined ? {} : { records: g.records }),
      ...(g.label === undefined ? {} : { label: g.label }),
      created: g.created,
      expires: g.expires,
      digest: g.digest,
    };
  },
};

/**
 * SMART Health Links on the receiving side, with no vault: read a
 * `shlink:/` (its key stays inside medseal) and open the files its server
 * returns.
 */
export const healthLinks = {
  /** What a `shlink:/` text (or a viewer URL ending in `#shlink:/…`) says, without its key. @throws {@link MedsealError} `Malformed`, `UnknownVersion`, `InvalidArgument` */
  parse(shlink: string): ShlinkInfo {
    const p = call(() => wasm.parseShlink(str(shlink, "shlink")));
    return { url: p.url, ...(p.exp === undefined ? {} : { exp: p.exp }), flag: p.flag, ...(p.label === undefined ? {} : { label: p.label }) };
  },
  /**
   * Opens one file (a JWE) of the link: JSON content types give the parsed
   * value, others the bytes.
   * @throws {@link MedsealError} `DecryptionFailed`, `Malformed`, `TooLarge`
   */
  openFile<T = unknown>(shlink: string, jwe: string): { contentType?: string; value: T } {
    const f = call(() => wasm.openLinkFile(str(shlink, "shlink"), str(jwe, "jwe")));
    const contentType = f.contentType;
    const json = contentType !== undefined && /(^|[/+])json$/.test(contentType);
    const value = (json ? parseJson<T>(call(() => f.intoText())) : f.intoBytes()) as T;
    return contentType === undefined ? { value } : { contentType, value };
  },
};

/** Emergency cards on the reading side: no vault, no network. */
export const healthCards = {
  /**
   * Reads and verifies an emergency card from its QR text (`shc:/…`) or its
   * JWS: the signature under the key it carries, the format, the size.
   * Show `fingerprint` and ask the patient to show theirs: only that
   * comparison says whose card it is.
   * @throws {@link MedsealError} `ManifestInvalid` (a bad signature), `Malformed`, `TooLarge`
   */
  read<T = unknown>(text: string): VerifiedCard<T> {
    const c = call(() => wasm.readCard(str(text, "text")));
    return { iss: c.iss, nbf: c.nbf, fingerprint: c.fingerprint, bundle: parseJson<T>(c.bundle) };
  },
};

/** A sealed record's format, key epoch and version, read without a key. @throws {@link MedsealError} `Malformed`, `UnknownVersion`, `NotInitialized` */
export function recordInfo(sealed: string | Uint8Array): RecordInfo {
  ensureInit();
  const r = typeof sealed === "string" ? withUtf8(sealed, false, (b) => call(() => wasm.recordInfo(b, true))) : call(() => wasm.recordInfo(bytesOf(sealed, "sealed"), false));
  const out = { format: r.format, epoch: r.epoch, version: r.version };
  r.free();
  return out;
}

/**
 * Security notices from the service's operator ("we had an incident:
 * re-key your vault"). The server relays a notice as a C2SP signed note;
 * the app pins the operator's keys in its own code, so a notice the server
 * forged or altered is refused (`NoticeInvalid`): show nothing then.
 */
export const notices = {
  /**
   * Verifies a signed notice against the pinned `keys`; `current` says
   * whether to show it at `now` (default: the clock).
   * @throws {@link MedsealError} `NoticeInvalid`, `Malformed`, `TooLarge`, `InvalidArgument`
   */
  verify(signed: string, opts: { keys: OperatorKeyPin[]; now?: Date | number }): Notice {
    ensureInit();
    const text = str(signed, "signed");
    obj(opts, "options must be { keys, now? }");
    if (!Array.isArray(opts.keys)) throw invalid("keys must be an array of { name, key }");
    const keys = JSON.stringify(opts.keys.map((k) => {
      obj(k, "each key must be { name, key }");
      return { name: str(k.name, "name"), key: str(k.key, "key") };
    }));
    const now = opts.now === undefined ? Date.now() / 1000 : secondsOf(opts.now, "now");
    const n = JSON.parse(call(() => wasm.verifyNotice(text, keys))) as Omit<Notice, "current">;
    return { ...n, current: n.issued <= now && now < n.expires };
  },
};

/**
 * Tombstones of deleted vaults. After `vault.destroy()` and the server's
 * deletion, the server keeps one signed statement per vault (a C2SP signed
 * note under its log key): which vault, when, at which request. It names
 * no person.
 */
export const tombstones = {
  /**
   * Verifies a tombstone under the server's log key: `keyName` its
   * signed-note key name, `key` its compressed P-256 public key (33 bytes,
   * or their base64url, as the server's `GET /api/log/key` and a vault log's
   * `server` entry give it). With `request` (the bytes `vault.destroy()`
   * returned), the tombstone must name that very request.
   * @throws {@link MedsealError} `TombstoneInvalid` (not signed by this key, edited, or another request), `Malformed` (signed, but not a tombstone), `TooLarge`, `InvalidArgument`
   */
  verify(note: string, opts: { keyName: string; key: string | Uint8Array; request?: Uint8Array }): Tombstone {
    ensureInit();
    const text = str(note, "note");
    obj(opts, "options must be { keyName, key, request? }");
    const keyName = str(opts.keyName, "keyName");
    const k = opts.key;
    const key = typeof k === "string" ? fromB64u(k) : bytesOf(k, "key");
    const request = opts.request === undefined ? undefined : bytesOf(opts.request, "request");
    const t = call(() => wasm.verifyTombstone(text, keyName, key, request));
    try {
      return { origin: t.origin, vaultId: t.vaultId, deleted: t.deleted, request: t.request, identity: t.identity };
    } finally {
      t.free();
    }
  },
};

/**
 * A sealed file's key epoch and version, from its first 134 bytes, without
 * a key (authenticated only when it opens): an edit seals `version + 1`; an
 * `epoch` below the vault's current one needs `rewrapStream`.
 * @throws {@link MedsealError} `Malformed`, `UnknownVersion`
 */
export function streamInfo(head: Uint8Array): { epoch: number; version: number } {
  ensureInit();
  const [epoch, version] = call(() => wasm.streamInfo(bytesOf(head, "head")));
  return { epoch, version };
}

/** A record version option: absent, or checked by wasm (an integer 1 .. 2^53 - 1). */
function versionOf(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "number") throw invalid("version must be an integer from 1 to 2^53 - 1");
  return v;
}

function revisionOf(opts: UnlockOptions | undefined): number | undefined {
  const r = opts?.minRevision;
  if (r === undefined || r === null) return undefined;
  if (typeof r !== "number") throw invalid("minRevision must be a non-negative integer");
  return r;
}

/** A record to seal: JSON text, or bytes. */
function payload(record: unknown): string | Uint8Array {
  if (isBytes(record)) return record;
  if (record === undefined || typeof record === "function" || typeof record === "symbol" || typeof record === "bigint") {
    throw invalid("record must be a JSON value or a Uint8Array");
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(record);
  } catch (e) {
    throw invalid(`record is not JSON-serializable: ${(e as Error).message}`);
  }
  if (text === undefined) throw invalid("record must be a JSON value or a Uint8Array");
  return text;
}

function parseJson<T>(text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new MedsealError(ErrorCode.Malformed, "JSON record is not JSON");
  }
}

let scratch = new Uint8Array(0);
let scratchInUse = false;

/**
 * Calls `f` with `s` as UTF-8 bytes, for the wasm boundary: wasm-bindgen
 * copies a string into wasm one character at a time in JS, which for the
 * 1-2 KB of a record's text form or JSON costs an order of magnitude more than
 * `TextEncoder.encodeInto` into a reused buffer. The view is valid during `f`
 * only (wasm copies it at once). With `wipe` (the bytes are a plaintext)
 * everything written is zeroed afterwards.
 */
function withUtf8<T>(s: string, wipe: boolean, f: (bytes: Uint8Array) => T): T {
  // Sized for ASCII (the text form always is); a string that needs more is encoded apart.
  const outer = !scratchInUse;
  if (outer && scratch.length < s.length) scratch = new Uint8Array(Math.max(s.length, 4096));
  const buf = outer ? scratch : new Uint8Array(s.length);
  const r = utf8Encoder.encodeInto(s, buf.subarray(0, s.length));
  const bytes = r.read === s.length ? buf.subarray(0, r.written) : utf8Encoder.encode(s);
  if (outer) scratchInUse = true;
  try {
    return f(bytes);
  } finally {
    if (wipe) {
      buf.fill(0, 0, s.length);
      if (bytes.buffer !== buf.buffer) bytes.fill(0);
    }
    if (outer) {
      scratchInUse = false;
      if (scratch.length > 1 << 20) scratch = new Uint8Array(0);
    }
  }
}

/** Imports one record's body key into WebCrypto as a non-extractable key, then wipes the bytes. */
async function importBodyKey(subtle: SubtleCrypto, key: Uint8Array | undefined, usage: KeyUsage): Promise<CryptoKey> {
  if (!key) throw invalid("the body key was already taken");
  try {
    return await subtle.importKey("raw", key as BufferSource, "AES-GCM", false, [usage]);
  } finally {
    key.fill(0);
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.byteLength;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

const challenge = (): Uint8Array => wasm.newPrfSalt(); // 32 random bytes from the wasm CSPRNG

/** A shared file's grant, its grantor's manifest and the file's slot. */
export type SharedFile = { grant: string; grantor: Manifest | string; slot: string };

function sharedOf(opts: SharedFile): { grant: string; grantor: string; slot: Uint8Array } {
  return { grant: str(opts.grant, "grant"), grantor: manifestText(opts.grantor), slot: fromB64u(str(opts.slot, "slot")) };
}

/** The record id an export's stream is bound to (FORMAT.md §19.1). */
const EXPORT_RECORD_ID = "medseal:export";
/** The media type of an export file. */
const EXPORT_TYPE = "application/vnd.medseal.export";

/** Collects a stream into a `Blob`, a few MiB of parts at a time. */
async function collect(stream: ReadableStream<Uint8Array>, signal: AbortSignal | undefined, type = "application/octet-stream"): Promise<Blob> {
  let blob = new Blob([], { type });
  let parts: Uint8Array[] = [];
  let held = 0;
  try {
    await stream.pipeTo(new WritableStream<Uint8Array>({
      write(chunk) {
        parts.push(chunk);
        held += chunk.byteLength;
        if (held >= 4 << 20) {
          blob = new Blob([blob, ...(parts as BlobPart[])], { type });
          parts = [];
          held = 0;
        }
      },
    }), { signal });
  } catch (e) {
    if (signal?.aborted) throw aborted(signal);
    throw e;
  }
  return new Blob([blob, ...(parts as BlobPart[])], { type });
}

/** The exact size of a sealed file (`sealStream`, `sealFile`) of `plaintextLength` bytes. @throws {@link MedsealError} `TooLarge`, `InvalidArgument` */
export function ciphertextSize(plaintextLength: number): number {
  ensureInit();
  if (!Number.isSafeInteger(plaintextLength) || plaintextLength < 0) throw invalid("plaintextLength must be a whole number of bytes");
  return call(() => wasm.streamSealedSize(plaintextLength));
}

/** The plaintext size of a sealed file of `sealedLength` bytes. @throws {@link MedsealError} `Truncated` (cut at a chunk boundary), `Malformed` (a length no writer makes), `InvalidArgument` */
export function plaintextSize(sealedLength: number): number {
  ensureInit();
  if (!Number.isSafeInteger(sealedLength) || sealedLength < 0) throw invalid("sealedLength must be a whole number of bytes");
  return call(() => wasm.streamPlaintextSize(sealedLength));
}

// ------------------------------------------------------------------ key sources


/**
 * Where the key of a new vault (or a new passkey of a vault) comes from:
 * - `{ passkey }`: medseal registers a passkey (WebAuthn with PRF, user verification required);
 * - `{ credential, prfSalt }`: a credential the app created itself with `webauthn.createExtension()` merged in (live, or its JSON);
 * - `{ prf }`: a PRF output obtained elsewhere (Node, tests, native shells), for `webauthn.prfInput(prfSalt)`.
 */
export type NewKeySource =
  | { passkey: CreateOptions }
  | { credential: CredentialLike; prfSalt: Uint8Array; label?: string; timeout?: number; rpId?: string }
  | { prf: { credentialId: Uint8Array; prfSalt: Uint8Array; prfOutput: Uint8Array; label?: string } };

/**
 * Where the key that unlocks a vault comes from:
 * - `{ passkey }`: medseal asks for any passkey of the manifest (`true`, or prompt options);
 * - `{ credential }`: the result of the app's own `get()` that carried `webauthn.requestExtension(manifest)` (live, or its JSON);
 * - `{ prf }`: a PRF output obtained elsewhere;
 * - `{ recoveryCode }`: the code as the user typed it.
 */
export type UnlockSource =
  | { passkey: true | CeremonyOptions }
  | { credential: CredentialLike }
  | { prf: { credentialId: Uint8Array; prfOutput: Uint8Array } }
  | { recoveryCode: string };

/** A credential's JSON with the PRF results taken out: what may be posted to a server. */
export type ServerSafeResponse = Record<string, unknown>;

/** The PRF data of a new key source, after any ceremony; `response` when a credential was given. */
async function newKey(source: NewKeySource, exclude: Uint8Array[]): Promise<{ credentialId: Uint8Array; prfSalt: Uint8Array; prfOutput: Uint8Array; label?: string; response?: ServerSafeResponse }> {
  obj(source, "expected a key source: { passkey }, { credential, prfSalt } or { prf }");
  if ("passkey" in source) {
    const o = source.passkey;
    obj(o, "passkey must be { rp, user, label?, timeout?, exclude? }");
    const label = labelOf(o.label); // checked before the user is prompted
    const prfSalt = call(() => wasm.newPrfSalt());
    if (o.exclude !== undefined && !Array.isArray(o.exclude)) throw invalid("exclude must be an array of credential ids");
    const excluded = (o.exclude ?? []).map((x) => bytesOf(x, "exclude id"));
    const { credentialId, prfOutput } = await createWithPrf({ ...o, exclude: [...excluded, ...exclude] }, wasm.prfInput(prfSalt), challenge);
    return { credentialId, prfSalt, prfOutput, label };
  }
  if ("credential" in source) {
    const prfSalt = bytesOf(source.prfSalt, "prfSalt");
    const label = labelOf(source.label);
    // The server-safe copy first: if the credential cannot be serialized,
    // no PRF output has been read out of it yet.
    const response = serverSafe(source.credential);
    const first = call(() => wasm.prfInput(prfSalt));
    const { credentialId, prfOutput } = await prfFromCreated(source.credential, first, source.timeout, challenge, source.rpId);
    return { credentialId, prfSalt, prfOutput, label, response };
  }
  if ("prf" in source) {
    const p = source.prf;
    obj(p, "prf must be { credentialId, prfSalt, prfOutput, label? }");
    const label = labelOf(p.label);
    return { credentialId: bytesOf(p.credentialId, "credentialId"), prfSalt: bytesOf(p.prfSalt, "prfSalt"), prfOutput: bytesOf(p.prfOutput, "prfOutput"), label };
  }
  throw invalid("expected a key source: { passkey }, { credential, prfSalt } or { prf }");
}

/**
 * A PRF output to hand to wasm, which wipes it: a copy when it is the
 * caller's own buffer (`new Uint8Array(x)` copies; a Node Buffer's `slice`
 * would be a view of the caller's bytes).
 */
function own(prf: Uint8Array, mine: boolean): Uint8Array {
  return mine ? prf : new Uint8Array(prf);
}

// ------------------------------------------------------------------ the vault

/** Wraps a wasm handle in a Vault (the constructor stays private to this module). */
let wrapHandle: (h: wasm.VaultHandle, store: SeenStore | null) => Vault;

/**
 * An unlocked vault. Keys stay inside the WebAssembly instance; `lock()`
 * wipes them. Get one from `Vault.create` or `Vault.unlock`.
 */
export class Vault implements VaultApi<"sync"> {
  #h: wasm.VaultHandle;
  #store: SeenStore | null;
  #id: string;
  #saving: Promise<void> = Promise.resolve();
  #saveError: unknown = undefined;

  private constructor(h: wasm.VaultHandle, store: SeenStore | null) {
    this.#h = h;
    this.#store = store;
    this.#id = h.vaultId();
    this.#persist();
  }

  static {
    wrapHandle = (h, store) => new Vault(h, store);
  }

  /** Saves what this device has seen of the vault, if it changed (in order, after earlier saves). */
  #persist(): void {
    if (!this.#store || this.#h.isLocked || !this.#h.takeSeenChanged()) return;
    const state = this.#h.seenState();
    if (!state) return;
    const store = this.#store;
    const id = this.#id;
    const saving = this.#saving.then(() => store.save(id, state)).catch((e: unknown) => {
      this.#saveError = e;
    });
    this.#saving = saving;
    pendingSaves.set(id, saving);
    void saving.then(() => {
      if (pendingSaves.get(id) === saving) pendingSaves.delete(id);
    });
  }

  /**
   * Resolves when what this device has seen of the vault is saved to the
   * store (saves run in the background after each call that changed it).
   * @throws {@link MedsealError} `InvalidArgument` when the store's `save` failed
   */
  async persisted(): Promise<void> {
    await this.#saving;
    if (this.#saveError !== undefined) {
      const e = this.#saveError;
      this.#saveError = undefined;
      throw invalid(`the seen-state store failed to save: ${String((e as Error)?.message ?? e)}`);
    }
  }

  /**
   * Creates a vault whose first passkey is `source`. Returns the vault, its
   * manifest to store (public, signed), the recovery code to show the user
   * once, and, for a `{ credential }`, the server-safe `response` to post
   * and `uv` (whether the authenticator verified the user, as `unlock` gives it).
   * @throws {@link MedsealError} `NotInitialized`, `Cancelled`, `PrfUnsupported`, `PrfNotReturned`, `InvalidPrfOutput`, `InvalidArgument`, `RandomUnavailable`
   */
  static async create(source: NewKeySource, opts: { store?: SeenStore | null } = {}): Promise<{ vault: Vault; manifest: Manifest; recoveryCode: string; response?: ServerSafeResponse; uv?: boolean }> {
    ensureInit();
    const store = storeOf(opts);
    const k = await newKey(source, []);
    const mine = !("prf" in source);
    // What the app logs with its first unlock entry (the security check-up reads it).
    const uv = "credential" in source ? userVerified(source.credential) : undefined;
    try {
      const created = call(() => wasm.VaultHandle.create(new wasm.NewPasskey(k.credentialId, k.prfSalt, k.label, own(k.prfOutput, mine))));
      const recoveryCode = created.recoveryCode;
      const vault = new Vault(created.intoVault(), store);
      return { vault, manifest: vault.manifest(), recoveryCode, ...(k.response ? { response: k.response } : {}), ...(uv === undefined ? {} : { uv }) };
    } finally {
      if (mine) k.prfOutput.fill(0);
    }
  }

  /**
   * Unlocks the vault of `manifest` with a key from `source`. For a
   * `{ credential }`, `response` is the credential without its PRF result:
   * post that, never the credential itself. For a passkey, `uv` says whether
   * the authenticator verified the user (the assertion's UV flag), where the
   * credential shows it: log it with the unlock (`logEntry({ type: "unlock", …, uv })`)
   * for the security check-up (`posture`).
   * @throws {@link MedsealError} `UnlockFailed`, `InvalidRecoveryCode`, `StaleManifest`, `ManifestInvalid`, `Malformed`, `UnknownVersion`, `UnknownUnlockEntry`, `InvalidPrfOutput`, `PrfNotReturned`, `Cancelled`, `PrfUnsupported`, `InvalidArgument`, `NotInitialized`
   */
  static async unlock(manifest: Manifest | string, source: UnlockSource, opts: UnlockOptions = {}): Promise<{ vault: Vault; response?: ServerSafeResponse; uv?: boolean }> {
    ensureInit();
    const text = manifestText(manifest);
    const min = revisionOf(opts);
    const history = historyOf(opts?.history);
    const store = storeOf(opts);
    const seen = await loadSeen(store, vaultIdOf(text));
    obj(source, "expected a key source: { passkey }, { credential }, { prf } or { recoveryCode }");
    if ("recoveryCode" in source) {
      const code = str(source.recoveryCode, "recoveryCode");
      return { vault: new Vault(call(() => wasm.VaultHandle.unlockWithRecoveryCode(text, history, seen, code, min)), store) };
    }
    let credentialId: Uint8Array;
    let prfOutput: Uint8Array;
    let response: ServerSafeResponse | undefined;
    // Whether the authenticator verified the user (log it with the unlock: the security check-up reads it).
    let uv: boolean | undefined;
    let mine = true;
    if ("passkey" in source) {
      const o: CeremonyOptions = source.passkey === true ? {} : source.passkey;
      obj(o, "passkey must be true or { timeout?, mediation?, signal?, rpId? }");
      const r = await getWithPrf(passkeysOf(text), o.timeout, challenge, { mediation: o.mediation, signal: o.signal, rpId: o.rpId });
      ({ credentialId, prfOutput } = r);
      uv = userVerified(r.credential);
    } else if ("credential" in source) {
      response = serverSafe(source.credential); // before the PRF output is read out of it
      uv = userVerified(source.credential);
      const r = readCredential(source.credential);
      if (!r.prfOutput) {
        throw new MedsealError(
          ErrorCode.PrfNotReturned,
          "the passkey returned no PRF result: merge webauthn.requestExtension(manifest) into the get() options, and pick a passkey registered for this vault (some passkeys are for login only)",
        );
      }
      ({ credentialId } = r);
      prfOutput = r.prfOutput;
    } else if ("prf" in source) {
      obj(source.prf, "prf must be { credentialId, prfOutput }");
      credentialId = bytesOf(source.prf.credentialId, "credentialId");
      prfOutput = bytesOf(source.prf.prfOutput, "prfOutput");
      mine = false;
    } else {
      throw invalid("expected a key source: { passkey }, { credential }, { prf } or { recoveryCode }");
    }
    try {
      const vault = new Vault(call(() => wasm.VaultHandle.unlockWithPrf(text, history, seen, credentialId, own(prfOutput, mine), min)), store);
      return { vault, ...(response ? { response } : {}), ...(uv === undefined ? {} : { uv }) };
    } finally {
      if (mine) prfOutput.fill(0);
    }
  }

  // ------------------------------------------------------------ records

  /**
   * Seals a record (any JSON value, or bytes) bound to `recordId` and
   * `context`, to the text form `ms2.…` (or bytes with `form: "bytes"`).
   * @throws {@link MedsealError} `InvalidArgument`, `TooLarge`, `Locked`, `RandomUnavailable`
   */
  seal<F extends SealedForm = "text">(record: unknown, opts: SealOptions<F>): Sealed<F> {
    const { recordId, context } = bindingOf(opts);
    const form = formOf(opts.form);
    return this.#seal(payload(record), recordId, context, form, versionOf(opts.version)) as Sealed<F>;
  }

  #seal(p: string | Uint8Array, recordId: string, context: Uint8Array, form: SealedForm, version?: number): string | Uint8Array {
    // A string of n UTF-16 units is at least n UTF-8 bytes: refused before it is copied into wasm.
    if ((typeof p === "string" ? p.length : p.byteLength) > wasm.maxPlaintextLength()) throw tooLarge();
    const h = this.#h;
    const seal = (data: Uint8Array, json: boolean) => call(() => (form === "text" ? h.sealText(data, json, recordId, context, version) : h.sealBytes(data, json, recordId, context, version)));
    try {
      return typeof p === "string" ? withUtf8(p, true, (b) => seal(b, true)) : seal(p, false);
    } finally {
      this.#persist();
    }
  }

  /**
   * Seals a tombstone: version `version` of a deleted record (the version
   * it had plus one), to store in its place. Opening it, or on this device
   * any older version, is `RecordDeleted`.
   * @throws {@link MedsealError} `InvalidArgument`, `Locked`
   */
  tombstone<F extends SealedForm = "text">(opts: RecordBinding & { version: number; form?: F }): Sealed<F> {
    const { recordId, context } = bindingOf(opts);
    const form = formOf(opts.form);
    const version = versionOf(opts.version) ?? 0;
    try {
      const b = call(() => this.#h.sealTombstone(recordId, context, version));
      return (form === "bytes" ? b : wasm.toText(b)) as Sealed<F>;
    } finally {
      this.#persist();
    }
  }

  /**
   * Re-wraps a record under the current key epoch (after a re-key, for apps
   * that retire old epochs); `null` when it already is, so an interrupted
   * re-wrap can run again from the start. Store what it returns in place
   * of the record. A deleted record's tombstone re-wraps too (and stays a
   * tombstone); a version older than a tombstone this device saw is
   * `RecordDeleted`, as in `open`.
   * @throws {@link MedsealError} as `open`
   */
  rewrap<F extends SealedForm = "text">(sealed: string | Uint8Array, opts: RecordBinding & { form?: F }): Sealed<F> | null {
    const { recordId, context } = bindingOf(opts);
    const form = formOf(opts.form);
    const h = this.#h;
    const out = typeof sealed === "string" ? withUtf8(sealed, false, (b) => call(() => h.rewrap(b, true, recordId, context))) : call(() => h.rewrap(bytesOf(sealed, "sealed"), false, recordId, context));
    if (out === undefined) return null;
    return (form === "bytes" ? out : wasm.toText(out)) as Sealed<F>;
  }

  /**
   * Opens a sealed record (text or bytes form); returns the JSON value or
   * bytes that were sealed.
   * @throws {@link MedsealError} `DecryptionFailed`, `Malformed`, `UnknownVersion`, `TooLarge`, `InvalidArgument`, `Locked`
   */
  open<T = unknown>(sealed: string | Uint8Array, opts: RecordBinding): T {
    const { recordId, context } = bindingOf(opts);
    const h = this.#h;
    const open = (b: Uint8Array, text: boolean) => {
      let o: wasm.Opened;
      try {
        o = call(() => h.open(b, text, recordId, context));
      } finally {
        this.#persist();
      }
      return (o.json ? parseJson<T>(call(() => o.intoText())) : o.intoBytes()) as T;
    };
    const max = wasm.maxSealedLength();
    if (typeof sealed === "string") {
      if (sealed.length > 4 + Math.ceil((max * 4) / 3)) throw tooLarge();
      return withUtf8(sealed, false, (b) => open(b, true));
    }
    if (!isBytes(sealed)) throw invalid('sealed must be an "ms2." (or "ms1.") string or a Uint8Array');
    if (sealed.byteLength > max) throw tooLarge();
    return open(sealed, false);
  }

  /**
   * Seals many records. All or nothing: the first item that fails throws,
   * with its `index`.
   * @throws {@link MedsealError} as `seal`, and `InvalidArgument` when `items` is not an array
   */
  sealMany<F extends SealedForm = "text">(items: SealItem[], opts: { form?: F } = {}): Array<Sealed<F>> {
    if (!Array.isArray(items)) throw invalid("items must be an array of { record, recordId, context? }");
    const form = formOf(opts?.form);
    return items.map((it, index) => {
      try {
        obj(it, "each item must be { record, recordId, context? }");
        const { recordId, context } = bindingOf(it);
        return this.#seal(payload(it.record), recordId, context, form) as Sealed<F>;
      } catch (e) {
        throw Object.assign(fromWasm(e), { index });
      }
    });
  }

  /**
   * Opens many records; one outcome per item, so one bad record does not
   * hide the others.
   * @throws {@link MedsealError} `InvalidArgument` when `items` is not an array; `Locked`
   */
  openMany<T = unknown>(items: OpenItem[]): Array<OpenOutcome<T>> {
    if (!Array.isArray(items)) throw invalid("items must be an array of { sealed, recordId, context? }");
    if (this.locked) throw new MedsealError(ErrorCode.Locked, "the vault is locked: unlock it again to use it");
    return items.map((it, index): OpenOutcome<T> => {
      try {
        obj(it, "each item must be { sealed, recordId, context? }");
        return { ok: true, value: this.open<T>(it.sealed, it) };
      } catch (e) {
        return { ok: false, error: Object.assign(fromWasm(e), { index }) };
      }
    });
  }

  /**
   * Seals a large record (a scan, a PDF): same format as `seal`, with the
   * body encrypted by WebCrypto under a non-extractable key made from that
   * one record's body key (the vault key never leaves wasm; the plaintext
   * never enters it). Falls back to `seal` where WebCrypto is missing.
   * @throws {@link MedsealError} as `seal`
   */
  async sealLarge<F extends SealedForm = "text">(record: unknown, opts: SealOptions<F>): Promise<Sealed<F>> {
    const { recordId, context } = bindingOf(opts);
    const form = formOf(opts.form);
    const p = payload(record);
    const subtle = globalThis.crypto?.subtle;
    if (!subtle) return this.#seal(p, recordId, context, form) as Sealed<F>;
    const json = typeof p === "string";
    const data = json ? utf8Encoder.encode(p) : p;
    let body: Uint8Array | undefined;
    let out: Uint8Array;
    try {
      const job = call(() => this.#h.sealLarge(json, data.byteLength, recordId, context, versionOf(opts.version)));
      this.#persist();
      try {
        const key = await importBodyKey(subtle, job.takeKey(), "encrypt");
        body = concat(job.bodyHead, data, job.bodyTail);
        const ct = new Uint8Array(await subtle.encrypt({ name: "AES-GCM", iv: job.iv as BufferSource, additionalData: job.aad as BufferSource }, key, body as BufferSource));
        out = concat(job.prefix, ct);
      } finally {
        job.free();
      }
    } finally {
      body?.fill(0);
      if (json) data.fill(0);
    }
    return (form === "bytes" ? out : wasm.toText(out)) as Sealed<F>;
  }

  /**
   * Opens a record like `open`, with WebCrypto for the body (see
   * `sealLarge`); a record given as bytes is not copied into wasm.
   * @throws {@link MedsealError} as `open`
   */
  async openLarge<T = unknown>(sealed: string | Uint8Array, opts: RecordBinding): Promise<T> {
    const { recordId, context } = bindingOf(opts);
    const subtle = globalThis.crypto?.subtle;
    if (!subtle) return this.open<T>(sealed, opts);
    let bytes: Uint8Array;
    if (typeof sealed === "string") bytes = withUtf8(sealed, false, (t) => call(() => wasm.fromText(t)));
    else if (isBytes(sealed)) bytes = sealed;
    else throw invalid('sealed must be an "ms2." (or "ms1.") string or a Uint8Array');
    const job = call(() => this.#h.openLarge(bytes.subarray(0, wasm.largeHeadLength()), bytes.byteLength, recordId, context));
    this.#persist();
    let padded: Uint8Array;
    try {
      const key = await importBodyKey(subtle, job.takeKey(), "decrypt");
      try {
        padded = new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv: job.iv as BufferSource, additionalData: job.aad as BufferSource }, key, bytes.subarray(job.bodyStart) as BufferSource));
      } catch (e) {
        // WebCrypto reports a tag mismatch as OperationError; anything else
        // (a detached or shared buffer, say) is not the record's fault.
        if ((e as DOMException)?.name !== "OperationError") throw invalid(`could not decrypt: ${String((e as Error)?.message ?? e)}`);
        throw new MedsealError(ErrorCode.DecryptionFailed, "decryption failed: the record was altered, belongs to another vault, or was opened with another record id or context");
      }
      try {
        const r = call(() => job.plaintext(padded[0] ?? 0, padded.byteLength, padded.subarray(job.tailStart(padded.byteLength))));
        const plain = padded.subarray(r.start, r.end);
        // A fresh array, as `open` returns: not a view whose buffer also
        // holds the content-type byte and the padding.
        if (!r.json) return plain.slice() as T;
        let text: string;
        try {
          text = utf8Decoder.decode(plain);
        } catch {
          throw new MedsealError(ErrorCode.Malformed, "JSON record is not UTF-8");
        }
        return parseJson<T>(text);
      } finally {
        padded.fill(0);
      }
    } finally {
      job.free();
    }
  }

  // ------------------------------------------------------------ large files

  /**
   * Seals a large file as a stream (FORMAT.md §17): plaintext bytes in, the
   * sealed file out (its header first, then 16 KiB chunks), never holding
   * more than a few chunks. Pipe a `File.stream()`, a `Response.body` or a
   * Node web stream through it. Chunks are encrypted by WebCrypto under a
   * non-extractable key that opens this one file (where WebCrypto is
   * missing, in wasm). The sealed size is `ciphertextSize(n)` exactly.
   * @throws {@link MedsealError} `InvalidArgument`, `Locked`, `RandomUnavailable`; the stream errors with `Locked` if the vault is locked meanwhile, or with the signal's reason when aborted
   */
  sealStream(opts: StreamOptions): TransformStream<Uint8Array, Uint8Array> {
    const { recordId, context } = bindingOf(opts);
    const ctl = this.#control(opts);
    const job = call(() => this.#h.sealStream(recordId, context, versionOf(opts.version)));
    return sealTransform(job, ctl, (done) => {
      this.#h.streamSealed(done);
      this.#persist();
    });
  }

  /**
   * Opens a sealed stream: the sealed file in, plaintext out, each chunk
   * authenticated before it is released. Plaintext arrives chunk by chunk:
   * treat the file as complete only when the stream closes without error
   * (`Truncated`: its end is missing).
   * @throws {@link MedsealError} (as a stream error) `DecryptionFailed`, `Truncated`, `Malformed`, `UnknownVersion`, `StaleRecord`, `RecordDeleted`, `InvalidArgument`, `Locked`
   */
  openStream(opts: StreamOptions): TransformStream<Uint8Array, Uint8Array> {
    const { recordId, context } = bindingOf(opts);
    const ctl = this.#control(opts);
    return openTransform(wasm.streamHeaderLength(), (head) => this.#openHead(head, recordId, context), ctl);
  }

  /**
   * Seals a `Blob` or `File` into a `Blob` of the sealed file (built in
   * parts, so the page holds a few MiB at a time; browsers keep large
   * blobs on disk). Upload it with `fetch` or `XMLHttpRequest`.
   * @throws {@link MedsealError} as `sealStream`
   */
  async sealFile(file: Blob, opts: StreamOptions): Promise<Blob> {
    if (!(file instanceof Blob)) throw invalid("file must be a Blob or File");
    return collect(file.stream().pipeThrough(this.sealStream({ ...opts, size: opts.size ?? file.size })), opts.signal);
  }

  /**
   * Opens a sealed `Blob` into a `Blob` of the plaintext (`type` as given).
   * @throws {@link MedsealError} as `openStream`
   */
  async openFile(sealed: Blob, opts: StreamOptions & { type?: string }): Promise<Blob> {
    if (!(sealed instanceof Blob)) throw invalid("sealed must be a Blob");
    const size = opts.size ?? call(() => wasm.streamPlaintextSize(sealed.size));
    return collect(sealed.stream().pipeThrough(this.openStream({ ...opts, size })), opts.signal, opts.type);
  }

  /**
   * Opens a sealed file for reading by ranges (a viewer showing page 1 of a
   * PDF, an image, one frame of a study): from a `Blob`, or any
   * `{ size, read(start, end) }` such as `httpRangeSource(url)`. It reads
   * the header and verifies the last chunk first (so `size` is
   * authenticated), then each `readRange` reads only the chunks it needs.
   * @throws {@link MedsealError} `DecryptionFailed`, `Truncated`, `Malformed`, `UnknownVersion`, `StaleRecord`, `InvalidArgument`, `Locked`
   */
  async openRange(source: Blob | RangeSource, opts: RecordBinding): Promise<RangeReader> {
    const { recordId, context } = bindingOf(opts);
    const src = source instanceof Blob ? blobRangeSource(source) : source;
    return rangeReader(src, wasm.streamHeaderLength(), (head) => this.#openHead(head, recordId, context), () => this.#h.isLocked);
  }

  /**
   * The patient's export (FORMAT.md §19, GDPR art. 20, HIPAA right of
   * access): one file with every record and file the app passes, exactly as
   * sealed, the manifest history and the log, which the recovery code alone
   * opens, offline (the `medseal` command-line tool writes plain files from
   * it, FHIR R4 JSON where the records are FHIR). Nothing is decrypted
   * here: the export is sealed by this vault under its newest key epoch, and
   * its current manifest is written in front of it. Returns the file as it
   * is written, a few chunks at a time.
   *
   * Each record is first opened as `open` would (its plaintext dropped): a
   * record this device refuses (another vault's, altered, or a version older
   * than one it saw: `StaleRecord`) fails the export with that code and the
   * record id in the message, since the reader would refuse the whole file
   * for it; a deleted record's tombstone is left out. Files are checked by
   * the reader only: pass only this vault's own. The recovery code the patient holds
   * must be this manifest's (after `rotateRecoveryCode`, make a new export).
   * @throws {@link MedsealError} (as a stream error) `InvalidArgument`, `TooLarge`, `Locked`, `RandomUnavailable`, or the signal's reason
   */
  exportStream(source: ExportSource): ReadableStream<Uint8Array> {
    obj(source, "source must be { records?, files?, history?, log? }");
    const manifest = call(() => this.#h.manifestJson());
    const prefix = call(() => wasm.exportPrefix(manifest));
    const context = call(() => wasm.exportContext(prefix));
    const created = Math.floor(Date.now() / 1000);
    const keep = (r: ExportRecord): boolean => {
      try {
        this.open(r.sealed, r);
        return true;
      } catch (e) {
        // A deleted record's tombstone holds nothing to export.
        if (e instanceof MedsealError && e.code === ErrorCode.RecordDeleted) return false;
        if (e instanceof MedsealError) throw new MedsealError(e.code, `record ${JSON.stringify(r.recordId)} does not open on this device, so it is not exported: ${e.message}`, { cause: e });
        throw e;
      }
    };
    const items = streamOf(exportItems(source, this.vaultId(), manifest, created, keep, bindingOf));
    const sealed = items.pipeThrough(this.sealStream({ recordId: EXPORT_RECORD_ID, context, onProgress: source.onProgress, signal: source.signal }));
    const reader = sealed.getReader();
    let first = true;
    return new ReadableStream<Uint8Array>({
      async pull(ctl) {
        if (first) {
          first = false;
          ctl.enqueue(prefix);
          return;
        }
        const { value, done } = await reader.read();
        if (done) ctl.close();
        else ctl.enqueue(value);
      },
      async cancel(reason) {
        await reader.cancel(reason);
      },
    });
  }

  /**
   * `exportStream` collected into a `Blob` (type `application/vnd.medseal.export`):
   * offer it as a download ("Download my data").
   * @throws {@link MedsealError} as `exportStream`
   */
  async export(source: ExportSource): Promise<Blob> {
    return collect(this.exportStream(source), source?.signal, EXPORT_TYPE);
  }

  /**
   * Re-wraps a sealed file's key under the current key epoch (after
   * `rekey`): from its first `ciphertextSize(0) - 16` bytes, the new first
   * bytes to write over the stored file's (the chunks stay as they are), or
   * `null` when it already is under the current epoch.
   * @throws {@link MedsealError} `DecryptionFailed`, `Malformed`, `UnknownVersion`, `InvalidArgument`, `Locked`
   */
  rewrapStream(head: Uint8Array, opts: RecordBinding): Uint8Array | null {
    const { recordId, context } = bindingOf(opts);
    const bytes = bytesOf(head, "head");
    return call(() => this.#h.rewrapStream(bytes, recordId, context)) ?? null;
  }

  /**
   * Opens a file another vault shared with this one, as a stream (see
   * `openStream`): the grant is verified against the grantor's manifest
   * (pin it with `sharing.pin`) when the file's first bytes arrive, then
   * the header with the file's `slot` (from `grantSlot` of the file's first
   * 134 bytes on the grantor's side).
   * @throws {@link MedsealError} as `openStream`, and `NotGranted`, `GrantExpired`, `ManifestInvalid`
   */
  openSharedStream(opts: StreamOptions & SharedFile): TransformStream<Uint8Array, Uint8Array> {
    const { recordId, context } = bindingOf(opts);
    const shared = sharedOf(opts);
    const ctl = this.#control(opts);
    return openTransform(wasm.streamHeaderLength(), (head) => this.#openSharedHead(shared, head, recordId, context), ctl);
  }

  /**
   * Opens a file another vault shared with this one for reading by ranges
   * (see `openRange` and `openSharedStream`).
   * @throws {@link MedsealError} as `openRange`, and `NotGranted`, `GrantExpired`, `ManifestInvalid`
   */
  async openSharedRange(source: Blob | RangeSource, opts: RecordBinding & SharedFile): Promise<RangeReader> {
    const { recordId, context } = bindingOf(opts);
    const shared = sharedOf(opts);
    const src = source instanceof Blob ? blobRangeSource(source) : source;
    return rangeReader(src, wasm.streamHeaderLength(), (head) => this.#openSharedHead(shared, head, recordId, context), () => this.#h.isLocked);
  }

  #openSharedHead(shared: { grant: string; grantor: string; slot: Uint8Array }, head: Uint8Array, recordId: string, context: Uint8Array): wasm.StreamOpenJob {
    const now = Math.floor(Date.now() / 1000);
    const g = call(() => this.#h.acceptGrant(shared.grant, shared.grantor, now));
    try {
      return call(() => this.#h.openSharedStream(g, shared.slot, head, recordId, context, now));
    } finally {
      g.free();
      this.#persist();
    }
  }

  #openHead(head: Uint8Array, recordId: string, context: Uint8Array): wasm.StreamOpenJob {
    const job = call(() => this.#h.openStream(head, recordId, context));
    this.#persist();
    return job;
  }

  #control(opts: StreamOptions): StreamControl {
    if (opts.onProgress !== undefined && typeof opts.onProgress !== "function") throw invalid("onProgress must be a function");
    if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) throw invalid("signal must be an AbortSignal");
    if (opts.size !== undefined && (!Number.isSafeInteger(opts.size) || opts.size < 0)) throw invalid("size must be a byte count");
    if (opts.signal?.aborted) throw aborted(opts.signal);
    return { onProgress: opts.onProgress, signal: opts.signal, total: opts.size, locked: () => this.#h.isLocked };
  }

  // ------------------------------------------------------------ unlock methods

  /** The current signed manifest: store it on the server after every change. @throws {@link MedsealError} `Locked` */
  manifest(): Manifest {
    return manifestOf(call(() => this.#h.manifestJson()));
  }

  /** The vault id (base64url). @throws {@link MedsealError} `Locked` */
  vaultId(): string {
    return call(() => this.#h.vaultId());
  }

  /**
   * Adds a passkey (another device, a security key) from `source`; returns
   * the new manifest, and for a `{ credential }` the server-safe `response`.
   * @throws {@link MedsealError} as `Vault.create`, and `Locked`
   */
  async addPasskey(source: NewKeySource): Promise<{ manifest: Manifest; response?: ServerSafeResponse }> {
    const exclude = passkeysOf(call(() => this.#h.manifestJson())).map((p) => p.credentialId);
    const k = await newKey(source, exclude);
    const mine = !("prf" in source);
    try {
      const manifest = manifestOf(call(() => this.#h.addPasskey(new wasm.NewPasskey(k.credentialId, k.prfSalt, k.label, own(k.prfOutput, mine)))));
      this.#persist();
      return k.response ? { manifest, response: k.response } : { manifest };
    } finally {
      if (mine) k.prfOutput.fill(0);
    }
  }

  /**
   * Removes an unlock entry by id and re-keys (a new key epoch, with no
   * passkey prompt): the removed passkey opens nothing sealed afterwards.
   * Refuses the last passkey and the recovery entry.
   * @throws {@link MedsealError} `LastUnlockMethod`, `UnknownUnlockEntry`, `InvalidArgument`, `Locked`
   */
  removeUnlock(entryId: string): Manifest {
    const id = str(entryId, "entryId");
    return this.#commit(() => this.#h.removeUnlock(id));
  }

  /** Replaces the recovery code and re-keys; show the new one once. @throws {@link MedsealError} `Locked`, `RandomUnavailable`, `InvalidArgument` */
  rotateRecoveryCode(): { manifest: Manifest; recoveryCode: string } {
    const recoveryCode = call(() => this.#h.rotateRecoveryCode());
    this.#persist();
    return { manifest: this.manifest(), recoveryCode };
  }

  /** Starts a new key epoch (new vault key and identity key, sealed to every unlock entry with no passkey prompt); returns the manifest to store. @throws {@link MedsealError} `InvalidArgument`, `Locked` */
  rekey(): Manifest {
    return this.#commit(() => this.#h.rekey());
  }

  /** Drops the keys of older epochs from the manifest: re-wrap every record first (`rewrap`). @throws {@link MedsealError} `Locked` */
  retireEpochs(): Manifest {
    return this.#commit(() => this.#h.retireEpochs());
  }

  #commit(f: () => string): Manifest {
    try {
      return manifestOf(call(f));
    } finally {
      this.#persist();
    }
  }

  /**
   * Adopts a newer manifest of this vault written by another device: it
   * must follow this one (next revision, naming it as parent), directly or
   * through `history` (the manifests in between, oldest first).
   * @throws {@link MedsealError} `ForkDetected`, `HistoryIncomplete`, `StaleManifest`, `ManifestInvalid`, `UnlockFailed` (this device's passkey was removed), `Malformed`, `Locked`
   */
  updateManifest(manifest: Manifest | string, opts: { history?: Array<Manifest | string> } = {}): void {
    const text = manifestText(manifest);
    const history = historyOf(opts?.history);
    try {
      call(() => this.#h.updateManifest(text, history));
    } finally {
      this.#persist();
    }
  }

  /**
   * Signs a server's recovery-login challenge with the login key of the
   * recovery code this vault was unlocked with (checked against the
   * manifest's recovery entry, so a rotated code signs in no more).
   * @throws {@link MedsealError} `UnlockFailed` (not unlocked with the current recovery code), `InvalidArgument`, `Locked`
   */
  signRecoveryLogin(challenge: Uint8Array, audience: string): Uint8Array {
    const c = bytesOf(challenge, "challenge");
    const a = str(audience, "audience");
    return call(() => this.#h.signRecoveryLogin(c, a));
  }

  /**
   * Proves to a server that this client holds the vault (e.g. signing in with
   * the recovery code when every passkey is lost): a P-256 signature over the
   * server's challenge and origin, verifiable with the manifest's
   * `identityKey.publicKey` (docs/FORMAT.md "Login proof").
   * @throws {@link MedsealError} `InvalidArgument`, `Locked`
   */
  signLoginProof(challenge: Uint8Array, audience: string): Uint8Array {
    const c = bytesOf(challenge, "challenge");
    const a = str(audience, "audience");
    return call(() => this.#h.signLoginProof(c, a));
  }

  /**
   * Asks for this vault to be deleted for good (GDPR art. 17): returns the
   * signed request for the server (64 bytes: the identity key's signature
   * over the vault id, the hash of this vault's manifest, the server's
   * `challenge` and its origin, `audience`; docs/FORMAT.md "Deletion"),
   * then locks the vault for good (its keys are wiped; every later call
   * throws `Locked`, as after `lock()`) and removes what this device saw
   * of it from its store, if the store has `remove` (`await
   * vault.persisted()` resolves once it is gone). The server checks the
   * request against the manifest it stores, so a device that has not seen
   * the newest manifest is refused: sync first. A session cookie alone
   * cannot make a request. Post it, and tell the user to destroy the
   * recovery code and remove the passkey (`PublicKeyCredential.signalUnknownCredential`).
   * On a bad argument nothing is signed and the vault stays unlocked.
   * @throws {@link MedsealError} `InvalidArgument`, `Locked`
   */
  destroy(opts: { challenge: Uint8Array; audience: string }): Uint8Array {
    obj(opts, "options must be { challenge, audience }");
    const c = bytesOf(opts.challenge, "challenge");
    const a = str(opts.audience, "audience");
    const signature = call(() => this.#h.signDestroy(c, a));
    this.#h.lock(); // signDestroy locked it already; kept so that no path leaves it open
    this.#forget();
    return signature;
  }

  /** Removes this vault's seen state from its store (after earlier saves), and stops saving it. */
  #forget(): void {
    const store = this.#store;
    this.#store = null;
    if (!store || typeof store.remove !== "function") return;
    const id = this.#id;
    const removing = this.#saving.then(() => store.remove?.(id)).catch((e: unknown) => {
      this.#saveError = e;
    });
    this.#saving = removing;
    pendingSaves.set(id, removing);
    void removing.then(() => {
      if (pendingSaves.get(id) === removing) pendingSaves.delete(id);
    });
  }

  /**
   * Hands this vault to another realm. Given a `VaultReceiver`'s public key,
   * returns the message that opens only in that receiver, once (it may cross
   * any channel). Given a `RemoteVault` (a vault worker, an extension's
   * service worker), does the whole exchange. A copy, not a move: lock the
   * copy that should stop, and let one copy change the manifest.
   * @throws {@link MedsealError} `InvalidArgument`, `Locked`, `WorkerUnavailable`
   */
  handOff(receiverPublicKey: Uint8Array): Uint8Array;
  handOff(remote: HandoffTarget): Promise<void>;
  handOff(to: Uint8Array | HandoffTarget): Uint8Array | Promise<void> {
    if (to instanceof Uint8Array || to instanceof ArrayBuffer) {
      const pk = bytesOf(to, "receiverPublicKey");
      return call(() => this.#h.handOff(pk));
    }
    obj(to, "handOff takes a receiver's public key or a RemoteVault");
    if (typeof to.receiverKey !== "function" || typeof to.acceptHandoff !== "function") throw invalid("handOff takes a receiver's public key or a RemoteVault");
    return (async () => {
      const key = await to.receiverKey();
      await to.acceptHandoff(this.handOff(key), key);
    })();
  }

  // ------------------------------------------------------------ sharing

  /**
   * Grants records to another person's vault: exactly `records` (record
   * ids), or every record the app files under `label`, until `expires`.
   * The grant key is sealed to the grantee's share key (HPKE) and the grant
   * signed by this vault; the manifest now lists it (store both). Give each
   * shared record a slot with `grantSlot`. Check the grantee's manifest
   * with `sharing.pin` first: the server relays it and could substitute
   * another.
   * @throws {@link MedsealError} `InvalidArgument` (scope, expiry, a grantee without a share key yet), `ManifestInvalid` (the grantee's manifest), `Locked`
   */
  grant(opts: GrantOptions): { grant: string; manifest: Manifest } {
    obj(opts, "options must be { grantee, records | label, expires }");
    const grantee = manifestText(opts.grantee);
    const records = "records" in opts ? opts.records : undefined;
    const label = "label" in opts ? opts.label : undefined;
    if (records !== undefined && (!Array.isArray(records) || !records.every((r) => typeof r === "string"))) throw invalid("records must be an array of record ids");
    if (label !== undefined && typeof label !== "string") throw invalid("label must be a string");
    const expires = secondsOf(opts.expires, "expires");
    const created = Math.floor(Date.now() / 1000);
    const h = this.#h;
    try {
      const grant = call(() => h.grant(grantee, records, label, created, expires));
      return { grant, manifest: this.manifest() };
    } finally {
      this.#persist();
    }
  }

  /**
   * A shared record's slot in one of this vault's grants (base64url): its
   * data key wrapped for that grant only. Store it beside the grant; the
   * grantee needs it with the sealed record. For a large file, pass the
   * file's first 134 bytes (its header) as `sealed`.
   * @throws {@link MedsealError} `NotGranted` (revoked, another vault's grant, a record outside it), `GrantExpired`, and as `open`
   */
  grantSlot(grant: string, sealed: string | Uint8Array, opts: RecordBinding): string {
    const g = str(grant, "grant");
    const { recordId, context } = bindingOf(opts);
    const h = this.#h;
    const now = Math.floor(Date.now() / 1000);
    const slot = typeof sealed === "string" ? withUtf8(sealed, false, (b) => call(() => h.grantSlot(g, b, true, recordId, context, now))) : call(() => h.grantSlot(g, bytesOf(sealed, "sealed"), false, recordId, context, now));
    return b64u(slot);
  }

  /**
   * Re-issues one of this vault's grants under a new key, to the grantee's
   * current key, with the same scope and expiry, listed in place of the old
   * one (store the manifest, then the grant, and give its records new
   * slots). Do it for every grant after removing a passkey or rotating the
   * recovery code: the removed credential knew the old grant keys; grantees
   * refuse a grant the manifest no longer lists.
   * @throws {@link MedsealError} `NotGranted` (not listed, or another grantee's manifest), `GrantExpired`, `ManifestInvalid`, `Locked`
   */
  reissueGrant(grant: string, opts: { grantee: Manifest | string }): { grant: string; manifest: Manifest } {
    const g = str(grant, "grant");
    obj(opts, "options must be { grantee }");
    const grantee = manifestText(opts.grantee);
    const h = this.#h;
    try {
      const next = call(() => h.reissueGrant(g, grantee, Math.floor(Date.now() / 1000)));
      return { grant: next, manifest: this.manifest() };
    } finally {
      this.#persist();
    }
  }

  /**
   * Revokes a grant or link: the manifest stops listing it (store it), so no
   * device of this vault gives it another record, and the server deletes
   * it. What the grantee already read cannot be taken back.
   * @throws {@link MedsealError} `NotGranted`, `Locked`
   */
  revokeShare(id: string): Manifest {
    const i = str(id, "id");
    return this.#commit(() => this.#h.revokeShare(i));
  }

  /**
   * Opens records another vault shared with this one: verifies the grant
   * against the grantor's manifest (pin it with `sharing.pin`), that it is
   * addressed to this vault and not expired, then opens each item with its
   * slot. One outcome per item; an older version of a record than this
   * device opened before is `StaleRecord` (a rollback), as for the vault's
   * own records.
   * @throws {@link MedsealError} for the grant: `NotGranted`, `GrantExpired`, `ManifestInvalid`, `Malformed`, `Locked`
   */
  openShared<T = unknown>(opts: OpenSharedOptions): Array<OpenOutcome<T>> {
    obj(opts, "options must be { grant, grantor, items }");
    const grant = str(opts.grant, "grant");
    const grantor = manifestText(opts.grantor);
    if (!Array.isArray(opts.items)) throw invalid("items must be an array of { sealed, slot, recordId, context? }");
    const now = () => Math.floor(Date.now() / 1000);
    const g = call(() => this.#h.acceptGrant(grant, grantor, now()));
    try {
      return opts.items.map((it, index): OpenOutcome<T> => {
        try {
          obj(it, "each item must be { sealed, slot, recordId, context? }");
          const { recordId, context } = bindingOf(it);
          const slot = fromB64u(str(it.slot, "slot"));
          // Through the vault: what this device saw of the grantor's records guards against rollback.
          const open = (b: Uint8Array, text: boolean): T => {
            const o = call(() => this.#h.openShared(g, slot, b, text, recordId, context, now()));
            return (o.json ? parseJson<T>(call(() => o.intoText())) : o.intoBytes()) as T;
          };
          const value = typeof it.sealed === "string" ? withUtf8(it.sealed, false, (b) => open(b, true)) : open(bytesOf(it.sealed, "sealed"), false);
          return { ok: true, value };
        } catch (e) {
          return { ok: false, error: Object.assign(fromWasm(e), { index }) };
        }
      });
    } finally {
      g.free();
      this.#persist();
    }
  }

  /**
   * Makes a SMART Health Link (HL7 SMART Health Links, STU1) for someone
   * without a vault: a fresh link key, listed in the manifest (store it
   * first), and the `shlink:/` text that carries the key in its URL
   * fragment. Encrypt the files with `sealLinkFile`, send them (never the
   * `shlink`) to the server, show the `shlink` as a QR code. Revoke with
   * `revokeShare(shareId)`.
   * @throws {@link MedsealError} `InvalidArgument` (URL, label, expiry), `Locked`
   */
  createLink(opts: LinkOptions): NewLink {
    obj(opts, "options must be { baseUrl, label?, expires, passcode? }");
    const baseUrl = str(opts.baseUrl, "baseUrl");
    const label = opts.label === undefined ? undefined : str(opts.label, "label");
    const expires = secondsOf(opts.expires, "expires");
    const h = this.#h;
    try {
      const l = call(() => h.createLink(baseUrl, label, expires, opts.passcode === true));
      return { shareId: l.shareId, linkId: l.linkId, flag: l.flag, shlink: l.shlink, manifest: this.manifest() };
    } finally {
      this.#persist();
    }
  }

  /** The `shlink:/` text of an active link again, to show its QR code on another device. @throws {@link MedsealError} `NotGranted` (revoked), `InvalidArgument`, `Locked` */
  linkPayload(shareId: string, opts: Omit<LinkOptions, "expires">): string {
    const id = str(shareId, "shareId");
    obj(opts, "options must be { baseUrl, label?, passcode? }");
    const label = opts.label === undefined ? undefined : str(opts.label, "label");
    return call(() => this.#h.linkPayload(id, str(opts.baseUrl, "baseUrl"), label, opts.passcode === true));
  }

  /**
   * Encrypts one file of an active link as a JWE (`alg: "dir"`, `enc:
   * "A256GCM"`) to the link key: a JSON value (a FHIR Bundle, content type
   * `application/fhir+json` unless given) or bytes (give `contentType`).
   * @throws {@link MedsealError} `NotGranted` (revoked), `GrantExpired`, `InvalidArgument`, `Locked`
   */
  sealLinkFile(shareId: string, content: unknown, opts: { contentType?: string } = {}): string {
    const id = str(shareId, "shareId");
    const contentType = opts?.contentType === undefined ? "application/fhir+json" : str(opts.contentType, "contentType");
    const p = payload(content);
    const bytes = typeof p === "string" ? utf8Encoder.encode(p) : p.slice();
    const now = Math.floor(Date.now() / 1000);
    return call(() => this.#h.sealLinkFile(id, contentType, bytes, now));
  }

  /**
   * Signs an emergency card: a SMART Health Card (JWS, ES256, compressed)
   * of the FHIR Bundle given (allergies, medications, conditions, an
   * emergency contact), which anyone verifies offline from one QR code. It
   * carries the key that signed it; a reader trusts it by comparing that
   * key's fingerprint with `cardFingerprint()` on the patient's device. Not
   * encrypted: anyone who scans it reads it.
   * @throws {@link MedsealError} `TooLarge` (more than one QR code would hold: shorten the texts), `InvalidArgument`, `Locked`
   */
  emergencyCard(bundle: unknown, opts: { notBefore?: Date | number } = {}): EmergencyCard {
    const p = payload(bundle);
    const bytes = typeof p === "string" ? utf8Encoder.encode(p) : p.slice();
    const nbf = opts?.notBefore === undefined ? Math.floor(Date.now() / 1000) : secondsOf(opts.notBefore, "notBefore");
    const c = call(() => this.#h.emergencyCard(bytes, nbf));
    return { jws: c.jws, qr: c.qr, fingerprint: c.fingerprint };
  }

  /** The fingerprint of the key that signs this vault's emergency cards now (it changes with a re-key). @throws {@link MedsealError} `Locked` */
  cardFingerprint(): string {
    return call(() => this.#h.cardFingerprint());
  }

  /**
   * A vault log entry (FORMAT.md §16) signed by this vault's identity key,
   * for position `position` (the log's size as the server last said) and
   * time `time` (default now). Returns the leaf, base64url, to append; a
   * server that moved on in between refuses it, and the app signs again for
   * the new size.
   * @throws {@link MedsealError} `InvalidArgument` (not an event a vault writes), `Locked`
   */
  logEntry(event: LogEvent, opts: { position: number; time?: Date | number }): string {
    obj(event, "event must be a log event { type, … }");
    obj(opts, "options must be { position, time? }");
    const position = opts.position;
    if (!Number.isSafeInteger(position) || position < 0) throw invalid("position must be a whole number");
    const time = opts.time === undefined ? Math.floor(Date.now() / 1000) : secondsOf(opts.time, "time");
    const h = this.#h;
    if (event.type === "manifest") {
      const keys = Object.keys(event).filter((k) => k !== "type" && k !== "previous");
      if (keys.length) throw invalid("a manifest entry takes only { type, previous? }: medseal fills in the rest");
      const previous = event.previous === undefined ? undefined : manifestText(event.previous);
      return b64u(call(() => h.logManifestEntry(previous, position, time)));
    }
    const text = JSON.stringify(event);
    return b64u(call(() => h.logEntry(text, position, time)));
  }

  /**
   * Verifies a server's answer to a log sync: the checkpoint's signature
   * (the server's log key as the vault announced it, or the vault's own),
   * the consistency proof from this device's pinned checkpoint, every new
   * entry (signature, position, author, key epoch) folded into the tree to
   * the checkpoint's root, and the checkpoints other devices of the vault
   * cosigned. Only then the pin moves (saved with the seen state). Returns
   * the new entries and the new checkpoint cosigned by this vault: give
   * that to the server, so the vault's other devices can compare. Nothing
   * is believed from a failed sync; the error carries both checkpoints as
   * `evidence`.
   * @throws {@link MedsealError} `LogRolledBack`, `LogForked`, `LogInconsistent`, `LogEntryInvalid`, `LogSignatureInvalid`, `LogProofMissing`, `Malformed`, `TooLarge`, `Locked`
   */
  syncLog(answer: LogSync | string, opts: SyncLogOptions = {}): LogSyncResult {
    if (typeof answer !== "string") obj(answer, "answer must be the server's log sync answer");
    obj(opts, "options must be { own?, rules?, expect? }");
    const text = typeof answer === "string" ? answer : JSON.stringify(answer);
    const own = opts.own ?? [];
    if (!Array.isArray(own) || own.some((x) => typeof x !== "string")) throw invalid("own must be an array of unlock entry ids");
    const r = opts.rules ?? {};
    obj(r, "rules must be { burstRecords?, burstMinutes?, linkPlaces? }");
    const expect = opts.expect ?? [];
    if (!Array.isArray(expect)) throw invalid("expect must be an array of { position, leaf }");
    const positions = expect.map((x) => {
      obj(x, "each expected entry must be { position, leaf }");
      return x.position;
    });
    const leaves = expect.map((x) => str(x.leaf, "leaf"));
    const h = this.#h;
    const pinned = call(() => h.logCheckpoint()) ?? null;
    try {
      const { entries, alerts } = parseJson<{ entries: LogEntry[]; alerts: AccessAlert[] }>(
        call(() => h.syncLog(text, own, r.burstRecords ?? 20, r.burstMinutes ?? 10, r.linkPlaces ?? 3, positions, leaves)),
      );
      const size = call(() => h.logSize());
      return { entries, alerts, size, cosigned: size > 0 ? call(() => h.cosignLog()) : null };
    } catch (e) {
      const err = fromWasm(e);
      if (err.code.startsWith("Log")) {
        let offered = "";
        try {
          const c = (JSON.parse(text) as { checkpoint?: unknown }).checkpoint;
          offered = typeof c === "string" ? c : "";
        } catch {
          // Not JSON: the error says so; there is no checkpoint to show.
        }
        err.evidence = { pinned, offered };
      }
      throw err;
    } finally {
      this.#persist();
    }
  }

  /** The vault log as this device verified it: its size and the pinned checkpoint (a signed note). @throws {@link MedsealError} `Locked` */
  logStatus(): { size: number; checkpoint: string | null } {
    const h = this.#h;
    return { size: call(() => h.logSize()), checkpoint: call(() => h.logCheckpoint()) ?? null };
  }

  /**
   * The patient's access report: the newest entries of the log, a
   * contiguous run of positions that ends at the pinned size (so a server
   * cannot leave the newest out), each with its inclusion proof in the
   * pinned tree: every entry shown is one this device verified. Page back
   * in time by asking the server for earlier runs ending at the same size.
   * `from`/`to` select a time window. With it, the alerts this device's
   * syncs raised at positions `since` and after (what it has not shown yet).
   * @throws {@link MedsealError} `LogEntryInvalid`, `LogProofMissing` (not a run ending at the pinned size), `InvalidArgument`, `Malformed`, `TooLarge`, `Locked`
   */
  accessReport(entries: LogProofItem[], opts: AccessReportOptions = {}): AccessReport {
    if (!Array.isArray(entries)) throw invalid("entries must be an array of { index, leaf, proof }");
    obj(opts, "options must be { from?, to?, since? }");
    const from = opts.from === undefined ? undefined : secondsOf(opts.from, "from");
    const to = opts.to === undefined ? undefined : secondsOf(opts.to, "to");
    const since = opts.since ?? 0;
    if (!Number.isSafeInteger(since) || since < 0) throw invalid("since must be a whole number");
    const text = JSON.stringify(entries);
    const h = this.#h;
    return parseJson<AccessReport>(call(() => h.accessReport(text, from, to, since)));
  }

  /**
   * The security check-up: what the patient should fix in this vault's
   * set-up, as data (one {@link PostureFinding} each, the most pressing
   * first; an empty list: all is well). From the current manifest, and
   * where given: the vault log (`log`: entries as `syncLog` returned them,
   * or with inclusion proofs `{ index, leaf, proof }` as `accessReport`
   * takes them, which are verified against the pinned checkpoint first),
   * the time (`now`, default now), this browser's PRF support (`prf`: what
   * `webauthn.support()` said, or `false` after a ceremony returned no PRF
   * result) and how many days make a passkey unused (`unusedDays`, default
   * 180). Findings that need the log are judged only with it.
   * @throws {@link MedsealError} `InvalidArgument`, `Malformed`, `TooLarge`, `LogEntryInvalid`, `LogProofMissing`, `Locked`
   */
  posture(opts: PostureOptions = {}): PostureFinding[] {
    obj(opts, "options must be { log?, now?, prf?, unusedDays? }");
    const now = opts.now === undefined ? Math.floor(Date.now() / 1000) : secondsOf(opts.now, "now");
    const days = opts.unusedDays ?? 180;
    if (typeof days !== "number") throw invalid("unusedDays must be a number of days");
    const p = opts.prf;
    let prf: boolean | undefined;
    if (p === undefined || typeof p === "boolean") prf = p;
    else {
      obj(p, "prf must be a boolean or what webauthn.support() returned");
      prf = p.webauthn === false || p.prf === false ? false : p.prf === true ? true : undefined;
    }
    const log = opts.log;
    if (log !== undefined && !Array.isArray(log)) throw invalid("log must be an array of log entries");
    const first: unknown = log?.[0];
    const proofs = typeof first === "object" && first !== null && "leaf" in first;
    const text = log === undefined ? undefined : JSON.stringify(log);
    const h = this.#h;
    return parseJson<PostureFinding[]>(call(() => h.posture(text, proofs, now, prf, days)));
  }

  /**
   * Checks the recovery code as the patient typed it against this vault's
   * current recovery entry, without unlocking with it: returns if it is the
   * code. Then log it (`logEntry({ type: "recovery_check", via })`, `via`
   * the recovery entry's id) so the check-up stops asking.
   * @throws {@link MedsealError} `InvalidRecoveryCode` (a typo), `UnlockFailed` (another or an old code), `InvalidArgument`, `Locked`
   */
  confirmRecoveryCode(code: string): void {
    const c = str(code, "code");
    call(() => this.#h.confirmRecoveryCode(c));
  }

  /** Wipes this vault's keys. Every later call throws `Locked`. */
  lock(): void {
    this.#h.lock();
  }

  /** Whether `lock()` was called. */
  get locked(): boolean {
    return this.#h.isLocked;
  }

  /** Nothing secret to serialize: a vault serializes to its public id only. */
  toJSON(): { vaultId: string | null } {
    return { vaultId: this.locked ? null : this.vaultId() };
  }
}

/** Where `vault.handOff(remote)` can send a vault: a `RemoteVault`. */
export type HandoffTarget = { receiverKey(): Promise<Uint8Array>; acceptHandoff(message: Uint8Array, receiverKey: Uint8Array): Promise<unknown> };

const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * The receiving end of a vault hand-off (see `Vault.handOff`): a one-time
 * P-256 key pair whose private key never leaves this realm's wasm instance.
 */
export class VaultReceiver {
  #r: wasm.HandoffReceiver;
  #used = false;

  /** @throws {@link MedsealError} `NotInitialized`, `RandomUnavailable` */
  constructor() {
    ensureInit();
    this.#r = call(() => new wasm.HandoffReceiver());
  }

  /** The public key to send to the vault's holder (33 bytes). @throws {@link MedsealError} `InvalidArgument` once used */
  get publicKey(): Uint8Array {
    this.#usable();
    return this.#r.publicKey!;
  }

  /**
   * Opens a hand-off message, once (the receiver is used up even on failure).
   * `expect`: the manifest of the vault this receiver belongs to: another
   * vault (another vault id or identity key) is refused with `WrongVault`.
   * `minRevision` refuses an older manifest (`StaleManifest`).
   * @throws {@link MedsealError} `DecryptionFailed`, `WrongVault`, `StaleManifest`, `Malformed`, `InvalidArgument`
   */
  accept(message: Uint8Array, opts: { expect?: Manifest | string; minRevision?: number } = {}): Vault {
    this.#usable();
    try {
      const m = bytesOf(message, "message");
      const expect = opts?.expect === undefined ? undefined : manifestText(opts.expect);
      const min = revisionOf(opts);
      return wrapHandle(call(() => this.#r.accept(m, expect, min)), null);
    } finally {
      this.discard();
    }
  }

  /** Destroys the private key without using it (a hand-off that will not come). Idempotent. */
  discard(): void {
    if (this.#used) return;
    this.#used = true;
    this.#r.discard();
    this.#r.free();
  }

  #usable(): void {
    if (this.#used) throw invalid("this VaultReceiver was already used: make a new one per hand-off");
  }
}

// ------------------------------------------------------------------ WebAuthn helpers

/**
 * Bytes made by this package (copies out of wasm memory): always backed by
 * an ArrayBuffer, which is what the DOM's `BufferSource` takes under
 * TypeScript 5.7+ (a bare `Uint8Array` is `Uint8Array<ArrayBufferLike>`).
 */
export type Bytes = Uint8Array<ArrayBuffer>;

const own8 = (b: Uint8Array): Bytes => b as Bytes;

function passkeysOf(manifestJson: string): Array<{ entryId: string; credentialId: Bytes; first: Bytes; label?: string }> {
  return call(() => wasm.passkeyRequests(manifestJson)).map((r) => {
    const out = { entryId: r.entryId, credentialId: own8(r.credentialId), first: own8(r.prfInput), label: r.label ?? undefined };
    r.free();
    return out;
  });
}

/** What to merge into a WebAuthn `get()` so that the passkey that answers also unlocks the vault. */
export type PrfRequest<Id = string> = {
  /** The vault's passkeys (base64url ids in the JSON form, bytes in the binary form). */
  allowCredentials: Array<{ type: "public-key"; id: Id }>;
  /** The PRF evaluation per passkey, each with its own input (bytes: browsers take BufferSource here, and SimpleWebAuthn passes extensions through). */
  extensions: { prf: { evalByCredential: Record<string, { first: Bytes }> } };
};

/**
 * WebAuthn helpers for applications that run their own ceremonies (a login
 * through their server with webauthn-rs or SimpleWebAuthn), and for PRF
 * outputs obtained without a browser.
 */
export const webauthn = {
  /** What the browser can do, without prompting the user. */
  support: prfSupport,

  /**
   * For the app's own `get()`: the vault's passkeys and a PRF evaluation for
   * each. `form: "json"` (default) gives base64url ids, ready for JSON
   * options (SimpleWebAuthn's `optionsJSON`, a server's challenge); `"binary"`
   * gives bytes for `navigator.credentials.get()`. With `allowCredentials`
   * (the server's list), only those passkeys are kept (browsers reject
   * `evalByCredential` keys that are not allowed), each with its other
   * fields (`transports`) as given. Ask with
   * `userVerification: "required"`; unlock with `Vault.unlock(manifest, { credential })`.
   * @throws {@link MedsealError} `Malformed`, `UnknownVersion`, `InvalidArgument`, `NotInitialized`
   */
  requestExtension<F extends "json" | "binary" = "json">(
    manifest: Manifest | string,
    opts: { allowCredentials?: ReadonlyArray<{ id: BufferSource | string }>; form?: F } = {},
  ): PrfRequest<F extends "binary" ? Bytes : string> {
    ensureInit();
    let reqs = passkeysOf(manifestText(manifest));
    // The server's own entries are kept as they are (their transports hints).
    const given = new Map<string, Record<string, unknown>>();
    const form = opts?.form;
    if (form !== undefined && form !== "json" && form !== "binary") throw invalid('form must be "json" or "binary"');
    if (opts?.allowCredentials !== undefined) {
      if (!Array.isArray(opts.allowCredentials)) throw invalid("allowCredentials must be an array of { id }");
      for (const c of opts.allowCredentials as ReadonlyArray<{ id: BufferSource | string }>) given.set(typeof c?.id === "string" ? c.id : b64u(bytesOf(c?.id, "allowCredentials id")), c);
      // An empty list is a discoverable-credential login: nothing to filter by.
      if (given.size > 0) {
        reqs = reqs.filter((r) => given.has(b64u(r.credentialId)));
        // An empty result would ask for any passkey, which cannot unlock this vault.
        if (reqs.length === 0) throw invalid("none of the given allowCredentials is a passkey of this vault");
      }
    }
    const evalByCredential: Record<string, { first: Bytes }> = {};
    for (const r of reqs) evalByCredential[b64u(r.credentialId)] = { first: r.first };
    const binary = form === "binary";
    return {
      allowCredentials: reqs.map((r) => ({
        ...given.get(b64u(r.credentialId)),
        type: "public-key" as const,
        id: (binary ? r.credentialId : b64u(r.credentialId)) as F extends "binary" ? Bytes : string,
      })),
      extensions: { prf: { evalByCredential } },
    };
  },

  /**
   * For the app's own `create()`: a fresh PRF salt and the `extensions` to
   * merge in. Then `Vault.create({ credential, prfSalt })` (or
   * `vault.addPasskey(...)` with the same source).
   * @throws {@link MedsealError} `NotInitialized`, `RandomUnavailable`
   */
  createExtension(): { prfSalt: Bytes; extensions: { prf: { eval: { first: Bytes } } } } {
    ensureInit();
    const prfSalt = own8(call(() => wasm.newPrfSalt()));
    return { prfSalt, extensions: { prf: { eval: { first: own8(wasm.prfInput(prfSalt)) } } } };
  },

  /**
   * A credential (live or JSON) without its PRF results: what may be posted
   * to a server. `Vault.create`/`unlock`/`addPasskey` return it as
   * `response` already.
   * @throws {@link MedsealError} `InvalidArgument`
   */
  serverSafe: serverSafe,

  /**
   * The passkeys of a manifest with the PRF input each must evaluate
   * (public data: what a `get()` needs, e.g. in another realm).
   * @throws {@link MedsealError} `Malformed`, `UnknownVersion`, `NotInitialized`
   */
  passkeys(manifest: Manifest | string): Array<{ entryId: string; credentialId: Bytes; first: Bytes; label?: string }> {
    ensureInit();
    return passkeysOf(manifestText(manifest));
  },

  /** A fresh 32-byte PRF salt for a new passkey entry (public; stored in the manifest). @throws {@link MedsealError} `NotInitialized`, `RandomUnavailable` */
  newPrfSalt(): Bytes {
    ensureInit();
    return own8(call(() => wasm.newPrfSalt()));
  },

  /** The `prf.eval.first` input for a PRF salt (domain-separated for medseal). @throws {@link MedsealError} `NotInitialized`, `InvalidArgument` */
  prfInput(prfSalt: Uint8Array): Bytes {
    ensureInit();
    const salt = bytesOf(prfSalt, "prfSalt");
    return own8(call(() => wasm.prfInput(salt)));
  },
};

/**
 * Every error code the wasm module can raise (from the Rust error enum):
 * the one source `ErrorCode` is checked against.
 * @internal
 */
export function wasmErrorCodes(): string[] {
  ensureInit();
  return wasm.errorCodes();
}

// Every public entry point throws MedsealError and nothing else.
guardMethods(Vault, ["create", "unlock"]);
guardMethods(Vault.prototype, [
  "seal", "open", "sealMany", "openMany", "sealLarge", "openLarge", "manifest", "vaultId", "addPasskey",
  "removeUnlock", "rotateRecoveryCode", "updateManifest", "signLoginProof", "handOff", "lock", "toJSON",
  "tombstone", "rewrap", "rekey", "retireEpochs", "signRecoveryLogin", "persisted", "grant", "grantSlot",
  "revokeShare", "reissueGrant", "openShared", "createLink", "linkPayload", "sealLinkFile", "emergencyCard", "cardFingerprint",
  "logEntry", "syncLog", "logStatus", "accessReport", "destroy", "posture", "confirmRecoveryCode",
  "sealStream", "openStream", "sealFile", "openFile", "openRange", "rewrapStream", "openSharedStream", "openSharedRange",
  "exportStream", "export",
]);
guardMethods(sharing, ["fingerprint", "pin", "shares", "grantInfo"]);
guardMethods(accessReports, ["csv", "auditEvents"]);
guardMethods(healthLinks, ["parse", "openFile"]);
guardMethods(healthCards, ["read"]);
guardMethods(notices, ["verify"]);
guardMethods(tombstones, ["verify"]);
guardMethods(VaultReceiver.prototype, ["accept", "discard"]);
guardMethods(webauthn, ["support", "requestExtension", "createExtension", "serverSafe", "passkeys", "newPrfSalt", "prfInput"]);
