// The vault log of docs/FORMAT.md §16, written again in plain JS with
// node:crypto from the text of §16 alone (nothing here is taken from
// medseal's src/log): the RFC 6962 tree by the RFC's recursive definitions
// over an array of leaf hashes (MTH, PATH, PROOF), the verifiers of RFC 9162
// §2.1.3.2 and §2.1.4.2, entries (leaf layout, signed message, raw r || s
// low-S signatures, s normalised here), and C2SP signed-note checkpoints with
// type-0x02 key IDs (SHA-256 of the DER SubjectPublicKeyInfo, first 4
// bytes). `LogServer` is an in-memory server for one vault that answers a
// device's sync (§16.5) and can be made to lie. Not a test file.
import assert from "node:assert/strict";
import crypto from "node:crypto";

// ------------------------------------------------------------ bytes

const enc = new TextEncoder();
export const utf8 = (s) => enc.encode(s);
export const b64u = (s) => new Uint8Array(Buffer.from(s, "base64url"));
export const toB64u = (u) => Buffer.from(u).toString("base64url");
/** Standard, padded base64 (RFC 4648 §4), as signed notes use (§16.3). */
export const toB64 = (u) => Buffer.from(u).toString("base64");
export const cat = (...parts) => new Uint8Array(Buffer.concat(parts.map((p) => Buffer.from(p))));
const eq = (a, b) => a.length === b.length && Buffer.from(a).equals(Buffer.from(b));
export const sha256 = (...parts) => new Uint8Array(crypto.createHash("sha256").update(cat(...parts)).digest());

// ------------------------------------------------------------ §16.1: RFC 6962 §2.1

export const leafHash = (d) => sha256(Uint8Array.of(0x00), d);
export const nodeHash = (l, r) => sha256(Uint8Array.of(0x01), l, r);
/** The largest power of two smaller than n (n > 1). */
const split = (n) => {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
};
/** MTH(D[n]) over leaf hashes `h` (the leaf hash of each entry, already hashed). */
export function mth(h) {
  if (h.length === 0) return sha256(new Uint8Array(0));
  if (h.length === 1) return h[0];
  const k = split(h.length);
  return nodeHash(mth(h.slice(0, k)), mth(h.slice(k)));
}
/** RFC 6962 §2.1.1 PATH(m, D[n]): the inclusion proof of leaf m, bottom up. */
export function path(m, h) {
  if (h.length <= 1) return [];
  const k = split(h.length);
  return m < k ? [...path(m, h.slice(0, k)), mth(h.slice(k))] : [...path(m - k, h.slice(k)), mth(h.slice(0, k))];
}
/** RFC 6962 §2.1.2 PROOF(m, D[n]) = SUBPROOF(m, D[n], true); empty for m = 0 (§16.1) and m = n. */
export function proof(m, h) {
  if (m === 0) return [];
  const sub = (m, h, b) => {
    const n = h.length;
    if (m === n) return b ? [] : [mth(h)];
    const k = split(n);
    return m <= k ? [...sub(m, h.slice(0, k), b), mth(h.slice(k))] : [...sub(m - k, h.slice(k), false), mth(h.slice(0, k))];
  };
  return sub(m, h, true);
}
/** RFC 9162 §2.1.3.2: does `p` prove leaf hash `leaf` at `index` in the tree (size, root)? */
export function verifyInclusion(index, size, leaf, p, root) {
  if (index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const x of p) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(x, r);
      if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) (fn = Math.floor(fn / 2)), (sn = Math.floor(sn / 2));
    } else {
      r = nodeHash(r, x);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && eq(r, root);
}
/** RFC 9162 §2.1.4.2: does `p` prove (size1, root1) a prefix of (size2, root2)? */
export function verifyConsistency(size1, size2, p, root1, root2) {
  if (size1 > size2) return false;
  if (size1 === size2) return p.length === 0 && eq(root1, root2);
  if (size1 === 0) return p.length === 0;
  if (p.length === 0) return false;
  const c = (size1 & (size1 - 1)) === 0 ? [root1, ...p] : [...p];
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) (fn = Math.floor(fn / 2)), (sn = Math.floor(sn / 2));
  let fr = c[0];
  let sr = c[0];
  for (const x of c.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(x, fr);
      sr = nodeHash(x, sr);
      if (fn % 2 === 0) while (fn % 2 === 0 && fn !== 0) (fn = Math.floor(fn / 2)), (sn = Math.floor(sn / 2));
    } else {
      sr = nodeHash(sr, x);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return eq(fr, root1) && eq(sr, root2) && sn === 0;
}

// ------------------------------------------------------------ P-256 keys and signatures

const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const big = (u) => BigInt("0x" + (Buffer.from(u).toString("hex") || "0"));
const be32 = (x) => Uint8Array.from(Buffer.from(x.toString(16).padStart(64, "0"), "hex"));

/** DER ECDSA-Sig-Value -> [r, s] (a small parser: SEQUENCE of two INTEGERs, short lengths as P-256 has). */
export function derToRS(der) {
  const d = Buffer.from(der);
  assert.equal(d[0], 0x30);
  assert.equal(d[1], d.length - 2);
  let o = 2;
  const int = () => {
    assert.equal(d[o], 0x02);
    const len = d[o + 1];
    const v = big(d.subarray(o + 2, o + 2 + len));
    o += 2 + len;
    return v;
  };
  const r = int();
  const s = int();
  assert.equal(o, d.length);
  return [r, s];
}

/** An entry signature (§16.2): DER from node:crypto, then r || s with s ≤ n/2 (s -> n - s). */
export function signRaw(privateKey, msg) {
  const [r, s] = derToRS(crypto.sign("sha256", msg, { key: privateKey, dsaEncoding: "der" }));
  return cat(be32(r), be32(s > N / 2n ? N - s : s));
}
/** Verifies a raw r || s (64 bytes) and that it is low-S. */
export function verifyRaw(publicKey, msg, sig) {
  if (sig.length !== 64 || big(sig.subarray(32)) > N / 2n) return false;
  return crypto.verify("sha256", msg, { key: publicKey, dsaEncoding: "ieee-p1363" }, sig);
}

/** A KeyObject from a compressed (33) or uncompressed (65) SEC1 P-256 point. */
export function publicKeyFromSec1(point) {
  const u = crypto.ECDH.convertKey(Buffer.from(point), "prime256v1", undefined, undefined, "uncompressed");
  return crypto.createPublicKey({ key: { kty: "EC", crv: "P-256", x: toB64u(u.subarray(1, 33)), y: toB64u(u.subarray(33, 65)) }, format: "jwk" });
}
/** The compressed SEC1 point of a P-256 KeyObject (the `key` of a `server` entry, §16.2). */
export function compressed(publicKey) {
  const jwk = publicKey.export({ format: "jwk" });
  const x = b64u(jwk.x);
  const y = b64u(jwk.y);
  return cat(Uint8Array.of(0x02 | (y[31] & 1)), x);
}
export const spki = (publicKey) => new Uint8Array(publicKey.export({ type: "spki", format: "der" }));
/** §16.3: key ID of a type-0x02 signature = SHA-256(DER SubjectPublicKeyInfo)[0..4]. */
export const keyId = (publicKey) => sha256(spki(publicKey)).subarray(0, 4);

// ------------------------------------------------------------ §16.3: checkpoints as signed notes

export const originOf = (vaultId) => `medseal.invalid/vault/${vaultId}`;
export const checkpointText = (origin, size, root) => `${origin}\n${size}\n${toB64(root)}\n`;

/** A signed note: the text, an empty line, one "— name base64(keyID || DER sig)" line per signer. */
export function signNote(text, signers) {
  const lines = signers.map(({ name, privateKey, publicKey }) => {
    const sig = crypto.sign("sha256", utf8(text), { key: privateKey, dsaEncoding: "der" });
    return `\u2014 ${name} ${toB64(cat(keyId(publicKey), sig))}\n`;
  });
  return `${text}\n${lines.join("")}`;
}
/** Parses a note: { text, origin, size, root, sigs: [{ name, keyId, sig }] } (throws if malformed). */
export function parseNote(note) {
  const at = note.indexOf("\n\n");
  assert.ok(at > 0, "a note has its text, an empty line, then signatures");
  const text = note.slice(0, at + 1);
  const lines = text.slice(0, -1).split("\n");
  assert.equal(lines.length, 3, "§16.3: no extension lines");
  const [origin, size, root] = lines;
  assert.match(size, /^(0|[1-9][0-9]*)$/);
  const sigs = note
    .slice(at + 2)
    .split("\n")
    .filter((l, i, all) => !(l === "" && i === all.length - 1))
    .map((l) => {
      const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(l);
      assert.ok(m, `a signature line: ${JSON.stringify(l)}`);
      const b = Buffer.from(m[2], "base64");
      return { name: m[1], keyId: new Uint8Array(b.subarray(0, 4)), sig: new Uint8Array(b.subarray(4)) };
    });
  return { text, origin, size: Number(size), root: new Uint8Array(Buffer.from(root, "base64")), sigs };
}
/**
 * §16.3's verifier: signature lines of unknown keys ignored; a known key's
 * failing signature rejects; at least one known key. `keys`: [{ name, publicKey }].
 * Returns the parsed note and the names that signed it.
 */
export function verifyNote(note, keys) {
  const p = parseNote(note);
  const signed = [];
  for (const s of p.sigs) {
    const k = keys.find((k) => k.name === s.name && eq(keyId(k.publicKey), s.keyId));
    if (!k) continue;
    const ok = crypto.verify("sha256", utf8(p.text), { key: k.publicKey, dsaEncoding: "der" }, s.sig);
    if (!ok) throw new Error(`the signature of ${s.name} does not verify`);
    signed.push(s.name);
  }
  if (signed.length === 0) throw new Error("no known key signed this note");
  return { ...p, signed };
}

// ------------------------------------------------------------ §16.2: entries

const LEAF_PREFIX = utf8("medseal-log/v1\n");
assert.equal(LEAF_PREFIX.length, 15);
export const VAULT = 0x01;
export const SERVER = 0x02;
export const signedMessage = (origin, body) => cat(utf8(`medseal-log/v1 entry\n${origin}\n`), body);
export const makeLeaf = (author, sig, body) => cat(LEAF_PREFIX, Uint8Array.of(author), sig, body);

/** Splits a leaf: { author, sig, bodyBytes, body }. */
export function parseLeaf(leaf) {
  assert.ok(eq(leaf.subarray(0, 15), LEAF_PREFIX), "leaf prefix");
  const author = leaf[15];
  const sig = leaf.subarray(16, 80);
  const bodyBytes = leaf.subarray(80);
  assert.ok(bodyBytes.length <= 16 * 1024);
  const body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bodyBytes));
  return { author, sig, bodyBytes, body };
}

const VAULT_TYPES = { server: ["name", "key"], manifest: ["rev", "hash", "epoch", "added", "removed"], unlock: ["via", "method", "device", "uv"], recovery_check: ["via"], grant: ["share", "to", "records", "expires"], link: ["share", "label", "expires"], revoke: ["share"], delete: ["record"] };
const SERVER_TYPES = { shared_fetch: ["grant", "by", "records", "outcome"], link_fetch: ["link", "recipient", "from", "outcome"], login: ["method", "outcome", "from", "via"] };

/**
 * An independent check of one leaf at `index` (§16.2 + §16.4 step 3).
 * `ctx`: { origin, vaultKeys: Map(epoch -> KeyObject), serverKey (KeyObject or null), epochFloor }.
 * Returns the new { serverKey, serverName, epochFloor } (a `server` or `manifest` entry changes them).
 */
export function checkLeaf(leaf, index, ctx) {
  const { author, sig, bodyBytes, body } = parseLeaf(leaf);
  assert.equal(body.n, index, "n is the position");
  assert.ok(Number.isSafeInteger(body.t) && body.t >= 0);
  const msg = signedMessage(ctx.origin, bodyBytes);
  const next = { ...ctx };
  if (author === VAULT) {
    assert.ok(body.type in VAULT_TYPES, `a vault may write ${body.type}`);
    assert.deepEqual(Object.keys(body).filter((k) => !["n", "t", "e", "type", ...VAULT_TYPES[body.type]].includes(k)), [], "no other member");
    assert.ok(body.e >= ctx.epochFloor, "e ≥ the epoch floor");
    const key = ctx.vaultKeys.get(body.e);
    assert.ok(key, `an identity key of epoch ${body.e}`);
    assert.ok(verifyRaw(key, msg, sig), "vault signature");
    if (body.type === "server") Object.assign(next, { serverKey: publicKeyFromSec1(b64u(body.key)), serverName: body.name });
    if (body.type === "manifest") next.epochFloor = body.epoch;
  } else {
    assert.equal(author, SERVER);
    assert.ok(body.type in SERVER_TYPES, `a server may write ${body.type}`);
    assert.ok(!("e" in body));
    assert.deepEqual(Object.keys(body).filter((k) => !["n", "t", "type", ...SERVER_TYPES[body.type]].includes(k)), [], "no other member");
    assert.ok(ctx.serverKey, "a server key was announced before");
    assert.ok(verifyRaw(ctx.serverKey, msg, sig), "server signature");
  }
  if (index === 0) assert.equal(body.type, "server", "entry 0 is `server`");
  return next;
}

// ------------------------------------------------------------ the server

/** A new P-256 log key and its name. */
export function serverKey(name = "log.medseal.test") {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });
  return { name, privateKey, publicKey };
}

/**
 * One vault's log on an independent server (§16.5): it checks each vault
 * entry as §16.4 does before appending it, signs its own entries and
 * checkpoints, and answers syncs. `vaultKeys`: Map(epoch -> KeyObject).
 */
export class LogServer {
  constructor({ vaultId, vaultKeys, key = serverKey() }) {
    this.origin = originOf(vaultId);
    this.key = key;
    this.vaultKeys = vaultKeys;
    this.leaves = [];
    this.cosigned = [];
    this.ctx = { origin: this.origin, vaultKeys, serverKey: null, serverName: null, epochFloor: 0 };
  }
  get size() {
    return this.leaves.length;
  }
  hashes(n = this.size) {
    return this.leaves.slice(0, n).map(leafHash);
  }
  root(n = this.size) {
    return mth(this.hashes(n));
  }
  /** The `server` event a vault writes at position 0 to announce this server's key. */
  announce() {
    return { type: "server", name: this.key.name, key: toB64u(compressed(this.key.publicKey)) };
  }
  /** POST /api/log {size, leaf}: a vault entry, checked, appended if the log has `size` entries. */
  appendVault(leafB64u, size = this.size) {
    if (size !== this.size) throw new Error("log_moved");
    const leaf = b64u(leafB64u);
    assert.equal(leaf[15], VAULT);
    this.ctx = checkLeaf(leaf, this.size, this.ctx);
    this.leaves.push(leaf);
    return this.size - 1;
  }
  /** A server-attested event, signed under this server's key. */
  appendServer(event, t) {
    const body = utf8(JSON.stringify({ n: this.size, t, ...event }));
    const leaf = makeLeaf(SERVER, signRaw(this.key.privateKey, signedMessage(this.origin, body)), body);
    this.ctx = checkLeaf(leaf, this.size, this.ctx);
    this.leaves.push(leaf);
    return this.size - 1;
  }
  /** The checkpoint of size n, signed by `signers` (this server by default). */
  checkpoint(n = this.size, signers = [this.key]) {
    return signNote(checkpointText(this.origin, n, this.root(n)), signers);
  }
  /** GET /api/log?from=m: checkpoint, consistency proof, entries m..n, cosigned checkpoints with proofs to n. */
  sync(from, n = this.size) {
    const h = this.hashes(n);
    return {
      checkpoint: this.checkpoint(n),
      size: n,
      proof: proof(from, h).map(toB64u),
      entries: this.leaves.slice(from, n).map(toB64u),
      cosigned: this.cosigned.filter((c) => c.size <= n).map((c) => ({ note: c.note, proof: proof(c.size, h).map(toB64u) })),
      more: false,
    };
  }
  /** POST /api/log/cosign: keeps a checkpoint the vault cosigned (checked here under key name = origin). */
  cosign(note) {
    const p = verifyNote(note, [...this.vaultKeys.values()].map((publicKey) => ({ name: this.origin, publicKey })));
    assert.ok(p.size <= this.size && eq(p.root, this.root(p.size)), "a cosigned checkpoint of this history");
    this.cosigned.push({ note, size: p.size });
    return p;
  }
  /** GET /api/log/entries?start&end&size: [{index, leaf, proof}], inclusion in the tree of `size`. */
  entries(start = 0, end = this.size, size = this.size) {
    const h = this.hashes(size);
    return this.leaves.slice(start, end).map((leaf, i) => ({ index: start + i, leaf: toB64u(leaf), proof: path(start + i, h).map(toB64u) }));
  }
  /** A copy of this server (same key, same log), to fork or rewrite. */
  clone() {
    const c = new LogServer({ vaultId: "x", vaultKeys: this.vaultKeys, key: this.key });
    c.origin = this.origin;
    c.leaves = [...this.leaves];
    c.cosigned = [...this.cosigned];
    c.ctx = { ...this.ctx };
    return c;
  }
}
