// Writes tests/vectors/shl/jose-*.json: SMART Health Link files (JWE compact,
// alg "dir", enc "A256GCM") made by an implementation nobody here wrote, the
// npm package `jose` (CompactEncrypt), for medseal's `shl::jwe_decrypt` to
// open (tests/shl.rs). Keys are fixed (SHA-256 of the vector's name); jose
// draws the IVs, so each run writes different JWEs: run it once, review,
// commit the files. Not a test (node --test does not pick this name up).
//
//   node tests/js/shl-interop/make-jose-vectors.mjs
//
// Fields of each file: description, key (base64url, 32 bytes), jwe,
// plaintext (UTF-8 text), content_type (the cty header, or null).
import { CompactEncrypt, compactDecrypt, base64url } from "jose";
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const out = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "vectors", "shl");
mkdirSync(out, { recursive: true });

const keyFor = (name) => new Uint8Array(createHash("sha256").update(`medseal/shl-jose-vector/${name}`).digest());
const enc = new TextEncoder();
const dec = new TextDecoder("utf-8", { fatal: true });

const patient = JSON.stringify({
  resourceType: "Bundle",
  type: "collection",
  entry: [
    {
      fullUrl: "urn:uuid:8a6b7a1e-1f5e-4c56-9d8e-5a3f2e1c0b9a",
      resource: { resourceType: "Patient", name: [{ family: "Brown", given: ["Oliver"] }], birthDate: "2017-01-20" },
    },
  ],
});
const shcFile = JSON.stringify({
  verifiableCredential: Array.from({ length: 3 }, (_, i) => `eyJ6aXAiOiJERUYiLCJhbGciOiJFUzI1NiJ9.card-${i}.` + "sig".repeat(40)),
});

// The spec's own example ("Example Encryption" in the Health Links
// Specification of the HL7 SMART Health Cards and Links IG, STU1): a JWE and
// the payload key it was made with. Its plaintext is taken from jose.
const SPEC_KEY = "rxTgYlOaKJPFtcEd0qcceN8wEU4p94SqAwIWQe6uX7Q";
const SPEC_JWE =
  "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIiwiY3R5IjoiYXBwbGljYXRpb24vc21hcnQtaGVhbHRoLWNhcmQifQ..B9Bd5AW751az-gEx." +
  "iah6mxLb5TQe2ZfCwEUs4R1t8WoP0mnFc-TUzN1NIyzUeDwJNOcxv4CY8wV6ys4Dicnr3IhqTvVU1RbR-4eq1GCd4g96faV8_0MbHwXzP246Tz9BDLhQ2zlAjYq" +
  "vvCi_JuWdyWqGhKeWGX1XibNHFzzVT0FmYensfKF4o0uSeZWQDKVEEhzMSKuALMpUkfwHcmCRfLT-ctANSxq-Zj0IIeT66XbztOomStjlfi-F-FaqBGZfHOARCVvT" +
  "143CTYELLJCUdD4qUVkrNuLmRZrNuqVpY0g5BjABswkIoDmyoRJAEohuZCamZNA--p-uRqJjRefED1eMrKSppabV2ugaqoFlieujTOE-a3VKib9aC-lFsmLalkwh9c" +
  "tr_FZqS9H46rqGjGcOxtAXalo1jkMPGupVsE1W-xIH14wbPCYcgfldH9SH7X60462kxD8OFdHpvnnfAvjQnaE4QDqasT5ySpBRtck4GVxs2IRBt62-kOlzoI8lHapLd" +
  "wIms-Gdt7z38E47ZE3afE4IIbobPGz7wGvjbi3z234ARvGQ4jREgPQb1NRYAEtZlrZNzR6N7ofXD8jF502tw-QWI_Ox0jFP5tynIiMp-hG25ecQ0s4MzPHFC0ZABPa" +
  "mgg3MS-UILl76gMDCHS5Te_JAXZoC1HnkETw5M217SaG5ISAU0F5qETMREfTjZR9E45MDhnw7uY1vo2lffRB3ei1QqGuLh0gUnVU7TUfFYwcOqV15sb0t1lMj0mmyG5" +
  "v-_dE9H6dYtRKJARltmdfSmc1HisBewx75Xh5ChJQ1hiCEDaZ1wqFjsFJ6SrKgJ7C1N7vx6QKx8YXwFH7ePG2qG39leT5JKZnqAvi9fqc6x-YwfhSjbRKGZoj2o55F" +
  "d2fbwtK6CXpiW6AekT7PUcl_7ynTq-DaQ_Yc29WwtmgapcCRNpfcMsoqCD4giu1V3Sj5DQLglwuk1gAMcuV5fo8JpABu2_is83WZ_GJ1WWMUxyZGq6u-EGuZrP96Y" +
  "ewb7-zfnt2lao_LJg1ef5cqDTW7-0MS27wkmLiIi0e-PYvS-UfWVHg1oNbR-MHXMVEQ6gqNg08IgEyPDSFCUbf75HuMILN80bQNtSlFj6FR7uNKHr8sigvKI80k." +
  "5flOKKmeqYm0TamwROr8Nw";

const vectors = [
  {
    name: "fhir-json",
    description: "jose CompactEncrypt, alg dir, enc A256GCM, cty application/fhir+json (a FHIR Bundle)",
    header: { alg: "dir", enc: "A256GCM", cty: "application/fhir+json" },
    plaintext: patient,
  },
  {
    name: "zip-def",
    description: "jose CompactEncrypt with zip DEF (raw DEFLATE before encryption), cty application/smart-health-card",
    header: { alg: "dir", enc: "A256GCM", cty: "application/smart-health-card", zip: "DEF" },
    plaintext: shcFile,
  },
  {
    name: "zip-def-large",
    description: "zip DEF of a 40000-byte plaintext (the inflate buffer grows several times)",
    header: { alg: "dir", enc: "A256GCM", cty: "application/fhir+json", zip: "DEF" },
    plaintext: JSON.stringify({ resourceType: "Binary", data: "QUJD".repeat(9_990) }),
  },
  {
    name: "no-cty",
    description: "no cty header (as in the spec's manifest example), with an unknown kid header that a reader ignores",
    header: { alg: "dir", enc: "A256GCM", kid: "ignored" },
    plaintext: '{"resourceType":"Patient"}',
  },
  {
    name: "empty",
    description: "empty plaintext (empty ciphertext part)",
    header: { alg: "dir", enc: "A256GCM", cty: "application/fhir+json" },
    plaintext: "",
  },
  {
    name: "unicode",
    description: "non-ASCII plaintext and a cty that needs JSON escaping",
    header: { alg: "dir", enc: "A256GCM", cty: 'text/plain; note="ünïcødé \\ slash"' },
    plaintext: "Grüße, 患者, 🩺 — line\nbreak",
  },
];

const written = [];
for (const v of vectors) {
  const key = keyFor(v.name);
  const jwe = await new CompactEncrypt(enc.encode(v.plaintext)).setProtectedHeader(v.header).encrypt(key);
  // Sanity: jose opens what it wrote.
  const back = await compactDecrypt(jwe, key, { maxDecompressedLength: 1 << 20 });
  if (dec.decode(back.plaintext) !== v.plaintext) throw new Error(`${v.name}: jose round trip`);
  written.push({
    name: v.name,
    body: { description: v.description, key: base64url.encode(key), jwe, plaintext: v.plaintext, content_type: v.header.cty ?? null },
  });
}

// The spec example: decrypted here by jose, so both implementations are
// checked against the spec's bytes.
{
  const r = await compactDecrypt(SPEC_JWE, base64url.decode(SPEC_KEY));
  written.push({
    name: "spec-example",
    body: {
      description: "the JWE and key of the spec's 'Example Encryption' (HL7 SMART Health Cards and Links IG STU1, links-specification); plaintext as jose decrypts it",
      key: SPEC_KEY,
      jwe: SPEC_JWE,
      plaintext: dec.decode(r.plaintext),
      content_type: r.protectedHeader.cty ?? null,
    },
  });
}

for (const { name, body } of written) {
  writeFileSync(join(out, `jose-${name}.json`), JSON.stringify(body, null, 2) + "\n");
  console.log(`wrote tests/vectors/shl/jose-${name}.json`);
}
