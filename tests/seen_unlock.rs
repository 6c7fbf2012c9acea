//! What the seen state keeps to make an unlock cheap (issue 18), and the
//! attacks on it: the `verified` tag (a manifest's signatures are checked
//! once per device, not at every unlock) must stand only for the very
//! bytes this device verified, and only when the vault made it; the
//! device's copy of the vault key (`unlock`) must open only with the
//! entry's own passkey or code, only for its epoch, and never outlive a
//! removed passkey or a re-key.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{edit_b64, new_vault, passkey, passkey_entry_id, prf, tamper};
use medseal::{Error, Manifest, PrfOutput, Seen, Vault};
use serde_json::Value;

fn unlock_seen(m: &Manifest, seen: &Seen) -> medseal::Result<Vault> {
    unlock_as(m, b"cred-1", 1, seen)
}

fn unlock_as(m: &Manifest, cred: &[u8], tag: u8, seen: &Seen) -> medseal::Result<Vault> {
    Vault::unlock_with_prf_seen(m, cred, PrfOutput::new(&prf(tag)).unwrap(), 0, Some(seen))
}

fn json(seen: &Seen) -> Value {
    serde_json::from_str(&seen.to_json().unwrap()).unwrap()
}

fn with(seen: &Seen, edit: impl FnOnce(&mut Value)) -> Seen {
    let mut v = json(seen);
    edit(&mut v);
    Seen::from_json(&v.to_string()).unwrap()
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

/// The copy is made when the vault is opened on the device, for the entry
/// it was opened with and the current epoch; it does not help a wrong
/// passkey, and a copy the vault cannot open is replaced.
#[test]
fn the_device_copy_opens_only_with_its_entry() {
    let (vault, seen) = device();
    let copy = json(&seen)["unlock"].clone();
    assert_eq!(
        copy["entryId"],
        Value::String(passkey_entry_id(vault.manifest(), b"cred-1"))
    );
    assert_eq!(copy["epoch"], 1);
    assert_eq!(common::unb64(&copy["wrapped"]).len(), 60);
    let m = vault.manifest();
    unlock_seen(m, &seen).unwrap();
    assert!(matches!(
        unlock_as(m, b"cred-1", 2, &seen),
        Err(Error::UnlockFailed)
    ));
    // Planted copies (changed bytes, another vault's): the unlock goes
    // through the manifest's entry, and the vault replaces the copy.
    let (_, other_seen) = device();
    let theirs = json(&other_seen)["unlock"]["wrapped"].clone();
    let flipped = {
        let mut c = copy.clone();
        edit_b64(&mut c["wrapped"], |w| w[20] ^= 1);
        c["wrapped"].clone()
    };
    for planted in [flipped, theirs] {
        let bad = with(&seen, |v| v["unlock"]["wrapped"] = planted.clone());
        let opened = unlock_seen(m, &bad).unwrap();
        assert!(matches!(
            unlock_as(m, b"cred-1", 2, &bad),
            Err(Error::UnlockFailed)
        ));
        let mut fixed = bad.clone();
        assert!(
            fixed.saw_vault(&opened),
            "the copy that does not open is replaced"
        );
        assert_eq!(json(&fixed)["unlock"]["entryId"], copy["entryId"]);
        assert_ne!(json(&fixed)["unlock"]["wrapped"], planted);
    }
}

/// Revocation holds: a device that kept a copy for a passkey that was
/// then removed (a re-key to epoch 2) cannot unlock the new manifest with
/// that passkey, and a copy of epoch 1 does not open epoch 2 for a
/// passkey that stays: that one unlocks through its entry, and the copy
/// moves to epoch 2.
#[test]
fn a_removed_passkey_or_an_old_epoch_gets_nothing_from_the_copy() {
    let (mut vault, _) = new_vault();
    vault
        .add_passkey(passkey(b"cred-2", [2; 32], prf(2)))
        .unwrap();
    // The device where cred-2 unlocked: its copy is cred-2's, epoch 1.
    let m1 = vault.manifest().clone();
    let on_2 = unlock_as(&m1, b"cred-2", 2, &Seen::new()).unwrap();
    let mut seen2 = Seen::new();
    seen2.saw_vault(&on_2);
    assert_eq!(
        json(&seen2)["unlock"]["entryId"],
        Value::String(passkey_entry_id(&m1, b"cred-2"))
    );
    // The device where cred-1 unlocked.
    let on_1 = unlock_as(&m1, b"cred-1", 1, &Seen::new()).unwrap();
    let mut seen1 = Seen::new();
    seen1.saw_vault(&on_1);
    // cred-2 is removed: a new epoch, without its entry.
    let id2 = passkey_entry_id(&m1, b"cred-2");
    let m2 = vault.remove_unlock(&id2).unwrap().clone();
    assert_eq!(m2.epoch(), 2);
    assert!(matches!(
        unlock_as(&m2, b"cred-2", 2, &seen2),
        Err(Error::UnknownUnlockEntry)
    ));
    // Its copy names an entry that is gone and an ended epoch; moved onto
    // cred-1's entry id, it still does not open (another seed, another epoch).
    let moved = with(&seen2, |v| {
        v["unlock"]["entryId"] = Value::String(passkey_entry_id(&m2, b"cred-1"));
        v["unlock"]["epoch"] = Value::from(2);
    });
    let opened = unlock_as(&m2, b"cred-1", 1, &moved).unwrap();
    assert_eq!(opened.manifest().epoch(), 2);
    // cred-1's own copy is of epoch 1: unused for epoch 2, then renewed.
    let v = unlock_as(&m2, b"cred-1", 1, &seen1).unwrap();
    assert!(seen1.saw_vault(&v));
    assert_eq!(json(&seen1)["unlock"]["epoch"], 2);
    unlock_as(&m2, b"cred-1", 1, &seen1).unwrap();
}
