//! The manifest routes against attacks on the account's ways in (issue #13):
//! a manifest that takes a passkey or the recovery code away must revoke
//! that way in on the server too (its login credential and the sessions it
//! may have opened); every accepted revision is kept and served after a
//! revision the client names; revisions stay within what a JavaScript
//! number holds exactly.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use base64ct::{Base64UrlUnpadded, Encoding};
use common::http::Resp;
use common::{
    add_passkey_row, assert_json_error, new_passkey, remove_passkey, TestServer, TestUser,
};
use medseal_server::db::{self, Db};
use serde_json::{json, Value};

/// The user's current manifest as JSON.
fn manifest_json(u: &TestUser) -> Value {
    serde_json::from_str(&u.vault.manifest().to_json()).unwrap()
}

/// Adds one more passkey to the user's vault and stores the new manifest
/// (through `PUT /api/manifest`, with the session `token`) and its login
/// credential (as `passkeys/finish` would after a registration ceremony).
async fn add_backup_passkey(s: &TestServer, u: &mut TestUser, token: &str) -> common::TestPasskey {
    let (unlock, passkey) = new_passkey();
    let replaces = u.vault.manifest().revision();
    u.vault.add_passkey(unlock).unwrap();
    let r = s.put_manifest(token, replaces, u.vault.manifest()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    add_passkey_row(s.db(), &u.id, &passkey.cred_id);
    passkey
}

/// The lost phone: its passkey is removed from the manifest by the laptop.
/// The phone (or whoever has it) must neither sign in with that passkey again
/// nor keep the session it had.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_removed_from_the_manifest_can_no_longer_sign_in_and_its_sessions_end() {
    let s = TestServer::start().await;
    let mut u = s.add_user("alice");
    let laptop = s.session(&u.id);
    let phone = add_backup_passkey(&s, &mut u, &laptop).await;
    let phone_session = s.session(&u.id);
    let bob = s.add_user("bob");
    let bobs = s.session(&bob.id);
    let mut both = vec![u.cred_id.clone(), phone.cred_id.clone()];
    both.sort();
    assert_eq!(s.login_credentials("alice").await, both);

    remove_passkey(&mut u.vault, &phone.raw_id);
    let r = s.put_manifest(&laptop, 2, u.vault.manifest()).await;
    assert_eq!(r.status, 200, "{}", r.text());

    assert_eq!(
        s.login_credentials("alice").await,
        [u.cred_id.clone()],
        "the removed passkey is still offered for sign-in"
    );
    assert_json_error(&s.me(&phone_session).await, 401, "unauthorized");
    assert_eq!(
        s.me(&laptop).await.status,
        200,
        "the session that removed it stays"
    );
    assert_eq!(s.me(&bobs).await.status, 200, "other users are untouched");
    assert_eq!(s.login_credentials("bob").await, [bob.cred_id]);
}

/// A new recovery code (the recovery entry replaced) is what a user does
/// when the old one may have been seen: every other session ends, as after
/// a recovery. A stale write of the same manifest ends nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_the_recovery_code_ends_the_other_sessions() {
    let s = TestServer::start().await;
    let mut u = s.add_user("alice");
    let (this, other) = (s.session(&u.id), s.session(&u.id));
    let bob = s.add_user("bob");
    let bobs = s.session(&bob.id);
    // A login credential the manifest never named (it cannot unlock the
    // vault, so it is no way in that the rotation keeps).
    let unnamed = medseal::base64url(b"never in the manifest");
    add_passkey_row(s.db(), &u.id, &unnamed);
    let before = u.vault.manifest().recovery_entry_id().unwrap().to_string();
    u.vault.rotate_recovery_code().unwrap();
    assert_ne!(u.vault.manifest().recovery_entry_id().unwrap(), before);

    let r = s.put_manifest(&this, 7, u.vault.manifest()).await;
    assert_json_error(&r, 409, "stale_manifest");
    assert_eq!(
        s.me(&other).await.status,
        200,
        "a refused write ends nothing"
    );

    let r = s.put_manifest(&this, 1, u.vault.manifest()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_json_error(&s.me(&other).await, 401, "unauthorized");
    assert_eq!(
        s.me(&this).await.status,
        200,
        "the session that rotated it stays"
    );
    assert_eq!(s.me(&bobs).await.status, 200, "other users are untouched");
    assert_eq!(
        s.login_credentials("alice").await,
        [u.cred_id.clone()],
        "the passkey the manifest names still signs in, the unnamed one no longer"
    );
}

/// Adding a passkey takes no way in away: nothing is revoked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_that_takes_nothing_away_ends_no_session() {
    let s = TestServer::start().await;
    let mut u = s.add_user("alice");
    let (this, other) = (s.session(&u.id), s.session(&u.id));
    let phone = add_backup_passkey(&s, &mut u, &this).await;
    assert_eq!(s.me(&other).await.status, 200);
    let mut both = vec![u.cred_id.clone(), phone.cred_id.clone()];
    both.sort();
    assert_eq!(s.login_credentials("alice").await, both);
}

/// `passkeys/finish`'s write (db layer: the ceremony cannot run here) revokes
/// like `PUT /api/manifest`, in the same transaction, and keeps the new passkey.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_passkey_with_a_manifest_that_removes_another_revokes_it() {
    let s = TestServer::start().await;
    let mut u = s.add_user("alice");
    let this = s.session(&u.id);
    let phone = add_backup_passkey(&s, &mut u, &this).await;
    let other = s.session(&u.id);
    // One manifest: the phone's entry gone, a new key's entry added.
    remove_passkey(&mut u.vault, &phone.raw_id);
    let (unlock, key) = new_passkey();
    u.vault.add_passkey(unlock).unwrap();
    let text = u.vault.manifest().to_json();
    let named = vec![u.cred_id.clone(), key.cred_id.clone()];
    let json = common::passkey_json(&key.cred_id);
    let swap = db::ManifestSwap {
        user_id: &u.id,
        replaces: 2,
        revision: 4,
        text: &text,
        revoke: Some(db::Revocation {
            named_credentials: &named,
            keep_session: &this,
        }),
    };
    let stored = s
        .db()
        .write_blocking(|c| db::replace_manifest_adding_passkey(c, &swap, &key.cred_id, &json))
        .unwrap();
    assert_eq!(stored, db::Swap::Stored);
    let mut expected = named.clone();
    expected.sort();
    assert_eq!(s.login_credentials("alice").await, expected);
    assert_json_error(&s.me(&other).await, 401, "unauthorized");
    assert_eq!(s.me(&this).await.status, 200);
}

/// `GET /api/manifest?since=N`.
async fn since(s: &TestServer, token: &str, query: &str) -> Resp {
    s.req("GET", &format!("/api/manifest?{query}"), Some(token), None)
        .await
}

/// Every accepted revision is kept; `since=N` serves those after N, oldest
/// first, ending with the current one. Refused writes leave no trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manifest_history_is_served_after_a_revision() {
    let s = TestServer::start().await;
    let mut u = s.add_user("alice");
    let t = s.session(&u.id);
    let mut revisions = vec![manifest_json(&u)];
    for i in 0..3 {
        if i == 1 {
            let (unlock, _) = new_passkey();
            u.vault.add_passkey(unlock).unwrap();
        } else {
            u.vault.rotate_recovery_code().unwrap();
        }
        let replaces = revisions.len() as u64;
        // A stale write and a forged one first: neither is stored.
        assert_eq!(
            s.put_manifest(&t, replaces + 5, u.vault.manifest())
                .await
                .status,
            409
        );
        let mut forged = manifest_json(&u);
        forged["unlock"][0]["label"] = json!("forged");
        let body = json!({ "replaces": replaces, "manifest": forged }).to_string();
        let r = s.req("PUT", "/api/manifest", Some(&t), Some(&body)).await;
        assert_json_error(&r, 400, "bad_request");
        let r = s.put_manifest(&t, replaces, u.vault.manifest()).await;
        assert_eq!(r.status, 200, "{}", r.text());
        revisions.push(manifest_json(&u));
    }
    let other = s.add_user("bob");
    let bobs = s.session(&other.id);

    // Without since: today's answer, no history.
    let plain = s.req("GET", "/api/manifest", Some(&t), None).await.json();
    assert_eq!(plain["revision"], 4);
    assert_eq!(plain["manifest"], revisions[3]);
    assert!(plain.get("history").is_none(), "{plain}");

    for n in 0..=5usize {
        let r = since(&s, &t, &format!("since={n}")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let j = r.json();
        assert_eq!(j["revision"], 4);
        assert_eq!(j["manifest"], revisions[3]);
        let expected: Vec<Value> = revisions.iter().skip(n).cloned().collect();
        assert_eq!(j["history"], Value::Array(expected), "since={n}");
    }
    let j = since(&s, &bobs, "since=0").await.json();
    assert_eq!(
        j["history"],
        json!([manifest_json(&other)]),
        "bob's own only"
    );

    for q in ["since=-1", "since=abc", "since=", "since=9007199254740992"] {
        assert_json_error(&since(&s, &t, q).await, 400, "bad_query");
    }
    assert_eq!(since(&s, &t, "since=9007199254740991").await.status, 200);
    assert_json_error(
        &s.req("GET", "/api/manifest?since=0", None, None).await,
        401,
        "unauthorized",
    );
}

/// Stores `count` more history rows for the user, revisions after the
/// stored one, each `text`, and makes the last the stored manifest: what
/// that many accepted writes leave (written directly, for speed).
fn grow_history(db: &Db, user_id: &str, count: i64, text: &str) {
    db.write_blocking(|c| {
        let tx = c.transaction()?;
        let (from, _) = db::manifest(&tx, user_id)?.unwrap();
        for rev in from + 1..=from + count {
            tx.execute(
                "INSERT INTO manifest_history (user_id, revision, manifest) VALUES (?1, ?2, ?3)",
                rusqlite::params![user_id, rev, text],
            )?;
        }
        tx.execute(
            "UPDATE manifests SET revision = ?2, manifest = ?3 WHERE user_id = ?1",
            rusqlite::params![user_id, from + count, text],
        )?;
        tx.commit()
    })
    .unwrap();
}

/// One answer carries at most 1000 revisions (and 16 MiB of them): past
/// that, a 409 that says so rather than an answer of any size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manifest_history_is_capped() {
    let s = TestServer::start().await;
    let u = s.add_user("alice");
    let t = s.session(&u.id);
    grow_history(s.db(), &u.id, 1000, &u.vault.manifest().to_json());
    // Revisions 1 to 1001 are stored.
    let r = since(&s, &t, "since=1").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["history"].as_array().unwrap().len(), 1000);
    assert_json_error(&since(&s, &t, "since=0").await, 409, "history_too_long");
    assert_eq!(
        s.req("GET", "/api/manifest", Some(&t), None).await.status,
        200,
        "without since, the manifest is served as ever"
    );

    // Fewer, larger revisions: capped by size.
    let bob = s.add_user("bob");
    let bobs = s.session(&bob.id);
    let big = json!({ "pad": "x".repeat(200 << 10) }).to_string();
    grow_history(s.db(), &bob.id, 90, &big);
    // Revisions 1 to 91: 90 of them are about 18 MB, 71 about 14.5 MB.
    assert_json_error(&since(&s, &bobs, "since=0").await, 409, "history_too_long");
    let r = since(&s, &bobs, "since=20").await;
    assert_eq!(r.status, 200, "{}", r.status);
    assert_eq!(r.json()["history"].as_array().unwrap().len(), 71);
}

/// A database made before the history existed gets its current manifests as
/// the first entries of the history when it is opened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_without_history_starts_it_from_the_stored_manifests() {
    let dir = common::TempDir::new();
    let (user, text) = {
        let db = Db::open(dir.path(), 2).unwrap();
        let u = common::add_user(&db, "alice");
        db.write_blocking(|c| c.execute_batch("DROP TABLE manifest_history"))
            .unwrap();
        (u.id, u.vault.manifest().to_json())
    };
    let db = Db::open(dir.path(), 2).unwrap();
    let history = db
        .read_blocking(|c| db::manifest_history(c, &user, 0, 10, 1 << 20))
        .unwrap();
    assert_eq!(history, db::History::Revisions(vec![text]));
}

/// Revisions above 2^53 - 1 are refused with 400 and their own code, before
/// anything else is checked: a JavaScript client could not read them
/// exactly. (The manifests here are not re-signed, which the public core
/// cannot do; the range check comes first, so the code says what refused them.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_past_2_pow_53_is_refused_with_400() {
    let s = TestServer::start().await;
    let u = s.add_user("alice");
    let t = s.session(&u.id);
    let put = |revision: Value| {
        let mut m = manifest_json(&u);
        m["revision"] = revision;
        let body = json!({ "replaces": 1, "manifest": m }).to_string();
        let t = t.clone();
        let addr = s.addr;
        async move { common::http::request(addr, "PUT", "/api/manifest", Some(&t), Some(&body)).await }
    };
    for too_big in [
        json!(9_007_199_254_740_992u64),
        json!(1u64 << 62),
        json!(i64::MAX),
        json!(u64::MAX),
        serde_json::from_str::<Value>("18446744073709551616").unwrap(),
        json!(1e300),
        json!(-1),
        json!(0),
    ] {
        let r = put(too_big.clone()).await;
        assert_json_error(&r, 400, "revision_out_of_range");
    }
    // At the bound, the range check passes and the signature check refuses.
    let r = put(json!(9_007_199_254_740_991u64)).await;
    assert_json_error(&r, 400, "bad_request");
    let stored = s.req("GET", "/api/manifest", Some(&t), None).await.json();
    assert_eq!(stored["revision"], 1);
}

/// Signs in through `recover/finish` with a recovery login signed by
/// `vault` (unlocked with a recovery code), or, if it was not, with the
/// identity-key login proof it can make (what a removed passkey could try).
async fn recover_with(s: &TestServer, vault: &medseal::Vault) -> Resp {
    let body = json!({ "username": "alice" }).to_string();
    let j = s
        .req("POST", "/api/recover/start", None, Some(&body))
        .await
        .json();
    let challenge = Base64UrlUnpadded::decode_vec(j["challenge"].as_str().unwrap()).unwrap();
    let audience = j["audience"].as_str().unwrap();
    let sig = vault
        .sign_recovery_login(&challenge, audience)
        .or_else(|_| vault.sign_login_proof(&challenge, audience))
        .unwrap();
    let body = json!({ "flow": j["flow"], "signature": medseal::base64url(&sig) }).to_string();
    s.req("POST", "/api/recover/finish", None, Some(&body))
        .await
}

/// What the server's revocation does not cover: a revoked recovery code or
/// a removed passkey, with a copy of a manifest from before (anyone could
/// have one from `login/start`), still unlocks that manifest; it must not
/// sign in through recovery. It holds because the core re-keys on rotation
/// and removal (format 2: a new identity key, which `recover/finish` checks
/// proofs against); with the v1 core this failed (200).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_code_or_passkey_with_an_old_manifest_cannot_sign_in() {
    let s = TestServer::start().await;
    let mut u = s.add_user("alice");
    let t = s.session(&u.id);
    let phone = add_backup_passkey(&s, &mut u, &t).await;
    let old_manifest = u.vault.manifest().clone();
    let with_code = medseal::Vault::unlock_with_recovery_code(&old_manifest, &u.code, 1).unwrap();
    let honest = recover_with(&s, &with_code).await;
    assert_eq!(honest.status, 200, "{}", honest.text());
    let t = honest
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .and_then(|c| c.strip_prefix("medseal_session="))
        .unwrap()
        .to_string();

    let new_code = u.vault.rotate_recovery_code().unwrap();
    let r = s.put_manifest(&t, 2, u.vault.manifest()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    remove_passkey(&mut u.vault, &phone.raw_id);
    let r = s.put_manifest(&t, 3, u.vault.manifest()).await;
    assert_eq!(r.status, 200, "{}", r.text());

    let old_code = medseal::Vault::unlock_with_recovery_code(&old_manifest, &u.code, 1).unwrap();
    assert_json_error(&recover_with(&s, &old_code).await, 401, "recovery_failed");
    let prf = medseal::PrfOutput::new(&phone.prf).unwrap();
    let old_phone = medseal::Vault::unlock_with_prf(&old_manifest, &phone.raw_id, prf, 1).unwrap();
    assert_json_error(&recover_with(&s, &old_phone).await, 401, "recovery_failed");
    let current =
        medseal::Vault::unlock_with_recovery_code(u.vault.manifest(), &new_code, 3).unwrap();
    assert_eq!(
        recover_with(&s, &current).await.status,
        200,
        "the current code still recovers"
    );
    // The vault itself (unlocked with a passkey) holds the identity key but
    // not the code: its identity-key proof does not sign in through recovery.
    assert_json_error(&recover_with(&s, &u.vault).await, 401, "recovery_failed");
}

/// `recover/start` and `login/start` answer anyone who names the user,
/// before any proof: they serve the current manifest only, never older
/// revisions (which carry older wrapped keys: an older vault key still opens
/// what was sealed before a re-key). The history is for signed-in users.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_start_serves_no_older_manifests() {
    let s = TestServer::start().await;
    let mut u = s.add_user("alice");
    let t = s.session(&u.id);
    u.vault.rotate_recovery_code().unwrap();
    assert_eq!(s.put_manifest(&t, 1, u.vault.manifest()).await.status, 200);
    let body = json!({ "username": "alice" }).to_string();
    for path in [
        "/api/recover/start",
        "/api/recover/start?since=0",
        "/api/login/start?since=0",
    ] {
        let r = s.req("POST", path, None, Some(&body)).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        let j = r.json();
        assert_eq!(j["manifest"], manifest_json(&u), "{path}");
        assert!(j.get("history").is_none(), "{path}: {j}");
    }
}
