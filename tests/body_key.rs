//! What a leaked body key allows (docs/SECURITY.md §7): the large-record
//! path hands one record's body key to WebCrypto. Written as the attack:
//! the holder of that key rewrites that record's content under its
//! unchanged header, wrapped key and commitment, and the vault opens it.
//! Nothing else: another record's body under that key does not open.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod common;

use aes_gcm::aead::{AeadInOut, KeyInit};
use common::*;
use medseal::{hazmat, RecordContext};

/// Encrypts `content_type || plaintext || padding` as a body under a leaked
/// body key, and puts it behind `head` (the record's untouched prefix).
fn forge(head: &[u8], key: &[u8; 32], nonce: &[u8], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let padded_len = hazmat::padded_len(plaintext.len() + 2);
    let mut body = vec![0u8];
    body.extend_from_slice(plaintext);
    body.push(0x80);
    body.resize(padded_len, 0);
    let cipher = aes_gcm::Aes256Gcm::new(&(*key).into());
    let nonce: [u8; 12] = nonce.try_into().expect("12-byte nonce");
    let tag = cipher
        .encrypt_inout_detached(&nonce.into(), aad, body.as_mut_slice().into())
        .expect("encrypt");
    let mut out = head.to_vec();
    out.extend_from_slice(&body);
    out.extend_from_slice(&tag);
    out
}

#[test]
fn a_leaked_body_key_rewrites_only_its_own_record() {
    let (mut v, _) = new_vault();
    let c = RecordContext::with_context(b"lab-1", b"ctx");
    let sealed = v.seal(b"potassium 4.1", &c).expect("seal");
    // The leak: the body key exactly as the large-record path hands it out.
    let job = hazmat::open_large(&v, &sealed[..hazmat::HEAD_LEN], sealed.len(), &c).expect("job");
    let (key, nonce, aad) = (
        *job.cipher().key(),
        job.cipher().nonce().to_vec(),
        job.cipher().aad().to_vec(),
    );
    let head = &sealed[..job.body_start()];

    // The attack succeeds on this record: new content of another length,
    // same header, wrapped key and commitment.
    let forged = forge(head, &key, &nonce, &aad, b"potassium 9.9 (critical)");
    assert_eq!(
        v.open(&forged, &c).expect("the documented limit: it opens"),
        b"potassium 9.9 (critical)"
    );

    // And nothing else: the same forgery behind another record's header,
    // or under another id or context, does not open.
    let other = v.seal(b"sodium 140", &c).expect("seal");
    let job2 = hazmat::open_large(&v, &other[..hazmat::HEAD_LEN], other.len(), &c).expect("job");
    let spliced = forge(&other[..job2.body_start()], &key, &nonce, &aad, b"x");
    assert_eq!(v.open(&spliced, &c).unwrap_err().code(), "DecryptionFailed");
    let moved = RecordContext::with_context(b"lab-2", b"ctx");
    assert_eq!(
        v.open(&forged, &moved).unwrap_err().code(),
        "DecryptionFailed"
    );
}
