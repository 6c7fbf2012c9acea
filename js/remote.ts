/**
 * A vault held in another realm: a dedicated worker (`VaultWorker`) or an
 * extension's service worker. This side never loads medseal's wasm and never
 * holds a vault or a key: it sends requests, and PRF outputs from passkey
 * ceremonies are transferred (the buffer moves; nothing is left here).
 *
 * Protocol (one message per request, each with its own reply port, so a
 * stopped service worker is woken by the next request):
 *   request  `{ medseal: "rpc/1", op, args }`, transfer `[replyPort, ...]`
 *   reply    `{ ok: true, value }` or `{ ok: false, error: { code, message, index? } }`
 * The host side is `./host.ts`.
 */
import { ErrorCode, MedsealError, fromWasm } from "./errors.js";
import { type CreateOptions, createWithPrf, getWithPrf } from "./passkey.js";

export { ErrorCode, MedsealError } from "./errors.js";
export type { CreateOptions } from "./passkey.js";

/** The protocol tag of requests. */
export const RPC = "medseal/rpc/1";

/** Anything that takes `postMessage(message, transfer)`: a Worker, a ServiceWorker, a MessagePort. */
export type PostTarget = { postMessage(message: unknown, transfer: Transferable[]): void };

/** A manifest as the core writes it (see the main entry's `Manifest` type). */
export type Manifest = Record<string, unknown> & { vaultId: string; revision: number };
/** What a record is bound to. */
export type SealOptions = { recordId: string; context?: string | Uint8Array };
/** Outcome of one item of `openManySettled`. */
export type OpenOutcome = { ok: true; value: unknown } | { ok: false; error: MedsealError };

type Reply = { ok: true; value: unknown } | { ok: false; error: { code?: string; message?: string; index?: number } };

/**
 * The request side of the protocol. `target` may be a function, called per
 * request, for hosts that come and go (an extension's service worker).
 */
export class RemoteVault {
  #target: () => PostTarget | Promise<PostTarget>;
  #timeout: number;

  constructor(target: PostTarget | (() => PostTarget | Promise<PostTarget>), opts: { timeout?: number } = {}) {
    this.#target = typeof target === "function" ? target : () => target;
    this.#timeout = opts.timeout ?? 30_000;
  }

  /** Sends one request; `transfer` lists buffers to move (they are detached here afterwards). */
  async request(op: string, args: unknown[] = [], transfer: Transferable[] = []): Promise<unknown> {
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
      // Secrets meant to move (PRF outputs) must not stay here if the move did not happen.
      for (const t of transfer) if (t instanceof ArrayBuffer && t.byteLength > 0) new Uint8Array(t).fill(0);
    }
  }

  // ------------------------------------------------------------ passkeys (ceremony here, keys there)

  /** Registers a passkey and creates the vault in the host. Returns the manifest to store and the recovery code to show once. */
  async create(o: CreateOptions): Promise<{ manifest: Manifest; recoveryCode: string }> {
    const req = (await this.request("createRequest")) as { prfSalt: Uint8Array; first: Uint8Array; challenge: Uint8Array };
    const { credentialId, prfOutput } = await createWithPrf(o, req.first, () => req.challenge);
    return (await this.request("createFromPrf", [{ credentialId, prfSalt: req.prfSalt, prfOutput, label: o.label }], [prfOutput.buffer as ArrayBuffer])) as {
      manifest: Manifest;
      recoveryCode: string;
    };
  }

  /** Asks for a passkey of the manifest and unlocks the vault in the host. */
  async unlock(manifest: Manifest | string, opts: { minRevision?: number; timeout?: number; mediation?: CredentialMediationRequirement; signal?: AbortSignal; rpId?: string } = {}): Promise<void> {
    const req = (await this.request("unlockRequest", [manifest])) as { passkeys: Array<{ credentialId: Uint8Array; first: Uint8Array; label?: string }>; challenge: Uint8Array };
    const { credentialId, prfOutput } = await getWithPrf(req.passkeys, opts.timeout, () => req.challenge, { mediation: opts.mediation, signal: opts.signal, rpId: opts.rpId });
    await this.request("unlockFromPrf", [manifest, { credentialId, prfOutput }, { minRevision: opts.minRevision }], [prfOutput.buffer as ArrayBuffer]);
  }

  /** Registers another passkey for the host's vault; returns the new manifest. */
  async addPasskey(o: CreateOptions): Promise<Manifest> {
    const req = (await this.request("addPasskeyRequest")) as { prfSalt: Uint8Array; first: Uint8Array; challenge: Uint8Array; exclude: Uint8Array[] };
    const { credentialId, prfOutput } = await createWithPrf({ ...o, exclude: [...(o.exclude ?? []), ...req.exclude] }, req.first, () => req.challenge);
    return (await this.request("addPasskeyFromPrf", [{ credentialId, prfSalt: req.prfSalt, prfOutput, label: o.label }], [prfOutput.buffer as ArrayBuffer])) as Manifest;
  }

  /** Unlocks the host's vault with the recovery code. */
  async unlockWithRecoveryCode(manifest: Manifest | string, code: string, opts: { minRevision?: number } = {}): Promise<void> {
    await this.request("unlockWithRecoveryCode", [manifest, code, opts]);
  }

  // ------------------------------------------------------------ hand-off

  /** A fresh one-time receiver key in the host (for `vault.handOffTo(remote)`). */
  async receiverKey(): Promise<Uint8Array> {
    return (await this.request("receiverKey")) as Uint8Array;
  }

  /** Gives the host a vault sealed to one of its receiver keys (`vault.handOff(key)`). */
  async acceptHandoff(message: Uint8Array, receiverKey: Uint8Array): Promise<{ unlocked: boolean; vaultId: string | null }> {
    return (await this.request("acceptHandoff", [message, receiverKey])) as { unlocked: boolean; vaultId: string | null };
  }

  // ------------------------------------------------------------ records and the rest

  /** Whether the host holds an unlocked vault, and which. */
  async status(): Promise<{ unlocked: boolean; vaultId: string | null }> {
    return (await this.request("status")) as { unlocked: boolean; vaultId: string | null };
  }

  seal(record: unknown, opts: SealOptions): Promise<string> {
    return this.request("seal", [record, opts]) as Promise<string>;
  }

  sealBytes(record: unknown, opts: SealOptions): Promise<Uint8Array> {
    return this.request("sealBytes", [record, opts]) as Promise<Uint8Array>;
  }

  open(sealed: string | Uint8Array, opts: SealOptions): Promise<unknown> {
    return this.request("open", [sealed, opts]);
  }

  sealAsync(record: unknown, opts: SealOptions & { form?: "text" | "bytes"; webCryptoFrom?: number }): Promise<string | Uint8Array> {
    return this.request("sealAsync", [record, opts]) as Promise<string | Uint8Array>;
  }

  openAsync(sealed: string | Uint8Array, opts: SealOptions & { webCryptoFrom?: number }): Promise<unknown> {
    return this.request("openAsync", [sealed, opts]);
  }

  sealMany(items: Array<{ record: unknown; recordId: string; context?: string | Uint8Array }>, opts: { form?: "text" | "bytes" } = {}): Promise<Array<string | Uint8Array>> {
    return this.request("sealMany", [items, opts]) as Promise<Array<string | Uint8Array>>;
  }

  openMany(items: Array<{ sealed: string | Uint8Array; recordId: string; context?: string | Uint8Array }>): Promise<unknown[]> {
    return this.request("openMany", [items]) as Promise<unknown[]>;
  }

  async openManySettled(items: Array<{ sealed: string | Uint8Array; recordId: string; context?: string | Uint8Array }>): Promise<OpenOutcome[]> {
    const out = (await this.request("openManySettled", [items])) as Array<{ ok: true; value: unknown } | { ok: false; error: { code?: string; message?: string } }>;
    return out.map((o) => (o.ok ? o : { ok: false, error: fromWasm(o.error) }));
  }

  manifest(): Promise<Manifest> {
    return this.request("manifest") as Promise<Manifest>;
  }

  vaultId(): Promise<string> {
    return this.request("vaultId") as Promise<string>;
  }

  removeUnlock(entryId: string): Promise<Manifest> {
    return this.request("removeUnlock", [entryId]) as Promise<Manifest>;
  }

  rotateRecoveryCode(): Promise<{ manifest: Manifest; recoveryCode: string }> {
    return this.request("rotateRecoveryCode") as Promise<{ manifest: Manifest; recoveryCode: string }>;
  }

  async updateManifest(manifest: Manifest | string): Promise<void> {
    await this.request("updateManifest", [manifest]);
  }

  signLoginProof(challenge: Uint8Array, audience: string): Promise<Uint8Array> {
    return this.request("signLoginProof", [challenge, audience]) as Promise<Uint8Array>;
  }

  /** Wipes the host's vault. */
  async lock(): Promise<void> {
    await this.request("lock");
  }
}

/**
 * Web Worker mode: the vault lives in a dedicated module worker; this page
 * holds a `VaultWorker` (a `RemoteVault`) and never a vault or a key.
 */
export class VaultWorker extends RemoteVault {
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
