/**
 * A vault held in another realm: a dedicated worker (`VaultWorker`) or an
 * extension's service worker. This side never loads medseal's wasm and never
 * holds a vault or a key: it sends requests, and PRF outputs from passkey
 * ceremonies are transferred (the buffer moves; nothing is left here).
 *
 * Protocol (one message per request, each with its own reply port, so a
 * stopped service worker is woken by the next request):
 *   request  `{ medseal: "medseal/rpc/1", op, args }`, transfer `[replyPort, ...]`
 *   reply    `{ ok: true, value }` or `{ ok: false, error: { code, message, index? } }`
 * Operations and their types: `Ops` in ./types.ts. The host side is ./host.ts.
 */
import { ErrorCode, MedsealError, fromWasm, guardMethods } from "./errors.js";
import type { AccessReport, AccessReportOptions, LogEvent, LogProofItem, LogSync, LogSyncResult, SyncLogOptions } from "./types.js";
import type { EmergencyCard, GrantOptions, LinkOptions, Manifest, NewLink, Op, Ops, OpenItem, OpenOutcome, OpenSharedOptions, RecordBinding, SealItem, Sealed, SealedForm, SealOptions, UnlockOptions, VaultApi, VaultStatus } from "./types.js";
import { type CeremonyOptions, type CreateOptions, type CredentialLike, byteView, createWithPrf, getWithPrf, readCredential, serverSafe } from "./webauthn.js";

export { ErrorCode, MedsealError } from "./errors.js";
export type * from "./types.js";
export type { CreateOptions, CredentialLike } from "./webauthn.js";

/** The protocol tag of requests. */
export const RPC = "medseal/rpc/1";

/** Anything that takes `postMessage(message, transfer)`: a Worker, a ServiceWorker, a MessagePort. */
export type PostTarget = { postMessage(message: unknown, transfer: Transferable[]): void };

/** A copy of bytes (an ArrayBuffer or any view): the copy moves to the host, the caller's buffer stays. */
function copyBytes(v: unknown): Uint8Array {
  const view = byteView(v);
  if (view) return new Uint8Array(view);
  throw new MedsealError(ErrorCode.InvalidArgument, "prfOutput must be a Uint8Array or ArrayBuffer");
}

type Reply = { ok: true; value: unknown } | { ok: false; error: { code?: string; message?: string; index?: number } };

/** Key sources a remote vault accepts: the ceremony runs in this page, the PRF output moves to the host. */
export type RemoteNewKeySource = { passkey: CreateOptions } | { prf: { credentialId: Uint8Array; prfSalt: Uint8Array; prfOutput: Uint8Array; label?: string } };
/** Unlock sources for a remote vault (see `UnlockSource` of the main entry). */
export type RemoteUnlockSource = { passkey: true | CeremonyOptions } | { credential: CredentialLike } | { prf: { credentialId: Uint8Array; prfOutput: Uint8Array } } | { recoveryCode: string };

/**
 * The request side of the protocol: the same calls as `Vault`, answered
 * asynchronously. `target` may be a function, called per request, for
 * hosts that come and go (an extension's service worker).
 */
export class RemoteVault implements VaultApi<"async"> {
  #target: () => PostTarget | Promise<PostTarget>;
  #timeout: number;

  /** @throws {@link MedsealError} `InvalidArgument` */
  constructor(target: PostTarget | (() => PostTarget | Promise<PostTarget>), opts: { timeout?: number } = {}) {
    try {
      if (!target || (typeof target !== "function" && typeof (target).postMessage !== "function")) {
        throw new MedsealError(ErrorCode.InvalidArgument, "target must be a Worker, a MessagePort, a ServiceWorker or a function returning one");
      }
      const timeout = opts?.timeout ?? 30_000;
      if (typeof timeout !== "number" || !(timeout > 0)) throw new MedsealError(ErrorCode.InvalidArgument, "timeout must be a positive number of milliseconds");
      this.#target = typeof target === "function" ? target : () => target;
      this.#timeout = timeout;
    } catch (e) {
      throw fromWasm(e);
    }
  }

  /**
   * Sends one operation; `transfer` lists buffers to move (they are detached
   * here afterwards, and wiped if the move did not happen).
   * @throws {@link MedsealError} the host's error, or `WorkerUnavailable`
   */
  async request<K extends Op>(op: K, args: Ops[K]["args"], transfer: Transferable[] = []): Promise<Ops[K]["result"]> {
    if (typeof op !== "string") throw new MedsealError(ErrorCode.InvalidArgument, "op must be the name of an operation");
    if (!Array.isArray(args) || !Array.isArray(transfer)) throw new MedsealError(ErrorCode.InvalidArgument, "args and transfer must be arrays");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new MedsealError(ErrorCode.WorkerUnavailable, `the vault worker did not answer "${op}" within ${this.#timeout} ms`)), this.#timeout);
    });
    const { port1, port2 } = new MessageChannel();
    try {
      const target = await Promise.race([this.#target(), timeout]);
      try {
        target.postMessage({ medseal: RPC, op, args }, [port2, ...transfer]);
      } catch (e) {
        // A value that cannot be cloned is the caller's; anything else is the channel's.
        if ((e as DOMException)?.name === "DataCloneError") throw new MedsealError(ErrorCode.InvalidArgument, `cannot be sent to the vault worker: ${(e as Error).message}`, { cause: e });
        throw new MedsealError(ErrorCode.WorkerUnavailable, `could not reach the vault worker: ${String((e as Error)?.message ?? e)}`, { cause: e });
      }
      // Replies are delivered asynchronously, so listening after posting misses nothing.
      const reply = new Promise<Reply>((resolve) => {
        port1.onmessage = (e: MessageEvent) => resolve(e.data as Reply);
      });
      const r = await Promise.race([reply, timeout]);
      if (r.ok) return r.value;
      throw fromWasm(r.error);
    } finally {
      clearTimeout(timer);
      port1.close();
      for (const t of transfer) if (t instanceof ArrayBuffer && t.byteLength > 0) new Uint8Array(t).fill(0);
    }
  }

  // ------------------------------------------------------------ opening a vault in the host

  /**
   * Creates a vault in the host. A `{ passkey }` ceremony runs in this page
   * with salts and a challenge from the host.
   * @throws {@link MedsealError} as `Vault.create`, and `WorkerUnavailable`, `WrongVault`
   */
  async create(source: RemoteNewKeySource): Promise<{ manifest: Manifest; recoveryCode: string }> {
    const prf = await this.#newKey(source, "createRequest");
    return this.request("create", [prf], [prf.prfOutput.buffer as ArrayBuffer]);
  }

  /**
   * Unlocks the vault of `manifest` in the host. For a `{ credential }`,
   * `response` is what may be posted to a server.
   * @throws {@link MedsealError} as `Vault.unlock`, and `WorkerUnavailable`, `WrongVault`
   */
  async unlock(manifest: Manifest | string, source: RemoteUnlockSource, opts: UnlockOptions = {}): Promise<{ status: VaultStatus; response?: Record<string, unknown> }> {
    if (!source || typeof source !== "object") throw new MedsealError(ErrorCode.InvalidArgument, "expected a key source");
    // A store holds functions, which cannot cross postMessage: the host keeps its own.
    opts = { minRevision: opts?.minRevision, history: opts?.history };
    if ("recoveryCode" in source) return { status: await this.request("unlockWithRecoveryCode", [manifest, source.recoveryCode, opts]) };
    let prf: { credentialId: Uint8Array; prfOutput: Uint8Array };
    let response: Record<string, unknown> | undefined;
    if ("passkey" in source) {
      const o = source.passkey === true ? {} : source.passkey;
      if (!o || typeof o !== "object") throw new MedsealError(ErrorCode.InvalidArgument, "passkey must be true or { timeout?, mediation?, signal?, rpId? }");
      const req = await this.request("unlockRequest", [manifest]);
      const r = await getWithPrf(req.passkeys, o.timeout, () => req.challenge, { mediation: o.mediation, signal: o.signal, rpId: o.rpId });
      prf = { credentialId: r.credentialId, prfOutput: r.prfOutput };
    } else if ("credential" in source) {
      response = serverSafe(source.credential); // before the PRF output is read out of it
      const r = readCredential(source.credential);
      if (!r.prfOutput) throw new MedsealError(ErrorCode.PrfNotReturned, "the passkey returned no PRF result: merge webauthn.requestExtension(manifest) into the get() options");
      prf = { credentialId: r.credentialId, prfOutput: r.prfOutput };
    } else if ("prf" in source && source.prf && typeof source.prf === "object") {
      // The caller's buffer moves to the host: a copy, so the caller's own is not detached.
      prf = { credentialId: source.prf.credentialId, prfOutput: copyBytes(source.prf.prfOutput) };
    } else {
      throw new MedsealError(ErrorCode.InvalidArgument, "expected a key source: { passkey }, { credential }, { prf } or { recoveryCode }");
    }
    const status = await this.request("unlockWithPrf", [manifest, prf, opts], [prf.prfOutput.buffer as ArrayBuffer]);
    return response ? { status, response } : { status };
  }

  /** Registers another passkey for the host's vault; returns the new manifest. @throws {@link MedsealError} as `Vault.addPasskey` */
  async addPasskey(source: RemoteNewKeySource): Promise<{ manifest: Manifest }> {
    const prf = await this.#newKey(source, "addPasskeyRequest");
    return { manifest: await this.request("addPasskey", [prf], [prf.prfOutput.buffer as ArrayBuffer]) };
  }

  async #newKey(source: RemoteNewKeySource, op: "createRequest" | "addPasskeyRequest"): Promise<{ credentialId: Uint8Array; prfSalt: Uint8Array; prfOutput: Uint8Array; label?: string }> {
    if (!source || typeof source !== "object") throw new MedsealError(ErrorCode.InvalidArgument, "expected a key source: { passkey } or { prf }");
    if ("prf" in source && source.prf && typeof source.prf === "object") return { ...source.prf, prfOutput: copyBytes(source.prf.prfOutput) };
    const o = "passkey" in source ? source.passkey : undefined;
    if (!o || typeof o !== "object") throw new MedsealError(ErrorCode.InvalidArgument, "expected a key source: { passkey: { rp, user } } or { prf }");
    if (o.exclude !== undefined && !Array.isArray(o.exclude)) throw new MedsealError(ErrorCode.InvalidArgument, "exclude must be an array of credential ids");
    const req = await this.request(op, []);
    const exclude = "exclude" in req ? req.exclude : [];
    const { credentialId, prfOutput } = await createWithPrf({ ...o, exclude: [...(o.exclude ?? []), ...exclude] }, req.first, () => req.challenge);
    return { credentialId, prfSalt: req.prfSalt, prfOutput, label: o.label };
  }

  // ------------------------------------------------------------ hand-off

  /** A fresh one-time receiver key in the host (for `vault.handOff(remote)`). @throws {@link MedsealError} `WorkerUnavailable`, `RandomUnavailable` */
  receiverKey(): Promise<Uint8Array> {
    return this.request("receiverKey", []);
  }

  /** Gives the host a vault sealed to one of its receiver keys. @throws {@link MedsealError} `DecryptionFailed`, `WrongVault`, `StaleManifest`, `InvalidArgument`, `WorkerUnavailable` */
  acceptHandoff(message: Uint8Array, receiverKey: Uint8Array): Promise<VaultStatus> {
    return this.request("acceptHandoff", [message, receiverKey]);
  }

  /** Whether the host holds an unlocked vault, and which. @throws {@link MedsealError} `WorkerUnavailable` */
  status(): Promise<VaultStatus> {
    return this.request("status", []);
  }

  // ------------------------------------------------------------ the vault's calls, as in `Vault`
  // Documented on `VaultApi`; each also throws `WorkerUnavailable` when the
  // host does not answer, and `Locked` when it holds no unlocked vault.

  seal<F extends SealedForm = "text">(record: unknown, opts: SealOptions<F>): Promise<Sealed<F>> {
    return this.request("seal", [record, opts]) as Promise<Sealed<F>>;
  }

  open<T = unknown>(sealed: string | Uint8Array, opts: RecordBinding): Promise<T> {
    return this.request("open", [sealed, opts]) as Promise<T>;
  }

  sealMany<F extends SealedForm = "text">(items: SealItem[], opts: { form?: F } = {}): Promise<Array<Sealed<F>>> {
    return this.request("sealMany", [items, opts]) as Promise<Array<Sealed<F>>>;
  }

  async openMany<T = unknown>(items: OpenItem[]): Promise<Array<OpenOutcome<T>>> {
    const out = await this.request("openMany", [items]);
    return out.map((o) => (o.ok ? (o as OpenOutcome<T>) : { ok: false, error: fromWasm(o.error) }));
  }

  sealLarge<F extends SealedForm = "text">(record: unknown, opts: SealOptions<F>): Promise<Sealed<F>> {
    return this.request("sealLarge", [record, opts]) as Promise<Sealed<F>>;
  }

  openLarge<T = unknown>(sealed: string | Uint8Array, opts: RecordBinding): Promise<T> {
    return this.request("openLarge", [sealed, opts]) as Promise<T>;
  }

  manifest(): Promise<Manifest> {
    return this.request("manifest", []);
  }

  vaultId(): Promise<string> {
    return this.request("vaultId", []);
  }

  removeUnlock(entryId: string): Promise<Manifest> {
    return this.request("removeUnlock", [entryId]);
  }

  rotateRecoveryCode(): Promise<{ manifest: Manifest; recoveryCode: string }> {
    return this.request("rotateRecoveryCode", []);
  }

  async updateManifest(manifest: Manifest | string, opts: { history?: Array<Manifest | string> } = {}): Promise<void> {
    await this.request("updateManifest", [manifest, { history: opts?.history }]);
  }

  tombstone<F extends SealedForm = "text">(opts: RecordBinding & { version: number; form?: F }): Promise<Sealed<F>> {
    return this.request("tombstone", [opts]) as Promise<Sealed<F>>;
  }

  rewrap<F extends SealedForm = "text">(sealed: string | Uint8Array, opts: RecordBinding & { form?: F }): Promise<Sealed<F> | null> {
    return this.request("rewrap", [sealed, opts]) as Promise<Sealed<F> | null>;
  }

  rekey(): Promise<Manifest> {
    return this.request("rekey", []);
  }

  retireEpochs(): Promise<Manifest> {
    return this.request("retireEpochs", []);
  }

  signRecoveryLogin(challenge: Uint8Array, audience: string): Promise<Uint8Array> {
    return this.request("signRecoveryLogin", [challenge, audience]);
  }

  signLoginProof(challenge: Uint8Array, audience: string): Promise<Uint8Array> {
    return this.request("signLoginProof", [challenge, audience]);
  }

  grant(opts: GrantOptions): Promise<{ grant: string; manifest: Manifest }> {
    return this.request("grant", [opts]);
  }

  grantSlot(grant: string, sealed: string | Uint8Array, opts: RecordBinding): Promise<string> {
    return this.request("grantSlot", [grant, sealed, opts]);
  }

  revokeShare(id: string): Promise<Manifest> {
    return this.request("revokeShare", [id]);
  }

  reissueGrant(grant: string, opts: { grantee: Manifest | string }): Promise<{ grant: string; manifest: Manifest }> {
    return this.request("reissueGrant", [grant, opts]);
  }

  async openShared<T = unknown>(opts: OpenSharedOptions): Promise<Array<OpenOutcome<T>>> {
    const out = await this.request("openShared", [opts]);
    return out.map((o) => (o.ok ? (o as OpenOutcome<T>) : { ok: false, error: fromWasm(o.error) }));
  }

  createLink(opts: LinkOptions): Promise<NewLink> {
    return this.request("createLink", [opts]);
  }

  linkPayload(shareId: string, opts: Omit<LinkOptions, "expires">): Promise<string> {
    return this.request("linkPayload", [shareId, opts]);
  }

  sealLinkFile(shareId: string, content: unknown, opts: { contentType?: string } = {}): Promise<string> {
    return this.request("sealLinkFile", [shareId, content, opts]);
  }

  emergencyCard(bundle: unknown, opts: { notBefore?: Date | number } = {}): Promise<EmergencyCard> {
    return this.request("emergencyCard", [bundle, opts]);
  }

  cardFingerprint(): Promise<string> {
    return this.request("cardFingerprint", []);
  }

  logEntry(event: LogEvent, opts: { position: number; time?: Date | number }): Promise<string> {
    return this.request("logEntry", [event, opts]);
  }

  syncLog(answer: LogSync | string, opts: SyncLogOptions = {}): Promise<LogSyncResult> {
    return this.request("syncLog", [answer, opts]);
  }

  logStatus(): Promise<{ size: number; checkpoint: string | null }> {
    return this.request("logStatus", []);
  }

  accessReport(entries: LogProofItem[], opts: AccessReportOptions = {}): Promise<AccessReport> {
    return this.request("accessReport", [entries, opts]);
  }

  /** Wipes the host's vault. @throws {@link MedsealError} `WorkerUnavailable` */
  async lock(): Promise<void> {
    await this.request("lock", []);
  }

  /**
   * Resolves if the host saved what it has seen of the vault (as
   * `Vault.persisted`). The host answers every call only after the saves
   * it caused, so a failure shows here, not as that call's error: the call
   * itself took effect.
   * @throws {@link MedsealError} `InvalidArgument` when the store's `save` failed, `WorkerUnavailable`
   */
  async persisted(): Promise<void> {
    await this.request("persisted", []);
  }
}

/**
 * Web Worker mode: the vault lives in a dedicated module worker; this page
 * holds a `VaultWorker` (a `RemoteVault`) and never a vault or a key.
 */
export class VaultWorker extends RemoteVault {
  /** The worker. */
  readonly worker: Worker;

  private constructor(worker: Worker) {
    super(worker);
    this.worker = worker;
  }

  /**
   * Starts the worker. With no argument it runs the package's own
   * `worker-host.js` (bundlers that understand `new Worker(new URL(…,
   * import.meta.url))` copy it); pass a URL or a `Worker` to host it yourself
   * (its script calls `serveVault(self)` from `medseal/host`).
   * @throws {@link MedsealError} `WorkerUnavailable`
   */
  static start(worker?: Worker | URL | string): VaultWorker {
    if (typeof Worker === "undefined") throw new MedsealError(ErrorCode.WorkerUnavailable, "Web Workers are not available here");
    const w = worker instanceof Worker ? worker : new Worker(worker ?? new URL("./worker-host.js", import.meta.url), { type: "module", name: "medseal-vault" });
    return new VaultWorker(w);
  }

  /** Stops the worker: its memory, and so every key in it, is gone. */
  terminate(): void {
    this.worker.terminate();
  }
}

// Every public entry point throws MedsealError and nothing else.
guardMethods(RemoteVault.prototype, [
  "request", "create", "unlock", "addPasskey", "receiverKey", "acceptHandoff", "status", "seal", "open", "sealMany",
  "openMany", "sealLarge", "openLarge", "manifest", "vaultId", "removeUnlock", "rotateRecoveryCode", "updateManifest",
  "signLoginProof", "lock", "tombstone", "rewrap", "rekey", "retireEpochs", "signRecoveryLogin", "persisted", "grant",
  "grantSlot", "revokeShare", "reissueGrant", "openShared", "createLink", "linkPayload", "sealLinkFile", "emergencyCard", "cardFingerprint",
  "logEntry", "syncLog", "logStatus", "accessReport",
]);
guardMethods(VaultWorker, ["start"]);
