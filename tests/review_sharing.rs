//! Security review of sharing (format 3) in the core. Every test here is an
//! attack that worked at 3a43a38 (as its comment says) and is refused since
//! the fixes that followed the review. Each test's
//! comment says the attack and its impact.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{ctx, passkey, prf, unlock};
use medseal::{Fingerprint, GrantRequest, GrantScope, Pin, Vault};

const NOW: u64 = 1_780_000_000;
const DAY: u64 = 86_400;

/// A vault with two passkeys, "laptop" (PRF `tag`) and "phone" (PRF
/// `tag + 1`), and the manifest the phone saw last (before it is removed).
fn with_phone(name: &str, tag: u8) -> (Vault, Vec<u8>, medseal::Manifest) {
    let laptop = format!("{name}-laptop").into_bytes();
    let phone = format!("{name}-phone").into_bytes();
    let (mut v, _) =
        Vault::create(passkey(&laptop, medseal::new_prf_salt().unwrap(), prf(tag))).unwrap();
    v.add_passkey(passkey(
        &phone,
        medseal::new_prf_salt().unwrap(),
        prf(tag + 1),
    ))
    .unwrap();
    let seen = v.manifest().clone();
    (v, phone, seen)
}

fn remove(v: &mut Vault, cred: &[u8]) {
    let id = common::passkey_entry_id(v.manifest(), cred);
    v.remove_unlock(&id).unwrap();
}

fn plain(tag: u8) -> Vault {
    Vault::create(passkey(
        &[tag; 8],
        medseal::new_prf_salt().unwrap(),
        prf(tag),
    ))
    .unwrap()
    .0
}

/// ATTACK (a removed passkey signs grants the grantee accepts): the patient
/// removes a stolen phone's passkey (a re-key: epoch 2). The thief unlocks
/// the epoch-1 manifest the server kept with the phone, grants a record id
/// of the patient's to the clinician (signed by the epoch-1 identity key)
/// and seals a record of its own under that id. The clinician verifies the
/// grant against the patient's CURRENT manifest: `Grant::verify` takes the
/// identity key of whatever older epoch the grant names, and `accept_grant`
/// never checks that the grantor's manifest lists the grant (its digest).
/// IMPACT: forged health records presented as the patient's, by a revoked
/// credential ("can sign nothing a client accepts"); the patient's own
/// list of grants does not show it, so it cannot be revoked either.
#[test]
fn removed_passkey_signs_a_grant_the_grantee_accepts_against_the_current_manifest() {
    let (mut patient, phone, phone_saw) = with_phone("patient", 1);
    let clinician = plain(9);
    remove(&mut patient, &phone);
    assert_eq!(patient.manifest().epoch(), 2);

    let mut thief = unlock(&phone_saw, &phone, 2).unwrap();
    let g = thief
        .grant(GrantRequest {
            grantee: clinician.manifest(),
            scope: GrantScope::Records(vec!["allergy-1".into()]),
            created: NOW,
            expires: NOW + DAY,
        })
        .unwrap()
        .grant;
    assert_eq!(g.grantor_epoch, 1);
    let forged = thief
        .seal(b"allergies: none known", &ctx("allergy-1"))
        .unwrap();
    let slot = thief
        .grant_slot(&g, &forged, &ctx("allergy-1"), NOW)
        .unwrap();
    assert_eq!(
        patient.manifest().shares().count(),
        0,
        "not the patient's grant"
    );

    let accepted = clinician.accept_grant(g, patient.manifest(), NOW);
    let read = accepted
        .as_ref()
        .ok()
        .and_then(|r| r.open_record(&slot, &forged, &ctx("allergy-1"), NOW).ok())
        .map(|o| String::from_utf8(o.data).unwrap());
    assert!(
        accepted.is_err(),
        "a grant signed by the revoked epoch-1 key was accepted against the patient's \
         epoch-2 manifest; the clinician reads {read:?} as the patient's record"
    );
}

/// ATTACK (a removed passkey of the grantee forks its manifest past the
/// pin): the clinician removes a stolen phone (epoch 2); the patient pins
/// the clinician's manifest AFTER the removal. The thief unlocks the
/// epoch-1 manifest with the phone and re-keys it: a fork whose epoch-1
/// identity key, the root of the fingerprint, is the clinician's, so the
/// fingerprint is the same, at the pinned revision. The server relays the
/// fork for the clinician: `Pin::check` accepts it (it compares the
/// fingerprint and the revision only, not the history or the newest
/// identity key seen), the patient grants to the fork's share key, and the
/// thief opens the patient's record. IMPACT: confidentiality of every
/// record granted from then on, to a revoked device; comparing
/// fingerprints in person cannot catch it.
#[test]
fn removed_passkey_forks_the_grantee_past_its_pin_and_receives_the_grant() {
    let mut patient = plain(1);
    let (mut clinician, phone, phone_saw) = with_phone("clinician", 5);
    remove(&mut clinician, &phone);
    let pin = Pin::check(clinician.manifest(), None).unwrap();

    let mut thief = unlock(&phone_saw, &phone, 6).unwrap();
    thief.rekey().unwrap();
    let fork = thief.manifest().clone();
    assert_eq!(fork.revision(), clinician.manifest().revision());
    assert_ne!(fork.hash(), clinician.manifest().hash());
    assert_eq!(
        Fingerprint::of(&fork).unwrap(),
        Fingerprint::of(clinician.manifest()).unwrap()
    );

    let checked = Pin::check(&fork, Some(&pin));
    let mut read = None;
    if checked.is_ok() {
        let sealed = patient.seal(b"HIV: positive", &ctx("lab-1")).unwrap();
        let g = patient
            .grant(GrantRequest {
                grantee: &fork,
                scope: GrantScope::Records(vec!["lab-1".into()]),
                created: NOW,
                expires: NOW + DAY,
            })
            .unwrap()
            .grant;
        let slot = patient.grant_slot(&g, &sealed, &ctx("lab-1"), NOW).unwrap();
        let r = thief.accept_grant(g, patient.manifest(), NOW).unwrap();
        read = Some(
            String::from_utf8(
                r.open_record(&slot, &sealed, &ctx("lab-1"), NOW)
                    .unwrap()
                    .data,
            )
            .unwrap(),
        );
    }
    assert!(
        checked.is_err(),
        "the pin accepted a fork made by the clinician's removed passkey; the thief read {read:?}"
    );
}

/// ATTACK (a removed passkey knows the keys of grants made before the
/// removal): the patient shares "allergies" with the clinician, then removes
/// a stolen phone. The phone had seen the manifest listing the grant, whose
/// key was wrapped by the vault key the phone holds: the thief gives the
/// grant a slot for a record it sealed itself under one of the patient's
/// record ids, and the server relays it. The clinician opens it as the
/// patient's record (shown working first). Re-issuing the grant after the
/// removal (`reissue_grant`: a new key, listed in place of the old) makes
/// the clinician refuse the old grant and everything under it.
/// IMPACT before re-issue: a forged record read as the patient's.
#[test]
fn removed_passkey_forges_slots_of_a_grant_made_before_the_removal_until_reissued() {
    let (mut patient, phone, _) = with_phone("patient", 11);
    let mut clinician = plain(13);
    let g = patient
        .grant(GrantRequest {
            grantee: clinician.manifest(),
            scope: GrantScope::Label("allergies".into()),
            created: NOW,
            expires: NOW + DAY,
        })
        .unwrap()
        .grant;
    let phone_saw = patient.manifest().clone();
    remove(&mut patient, &phone);

    let mut thief = unlock(&phone_saw, &phone, 12).unwrap();
    let forged = thief.seal(b"allergies: none", &ctx("allergy-1")).unwrap();
    let forged_slot = thief
        .grant_slot(&g, &forged, &ctx("allergy-1"), NOW)
        .unwrap();
    // Before the re-issue: the attack works (the residual SECURITY.md names).
    let old = clinician
        .accept_grant(g.clone(), patient.manifest(), NOW)
        .unwrap();
    assert_eq!(
        old.open_record(&forged_slot, &forged, &ctx("allergy-1"), NOW)
            .unwrap()
            .data,
        b"allergies: none"
    );

    let g2 = patient
        .reissue_grant(&g, clinician.manifest(), NOW + 10)
        .unwrap()
        .grant;
    assert_ne!(g2.id, g.id);
    assert_eq!((g2.scope.clone(), g2.expires), (g.scope.clone(), g.expires));
    assert_eq!(g2.grantor_epoch, 2);
    let listed: Vec<_> = patient.manifest().shares().map(|s| s.id.to_vec()).collect();
    assert_eq!(
        listed,
        vec![g2.id.to_vec()],
        "the new grant in place of the old"
    );
    assert_eq!(
        clinician
            .accept_grant(g.clone(), patient.manifest(), NOW + 20)
            .unwrap_err(),
        medseal::Error::NotGranted,
        "the old grant, and every slot of it, is refused"
    );
    let new = clinician
        .accept_grant(g2.clone(), patient.manifest(), NOW + 20)
        .unwrap();
    assert!(new
        .open_record(&forged_slot, &forged, &ctx("allergy-1"), NOW + 20)
        .is_err());
    let real = patient.seal(b"penicillin", &ctx("allergy-1")).unwrap();
    let slot = patient
        .grant_slot(&g2, &real, &ctx("allergy-1"), NOW + 20)
        .unwrap();
    assert_eq!(
        new.open_record(&slot, &real, &ctx("allergy-1"), NOW + 20)
            .unwrap()
            .data,
        b"penicillin"
    );
    // Only a listed grant is re-issued, once; and not to another vault.
    assert_eq!(
        patient
            .reissue_grant(&g, clinician.manifest(), NOW + 30)
            .unwrap_err(),
        medseal::Error::NotGranted
    );
    let other = plain(15);
    assert_eq!(
        patient
            .reissue_grant(&g2, other.manifest(), NOW + 30)
            .unwrap_err(),
        medseal::Error::NotGranted
    );
    // The clinician's own re-key: a re-issue seals to its new share key.
    clinician.rekey().unwrap();
    let g3 = patient
        .reissue_grant(&g2, clinician.manifest(), NOW + 40)
        .unwrap()
        .grant;
    assert_eq!(g3.grantee_epoch, 2);
    assert!(clinician
        .accept_grant(g3, patient.manifest(), NOW + 40)
        .is_ok());
}
