// Files (scans, PDFs, photos): sealed in this browser as they are read, in
// 16 KiB chunks (medseal's sealFile, FORMAT.md §17), uploaded as ciphertext
// to /api/attachments, and read back by ranges: a PDF's first page is drawn
// (pdf.js, fed through medseal's ranged reader) without downloading the
// whole file. A file's name, type and size are sealed as an ordinary record
// (a FHIR DocumentReference whose attachment points at the sealed file), so
// the server knows neither.
import { httpRangeSource } from "/pkg/dist/index.js";

/** The FHIR attachment URL of a sealed file: where the DocumentReference points. */
const SCHEME = "medseal-attachment:";
/** Every file is bound to its own record id and this context. */
const binding = (id) => ({ recordId: id, context: "attachment" });

/** The attachment id of a DocumentReference made by `describeFile`, or null. */
export function attachmentOf(resource) {
  const url = resource?.resourceType === "DocumentReference" ? resource.content?.[0]?.attachment?.url : undefined;
  return typeof url === "string" && url.startsWith(SCHEME) ? url.slice(SCHEME.length) : null;
}

/** The record saved beside a file: a FHIR R4 DocumentReference with its name, type and size. */
export function describeFile(id, file, at) {
  return {
    resourceType: "DocumentReference",
    id,
    status: "current",
    date: at,
    description: file.name,
    content: [{ attachment: { contentType: file.type || "application/octet-stream", title: file.name, size: file.size, url: `${SCHEME}${id}` } }],
  };
}

/** PUT with upload progress (fetch has none for request bodies). */
function put(url, blob, onProgress) {
  return new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    x.open("PUT", url);
    x.setRequestHeader("content-type", "application/octet-stream");
    x.setRequestHeader("x-medseal", "1");
    x.upload.onprogress = (e) => onProgress(e.loaded, e.total);
    x.onload = () => {
      if (x.status >= 200 && x.status < 300) return resolve();
      let j = {};
      try { j = JSON.parse(x.responseText); } catch { /* not JSON */ }
      reject(Object.assign(new Error(j.message ?? `upload failed: HTTP ${x.status}`), { status: x.status, code: j.error }));
    };
    x.onerror = () => reject(new Error("upload failed: the connection broke"));
    x.send(blob);
  });
}

/**
 * Seals `file` and uploads it; returns its attachment id. `onProgress(stage,
 * done, total)` reports sealing, then uploading.
 */
export async function upload(vault, file, onProgress) {
  const id = `file-${crypto.randomUUID()}`;
  const sealed = await vault.sealFile(file, { ...binding(id), onProgress: (done, total) => onProgress("Sealing", done, total) });
  await put(`/api/attachments/${encodeURIComponent(id)}`, sealed, (done, total) => onProgress("Uploading", done, total));
  return id;
}

/** A ranged reader of a stored file, and how many sealed bytes it fetched so far. */
export async function reader(vault, id) {
  const src = await httpRangeSource(`/api/attachments/${encodeURIComponent(id)}`, { init: { credentials: "same-origin", headers: { "x-medseal": "1" } } });
  const counted = {
    fetched: src.first.byteLength,
    size: src.size,
    async read(start, end) {
      const b = await src.read(start, end);
      // The first bytes were fetched with the size: not fetched twice.
      if (!(start === 0 && end <= src.first.byteLength)) counted.fetched += b.byteLength;
      return b;
    },
  };
  const r = await vault.openRange(counted, binding(id));
  return { reader: r, sealedSize: src.size, fetched: () => counted.fetched };
}

let pdfjs = null;
async function loadPdfJs() {
  if (!pdfjs) {
    pdfjs = await import("/vendor/pdf.min.mjs");
    pdfjs.GlobalWorkerOptions.workerSrc = "/vendor/pdf.worker.min.mjs";
  }
  return pdfjs;
}

/** Draws page 1 of a sealed PDF on `canvas`, pdf.js asking medseal's reader for the ranges it needs. */
export async function firstPdfPage(r, canvas) {
  const lib = await loadPdfJs();
  const transport = new lib.PDFDataRangeTransport(r.size, null);
  transport.requestDataRange = (begin, end) => {
    r.readRange(begin, end - begin).then((bytes) => transport.onDataRange(begin, bytes), () => transport.abort());
  };
  const task = lib.getDocument({ range: transport, disableAutoFetch: true, disableStream: true, rangeChunkSize: 65536, isEvalSupported: false });
  const doc = await task.promise;
  try {
    const page = await doc.getPage(1);
    const viewport = page.getViewport({ scale: 1 });
    canvas.width = Math.floor(viewport.width);
    canvas.height = Math.floor(viewport.height);
    await page.render({ canvas, viewport }).promise;
    return doc.numPages;
  } finally {
    void task.destroy();
  }
}

/** The whole plaintext of a stored file as a Blob (streamed through openStream). */
export async function download(vault, id, type, size) {
  const r = await fetch(`/api/attachments/${encodeURIComponent(id)}`, { credentials: "same-origin", headers: { "x-medseal": "1" } });
  if (!r.ok || !r.body) throw new Error(`download failed: HTTP ${r.status}`);
  const parts = [];
  await r.body.pipeThrough(vault.openStream({ ...binding(id), size })).pipeTo(new WritableStream({ write: (c) => { parts.push(c); } }));
  return new Blob(parts, { type });
}
