//! SMART Health Links through the server: a patient signed up through the
//! API makes a link with the medseal core (`Vault::create_link`, its
//! manifest stored, a FHIR Bundle sealed with `seal_link_file`), stores it
//! with `POST /api/links`, and a receiver with no session and no
//! `x-medseal` header asks for the manifest (`POST /shl/{linkId}`) the way
//! the HL7 spec says, and opens the files with `open_link_file`. Passcode
//! attempts, expiry, revocation by manifest, one-time locations, CORS,
//! every refusal of `POST /api/links`, and that the link's key reaches
//! neither a request nor the database.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::time::Duration;

use common::authenticator::SignedUp;
use common::http::{self, Resp};
use common::{assert_json_error, TestServer};
use medseal::link::{open_link_file, LinkRequest, NewLink};
use medseal::shl::{parse_shlink, CONTENT_TYPE_FHIR_JSON};
use medseal_server::db;
use serde_json::{json, Value};

const DAY: u64 = 86_400;
const PASSCODE: &str = "4711-open";
const LABEL: &str = "Allergies for the ER";
/// In every bundle the tests share.
const MARKER: &str = "LINK-PLAINTEXT-MARKER-peanut-7c1e";

fn now() -> u64 {
    u64::try_from(db::now()).unwrap()
}

fn bundle() -> Vec<u8> {
    json!({
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{ "resource": {
            "resourceType": "AllergyIntolerance",
            "code": { "text": MARKER },
        } }],
    })
    .to_string()
    .into_bytes()
}

/// A server whose per-address limit on manifest requests does not get in
/// the way (one test checks the limit itself).
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

/// Stores the user's vault manifest in place of the stored one.
async fn store_manifest(s: &TestServer, u: &SignedUp) {
    let r = s.req("GET", "/api/manifest", Some(&u.token), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let replaces = r.json()["revision"].as_u64().unwrap();
    let r = s.put_manifest(&u.token, replaces, u.vault.manifest()).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// A link made by the core (listed in the stored manifest) and its one
/// file, sealed to the link's key.
struct Made {
    link: NewLink,
    label: Option<String>,
    expires: u64,
    jwe: String,
}

impl Made {
    /// The `POST /api/links` body.
    fn body(&self, passcode: Option<&str>) -> Value {
        let mut b = json!({
            "shareId": medseal::base64url(&self.link.share_id),
            "linkId": self.link.link_id,
            "flag": self.link.flag,
            "expires": self.expires,
            "files": [{ "contentType": CONTENT_TYPE_FHIR_JSON, "jwe": self.jwe }],
        });
        if let Some(l) = &self.label {
            b["label"] = json!(l);
        }
        if let Some(p) = passcode {
            b["passcode"] = json!(p);
        }
        b
    }

    fn path(&self) -> String {
        format!("/shl/{}", self.link.link_id)
    }

    /// The link's key, as the `shlink:/` text carries it.
    fn key(&self) -> [u8; 32] {
        *parse_shlink(&self.link.shlink).unwrap().key()
    }
}

/// Makes a link with the core, stores the manifest that lists it and seals
/// the bundle to it (nothing sent to `/api/links` yet).
async fn make_link(s: &TestServer, u: &mut SignedUp, passcode: bool, expires: u64) -> Made {
    let base = format!("{}/shl/", s.state.origin);
    let link = u
        .vault
        .create_link(LinkRequest {
            base_url: &base,
            label: Some(LABEL.to_string()),
            expires,
            passcode,
        })
        .unwrap();
    store_manifest(s, u).await;
    let jwe = u
        .vault
        .seal_link_file(&link.share_id, CONTENT_TYPE_FHIR_JSON, &bundle(), now())
        .unwrap();
    Made {
        link,
        label: Some(LABEL.to_string()),
        expires,
        jwe,
    }
}

async fn post_link(s: &TestServer, u: &SignedUp, body: &Value) -> Resp {
    s.req(
        "POST",
        "/api/links",
        Some(&u.token),
        Some(&body.to_string()),
    )
    .await
}

/// A made and stored link.
async fn stored_link(s: &TestServer, u: &mut SignedUp, passcode: bool, expires: u64) -> Made {
    let m = make_link(s, u, passcode, expires).await;
    let r = post_link(s, u, &m.body(passcode.then_some(PASSCODE))).await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json(), json!({ "linkId": m.link.link_id }));
    m
}

/// A request as a receiver's viewer on another origin sends it: no
/// cookie, no `x-medseal`, an `Origin`. Recorded in `s.sent` with its path.
async fn public(s: &TestServer, method: &str, path: &str, body: Option<&str>) -> Resp {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\norigin: https://viewer.example\r\n"
    );
    if let Some(b) = body {
        req.push_str(&format!(
            "content-type: application/json\r\ncontent-length: {}\r\n",
            b.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(body.unwrap_or(""));
    s.sent.lock().unwrap().push(req.clone());
    http::raw(s.addr, req.as_bytes()).await
}

/// `POST /shl/{linkId}` with a JSON body.
async fn ask(s: &TestServer, m: &Made, body: Value) -> Resp {
    public(s, "POST", &m.path(), Some(&body.to_string())).await
}

async fn ask_with(s: &TestServer, m: &Made, passcode: Option<&str>) -> Resp {
    let mut b = json!({ "recipient": "City ER" });
    if let Some(p) = passcode {
        b["passcode"] = json!(p);
    }
    ask(s, m, b).await
}

/// The user's links as `GET /api/links` lists them.
async fn links(s: &TestServer, u: &SignedUp) -> Vec<Value> {
    let r = s.req("GET", "/api/links", Some(&u.token), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["links"].as_array().unwrap().clone()
}

fn count(s: &TestServer, sql: &str, link_id: &str) -> i64 {
    s.db()
        .read_blocking(|c| c.query_row(sql, [link_id], |r| r.get(0)))
        .unwrap()
}

/// How many rows of each link table name the link: (links, link_files,
/// link_access, link_file_tokens).
fn rows(s: &TestServer, link_id: &str) -> [i64; 4] {
    [
        "SELECT COUNT(*) FROM links WHERE link_id = ?1",
        "SELECT COUNT(*) FROM link_files WHERE link_id = ?1",
        "SELECT COUNT(*) FROM link_access WHERE link_id = ?1",
        "SELECT COUNT(*) FROM link_file_tokens WHERE link_id = ?1",
    ]
    .map(|q| count(s, q, link_id))
}

/// Opens every file of a manifest answer with the link, as a receiver
/// does, and checks each is the bundle.
async fn open_files(s: &TestServer, m: &Made, r: &Resp) {
    assert_eq!(r.status, 200, "{}", r.text());
    let files = r.json()["files"].as_array().unwrap().clone();
    assert!(!files.is_empty());
    for f in files {
        assert_eq!(f["contentType"], CONTENT_TYPE_FHIR_JSON);
        let jwe = match (f["embedded"].as_str(), f["location"].as_str()) {
            (Some(j), None) => j.to_string(),
            (None, Some(url)) => {
                let path = url.strip_prefix(s.state.origin.as_str()).unwrap();
                let r = public(s, "GET", path, None).await;
                assert_eq!(r.status, 200, "{}", r.text());
                r.text()
            }
            _ => panic!("a file with neither or both of embedded and location: {f}"),
        };
        let opened = open_link_file(&m.link.shlink, &jwe).unwrap();
        assert_eq!(opened.content_type.as_deref(), Some(CONTENT_TYPE_FHIR_JSON));
        assert_eq!(opened.data.as_slice(), bundle().as_slice());
    }
}

/// The link's key (and the bundle's plaintext) in no request the test sent
/// (bodies, and the paths and heads of the receiver's requests), no log
/// line and no database file, in base64url, base64 or raw bytes.
fn assert_key_never_sent(s: &TestServer, keys: &[[u8; 32]]) {
    let sent = s.sent.lock().unwrap().clone();
    assert!(!sent.is_empty());
    let log = s.log.lines().join("\n");
    let mut files = Vec::new();
    for e in std::fs::read_dir(s.dir.path()).unwrap() {
        files.push(std::fs::read(e.unwrap().path()).unwrap());
    }
    assert!(files.iter().map(Vec::len).sum::<usize>() > 0);
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    for key in keys {
        let b64url = medseal::base64url(key);
        let b64 = b64url.replace('-', "+").replace('_', "/");
        for text in [b64url.as_str(), b64.as_str(), MARKER] {
            for req in &sent {
                assert!(
                    !req.contains(text),
                    "a request carries the link key or plaintext"
                );
            }
            assert!(!log.contains(text), "the log carries the link key");
        }
        for f in &files {
            for needle in [
                b64url.as_bytes(),
                b64.as_bytes(),
                key.as_slice(),
                MARKER.as_bytes(),
            ] {
                assert!(
                    !contains(f, needle),
                    "a database file holds the key or plaintext"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_with_the_link_and_passcode_opens_the_files_without_a_session() {
    let s = server().await;
    let mut u = s.sign_up("patient").await;
    let m = stored_link(&s, &mut u, true, now() + DAY).await;
    // The link's URL is this server's manifest URL for the link id.
    let payload = parse_shlink(&m.link.shlink).unwrap();
    assert_eq!(payload.url, format!("{}{}", s.state.origin, m.path()));
    assert_eq!(payload.flag, "P");
    assert_eq!(m.link.flag, "P");

    let listed = links(&s, &u).await;
    assert_eq!(listed.len(), 1);
    let l = &listed[0];
    assert_eq!(l["shareId"], medseal::base64url(&m.link.share_id));
    assert_eq!(l["linkId"], m.link.link_id);
    assert_eq!(l["label"], LABEL);
    assert_eq!(l["flag"], "P");
    assert_eq!(l["expires"], m.expires);
    assert!(l["created"].as_i64().unwrap() >= db::now() - 60);
    assert_eq!(l["attemptsLeft"], 10);
    assert_eq!(l["views"], 0);

    let r = ask_with(&s, &m, Some(PASSCODE)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r
        .header("content-type")
        .is_some_and(|v| v.starts_with("application/json")));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let files = r.json()["files"].as_array().unwrap().clone();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0]["embedded"], m.jwe.as_str());
    open_files(&s, &m, &r).await;
    // The right passcode again: it still opens (attempts count wrong ones only).
    open_files(&s, &m, &ask_with(&s, &m, Some(PASSCODE)).await).await;

    let l = &links(&s, &u).await[0];
    assert_eq!(l["views"], 2);
    assert_eq!(l["attemptsLeft"], 10);
    // One access row per request, with the recipient given.
    let recipient: String = s
        .db()
        .read_blocking(|c| {
            c.query_row(
                "SELECT recipient FROM link_access WHERE link_id = ?1 LIMIT 1",
                [&m.link.link_id],
                |r| r.get(0),
            )
        })
        .unwrap();
    assert_eq!(recipient, "City ER");
    assert_eq!(rows(&s, &m.link.link_id), [1, 1, 2, 0]);
    // The passcode is stored as a salted hash only.
    let (salt, hash): (Vec<u8>, Vec<u8>) = s
        .db()
        .read_blocking(|c| {
            c.query_row(
                "SELECT passcode_salt, passcode_hash FROM links WHERE link_id = ?1",
                [&m.link.link_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
        .unwrap();
    assert_eq!(salt.len(), 16);
    assert_eq!(hash, medseal_server::passcode::hash(&salt, PASSCODE));
    assert!(s
        .log
        .lines()
        .iter()
        .any(|l| l == &format!("POST {} 200", m.path())));
    assert_key_never_sent(&s, &[m.key()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_without_a_passcode_opens_with_none_and_ignores_one() {
    let s = server().await;
    let mut u = s.sign_up("patient").await;
    let m = stored_link(&s, &mut u, false, now() + DAY).await;
    assert_eq!(m.link.flag, "");
    open_files(&s, &m, &ask_with(&s, &m, None).await).await;
    open_files(&s, &m, &ask_with(&s, &m, Some("anything")).await).await;
    // Unknown fields are ignored (the spec: servers ignore parameters they do not know).
    let r = ask(&s, &m, json!({ "recipient": "x", "_ext": { "a": 1 } })).await;
    open_files(&s, &m, &r).await;
    let l = &links(&s, &u).await[0];
    assert_eq!(
        (l["views"].as_i64(), l["attemptsLeft"].as_i64()),
        (Some(3), Some(10))
    );
    let row: (Option<Vec<u8>>, Option<Vec<u8>>) = s
        .db()
        .read_blocking(|c| {
            c.query_row("SELECT passcode_salt, passcode_hash FROM links", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        })
        .unwrap();
    assert_eq!(row, (None, None));
    assert_key_never_sent(&s, &[m.key()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passcodes_count_down_and_the_tenth_disables_the_link_for_good() {
    let s = server().await;
    let mut u = s.sign_up("patient").await;
    let m = stored_link(&s, &mut u, true, now() + DAY).await;
    for left in (0..10).rev() {
        // Wrong, missing and empty passcodes all take an attempt.
        let passcode = match left % 3 {
            0 => Some("wrong-one"),
            1 => None,
            _ => Some(""),
        };
        let r = ask_with(&s, &m, passcode).await;
        assert_json_error(&r, 401, "wrong_passcode");
        assert_eq!(r.json()["remainingAttempts"], left, "{}", r.text());
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    }
    // Disabled: "no longer active", 404, the right passcode included.
    for passcode in [Some(PASSCODE), Some("wrong-one"), None] {
        let r = ask_with(&s, &m, passcode).await;
        assert_json_error(&r, 404, "not_found");
        assert!(r.json().get("remainingAttempts").is_none());
    }
    let l = &links(&s, &u).await[0];
    assert_eq!(
        (l["views"].as_i64(), l["attemptsLeft"].as_i64()),
        (Some(0), Some(0))
    );
    // Every request was recorded, none as a success.
    assert_eq!(
        count(
            &s,
            "SELECT COUNT(*) FROM link_access WHERE link_id = ?1 AND ok = 0",
            &m.link.link_id
        ),
        13
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_passcodes_cannot_overdraw_the_attempts() {
    let s = std::sync::Arc::new(server().await);
    let mut u = s.sign_up("patient").await;
    let m = std::sync::Arc::new(stored_link(&s, &mut u, true, now() + DAY).await);
    let mut tasks = Vec::new();
    for _ in 0..25 {
        let (s, m) = (s.clone(), m.clone());
        tasks.push(tokio::spawn(async move {
            ask_with(&s, &m, Some("guess")).await
        }));
    }
    let mut left = Vec::new();
    let mut not_found = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            401 => left.push(r.json()["remainingAttempts"].as_i64().unwrap()),
            404 => not_found += 1,
            other => panic!("{other}: {}", r.text()),
        }
    }
    left.sort_unstable();
    assert_eq!(left, (0..10).collect::<Vec<i64>>());
    assert_eq!(not_found, 15);
    assert_json_error(&ask_with(&s, &m, Some(PASSCODE)).await, 404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_request_needs_a_recipient() {
    let s = server().await;
    let mut u = s.sign_up("patient").await;
    let m = stored_link(&s, &mut u, true, now() + DAY).await;
    let long = "r".repeat(257);
    for body in [
        json!({ "passcode": PASSCODE }),
        json!({ "recipient": null, "passcode": PASSCODE }),
        json!({ "recipient": "", "passcode": PASSCODE }),
        json!({ "recipient": long, "passcode": PASSCODE }),
        json!({ "recipient": 7, "passcode": PASSCODE }),
        json!({ "recipient": "x", "passcode": 1234 }),
        json!({ "recipient": "x", "passcode": PASSCODE, "embeddedLengthMax": -1 }),
        json!({ "recipient": "x", "passcode": PASSCODE, "embeddedLengthMax": "10" }),
    ] {
        let r = ask(&s, &m, body.clone()).await;
        assert_json_error(&r, 400, "bad_request");
        assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{body}");
    }
    // Not JSON, or not sent as JSON.
    let r = public(&s, "POST", &m.path(), Some("recipient=x")).await;
    assert_json_error(&r, 400, "bad_request");
    let raw = format!(
        "POST {} HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\n{{}}",
        m.path()
    );
    assert_json_error(
        &http::raw(s.addr, raw.as_bytes()).await,
        415,
        "unsupported_media_type",
    );
    // None of them took an attempt or was recorded.
    let l = &links(&s, &u).await[0];
    assert_eq!(l["attemptsLeft"], 10);
    assert_eq!(rows(&s, &m.link.link_id), [1, 1, 0, 0]);
    // 256 characters is fine.
    let r = ask(
        &s,
        &m,
        json!({ "recipient": "é".repeat(256), "passcode": PASSCODE }),
    )
    .await;
    open_files(&s, &m, &r).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_expired_links_are_404() {
    let s = server().await;
    let mut u = s.sign_up("patient").await;
    let m = stored_link(&s, &mut u, false, now() + 2).await;
    open_files(&s, &m, &ask_with(&s, &m, None).await).await;
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let r = ask_with(&s, &m, None).await;
    assert_json_error(&r, 404, "not_found");
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    // Recorded, as a failure; still listed for its owner.
    assert_eq!(rows(&s, &m.link.link_id), [1, 1, 2, 0]);
    assert_eq!(links(&s, &u).await[0]["views"], 1);
    // Unknown link ids, well formed or not.
    for path in [
        format!("/shl/{}", medseal::base64url(&[5u8; 32])),
        "/shl/short".to_string(),
        format!("/shl/{}A", m.link.link_id),
    ] {
        let r = public(&s, "POST", &path, Some(r#"{"recipient":"x"}"#)).await;
        assert_json_error(&r, 404, "not_found");
    }
    // GET is not how a manifest is asked for (no U links here).
    let r = public(&s, "GET", &m.path(), None).await;
    assert_json_error(&r, 405, "method_not_allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_link_in_the_manifest_deletes_it_in_the_same_write() {
    let s = server().await;
    let mut u = s.sign_up("patient").await;
    let gone = stored_link(&s, &mut u, true, now() + DAY).await;
    let kept = stored_link(&s, &mut u, false, now() + DAY).await;
    open_files(&s, &gone, &ask_with(&s, &gone, Some(PASSCODE)).await).await;
    // A location handed out before the revocation.
    let r = ask(
        &s,
        &gone,
        json!({ "recipient": "x", "passcode": PASSCODE, "embeddedLengthMax": 0 }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let location = r.json()["files"][0]["location"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(rows(&s, &gone.link.link_id), [1, 1, 2, 1]);

    u.vault.revoke_share(&gone.link.share_id).unwrap();
    store_manifest(&s, &u).await;

    assert_json_error(&ask_with(&s, &gone, Some(PASSCODE)).await, 404, "not_found");
    let path = location.strip_prefix(s.state.origin.as_str()).unwrap();
    assert_json_error(&public(&s, "GET", path, None).await, 404, "not_found");
    assert_eq!(rows(&s, &gone.link.link_id), [0, 0, 0, 0]);
    // The link still listed is untouched.
    open_files(&s, &kept, &ask_with(&s, &kept, None).await).await;
    let listed = links(&s, &u).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["linkId"], kept.link.link_id);
    // The revoked link cannot be stored again: the manifest no longer lists it.
    let r = post_link(&s, &u, &gone.body(Some(PASSCODE))).await;
    assert_json_error(&r, 409, "not_in_manifest");
    assert_key_never_sent(&s, &[gone.key(), kept.key()]);
}

/// Stores `m` for `owner` through the db layer, as `POST /api/links` does
/// once its checks pass (any user, any stored manifest revision).
fn insert_link(s: &TestServer, owner: &str, m: &Made) -> db::LinkWrite {
    let row = db::LinkRow {
        link_id: m.link.link_id.clone(),
        share_id: medseal::base64url(&m.link.share_id),
        owner: owner.to_string(),
        label: m.label.clone(),
        flag: m.link.flag.clone(),
        expires: i64::try_from(m.expires).unwrap(),
        created: 0,
        attempts_left: 10,
    };
    let files = [db::LinkFileRow {
        content_type: CONTENT_TYPE_FHIR_JSON.to_string(),
        jwe: m.jwe.clone(),
    }];
    s.db()
        .write_blocking(|c| {
            let (revision, _) = db::manifest(c, owner)?.unwrap();
            db::insert_link(c, &row, None, &files, revision)
        })
        .unwrap()
}

/// A link id is never reused: a deleted link's id stays in
/// `retired_links`, whatever deleted it (a revoking manifest, or its
/// owner's deletion cascading), and no one, its owner included, stores a
/// link under it again (409 `link_exists` on `POST /api/links`; here the db
/// layer, since a signed manifest listing it again is what the route would
/// need first); the manifest request stays 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_links_id_is_retired_and_never_stored_again() {
    let s = server().await;
    let mut u = s.sign_up("patient").await;
    let mut other = s.sign_up("other").await;
    let revoked = stored_link(&s, &mut u, false, now() + DAY).await;
    let cascaded = stored_link(&s, &mut other, false, now() + DAY).await;
    let retired = |id: &str| {
        count(
            &s,
            "SELECT COUNT(*) FROM retired_links WHERE link_id = ?1",
            id,
        )
    };
    assert_eq!(retired(&revoked.link.link_id), 0);
    // Stored: the same id again is refused, by anyone.
    assert_json_error(
        &post_link(&s, &u, &revoked.body(None)).await,
        409,
        "link_exists",
    );
    assert_eq!(insert_link(&s, &other.id, &revoked), db::LinkWrite::Exists);

    u.vault.revoke_share(&revoked.link.share_id).unwrap();
    store_manifest(&s, &u).await;
    assert_eq!(rows(&s, &revoked.link.link_id), [0, 0, 0, 0]);
    assert_eq!(retired(&revoked.link.link_id), 1);
    assert_eq!(insert_link(&s, &u.id, &revoked), db::LinkWrite::Exists);
    assert_eq!(insert_link(&s, &other.id, &revoked), db::LinkWrite::Exists);
    assert_json_error(&ask_with(&s, &revoked, None).await, 404, "not_found");

    // The owner's deletion cascades to the link: retired too.
    s.db()
        .write_blocking(|c| c.execute("DELETE FROM users WHERE id = ?1", [&other.id]))
        .unwrap();
    assert_eq!(rows(&s, &cascaded.link.link_id), [0, 0, 0, 0]);
    assert_eq!(retired(&cascaded.link.link_id), 1);
    assert_eq!(insert_link(&s, &u.id, &cascaded), db::LinkWrite::Exists);
    assert_json_error(&ask_with(&s, &cascaded, None).await, 404, "not_found");
    assert!(links(&s, &u).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_link_whose_digest_the_manifest_does_not_list_goes_with_the_next_manifest() {
    let s = server().await;
    let mut u = s.sign_up("patient").await;
    let m = stored_link(&s, &mut u, false, now() + DAY).await;
    let other = stored_link(&s, &mut u, false, now() + DAY).await;
    // The row's label changed behind the server's back: the digest
    // recomputed from it is no longer the one the manifest lists under its id.
    s.db()
        .write_blocking(|c| {
            c.execute(
                "UPDATE links SET label = 'edited' WHERE link_id = ?1",
                [&m.link.link_id],
            )
        })
        .unwrap();
    // Any new manifest (here: one that revokes the other link).
    u.vault.revoke_share(&other.link.share_id).unwrap();
    store_manifest(&s, &u).await;
    assert_eq!(rows(&s, &m.link.link_id), [0, 0, 0, 0]);
    assert_eq!(rows(&s, &other.link.link_id), [0, 0, 0, 0]);
    assert!(links(&s, &u).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_past_embedded_length_max_goes_by_a_one_time_location() {
    let s = server().await;
    let mut u = s.sign_up("patient").await;
    let m = stored_link(&s, &mut u, true, now() + DAY).await;
    let len = m.jwe.len() as u64;
    // At the limit: embedded.
    let r = ask(
        &s,
        &m,
        json!({ "recipient": "x", "passcode": PASSCODE, "embeddedLengthMax": len }),
    )
    .await;
    assert_eq!(
        r.json()["files"][0]["embedded"],
        m.jwe.as_str(),
        "{}",
        r.text()
    );
    // One under: by location.
    let r = ask(
        &s,
        &m,
        json!({ "recipient": "x", "passcode": PASSCODE, "embeddedLengthMax": len - 1 }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let f = &r.json()["files"][0];
    assert!(f.get("embedded").is_none(), "{f}");
    let url = f["location"].as_str().unwrap().to_string();
    let prefix = format!("{}/shl/file/", s.state.origin);
    let token = url.strip_prefix(&prefix).unwrap();
    assert_eq!(medseal::base64url_decode(token).unwrap().len(), 32);
    let path = format!("/shl/file/{token}");
    // A HEAD (a link preview, a prefetch) does not use it up.
    let mut c = http::Conn::connect(s.addr).await.unwrap();
    let head = format!("HEAD {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    c.write_raw(head.as_bytes()).await.unwrap();
    let answer = String::from_utf8(c.read_to_close().await.unwrap()).unwrap();
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    let got = public(&s, "GET", &path, None).await;
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.header("content-type"), Some("application/jose"));
    assert_eq!(got.header("access-control-allow-origin"), Some("*"));
    assert_eq!(got.text(), m.jwe);
    assert_eq!(
        open_link_file(&m.link.shlink, &got.text())
            .unwrap()
            .data
            .as_slice(),
        bundle().as_slice()
    );
    // Once only.
    assert_json_error(&public(&s, "GET", &path, None).await, 404, "not_found");
    // The token is left out of the log.
    let log = s.log.lines().join("\n");
    assert!(!log.contains(token), "{log}");
    assert!(log.contains("GET /shl/file/… 200"), "{log}");
    // A location through the receiver's path, end to end.
    let r = ask(
        &s,
        &m,
        json!({ "recipient": "x", "passcode": PASSCODE, "embeddedLengthMax": 0 }),
    )
    .await;
    open_files(&s, &m, &r).await;
    // Not a token, or a made-up one.
    for p in [
        "/shl/file/x",
        &format!("/shl/file/{}", medseal::base64url(&[1u8; 32])),
    ] {
        assert_json_error(&public(&s, "GET", p, None).await, 404, "not_found");
    }
    assert_key_never_sent(&s, &[m.key()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_location_expires() {
    let s = TestServer::start_with(|l| l.shl_location_ttl = Duration::from_secs(1), None).await;
    let mut u = s.sign_up("patient").await;
    let m = stored_link(&s, &mut u, false, now() + DAY).await;
    let mut paths = Vec::new();
    for _ in 0..2 {
        let r = ask(&s, &m, json!({ "recipient": "x", "embeddedLengthMax": 10 })).await;
        let url = r.json()["files"][0]["location"]
            .as_str()
            .unwrap()
            .to_string();
        paths.push(
            url.strip_prefix(s.state.origin.as_str())
                .unwrap()
                .to_string(),
        );
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_json_error(&public(&s, "GET", &paths[0], None).await, 404, "not_found");
    // The other expired token is purged with the next manifest request.
    assert_eq!(rows(&s, &m.link.link_id)[3], 1);
    assert_eq!(ask(&s, &m, json!({ "recipient": "x" })).await.status, 200);
    assert_eq!(rows(&s, &m.link.link_id)[3], 0);
    assert_json_error(&public(&s, "GET", &paths[1], None).await, 404, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_lets_a_viewer_on_any_origin_ask_without_credentials() {
    let s = server().await;
    let mut u = s.sign_up("patient").await;
    let m = stored_link(&s, &mut u, true, now() + DAY).await;
    let preflight = format!(
        "OPTIONS {} HTTP/1.1\r\nhost: x\r\norigin: https://viewer.example\r\n\
         access-control-request-method: POST\r\naccess-control-request-headers: content-type\r\n\r\n",
        m.path()
    );
    let r = http::raw(s.addr, preflight.as_bytes()).await;
    assert!(r.status == 204 || r.status == 200, "{}", r.status);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let methods = r
        .header("access-control-allow-methods")
        .unwrap()
        .to_string();
    assert!(
        methods.contains("POST") && methods.contains("GET"),
        "{methods}"
    );
    assert!(r
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase()
        .contains("content-type"));
    assert!(r.header("access-control-allow-credentials").is_none());
    // Every answer under /shl/ carries it: success, 401, 404, 400.
    for (passcode, status) in [(Some(PASSCODE), 200), (Some("no"), 401)] {
        let r = ask_with(&s, &m, passcode).await;
        assert_eq!(r.status, status);
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        assert!(r.header("access-control-allow-credentials").is_none());
    }
    // The API is not opened to other origins.
    let r = s.req("GET", "/api/links", Some(&u.token), None).await;
    assert!(r.header("access-control-allow-origin").is_none());
    let pre = "OPTIONS /api/links HTTP/1.1\r\nhost: x\r\norigin: https://viewer.example\r\n\
               access-control-request-method: POST\r\n\r\n";
    let r = http::raw(s.addr, pre.as_bytes()).await;
    assert!(r.header("access-control-allow-origin").is_none());
    assert!(r.status >= 400, "{}", r.status);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_requests_are_limited_per_client_address() {
    let s = TestServer::start_with(
        |l| {
            l.shl_requests_burst = 3;
            l.shl_requests_per_minute = 1;
        },
        None,
    )
    .await;
    let mut u = s.sign_up("patient").await;
    let m = stored_link(&s, &mut u, true, now() + DAY).await;
    for _ in 0..3 {
        assert_eq!(ask_with(&s, &m, Some(PASSCODE)).await.status, 200);
    }
    let r = ask_with(&s, &m, Some("wrong")).await;
    assert_json_error(&r, 429, "rate_limited");
    assert_eq!(r.header("retry-after"), Some("60"));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    // A refused request takes no attempt.
    assert_eq!(links(&s, &u).await[0]["attemptsLeft"], 10);
}

/// A form-valid JWE (the server cannot decrypt, so it cannot tell) of
/// exactly `len` characters (a header padded with spaces so that the
/// ciphertext part has a length base64url allows).
fn jwe_of_len(len: usize) -> String {
    let iv = medseal::base64url(&[1u8; 12]);
    let tag = medseal::base64url(&[2u8; 16]);
    for pad in 0..4 {
        let header = medseal::base64url(
            format!(r#"{{"alg":"dir","enc":"A256GCM"{}}}"#, " ".repeat(pad)).as_bytes(),
        );
        let body = len - (header.len() + iv.len() + tag.len() + 4);
        if body % 4 != 1 {
            return format!("{header}..{iv}.{}.{tag}", "A".repeat(body));
        }
    }
    unreachable!()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_api_links_refuses_what_it_cannot_serve() {
    let s = server().await;
    let mut u = s.sign_up("patient").await;
    let other = s.sign_up("other").await;
    let m = make_link(&s, &mut u, true, now() + DAY).await;
    let ok = m.body(Some(PASSCODE));
    let with = |f: &dyn Fn(&mut Value)| {
        let mut b = ok.clone();
        f(&mut b);
        b
    };
    let file = |content_type: &str, jwe: &str| json!([{ "contentType": content_type, "jwe": jwe }]);
    let header = |h: &str| medseal::base64url(h.as_bytes());
    let jwe_parts: Vec<String> = m.jwe.split('.').map(str::to_string).collect();
    let jwe_with = |i: usize, part: &str| {
        let mut p = jwe_parts.clone();
        p[i] = part.to_string();
        p.join(".")
    };
    let cases: Vec<(Value, u16, &str)> = vec![
        // The form of each field.
        (with(&|b| b["shareId"] = json!("AAAA")), 400, "bad_request"),
        (
            with(&|b| b["shareId"] = json!(medseal::base64url(&[0u8; 17]))),
            400,
            "bad_request",
        ),
        (
            with(&|b| b["linkId"] = json!(&m.link.link_id[..42])),
            400,
            "bad_request",
        ),
        (
            with(&|b| b["linkId"] = json!(format!("{}A", m.link.link_id))),
            400,
            "bad_request",
        ),
        (
            with(&|b| b["linkId"] = json!(format!("{}*", &m.link.link_id[..42]))),
            400,
            "bad_request",
        ),
        (with(&|b| b["flag"] = json!("U")), 400, "bad_request"),
        (with(&|b| b["flag"] = json!("L")), 400, "bad_request"),
        (with(&|b| b["flag"] = json!("LP")), 400, "bad_request"),
        (with(&|b| b["flag"] = json!("PU")), 400, "bad_request"),
        (
            with(&|b| {
                b.as_object_mut().unwrap().remove("passcode");
            }),
            400,
            "bad_request",
        ),
        (with(&|b| b["passcode"] = json!("123")), 400, "bad_request"),
        (
            with(&|b| b["passcode"] = json!("x".repeat(65))),
            400,
            "bad_request",
        ),
        (
            with(&|b| b["label"] = json!("l".repeat(81))),
            400,
            "bad_request",
        ),
        (
            with(&|b| b["expires"] = json!(1u64 << 53)),
            400,
            "bad_request",
        ),
        (with(&|b| b["expires"] = json!(-1)), 422, "invalid_body"),
        (with(&|b| b["files"] = json!([])), 400, "bad_request"),
        (
            with(&|b| {
                b["files"] = json!(vec![
                    json!({"contentType": CONTENT_TYPE_FHIR_JSON, "jwe": m.jwe});
                    11
                ])
            }),
            400,
            "bad_request",
        ),
        (
            with(&|b| b["files"] = file("application/smart-api-access", &m.jwe)),
            400,
            "bad_file",
        ),
        (
            with(&|b| b["files"] = file("text/plain", &m.jwe)),
            400,
            "bad_file",
        ),
        (
            with(&|b| b["files"] = file(CONTENT_TYPE_FHIR_JSON, "not a jwe")),
            400,
            "bad_file",
        ),
        (
            with(&|b| b["files"] = file(CONTENT_TYPE_FHIR_JSON, &jwe_parts[..4].join("."))),
            400,
            "bad_file",
        ),
        (
            with(&|b| b["files"] = file(CONTENT_TYPE_FHIR_JSON, &format!("{}.x", m.jwe))),
            400,
            "bad_file",
        ),
        (
            with(&|b| {
                b["files"] = file(
                    CONTENT_TYPE_FHIR_JSON,
                    &jwe_with(0, &header(r#"{"alg":"A256KW","enc":"A256GCM"}"#)),
                )
            }),
            400,
            "bad_file",
        ),
        (
            with(&|b| {
                b["files"] = file(
                    CONTENT_TYPE_FHIR_JSON,
                    &jwe_with(0, &header(r#"{"alg":"dir","enc":"A128GCM"}"#)),
                )
            }),
            400,
            "bad_file",
        ),
        (
            with(&|b| {
                b["files"] = file(
                    CONTENT_TYPE_FHIR_JSON,
                    &jwe_with(0, &header(r#"{"alg":"dir","enc":"A256GCM","zip":"GZ"}"#)),
                )
            }),
            400,
            "bad_file",
        ),
        (
            with(&|b| b["files"] = file(CONTENT_TYPE_FHIR_JSON, &jwe_with(0, &header("[1]")))),
            400,
            "bad_file",
        ),
        (
            with(&|b| b["files"] = file(CONTENT_TYPE_FHIR_JSON, &jwe_with(0, "e30*"))),
            400,
            "bad_file",
        ),
        (
            with(&|b| b["files"] = file(CONTENT_TYPE_FHIR_JSON, &jwe_with(1, "AAAA"))),
            400,
            "bad_file",
        ),
        (
            with(&|b| {
                b["files"] = file(
                    CONTENT_TYPE_FHIR_JSON,
                    &jwe_with(2, &medseal::base64url(&[0u8; 16])),
                )
            }),
            400,
            "bad_file",
        ),
        (
            with(&|b| b["files"] = file(CONTENT_TYPE_FHIR_JSON, &jwe_with(3, ""))),
            400,
            "bad_file",
        ),
        (
            with(&|b| {
                b["files"] = file(
                    CONTENT_TYPE_FHIR_JSON,
                    &jwe_with(4, &medseal::base64url(&[0u8; 15])),
                )
            }),
            400,
            "bad_file",
        ),
        (
            with(&|b| b["files"] = file(CONTENT_TYPE_FHIR_JSON, &jwe_of_len((1 << 20) + 1))),
            413,
            "too_large",
        ),
        // Against the manifest: what it lists is bound by the digest.
        (
            with(&|b| b["label"] = json!("another label")),
            409,
            "not_in_manifest",
        ),
        (
            with(&|b| {
                b.as_object_mut().unwrap().remove("label");
            }),
            409,
            "not_in_manifest",
        ),
        (
            with(&|b| b["expires"] = json!(m.expires + 1)),
            409,
            "not_in_manifest",
        ),
        (
            with(&|b| {
                b["flag"] = json!("");
                b.as_object_mut().unwrap().remove("passcode");
            }),
            409,
            "not_in_manifest",
        ),
        (
            with(&|b| b["shareId"] = json!(medseal::base64url(&[3u8; 16]))),
            409,
            "not_in_manifest",
        ),
        (
            with(&|b| b["linkId"] = json!(medseal::base64url(&[4u8; 32]))),
            409,
            "not_in_manifest",
        ),
    ];
    for (body, status, code) in &cases {
        let r = post_link(&s, &u, body).await;
        assert_json_error(&r, *status, code);
    }
    // Another user's link: their manifest does not list it.
    assert_json_error(&post_link(&s, &other, &ok).await, 409, "not_in_manifest");
    // No session.
    let r = s
        .req("POST", "/api/links", None, Some(&ok.to_string()))
        .await;
    assert_json_error(&r, 401, "unauthorized");
    let r = s.req("GET", "/api/links", None, None).await;
    assert_json_error(&r, 401, "unauthorized");
    assert_eq!(
        count(&s, "SELECT COUNT(*) FROM links WHERE link_id != ?1", ""),
        0
    );

    // The link as made: stored once, then 409.
    assert_eq!(post_link(&s, &u, &ok).await.status, 201);
    assert_json_error(&post_link(&s, &u, &ok).await, 409, "link_exists");
    assert_eq!(rows(&s, &m.link.link_id), [1, 1, 0, 0]);

    // A link listed in the manifest that has expired (the core seals no
    // file to it any more: the file of another link stands in).
    let base = format!("{}/shl/", s.state.origin);
    let expires = now() - 10;
    let link = u
        .vault
        .create_link(LinkRequest {
            base_url: &base,
            label: None,
            expires,
            passcode: false,
        })
        .unwrap();
    store_manifest(&s, &u).await;
    let past = Made {
        link,
        label: None,
        expires,
        jwe: m.jwe.clone(),
    };
    assert_json_error(
        &post_link(&s, &u, &past.body(None)).await,
        400,
        "link_expired",
    );
    // A link whose manifest was never stored.
    let expires = now() + DAY;
    let link = u
        .vault
        .create_link(LinkRequest {
            base_url: &base,
            label: None,
            expires,
            passcode: false,
        })
        .unwrap();
    let unstored = Made {
        link,
        label: None,
        expires,
        jwe: m.jwe.clone(),
    };
    let b = unstored.body(None);
    assert_json_error(&post_link(&s, &u, &b).await, 409, "not_in_manifest");
    store_manifest(&s, &u).await;
    assert_eq!(post_link(&s, &u, &b).await.status, 201);
    assert_eq!(links(&s, &u).await.len(), 2);
    assert_key_never_sent(&s, &[m.key(), past.key(), unstored.key()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_takes_ten_files_of_one_mib_and_both_content_types() {
    let s = server().await;
    let mut u = s.sign_up("patient").await;
    let m = make_link(&s, &mut u, false, now() + DAY).await;
    let mut b = m.body(None);
    let big = jwe_of_len(1 << 20);
    assert_eq!(big.len(), 1 << 20);
    let mut files = vec![json!({ "contentType": CONTENT_TYPE_FHIR_JSON, "jwe": m.jwe })];
    for _ in 0..9 {
        files.push(json!({ "contentType": "application/smart-health-card", "jwe": big }));
    }
    b["files"] = json!(files);
    let r = post_link(&s, &u, &b).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let r = ask_with(&s, &m, None).await;
    assert_eq!(r.status, 200);
    let files = r.json()["files"].as_array().unwrap().clone();
    assert_eq!(files.len(), 10);
    assert_eq!(files[0]["embedded"], m.jwe.as_str());
    assert_eq!(files[9]["contentType"], "application/smart-health-card");
    assert_eq!(files[9]["embedded"].as_str().map(str::len), Some(1 << 20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewer_page_and_the_qr_module_are_served() {
    let s = server().await;
    let r = public(&s, "GET", "/shl.html", None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    // Its scripts, same origin.
    for path in ["/shl.js"] {
        let r = public(&s, "GET", path, None).await;
        assert_eq!(r.status, 200, "{path}");
    }
    let file = s.state.config.web_root.join("target/web-vendor/qrcode.js");
    let r = public(&s, "GET", "/vendor/qrcode.js", None).await;
    match std::fs::read(&file) {
        Ok(bytes) => {
            assert_eq!(r.status, 200);
            assert!(
                r.header("content-type")
                    .unwrap()
                    .starts_with("text/javascript"),
                "{:?}",
                r.header("content-type")
            );
            assert_eq!(r.body, bytes);
        }
        // Without `npm install` there is no module to serve: a JSON 404.
        Err(_) => assert_json_error(&r, 404, "not_found"),
    }
}
