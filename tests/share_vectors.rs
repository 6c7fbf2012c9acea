//! Known-answer vectors for sharing (docs/FORMAT.md §15): grants with their
//! slots, and a SMART Health Link, in `tests/vectors/share/*.json`.
//!
//! Each file is what a second implementation needs: both vaults' manifests,
//! the grantee's PRF output (to unlock it), the grant, a sealed record, its
//! slot, the time to check at, and the expected result (`success` with the
//! plaintext, or an error code). The test checks each file, then rebuilds it
//! from its seeds with the seeded random source and requires the same bytes,
//! so the writer is pinned as well as the reader.
//! `MEDSEAL_WRITE_VECTORS=1 cargo test --test share_vectors` rewrites them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::PathBuf;

use medseal::link::{open_link_file, LinkRequest};
use medseal::vault::deterministic;
use medseal::{Error, Grant, GrantRequest, GrantScope, PrfOutput, RecordContext, Vault};
use serde_json::{json, Value};

const NOW: u64 = 1_780_000_000;
const DAY: u64 = 86_400;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/share")
}

/// A vault made from `seed`, with passkey `cred` whose PRF output is `prf(tag)`.
fn seeded(seed: &str, cred: &[u8], tag: u8) -> Vault {
    let salt = deterministic::prf_salt(format!("{seed}/salt").as_bytes());
    deterministic::create(
        seed.as_bytes(),
        common::passkey(cred, salt, common::prf(tag)),
    )
    .unwrap()
    .0
}

fn grant_vector(
    name: &str,
    comment: &str,
    scope: GrantScope,
    edit: Option<&dyn Fn(&mut Value)>,
    now: u64,
    record_id: &str,
    expect: &str,
) -> (String, Value) {
    let mut patient = seeded(&format!("{name}/patient"), b"patient", 1);
    let clinician = seeded(&format!("{name}/clinician"), b"clinician", 2);
    let sealed = patient
        .seal_as(
            medseal::ContentType::Json,
            br#"{"resourceType":"AllergyIntolerance","code":{"text":"penicillin"}}"#,
            &RecordContext::with_context(b"allergy-1", b"pat"),
        )
        .unwrap();
    deterministic::reseed(&mut patient, format!("{name}/grant").as_bytes());
    let grant = patient
        .grant(GrantRequest {
            grantee: clinician.manifest(),
            scope,
            created: NOW,
            expires: NOW + DAY,
        })
        .unwrap()
        .grant;
    let slot = patient
        .grant_slot(
            &grant,
            &sealed,
            &RecordContext::with_context(b"allergy-1", b"pat"),
            NOW,
        )
        .unwrap();
    let mut grant_json: Value = serde_json::from_str(&grant.to_json()).unwrap();
    if let Some(e) = edit {
        e(&mut grant_json);
    }
    let v = json!({
        "comment": comment,
        "grantor-manifest": patient.manifest().to_json(),
        "grantee-manifest": clinician.manifest().to_json(),
        "grantee-credential-id": hex::encode(b"clinician"),
        "grantee-prf-output": hex::encode(common::prf(2)),
        "grant": grant_json.to_string(),
        "record-id": record_id,
        "context": hex::encode(b"pat"),
        "sealed": medseal::record::to_text(&sealed),
        "slot": common::b64(&slot),
        "now": now,
        "expect": expect,
        "plaintext": r#"{"resourceType":"AllergyIntolerance","code":{"text":"penicillin"}}"#,
    });
    (format!("{name}.json"), v)
}

fn generate() -> Vec<(String, Value)> {
    let records = || GrantScope::Records(vec!["allergy-1".into(), "lab-7".into()]);
    let mut out = vec![
        grant_vector(
            "v3-grant-records",
            "A grant of two records (allergy-1, lab-7) from one vault to another, and the slot of allergy-1 (context \"pat\"). Proves: the whole grant path of FORMAT.md 15.4-15.5: verify the grant against the grantor's manifest, open its key with the grantee's share key (HPKE), unwrap the slot, open the record with that data key.",
            records(),
            None,
            NOW + 60,
            "allergy-1",
            "success",
        ),
        grant_vector(
            "v3-grant-label",
            "A grant of everything under the label \"allergies\", and a slot for allergy-1. Proves: a label scope (0x02 in the body) signs and opens the same way.",
            GrantScope::Label("allergies".into()),
            None,
            NOW + 60,
            "allergy-1",
            "success",
        ),
        grant_vector(
            "neg3-grant-expired",
            "v3-grant-records checked one second after it expired. Proves: expiry is enforced by the grantee (GrantExpired).",
            records(),
            None,
            NOW + DAY,
            "allergy-1",
            "GrantExpired",
        ),
        grant_vector(
            "neg3-grant-scope-edited",
            "v3-grant-records with its scope changed to a label after signing. Proves: the scope is signed (ManifestInvalid).",
            records(),
            Some(&|g: &mut Value| g["scope"] = json!({"label": "everything"})),
            NOW + 60,
            "allergy-1",
            "ManifestInvalid",
        ),
        grant_vector(
            "neg3-grant-other-record",
            "v3-grant-records, with allergy-1's slot used for the record id lab-7 (inside the scope). Proves: a slot opens only its own record id and context (NotGranted).",
            records(),
            None,
            NOW + 60,
            "lab-7",
            "NotGranted",
        ),
    ];
    // A SMART Health Link of the same kind of vault.
    let mut owner = seeded("v3-link/owner", b"owner", 3);
    let link = owner
        .create_link(LinkRequest {
            base_url: "https://phr.example/shl/",
            label: Some("For the ER".into()),
            expires: NOW + DAY,
            passcode: true,
        })
        .unwrap();
    let bundle = r#"{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"AllergyIntolerance","patient":{"display":"Me"},"code":{"text":"penicillin"}}}]}"#;
    let jwe = owner
        .seal_link_file(
            &link.share_id,
            "application/fhir+json",
            bundle.as_bytes(),
            NOW,
        )
        .unwrap();
    out.push((
        "v3-link.json".into(),
        json!({
            "comment": "A SMART Health Link (flag P) made by a vault: its manifest lists it (kind link, digest of link id, expiry, flag, label), its shlink carries the key, its one file is a JWE (alg dir, enc A256GCM) of a FHIR Bundle. Proves: FORMAT.md 15.8 and the HL7 payload and file rules.",
            "owner-manifest": owner.manifest().to_json(),
            "share-id": common::b64(&link.share_id),
            "link-id": link.link_id,
            "shlink": link.shlink,
            "jwe": jwe,
            "expect": "success",
            "plaintext": bundle,
        }),
    ));
    out
}

fn check(name: &str, v: &Value) {
    let s = |k: &str| v[k].as_str().unwrap_or_else(|| panic!("{name}: {k}"));
    if name.contains("link") {
        let f = open_link_file(s("shlink"), s("jwe")).unwrap();
        assert_eq!(&f.data[..], s("plaintext").as_bytes(), "{name}");
        let owner = medseal::Manifest::from_json(s("owner-manifest")).unwrap();
        let share = owner.shares().next().unwrap();
        let p = medseal::shl::parse_shlink(s("shlink")).unwrap();
        assert_eq!(
            share.digest,
            medseal::link::link_digest(s("link-id"), p.exp.unwrap(), &p.flag, p.label.as_deref()),
            "{name}"
        );
        return;
    }
    let grantor = medseal::Manifest::from_json(s("grantor-manifest")).unwrap();
    let grantee = medseal::Manifest::from_json(s("grantee-manifest")).unwrap();
    let vault = Vault::unlock_with_prf(
        &grantee,
        &hex::decode(s("grantee-credential-id")).unwrap(),
        PrfOutput::new(&hex::decode(s("grantee-prf-output")).unwrap()).unwrap(),
        0,
    )
    .unwrap();
    let now = v["now"].as_u64().unwrap();
    let context = hex::decode(s("context")).unwrap();
    let ctx = RecordContext::with_context(s("record-id").as_bytes(), &context);
    let sealed = medseal::record::from_text(s("sealed")).unwrap();
    let slot = common::unb64(&v["slot"]);
    let result: Result<Vec<u8>, Error> = Grant::from_json(s("grant"))
        .and_then(|g| vault.accept_grant(g, &grantor, now))
        .and_then(|r| r.open_record(&slot, &sealed, &ctx, now))
        .map(|r| r.data);
    match (s("expect"), result) {
        ("success", Ok(data)) => assert_eq!(data, s("plaintext").as_bytes(), "{name}"),
        (want, Err(e)) => assert_eq!(e.code(), want, "{name}"),
        (want, Ok(_)) => panic!("{name}: opened, expected {want}"),
    }
}

#[test]
fn share_vectors_open_as_expected_and_regenerate_identically() {
    let vectors = generate();
    for (name, v) in &vectors {
        let rendered = format!("{}\n", serde_json::to_string_pretty(v).unwrap());
        let on_disk = common::vector_on_disk(
            &dir().join(name),
            &rendered,
            "MEDSEAL_WRITE_VECTORS",
            "cargo test --test share_vectors",
        );
        check(name, &serde_json::from_str(&on_disk).unwrap());
        assert_eq!(
            on_disk, rendered,
            "{name}: the writer no longer produces the vector's bytes"
        );
    }
    let files = std::fs::read_dir(dir()).unwrap().count();
    assert_eq!(
        files,
        vectors.len(),
        "every file in tests/vectors/share is a known vector"
    );
}
