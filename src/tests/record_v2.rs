//! The version 2 record envelope rebuilt from its definition (docs/FORMAT.md,
//! "Sealed record v2") with the primitives' own crates (aes-gcm, hkdf), not
//! medseal's helpers: header layout, DEK-wrap AAD and body AAD, byte for byte.

use aes_gcm::aead::{AeadInOut, KeyInit};
use hkdf::Hkdf;
use sha2::Sha256;

use crate::kdf::{self, label};
use crate::record::{self, RecordContext, RecordKeys};
use crate::rng::Rng;

fn lp(b: &[u8]) -> Vec<u8> {
    [&(b.len() as u32).to_be_bytes()[..], b].concat()
}

fn hkdf(ikm: &[u8], info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    Hkdf::<Sha256>::new(Some(&[]), ikm)
        .expand(info, &mut out)
        .unwrap();
    out
}

fn aes_open(key: &[u8; 32], nonce: &[u8], aad: &[u8], ct: &[u8], tag: &[u8]) -> Option<Vec<u8>> {
    let mut buf = ct.to_vec();
    aes_gcm::Aes256Gcm::new(key.into())
        .decrypt_inout_detached(
            nonce.try_into().ok()?,
            aad,
            buf.as_mut_slice().into(),
            tag.try_into().ok()?,
        )
        .ok()?;
    Some(buf)
}

/// Seals with a key ring of one epoch (`epoch`) under vault key `vk`.
fn seal(vk: &[u8; 32], epoch: u32, version: u64, content_type: u8, pt: &[u8]) -> Vec<u8> {
    let wrap = kdf::subkey(vk, label::WRAP_DEK);
    let ring = vec![(epoch, Box::new(crate::aead::cipher(wrap.expose())))];
    let keys = RecordKeys {
        ring: &ring,
        vault_id: &[0xAA; 16],
    };
    let ctx = RecordContext::with_context(b"rec-42", b"user:7");
    record::seal(&mut Rng::Os, &keys, content_type, version, pt, &ctx).unwrap()
}

#[test]
fn version_2_envelope_matches_its_definition() {
    let vk = [0x11u8; 32];
    let (epoch, version) = (7u32, 0x0001_0203_0405_0607u64);
    let sealed = seal(&vk, epoch, version, 1, b"{\"a\":1}");
    assert_eq!(sealed.len(), 122 + 256 + 16);

    // Header: magic, 0x02, suite 0x01, u32be epoch, u64be version (18 bytes).
    let header = &sealed[..18];
    let mut want = b"msrc\x02\x01".to_vec();
    want.extend_from_slice(&epoch.to_be_bytes());
    want.extend_from_slice(&version.to_be_bytes());
    assert_eq!(header, want.as_slice());

    // Wrapped DEK (18..78): nonce || AES-GCM(wrap key, DEK) || tag, AAD =
    // "medseal/v2/aad/dek" || header || lp(vault_id) || lp(record_id) || lp(context).
    let wrapped = &sealed[18..78];
    let wrap_key = hkdf(&vk, b"medseal/v1/vault/wrap-dek");
    let dek_aad = [
        b"medseal/v2/aad/dek".as_slice(),
        header,
        &lp(&[0xAA; 16]),
        &lp(b"rec-42"),
        &lp(b"user:7"),
    ]
    .concat();
    let dek = aes_open(
        &wrap_key,
        &wrapped[..12],
        &dek_aad,
        &wrapped[12..44],
        &wrapped[44..],
    )
    .expect("the DEK unwraps under the spec's AAD");

    // Commitment (78..110) = HKDF(DEK, "medseal/v1/record/commitment").
    let commitment = &sealed[78..110];
    assert_eq!(commitment, hkdf(&dek, b"medseal/v1/record/commitment"));

    // Body: nonce (110..122), ciphertext, tag; AAD = "medseal/v2/aad/record"
    // || "msrc" 02 01 || u64be(version) || commitment || lp(record_id) ||
    // lp(context): no epoch, no wrapped key.
    let body_key = hkdf(&dek, b"medseal/v1/record/encryption");
    let body_aad = [
        b"medseal/v2/aad/record".as_slice(),
        b"msrc\x02\x01",
        &version.to_be_bytes(),
        commitment,
        &lp(b"rec-42"),
        &lp(b"user:7"),
    ]
    .concat();
    let (ct, tag) = sealed[122..].split_at(sealed.len() - 122 - 16);
    let body = aes_open(&body_key, &sealed[110..122], &body_aad, ct, tag)
        .expect("the body opens under the spec's AAD");
    // content type || plaintext || 0x80 || zeros, 256 bytes.
    let mut want = b"\x01{\"a\":1}\x80".to_vec();
    want.resize(256, 0);
    assert_eq!(body, want);

    // The DEK-wrap AAD with the v1 label, or the body AAD with the epoch in
    // it, do not open: the labels and fields above are exactly the format's.
    let mut v1_label = dek_aad.clone();
    v1_label[..18].copy_from_slice(b"medseal/v1/aad/dek");
    assert!(aes_open(
        &wrap_key,
        &wrapped[..12],
        &v1_label,
        &wrapped[12..44],
        &wrapped[44..]
    )
    .is_none());
    let with_epoch = [&body_aad[..27], &epoch.to_be_bytes(), &body_aad[27..]].concat();
    assert!(aes_open(&body_key, &sealed[110..122], &with_epoch, ct, tag).is_none());
}

#[test]
fn a_tombstone_is_content_type_2_with_no_content() {
    let vk = [0x22u8; 32];
    let sealed = seal(&vk, 1, 9, record::TOMBSTONE, &[]);
    let wrap = kdf::subkey(&vk, label::WRAP_DEK);
    let ring = vec![(1, Box::new(crate::aead::cipher(wrap.expose())))];
    let keys = RecordKeys {
        ring: &ring,
        vault_id: &[0xAA; 16],
    };
    let ctx = RecordContext::with_context(b"rec-42", b"user:7");
    assert_eq!(
        record::open(&keys, &sealed, &ctx).unwrap_err(),
        crate::Error::RecordDeleted { version: 9 }
    );
    // Under another key ring (another epoch number), nothing opens.
    let other = vec![(2, Box::new(crate::aead::cipher(wrap.expose())))];
    let keys = RecordKeys {
        ring: &other,
        vault_id: &[0xAA; 16],
    };
    assert_eq!(
        record::open(&keys, &sealed, &ctx).unwrap_err(),
        crate::Error::DecryptionFailed
    );
}
