//! Issue #14: grants of records to another vault, tested as attacks. Each
//! test names the attack it refuses (or the promise it checks); the attacks
//! are those of a grantee reaching past its grant, a server editing or
//! re-addressing grants, substituting keys or keeping revoked grants alive,
//! and time (expiry).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{ctx, edit_b64, passkey, prf, unlock};
use medseal::{
    Error, Fingerprint, Grant, GrantRequest, GrantScope, Manifest, RecordContext, Vault,
};
use serde_json::Value;

const NOW: u64 = 1_780_000_000;
const DAY: u64 = 86_400;

fn vault(cred: &[u8], tag: u8) -> Vault {
    Vault::create(passkey(cred, medseal::new_prf_salt().unwrap(), prf(tag)))
        .unwrap()
        .0
}

/// A patient with four records and a clinician.
struct World {
    patient: Vault,
    clinician: Vault,
    records: Vec<(String, Vec<u8>)>,
}

fn world() -> World {
    let mut patient = vault(b"patient", 1);
    let clinician = vault(b"clinician", 2);
    let records = (1..=4)
        .map(|i| {
            let id = format!("rec-{i}");
            let sealed = patient
                .seal(format!("plaintext {i}").as_bytes(), &ctx(&id))
                .unwrap();
            (id, sealed)
        })
        .collect();
    World {
        patient,
        clinician,
        records,
    }
}

fn grant_records(w: &mut World, ids: &[&str], expires: u64) -> Grant {
    w.patient
        .grant(GrantRequest {
            grantee: w.clinician.manifest(),
            scope: GrantScope::Records(ids.iter().map(|s| s.to_string()).collect()),
            created: NOW,
            expires,
        })
        .unwrap()
        .grant
}

fn edit_grant(g: &Grant, edit: impl FnOnce(&mut Value)) -> Grant {
    let mut v: Value = serde_json::from_str(&g.to_json()).unwrap();
    edit(&mut v);
    Grant::from_json(&v.to_string()).unwrap()
}

/// The patient grants 2 of 4 records: the clinician opens exactly those
/// two, with their slots, and nothing else: not a third record with a slot
/// made for a granted one, not a record outside the grant with a slot the
/// patient's vault refuses to make.
#[test]
fn grantee_opens_exactly_the_granted_records() {
    let mut w = world();
    let g = grant_records(&mut w, &["rec-1", "rec-3"], NOW + DAY);
    // Round trip through JSON, as it travels.
    let g = Grant::from_json(&g.to_json()).unwrap();
    let received = w
        .clinician
        .accept_grant(g.clone(), w.patient.manifest(), NOW)
        .unwrap();
    let mut slots = Vec::new();
    for (id, sealed) in &w.records[..] {
        let slot = w.patient.grant_slot(&g, sealed, &ctx(id), NOW);
        if id == "rec-1" || id == "rec-3" {
            slots.push((id.clone(), slot.unwrap()));
        } else {
            assert_eq!(slot.unwrap_err(), Error::NotGranted, "{id}");
        }
    }
    for (id, slot) in &slots {
        let sealed = &w.records.iter().find(|(i, _)| i == id).unwrap().1;
        let r = received.open_record(slot, sealed, &ctx(id), NOW).unwrap();
        assert_eq!(r.data, format!("plaintext {}", &id[4..]).into_bytes());
    }
    // rec-1's slot on rec-2 (outside the scope) and on rec-3 (inside).
    let (_, rec2) = &w.records[1];
    let (_, rec3) = &w.records[2];
    assert_eq!(
        received
            .open_record(&slots[0].1, rec2, &ctx("rec-2"), NOW)
            .unwrap_err(),
        Error::NotGranted
    );
    assert_eq!(
        received
            .open_record(&slots[0].1, rec3, &ctx("rec-3"), NOW)
            .unwrap_err(),
        Error::NotGranted
    );
    // The right slot with another context.
    assert_eq!(
        received
            .open_record(
                &slots[1].1,
                rec3,
                &RecordContext::with_context(b"rec-3", b"other"),
                NOW
            )
            .unwrap_err(),
        Error::NotGranted
    );
    // The patient's vault opens its own records as before.
    assert!(w.patient.open(rec2, &ctx("rec-2")).is_ok());
}

/// A server (or anyone) edits the grant: scope, expiry, grantee, grantee
/// key, id, grantor epoch. Each edit breaks the grantor's signature.
#[test]
fn edited_grant_fails_signature_verification() {
    let mut w = world();
    let g = grant_records(&mut w, &["rec-1"], NOW + DAY);
    let other = vault(b"someone-else", 3);
    let other_id = common::b64(other.vault_id());
    let other_key = common::b64(other.manifest().share_key().unwrap());
    type Edit = Box<dyn Fn(&mut Value)>;
    let edits: Vec<(&str, Edit)> = vec![
        (
            "scope",
            Box::new(|v| v["scope"] = serde_json::json!({"records": ["rec-1", "rec-2"]})),
        ),
        (
            "scope as label",
            Box::new(|v| v["scope"] = serde_json::json!({"label": "everything"})),
        ),
        (
            "expires",
            Box::new(|v| v["expires"] = (NOW + 365 * DAY).into()),
        ),
        ("created", Box::new(|v| v["created"] = (NOW - 1).into())),
        (
            "grantee",
            Box::new(move |v| v["grantee"] = other_id.clone().into()),
        ),
        (
            "grantee key",
            Box::new(move |v| v["granteeKey"] = other_key.clone().into()),
        ),
        ("id", Box::new(|v| edit_b64(&mut v["id"], |b| b[0] ^= 1))),
        (
            "wrapped key",
            Box::new(|v| edit_b64(&mut v["wrappedKey"], |b| b[70] ^= 1)),
        ),
        ("grantor epoch", Box::new(|v| v["grantorEpoch"] = 2.into())),
    ];
    for (what, edit) in edits {
        let bad = edit_grant(&g, edit);
        let r = bad.verify(w.patient.manifest());
        assert_eq!(r.unwrap_err(), Error::ManifestInvalid, "edited {what}");
    }
    assert!(g.verify(w.patient.manifest()).is_ok());
}

/// A server re-addresses a grant to another vault it controls (a second
/// account), or hands the grant to another grantee: the grant names its
/// grantee and the HPKE `info` binds both vaults, so only the named grantee
/// opens it, and re-addressing breaks the signature.
#[test]
fn grant_cannot_be_replayed_to_another_grantee() {
    let mut w = world();
    let g = grant_records(&mut w, &["rec-1"], NOW + DAY);
    let mallory = vault(b"mallory", 4);
    assert_eq!(
        mallory
            .accept_grant(g.clone(), w.patient.manifest(), NOW)
            .unwrap_err(),
        Error::NotGranted
    );
    // Re-addressed to mallory: signature fails before any key is used.
    let mid = common::b64(mallory.vault_id());
    let readdressed = edit_grant(&g, |v| v["grantee"] = mid.into());
    assert_eq!(
        mallory
            .accept_grant(readdressed, w.patient.manifest(), NOW)
            .unwrap_err(),
        Error::ManifestInvalid
    );
}

/// A grant verified against a manifest that is not the grantor's (a server
/// substituting its own vault for the patient's) fails; a manifest of
/// another vault with the same id is not the same fingerprint.
#[test]
fn grant_checked_against_the_wrong_grantor_fails() {
    let mut w = world();
    let g = grant_records(&mut w, &["rec-1"], NOW + DAY);
    let other = vault(b"server-made", 5);
    assert_eq!(
        w.clinician
            .accept_grant(g, other.manifest(), NOW)
            .unwrap_err(),
        Error::ManifestInvalid
    );
}

/// Time: an expired grant opens nothing, whether accepted after its expiry
/// or used after it; the grantor's vault makes no slot for it either.
#[test]
fn expired_grant_opens_nothing() {
    let mut w = world();
    let g = grant_records(&mut w, &["rec-1"], NOW + DAY);
    let (id, sealed) = w.records[0].clone();
    let slot = w.patient.grant_slot(&g, &sealed, &ctx(&id), NOW).unwrap();
    let received = w
        .clinician
        .accept_grant(g.clone(), w.patient.manifest(), NOW)
        .unwrap();
    assert!(received.open_record(&slot, &sealed, &ctx(&id), NOW).is_ok());
    let later = NOW + DAY;
    assert_eq!(
        received
            .open_record(&slot, &sealed, &ctx(&id), later)
            .unwrap_err(),
        Error::GrantExpired { expires: later }
    );
    assert_eq!(
        w.clinician
            .accept_grant(g.clone(), w.patient.manifest(), later)
            .unwrap_err(),
        Error::GrantExpired { expires: later }
    );
    assert_eq!(
        w.patient
            .grant_slot(&g, &sealed, &ctx(&id), later)
            .unwrap_err(),
        Error::GrantExpired { expires: later }
    );
}

/// A label scope reaches records added after the grant; after revocation
/// no device of the patient makes a slot for it, not even one that reads
/// the revoking manifest from the server (another device).
#[test]
fn label_scope_reaches_new_records_until_revoked() {
    let mut w = world();
    let g = w
        .patient
        .grant(GrantRequest {
            grantee: w.clinician.manifest(),
            scope: GrantScope::Label("allergies".into()),
            created: NOW,
            expires: NOW + 30 * DAY,
        })
        .unwrap()
        .grant;
    let received = w
        .clinician
        .accept_grant(g.clone(), w.patient.manifest(), NOW)
        .unwrap();
    // Another device of the patient, following the manifest.
    let mut phone = unlock(w.patient.manifest(), b"patient", 1).unwrap();
    let later = w.patient.seal(b"peanuts", &ctx("allergy-9")).unwrap();
    let slot = phone
        .grant_slot(&g, &later, &ctx("allergy-9"), NOW + 1)
        .unwrap();
    assert_eq!(
        received
            .open_record(&slot, &later, &ctx("allergy-9"), NOW + 1)
            .unwrap()
            .data,
        b"peanuts"
    );
    let listed: Vec<_> = w
        .patient
        .manifest()
        .shares()
        .map(|s| s.id.to_vec())
        .collect();
    assert_eq!(listed, vec![g.id.to_vec()]);
    assert_eq!(
        w.patient.manifest().shares().next().unwrap().digest,
        g.digest()
    );
    w.patient.revoke_share(&g.id).unwrap();
    assert_eq!(w.patient.manifest().shares().count(), 0);
    phone.update_manifest(w.patient.manifest()).unwrap();
    let after = w.patient.seal(b"latex", &ctx("allergy-10")).unwrap();
    for v in [&mut w.patient, &mut phone] {
        assert_eq!(
            v.grant_slot(&g, &after, &ctx("allergy-10"), NOW + 2)
                .unwrap_err(),
            Error::NotGranted
        );
    }
    assert_eq!(
        w.patient.revoke_share(&g.id).unwrap_err(),
        Error::NotGranted
    );
}

/// A grant survives a re-key on both sides: the patient re-keys and
/// re-wraps its records (slots stay valid: the data key is unchanged, and
/// the grant key moves to the new vault key); the clinician re-keys and
/// still opens a grant sealed to its old share key, until it retires that
/// epoch. A new grant then uses the clinician's new share key.
#[test]
fn grants_survive_rekeys() {
    let mut w = world();
    let g = w
        .patient
        .grant(GrantRequest {
            grantee: w.clinician.manifest(),
            scope: GrantScope::Label("labs".into()),
            created: NOW,
            expires: NOW + DAY,
        })
        .unwrap()
        .grant;
    let (id, sealed) = w.records[0].clone();
    let slot = w.patient.grant_slot(&g, &sealed, &ctx(&id), NOW).unwrap();
    w.patient.rekey().unwrap();
    let rewrapped = w.patient.rewrap(&sealed, &ctx(&id)).unwrap().unwrap();
    w.patient.retire_epochs().unwrap();
    // The grant key moved: new slots after the re-key.
    let slot2 = w
        .patient
        .grant_slot(&g, &rewrapped, &ctx(&id), NOW)
        .unwrap();
    let fp_before = Fingerprint::of(w.clinician.manifest()).unwrap();
    w.clinician.rekey().unwrap();
    assert_eq!(Fingerprint::of(w.clinician.manifest()).unwrap(), fp_before);
    // Verified against the patient's re-keyed manifest (older epoch's key).
    let received = w
        .clinician
        .accept_grant(g.clone(), w.patient.manifest(), NOW)
        .unwrap();
    for (s, rec) in [(&slot, &sealed), (&slot, &rewrapped), (&slot2, &rewrapped)] {
        assert!(received.open_record(s, rec, &ctx(&id), NOW).is_ok());
    }
    w.clinician.retire_epochs().unwrap();
    assert_eq!(
        w.clinician
            .accept_grant(g, w.patient.manifest(), NOW)
            .unwrap_err(),
        Error::NotGranted
    );
    let g2 = grant_records(&mut w, &[&id], NOW + DAY);
    assert_eq!(g2.grantee_epoch, 2);
    assert!(w
        .clinician
        .accept_grant(g2, w.patient.manifest(), NOW)
        .is_ok());
}

/// Fingerprints: stable through the vault's life, different for another
/// vault, and refused for a manifest whose signatures fail.
#[test]
fn fingerprints_name_one_vault() {
    let w = world();
    let a = Fingerprint::of(w.patient.manifest()).unwrap();
    let b = Fingerprint::of(w.clinician.manifest()).unwrap();
    assert_ne!(a, b);
    assert_eq!(a.digits().len(), 47);
    assert!(a.qr_payload().starts_with("medseal-fingerprint:1:"));
    let key = common::b64(w.clinician.manifest().share_key().unwrap());
    let forged = common::tamper(w.patient.manifest(), |v| v["shareKey"] = key.into());
    assert!(Fingerprint::of(&forged).is_err());
}

/// The share key and the share list are signed: a server that swaps the
/// share key (to read grants sealed to it) or drops a grant from the list
/// (to hide it from the patient's devices) breaks the manifest signature.
#[test]
fn share_key_and_share_list_are_signed() {
    let mut w = world();
    grant_records(&mut w, &["rec-1"], NOW + DAY);
    let other = vault(b"server-key", 6);
    let key = common::b64(other.manifest().share_key().unwrap());
    let swapped = common::tamper(w.patient.manifest(), |v| v["shareKey"] = key.into());
    assert_eq!(
        swapped.verify_self_signature().unwrap_err(),
        Error::ManifestInvalid
    );
    let dropped = common::tamper(w.patient.manifest(), |v| {
        v["shares"] = serde_json::json!([]);
    });
    assert_eq!(
        dropped.verify_self_signature().unwrap_err(),
        Error::ManifestInvalid
    );
    // A grant to a vault whose manifest has no share key (written before
    // format 3) is refused with a message, not sealed to nothing.
    let v2 = common::tamper(w.clinician.manifest(), |v| {
        v["version"] = 2.into();
        v.as_object_mut().unwrap().remove("shareKey");
        v.as_object_mut().unwrap().remove("shares");
    });
    let err = w
        .patient
        .grant(GrantRequest {
            grantee: &v2,
            scope: GrantScope::Records(vec!["rec-1".into()]),
            created: NOW,
            expires: NOW + DAY,
        })
        .unwrap_err();
    assert_eq!(
        err,
        Error::ManifestInvalid,
        "a re-labelled manifest fails its signature"
    );
}

/// Grant JSON that is not a grant is refused with a typed error, never a
/// panic.
#[test]
fn grant_parser_refuses_garbage() {
    let mut w = world();
    let g = grant_records(&mut w, &["rec-1"], NOW + DAY);
    let good: Value = serde_json::from_str(&g.to_json()).unwrap();
    let mut cases: Vec<String> = vec![
        "".into(),
        "[]".into(),
        "null".into(),
        "{\"medseal\":\"grant\"}".into(),
        "{\"medseal\":\"grant\",\"version\":2}".into(),
    ];
    for k in good.as_object().unwrap().keys() {
        let mut v = good.clone();
        v.as_object_mut().unwrap().remove(k);
        cases.push(v.to_string());
        let mut v = good.clone();
        v[k] = Value::Null;
        cases.push(v.to_string());
    }
    let mut extra = good.clone();
    extra["extra"] = 1.into();
    cases.push(extra.to_string());
    let mut empty = good.clone();
    empty["scope"] = serde_json::json!({"records": []});
    cases.push(empty.to_string());
    let mut both = good.clone();
    both["scope"] = serde_json::json!({"records": ["a"], "label": "b"});
    cases.push(both.to_string());
    // A repeated key (serde_json would keep the last): refused, at any depth.
    let text = g.to_json();
    cases.push(text.replacen(
        "\"scope\":",
        "\"scope\":{\"records\":[\"evil\"]},\"scope\":",
        1,
    ));
    cases.push(text.replacen("{\"records\":", "{\"records\":[\"a\"],\"records\":", 1));
    let mut backwards = good.clone();
    backwards["expires"] = (NOW - 1).into();
    cases.push(backwards.to_string());
    for c in &cases {
        let e = Grant::from_json(c).unwrap_err();
        assert!(
            matches!(e, Error::Malformed(_) | Error::UnknownVersion { .. }),
            "{c}: {e:?}"
        );
    }
    assert_eq!(
        Grant::from_json(&"x".repeat(1_000_000)).unwrap_err(),
        Error::TooLarge
    );
}

/// The manifest lists no record ids or grantee ids: a grantee that reads
/// the grantor's manifest (it must, to verify) learns the number of active
/// grants and links, their expiries and scope labels, nothing about who.
#[test]
fn manifest_does_not_name_grantees() {
    let mut w = world();
    grant_records(&mut w, &["rec-1"], NOW + DAY);
    let json = w.patient.manifest().to_json();
    let clinician_id = common::b64(w.clinician.vault_id());
    assert!(!json.contains(&clinician_id));
    assert!(!json.contains("rec-1"));
    let m = Manifest::from_json(&json).unwrap();
    assert_eq!(m.shares().count(), 1);
}

/// A server substitutes its own vault for the clinician's when the patient
/// looks the clinician up: the pin from first use refuses it (`KeyChanged`),
/// and an older manifest of the right vault (a replayed, older share key) is
/// `StaleManifest`. A re-key of the real clinician passes.
#[test]
fn substituted_grantee_key_is_caught_by_the_pin() {
    use medseal::Pin;
    let mut w = world();
    let first = w.clinician.manifest().clone();
    let pin = Pin::check(&first, None).unwrap();
    let pin = Pin::from_json(&pin.to_json()).unwrap();
    let impostor = vault(b"impostor", 7);
    match Pin::check(impostor.manifest(), Some(&pin)).unwrap_err() {
        Error::KeyChanged { pinned, offered } => {
            assert_eq!(pinned, Fingerprint::of(&first).unwrap().digest);
            assert_eq!(
                offered,
                Fingerprint::of(impostor.manifest()).unwrap().digest
            );
        }
        e => panic!("{e:?}"),
    }
    w.clinician.rekey().unwrap();
    let pin2 = Pin::check(w.clinician.manifest(), Some(&pin)).unwrap();
    assert_eq!(
        Pin::check(&first, Some(&pin2)).unwrap_err(),
        Error::StaleManifest {
            seen: 2,
            offered: 1
        }
    );
    // A grant document for another vault's grant is not this vault's slot
    // to make: the digest in the manifest binds scope and grantee.
    let g = grant_records(&mut w, &["rec-1"], NOW + DAY);
    let wider = edit_grant(&g, |v| v["scope"] = serde_json::json!({"label": "all"}));
    let (id, sealed) = w.records[1].clone();
    assert_eq!(
        w.patient
            .grant_slot(&wider, &sealed, &ctx(&id), NOW)
            .unwrap_err(),
        Error::NotGranted
    );
}

/// A SMART Health Link made by a vault: listed in its manifest (digest
/// binding link id, expiry, flags, label), its file opens with the
/// `shlink:/` text alone and with nothing else (another link's key, an
/// edited file), and after revocation the vault encrypts no more files to
/// it and cannot rebuild it.
#[test]
fn links_are_listed_open_with_their_payload_and_end_with_revocation() {
    use medseal::link::{link_digest, open_link_file, LinkRequest};
    let mut w = world();
    let link = w
        .patient
        .create_link(LinkRequest {
            base_url: "https://phr.example/shl/",
            label: Some("Allergies for the ER".into()),
            expires: NOW + DAY,
            passcode: true,
        })
        .unwrap();
    assert_eq!(link.link_id.len(), 43);
    assert_eq!(link.flag, "P");
    let listed = w.patient.manifest().shares().next().unwrap();
    assert!(listed.link);
    assert_eq!(
        listed.digest,
        link_digest(&link.link_id, NOW + DAY, "P", Some("Allergies for the ER"))
    );
    let p = medseal::shl::parse_shlink(&link.shlink).unwrap();
    assert_eq!(p.url, format!("https://phr.example/shl/{}", link.link_id));
    assert_eq!((p.exp, p.flag.as_str()), (Some(NOW + DAY), "P"));
    let bundle = br#"{"resourceType":"Bundle","type":"collection","entry":[]}"#;
    let jwe = w
        .patient
        .seal_link_file(&link.share_id, "application/fhir+json", bundle, NOW)
        .unwrap();
    let f = open_link_file(&link.shlink, &jwe).unwrap();
    assert_eq!(&f.data[..], bundle);
    assert_eq!(f.content_type.as_deref(), Some("application/fhir+json"));
    // Rebuilt on another device, the same link.
    let phone = unlock(w.patient.manifest(), b"patient", 1).unwrap();
    assert_eq!(
        phone
            .link_payload(
                &link.share_id,
                "https://phr.example/shl/",
                Some("Allergies for the ER"),
                true
            )
            .unwrap(),
        link.shlink
    );
    // Another link's key does not open it; nor does an edited file.
    let other = w
        .patient
        .create_link(LinkRequest {
            base_url: "https://phr.example/shl/",
            label: None,
            expires: NOW + DAY,
            passcode: false,
        })
        .unwrap();
    assert_eq!(
        open_link_file(&other.shlink, &jwe).unwrap_err(),
        Error::DecryptionFailed
    );
    let mut bad = jwe.clone().into_bytes();
    let n = bad.len() - 30;
    bad[n] = if bad[n] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        open_link_file(&link.shlink, &String::from_utf8(bad).unwrap()).unwrap_err(),
        Error::DecryptionFailed
    );
    w.patient.revoke_share(&link.share_id).unwrap();
    assert_eq!(
        w.patient
            .seal_link_file(&link.share_id, "application/fhir+json", bundle, NOW)
            .unwrap_err(),
        Error::NotGranted
    );
    assert_eq!(
        w.patient
            .link_payload(&link.share_id, "https://phr.example/shl/", None, true)
            .unwrap_err(),
        Error::NotGranted
    );
    assert_eq!(
        w.patient
            .seal_link_file(&other.share_id, "application/fhir+json", bundle, NOW + DAY)
            .unwrap_err(),
        Error::GrantExpired { expires: NOW + DAY }
    );
}
