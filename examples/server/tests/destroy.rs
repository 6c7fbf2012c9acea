//! Deletion that destroys keys (GDPR art. 17), against the real server
//! and its SQLite file.
//!
//! First the attack on a plain deletion: rows deleted without
//! `secure_delete` leave their ciphertext in the file's free pages (and the
//! write-ahead log), where a copy of the data folder finds it. Then an
//! account with everything an account can have (records, manifest history,
//! a grant made and one received, a SMART Health Link, the vault log, an
//! attachment, sessions, a recovery sign-in under way) is deleted through
//! `POST /api/account/delete/*` with its vault's destroy request: nothing
//! opens, signs in or answers for it afterwards, no file under the data
//! folder holds its ciphertext, and the tombstone verifies under the
//! server's log key. A request that is not exactly this vault's, for this
//! challenge, this site and the stored manifest, deletes nothing.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::path::Path;

use common::http::Resp;
use common::log::{announce, lift_flow_limits, lift_link_limits, make_link, open_link, share};
use common::{assert_json_error, TestServer, TestUser};
use medseal::destroy::verify_tombstone;
use medseal::{Error, Manifest, RecordContext};
use serde_json::{json, Value};

/// Every file under `dir` (the database, its -wal and -shm, attachments).
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The files under `dir` that hold `needle`.
fn holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    files_under(dir)
        .into_iter()
        .filter(|p| {
            std::fs::read(p)
                .map(|d| d.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
        })
        .map(|p| p.display().to_string())
        .collect()
}

/// A distinctive piece of a sealed record's text form (48 base64url characters from its body).
fn piece(sealed: &str) -> Vec<u8> {
    sealed.as_bytes()[40..88].to_vec()
}

async fn stored_record(
    s: &TestServer,
    token: &str,
    id: &str,
    text: &[u8],
    u: &mut TestUser,
) -> String {
    let sealed = common::sealed(&mut u.vault, id, text);
    let r = s
        .req(
            "PUT",
            &format!("/api/records/{id}"),
            Some(token),
            Some(&json!({ "sealed": sealed }).to_string()),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    sealed
}

fn checkpoint(s: &TestServer) {
    s.db()
        .write_blocking(|c| c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())))
        .unwrap();
}

/// The attack on a plain deletion: a user row deleted (its records going by
/// cascade) on a connection without `secure_delete` leaves the ciphertext
/// in the file's free pages, where a copy of the file finds it.
#[tokio::test]
async fn a_plain_row_deletion_leaves_the_ciphertext_in_the_file() {
    let s = TestServer::start().await;
    let (mut u, t) = s.signed_in("pat");
    let sealed = stored_record(&s, &t, "rec-1", b"penicillin: hives", &mut u).await;
    let path = s.dir.path().join("medseal.sqlite3");
    let c = rusqlite::Connection::open(&path).unwrap();
    c.execute_batch("PRAGMA foreign_keys = ON; PRAGMA secure_delete = OFF;")
        .unwrap();
    c.execute("DELETE FROM users WHERE id = ?1", [&u.id])
        .unwrap();
    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .unwrap();
    let n: i64 = c
        .query_row("SELECT COUNT(*) FROM records", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0, "the row is gone");
    assert!(
        !holding(s.dir.path(), &piece(&sealed)).is_empty(),
        "the ciphertext is still in the file"
    );
}

/// The server's own connection overwrites what it deletes.
#[tokio::test]
async fn the_servers_connection_overwrites_what_it_deletes() {
    let s = TestServer::start().await;
    let (mut u, t) = s.signed_in("pat");
    let sealed = stored_record(&s, &t, "rec-1", b"penicillin: hives", &mut u).await;
    let id = u.id.clone();
    s.db()
        .write_blocking(|c| c.execute("DELETE FROM users WHERE id = ?1", [&id]))
        .unwrap();
    checkpoint(&s);
    assert_eq!(holding(s.dir.path(), &piece(&sealed)), Vec::<String>::new());
}

// ------------------------------------------------------------ the whole account

/// `delete/start` with the session `t`: (flow, challenge, audience).
async fn delete_start(s: &TestServer, t: &str) -> (Value, Vec<u8>, String) {
    let r = s
        .req("POST", "/api/account/delete/start", Some(t), None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    (
        j["flow"].clone(),
        common::log::b64d(&j["challenge"]),
        j["audience"].as_str().unwrap().to_string(),
    )
}

async fn delete_finish(s: &TestServer, t: &str, flow: &Value, sig: &[u8]) -> Resp {
    let body = json!({ "flow": flow, "signature": medseal::base64url(sig) }).to_string();
    s.req("POST", "/api/account/delete/finish", Some(t), Some(&body))
        .await
}

/// A sealed attachment `id`, uploaded as the browser does (octet-stream body).
async fn upload(s: &TestServer, t: &str, u: &mut TestUser, id: &str) -> Vec<u8> {
    let plain: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
    let sealed = u
        .vault
        .seal_stream(&RecordContext::new(id.as_bytes()), 1)
        .unwrap()
        .seal_all(&plain)
        .unwrap();
    let mut req = format!(
        "PUT /api/attachments/{id} HTTP/1.1\r\nhost: 127.0.0.1\r\nx-medseal: 1\r\ncookie: medseal_session={t}\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\n\r\n",
        sealed.len()
    )
    .into_bytes();
    req.extend_from_slice(&sealed);
    let r = common::http::raw(s.addr, &req).await;
    assert_eq!(r.status, 201, "{}", r.text());
    sealed
}

fn rows<T: rusqlite::types::FromSql>(s: &TestServer, sql: &str, id: &str) -> Vec<T> {
    s.db()
        .read_blocking(|c| {
            let mut st = c.prepare(sql)?;
            let r = st.query_map([id], |r| r.get(0))?;
            r.collect()
        })
        .unwrap()
}

/// Distinctive pieces of everything the account stored, read from the
/// database before the deletion: record ciphertext, every revision's
/// wrapped keys, a link file (JWE), a grant slot, a vault log entry's
/// signature, and the account's ids.
fn account_needles(s: &TestServer, u: &TestUser) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for sealed in rows::<String>(s, "SELECT sealed FROM records WHERE user_id = ?1", &u.id) {
        out.push(("record".into(), piece(&sealed)));
    }
    let manifests = rows::<String>(
        s,
        "SELECT manifest FROM manifest_history WHERE user_id = ?1",
        &u.id,
    );
    assert!(manifests.len() >= 3, "a history of several revisions");
    for text in manifests {
        let m: Value = serde_json::from_str(&text).unwrap();
        for e in m["unlock"].as_array().unwrap() {
            out.push((
                "wrapped vault key".into(),
                e["wrappedVaultKey"].as_str().unwrap().as_bytes().to_vec(),
            ));
        }
        out.push((
            "wrapped identity key".into(),
            m["identityKey"]["wrappedPrivateKey"]
                .as_str()
                .unwrap()
                .as_bytes()
                .to_vec(),
        ));
    }
    for jwe in rows::<String>(
        s,
        "SELECT f.jwe FROM link_files f JOIN links l ON l.link_id = f.link_id WHERE l.owner = ?1",
        &u.id,
    ) {
        out.push((
            "link file".into(),
            jwe.as_bytes()[jwe.len() / 2..jwe.len() / 2 + 48].to_vec(),
        ));
    }
    for slot in rows::<String>(
        s,
        "SELECT s.slot FROM grant_slots s JOIN grants g ON g.id = s.grant_id WHERE g.grantor = ?1 OR g.grantee = ?1",
        &u.id,
    ) {
        out.push(("grant slot".into(), slot.into_bytes()));
    }
    for leaf in rows::<Vec<u8>>(s, "SELECT leaf FROM log_leaves WHERE user_id = ?1", &u.id) {
        out.push(("log entry".into(), leaf[16..80].to_vec()));
    }
    out.push(("user id".into(), u.id.as_bytes().to_vec()));
    out.push(("username".into(), u.name.as_bytes().to_vec()));
    out.push(("credential id".into(), u.cred_id.as_bytes().to_vec()));
    assert!(out.iter().filter(|(k, _)| k == "record").count() >= 2);
    for kind in ["link file", "grant slot", "log entry"] {
        assert!(
            out.iter().any(|(k, _)| k == kind),
            "the account has a {kind}"
        );
    }
    out
}

/// Every value of every row of every table that holds `needle` (the
/// tables other sessions add later are scanned too), by table.
fn tables_holding(s: &TestServer, needle: &str) -> Vec<String> {
    s.db()
        .read_blocking(|c| {
            let tables: Vec<String> = {
                let mut st = c.prepare("SELECT name FROM sqlite_master WHERE type = 'table'")?;
                let r = st.query_map([], |r| r.get(0))?;
                r.collect::<rusqlite::Result<_>>()?
            };
            let mut found = Vec::new();
            for t in tables {
                let mut st = c.prepare(&format!("SELECT * FROM \"{t}\""))?;
                let n = st.column_count();
                let mut q = st.query([])?;
                while let Some(row) = q.next()? {
                    for i in 0..n {
                        let hit = match row.get_ref(i)? {
                            rusqlite::types::ValueRef::Text(b)
                            | rusqlite::types::ValueRef::Blob(b) => {
                                b.windows(needle.len()).any(|w| w == needle.as_bytes())
                            }
                            _ => false,
                        };
                        if hit {
                            found.push(t.clone());
                        }
                    }
                }
            }
            Ok(found)
        })
        .unwrap()
}

/// The deleted account with everything an account can have, and the world
/// around it: a clinician it shares with (who shares back), a link.
struct World {
    s: TestServer,
    pat: TestUser,
    t: String,
    /// A second session of the patient's (another device).
    t2: String,
    lee: TestUser,
    lt: String,
    grant_to_lee: String,
    grant_to_pat: String,
    link_id: String,
    attachment: Vec<u8>,
    log_key: (String, Vec<u8>),
}

async fn world() -> World {
    let s = TestServer::start_configured(
        |c| {
            lift_flow_limits(c);
            lift_link_limits(c);
        },
        None,
    )
    .await;
    let (mut pat, t) = s.signed_in("pat-7f3e9c");
    let t2 = s.session(&pat.id);
    let (mut lee, lt) = s.signed_in("dr-lee-41b2");
    announce(&s, &pat, &t).await;
    let k = common::log::get(&s, &t, "/api/log/key").await;
    let log_key = (
        k["name"].as_str().unwrap().to_string(),
        common::log::b64d(&k["key"]),
    );
    stored_record(&s, &t, "rec-allergy", b"penicillin: hives", &mut pat).await;
    let grant_to_lee = share(&s, &mut pat, &t, &lee, &["rec-1", "rec-2"]).await;
    let grant_to_pat = share(&s, &mut lee, &lt, &pat, &["lee-1"]).await;
    let link = make_link(&s, &mut pat, &t, None).await;
    let attachment = upload(&s, &t, &mut pat, "scan-1").await;
    // The grantee reads, the link opens: both work before the deletion.
    let r = s
        .req(
            "GET",
            &format!("/api/shared/{grant_to_lee}"),
            Some(&lt),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["items"].as_array().unwrap().len(), 2);
    let r = open_link(&s, &link.link_id, &json!({ "recipient": "City ER" }), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    World {
        s,
        pat,
        t,
        t2,
        lee,
        lt,
        grant_to_lee,
        grant_to_pat,
        link_id: link.link_id,
        attachment,
        log_key,
    }
}

/// The account is all there (after a refused deletion).
async fn still_there(w: &World) {
    assert_eq!(w.s.me(&w.t).await.status, 200);
    let r = w.s.req("GET", "/api/records", Some(&w.t), None).await;
    assert_eq!(r.json()["records"].as_array().unwrap().len(), 3);
    let r =
        w.s.req(
            "GET",
            &format!("/api/shared/{}", w.grant_to_lee),
            Some(&w.lt),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(w
        .s
        .dir
        .path()
        .join("attachments")
        .join(&w.pat.id)
        .join("scan-1")
        .is_file());
    assert!(rows::<String>(&w.s, "SELECT note FROM tombstones WHERE ?1 = ?1", "").is_empty());
}

#[tokio::test]
async fn a_destroy_request_that_is_not_exactly_this_vaults_deletes_nothing() {
    let mut w = world().await;
    let (s, t) = (&w.s, w.t.clone());

    // Another vault's request, for this very challenge and site.
    let (flow, c, a) = delete_start(s, &t).await;
    let r = delete_finish(s, &t, &flow, &w.lee.vault.sign_destroy(&c, &a).unwrap()).await;
    assert_json_error(&r, 403, "destroy_refused");
    still_there(&w).await;
    // This vault, another challenge; another site.
    let (flow, c, a) = delete_start(s, &t).await;
    let mut other = c.clone();
    other[0] ^= 1;
    let r = delete_finish(s, &t, &flow, &w.pat.vault.sign_destroy(&other, &a).unwrap()).await;
    assert_json_error(&r, 403, "destroy_refused");
    let (flow, c, _) = delete_start(s, &t).await;
    let r = delete_finish(
        s,
        &t,
        &flow,
        &w.pat
            .vault
            .sign_destroy(&c, "https://evil.example")
            .unwrap(),
    )
    .await;
    assert_json_error(&r, 403, "destroy_refused");
    still_there(&w).await;
    // Another identity key: the vault re-keyed on this device but not stored (a new
    // identity key over a manifest the server does not hold).
    let (flow, c, a) = delete_start(s, &t).await;
    let mut rekeyed =
        medseal::Vault::unlock_with_recovery_code(w.pat.vault.manifest(), &w.pat.code, 1).unwrap();
    rekeyed.rekey().unwrap();
    let r = delete_finish(s, &t, &flow, &rekeyed.sign_destroy(&c, &a).unwrap()).await;
    assert_json_error(&r, 403, "destroy_refused");
    // The session alone: no signature, a junk one, one of another length.
    for junk in [vec![], vec![0u8; 64], vec![1u8; 63]] {
        let (flow, _, _) = delete_start(s, &t).await;
        assert_json_error(
            &delete_finish(s, &t, &flow, &junk).await,
            403,
            "destroy_refused",
        );
    }
    // The flow of the patient's, finished with another account's session; a flow used twice.
    let (flow, c, a) = delete_start(s, &t).await;
    let sig = w.pat.vault.sign_destroy(&c, &a).unwrap();
    assert_json_error(
        &delete_finish(s, &w.lt, &flow, &sig).await,
        401,
        "unauthorized",
    );
    assert_json_error(&delete_finish(s, &t, &flow, &sig).await, 400, "bad_request");
    // Without a session at all.
    let (flow, c, a) = delete_start(s, &t).await;
    let sig = w.pat.vault.sign_destroy(&c, &a).unwrap();
    let body = json!({ "flow": flow, "signature": medseal::base64url(&sig) }).to_string();
    let r = s
        .req("POST", "/api/account/delete/finish", None, Some(&body))
        .await;
    assert_json_error(&r, 401, "unauthorized");
    still_there(&w).await;
    // A request made on an older manifest: the patient's other device stored a newer one.
    let (flow, c, a) = delete_start(s, &t).await;
    let stale = w.pat.vault.sign_destroy(&c, &a).unwrap();
    let before = w.pat.vault.manifest().revision();
    w.pat.vault.rotate_recovery_code().unwrap();
    let r = s.put_manifest(&t, before, w.pat.vault.manifest()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_json_error(
        &delete_finish(s, &t, &flow, &stale).await,
        403,
        "destroy_refused",
    );
    still_there(&w).await;
}

#[tokio::test]
async fn deleting_an_account_leaves_nothing_of_it_and_a_tombstone() {
    let w = world().await;
    let s = &w.s;
    // A recovery sign-in under way before the deletion (finished after it).
    let (rc, ra, rflow) = common::log::recover_start(s, &w.pat.name).await;
    let needles = account_needles(s, &w.pat);
    let folder = s.dir.path().join("attachments").join(&w.pat.id);
    assert!(
        !holding(&folder, &w.attachment[1000..1064]).is_empty(),
        "the attachment is on disk"
    );
    let vault_id = medseal::base64url(w.pat.vault.manifest().vault_id());

    let (flow, c, a) = delete_start(s, &w.t).await;
    assert_eq!(a, s.state.origin);
    let sig = w.pat.vault.sign_destroy(&c, &a).unwrap();
    let r = delete_finish(s, &w.t, &flow, &sig).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let cookie = r.header("set-cookie").unwrap();
    assert!(
        cookie.starts_with("medseal_session=;") && cookie.contains("Max-Age=0"),
        "{cookie}"
    );
    let note = r.json()["tombstone"].as_str().unwrap().to_string();

    // The tombstone verifies under the log key the vault was shown (GET /api/log/key).
    let (name, key) = &w.log_key;
    let t = verify_tombstone(&note, name, key).unwrap();
    assert_eq!(t.vault_id.as_slice(), w.pat.vault.manifest().vault_id());
    assert_eq!(
        t.identity.as_slice(),
        w.pat.vault.manifest().identity_public_key()
    );
    assert_eq!(t.origin, s.state.origin);
    assert!(t.names_request(&sig));
    assert!(t.deleted.abs_diff(common::log::now()) < 60);
    assert_eq!(key.as_slice(), s.state.log_key.public_key().as_slice());
    // It names no person: not the username, not the user id, no record or credential id.
    for (what, n) in needles
        .iter()
        .filter(|(k, _)| k.contains("id") || k == "username")
    {
        assert!(
            !note.as_bytes().windows(n.len()).any(|x| x == n.as_slice()),
            "the tombstone holds the {what}"
        );
    }
    assert!(!note.contains("rec-"));
    // Public, by vault id; a forged or altered copy does not verify.
    let r = s
        .req("GET", &format!("/api/tombstones/{vault_id}"), None, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["tombstone"], note.as_str());
    let altered = note.replacen(
        &format!("deleted {}", t.deleted),
        &format!("deleted {}", t.deleted + 1),
        1,
    );
    assert_eq!(
        verify_tombstone(&altered, name, key),
        Err(Error::TombstoneInvalid)
    );
    let forger = medseal::log::ServerLogKey::generate(name).unwrap();
    assert_eq!(
        verify_tombstone(&t.sign(&forger).unwrap(), name, key),
        Err(Error::TombstoneInvalid)
    );
    let other = medseal::base64url(w.lee.vault.manifest().vault_id());
    for path in [
        format!("/api/tombstones/{other}"),
        "/api/tombstones/x".into(),
        "/api/tombstones/..%2F..".into(),
    ] {
        assert_json_error(&s.req("GET", &path, None, None).await, 404, "not_found");
    }

    // Every API route, with either of the account's old sessions: 401 or 404, and nothing of it.
    let routes: &[(&str, String, Option<&str>)] = &[
        ("GET", "/api/me".into(), None),
        ("GET", "/api/notice".into(), None),
        ("GET", "/api/manifest".into(), None),
        ("GET", "/api/manifest?since=0".into(), None),
        ("PUT", "/api/manifest".into(), Some("{}")),
        ("POST", "/api/passkeys/start".into(), None),
        ("POST", "/api/passkeys/finish".into(), Some("{}")),
        ("DELETE", format!("/api/passkeys/{}", w.pat.cred_id), None),
        ("GET", "/api/records".into(), None),
        ("GET", "/api/records/rec-1".into(), None),
        ("PUT", "/api/records/rec-1".into(), Some("{}")),
        ("DELETE", "/api/records/rec-1".into(), None),
        ("GET", format!("/api/people/{}", w.lee.name), None),
        ("GET", "/api/grants".into(), None),
        ("POST", "/api/grants".into(), Some("{}")),
        ("DELETE", format!("/api/grants/{}", w.grant_to_lee), None),
        (
            "POST",
            format!("/api/grants/{}/slots", w.grant_to_lee),
            Some("{}"),
        ),
        ("GET", "/api/shared".into(), None),
        ("GET", format!("/api/shared/{}", w.grant_to_pat), None),
        ("GET", "/api/log".into(), None),
        ("POST", "/api/log".into(), Some("{}")),
        ("GET", "/api/log/key".into(), None),
        ("GET", "/api/log/entries?start=0&end=1&size=1".into(), None),
        ("POST", "/api/log/cosign".into(), Some("{}")),
        ("GET", "/api/links".into(), None),
        ("POST", "/api/links".into(), Some("{}")),
        ("GET", "/api/attachments".into(), None),
        ("GET", "/api/attachments/scan-1".into(), None),
        ("PUT", "/api/attachments/scan-1".into(), Some("{}")),
        ("DELETE", "/api/attachments/scan-1".into(), None),
        ("PUT", "/api/attachments/scan-1/head".into(), Some("{}")),
        ("POST", "/api/account/delete/start".into(), None),
        ("POST", "/api/account/delete/finish".into(), Some("{}")),
    ];
    for token in [&w.t, &w.t2] {
        for (method, path, body) in routes {
            let r = s.req(method, path, Some(token), *body).await;
            assert!(
                r.status == 401 || r.status == 404,
                "{method} {path}: {} {}",
                r.status,
                r.text()
            );
            let text = r.text();
            for (what, n) in &needles {
                assert!(
                    !text.as_bytes().windows(n.len()).any(|x| x == n.as_slice()),
                    "{method} {path} answers the {what}"
                );
            }
        }
    }
    // No way back in: a passkey sign-in or a recovery for the name, and the recovery started before.
    let body = json!({ "username": w.pat.name }).to_string();
    assert_json_error(
        &s.req("POST", "/api/login/start", None, Some(&body)).await,
        400,
        "bad_request",
    );
    assert_json_error(
        &s.req("POST", "/api/recover/start", None, Some(&body)).await,
        400,
        "bad_request",
    );
    let with_code =
        medseal::Vault::unlock_with_recovery_code(w.pat.vault.manifest(), &w.pat.code, 1).unwrap();
    let rsig = with_code.sign_recovery_login(&rc, &ra).unwrap();
    let body = json!({ "flow": rflow, "signature": medseal::base64url(&rsig) }).to_string();
    let r = s
        .req("POST", "/api/recover/finish", None, Some(&body))
        .await;
    assert!(
        r.status >= 400 && r.header("set-cookie").is_none(),
        "{} {}",
        r.status,
        r.text()
    );
    // Not visible to others: the grantee's share is gone, the link answers nothing, the name is free.
    let r = s
        .req(
            "GET",
            &format!("/api/shared/{}", w.grant_to_lee),
            Some(&w.lt),
            None,
        )
        .await;
    assert_json_error(&r, 404, "not_found");
    let r = s.req("GET", "/api/shared", Some(&w.lt), None).await;
    assert_eq!(r.status, 200);
    assert!(!r.text().contains(&w.pat.name));
    let r = s
        .req(
            "GET",
            &format!("/api/people/{}", w.pat.name),
            Some(&w.lt),
            None,
        )
        .await;
    assert_json_error(&r, 404, "not_found");
    let r = s.req("GET", "/api/grants", Some(&w.lt), None).await;
    assert_eq!(
        r.json()["grants"].as_array().unwrap().len(),
        0,
        "the grant to the deleted account is gone"
    );
    let r = open_link(s, &w.link_id, &json!({ "recipient": "City ER" }), None).await;
    assert_json_error(&r, 404, "not_found");
    // The link id stays retired (no one may register it again), with no owner.
    let owners = rows::<Option<String>>(
        s,
        "SELECT owner FROM retired_links WHERE link_id = ?1",
        &w.link_id,
    );
    assert_eq!(owners, vec![None]);
    // The clinician's own account is untouched.
    assert_eq!(s.me(&w.lt).await.status, 200);
    let r = s.req("GET", "/api/records/lee-1", Some(&w.lt), None).await;
    assert_eq!(r.status, 200);

    // Nothing of it in any table but its tombstone, and no byte of it in any file.
    for id in [&w.pat.id, &w.pat.name, &w.pat.cred_id] {
        assert_eq!(tables_holding(s, id), Vec::<String>::new(), "{id}");
    }
    let mut with_vault_id = tables_holding(s, &vault_id);
    with_vault_id.dedup();
    assert_eq!(with_vault_id, vec!["tombstones".to_string()]);
    assert!(!folder.exists(), "the attachment folder is gone");
    let db = s.dir.path().join("medseal.sqlite3");
    let wal = s.dir.path().join("medseal.sqlite3-wal");
    assert!(
        std::fs::metadata(&wal).map_or(true, |m| m.len() == 0),
        "the write-ahead log is emptied"
    );
    assert!(std::fs::metadata(&db).unwrap().len() > 0);
    let mut all = needles.clone();
    all.push(("attachment".into(), w.attachment[1000..1064].to_vec()));
    all.push((
        "attachment tail".into(),
        w.attachment[w.attachment.len() - 64..].to_vec(),
    ));
    for (what, n) in &all {
        assert_eq!(
            holding(s.dir.path(), n),
            Vec::<String>::new(),
            "the {what} is still in a file"
        );
    }
    // The clinician's ciphertext is still there (the search finds what exists).
    let lee_record = rows::<String>(
        s,
        "SELECT sealed FROM records WHERE user_id = ?1",
        &w.lee.id,
    );
    assert!(!holding(s.dir.path(), &piece(&lee_record[0])).is_empty());
    // Every connection overwrites what it deletes.
    let on: i64 = s
        .db()
        .read_blocking(|c| c.query_row("PRAGMA secure_delete", [], |r| r.get(0)))
        .unwrap();
    assert_eq!(on, 1);

    // The vault id is not reserved: a sign-up presenting the old (public) manifest, with a
    // credential of the id it names, is accepted (SECURITY.md §8d says so). It holds no record
    // and no key, and the tombstone stays published.
    let body = json!({ "username": "someone-else" }).to_string();
    let start = s
        .req("POST", "/api/signup/start", None, Some(&body))
        .await
        .json();
    let raw_id = medseal::base64url_decode(&w.pat.cred_id).unwrap();
    let credential =
        common::authenticator::registration(&start["options"], &s.state.origin, &raw_id);
    let old: Value = serde_json::from_str(&w.pat.vault.manifest().to_json()).unwrap();
    let body =
        json!({ "flow": start["flow"], "credential": credential, "manifest": old }).to_string();
    let r = s.req("POST", "/api/signup/finish", None, Some(&body)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let t = common::authenticator::session_of(&r);
    let r = s.req("GET", "/api/records", Some(&t), None).await;
    assert_eq!(r.json()["records"].as_array().unwrap().len(), 0);
    let r = s
        .req("GET", &format!("/api/tombstones/{vault_id}"), None, None)
        .await;
    assert_eq!(r.json()["tombstone"], note.as_str());
    assert!(Manifest::from_json(&old.to_string()).is_ok());
}
