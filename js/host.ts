/**
 * The host side of `RemoteVault`: holds one vault in this realm (a dedicated
 * worker, an extension's service worker) and answers requests. Requests only
 * name operations of `Vault` (the `Ops` table); nothing here does cryptography.
 */
import { ErrorCode, MedsealError, Vault, VaultReceiver, init, webauthn, type InitInput, type Manifest } from "./index.js";
import { errorData, fromWasm, guardMethods } from "./errors.js";
import type { Op, Ops, SeenStore, UnlockOptions, VaultStatus } from "./types.js";
import { b64u, byteView } from "./webauthn.js";
import { RPC } from "./remote.js";

export { ErrorCode, MedsealError } from "./errors.js";

/**
 * The vault this host belongs to. `expect`: its manifest (pins the vault id
 * and the identity key, which no one can forge without the vault key);
 * `minRevision`: the newest revision seen. Applied to every way a vault gets
 * in: hand-off, unlock, create.
 */
export type Pin = { expect?: Manifest | string; minRevision?: number };

/** How `serveVault` and `VaultHost` behave. */
export type HostOptions = {
  /** Returns the pin (e.g. from the manifest this extension stored). Default: any vault. */
  pin?: () => Pin | Promise<Pin>;
  /** Where the wasm module is (default: next to the package's JS). */
  wasm?: InitInput;
  /** Decides whether a request comes from a trusted sender (default: same origin, or a dedicated worker's parent). */
  allow?: (event: MessageEvent) => boolean;
  /** Called after the vault changed (created, unlocked, handed over, locked). */
  onChange?: (state: VaultStatus) => void;
  /**
   * Where what this host has seen of the vaults it creates and unlocks is
   * kept (see `UnlockOptions.store`). Default as `Vault.unlock`'s: in a
   * worker or service worker, IndexedDB (`seenStores.indexedDB()`), so that
   * it outlives a restart; memory where there is none (Node).
   */
  store?: SeenStore | null;
};

/** Receivers waiting for their hand-off: a few at most, for a minute at most. */
const MAX_PENDING = 4;
const PENDING_MS = 60_000;

/** Where requests arrive: a worker's or service worker's global scope. */
export type Scope = { addEventListener(type: "message", f: (e: MessageEvent) => void): void; location?: { origin: string } };

function wipe(...bufs: unknown[]): void {
  for (const b of bufs) {
    try {
      byteView(b)?.fill(0);
    } catch {
      // A caller's value that cannot be wiped (a revoked Proxy) holds no PRF output of ours.
    }
  }
}

/** Wipes every buffer in a refused request's arguments: transferred PRF outputs end here. */
function wipeArgs(v: unknown, depth = 0): void {
  if (depth > 3 || v === null || typeof v !== "object") return;
  try {
    if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) return wipe(v);
    for (const x of Array.isArray(v) ? v : Object.values(v)) wipeArgs(x, depth + 1);
  } catch {
    // Not ours to read.
  }
}

/** The PRF buffer of a request's argument, if it has one (read defensively: it is the caller's value). */
function prfOf(p: unknown): unknown {
  try {
    return (p as { prfOutput?: unknown } | null)?.prfOutput;
  } catch {
    return undefined;
  }
}

type Handlers = { [K in Op]: (...args: Ops[K]["args"]) => Ops[K]["result"] | Promise<Ops[K]["result"]> };

/** Holds the vault and runs one operation. Exposed for hosts with their own transport. */
export class VaultHost {
  #vault: Vault | null = null;
  #pending = new Map<string, { receiver: VaultReceiver; at: number }>();
  #o: HostOptions;
  #handlers: Handlers;
  /** A failed save of the seen state, until `persisted` reports it. */
  #saveError: unknown = undefined;

  /** @throws {@link MedsealError} `InvalidArgument` */
  constructor(o: HostOptions = {}) {
    try {
      if (o === null || typeof o !== "object") throw new MedsealError(ErrorCode.InvalidArgument, "options must be an object");
      // Read once: the host keeps its own copy of the caller's options.
      const { pin, allow, onChange, wasm, store } = o;
      for (const [k, f] of [["pin", pin], ["allow", allow], ["onChange", onChange]] as const) {
        if (f !== undefined && typeof f !== "function") throw new MedsealError(ErrorCode.InvalidArgument, `${k} must be a function`);
      }
      if (store !== undefined && store !== null && (typeof store !== "object" || typeof store.load !== "function" || typeof store.save !== "function")) throw new MedsealError(ErrorCode.InvalidArgument, "store must be { load, save } or null");
      this.#o = { pin, allow, onChange, wasm, store };
    } catch (e) {
      throw fromWasm(e);
    }
    const need = () => this.#need();
    this.#handlers = {
      status: () => this.#status(),
      createRequest: () => this.#ceremonyRequest(),
      addPasskeyRequest: () => ({ ...this.#ceremonyRequest(), exclude: webauthn.passkeys(need().manifest()).map((p) => p.credentialId) }),
      unlockRequest: (manifest) => ({ passkeys: webauthn.passkeys(manifest), challenge: webauthn.newPrfSalt() }),
      create: async (prf) => {
        try {
          if ((await this.#pin()).expect) throw new MedsealError(ErrorCode.WrongVault, "refused: this worker already belongs to a vault");
          const { vault, manifest, recoveryCode } = await Vault.create({ prf }, { store: this.#o.store });
          this.#set(vault);
          return { manifest, recoveryCode };
        } finally {
          wipe(prfOf(prf));
        }
      },
      unlockWithPrf: async (manifest, prf, opts) => {
        try {
          return await this.#unlockPinned(opts, (min) => Vault.unlock(manifest, { prf }, { ...min, store: this.#o.store }));
        } finally {
          wipe(prfOf(prf));
        }
      },
      unlockWithRecoveryCode: (manifest, code, opts) => this.#unlockPinned(opts, (min) => Vault.unlock(manifest, { recoveryCode: code }, { ...min, store: this.#o.store })),
      addPasskey: async (prf) => {
        try {
          return (await need().addPasskey({ prf })).manifest;
        } finally {
          wipe(prfOf(prf));
        }
      },
      receiverKey: () => {
        if (this.#pending.size >= MAX_PENDING) {
          const [oldest] = this.#pending.keys();
          this.#pending.get(oldest)?.receiver.discard();
          this.#pending.delete(oldest);
        }
        const receiver = new VaultReceiver();
        const publicKey = receiver.publicKey;
        this.#pending.set(b64u(publicKey), { receiver, at: Date.now() });
        return publicKey;
      },
      acceptHandoff: async (message, key) => {
        const receiver = this.#receiverFor(key);
        try {
          this.#set(receiver.accept(message, await this.#pin()));
        } finally {
          receiver.discard();
        }
        return this.#status();
      },
      lock: () => {
        this.#set(null);
        return this.#status();
      },
      seal: (record, opts) => need().seal(record, opts),
      open: (sealed, opts) => need().open(sealed, opts),
      sealMany: (items, opts) => need().sealMany(items, opts),
      openMany: (items) => need().openMany(items).map((o) => (o.ok ? o : { ok: false as const, error: errorData(o.error) })),
      sealLarge: (record, opts) => need().sealLarge(record, opts),
      openLarge: (sealed, opts) => need().openLarge(sealed, opts),
      manifest: () => need().manifest(),
      vaultId: () => need().vaultId(),
      removeUnlock: (id) => need().removeUnlock(id),
      rotateRecoveryCode: () => need().rotateRecoveryCode(),
      updateManifest: (m, opts) => {
        need().updateManifest(m, opts);
        return null;
      },
      tombstone: (opts) => need().tombstone(opts),
      rewrap: (sealed, opts) => need().rewrap(sealed, opts),
      rekey: () => need().rekey(),
      retireEpochs: () => need().retireEpochs(),
      signRecoveryLogin: (c, a) => need().signRecoveryLogin(c, a),
      signLoginProof: (c, a) => need().signLoginProof(c, a),
      grant: (opts) => need().grant(opts),
      grantSlot: (g, sealed, opts) => need().grantSlot(g, sealed, opts),
      revokeShare: (id) => need().revokeShare(id),
      reissueGrant: (g, opts) => need().reissueGrant(g, opts),
      createLink: (opts) => need().createLink(opts),
      emergencyCard: (bundle, opts) => need().emergencyCard(bundle, opts),
      cardFingerprint: () => need().cardFingerprint(),
      logEntry: (event, opts) => need().logEntry(event, opts),
      syncLog: (answer, opts) => need().syncLog(answer, opts),
      logStatus: () => need().logStatus(),
      accessReport: (entries, opts) => need().accessReport(entries, opts),
      linkPayload: (id, opts) => need().linkPayload(id, opts),
      sealLinkFile: (id, content, opts) => need().sealLinkFile(id, content, opts),
      openShared: (opts) => need().openShared(opts).map((o) => (o.ok ? o : { ok: false as const, error: errorData(o.error) })),
      persisted: () => {
        const e = this.#saveError;
        this.#saveError = undefined;
        if (e !== undefined) throw fromWasm(e);
        return null;
      },
    };
  }

  /** The vault this host holds, if unlocked. */
  get vault(): Vault | null {
    return this.#vault && !this.#vault.locked ? this.#vault : null;
  }

  #ceremonyRequest(): { prfSalt: Uint8Array; first: Uint8Array; challenge: Uint8Array } {
    const prfSalt = webauthn.newPrfSalt();
    return { prfSalt, first: webauthn.prfInput(prfSalt), challenge: webauthn.newPrfSalt() };
  }

  #set(v: Vault | null): void {
    if (this.#vault && this.#vault !== v) this.#vault.lock();
    this.#vault = v;
    this.#o.onChange?.(this.#status());
  }

  #status(): VaultStatus {
    const v = this.vault;
    return { unlocked: !!v, vaultId: v ? v.vaultId() : null };
  }

  async #pin(): Promise<Pin> {
    return (await this.#o.pin?.()) ?? {};
  }

  /**
   * Unlocks under the pin (read once): never below its revision, and only
   * the pinned vault (same id and identity key); another one is locked again.
   */
  async #unlockPinned(opts: UnlockOptions | undefined, unlock: (o: UnlockOptions) => Promise<{ vault: Vault }>): Promise<VaultStatus> {
    const pin = await this.#pin();
    const { vault } = await unlock({ minRevision: Math.max(opts?.minRevision ?? 0, pin.minRevision ?? 0), history: opts?.history });
    if (pin.expect) {
      const want = (typeof pin.expect === "string" ? JSON.parse(pin.expect) : pin.expect) as Manifest;
      const got = vault.manifest();
      // The pinned identity is the current one or an older epoch's (wasm checked the hand-overs).
      const pinned = want.identityKey?.publicKey;
      if (got.vaultId !== want.vaultId || (got.identityKey.publicKey !== pinned && !got.epochs?.some((e) => e.publicKey === pinned))) {
        vault.lock();
        throw new MedsealError(ErrorCode.WrongVault, "refused: this is not the vault this worker belongs to");
      }
    }
    this.#set(vault);
    return this.#status();
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

  /**
   * Runs one operation of the `Ops` table.
   * @throws {@link MedsealError} the operation's error, or `InvalidArgument` for an unknown operation
   */
  async run<K extends Op>(op: K, args: Ops[K]["args"]): Promise<Ops[K]["result"]> {
    await init(this.#o.wasm);
    if (!Array.isArray(args)) throw new MedsealError(ErrorCode.InvalidArgument, "args must be an array");
    if (typeof op !== "string" || !Object.prototype.hasOwnProperty.call(this.#handlers, op)) throw new MedsealError(ErrorCode.InvalidArgument, `unknown operation "${String(op)}"`);
    const f = this.#handlers[op] as (...a: Ops[K]["args"]) => Ops[K]["result"] | Promise<Ops[K]["result"]>;
    if (op === "persisted") await this.#saved();
    try {
      return await f(...args);
    } finally {
      await this.#saved();
    }
  }

  /**
   * Waits until the seen state of the held vault is saved, so that an
   * answer means it is in the store: a worker stopped right after it (a
   * page closing, a service worker going idle) keeps it. A failed save does
   * not fail the operation (it happened in the vault); `persisted` reports it.
   */
  async #saved(): Promise<void> {
    try {
      await this.#vault?.persisted();
    } catch (e) {
      this.#saveError ??= e;
    }
  }
}

/**
 * Serves `RemoteVault` requests arriving at `scope` (a dedicated worker's
 * `self`, a service worker's `self`). Returns the host (e.g. to seal from the
 * service worker itself).
 */
export function serveVault(scope: Scope, o: HostOptions = {}): VaultHost {
  if (!scope || typeof scope.addEventListener !== "function") throw new MedsealError(ErrorCode.InvalidArgument, "scope must be a worker's or service worker's global scope");
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
    if (!d || d.medseal !== RPC) return;
    const port = e.ports[0];
    if (!port) return;
    if (typeof d.op !== "string") {
      wipeArgs(d.args);
      // Answered, so that the caller does not wait for its timeout.
      port.postMessage({ ok: false, error: { code: ErrorCode.InvalidArgument, message: "op must be the name of an operation" } });
      return;
    }
    if (!allow(e)) {
      wipeArgs(d.args);
      port.postMessage({ ok: false, error: { code: ErrorCode.InvalidArgument, message: "request refused: not from a trusted sender" } });
      return;
    }
    const op = d.op as Op;
    const args = (Array.isArray(d.args) ? d.args : []) as Ops[Op]["args"];
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

// Every public entry point throws MedsealError and nothing else.
guardMethods(VaultHost.prototype, ["run"]);
