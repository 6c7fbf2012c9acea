// Issue #16: large files as streams, the same code in Node 20 and in Chromium
// (bundled by bench/run.mjs). Three implementations side by side, each fed a
// plaintext generated on the fly (bench/stream-data.mjs: a ReadableStream of
// 64 KiB pieces) and read to the end by a counting sink, so that no file is
// held in memory:
//   - medseal `vault.sealStream` / `vault.openStream` (FORMAT.md §17: C2SP
//     chunked encryption, 16 KiB chunks, AES-256-GCM in WebCrypto, 16 chunks
//     in flight);
//   - the floor: raw WebCrypto AES-256-GCM over the same 16 KiB chunks with
//     the same pipelining (16 in flight, released in order; nonce = a random
//     12-byte base XOR the chunk counter, computed in JS; no header, no key
//     schedule, no checks beyond the tags);
//   - age-encryption (typage): its STREAM (ChaCha20-Poly1305 from
//     @noble/ciphers, 64 KiB chunks, one at a time) behind an X25519
//     recipient, through `Encrypter.encrypt(stream)` / `Decrypter.decrypt(stream)`.
// Opening reads the sealed bytes from memory in 64 KiB pieces (sealed once
// beforehand, not timed), as a `fetch` body or `File.stream()` would deliver
// them. Benchmarks are never assertions: this reports what was measured.
import * as age from "age-encryption";
import { PIECE, generated, valueAt } from "./stream-data.mjs";

export { generated };

const subtle = globalThis.crypto.subtle;
const rnd = (n) => globalThis.crypto.getRandomValues(new Uint8Array(n));
const now = () => performance.now();
const MiB = 1 << 20;

/** medseal's chunk (FORMAT.md §17) and the raw floor's. */
const CHUNK = 16384;
const TAG = 16;
/** Chunks in flight, as js/streams.ts. */
const IN_FLIGHT = 16;

/**
 * Reads `stream` to its end and counts the bytes. With `check`, also a
 * cheap check of the plaintext: the first byte of every piece read must be
 * the generator's at that offset (a moved, dropped or repeated chunk shows;
 * the memory tests check every byte).
 */
export async function drain(stream, check = false) {
  const reader = stream.getReader();
  let n = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return n;
    if (check && value.byteLength > 0 && value[0] !== valueAt(n)) throw new Error(`wrong plaintext at byte ${n}: ${value[0]}, expected ${valueAt(n)}`);
    n += value.byteLength;
  }
}

/** Reads `stream` into 64 KiB pages (the sealed file in memory, for the open runs). */
async function pages(stream) {
  const out = [];
  let page = new Uint8Array(PIECE);
  let fill = 0;
  const reader = stream.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    let at = 0;
    while (at < value.byteLength) {
      const n = Math.min(PIECE - fill, value.byteLength - at);
      page.set(value.subarray(at, at + n), fill);
      fill += n;
      at += n;
      if (fill === PIECE) {
        out.push(page);
        page = new Uint8Array(PIECE);
        fill = 0;
      }
    }
  }
  if (fill > 0) out.push(page.subarray(0, fill));
  return out;
}

/** A ReadableStream over stored pages (they are not modified by any of the implementations). */
function fromPages(list) {
  let i = 0;
  return new ReadableStream({
    pull(c) {
      if (i < list.length) c.enqueue(list[i++]);
      else c.close();
    },
  });
}

/**
 * The floor: WebCrypto AES-256-GCM over `size`-byte chunks (16 KiB of
 * plaintext, or 16 KiB + tag of ciphertext), `IN_FLIGHT` at once, released
 * in order; nonce `k` = `base` XOR the counter `k` (big-endian, in the last
 * four bytes: 2^32 chunks is C2SP's limit too), no AAD. A full chunk is sent
 * at once (C2SP: a full sealed chunk is never the last one); what remains at
 * the end is the last chunk. One input buffer, refilled as soon as WebCrypto
 * was called (it copies its input when called): a fresh 16 KiB buffer per
 * chunk costs 25-40 % of the throughput in Chromium.
 */
export function rawTransform(key, base, op) {
  const size = op === "encrypt" ? CHUNK : CHUNK + TAG;
  const queue = [];
  const buf = new Uint8Array(size);
  let fill = 0;
  let k = 0;
  const submit = (chunk) => {
    const iv = base.slice();
    iv[8] ^= k >>> 24;
    iv[9] ^= (k >>> 16) & 255;
    iv[10] ^= (k >>> 8) & 255;
    iv[11] ^= k & 255;
    k++;
    const p = subtle[op]({ name: "AES-GCM", iv }, key, chunk);
    p.catch(() => undefined);
    queue.push(p);
  };
  return new TransformStream({
    async transform(input, c) {
      let at = 0;
      while (at < input.byteLength) {
        const n = Math.min(size - fill, input.byteLength - at);
        buf.set(input.subarray(at, at + n), fill);
        fill += n;
        at += n;
        if (fill === size) {
          submit(buf);
          fill = 0;
        }
        while (queue.length > IN_FLIGHT) c.enqueue(new Uint8Array(await queue.shift()));
      }
    },
    async flush(c) {
      submit(buf.subarray(0, fill));
      while (queue.length > 0) c.enqueue(new Uint8Array(await queue.shift()));
    },
  });
}

/** The three implementations, each `{ impl, seal(readable) -> Promise<readable>, open(readable) -> Promise<readable> }`. */
async function implementations(medseal) {
  const { Vault, webauthn } = medseal;
  const { vault } = await Vault.create({ prf: { credentialId: rnd(16), prfSalt: webauthn.newPrfSalt(), prfOutput: rnd(32) } });
  const rawKey = await subtle.importKey("raw", rnd(32), "AES-GCM", false, ["encrypt", "decrypt"]);
  const base = rnd(12);
  const identity = await age.generateIdentity();
  const recipient = await age.identityToRecipient(identity);
  const enc = new age.Encrypter();
  enc.addRecipient(recipient);
  const dec = new age.Decrypter();
  dec.addIdentity(identity);
  const binding = { recordId: "scan-1" };
  return {
    vault,
    impls: [
      { impl: "medseal sealStream/openStream", seal: async (s, size) => s.pipeThrough(vault.sealStream({ ...binding, size })), open: async (s, size) => s.pipeThrough(vault.openStream({ ...binding, size })) },
      { impl: "WebCrypto raw AES-GCM, 16 KiB chunks, 16 in flight", seal: async (s) => s.pipeThrough(rawTransform(rawKey, base, "encrypt")), open: async (s) => s.pipeThrough(rawTransform(rawKey, base, "decrypt")) },
      { impl: "age-encryption STREAM (X25519)", seal: (s) => enc.encrypt(s), open: (s) => dec.decrypt(s) },
    ],
  };
}

const label = (size) => (size >= 1 << 30 ? `${size / (1 << 30)} GiB` : `${size / MiB} MiB`);

/**
 * Measures seal and open of each size for every implementation. Runs are
 * interleaved (one per implementation per round) so that this machine's
 * drift falls on all alike; the open runs read the implementations' sealed
 * files, made just before (untimed) and dropped after. `rounds(size)` gives
 * the rounds per size. Every run's output is counted and the open runs'
 * plaintext checked. Returns `{ results: [{ size, op, impl, mibps, seconds,
 * runs }] }`, `seconds` and `mibps` from the median run.
 */
export async function runStream({ medseal, sizes = [100 * MiB, 1 << 30], rounds = () => 3, log = () => {} }) {
  const { vault, impls } = await implementations(medseal);
  const results = [];
  const record = (size, op, impl, times) => {
    const s = [...times].sort((a, b) => a - b);
    const seconds = s[Math.floor(s.length / 2)];
    results.push({ size, op, impl, mibps: size / MiB / seconds, seconds, runs: times.map((t) => Number(t.toFixed(3))) });
    log(`stream ${label(size).padEnd(8)} ${op.padEnd(5)} ${impl.padEnd(52)} ${(size / MiB / seconds).toFixed(1).padStart(8)} MiB/s  (${times.map((t) => t.toFixed(2)).join(", ")} s)`);
  };

  // Every implementation round-trips a small file (not a multiple of any chunk size) before anything is timed.
  for (const x of impls) {
    const n = 5 * PIECE + 12345;
    const sealed = await pages(await x.seal(generated(n), n));
    const got = await drain(await x.open(fromPages(sealed), n), true);
    if (got !== n) throw new Error(`${x.impl}: ${got} bytes out of ${n}`);
  }

  for (const size of sizes) {
    const times = impls.map(() => []);
    for (let r = 0; r < rounds(size); r++) {
      for (const [i, x] of impls.entries()) {
        const t0 = now();
        const out = await drain(await x.seal(generated(size), size));
        times[i].push((now() - t0) / 1000);
        if (out < size) throw new Error(`${x.impl}: sealed ${out} bytes from ${size}`);
      }
    }
    impls.forEach((x, i) => record(size, "seal", x.impl, times[i]));
    // Open runs read sealed files held in memory: all three at once, and interleaved, up to 4 GiB in all (3 x 1 GiB
    // fits in Node and in a Chromium tab on 64-bit Linux), else one at a time.
    const groups = size * impls.length <= 4 * 1024 * MiB ? [impls] : impls.map((x) => [x]);
    for (const group of groups) {
      // Dropped at the end of this group's iteration.
      const sealed = [];
      for (const x of group) sealed.push(await pages(await x.seal(generated(size), size)));
      const t = group.map(() => []);
      for (let r = 0; r < rounds(size); r++) {
        for (const [i, x] of group.entries()) {
          const t0 = now();
          const out = await drain(await x.open(fromPages(sealed[i]), size), true);
          t[i].push((now() - t0) / 1000);
          if (out !== size) throw new Error(`${x.impl}: opened ${out} bytes of ${size}`);
        }
      }
      group.forEach((x, i) => record(size, "open", x.impl, t[i]));
    }
  }
  vault.lock();
  return { results };
}

/** medseal's time / the alternative's, per size and direction. */
export function streamRatios(results) {
  const out = [];
  for (const r of results.filter((x) => x.impl.startsWith("medseal"))) {
    for (const alt of results.filter((x) => x.size === r.size && x.op === r.op && !x.impl.startsWith("medseal"))) {
      out.push({ size: r.size, op: r.op, alternative: alt.impl, ratio: r.seconds / alt.seconds });
    }
  }
  return out;
}
