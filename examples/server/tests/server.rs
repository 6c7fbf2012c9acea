//! The reference server through its real router and accept loop, on
//! 127.0.0.1 with a SQLite file in a fresh folder.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::http::{self, Conn};
use common::{assert_json_error, sealed, session, TestServer};
use medseal_server::db;
use medseal_server::random::Entropy;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_without_a_session_is_401_before_its_body_is_parsed() {
    let s = TestServer::start().await;
    let u = s.add_user("alice");
    let r = s.req("PUT", "/api/records/r1", None, Some("{")).await;
    assert_json_error(&r, 401, "unauthorized");
    let r = s
        .req("PUT", "/api/manifest", Some(&"A".repeat(43)), Some("{"))
        .await;
    assert_json_error(&r, 401, "unauthorized");
    // Signed in, the same body is a JSON syntax error.
    let t = s.session(&u.id);
    let r = s.req("PUT", "/api/records/r1", Some(&t), Some("{")).await;
    assert_json_error(&r, 400, "bad_request");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rejection_is_json() {
    let s = TestServer::start_with(|l| l.max_body = 1024, None).await;
    let (_, t) = s.signed_in("alice");
    let cookie = format!("cookie: medseal_session={t}\r\n");

    // 415: a body without a JSON content type.
    let r = http::raw(
        s.addr,
        format!("PUT /api/records/r1 HTTP/1.1\r\nhost: x\r\nx-medseal: 1\r\n{cookie}content-length: 2\r\n\r\n{{}}").as_bytes(),
    )
    .await;
    assert_json_error(&r, 415, "unsupported_media_type");
    // 422: JSON of the wrong shape; the message does not quote the body.
    let r = s
        .req(
            "PUT",
            "/api/records/r1",
            Some(&t),
            Some(r#"{"sealed": 12345678}"#),
        )
        .await;
    assert_json_error(&r, 422, "invalid_body");
    assert!(!r.text().contains("12345678"), "{}", r.text());
    // 413: past the body limit.
    let big = json!({ "sealed": "x".repeat(4096) }).to_string();
    let r = s.req("PUT", "/api/records/r1", Some(&t), Some(&big)).await;
    assert_json_error(&r, 413, "too_large");
    // 405, 404 (API and static), 400 (query), 403 (no x-medseal).
    assert_json_error(
        &s.req("PATCH", "/api/records/r1", Some(&t), None).await,
        405,
        "method_not_allowed",
    );
    assert_json_error(
        &s.req("GET", "/api/nope", Some(&t), None).await,
        404,
        "not_found",
    );
    assert_json_error(
        &s.req("GET", "/nope.html", None, None).await,
        404,
        "not_found",
    );
    assert_json_error(
        &s.req("GET", "/api/records?limit=abc", Some(&t), None).await,
        400,
        "bad_query",
    );
    let r = http::raw(s.addr, b"GET /api/me HTTP/1.1\r\nhost: x\r\n\r\n").await;
    assert_json_error(&r, 403, "forbidden");
    // 414 and 431: heads past the limits.
    let long = format!("/api/records/{}", "a".repeat(9000));
    assert_json_error(
        &s.req("GET", &long, Some(&t), None).await,
        414,
        "uri_too_long",
    );
    let many: String = (0..70).map(|i| format!("x-h{i}: v\r\n")).collect();
    let r = http::raw(
        s.addr,
        format!("GET /api/me HTTP/1.1\r\nhost: x\r\nx-medseal: 1\r\n{many}\r\n").as_bytes(),
    )
    .await;
    assert_json_error(&r, 431, "headers_too_large");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_ids_dot_and_dotdot_are_refused() {
    let s = TestServer::start().await;
    let (mut u, t) = s.signed_in("alice");
    let body = json!({ "sealed": sealed(&mut u.vault, "x", b"hello") }).to_string();
    for id in [".", ".."] {
        let path = format!("/api/records/{id}");
        assert_json_error(
            &s.req("PUT", &path, Some(&t), Some(&body)).await,
            400,
            "bad_request",
        );
        assert_json_error(
            &s.req("GET", &path, Some(&t), None).await,
            400,
            "bad_request",
        );
        assert_json_error(
            &s.req("DELETE", &path, Some(&t), None).await,
            400,
            "bad_request",
        );
    }
    // Dots inside an id stay allowed.
    assert_eq!(
        s.req("PUT", "/api/records/a..b", Some(&t), Some(&body))
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_well_formed_sealed_record_is_stored() {
    let s = TestServer::start().await;
    let (mut u, t) = s.signed_in("alice");
    let good = sealed(&mut u.vault, "r1", b"penicillin allergy");
    // The same record with its version byte changed, and cut short.
    let mut bytes = base64ct_decode(&good[4..]);
    bytes[4] ^= 0x7f;
    let other_version = medseal::record::to_text(&bytes);
    let cut = medseal::record::to_text(&base64ct_decode(&good[4..])[..60]);
    for bad in [
        "ms1.",
        "ms1.AAAA",
        "plaintext diagnosis",
        "ms2.AAAA",
        &other_version,
        &cut,
    ] {
        let r = put_r1(&s, &t, bad).await;
        assert_json_error(&r, 400, "not_sealed");
    }
    let r = put_r1(&s, &t, &good).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s.req("GET", "/api/records/r1", Some(&t), None).await;
    assert_eq!(r.json()["sealed"], good);
}

/// `PUT /api/records/r1` `{sealed}`.
async fn put_r1(s: &TestServer, token: &str, sealed: &str) -> http::Resp {
    let body = json!({ "sealed": sealed }).to_string();
    s.req("PUT", "/api/records/r1", Some(token), Some(&body))
        .await
}

fn base64ct_decode(s: &str) -> Vec<u8> {
    use base64ct::{Base64UrlUnpadded, Encoding};
    Base64UrlUnpadded::decode_vec(s).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_record_list_is_paged() {
    let s = TestServer::start().await;
    let mut u = s.add_user("alice");
    let other = s.add_user("bob");
    let t = s.session(&u.id);
    let text = sealed(&mut u.vault, "r", b"x");
    let ids: Vec<String> = (0..450).map(|i| format!("rec-{i:04}")).collect();
    s.db()
        .write_blocking(|c| {
            for id in &ids {
                db::put_record(c, &u.id, id, &text)?;
            }
            db::put_record(c, &other.id, "bobs", &text)
        })
        .unwrap();

    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            None => "/api/records".to_string(),
            Some(c) => format!("/api/records?after={c}"),
        };
        let r = s.req("GET", &path, Some(&t), None).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let j = r.json();
        let page = j["records"].as_array().unwrap();
        sizes.push(page.len());
        seen.extend(page.iter().map(|r| r["id"].as_str().unwrap().to_string()));
        match &j["next"] {
            Value::Null => break,
            Value::String(c) => after = Some(c.clone()),
            other => panic!("next: {other}"),
        }
    }
    assert_eq!(sizes, [200, 200, 50], "default page of 200");
    assert_eq!(seen, ids, "every record once, in order, none of bob's");

    let r = s
        .req("GET", "/api/records?limit=1000", Some(&t), None)
        .await;
    assert_eq!(r.json()["records"].as_array().unwrap().len(), 450);
    assert_eq!(r.json()["next"], Value::Null);
    let r = s.req("GET", "/api/records?limit=449", Some(&t), None).await;
    assert!(r.json()["next"].is_string());
    for q in ["limit=0", "limit=1001", "after=%21%21", "after=AAAA"] {
        let r = s
            .req("GET", &format!("/api/records?{q}"), Some(&t), None)
            .await;
        assert_json_error(&r, 400, "bad_request");
    }
}

/// 200 writes of different revision-2 manifests, all naming revision 1:
/// exactly one is stored, and it is the one that was answered 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_compare_and_swap_is_exact_over_200_races() {
    let s = TestServer::start().await;
    let (u, t) = s.signed_in("alice");
    let rev1 = u.vault.manifest().clone();
    assert_eq!(rev1.revision(), 1);
    let bodies: Vec<String> = (0..200)
        .map(|_| {
            let mut v = medseal::Vault::unlock_with_recovery_code(&rev1, &u.code, 1).unwrap();
            v.rotate_recovery_code().unwrap();
            let m: Value = serde_json::from_str(&v.manifest().to_json()).unwrap();
            json!({ "replaces": 1, "manifest": m }).to_string()
        })
        .collect();
    let mut conns = Vec::new();
    for _ in 0..200 {
        conns.push(Conn::connect(s.addr).await.unwrap());
    }
    let go = Arc::new(tokio::sync::Barrier::new(200));
    let tasks: Vec<_> = conns
        .into_iter()
        .zip(bodies.clone())
        .map(|(mut c, body)| {
            let (go, t) = (go.clone(), t.clone());
            tokio::spawn(async move {
                go.wait().await;
                c.send("PUT", "/api/manifest", Some(&t), Some(&body))
                    .await
                    .unwrap()
                    .status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let won: Vec<usize> = statuses
        .iter()
        .enumerate()
        .filter(|(_, s)| **s == 200)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(won.len(), 1, "exactly one write wins: {statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{statuses:?}"
    );
    let r = s.req("GET", "/api/manifest", Some(&t), None).await.json();
    assert_eq!(r["revision"], 2);
    let winner: Value = serde_json::from_str(&bodies[won[0]]).unwrap();
    assert_eq!(
        r["manifest"], winner["manifest"],
        "the stored manifest is the winner's"
    );
}

struct Broken;
impl Entropy for Broken {
    fn fill(&self, _: &mut [u8]) -> Result<(), getrandom::Error> {
        Err(getrandom::Error::UNSUPPORTED)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_random_source_is_an_error_not_a_zero_token() {
    let s = TestServer::start_with(|_| {}, Some(Arc::new(Broken))).await;
    let u = s.add_user("alice");
    let r = s
        .req(
            "POST",
            "/api/signup/start",
            None,
            Some(r#"{"username":"carol"}"#),
        )
        .await;
    assert_json_error(&r, 500, "internal");
    assert!(!r.text().contains("AAAAAAAA"), "{}", r.text());
    assert!(
        s.state.flows.is_empty(),
        "no flow stored under a predictable id"
    );
    let r = recover_start(&s, &u).await;
    assert_json_error(&r, 500, "internal");
    assert!(
        s.log
            .lines()
            .iter()
            .any(|l| l.starts_with("POST /api/signup/start 500 (random source failed")),
        "{:?}",
        s.log.lines()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_errors_are_logged_without_secrets() {
    let s = TestServer::start().await;
    let (u, t) = s.signed_in("alice");
    s.db()
        .write_blocking(|c| {
            c.execute(
                "UPDATE manifests SET manifest = '{\"secret-manifest-bytes' WHERE user_id = ?1",
                [&u.id],
            )
        })
        .unwrap();
    let r = s.req("GET", "/api/manifest", Some(&t), None).await;
    assert_json_error(&r, 500, "internal");
    assert_eq!(r.json()["message"], "internal error");
    let lines = s.log.lines();
    let line = lines
        .iter()
        .find(|l| l.starts_with("GET /api/manifest 500 ("))
        .unwrap_or_else(|| panic!("not logged: {lines:?}"));
    assert!(line.contains("stored manifest"), "{line}");
    for secret in [t.as_str(), "secret-manifest-bytes", "medseal_session"] {
        assert!(
            !lines.iter().any(|l| l.contains(secret)),
            "{secret} in the log: {lines:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ceremony_starts_are_limited_per_client_address_whatever_the_username() {
    let s = TestServer::start().await;
    s.add_user("alice");
    let mut ok = 0;
    let mut limited = 0;
    for i in 0..200 {
        let r = s
            .req(
                "POST",
                "/api/signup/start",
                None,
                Some(&json!({ "username": format!("user{i}") }).to_string()),
            )
            .await;
        match r.status {
            200 => ok += 1,
            429 => {
                assert_json_error(&r, 429, "rate_limited");
                limited += 1;
            }
            other => panic!("{other}: {}", r.text()),
        }
    }
    // The default burst is 20, refilled at 20 a minute (one more may come in while the loop runs).
    assert!((20..=21).contains(&ok), "{ok} sign-up starts accepted");
    assert_eq!(ok + limited, 200);
    assert_eq!(s.state.flows.len(), ok);
    // Sign-in and recovery starts draw on the same bucket, known name or not.
    for path in ["/api/login/start", "/api/recover/start"] {
        for name in ["alice", "nobody"] {
            let r = s
                .req(
                    "POST",
                    path,
                    None,
                    Some(&json!({ "username": name }).to_string()),
                )
                .await;
            assert_json_error(&r, 429, "rate_limited");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_flows_are_capped_and_expire() {
    let s = TestServer::start_with(
        |l| {
            l.max_pending_flows = 3;
            l.flow_ttl = Duration::from_millis(300);
        },
        None,
    )
    .await;
    let start = |i: u32| {
        let addr = s.addr;
        async move {
            http::request(
                addr,
                "POST",
                "/api/signup/start",
                None,
                Some(&json!({ "username": format!("u{i}") }).to_string()),
            )
            .await
        }
    };
    for i in 0..3 {
        assert_eq!(start(i).await.status, 200);
    }
    assert_json_error(&start(3).await, 503, "busy");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(start(4).await.status, 200, "expired flows make room");
    assert_eq!(s.state.flows.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_sessions_are_purged() {
    let s =
        TestServer::start_with(|l| l.session_purge_every = Duration::from_millis(100), None).await;
    let u = s.add_user("alice");
    let live = s.session(&u.id);
    for _ in 0..5 {
        session(s.db(), &u.id, -10);
    }
    let count = || {
        s.db()
            .read_blocking(|c| {
                c.query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get::<_, i64>(0))
            })
            .unwrap()
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    while count() > 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count(), 1, "only the live session is left");
    assert_eq!(me(&s, &live).await.status, 200);
}

/// `GET /api/me` with the session `token`: 200 while it lives.
async fn me(s: &TestServer, token: &str) -> http::Resp {
    s.req("GET", "/api/me", Some(token), None).await
}

async fn recover_start(s: &TestServer, u: &common::TestUser) -> http::Resp {
    let body = json!({ "username": u.name }).to_string();
    s.req("POST", "/api/recover/start", None, Some(&body)).await
}

async fn recover(s: &TestServer, u: &common::TestUser, tamper: bool) -> http::Resp {
    let r = recover_start(s, u).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    let challenge = base64ct_decode(j["challenge"].as_str().unwrap());
    let audience = j["audience"].as_str().unwrap();
    assert_eq!(audience, s.state.origin);
    // The recovery code's login key signs (the server checks it against the
    // stored manifest's recovery entry).
    let with_code =
        medseal::Vault::unlock_with_recovery_code(u.vault.manifest(), &u.code, 0).unwrap();
    let mut sig = with_code.sign_recovery_login(&challenge, audience).unwrap();
    if tamper {
        sig[10] ^= 1;
    }
    let body = json!({ "flow": j["flow"], "signature": medseal::base64url(&sig) }).to_string();
    s.req("POST", "/api/recover/finish", None, Some(&body))
        .await
}

fn cookie_of(r: &http::Resp) -> String {
    let c = r.header("set-cookie").expect("set-cookie");
    assert!(
        c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Path=/"),
        "{c}"
    );
    assert!(!c.contains("Secure"), "plain-http origin: {c}");
    c.split(';')
        .next()
        .unwrap()
        .strip_prefix("medseal_session=")
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_signs_in_and_ends_every_other_session() {
    let s = TestServer::start().await;
    let u = s.add_user("alice");
    let old = s.session(&u.id);
    let r = recover(&s, &u, true).await;
    assert_json_error(&r, 401, "recovery_failed");
    assert_eq!(
        me(&s, &old).await.status,
        200,
        "a failed proof ends nothing"
    );
    let r = recover(&s, &u, false).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let new = cookie_of(&r);
    assert_eq!(me(&s, &new).await.json()["user"], u.id);
    assert_json_error(&me(&s, &old).await, 401, "unauthorized");
}

/// The proof is checked by the core against the stored manifest, whose own
/// signature is checked too: a manifest the vault did not sign (here, a
/// passkey's label edited in the database: still a well-formed manifest)
/// lets no proof through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_refuses_a_proof_against_a_manifest_the_vault_did_not_sign() {
    let s = TestServer::start().await;
    let u = s.add_user("alice");
    let mut m: Value = serde_json::from_str(&u.vault.manifest().to_json()).unwrap();
    m["unlock"][0]["label"] = json!("edited");
    medseal::Manifest::from_json(&m.to_string()).expect("still well-formed");
    let text = m.to_string();
    s.db()
        .write_blocking(|c| {
            c.execute(
                "UPDATE manifests SET manifest = ?2 WHERE user_id = ?1",
                [&u.id, &text],
            )
        })
        .unwrap();
    let r = recover(&s, &u, false).await;
    assert_json_error(&r, 401, "recovery_failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_passkey_ends_the_other_sessions() {
    let s = TestServer::start().await;
    let u = s.add_user("alice");
    s.db()
        .write_blocking(|c| {
            c.execute(
                "INSERT INTO passkeys (cred_id, user_id, passkey) VALUES ('second', ?1, '{}')",
                [&u.id],
            )
        })
        .unwrap();
    let (a, b) = (s.session(&u.id), s.session(&u.id));
    let bob = s.add_user("bob");
    let bobs = s.session(&bob.id);
    assert_json_error(
        &s.req("DELETE", "/api/passkeys/nope", Some(&a), None).await,
        404,
        "not_found",
    );
    assert_eq!(
        me(&s, &b).await.status,
        200,
        "a failed removal ends nothing"
    );
    let r = s
        .req("DELETE", "/api/passkeys/second", Some(&a), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        me(&s, &a).await.status,
        200,
        "the session that removed it stays"
    );
    assert_json_error(&me(&s, &b).await, 401, "unauthorized");
    assert_eq!(me(&s, &bobs).await.status, 200, "other users are untouched");
    let r = s
        .req(
            "DELETE",
            &format!("/api/passkeys/{}", u.cred_id),
            Some(&a),
            None,
        )
        .await;
    assert_json_error(&r, 400, "bad_request");
}

/// passkeys/finish stores the manifest and the passkey it names in one
/// transaction: when the passkey cannot be stored, the manifest is not either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_manifest_and_its_passkey_are_stored_together_or_not_at_all() {
    let s = TestServer::start().await;
    let alice = s.add_user("alice");
    let mut bob = s.add_user("bob");
    bob.vault.rotate_recovery_code().unwrap();
    let m2 = bob.vault.manifest().to_json();
    let swap = |replaces, revision, cred_id: &str| {
        let swap = db::ManifestSwap {
            user_id: &bob.id,
            replaces,
            revision,
            text: &m2,
            revoke: None,
        };
        s.db()
            .write_blocking(|c| db::replace_manifest_adding_passkey(c, &swap, cred_id, "{}"))
    };
    let passkeys = || {
        s.db()
            .read_blocking(|c| db::passkeys(c, &bob.id))
            .unwrap()
            .len()
    };
    // The credential id is alice's: the insert fails on the primary key.
    assert!(swap(1, 2, &alice.cred_id).is_err());
    let (rev, _) = s
        .db()
        .read_blocking(|c| db::manifest(c, &bob.id))
        .unwrap()
        .unwrap();
    assert_eq!(rev, 1, "the manifest was not replaced");
    // Stale: nothing stored either.
    assert_eq!(swap(5, 6, "fresh").unwrap(), db::Swap::Stale);
    assert_eq!(passkeys(), 1);
    assert_eq!(swap(1, 2, "fresh").unwrap(), db::Swap::Stored);
    assert_eq!(passkeys(), 2);
}

/// With the writer held by a long write, reads still answer at once, and the
/// server runs on a single async worker: SQLite runs off the executor (a
/// queued write does not block the worker) and reads have their own
/// connections (they do not wait for the writer).
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn reads_answer_while_a_write_holds_the_writer() {
    const HOLD: Duration = Duration::from_millis(2000);
    let s = TestServer::start().await;
    let (mut u, t) = s.signed_in("alice");
    let body = json!({ "sealed": sealed(&mut u.vault, "r1", b"x") }).to_string();
    let db = s.db().clone();
    let (held_tx, held_rx) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        db.write_blocking(|_| {
            held_tx.send(Instant::now()).unwrap();
            std::thread::sleep(HOLD);
            Ok(())
        })
        .unwrap()
    });
    let held_since = held_rx.recv().unwrap();
    let put = tokio::spawn({
        let (addr, t) = (s.addr, t.clone());
        async move { http::request(addr, "PUT", "/api/records/r1", Some(&t), Some(&body)).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    for path in [
        "/api/me",
        "/api/records",
        "/api/manifest",
        "/api/records/r0",
    ] {
        let r = s.req("GET", path, Some(&t), None).await;
        assert!(r.status == 200 || r.status == 404, "{path}: {}", r.text());
    }
    let took = held_since.elapsed();
    assert!(took < HOLD / 2, "reads waited for the writer: {took:?}");
    assert_eq!(
        put.await.unwrap().status,
        200,
        "the write goes through once the writer is free"
    );
    assert!(held_since.elapsed() >= HOLD);
    holder.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_half_a_header_is_disconnected() {
    let s =
        TestServer::start_with(|l| l.header_read_timeout = Duration::from_millis(400), None).await;
    let mut c = Conn::connect(s.addr).await.unwrap();
    c.write_raw(b"GET /api/me HTTP/1.1\r\nhost: x\r\nx-med")
        .await
        .unwrap();
    let t0 = Instant::now();
    let got = tokio::time::timeout(Duration::from_secs(3), c.read_to_close())
        .await
        .expect("still open after 3 s");
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(2000),
        "{took:?}"
    );
    assert!(
        got.map(|b| b.is_empty()).unwrap_or(true),
        "no answer to half a request"
    );

    // An idle keep-alive connection is closed on the same clock.
    let mut c = Conn::connect(s.addr).await.unwrap();
    assert_eq!(
        c.send("GET", "/api/me", None, None).await.unwrap().status,
        401
    );
    let t0 = Instant::now();
    tokio::time::timeout(Duration::from_secs(3), c.read_to_close())
        .await
        .expect("idle connection still open after 3 s")
        .ok();
    assert!(t0.elapsed() < Duration::from_millis(2000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_gets_408() {
    let s = TestServer::start_with(|l| l.request_timeout = Duration::from_millis(400), None).await;
    let (_, t) = s.signed_in("alice");
    let mut c = Conn::connect(s.addr).await.unwrap();
    let head = format!(
        "PUT /api/records/r1 HTTP/1.1\r\nhost: x\r\nx-medseal: 1\r\ncookie: medseal_session={t}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"sealed\":"
    );
    c.write_raw(head.as_bytes()).await.unwrap();
    let t0 = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(3), c.read_response())
        .await
        .expect("no answer in 3 s")
        .unwrap();
    assert_json_error(&r, 408, "timeout");
    assert!(t0.elapsed() < Duration::from_millis(2000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_until_one_closes() {
    let s = TestServer::start_with(|l| l.max_connections = 2, None).await;
    let idle1 = Conn::connect(s.addr).await.unwrap();
    let _idle2 = Conn::connect(s.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = Conn::connect(s.addr).await.unwrap();
    third
        .write_raw(b"GET /api/me HTTP/1.1\r\nhost: x\r\nx-medseal: 1\r\n\r\n")
        .await
        .unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(400), third.read_response())
            .await
            .is_err(),
        "a third connection was served past a cap of two"
    );
    drop(idle1);
    let r = tokio::time::timeout(Duration::from_secs(3), third.read_response())
        .await
        .expect("not served after a slot freed")
        .unwrap();
    assert_eq!(r.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = TestServer::start_with(|l| l.send_timeout = Duration::from_millis(300), None).await;
    let (mut u, t) = s.signed_in("alice");
    // About 8 MB of records on one page: more than the socket buffers hold.
    let text = sealed(&mut u.vault, "r", &[b'x'; 6000]);
    s.db()
        .write_blocking(|c| {
            let tx = c.transaction()?;
            for i in 0..1000 {
                db::put_record(&tx, &u.id, &format!("r{i:04}"), &text)?;
            }
            tx.commit()
        })
        .unwrap();
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let mut stream = sock.connect(s.addr).await.unwrap();
    let req = format!("GET /api/records?limit=1000 HTTP/1.1\r\nhost: x\r\nx-medseal: 1\r\ncookie: medseal_session={t}\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut got = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut got)).await;
    assert!(closed.is_ok(), "the connection is still open");
    let head_end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&got[..head_end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(len > 8_000_000, "{len}");
    assert!(got.len() - head_end - 4 < len, "the whole answer was sent");
}
