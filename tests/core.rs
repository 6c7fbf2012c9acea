//! Behaviour of the core: vault life cycle, records, and tampering by a server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{b64, ctx, edit_b64, new_vault, passkey, prf, tamper, tamper_and_sign, try_tamper};
use medseal::record::{self, Header, RecordContext, MIN_SEALED_LEN};
use medseal::{Error, Manifest, PasskeyUnlock, PrfOutput, RecoveryCode, Vault};

fn unlock(m: &Manifest, cred: &[u8], tag: u8) -> Result<Vault, Error> {
    Vault::unlock_with_prf(m, cred, PrfOutput::new(&prf(tag)).unwrap(), 0)
}

/// The entry id of the passkey with this credential id.
fn passkey_entry_id(m: &Manifest, cred: &[u8]) -> String {
    m.passkeys()
        .find(|p| p.credential_id == cred)
        .unwrap()
        .entry_id
        .to_string()
}

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
    assert!(text.starts_with("ms1."));
    assert!(!text.contains('=') && !text.contains('+') && !text.contains('/'));
    assert_eq!(record::from_text(&text).unwrap(), sealed);
    assert!(matches!(
        record::from_text("ms2.AAAA"),
        Err(Error::UnknownVersion { version: 2, .. })
    ));
    assert!(matches!(
        record::from_text("hello"),
        Err(Error::Malformed(_))
    ));
    assert!(matches!(
        record::from_text("ms1.***"),
        Err(Error::Malformed(_))
    ));
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

#[test]
fn moving_parts_between_records_fails() {
    let (mut v, _) = new_vault();
    let r1 = v.seal(b"record one", &ctx("one")).unwrap();
    let r2 = v.seal(b"record two", &ctx("two")).unwrap();
    // A server swaps the whole records between ids.
    assert_eq!(
        v.open(&r2, &ctx("one")).unwrap_err(),
        Error::DecryptionFailed
    );
    // A server splices r2's wrapped key and commitment into r1.
    let mut spliced = r1.clone();
    spliced[6..98].copy_from_slice(&r2[6..98]);
    assert_eq!(
        v.open(&spliced, &ctx("one")).unwrap_err(),
        Error::DecryptionFailed
    );
    assert_eq!(
        v.open(&spliced, &ctx("two")).unwrap_err(),
        Error::DecryptionFailed
    );
    // ... or r2's body into r1.
    let mut spliced = r1.clone();
    spliced.truncate(98);
    spliced.extend_from_slice(&r2[98..]);
    assert_eq!(
        v.open(&spliced, &ctx("one")).unwrap_err(),
        Error::DecryptionFailed
    );
}

#[test]
fn every_bit_flip_is_a_typed_error() {
    let (mut v, _) = new_vault();
    let sealed = v.seal(b"blood type O-", &ctx("r")).unwrap();
    for i in 0..sealed.len() * 8 {
        let mut t = sealed.clone();
        t[i / 8] ^= 1 << (i % 8);
        let e = v.open(&t, &ctx("r")).unwrap_err();
        match i / 8 {
            0..=3 => assert!(matches!(e, Error::Malformed(_)), "bit {i}: {e:?}"),
            4 | 5 => assert!(matches!(e, Error::UnknownVersion { .. }), "bit {i}: {e:?}"),
            _ => assert_eq!(e, Error::DecryptionFailed, "bit {i}"),
        }
    }
    // The vault still works after all those failures.
    assert_eq!(v.open(&sealed, &ctx("r")).unwrap(), b"blood type O-");
}

#[test]
fn every_truncation_is_a_typed_error() {
    let (mut v, _) = new_vault();
    let sealed = v.seal(b"x", &ctx("r")).unwrap();
    for n in 0..sealed.len() {
        let e = v.open(&sealed[..n], &ctx("r")).unwrap_err();
        if n < MIN_SEALED_LEN {
            assert!(matches!(e, Error::Malformed(_)), "len {n}: {e:?}");
        } else {
            assert_eq!(e, Error::DecryptionFailed, "len {n}");
        }
    }
    let mut longer = sealed.clone();
    longer.push(0);
    assert_eq!(
        v.open(&longer, &ctx("r")).unwrap_err(),
        Error::DecryptionFailed
    );
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
    assert_eq!(a.len(), MIN_SEALED_LEN + 256);
}

#[test]
fn header_versions() {
    assert_eq!(Header::parse(b"msrc\x01\x01").unwrap(), Header::V1);
    assert_eq!(
        Header::parse(b"msrc\x02\x01").unwrap(),
        Header::Unknown {
            version: 2,
            suite: 1
        }
    );
    assert!(matches!(Header::parse(b"msr"), Err(Error::Malformed(_))));
    let (mut v, _) = new_vault();
    let mut s = v.seal(b"x", &ctx("r")).unwrap();
    s[4] = 2;
    assert!(matches!(
        v.open(&s, &ctx("r")),
        Err(Error::UnknownVersion {
            what: "sealed record",
            version: 2
        })
    ));
    s[4] = 1;
    s[5] = 9;
    assert!(matches!(
        v.open(&s, &ctx("r")),
        Err(Error::UnknownVersion {
            what: "sealed record suite",
            version: 9
        })
    ));
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
    let m2 = a
        .add_passkey(passkey(b"cred-2", [7; 32], prf(2)))
        .unwrap()
        .clone();
    b.update_manifest(&m2).unwrap();
    assert_eq!(b.manifest().revision(), 2);
    assert!(matches!(
        b.update_manifest(&m1),
        Err(Error::StaleManifest {
            seen: 2,
            offered: 1
        })
    ));
    let (other, _) = new_vault();
    assert_eq!(
        b.update_manifest(other.manifest()).unwrap_err(),
        Error::ManifestInvalid
    );
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
    let (v, _) = new_vault();
    let json = v.manifest().to_json();
    assert_eq!(Manifest::from_json(&json).unwrap(), *v.manifest());
    let v2 = json.replace("\"version\":1", "\"version\":2");
    assert!(matches!(
        Manifest::from_json(&v2),
        Err(Error::UnknownVersion {
            what: "vault manifest",
            version: 2
        })
    ));
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
        hazmat::open_large(&v, &sealed, record::MIN_SEALED_LEN - 1, &c).unwrap_err(),
        Error::Malformed("sealed record is truncated")
    );
    assert!(format!("{job:?}").contains("redacted"));
}

#[test]
fn a_server_can_check_sealed_records_and_login_proofs_without_keys() {
    let (mut v, _) = new_vault();
    let sealed = record::to_text(&v.seal(b"x", &ctx("r")).unwrap());
    assert_eq!(medseal::check_sealed_text(&sealed), Ok(()));
    // What the reference server used to store: a prefix alone, short junk.
    assert!(medseal::check_sealed_text("ms1.").is_err());
    assert!(medseal::check_sealed_text("ms1.AAAA").is_err());
    // A body of a size the padding rule never gives.
    let mut bytes = record::from_text(&sealed).unwrap();
    bytes.push(0);
    assert_eq!(
        medseal::check_sealed_text(&record::to_text(&bytes)),
        Err(Error::Malformed("sealed record body is not a padded size"))
    );
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
    // Skipping revisions is fine (changes a server never saw).
    let later = v
        .add_passkey(passkey(b"cred-3", [6; 32], prf(3)))
        .unwrap()
        .clone();
    later.check_update(&old).unwrap();
    later.check_update(&next).unwrap();

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
    let bumped = tamper(&old, |v| v["revision"] = 5.into());
    assert_eq!(bumped.revision(), 5);
    assert_eq!(
        bumped.check_update(&old).unwrap_err(),
        Error::ManifestInvalid
    );
    assert_eq!(
        bumped.check_update(&next).unwrap_err(),
        Error::ManifestInvalid
    );
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
