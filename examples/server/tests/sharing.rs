//! Sharing through the server (medseal format 3): grants, slots, the
//! grantee's reads, expiry and revocation by manifest. Users sign up through
//! the real `signup/*` routes (webauthn-rs verifying a software
//! authenticator's registration), vaults, grants and slots are made and
//! opened with the medseal core, over a real SQLite file.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::time::Duration;

use common::authenticator::{sha256, SignedUp};
use common::http::Resp;
use common::{assert_json_error, TestServer};
use medseal::{Error, Fingerprint, Grant, GrantRequest, GrantScope, Manifest, RecordContext};
use medseal_server::db::{self, Db};
use serde_json::{json, Value};

/// In every plaintext the tests seal: it must appear in no request body and
/// nowhere in the database files.
const MARKER: &str = "PLAINTEXT-MARKER-penicillin-3f9a";
const DAY: u64 = 86_400;

fn now() -> u64 {
    u64::try_from(db::now()).unwrap()
}

fn plaintext(id: &str) -> Vec<u8> {
    format!("{MARKER} of {id}").into_bytes()
}

/// A patient with four records (`rec-1` to `rec-4`) and a clinician, both
/// signed up through the API.
struct World {
    s: TestServer,
    patient: SignedUp,
    clinician: SignedUp,
}

async fn world() -> World {
    let s = TestServer::start().await;
    let mut patient = s.sign_up("patient").await;
    let clinician = s.sign_up("clinician").await;
    for i in 1..=4 {
        put_record(&s, &mut patient, &format!("rec-{i}")).await;
    }
    World {
        s,
        patient,
        clinician,
    }
}

/// Seals `plaintext(id)` with the user's vault and stores it.
async fn put_record(s: &TestServer, u: &mut SignedUp, id: &str) {
    let sealed = common::sealed(&mut u.vault, id, &plaintext(id));
    let body = json!({ "sealed": sealed }).to_string();
    let r = s
        .req(
            "PUT",
            &format!("/api/records/{id}"),
            Some(&u.token),
            Some(&body),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// The stored sealed record `id` of the user, as bytes.
async fn stored_record(s: &TestServer, u: &SignedUp, id: &str) -> Vec<u8> {
    let r = s
        .req("GET", &format!("/api/records/{id}"), Some(&u.token), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    medseal::record::from_text(r.json()["sealed"].as_str().unwrap()).unwrap()
}

/// Stores the user's vault manifest in place of the stored one.
async fn store_manifest(s: &TestServer, u: &SignedUp) -> Resp {
    let r = s.req("GET", "/api/manifest", Some(&u.token), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let replaces = r.json()["revision"].as_u64().unwrap();
    s.put_manifest(&u.token, replaces, u.vault.manifest()).await
}

/// The grantee's manifest as the server relays it (`GET /api/people/{name}`),
/// checked against the fingerprint the patient would compare in person.
async fn person(s: &TestServer, asker: &SignedUp, who: &SignedUp) -> Manifest {
    let r = s
        .req(
            "GET",
            &format!("/api/people/{}", who.name),
            Some(&asker.token),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["username"], who.name.as_str());
    let m = Manifest::from_json(&j["manifest"].to_string()).unwrap();
    assert_eq!(
        Fingerprint::of(&m).unwrap(),
        Fingerprint::of(who.vault.manifest()).unwrap()
    );
    m
}

/// The patient grants `scope` to the clinician until `expires` and stores
/// the manifest that lists the grant.
async fn grant(w: &mut World, scope: GrantScope, expires: u64) -> Grant {
    let grantee = person(&w.s, &w.patient, &w.clinician).await;
    let g = w
        .patient
        .vault
        .grant(GrantRequest {
            grantee: &grantee,
            scope,
            created: now(),
            expires,
        })
        .unwrap()
        .grant;
    let r = store_manifest(&w.s, &w.patient).await;
    assert_eq!(r.status, 200, "{}", r.text());
    g
}

fn records(ids: &[&str]) -> GrantScope {
    GrantScope::Records(ids.iter().map(|s| s.to_string()).collect())
}

/// Slots of `g` for the patient's stored records `ids`, made by its vault.
async fn slots(w: &mut World, g: &Grant, ids: &[&str]) -> Vec<Value> {
    let mut out = Vec::new();
    for id in ids {
        let sealed = stored_record(&w.s, &w.patient, id).await;
        let slot = w
            .patient
            .vault
            .grant_slot(g, &sealed, &RecordContext::new(id.as_bytes()), now())
            .unwrap();
        assert_eq!(slot.len(), 60);
        out.push(json!({ "recordId": id, "slot": medseal::base64url(&slot) }));
    }
    out
}

async fn post_grant(s: &TestServer, u: &SignedUp, grant: &str, slots: &[Value]) -> Resp {
    let body = json!({ "grant": grant, "slots": slots }).to_string();
    s.req("POST", "/api/grants", Some(&u.token), Some(&body))
        .await
}

async fn post_slots(s: &TestServer, u: &SignedUp, id: &str, slots: &[Value]) -> Resp {
    let body = json!({ "slots": slots }).to_string();
    s.req(
        "POST",
        &format!("/api/grants/{id}/slots"),
        Some(&u.token),
        Some(&body),
    )
    .await
}

async fn get(s: &TestServer, u: &SignedUp, path: &str) -> Resp {
    s.req("GET", path, Some(&u.token), None).await
}

/// The grant `id` as the grantee reads it: the grant accepted by its vault
/// (signature against the relayed grantor manifest, expiry) and every
/// record opened with its slot, by record id.
async fn open_shared(s: &TestServer, grantee: &SignedUp, id: &str) -> Vec<(String, Vec<u8>)> {
    let r = get(s, grantee, &format!("/api/shared/{id}")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["next"], Value::Null);
    let g = Grant::from_json(j["grant"].as_str().unwrap()).unwrap();
    let grantor = Manifest::from_json(&j["grantorManifest"].to_string()).unwrap();
    let received = grantee.vault.accept_grant(g, &grantor, now()).unwrap();
    j["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|it| {
            let rid = it["recordId"].as_str().unwrap().to_string();
            let slot = medseal::base64url_decode(it["slot"].as_str().unwrap()).unwrap();
            let sealed = medseal::record::from_text(it["sealed"].as_str().unwrap()).unwrap();
            let opened = received
                .open_record(&slot, &sealed, &RecordContext::new(rid.as_bytes()), now())
                .unwrap();
            (rid, opened.data)
        })
        .collect()
}

fn count(db: &Db, sql: &str, id: &str) -> i64 {
    db.read_blocking(|c| c.query_row(sql, [id], |r| r.get(0)))
        .unwrap()
}

fn grant_rows(db: &Db, id: &str) -> (i64, i64) {
    (
        count(db, "SELECT COUNT(*) FROM grants WHERE id = ?1", id),
        count(
            db,
            "SELECT COUNT(*) FROM grant_slots WHERE grant_id = ?1",
            id,
        ),
    )
}

/// No request body carried the marker (the bodies are JSON of manifests,
/// credentials, sealed records, grants and slots only), and no database
/// file holds it.
fn assert_no_plaintext_left(s: &TestServer) {
    let allowed = [
        "username",
        "flow",
        "credential",
        "manifest",
        "replaces",
        "sealed",
        "grant",
        "slots",
    ];
    let sent = s.sent.lock().unwrap().clone();
    assert!(!sent.is_empty());
    for body in &sent {
        assert!(!body.contains(MARKER), "a request body carries plaintext");
        let v: Value = serde_json::from_str(body).expect("JSON bodies only");
        for k in v.as_object().unwrap().keys() {
            assert!(allowed.contains(&k.as_str()), "unexpected field {k}");
        }
    }
    let mut bytes = 0;
    for e in std::fs::read_dir(s.dir.path()).unwrap() {
        let data = std::fs::read(e.unwrap().path()).unwrap();
        bytes += data.len();
        assert!(
            !data.windows(MARKER.len()).any(|w| w == MARKER.as_bytes()),
            "a database file holds plaintext"
        );
    }
    assert!(bytes > 0);
}

#[test]
fn the_test_sha256_is_sha256() {
    let hex = |b: [u8; 32]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert_eq!(
        hex(sha256(b"")),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        hex(sha256(b"abc")),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        hex(sha256(&[b'a'; 1000])),
        "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"
    );
}

/// The patient grants 2 of 4 records: the clinician reads exactly those
/// two and opens them with the core; a third user, and the grantor, get 404
/// for the grant; the grantor lists it and can delete it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grantee_reads_and_opens_exactly_the_granted_records() {
    let mut w = world().await;
    let mallory = w.s.sign_up("mallory").await;
    let g = grant(&mut w, records(&["rec-1", "rec-3"]), now() + DAY).await;
    let id = medseal::base64url(&g.id);
    let sl = slots(&mut w, &g, &["rec-1", "rec-3"]).await;
    let r = post_grant(&w.s, &w.patient, &g.to_json(), &sl).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["id"], id.as_str());
    // The same grant again.
    assert_json_error(
        &post_grant(&w.s, &w.patient, &g.to_json(), &sl).await,
        409,
        "grant_exists",
    );

    // The grantor's list.
    let j = get(&w.s, &w.patient, "/api/grants").await.json();
    let list = j["grants"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{j}");
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["grantee"], "clinician");
    assert_eq!(list[0]["slots"], 2);
    assert_eq!(list[0]["expires"], g.expires);
    assert_eq!(
        Grant::from_json(list[0]["grant"].as_str().unwrap()).unwrap(),
        g
    );

    // The grantee's list, and the records.
    let j = get(&w.s, &w.clinician, "/api/shared").await.json();
    let list = j["grants"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{j}");
    assert_eq!(list[0]["grantor"], "patient");
    assert_eq!(list[0]["records"], 2);
    assert_eq!(
        Manifest::from_json(&list[0]["grantorManifest"].to_string())
            .unwrap()
            .vault_id(),
        w.patient.vault.vault_id()
    );
    let opened = open_shared(&w.s, &w.clinician, &id).await;
    assert_eq!(
        opened,
        vec![
            ("rec-1".to_string(), plaintext("rec-1")),
            ("rec-3".to_string(), plaintext("rec-3")),
        ]
    );

    // Paged: one record a page.
    let r = get(&w.s, &w.clinician, &format!("/api/shared/{id}?limit=1")).await;
    let j = r.json();
    assert_eq!(j["items"].as_array().unwrap().len(), 1, "{j}");
    assert_eq!(j["items"][0]["recordId"], "rec-1");
    let next = j["next"].as_str().unwrap().to_string();
    let j = get(
        &w.s,
        &w.clinician,
        &format!("/api/shared/{id}?limit=1&after={next}"),
    )
    .await
    .json();
    assert_eq!(j["items"][0]["recordId"], "rec-3");
    assert_eq!(j["next"], Value::Null);
    assert_json_error(
        &get(&w.s, &w.clinician, &format!("/api/shared/{id}?after=zz!")).await,
        400,
        "bad_request",
    );

    // Anyone but the grantee: 404, the grantor too; nothing in their lists.
    for who in [&mallory, &w.patient] {
        assert_json_error(
            &get(&w.s, who, &format!("/api/shared/{id}")).await,
            404,
            "not_found",
        );
        let j = get(&w.s, who, "/api/shared").await.json();
        assert_eq!(j["grants"], json!([]));
    }
    assert_eq!(
        get(&w.s, &mallory, "/api/grants").await.json()["grants"],
        json!([])
    );
    // Nor can anyone else add slots or delete it.
    let more = slots(&mut w, &g, &["rec-1"]).await;
    assert_json_error(
        &post_slots(&w.s, &mallory, &id, &more).await,
        404,
        "not_found",
    );
    for who in [&mallory, &w.clinician] {
        let r =
            w.s.req(
                "DELETE",
                &format!("/api/grants/{id}"),
                Some(&who.token),
                None,
            )
            .await;
        assert_json_error(&r, 404, "not_found");
    }

    // A record the patient deletes leaves the grant (and its slot goes).
    let r =
        w.s.req("DELETE", "/api/records/rec-3", Some(&w.patient.token), None)
            .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(grant_rows(w.s.db(), &id), (1, 1));
    let opened = open_shared(&w.s, &w.clinician, &id).await;
    assert_eq!(opened, vec![("rec-1".to_string(), plaintext("rec-1"))]);

    // The grantor deletes it from the server.
    let r =
        w.s.req(
            "DELETE",
            &format!("/api/grants/{id}"),
            Some(&w.patient.token),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(grant_rows(w.s.db(), &id), (0, 0));
    assert_json_error(
        &get(&w.s, &w.clinician, &format!("/api/shared/{id}")).await,
        404,
        "not_found",
    );
    assert_no_plaintext_left(&w.s);
}

/// A grant expiring in 2 to 3 s: once past, the server answers 410 and lists it
/// no more, and the core refuses it too (`GrantExpired`); no slot is added
/// to it, and a grant posted already expired is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_grant_is_410_on_the_server_and_refused_by_the_core() {
    let mut w = world().await;
    let g = grant(&mut w, records(&["rec-1", "rec-2"]), now() + 3).await;
    let id = medseal::base64url(&g.id);
    let sl = slots(&mut w, &g, &["rec-1"]).await;
    let late_slot = slots(&mut w, &g, &["rec-2"]).await;
    let r = post_grant(&w.s, &w.patient, &g.to_json(), &sl).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let grantor = person(&w.s, &w.clinician, &w.patient).await;
    let received = w
        .clinician
        .vault
        .accept_grant(g.clone(), &grantor, now())
        .unwrap();
    assert_eq!(open_shared(&w.s, &w.clinician, &id).await.len(), 1);
    while now() < g.expires {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert_json_error(
        &get(&w.s, &w.clinician, &format!("/api/shared/{id}")).await,
        410,
        "grant_expired",
    );
    assert_eq!(
        get(&w.s, &w.clinician, "/api/shared").await.json()["grants"],
        json!([])
    );
    // The grantor still lists it (until its manifest drops it).
    assert_eq!(
        get(&w.s, &w.patient, "/api/grants").await.json()["grants"][0]["id"],
        id.as_str()
    );
    assert_json_error(
        &post_slots(&w.s, &w.patient, &id, &late_slot).await,
        400,
        "grant_expired",
    );
    // The core: neither accepting nor opening after expiry.
    assert!(matches!(
        w.clinician.vault.accept_grant(g.clone(), &grantor, now()),
        Err(Error::GrantExpired { .. })
    ));
    let sealed = stored_record(&w.s, &w.patient, "rec-1").await;
    let slot = medseal::base64url_decode(sl[0]["slot"].as_str().unwrap()).unwrap();
    assert!(matches!(
        received.open_record(&slot, &sealed, &RecordContext::new(b"rec-1"), now()),
        Err(Error::GrantExpired { .. })
    ));

    // A grant that had expired before it was posted.
    let grantee = person(&w.s, &w.patient, &w.clinician).await;
    let old = w
        .patient
        .vault
        .grant(GrantRequest {
            grantee: &grantee,
            scope: records(&["rec-1"]),
            created: now() - 100,
            expires: now() - 10,
        })
        .unwrap()
        .grant;
    assert_eq!(store_manifest(&w.s, &w.patient).await.status, 200);
    assert_json_error(
        &post_grant(&w.s, &w.patient, &old.to_json(), &[]).await,
        400,
        "grant_expired",
    );
    assert_no_plaintext_left(&w.s);
}

/// Revocation follows the signed manifest: the patient revokes one of two
/// grants in its vault and stores the manifest; that grant and its slots
/// are gone from the server in the same write (the other stays), the
/// clinician gets 404, and neither slots nor the grant are taken again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_without_the_grant_revokes_it_on_the_server() {
    let mut w = world().await;
    let g1 = grant(&mut w, records(&["rec-1", "rec-2"]), now() + DAY).await;
    let g2 = grant(&mut w, records(&["rec-4"]), now() + DAY).await;
    let (id1, id2) = (medseal::base64url(&g1.id), medseal::base64url(&g2.id));
    let sl1 = slots(&mut w, &g1, &["rec-1", "rec-2"]).await;
    let sl2 = slots(&mut w, &g2, &["rec-4"]).await;
    assert_eq!(
        post_grant(&w.s, &w.patient, &g1.to_json(), &sl1)
            .await
            .status,
        201
    );
    assert_eq!(
        post_grant(&w.s, &w.patient, &g2.to_json(), &sl2)
            .await
            .status,
        201
    );
    assert_eq!(grant_rows(w.s.db(), &id1), (1, 2));
    assert_eq!(open_shared(&w.s, &w.clinician, &id1).await.len(), 2);

    w.patient.vault.revoke_share(&g1.id).unwrap();
    let r = store_manifest(&w.s, &w.patient).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        grant_rows(w.s.db(), &id1),
        (0, 0),
        "revoked with the manifest"
    );
    assert_eq!(grant_rows(w.s.db(), &id2), (1, 1), "the other grant stays");
    assert_json_error(
        &get(&w.s, &w.clinician, &format!("/api/shared/{id1}")).await,
        404,
        "not_found",
    );
    let j = get(&w.s, &w.clinician, "/api/shared").await.json();
    assert_eq!(j["grants"].as_array().unwrap().len(), 1);
    assert_eq!(j["grants"][0]["id"], id2.as_str());
    // No slot for it, and it is not stored again: the manifest no longer lists it.
    assert_json_error(
        &post_slots(&w.s, &w.patient, &id1, &sl1).await,
        404,
        "not_found",
    );
    assert_json_error(
        &post_grant(&w.s, &w.patient, &g1.to_json(), &sl1).await,
        409,
        "not_in_manifest",
    );
    assert_eq!(open_shared(&w.s, &w.clinician, &id2).await.len(), 1);
    assert_no_plaintext_left(&w.s);
}

/// The other path that stores a manifest, `passkeys/finish`, swaps it with
/// the new passkey in one transaction (`db::replace_manifest_adding_passkey`,
/// called here directly: the core cannot add a passkey and drop a grant in
/// one revision, which the route would need): a manifest that no longer
/// lists a grant revokes it there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_stored_with_a_new_passkey_revokes_too() {
    let mut w = world().await;
    let g = grant(&mut w, records(&["rec-1"]), now() + DAY).await;
    let id = medseal::base64url(&g.id);
    let sl = slots(&mut w, &g, &["rec-1"]).await;
    assert_eq!(
        post_grant(&w.s, &w.patient, &g.to_json(), &sl).await.status,
        201
    );

    let replaces = w.patient.vault.manifest().revision() as i64;
    w.patient.vault.revoke_share(&g.id).unwrap();
    let (user_id, m) = (w.patient.id.clone(), w.patient.vault.manifest().clone());
    let text = m.to_json();
    let swap = db::ManifestSwap {
        user_id: &user_id,
        replaces,
        revision: m.revision() as i64,
        text: &text,
        revoke: None,
    };
    let stored =
        w.s.db()
            .write_blocking(|c| db::replace_manifest_adding_passkey(c, &swap, "new-cred", "{}"))
            .unwrap();
    assert_eq!(stored, db::Swap::Stored);
    assert_eq!(grant_rows(w.s.db(), &id), (0, 0));
    assert_json_error(
        &get(&w.s, &w.clinician, &format!("/api/shared/{id}")).await,
        404,
        "not_found",
    );
    // A stale swap stores nothing and revokes nothing.
    let g2 = grant(&mut w, records(&["rec-2"]), now() + DAY).await;
    let sl2 = slots(&mut w, &g2, &["rec-2"]).await;
    assert_eq!(
        post_grant(&w.s, &w.patient, &g2.to_json(), &sl2)
            .await
            .status,
        201
    );
    let stale =
        w.s.db()
            .write_blocking(|c| db::replace_manifest_adding_passkey(c, &swap, "other-cred", "{}"))
            .unwrap();
    assert_eq!(stale, db::Swap::Stale);
    assert_eq!(grant_rows(w.s.db(), &medseal::base64url(&g2.id)), (1, 1));
}

/// A label grant: the patient seals a record after granting, gives it a
/// slot with `POST /api/grants/{id}/slots`, and the clinician opens it.
/// After revocation the server takes no slot for the grant (nor does the
/// patient's vault make one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_label_grant_takes_slots_for_records_sealed_later_until_revoked() {
    let mut w = world().await;
    let g = grant(&mut w, GrantScope::Label("allergies".into()), now() + DAY).await;
    let id = medseal::base64url(&g.id);
    let sl = slots(&mut w, &g, &["rec-2"]).await;
    let r = post_grant(&w.s, &w.patient, &g.to_json(), &sl).await;
    assert_eq!(r.status, 201, "{}", r.text());

    put_record(&w.s, &mut w.patient, "rec-5").await;
    let later = slots(&mut w, &g, &["rec-5"]).await;
    let r = post_slots(&w.s, &w.patient, &id, &later).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["slots"], 2);
    // Replacing a slot keeps one per record.
    let r = post_slots(&w.s, &w.patient, &id, &later).await;
    assert_eq!(r.json()["slots"], 2, "{}", r.text());
    let opened = open_shared(&w.s, &w.clinician, &id).await;
    assert_eq!(
        opened,
        vec![
            ("rec-2".to_string(), plaintext("rec-2")),
            ("rec-5".to_string(), plaintext("rec-5")),
        ]
    );
    // A slot for a record the patient does not have.
    let ghost = json!([{ "recordId": "rec-9", "slot": medseal::base64url(&[1u8; 60]) }]);
    assert_json_error(
        &post_slots(&w.s, &w.patient, &id, ghost.as_array().unwrap()).await,
        404,
        "not_found",
    );

    w.patient.vault.revoke_share(&g.id).unwrap();
    assert_eq!(store_manifest(&w.s, &w.patient).await.status, 200);
    put_record(&w.s, &mut w.patient, "rec-6").await;
    let sealed = stored_record(&w.s, &w.patient, "rec-6").await;
    assert_eq!(
        w.patient
            .vault
            .grant_slot(&g, &sealed, &RecordContext::new(b"rec-6"), now())
            .unwrap_err(),
        Error::NotGranted
    );
    assert_json_error(
        &post_slots(&w.s, &w.patient, &id, &later).await,
        404,
        "not_found",
    );
    assert_eq!(grant_rows(w.s.db(), &id), (0, 0));
    assert_no_plaintext_left(&w.s);
}

/// Every check of `POST /api/grants`, each with its JSON error; none of
/// the refused requests stores anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_is_stored_only_if_every_check_passes() {
    let mut w = world().await;
    let g = grant(&mut w, records(&["rec-1", "rec-2"]), now() + DAY).await;
    let json_text = g.to_json();
    let sl = slots(&mut w, &g, &["rec-1"]).await;

    // Not a grant.
    assert_json_error(
        &post_grant(&w.s, &w.patient, "{}", &sl).await,
        400,
        "bad_grant",
    );
    // Someone else's grant: the clinician posts the patient's.
    assert_json_error(
        &post_grant(&w.s, &w.clinician, &json_text, &sl).await,
        403,
        "not_grantor",
    );
    // Edited after signing: the scope widened to rec-3.
    let mut v: Value = serde_json::from_str(&json_text).unwrap();
    v["scope"] = json!({ "records": ["rec-1", "rec-2", "rec-3"] });
    assert_json_error(
        &post_grant(&w.s, &w.patient, &v.to_string(), &sl).await,
        400,
        "bad_signature",
    );
    // A real grant whose manifest was never stored.
    let grantee = person(&w.s, &w.patient, &w.clinician).await;
    let unlisted = w
        .patient
        .vault
        .grant(GrantRequest {
            grantee: &grantee,
            scope: records(&["rec-1"]),
            created: now(),
            expires: now() + DAY,
        })
        .unwrap()
        .grant;
    let r = post_grant(&w.s, &w.patient, &unlisted.to_json(), &[]).await;
    assert_json_error(&r, 409, "not_in_manifest");
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("store the manifest that lists the grant first"));
    // Back in step with the server for what follows.
    assert_eq!(store_manifest(&w.s, &w.patient).await.status, 200);

    // A grantee vault that is not a user here.
    let (stranger, _, _) = common::new_vault();
    let to_stranger = w
        .patient
        .vault
        .grant(GrantRequest {
            grantee: stranger.manifest(),
            scope: records(&["rec-1"]),
            created: now(),
            expires: now() + DAY,
        })
        .unwrap()
        .grant;
    assert_eq!(store_manifest(&w.s, &w.patient).await.status, 200);
    assert_json_error(
        &post_grant(&w.s, &w.patient, &to_stranger.to_json(), &[]).await,
        404,
        "not_found",
    );

    // Slots: outside the scope, not a record id, not 60 bytes, not
    // base64url, twice, a record the patient lacks, too many.
    let outside = slots(&mut w, &g, &["rec-1"]).await;
    let mut outside = outside[0].clone();
    outside["recordId"] = json!("rec-3");
    let cases: Vec<(Value, u16, &str)> = vec![
        (outside, 403, "not_granted"),
        (
            json!({ "recordId": "..", "slot": sl[0]["slot"] }),
            400,
            "bad_request",
        ),
        (
            json!({ "recordId": "rec-2", "slot": medseal::base64url(&[0u8; 59]) }),
            400,
            "bad_slot",
        ),
        (
            json!({ "recordId": "rec-2", "slot": "not base64url!" }),
            400,
            "bad_slot",
        ),
    ];
    for (bad, status, code) in cases {
        let r = post_grant(&w.s, &w.patient, &json_text, &[sl[0].clone(), bad.clone()]).await;
        assert_json_error(&r, status, code);
    }
    let twice = [sl[0].clone(), sl[0].clone()];
    assert_json_error(
        &post_grant(&w.s, &w.patient, &json_text, &twice).await,
        400,
        "bad_request",
    );
    w.s.req("DELETE", "/api/records/rec-2", Some(&w.patient.token), None)
        .await;
    let missing = json!({ "recordId": "rec-2", "slot": medseal::base64url(&[0u8; 60]) });
    assert_json_error(
        &post_grant(&w.s, &w.patient, &json_text, &[sl[0].clone(), missing]).await,
        404,
        "not_found",
    );
    let many = vec![sl[0].clone(); 1001];
    assert_json_error(
        &post_grant(&w.s, &w.patient, &json_text, &many).await,
        400,
        "too_many_slots",
    );
    assert_eq!(grant_rows(w.s.db(), &medseal::base64url(&g.id)), (0, 0));
    assert_eq!(
        get(&w.s, &w.patient, "/api/grants").await.json()["grants"],
        json!([])
    );

    // And the good one.
    let r = post_grant(&w.s, &w.patient, &json_text, &sl).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_no_plaintext_left(&w.s);
}

/// `GET /api/people/{username}`, and every grant route without a session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_and_the_grant_routes_need_a_session() {
    let w = world().await;
    assert_json_error(
        &get(&w.s, &w.patient, "/api/people/nobody").await,
        404,
        "not_found",
    );
    assert_json_error(
        &get(&w.s, &w.patient, "/api/people/b%20d").await,
        400,
        "bad_request",
    );
    let id = medseal::base64url(&[0u8; 16]);
    for (method, path) in [
        ("GET", "/api/people/clinician".to_string()),
        ("GET", "/api/grants".to_string()),
        ("POST", "/api/grants".to_string()),
        ("POST", format!("/api/grants/{id}/slots")),
        ("DELETE", format!("/api/grants/{id}")),
        ("GET", "/api/shared".to_string()),
        ("GET", format!("/api/shared/{id}")),
    ] {
        let body = (method == "POST").then_some("{");
        let r = w.s.req(method, &path, None, body).await;
        assert_json_error(&r, 401, "unauthorized");
    }
    // Ids that are no grant's.
    for path in ["/api/grants/x", &format!("/api/grants/{id}")] {
        let r = w.s.req("DELETE", path, Some(&w.patient.token), None).await;
        assert_json_error(&r, 404, "not_found");
    }
}

/// A vault id belongs to one account. Through the db layer (where the
/// rule lives): an account made with another account's vault, or a
/// manifest store that would move a user onto it, is refused and stores
/// nothing; the index on `manifests.vault_id` is UNIQUE in a new database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_account_of_a_vault_is_refused_by_the_db_layer() {
    let w = world().await;
    let db = w.s.db();
    assert!(db.read_blocking(db::vault_index_is_unique).unwrap());
    let text = w.clinician.vault.manifest().to_json();
    let rev = w.clinician.vault.manifest().revision() as i64;
    let made = db
        .write_blocking(|c| db::create_user(c, "twin-id", "twin", "twin-cred", "{}", &text, rev))
        .unwrap();
    assert_eq!(made, db::UserWrite::VaultExists);
    assert_eq!(
        db.read_blocking(|c| db::user_by_name(c, "twin")).unwrap(),
        None
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM passkeys WHERE cred_id = ?1",
            "twin-cred"
        ),
        0
    );
    // The patient's row, swapped to the clinician's vault.
    let before = db
        .read_blocking(|c| db::manifest(c, &w.patient.id))
        .unwrap()
        .unwrap();
    let swap = db::ManifestSwap {
        user_id: &w.patient.id,
        replaces: before.0,
        revision: before.0 + 1,
        text: &text,
        revoke: None,
    };
    assert_eq!(
        db.write_blocking(|c| db::replace_manifest(c, &swap))
            .unwrap(),
        db::Swap::VaultExists
    );
    assert_eq!(
        db.write_blocking(|c| db::replace_manifest_adding_passkey(c, &swap, "twin-cred", "{}"))
            .unwrap(),
        db::Swap::VaultExists
    );
    assert_eq!(
        db.read_blocking(|c| db::manifest(c, &w.patient.id))
            .unwrap(),
        Some(before)
    );
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM passkeys WHERE cred_id = ?1",
            "twin-cred"
        ),
        0
    );
    let vault = medseal::base64url(w.clinician.vault.manifest().vault_id());
    let users = db
        .read_blocking(|c| db::users_of_vault(c, &vault, 2))
        .unwrap();
    assert_eq!(users, vec![w.clinician.id.clone()]);
}

/// The same through `signup/finish`: the clinician's own vault, with the
/// new account's passkey added to it (the one person, two accounts case,
/// a manifest the server's checks otherwise accept), is 409 `vault_exists`
/// and makes no account; the name stays free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_up_with_a_vault_another_account_holds_is_409() {
    let mut w = world().await;
    let body = json!({ "username": "twin" }).to_string();
    let r =
        w.s.req("POST", "/api/signup/start", None, Some(&body))
            .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let start = r.json();
    let (unlock, passkey) = common::new_passkey();
    w.clinician.vault.add_passkey(unlock).unwrap();
    let credential =
        common::authenticator::registration(&start["options"], &w.s.state.origin, &passkey.raw_id);
    let manifest: Value = serde_json::from_str(&w.clinician.vault.manifest().to_json()).unwrap();
    let body = json!({ "flow": start["flow"], "credential": credential, "manifest": manifest })
        .to_string();
    let r =
        w.s.req("POST", "/api/signup/finish", None, Some(&body))
            .await;
    assert_json_error(&r, 409, "vault_exists");
    assert!(r.header("set-cookie").is_none());
    assert_eq!(
        w.s.db()
            .read_blocking(|c| db::user_by_name(c, "twin"))
            .unwrap(),
        None
    );
    let body = json!({ "username": "twin" }).to_string();
    let r =
        w.s.req("POST", "/api/signup/start", None, Some(&body))
            .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // The clinician, who holds the vault, stores that manifest as ever.
    let r = store_manifest(&w.s, &w.clinician).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// Makes the database look like one from before vault ids were unique that
/// holds a second account ("twin") of the user's vault: a plain index, and
/// the twin's rows written directly.
fn add_old_twin(db: &Db, of: &str) {
    db.write_blocking(|c| {
        c.execute_batch(
            "DROP INDEX manifests_by_vault;
             CREATE INDEX manifests_by_vault ON manifests (vault_id);
             INSERT INTO users (id, username, created) VALUES ('twin-id', 'twin', 0);",
        )?;
        c.execute(
            "INSERT INTO manifests (user_id, revision, manifest, vault_id)
             SELECT 'twin-id', revision, manifest, vault_id FROM manifests WHERE user_id = ?1",
            [of],
        )
    })
    .unwrap();
}

/// A database from before the rule may hold two accounts of one vault: a
/// grant to that vault names no single user and is refused (409
/// `ambiguous_grantee`, the defensive check), while each account keeps
/// storing its own manifest (a user keeps the vault it holds: refusing
/// would block its revocations for good).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grantee_vault_held_by_two_accounts_of_an_old_database_is_refused() {
    let mut w = world().await;
    add_old_twin(w.s.db(), &w.clinician.id);
    assert!(!w.s.db().read_blocking(db::vault_index_is_unique).unwrap());
    let g = grant(&mut w, records(&["rec-1"]), now() + DAY).await;
    assert_json_error(
        &post_grant(&w.s, &w.patient, &g.to_json(), &[]).await,
        409,
        "ambiguous_grantee",
    );
    w.clinician.vault.rotate_recovery_code().unwrap();
    let r = store_manifest(&w.s, &w.clinician).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// Opening a database that holds two accounts of one vault does not fail:
/// the index on `manifests.vault_id` stays non-unique there (and new
/// duplicates are still refused); once the duplicate is gone, the next open
/// makes it UNIQUE.
#[test]
fn an_old_database_with_two_accounts_of_a_vault_opens_and_is_made_unique_later() {
    let dir = common::TempDir::new();
    let u = {
        let db = Db::open(dir.path(), 2).unwrap();
        let u = common::add_user(&db, "alice");
        add_old_twin(&db, &u.id);
        u
    };
    let db = Db::open(dir.path(), 2).unwrap();
    assert!(!db.read_blocking(db::vault_index_is_unique).unwrap());
    let text = u.vault.manifest().to_json();
    let rev = u.vault.manifest().revision() as i64;
    let made = db
        .write_blocking(|c| db::create_user(c, "third-id", "third", "third-cred", "{}", &text, rev))
        .unwrap();
    assert_eq!(made, db::UserWrite::VaultExists);
    let vault = medseal::base64url(u.vault.vault_id());
    assert_eq!(
        db.read_blocking(|c| db::users_of_vault(c, &vault, 3))
            .unwrap()
            .len(),
        2
    );
    db.write_blocking(|c| c.execute("DELETE FROM users WHERE id = 'twin-id'", []))
        .unwrap();
    drop(db);
    let db = Db::open(dir.path(), 2).unwrap();
    assert!(db.read_blocking(db::vault_index_is_unique).unwrap());
    assert_eq!(
        db.read_blocking(|c| db::users_of_vault(c, &vault, 3))
            .unwrap(),
        vec![u.id]
    );
}

/// A database made before grants existed gets `manifests.vault_id` filled
/// from the stored manifests when it is opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_without_vault_ids_gets_them_from_the_stored_manifests() {
    let dir = common::TempDir::new();
    let u = {
        let db = Db::open(dir.path(), 2).unwrap();
        let u = common::add_user(&db, "alice");
        db.write_blocking(|c| {
            c.execute_batch(
                "DROP INDEX manifests_by_vault; ALTER TABLE manifests DROP COLUMN vault_id",
            )
        })
        .unwrap();
        u
    };
    let db = Db::open(dir.path(), 2).unwrap();
    let vault = medseal::base64url(u.vault.vault_id());
    let users = db
        .read_blocking(|c| db::users_of_vault(c, &vault, 2))
        .unwrap();
    assert_eq!(users, vec![u.id]);
}
