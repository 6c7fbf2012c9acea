// Emergency cards (src/card.rs, docs/FORMAT.md §15.9) against
// implementations nobody here wrote. medseal's cards in
// tests/vectors/card/medseal-*.json (written by tests/card.rs from seeded
// vaults) are verified with the npm package `jose` (compactVerify with the
// header's own key, EmbeddedJWK), inflated with Node's zlib, their kid
// recomputed with jose's calculateJwkThumbprint, their `shc:/` text decoded
// by the spec's rule written here (HL7 SMART Health Cards and Links IG
// STU1, Health Cards Specification, "Encoding QRs"), and rendered as the
// spec's QR code (`shc:/` in a byte-mode segment, the digits in a
// numeric-mode segment, error correction L) with the npm package `qrcode`,
// whose version must be 22 or lower, then read back from the pixels with
// `jsqr`. The other direction (jose signs,
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
import QRCode from "qrcode";
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
 * The spec's QR code ("Encoding QRs"): two segments, `shc:/` in byte mode
 * and the digits in numeric mode, error correction L, the smallest version
 * that holds them (qrcode picks it). The version is cross-checked against
 * ISO/IEC 18004:2015 Table 7 (data codewords at L) and the segment costs of
 * §7.4: mode 4 bits, character count 16 bits (bytes) and 12 or 14 (digits)
 * from version 10 on, 8 bits per byte, 10 bits per 3 digits.
 */
function specQr(text) {
  const digits = text.slice(5);
  const symbol = QRCode.create(
    [
      { data: "shc:/", mode: "byte" },
      { data: digits, mode: "numeric" },
    ],
    { errorCorrectionLevel: "L" },
  );
  assert.deepEqual(
    symbol.segments.map((s) => s.mode.id),
    ["Byte", "Numeric"],
  );
  const L = { 10: 274, 11: 324, 12: 370, 13: 428, 14: 461, 15: 523, 16: 589, 17: 647, 18: 721, 19: 795, 20: 861, 21: 932, 22: 1006, 23: 1094, 24: 1174, 25: 1276, 26: 1370, 27: 1468 };
  const bits = (ver) => 4 + 16 + 40 + 4 + (ver <= 26 ? 12 : 14) + 10 * Math.floor(digits.length / 3) + [0, 4, 7][digits.length % 3];
  const byTable = Object.keys(L).map(Number).find((ver) => bits(ver) <= 8 * L[ver]);
  assert.equal(symbol.version, byTable, "qrcode and the capacity table agree");
  return symbol;
}

/** Renders a qrcode symbol to RGBA pixels (4 per module, a 4-module quiet zone) and reads it with jsQR. */
function scan(symbol) {
  const scale = 4;
  const quiet = 4;
  const n = symbol.modules.size;
  const size = (n + 2 * quiet) * scale;
  const px = new Uint8ClampedArray(size * size * 4).fill(255);
  for (let y = 0; y < n; y++)
    for (let x = 0; x < n; x++) {
      if (!symbol.modules.get(y, x)) continue;
      for (let dy = 0; dy < scale; dy++)
        for (let dx = 0; dx < scale; dx++) {
          const i = (((y + quiet) * scale + dy) * size + (x + quiet) * scale + dx) * 4;
          px.fill(0, i, i + 3);
        }
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
    const symbol = specQr(v.qr);
    assert.ok(symbol.version <= 22, `one QR of version ${symbol.version} <= 22`);
    assert.equal(symbol.version, v.qr_version, "as tests/card.rs computed it");
    assert.equal(scan(symbol), v.qr, "jsQR reads the QR code back to the exact text");
    // The same text in byte mode alone (what a one-mode encoder does):
    // the reason the spec asks for numeric mode.
    const bytesOnly = QRCode.create([{ data: v.qr, mode: "byte" }], { errorCorrectionLevel: "L" }).version;
    t.diagnostic(
      `${v.name}: JWS ${v.jws.length} characters, QR text ${v.qr.length}; ` +
        `QR version ${symbol.version} at L (${symbol.modules.size}x${symbol.modules.size} modules); ` +
        `version ${bytesOnly} if all in byte mode`,
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
