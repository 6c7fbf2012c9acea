//! Security review of the vault log on the reference server (issue #15):
//! attacks by a grantee or an outsider against an honest server. Each test
//! asserts what SECURITY.md §8b promises; a FAILING test is an attack that
//! works against today's code.

#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod common;

use common::http::Resp;
use common::{TestServer, TestUser};
use medseal::log::entry::{Entry, Event};
use medseal::log::report::{alerts, AlertRules};
use medseal::log::{Cosigned, LogState, SyncInput};
use medseal::{GrantRequest, GrantScope, RecordContext};
use medseal_server::db;
use serde_json::{json, Value};

const DAY: u64 = 86_400;

fn now() -> u64 {
    u64::try_from(db::now()).unwrap()
}

fn b64d(v: &Value) -> Vec<u8> {
    medseal::base64url_decode(v.as_str().unwrap()).unwrap()
}

async fn server_with(max_entries: u64) -> TestServer {
    TestServer::start_configured(
        |c| {
            c.limits.flow_starts_burst = 10_000;
            c.limits.flow_starts_per_minute = 10_000;
            c.limits.log_max_entries = max_entries;
        },
        None,
    )
    .await
}

async fn get(s: &TestServer, t: &str, path: &str) -> Value {
    let r = s.req("GET", path, Some(t), None).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.json()
}

async fn post(s: &TestServer, t: &str, path: &str, body: &Value) -> Resp {
    s.req("POST", path, Some(t), Some(&body.to_string())).await
}

fn log_size(s: &TestServer, user_id: &str) -> u64 {
    s.db().read_blocking(|c| db::log_size(c, user_id)).unwrap()
}

async fn announce(s: &TestServer, u: &TestUser, t: &str) {
    let k = get(s, t, "/api/log/key").await;
    let ev = Event::Server {
        name: k["name"].as_str().unwrap().into(),
        key: k["key"].as_str().unwrap().into(),
    };
    let leaf = u.vault.log_entry(0, now(), &ev).unwrap();
    let body = json!({ "size": 0, "leaf": medseal::base64url(&leaf) });
    let r = post(s, t, "/api/log", &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

async fn store_manifest(s: &TestServer, u: &TestUser, t: &str) {
    let replaces = get(s, t, "/api/manifest").await["revision"]
        .as_u64()
        .unwrap();
    let r = s.put_manifest(t, replaces, u.vault.manifest()).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// The patient grants records `ids` to `grantee` through the API; the grant id.
async fn share(
    s: &TestServer,
    patient: &mut TestUser,
    t: &str,
    grantee: &TestUser,
    ids: &[&str],
) -> String {
    for id in ids {
        let sealed = common::sealed(&mut patient.vault, id, b"a record");
        let r = s
            .req(
                "PUT",
                &format!("/api/records/{id}"),
                Some(t),
                Some(&json!({ "sealed": sealed }).to_string()),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let g = patient
        .vault
        .grant(GrantRequest {
            grantee: grantee.vault.manifest(),
            scope: GrantScope::Records(ids.iter().map(|s| s.to_string()).collect()),
            created: now(),
            expires: now() + DAY,
        })
        .unwrap()
        .grant;
    store_manifest(s, patient, t).await;
    let mut slots = Vec::new();
    for id in ids {
        let text = get(s, t, &format!("/api/records/{id}")).await["sealed"]
            .as_str()
            .unwrap()
            .to_string();
        let sealed = medseal::record::from_text(&text).unwrap();
        let slot = patient
            .vault
            .grant_slot(&g, &sealed, &RecordContext::new(id.as_bytes()), now())
            .unwrap();
        slots.push(json!({ "recordId": id, "slot": medseal::base64url(&slot) }));
    }
    let r = post(
        s,
        t,
        "/api/grants",
        &json!({ "grant": g.to_json(), "slots": slots }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["id"].as_str().unwrap().to_string()
}

fn proof_of(v: &Value) -> Vec<medseal::log::merkle::Hash> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| b64d(h).try_into().unwrap())
        .collect()
}

/// The device syncs everything (pages) and returns the verified entries.
async fn sync_all(s: &TestServer, u: &TestUser, t: &str, state: &mut LogState) -> Vec<Entry> {
    let mut got = Vec::new();
    loop {
        let j = get(s, t, &format!("/api/log?from={}", state.size())).await;
        let input = SyncInput {
            checkpoint: j["checkpoint"].as_str().unwrap().to_string(),
            proof: proof_of(&j["proof"]),
            entries: j["entries"].as_array().unwrap().iter().map(b64d).collect(),
            cosigned: j["cosigned"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| Cosigned {
                    note: c["note"].as_str().unwrap().to_string(),
                    proof: proof_of(&c["proof"]),
                })
                .collect(),
        };
        got.extend(state.sync(u.vault.manifest(), &input).unwrap());
        if !j["more"].as_bool().unwrap() {
            break;
        }
    }
    got
}

/// A passkey sign-in by someone who only knows the username: its
/// credential is junk, the server records `login passkey failed`.
async fn failed_passkey_login(s: &TestServer, name: &str) {
    let body = json!({ "username": name }).to_string();
    let r = s.req("POST", "/api/login/start", None, Some(&body)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = json!({ "flow": r.json()["flow"], "credential": { "id": "x" } }).to_string();
    let r = s.req("POST", "/api/login/finish", None, Some(&body)).await;
    assert!(r.status >= 400, "{}", r.text());
}

/// FINDING (malicious grantee, honest server): the server stops attesting
/// access events at 90% of a log's most entries, and a grantee can get it
/// there on its own with fetches of an EMPTY page (`after` a cursor past
/// the last record): each one a `shared_fetch` of 0 records, which no alert
/// rule counts (burst counts records). Once there, every fetch of the
/// patient's records goes unrecorded; the request still succeeds. With the
/// default 1,000,000 entries that is 900,000 cheap authenticated GETs, with
/// no rate limit on `/api/shared/{id}`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grantee_fills_the_log_then_fetches_unrecorded() {
    let s = server_with(40).await;
    let (mut alice, at) = s.signed_in("alice");
    let (lee, lt) = s.signed_in("dr-lee");
    announce(&s, &alice, &at).await;
    let grant = share(&s, &mut alice, &at, &lee, &["rec-1", "rec-2"]).await;
    let mut device = LogState::new(alice.vault.manifest().vault_id());
    sync_all(&s, &alice, &at, &mut device).await;
    let since = device.size();

    let past_the_end = medseal::base64url(b"zzzz");
    let mut last = log_size(&s, &alice.id);
    loop {
        let page = get(
            &s,
            &lt,
            &format!("/api/shared/{grant}?limit=1&after={past_the_end}"),
        )
        .await;
        assert!(page["items"].as_array().unwrap().is_empty());
        let n = log_size(&s, &alice.id);
        if n == last {
            break;
        }
        last = n;
    }
    assert_eq!(last, 36, "the server's events stopped at 90%");
    // The real fetch: both records served.
    let page = get(&s, &lt, &format!("/api/shared/{grant}")).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);

    let mut all = LogState::new(alice.vault.manifest().vault_id());
    let entries = sync_all(&s, &alice, &at, &mut all).await;
    let raised = alerts(&entries, since, &[], &AlertRules::default());
    let served = entries
        .iter()
        .any(|e| matches!(&e.event, Event::SharedFetch { records, .. } if !records.is_empty()));
    assert!(
        served || !raised.is_empty(),
        "dr-lee fetched the patient's records unrecorded after filling the log \
         with {} empty fetches, and no alert was raised",
        last - since
    );
}

/// FINDING (outsider, honest server): anyone who knows the username fills
/// the vault's log with failed passkey sign-ins (no session needed; only the
/// per-address limit on ceremony starts, 20 a minute, slows one address),
/// which raise no alert; past 90% the next recovery-code sign-in, by
/// anyone, is no longer recorded, so `recovery-used` never fires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outsider_fills_the_log_so_a_recovery_sign_in_goes_unrecorded() {
    let s = server_with(30).await;
    let (alice, at) = s.signed_in("alice");
    announce(&s, &alice, &at).await;
    let mut device = LogState::new(alice.vault.manifest().vault_id());
    sync_all(&s, &alice, &at, &mut device).await;
    let since = device.size();
    for _ in 0..30 {
        failed_passkey_login(&s, "alice").await;
    }
    // A recovery sign-in (the recovery code's holder).
    let body = json!({ "username": "alice" }).to_string();
    let r = s.req("POST", "/api/recover/start", None, Some(&body)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    let with_code =
        medseal::Vault::unlock_with_recovery_code(alice.vault.manifest(), &alice.code, 1).unwrap();
    let sig = with_code
        .sign_recovery_login(&b64d(&j["challenge"]), j["audience"].as_str().unwrap())
        .unwrap();
    let body = json!({ "flow": j["flow"], "signature": medseal::base64url(&sig) }).to_string();
    let r = s
        .req("POST", "/api/recover/finish", None, Some(&body))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());

    let at = s.session(&alice.id);
    let entries = sync_all(&s, &alice, &at, &mut device).await;
    let raised = alerts(&entries, since, &[], &AlertRules::default());
    assert!(
        raised.iter().any(|a| a.rule == "recovery-used"),
        "a recovery sign-in after {} failed sign-ins raised no alert: {raised:?}",
        entries.len()
    );
}
