// The alternative to medseal's log code in the benchmarks: RFC 6962 done by
// hand in JavaScript with @noble/hashes SHA-256 (synchronous, as a web
// developer would write it; WebCrypto's digest is asynchronous per hash).
// The same layout as medseal's server side: every complete-subtree hash
// stored, proofs read from them. Checked against medseal in the run.
import { sha256 } from "@noble/hashes/sha2.js";

const ZERO = new Uint8Array([0]);
const ONE = new Uint8Array([1]);

export function leafHash(data) {
  return sha256.create().update(ZERO).update(data).digest();
}
export function nodeHash(l, r) {
  return sha256.create().update(ONE).update(l).update(r).digest();
}
const split = (n) => 2 ** Math.floor(Math.log2(n - 1));

export class JsTree {
  levels = [];
  get size() {
    return this.levels[0]?.length ?? 0;
  }
  pushHash(leaf) {
    let h = leaf;
    let i = this.size;
    let level = 0;
    for (;;) {
      (this.levels[level] ??= []).push(h);
      if ((i & 1) === 0) break;
      h = nodeHash(this.levels[level][i - 1], h);
      i = (i - 1) / 2;
      level++;
    }
  }
  push(data) {
    this.pushHash(leafHash(data));
  }
  subtree(lo, hi) {
    const n = hi - lo;
    if ((n & (n - 1)) === 0) {
      const level = Math.log2(n);
      return this.levels[level][lo / n];
    }
    const k = split(n);
    return nodeHash(this.subtree(lo, lo + k), this.subtree(lo + k, hi));
  }
  root(size) {
    return this.subtree(0, size);
  }
  proveConsistency(m, n) {
    const out = [];
    const sub = (m, lo, hi, whole) => {
      const size = hi - lo;
      if (m === size) {
        if (!whole) out.push(this.subtree(lo, hi));
        return;
      }
      const k = split(size);
      if (m <= k) {
        sub(m, lo, lo + k, whole);
        out.push(this.subtree(lo + k, hi));
      } else {
        sub(m - k, lo + k, hi, false);
        out.push(this.subtree(lo, lo + k));
      }
    };
    if (m > 0 && m < n) sub(m, 0, n, true);
    return out;
  }
}

const eq = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

/** RFC 9162 §2.1.4.2. */
export function verifyConsistency(m, n, oldRoot, newRoot, proof) {
  if (m === n) return proof.length === 0 && eq(oldRoot, newRoot);
  if (m === 0 || m > n) return false;
  const nodes = (m & (m - 1)) === 0 ? [oldRoot, ...proof] : [...proof];
  let fn = m - 1;
  let sn = n - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = nodes[0];
  let sr = nodes[0];
  for (const c of nodes.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && eq(fr, oldRoot) && eq(sr, newRoot);
}
