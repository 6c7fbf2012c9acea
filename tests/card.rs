//! The emergency card (src/card.rs, docs/FORMAT.md §15.9): a FHIR Bundle
//! signed as a SMART Health Card (JWS, ES256, zip DEF) with its public key
//! in the header, read back from its `shc:/` QR text with no server.
//!
//! Checked here: the round trip of a realistic emergency summary and its
//! size against the one-QR limit (the QR version computed from the QR
//! standard's capacity table), the card key (its own key per epoch, not the
//! identity key), every tampering a holder of the card could try, what a
//! forger can and cannot do (the fingerprint is the trust anchor), and no
//! panic on any input. Interop: the files tests/vectors/card/medseal-*.json
//! are pinned here (`MEDSEAL_WRITE_CARD_VECTORS=1 cargo test --test card`
//! rewrites them; review the diff: a change means the writer changed) and
//! verified in Node by `jose`, zlib and `uqr` (tests/js/card-interop.test.mjs);
//! the files tests/vectors/card/jose-*.json were signed by `jose`
//! (tests/js/card-interop/make-jose-card.mjs) and are read here.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout
)]

mod common;

use std::path::PathBuf;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use medseal::card::{read_card, VerifiedCard, MAX_JWS_LEN, MAX_PAYLOAD_LEN, MAX_QR_LEN};
use medseal::{Error, Vault};
use p256::ecdsa::SigningKey;
use proptest::prelude::*;
use serde_json::{json, Value};
use sha2::Digest;

const NBF: u64 = 1_780_000_000;

/// A patient's emergency summary as an app might hold it: 3 allergies, 4
/// medications, 2 conditions and an emergency contact (`Patient.contact`
/// with relationship `C`, HL7 v2 table 0131). Valid FHIR R4 (an allergy
/// needs its clinical status, invariant ait-1), minified the way the SMART
/// Health Cards spec asks of a card meant for a QR code ("Payload content
/// minified for QR codes": `resource:0` references, no `id`, `meta`,
/// `text`), with concepts as `CodeableConcept.text` only, so that a reader
/// with no terminology server shows them as they are. What it takes to fit
/// one QR code with the key in the header (measured: the JWS is about 1180
/// characters of 1195): only the referenced Patient has a `fullUrl` (FHIR
/// makes it optional in a collection; the spec's guidance gives every entry
/// one, about 25 characters more), no allergy `reaction`, no dosage. The
/// same summary with codes ([`DETAILED_BUNDLE`]) does not fit.
/// Pretty-printed, as apps store JSON; the card carries it minified.
const EMERGENCY_BUNDLE: &str = r#"{
  "resourceType": "Bundle",
  "type": "collection",
  "entry": [
    {
      "fullUrl": "resource:0",
      "resource": {
        "resourceType": "Patient",
        "name": [{ "family": "Okafor", "given": ["Adaeze"] }],
        "gender": "female",
        "birthDate": "1961-04-17",
        "contact": [
          {
            "relationship": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "C" }] }],
            "name": { "family": "Okafor", "given": ["Chidi"] },
            "telecom": [{ "system": "phone", "value": "+1-555-0142" }]
          }
        ]
      }
    },
    {
      "resource": {
        "resourceType": "AllergyIntolerance",
        "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active" }] },
        "criticality": "high",
        "code": { "text": "Penicillin" },
        "patient": { "reference": "resource:0" }
      }
    },
    {
      "resource": {
        "resourceType": "AllergyIntolerance",
        "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active" }] },
        "criticality": "high",
        "code": { "text": "Peanut" },
        "patient": { "reference": "resource:0" }
      }
    },
    {
      "resource": {
        "resourceType": "AllergyIntolerance",
        "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active" }] },
        "criticality": "low",
        "code": { "text": "Latex" },
        "patient": { "reference": "resource:0" }
      }
    },
    {
      "resource": {
        "resourceType": "MedicationStatement",
        "status": "active",
        "medicationCodeableConcept": { "text": "Warfarin 5 mg" },
        "subject": { "reference": "resource:0" }
      }
    },
    {
      "resource": {
        "resourceType": "MedicationStatement",
        "status": "active",
        "medicationCodeableConcept": { "text": "Metformin 500 mg" },
        "subject": { "reference": "resource:0" }
      }
    },
    {
      "resource": {
        "resourceType": "MedicationStatement",
        "status": "active",
        "medicationCodeableConcept": { "text": "Lisinopril 10 mg" },
        "subject": { "reference": "resource:0" }
      }
    },
    {
      "resource": {
        "resourceType": "MedicationStatement",
        "status": "active",
        "medicationCodeableConcept": { "text": "Albuterol inhaler" },
        "subject": { "reference": "resource:0" }
      }
    },
    {
      "resource": {
        "resourceType": "Condition",
        "code": { "text": "Atrial fibrillation" },
        "subject": { "reference": "resource:0" }
      }
    },
    {
      "resource": {
        "resourceType": "Condition",
        "code": { "text": "Type 2 diabetes" },
        "subject": { "reference": "resource:0" }
      }
    }
  ]
}"#;

/// The same summary in more detail: RxNorm and SNOMED CT codes beside each
/// concept's text, clinical status on conditions, dosage text, a `fullUrl`
/// on every entry. Too large for one QR code with the key in the header
/// (see `a_detailed_summary_does_not_fit_one_qr_code`).
const DETAILED_BUNDLE: &str = r#"{
  "resourceType": "Bundle",
  "type": "collection",
  "entry": [
    {
      "fullUrl": "resource:0",
      "resource": {
        "resourceType": "Patient",
        "name": [{ "family": "Okafor", "given": ["Adaeze"] }],
        "gender": "female",
        "birthDate": "1961-04-17",
        "contact": [
          {
            "relationship": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "C" }] }],
            "name": { "family": "Okafor", "given": ["Chidi"] },
            "telecom": [{ "system": "phone", "value": "+1-555-0142", "use": "mobile" }]
          }
        ]
      }
    },
    {
      "fullUrl": "resource:1",
      "resource": {
        "resourceType": "AllergyIntolerance",
        "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "code": "active" }] },
        "criticality": "high",
        "code": { "coding": [{ "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "7980" }], "text": "Penicillin" },
        "patient": { "reference": "resource:0" },
        "reaction": [{ "manifestation": [{ "coding": [{ "system": "http://snomed.info/sct", "code": "39579001" }], "text": "Anaphylaxis" }] }]
      }
    },
    {
      "fullUrl": "resource:2",
      "resource": {
        "resourceType": "AllergyIntolerance",
        "criticality": "high",
        "code": { "coding": [{ "system": "http://snomed.info/sct", "code": "256349002" }], "text": "Peanut" },
        "patient": { "reference": "resource:0" }
      }
    },
    {
      "fullUrl": "resource:3",
      "resource": {
        "resourceType": "AllergyIntolerance",
        "criticality": "low",
        "code": { "coding": [{ "system": "http://snomed.info/sct", "code": "111088007" }], "text": "Latex" },
        "patient": { "reference": "resource:0" }
      }
    },
    {
      "fullUrl": "resource:4",
      "resource": {
        "resourceType": "MedicationStatement",
        "status": "active",
        "medicationCodeableConcept": { "coding": [{ "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "855332" }], "text": "Warfarin 5 mg tablet" },
        "subject": { "reference": "resource:0" },
        "dosage": [{ "text": "5 mg daily" }]
      }
    },
    {
      "fullUrl": "resource:5",
      "resource": {
        "resourceType": "MedicationStatement",
        "status": "active",
        "medicationCodeableConcept": { "coding": [{ "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "861007" }], "text": "Metformin 500 mg tablet" },
        "subject": { "reference": "resource:0" },
        "dosage": [{ "text": "500 mg twice daily" }]
      }
    },
    {
      "fullUrl": "resource:6",
      "resource": {
        "resourceType": "MedicationStatement",
        "status": "active",
        "medicationCodeableConcept": { "coding": [{ "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "314076" }], "text": "Lisinopril 10 mg tablet" },
        "subject": { "reference": "resource:0" },
        "dosage": [{ "text": "10 mg daily" }]
      }
    },
    {
      "fullUrl": "resource:7",
      "resource": {
        "resourceType": "MedicationStatement",
        "status": "active",
        "medicationCodeableConcept": { "coding": [{ "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "745679" }], "text": "Albuterol inhaler" },
        "subject": { "reference": "resource:0" },
        "dosage": [{ "text": "2 puffs as needed" }]
      }
    },
    {
      "fullUrl": "resource:8",
      "resource": {
        "resourceType": "Condition",
        "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active" }] },
        "code": { "coding": [{ "system": "http://snomed.info/sct", "code": "49436004" }], "text": "Atrial fibrillation" },
        "subject": { "reference": "resource:0" }
      }
    },
    {
      "fullUrl": "resource:9",
      "resource": {
        "resourceType": "Condition",
        "clinicalStatus": { "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active" }] },
        "code": { "coding": [{ "system": "http://snomed.info/sct", "code": "44054006" }], "text": "Type 2 diabetes" },
        "subject": { "reference": "resource:0" }
      }
    }
  ]
}"#;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/card")
}

/// A vault with the OS random source (its id, in the card's `iss`, is
/// random: the card's length varies by a few characters from vault to
/// vault).
fn vault() -> Vault {
    common::new_vault().0
}

/// The bundle as the card carries it: whitespace outside strings removed,
/// nothing else changed. Written independently of medseal's minifier.
fn compact(json: &str) -> String {
    let mut out = String::new();
    let mut in_str = false;
    let mut esc = false;
    for c in json.chars() {
        if in_str {
            out.push(c);
            match (esc, c) {
                (true, _) => esc = false,
                (false, '\\') => esc = true,
                (false, '"') => in_str = false,
                _ => {}
            }
        } else if c == '"' {
            in_str = true;
            out.push(c);
        } else if !c.is_ascii_whitespace() {
            out.push(c);
        }
    }
    out
}

/// The spec's rule ("Encoding QRs"), written here: each two digits are
/// `Ord(c) - 45`.
fn decode_numeric(qr: &str) -> String {
    let digits = qr.strip_prefix("shc:/").unwrap();
    assert!(digits.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(digits.len() % 2, 0);
    digits
        .as_bytes()
        .chunks(2)
        .map(|p| char::from(((p[0] - b'0') * 10 + (p[1] - b'0')) + 45))
        .collect()
}

/// Data codewords of QR versions 1 to 40 at error correction L (ISO/IEC
/// 18004:2015 Table 7; version 22: 1006 codewords = 8048 bits, the number
/// the SMART Health Cards QR FAQ starts from).
const L_DATA_CODEWORDS: [u32; 40] = [
    19, 34, 55, 80, 108, 136, 156, 194, 232, 274, 324, 370, 428, 461, 523, 589, 647, 721, 795, 861,
    932, 1006, 1094, 1174, 1276, 1370, 1468, 1531, 1631, 1735, 1843, 1955, 2071, 2191, 2306, 2434,
    2566, 2702, 2812, 2956,
];

/// The smallest QR version (error correction L) that holds `shc:/` in a
/// byte-mode segment and the digits in a numeric-mode segment (ISO/IEC
/// 18004 §7.4: mode indicator 4 bits; character count 8/16 bits for bytes,
/// 10/12/14 for digits by version range; 10 bits per 3 digits, 4 or 7 for
/// the last 1 or 2).
fn qr_version(qr: &str) -> usize {
    let digits = qr.len() - 5;
    let numeric = 10 * (digits / 3) + [0, 4, 7][digits % 3];
    (1..=40)
        .find(|&v| {
            let (byte_cc, num_cc) = match v {
                1..=9 => (8, 10),
                10..=26 => (16, 12),
                _ => (16, 14),
            };
            let bits = 4 + byte_cc + 5 * 8 + 4 + num_cc + numeric;
            bits <= 8 * L_DATA_CODEWORDS[v - 1] as usize
        })
        .unwrap()
}

/// An edit of a header or claims object.
type Edit = Box<dyn Fn(&mut Value)>;

fn parts(jws: &str) -> Vec<String> {
    jws.split('.').map(str::to_string).collect()
}

fn header_of(jws: &str) -> Value {
    serde_json::from_slice(&B64.decode(&parts(jws)[0]).unwrap()).unwrap()
}

fn inflate(bytes: &[u8]) -> Vec<u8> {
    miniz_oxide::inflate::decompress_to_vec(bytes).unwrap()
}

fn deflate(bytes: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec(bytes, 6)
}

/// A key of the test's own (a forger's, or another issuer's).
fn key(label: &str) -> SigningKey {
    let seed: [u8; 32] = sha2::Sha256::digest(label.as_bytes()).into();
    SigningKey::from_slice(&seed).unwrap()
}

/// The RFC 7638 JWK of a key (members in lexicographic order).
fn jwk(key: &SigningKey) -> Value {
    let p = key.verifying_key().to_sec1_point(false);
    let b = p.as_bytes();
    json!({"crv": "P-256", "kty": "EC", "x": B64.encode(&b[1..33]), "y": B64.encode(&b[33..65])})
}

/// RFC 7638 §3: SHA-256 of the required members, sorted, no whitespace.
fn thumbprint(jwk: &Value) -> String {
    let canonical = format!(
        r#"{{"crv":"{}","kty":"{}","x":"{}","y":"{}"}}"#,
        jwk["crv"].as_str().unwrap(),
        jwk["kty"].as_str().unwrap(),
        jwk["x"].as_str().unwrap(),
        jwk["y"].as_str().unwrap()
    );
    B64.encode(sha2::Sha256::digest(canonical.as_bytes()))
}

/// A JWS signed by `key` over exactly `header` and `payload` (bytes as
/// given: the test decides what is compressed).
fn sign(key: &SigningKey, header: &str, payload: &[u8]) -> String {
    let signing_input = format!("{}.{}", B64.encode(header), B64.encode(payload));
    let sig = common::sign_low_s(key, signing_input.as_bytes());
    format!("{signing_input}.{}", B64.encode(sig))
}

/// The standard header for `key`: alg, zip, kid, jwk.
fn header_for(key: &SigningKey) -> Value {
    let j = jwk(key);
    json!({"alg": "ES256", "zip": "DEF", "kid": thumbprint(&j), "jwk": j})
}

fn claims(iss: &str, bundle: Value) -> Value {
    json!({
        "iss": iss,
        "nbf": NBF,
        "vc": {
            "type": ["https://smarthealth.cards#health-card"],
            "credentialSubject": {"fhirVersion": "4.0.1", "fhirBundle": bundle}
        }
    })
}

fn small_bundle() -> Value {
    json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "resource:0", "resource": {"resourceType": "Patient", "name": [{"family": "Doe"}]}}
    ]})
}

/// A card signed by `key` with the standard header and these claims.
fn forged(key: &SigningKey, claims: &Value) -> String {
    sign(
        key,
        &header_for(key).to_string(),
        &deflate(claims.to_string().as_bytes()),
    )
}

#[track_caller]
fn malformed<T: std::fmt::Debug>(r: Result<T, Error>) {
    match r {
        Err(Error::Malformed(_)) => {}
        other => panic!("expected Malformed, got {other:?}"),
    }
}

#[track_caller]
fn not_authentic<T: std::fmt::Debug>(r: Result<T, Error>) {
    assert_eq!(r.unwrap_err(), Error::ManifestInvalid);
}

// ---------------------------------------------------------------------------
// The round trip

#[test]
fn an_emergency_summary_reads_back_verified_from_one_qr_code() {
    let v = vault();
    let card = v.emergency_card(EMERGENCY_BUNDLE.as_bytes(), NBF).unwrap();
    let version = qr_version(&card.qr);
    println!(
        "emergency card: bundle {} B ({} B minified), JWS {} characters, QR text {} characters, QR version {version} (error correction L)",
        EMERGENCY_BUNDLE.len(),
        compact(EMERGENCY_BUNDLE).len(),
        card.jws.len(),
        card.qr.len()
    );
    assert!(card.jws.len() <= MAX_JWS_LEN);
    assert!(version <= 22, "one QR of version 22 or lower");

    for text in [&card.qr, &card.jws] {
        let r: VerifiedCard = read_card(text).unwrap();
        assert_eq!(r.bundle_json, compact(EMERGENCY_BUNDLE).as_bytes());
        let a: Value = serde_json::from_slice(&r.bundle_json).unwrap();
        let b: Value = serde_json::from_str(EMERGENCY_BUNDLE).unwrap();
        assert_eq!(a, b);
        assert_eq!(r.fingerprint, v.card_fingerprint().unwrap());
        assert_eq!(r.fingerprint, card.fingerprint);
        assert_eq!(r.iss, format!("medseal:vault:{}", B64.encode(v.vault_id())));
        assert_eq!(r.nbf, NBF);
    }
    // Debug shows no health data.
    let shown = format!("{card:?} {:?}", read_card(&card.qr).unwrap());
    assert!(!shown.contains("Okafor") && !shown.contains(&card.jws[..40]));
}

#[test]
fn a_detailed_summary_does_not_fit_one_qr_code() {
    let v = vault();
    assert_eq!(
        v.emergency_card(DETAILED_BUNDLE.as_bytes(), NBF)
            .unwrap_err(),
        Error::TooLarge
    );
    // How long it would have been: the same header and signature as any
    // card of this vault, and the DEFLATE of these claims.
    let card = v.emergency_card(EMERGENCY_BUNDLE.as_bytes(), NBF).unwrap();
    let header_len = parts(&card.jws)[0].len();
    let c = claims(
        &format!("medseal:vault:{}", B64.encode(v.vault_id())),
        serde_json::from_str(DETAILED_BUNDLE).unwrap(),
    );
    // serde_json's Value sorts keys; the length of the minified input is
    // what matters for the size, and the order hardly changes DEFLATE.
    let z = miniz_oxide::deflate::compress_to_vec(c.to_string().as_bytes(), 10);
    let would_be = header_len + 1 + B64.encode(&z).len() + 1 + 86;
    println!(
        "detailed summary: {} B minified, the JWS would be about {would_be} characters (limit {MAX_JWS_LEN}); header {header_len} characters",
        compact(DETAILED_BUNDLE).len()
    );
    assert!(would_be > MAX_JWS_LEN);
}

#[test]
fn the_card_is_a_smart_health_card_with_its_key_in_the_header() {
    let v = vault();
    let card = v.emergency_card(EMERGENCY_BUNDLE.as_bytes(), NBF).unwrap();
    let p = parts(&card.jws);
    assert_eq!(p.len(), 3);
    // The header, byte for byte: alg, zip, kid, jwk (RFC 7638 member order).
    let h = header_of(&card.jws);
    let expected = format!(
        r#"{{"alg":"ES256","zip":"DEF","kid":"{}","jwk":{}}}"#,
        thumbprint(&h["jwk"]),
        serde_json::to_string(&h["jwk"]).unwrap()
    );
    assert_eq!(B64.decode(&p[0]).unwrap(), expected.as_bytes());
    assert_eq!(h["kid"], thumbprint(&h["jwk"]));
    assert_eq!(card.fingerprint, thumbprint(&h["jwk"]));
    // The payload: raw DEFLATE of the minified claims.
    let inflated = inflate(&B64.decode(&p[1]).unwrap());
    let text = String::from_utf8(inflated).unwrap();
    assert_eq!(text, compact(&text), "minified");
    let c: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        c,
        claims(
            &format!("medseal:vault:{}", B64.encode(v.vault_id())),
            serde_json::from_str(EMERGENCY_BUNDLE).unwrap()
        )
    );
    // ES256 by the jwk, checked with p256 directly: r || s, low s.
    let x = B64.decode(h["jwk"]["x"].as_str().unwrap()).unwrap();
    let y = B64.decode(h["jwk"]["y"].as_str().unwrap()).unwrap();
    let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(&[&[4u8][..], &x, &y].concat()).unwrap();
    let sig = B64.decode(&p[2]).unwrap();
    assert_eq!(sig.len(), 64);
    assert!(!common::is_high_s(&sig));
    use p256::ecdsa::signature::Verifier;
    vk.verify(
        format!("{}.{}", p[0], p[1]).as_bytes(),
        &p256::ecdsa::Signature::from_slice(&sig).unwrap(),
    )
    .unwrap();
    // The QR text, decoded by the spec's rule.
    assert_eq!(decode_numeric(&card.qr), card.jws);
    assert_eq!(card.qr.len(), 5 + 2 * card.jws.len());
    // The card key is not the identity key (one key, one purpose).
    let identity = v.identity_public_key();
    assert_ne!(&identity[1..], &x[..]);
}

/// FORMAT.md §15.9, computed here with the `hkdf` and `p256` crates from
/// the vault key (the seeded stream's bytes 16..48, FORMAT.md §12.4):
/// scalar = HKDF-SHA256(ikm = vault key, salt = "", info =
/// "medseal/v3/card/signing-key" || lp(vault id) || u32be(epoch) || counter),
/// the first counter (from 0) that gives a valid scalar.
#[test]
fn the_card_key_is_derived_as_the_format_says() {
    let seed = b"card/derivation";
    let (v, _) = common::seeded_vault(seed);
    let stream = common::seeded_stream(seed, 48);
    assert_eq!(&stream[..16], v.vault_id(), "the stream's first draw");
    let vault_key = &stream[16..48];
    let epoch = v.manifest().epoch();
    let mut info = b"medseal/v3/card/signing-key".to_vec();
    info.extend_from_slice(&16u32.to_be_bytes());
    info.extend_from_slice(v.vault_id());
    info.extend_from_slice(&epoch.to_be_bytes());
    let key = (0u8..8)
        .find_map(|counter| {
            let mut okm = [0u8; 32];
            hkdf::Hkdf::<sha2::Sha256>::new(Some(&[]), vault_key)
                .expand(&[&info[..], &[counter]].concat(), &mut okm)
                .unwrap();
            SigningKey::from_slice(&okm).ok()
        })
        .unwrap();
    assert_eq!(v.card_fingerprint().unwrap(), thumbprint(&jwk(&key)));
    let card = v
        .emergency_card(br#"{"resourceType":"Bundle"}"#, 1)
        .unwrap();
    assert_eq!(header_of(&card.jws)["jwk"], jwk(&key));
    // Not the identity key.
    assert_ne!(
        common::public_key(&common::seeded_identity(seed)),
        common::public_key(&key)
    );
}

#[test]
fn same_vault_same_card_and_each_vault_its_own_key() {
    let (a, _) = common::seeded_vault(b"card/determinism");
    let one = a.emergency_card(EMERGENCY_BUNDLE.as_bytes(), NBF).unwrap();
    let two = a.emergency_card(EMERGENCY_BUNDLE.as_bytes(), NBF).unwrap();
    assert_eq!(one, two, "RFC 6979 signatures and a fixed DEFLATE level");
    let b = vault();
    assert_ne!(a.card_fingerprint().unwrap(), b.card_fingerprint().unwrap());
    // Unlocked again (another session, same epoch): the same key.
    let m = a.manifest().clone();
    let again = common::unlock(&m, b"cred-1", 1).unwrap();
    assert_eq!(
        again.card_fingerprint().unwrap(),
        a.card_fingerprint().unwrap()
    );
}

#[test]
fn rekey_changes_the_fingerprint_and_old_cards_still_verify() {
    let mut v = vault();
    let old = v.emergency_card(EMERGENCY_BUNDLE.as_bytes(), NBF).unwrap();
    let before = v.card_fingerprint().unwrap();
    v.rekey().unwrap();
    let after = v.card_fingerprint().unwrap();
    assert_ne!(before, after, "a new epoch, a new card key");
    let new = v
        .emergency_card(EMERGENCY_BUNDLE.as_bytes(), NBF + 1)
        .unwrap();
    assert_eq!(new.fingerprint, after);
    let r = read_card(&old.qr).unwrap();
    assert_eq!(
        r.fingerprint, before,
        "self-contained: the old key travels with it"
    );
    v.retire_epochs().unwrap();
    assert_eq!(read_card(&old.qr).unwrap().fingerprint, before);
    assert_eq!(read_card(&new.qr).unwrap().fingerprint, after);
}

#[test]
fn the_bundle_is_kept_byte_for_byte_apart_from_whitespace() {
    let v = vault();
    // Key order, number forms, escapes and non-ASCII text as given.
    let bundle =
        "{ \"resourceType\" : \"Bundle\", \"type\":\"collection\", \"z\": 1.50, \"a\": 1e2,\n \
                  \"s\": \"tab\\t \\\"q\\\" \\u00e9 Zoë Ødegård 张伟 🚑\", \"entry\": [ ] }";
    let card = v.emergency_card(bundle.as_bytes(), 0).unwrap();
    let r = read_card(&card.qr).unwrap();
    assert_eq!(String::from_utf8(r.bundle_json).unwrap(), compact(bundle));
    assert_eq!(r.nbf, 0);
}

// ---------------------------------------------------------------------------
// Refused input when making a card

#[test]
fn bad_bundles_and_times_are_refused() {
    let v = vault();
    for bad in [
        &b"\xff{}"[..],
        b"",
        b"not json",
        b"[1,2]",
        b"\"Bundle\"",
        b"{\"a\":1",
        b"{\"a\":1} {}",
        b"{\"a\":\"\xc3\x28\"}",
    ] {
        assert!(
            matches!(v.emergency_card(bad, NBF), Err(Error::InvalidArgument(_))),
            "{bad:?}"
        );
    }
    assert!(matches!(
        v.emergency_card(b"{}", 1 << 53),
        Err(Error::InvalidArgument(_))
    ));
    assert!(v.emergency_card(b"{}", (1 << 53) - 1).is_ok());
}

#[test]
fn a_card_that_would_not_fit_one_qr_code_is_refused() {
    let v = vault();
    // 1 KB of hex of SHA-256 outputs: DEFLATE cannot shrink it below 1195
    // characters of JWS.
    let noise: String = (0..40u32)
        .map(|i| hex::encode(sha2::Sha256::digest(i.to_be_bytes())))
        .collect();
    let bundle = json!({"resourceType": "Bundle", "type": "collection", "note": noise}).to_string();
    let e = v.emergency_card(bundle.as_bytes(), NBF).unwrap_err();
    assert_eq!(e, Error::TooLarge);
    // Just under the limit still fits: find the longest noise that does.
    let mut fits = 0;
    for n in (0..noise.len()).step_by(8) {
        let b = json!({"resourceType": "Bundle", "note": &noise[..n]}).to_string();
        match v.emergency_card(b.as_bytes(), NBF) {
            Ok(c) => {
                assert!(c.jws.len() <= MAX_JWS_LEN);
                assert!(qr_version(&c.qr) <= 22);
                fits = n;
            }
            Err(e) => {
                assert_eq!(e, Error::TooLarge);
                break;
            }
        }
    }
    assert!(fits > 0);
    // Larger than any card's payload: refused before any work.
    let huge = format!("{{\"a\":\"{}\"}}", "a".repeat(MAX_PAYLOAD_LEN));
    assert_eq!(
        v.emergency_card(huge.as_bytes(), NBF).unwrap_err(),
        Error::TooLarge
    );
    // Very compressible is fine while the payload is within the cap.
    let zeros = format!("{{\"a\":\"{}\"}}", "0".repeat(MAX_PAYLOAD_LEN - 300));
    let c = v.emergency_card(zeros.as_bytes(), NBF).unwrap();
    assert_eq!(read_card(&c.qr).unwrap().bundle_json, zeros.as_bytes());
}

// ---------------------------------------------------------------------------
// Tampering: every change fails

/// A card of a short bundle: room to tamper without passing the length
/// limit (which is checked first).
fn good() -> (Vault, String) {
    let v = vault();
    let c = v
        .emergency_card(small_bundle().to_string().as_bytes(), NBF)
        .unwrap();
    (v, c.jws)
}

fn with_header(jws: &str, edit: impl FnOnce(&mut Value)) -> String {
    let p = parts(jws);
    let mut h = header_of(jws);
    edit(&mut h);
    format!("{}.{}.{}", B64.encode(h.to_string()), p[1], p[2])
}

#[test]
fn a_changed_payload_byte_fails_the_signature() {
    let (_, jws) = good();
    let p = parts(&jws);
    let payload = B64.decode(&p[1]).unwrap();
    for i in [0, payload.len() / 2, payload.len() - 1] {
        let mut bad = payload.clone();
        bad[i] ^= 0x01;
        let t = format!("{}.{}.{}", p[0], B64.encode(&bad), p[2]);
        not_authentic(read_card(&t));
    }
    // A changed character of the signature, or the header's base64 text.
    let mut sig = B64.decode(&p[2]).unwrap();
    sig[10] ^= 0x80;
    not_authentic(read_card(&format!(
        "{}.{}.{}",
        p[0],
        p[1],
        B64.encode(&sig)
    )));
    // The same header JSON with a member added: another signing input.
    not_authentic(read_card(&with_header(&jws, |h| h["typ"] = "JWT".into())));
}

#[test]
fn another_key_swapped_into_the_header_fails_the_signature() {
    let (_, jws) = good();
    let other = jwk(&key("mallory"));
    let t = with_header(&jws, |h| {
        h["kid"] = thumbprint(&other).into();
        h["jwk"] = other.clone();
    });
    not_authentic(read_card(&t));
}

#[test]
fn a_kid_that_is_not_the_jwk_thumbprint_is_refused() {
    let (_, jws) = good();
    let other = thumbprint(&jwk(&key("mallory")));
    not_authentic(read_card(&with_header(&jws, |h| h["kid"] = other.into())));
    // kid left out, or not a string.
    malformed(read_card(&with_header(&jws, |h| {
        h.as_object_mut().unwrap().remove("kid");
    })));
    malformed(read_card(&with_header(&jws, |h| h["kid"] = 7.into())));
    // Re-signed by the forger with a wrong kid: still refused.
    let k = key("mallory");
    let mut h = header_for(&k);
    h["kid"] = thumbprint(&jwk(&key("alice"))).into();
    let c = claims("medseal:vault:x", small_bundle());
    not_authentic(read_card(&sign(
        &k,
        &h.to_string(),
        &deflate(c.to_string().as_bytes()),
    )));
}

#[test]
fn other_algorithms_and_no_compression_are_refused() {
    let (_, jws) = good();
    for alg in [
        json!("none"),
        json!("HS256"),
        json!("ES384"),
        json!("RS256"),
        json!("es256"),
        Value::Null,
    ] {
        malformed(read_card(&with_header(&jws, |h| h["alg"] = alg.clone())));
    }
    malformed(read_card(&with_header(&jws, |h| {
        h.as_object_mut().unwrap().remove("alg");
    })));
    // alg none with an empty signature, as an attacker would send it.
    let p = parts(&with_header(&jws, |h| h["alg"] = "none".into()));
    malformed(read_card(&format!("{}.{}.", p[0], p[1])));
    // zip absent, or another value.
    malformed(read_card(&with_header(&jws, |h| {
        h.as_object_mut().unwrap().remove("zip");
    })));
    malformed(read_card(&with_header(&jws, |h| h["zip"] = "GZIP".into())));
    // crit.
    malformed(read_card(&with_header(&jws, |h| {
        h["crit"] = json!(["exp"])
    })));
    // Even correctly signed by their own key, without zip the card is
    // refused (the payload would be read as DEFLATE otherwise).
    let k = key("issuer");
    let mut h = header_for(&k);
    h.as_object_mut().unwrap().remove("zip");
    let c = claims("x", small_bundle()).to_string();
    malformed(read_card(&sign(&k, &h.to_string(), c.as_bytes())));
}

#[test]
fn a_bad_jwk_is_refused() {
    let (_, jws) = good();
    let h = header_of(&jws);
    let edits: Vec<Edit> = vec![
        Box::new(|h| h["jwk"]["kty"] = "RSA".into()),
        Box::new(|h| h["jwk"]["crv"] = "P-384".into()),
        Box::new(|h| h["jwk"]["d"] = B64.encode([1u8; 32]).into()),
        Box::new(|h| h["jwk"]["use"] = "enc".into()),
        Box::new(|h| h["jwk"]["alg"] = "ES384".into()),
        Box::new(|h| h["jwk"]["x"] = B64.encode([1u8; 31]).into()),
        Box::new(|h| h["jwk"]["y"] = B64.encode([1u8; 33]).into()),
        Box::new(|h| h["jwk"]["x"] = "not base64!".into()),
        // A point off the curve (y + 1), with kid recomputed to match.
        Box::new(|h| {
            let mut y = B64.decode(h["jwk"]["y"].as_str().unwrap()).unwrap();
            y[31] ^= 1;
            h["jwk"]["y"] = B64.encode(y).into();
            h["kid"] = thumbprint(&h["jwk"]).into();
        }),
        Box::new(|h| {
            h.as_object_mut().unwrap().remove("jwk");
        }),
        Box::new(|h| h["jwk"] = json!("a key")),
    ];
    for edit in edits {
        malformed(read_card(&with_header(&jws, edit)));
    }
    // use: sig and alg: ES256 are fine (a JWKS entry's form), as are unknown
    // members; the thumbprint ignores them (RFC 7638 §3.2).
    let ok = with_header(&jws, |h| {
        h["jwk"]["use"] = "sig".into();
        h["jwk"]["alg"] = "ES256".into();
        h["jwk"]["ext"] = true.into();
    });
    // The header changed, so the signature does not match: refused as
    // not authentic, not as malformed.
    not_authentic(read_card(&ok));
    // medseal writes the four RFC 7638 members only.
    assert_eq!(h["jwk"].as_object().unwrap().len(), 4);
}

#[test]
fn broken_numeric_text_is_refused() {
    let (_, jws) = good();
    let qr = medseal_qr(&jws);
    // Odd length.
    malformed(read_card(&qr[..qr.len() - 1]));
    malformed(read_card("shc:/5"));
    // Out of range (78..99: no JWS character).
    for bad in ["78", "99"] {
        malformed(read_card(&format!("{}{bad}", &qr[..qr.len() - 2])));
        malformed(read_card(&format!("shc:/{bad}{}", &qr[7..])));
    }
    // Not digits, chunked (deprecated), empty.
    malformed(read_card(&format!("{}a", &qr[..qr.len() - 1])));
    malformed(read_card(&format!("shc:/1/2/{}", &qr[5..])));
    malformed(read_card(&format!("shc:/ {}", &qr[5..])));
    malformed(read_card("shc:/"));
    malformed(read_card(""));
    // The scheme is case-insensitive (RFC 3986 §3.1).
    assert!(read_card(&format!("SHC:/{}", &qr[5..])).is_ok());
}

fn medseal_qr(jws: &str) -> String {
    let mut s = String::from("shc:/");
    for b in jws.bytes() {
        s.push_str(&format!("{:02}", b - 45));
    }
    s
}

#[test]
fn truncated_cards_are_refused() {
    let (_, jws) = good();
    let qr = medseal_qr(&jws);
    for n in [1, 2, 10, 86, 87, 200, jws.len() - 1] {
        assert!(read_card(&jws[..jws.len() - n]).is_err(), "{n}");
        assert!(read_card(&jws[n..]).is_err(), "{n}");
    }
    for n in (2..qr.len() - 5).step_by(2).take(40) {
        assert!(read_card(&qr[..qr.len() - n]).is_err(), "{n}");
    }
    // Dropped parts, or an extra one.
    let p = parts(&jws);
    malformed(read_card(&format!("{}.{}", p[0], p[1])));
    malformed(read_card(&format!("{jws}.")));
    malformed(read_card(&format!("{jws}.{}", p[2])));
}

#[test]
fn oversized_input_is_refused_before_any_work() {
    let (_, jws) = good();
    assert_eq!(
        read_card(&format!("shc:/{}", "1".repeat(MAX_QR_LEN))).unwrap_err(),
        Error::TooLarge
    );
    assert_eq!(
        read_card(&"a".repeat(MAX_JWS_LEN + 1)).unwrap_err(),
        Error::TooLarge
    );
    // A JWS padded past the limit (an unknown header member).
    let pad = with_header(&jws, |h| h["x-pad"] = "p".repeat(1200).into());
    assert_eq!(read_card(&pad).unwrap_err(), Error::TooLarge);
}

#[test]
fn high_s_from_another_signer_is_accepted() {
    // ES256 (RFC 7518 §3.4) does not require a low s, and WebCrypto signers
    // (jose among them) produce either: a reader accepts both.
    let (v, jws) = good();
    let p = parts(&jws);
    let sig = B64.decode(&p[2]).unwrap();
    let high = common::negate_s(&sig);
    assert!(common::is_high_s(&high));
    let t = format!("{}.{}.{}", p[0], p[1], B64.encode(&high));
    let r = read_card(&t).unwrap();
    assert_eq!(r.fingerprint, v.card_fingerprint().unwrap());
}

// ---------------------------------------------------------------------------
// What a forger can do: sign with a key of their own

#[test]
fn a_forged_card_verifies_only_under_another_fingerprint() {
    let v = vault();
    let iss = format!("medseal:vault:{}", B64.encode(v.vault_id()));
    let mallory = key("mallory");
    let forged_card = forged(&mallory, &claims(&iss, small_bundle()));
    let r = read_card(&forged_card).unwrap();
    // It claims the vault's iss, and verifies under Mallory's key: the
    // fingerprint is what differs, and what a reader must compare.
    assert_eq!(r.iss, iss);
    assert_eq!(r.fingerprint, thumbprint(&jwk(&mallory)));
    assert_ne!(r.fingerprint, v.card_fingerprint().unwrap());
}

#[test]
fn signed_content_that_is_not_a_card_is_refused() {
    let k = key("issuer");
    let h = header_for(&k).to_string();
    let good_claims = claims("x", small_bundle());
    assert!(read_card(&forged(&k, &good_claims)).is_ok());

    let edits: Vec<(&str, Edit)> = vec![
        ("exp", Box::new(|c| c["exp"] = (NBF + 1).into())),
        (
            "no health-card type",
            Box::new(|c| c["vc"]["type"] = json!(["https://smarthealth.cards#immunization"])),
        ),
        (
            "fhirVersion",
            Box::new(|c| c["vc"]["credentialSubject"]["fhirVersion"] = "4.3.0".into()),
        ),
        (
            "bundle not an object",
            Box::new(|c| c["vc"]["credentialSubject"]["fhirBundle"] = json!([1])),
        ),
        (
            "no bundle",
            Box::new(|c| {
                c["vc"]["credentialSubject"]
                    .as_object_mut()
                    .unwrap()
                    .remove("fhirBundle");
            }),
        ),
        ("nbf fraction", Box::new(|c| c["nbf"] = json!(1.5))),
        ("nbf negative", Box::new(|c| c["nbf"] = json!(-1))),
        (
            "nbf above 2^53 - 1",
            Box::new(|c| c["nbf"] = json!(1u64 << 53)),
        ),
        ("nbf string", Box::new(|c| c["nbf"] = json!("1780000000"))),
        ("iss number", Box::new(|c| c["iss"] = json!(1))),
        (
            "no vc",
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("vc");
            }),
        ),
    ];
    for (name, edit) in edits {
        let mut c = good_claims.clone();
        edit(&mut c);
        assert!(
            matches!(read_card(&forged(&k, &c)), Err(Error::Malformed(_))),
            "{name}"
        );
    }
    // An array, a repeated member, not UTF-8, not DEFLATE, bytes after the
    // stream, a zlib header.
    let payload = good_claims.to_string();
    let dup = payload.replacen("{\"iss\"", "{\"vc\":{},\"iss\"", 1);
    for raw in [
        deflate(b"[1]"),
        deflate(dup.as_bytes()),
        deflate(b"{\"iss\":\"\xff\"}"),
        payload.as_bytes().to_vec(),
        [deflate(payload.as_bytes()), b"x".to_vec()].concat(),
        miniz_oxide::deflate::compress_to_vec_zlib(payload.as_bytes(), 6),
        Vec::new(),
    ] {
        malformed(read_card(&sign(&k, &h, &raw)));
    }
    // An escaped key is the same key (serde_json and the bundle scanner
    // agree): a second, escaped vc is a repeat.
    let esc = payload.replacen("{\"iss\"", "{\"v\\u0063\":{},\"iss\"", 1);
    malformed(read_card(&sign(&k, &h, &deflate(esc.as_bytes()))));
    let only_escaped = payload.replacen("\"fhirBundle\"", "\"fhir\\u0042undle\"", 1);
    let r = read_card(&sign(&k, &h, &deflate(only_escaped.as_bytes()))).unwrap();
    assert_eq!(r.bundle_json, small_bundle().to_string().as_bytes());
}

#[test]
fn a_payload_that_inflates_past_64_kib_is_refused() {
    let k = key("bomb");
    let h = header_for(&k).to_string();
    let big = format!(
        r#"{{"iss":"x","nbf":1,"vc":{{"type":["https://smarthealth.cards#health-card"],"credentialSubject":{{"fhirVersion":"4.0.1","fhirBundle":{{"a":"{}"}}}}}}}}"#,
        "0".repeat(200_000)
    );
    let z = miniz_oxide::deflate::compress_to_vec(big.as_bytes(), 10);
    let jws = sign(&k, &h, &z);
    assert!(jws.len() <= MAX_JWS_LEN, "{}", jws.len());
    assert_eq!(read_card(&jws).unwrap_err(), Error::TooLarge);
    // Exactly at the cap is fine.
    let filler = MAX_PAYLOAD_LEN - (big.len() - 200_000);
    let exact = big.replace(&"0".repeat(200_000), &"0".repeat(filler));
    assert_eq!(exact.len(), MAX_PAYLOAD_LEN);
    let jws = sign(
        &k,
        &h,
        &miniz_oxide::deflate::compress_to_vec(exact.as_bytes(), 10),
    );
    assert!(read_card(&jws).is_ok());
}

#[test]
fn unknown_types_and_members_are_ignored() {
    // "Verifiers … SHALL ignore any additional type elements they do not
    // understand"; RFC 7515 §4: unknown header parameters are ignored.
    let k = key("issuer");
    let mut h = header_for(&k);
    h["typ"] = "JWT".into();
    h["jwk"]["use"] = "sig".into();
    h["jwk"]["alg"] = "ES256".into();
    let mut c = claims("https://issuer.example", small_bundle());
    c["vc"]["type"] = json!([
        "https://smarthealth.cards#health-card",
        "https://smarthealth.cards#immunization"
    ]);
    c["vc"]["rid"] = "abc".into();
    c["jti"] = "x".into();
    let jws = sign(&k, &h.to_string(), &deflate(c.to_string().as_bytes()));
    let r = read_card(&jws).unwrap();
    assert_eq!(r.iss, "https://issuer.example");
    assert_eq!(r.fingerprint, thumbprint(&jwk(&k)));
}

// ---------------------------------------------------------------------------
// No panics

fn a_card() -> &'static str {
    use std::sync::OnceLock;
    static CARD: OnceLock<String> = OnceLock::new();
    CARD.get_or_init(|| {
        common::seeded_vault(b"card/proptest")
            .0
            .emergency_card(EMERGENCY_BUNDLE.as_bytes(), NBF)
            .unwrap()
            .qr
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn read_card_never_panics_on_strings(s in any::<String>(), t in "[A-Za-z0-9_.=+/ -]{0,1300}") {
        let _ = read_card(&s);
        let _ = read_card(&t);
        let _ = read_card(&format!("shc:/{s}"));
    }

    #[test]
    fn read_card_never_panics_on_digits(d in "[0-9]{0,2400}", e in "([0-6][0-9]|7[0-7]){0,1200}") {
        let _ = read_card(&format!("shc:/{d}"));
        let _ = read_card(&format!("shc:/{e}"));
    }

    #[test]
    fn any_changed_digit_pair_is_refused(i in any::<prop::sample::Index>(), v in 0u8..100) {
        let qr = a_card();
        let pairs = (qr.len() - 5) / 2;
        let at = 5 + 2 * i.index(pairs);
        let new = format!("{v:02}");
        prop_assume!(qr[at..at + 2] != *new);
        let bad = format!("{}{new}{}", &qr[..at], &qr[at + 2..]);
        prop_assert!(read_card(&bad).is_err());
    }

    #[test]
    fn signed_json_of_any_shape_never_panics(
        bundle in "[\\[\\]{}\",:0-9a-z\\\\ ]{0,200}",
        iss in ".{0,20}",
        nbf in any::<i64>(),
    ) {
        // Well-signed payloads the reader must still judge: arbitrary text in
        // the bundle's place, so the bundle scanner sees odd JSON.
        let k = key("prop");
        let h = header_for(&k).to_string();
        let payload = format!(
            r#"{{"iss":{},"nbf":{nbf},"vc":{{"type":["https://smarthealth.cards#health-card"],"credentialSubject":{{"fhirVersion":"4.0.1","fhirBundle":{bundle}}}}}}}"#,
            serde_json::to_string(&iss).unwrap()
        );
        let r = read_card(&sign(&k, &h, &deflate(payload.as_bytes())));
        if let Ok(c) = r {
            let parsed: Value = serde_json::from_str(&payload).unwrap();
            let b: Value = serde_json::from_slice(&c.bundle_json).unwrap();
            prop_assert_eq!(&b, &parsed["vc"]["credentialSubject"]["fhirBundle"]);
        }
    }
}

// ---------------------------------------------------------------------------
// Interop vectors

struct Vector {
    name: &'static str,
    description: &'static str,
    seed: &'static str,
    nbf: u64,
    bundle: String,
    rekey: bool,
}

fn vectors() -> Vec<Vector> {
    vec![
        Vector {
            name: "medseal-emergency.json",
            description: "an emergency summary (3 allergies, 4 medications, 2 conditions, an emergency contact), pretty-printed by the app; the card carries it minified",
            seed: "card/vector-1",
            nbf: NBF,
            bundle: EMERGENCY_BUNDLE.to_string(),
            rekey: false,
        },
        Vector {
            name: "medseal-minimal.json",
            description: "a one-resource bundle with non-ASCII text and escapes (UTF-8 through DEFLATE and the numeric QR form)",
            seed: "card/vector-2",
            nbf: 0,
            bundle: r#"{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"resource:0","resource":{"resourceType":"Patient","name":[{"family":"Ødegård","given":["Zoë","\"Jo\""]}],"gender":"unknown"}}]}"#.into(),
            rekey: false,
        },
        Vector {
            name: "medseal-after-rekey.json",
            description: "the emergency summary again, from the same vault after one re-key: another card key, another kid",
            seed: "card/vector-1",
            nbf: NBF + 86_400,
            bundle: EMERGENCY_BUNDLE.to_string(),
            rekey: true,
        },
    ]
}

fn render(v: &Vector) -> String {
    let (mut vault, _) = common::seeded_vault(v.seed.as_bytes());
    if v.rekey {
        medseal::vault::deterministic::reseed(&mut vault, format!("{}/rekey", v.seed).as_bytes());
        vault.rekey().unwrap();
    }
    let card = vault.emergency_card(v.bundle.as_bytes(), v.nbf).unwrap();
    let body = json!({
        "description": v.description,
        "seed": v.seed,
        "rekeyed": v.rekey,
        "nbf": v.nbf,
        "bundle": v.bundle,
        "iss": format!("medseal:vault:{}", B64.encode(vault.vault_id())),
        "kid": card.fingerprint,
        "jws_length": card.jws.len(),
        "qr_version": qr_version(&card.qr),
        "jws": card.jws,
        "qr": card.qr,
    });
    serde_json::to_string_pretty(&body).unwrap() + "\n"
}

#[test]
fn medseal_vectors_verify_and_regenerate_identically() {
    let vs = vectors();
    for v in &vs {
        let rendered = render(v);
        let on_disk = common::vector_on_disk(
            &dir().join(v.name),
            &rendered,
            "MEDSEAL_WRITE_CARD_VECTORS",
            "cargo test --test card",
        );
        let f: Value = serde_json::from_str(&on_disk).unwrap();
        for text in [f["qr"].as_str().unwrap(), f["jws"].as_str().unwrap()] {
            let r = read_card(text).unwrap();
            assert_eq!(r.fingerprint, f["kid"].as_str().unwrap());
            assert_eq!(r.iss, f["iss"].as_str().unwrap());
            assert_eq!(r.nbf, f["nbf"].as_u64().unwrap());
            assert_eq!(
                r.bundle_json,
                compact(f["bundle"].as_str().unwrap()).as_bytes()
            );
        }
        println!(
            "{}: JWS {} characters, QR version {}",
            v.name, f["jws_length"], f["qr_version"]
        );
        assert_eq!(
            on_disk, rendered,
            "{}: the writer no longer produces the vector's bytes",
            v.name
        );
    }
    let a: Value = serde_json::from_str(&render(&vs[0])).unwrap();
    let b: Value = serde_json::from_str(&render(&vs[2])).unwrap();
    assert_eq!(a["iss"], b["iss"]);
    assert_ne!(a["kid"], b["kid"]);
    // Every file in the folder is known: ours, or jose's.
    for entry in std::fs::read_dir(dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            name.starts_with("jose-") || vs.iter().any(|v| v.name == name),
            "{name} is neither a jose vector nor generated here"
        );
    }
}

/// Cards signed by `jose` (CompactSign, ES256, WebCrypto's random nonces),
/// compressed with Node's zlib.deflateRawSync, their QR text made by the
/// spec's rule in JavaScript: medseal reads each, from the JWS and from
/// the QR text.
#[test]
fn cards_signed_by_jose_are_read() {
    let mut seen = 0;
    let mut high_s = 0;
    for entry in std::fs::read_dir(dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if !name.starts_with("jose-") {
            continue;
        }
        let f: Value =
            serde_json::from_str(&std::fs::read_to_string(dir().join(&name)).unwrap()).unwrap();
        let jws = f["jws"].as_str().unwrap();
        let sig = B64.decode(&parts(jws)[2]).unwrap();
        high_s += usize::from(common::is_high_s(&sig));
        match f["expect"].as_str().unwrap() {
            "success" => {
                for text in [f["qr"].as_str().unwrap(), jws] {
                    let r = read_card(text).unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert_eq!(r.fingerprint, f["kid"].as_str().unwrap(), "{name}");
                    assert_eq!(r.iss, f["iss"].as_str().unwrap(), "{name}");
                    assert_eq!(r.nbf, f["nbf"].as_u64().unwrap(), "{name}");
                    assert_eq!(
                        r.bundle_json,
                        f["bundle"].as_str().unwrap().as_bytes(),
                        "{name}: the bundle's bytes as jose signed them"
                    );
                }
                assert_eq!(
                    thumbprint(&header_of(jws)["jwk"]),
                    f["kid"].as_str().unwrap()
                );
            }
            expect => {
                let e = read_card(jws).unwrap_err();
                assert_eq!(e.code(), expect, "{name}: {e}");
            }
        }
        seen += 1;
    }
    assert!(
        seen >= 4,
        "run node tests/js/card-interop/make-jose-card.mjs"
    );
    assert!(high_s >= 1, "at least one jose signature with a high s");
}
