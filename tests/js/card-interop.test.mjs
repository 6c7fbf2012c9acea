// Emergency cards (src/card.rs, docs/FORMAT.md §15.9) against
// implementations nobody here wrote. medseal's cards in
// tests/vectors/card/medseal-*.json (written by tests/card.rs from seeded
// vaults) are verified with the npm package `jose` (compactVerify with the
// header's own key, EmbeddedJWK), inflated with Node's zlib, their kid
// recomputed with jose's calculateJwkThumbprint, their `shc:/` text decoded
// by the spec's rule written here (HL7 SMART Health Cards and Links IG
// STU1, Health Cards Specification, "Encoding QRs"), and rendered as a QR
// code with `uqr`, read back with `jsqr`. The other direction (jose signs,
// medseal reads) is tests/vectors/card/jose-*.json, written by
// tests/js/card-interop/make-jose-card.mjs and read by tests/card.rs; this
// file checks that jose still verifies those. Needs no build of medseal.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { inflateRawSync } from "node:zlib";
import { compactVerify, EmbeddedJWK, calculateJwkThumbprint, base64url } from "jose";
import { encode } from "uqr";
import jsQR from "jsqr";

const dir = join(dirname(fileURLToPath(import.meta.url)), "..", "vectors", "card");
const load = (prefix) =>
  readdirSync(dir)
    .filter((n) => n.startsWith(prefix) && n.endsWith(".json"))
    .sort()
    .map((n) => ({ name: n, ...JSON.parse(readFileSync(join(dir, n), "utf8")) }));
const dec = new TextDecoder("utf-8", { fatal: true });
const B64URL = /^[A-Za-z0-9_-]+$/;
// The order n of P-256 (FIPS 186-4 D.1.2.3): medseal signs with s <= n/2.
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const HEALTH_CARD = "https://smarthealth.cards#health-card";
// SMART Health Cards QR FAQ (github.com/smart-on-fhir/health-cards,
// FAQ/qr.md): at version 22, error correction L, the longest JWS is 1195.
const MAX_JWS = 1195;

const medseal = load("medseal-");
const jose = load("jose-");

/** The spec's rule: `shc:/`, then two digits per JWS character, Ord(c) - 45. */
function decodeShc(text) {
  assert.ok(text.startsWith("shc:/"));
  const digits = text.slice(5);
  assert.match(digits, /^(\d\d)+$/, "an even number of digits");
  let out = "";
  for (let i = 0; i < digits.length; i += 2) {
    const v = Number(digits.slice(i, i + 2));
    assert.ok(v <= 77, "'-' (45) to 'z' (122)");
    out += String.fromCharCode(v + 45);
  }
  return out;
}

/**
 * The smallest QR version at error correction L for the spec's two
 * segments: `shc:/` in byte mode and the digits in numeric mode. uqr has no
 * API for mixed segments (it puts a whole text in one mode), so it is asked
 * for the digits alone in numeric mode with 18 more digits: from version 10
 * on, a byte segment of 5 characters costs 4 + 16 + 40 = 60 bits, exactly
 * what 18 digits cost in numeric mode (10 bits per 3), so both need the
 * same version. Cross-checked against ISO/IEC 18004's capacity table.
 */
function twoSegmentVersion(qr) {
  const digits = qr.slice(5);
  const v = encode(digits + "0".repeat(18), { ecc: "L" }).version;
  assert.ok(v >= 10, "the 60-bit equivalence holds from version 10");
  // ISO/IEC 18004:2015 Table 7, data codewords at L, versions 10 to 27.
  const L = { 10: 274, 11: 324, 12: 370, 13: 428, 14: 461, 15: 523, 16: 589, 17: 647, 18: 721, 19: 795, 20: 861, 21: 932, 22: 1006, 23: 1094, 24: 1174, 25: 1276, 26: 1370, 27: 1468 };
  const bits = (ver) => 4 + 16 + 40 + 4 + (ver <= 26 ? 12 : 14) + 10 * Math.floor(digits.length / 3) + [0, 4, 7][digits.length % 3];
  const byTable = Object.keys(L).map(Number).find((ver) => bits(ver) <= 8 * L[ver]);
  assert.equal(v, byTable, "uqr and the capacity table agree");
  return v;
}

/** Renders a uqr symbol to RGBA pixels and reads it back with jsQR. */
function scan(symbol) {
  const scale = 4;
  const size = symbol.size * scale;
  const px = new Uint8ClampedArray(size * size * 4);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const dark = symbol.data[Math.floor(y / scale)][Math.floor(x / scale)];
      px.fill(dark ? 0 : 255, (y * size + x) * 4, (y * size + x) * 4 + 3);
      px[(y * size + x) * 4 + 3] = 255;
    }
  return jsQR(px, size, size)?.data;
}

test("the vector files are there", () => {
  assert.ok(medseal.length >= 3, "run MEDSEAL_WRITE_CARD_VECTORS=1 cargo test --test card");
  assert.ok(jose.length >= 4, "run node tests/js/card-interop/make-jose-card.mjs");
});

for (const v of medseal) {
  test(`jose verifies medseal's card with the key it carries: ${v.name}`, async (t) => {
    const parts = v.jws.split(".");
    assert.equal(parts.length, 3);
    assert.ok(parts.every((p) => B64URL.test(p)));
    assert.ok(v.jws.length <= MAX_JWS, `${v.jws.length} <= ${MAX_JWS}`);
    // The protected header, exactly: alg, zip, kid, then the RFC 7638 JWK.
    const header = JSON.parse(dec.decode(base64url.decode(parts[0])));
    const { crv, kty, x, y } = header.jwk;
    assert.equal(
      dec.decode(base64url.decode(parts[0])),
      JSON.stringify({ alg: "ES256", zip: "DEF", kid: header.kid, jwk: { crv, kty, x, y } }),
    );
    assert.deepEqual(Object.keys(header.jwk), ["crv", "kty", "x", "y"]);
    assert.equal(base64url.decode(x).length, 32);
    assert.equal(base64url.decode(y).length, 32);

    const r = await compactVerify(v.jws, EmbeddedJWK);
    assert.deepEqual(r.protectedHeader, header);
    // kid = jose's RFC 7638 thumbprint of the jwk = the fingerprint.
    assert.equal(await calculateJwkThumbprint(header.jwk, "sha256"), header.kid);
    assert.equal(header.kid, v.kid);

    // zip DEF: raw DEFLATE, minified claims.
    const text = dec.decode(inflateRawSync(r.payload));
    const claims = JSON.parse(text);
    assert.equal(text, JSON.stringify(claims), "minified");
    assert.deepEqual(claims, {
      iss: v.iss,
      nbf: v.nbf,
      vc: {
        type: [HEALTH_CARD],
        credentialSubject: { fhirVersion: "4.0.1", fhirBundle: JSON.parse(v.bundle) },
      },
    });
    assert.match(claims.iss, /^medseal:vault:[A-Za-z0-9_-]{22}$/);
    const bundle = claims.vc.credentialSubject.fhirBundle;
    assert.equal(bundle.resourceType, "Bundle");

    // ES256: r || s, 64 bytes, s in the low half.
    const sig = base64url.decode(parts[2]);
    assert.equal(sig.length, 64);
    assert.ok(BigInt("0x" + Buffer.from(sig.slice(32)).toString("hex")) <= N / 2n);

    // A changed payload byte fails in jose too.
    const p = base64url.decode(parts[1]);
    p[p.length >> 1] ^= 1;
    await assert.rejects(compactVerify([parts[0], base64url.encode(p), parts[2]].join("."), EmbeddedJWK));

    // The QR text: digits only, decoded by the spec's rule.
    assert.match(v.qr, /^shc:\/\d+$/);
    assert.equal(decodeShc(v.qr), v.jws);
    const version = twoSegmentVersion(v.qr);
    assert.ok(version <= 22, `one QR of version ${version} <= 22`);
    assert.equal(version, v.qr_version, "as tests/card.rs computed it");
    // uqr in its own mode (the whole text as bytes: it has no mixed
    // segments): a valid QR that jsQR reads back exactly, at a higher
    // version than the spec's numeric encoding needs.
    const bytesMode = encode(v.qr, { ecc: "L" });
    assert.equal(scan(bytesMode), v.qr);
    // The numeric segment alone (uqr picks numeric mode for digits) scans too.
    const numeric = encode(v.qr.slice(5), { ecc: "L" });
    assert.equal(scan(numeric), v.qr.slice(5));
    t.diagnostic(
      `${v.name}: JWS ${v.jws.length} characters, QR text ${v.qr.length}; ` +
        `spec encoding (byte shc:/ + numeric): version ${version}; uqr byte mode: version ${bytesMode.version}; ` +
        `uqr numeric digits only: version ${numeric.version}`,
    );
  });
}

for (const v of jose) {
  test(`jose still verifies its own card: ${v.name}`, async () => {
    assert.equal(decodeShc(v.qr), v.jws);
    const header = JSON.parse(dec.decode(base64url.decode(v.jws.split(".")[0])));
    if (v.expect === "success") {
      const r = await compactVerify(v.jws, EmbeddedJWK);
      const claims = JSON.parse(dec.decode(inflateRawSync(r.payload)));
      assert.equal(JSON.stringify(claims.vc.credentialSubject.fhirBundle), v.bundle);
      assert.equal(claims.iss, v.iss);
      assert.equal(claims.nbf, v.nbf);
      assert.equal(await calculateJwkThumbprint(header.jwk, "sha256"), v.kid);
    } else if (v.name.includes("wrong-key") || v.name.includes("no-jwk")) {
      await assert.rejects(compactVerify(v.jws, EmbeddedJWK));
    }
  });
}
