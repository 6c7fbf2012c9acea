/**
 * medseal: client-side encryption of health records with keys from passkeys.
 *
 * This file does no cryptography: every key operation happens inside the
 * WebAssembly module, which holds the keys. JavaScript only sees opaque
 * handles, sealed records and (once) a recovery code to show the user.
 */
import initWasm, * as wasm from "./wasm/medseal_wasm.js";
import type { InitInput as WasmInitInput } from "./wasm/medseal_wasm.js";
import { ErrorCode, MedsealError, call } from "./errors.js";

export { ErrorCode, MedsealError } from "./errors.js";

let ready: Promise<void> | null = null;
let initialized = false;

/** What `init()` accepts: nothing (load the module next to this file), bytes, a URL, a Response or a compiled module. */
export type InitInput = BufferSource | URL | string | Response | WebAssembly.Module;

/**
 * Loads the WebAssembly module. Call once before anything else; later calls
 * return the same promise. With no argument the module is loaded from the
 * package itself (fetch in browsers and extensions, the file system in Node).
 */
export function init(input?: InitInput): Promise<void> {
  if (!ready) {
    ready = (async () => {
      let source: unknown = input;
      if (source === undefined) {
        const url = new URL("./wasm/medseal_wasm_bg.wasm", import.meta.url);
        if (url.protocol === "file:") {
          // Node: fetch() cannot read file URLs. The specifier is a variable so bundlers leave it alone.
          const fsName = "node:fs/promises";
          const fs = (await import(/* @vite-ignore */ /* webpackIgnore: true */ fsName)) as { readFile(u: URL): Promise<Uint8Array> };
          source = await fs.readFile(url);
        } else {
          source = url;
        }
      }
      await initWasm({ module_or_path: source as WasmInitInput });
      initialized = true;
    })().catch((e) => {
      ready = null;
      throw new MedsealError(ErrorCode.NotInitialized, `could not load medseal's WebAssembly module: ${String((e as Error)?.message ?? e)}`);
    });
  }
  return ready;
}

function ensureInit(): void {
  if (!initialized) throw new MedsealError(ErrorCode.NotInitialized, "call `await init()` before using medseal");
}

/** A vault manifest: public, signed, stored by the server, passed back to unlock. */
export type Manifest = {
  medseal: "vault-manifest";
  version: number;
  vaultId: string;
  revision: number;
  identityKey: { publicKey: string; wrappedPrivateKey: string };
  unlock: Array<
    | { type: "passkey"; id: string; credentialId: string; prfSalt: string; wrappedVaultKey: string; label?: string }
    | { type: "recovery"; id: string; wrappedVaultKey: string }
  >;
  signature: string;
};

/** What a record is bound to: opening with another recordId or context fails. */
export type SealOptions = { recordId: string; context?: string | Uint8Array };

/** A record: any JSON value, or bytes. */
export type RecordValue = unknown;

/** PRF data from a passkey ceremony run by the application. */
export type PrfCredential = { credentialId: Uint8Array; prfSalt: Uint8Array; prfOutput: Uint8Array; label?: string };

function manifestText(m: Manifest | string): string {
  if (typeof m === "string") return m;
  if (m === null || typeof m !== "object") throw new MedsealError(ErrorCode.InvalidArgument, "manifest must be a vault manifest object or its JSON text");
  return JSON.stringify(m);
}

function options(o: SealOptions): SealOptions {
  if (o === null || typeof o !== "object") throw new MedsealError(ErrorCode.InvalidArgument, "options must be { recordId, context? }");
  return o;
}

function payload(record: RecordValue): string | Uint8Array {
  if (record instanceof Uint8Array) return record;
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

/** Decodes unpadded base64url (credential ids, PRF inputs). */
function fromB64u(s: string): Uint8Array {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Copies an ArrayBuffer/view into a Uint8Array the wasm layer accepts. */
export function toBytes(v: unknown, what: string): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  throw new MedsealError(ErrorCode.InvalidArgument, `${what} must be a Uint8Array or ArrayBuffer`);
}

/**
 * An unlocked vault. Keys stay inside the WebAssembly instance; `lock()`
 * wipes them.
 */
export class Vault {
  #h: wasm.VaultHandle;

  private constructor(h: wasm.VaultHandle) {
    this.#h = h;
  }

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
   * Creates a vault from a PRF output the application obtained itself (no
   * browser needed: Node, tests, native shells). `prfOutput` must be the PRF
   * result for `Vault.prfInput(prfSalt)`.
   */
  static createFromPrf(p: PrfCredential): { vault: Vault; manifest: Manifest; recoveryCode: string } {
    ensureInit();
    if (p === null || typeof p !== "object") throw new MedsealError(ErrorCode.InvalidArgument, "expected { credentialId, prfSalt, prfOutput }");
    const h = call(() =>
      wasm.VaultHandle.createFromPrf(toBytes(p.credentialId, "credentialId"), toBytes(p.prfSalt, "prfSalt"), toBytes(p.prfOutput, "prfOutput"), p.label),
    );
    const vault = new Vault(h);
    const recoveryCode = h.takeRecoveryCode() as string;
    return { vault, manifest: vault.manifest, recoveryCode };
  }

  /**
   * The `extensions` to merge into a WebAuthn `get()` request (for apps that
   * run the ceremony themselves, e.g. a login through their server): a PRF
   * evaluation for each passkey of the manifest, each with its own salt.
   * Pass `allowCredentials` along too, so the browser only offers passkeys
   * that can unlock this vault.
   */
  static prfExtension(manifest: Manifest | string): {
    extensions: { prf: { evalByCredential: Record<string, { first: Uint8Array }> } };
    allowCredentials: Array<{ type: "public-key"; id: Uint8Array }>;
  } {
    ensureInit();
    const text = manifestText(manifest);
    const reqs = call(() => wasm.passkeyRequests(text)) as Array<{ credentialId: string; prfInput: string }>;
    const evalByCredential: Record<string, { first: Uint8Array }> = {};
    for (const r of reqs) evalByCredential[r.credentialId] = { first: fromB64u(r.prfInput) };
    return {
      extensions: { prf: { evalByCredential } },
      allowCredentials: reqs.map((r) => ({ type: "public-key" as const, id: fromB64u(r.credentialId) })),
    };
  }

  /**
   * Unlocks with the result of a WebAuthn `get()` that carried
   * `Vault.prfExtension(manifest)`. Reads the PRF result from the credential;
   * send the credential to a server only through `Vault.withoutPrf`.
   */
  static unlockWithAssertion(manifest: Manifest | string, credential: PublicKeyCredential, opts: { minRevision?: number } = {}): Vault {
    ensureInit();
    if (!credential || typeof (credential as PublicKeyCredential).getClientExtensionResults !== "function") {
      throw new MedsealError(ErrorCode.InvalidArgument, "credential must be the PublicKeyCredential returned by navigator.credentials.get()");
    }
    const prf = (credential.getClientExtensionResults() as { prf?: { results?: { first?: BufferSource } } }).prf;
    const first = prf?.results?.first;
    if (!first) {
      throw new MedsealError(
        ErrorCode.PrfNotReturned,
        "the passkey returned no PRF result: it may be a passkey without PRF support (pick one registered for this vault), or the authenticator does not support PRF",
      );
    }
    return Vault.unlockFromPrf(manifest, { credentialId: new Uint8Array(credential.rawId), prfOutput: toBytes(first, "prf result") }, opts);
  }

  /** Unlocks with a PRF output for one of the manifest's passkeys. */
  static unlockFromPrf(manifest: Manifest | string, p: { credentialId: Uint8Array; prfOutput: Uint8Array }, opts: { minRevision?: number } = {}): Vault {
    ensureInit();
    if (p === null || typeof p !== "object") throw new MedsealError(ErrorCode.InvalidArgument, "expected { credentialId, prfOutput }");
    const text = manifestText(manifest);
    return new Vault(
      call(() => wasm.VaultHandle.unlockFromPrf(text, toBytes(p.credentialId, "credentialId"), toBytes(p.prfOutput, "prfOutput"), opts?.minRevision)),
    );
  }

  /** Unlocks with the recovery code (any case; spaces and dashes ignored). */
  static unlockWithRecoveryCode(manifest: Manifest | string, code: string, opts: { minRevision?: number } = {}): Vault {
    ensureInit();
    const text = manifestText(manifest);
    return new Vault(call(() => wasm.VaultHandle.unlockWithRecoveryCode(text, code, opts?.minRevision)));
  }

  /** The current signed manifest: store it (server side) after every change. */
  get manifest(): Manifest {
    return JSON.parse(call(() => this.#h.manifestJson())) as Manifest;
  }

  /** The vault id (base64url). */
  get vaultId(): string {
    return call(() => this.#h.vaultId());
  }

  /** Seals a record (a JSON value or bytes) to the text form `ms1.…`. */
  seal(record: RecordValue, opts: SealOptions): string {
    const o = options(opts);
    const p = payload(record);
    return call(() => this.#h.seal(p, o.recordId, o.context, true)) as string;
  }

  /** Seals a record to the bytes form. */
  sealBytes(record: RecordValue, opts: SealOptions): Uint8Array {
    const o = options(opts);
    const p = payload(record);
    return call(() => this.#h.seal(p, o.recordId, o.context, false)) as Uint8Array;
  }

  /** Opens a sealed record (text or bytes form); returns the JSON value or bytes that were sealed. */
  open(sealed: string | Uint8Array, opts: SealOptions): RecordValue {
    const o = options(opts);
    const out = call(() => this.#h.open(sealed, o.recordId, o.context));
    return typeof out === "string" ? JSON.parse(out) : out;
  }

  /** Adds a passkey from PRF data the application obtained; returns the new manifest. */
  addPasskeyFromPrf(p: PrfCredential): Manifest {
    if (p === null || typeof p !== "object") throw new MedsealError(ErrorCode.InvalidArgument, "expected { credentialId, prfSalt, prfOutput }");
    return JSON.parse(
      call(() => this.#h.addPasskey(toBytes(p.credentialId, "credentialId"), toBytes(p.prfSalt, "prfSalt"), toBytes(p.prfOutput, "prfOutput"), p.label)),
    ) as Manifest;
  }

  /** Removes an unlock entry by id; refuses the last passkey and the recovery entry. */
  removeUnlock(entryId: string): Manifest {
    return JSON.parse(call(() => this.#h.removeUnlock(entryId))) as Manifest;
  }

  /** Replaces the recovery code; show the new one once. */
  rotateRecoveryCode(): { manifest: Manifest; recoveryCode: string } {
    const m = JSON.parse(call(() => this.#h.rotateRecoveryCode())) as Manifest;
    return { manifest: m, recoveryCode: this.#h.takeRecoveryCode() as string };
  }

  /** Adopts a newer manifest of this vault written by another device. */
  updateManifest(manifest: Manifest | string): void {
    const text = manifestText(manifest);
    call(() => this.#h.updateManifest(text));
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
