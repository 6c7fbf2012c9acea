/**
 * Large files as streams (FORMAT.md §17): the plumbing between web streams
 * and the wasm stream jobs. Every rule of the format (the chunk counter,
 * which chunk is the last, lengths, where a chunk lies) is decided in wasm;
 * this file moves bytes and runs each chunk through WebCrypto's AES-GCM
 * under the stream's chunk key (imported non-extractable), several chunks
 * in flight so that WebCrypto's per-call latency overlaps.
 * @module
 */
import * as wasm from "./wasm/medseal_wasm.js";
import { ErrorCode, MedsealError, call, guardMethods } from "./errors.js";

/** How many chunks (16 KiB each) are being encrypted or decrypted at once. */
const IN_FLIGHT = 16;

/** Progress of a stream: plaintext bytes done so far, and the total when known. */
export type StreamProgress = (done: number, total: number | undefined) => void;

/** What the stream calls share: progress, cancellation, and whether the vault is still unlocked. */
export type StreamControl = {
  onProgress?: StreamProgress;
  signal?: AbortSignal;
  total?: number;
  locked: () => boolean;
};

/** A sealed file read by byte ranges: its sealed length, and a reader of `[start, end)`. */
export type RangeSource = {
  /** The sealed stream's length in bytes. */
  size: number;
  /** Sealed bytes `[start, end)`. */
  read(start: number, end: number): Promise<Uint8Array>;
};

/** A sealed file opened for reading by plaintext ranges. */
export type RangeReader = {
  /** The plaintext size, authenticated (the last chunk was verified when the reader was made). */
  readonly size: number;
  /** The record version in the stream's header. */
  readonly version: number;
  /** Plaintext bytes `[offset, offset + length)`; only the chunks that hold them are read. */
  readRange(offset: number, length: number): Promise<Uint8Array>;
  /** A `ReadableStream` of the whole plaintext, chunk by chunk (each chunk verified before it is released). */
  stream(): ReadableStream<Uint8Array>;
  /** Drops the chunk key; later reads throw `InvalidArgument`. */
  close(): void;
};

function invalid(message: string): MedsealError {
  return new MedsealError(ErrorCode.InvalidArgument, message);
}

function lockedError(): MedsealError {
  return new MedsealError(ErrorCode.Locked, "the vault is locked: unlock it again to use it");
}

function decryptionFailed(): MedsealError {
  return new MedsealError(ErrorCode.DecryptionFailed, "decryption failed: a chunk of the file was altered, moved, or belongs to another file, vault, record id or context");
}

/** The error of an aborted stream: `Cancelled`, with the signal's reason as its cause. */
export function aborted(signal: AbortSignal): MedsealError {
  return new MedsealError(ErrorCode.Cancelled, "the stream was aborted", { cause: signal.reason });
}

/** Calls the caller's progress callback; its failure ends the stream as `InvalidArgument` (with it as the cause). */
function progress(ctl: StreamControl, done: number): void {
  if (!ctl.onProgress) return;
  try {
    ctl.onProgress(done, ctl.total);
  } catch (e) {
    throw new MedsealError(ErrorCode.InvalidArgument, "the onProgress callback threw", { cause: e });
  }
}

function check(ctl: StreamControl): void {
  if (ctl.signal?.aborted) throw aborted(ctl.signal);
  if (ctl.locked()) throw lockedError();
}

/** Imports a chunk key as a non-extractable AES-GCM key and wipes the bytes. */
async function importChunkKey(subtle: SubtleCrypto, key: Uint8Array | undefined, usage: KeyUsage): Promise<CryptoKey> {
  if (!key) throw invalid("the chunk key was already taken");
  try {
    return await subtle.importKey("raw", key as BufferSource, "AES-GCM", false, [usage]);
  } finally {
    key.fill(0);
  }
}

function subtleOf(): SubtleCrypto | undefined {
  return globalThis.crypto?.subtle;
}

/**
 * Calls WebCrypto at once: it copies its input before it returns (the
 * spec's "a copy of the bytes held by the data parameter"), so the caller's
 * buffer can be wiped and refilled; a synchronous throw becomes a rejection.
 */
function callNow(f: () => Promise<ArrayBuffer>): Promise<ArrayBuffer> {
  try {
    return f();
  } catch (e) {
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
}

/** The imported chunk key; a failure to import it is the stream's error (`InvalidArgument` unless already a MedsealError). */
async function keyReady(key: Promise<CryptoKey>, what: string): Promise<CryptoKey> {
  try {
    return await key;
  } catch (e) {
    throw e instanceof MedsealError ? e : invalid(`could not ${what}: ${String((e as Error)?.message ?? e)}`);
  }
}

/** Chunks in flight, released strictly in order; a failure stops the stream at that chunk. */
class Pipeline {
  #queue: Array<Promise<Uint8Array>> = [];
  push(p: Promise<Uint8Array>): void {
    // Rejections are taken in order by `drain`; until then they are not "unhandled".
    p.catch(() => undefined);
    this.#queue.push(p);
  }
  get length(): number {
    return this.#queue.length;
  }
  async drain(keep: number, out: (bytes: Uint8Array) => boolean): Promise<void> {
    while (this.#queue.length > keep) {
      const next = this.#queue.shift() as Promise<Uint8Array>;
      // `out` is false once the reader went away: drop the rest.
      if (!out(await next)) {
        this.#queue = [];
        return;
      }
    }
  }
}

/**
 * Enqueues unless the readable side was cancelled (a viewer that read the
 * first chunk and stopped): then says so, and the stream winds down
 * quietly instead of failing with the stream's own TypeError.
 */
function enqueuer(controller: TransformStreamDefaultController<Uint8Array>, gone: () => void): (bytes: Uint8Array) => boolean {
  return (bytes) => {
    try {
      controller.enqueue(bytes);
      return true;
    } catch {
      gone();
      return false;
    }
  };
}

function bytesIn(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw invalid("a stream chunk must be a Uint8Array (or another ArrayBufferView or ArrayBuffer)");
}

/**
 * The chunking both directions share: fills one reused buffer of a chunk's
 * size from each input piece, hands each full chunk on at once (both paths
 * copy it before they return), and lets the pipeline drain when too many
 * chunks are in flight.
 */
class Chunker {
  readonly buf: Uint8Array;
  fill = 0;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
  }
  /** Feeds `bytes` from `at`; `drained` runs after each drain and says whether to go on (false: the reader went away). */
  async feed(bytes: Uint8Array, at: number, submit: (full: Uint8Array) => void, flight: Pipeline, out: (b: Uint8Array) => boolean, drained: () => boolean): Promise<void> {
    const size = this.buf.byteLength;
    while (at < bytes.byteLength) {
      const n = Math.min(size - this.fill, bytes.byteLength - at);
      this.buf.set(bytes.subarray(at, at + n), this.fill);
      this.fill += n;
      at += n;
      if (this.fill === size) {
        submit(this.buf);
        this.fill = 0;
      }
      if (flight.length > IN_FLIGHT) {
        await flight.drain(IN_FLIGHT / 2, out);
        if (!drained()) return;
      }
    }
  }
  /** What is left: the last chunk's bytes. */
  rest(): Uint8Array {
    return this.buf.subarray(0, this.fill);
  }
}

/** The TransformStream behind `Vault.sealStream`: plaintext in, the sealed stream (header first) out. */
export function sealTransform(job: wasm.StreamSealJob, ctl: StreamControl, onSealed: (job: wasm.StreamSealJob) => void): TransformStream<Uint8Array, Uint8Array> {
  const size = wasm.streamChunkLength();
  const subtle = subtleOf();
  const key = subtle ? importChunkKey(subtle, job.takeKey(), "encrypt") : undefined;
  key?.catch(() => undefined);
  let cryptoKey: CryptoKey | undefined;
  const flight = new Pipeline();
  // One buffer for every chunk: both paths copy the chunk before they return
  // (WebCrypto takes "a copy of the bytes held by the data parameter" when
  // called), so it is wiped and refilled at once: no chunk-sized garbage but
  // the sealed chunks themselves.
  const chunks = new Chunker(size);
  let done = 0;
  const submit = (plain: Uint8Array, last: boolean): void => {
    // The nonce is taken now, in order: chunk k always gets nonce k.
    const n = plain.byteLength;
    let sealed: Promise<Uint8Array>;
    try {
      if (subtle && cryptoKey) {
        const iv = call(() => job.nextNonce(n, last));
        const k = cryptoKey;
        sealed = callNow(() => subtle.encrypt({ name: "AES-GCM", iv: iv as BufferSource }, k, plain as BufferSource)).then((ct) => new Uint8Array(ct));
      } else {
        sealed = Promise.resolve(call(() => job.sealChunk(plain, last)));
      }
    } finally {
      plain.fill(0);
    }
    flight.push(sealed.then((ct) => {
      done += n;
      return ct;
    }, (e: unknown) => {
      throw e instanceof MedsealError ? e : invalid(`could not encrypt: ${String((e as Error)?.message ?? e)}`);
    }));
  };
  let freed = false;
  const free = (): void => {
    chunks.buf.fill(0);
    if (freed) return;
    freed = true;
    try { job.free(); } catch { /* already freed */ }
  };
  let cancelled = false;
  const gone = (): void => {
    cancelled = true;
    free();
  };
  const drained = (): boolean => {
    if (cancelled) return false;
    progress(ctl, done);
    return true;
  };
  return new TransformStream<Uint8Array, Uint8Array>({
    start(controller) {
      controller.enqueue(job.header);
    },
    async transform(input, controller) {
      if (cancelled) return;
      const out = enqueuer(controller, gone);
      try {
        check(ctl);
        if (key && !cryptoKey) cryptoKey = await keyReady(key, "encrypt");
        await chunks.feed(bytesIn(input), 0, (full) => submit(full, false), flight, out, drained);
      } catch (e) {
        free();
        throw e;
      }
    },
    async flush(controller) {
      if (cancelled) return;
      const out = enqueuer(controller, gone);
      try {
        check(ctl);
        if (key && !cryptoKey) cryptoKey = await keyReady(key, "encrypt");
        submit(chunks.rest(), true);
        await flight.drain(0, out);
        if (cancelled) return;
        // Complete: only now does the vault remember this version.
        onSealed(job);
        progress(ctl, done);
      } finally {
        free();
      }
    },
    // The reader or the writer went away (where the engine calls it).
    cancel() {
      gone();
    },
  } as Transformer<Uint8Array, Uint8Array>);
}

/**
 * The TransformStream behind `Vault.openStream`: the sealed stream in,
 * plaintext out, each chunk verified before it is released. `openHead`
 * checks the first bytes (in wasm) once they have arrived.
 */
export function openTransform(headLength: number, openHead: (head: Uint8Array) => wasm.StreamOpenJob, ctl: StreamControl): TransformStream<Uint8Array, Uint8Array> {
  const size = wasm.streamSealedChunkLength();
  const subtle = subtleOf();
  const head = new Uint8Array(headLength);
  let headFill = 0;
  let job: wasm.StreamOpenJob | undefined;
  let cryptoKey: CryptoKey | undefined;
  const flight = new Pipeline();
  const chunks = new Chunker(size);
  let done = 0;
  const submit = (sealed: Uint8Array, last: boolean): void => {
    const j = job as wasm.StreamOpenJob;
    let opened: Promise<Uint8Array>;
    if (subtle && cryptoKey) {
      const iv = call(() => j.nextNonce(sealed.byteLength, last));
      const k = cryptoKey;
      opened = callNow(() => subtle.decrypt({ name: "AES-GCM", iv: iv as BufferSource }, k, sealed as BufferSource))
        .then((pt) => new Uint8Array(pt), (e: unknown) => {
          // WebCrypto reports a tag mismatch as OperationError; anything else is not the file's fault.
          if ((e as DOMException)?.name === "OperationError") throw decryptionFailed();
          throw invalid(`could not decrypt: ${String((e as Error)?.message ?? e)}`);
        });
    } else {
      // A failed chunk becomes a rejected promise in its place: chunks before it are still released.
      // (`call` throws only MedsealError.)
      try {
        opened = Promise.resolve(call(() => j.openChunk(sealed, last)));
      } catch (e) {
        opened = Promise.reject(e instanceof Error ? e : invalid(String(e)));
      }
    }
    flight.push(opened.then((pt) => {
      done += pt.byteLength;
      return pt;
    }));
  };
  const free = (): void => {
    try { job?.free(); } catch { /* already freed */ }
    job = undefined;
  };
  let cancelled = false;
  const gone = (): void => {
    cancelled = true;
    free();
  };
  const drained = (): boolean => {
    if (cancelled) return false;
    progress(ctl, done);
    return true;
  };
  return new TransformStream<Uint8Array, Uint8Array>({
    async transform(input, controller) {
      if (cancelled) return;
      const out = enqueuer(controller, gone);
      try {
        check(ctl);
        const bytes = bytesIn(input);
        let at = 0;
        if (!job) {
          const n = Math.min(headLength - headFill, bytes.byteLength);
          head.set(bytes.subarray(0, n), headFill);
          headFill += n;
          at = n;
          if (headFill < headLength) return;
          job = call(() => openHead(head));
          if (subtle) cryptoKey = await keyReady(importChunkKey(subtle, job.takeKey(), "decrypt"), "decrypt");
        }
        // C2SP: a full chunk is never the last one, so it can go at once.
        await chunks.feed(bytes, at, (full) => submit(full, false), flight, out, drained);
      } catch (e) {
        free();
        throw e;
      }
    },
    async flush(controller) {
      if (cancelled) return;
      const out = enqueuer(controller, gone);
      try {
        check(ctl);
        if (!job) job = call(() => openHead(head.subarray(0, headFill)));
        // Release every good chunk before the end is judged (a missing last chunk is an error).
        await flight.drain(0, out);
        if (cancelled) return;
        submit(chunks.rest(), true);
        await flight.drain(0, out);
        if (cancelled) return;
        const j = job;
        call(() => j.finish());
        progress(ctl, done);
      } finally {
        free();
      }
    },
    cancel() {
      gone();
    },
  } as Transformer<Uint8Array, Uint8Array>);
}

/** A `RangeSource` over a `Blob` (a `File` the user picked, a stored sealed file). */
export function blobRangeSource(blob: Blob): RangeSource {
  return {
    size: blob.size,
    async read(start, end) {
      return new Uint8Array(await blob.slice(start, end).arrayBuffer());
    },
  };
}

/** A reader of plaintext ranges over a sealed file, after its header and last chunk were verified. */
export async function rangeReader(source: RangeSource, headLength: number, openHead: (head: Uint8Array) => wasm.StreamOpenJob, locked: () => boolean): Promise<RangeReader> {
  if (typeof source !== "object" || source === null || typeof source.read !== "function" || !Number.isSafeInteger(source.size) || source.size < 0) {
    throw invalid("source must be a Blob or { size, read(start, end) }");
  }
  const sealedSize = source.size;
  // FORMAT.md §17.4's order: the binding, then the header (both in
  // openHead), then the length.
  const head = await readExactly(source, 0, Math.min(headLength, sealedSize));
  let job: wasm.StreamOpenJob | undefined = call(() => openHead(head));
  let plainSize: number;
  try {
    plainSize = call(() => wasm.streamPlaintextSize(sealedSize));
  } catch (e) {
    job.free();
    throw e;
  }
  const subtle = subtleOf();
  let key: Promise<CryptoKey> | undefined;
  if (subtle) {
    key = importChunkKey(subtle, job.takeKey(), "decrypt");
    key.catch(() => undefined);
  }
  const sealedChunk = wasm.streamSealedChunkLength();
  const plainChunk = wasm.streamChunkLength();
  const version = job.version;

  const live = (): wasm.StreamOpenJob => {
    if (!job) throw invalid("this reader was closed");
    if (locked()) throw lockedError();
    return job;
  };
  const openChunk = async (j: wasm.StreamOpenJob, k: number, sealed: Uint8Array): Promise<Uint8Array> => {
    if (subtle && key) {
      const iv = call(() => j.nonceAt(k, sealedSize));
      const cryptoKey = await key;
      try {
        return new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv: iv as BufferSource }, cryptoKey, sealed as BufferSource));
      } catch (e) {
        if ((e as DOMException)?.name === "OperationError") throw decryptionFailed();
        throw invalid(`could not decrypt: ${String((e as Error)?.message ?? e)}`);
      }
    }
    return call(() => j.openChunkAt(k, sealed, sealedSize));
  };
  const readChunks = async (offset: number, length: number): Promise<{ plain: Uint8Array[]; plainStart: number }> => {
    const j = live();
    const span = call(() => j.chunkSpan(offset, length, sealedSize));
    const { first, last, start, end, plainStart } = span;
    span.free();
    const sealed = await readExactly(source, start, end);
    const parts: Array<Promise<Uint8Array>> = [];
    for (let k = first, at = 0; k <= last; k++, at += sealedChunk) {
      parts.push(openChunk(j, k, sealed.subarray(at, k === last ? sealed.byteLength : at + sealedChunk)));
    }
    return { plain: await Promise.all(parts), plainStart };
  };

  // C2SP: open the last chunk first, so the size (from the sealed length,
  // which a server could cut short) is authenticated.
  try {
    await readChunks(plainSize, 0);
  } catch (e) {
    // A refused file leaves no chunk key behind in wasm.
    try { job?.free(); } catch { /* already freed */ }
    job = undefined;
    throw e;
  }

  const reader: RangeReader = {
    size: plainSize,
    version,
    async readRange(offset: number, length: number): Promise<Uint8Array> {
      if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
        throw invalid("offset and length must be whole numbers of bytes");
      }
      if (offset + length > plainSize) throw invalid(`range [${offset}, ${offset + length}) is past the end of the file (${plainSize} bytes)`);
      if (length === 0) return new Uint8Array(0);
      const { plain, plainStart } = await readChunks(offset, length);
      const out = new Uint8Array(length);
      let skip = offset - plainStart;
      let at = 0;
      for (const p of plain) {
        const take = p.subarray(Math.min(skip, p.byteLength), Math.min(p.byteLength, skip + length - at));
        out.set(take, at);
        at += take.byteLength;
        skip = Math.max(0, skip - p.byteLength);
        p.fill(0);
      }
      return out;
    },
    stream(): ReadableStream<Uint8Array> {
      let offset = 0;
      const step = plainChunk * IN_FLIGHT;
      return new ReadableStream<Uint8Array>({
        pull: async (controller) => {
          if (offset >= plainSize) {
            controller.close();
            return;
          }
          const n = Math.min(step, plainSize - offset);
          controller.enqueue(await reader.readRange(offset, n));
          offset += n;
        },
      });
    },
    close(): void {
      try { job?.free(); } catch { /* already freed */ }
      job = undefined;
      key = undefined;
    },
  };
  // Its methods throw MedsealError and nothing else, as every entry point.
  guardMethods(reader, ["readRange", "stream", "close"]);
  return reader;
}

async function readExactly(source: RangeSource, start: number, end: number): Promise<Uint8Array> {
  const bytes = await source.read(start, end);
  if (!(bytes instanceof Uint8Array) || bytes.byteLength !== end - start) {
    throw new MedsealError(ErrorCode.Malformed, `the source returned ${bytes instanceof Uint8Array ? bytes.byteLength : "no"} bytes for [${start}, ${end})`);
  }
  return bytes;
}

/**
 * A `RangeSource` over HTTP: `Range` requests to `url` (the server must
 * answer 206 with `Content-Range`; the reference server's attachments do).
 * The first request reads the header and learns the sealed size.
 */
export async function httpRangeSource(url: string | URL, opts: { fetch?: typeof fetch; init?: RequestInit } = {}): Promise<RangeSource & { first: Uint8Array }> {
  const f = opts.fetch ?? globalThis.fetch.bind(globalThis);
  const get = async (start: number, end: number): Promise<{ bytes: Uint8Array; total: number }> => {
    const headers = new Headers(opts.init?.headers);
    headers.set("Range", `bytes=${start}-${end - 1}`);
    const r = await f(url, { ...opts.init, headers });
    if (r.status !== 206) throw invalid(`the server answered ${r.status} to a Range request (206 expected)`);
    const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(r.headers.get("Content-Range") ?? "");
    if (!m || Number(m[1]) !== start || Number(m[2]) !== end - 1) throw new MedsealError(ErrorCode.Malformed, "the server's Content-Range does not match the range asked for");
    return { bytes: new Uint8Array(await r.arrayBuffer()), total: Number(m[3]) };
  };
  const first = await get(0, wasm.streamHeaderLength());
  const source: RangeSource & { first: Uint8Array } = {
    size: first.total,
    first: first.bytes,
    async read(start, end) {
      if (end <= start) return new Uint8Array(0);
      if (start === 0 && end <= first.bytes.byteLength) return first.bytes.slice(0, end);
      const r = await get(start, end);
      if (r.total !== first.total) throw new MedsealError(ErrorCode.Malformed, "the file's size changed between two Range requests");
      return r.bytes;
    },
  };
  return source;
}
