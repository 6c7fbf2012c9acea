/**
 * The host side of `RemoteVault`: holds one vault in this realm (a dedicated
 * worker, an extension's service worker) and answers requests. Requests only
 * name operations of `Vault`; nothing here does cryptography.
 */
import { ErrorCode, MedsealError, Vault, VaultReceiver, init, passkeyRequests, type InitInput, type Manifest } from "./index.js";
import { b64u } from "./passkey.js";
import { RPC } from "./remote.js";

/**
 * The vault this host belongs to. `expect`: its manifest (pins the vault id
 * and the identity key, which no one can forge without the vault key);
 * `minRevision`: the newest revision seen. Applied to every way a vault gets
 * in: hand-off, unlock, create.
 */
export type Pin = { expect?: Manifest | string; minRevision?: number };

export type HostOptions = {
  /** Returns the pin (e.g. from the manifest this extension stored). Default: any vault. */
  pin?: () => Pin | Promise<Pin>;
  /** Where the wasm module is (default: next to the package's JS). */
  wasm?: InitInput;
  /** Decides whether a request comes from a trusted sender (default: same origin, or a dedicated worker's parent). */
  allow?: (event: MessageEvent) => boolean;
  /** Called after the vault changed (created, unlocked, handed over, locked). */
  onChange?: (state: { unlocked: boolean; vaultId: string | null }) => void;
};

/** Receivers waiting for their hand-off: a few at most, for a minute at most. */
const MAX_PENDING = 4;
const PENDING_MS = 60_000;

type Scope = { addEventListener(type: "message", f: (e: MessageEvent) => void): void; location?: { origin: string } };

function wipe(...bufs: Array<Uint8Array | undefined>): void {
  for (const b of bufs) if (b instanceof Uint8Array) b.fill(0);
}

/** Holds the vault and runs one operation. Exposed for hosts with their own transport. */
export class VaultHost {
  #vault: Vault | null = null;
  #pending = new Map<string, { receiver: VaultReceiver; at: number }>();
  #o: HostOptions;

  constructor(o: HostOptions = {}) {
    this.#o = o;
  }

  get vault(): Vault | null {
    return this.#vault && !this.#vault.locked ? this.#vault : null;
  }

  #set(v: Vault | null): void {
    if (this.#vault && this.#vault !== v) this.#vault.lock();
    this.#vault = v;
    this.#o.onChange?.(this.#status());
  }

  #status(): { unlocked: boolean; vaultId: string | null } {
    const v = this.vault;
    return { unlocked: !!v, vaultId: v ? v.vaultId : null };
  }

  async #pin(): Promise<Pin> {
    return (await this.#o.pin?.()) ?? {};
  }

  /**
   * Unlocks under the pin (read once): never below its revision, and only
   * the pinned vault (same id and identity key); another one is locked again.
   */
  async #unlockPinned(opts: { minRevision?: number } | undefined, unlock: (o: { minRevision: number }) => Vault): Promise<void> {
    const pin = await this.#pin();
    const v = unlock({ minRevision: Math.max(opts?.minRevision ?? 0, pin.minRevision ?? 0) });
    if (pin.expect) {
      const want = (typeof pin.expect === "string" ? JSON.parse(pin.expect) : pin.expect) as Manifest;
      const got = v.manifest;
      if (got.vaultId !== want.vaultId || got.identityKey.publicKey !== want.identityKey?.publicKey) {
        v.lock();
        throw new MedsealError(ErrorCode.WrongVault, "refused: this is not the vault this worker belongs to");
      }
    }
    this.#set(v);
  }

  #receiverFor(key: unknown): VaultReceiver {
    const now = Date.now();
    for (const [k, p] of this.#pending) {
      if (now - p.at > PENDING_MS) {
        p.receiver.discard();
        this.#pending.delete(k);
      }
    }
    const id = key instanceof Uint8Array ? b64u(key) : "";
    const p = this.#pending.get(id);
    if (!p) throw new MedsealError(ErrorCode.InvalidArgument, "no pending receiver for this key: ask for a receiverKey first (each is used once, within a minute)");
    this.#pending.delete(id);
    return p.receiver;
  }

  #need(): Vault {
    const v = this.vault;
    if (!v) throw new MedsealError(ErrorCode.Locked, "the vault worker holds no unlocked vault: unlock it (or hand a vault over) first");
    return v;
  }

  async run(op: string, args: unknown[]): Promise<unknown> {
    await init(this.#o.wasm);
    const a = args as any[]; // eslint-disable-line @typescript-eslint/no-explicit-any
    switch (op) {
      case "status":
        return this.#status();
      case "createRequest":
      case "addPasskeyRequest": {
        const prfSalt = Vault.newPrfSalt();
        const exclude = op === "addPasskeyRequest" ? passkeyRequests(this.#need().manifest).map((p) => p.credentialId) : [];
        return { prfSalt, first: Vault.prfInput(prfSalt), challenge: Vault.newPrfSalt(), exclude };
      }
      case "createFromPrf": {
        try {
          if ((await this.#pin()).expect) throw new MedsealError(ErrorCode.WrongVault, "refused: this worker already belongs to a vault");
          const { vault, manifest, recoveryCode } = Vault.createFromPrf(a[0]);
          this.#set(vault);
          return { manifest, recoveryCode };
        } finally {
          wipe(a[0]?.prfOutput);
        }
      }
      case "unlockRequest":
        return { passkeys: passkeyRequests(a[0]), challenge: Vault.newPrfSalt() };
      case "unlockFromPrf":
        try {
          await this.#unlockPinned(a[2], (o) => Vault.unlockFromPrf(a[0], a[1], o));
          return this.#status();
        } finally {
          wipe(a[1]?.prfOutput);
        }
      case "unlockWithRecoveryCode":
        await this.#unlockPinned(a[2], (o) => Vault.unlockWithRecoveryCode(a[0], a[1], o));
        return this.#status();
      case "addPasskeyFromPrf":
        try {
          return this.#need().addPasskeyFromPrf(a[0]);
        } finally {
          wipe(a[0]?.prfOutput);
        }
      case "receiverKey": {
        if (this.#pending.size >= MAX_PENDING) {
          const [oldest] = this.#pending.keys();
          this.#pending.get(oldest!)?.receiver.discard();
          this.#pending.delete(oldest!);
        }
        const receiver = new VaultReceiver();
        const publicKey = receiver.publicKey;
        this.#pending.set(b64u(publicKey), { receiver, at: Date.now() });
        return publicKey;
      }
      case "acceptHandoff": {
        const receiver = this.#receiverFor(a[1]);
        try {
          this.#set(receiver.accept(a[0], await this.#pin()));
        } finally {
          receiver.discard();
        }
        return this.#status();
      }
      case "lock":
        this.#set(null);
        return this.#status();
      case "seal":
        return this.#need().seal(a[0], a[1]);
      case "sealBytes":
        return this.#need().sealBytes(a[0], a[1]);
      case "open":
        return this.#need().open(a[0], a[1]);
      case "sealAsync":
        return this.#need().sealAsync(a[0], a[1]);
      case "openAsync":
        return this.#need().openAsync(a[0], a[1]);
      case "sealMany":
        return this.#need().sealMany(a[0], a[1]);
      case "openMany":
        return this.#need().openMany(a[0]);
      case "openManySettled":
        return this.#need()
          .openManySettled(a[0])
          .map((o) => (o.ok ? o : { ok: false, error: errorData(o.error) }));
      case "manifest":
        return this.#need().manifest;
      case "vaultId":
        return this.#need().vaultId;
      case "removeUnlock":
        return this.#need().removeUnlock(a[0]);
      case "rotateRecoveryCode":
        return this.#need().rotateRecoveryCode();
      case "updateManifest":
        this.#need().updateManifest(a[0]);
        return undefined;
      case "signLoginProof":
        return this.#need().signLoginProof(a[0], a[1]);
      default:
        throw new MedsealError(ErrorCode.InvalidArgument, `unknown operation "${op}"`);
    }
  }
}

function errorData(e: unknown): { code: string; message: string; index?: number } {
  const m = e instanceof MedsealError ? e : new MedsealError(ErrorCode.InvalidArgument, String((e as Error)?.message ?? e));
  const index = (m as { index?: number }).index;
  return index === undefined ? { code: m.code, message: m.message } : { code: m.code, message: m.message, index };
}

/**
 * Serves `RemoteVault` requests arriving at `scope` (a dedicated worker's
 * `self`, a service worker's `self`). Returns the host (e.g. to seal from the
 * service worker itself).
 */
export function serveVault(scope: Scope, o: HostOptions = {}): VaultHost {
  const host = new VaultHost(o);
  const origin = scope.location?.origin;
  // In a dedicated worker, messages (origin "") can only come from its parent;
  // anywhere else (a service worker) only the same origin is trusted.
  const DWGS = (globalThis as { DedicatedWorkerGlobalScope?: abstract new () => unknown }).DedicatedWorkerGlobalScope;
  const dedicated = typeof DWGS === "function" && scope instanceof DWGS;
  const allow = o.allow ?? ((e: MessageEvent) => (dedicated && e.origin === "") || (!!origin && e.origin === origin));
  // One request at a time, in order: a vault is not re-entrant.
  let queue: Promise<unknown> = Promise.resolve();
  scope.addEventListener("message", (e: MessageEvent) => {
    const d = e.data as { medseal?: string; op?: unknown; args?: unknown } | null;
    if (!d || d.medseal !== RPC || typeof d.op !== "string") return;
    const port = e.ports[0];
    if (!port) return;
    if (!allow(e)) {
      port.postMessage({ ok: false, error: { code: ErrorCode.InvalidArgument, message: "request refused: not from a trusted sender" } });
      return;
    }
    const op = d.op;
    const args = Array.isArray(d.args) ? d.args : [];
    const job = queue.then(async () => {
      try {
        port.postMessage({ ok: true, value: await host.run(op, args) });
      } catch (err) {
        port.postMessage({ ok: false, error: errorData(err) });
      } finally {
        port.close();
      }
    });
    queue = job;
    (e as { waitUntil?: (p: Promise<unknown>) => void }).waitUntil?.(job);
  });
  return host;
}
