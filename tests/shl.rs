//! SMART Health Links (src/shl.rs): the JWE that carries each file and the
//! `shlink:/` payload, checked against the spec's own examples, against the
//! npm package `jose` (tests/vectors/shl/jose-*.json, written by
//! tests/js/shl-interop/make-jose-vectors.mjs), and against the `aes-gcm`
//! crate as an outside AES-GCM. The other direction, medseal's JWEs and links
//! opened by jose, is tests/js/shl-interop.test.mjs, on the files
//! tests/vectors/shl/medseal-*.json that this test pins:
//! `MEDSEAL_WRITE_SHL_VECTORS=1 cargo test --test shl` rewrites them (review
//! the diff: a change means the writer changed).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::PathBuf;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use medseal::shl::{
    self, deterministic, jwe_decrypt, jwe_encrypt, parse_shlink, LinkPayload, MAX_JWE_LEN,
};
use medseal::Error;
use proptest::prelude::*;
use serde_json::{json, Value};
use sha2::Digest;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/shl")
}

fn key32(label: &str) -> [u8; 32] {
    sha2::Sha256::digest(label.as_bytes()).into()
}

fn b64_key(s: &str) -> [u8; 32] {
    B64.decode(s).unwrap().try_into().unwrap()
}

fn malformed(r: Result<impl std::fmt::Debug, Error>) {
    match r {
        Err(Error::Malformed(_)) => {}
        other => panic!("expected Malformed, got {other:?}"),
    }
}

fn parts(jwe: &str) -> Vec<String> {
    jwe.split('.').map(str::to_string).collect()
}

/// A JWE built by hand with the `aes-gcm` crate: `header` is the exact JSON.
fn seal_raw(key: &[u8; 32], header: &str, ek: &str, iv: [u8; 12], pt: &[u8]) -> String {
    use aes_gcm::aead::{AeadInOut, KeyInit};
    let h = B64.encode(header);
    let cipher = aes_gcm::Aes256Gcm::new(&(*key).into());
    let mut body = pt.to_vec();
    let tag = cipher
        .encrypt_inout_detached(&iv.into(), h.as_bytes(), body.as_mut_slice().into())
        .unwrap();
    format!(
        "{h}.{ek}.{}.{}.{}",
        B64.encode(iv),
        B64.encode(&body),
        B64.encode(tag)
    )
}

/// Opens a JWE with the `aes-gcm` crate, following RFC 7516 alone.
fn open_raw(key: &[u8; 32], jwe: &str) -> Vec<u8> {
    use aes_gcm::aead::{AeadInOut, KeyInit};
    let p = parts(jwe);
    assert_eq!(p.len(), 5);
    assert_eq!(p[1], "");
    let iv: [u8; 12] = B64.decode(&p[2]).unwrap().try_into().unwrap();
    let mut body = B64.decode(&p[3]).unwrap();
    let tag = B64.decode(&p[4]).unwrap();
    let cipher = aes_gcm::Aes256Gcm::new(&(*key).into());
    cipher
        .decrypt_inout_detached(
            &iv.into(),
            p[0].as_bytes(),
            body.as_mut_slice().into(),
            tag.as_slice().try_into().unwrap(),
        )
        .unwrap();
    body
}

const DIR_GCM: &str = r#"{"alg":"dir","enc":"A256GCM","cty":"application/fhir+json"}"#;

// ---------------------------------------------------------------------------
// JWE

#[test]
fn round_trip_and_exact_header() {
    let key = key32("round trip");
    for len in [0usize, 1, 2, 3, 15, 16, 17, 100, 4096, 100_000] {
        let pt: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
        let jwe = jwe_encrypt(&key, shl::CONTENT_TYPE_FHIR_JSON, &pt).unwrap();
        let p = parts(&jwe);
        assert_eq!(p.len(), 5);
        assert_eq!(B64.decode(&p[0]).unwrap(), DIR_GCM.as_bytes());
        assert_eq!(p[1], "", "alg dir: no encrypted key");
        assert_eq!(B64.decode(&p[2]).unwrap().len(), 12);
        assert_eq!(B64.decode(&p[4]).unwrap().len(), 16);
        let c = jwe_decrypt(&key, &jwe).unwrap();
        assert_eq!(c.plaintext, pt);
        assert_eq!(c.content_type.as_deref(), Some("application/fhir+json"));
        assert_eq!(open_raw(&key, &jwe), pt, "aes-gcm opens it by RFC 7516");
    }
}

#[test]
fn header_is_escaped_json() {
    let key = key32("escape");
    let cty = "text/plain; q=\"a\\b\"\n\u{1}é";
    let jwe = jwe_encrypt(&key, cty, b"x").unwrap();
    let header: Value = serde_json::from_slice(&B64.decode(&parts(&jwe)[0]).unwrap()).unwrap();
    assert_eq!(header, json!({"alg": "dir", "enc": "A256GCM", "cty": cty}));
    assert_eq!(
        jwe_decrypt(&key, &jwe).unwrap().content_type.as_deref(),
        Some(cty)
    );
    assert_eq!(
        jwe_encrypt(&key, "", b"x"),
        Err(Error::InvalidArgument("JWE content type is empty"))
    );
}

#[test]
fn fresh_iv_each_time_and_pinned_with_the_seeded_stream() {
    let key = key32("iv");
    let a = jwe_encrypt(&key, "application/fhir+json", b"same").unwrap();
    let b = jwe_encrypt(&key, "application/fhir+json", b"same").unwrap();
    assert_ne!(parts(&a)[2], parts(&b)[2]);
    let s1 = deterministic::jwe_encrypt(b"seed", &key, "application/fhir+json", b"same").unwrap();
    let s2 = deterministic::jwe_encrypt(b"seed", &key, "application/fhir+json", b"same").unwrap();
    assert_eq!(s1, s2);
    // The IV is the first 12 bytes of the test stream (FORMAT.md §12.4):
    // SHA-256("medseal/test-rng" || seed || u64be(0)).
    let block =
        sha2::Sha256::digest([&b"medseal/test-rng"[..], b"seed", &0u64.to_be_bytes()].concat());
    assert_eq!(B64.decode(&parts(&s1)[2]).unwrap(), block[..12]);
}

#[test]
fn tampering_with_any_part_fails_authentication() {
    let key = key32("tamper");
    let jwe = jwe_encrypt(
        &key,
        "application/fhir+json",
        b"{\"resourceType\":\"Patient\"}",
    )
    .unwrap();
    let p = parts(&jwe);
    let flip = |s: &str| {
        let mut b = B64.decode(s).unwrap();
        b[0] ^= 1;
        B64.encode(b)
    };
    // A different but valid header (the AAD changes).
    let other_header = B64.encode(r#"{"alg":"dir","enc":"A256GCM","cty":"application/fhir+jsoN"}"#);
    let with_kid =
        B64.encode(r#"{"alg":"dir","enc":"A256GCM","cty":"application/fhir+json","kid":"x"}"#);
    for bad in [
        format!("{other_header}..{}.{}.{}", p[2], p[3], p[4]),
        format!("{with_kid}..{}.{}.{}", p[2], p[3], p[4]),
        format!("{}..{}.{}.{}", p[0], flip(&p[2]), p[3], p[4]),
        format!("{}..{}.{}.{}", p[0], p[2], flip(&p[3]), p[4]),
        format!("{}..{}.{}.{}", p[0], p[2], p[3], flip(&p[4])),
        // Ciphertext truncated by one byte.
        format!(
            "{}..{}.{}.{}",
            p[0],
            p[2],
            B64.encode(&B64.decode(&p[3]).unwrap()[1..]),
            p[4]
        ),
    ] {
        assert_eq!(
            jwe_decrypt(&key, &bad).unwrap_err(),
            Error::DecryptionFailed,
            "{bad}"
        );
    }
    assert_eq!(
        jwe_decrypt(&key32("another key"), &jwe).unwrap_err(),
        Error::DecryptionFailed
    );
}

#[test]
fn structure_is_checked_before_the_key_is_used() {
    let key = key32("structure");
    let iv = [7u8; 12];
    let good = seal_raw(&key, DIR_GCM, "", iv, b"hello");
    assert_eq!(jwe_decrypt(&key, &good).unwrap().plaintext, b"hello");
    let p = parts(&good);
    let h = |json: &str| B64.encode(json);
    let cases = [
        // Not five parts.
        format!("{}.{}.{}.{}", p[0], p[2], p[3], p[4]),
        format!("{good}."),
        String::new(),
        "....".into(),
        // Header: not base64url, not JSON, not an object, not dir/A256GCM.
        format!("{}=..{}.{}.{}", p[0], p[2], p[3], p[4]),
        format!("{}..{}.{}.{}", h("not json"), p[2], p[3], p[4]),
        format!("{}..{}.{}.{}", h(r#"["dir","A256GCM"]"#), p[2], p[3], p[4]),
        format!("{}..{}.{}.{}", h(r#"{"alg":"dir"}"#), p[2], p[3], p[4]),
        format!(
            "{}..{}.{}.{}",
            h(r#"{"alg":"dir","enc":1}"#),
            p[2],
            p[3],
            p[4]
        ),
        format!(
            "{}..{}.{}.{}",
            h(r#"{"alg":"none","enc":"A256GCM"}"#),
            p[2],
            p[3],
            p[4]
        ),
        format!(
            "{}..{}.{}.{}",
            h(r#"{"alg":"dir","enc":"A128GCM"}"#),
            p[2],
            p[3],
            p[4]
        ),
        format!(
            "{}..{}.{}.{}",
            h(r#"{"alg":"dir","enc":"A256GCM","zip":"GZ"}"#),
            p[2],
            p[3],
            p[4]
        ),
        format!(
            "{}..{}.{}.{}",
            h(r#"{"alg":"dir","enc":"A256GCM","crit":["exp"],"exp":1}"#),
            p[2],
            p[3],
            p[4]
        ),
        format!(
            "{}..{}.{}.{}",
            h(r#"{"alg":"dir","alg":"dir","enc":"A256GCM"}"#),
            p[2],
            p[3],
            p[4]
        ),
        format!(
            "{}..{}.{}.{}",
            h(r#"{"alg":"dir","enc":"A256GCM"} x"#),
            p[2],
            p[3],
            p[4]
        ),
        // Encrypted key present with dir.
        format!("{}.AAAA.{}.{}.{}", p[0], p[2], p[3], p[4]),
        // IV and tag lengths, base64url strictness.
        format!("{}..{}.{}.{}", p[0], B64.encode([0u8; 11]), p[3], p[4]),
        format!("{}..{}.{}.{}", p[0], B64.encode([0u8; 13]), p[3], p[4]),
        format!("{}..{}.{}.{}", p[0], p[2], p[3], B64.encode([0u8; 15])),
        format!("{}..{}.{}.{}", p[0], p[2], p[3], B64.encode([0u8; 17])),
        format!("{}..{}.{}+.{}", p[0], p[2], p[3], p[4]),
        format!("{}..{}.{}.{}=", p[0], p[2], p[3], p[4]),
        format!("{}..{} .{}.{}", p[0], p[2], p[3], p[4]),
    ];
    for bad in &cases {
        malformed(jwe_decrypt(&key, bad));
    }
    // alg A256KW (key wrapping, with its encrypted key) is refused as such.
    let kw = seal_raw(
        &key,
        r#"{"alg":"A256KW","enc":"A256GCM"}"#,
        &B64.encode([1u8; 40]),
        iv,
        b"x",
    );
    assert_eq!(
        jwe_decrypt(&key, &kw).unwrap_err(),
        Error::Malformed("JWE: alg is not \"dir\"")
    );
    let kw_empty = seal_raw(&key, r#"{"alg":"A256KW","enc":"A256GCM"}"#, "", iv, b"x");
    assert_eq!(
        jwe_decrypt(&key, &kw_empty).unwrap_err(),
        Error::Malformed("JWE: alg is not \"dir\"")
    );
}

#[test]
fn size_caps() {
    let key = key32("size");
    let big = "A".repeat(MAX_JWE_LEN + 1);
    assert_eq!(jwe_decrypt(&key, &big).unwrap_err(), Error::TooLarge);
    // A plaintext whose JWE would be over the cap is refused when writing.
    let pt = vec![0u8; MAX_JWE_LEN / 4 * 3];
    assert_eq!(
        jwe_encrypt(&key, "application/fhir+json", &pt).unwrap_err(),
        Error::TooLarge
    );
}

#[test]
fn zip_def_inflates_raw_deflate_with_a_cap() {
    let key = key32("zip");
    let iv = [3u8; 12];
    let zh = r#"{"alg":"dir","enc":"A256GCM","cty":"application/fhir+json","zip":"DEF"}"#;
    let text: Vec<u8> = br#"{"resourceType":"Bundle","entry":[]}"#.repeat(5000);
    let jwe = seal_raw(
        &key,
        zh,
        "",
        iv,
        &miniz_oxide::deflate::compress_to_vec(&text, 6),
    );
    assert_eq!(jwe_decrypt(&key, &jwe).unwrap().plaintext, text);
    // Empty plaintext compressed.
    let jwe = seal_raw(
        &key,
        zh,
        "",
        iv,
        &miniz_oxide::deflate::compress_to_vec(b"", 6),
    );
    assert_eq!(jwe_decrypt(&key, &jwe).unwrap().plaintext, b"");
    // Exactly the cap inflates; one byte more is TooLarge (a zip bomb: 16 KiB
    // of JWE for 16 MiB of zeros).
    let at_cap = vec![0u8; shl::MAX_INFLATED_LEN];
    let jwe = seal_raw(
        &key,
        zh,
        "",
        iv,
        &miniz_oxide::deflate::compress_to_vec(&at_cap, 6),
    );
    assert_eq!(
        jwe_decrypt(&key, &jwe).unwrap().plaintext.len(),
        shl::MAX_INFLATED_LEN
    );
    let over = vec![0u8; shl::MAX_INFLATED_LEN + 1];
    let bomb = seal_raw(
        &key,
        zh,
        "",
        iv,
        &miniz_oxide::deflate::compress_to_vec(&over, 9),
    );
    assert!(bomb.len() < 64 * 1024);
    assert_eq!(jwe_decrypt(&key, &bomb).unwrap_err(), Error::TooLarge);
    // Authenticated but not raw DEFLATE: zlib-wrapped, garbage, truncated,
    // trailing bytes after the stream.
    let deflated = miniz_oxide::deflate::compress_to_vec(&text, 6);
    let mut trailing = deflated.clone();
    trailing.push(0);
    for body in [
        miniz_oxide::deflate::compress_to_vec_zlib(&text, 6),
        vec![0xff; 64],
        deflated[..deflated.len() / 2].to_vec(),
        trailing,
    ] {
        malformed(jwe_decrypt(&key, &seal_raw(&key, zh, "", iv, &body)));
    }
    // Without the zip header, the same JWE body is returned as is.
    let raw = seal_raw(&key, DIR_GCM, "", iv, &deflated);
    assert_eq!(jwe_decrypt(&key, &raw).unwrap().plaintext, deflated);
}

#[test]
fn debug_shows_no_plaintext() {
    let key = key32("debug");
    let jwe = jwe_encrypt(&key, "application/fhir+json", b"SECRET-DIAGNOSIS").unwrap();
    let c = jwe_decrypt(&key, &jwe).unwrap();
    let d = format!("{c:?}");
    assert!(!d.contains("SECRET") && !d.contains("83, 69"), "{d}");
    assert!(d.contains("16"), "{d}");
}

/// jose-*.json were written by `jose` (CompactEncrypt); jose-spec-example is
/// the spec's own example JWE.
#[test]
fn jose_vectors_decrypt() {
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if !name.starts_with("jose-") {
            continue;
        }
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(dir().join(&name)).unwrap()).unwrap();
        let key = b64_key(v["key"].as_str().unwrap());
        let c =
            jwe_decrypt(&key, v["jwe"].as_str().unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            c.plaintext,
            v["plaintext"].as_str().unwrap().as_bytes(),
            "{name}"
        );
        assert_eq!(
            c.content_type.as_deref(),
            v["content_type"].as_str(),
            "{name}"
        );
        seen.push(name);
    }
    seen.sort();
    for want in [
        "jose-empty.json",
        "jose-fhir-json.json",
        "jose-no-cty.json",
        "jose-spec-example.json",
        "jose-unicode.json",
        "jose-zip-def-large.json",
        "jose-zip-def.json",
    ] {
        assert!(
            seen.iter().any(|s| s == want),
            "{want} missing: run node tests/js/shl-interop/make-jose-vectors.mjs"
        );
    }
}

// ---------------------------------------------------------------------------
// Link payload

const SPEC_KEY: &str = "rxTgYlOaKJPFtcEd0qcceN8wEU4p94SqAwIWQe6uX7Q";
/// "Example SMART Health Link Generation" in the spec (links-specification).
const SPEC_SHLINK: &str = "shlink:/eyJ1cmwiOiJodHRwczovL2Voci5leGFtcGxlLm9yZy9xci9ZOXh3a1VkdG1OOXd3b0pvTjNmZkpJaFgyVUd2Q0wxSm5sUFZOTDNrRFdNL20iLCJmbGFnIjoiTFAiLCJrZXkiOiJyeFRnWWxPYUtKUEZ0Y0VkMHFjY2VOOHdFVTRwOTRTcUF3SVdRZTZ1WDdRIiwibGFiZWwiOiJCYWNrLXRvLXNjaG9vbCBpbW11bml6YXRpb25zIGZvciBPbGl2ZXIgQnJvd24ifQ";
/// The IG's example IPS link (input/images/IPS_IG-bundle-01-shl.txt): flag U.
const IG_IPS_LINK: &str = "https://viewer.tcpdev.org/shlink.html#shlink:/eyJ1cmwiOiJodHRwczovL3Jhdy5naXRodWJ1c2VyY29udGVudC5jb20vc2Vhbm5vL3NoYy1kZW1vLWRhdGEvbWFpbi9pcHMvSVBTX0lHLWJ1bmRsZS0wMS1lbmMudHh0IiwiZmxhZyI6IkxVIiwia2V5IjoicnhUZ1lsT2FLSlBGdGNFZDBxY2NlTjh3RVU0cDk0U3FBd0lXUWU2dVg3USIsImxhYmVsIjoiRGVtbyBTSEwgZm9yIElQU19JRy1idW5kbGUtMDEifQ";

#[test]
fn spec_examples_parse() {
    for text in [
        SPEC_SHLINK.to_string(),
        format!("https://viewer.example.org#{SPEC_SHLINK}"),
    ] {
        let p = parse_shlink(&text).unwrap();
        assert_eq!(
            p.url,
            "https://ehr.example.org/qr/Y9xwkUdtmN9wwoJoN3ffJIhX2UGvCL1JnlPVNL3kDWM/m"
        );
        assert_eq!(p.key(), &b64_key(SPEC_KEY));
        assert_eq!(p.flag, "LP");
        assert!(p.needs_passcode() && p.is_long_term() && !p.is_direct_file());
        assert_eq!(
            p.label.as_deref(),
            Some("Back-to-school immunizations for Oliver Brown")
        );
        assert_eq!((p.exp, p.v), (None, None));
        // Re-encoded in the spec's table order (the example wrote flag before key).
        let again = parse_shlink(&p.to_shlink().unwrap()).unwrap();
        assert_eq!(
            (&again.url, &again.flag, &again.label),
            (&p.url, &p.flag, &p.label)
        );
    }
    let p = parse_shlink(IG_IPS_LINK).unwrap();
    assert_eq!(p.flag, "LU");
    assert!(p.is_direct_file());
    assert_eq!(p.label.as_deref(), Some("Demo SHL for IPS_IG-bundle-01"));
}

fn payload_json(link: &str) -> Value {
    serde_json::from_slice(&B64.decode(link.strip_prefix("shlink:/").unwrap()).unwrap()).unwrap()
}

fn link_of(v: Value) -> String {
    format!("shlink:/{}", B64.encode(serde_json::to_vec(&v).unwrap()))
}

#[test]
fn to_shlink_writes_the_spec_order_and_omits_absent_fields() {
    let key = key32("link");
    let mut p = LinkPayload::new("https://shl.example.org/m/abc", key);
    let bare = p.to_shlink().unwrap();
    let json = String::from_utf8(B64.decode(&bare["shlink:/".len()..]).unwrap()).unwrap();
    assert_eq!(
        json,
        format!(
            r#"{{"url":"https://shl.example.org/m/abc","key":"{}"}}"#,
            B64.encode(key)
        )
    );
    p.exp = Some(1_767_225_600);
    p.flag = "LP".into();
    p.label = Some("Labs \"2025\"".into());
    p.v = Some(1);
    let full = p.to_shlink().unwrap();
    let json = String::from_utf8(B64.decode(&full["shlink:/".len()..]).unwrap()).unwrap();
    assert_eq!(
        json,
        format!(
            r#"{{"url":"https://shl.example.org/m/abc","key":"{}","exp":1767225600,"flag":"LP","label":"Labs \"2025\"","v":1}}"#,
            B64.encode(key)
        )
    );
    let back = parse_shlink(&full).unwrap();
    assert_eq!(back.key(), &key);
    assert_eq!(
        (
            back.url.as_str(),
            back.exp,
            back.flag.as_str(),
            back.label.as_deref(),
            back.v
        ),
        (
            "https://shl.example.org/m/abc",
            Some(1_767_225_600),
            "LP",
            Some("Labs \"2025\""),
            Some(1)
        )
    );
    // The writer refuses what the reader would refuse.
    let with = |f: &dyn Fn(&mut LinkPayload)| {
        let mut q = p.clone();
        f(&mut q);
        q
    };
    for bad in [
        with(&|q| q.flag = "PU".into()),
        with(&|q| q.flag = "PL".into()),
        with(&|q| q.flag = "LX".into()),
        with(&|q| q.label = Some("x".repeat(81))),
        // 41 characters, 82 UTF-16 units: read, but not written.
        with(&|q| q.label = Some("🩺".repeat(41))),
        with(&|q| q.url = "http://shl.example.org/m".into()),
        with(&|q| q.v = Some(0)),
    ] {
        assert!(bad.to_shlink().is_err(), "{bad:?}");
    }
    assert_eq!(
        with(&|q| q.v = Some(2)).to_shlink().unwrap_err(),
        Error::UnknownVersion {
            what: "SMART Health Link",
            version: 2
        }
    );
}

#[test]
fn key_is_hidden_and_random_keys_differ() {
    let key = [0xabu8; 32];
    let p = LinkPayload::new("https://shl.example.org/m", key);
    let d = format!("{p:?}");
    assert!(!d.contains(&B64.encode(key)) && !d.contains("171"), "{d}");
    let a = LinkPayload::with_random_key("https://a.example/m").unwrap();
    let b = LinkPayload::with_random_key("https://a.example/m").unwrap();
    assert_ne!(a.key(), b.key());
    assert_ne!(a.key(), &[0u8; 32]);
}

#[test]
fn payload_rules() {
    let k = B64.encode(key32("rules"));
    let ok = |v: Value| parse_shlink(&link_of(v)).unwrap();
    let bad = |v: Value| malformed(parse_shlink(&link_of(v)));
    let url = "https://shl.example.org/m";

    // Optional fields, unknown properties and flags ignored (spec: receivers
    // SHALL ignore what they don't recognise).
    let p = ok(json!({"url": url, "key": k, "extension": {"x": 1}, "_mine": true, "flag": "LPX"}));
    assert_eq!(p.flag, "LP");
    let p = ok(json!({"url": url, "key": k, "flag": ""}));
    assert_eq!(p.flag, "");
    assert_eq!(ok(json!({"url": url, "key": k, "flag": "U"})).flag, "U");
    assert_eq!(ok(json!({"url": url, "key": k, "v": 1})).v, Some(1));
    assert_eq!(ok(json!({"url": url, "key": k, "exp": 0})).exp, Some(0));
    assert_eq!(
        ok(json!({"url": url, "key": k, "exp": 1767225600.75})).exp,
        Some(1_767_225_600)
    );
    assert_eq!(
        ok(json!({"url": url, "key": k, "exp": u64::MAX})).exp,
        Some(u64::MAX)
    );
    assert_eq!(
        ok(json!({"url": url, "key": k, "label": "é".repeat(80)}))
            .label
            .as_deref()
            .unwrap()
            .chars()
            .count(),
        80
    );
    for u in [
        "http://localhost:8080/m",
        "http://127.0.0.1/m",
        "http://[::1]:3000/m",
        "HTTPS://shl.example.org/m",
        "https://shl.example.org",
        "https://shl.example.org:8443/m?x=1",
    ] {
        assert_eq!(ok(json!({"url": u, "key": k})).url, u);
    }

    // url
    for u in [
        "http://shl.example.org/m",
        "http://localhost.example.org/m",
        "http://localhost@evil.example/m",
        "ftp://shl.example.org/m",
        "https://",
        "https:///m",
        "https://:443/m",
        "shl.example.org/m",
        "https://shl.example.org/a b",
        "https://shl.example.org/é",
    ] {
        bad(json!({"url": u, "key": k}));
    }
    bad(json!({"url": format!("https://e.org/{}", "a".repeat(115)), "key": k}));
    ok(json!({"url": format!("https://e.org/{}", "a".repeat(114)), "key": k}));
    bad(json!({"url": 5, "key": k}));
    bad(json!({"key": k}));
    // key: 43 characters of canonical base64url for 32 bytes.
    bad(json!({"url": url}));
    bad(json!({"url": url, "key": &k[..42]}));
    bad(json!({"url": url, "key": format!("{k}A")}));
    bad(json!({"url": url, "key": B64.encode([1u8; 33])}));
    let mut noncanon = k.clone().into_bytes();
    // The last character carries 4 unused bits; set one.
    noncanon[42] = if noncanon[42] == b'B' { b'C' } else { b'B' };
    let noncanon = String::from_utf8(noncanon).unwrap();
    if B64.decode(&noncanon).is_err() {
        bad(json!({"url": url, "key": noncanon}));
    }
    bad(json!({"url": url, "key": format!("{}=", &k[..42])}));
    bad(json!({"url": url, "key": k.replace(|c: char| c.is_ascii_alphabetic(), "+")}));
    // flag
    for f in ["PU", "LPU", "UP", "PL", "LL", "lp", "L ", "L1", "LU\u{0}"] {
        bad(json!({"url": url, "key": k, "flag": f}));
    }
    bad(json!({"url": url, "key": k, "flag": 1}));
    // label: characters, so 80 emoji (160 UTF-16 units) are read.
    let emoji = ok(json!({"url": url, "key": k, "label": "🩺".repeat(80)}));
    assert_eq!(emoji.label.as_deref(), Some("🩺".repeat(80).as_str()));
    bad(json!({"url": url, "key": k, "label": "🩺".repeat(81)}));
    bad(json!({"url": url, "key": k, "label": "x".repeat(81)}));
    bad(json!({"url": url, "key": k, "label": 1}));
    // exp: a number of seconds (the IG's shl-payload-1 example writes a
    // string of milliseconds; it is refused).
    for e in [json!("1767225600000"), json!(-1), json!(1e30), json!(-0.5)] {
        bad(json!({"url": url, "key": k, "exp": e}));
    }
    // v
    assert_eq!(
        parse_shlink(&link_of(json!({"url": url, "key": k, "v": 2}))).unwrap_err(),
        Error::UnknownVersion {
            what: "SMART Health Link",
            version: 2
        }
    );
    for v in [json!(0), json!("1"), json!(1.5), json!(-1)] {
        bad(json!({"url": url, "key": k, "v": v}));
    }
}

#[test]
fn link_text_forms() {
    let k = B64.encode(key32("forms"));
    let link = link_of(json!({"url": "https://e.org/m", "key": k}));
    let body = &link["shlink:/".len()..];
    parse_shlink(&link).unwrap();
    parse_shlink(&format!("SHLINK:/{body}")).unwrap();
    parse_shlink(&format!("https://viewer.example.org/#{link}")).unwrap();
    parse_shlink(&format!("https://viewer.example.org/app?x=1#{link}")).unwrap();
    for bad in [
        String::new(),
        body.to_string(),
        format!("shlink:{body}"),
        format!("shc:/{body}"),
        format!("https://viewer.example.org/{link}"),
        format!("https://viewer.example.org/#x{link}"),
        format!("{link}="),
        format!("{link} "),
        format!(" {link}"),
        link_of(json!([1, 2])),
        link_of(json!("string")),
        format!(
            "shlink:/{}",
            B64.encode("{\"url\":\"https://e.org/m\",\"url\":\"https://e.org/n\"}")
        ),
        format!(
            "shlink:/{}",
            B64.encode(format!(
                r#"{{"url":"https://e.org/m","key":"{k}","url":"https://evil.example/m"}}"#
            ))
        ),
        format!(
            "shlink:/{}",
            B64.encode(format!(r#"{{"url":"https://e.org/m","key":"{k}"}} "#) + "x")
        ),
    ] {
        malformed(parse_shlink(&bad));
    }
    let long = format!("https://viewer.example.org/{}#{link}", "a".repeat(8 * 1024));
    assert_eq!(parse_shlink(&long).unwrap_err(), Error::TooLarge);
}

// ---------------------------------------------------------------------------
// Vectors for other implementations (tests/js/shl-interop.test.mjs)

struct Vector {
    name: &'static str,
    description: &'static str,
    content_type: &'static str,
    plaintext: String,
    link: Option<fn(&mut LinkPayload)>,
}

fn vectors() -> Vec<Vector> {
    vec![
        Vector {
            name: "medseal-fhir-json.json",
            description: "a FHIR Bundle, cty application/fhir+json; its link has flags LP, exp, label and v",
            content_type: shl::CONTENT_TYPE_FHIR_JSON,
            plaintext: r#"{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","name":[{"family":"Brown","given":["Oliver"]}]}}]}"#.into(),
            link: Some(|p| {
                p.exp = Some(1_767_225_600);
                p.flag = "LP".into();
                p.label = Some("Back-to-school immunizations for Oliver Brown".into());
                p.v = Some(1);
            }),
        },
        Vector {
            name: "medseal-shc-direct.json",
            description: "a SMART Health Card file; its link has flag U (direct file) and nothing else optional",
            content_type: shl::CONTENT_TYPE_SHC,
            plaintext: r#"{"verifiableCredential":["eyJ6aXAiOiJERUYiLCJhbGciOiJFUzI1NiJ9.e30.c2ln"]}"#.into(),
            link: Some(|p| p.flag = "U".into()),
        },
        Vector {
            name: "medseal-unicode.json",
            description: "non-ASCII plaintext; a link with flag L and a non-ASCII label of at most 80 UTF-16 units",
            content_type: shl::CONTENT_TYPE_FHIR_JSON,
            plaintext: "{\"text\":\"Grüße, 患者, 🩺 — line\\nbreak\"}".into(),
            link: Some(|p| {
                p.flag = "L".into();
                let mut label = String::new();
                for c in "Grüße 患者 🩺 ".repeat(8).chars() {
                    if label.encode_utf16().count() + c.len_utf16() > 80 {
                        break;
                    }
                    label.push(c);
                }
                p.label = Some(label);
            }),
        },
        Vector {
            name: "medseal-empty-escaped-cty.json",
            description: "empty plaintext and a cty that needs JSON escaping; no link",
            content_type: "text/plain; q=\"a\\b\"",
            plaintext: String::new(),
            link: None,
        },
        Vector {
            name: "medseal-large.json",
            description: "an 8192-byte plaintext",
            content_type: shl::CONTENT_TYPE_API_ACCESS,
            plaintext: format!(r#"{{"access_token":"{}"}}"#, "t".repeat(8_173)),
            link: Some(|_| {}),
        },
    ]
}

fn render(v: &Vector) -> String {
    let seed = format!("medseal/shl-vector/{}", v.name);
    let key = key32(&format!("{seed}/key"));
    let jwe = deterministic::jwe_encrypt(
        seed.as_bytes(),
        &key,
        v.content_type,
        v.plaintext.as_bytes(),
    )
    .unwrap();
    let mut body = json!({
        "description": v.description,
        "seed": seed,
        "key": B64.encode(key),
        "content_type": v.content_type,
        "plaintext": v.plaintext,
        "jwe": jwe,
    });
    if let Some(set) = v.link {
        let id = B64.encode(key32(&format!("{seed}/manifest-id")));
        let mut p = LinkPayload::new(
            format!("https://shl.example.org/manifests/{id}/manifest.json"),
            key,
        );
        set(&mut p);
        let link = p.to_shlink().unwrap();
        body["payload"] = payload_json(&link);
        body["shlink"] = Value::String(link);
    }
    serde_json::to_string_pretty(&body).unwrap() + "\n"
}

#[test]
fn medseal_vectors_open_and_regenerate_identically() {
    let vs = vectors();
    for v in &vs {
        let rendered = render(v);
        let on_disk = common::vector_on_disk(
            &dir().join(v.name),
            &rendered,
            "MEDSEAL_WRITE_SHL_VECTORS",
            "cargo test --test shl",
        );
        let f: Value = serde_json::from_str(&on_disk).unwrap();
        let key = b64_key(f["key"].as_str().unwrap());
        let jwe = f["jwe"].as_str().unwrap();
        let c = jwe_decrypt(&key, jwe).unwrap();
        assert_eq!(
            c.plaintext,
            f["plaintext"].as_str().unwrap().as_bytes(),
            "{}",
            v.name
        );
        assert_eq!(c.content_type.as_deref(), f["content_type"].as_str());
        assert_eq!(open_raw(&key, jwe), c.plaintext);
        if let Some(link) = f["shlink"].as_str() {
            let p = parse_shlink(link).unwrap();
            assert_eq!(p.key(), &key);
            assert_eq!(payload_json(link), f["payload"]);
        }
        assert_eq!(
            on_disk, rendered,
            "{}: the writer no longer produces the vector's bytes",
            v.name
        );
    }
    // Every file in the folder is known: ours, or jose's.
    for entry in std::fs::read_dir(dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            name.starts_with("jose-") || vs.iter().any(|v| v.name == name),
            "{name} is neither a jose vector nor generated here"
        );
    }
}

// ---------------------------------------------------------------------------
// No panics on any input

fn valid_jwe() -> String {
    deterministic::jwe_encrypt(
        b"prop",
        &key32("prop"),
        "application/fhir+json",
        b"{\"a\":1}",
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn jwe_decrypt_never_panics(s in any::<String>(), t in "[A-Za-z0-9_.=+/ -]{0,300}") {
        let _ = jwe_decrypt(&key32("prop"), &s);
        let _ = jwe_decrypt(&key32("prop"), &t);
    }

    #[test]
    fn any_change_to_a_jwe_is_refused(i in any::<prop::sample::Index>(), c in any::<char>()) {
        let good = valid_jwe();
        let mut chars: Vec<char> = good.chars().collect();
        let at = i.index(chars.len());
        prop_assume!(chars[at] != c);
        chars[at] = c;
        let bad: String = chars.into_iter().collect();
        prop_assert!(jwe_decrypt(&key32("prop"), &bad).is_err());
    }

    #[test]
    fn parse_shlink_never_panics(s in any::<String>(), t in "(shlink:/|https://v#shlink:/)?[A-Za-z0-9_=-]{0,400}") {
        let _ = parse_shlink(&s);
        let _ = parse_shlink(&t);
        let _ = parse_shlink(&format!("shlink:/{}", B64.encode(s.as_bytes())));
    }

    #[test]
    fn parse_shlink_never_panics_on_json_like_payloads(
        url in "(https?://)?[a-z:@\\[\\]0-9./]{0,40}",
        key in "[A-Za-z0-9_-]{41,45}",
        flag in "[A-Za-z]{0,4}",
        exp in any::<f64>(),
        v in any::<i64>(),
        label in ".{0,90}",
    ) {
        let j = json!({"url": url, "key": key, "flag": flag, "exp": exp, "v": v, "label": label});
        let _ = parse_shlink(&link_of(j));
    }
}
