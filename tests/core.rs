//! Behaviour of the core: vault life cycle, records, and tampering by a server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{
    b64, ctx, edit_b64, negate_s, new_vault, passkey, passkey_entry_id, prf, tamper,
    tamper_and_sign, try_tamper, unlock, v1_record,
};
use medseal::record::{
    self, Header, RecordContext, MAX_RECORD_VERSION, MIN_SEALED_LEN, MIN_SEALED_LEN_V2, PREFIX_LEN,
    PREFIX_LEN_V2,
};
use medseal::{ContentType, Error, Manifest, PasskeyUnlock, PrfOutput, RecoveryCode, Vault};

/// Whether a manifest's JSON unlock entry is the passkey with this credential id.
fn is_passkey(e: &serde_json::Value, cred: &[u8]) -> bool {
    e["type"] == "passkey" && e["credentialId"] == b64(cred).as_str()
}

#[test]
fn create_unlock_seal_open() {
    let (mut v, code) = new_vault();
    let m = v.manifest().clone();
    assert_eq!(m.revision(), 1);
    let sealed = v
        .seal(b"{\"allergy\":\"penicillin\"}", &ctx("rec-1"))
        .unwrap();

    // Another session: unlock from the stored manifest with the passkey.
    let json = m.to_json();
    let m2 = Manifest::from_json(&json).unwrap();
    let v2 = unlock(&m2, b"cred-1", 1).unwrap();
    assert_eq!(
        v2.open(&sealed, &ctx("rec-1")).unwrap(),
        b"{\"allergy\":\"penicillin\"}"
    );

    // And with the recovery code, typed sloppily.
    let typed = code.to_display_string().to_lowercase().replace('-', " ");
    let v3 =
        Vault::unlock_with_recovery_code(&m2, &RecoveryCode::parse(&typed).unwrap(), 0).unwrap();
    assert_eq!(
        v3.open(&sealed, &ctx("rec-1")).unwrap(),
        b"{\"allergy\":\"penicillin\"}"
    );
    assert_eq!(v3.identity_public_key(), v.identity_public_key());
}

#[test]
fn text_form_round_trip() {
    let (mut v, _) = new_vault();
    let sealed = v.seal(b"note", &ctx("r")).unwrap();
    let text = record::to_text(&sealed);
    // Version 2 is written, under its own prefix.
    assert!(text.starts_with("ms2."), "{text}");
    assert!(!text.contains('=') && !text.contains('+') && !text.contains('/'));
    assert_eq!(record::from_text(&text).unwrap(), sealed);
    // Version 1 still reads: a record of the format-1 writer keeps `ms1.`,
    // and its bytes are written back under `ms1.`, byte for byte.
    let old = v1_record("v1-json-record.txt");
    assert_eq!(record::to_text(&old.sealed), old.text);
    assert_eq!(record::from_text(&old.text).unwrap(), old.sealed);
    // The prefix and the header's version byte must agree.
    let v2_as_ms1 = format!("ms1.{}", &text[4..]);
    assert!(matches!(
        record::from_text(&v2_as_ms1),
        Err(Error::Malformed(_))
    ));
    let v1_as_ms2 = format!("ms2.{}", &old.text[4..]);
    assert!(matches!(
        record::from_text(&v1_as_ms2),
        Err(Error::Malformed(_))
    ));
    // Another `msN.` is an unknown version, not garbage.
    assert!(matches!(
        record::from_text("ms3.AAAA"),
        Err(Error::UnknownVersion { version: 3, .. })
    ));
    assert!(matches!(
        record::from_text("hello"),
        Err(Error::Malformed(_))
    ));
    for bad in ["ms1.***", "ms2.***"] {
        assert!(matches!(record::from_text(bad), Err(Error::Malformed(_))));
    }
}

#[test]
fn wrong_prf_output_is_unlock_failed_not_garbage() {
    let (v, _) = new_vault();
    assert_eq!(
        unlock(v.manifest(), b"cred-1", 2).unwrap_err(),
        Error::UnlockFailed
    );
    assert_eq!(
        unlock(v.manifest(), b"cred-unknown", 1).unwrap_err(),
        Error::UnknownUnlockEntry
    );
    assert_eq!(
        PrfOutput::new(&[0u8; 32]).unwrap_err(),
        Error::InvalidPrfOutput
    );
    assert_eq!(
        PrfOutput::new(&[1u8; 31]).unwrap_err(),
        Error::InvalidPrfOutput
    );
    assert_eq!(
        PrfOutput::new(&[1u8; 33]).unwrap_err(),
        Error::InvalidPrfOutput
    );
}

#[test]
fn wrong_recovery_code_is_unlock_failed_and_typo_is_invalid() {
    let (v, code) = new_vault();
    let (_, other_code) = new_vault();
    assert_eq!(
        Vault::unlock_with_recovery_code(v.manifest(), &other_code, 0).unwrap_err(),
        Error::UnlockFailed
    );
    let mut s = code.to_display_string().into_bytes();
    s[0] = if s[0] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        RecoveryCode::parse(std::str::from_utf8(&s).unwrap()).unwrap_err(),
        Error::InvalidRecoveryCode
    );
}

#[test]
fn records_are_bound_to_id_context_and_vault() {
    let (mut a, _) = new_vault();
    let (b, _) = new_vault();
    let c = RecordContext::with_context(b"rec-1", b"user:42");
    let sealed = a.seal(b"HbA1c 6.1%", &c).unwrap();
    assert_eq!(a.open(&sealed, &c).unwrap(), b"HbA1c 6.1%");
    assert_eq!(
        a.open(&sealed, &ctx("rec-2")).unwrap_err(),
        Error::DecryptionFailed
    );
    assert_eq!(
        a.open(&sealed, &ctx("rec-1")).unwrap_err(),
        Error::DecryptionFailed
    );
    assert_eq!(
        a.open(&sealed, &RecordContext::with_context(b"rec-1", b"user:43"))
            .unwrap_err(),
        Error::DecryptionFailed
    );
    assert_eq!(b.open(&sealed, &c).unwrap_err(), Error::DecryptionFailed);
}

/// Splices parts of `r2` into `r1` (two records of one vault, under ids
/// `one` and `two`) at the offsets of their format: the wrapped key and
/// commitment (`keys`), then everything from the nonce on (`body_from`).
fn splices_fail(
    v: &Vault,
    (r1, one): (&[u8], RecordContext<'_>),
    (r2, two): (&[u8], RecordContext<'_>),
    keys: std::ops::Range<usize>,
    body_from: usize,
) {
    // A server swaps the whole records between ids (two versions of one
    // record share their id: that swap is a rollback, for `Seen`).
    if (one.record_id, one.context) != (two.record_id, two.context) {
        assert_eq!(v.open(r2, &one).unwrap_err(), Error::DecryptionFailed);
    }
    // A server splices r2's wrapped key and commitment into r1.
    let mut spliced = r1.to_vec();
    spliced[keys.clone()].copy_from_slice(&r2[keys.clone()]);
    assert_eq!(v.open(&spliced, &one).unwrap_err(), Error::DecryptionFailed);
    assert_eq!(v.open(&spliced, &two).unwrap_err(), Error::DecryptionFailed);
    // ... or r2's wrapped key alone (r1's commitment kept).
    let mut spliced = r1.to_vec();
    let wrapped = keys.start..keys.end - 32;
    spliced[wrapped.clone()].copy_from_slice(&r2[wrapped]);
    assert_eq!(v.open(&spliced, &one).unwrap_err(), Error::DecryptionFailed);
    // ... or r2's nonce, body and tag into r1.
    let mut spliced = r1.to_vec();
    spliced.truncate(body_from);
    spliced.extend_from_slice(&r2[body_from..]);
    assert_eq!(v.open(&spliced, &one).unwrap_err(), Error::DecryptionFailed);
    // ... or r2's header, wrapped key and commitment before r1's body.
    let mut spliced = r2[..body_from].to_vec();
    spliced.extend_from_slice(&r1[body_from..]);
    assert_eq!(v.open(&spliced, &one).unwrap_err(), Error::DecryptionFailed);
    assert_eq!(v.open(&spliced, &two).unwrap_err(), Error::DecryptionFailed);
    // Untouched, both open.
    assert!(v.open(r1, &one).is_ok() && v.open(r2, &two).is_ok());
}

#[test]
fn moving_parts_between_records_fails() {
    // Version 2: header 0..18, wrapped key 18..78, commitment 78..110,
    // nonce 110..122, then body and tag.
    let (mut v, _) = new_vault();
    let r1 = v.seal(b"record one", &ctx("one")).unwrap();
    let r2 = v.seal(b"record two", &ctx("two")).unwrap();
    splices_fail(
        &v,
        (&r1, ctx("one")),
        (&r2, ctx("two")),
        18..110,
        PREFIX_LEN_V2 - 12,
    );
    // Version 2 binds the body to the version and commitment, not to the
    // wrapped key: the same record's versions 1 and 2 swap nothing either.
    let c = ctx("same");
    let v1 = v.seal_version(ContentType::Bytes, b"first", &c, 1).unwrap();
    let v2 = v
        .seal_version(ContentType::Bytes, b"second", &c, 2)
        .unwrap();
    splices_fail(&v, (&v1, c), (&v2, c), 18..110, PREFIX_LEN_V2 - 12);
    let mut relabelled = v1.clone();
    relabelled[10..18].copy_from_slice(&2u64.to_be_bytes());
    assert_eq!(
        v.open(&relabelled, &c).unwrap_err(),
        Error::DecryptionFailed
    );

    // Version 1 (two records of the format-1 writer, one vault): header
    // 0..6, wrapped key 6..66, commitment 66..98, nonce 98..110.
    let a = v1_record("v1-empty.txt");
    let b = v1_record("v1-padme-1000.txt");
    splices_fail(
        &a.vault,
        (&a.sealed, a.ctx()),
        (&b.sealed, b.ctx()),
        6..98,
        PREFIX_LEN - 12,
    );
}

#[test]
fn every_bit_flip_is_a_typed_error() {
    // Version 2, at record version 5 so that the version field has bits set
    // (and bit flips that give 0, a version above 2^53 - 1, or another valid
    // version). Epoch 1 likewise gives 0 and other epochs.
    let (mut v, _) = new_vault();
    let c = ctx("r");
    let sealed = v
        .seal_version(ContentType::Bytes, b"blood type O-", &c, 5)
        .unwrap();
    let (mut zero, mut too_big, mut other) = (0, 0, 0);
    for i in 0..sealed.len() * 8 {
        let mut t = sealed.clone();
        t[i / 8] ^= 1 << (i % 8);
        let e = v.open(&t, &c).unwrap_err();
        let epoch = u32::from_be_bytes(t[6..10].try_into().unwrap());
        let version = u64::from_be_bytes(t[10..18].try_into().unwrap());
        match i / 8 {
            0..=3 => assert!(matches!(e, Error::Malformed(_)), "bit {i}: {e:?}"),
            4 | 5 => assert!(matches!(e, Error::UnknownVersion { .. }), "bit {i}: {e:?}"),
            // Out of range: refused before any key is used.
            6..=17 if epoch == 0 || version == 0 || version > MAX_RECORD_VERSION => {
                if epoch == 0 || version == 0 {
                    zero += 1;
                } else {
                    too_big += 1;
                }
                assert_eq!(
                    e,
                    Error::Malformed("sealed record epoch or version out of range"),
                    "bit {i}"
                );
            }
            // Another epoch or version: authenticated (DEK-wrap AAD).
            6..=17 => {
                other += 1;
                assert_eq!(e, Error::DecryptionFailed, "bit {i}");
            }
            _ => assert_eq!(e, Error::DecryptionFailed, "bit {i}"),
        }
    }
    // Epoch 1 flips to 0 in one bit; version 5 never does.
    assert_eq!(zero, 1, "epoch 1 flipped to 0");
    assert_eq!(too_big, 11, "the top 11 bits of the version");
    assert_eq!(other, 96 - 1 - 11);
    // The vault still works after all those failures.
    assert_eq!(v.open(&sealed, &c).unwrap(), b"blood type O-");

    // Version 1 (a record of the format-1 writer): the header is 6 bytes.
    let old = v1_record("v1-with-context.txt");
    for i in 0..old.sealed.len() * 8 {
        let mut t = old.sealed.clone();
        t[i / 8] ^= 1 << (i % 8);
        let e = old.vault.open(&t, &old.ctx()).unwrap_err();
        match i / 8 {
            0..=3 => assert!(matches!(e, Error::Malformed(_)), "v1 bit {i}: {e:?}"),
            // 1 never flips to 2 in one bit: always unknown.
            4 | 5 => assert!(
                matches!(e, Error::UnknownVersion { .. }),
                "v1 bit {i}: {e:?}"
            ),
            _ => assert_eq!(e, Error::DecryptionFailed, "v1 bit {i}"),
        }
    }
    assert_eq!(
        old.vault.open(&old.sealed, &old.ctx()).unwrap(),
        old.plaintext
    );
}

/// Every prefix of `sealed` shorter than `min` is Malformed, every longer
/// one (and one byte more) is DecryptionFailed.
fn truncations_fail(v: &Vault, sealed: &[u8], c: &RecordContext<'_>, min: usize) {
    for n in 0..sealed.len() {
        let e = v.open(&sealed[..n], c).unwrap_err();
        if n < min {
            assert!(matches!(e, Error::Malformed(_)), "len {n}: {e:?}");
        } else {
            assert_eq!(e, Error::DecryptionFailed, "len {n}");
        }
    }
    let mut longer = sealed.to_vec();
    longer.push(0);
    assert_eq!(v.open(&longer, c).unwrap_err(), Error::DecryptionFailed);
}

#[test]
fn every_truncation_is_a_typed_error() {
    assert_eq!(MIN_SEALED_LEN_V2, 138);
    assert_eq!(PREFIX_LEN_V2, 122);
    let (mut v, _) = new_vault();
    let sealed = v.seal(b"x", &ctx("r")).unwrap();
    truncations_fail(&v, &sealed, &ctx("r"), MIN_SEALED_LEN_V2);
    // Version 1 keeps its own minimum.
    assert_eq!(MIN_SEALED_LEN, 126);
    let old = v1_record("v1-empty.txt");
    truncations_fail(&old.vault, &old.sealed, &old.ctx(), MIN_SEALED_LEN);
}

#[test]
fn length_is_hidden_for_short_records() {
    let (mut v, _) = new_vault();
    let a = v.seal(b"HIV: negative", &ctx("r")).unwrap();
    let b = v
        .seal(b"HIV: positive, viral load 48,000 copies/mL", &ctx("r"))
        .unwrap();
    let c = v.seal(&[b'x'; 254], &ctx("r")).unwrap();
    assert_eq!(a.len(), b.len());
    assert_eq!(a.len(), c.len());
    assert_eq!(a.len(), MIN_SEALED_LEN_V2 + 256);
    // Neither the record version nor a tombstone shows in the length.
    let d = v
        .seal_version(ContentType::Json, b"{}", &ctx("r"), 1 << 40)
        .unwrap();
    let t = v.seal_tombstone(&ctx("r"), 7).unwrap();
    assert_eq!(d.len(), a.len());
    assert_eq!(t.len(), a.len());
    // A record of the format-1 writer: 12 bytes shorter.
    let old = v1_record("v1-empty.txt");
    assert_eq!(old.sealed.len(), MIN_SEALED_LEN + 256);
}

#[test]
fn header_versions() {
    assert_eq!(Header::parse(b"msrc\x01\x01").unwrap(), Header::V1);
    assert_eq!(Header::parse(b"msrc\x02\x01").unwrap(), Header::V2);
    assert_eq!(
        Header::parse(b"msrc\x03\x01").unwrap(),
        Header::Unknown {
            version: 3,
            suite: 1
        }
    );
    assert_eq!(
        Header::parse(b"msrc\x02\x02").unwrap(),
        Header::Unknown {
            version: 2,
            suite: 2
        }
    );
    assert!(matches!(Header::parse(b"msr"), Err(Error::Malformed(_))));
    let (mut v, _) = new_vault();
    let s = v.seal(b"x", &ctx("r")).unwrap();
    assert_eq!(&s[..6], b"msrc\x02\x01");
    let mut t = s.clone();
    t[4] = 3;
    assert!(matches!(
        v.open(&t, &ctx("r")),
        Err(Error::UnknownVersion {
            what: "sealed record",
            version: 3
        })
    ));
    t[4] = 2;
    t[5] = 9;
    assert!(matches!(
        v.open(&t, &ctx("r")),
        Err(Error::UnknownVersion {
            what: "sealed record suite",
            version: 9
        })
    ));
    // Version 1 still has its own header and suite check.
    let old = v1_record("v1-json-record.txt");
    assert_eq!(Header::parse(&old.sealed).unwrap(), Header::V1);
    let mut t = old.sealed.clone();
    t[5] = 9;
    assert!(matches!(
        old.vault.open(&t, &old.ctx()),
        Err(Error::UnknownVersion {
            what: "sealed record suite",
            version: 9
        })
    ));
    t[5] = 1;
    t[4] = 0;
    assert!(matches!(
        old.vault.open(&t, &old.ctx()),
        Err(Error::UnknownVersion {
            what: "sealed record",
            version: 0
        })
    ));
}

#[test]
fn read_meta_reads_the_header_without_a_key() {
    let (mut v, _) = new_vault();
    let c = ctx("r");
    let s = v
        .seal_version(ContentType::Json, b"{}", &c, MAX_RECORD_VERSION)
        .unwrap();
    // u32be epoch at 6, u64be version at 10.
    assert_eq!(&s[6..10], &1u32.to_be_bytes());
    assert_eq!(&s[10..18], &MAX_RECORD_VERSION.to_be_bytes());
    for head in [&s[..], &s[..18]] {
        let meta = record::read_meta(head).unwrap();
        assert_eq!(
            (meta.format, meta.epoch, meta.version),
            (2, 1, MAX_RECORD_VERSION)
        );
    }
    let opened = v.open_record(&s, &c).unwrap();
    assert_eq!(opened.meta, record::read_meta(&s).unwrap());
    assert_eq!(
        (opened.content_type, opened.data),
        (ContentType::Json, b"{}".to_vec())
    );
    // A header cut inside the epoch or version is truncated.
    for n in 6..18 {
        assert_eq!(
            record::read_meta(&s[..n]).unwrap_err(),
            Error::Malformed("sealed record is truncated"),
            "{n}"
        );
    }
    // Epoch 0, version 0, version 2^53: out of range.
    let out_of_range = Error::Malformed("sealed record epoch or version out of range");
    for (at, bytes) in [
        (6, 0u32.to_be_bytes().to_vec()),
        (10, 0u64.to_be_bytes().to_vec()),
        (10, (MAX_RECORD_VERSION + 1).to_be_bytes().to_vec()),
        (10, u64::MAX.to_be_bytes().to_vec()),
    ] {
        let mut t = s.clone();
        t[at..at + bytes.len()].copy_from_slice(&bytes);
        assert_eq!(record::read_meta(&t).unwrap_err(), out_of_range);
        assert_eq!(v.open(&t, &c).unwrap_err(), out_of_range);
    }
    // Version 1: epoch 1, version 1, from its 6-byte header alone.
    let old = v1_record("v1-json-record.txt");
    let meta = record::read_meta(&old.sealed[..6]).unwrap();
    assert_eq!((meta.format, meta.epoch, meta.version), (1, 1, 1));
    assert_eq!(
        old.vault.open_record(&old.sealed, &old.ctx()).unwrap().meta,
        meta
    );
}

#[test]
fn a_tombstone_opens_as_record_deleted() {
    let (mut v, _) = new_vault();
    let c = RecordContext::with_context(b"rec-9", b"user:1");
    let live = v
        .seal_version(ContentType::Json, b"{\"a\":1}", &c, 1)
        .unwrap();
    let tomb = v.seal_tombstone(&c, 2).unwrap();
    assert_eq!(record::read_meta(&tomb).unwrap().version, 2);
    assert!(medseal::check_sealed_text(&record::to_text(&tomb)).is_ok());
    assert_eq!(
        v.open(&tomb, &c).unwrap_err(),
        Error::RecordDeleted { version: 2 }
    );
    assert_eq!(
        v.open_record(&tomb, &c).unwrap_err(),
        Error::RecordDeleted { version: 2 }
    );
    // Bound like any record: another id or context does not open it at all.
    assert_eq!(
        v.open(&tomb, &ctx("rec-9")).unwrap_err(),
        Error::DecryptionFailed
    );
    // The live version still opens by itself (the tombstone is a newer
    // version, refused only by a device that saw it: see `Seen`).
    assert_eq!(v.open(&live, &c).unwrap(), b"{\"a\":1}");
    // A tombstone takes a valid version too.
    for bad in [0, MAX_RECORD_VERSION + 1] {
        assert!(matches!(
            v.seal_tombstone(&c, bad),
            Err(Error::InvalidArgument(_))
        ));
    }
}

#[test]
fn invalid_arguments() {
    let (mut v, _) = new_vault();
    assert!(matches!(
        v.seal(b"x", &ctx("")),
        Err(Error::InvalidArgument(_))
    ));
    let long = "a".repeat(1025);
    assert!(matches!(
        v.seal(b"x", &ctx(&long)),
        Err(Error::InvalidArgument(_))
    ));
    let big_ctx = vec![0u8; 65 * 1024];
    assert!(matches!(
        v.seal(b"x", &RecordContext::with_context(b"r", &big_ctx)),
        Err(Error::InvalidArgument(_))
    ));
    // Record versions are 1 to 2^53 - 1.
    for bad in [0, MAX_RECORD_VERSION + 1, u64::MAX] {
        assert!(matches!(
            v.seal_version(ContentType::Bytes, b"x", &ctx("r"), bad),
            Err(Error::InvalidArgument(_))
        ));
    }
    assert!(v
        .seal_version(ContentType::Bytes, b"x", &ctx("r"), MAX_RECORD_VERSION)
        .is_ok());
}

#[test]
fn passkeys_added_removed_and_recovery_rotated() {
    let (mut v, old_code) = new_vault();
    let sealed = v.seal(b"med list", &ctx("r")).unwrap();
    let salt2 = medseal::new_prf_salt().unwrap();
    let m = v
        .add_passkey(passkey(b"cred-2", salt2, prf(2)))
        .unwrap()
        .clone();
    assert_eq!(m.revision(), 2);
    assert_eq!(m.passkeys().count(), 2);
    // Adding the same credential twice is refused.
    assert!(matches!(
        v.add_passkey(passkey(b"cred-2", salt2, prf(2))),
        Err(Error::InvalidArgument(_))
    ));

    let v2 = unlock(&m, b"cred-2", 2).unwrap();
    assert_eq!(v2.open(&sealed, &ctx("r")).unwrap(), b"med list");

    // Remove the first passkey; the second still works, the first no longer.
    let first_id = passkey_entry_id(&m, b"cred-1");
    let m = v.remove_unlock(&first_id).unwrap().clone();
    assert_eq!(m.revision(), 3);
    assert_eq!(
        unlock(&m, b"cred-1", 1).unwrap_err(),
        Error::UnknownUnlockEntry
    );
    assert!(unlock(&m, b"cred-2", 2).is_ok());

    // The last passkey and the recovery entry cannot be removed.
    let second_id = passkey_entry_id(&m, b"cred-2");
    assert_eq!(
        v.remove_unlock(&second_id).unwrap_err(),
        Error::LastUnlockMethod
    );
    let rec_id = m.recovery_entry_id().unwrap().to_string();
    assert_eq!(
        v.remove_unlock(&rec_id).unwrap_err(),
        Error::LastUnlockMethod
    );
    assert_eq!(
        v.remove_unlock("nope").unwrap_err(),
        Error::UnknownUnlockEntry
    );
    assert_eq!(
        v.manifest().revision(),
        3,
        "refused changes make no revision"
    );

    // Rotating the recovery code retires the old one.
    let new_code = v.rotate_recovery_code().unwrap();
    let m = v.manifest().clone();
    assert_eq!(m.revision(), 4);
    assert_eq!(
        Vault::unlock_with_recovery_code(&m, &old_code, 0).unwrap_err(),
        Error::UnlockFailed
    );
    let v3 = Vault::unlock_with_recovery_code(&m, &new_code, 0).unwrap();
    assert_eq!(v3.open(&sealed, &ctx("r")).unwrap(), b"med list");
}

#[test]
fn another_device_adopts_newer_manifest() {
    let (mut a, _) = new_vault();
    let m1 = a.manifest().clone();
    let mut b = unlock(&m1, b"cred-1", 1).unwrap();
    let mut c = unlock(&m1, b"cred-1", 1).unwrap();
    let m2 = a
        .add_passkey(passkey(b"cred-2", [7; 32], prf(2)))
        .unwrap()
        .clone();
    b.update_manifest(&m2).unwrap();
    assert_eq!(b.manifest(), &m2);
    // The same manifest again is a no-op.
    b.update_manifest(&m2).unwrap();
    assert_eq!(b.manifest(), &m2);
    // An older one never replaces the newer (see also
    // `updating_to_an_older_manifest_is_stale`).
    let _ = b.update_manifest(&m1);
    assert_eq!(b.manifest(), &m2);
    // Another vault's manifest.
    let (other, _) = new_vault();
    assert_eq!(
        b.update_manifest(other.manifest()).unwrap_err(),
        Error::ManifestInvalid
    );
    // Another manifest at revision 2, from a device that changed revision 1
    // too: a fork, with both hashes as evidence.
    let m2_other = c
        .add_passkey(passkey(b"cred-3", [8; 32], prf(3)))
        .unwrap()
        .clone();
    assert_eq!(m2_other.revision(), 2);
    assert_eq!(
        b.update_manifest(&m2_other).unwrap_err(),
        Error::ForkDetected {
            revision: 2,
            seen: m2.hash(),
            offered: m2_other.hash()
        }
    );
    assert_eq!(b.manifest(), &m2);
    // A revision skipped: the history in between is needed, and then enough.
    let m3 = a.rekey().unwrap().clone();
    let mut d = unlock(&m1, b"cred-1", 1).unwrap();
    assert_eq!(
        d.update_manifest(&m3).unwrap_err(),
        Error::HistoryIncomplete {
            seen: 1,
            offered: 3
        }
    );
    d.update_manifests(&[m1.clone(), m2.clone(), m3.clone()])
        .unwrap();
    assert_eq!(d.manifest(), &m3);
    // m3 is a new key epoch: b follows it with the key of the passkey it was
    // unlocked with (no authenticator asked), and reads what a seals after.
    b.update_manifest(&m3).unwrap();
    assert_eq!(b.manifest().epoch(), 2);
    let after = a.seal(b"after the re-key", &ctx("r")).unwrap();
    assert_eq!(b.open(&after, &ctx("r")).unwrap(), b"after the re-key");
    assert_eq!(d.open(&after, &ctx("r")).unwrap(), b"after the re-key");
}

/// Before format 2, `update_manifest` with an older manifest was
/// `StaleManifest` (the server served a rollback). Now it returns `Ok(())`
/// and keeps the newer manifest: no rollback, but the caller is not told.
#[test]
fn updating_to_an_older_manifest_is_stale() {
    let (mut a, _) = new_vault();
    let m1 = a.manifest().clone();
    let mut b = unlock(&m1, b"cred-1", 1).unwrap();
    let m2 = a
        .add_passkey(passkey(b"cred-2", [7; 32], prf(2)))
        .unwrap()
        .clone();
    b.update_manifest(&m2).unwrap();
    assert_eq!(
        b.update_manifest(&m1).unwrap_err(),
        Error::StaleManifest {
            seen: 2,
            offered: 1
        }
    );
}

/// A valid compressed P-256 key that belongs to no vault.
fn other_identity_key() -> serde_json::Value {
    let sk = p256::ecdsa::SigningKey::from_slice(&[0x43; 32]).unwrap();
    b64(&common::public_key(&sk)).into()
}

fn resigned_elsewhere(m: &Manifest) -> Manifest {
    // What a server can do at best: name an identity key of its own (with
    // another vault's wrapped private key) and sign with it.
    let (other, _) = new_vault();
    let other: serde_json::Value = serde_json::from_str(&other.manifest().to_json()).unwrap();
    let sk = p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).unwrap();
    tamper_and_sign(m, &sk, |v| {
        v["identityKey"] = other["identityKey"].clone();
        v["identityKey"]["publicKey"] =
            b64(sk.verifying_key().to_sec1_point(true).as_bytes()).into();
    })
}

#[test]
fn manifest_tampering_is_rejected() {
    let (mut v, code) = new_vault();
    v.add_passkey(passkey(b"cred-2", [9; 32], prf(2))).unwrap();
    let good = v.manifest().clone();
    assert!(unlock(&good, b"cred-1", 1).is_ok());

    let check = |m: &Manifest, what: &str| {
        let e1 = unlock(m, b"cred-1", 1).map(|_| ()).expect_err(what);
        let e2 = Vault::unlock_with_recovery_code(m, &code, 0)
            .map(|_| ())
            .expect_err(what);
        for e in [e1, e2] {
            assert!(
                matches!(
                    e,
                    Error::ManifestInvalid | Error::UnlockFailed | Error::UnknownUnlockEntry
                ),
                "{what}: {e:?}"
            );
        }
    };

    // An entry dropped (the second passkey).
    let m = tamper(&good, |v| {
        let unlock = v["unlock"].as_array_mut().unwrap();
        let before = unlock.len();
        unlock.retain(|e| !is_passkey(e, b"cred-2"));
        assert_eq!(unlock.len(), before - 1);
    });
    check(&m, "entry dropped");
    // The recovery entry dropped: structurally invalid too.
    assert_eq!(
        try_tamper(&good, |v| {
            v["unlock"]
                .as_array_mut()
                .unwrap()
                .retain(|e| e["type"] != "recovery");
        })
        .unwrap_err(),
        Error::ManifestInvalid
    );
    // Entries reordered.
    let m = tamper(&good, |v| v["unlock"].as_array_mut().unwrap().reverse());
    check(&m, "entries reordered");
    // A salt changed, in the entry used and in another.
    for target in [b"cred-1".as_slice(), b"cred-2"] {
        let m = tamper(&good, |v| {
            for e in v["unlock"].as_array_mut().unwrap() {
                if is_passkey(e, target) {
                    edit_b64(&mut e["prfSalt"], |salt| salt[0] ^= 1);
                }
            }
        });
        assert_ne!(m, good);
        check(&m, "salt changed");
    }
    // A label changed.
    let m = tamper(&good, |v| {
        for e in v["unlock"].as_array_mut().unwrap() {
            if is_passkey(e, b"cred-2") {
                e["label"] = "use this one".into();
            }
        }
    });
    assert_ne!(m, good);
    check(&m, "label changed");
    // The signature altered.
    let m = tamper(&good, |v| {
        edit_b64(&mut v["signature"], |sig| sig[10] ^= 0x40)
    });
    check(&m, "signature altered");
    // The same signature with `s` replaced by `n - s` (still a valid ECDSA
    // signature): v2 takes low S only.
    let m = tamper(&good, |v| {
        edit_b64(&mut v["signature"], |sig| *sig = negate_s(sig))
    });
    check(&m, "high-S signature");
    // The parent hash changed (a history rewritten) without re-signing.
    let m = tamper(&good, |v| edit_b64(&mut v["parent"], |p| p[0] ^= 1));
    check(&m, "parent changed");
    // An entry's HPKE public key, or the recovery login key, swapped.
    let m = tamper(&good, |v| {
        let pk = v["unlock"][1]["publicKey"].clone();
        v["unlock"][0]["publicKey"] = pk;
    });
    check(&m, "entry public key swapped");
    let m = tamper(&good, |v| {
        for e in v["unlock"].as_array_mut().unwrap() {
            if e["type"] == "recovery" {
                e["loginKey"] = other_identity_key();
            }
        }
    });
    check(&m, "recovery login key swapped");
    // The revision bumped without a new signature.
    let m = tamper(&good, |v| v["revision"] = (good.revision() + 1).into());
    check(&m, "revision changed");
    // Another identity key, and a signature by it.
    check(&resigned_elsewhere(&good), "identity key substituted");
    // The wrapped identity key swapped for another vault's.
    let (other, _) = new_vault();
    let other_json: serde_json::Value = serde_json::from_str(&other.manifest().to_json()).unwrap();
    let m = tamper(&good, |v| {
        v["identityKey"]["wrappedPrivateKey"] =
            other_json["identityKey"]["wrappedPrivateKey"].clone();
    });
    check(&m, "wrapped identity key swapped");
    // An entry taken from another vault.
    let m = tamper(&good, |v| v["unlock"][0] = other_json["unlock"][0].clone());
    check(&m, "foreign entry");
}

#[test]
fn older_revision_is_refused() {
    let (mut v, code) = new_vault();
    let old = v.manifest().clone();
    v.add_passkey(passkey(b"cred-2", [3; 32], prf(2))).unwrap();
    let new = v.manifest().clone();
    assert!(Vault::unlock_with_prf(&new, b"cred-1", PrfOutput::new(&prf(1)).unwrap(), 2).is_ok());
    assert_eq!(
        Vault::unlock_with_prf(&old, b"cred-1", PrfOutput::new(&prf(1)).unwrap(), 2).unwrap_err(),
        Error::StaleManifest {
            seen: 2,
            offered: 1
        }
    );
    assert_eq!(
        Vault::unlock_with_recovery_code(&old, &code, 2).unwrap_err(),
        Error::StaleManifest {
            seen: 2,
            offered: 1
        }
    );
}

#[test]
fn manifest_json_versions_and_shape() {
    let (mut v, _) = new_vault();
    let json = v.manifest().to_json();
    assert_eq!(v.manifest().version(), 3);
    assert!(json.starts_with("{\"medseal\":\"vault-manifest\",\"version\":3,"));
    assert_eq!(Manifest::from_json(&json).unwrap(), *v.manifest());
    let v4 = json.replace("\"version\":3", "\"version\":4");
    assert!(matches!(
        Manifest::from_json(&v4),
        Err(Error::UnknownVersion {
            what: "vault manifest",
            version: 4
        })
    ));
    // A v3 manifest relabelled v1 or v2: neither has a share key or shares
    // (nor v1 an epoch, epochs or parent).
    for older in ["1", "2"] {
        let relabelled = json.replace("\"version\":3", &format!("\"version\":{older}"));
        assert_eq!(
            Manifest::from_json(&relabelled).unwrap_err(),
            Error::ManifestInvalid
        );
    }
    // A v3 manifest without its share fields.
    for field in ["shareKey", "shares"] {
        let bare = try_tamper(v.manifest(), |j| {
            j.as_object_mut().unwrap().remove(field);
        });
        assert_eq!(bare.unwrap_err(), Error::ManifestInvalid, "{field}");
    }
    // A v2 manifest without its epoch fields.
    let bare = try_tamper(v.manifest(), |j| {
        let o = j.as_object_mut().unwrap();
        o.remove("epoch");
        o.remove("epochs");
    });
    assert_eq!(bare.unwrap_err(), Error::ManifestInvalid);
    // Version 1 still reads, and writes back the same JSON.
    let old = v1_record("v1-json-record.txt");
    let old_json = common::vector_file("v1-json-record.txt")["manifest"].clone();
    assert_eq!(old.manifest.version(), 1);
    assert_eq!(old.manifest.epoch(), 1);
    assert_eq!(old.manifest.to_json(), old_json);
    // Revisions: at most 2^53 - 1 (exact in JavaScript), in v2 and v1.
    let m1 = v.manifest().clone();
    let m2 = v
        .add_passkey(passkey(b"cred-2", [5; 32], prf(2)))
        .unwrap()
        .clone();
    let max = medseal::manifest::MAX_REVISION;
    assert_eq!(max, (1 << 53) - 1);
    assert!(try_tamper(&m2, |j| j["revision"] = max.into()).is_ok());
    for m in [&m2, &old.manifest] {
        for bad in [max + 1, u64::MAX] {
            assert_eq!(
                try_tamper(m, |j| j["revision"] = bad.into()).unwrap_err(),
                Error::ManifestInvalid,
                "revision {bad}"
            );
        }
    }
    // v2: a parent exactly when the revision is above 1.
    assert_eq!(
        try_tamper(&m2, |j| {
            j.as_object_mut().unwrap().remove("parent");
        })
        .unwrap_err(),
        Error::ManifestInvalid
    );
    let parent = serde_json::Value::String(b64(&[0; 32]));
    assert_eq!(
        try_tamper(&m1, |j| j["parent"] = parent.clone()).unwrap_err(),
        Error::ManifestInvalid
    );
    assert_eq!(
        try_tamper(&m2, |j| j["revision"] = 1.into()).unwrap_err(),
        Error::ManifestInvalid
    );
    assert!(try_tamper(&m2, |j| j["parent"] = parent.clone()).is_ok());
    assert_eq!(
        try_tamper(&m2, |j| j["parent"] = b64(&[0; 31]).into()).unwrap_err(),
        Error::ManifestInvalid
    );
    let extra = json.replacen('{', "{\"extra\":1,", 1);
    assert!(matches!(
        Manifest::from_json(&extra),
        Err(Error::Malformed(_))
    ));
    assert!(matches!(
        Manifest::from_json("[]"),
        Err(Error::Malformed(_))
    ));
    assert!(matches!(
        Manifest::from_json("{\"medseal\":\"other\",\"version\":1}"),
        Err(Error::Malformed(_))
    ));
    assert!(matches!(
        Manifest::from_json(&"x".repeat(300_000)),
        Err(Error::TooLarge)
    ));
}

#[test]
fn debug_output_holds_no_secret() {
    let (mut v, code) = new_vault();
    let sealed = v.seal(b"secret diagnosis", &ctx("r")).unwrap();
    let dbg = format!("{v:?} {code:?} {:?}", PrfOutput::new(&prf(1)).unwrap());
    assert!(dbg.contains("<redacted>"));
    assert!(!dbg.contains("secret diagnosis"));
    assert!(!dbg.contains(&code.to_display_string()));
    // No error message carries record content or key material.
    let e = v.open(&sealed, &ctx("other")).unwrap_err();
    assert!(!e.to_string().contains("secret"));
}

#[test]
fn error_codes_are_stable() {
    assert_eq!(Error::DecryptionFailed.code(), "DecryptionFailed");
    assert_eq!(
        Error::StaleManifest {
            seen: 1,
            offered: 0
        }
        .code(),
        "StaleManifest"
    );
    assert_eq!(Error::LastUnlockMethod.code(), "LastUnlockMethod");
}

#[test]
fn login_proof_verifies_with_the_manifest_key_and_is_not_a_manifest_signature() {
    use p256::ecdsa::signature::Verifier;
    let (v, _) = new_vault();
    let challenge = [7u8; 32];
    let sig = v
        .sign_login_proof(&challenge, "http://localhost:8080")
        .unwrap();
    let mut msg = Vec::new();
    for part in [
        b"medseal/v1/login-proof".as_slice(),
        &challenge,
        b"http://localhost:8080",
    ] {
        msg.extend_from_slice(&(part.len() as u32).to_be_bytes());
        msg.extend_from_slice(part);
    }
    let vk =
        p256::ecdsa::VerifyingKey::from_sec1_bytes(v.manifest().identity_public_key()).unwrap();
    vk.verify(&msg, &p256::ecdsa::Signature::from_slice(&sig).unwrap())
        .unwrap();
    // Another audience or challenge gives another signature.
    assert_ne!(
        sig,
        v.sign_login_proof(&challenge, "https://evil.example")
            .unwrap()
    );
    assert!(matches!(
        v.sign_login_proof(&[1; 8], "x"),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        v.sign_login_proof(&challenge, ""),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn large_records_encrypted_elsewhere_give_the_same_format() {
    use aes_gcm::aead::{AeadInOut, KeyInit};
    use medseal::hazmat;
    let (mut v, _) = new_vault();
    let c = RecordContext::with_context(b"scan", b"ctx");
    let data = vec![0x5Au8; 100_000];
    // Seal with an outside AES-GCM (as WebCrypto would), open with medseal:
    // medseal sees only the plaintext's length, and the caller only
    // concatenates what it is given.
    let p = hazmat::seal_large(&mut v, medseal::ContentType::Bytes, data.len(), &c).unwrap();
    let cipher = aes_gcm::Aes256Gcm::new(&(*p.cipher().key()).into());
    let mut body = p.body_head().to_vec();
    body.extend_from_slice(&data);
    body.extend_from_slice(p.body_tail());
    let nonce: [u8; 12] = p.cipher().nonce().try_into().unwrap();
    let tag = cipher
        .encrypt_inout_detached(&nonce.into(), p.cipher().aad(), body.as_mut_slice().into())
        .unwrap();
    let mut sealed = p.prefix().to_vec();
    sealed.extend_from_slice(&body);
    sealed.extend_from_slice(&tag);
    assert_eq!(v.open(&sealed, &c).unwrap(), data);
    assert!(format!("{p:?}").contains("redacted"));
    // Seal with medseal, open with the outside AES-GCM from the record's
    // first bytes only, then ask where the plaintext lies.
    let sealed = v.seal(&data, &c).unwrap();
    let job = hazmat::open_large(&v, &sealed[..hazmat::HEAD_LEN], sealed.len(), &c).unwrap();
    let body = &sealed[job.body_start()..];
    let (ct, tag) = body.split_at(body.len() - 16);
    let mut pt = ct.to_vec();
    let cipher = aes_gcm::Aes256Gcm::new(&(*job.cipher().key()).into());
    let nonce: [u8; 12] = job.cipher().nonce().try_into().unwrap();
    cipher
        .decrypt_inout_detached(
            &nonce.into(),
            job.cipher().aad(),
            pt.as_mut_slice().into(),
            tag.try_into().unwrap(),
        )
        .unwrap();
    let tail = &pt[job.tail_start(pt.len())..];
    let (content_type, range) = job.plaintext(pt[0], pt.len(), tail).unwrap();
    assert_eq!(content_type, medseal::ContentType::Bytes);
    assert_eq!(&pt[range], data.as_slice());
    // A tail of the wrong length is refused, not misread.
    assert!(matches!(
        job.plaintext(pt[0], pt.len(), &tail[1..]),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(
        hazmat::finish_body(pt).unwrap(),
        (medseal::ContentType::Bytes, data)
    );
    // open_large refuses what open refuses, before any body decryption.
    assert_eq!(
        hazmat::open_large(&v, &sealed, sealed.len(), &ctx("other")).unwrap_err(),
        Error::DecryptionFailed
    );
    assert_eq!(
        hazmat::open_large(&v, &sealed[..50], sealed.len(), &c).unwrap_err(),
        Error::Malformed("sealed record is truncated")
    );
    assert_eq!(
        hazmat::open_large(&v, &sealed, MIN_SEALED_LEN_V2 - 1, &c).unwrap_err(),
        Error::Malformed("sealed record is truncated")
    );
    assert!(hazmat::open_large(&v, &sealed[..hazmat::HEAD_LEN], MIN_SEALED_LEN_V2, &c).is_ok());
    assert!(format!("{job:?}").contains("redacted"));
    assert_eq!(job.body_start(), PREFIX_LEN_V2);
    assert_eq!(hazmat::HEAD_LEN, PREFIX_LEN_V2);

    // A record of the format-1 writer: its body starts at 110, and the same
    // steps read it.
    let old = v1_record("v1-padme-1000.txt");
    let job = hazmat::open_large(
        &old.vault,
        &old.sealed[..hazmat::HEAD_LEN],
        old.sealed.len(),
        &old.ctx(),
    )
    .unwrap();
    assert_eq!(job.body_start(), PREFIX_LEN);
    let body = &old.sealed[job.body_start()..];
    let (ct, tag) = body.split_at(body.len() - 16);
    let mut pt = ct.to_vec();
    let cipher = aes_gcm::Aes256Gcm::new(&(*job.cipher().key()).into());
    let nonce: [u8; 12] = job.cipher().nonce().try_into().unwrap();
    cipher
        .decrypt_inout_detached(
            &nonce.into(),
            job.cipher().aad(),
            pt.as_mut_slice().into(),
            tag.try_into().unwrap(),
        )
        .unwrap();
    let tail = &pt[job.tail_start(pt.len())..];
    let (content_type, range) = job.plaintext(pt[0], pt.len(), tail).unwrap();
    assert_eq!(content_type, medseal::ContentType::Bytes);
    assert_eq!(&pt[range], old.plaintext.as_slice());
    assert_eq!(
        hazmat::open_large(&old.vault, &old.sealed, MIN_SEALED_LEN - 1, &old.ctx()).unwrap_err(),
        Error::Malformed("sealed record is truncated")
    );
}

#[test]
fn a_server_can_check_sealed_records_and_login_proofs_without_keys() {
    let (mut v, _) = new_vault();
    let sealed = record::to_text(&v.seal(b"x", &ctx("r")).unwrap());
    assert_eq!(medseal::check_sealed_text(&sealed), Ok(()));
    // What the reference server used to store: a prefix alone, short junk.
    for junk in ["ms1.", "ms1.AAAA", "ms2.", "ms2.AAAA"] {
        assert!(medseal::check_sealed_text(junk).is_err(), "{junk}");
    }
    // A body of a size the padding rule never gives.
    let mut bytes = record::from_text(&sealed).unwrap();
    bytes.push(0);
    assert_eq!(
        medseal::check_sealed_text(&record::to_text(&bytes)),
        Err(Error::Malformed("sealed record body is not a padded size"))
    );
    // Cut to the v2 minimum (no body at all): not a padded size either; one
    // byte less is truncated.
    let bytes = record::from_text(&sealed).unwrap();
    assert_eq!(
        medseal::check_sealed_text(&record::to_text(&bytes[..MIN_SEALED_LEN_V2])),
        Err(Error::Malformed("sealed record body is not a padded size"))
    );
    assert_eq!(
        medseal::check_sealed_text(&record::to_text(&bytes[..MIN_SEALED_LEN_V2 - 1])),
        Err(Error::Malformed("sealed record is truncated"))
    );
    // A record of the format-1 writer passes; its bytes under `ms2.` do not.
    let old = v1_record("v1-padme-1000.txt");
    assert_eq!(medseal::check_sealed_text(&old.text), Ok(()));
    assert!(matches!(
        medseal::check_sealed_text(&format!("ms2.{}", &old.text[4..])),
        Err(Error::Malformed(_))
    ));
    let m = v.manifest().clone();
    let challenge = [7u8; 32];
    let sig = v
        .sign_login_proof(&challenge, "https://phr.example")
        .unwrap();
    assert_eq!(
        m.verify_login_proof(&challenge, "https://phr.example", &sig),
        Ok(())
    );
    assert_eq!(
        m.verify_login_proof(&challenge, "https://evil.example", &sig),
        Err(Error::UnlockFailed)
    );
    assert_eq!(
        m.verify_login_proof(&[8u8; 32], "https://phr.example", &sig),
        Err(Error::UnlockFailed)
    );
}

#[test]
fn a_server_can_check_that_a_manifest_is_self_signed() {
    let (mut v, _) = new_vault();
    v.add_passkey(passkey(b"cred-2", [4; 32], prf(2))).unwrap();
    let m = v.manifest().clone();
    m.verify_self_signature().unwrap();
    let bumped = tamper(&m, |v| v["revision"] = (m.revision() + 1).into());
    assert_eq!(
        bumped.verify_self_signature().unwrap_err(),
        Error::ManifestInvalid
    );
    // Self-signed is not "of this vault": a forgery with its own key passes this
    // check, and is caught on unlock (and by a server comparing identity keys).
    let forged = resigned_elsewhere(&m);
    forged.verify_self_signature().unwrap();
    assert_ne!(forged.identity_public_key(), m.identity_public_key());
    assert!(unlock(&forged, b"cred-1", 1).is_err());
    // v2 signatures are low-S, written and read: the other encoding of the
    // same signature (r, n - s) is refused.
    let sig = common::unb64(
        &serde_json::from_str::<serde_json::Value>(&m.to_json()).unwrap()["signature"],
    );
    assert!(!common::is_high_s(&sig));
    let high = tamper(&m, |v| edit_b64(&mut v["signature"], |s| *s = negate_s(s)));
    assert_eq!(
        high.verify_self_signature().unwrap_err(),
        Error::ManifestInvalid
    );
    // v1 manifests were signed before that rule: both encodings verify.
    // (This vector's signature happens to be high-S.)
    let old = v1_record("v1-json-record.txt").manifest;
    let old_sig = common::unb64(
        &serde_json::from_str::<serde_json::Value>(&old.to_json()).unwrap()["signature"],
    );
    assert!(common::is_high_s(&old_sig));
    old.verify_self_signature().unwrap();
    let low = tamper(&old, |v| {
        edit_b64(&mut v["signature"], |s| *s = negate_s(s))
    });
    low.verify_self_signature().unwrap();
    assert!(unlock(&low, b"cred-1", 1).is_ok());
    let bumped = tamper(&old, |v| v["revision"] = 2.into());
    assert_eq!(
        bumped.verify_self_signature().unwrap_err(),
        Error::ManifestInvalid
    );
}

#[test]
fn a_server_can_check_that_a_manifest_may_replace_the_stored_one() {
    let (mut v, _) = new_vault();
    let old = v.manifest().clone();
    let next = v
        .add_passkey(passkey(b"cred-2", [5; 32], prf(2)))
        .unwrap()
        .clone();
    assert_eq!(next.revision(), old.revision() + 1);
    next.check_update(&old).unwrap();
    let later = v
        .add_passkey(passkey(b"cred-3", [6; 32], prf(3)))
        .unwrap()
        .clone();
    later.check_update(&next).unwrap();
    // Skipping a revision is not: every manifest names its parent, and the
    // server must see each one.
    assert_eq!(
        later.check_update(&old).unwrap_err(),
        Error::HistoryIncomplete {
            seen: 1,
            offered: 3
        }
    );
    // A new key epoch (new identity key, handed over by the old one) may
    // replace the stored manifest; the hand-over is what links them.
    let rekeyed = v.rekey().unwrap().clone();
    assert_ne!(rekeyed.identity_public_key(), later.identity_public_key());
    rekeyed.check_update(&later).unwrap();
    // A fork: another manifest at revision 2 (another device changed
    // revision 1 too), and its successor, which names that one as parent.
    let mut w = unlock(&old, b"cred-1", 1).unwrap();
    let sibling = w
        .add_passkey(passkey(b"cred-9", [9; 32], prf(9)))
        .unwrap()
        .clone();
    sibling.check_update(&old).unwrap();
    assert_eq!(
        sibling.check_update(&next).unwrap_err(),
        Error::ForkDetected {
            revision: 2,
            seen: next.hash(),
            offered: sibling.hash()
        }
    );
    let nephew = w.rekey().unwrap().clone();
    assert_eq!(
        nephew.check_update(&next).unwrap_err(),
        Error::ForkDetected {
            revision: 2,
            seen: next.hash(),
            offered: sibling.hash()
        }
    );

    // Not newer: the same revision, or an older one (a rollback).
    assert_eq!(
        next.check_update(&next).unwrap_err(),
        Error::StaleManifest {
            seen: 2,
            offered: 2
        }
    );
    assert_eq!(
        old.check_update(&next).unwrap_err(),
        Error::StaleManifest {
            seen: 2,
            offered: 1
        }
    );
    // Another vault's manifest, even a newer one.
    let (mut other, _) = new_vault();
    other
        .add_passkey(passkey(b"cred-2", [5; 32], prf(2)))
        .unwrap();
    other
        .add_passkey(passkey(b"cred-3", [5; 32], prf(3)))
        .unwrap();
    assert!(other.manifest().revision() > next.revision());
    assert_eq!(
        other.manifest().check_update(&next).unwrap_err(),
        Error::ManifestInvalid
    );
    // The identity key substituted (and the manifest signed by it): self-signed,
    // newer, but not the stored identity.
    let forged = resigned_elsewhere(&next);
    forged.verify_self_signature().unwrap();
    assert_eq!(
        forged.check_update(&old).unwrap_err(),
        Error::ManifestInvalid
    );
    // Only the wrapped private key substituted.
    let other_json: serde_json::Value = serde_json::from_str(&other.manifest().to_json()).unwrap();
    let swapped = tamper(&next, |v| {
        v["identityKey"]["wrappedPrivateKey"] =
            other_json["identityKey"]["wrappedPrivateKey"].clone();
    });
    assert_eq!(swapped.identity_public_key(), next.identity_public_key());
    assert_eq!(
        swapped.check_update(&old).unwrap_err(),
        Error::ManifestInvalid
    );
    // A bad signature: altered, or the revision bumped without re-signing.
    let bad_sig = tamper(&next, |v| edit_b64(&mut v["signature"], |sig| sig[3] ^= 1));
    assert_eq!(
        bad_sig.check_update(&old).unwrap_err(),
        Error::ManifestInvalid
    );
    // `next` bumped to follow itself (revision 3, parent = its own hash),
    // without re-signing: everything but the signature fits.
    let bumped = tamper(&next, |v| {
        v["revision"] = 3.into();
        v["parent"] = b64(&next.hash()).into();
    });
    assert_eq!(bumped.revision(), 3);
    assert_eq!(
        bumped.check_update(&next).unwrap_err(),
        Error::ManifestInvalid
    );
    // The same signature in its high-S form.
    let high = tamper(&next, |v| {
        edit_b64(&mut v["signature"], |s| *s = negate_s(s))
    });
    assert_eq!(high.check_update(&old).unwrap_err(), Error::ManifestInvalid);
    // A v2 manifest may replace a v1 one (the first change after an upgrade).
    let v1 = v1_record("v1-json-record.txt");
    let mut u = v1.vault;
    let upgraded = u
        .add_passkey(passkey(b"cred-2", [5; 32], prf(2)))
        .unwrap()
        .clone();
    assert_eq!((upgraded.version(), v1.manifest.version()), (3, 1));
    upgraded.check_update(&v1.manifest).unwrap();
}

#[test]
fn manifest_accessors_read_what_the_json_says() {
    let (mut v, _) = new_vault();
    v.add_passkey(PasskeyUnlock {
        label: None,
        ..passkey(b"cred-2", [5; 32], prf(2))
    })
    .unwrap();
    let m = v.manifest();
    let json: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
    assert_eq!(m.vault_id(), v.vault_id());
    assert_eq!(b64(m.vault_id()), json["vaultId"]);
    assert_eq!(json["revision"], m.revision());
    assert_eq!(m.identity_public_key().len(), 33);
    assert_eq!(
        b64(m.identity_public_key()),
        json["identityKey"]["publicKey"]
    );
    let passkeys: Vec<_> = m.passkeys().collect();
    assert_eq!(passkeys.len(), 2);
    let entries = json["unlock"].as_array().unwrap();
    let mut from_json = entries.iter().filter(|e| e["type"] == "passkey");
    for p in &passkeys {
        let e = from_json.next().unwrap();
        assert_eq!(e["id"], p.entry_id);
        assert_eq!(e["credentialId"], b64(p.credential_id));
        assert_eq!(e["prfSalt"], b64(p.prf_salt));
        assert_eq!(e.get("label").and_then(|l| l.as_str()), p.label);
    }
    assert_eq!(passkeys[0].credential_id, b"cred-1");
    assert_eq!(passkeys[0].label, Some("test key"));
    assert_eq!(passkeys[1].prf_salt, [5; 32]);
    assert_eq!(passkeys[1].label, None);
    let recovery = entries.iter().find(|e| e["type"] == "recovery").unwrap();
    assert_eq!(recovery["id"], m.recovery_entry_id().unwrap());
}

#[test]
fn unlock_entries_carry_exactly_the_fields_of_their_type() {
    let (v, _) = new_vault();
    let json = v.manifest().to_json();
    let recovery_id = v.manifest().recovery_entry_id().unwrap().to_string();
    let rec = format!("\"type\":\"recovery\",\"id\":\"{recovery_id}\"");
    assert!(json.contains(&rec));
    let cases = [
        // A recovery entry with a passkey's field, or with a label (even null).
        json.replace(&rec, &format!("{rec},\"prfSalt\":\"AAAA\"")),
        json.replace(&rec, &format!("{rec},\"label\":\"x\"")),
        json.replace(&rec, &format!("{rec},\"label\":null")),
        json.replace(&rec, &format!("{rec},\"prfSalt\":null")),
        json.replace(&rec, &format!("{rec},\"credentialId\":null")),
        // An unknown type, an unknown field, a passkey without its salt.
        json.replace("\"type\":\"recovery\"", "\"type\":\"password\""),
        json.replace(&rec, &format!("{rec},\"extra\":1")),
        json.replace("\"prfSalt\":", "\"prfSalt_\":"),
    ];
    for bad in cases {
        assert_ne!(bad, json);
        assert!(
            matches!(Manifest::from_json(&bad), Err(Error::Malformed(_))),
            "accepted: {bad}"
        );
    }
    // A passkey's label may be null (read as absent).
    let pk = "\"type\":\"passkey\"";
    let with_null = json.replace("\"label\":\"test key\"", "\"label\":null");
    assert_ne!(with_null, json);
    assert!(Manifest::from_json(&with_null).is_ok());
    assert!(json.contains(pk));
}

#[test]
fn a_format_1_vault_still_unlocks_and_moves_to_format_2_on_its_first_change() {
    let old = v1_record("v1-json-record.txt");
    // v1-recovery-code.txt is the same vault and record, unlocked by its code.
    let code =
        RecoveryCode::parse(&common::vector_file("v1-recovery-code.txt")["recovery-code"]).unwrap();
    let by_code = Vault::unlock_with_recovery_code(&old.manifest, &code, 0).unwrap();
    assert_eq!(
        by_code.open(&old.sealed, &old.ctx()).unwrap(),
        old.plaintext
    );
    // A v1 recovery entry has no login key: a recovery login is a login
    // proof by the identity key, checked as one.
    let (challenge, audience) = ([3u8; 32], "https://phr.example");
    let proof = by_code.sign_recovery_login(&challenge, audience).unwrap();
    old.manifest
        .verify_recovery_login(&challenge, audience, &proof)
        .unwrap();
    old.manifest
        .verify_login_proof(&challenge, audience, &proof)
        .unwrap();

    // The first change, through the passkey: a v2 manifest in epoch 1 that
    // names the v1 one as its parent; the passkey entry used gets its HPKE
    // key, the recovery entry (whose key this device cannot derive) stays v1.
    let oc = RecordContext::with_context(&old.record_id, &old.context);
    let mut v = old.vault;
    let m = v
        .add_passkey(passkey(b"cred-2", [5; 32], prf(2)))
        .unwrap()
        .clone();
    assert_eq!(
        (m.version(), m.epoch(), m.revision()),
        (3, 1, old.manifest.revision() + 1)
    );
    m.check_update(&old.manifest).unwrap();
    let j: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
    assert_eq!(j["parent"], b64(&old.manifest.hash()).as_str());
    let entry = |j: &serde_json::Value, kind: &str| -> serde_json::Value {
        j["unlock"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["type"] == kind && (kind != "passkey" || is_passkey(e, b"cred-1")))
            .unwrap()
            .clone()
    };
    assert_eq!(common::unb64(&entry(&j, "passkey")["publicKey"]).len(), 65);
    assert_eq!(
        common::unb64(&entry(&j, "passkey")["wrappedVaultKey"]).len(),
        113
    );
    assert!(entry(&j, "recovery").get("publicKey").is_none());
    assert_eq!(
        common::unb64(&entry(&j, "recovery")["wrappedVaultKey"]).len(),
        60
    );
    // Every way in still opens the format-1 record.
    for w in [
        unlock(&m, b"cred-1", 1).unwrap(),
        unlock(&m, b"cred-2", 2).unwrap(),
        Vault::unlock_with_recovery_code(&m, &code, 0).unwrap(),
    ] {
        assert_eq!(w.open(&old.sealed, &oc).unwrap(), old.plaintext);
    }
    // A re-key must reach every entry without its authenticator: refused
    // while an entry has no public key.
    assert!(matches!(v.rekey(), Err(Error::InvalidArgument(_))));
    assert_eq!(v.manifest(), &m, "a refused re-key changes nothing");

    // A change made after a recovery-code unlock upgrades the recovery entry
    // (HPKE key and login key); then a re-key goes through.
    let mut r = Vault::unlock_with_recovery_code(&m, &code, 0).unwrap();
    let m2 = r
        .add_passkey(passkey(b"cred-3", [6; 32], prf(3)))
        .unwrap()
        .clone();
    let j2: serde_json::Value = serde_json::from_str(&m2.to_json()).unwrap();
    assert_eq!(
        common::unb64(&entry(&j2, "recovery")["publicKey"]).len(),
        65
    );
    assert_eq!(common::unb64(&entry(&j2, "recovery")["loginKey"]).len(), 33);
    let m3 = r.rekey().unwrap().clone();
    assert_eq!((m3.epoch(), m3.revision()), (2, m2.revision() + 1));
    // The v1 record still opens in epoch 2 (epoch 1's key is kept).
    let w = unlock(&m3, b"cred-1", 1).unwrap();
    assert_eq!(w.open(&old.sealed, &oc).unwrap(), old.plaintext);
    // The recovery login is now by the login key; an identity login proof
    // no longer passes for one.
    let login = r.sign_recovery_login(&challenge, audience).unwrap();
    m3.verify_recovery_login(&challenge, audience, &login)
        .unwrap();
    let proof = r.sign_login_proof(&challenge, audience).unwrap();
    assert_eq!(
        m3.verify_recovery_login(&challenge, audience, &proof)
            .unwrap_err(),
        Error::UnlockFailed
    );
    // A vault unlocked by a passkey cannot sign a recovery login.
    assert_eq!(
        w.sign_recovery_login(&challenge, audience).unwrap_err(),
        Error::UnlockFailed
    );
}
