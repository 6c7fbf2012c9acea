//! Vault hand-off between realms (extension page -> service worker, page ->
//! worker): the message opens only for its receiver, only once, only for the
//! expected vault, and carries a vault that works like the original.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{ctx, new_vault, passkey, prf, seeded_stream};
use medseal::handoff::{HandoffReceiver, HEADER_LEN};
use medseal::vault::deterministic;
use medseal::{Error, PrfOutput, Vault};

#[test]
fn handed_off_vault_is_the_same_vault() {
    let (mut v, _) = new_vault();
    let sealed_before = v.seal(b"{\"bp\":\"120/80\"}", &ctx("r1")).unwrap();
    let receiver = HandoffReceiver::new().unwrap();
    let msg = v.hand_off(&receiver.public_key()).unwrap();
    let mut w = receiver
        .accept(&msg, Some(v.manifest()), v.manifest().revision())
        .unwrap();
    assert_eq!(w.vault_id(), v.vault_id());
    assert_eq!(w.manifest(), v.manifest());
    assert_eq!(w.identity_public_key(), v.identity_public_key());
    // Records cross both ways.
    assert_eq!(
        w.open(&sealed_before, &ctx("r1")).unwrap(),
        b"{\"bp\":\"120/80\"}"
    );
    let sealed_after = w.seal(b"note", &ctx("r2")).unwrap();
    assert_eq!(v.open(&sealed_after, &ctx("r2")).unwrap(), b"note");
    // The received vault can change the manifest like the original.
    let m = w.rotate_recovery_code().unwrap();
    assert_eq!(w.manifest().revision(), v.manifest().revision() + 1);
    drop(m);
}

#[test]
fn a_handed_off_vault_holds_every_epoch() {
    // The message carries the current vault key only; the older epochs' keys
    // come from the manifest, wrapped by it.
    let (mut v, _) = new_vault();
    let epoch_1 = v.seal(b"sealed in epoch 1", &ctx("r1")).unwrap();
    let m1 = v.manifest().clone();
    v.rekey().unwrap();
    let epoch_2 = v.seal(b"sealed in epoch 2", &ctx("r2")).unwrap();
    assert_eq!(medseal::read_meta(&epoch_2).unwrap().epoch, 2);
    let receiver = HandoffReceiver::new().unwrap();
    let msg = v.hand_off(&receiver.public_key()).unwrap();
    // Pinned to the manifest from before the re-key: the new identity key
    // descends from the pinned one (hand-over), so it is the same vault.
    let mut w = receiver
        .accept(&msg, Some(&m1), v.manifest().revision())
        .unwrap();
    assert_eq!(w.manifest().epoch(), 2);
    assert_eq!(w.identity_public_key(), v.identity_public_key());
    assert_eq!(w.open(&epoch_1, &ctx("r1")).unwrap(), b"sealed in epoch 1");
    assert_eq!(w.open(&epoch_2, &ctx("r2")).unwrap(), b"sealed in epoch 2");
    // It seals in the current epoch, and re-wraps old records into it.
    let from_w = w.seal(b"from the worker", &ctx("r3")).unwrap();
    assert_eq!(medseal::read_meta(&from_w).unwrap().epoch, 2);
    assert_eq!(v.open(&from_w, &ctx("r3")).unwrap(), b"from the worker");
    let rewrapped = w.rewrap(&epoch_1, &ctx("r1")).unwrap().unwrap();
    assert_eq!(medseal::read_meta(&rewrapped).unwrap().epoch, 2);
    assert_eq!(
        v.open(&rewrapped, &ctx("r1")).unwrap(),
        b"sealed in epoch 1"
    );
    // A hand-off of a vault whose old epochs were retired carries none.
    v.retire_epochs().unwrap();
    let receiver = HandoffReceiver::new().unwrap();
    let msg = v.hand_off(&receiver.public_key()).unwrap();
    let w = receiver.accept(&msg, None, 0).unwrap();
    assert_eq!(
        w.open(&epoch_1, &ctx("r1")).unwrap_err(),
        Error::DecryptionFailed
    );
    assert_eq!(
        w.open(&rewrapped, &ctx("r1")).unwrap(),
        b"sealed in epoch 1"
    );
}

/// A vault handed off (to a worker, an extension's service worker) follows
/// a re-key made on another device, as the page it came from does: the
/// hand-off (version 2) carries the unlock entry it was opened with. One
/// handed off from a vault whose entry was then removed cannot, and says so.
#[test]
fn a_handed_off_vault_follows_a_rekey_made_elsewhere() {
    let (mut a, _) = new_vault();
    let m1 = a.manifest().clone();
    let mut page =
        Vault::unlock_with_prf(&m1, b"cred-1", PrfOutput::new(&prf(1)).unwrap(), 0).unwrap();
    let receiver = HandoffReceiver::new().unwrap();
    let msg = page.hand_off(&receiver.public_key()).unwrap();
    let mut worker = receiver.accept(&msg, Some(&m1), 1).unwrap();
    let m2 = a.rekey().unwrap().clone();
    let after = a.seal(b"sealed after the re-key", &ctx("n")).unwrap();
    page.update_manifest(&m2).unwrap();
    worker.update_manifest(&m2).unwrap();
    assert_eq!(worker.manifest(), &m2);
    assert_eq!(
        worker.open(&after, &ctx("n")).unwrap(),
        b"sealed after the re-key"
    );

    // Recovery-unlocked: the login key travels too, and still signs.
    let (mut b, code) = new_vault();
    let rec = Vault::unlock_with_recovery_code(b.manifest(), &code, 0).unwrap();
    let mut rec = rec;
    let receiver = HandoffReceiver::new().unwrap();
    let msg = rec.hand_off(&receiver.public_key()).unwrap();
    let w = receiver.accept(&msg, Some(b.manifest()), 0).unwrap();
    let challenge = [9u8; 32];
    let sig = w
        .sign_recovery_login(&challenge, "https://phr.example")
        .unwrap();
    b.manifest()
        .verify_recovery_login(&challenge, "https://phr.example", &sig)
        .unwrap();
    let _ = b.rekey().unwrap();
}

#[test]
fn message_carries_no_key_in_clear() {
    let (mut v, _) = new_vault();
    let receiver = HandoffReceiver::new().unwrap();
    let msg = v.hand_off(&receiver.public_key()).unwrap();
    assert_eq!(&msg[..4], b"mshd");
    assert_eq!(msg[4], 2);
    // The manifest (public) is encrypted too: nothing of it shows.
    let json = v.manifest().to_json();
    let probe = &json.as_bytes()[..24];
    assert!(!msg.windows(probe.len()).any(|w| w == probe));
    // Two hand-offs of the same vault to the same receiver key differ.
    let msg2 = v.hand_off(&receiver.public_key()).unwrap();
    assert_ne!(msg, msg2);
}

#[test]
fn only_the_receiver_opens_it() {
    let (mut v, _) = new_vault();
    let receiver = HandoffReceiver::new().unwrap();
    let other = HandoffReceiver::new().unwrap();
    let msg = v.hand_off(&receiver.public_key()).unwrap();
    assert_eq!(
        other.accept(&msg, None, 0).unwrap_err(),
        Error::DecryptionFailed
    );
}

#[test]
fn every_bit_flip_and_truncation_is_refused() {
    let (mut v, _) = new_vault();
    let probe = HandoffReceiver::new().unwrap();
    let len = v.hand_off(&probe.public_key()).unwrap().len();
    // A fresh receiver per try: accept consumes it.
    for i in (0..len).step_by(3) {
        for bit in [0u8, 7] {
            let r = HandoffReceiver::new().unwrap();
            let mut msg = v.hand_off(&r.public_key()).unwrap();
            msg[i] ^= 1 << bit;
            let err = r.accept(&msg, None, 0).unwrap_err();
            match i {
                0..=3 => assert!(matches!(err, Error::Malformed(_)), "{i}: {err:?}"),
                4 => assert!(matches!(err, Error::UnknownVersion { .. }), "{i}: {err:?}"),
                _ => assert_eq!(err, Error::DecryptionFailed, "flip at {i}"),
            }
        }
    }
    for cut in [0, 3, 4, 5, HEADER_LEN, HEADER_LEN + 47, len - 1] {
        let r = HandoffReceiver::new().unwrap();
        let msg = v.hand_off(&r.public_key()).unwrap();
        assert!(
            r.accept(&msg[..cut], None, 0).is_err(),
            "cut at {cut} accepted"
        );
    }
}

#[test]
fn pinned_vault_and_revision() {
    let (mut v, _) = new_vault();
    let (other, _) = new_vault();
    let r = HandoffReceiver::new().unwrap();
    let msg = v.hand_off(&r.public_key()).unwrap();
    assert_eq!(
        r.accept(&msg, Some(other.manifest()), 0).unwrap_err(),
        Error::WrongVault
    );
    let r = HandoffReceiver::new().unwrap();
    let msg = v.hand_off(&r.public_key()).unwrap();
    let seen = v.manifest().revision() + 1;
    assert_eq!(
        r.accept(&msg, None, seen).unwrap_err(),
        Error::StaleManifest {
            seen,
            offered: seen - 1
        }
    );
}

#[test]
fn bad_receiver_keys_are_refused() {
    let (mut v, _) = new_vault();
    let mut x_above_p = [0xffu8; 33];
    x_above_p[0] = 2;
    for bad in [&[][..], &x_above_p[..], &[0u8; 33][..], &[4u8; 65][..]] {
        assert!(matches!(
            v.hand_off(bad).unwrap_err(),
            Error::InvalidArgument(_)
        ));
    }
    // The handed-off vault still unlocks with the passkey afterwards.
    let m = v.manifest().clone();
    assert!(Vault::unlock_with_prf(&m, b"cred-1", PrfOutput::new(&prf(1)).unwrap(), 0).is_ok());
}

#[test]
fn debug_output_is_redacted() {
    let r = HandoffReceiver::new().unwrap();
    assert_eq!(format!("{r:?}"), "HandoffReceiver(<redacted>)");
}

#[test]
fn a_forged_vault_with_the_victims_vault_id_is_refused_by_the_identity_pin() {
    let (victim, _) = new_vault();
    // The forger makes a real vault of its own under the victim's (public) vault id.
    let salt = deterministic::prf_salt(b"forger/salt");
    let (mut forged, _) = deterministic::create_with_vault_id(
        b"forger",
        passkey(b"cred-f", salt, prf(9)),
        *victim.vault_id(),
    )
    .unwrap();
    assert_eq!(forged.vault_id(), victim.vault_id());
    // Unpinned, it is a valid vault: a vault id alone proves nothing.
    let r = HandoffReceiver::new().unwrap();
    let msg = forged.hand_off(&r.public_key()).unwrap();
    assert!(r.accept(&msg, None, 0).is_ok());
    // Pinned to the victim's manifest, the identity key differs: refused.
    let r = HandoffReceiver::new().unwrap();
    let msg = forged.hand_off(&r.public_key()).unwrap();
    assert_eq!(
        r.accept(&msg, Some(victim.manifest()), 0).unwrap_err(),
        Error::WrongVault
    );
}

/// FORMAT.md §8.10 followed literally with the primitives' own crates (not
/// medseal's helpers): the spec and the code agree on every byte.
#[test]
fn the_spec_reimplemented_opens_a_message() {
    use aes_gcm::aead::{AeadInOut, KeyInit};
    use p256::elliptic_curve::sec1::ToSec1Point;
    let (mut v, _) = new_vault();
    let receiver_secret = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
    let receiver_pk = receiver_secret.public_key().to_sec1_point(true);
    let r_bytes = receiver_pk.as_bytes();
    let msg = v.hand_off(r_bytes).unwrap();

    assert_eq!(&msg[..4], b"mshd");
    assert_eq!(msg[4], 2);
    let e = &msg[5..38];
    let nonce = &msg[38..50];
    let header = &msg[..50];
    let e_pk = p256::PublicKey::from_sec1_bytes(e).unwrap();
    let shared = p256::ecdh::diffie_hellman(receiver_secret.to_nonzero_scalar(), e_pk.as_affine());
    let lp = |b: &[u8]| [&(b.len() as u32).to_be_bytes()[..], b].concat();
    let info = [b"medseal/v1/handoff/key".as_slice(), &lp(e), &lp(r_bytes)].concat();
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(&[]), shared.raw_secret_bytes().as_slice());
    let mut key = [0u8; 32];
    hk.expand(&info, &mut key).unwrap();
    let aad = [
        b"medseal/v1/aad/handoff".as_slice(),
        &lp(header),
        &lp(r_bytes),
    ]
    .concat();
    let mut body = msg[50..msg.len() - 16].to_vec();
    let tag: [u8; 16] = msg[msg.len() - 16..].try_into().unwrap();
    aes_gcm::Aes256Gcm::new(&key.into())
        .decrypt_inout_detached(
            &nonce.try_into().unwrap(),
            &aad,
            body.as_mut_slice().into(),
            &tag.into(),
        )
        .unwrap();
    // vault key || 0x01 || lp(entry id) || seed(32) || 0x00 (no login key:
    // a passkey entry) || manifest JSON (FORMAT.md §8.10, version 2)
    assert_eq!(body[32], 1);
    let id_len = u32::from_be_bytes(body[33..37].try_into().unwrap()) as usize;
    let id = std::str::from_utf8(&body[37..37 + id_len]).unwrap();
    assert_eq!(id, v.manifest().passkeys().next().unwrap().entry_id);
    assert_eq!(body[37 + id_len + 32], 0);
    assert_eq!(&body[37 + id_len + 33..], v.manifest().to_json().as_bytes());
}

/// A hand-off receiver whose private key the test knows (drawn from a
/// seeded stream), to open and rebuild messages by hand per FORMAT.md §8.10.
struct KnownReceiver {
    seed: &'static [u8],
    public: [u8; 33],
    secret: p256::SecretKey,
}

impl KnownReceiver {
    fn new(seed: &'static [u8]) -> Self {
        let public = Self::receiver_of(seed).public_key();
        let secret = p256::SecretKey::from_slice(&seeded_stream(seed, 32)).unwrap();
        KnownReceiver {
            seed,
            public,
            secret,
        }
    }

    fn receiver_of(seed: &[u8]) -> HandoffReceiver {
        deterministic::handoff_receiver(seed).unwrap()
    }

    /// A fresh receiver object with this key (each accepts one message).
    fn receiver(&self) -> HandoffReceiver {
        Self::receiver_of(self.seed)
    }

    fn key_and_aad(&self, header: &[u8]) -> ([u8; 32], Vec<u8>) {
        let lp = |b: &[u8]| [&(b.len() as u32).to_be_bytes()[..], b].concat();
        let e = &header[5..38];
        let e_pk = p256::PublicKey::from_sec1_bytes(e).unwrap();
        let shared = p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), e_pk.as_affine());
        let info = [
            b"medseal/v1/handoff/key".as_slice(),
            &lp(e),
            &lp(&self.public),
        ]
        .concat();
        let hk = hkdf::Hkdf::<sha2::Sha256>::new(Some(&[]), shared.raw_secret_bytes().as_slice());
        let mut key = [0u8; 32];
        hk.expand(&info, &mut key).unwrap();
        let aad = [
            b"medseal/v1/aad/handoff".as_slice(),
            &lp(header),
            &lp(&self.public),
        ]
        .concat();
        (key, aad)
    }

    /// The header and decrypted body of a message to this receiver.
    fn open(&self, msg: &[u8]) -> (Vec<u8>, Vec<u8>) {
        use aes_gcm::aead::{AeadInOut, KeyInit};
        let header = msg[..50].to_vec();
        let (key, aad) = self.key_and_aad(&header);
        let mut body = msg[50..msg.len() - 16].to_vec();
        let tag: [u8; 16] = msg[msg.len() - 16..].try_into().unwrap();
        aes_gcm::Aes256Gcm::new(&key.into())
            .decrypt_inout_detached(
                &header[38..50].try_into().unwrap(),
                &aad,
                body.as_mut_slice().into(),
                &tag.into(),
            )
            .unwrap();
        (header, body)
    }

    /// A message with this header and body (same ephemeral key and nonce:
    /// a test only).
    fn seal(&self, header: &[u8], mut body: Vec<u8>) -> Vec<u8> {
        use aes_gcm::aead::{AeadInOut, KeyInit};
        let (key, aad) = self.key_and_aad(header);
        let tag = aes_gcm::Aes256Gcm::new(&key.into())
            .encrypt_inout_detached(
                &header[38..50].try_into().unwrap(),
                &aad,
                body.as_mut_slice().into(),
            )
            .unwrap();
        [header, &body, &tag].concat()
    }
}

/// A version 1 message (vault key || manifest, no entry), built by hand per
/// FORMAT.md §8.10, is still accepted; the vault it gives cannot follow a
/// re-key (it has no entry), and says so.
#[test]
fn a_version_1_message_is_still_accepted() {
    let (mut v, _) = new_vault();
    let sealed = v.seal(b"before", &ctx("r")).unwrap();
    let known = KnownReceiver::new(b"handoff/v1-test");
    let (mut header, body) = known.open(&v.hand_off(&known.public).unwrap());
    header[4] = 1;
    let mut v1_body = body[..32].to_vec();
    v1_body.extend_from_slice(v.manifest().to_json().as_bytes());
    let v1_msg = known.seal(&header, v1_body);
    let mut w = known
        .receiver()
        .accept(&v1_msg, Some(v.manifest()), 0)
        .unwrap();
    assert_eq!(w.open(&sealed, &ctx("r")).unwrap(), b"before");
    let m2 = v.rekey().unwrap().clone();
    assert_eq!(w.update_manifest(&m2).unwrap_err(), Error::UnlockFailed);
}

/// The unlock entry a version 2 message carries must be this manifest's:
/// a seed that does not derive the entry's public key, an entry id the
/// manifest lacks, or a login scalar that does not give the recovery
/// entry's login key is `ManifestInvalid`; a malformed entry part
/// `Malformed`. (Only a sender holding the vault could try it; the check
/// keeps a bad entry from being carried silently.)
#[test]
fn a_carried_entry_must_match_the_manifest() {
    let (mut a, code) = new_vault();
    let mut rec = Vault::unlock_with_recovery_code(a.manifest(), &code, 0).unwrap();
    let known = KnownReceiver::new(b"handoff/entry-test");
    let (header, body) = known.open(&rec.hand_off(&known.public).unwrap());
    // body = vk(32) || 0x01 || lp(id) || seed(32) || 0x01 || login(32) || manifest
    let id_len = u32::from_be_bytes(body[33..37].try_into().unwrap()) as usize;
    let seed_at = 37 + id_len;
    let login_at = seed_at + 33;
    assert_eq!(
        body[seed_at + 32],
        1,
        "the recovery entry carries its login key"
    );
    let refused = |body: Vec<u8>| {
        known
            .receiver()
            .accept(&known.seal(&header, body), None, 0)
            .unwrap_err()
    };
    let mut b = body.clone();
    b[seed_at] ^= 1;
    assert_eq!(refused(b), Error::ManifestInvalid, "another seed");
    let mut b = body.clone();
    b[login_at] ^= 1;
    assert_eq!(refused(b), Error::ManifestInvalid, "another login key");
    let mut b = body.clone();
    b[37] ^= 1;
    assert_eq!(
        refused(b),
        Error::ManifestInvalid,
        "an entry the manifest lacks"
    );
    let mut b = body.clone();
    b[32] = 7;
    assert!(
        matches!(refused(b), Error::Malformed(_)),
        "unknown entry kind"
    );
    // Untouched, it is accepted and signs recovery logins.
    let w = known
        .receiver()
        .accept(&known.seal(&header, body), None, 0)
        .unwrap();
    assert!(w.sign_recovery_login(&[1; 16], "https://x.example").is_ok());
    let _ = a.rekey().unwrap();
}

#[test]
fn errors_follow_the_spec_order() {
    let r = || HandoffReceiver::new().unwrap();
    assert!(matches!(
        r().accept(b"mshx", None, 0),
        Err(Error::Malformed(_))
    ));
    assert!(matches!(
        r().accept(b"mshd\x03", None, 0),
        Err(Error::UnknownVersion { version: 3, .. })
    ));
    assert!(matches!(
        r().accept(b"mshd\x02", None, 0),
        Err(Error::Malformed(_))
    ));
    assert!(matches!(
        r().accept(b"mshd\x01", None, 0),
        Err(Error::Malformed(_))
    ));
    let big = [
        b"mshd\x01".as_slice(),
        &vec![0u8; medseal::handoff::MAX_MESSAGE_LEN],
    ]
    .concat();
    assert_eq!(r().accept(&big, None, 0).unwrap_err(), Error::TooLarge);
}
