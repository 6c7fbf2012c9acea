//! The composed AES-256-GCM against RustCrypto's `aes-gcm`, the reference:
//! the same ciphertext and tag for random keys, nonces, associated data and
//! every length from 0 to 4 KiB (and some longer), through both the cached
//! key (`Cipher`) and the one-shot functions; each opens the other's output;
//! a changed byte of ciphertext, tag, nonce or associated data fails and
//! leaves the buffer as it was.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use medseal_aead::{open_in_place, seal_in_place, Cipher};

/// SplitMix64: a reproducible stream of test inputs (not a secret generator).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn fill(&mut self, b: &mut [u8]) {
        for x in b {
            *x = self.next() as u8;
        }
    }
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        self.fill(&mut b);
        b
    }
    fn vec(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.fill(&mut v);
        v
    }
}

fn reference(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], pt: &[u8]) -> (Vec<u8>, [u8; 16]) {
    let mut buf = pt.to_vec();
    let tag = Aes256Gcm::new(&(*key).into())
        .encrypt_inout_detached(&Nonce::from(*nonce), aad, buf.as_mut_slice().into())
        .unwrap();
    (buf, tag.into())
}

fn check(rng: &mut Rng, len: usize) {
    let key: [u8; 32] = rng.bytes();
    let nonce: [u8; 12] = rng.bytes();
    let aad_len = (rng.next() % 96) as usize;
    let aad = rng.vec(aad_len);
    let pt = rng.vec(len);
    let (want_ct, want_tag) = reference(&key, &nonce, &aad, &pt);

    let mut a = pt.clone();
    let tag_a = seal_in_place(&key, &nonce, &aad, &mut a).unwrap();
    assert_eq!(
        (a.as_slice(), tag_a),
        (want_ct.as_slice(), want_tag),
        "one-shot seal, len {len}"
    );
    let cipher = Cipher::new(&key);
    let mut b = pt.clone();
    let tag_b = cipher.seal_in_place(&nonce, &aad, &mut b).unwrap();
    assert_eq!(
        (b.as_slice(), tag_b),
        (want_ct.as_slice(), want_tag),
        "cached seal, len {len}"
    );

    // Each opens the reference's output, and the reference opens ours.
    let mut c = want_ct.clone();
    open_in_place(&key, &nonce, &aad, &mut c, &want_tag).unwrap();
    assert_eq!(c, pt);
    let mut d = want_ct.clone();
    cipher
        .open_in_place(&nonce, &aad, &mut d, &want_tag)
        .unwrap();
    assert_eq!(d, pt);
    let mut e = a.clone();
    Aes256Gcm::new(&key.into())
        .decrypt_inout_detached(
            &Nonce::from(nonce),
            &aad,
            e.as_mut_slice().into(),
            &Tag::from(tag_a),
        )
        .unwrap();
    assert_eq!(e, pt);

    // Tampering: one changed bit anywhere fails, and the buffer is untouched.
    let bit = 1u8 << (rng.next() % 8);
    if len > 0 {
        let mut f = want_ct.clone();
        let i = (rng.next() as usize) % len;
        f[i] ^= bit;
        let before = f.clone();
        assert!(cipher
            .open_in_place(&nonce, &aad, &mut f, &want_tag)
            .is_err());
        assert_eq!(f, before, "nothing decrypted on failure");
        assert!(open_in_place(&key, &nonce, &aad, &mut f, &want_tag).is_err());
    }
    let mut t = want_tag;
    t[(rng.next() % 16) as usize] ^= bit;
    assert!(cipher
        .open_in_place(&nonce, &aad, &mut want_ct.clone(), &t)
        .is_err());
    let mut n = nonce;
    n[(rng.next() % 12) as usize] ^= bit;
    assert!(open_in_place(&key, &n, &aad, &mut want_ct.clone(), &want_tag).is_err());
    let mut ad = aad.clone();
    ad.push(0);
    assert!(cipher
        .open_in_place(&nonce, &ad, &mut want_ct.clone(), &want_tag)
        .is_err());
}

#[test]
fn every_length_to_4_kib_matches_aes_gcm() {
    let mut rng = Rng(0x6d65_6473_6561_6c01);
    for len in 0..=4096 {
        check(&mut rng, len);
    }
}

#[test]
fn longer_messages_across_many_runs_match_aes_gcm() {
    let mut rng = Rng(0x6d65_6473_6561_6c02);
    for len in [4097, 8191, 16_384, 16_400, 65_536 + 5, 200_003] {
        check(&mut rng, len);
    }
}

#[test]
fn the_sp_800_38d_test_case_16() {
    // GCM spec (McGrew & Viega), test case 16: AES-256, 96-bit IV, AAD.
    let key: [u8; 32] = hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
    let nonce: [u8; 12] = hex("cafebabefacedbaddecaf888");
    let pt = hex_vec("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39");
    let aad = hex_vec("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let mut buf = pt.clone();
    let tag = seal_in_place(&key, &nonce, &aad, &mut buf).unwrap();
    assert_eq!(buf, hex_vec("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"));
    assert_eq!(tag, hex::<16>("76fc6ece0f4e1768cddf8853bb2d551b"));
}

fn hex_vec(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn hex<const N: usize>(s: &str) -> [u8; N] {
    hex_vec(s).try_into().unwrap()
}
