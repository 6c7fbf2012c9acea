// Exports (FORMAT.md §19): the plaintext of an export's stream, item by item,
// from what the app holds. No cryptography here: the core frames and checks
// each item (`exportFrame`), the vault's stream sealer encrypts the whole.

import * as wasm from "./wasm/medseal_wasm.js";
import { ErrorCode, MedsealError, call } from "./errors.js";
import type { ExportFile, ExportRecord, ExportSource } from "./types.js";
import { b64u, byteView } from "./webauthn.js";

const utf8 = new TextEncoder();

function invalid(message: string): MedsealError {
  return new MedsealError(ErrorCode.InvalidArgument, message);
}

async function* each<T>(items: Iterable<T> | AsyncIterable<T> | undefined, what: string): AsyncGenerator<T> {
  if (items === undefined || items === null) return;
  if (typeof (items as AsyncIterable<T>)[Symbol.asyncIterator] !== "function" && typeof (items as Iterable<T>)[Symbol.iterator] !== "function") {
    throw invalid(`${what} must be an iterable or async iterable`);
  }
  for await (const it of items) yield it;
}

/** How the vault reads a record's binding (`bindingOf` in index.ts): its id and context bytes. */
export type ReadBinding = (opts: unknown) => { recordId: string; context: Uint8Array };

/** A binding as an item's metadata: the id, and the context as base64url when there is one. */
function bindingMeta(read: ReadBinding, it: unknown): { recordId: string; context?: string } {
  const { recordId, context } = read(it);
  return context.length === 0 ? { recordId } : { recordId, context: b64u(context) };
}

function frame(kind: string, meta: object | string, bodyLength: number): Uint8Array {
  const text = typeof meta === "string" ? meta : JSON.stringify(meta);
  return call(() => wasm.exportFrame(kind, text, bodyLength));
}

/** A file body as a stream, with its exact length. */
function fileBody(f: ExportFile): { length: number; stream: () => ReadableStream<Uint8Array> } {
  const s = f.sealed;
  if (typeof Blob !== "undefined" && s instanceof Blob) return { length: s.size, stream: () => s.stream() };
  const bytes = byteView(s);
  if (bytes) return { length: bytes.length, stream: () => new Blob([bytes as BlobPart]).stream() };
  if (s instanceof ReadableStream) {
    if (!Number.isSafeInteger(f.size) || (f.size as number) < 0) throw invalid("a file given as a stream needs its sealed size");
    return { length: f.size as number, stream: () => s };
  }
  throw invalid("file.sealed must be a Blob, bytes or a ReadableStream");
}

/**
 * The export stream's plaintext: header, manifests (oldest first, ending
 * with `current`), records (those `keep` accepts; it throws for one that
 * must not be exported), files, log, end. A file's bytes are counted as
 * they pass: a stream shorter or longer than its declared size fails.
 */
export async function* exportItems(source: ExportSource, vaultId: string, current: string, created: number, keep: (r: ExportRecord) => boolean, read: ReadBinding): AsyncGenerator<Uint8Array> {
  if (source === null || typeof source !== "object") throw invalid("source must be { records?, files?, history?, log? }");
  const counts = { manifests: 0, records: 0, files: 0, logs: 0 };
  const header: Record<string, unknown> = { medseal: "export", version: 1, vaultId, created };
  if (source.app !== undefined) header.app = String(source.app);
  yield frame("header", header, 0);
  if (source.history !== undefined && !Array.isArray(source.history)) throw invalid("history must be an array of manifests");
  // The history as the server gave it, ending with the vault's own text of
  // the current revision (the reader requires the prefix manifest last).
  const revisionOf = (text: string): number => {
    const r = (JSON.parse(text) as { revision?: unknown }).revision;
    if (typeof r !== "number") throw invalid("history holds something that is not a manifest");
    return r;
  };
  const now = revisionOf(current);
  const history: string[] = [];
  for (const m of source.history ?? []) {
    const text = typeof m === "string" ? m : JSON.stringify(m);
    const r = revisionOf(text);
    if (r > now) throw invalid("history is newer than this vault's manifest: unlock again with it");
    if (r < now) history.push(text);
  }
  history.push(current);
  for (const m of history) {
    const body = utf8.encode(m);
    yield frame("manifest", "{}", body.length);
    yield body;
    counts.manifests++;
  }
  for await (const r of each<ExportRecord>(source.records, "records")) {
    const b = bindingMeta(read, r);
    // Checked as this device opens it (throws otherwise): the reader refuses
    // the whole export for one record it cannot open, and a server could
    // hand the app a version this device already knows is rolled back.
    if (!keep(r)) continue;
    const text = typeof r.sealed === "string";
    const body = text ? utf8.encode(r.sealed as string) : byteView(r.sealed);
    if (!body) throw invalid("record.sealed must be the sealed text or bytes");
    yield frame("record", { ...b, form: text ? "text" : "bytes" }, body.length);
    yield body;
    counts.records++;
  }
  for await (const f of each<ExportFile>(source.files, "files")) {
    const meta: Record<string, unknown> = bindingMeta(read, f);
    if (f.name !== undefined) meta.name = String(f.name);
    if (f.type !== undefined) meta.type = String(f.type);
    const { length, stream } = fileBody(f);
    yield frame("file", meta, length);
    let n = 0;
    for await (const chunk of stream() as unknown as AsyncIterable<Uint8Array>) {
      n += chunk.byteLength;
      if (n > length) throw invalid("a file's stream is longer than its size");
      yield chunk;
    }
    if (n !== length) throw invalid("a file's stream is shorter than its size");
    counts.files++;
  }
  if (source.log !== undefined && source.log !== null) {
    const { checkpoint, leaves } = source.log;
    if (typeof checkpoint !== "string" || !Array.isArray(leaves)) throw invalid("log must be { checkpoint, leaves }");
    const body = utf8.encode(JSON.stringify({ checkpoint, leaves: leaves.map((l) => (typeof l === "string" ? l : b64u(byteView(l) ?? new Uint8Array()))) }));
    yield frame("log", "{}", body.length);
    yield body;
    counts.logs++;
  }
  yield frame("end", counts, 0);
}

/** An async generator as a byte stream (pulled as the sealer asks). */
export function streamOf(gen: AsyncGenerator<Uint8Array>): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(ctl) {
      try {
        const r: IteratorResult<Uint8Array, unknown> = await gen.next();
        if (r.done) ctl.close();
        else ctl.enqueue(r.value);
      } catch (e) {
        // What the app's iterables throw reaches it as a typed error.
        ctl.error(e instanceof MedsealError ? e : invalid(`export source: ${e instanceof Error ? e.message : String(e)}`));
      }
    },
    async cancel(reason) {
      await gen.return(reason);
    },
  });
}
