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

use medseal::record::{self, Header, RecordContext};
use medseal::{Manifest, RecoveryCode, Vault};
use proptest::prelude::*;

fn vault() -> &'static std::sync::Mutex<Vault> {
    static V: OnceLock<std::sync::Mutex<Vault>> = OnceLock::new();
    V.get_or_init(|| std::sync::Mutex::new(common::seeded_vault(b"properties").0))
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
        prop_assert_eq!(v.open(&record::from_text(&text).unwrap(), &ctx).unwrap(), data);
    }

    #[test]
    fn arbitrary_bytes_never_panic_record_parsers(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let v = vault().lock().unwrap();
        let _ = Header::parse(&data);
        prop_assert!(v.open(&data, &RecordContext::new(b"r")).is_err());
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
    fn arbitrary_text_never_panics(s in ".{0,400}") {
        let _ = record::from_text(&s);
        let _ = record::from_text(&format!("ms1.{s}"));
        let _ = RecoveryCode::parse(&s);
        let _ = Manifest::from_json(&s);
    }

    #[test]
    fn arbitrary_json_manifests_never_panic(s in r#"\{"medseal":"vault-manifest","version":1(,"[a-zA-Z]{1,12}":("[A-Za-z0-9_-]{0,50}"|[0-9]{1,3}|\[\]|\{\}|null))*\}"#) {
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
        prop_assert!(sealed.len() >= data.len() + record::MIN_SEALED_LEN);
        prop_assert!(sealed.len() <= data.len() + data.len() / 8 + record::MIN_SEALED_LEN + 256);
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
    let (v, code) = common::seeded_vault(b"manifest-mutations");
    let json = v.manifest().to_json();
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
            if let Ok(m) = Manifest::from_json(&s) {
                // Parsed: it must still not open unless unchanged in substance.
                let r = Vault::unlock_with_recovery_code(&m, &code, 0);
                if m != *v.manifest() {
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
    fn text_form_matches_the_base64_crate(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        use base64::Engine;
        let oracle = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let text = record::to_text(&data);
        prop_assert_eq!(&text, &format!("ms1.{}", oracle.encode(&data)));
        prop_assert_eq!(record::from_text(&text).unwrap(), data);
    }

    #[test]
    fn text_form_decoding_accepts_exactly_what_the_base64_crate_does(s in "[A-Za-z0-9_+/=-]{0,40}") {
        use base64::Engine;
        let oracle = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&s).ok();
        prop_assert_eq!(record::from_text(&format!("ms1.{s}")).ok(), oracle);
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
