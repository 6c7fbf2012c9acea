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

use common::{new_vault, prf};
use medseal::handoff::{HandoffReceiver, HEADER_LEN};
use medseal::{Error, PrfOutput, RecordContext, Vault};

fn ctx(id: &str) -> RecordContext<'_> {
    RecordContext::new(id.as_bytes())
}

#[test]
fn handed_off_vault_is_the_same_vault() {
    let (mut v, _) = new_vault();
    let sealed_before = v.seal(b"{\"bp\":\"120/80\"}", &ctx("r1")).unwrap();
    let receiver = HandoffReceiver::new().unwrap();
    let msg = v.hand_off(&receiver.public_key()).unwrap();
    let mut w = receiver
        .accept(&msg, Some(v.vault_id().as_slice()), v.manifest().revision)
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
    assert_eq!(w.manifest().revision, v.manifest().revision + 1);
    drop(m);
}

#[test]
fn message_carries_no_key_in_clear() {
    let (mut v, _) = new_vault();
    let receiver = HandoffReceiver::new().unwrap();
    let msg = v.hand_off(&receiver.public_key()).unwrap();
    assert_eq!(&msg[..4], b"mshd");
    assert_eq!(msg[4], 1);
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
            assert!(r.accept(&msg, None, 0).is_err(), "flip at {i} accepted");
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
        r.accept(&msg, Some(other.vault_id().as_slice()), 0)
            .unwrap_err(),
        Error::WrongVault
    );
    let r = HandoffReceiver::new().unwrap();
    let msg = v.hand_off(&r.public_key()).unwrap();
    let seen = v.manifest().revision + 1;
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
