//! Security review of sharing on the reference server. Every test here is
//! an attack that worked at 3a43a38 (as its comment says) and is refused
//! since the fixes that followed the review. Each
//! test's comment says the attack, its impact, and what in the test stands
//! in for a step this test crate cannot perform itself.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::authenticator::SignedUp;
use common::http::Resp;
use common::TestServer;
use medseal::link::{link_digest, open_link_file, LinkRequest};
use medseal::shl::{jwe_encrypt, parse_shlink, CONTENT_TYPE_FHIR_JSON};
use medseal::{GrantRequest, GrantScope, Manifest};
use medseal_server::db;
use serde_json::{json, Value};

const DAY: u64 = 86_400;

fn now() -> u64 {
    u64::try_from(db::now()).unwrap()
}

async fn server() -> TestServer {
    TestServer::start_with(
        |l| {
            l.shl_requests_burst = 10_000;
            l.shl_requests_per_minute = 10_000;
        },
        None,
    )
    .await
}

async fn store_manifest(s: &TestServer, u: &SignedUp) {
    let r = s.req("GET", "/api/manifest", Some(&u.token), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let replaces = r.json()["revision"].as_u64().unwrap();
    let r = s.put_manifest(&u.token, replaces, u.vault.manifest()).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// `POST /shl/{linkId}` as a receiver's viewer sends it.
async fn ask(s: &TestServer, link_id: &str) -> Resp {
    let body = json!({ "recipient": "City ER" }).to_string();
    s.req("POST", &format!("/shl/{link_id}"), None, Some(&body))
        .await
}

/// Replaces a user's stored manifest text in place (same revision).
fn overwrite_manifest(s: &TestServer, user_id: &str, text: &str) {
    s.db()
        .write_blocking(|c| {
            c.execute(
                "UPDATE manifests SET manifest = ?2 WHERE user_id = ?1",
                [user_id, text],
            )
        })
        .unwrap();
}

/// ATTACK (a revoked link id is taken over by a link holder): Alice makes a
/// SMART Health Link and gives it (QR code) to an ER and to Mallory. Alice
/// revokes it; the server deletes the row, and with it the only thing that
/// tied the link id to Alice. Mallory, who holds the `shlink:/` (so the link
/// key), lists a link with Alice's link id in her own manifest and posts
/// files she encrypted to Alice's key: the server stores them under Alice's
/// link id, and everyone who scans Alice's QR code gets Mallory's files,
/// which decrypt under the link's key. IMPACT: forged health records
/// (allergies, medications) shown as the patient's through the patient's
/// own printed link, after she revoked it (the viewer should say "revoked").
/// Stand-in: Mallory's client, which holds her identity key, signs a
/// manifest listing the link; this crate cannot sign, so the test writes
/// that manifest into her row directly (the server re-reads, never
/// re-verifies, the stored manifest when it checks a link against it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_link_id_is_taken_over_by_a_link_holder_who_serves_forged_files() {
    let s = server().await;
    let mut alice = s.sign_up("alice").await;
    let mallory = s.sign_up("mallory").await;
    let base = format!("{}/shl/", s.state.origin);
    let label = "Allergies for the ER";
    let expires = now() + DAY;
    let link = alice
        .vault
        .create_link(LinkRequest {
            base_url: &base,
            label: Some(label.into()),
            expires,
            passcode: false,
        })
        .unwrap();
    store_manifest(&s, &alice).await;
    let real = br#"{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"AllergyIntolerance","code":{"text":"penicillin"}}}]}"#;
    let jwe = alice
        .vault
        .seal_link_file(&link.share_id, CONTENT_TYPE_FHIR_JSON, real, now())
        .unwrap();
    let body = json!({
        "shareId": medseal::base64url(&link.share_id), "linkId": link.link_id, "label": label,
        "flag": "", "expires": expires, "files": [{ "contentType": CONTENT_TYPE_FHIR_JSON, "jwe": jwe }],
    });
    let r = s
        .req(
            "POST",
            "/api/links",
            Some(&alice.token),
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    // Alice revokes.
    alice.vault.revoke_share(&link.share_id).unwrap();
    store_manifest(&s, &alice).await;
    assert_eq!(ask(&s, &link.link_id).await.status, 404);

    // Mallory holds the shlink, hence the key.
    let key = *parse_shlink(&link.shlink).unwrap().key();
    let share_id = [0x4du8; 16];
    let mut m: Value = serde_json::from_str(&mallory.vault.manifest().to_json()).unwrap();
    m["shares"].as_array_mut().unwrap().push(json!({
        "id": medseal::base64url(&share_id), "kind": "link", "expires": expires,
        "digest": medseal::base64url(&link_digest(&link.link_id, expires, "", Some(label))),
        "key": medseal::base64url(&[7u8; 60]),
    }));
    Manifest::from_json(&m.to_string()).expect("a well-formed manifest");
    overwrite_manifest(&s, &mallory.id, &m.to_string());
    let forged = br#"{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"AllergyIntolerance","code":{"text":"no known allergies"}}}]}"#;
    let body = json!({
        "shareId": medseal::base64url(&share_id), "linkId": link.link_id, "label": label,
        "flag": "", "expires": expires,
        "files": [{ "contentType": CONTENT_TYPE_FHIR_JSON, "jwe": jwe_encrypt(&key, CONTENT_TYPE_FHIR_JSON, forged).unwrap() }],
    });
    let stored = s
        .req(
            "POST",
            "/api/links",
            Some(&mallory.token),
            Some(&body.to_string()),
        )
        .await;
    // The ER scans Alice's QR code again.
    let r = ask(&s, &link.link_id).await;
    let opened = (r.status == 200).then(|| {
        let f = open_link_file(
            &link.shlink,
            r.json()["files"][0]["embedded"].as_str().unwrap(),
        )
        .unwrap();
        String::from_utf8(f.data.to_vec()).unwrap()
    });
    assert_eq!(
        r.status, 404,
        "Alice's revoked link answers again (Mallory's POST: {}); the ER reads: {opened:?}",
        stored.status
    );
}

/// ATTACK (any user blocks every grant to a victim): grants name their
/// grantee by vault id, and the server routes a grant to the one account
/// whose stored manifest has that vault id, answering 409
/// `ambiguous_grantee` when there are two. Nothing stops a second account
/// with the clinician's (public) vault id: Mallory signs up with a vault
/// she made with that id (vault ids are random bytes the client picks; see
/// the core's `vault::deterministic::create_with_vault_id`, "what a forger
/// can do"). From then on no patient can share with the clinician on this
/// server. IMPACT: denial of service of sharing with any chosen person, by
/// any user, silently and for good. Stand-in: this crate cannot build a
/// vault with a chosen id, so Mallory's account is written through the db
/// layer with a manifest of that vault id (the server reads nothing else of
/// it here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_claiming_the_clinicians_vault_id_blocks_every_grant_to_the_clinician() {
    let s = server().await;
    let mut patient = s.sign_up("patient").await;
    let clinician = s.sign_up("clinician").await;
    let sealed = common::sealed(&mut patient.vault, "rec-1", b"lab");
    let r = s
        .req(
            "PUT",
            "/api/records/rec-1",
            Some(&patient.token),
            Some(&json!({ "sealed": sealed }).to_string()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Mallory's account, whose manifest claims the clinician's vault id.
    let text = clinician.vault.manifest().to_json();
    let (_, _, pk) = common::new_vault();
    let json = common::passkey_json(&pk.cred_id);
    let rev = clinician.vault.manifest().revision() as i64;
    s.db()
        .write_blocking(|c| {
            db::create_user(c, "mallory-id", "mallory", &pk.cred_id, &json, &text, rev)
        })
        .unwrap();
    // The patient shares with the real clinician, as in the demo.
    let g = patient
        .vault
        .grant(GrantRequest {
            grantee: clinician.vault.manifest(),
            scope: GrantScope::Records(vec!["rec-1".into()]),
            created: now(),
            expires: now() + DAY,
        })
        .unwrap()
        .grant;
    store_manifest(&s, &patient).await;
    let body = json!({ "grant": g.to_json(), "slots": [] }).to_string();
    let r = s
        .req("POST", "/api/grants", Some(&patient.token), Some(&body))
        .await;
    assert_eq!(
        r.status,
        201,
        "a grant to the clinician is refused: {}",
        r.text()
    );
}
