/**
 * medseal: client-side encryption of health records with keys from passkeys.
 *
 * This layer does no cryptography: every key operation happens inside the
 * WebAssembly module, which holds the keys. JavaScript only sees opaque
 * handles, sealed records, public manifests and (once) a recovery code to show
 * the user. Passkey ceremonies live in ./passkey.ts.
 */
import initWasm, * as wasm from "./wasm/medseal_wasm.js";
import type { InitInput as WasmInitInput } from "./wasm/medseal_wasm.js";
import { ErrorCode, MedsealError, call, fromWasm } from "./errors.js";
import { type CreateOptions, b64u, createWithPrf, fromB64u, getWithPrf, prfFromCreated, takePrfFirst } from "./passkey.js";

export { ErrorCode, MedsealError } from "./errors.js";
export { prfSupport, type PrfSupport, type CreateOptions } from "./passkey.js";

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
 * in Node): the SIMD128 build where the engine has SIMD128, else the scalar
 * one. Extensions and strict-CSP pages need `'wasm-unsafe-eval'` only.
 */
export function init(input?: InitInput): Promise<void> {
  if (!ready) {
    ready = (async () => {
      // Two literal URLs, so that bundlers see (and emit) both files.
      const scalar = async () => initWasm({ module_or_path: await packaged(new URL("./wasm/medseal_wasm_scalar_bg.wasm", import.meta.url)) });
      if (input !== undefined) {
        await initWasm({ module_or_path: input as WasmInitInput });
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

/** A module shipped in the package: its URL (fetched by the glue), or its bytes in Node. */
async function packaged(url: URL): Promise<WasmInitInput> {
  if (url.protocol !== "file:") return url;
  // Node: fetch() cannot read file URLs. The specifier is a variable so bundlers leave it alone.
  const fsName = "node:fs/promises";
  const fs = (await import(/* @vite-ignore */ /* webpackIgnore: true */ fsName)) as { readFile(u: URL): Promise<Uint8Array> };
  return (await fs.readFile(url)) as unknown as WasmInitInput;
}

function ensureInit(): void {
  if (!initialized) throw new MedsealError(ErrorCode.NotInitialized, "call `await init()` before using medseal");
}

/** A passkey unlock entry of a manifest. */
export type PasskeyEntry = { type: "passkey"; id: string; credentialId: string; prfSalt: string; wrappedVaultKey: string; label?: string };
/** The recovery entry of a manifest. */
export type RecoveryEntry = { type: "recovery"; id: string; wrappedVaultKey: string };

/** A vault manifest: public and signed. Store it (server side) after every change; pass it back to unlock. */
export type Manifest = {
  medseal: "vault-manifest";
  version: number;
  vaultId: string;
  revision: number;
  identityKey: { publicKey: string; wrappedPrivateKey: string };
  unlock: Array<PasskeyEntry | RecoveryEntry>;
  signature: string;
};

/** What a record is bound to: opening with another recordId or context fails. */
export type SealOptions = { recordId: string; context?: string | Uint8Array };

/** A record: any JSON value, or bytes (Uint8Array). */
export type RecordValue = unknown;

/** A batch item to seal. */
export type SealItem = { record: RecordValue; recordId: string; context?: string | Uint8Array };
/** A batch item to open. */
export type OpenItem = { sealed: string | Uint8Array; recordId: string; context?: string | Uint8Array };
/** The outcome of one item of `openManySettled`. */
export type OpenOutcome = { ok: true; value: RecordValue } | { ok: false; error: MedsealError };

/** PRF data from a passkey ceremony run by the application. */
export type PrfCredential = { credentialId: Uint8Array; prfSalt: Uint8Array; prfOutput: Uint8Array; label?: string };

/**
 * Options of the passkey prompt at unlock. `rpId`: the relying-party id the
 * passkeys were created with, when it is not this page's host (a parent
 * domain, or a site's domain claimed by an extension: docs/EXTENSIONS.md).
 */
export type CeremonyOptions = { timeout?: number; mediation?: CredentialMediationRequirement; signal?: AbortSignal; rpId?: string };

/** Options of an unlock. `minRevision`: the newest manifest revision this client has seen (rollback protection). */
export type UnlockOptions = { minRevision?: number };

function obj(v: unknown, what: string): void {
  if (v === null || typeof v !== "object") throw new MedsealError(ErrorCode.InvalidArgument, what);
}

/** A real Uint8Array (not a Proxy of one, which passes `instanceof` but cannot be read as one). */
function isBytes(v: unknown): v is Uint8Array {
  return v instanceof Uint8Array && ArrayBuffer.isView(v);
}

function payload(record: RecordValue): string | Uint8Array {
  if (isBytes(record)) return record;
  if (record === undefined || typeof record === "function" || typeof record === "symbol" || typeof record === "bigint") {
    throw new MedsealError(ErrorCode.InvalidArgument, "record must be a JSON value or a Uint8Array");
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(record);
  } catch (e) {
    throw new MedsealError(ErrorCode.InvalidArgument, `record is not JSON-serializable: ${(e as Error).message}`);
  }
  if (text === undefined) throw new MedsealError(ErrorCode.InvalidArgument, "record must be a JSON value or a Uint8Array");
  return text;
}

function value(out: unknown): RecordValue {
  if (typeof out !== "string") return out;
  try {
    return JSON.parse(out);
  } catch {
    throw new MedsealError(ErrorCode.Malformed, "JSON record is not JSON");
  }
}

const utf8Encoder = new TextEncoder();
let scratch = new Uint8Array(0);
let scratchInUse = false;

/**
 * Calls `f` with `strings` as UTF-8 bytes, for the wasm boundary: wasm-bindgen
 * copies a string into wasm one character at a time in JS, which for the
 * 1-2 KB of a record's text form or JSON costs an order of magnitude more than
 * `TextEncoder.encodeInto` into a reused buffer. The views are valid during
 * `f` only (wasm copies them at once). A call made from inside `f` (a getter
 * or proxy of the caller's run by wasm) gets buffers of its own, so it cannot
 * overwrite the outer call's bytes. With `wipe` (the bytes are a plaintext)
 * everything written is zeroed afterwards.
 */
function withUtf8<T>(strings: string[], wipe: boolean, f: (bytes: Uint8Array[]) => T): T {
  const outer = !scratchInUse;
  let total = 0;
  for (const s of strings) total += s.length;
  // Sized for ASCII (the text form always is); a string that needs more is encoded apart.
  if (outer && scratch.length < total) scratch = new Uint8Array(Math.max(total, 4096));
  const buf = outer ? scratch : new Uint8Array(total);
  const apart: Uint8Array[] = [];
  let at = 0;
  const bytes = strings.map((s) => {
    const r = utf8Encoder.encodeInto(s, buf.subarray(at, at + s.length));
    at += s.length; // also past a partial write, so that it is wiped below
    if (r.read === s.length) return buf.subarray(at - s.length, at - s.length + r.written);
    const b = utf8Encoder.encode(s);
    apart.push(b);
    return b;
  });
  if (outer) scratchInUse = true;
  try {
    return f(bytes);
  } finally {
    if (wipe) {
      buf.fill(0, 0, at);
      for (const b of apart) b.fill(0);
    }
    if (outer) {
      scratchInUse = false;
      if (scratch.length > 1 << 20) scratch = new Uint8Array(0);
    }
  }
}

/** A JSON record's UTF-8 bytes as the value (`open` gets the same text from wasm, which also refuses invalid UTF-8). */
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function jsonOf(utf8: Uint8Array): RecordValue {
  let text: string;
  try {
    text = utf8Decoder.decode(utf8);
  } catch {
    throw new MedsealError(ErrorCode.Malformed, "JSON record is not UTF-8");
  }
  return value(text);
}

/** A view of an ArrayBuffer or typed array as the Uint8Array the wasm layer accepts. */
export function toBytes(v: unknown, what: string): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  throw new MedsealError(ErrorCode.InvalidArgument, `${what} must be a Uint8Array or ArrayBuffer`);
}

/**
 * The passkeys of a manifest with the PRF input each must evaluate (public
 * data: what a `get()` needs, e.g. when the ceremony runs in another realm).
 */
export function passkeyRequests(manifest: Manifest | string): Array<{ credentialId: Uint8Array; first: Uint8Array; label?: string }> {
  ensureInit();
  return passkeysOf(manifest);
}

function passkeysOf(manifest: Manifest | string): Array<{ credentialId: Uint8Array; first: Uint8Array; label?: string }> {
  const reqs = call(() => wasm.passkeyRequests(manifest)) as Array<{ credentialId: string; prfInput: string; label?: string | null }>;
  return reqs.map((r) => ({ credentialId: fromB64u(r.credentialId), first: fromB64u(r.prfInput), label: r.label ?? undefined }));
}

const challenge = (): Uint8Array => wasm.newPrfSalt(); // 32 random bytes from the wasm CSPRNG

/** The PRF output of a credential the app created with `Vault.prfCreateExtension()` merged in. */
async function prfOfCreated(credential: PublicKeyCredential, prfSalt: Uint8Array, opts: { timeout?: number; rpId?: string }): Promise<{ credentialId: Uint8Array; prfOutput: Uint8Array }> {
  if (!credential || typeof (credential as PublicKeyCredential).getClientExtensionResults !== "function") {
    throw new MedsealError(ErrorCode.InvalidArgument, "credential must be the PublicKeyCredential returned by navigator.credentials.create()");
  }
  return prfFromCreated(credential, wasm.prfInput(toBytes(prfSalt, "prfSalt")), opts?.timeout, challenge, opts?.rpId);
}

/** Imports one record's body key into WebCrypto as a non-extractable key, then wipes the bytes. */
async function importBodyKey(subtle: SubtleCrypto, key: Uint8Array, usage: KeyUsage): Promise<CryptoKey> {
  try {
    return await subtle.importKey("raw", key as BufferSource, "AES-GCM", false, [usage]);
  } finally {
    key.fill(0);
  }
}

/** Wraps a wasm handle in a Vault (the constructor stays private to this module). */
let wrapHandle: (h: wasm.VaultHandle) => Vault;

/** Records at least this large go through WebCrypto in `sealAsync`/`openAsync`. */
const LARGE_RECORD = 64 * 1024;

/**
 * An unlocked vault. Keys stay inside the WebAssembly instance; `lock()`
 * wipes them.
 */
export class Vault {
  #h: wasm.VaultHandle;

  private constructor(h: wasm.VaultHandle) {
    this.#h = h;
  }

  static {
    wrapHandle = (h) => new Vault(h);
  }

  // ------------------------------------------------------------ passkey ceremonies

  /**
   * Registers a passkey (with the PRF extension, user verification required)
   * and creates a vault that it unlocks. Returns the vault, its manifest to
   * store, and the recovery code to show the user once.
   */
  static async create(o: CreateOptions): Promise<{ vault: Vault; manifest: Manifest; recoveryCode: string }> {
    ensureInit();
    const prfSalt = wasm.newPrfSalt();
    const { credentialId, prfOutput } = await createWithPrf(o, wasm.prfInput(prfSalt), challenge);
    try {
      return Vault.createFromPrf({ credentialId, prfSalt, prfOutput, label: o.label });
    } finally {
      prfOutput.fill(0);
    }
  }

  /** Asks for any passkey of the manifest and unlocks with it. */
  static async unlock(manifest: Manifest | string, opts: UnlockOptions & CeremonyOptions = {}): Promise<Vault> {
    ensureInit();
    const passkeys = passkeysOf(manifest);
    const { credentialId, prfOutput } = await getWithPrf(passkeys, opts.timeout, challenge, { mediation: opts.mediation, signal: opts.signal, rpId: opts.rpId });
    try {
      return Vault.unlockFromPrf(manifest, { credentialId, prfOutput }, opts);
    } finally {
      prfOutput.fill(0);
    }
  }

  /** Registers another passkey (another device, a security key) for this vault; returns the new manifest. */
  async addPasskey(o: CreateOptions): Promise<Manifest> {
    const manifest = this.manifest;
    const exclude = [...(o.exclude ?? []), ...passkeysOf(manifest).map((p) => p.credentialId)];
    const prfSalt = call(() => wasm.newPrfSalt());
    const { credentialId, prfOutput } = await createWithPrf({ ...o, exclude }, wasm.prfInput(prfSalt), challenge);
    try {
      return this.addPasskeyFromPrf({ credentialId, prfSalt, prfOutput, label: o.label });
    } finally {
      prfOutput.fill(0);
    }
  }

  // ------------------------------------------------------------ apps that run their own ceremony

  /**
   * For apps that run the WebAuthn `get()` themselves (a login through their
   * server, e.g. webauthn-rs): the `extensions` to merge into the request (a
   * PRF evaluation per passkey of the manifest, each with its own salt), and
   * `allowCredentials`, so the browser only offers passkeys that can unlock
   * this vault. Ask with `userVerification: "required"`.
   */
  static prfExtension(
    manifest: Manifest | string,
    opts: { allowCredentials?: ReadonlyArray<{ id: BufferSource | string }> } = {},
  ): {
    extensions: { prf: { evalByCredential: Record<string, { first: Uint8Array }> } };
    allowCredentials: Array<{ type: "public-key"; id: Uint8Array }>;
  } {
    ensureInit();
    let reqs = call(() => wasm.passkeyRequests(manifest)) as Array<{ credentialId: string; prfInput: string }>;
    if (opts?.allowCredentials) {
      // Browsers reject evalByCredential keys that are not in allowCredentials.
      const allowed = new Set(opts.allowCredentials.map((c) => (typeof c.id === "string" ? c.id : b64u(toBytes(c.id, "allowCredentials id")))));
      reqs = reqs.filter((r) => allowed.has(r.credentialId));
    }
    const evalByCredential: Record<string, { first: Uint8Array }> = {};
    for (const r of reqs) evalByCredential[r.credentialId] = { first: fromB64u(r.prfInput) };
    return {
      extensions: { prf: { evalByCredential } },
      allowCredentials: reqs.map((r) => ({ type: "public-key" as const, id: fromB64u(r.credentialId) })),
    };
  }

  /**
   * For apps that run the WebAuthn `create()` themselves (sign-up through
   * their server, e.g. webauthn-rs): a fresh PRF salt and the `extensions` to
   * merge into the request. Pass the salt and the new credential to
   * `Vault.createWithCredential` (or `vault.addPasskeyWithCredential`).
   */
  static prfCreateExtension(): { prfSalt: Uint8Array; extensions: { prf: { eval: { first: Uint8Array } } } } {
    ensureInit();
    const prfSalt = call(() => wasm.newPrfSalt());
    return { prfSalt, extensions: { prf: { eval: { first: wasm.prfInput(prfSalt) } } } };
  }

  /**
   * Creates a vault from a credential the app created with
   * `Vault.prfCreateExtension()` merged in. If the authenticator gave no PRF
   * result at create, asks once more with `get()`. Post the credential to a
   * server only as `Vault.withoutPrf(credential)`.
   */
  static async createWithCredential(credential: PublicKeyCredential, prfSalt: Uint8Array, opts: { label?: string; timeout?: number; rpId?: string } = {}): Promise<{ vault: Vault; manifest: Manifest; recoveryCode: string }> {
    ensureInit();
    const { credentialId, prfOutput } = await prfOfCreated(credential, prfSalt, opts);
    try {
      return Vault.createFromPrf({ credentialId, prfSalt, prfOutput, label: opts.label });
    } finally {
      prfOutput.fill(0);
    }
  }

  /**
   * Unlocks with the credential of a `get()` that carried
   * `Vault.prfExtension(manifest)`. Reads (and wipes) its PRF result; send the
   * credential to a server only as `Vault.withoutPrf(credential)`.
   */
  static unlockWithAssertion(manifest: Manifest | string, credential: PublicKeyCredential, opts: UnlockOptions = {}): Vault {
    ensureInit();
    if (!credential || typeof (credential as PublicKeyCredential).getClientExtensionResults !== "function") {
      throw new MedsealError(ErrorCode.InvalidArgument, "credential must be the PublicKeyCredential returned by navigator.credentials.get()");
    }
    const prfOutput = takePrfFirst(credential);
    if (!prfOutput) {
      throw new MedsealError(
        ErrorCode.PrfNotReturned,
        "the passkey returned no PRF result: pick a passkey registered for this vault (some passkeys are for login only), or this authenticator does not support PRF",
      );
    }
    try {
      return Vault.unlockFromPrf(manifest, { credentialId: new Uint8Array(credential.rawId), prfOutput }, opts);
    } finally {
      prfOutput.fill(0);
    }
  }

  /**
   * What may be sent to a server of a credential from a `get()` or `create()`
   * that carried the PRF extension: a deep copy of its JSON form
   * (`credential.toJSON()`, or the credential itself) without the PRF results.
   * Server libraries (webauthn-rs, SimpleWebAuthn) pass extension results
   * through untouched, so the client must strip them.
   */
  static withoutPrf<T extends object>(credential: T | PublicKeyCredential): T {
    let json: unknown = credential;
    if (credential && typeof (credential as { toJSON?: unknown }).toJSON === "function") {
      json = (credential as { toJSON(): unknown }).toJSON();
    }
    if (json === null || typeof json !== "object") throw new MedsealError(ErrorCode.InvalidArgument, "expected a credential or its JSON form");
    const copy = JSON.parse(JSON.stringify(json)) as { clientExtensionResults?: { prf?: Record<string, unknown> } };
    const prf = copy.clientExtensionResults?.prf;
    if (prf) {
      delete prf.results;
      if (Object.keys(prf).length === 0) delete copy.clientExtensionResults!.prf;
    }
    return copy as T;
  }

  // ------------------------------------------------------------ no browser needed

  /** A fresh 32-byte PRF salt for a new passkey entry (public, stored in the manifest). */
  static newPrfSalt(): Uint8Array {
    ensureInit();
    return call(() => wasm.newPrfSalt());
  }

  /** The WebAuthn `prf.eval.first` input for a PRF salt (domain-separated for medseal). */
  static prfInput(prfSalt: Uint8Array): Uint8Array {
    ensureInit();
    return call(() => wasm.prfInput(toBytes(prfSalt, "prfSalt")));
  }

  /**
   * Creates a vault from a PRF output obtained elsewhere (Node, tests, native
   * shells, own authenticator stacks). `prfOutput` must be the PRF result for
   * `Vault.prfInput(prfSalt)`.
   */
  static createFromPrf(p: PrfCredential): { vault: Vault; manifest: Manifest; recoveryCode: string } {
    ensureInit();
    obj(p, "expected { credentialId, prfSalt, prfOutput, label? }");
    const h = call(() =>
      wasm.VaultHandle.createFromPrf(toBytes(p.credentialId, "credentialId"), toBytes(p.prfSalt, "prfSalt"), toBytes(p.prfOutput, "prfOutput"), p.label),
    );
    const vault = new Vault(h);
    const recoveryCode = h.takeRecoveryCode() as string;
    return { vault, manifest: vault.manifest, recoveryCode };
  }

  /** Unlocks with a PRF output for one of the manifest's passkeys. */
  static unlockFromPrf(manifest: Manifest | string, p: { credentialId: Uint8Array; prfOutput: Uint8Array }, opts: UnlockOptions = {}): Vault {
    ensureInit();
    obj(p, "expected { credentialId, prfOutput }");
    return new Vault(call(() => wasm.VaultHandle.unlockFromPrf(manifest, toBytes(p.credentialId, "credentialId"), toBytes(p.prfOutput, "prfOutput"), opts?.minRevision)));
  }

  /** Unlocks with the recovery code (any case; spaces and dashes ignored; I/L read as 1, O as 0). */
  static unlockWithRecoveryCode(manifest: Manifest | string, code: string, opts: UnlockOptions = {}): Vault {
    ensureInit();
    return new Vault(call(() => wasm.VaultHandle.unlockWithRecoveryCode(manifest, code, opts?.minRevision)));
  }

  // ------------------------------------------------------------ records

  /** Seals a record (a JSON value or bytes) to the text form `ms1.…`. */
  seal(record: RecordValue, opts: SealOptions): string {
    obj(opts, "options must be { recordId, context? }");
    return this.#seal(payload(record), opts, true) as string;
  }

  /** Seals a record to the bytes form. */
  sealBytes(record: RecordValue, opts: SealOptions): Uint8Array {
    obj(opts, "options must be { recordId, context? }");
    return this.#seal(payload(record), opts, false) as Uint8Array;
  }

  /** Seals in wasm: JSON text crosses as UTF-8 bytes (see `withUtf8`). */
  #seal(p: string | Uint8Array, opts: SealOptions, asText: boolean): string | Uint8Array {
    const { recordId, context } = opts;
    const seal = (data: Uint8Array, json: boolean) => call(() => this.#h.seal(data, json, recordId, context, asText)) as string | Uint8Array;
    return typeof p === "string" ? withUtf8([p], true, ([b]) => seal(b!, true)) : seal(p, false);
  }

  /** Opens a sealed record (text or bytes form); returns the JSON value or bytes that were sealed. */
  open(sealed: string | Uint8Array, opts: SealOptions): RecordValue {
    obj(opts, "options must be { recordId, context? }");
    const { recordId, context } = opts;
    if (typeof sealed !== "string") return value(call(() => this.#h.open(sealed, false, recordId, context)));
    return value(withUtf8([sealed], false, ([text]) => call(() => this.#h.open(text, true, recordId, context))));
  }

  /**
   * Seals a record; records of `webCryptoFrom` bytes or more (default 64 KiB)
   * have their body encrypted by WebCrypto under a non-extractable key made
   * from that record's body key alone (the vault key never leaves wasm). Same
   * format as `seal`; much faster for scans and PDFs. The plaintext is not
   * copied into wasm (wasm sees its length only).
   */
  async sealAsync(record: RecordValue, opts: SealOptions & { form?: "text" | "bytes"; webCryptoFrom?: number }): Promise<string | Uint8Array> {
    obj(opts, "options must be { recordId, context?, form? }");
    const p = payload(record);
    const size = typeof p === "string" ? p.length : p.byteLength;
    const subtle = globalThis.crypto?.subtle;
    if (!subtle || size < (opts.webCryptoFrom ?? LARGE_RECORD)) {
      return this.#seal(p, opts, opts.form !== "bytes");
    }
    // The plaintext stays in JS: wasm sees only its length and returns the
    // envelope, the body key and the padding that follows the plaintext.
    const data = typeof p === "string" ? utf8Encoder.encode(p) : p;
    let parts: { key: Uint8Array; iv: Uint8Array; aad: Uint8Array; prefix: Uint8Array; contentType: number; padding: Uint8Array };
    let ct: Uint8Array;
    let padded: Uint8Array | undefined;
    try {
      parts = call(() => this.#h.sealPrepare(typeof p === "string", data.byteLength, opts.recordId, opts.context)) as typeof parts;
      const key = await importBodyKey(subtle, parts.key, "encrypt");
      padded = new Uint8Array(1 + data.byteLength + parts.padding.byteLength);
      padded[0] = parts.contentType;
      padded.set(data, 1);
      padded.set(parts.padding, 1 + data.byteLength);
      ct = new Uint8Array(await subtle.encrypt({ name: "AES-GCM", iv: parts.iv as BufferSource, additionalData: parts.aad as BufferSource }, key, padded as BufferSource));
    } finally {
      padded?.fill(0);
      if (data !== p) data.fill(0);
    }
    const out = new Uint8Array(parts.prefix.length + ct.length);
    out.set(parts.prefix);
    out.set(ct, parts.prefix.length);
    return opts.form === "bytes" ? out : wasm.toText(out);
  }

  /**
   * Opens a record like `open`; large records are decrypted by WebCrypto (see
   * `sealAsync`); a record given as bytes is not copied into wasm (the text
   * form is decoded there first).
   */
  async openAsync(sealed: string | Uint8Array, opts: SealOptions & { webCryptoFrom?: number }): Promise<RecordValue> {
    obj(opts, "options must be { recordId, context? }");
    const size = typeof sealed === "string" ? (sealed.length * 3) / 4 : isBytes(sealed) ? sealed.byteLength : 0;
    const subtle = globalThis.crypto?.subtle;
    if (!subtle || size < (opts.webCryptoFrom ?? LARGE_RECORD) || !(typeof sealed === "string" || isBytes(sealed))) return this.open(sealed, opts);
    // Only the envelope's first bytes enter wasm; the body goes from the
    // caller's buffer to WebCrypto, and the plaintext back, without copies.
    const bytes = typeof sealed === "string" ? withUtf8([sealed], false, ([text]) => call(() => wasm.fromText(text!)) as Uint8Array) : sealed;
    const parts = call(() => this.#h.openPrepare(bytes, opts.recordId, opts.context)) as { key: Uint8Array; iv: Uint8Array; aad: Uint8Array; bodyStart: number };
    const key = await importBodyKey(subtle, parts.key, "decrypt");
    let padded: Uint8Array;
    try {
      padded = new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv: parts.iv as BufferSource, additionalData: parts.aad as BufferSource }, key, bytes.subarray(parts.bodyStart) as BufferSource));
    } catch (e) {
      // WebCrypto reports a tag mismatch as OperationError; anything else
      // (a detached or shared buffer, say) is not the record's fault.
      if ((e as DOMException)?.name !== "OperationError") throw new MedsealError(ErrorCode.InvalidArgument, `could not decrypt: ${String((e as Error)?.message ?? e)}`);
      throw new MedsealError(ErrorCode.DecryptionFailed, "decryption failed: the record was altered, belongs to another vault, or was opened with another record id or context");
    }
    try {
      const r = call(() => wasm.openFinish(padded)) as { json: boolean; length: number };
      const plain = padded.subarray(1, 1 + r.length);
      // A fresh array, as `open` returns: not a view whose buffer also holds
      // the content-type byte and the padding.
      return r.json ? jsonOf(plain) : plain.slice();
    } finally {
      padded.fill(0);
    }
  }

  /** Seals many records in one call into wasm. Throws on the first invalid item (the error has `index`). */
  sealMany(items: SealItem[], opts: { form?: "text" | "bytes" } = {}): Array<string | Uint8Array> {
    if (!Array.isArray(items)) throw new MedsealError(ErrorCode.InvalidArgument, "items must be an array of { record, recordId, context? }");
    // Each item read once, here: what wasm sees is what was encoded.
    const read = items.map((it, i) => {
      obj(it, `item ${i} must be { record, recordId, context? }`);
      return { record: payload(it.record), recordId: it.recordId, context: it.context };
    });
    const texts: string[] = [];
    for (const it of read) if (typeof it.record === "string") texts.push(it.record);
    return withUtf8(texts, true, (encoded) => {
      let t = 0;
      const prepared = read.map((it) => (typeof it.record === "string" ? { ...it, record: encoded[t++], json: true } : it));
      return Array.from(call(() => this.#h.sealMany(prepared, opts?.form !== "bytes")) as unknown as Array<string | Uint8Array>);
    });
  }

  /** Opens many records in one call into wasm. Throws the first item's error (with `index`) if any fails. */
  openMany(items: OpenItem[]): RecordValue[] {
    return this.openManySettled(items).map((o, index) => {
      if (!o.ok) throw Object.assign(o.error, { index });
      return o.value;
    });
  }

  /** Opens many records in one call; one outcome per item, so one bad record does not hide the others. */
  openManySettled(items: OpenItem[]): OpenOutcome[] {
    if (!Array.isArray(items)) throw new MedsealError(ErrorCode.InvalidArgument, "items must be an array of { sealed, recordId, context? }");
    // Each item read once, here: what wasm sees is what was encoded.
    const read = items.map((it) => (it !== null && typeof it === "object" ? { sealed: it.sealed, recordId: it.recordId, context: it.context } : it));
    const texts: string[] = [];
    for (const it of read) if (typeof it?.sealed === "string") texts.push(it.sealed);
    const out = withUtf8(texts, false, (encoded) => {
      let t = 0;
      const prepared = read.map((it) => (typeof it?.sealed === "string" ? { ...it, sealed: encoded[t++], text: true } : it));
      return call(() => this.#h.openMany(prepared)) as unknown as unknown[];
    });
    return Array.from(out, (o): OpenOutcome => (o instanceof Error ? { ok: false, error: fromWasm(o) } : { ok: true, value: value(o) }));
  }

  // ------------------------------------------------------------ unlock methods

  /** The current signed manifest. */
  get manifest(): Manifest {
    return call(() => this.#h.manifest()) as Manifest;
  }

  /** The vault id (base64url). */
  get vaultId(): string {
    return call(() => this.#h.vaultId());
  }

  /** Adds a passkey the app created with `Vault.prfCreateExtension()` merged in; returns the new manifest. */
  async addPasskeyWithCredential(credential: PublicKeyCredential, prfSalt: Uint8Array, opts: { label?: string; timeout?: number; rpId?: string } = {}): Promise<Manifest> {
    const { credentialId, prfOutput } = await prfOfCreated(credential, prfSalt, opts);
    try {
      return this.addPasskeyFromPrf({ credentialId, prfSalt, prfOutput, label: opts.label });
    } finally {
      prfOutput.fill(0);
    }
  }

  /** Adds a passkey from PRF data the application obtained; returns the new manifest. */
  addPasskeyFromPrf(p: PrfCredential): Manifest {
    obj(p, "expected { credentialId, prfSalt, prfOutput, label? }");
    return call(() => this.#h.addPasskey(toBytes(p.credentialId, "credentialId"), toBytes(p.prfSalt, "prfSalt"), toBytes(p.prfOutput, "prfOutput"), p.label)) as Manifest;
  }

  /** Removes an unlock entry by id; refuses the last passkey and the recovery entry (`LastUnlockMethod`). */
  removeUnlock(entryId: string): Manifest {
    return call(() => this.#h.removeUnlock(entryId)) as Manifest;
  }

  /** Replaces the recovery code; show the new one once. The old code no longer opens the new manifest. */
  rotateRecoveryCode(): { manifest: Manifest; recoveryCode: string } {
    const manifest = call(() => this.#h.rotateRecoveryCode()) as Manifest;
    return { manifest, recoveryCode: this.#h.takeRecoveryCode() as string };
  }

  /** Adopts a newer manifest of this vault written by another device (checked: same vault, signed, not older). */
  updateManifest(manifest: Manifest | string): void {
    call(() => this.#h.updateManifest(manifest));
  }

  /**
   * Proves to a server that this client holds the vault (e.g. signing in with
   * the recovery code when every passkey is lost): a P-256 signature over the
   * server's challenge and origin, verifiable with the manifest's
   * `identityKey.publicKey` (see docs/FORMAT.md "Login proof").
   */
  signLoginProof(challenge: Uint8Array, audience: string): Uint8Array {
    return call(() => this.#h.signLoginProof(toBytes(challenge, "challenge"), audience));
  }

  /**
   * Seals this vault to a `VaultReceiver`'s public key (in a service worker,
   * a worker, another realm): the message opens only in that receiver, once,
   * so it may cross any channel. No key bytes ever leave wasm unencrypted.
   */
  handOff(receiverPublicKey: Uint8Array): Uint8Array {
    return call(() => this.#h.handOff(toBytes(receiverPublicKey, "receiverPublicKey")));
  }

  /**
   * Hands this vault to a remote host (a vault worker or an extension's
   * service worker): see `RemoteVault`. This is a copy, not a move: lock the
   * copy that should stop, and let one copy change the manifest.
   */
  async handOffTo(remote: { receiverKey(): Promise<Uint8Array>; acceptHandoff(message: Uint8Array, receiverKey: Uint8Array): Promise<unknown> }): Promise<void> {
    const key = await remote.receiverKey();
    await remote.acceptHandoff(this.handOff(key), key);
  }

  /** Wipes this vault's keys. Every later call throws `ErrorCode.Locked`. */
  lock(): void {
    this.#h.lock();
  }

  /** Whether `lock()` was called. */
  get locked(): boolean {
    return this.#h.isLocked;
  }

  /** Nothing secret to serialize: a vault serializes to its public id only. */
  toJSON(): { vaultId: string | null } {
    return { vaultId: this.locked ? null : this.vaultId };
  }
}

/**
 * The receiving end of a vault hand-off (see `Vault.handOff`): a one-time
 * P-256 key pair whose private key never leaves this realm's wasm instance.
 */
export class VaultReceiver {
  #r: wasm.HandoffReceiver;
  #used = false;

  constructor() {
    ensureInit();
    this.#r = call(() => new wasm.HandoffReceiver());
  }

  /** The public key to send to the vault's holder (33 bytes). */
  get publicKey(): Uint8Array {
    this.#usable();
    return this.#r.publicKey!;
  }

  /**
   * Opens a hand-off message, once (the receiver is used up even on failure).
   * `expect`: the manifest of the vault this receiver belongs to: another
   * vault (another vault id or identity key) is refused with `WrongVault`.
   * `minRevision` refuses an older manifest (`StaleManifest`).
   */
  accept(message: Uint8Array, opts: { expect?: Manifest | string; minRevision?: number } = {}): Vault {
    this.#usable();
    try {
      return wrapHandle(call(() => this.#r.accept(toBytes(message, "message"), opts?.expect, opts?.minRevision)));
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
    if (this.#used) throw new MedsealError(ErrorCode.InvalidArgument, "this VaultReceiver was already used: make a new one per hand-off");
  }
}
