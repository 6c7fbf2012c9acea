/**
 * WebAuthn ceremonies with the PRF extension, and the reading of credentials
 * an application got from its own ceremony (a live `PublicKeyCredential`,
 * or its JSON form from `toJSON()` or SimpleWebAuthn). This is the only file
 * that talks to `navigator.credentials`; it does no cryptography: salts, PRF
 * inputs and challenges come from the wasm module, and PRF outputs go
 * straight back into it and are wiped here after use.
 */
import { ErrorCode, MedsealError } from "./errors.js";

/** TypeScript's DOM types want ArrayBuffer-backed views; ours always are. */
const bs = (u: Uint8Array): BufferSource => u as BufferSource;

/** What `prfSupport()` reports before any prompt is shown. */
export type PrfSupport = {
  /** WebAuthn is available (secure context, `PublicKeyCredential` present). */
  webauthn: boolean;
  /** A platform authenticator (Touch ID, Windows Hello, Android) is available. */
  platformAuthenticator: boolean;
  /**
   * Whether the browser says it can evaluate PRF: `true`/`false` from
   * `PublicKeyCredential.getClientCapabilities()` where the browser has it,
   * else `"unknown"` (the only sure test is a ceremony).
   */
  prf: boolean | "unknown";
};

/** Asks the browser what it can do, without prompting the user. */
export async function prfSupport(): Promise<PrfSupport> {
  const PKC = (globalThis as { PublicKeyCredential?: typeof PublicKeyCredential }).PublicKeyCredential;
  if (!PKC || !(globalThis as { isSecureContext?: boolean }).isSecureContext || !globalThis.navigator?.credentials) {
    return { webauthn: false, platformAuthenticator: false, prf: false };
  }
  let platformAuthenticator: boolean;
  try {
    platformAuthenticator = await PKC.isUserVerifyingPlatformAuthenticatorAvailable();
  } catch {
    platformAuthenticator = false;
  }
  let prf: boolean | "unknown" = "unknown";
  const getCaps = (PKC as unknown as { getClientCapabilities?: () => Promise<Record<string, boolean>> }).getClientCapabilities;
  if (typeof getCaps === "function") {
    try {
      const caps = await getCaps.call(PKC);
      if (typeof caps["extension:prf"] === "boolean") prf = caps["extension:prf"];
    } catch {
      prf = "unknown";
    }
  }
  return { webauthn: true, platformAuthenticator, prf };
}

type PrfResults = { enabled?: boolean; results?: { first?: BufferSource } };

function prfOf(cred: PublicKeyCredential): PrfResults | undefined {
  return (cred.getClientExtensionResults() as { prf?: PrfResults }).prf;
}

/** Copies a PRF result out of the credential and wipes the browser's buffer. */
export function takePrfFirst(cred: PublicKeyCredential): Uint8Array | undefined {
  return prfValue(prfOf(cred)?.results?.first);
}

/** An ArrayBuffer or any view of one as a Uint8Array over the same bytes (no copy); `undefined` for anything else. */
export function byteView(v: unknown): Uint8Array | undefined {
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (!ArrayBuffer.isView(v)) return undefined;
  return v instanceof Uint8Array ? v : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function ceremonyError(e: unknown): MedsealError {
  if (e instanceof MedsealError) return e;
  const name = (e as { name?: string })?.name;
  const msg = String((e as { message?: string })?.message ?? e);
  if (name === "NotAllowedError" || name === "AbortError") {
    return new MedsealError(ErrorCode.Cancelled, `the passkey prompt was cancelled, timed out, or no matching passkey was chosen (${name})`, { cause: e });
  }
  if (name === "InvalidStateError") {
    return new MedsealError(ErrorCode.InvalidArgument, "this authenticator already holds a passkey for this vault", { cause: e });
  }
  if (name === "NotSupportedError" || name === "SecurityError") {
    // A SecurityError is also an RP id this origin may not use (Firefox refuses an extension's own origin as the RP).
    const why = name === "SecurityError" ? "a secure context (https or localhost), WebAuthn, and an RP id this origin may use (its own domain, or a site an extension has host permission for)" : "a secure context (https or localhost) and WebAuthn";
    return new MedsealError(ErrorCode.PrfUnsupported, `passkeys are not available here (${name}: ${msg}); medseal needs ${why}`, { cause: e });
  }
  return new MedsealError(ErrorCode.InvalidArgument, `the passkey ceremony failed: ${name ?? "Error"}: ${msg}`, { cause: e });
}

function credentials(): CredentialsContainer {
  const c = globalThis.navigator?.credentials;
  if (!c || typeof PublicKeyCredential === "undefined") {
    throw new MedsealError(ErrorCode.PrfUnsupported, "WebAuthn is not available in this context (a page in a secure context is needed; workers and Node have no passkeys: use a { prf } key source there)");
  }
  return c;
}

/** Options of the passkey prompt medseal runs at unlock. `rpId`: when the passkeys were created for a parent domain, or a site's domain claimed by an extension. */
export type CeremonyOptions = { timeout?: number; mediation?: CredentialMediationRequirement; signal?: AbortSignal; rpId?: string };

/** Relying party and user for a new passkey. `user.id` should be a random, opaque id (not an e-mail). */
export type CreateOptions = {
  rp: { id?: string; name: string };
  user: { id: Uint8Array | string; name: string; displayName: string };
  /** A name for the passkey, kept in the manifest and shown when asking which passkey to use. */
  label?: string;
  /** Milliseconds the browser may wait for the user. */
  timeout?: number;
  /** Passkeys the authenticator must not create again (base64url-free raw ids). */
  exclude?: Uint8Array[];
};

/**
 * Registers a new passkey and evaluates its PRF on `first`. If the
 * authenticator returns no PRF result at create (many do not: results at
 * create need CTAP 2.2), asks once more with `get()`.
 */
export async function createWithPrf(o: CreateOptions, first: Uint8Array, challenge: () => Uint8Array): Promise<{ credentialId: Uint8Array; prfOutput: Uint8Array }> {
  if (!o || typeof o !== "object" || !o.rp || !o.user) throw new MedsealError(ErrorCode.InvalidArgument, "expected { rp: { name, id? }, user: { id, name, displayName } }");
  const userId = typeof o.user.id === "string" ? new TextEncoder().encode(o.user.id) : o.user.id;
  if (!(userId instanceof Uint8Array) || userId.length === 0 || userId.length > 64) {
    throw new MedsealError(ErrorCode.InvalidArgument, "user.id must be 1 to 64 bytes (a random opaque id, not personal data)");
  }
  const c = credentials();
  let cred: PublicKeyCredential | null;
  try {
    cred = (await c.create({
      publicKey: {
        rp: o.rp,
        user: { id: bs(userId), name: o.user.name, displayName: o.user.displayName },
        challenge: bs(challenge()),
        pubKeyCredParams: [
          { type: "public-key", alg: -7 },
          { type: "public-key", alg: -8 },
          { type: "public-key", alg: -257 },
        ],
        authenticatorSelection: { residentKey: "required", requireResidentKey: true, userVerification: "required" },
        excludeCredentials: (o.exclude ?? []).map((id) => ({ type: "public-key" as const, id: bs(id) })),
        timeout: o.timeout,
        extensions: { prf: { eval: { first } } } as AuthenticationExtensionsClientInputs,
      },
    })) as PublicKeyCredential | null;
  } catch (e) {
    throw ceremonyError(e);
  }
  if (!cred) throw new MedsealError(ErrorCode.Cancelled, "no passkey was created");
  return prfFromCreated(cred, first, o.timeout, challenge, o.rp.id);
}

/**
 * The PRF output of a freshly created passkey (live or JSON): from the
 * create() result if the authenticator gave one, else from one follow-up
 * `get()` (results at create need CTAP 2.2; many authenticators only
 * evaluate PRF at get).
 */
export async function prfFromCreated(
  cred: CredentialLike,
  first: Uint8Array,
  timeout: number | undefined,
  challenge: () => Uint8Array,
  rpId?: string,
): Promise<{ credentialId: Uint8Array; prfOutput: Uint8Array }> {
  const read = readCredential(cred);
  if (read.enabled === false) {
    throw new MedsealError(
      ErrorCode.PrfUnsupported,
      "this authenticator created a passkey but cannot derive keys from it (no WebAuthn PRF / hmac-secret). Use a passkey provider with PRF: Google Password Manager, iCloud Keychain (iOS/macOS 18+), Windows Hello on recent builds, or a security key with hmac-secret. The passkey just created can be deleted.",
    );
  }
  const credentialId = read.credentialId;
  let prfOutput = read.prfOutput;
  if (!prfOutput) {
    try {
      prfOutput = (await getWithPrf([{ credentialId, first }], timeout, challenge, { rpId })).prfOutput;
    } catch (e) {
      if (e instanceof MedsealError && e.code === ErrorCode.PrfNotReturned) {
        throw new MedsealError(ErrorCode.PrfUnsupported, "this authenticator returns no PRF result, so it cannot unlock a vault; use a passkey provider with PRF support", { cause: e });
      }
      throw e;
    }
  }
  return { credentialId, prfOutput };
}

/** Runs `get()` with a PRF evaluation for each listed passkey (each with its own input). */
export async function getWithPrf(
  passkeys: Array<{ credentialId: Uint8Array; first: Uint8Array; label?: string }>,
  timeout: number | undefined,
  challenge: () => Uint8Array,
  extra?: { mediation?: CredentialMediationRequirement; signal?: AbortSignal; rpId?: string },
): Promise<{ credentialId: Uint8Array; prfOutput: Uint8Array; credential: PublicKeyCredential }> {
  const c = credentials();
  const evalByCredential: Record<string, { first: Uint8Array }> = {};
  for (const p of passkeys) evalByCredential[b64u(p.credentialId)] = { first: p.first };
  let cred: PublicKeyCredential | null;
  try {
    cred = (await c.get({
      mediation: extra?.mediation,
      signal: extra?.signal,
      publicKey: {
        challenge: bs(challenge()),
        rpId: extra?.rpId,
        allowCredentials: passkeys.map((p) => ({ type: "public-key" as const, id: bs(p.credentialId) })),
        userVerification: "required",
        timeout,
        extensions: { prf: { evalByCredential } } as AuthenticationExtensionsClientInputs,
      },
    })) as PublicKeyCredential | null;
  } catch (e) {
    throw ceremonyError(e);
  }
  if (!cred) throw new MedsealError(ErrorCode.Cancelled, "no passkey was chosen");
  const prfOutput = takePrfFirst(cred);
  if (!prfOutput) {
    const used = new Uint8Array(cred.rawId);
    const label = passkeys.find((p) => b64u(p.credentialId) === b64u(used))?.label;
    const names = passkeys.map((p) => p.label).filter(Boolean);
    throw new MedsealError(
      ErrorCode.PrfNotReturned,
      `the passkey${label ? ` "${label}"` : ""} returned no PRF result, so it cannot unlock this vault. ` +
        (names.length ? `Passkeys registered for this vault: ${names.join(", ")}. ` : "") +
        "Some password managers and platforms do not evaluate PRF; try another passkey of this vault or the recovery code.",
    );
  }
  return { credentialId: new Uint8Array(cred.rawId), prfOutput, credential: cred };
}

/**
 * A credential as an application has it after its own ceremony: the live
 * `PublicKeyCredential`, or its JSON form (`credential.toJSON()`,
 * SimpleWebAuthn's `RegistrationResponseJSON`/`AuthenticationResponseJSON`),
 * whose PRF result may be an ArrayBuffer, a typed array or base64url.
 */
export type CredentialLike =
  | PublicKeyCredential
  | {
      id?: string;
      rawId: string;
      type?: string;
      response?: unknown;
      clientExtensionResults?: { prf?: { enabled?: boolean; results?: { first?: unknown; second?: unknown } } } & Record<string, unknown>;
      [k: string]: unknown;
    };

function isLive(c: unknown): c is PublicKeyCredential {
  return !!c && typeof (c as PublicKeyCredential).getClientExtensionResults === "function" && (c as PublicKeyCredential).rawId instanceof ArrayBuffer;
}

/** A PRF value from a credential: an ArrayBuffer, a view, or base64url text. The source buffer is wiped. */
function prfValue(v: unknown): Uint8Array | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string") return fromB64u(v);
  const view = byteView(v);
  if (view) {
    const copy = new Uint8Array(view);
    view.fill(0);
    return copy;
  }
  throw new MedsealError(ErrorCode.InvalidArgument, "the credential's PRF result must be an ArrayBuffer, a typed array or base64url");
}

/** Reads the credential id and PRF result (if any) of a live or JSON credential. */
export function readCredential(cred: CredentialLike): { credentialId: Uint8Array; prfOutput?: Uint8Array; enabled?: boolean } {
  if (isLive(cred)) {
    const prf = prfOf(cred);
    return { credentialId: new Uint8Array(cred.rawId), prfOutput: takePrfFirst(cred), enabled: prf?.enabled };
  }
  if (!cred || typeof cred !== "object" || typeof (cred as { rawId?: unknown }).rawId !== "string") {
    throw new MedsealError(ErrorCode.InvalidArgument, "credential must be a PublicKeyCredential or its JSON form (toJSON(), SimpleWebAuthn's response) with rawId as base64url");
  }
  const prf = (cred as { clientExtensionResults?: { prf?: { enabled?: unknown; results?: { first?: unknown } } } }).clientExtensionResults?.prf;
  let credentialId: Uint8Array;
  try {
    credentialId = fromB64u(cred.rawId);
  } catch {
    throw new MedsealError(ErrorCode.InvalidArgument, "credential rawId is not base64url");
  }
  return { credentialId, prfOutput: prfValue(prf?.results?.first), enabled: typeof prf?.enabled === "boolean" ? prf.enabled : undefined };
}

/**
 * Whether the authenticator verified the user (PIN, fingerprint, face) in
 * this ceremony: the UV flag (0x04) of the flags byte that follows the
 * 32-byte RP id hash in the authenticator data (WebAuthn §6.1), read from a
 * live credential (assertion or registration) or its JSON form.
 * `undefined` when the credential carries no authenticator data.
 */
export function userVerified(cred: CredentialLike): boolean | undefined {
  try {
    const response = (cred as { response?: unknown })?.response as
      | { authenticatorData?: unknown; getAuthenticatorData?: () => unknown }
      | undefined;
    if (!response || typeof response !== "object") return undefined;
    let data: unknown = response.authenticatorData;
    if (data === undefined && typeof response.getAuthenticatorData === "function") data = response.getAuthenticatorData();
    const bytes = typeof data === "string" ? fromB64u(data) : byteView(data);
    const flags = bytes?.[32];
    return flags === undefined ? undefined : (flags & 0x04) !== 0;
  } catch {
    // Authenticator data that cannot be read says nothing either way.
    return undefined;
  }
}

/** Fields of a credential's JSON (WebAuthn L3 `toJSON()`, SimpleWebAuthn, webauthn-rs) that hold nothing secret. */
const SAFE_TOP = ["id", "rawId", "type", "authenticatorAttachment"] as const;
const SAFE_RESPONSE = ["clientDataJSON", "authenticatorData", "signature", "userHandle", "attestationObject", "publicKey", "publicKeyAlgorithm", "transports"] as const;

/** A field's value as JSON text may carry it: strings stay, bytes become base64url, numbers and string lists stay; nothing else passes. */
function safeValue(v: unknown): unknown {
  if (typeof v === "string" || typeof v === "number" || v === null) return v;
  const view = byteView(v);
  if (view) return b64u(view);
  if (Array.isArray(v) && v.every((x) => typeof x === "string")) return [...(v)];
  return undefined;
}

function pick(from: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    if (!(k in from)) continue;
    const v = safeValue(from[k]);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/**
 * What may be sent to a server of a credential from a ceremony that carried
 * the PRF extension: its JSON form with only the fields known to hold
 * nothing secret (an allow list, so an extension output medseal does not
 * know, such as a PRF result under another name, never passes). Server
 * libraries (webauthn-rs, SimpleWebAuthn) pass extension results through
 * untouched, and Chromium's `toJSON()` writes PRF results in base64url, so
 * the client must strip them. Kept of the extension results: `credProps`
 * and `prf.enabled` (booleans).
 */
export function serverSafe(credential: CredentialLike): Record<string, unknown> {
  if (!credential || typeof credential !== "object") throw new MedsealError(ErrorCode.InvalidArgument, "expected a credential or its JSON form");
  // The JSON form where there is one (Chromium's toJSON(), an object with
  // toJSON): it has the response's fields in base64url, transports included.
  const toJSON = (credential as { toJSON?: unknown }).toJSON;
  const json: unknown = typeof toJSON === "function" ? (toJSON as () => unknown).call(credential) : credential;
  if (!json || typeof json !== "object") throw new MedsealError(ErrorCode.InvalidArgument, "expected a credential or its JSON form");
  const live = json === credential && isLive(credential);
  const c = json as Record<string, unknown>;
  const out = pick(c, SAFE_TOP);
  const response = c.response;
  if (response && typeof response === "object") {
    const r = pick(response as Record<string, unknown>, SAFE_RESPONSE);
    // A live credential's transports come from a method, not a field.
    const getTransports = (response as { getTransports?: () => unknown }).getTransports;
    if (live && !("transports" in r) && typeof getTransports === "function") {
      const t = safeValue(getTransports.call(response));
      if (t !== undefined) r.transports = t;
    }
    out.response = r;
  }
  const ext = live ? (credential).getClientExtensionResults() : c.clientExtensionResults;
  const safeExt: Record<string, unknown> = {};
  if (ext && typeof ext === "object") {
    const { credProps, prf } = ext as { credProps?: { rk?: unknown }; prf?: { enabled?: unknown } };
    if (credProps && typeof credProps === "object" && typeof credProps.rk === "boolean") safeExt.credProps = { rk: credProps.rk };
    if (prf && typeof prf === "object" && typeof prf.enabled === "boolean") safeExt.prf = { enabled: prf.enabled };
  }
  out.clientExtensionResults = safeExt;
  return out;
}

/** Unpadded base64url, the form WebAuthn uses for credential ids in JSON and `evalByCredential`. */
export function b64u(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Decodes unpadded base64url. */
export function fromB64u(s: string): Uint8Array {
  if (typeof s !== "string" || !/^[A-Za-z0-9_-]*$/.test(s)) throw new MedsealError(ErrorCode.InvalidArgument, "expected base64url text");
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
