// Data for large-stream runs (issue #16), made as it is read and checked as
// it comes out, so that no run holds a file: the benchmarks (bench/streams.mjs)
// and the bounded-memory tests (tests/js/streams-memory.test.mjs, and in
// Chromium tests/browser/streams-memory.test.mjs, which serves this file to
// its page). No imports: the same module runs in Node and in browsers.

/** The size of the pieces the generator produces. */
export const PIECE = 65536;
/** Every 1 KiB block of the data holds one value, pseudo-random in the block's index. */
const BLOCK = 1024;

/** The value every byte of block `b` holds (a moved, dropped or repeated 16 KiB chunk changes 16 of them). */
export const blockValue = (b) => Math.imul(b + 1, 2654435761) >>> 24;

/** The value of the byte at offset `p` of the data. */
export const valueAt = (p) => blockValue(Math.floor(p / BLOCK));

/**
 * A ReadableStream of the first `size` bytes of the data, made as it is
 * read, in pieces of `piece` bytes (a multiple of 1 KiB). With `yieldEvery`,
 * every that many pieces it waits for a task (`setTimeout` 0) before the
 * next one, as a file or network read would: in Chromium, WebCrypto's
 * AES-GCM resolves its promises without a task in between, so a pipe from a
 * source that never waits runs to its end in one task (no timer, no
 * rendering, no DevTools command meanwhile).
 */
export function generated(size, { piece = PIECE, yieldEvery = 0 } = {}) {
  let at = 0;
  let pieces = 0;
  return new ReadableStream({
    async pull(c) {
      if (at >= size) {
        c.close();
        return;
      }
      if (yieldEvery > 0 && ++pieces % yieldEvery === 0) await new Promise((ok) => setTimeout(ok, 0));
      const n = Math.min(piece, size - at);
      const bytes = new Uint8Array(n);
      for (let o = 0; o < n; o += BLOCK) bytes.fill(blockValue((at + o) / BLOCK), o, Math.min(n, o + BLOCK));
      c.enqueue(bytes);
      at += n;
    },
  });
}

/**
 * Checks the data as it comes out, in pieces of any size: `update(bytes)`
 * compares every byte with the generator's (4 at a time where aligned) and
 * throws at the first difference; `length` is how many bytes were checked.
 */
export function verifier() {
  let at = 0;
  const fail = (p, got) => {
    throw new Error(`byte ${p} of the output is ${got}, the input's was ${valueAt(p)}`);
  };
  return {
    get length() {
      return at;
    },
    update(v) {
      const end = at + v.byteLength;
      // A 32-bit view when the piece and the stream offset allow it (WebCrypto's outputs: fresh buffers of 16 KiB).
      const words = v.byteOffset % 4 === 0 && at % 4 === 0 ? new Uint32Array(v.buffer, v.byteOffset, v.byteLength >> 2) : null;
      for (let p = at; p < end;) {
        const b = Math.floor(p / BLOCK);
        const stop = Math.min(end, (b + 1) * BLOCK);
        const x = blockValue(b);
        let q = p;
        if (words) {
          const w = (Math.imul(x, 0x01010101) >>> 0);
          const last = at + (((stop - at) >> 2) << 2);
          for (; q < last; q += 4) if (words[(q - at) >> 2] !== w) break;
        }
        for (; q < stop; q++) if (v[q - at] !== x) fail(q, v[q - at]);
        p = stop;
      }
      at = end;
    },
  };
}
