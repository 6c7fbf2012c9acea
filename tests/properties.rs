//! Property tests: round trips over sizes, and arbitrary input to every parser
//! returns an error, never a panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::OnceLock;

use medseal::record::{self, Header, RecordContext, MAX_RECORD_VERSION, MIN_SEALED_LEN_V2};
use medseal::{ContentType, Manifest, RecoveryCode, Vault};
use proptest::prelude::*;

fn vault() -> &'static std::sync::Mutex<Vault> {
    static V: OnceLock<std::sync::Mutex<Vault>> = OnceLock::new();
    V.get_or_init(|| std::sync::Mutex::new(common::seeded_vault(b"properties").0))
}

/// A record of the format-1 writer and the vault that opens it.
fn v1() -> &'static common::V1Record {
    static V: OnceLock<common::V1Record> = OnceLock::new();
    V.get_or_init(|| common::v1_record("v1-with-context.txt"))
}

/// The text prefix `to_text` writes for these bytes: `ms1.` for a version 1
/// header, `ms2.` for anything else (the writer only writes version 2).
fn prefix_for(bytes: &[u8]) -> &'static str {
    if bytes.get(4) == Some(&1) {
        "ms1."
    } else {
        "ms2."
    }
}

/// Bytes that may start with a record header of version 1, 2 or 3, so that
/// every branch of the text form's prefix check comes up.
fn maybe_headed(data: Vec<u8>, head: u8) -> Vec<u8> {
    match head {
        1..=3 => [b"msrc".as_slice(), &[head], &data].concat(),
        _ => data,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_small(data in proptest::collection::vec(any::<u8>(), 0..4096), id in "[a-z0-9-]{1,40}", c in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut v = vault().lock().unwrap();
        let ctx = RecordContext::with_context(id.as_bytes(), &c);
        let sealed = v.seal(&data, &ctx).unwrap();
        prop_assert_eq!(v.open(&sealed, &ctx).unwrap(), data.clone());
        let text = record::to_text(&sealed);
        prop_assert!(text.starts_with("ms2."));
        prop_assert_eq!(medseal::check_sealed_text(&text), Ok(()));
        prop_assert_eq!(v.open(&record::from_text(&text).unwrap(), &ctx).unwrap(), data);
    }

    #[test]
    fn record_versions_round_trip(
        version in prop_oneof![1..=16u64, (1u64 << 40)..=MAX_RECORD_VERSION, Just(MAX_RECORD_VERSION)],
        json in any::<bool>(),
        data in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut v = vault().lock().unwrap();
        let ctx = RecordContext::new(b"versioned");
        let ct = if json { ContentType::Json } else { ContentType::Bytes };
        let sealed = v.seal_version(ct, &data, &ctx, version).unwrap();
        let meta = record::read_meta(&sealed).unwrap();
        prop_assert_eq!((meta.format, meta.epoch, meta.version), (2, 1, version));
        let opened = v.open_record(&sealed, &ctx).unwrap();
        prop_assert_eq!(opened.meta, meta);
        prop_assert_eq!(opened.content_type, ct);
        prop_assert_eq!(opened.data, data);
        let tomb = v.seal_tombstone(&ctx, version).unwrap();
        prop_assert_eq!(tomb.len(), MIN_SEALED_LEN_V2 + 256);
        prop_assert_eq!(v.open(&tomb, &ctx), Err(medseal::Error::RecordDeleted { version }));
    }

    #[test]
    fn arbitrary_bytes_never_panic_record_parsers(
        data in proptest::collection::vec(any::<u8>(), 0..600),
        head in 0u8..4,
        suite in prop_oneof![Just(1u8), any::<u8>()],
    ) {
        // Past the magic too: a version byte, a suite byte, then anything.
        let data = match head {
            0 => data,
            h => [b"msrc".as_slice(), &[h, suite], &data].concat(),
        };
        let v = vault().lock().unwrap();
        let _ = Header::parse(&data);
        let _ = record::read_meta(&data);
        prop_assert!(v.open(&data, &RecordContext::new(b"r")).is_err());
        prop_assert!(v1().vault.open(&data, &v1().ctx()).is_err());
        let _ = medseal::check_sealed_text(&record::to_text(&data));
    }

    #[test]
    fn mutated_records_never_open(data in proptest::collection::vec(any::<u8>(), 0..300), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut v = vault().lock().unwrap();
        let ctx = RecordContext::new(b"r");
        let mut sealed = v.seal(&data, &ctx).unwrap();
        let i = pos.index(sealed.len());
        prop_assume!(sealed[i] != byte);
        sealed[i] = byte;
        prop_assert!(v.open(&sealed, &ctx).is_err());
    }

    #[test]
    fn mutated_v1_records_never_open(pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let old = v1();
        let mut sealed = old.sealed.clone();
        let i = pos.index(sealed.len());
        prop_assume!(sealed[i] != byte);
        sealed[i] = byte;
        prop_assert!(old.vault.open(&sealed, &old.ctx()).is_err());
    }

    #[test]
    fn arbitrary_text_never_panics(s in ".{0,400}") {
        let _ = record::from_text(&s);
        let _ = record::from_text(&format!("ms1.{s}"));
        let _ = record::from_text(&format!("ms2.{s}"));
        let _ = medseal::check_sealed_text(&format!("ms2.{s}"));
        let _ = RecoveryCode::parse(&s);
        let _ = Manifest::from_json(&s);
    }

    #[test]
    fn arbitrary_json_manifests_never_panic(s in r#"\{"medseal":"vault-manifest","version":[12](,"[a-zA-Z]{1,12}":("[A-Za-z0-9_-]{0,50}"|[0-9]{1,3}|\[\]|\{\}|null))*\}"#) {
        prop_assert!(Manifest::from_json(&s).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Sizes up to 1 MiB (fewer cases: each is a megabyte of AES-GCM).
    #[test]
    fn round_trip_up_to_one_mib(len in 0usize..=(1 << 20), fill in any::<u8>()) {
        let mut v = vault().lock().unwrap();
        let data: Vec<u8> = (0..len).map(|i| fill.wrapping_add(i as u8)).collect();
        let ctx = RecordContext::new(b"big");
        let sealed = v.seal(&data, &ctx).unwrap();
        // Prefix, the padded body (content type, data, marker), tag.
        prop_assert_eq!(
            sealed.len(),
            record::PREFIX_LEN_V2 + medseal::hazmat::padded_len(len + 2) + 16
        );
        prop_assert!(sealed.len() >= data.len() + MIN_SEALED_LEN_V2);
        prop_assert!(sealed.len() <= data.len() + data.len() / 8 + MIN_SEALED_LEN_V2 + 256);
        prop_assert_eq!(v.open(&sealed, &ctx).unwrap(), data);
    }
}

#[test]
fn exactly_one_mib_round_trips() {
    let mut v = vault().lock().unwrap();
    let data = vec![0xA5u8; 1 << 20];
    let ctx = RecordContext::new(b"scan");
    let sealed = v.seal(&data, &ctx).unwrap();
    assert_eq!(v.open(&sealed, &ctx).unwrap(), data);
}

#[test]
fn manifest_mutations_never_panic() {
    let (mut v, code) = common::seeded_vault(b"manifest-mutations");
    // Revision 2, so that the parent field is there to mutate too.
    v.add_passkey(common::passkey(b"cred-2", [2; 32], common::prf(2)))
        .unwrap();
    mutations_never_open(v.manifest(), &code);
}

#[test]
fn v1_manifest_mutations_never_panic() {
    // The format-1 writer's manifest, unlocked by its recovery code.
    let f = common::vector_file("v1-recovery-code.txt");
    let m = Manifest::from_json(&f["manifest"]).unwrap();
    assert_eq!(m.version(), 1);
    let code = RecoveryCode::parse(&f["recovery-code"]).unwrap();
    assert!(Vault::unlock_with_recovery_code(&m, &code, 0).is_ok());
    mutations_never_open(&m, &code);
}

/// Every one-byte mutation of the manifest's JSON either fails to parse or
/// fails to unlock with the recovery code, unless it parses to the same
/// manifest.
fn mutations_never_open(m: &Manifest, code: &RecoveryCode) {
    let json = m.to_json();
    let bytes = json.as_bytes();
    for i in 0..bytes.len() {
        for replacement in [b'0', b'A', b'"', b'}', b'-'] {
            let mut b = bytes.to_vec();
            if b[i] == replacement {
                continue;
            }
            b[i] = replacement;
            let Ok(s) = String::from_utf8(b) else {
                continue;
            };
            if let Ok(parsed) = Manifest::from_json(&s) {
                // Parsed: it must still not open unless unchanged in substance.
                let r = Vault::unlock_with_recovery_code(&parsed, code, 0);
                if parsed != *m {
                    assert!(r.is_err(), "mutation at {i} opened");
                }
            }
        }
    }
}

proptest! {
    // Cheap: many cases, so that valid and invalid lengths, alphabets and
    // trailing bits all come up.
    #![proptest_config(ProptestConfig { cases: 4000, ..ProptestConfig::default() })]

    #[test]
    fn text_form_matches_the_base64_crate(data in proptest::collection::vec(any::<u8>(), 0..300), head in 0u8..4) {
        use base64::Engine;
        let oracle = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let data = maybe_headed(data, head);
        let text = record::to_text(&data);
        prop_assert_eq!(&text, &format!("{}{}", prefix_for(&data), oracle.encode(&data)));
        prop_assert_eq!(record::from_text(&text).unwrap(), data);
    }

    #[test]
    fn text_form_decoding_accepts_exactly_what_the_base64_crate_does(
        s in "[A-Za-z0-9_+/=-]{0,40}",
        head in 0u8..4,
        prefix in prop_oneof![Just("ms1."), Just("ms2.")],
    ) {
        use base64::Engine;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        // Some inputs start with a record header, encoded with the rest.
        let s = match head {
            0 => s,
            h => {
                let mut b = engine.decode(&s).unwrap_or_default();
                b = maybe_headed(b, h);
                engine.encode(b)
            }
        };
        // What the base64 crate decodes, refused only where the prefix and
        // a version 1 or 2 header disagree.
        let oracle = engine.decode(&s).ok().filter(|b| {
            !(b.starts_with(b"msrc") && matches!(b.get(4), Some(1 | 2)) && prefix_for(b) != prefix)
        });
        prop_assert_eq!(record::from_text(&format!("{prefix}{s}")).ok(), oracle);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// openAsync reads the padding from the body's tail only
    /// (`record::plaintext_len`); `open` reads the whole body
    /// (`record::finish_open`). They must agree on every body, well padded or
    /// not: the same plaintext or the same refusal.
    #[test]
    fn the_padding_tail_and_the_whole_body_agree(
        n in 0usize..20_000,
        first in 0u8..3,
        grow in 0usize..3,
        cut in 0usize..3,
        marker_shift in 0usize..4,
        junk in any::<u8>(),
    ) {
        // A canonical body for n plaintext bytes, then bent in a few ways.
        let total = medseal::hazmat::padded_len(n + 2);
        let mut body = vec![0x41u8; 1 + n];
        body[0] = first;
        body.push(0x80);
        body.resize(total, 0);
        body.resize(body.len() + grow * 16, 0);
        body.truncate(body.len().saturating_sub(cut * 8).max(1));
        if marker_shift > 0 {
            let at = (1 + n + marker_shift * 7).min(body.len() - 1);
            body[at] = junk;
        }
        let tail = &body[body.len() - medseal::hazmat::body_tail_len(body.len())..];
        let from_tail = medseal::hazmat::read_body(body[0], body.len(), tail);
        let whole = medseal::hazmat::finish_body(body.clone());
        match (from_tail, whole) {
            (Ok((ct, len)), Ok((ct2, plain))) => {
                prop_assert_eq!(ct, ct2);
                prop_assert_eq!(&body[1..1 + len], plain.as_slice());
            }
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            (a, b) => prop_assert!(false, "tail {:?} vs whole {:?}", a, b),
        }
    }
}
