//! The vault log on the reference server (issue #15): a vault announces the
//! server's log key and appends its own entries over HTTP, the server
//! attests what only it sees (a grantee fetching shared records, a SMART
//! Health Link opened, sign-ins), and devices sync with the core's
//! `LogState`, the honest client, over `GET /api/log`.
//!
//! Then the server turns: a test edits the SQLite file as a compromised
//! server would (dropping, reordering, editing or forging entries,
//! truncating, forking, each time recomputing the stored hashes so the
//! server still serves self-consistent trees and proofs), and each attack
//! ends in the core's typed error at the device.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use std::net::IpAddr;
use std::sync::Arc;

use common::http;
use common::log::{
    announce, b64d, failed_passkey_login, fetch, get, lift_flow_limits, lift_link_limits,
    link_access_rows, log_size, make_link, now, open_link, post, post_leaf, proof_of, recover,
    recover_start, share, store_manifest, sync, sync_input, unlock,
};
use common::{assert_json_error, TestServer, TestUser};
use medseal::link::NewLink;
use medseal::log::entry::{Author, Entry, Event};
use medseal::log::merkle::{self, Hash, HashReader, MemoryTree};
use medseal::log::report::access_report;
use medseal::log::{LogState, ServerLogKey};
use medseal::{Error, Vault};
use medseal_server::db::{self, Db};
use medseal_server::{AppState, Config};
use serde_json::json;

/// A server whose per-address limits on ceremony starts and link requests
/// do not get in the way, with the test's own settings on top.
async fn server_with(configure: impl FnOnce(&mut Config)) -> TestServer {
    TestServer::start_configured(
        |c| {
            lift_flow_limits(c);
            lift_link_limits(c);
            configure(c);
        },
        None,
    )
    .await
}

async fn server() -> TestServer {
    server_with(|_| {}).await
}

/// A user made through the db layer, with a session.
fn user(s: &TestServer, name: &str) -> (TestUser, String) {
    s.signed_in(name)
}

/// The vault appends `ev` at the log's end.
async fn append(s: &TestServer, u: &TestUser, t: &str, ev: &Event) {
    let n = log_size(s, &u.id);
    let leaf = u.vault.log_entry(n, now(), ev).unwrap();
    let r = post_leaf(s, t, n, &leaf).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({ "size": n + 1 }));
}

/// A recovery sign-in whose proof does not verify: one server-attested
/// `login` event (once the log is announced).
async fn failed_recovery(s: &TestServer, name: &str) {
    let (_, _, flow) = recover_start(s, name).await;
    let body = json!({ "flow": flow, "signature": medseal::base64url(&[7u8; 64]) }).to_string();
    let r = s
        .req("POST", "/api/recover/finish", None, Some(&body))
        .await;
    assert_json_error(&r, 401, "recovery_failed");
}

fn local_token(s: &TestServer) -> String {
    s.state.network_token_of("127.0.0.1".parse().unwrap())
}

// ---- The attacker: the server's own database, edited directly. ----

/// The stored leaves of a user's log, in order.
fn leaves(db: &Db, user_id: &str) -> Vec<Vec<u8>> {
    db.read_blocking(|c| {
        let mut st = c.prepare("SELECT leaf FROM log_leaves WHERE user_id = ?1 ORDER BY n")?;
        let rows = st.query_map([user_id], |r| r.get(0))?;
        rows.collect()
    })
    .unwrap()
}

/// Replaces a user's stored log by `leaves`, with every complete-subtree
/// hash recomputed: the server serves a self-consistent tree of them.
fn rewrite(db: &Db, user_id: &str, leaves: &[Vec<u8>]) {
    db.write_blocking(|c| {
        let tx = c.transaction()?;
        tx.execute("DELETE FROM log_leaves WHERE user_id = ?1", [user_id])?;
        tx.execute("DELETE FROM log_hashes WHERE user_id = ?1", [user_id])?;
        let mut tree = MemoryTree::new();
        for (n, leaf) in leaves.iter().enumerate() {
            let n = n as u64;
            tx.execute(
                "INSERT INTO log_leaves (user_id, n, leaf) VALUES (?1, ?2, ?3)",
                rusqlite::params![user_id, n as i64, leaf],
            )?;
            for (level, idx, hash) in
                merkle::hashes_to_store(n, merkle::leaf_hash(leaf), &tree).unwrap()
            {
                tx.execute(
                    "INSERT INTO log_hashes (user_id, level, idx, hash) VALUES (?1, ?2, ?3, ?4)",
                    rusqlite::params![user_id, level, idx as i64, hash.as_slice()],
                )?;
            }
            tree.push(leaf);
        }
        tx.commit()
    })
    .unwrap();
}

/// A server entry signed again by the server's key at position `n`
/// (optionally with another event): it verifies on its own.
fn resign(s: &TestServer, origin: &str, leaf: &[u8], n: u64, event: Option<Event>) -> Vec<u8> {
    let e = Entry::parse(leaf).unwrap();
    assert_eq!(
        e.author,
        Author::Server,
        "only the server's entries can be re-signed"
    );
    s.state
        .log_key
        .entry(origin, n, e.t, &event.unwrap_or(e.event))
        .unwrap()
}

fn login_failed_event(from: &str) -> Event {
    Event::Login {
        method: "recovery".into(),
        outcome: "failed".into(),
        from: from.into(),
        via: None,
    }
}

// ---- The honest server. ----

/// Everything the server attests lands in the right vault's log, in
/// order, and a device verifies it all: entries, checkpoints, inclusion
/// proofs of shown entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_honest_server_logs_shares_links_and_sign_ins() {
    let s = server().await;
    let (mut alice, at) = user(&s, "alice");
    let (lee, lt) = user(&s, "dr-lee");
    let mut device = LogState::new(alice.vault.manifest().vault_id());

    // An empty log: the checkpoint of size 0, nothing to pin.
    let j = fetch(&s, &at, 0).await;
    assert_eq!(j["size"], 0);
    assert_eq!(j["more"], false);
    assert!(sync(&s, &alice, &at, &mut device).await.unwrap().is_empty());
    // Before the vault announced the key, the server attests nothing.
    failed_recovery(&s, "alice").await;
    assert_eq!(log_size(&s, &alice.id), 0);

    announce(&s, &alice, &at).await;
    append(&s, &alice, &at, &unlock("laptop")).await;

    // A grantee fetches shared records, then the grant expires.
    let grant = share(&s, &mut alice, &at, &lee, &["rec-1", "rec-2"]).await;
    let page = get(&s, &lt, &format!("/api/shared/{grant}")).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    s.db()
        .write_blocking(|c| {
            c.execute(
                "UPDATE grants SET expires = ?2 WHERE id = ?1",
                rusqlite::params![grant, db::now() - 1],
            )
        })
        .unwrap();
    let r = s
        .req("GET", &format!("/api/shared/{grant}"), Some(&lt), None)
        .await;
    assert_json_error(&r, 410, "grant_expired");

    // A link opened; sign-ins: recovery (ok, failed), passkey (failed).
    let l = make_link(&s, &mut alice, &at, None).await;
    let r = open_link(&s, &l.link_id, &json!({ "recipient": "City ER" }), None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = recover(&s, &alice).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // The recovery sign-in ended alice's other sessions: a new one.
    let at = s.session(&alice.id);
    failed_recovery(&s, "alice").await;
    assert_json_error(&failed_passkey_login(&s, "alice").await, 400, "bad_request");

    let got = sync(&s, &alice, &at, &mut device).await.unwrap();
    let from = local_token(&s);
    let events: Vec<(Author, Event)> = got.iter().map(|e| (e.author, e.event.clone())).collect();
    let server = |e: Event| (Author::Server, e);
    // A successful sign-in names the unlock entry that signed in (here the
    // recovery entry of alice's stored manifest); a failed one names none.
    let recovery_entry = alice
        .vault
        .manifest()
        .recovery_entry_id()
        .map(str::to_owned);
    let login = |method: &str, outcome: &str| {
        server(Event::Login {
            method: method.into(),
            outcome: outcome.into(),
            from: from.clone(),
            via: if outcome == "ok" {
                recovery_entry.clone()
            } else {
                None
            },
        })
    };
    assert_eq!(
        events,
        vec![
            (
                Author::Vault,
                Event::Server {
                    name: "medseal-server/log".into(),
                    key: medseal::base64url(&s.state.log_key.public_key()),
                }
            ),
            (Author::Vault, unlock("laptop")),
            server(Event::SharedFetch {
                grant: grant.clone(),
                by: "dr-lee".into(),
                records: vec!["rec-1".into(), "rec-2".into()],
                outcome: "ok".into(),
            }),
            server(Event::SharedFetch {
                grant: grant.clone(),
                by: "dr-lee".into(),
                records: vec![],
                outcome: "expired".into(),
            }),
            server(Event::LinkFetch {
                link: medseal::base64url(&l.share_id),
                recipient: "City ER".into(),
                from: from.clone(),
                outcome: "ok".into(),
            }),
            login("recovery", "ok"),
            login("recovery", "failed"),
            login("passkey", "failed"),
        ]
    );
    assert_eq!(from.len(), 8);
    // Nothing of the grantee's own log: the access is the grantor's.
    assert_eq!(log_size(&s, &lee.id), 0);

    // Shown entries come with inclusion proofs in the pinned tree.
    let n = device.size();
    let j = get(
        &s,
        &at,
        &format!("/api/log/entries?start=0&end={n}&size={n}"),
    )
    .await;
    let shown: Vec<(u64, Vec<u8>, Vec<Hash>)> = j["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["index"].as_u64().unwrap(),
                b64d(&e["leaf"]),
                proof_of(&e["proof"]),
            )
        })
        .collect();
    let verified = device.verify_included(&shown).unwrap();
    assert_eq!(verified, got);
    let report = access_report(&verified, None, None);
    assert!(report
        .iter()
        .any(|a| a.kind == "shared_fetch" && a.actor == "dr-lee" && a.records.len() == 2));
    // A part, against the pinned size.
    let j = get(&s, &at, &format!("/api/log/entries?start=3&end=5&size={n}")).await;
    assert_eq!(j["entries"].as_array().unwrap().len(), 2);

    // The device's next sync: nothing new, the cosigned head comes back.
    let j = fetch(&s, &at, n).await;
    assert_eq!(j["entries"], json!([]));
    assert_eq!(j["proof"], json!([]));
    assert_eq!(j["cosigned"].as_array().unwrap().len(), 1);
    assert_eq!(
        j["cosigned"][0]["note"].as_str(),
        Some(alice.vault.cosign_log(&device).unwrap().as_str())
    );
    assert!(sync(&s, &alice, &at, &mut device).await.unwrap().is_empty());
    // A second device of the vault syncs from nothing and gets the same.
    let mut phone = LogState::new(alice.vault.manifest().vault_id());
    assert_eq!(sync(&s, &alice, &at, &mut phone).await.unwrap(), got);
    assert_eq!(phone.root(), device.root());
    // No log line carries a network token or a recipient.
    for line in s.log.lines() {
        assert!(!line.contains(&from) && !line.contains("City ER"), "{line}");
    }
}

/// Each answer to a link's manifest request is a `link_fetch` in its
/// owner's log, with the spec's outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_link_outcome_is_logged() {
    let s = server().await;
    let (mut u, t) = user(&s, "alice");
    announce(&s, &u, &t).await;
    let with_code = make_link(&s, &mut u, &t, Some("open-4711")).await;
    let expiring = make_link(&s, &mut u, &t, None).await;
    let locked = make_link(&s, &mut u, &t, None).await;
    let revoked = make_link(&s, &mut u, &t, None).await;
    u.vault.revoke_share(&revoked.share_id).unwrap();
    store_manifest(&s, &u, &t).await;
    let ask = |recipient: &str| json!({ "recipient": recipient });
    let wrong = json!({ "recipient": "Dr. Who", "passcode": "guess" });
    let right = json!({ "recipient": "Dr. Who", "passcode": "open-4711" });
    assert_eq!(
        open_link(&s, &with_code.link_id, &wrong, None).await.status,
        401
    );
    assert_eq!(
        open_link(&s, &with_code.link_id, &right, None).await.status,
        200
    );
    // (The stored rows changed under the manifest: any manifest stored
    // from here on would revoke these two.)
    s.db()
        .write_blocking(|c| {
            c.execute(
                "UPDATE links SET expires = ?2 WHERE link_id = ?1",
                rusqlite::params![expiring.link_id, db::now() - 1],
            )?;
            c.execute(
                "UPDATE links SET attempts_left = 0 WHERE link_id = ?1",
                [&locked.link_id],
            )
        })
        .unwrap();
    assert_eq!(
        open_link(&s, &expiring.link_id, &ask("A"), None)
            .await
            .status,
        404
    );
    assert_eq!(
        open_link(&s, &locked.link_id, &ask("B"), None).await.status,
        404
    );
    assert_eq!(
        open_link(&s, &revoked.link_id, &ask("C"), None)
            .await
            .status,
        404
    );
    // A link id never stored is nobody's: nothing to log.
    let unknown = "A".repeat(43);
    assert_eq!(open_link(&s, &unknown, &ask("D"), None).await.status, 404);
    // A recipient longer than an entry's strings, with a control character:
    // cut at 256 bytes, the character replaced.
    let long = format!("\u{7}{}", "é".repeat(200));
    assert_eq!(
        open_link(
            &s,
            &with_code.link_id,
            &json!({ "recipient": long, "passcode": "open-4711" }),
            None
        )
        .await
        .status,
        200
    );

    let mut device = LogState::new(u.vault.manifest().vault_id());
    let got = sync(&s, &u, &t, &mut device).await.unwrap();
    let fetches: Vec<(String, String, String)> = got
        .iter()
        .filter_map(|e| match &e.event {
            Event::LinkFetch {
                link,
                recipient,
                outcome,
                from,
            } => {
                assert_eq!(from, &local_token(&s));
                Some((link.clone(), recipient.clone(), outcome.clone()))
            }
            _ => None,
        })
        .collect();
    let id = |l: &NewLink| medseal::base64url(&l.share_id);
    let cut = format!("\u{fffd}{}", "é".repeat(126));
    assert!(cut.len() <= 256 && cut.len() > 250);
    assert_eq!(
        fetches,
        vec![
            (id(&with_code), "Dr. Who".into(), "passcode".into()),
            (id(&with_code), "Dr. Who".into(), "ok".into()),
            (id(&expiring), "A".into(), "expired".into()),
            (id(&locked), "B".into(), "locked".into()),
            (id(&revoked), "C".into(), "revoked".into()),
            (id(&with_code), cut, "ok".into()),
        ]
    );
    // The link_access rows are still written, as before.
    assert_eq!(link_access_rows(&s), 5);
}

/// `from` is the token of the peer's /24, and of the first
/// `X-Forwarded-For` address only when the deployment trusts a proxy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_token_reads_forwarded_for_only_when_trusted() {
    for trusted in [false, true] {
        let s = server_with(|c| c.trust_forwarded = trusted).await;
        let (mut u, t) = user(&s, "alice");
        announce(&s, &u, &t).await;
        let l = make_link(&s, &mut u, &t, None).await;
        let body = json!({ "recipient": "ER" });
        let r = open_link(&s, &l.link_id, &body, Some("203.0.113.7, 10.0.0.1")).await;
        assert_eq!(r.status, 200);
        let r = open_link(&s, &l.link_id, &body, Some("203.0.113.200")).await;
        assert_eq!(r.status, 200);
        let mut device = LogState::new(u.vault.manifest().vault_id());
        let got = sync(&s, &u, &t, &mut device).await.unwrap();
        let froms: Vec<String> = got
            .iter()
            .filter_map(|e| match &e.event {
                Event::LinkFetch { from, .. } => Some(from.clone()),
                _ => None,
            })
            .collect();
        let ip: IpAddr = if trusted {
            "203.0.113.1".parse().unwrap()
        } else {
            "127.0.0.1".parse().unwrap()
        };
        let want = s.state.network_token_of(ip);
        assert_eq!(froms, vec![want.clone(), want], "trusted: {trusted}");
    }
}

/// Paging at the default page of 1000 entries: 1003 entries take two
/// answers, each with its own checkpoint and proof, and the second sync
/// brings the cosigned checkpoint of the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_log_syncs_in_pages_of_1000() {
    let s = server().await;
    let (u, t) = user(&s, "alice");
    announce(&s, &u, &t).await;
    // The server's own events are the cheap way to a long log: written
    // straight through the db layer, as the server's attest does.
    let origin = u.vault.log_origin();
    let key = Arc::clone(&s.state.log_key);
    s.db()
        .write_blocking(|c| {
            for _ in 0..1002 {
                let written = db::log_append(c, &u.id, 2_000_000, |o| {
                    key.entry(&origin, o.size, now(), &login_failed_event("net"))
                        .map_err(|_| ())
                })?;
                assert!(matches!(written, db::LogWrite::Appended(_)));
            }
            Ok(())
        })
        .unwrap();
    let mut device = LogState::new(u.vault.manifest().vault_id());
    let first = fetch(&s, &t, 0).await;
    assert_eq!(first["size"], 1000);
    assert_eq!(first["more"], true);
    device
        .sync(u.vault.manifest(), &sync_input(&first))
        .unwrap();
    let note = u.vault.cosign_log(&device).unwrap();
    let r = post(&s, &t, "/api/log/cosign", &json!({ "checkpoint": note })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let second = fetch(&s, &t, 1000).await;
    assert_eq!(second["size"], 1003);
    assert_eq!(second["more"], false);
    assert_eq!(second["entries"].as_array().unwrap().len(), 3);
    assert_eq!(second["cosigned"].as_array().unwrap().len(), 1);
    device
        .sync(u.vault.manifest(), &sync_input(&second))
        .unwrap();
    assert_eq!(device.size(), 1003);
    // The entries route pages at 1000 too.
    let r = s
        .req(
            "GET",
            "/api/log/entries?start=0&end=1001&size=1003",
            Some(&t),
            None,
        )
        .await;
    assert_json_error(&r, 400, "bad_request");
}

/// With a smaller page (a setting), a sync takes many answers; each
/// device's cosigned checkpoint is served to the others while it is not
/// beyond the page's head.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paging_follows_the_configured_page() {
    let s = server_with(|c| c.limits.log_page = 3).await;
    let (u, t) = user(&s, "alice");
    announce(&s, &u, &t).await;
    for i in 0..4 {
        append(&s, &u, &t, &unlock(&format!("device {i}"))).await;
    }
    let mut a = LogState::new(u.vault.manifest().vault_id());
    assert_eq!(sync(&s, &u, &t, &mut a).await.unwrap().len(), 5);
    for _ in 0..6 {
        failed_recovery(&s, "alice").await;
    }
    let mut b = LogState::new(u.vault.manifest().vault_id());
    let mut pages = 0;
    loop {
        let j = fetch(&s, &t, b.size()).await;
        let cosigned = j["cosigned"].as_array().unwrap().len();
        assert_eq!(cosigned, usize::from(j["size"].as_u64().unwrap() >= 5));
        b.sync(u.vault.manifest(), &sync_input(&j)).unwrap();
        pages += 1;
        if !j["more"].as_bool().unwrap() {
            break;
        }
    }
    assert_eq!((pages, b.size()), (4, 11));
    assert_eq!(sync(&s, &u, &t, &mut a).await.unwrap().len(), 6);
    assert_eq!(a.root(), b.root());
}

/// The log key is made once and kept: a restart on the same database
/// serves the same key (under the configured name), so the vault's
/// announcement stays valid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_key_is_made_once_and_kept() {
    let s = server_with(|c| c.log_key_name = "phr.example/log".into()).await;
    let (_u, t) = user(&s, "alice");
    let k = get(&s, &t, "/api/log/key").await;
    assert_eq!(k["name"], "phr.example/log");
    assert_eq!(b64d(&k["key"]), s.state.log_key.public_key().to_vec());
    let again = AppState::new(
        Config::new(s.dir.path().to_path_buf()),
        s.state.origin.clone(),
        Db::open(s.dir.path(), 1).unwrap(),
    )
    .unwrap();
    assert_eq!(again.log_key.public_key(), s.state.log_key.public_key());
    assert_eq!(again.log_key.name(), "medseal-server/log");
    let ip: IpAddr = "192.0.2.1".parse().unwrap();
    assert_eq!(again.network_token_of(ip), s.state.network_token_of(ip));
    let r = s.req("GET", "/api/log/key", None, None).await;
    assert_json_error(&r, 401, "unauthorized");
}

// ---- What the server refuses. ----

/// Appends no device would accept are refused: they would make the log
/// unsyncable past them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_the_vault_could_not_have_made_are_refused() {
    let s = server().await;
    let (mut u, t) = user(&s, "alice");
    let (bob, _) = user(&s, "bob");
    let origin = u.vault.log_origin();
    // Entry 0 announces this server's key, nothing else.
    let leaf = u.vault.log_entry(0, now(), &unlock("laptop")).unwrap();
    assert_json_error(&post_leaf(&s, &t, 0, &leaf).await, 400, "bad_announcement");
    let other = ServerLogKey::generate("medseal-server/log").unwrap();
    let leaf = u.vault.log_entry(0, now(), &other.announcement()).unwrap();
    assert_json_error(&post_leaf(&s, &t, 0, &leaf).await, 400, "bad_announcement");
    let ev = Event::Server {
        name: "other/log".into(),
        key: medseal::base64url(&s.state.log_key.public_key()),
    };
    let leaf = u.vault.log_entry(0, now(), &ev).unwrap();
    assert_json_error(&post_leaf(&s, &t, 0, &leaf).await, 400, "bad_announcement");
    assert_eq!(log_size(&s, &u.id), 0);
    announce(&s, &u, &t).await;

    // The position: the log's size, named by the request and the entry.
    let leaf = u.vault.log_entry(1, now(), &unlock("laptop")).unwrap();
    let r = post_leaf(&s, &t, 5, &leaf).await;
    assert_json_error(&r, 400, "bad_entry");
    let leaf5 = u.vault.log_entry(5, now(), &unlock("laptop")).unwrap();
    let r = post_leaf(&s, &t, 5, &leaf5).await;
    assert_json_error(&r, 409, "log_moved");
    assert_eq!(r.json()["size"], 1);
    let k = get(&s, &t, "/api/log/key").await;
    let again = Event::Server {
        name: k["name"].as_str().unwrap().into(),
        key: k["key"].as_str().unwrap().into(),
    };
    let leaf0 = u.vault.log_entry(0, now(), &again).unwrap();
    assert_json_error(&post_leaf(&s, &t, 0, &leaf0).await, 409, "log_moved");
    // Another vault's signature (its entry, for its own log).
    let leaf = bob.vault.log_entry(1, now(), &unlock("laptop")).unwrap();
    assert_json_error(&post_leaf(&s, &t, 1, &leaf).await, 400, "bad_signature");
    // An access event is the server's to write, whoever signed it.
    let leaf = s
        .state
        .log_key
        .entry(&origin, 1, now(), &login_failed_event("x"))
        .unwrap();
    assert_json_error(&post_leaf(&s, &t, 1, &leaf).await, 400, "bad_entry");
    // Another key announced later.
    let leaf = u.vault.log_entry(1, now(), &other.announcement()).unwrap();
    assert_json_error(&post_leaf(&s, &t, 1, &leaf).await, 400, "bad_announcement");
    // Not an entry at all.
    assert_json_error(&post_leaf(&s, &t, 1, b"hello").await, 400, "bad_entry");
    let r = post(&s, &t, "/api/log", &json!({ "size": 1, "leaf": "**" })).await;
    assert_json_error(&r, 400, "bad_entry");
    assert_eq!(log_size(&s, &u.id), 1);

    // After a re-key, the old epoch's key (a removed passkey still holds
    // it) writes nothing; a manifest entry names its own epoch.
    let old = Vault::unlock_with_recovery_code(u.vault.manifest(), &u.code, 1).unwrap();
    u.vault.rekey().unwrap();
    store_manifest(&s, &u, &t).await;
    let leaf = old.log_entry(1, now(), &unlock("stolen")).unwrap();
    assert_json_error(&post_leaf(&s, &t, 1, &leaf).await, 400, "wrong_epoch");
    let m = u.vault.manifest();
    let ev = |epoch| Event::Manifest {
        rev: m.revision(),
        hash: "h".into(),
        epoch,
        added: vec![],
        removed: vec![],
    };
    let leaf = u.vault.log_entry(1, now(), &ev(m.epoch() + 1)).unwrap();
    assert_json_error(&post_leaf(&s, &t, 1, &leaf).await, 400, "bad_entry");
    let e = ev(m.epoch());
    append(&s, &u, &t, &e).await;
    let mut device = LogState::new(u.vault.manifest().vault_id());
    assert_eq!(sync(&s, &u, &t, &mut device).await.unwrap().len(), 2);

    // No session, no x-medseal: as every signed-in route.
    let r = s.req("GET", "/api/log", None, None).await;
    assert_json_error(&r, 401, "unauthorized");
    let r = http::raw(
        s.addr,
        format!("GET /api/log HTTP/1.1\r\nhost: x\r\ncookie: medseal_session={t}\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert_json_error(&r, 403, "forbidden");
    // Entry ranges inside the log only.
    for q in [
        "start=1&end=1&size=2",
        "start=0&end=3&size=2",
        "start=0&end=1&size=3",
    ] {
        let r = s
            .req("GET", &format!("/api/log/entries?{q}"), Some(&t), None)
            .await;
        assert_json_error(&r, 400, "bad_request");
    }
}

/// A full log takes no more entries. The server's own events stop at 90%
/// of it (dropped with a log line), so that others' requests cannot fill
/// the log the vault writes to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_log_refuses_appends() {
    let s = server_with(|c| c.limits.log_max_entries = 20).await;
    let (u, t) = user(&s, "alice");
    announce(&s, &u, &t).await;
    for _ in 0..20 {
        failed_recovery(&s, "alice").await;
    }
    assert_eq!(log_size(&s, &u.id), 18);
    append(&s, &u, &t, &unlock("laptop")).await;
    append(&s, &u, &t, &unlock("laptop")).await;
    let leaf = u.vault.log_entry(20, now(), &unlock("laptop")).unwrap();
    assert_json_error(&post_leaf(&s, &t, 20, &leaf).await, 413, "log_full");
    assert_eq!(log_size(&s, &u.id), 20);
    assert!(s
        .log
        .lines()
        .iter()
        .any(|l| l == "vault log: a login event was not recorded (the log is full)"));
}

/// Only a checkpoint of this log, as the server holds it, cosigned by the
/// vault's current identity key, is kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cosigning_takes_only_the_vaults_signature_on_this_log() {
    let s = server().await;
    let (u, t) = user(&s, "alice");
    let (bob, bt) = user(&s, "bob");
    announce(&s, &u, &t).await;
    append(&s, &u, &t, &unlock("laptop")).await;
    announce(&s, &bob, &bt).await;
    let mut device = LogState::new(u.vault.manifest().vault_id());
    let j = fetch(&s, &t, 0).await;
    device.sync(u.vault.manifest(), &sync_input(&j)).unwrap();
    let cosign = |note: String| {
        let s = &s;
        let t = t.clone();
        async move { post(s, &t, "/api/log/cosign", &json!({ "checkpoint": note })).await }
    };
    // The server's own signature only: no vault signed it.
    let r = cosign(j["checkpoint"].as_str().unwrap().into()).await;
    assert_json_error(&r, 400, "bad_signature");
    // Another vault's signature (under its own log's name).
    let mut bobs = LogState::new(bob.vault.manifest().vault_id());
    bobs.sync(bob.vault.manifest(), &sync_input(&fetch(&s, &bt, 0).await))
        .unwrap();
    let r = cosign(bob.vault.cosign_log(&bobs).unwrap()).await;
    assert_json_error(&r, 400, "bad_checkpoint");
    // A signature that does not verify.
    let good = u.vault.cosign_log(&device).unwrap();
    let mut lines: Vec<String> = good.lines().map(String::from).collect();
    let last = lines.last_mut().unwrap();
    let at = last.len() - 12;
    let flipped = if last[at..].starts_with('A') {
        "B"
    } else {
        "A"
    };
    last.replace_range(at..at + 1, flipped);
    let bad = lines.join("\n") + "\n";
    assert_json_error(&cosign(bad).await, 400, "bad_signature");
    assert_json_error(&cosign("not a note".into()).await, 400, "bad_checkpoint");
    // The honest one, once; then the log shrinks under it.
    assert_eq!(cosign(good.clone()).await.status, 200);
    assert_eq!(cosign(good.clone()).await.status, 200);
    let count = || -> i64 {
        s.db()
            .read_blocking(|c| {
                c.query_row(
                    "SELECT COUNT(*) FROM log_cosigned WHERE user_id = ?1",
                    [&u.id],
                    |r| r.get(0),
                )
            })
            .unwrap()
    };
    assert_eq!(count(), 1);
    let kept = leaves(s.db(), &u.id);
    rewrite(s.db(), &u.id, &kept[..1]);
    assert_json_error(&cosign(good.clone()).await, 409, "log_mismatch");
    // Same size, another history.
    let forked = vec![
        kept[0].clone(),
        u.vault.log_entry(1, 1, &unlock("x")).unwrap(),
    ];
    rewrite(s.db(), &u.id, &forked);
    assert_json_error(&cosign(good).await, 409, "log_mismatch");
}

// ---- A compromised server: each attack caught by the honest device. ----

/// A vault with an announced log, `n` server-attested entries after the
/// announcement (its link opened by `reader 0`, `reader 1`, ...: entries
/// that differ, so that moving one changes the tree), and a device that
/// pinned it.
async fn pinned(n: usize) -> (TestServer, TestUser, String, LogState) {
    let s = server().await;
    let (mut u, t) = user(&s, "alice");
    announce(&s, &u, &t).await;
    let l = make_link(&s, &mut u, &t, None).await;
    for i in 0..n {
        let body = json!({ "recipient": format!("reader {i}") });
        assert_eq!(open_link(&s, &l.link_id, &body, None).await.status, 200);
    }
    let mut device = LogState::new(u.vault.manifest().vault_id());
    sync(&s, &u, &t, &mut device).await.unwrap();
    assert_eq!(device.size(), n as u64 + 1);
    (s, u, t, device)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_reordering_or_editing_seen_entries_is_inconsistent() {
    for attack in ["drop", "reorder", "edit"] {
        let (s, u, t, mut device) = pinned(5).await;
        let origin = u.vault.log_origin();
        failed_recovery(&s, "alice").await; // 7 entries, 6 pinned
        let mut l = leaves(s.db(), &u.id);
        match attack {
            "drop" => {
                l.remove(3);
            }
            "reorder" => l.swap(2, 3),
            _ => {
                // Entry 3 says another network tried.
                l[3] = resign(&s, &origin, &l[3], 3, Some(login_failed_event("elsewhere")));
            }
        }
        // Every server entry re-signed at its (new) position: each still
        // verifies on its own.
        let l: Vec<Vec<u8>> = l
            .iter()
            .enumerate()
            .map(|(i, leaf)| {
                if i == 0 {
                    leaf.clone()
                } else {
                    resign(&s, &origin, leaf, i as u64, None)
                }
            })
            .collect();
        rewrite(s.db(), &u.id, &l);
        failed_recovery(&s, "alice").await; // the real server appends on top
        let err = sync(&s, &u, &t, &mut device).await.unwrap_err();
        assert!(
            matches!(err, Error::LogInconsistent { seen: 6, .. }),
            "{attack}: {err:?}"
        );
        assert_eq!(device.size(), 6, "{attack}: the pin did not move");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_log_or_a_replayed_checkpoint_is_a_rollback() {
    let (s, u, t, _) = pinned(2).await;
    // A real answer of size 3, saved.
    let old = fetch(&s, &t, 0).await;
    assert_eq!(old["size"], 3);
    for _ in 0..4 {
        failed_recovery(&s, "alice").await;
    }
    let mut device = LogState::new(u.vault.manifest().vault_id());
    sync(&s, &u, &t, &mut device).await.unwrap();
    assert_eq!(device.size(), 7);
    let err = device
        .sync(u.vault.manifest(), &sync_input(&old))
        .unwrap_err();
    assert_eq!(
        err,
        Error::LogRolledBack {
            seen: 7,
            offered: 3
        }
    );
    // Truncated below the pin.
    let l = leaves(s.db(), &u.id);
    rewrite(s.db(), &u.id, &l[..5]);
    let err = sync(&s, &u, &t, &mut device).await.unwrap_err();
    assert_eq!(
        err,
        Error::LogRolledBack {
            seen: 7,
            offered: 5
        }
    );
    assert_eq!(device.size(), 7);
}

/// Device B is shown another history than device A: B catches it through
/// A's cosigned checkpoint, and A, shown the fork without it, by its own
/// pin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_between_two_devices_is_caught_by_either() {
    let (s, u, t, mut b) = pinned(1).await; // B pinned 2
    let origin = u.vault.log_origin();
    failed_recovery(&s, "alice").await;
    failed_recovery(&s, "alice").await;
    let mut a = LogState::new(u.vault.manifest().vault_id());
    sync(&s, &u, &t, &mut a).await.unwrap(); // A pinned and cosigned 4
    assert_eq!(a.size(), 4);
    let honest = leaves(s.db(), &u.id);
    // B's view: entries 2 and 3 are others (the server hides who tried).
    let mut forked = honest[..2].to_vec();
    for (n, leaf) in honest.iter().enumerate().skip(2) {
        let other = Some(login_failed_event("home"));
        forked.push(resign(&s, &origin, leaf, n as u64, other));
    }
    rewrite(s.db(), &u.id, &forked);
    let err = sync(&s, &u, &t, &mut b).await.unwrap_err();
    assert!(matches!(err, Error::LogForked { size: 4, .. }), "{err:?}");
    assert_eq!(b.size(), 2);
    // Without A's cosignature B could not tell; A can, from its own pin.
    s.db()
        .write_blocking(|c| c.execute("DELETE FROM log_cosigned", []))
        .unwrap();
    let mut tree = MemoryTree::new();
    forked.iter().for_each(|l| tree.push(l));
    let forked_root = tree.root(4).unwrap();
    let err = sync(&s, &u, &t, &mut a).await.unwrap_err();
    assert!(
        matches!(err, Error::LogForked { size: 4, offered, .. } if offered == forked_root),
        "{err:?}"
    );
    // Back to the honest history, A syncs again.
    rewrite(s.db(), &u.id, &honest);
    sync(&s, &u, &t, &mut a).await.unwrap();
}

/// An access event signed by a key the vault never announced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_server_event_is_invalid() {
    let (s, u, t, mut device) = pinned(1).await;
    let other = ServerLogKey::generate("medseal-server/log").unwrap();
    let mut l = leaves(s.db(), &u.id);
    l.push(
        other
            .entry(&u.vault.log_origin(), 2, now(), &login_failed_event("x"))
            .unwrap(),
    );
    rewrite(s.db(), &u.id, &l);
    let err = sync(&s, &u, &t, &mut device).await.unwrap_err();
    assert_eq!(err, Error::LogEntryInvalid { index: 2 });
    assert_eq!(device.size(), 2);
}

/// A server that leaves out the consistency proof, or an inclusion proof.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_proof_is_reported() {
    let (s, u, t, mut device) = pinned(1).await;
    failed_recovery(&s, "alice").await;
    let mut j = fetch(&s, &t, device.size()).await;
    assert!(!j["proof"].as_array().unwrap().is_empty());
    j["proof"] = json!([]);
    let err = device
        .sync(u.vault.manifest(), &sync_input(&j))
        .unwrap_err();
    assert_eq!(err, Error::LogProofMissing);
    sync(&s, &u, &t, &mut device).await.unwrap();
    let j = get(&s, &t, "/api/log/entries?start=1&end=2&size=3").await;
    let (index, leaf) = (
        j["entries"][0]["index"].as_u64().unwrap(),
        b64d(&j["entries"][0]["leaf"]),
    );
    assert_eq!(
        device
            .verify_included(&[(index, leaf, vec![])])
            .unwrap_err(),
        Error::LogProofMissing
    );
}

/// The stored hashes are what the core computes for the stored leaves (the
/// server's tree and the device's agree by construction, not by luck).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stored_tree_is_the_rfc_6962_tree_of_the_leaves() {
    let (s, u, _t, device) = pinned(6).await;
    let l = leaves(s.db(), &u.id);
    let mut tree = MemoryTree::new();
    l.iter().for_each(|x| tree.push(x));
    assert_eq!(tree.root(7).unwrap(), device.root());
    let stored: Vec<(u8, u64, Vec<u8>)> = s
        .db()
        .read_blocking(|c| {
            let mut st = c.prepare(
                "SELECT level, idx, hash FROM log_hashes WHERE user_id = ?1 ORDER BY level, idx",
            )?;
            let rows = st.query_map([&u.id], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? as u64, r.get(2)?))
            })?;
            rows.collect()
        })
        .unwrap();
    // 7 leaves: 7 + 3 + 1 complete subtrees.
    assert_eq!(stored.len(), 11);
    for (level, idx, hash) in stored {
        assert_eq!(tree.read(level, idx).unwrap().to_vec(), hash);
    }
}

/// A database made before the vault log: it opens with the log's tables,
/// and `retired_links` gains its owner columns, filled from then on by the
/// trigger (a revoked link is then logged as such).
#[test]
fn an_older_database_gains_the_log_and_retired_link_owners() {
    let dir = common::TempDir::new();
    let user = {
        let db = Db::open(dir.path(), 1).unwrap();
        let u = common::add_user(&db, "alice");
        db.write_blocking(|c| {
            c.execute_batch(
                "DROP TABLE log_leaves; DROP TABLE log_hashes; DROP TABLE log_cosigned;
                 DROP TABLE server_secrets; DROP TRIGGER links_retire; DROP TABLE retired_links;
                 CREATE TABLE retired_links (link_id TEXT PRIMARY KEY, retired INTEGER NOT NULL);
                 INSERT INTO retired_links VALUES ('old-link', 1);
                 CREATE TRIGGER links_retire AFTER DELETE ON links BEGIN
                   INSERT OR IGNORE INTO retired_links (link_id, retired)
                     VALUES (old.link_id, CAST(strftime('%s', 'now') AS INTEGER));
                 END;",
            )
        })
        .unwrap();
        u.id
    };
    let db = Db::open(dir.path(), 1).unwrap();
    assert_eq!(db.read_blocking(|c| db::log_size(c, &user)).unwrap(), 0);
    let rows: Vec<(String, Option<String>, Option<String>)> = db
        .write_blocking(|c| {
            c.execute(
                "INSERT INTO links (link_id, share_id, owner, flag, expires, created)
                 VALUES ('new-link', 'share-1', ?1, '', 1, 1)",
                [&user],
            )?;
            c.execute("DELETE FROM links WHERE link_id = 'new-link'", [])?;
            let mut st =
                c.prepare("SELECT link_id, owner, share_id FROM retired_links ORDER BY link_id")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })
        .unwrap();
    assert_eq!(
        rows,
        vec![
            (
                "new-link".to_string(),
                Some(user),
                Some("share-1".to_string())
            ),
            ("old-link".to_string(), None, None),
        ]
    );
}
