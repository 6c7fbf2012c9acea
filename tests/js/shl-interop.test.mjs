// SMART Health Links (src/shl.rs) against an implementation nobody here
// wrote: the npm package `jose`. medseal's JWEs and `shlink:/` links in
// tests/vectors/shl/medseal-*.json (written by tests/shl.rs with a pinned
// random source) are opened with jose's compactDecrypt, and each link is
// decoded here from the spec's text alone (HL7 SMART Health Cards and Links
// IG STU1, Health Links Specification, "Construct a SMART Health Link
// Payload"). The other direction (jose writes, medseal reads) is
// tests/vectors/shl/jose-*.json, checked by tests/shl.rs; this file also
// checks that jose still opens those. Needs no build of medseal.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { compactDecrypt, base64url } from "jose";

const dir = join(dirname(fileURLToPath(import.meta.url)), "..", "vectors", "shl");
const load = (prefix) =>
  readdirSync(dir)
    .filter((n) => n.startsWith(prefix) && n.endsWith(".json"))
    .sort()
    .map((n) => ({ name: n, ...JSON.parse(readFileSync(join(dir, n), "utf8")) }));
const dec = new TextDecoder("utf-8", { fatal: true });
const B64URL = /^[A-Za-z0-9_-]*$/;

const medseal = load("medseal-");
const jose = load("jose-");

test("the vector files are there", () => {
  assert.ok(medseal.length >= 5, "run MEDSEAL_WRITE_SHL_VECTORS=1 cargo test --test shl");
  assert.ok(medseal.filter((v) => v.shlink).length >= 4);
  assert.ok(jose.length >= 7, "run node tests/js/shl-interop/make-jose-vectors.mjs");
});

for (const v of medseal) {
  test(`jose opens medseal's JWE: ${v.name}`, async () => {
    const key = base64url.decode(v.key);
    assert.equal(key.length, 32);
    const parts = v.jwe.split(".");
    assert.equal(parts.length, 5);
    assert.ok(parts.every((p) => B64URL.test(p)));
    assert.equal(parts[1], "", "alg dir: empty encrypted key");
    assert.equal(base64url.decode(parts[2]).length, 12, "96-bit IV");
    assert.equal(base64url.decode(parts[4]).length, 16, "128-bit tag");
    // The protected header is exactly alg, enc, cty, in that order.
    assert.equal(
      dec.decode(base64url.decode(parts[0])),
      JSON.stringify({ alg: "dir", enc: "A256GCM", cty: v.content_type }),
    );
    const r = await compactDecrypt(v.jwe, key);
    assert.deepEqual(r.protectedHeader, { alg: "dir", enc: "A256GCM", cty: v.content_type });
    assert.equal(dec.decode(r.plaintext), v.plaintext);
    // A flipped tag bit fails in jose too.
    const tag = base64url.decode(parts[4]);
    tag[0] ^= 1;
    const bad = [...parts.slice(0, 4), base64url.encode(tag)].join(".");
    await assert.rejects(compactDecrypt(bad, key));
  });
}

/** Decodes a `shlink:/` URI by the spec's text alone. */
function decodeShlink(text) {
  const i = text.indexOf("shlink:/");
  assert.ok(i === 0 || (i > 0 && text[i - 1] === "#"), "bare, or after a viewer URL ending in #");
  const body = text.slice(i + "shlink:/".length);
  assert.match(body, B64URL);
  return { raw: dec.decode(base64url.decode(body)), payload: JSON.parse(dec.decode(base64url.decode(body))) };
}

for (const v of medseal.filter((x) => x.shlink)) {
  test(`medseal's shlink:/ payload follows the spec: ${v.name}`, async () => {
    const { raw, payload } = decodeShlink(v.shlink);
    // Minified JSON object.
    assert.equal(raw, JSON.stringify(payload));
    assert.deepEqual(payload, v.payload);
    // Only the spec's properties, in the order of its table.
    const order = ["url", "key", "exp", "flag", "label", "v"];
    const keys = Object.keys(payload);
    assert.deepEqual(keys, order.filter((k) => k in payload));
    // url: required, https, at most 128 characters.
    assert.equal(typeof payload.url, "string");
    assert.ok(new URL(payload.url).protocol === "https:");
    assert.ok(payload.url.length <= 128);
    // key: required, 43 characters, 32 bytes of base64url; it opens the file.
    assert.equal(typeof payload.key, "string");
    assert.equal(payload.key.length, 43);
    const key = base64url.decode(payload.key);
    assert.equal(key.length, 32);
    assert.equal(dec.decode((await compactDecrypt(v.jwe, key)).plaintext), v.plaintext);
    // exp: epoch seconds.
    if ("exp" in payload) assert.ok(Number.isSafeInteger(payload.exp) && payload.exp > 0);
    // flag: single letters in alphabetical order; U never with P.
    if ("flag" in payload) {
      assert.match(payload.flag, /^L?P?U?$/);
      assert.ok(payload.flag.length > 0);
      assert.ok(!(payload.flag.includes("U") && payload.flag.includes("P")));
    }
    // label: at most 80 characters, as JavaScript counts them (UTF-16 units).
    if ("label" in payload) {
      assert.equal(typeof payload.label, "string");
      assert.ok(payload.label.length <= 80);
    }
    // v: 1 if present.
    if ("v" in payload) assert.equal(payload.v, 1);
    // As a viewer link, the fragment is the same link.
    assert.deepEqual(decodeShlink(`https://viewer.example.org#${v.shlink}`).payload, payload);
  });
}

for (const v of jose) {
  test(`jose still opens its own vector: ${v.name}`, async () => {
    const r = await compactDecrypt(v.jwe, base64url.decode(v.key), { maxDecompressedLength: 1 << 20 });
    assert.equal(dec.decode(r.plaintext), v.plaintext);
    assert.equal(r.protectedHeader.cty ?? null, v.content_type);
  });
}
