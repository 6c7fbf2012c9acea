// Writes tests/vectors/card/jose-*.json: emergency cards (SMART Health Cards
// with the public key in the protected header, docs/FORMAT.md §15.9) made by
// implementations nobody here wrote: the npm package `jose` (CompactSign,
// ES256 through WebCrypto) signs, Node's zlib (deflateRawSync) compresses,
// and the `shc:/` text is made here by the spec's rule ("Encoding QRs":
// two digits of Ord(c) - 45 per character). medseal's `card::read_card`
// reads each (tests/card.rs, `cards_signed_by_jose_are_read`). WebCrypto
// draws fresh keys and nonces, so each run writes different files: run it
// once, review, commit the files. Not a test (node --test does not pick this
// name up).
//
//   node tests/js/card-interop/make-jose-card.mjs
//
// Fields of each file: description, expect ("success", or the medseal error
// code the card must fail with), iss, nbf, kid (jose's RFC 7638 thumbprint),
// bundle (the exact JSON text of the signed fhirBundle), jws, qr.
import { CompactSign, calculateJwkThumbprint, compactVerify, EmbeddedJWK, exportJWK, generateKeyPair, base64url } from "jose";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const out = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "vectors", "card");
mkdirSync(out, { recursive: true });

// The order n of P-256: a signature's s above n / 2 is "high".
const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const sOf = (jws) => BigInt("0x" + Buffer.from(base64url.decode(jws.split(".")[2]).slice(32)).toString("hex"));
const toQr = (jws) => "shc:/" + [...jws].map((c) => String(c.charCodeAt(0) - 45).padStart(2, "0")).join("");
const NBF = 1780000000;
const HEALTH_CARD = "https://smarthealth.cards#health-card";

const patient = {
  resourceType: "Bundle",
  type: "collection",
  entry: [
    {
      fullUrl: "resource:0",
      resource: { resourceType: "Patient", name: [{ family: "Rivera", given: ["Sam"] }], birthDate: "1988-02-29" },
    },
    {
      fullUrl: "resource:1",
      resource: {
        resourceType: "AllergyIntolerance",
        clinicalStatus: { coding: [{ system: "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", code: "active" }] },
        criticality: "high",
        code: { coding: [{ system: "http://snomed.info/sct", code: "91935009" }], text: "Peanut" },
        patient: { reference: "resource:0" },
      },
    },
  ],
};
const unicode = {
  resourceType: "Bundle",
  type: "collection",
  entry: [
    {
      fullUrl: "resource:0",
      resource: {
        resourceType: "Patient",
        name: [{ family: "Ødegård", given: ["Zoë", "张伟"] }],
        contact: [{ name: { text: "Łukasz \"Luke\" Nowak 🚑" }, telecom: [{ system: "phone", value: "+48 555 010 203" }] }],
      },
    },
  ],
};

const claims = (iss, bundle, extra = {}) => ({
  iss,
  nbf: NBF,
  ...extra,
  vc: { type: [HEALTH_CARD], credentialSubject: { fhirVersion: "4.0.1", fhirBundle: bundle } },
});

async function card({ header = {}, jwkExtra = {}, payload, signer, embed = true }) {
  const { publicKey, privateKey } = signer ?? (await generateKeyPair("ES256", { extractable: true }));
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk, "sha256");
  const protectedHeader = { alg: "ES256", zip: "DEF", kid, ...(embed ? { jwk: { ...jwk, ...jwkExtra } } : {}), ...header };
  const bytes = deflateRawSync(Buffer.from(JSON.stringify(payload)));
  const jws = await new CompactSign(bytes).setProtectedHeader(protectedHeader).sign(privateKey);
  return { jws, kid, publicKey, privateKey };
}

const vectors = [];

{
  const payload = claims("medseal:vault:AAECAwQFBgcICQoLDA0ODw", patient);
  const c = await card({ payload });
  vectors.push({ name: "card", description: "jose CompactSign ES256, header {alg, zip, kid, jwk} as medseal writes it, zlib deflateRawSync payload", expect: "success", payload, ...c });
}
{
  // WebCrypto's nonces are random: sign until s is in the high half, so
  // medseal's reader is shown to accept what any ES256 signer may produce.
  const payload = claims("https://issuer.example/cards", patient);
  const signer = await generateKeyPair("ES256", { extractable: true });
  let c;
  for (let i = 0; i < 64; i++) {
    c = await card({ payload, signer, jwkExtra: { use: "sig", alg: "ES256" } });
    if (sOf(c.jws) > N / 2n) break;
  }
  if (sOf(c.jws) <= N / 2n) throw new Error("no high-s signature in 64 tries");
  vectors.push({ name: "high-s", description: "a signature with s > n/2 (RFC 7518 allows it; WebCrypto produces it half the time), jwk with use sig and alg ES256 (a JWKS entry's form), an https iss", expect: "success", payload, ...c });
}
{
  const payload = claims("medseal:vault:AAECAwQFBgcICQoLDA0ODw", unicode);
  payload.vc.type.push("https://smarthealth.cards#immunization");
  const c = await card({ payload, header: { typ: "JWT" } });
  vectors.push({ name: "unicode", description: "non-ASCII text and escapes in the bundle, an extra vc.type and a typ header (both to be ignored)", expect: "success", payload, ...c });
}
{
  const payload = claims("https://issuer.example/cards", patient);
  const c = await card({ payload, embed: false });
  vectors.push({ name: "neg-no-jwk", description: "a standard SMART Health Card: kid only, the key at iss/.well-known/jwks.json; not verifiable offline, refused", expect: "Malformed", payload, ...c });
}
{
  const payload = claims("medseal:vault:AAECAwQFBgcICQoLDA0ODw", patient);
  const shown = await generateKeyPair("ES256", { extractable: true });
  const other = await generateKeyPair("ES256", { extractable: true });
  const jwk = await exportJWK(shown.publicKey);
  const kid = await calculateJwkThumbprint(jwk, "sha256");
  const bytes = deflateRawSync(Buffer.from(JSON.stringify(payload)));
  // The header names one key, another key signed: the signature fails.
  const jws = await new CompactSign(bytes).setProtectedHeader({ alg: "ES256", zip: "DEF", kid, jwk }).sign(other.privateKey);
  vectors.push({ name: "neg-wrong-key", description: "the header's jwk (and kid) is one key, the signature is another's", expect: "ManifestInvalid", payload, jws, kid });
}
{
  const payload = claims("medseal:vault:AAECAwQFBgcICQoLDA0ODw", patient, { exp: NBF + 86400 });
  const c = await card({ payload });
  vectors.push({ name: "neg-exp", description: "an exp claim: a verifier SHALL reject an expired card, medseal has no clock, so refuses any exp", expect: "Malformed", payload, ...c });
}

for (const v of vectors) {
  // Self-check with jose before writing (the wrong-key card must fail).
  const ok = await compactVerify(v.jws, EmbeddedJWK).then(
    (r) => JSON.parse(inflateRawSync(r.payload).toString("utf8")),
    () => null,
  );
  if (v.name === "neg-wrong-key" || v.name === "neg-no-jwk") {
    if (ok !== null) throw new Error(`${v.name}: jose accepted it`);
  } else if (JSON.stringify(ok) !== JSON.stringify(v.payload)) {
    throw new Error(`${v.name}: jose does not read back what it signed`);
  }
  const file = {
    description: v.description,
    expect: v.expect,
    iss: v.payload.iss,
    nbf: v.payload.nbf,
    kid: v.kid,
    bundle: JSON.stringify(v.payload.vc.credentialSubject.fhirBundle),
    jws: v.jws,
    qr: toQr(v.jws),
  };
  writeFileSync(join(out, `jose-${v.name}.json`), JSON.stringify(file, null, 2) + "\n");
  console.log(`jose-${v.name}.json: JWS ${v.jws.length} characters`);
}
