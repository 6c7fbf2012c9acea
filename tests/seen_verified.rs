//! The seen state's `verified` tag (issue 18: an unlock verifies a
//! manifest's signatures once per manifest, not at every unlock). The tag
//! must stand only for the very bytes this device verified, and only when
//! the vault itself made it: these are the attacks on that.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{edit_b64, new_vault, prf, tamper};
use medseal::{Error, Manifest, PrfOutput, Seen, Vault};

fn unlock_seen(m: &Manifest, seen: &Seen) -> medseal::Result<Vault> {
    Vault::unlock_with_prf_seen(
        m,
        b"cred-1",
        PrfOutput::new(&prf(1)).unwrap(),
        0,
        Some(seen),
    )
}

/// A device that unlocked the vault here: its seen state names the
/// manifest and carries the vault's tag of it.
fn device() -> (Vault, Seen) {
    let (vault, _) = new_vault();
    let mut seen = Seen::new();
    assert!(seen.saw_vault(&vault));
    assert!(!seen.saw_vault(&vault), "nothing new the second time");
    (vault, seen)
}

/// The server changes the signature and nothing else: the hash the seen
/// state compares covers the signed bytes only, so the device takes this
/// for the manifest it saw. A tag keyed to that hash would let the
/// unverified signature through; the tag covers the signature too.
#[test]
fn a_changed_signature_is_verified_again() {
    let (vault, seen) = device();
    let m = vault.manifest();
    let forged = tamper(m, |v| edit_b64(&mut v["signature"], |s| s[5] ^= 1));
    assert_eq!(forged.hash(), m.hash());
    seen.check(&forged, &[]).unwrap();
    assert!(matches!(
        unlock_seen(&forged, &seen),
        Err(Error::ManifestInvalid)
    ));
    // The genuine manifest unlocks with the tag, as without it.
    unlock_seen(m, &seen).unwrap();
}

/// Whoever can write the device's storage but lacks the vault key writes a
/// tag of their own (random bytes, or another vault's tag): it does not
/// match, and the signatures are checked.
#[test]
fn a_tag_not_made_by_this_vault_changes_nothing() {
    let (vault, seen) = device();
    let (other, other_seen) = device();
    let forged = tamper(vault.manifest(), |v| {
        edit_b64(&mut v["signature"], |s| s[5] ^= 1)
    });
    let other_tag = |j: &str| {
        let v: serde_json::Value = serde_json::from_str(j).unwrap();
        v["verified"].clone()
    };
    let theirs = other_tag(&other_seen.to_json().unwrap());
    assert!(theirs.is_string());
    for planted in [serde_json::Value::String("A".repeat(43)), theirs] {
        let mut v: serde_json::Value = serde_json::from_str(&seen.to_json().unwrap()).unwrap();
        v["verified"] = planted;
        let planted = Seen::from_json(&v.to_string()).unwrap();
        assert!(matches!(
            unlock_seen(&forged, &planted),
            Err(Error::ManifestInvalid)
        ));
        unlock_seen(vault.manifest(), &planted).unwrap();
    }
    drop(other);
}

/// The tag belongs to the manifest the seen state names: after a change
/// (a new revision), the old tag is gone and the new manifest's is kept.
#[test]
fn the_tag_follows_the_manifest() {
    let (mut vault, mut seen) = device();
    let before = serde_json::from_str::<serde_json::Value>(&seen.to_json().unwrap()).unwrap()
        ["verified"]
        .clone();
    vault.rotate_recovery_code().unwrap();
    let mut plain = seen.clone();
    assert!(plain.saw_manifest(vault.manifest()));
    assert!(
        plain.to_json().unwrap().find("verified").is_none(),
        "a manifest alone drops the old tag"
    );
    assert!(seen.saw_vault(&vault));
    let after = serde_json::from_str::<serde_json::Value>(&seen.to_json().unwrap()).unwrap()
        ["verified"]
        .clone();
    assert!(after.is_string());
    assert_ne!(before, after);
    unlock_seen(vault.manifest(), &seen).unwrap();
}

/// Seen states written before the tag existed still load and unlock; a
/// tag of the wrong length is a malformed state.
#[test]
fn states_without_a_tag_load() {
    let (vault, seen) = device();
    let mut v: serde_json::Value = serde_json::from_str(&seen.to_json().unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("verified");
    let old = Seen::from_json(&v.to_string()).unwrap();
    unlock_seen(vault.manifest(), &old).unwrap();
    v["verified"] = serde_json::Value::String("AAAA".into());
    assert!(matches!(
        Seen::from_json(&v.to_string()),
        Err(Error::Malformed(_))
    ));
}
