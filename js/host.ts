/**
 * The host side of `RemoteVault`: holds one vault in this realm (a dedicated
 * worker, an extension's service worker) and answers requests. Requests only
 * name operations of `Vault`; nothing here does cryptography.
 */
import { ErrorCode, MedsealError, Vault, VaultReceiver, init, passkeyRequests, type Manifest } from "./index.js";
import { fromB64u } from "./passkey.js";
import { RPC } from "./remote.js";

/** What the host was asked to check before it takes a vault by hand-off. */
export type HandoffPolicy = () => { vaultId?: string; minRevision?: number } | Promise<{ vaultId?: string; minRevision?: number }>;

export type HostOptions = {
  /** Pins the vault a hand-off may bring (e.g. the vault id this extension stored). Default: any vault. */
  handoff?: HandoffPolicy;
  /** Decides whether a request comes from a trusted sender (default: same origin, or a dedicated worker's parent). */
  allow?: (event: MessageEvent) => boolean;
  /** Called after the vault changed (created, unlocked, handed over, locked). */
  onChange?: (state: { unlocked: boolean; vaultId: string | null }) => void;
};

type Scope = { addEventListener(type: "message", f: (e: MessageEvent) => void): void; location?: { origin: string } };

function wipe(...bufs: Array<Uint8Array | undefined>): void {
  for (const b of bufs) if (b instanceof Uint8Array) b.fill(0);
}

/** Holds the vault and runs one operation. Exposed for hosts with their own transport. */
export class VaultHost {
  #vault: Vault | null = null;
  #receiver: VaultReceiver | null = null;
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

  #need(): Vault {
    const v = this.vault;
    if (!v) throw new MedsealError(ErrorCode.Locked, "the vault worker holds no unlocked vault: unlock it (or hand a vault over) first");
    return v;
  }

  async run(op: string, args: unknown[]): Promise<unknown> {
    await init();
    const a = args as any[]; // eslint-disable-line @typescript-eslint/no-explicit-any
    switch (op) {
      case "status":
        return this.#status();
      case "createRequest":
      case "addPasskeyRequest": {
        const prfSalt = Vault.newPrfSalt();
        const exclude = op === "addPasskeyRequest" ? passkeyIds(this.#need().manifest) : [];
        return { prfSalt, first: Vault.prfInput(prfSalt), challenge: Vault.newPrfSalt(), exclude };
      }
      case "createFromPrf": {
        try {
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
          this.#set(Vault.unlockFromPrf(a[0], a[1], a[2]));
          return this.#status();
        } finally {
          wipe(a[1]?.prfOutput);
        }
      case "unlockWithRecoveryCode":
        this.#set(Vault.unlockWithRecoveryCode(a[0], a[1], a[2]));
        return this.#status();
      case "addPasskeyFromPrf":
        try {
          return this.#need().addPasskeyFromPrf(a[0]);
        } finally {
          wipe(a[0]?.prfOutput);
        }
      case "receiverKey":
        this.#receiver = new VaultReceiver();
        return this.#receiver.publicKey;
      case "acceptHandoff": {
        const r = this.#receiver;
        this.#receiver = null;
        if (!r) throw new MedsealError(ErrorCode.InvalidArgument, "ask for a receiverKey first: each hand-off needs a fresh one");
        const pin = (await this.#o.handoff?.()) ?? {};
        this.#set(r.accept(a[0], pin));
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

function passkeyIds(m: Manifest): Uint8Array[] {
  return m.unlock.filter((e) => e.type === "passkey").map((e) => fromB64u((e as { credentialId: string }).credentialId));
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
  // A dedicated worker's messages (origin "") can only come from its parent.
  const allow = o.allow ?? ((e: MessageEvent) => !e.origin || e.origin === origin);
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
