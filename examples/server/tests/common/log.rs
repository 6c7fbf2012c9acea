//! Test support for the vault log (issue #15): a vault announcing the
//! server's log key and appending over HTTP, devices syncing with the
//! core's `LogState` over `GET /api/log`, and the server-attested actions
//! (records shared and fetched, links made and opened, sign-ins) that land
//! in a vault's log.

#![allow(
    dead_code,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

use medseal::link::{LinkRequest, NewLink};
use medseal::log::entry::{Entry, Event};
use medseal::log::merkle::Hash;
use medseal::log::{Cosigned, LogState, SyncInput};
use medseal::shl::CONTENT_TYPE_FHIR_JSON;
use medseal::{GrantRequest, GrantScope, RecordContext, Vault};
use medseal_server::db;
use medseal_server::Config;
use serde_json::{json, Value};

use super::http::{self, Resp};
use super::{TestServer, TestUser};

pub const DAY: u64 = 86_400;

pub fn now() -> u64 {
    u64::try_from(db::now()).unwrap()
}

pub fn b64d(v: &Value) -> Vec<u8> {
    medseal::base64url_decode(v.as_str().unwrap()).unwrap()
}

/// Lifts the per-address limit on ceremony starts (sign-in, recovery) out
/// of a test's way.
pub fn lift_flow_limits(c: &mut Config) {
    c.limits.flow_starts_burst = 10_000;
    c.limits.flow_starts_per_minute = 10_000;
}

/// Lifts the per-address limit on link requests out of a test's way.
pub fn lift_link_limits(c: &mut Config) {
    c.limits.shl_requests_burst = 10_000;
    c.limits.shl_requests_per_minute = 10_000;
}

/// `GET path` with the session `t`, which must answer 200; its JSON.
pub async fn get(s: &TestServer, t: &str, path: &str) -> Value {
    let r = s.req("GET", path, Some(t), None).await;
    assert_eq!(r.status, 200, "{path}: {}", r.text());
    r.json()
}

pub async fn post(s: &TestServer, t: &str, path: &str, body: &Value) -> Resp {
    s.req("POST", path, Some(t), Some(&body.to_string())).await
}

pub fn log_size(s: &TestServer, user_id: &str) -> u64 {
    s.db().read_blocking(|c| db::log_size(c, user_id)).unwrap()
}

/// How many rows the server's `link_access` table holds, all links'.
pub fn link_access_rows(s: &TestServer) -> i64 {
    s.db()
        .read_blocking(|c| c.query_row("SELECT COUNT(*) FROM link_access", [], |r| r.get(0)))
        .unwrap()
}

/// A vault's own `unlock` event, by passkey, on `device`.
pub fn unlock(device: &str) -> Event {
    Event::Unlock {
        via: "pk-1".into(),
        method: "passkey".into(),
        device: Some(device.into()),
        uv: None,
    }
}

/// `POST /api/log` of a leaf at position `size`.
pub async fn post_leaf(s: &TestServer, t: &str, size: u64, leaf: &[u8]) -> Resp {
    let body = json!({ "size": size, "leaf": medseal::base64url(leaf) });
    post(s, t, "/api/log", &body).await
}

/// The vault announces the server's log key as `GET /api/log/key` gives it
/// (entry 0).
pub async fn announce(s: &TestServer, u: &TestUser, t: &str) {
    let k = get(s, t, "/api/log/key").await;
    let ev = Event::Server {
        name: k["name"].as_str().unwrap().into(),
        key: k["key"].as_str().unwrap().into(),
    };
    let leaf = u.vault.log_entry(0, now(), &ev).unwrap();
    let r = post_leaf(s, t, 0, &leaf).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json(), json!({ "size": 1 }));
}

pub fn proof_of(v: &Value) -> Vec<Hash> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| b64d(h).try_into().unwrap())
        .collect()
}

/// A `GET /api/log` answer as the core takes it.
pub fn sync_input(j: &Value) -> SyncInput {
    SyncInput {
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
    }
}

/// `GET /api/log?from={from}`.
pub async fn fetch(s: &TestServer, t: &str, from: u64) -> Value {
    get(s, t, &format!("/api/log?from={from}")).await
}

/// A device syncs its pinned state page by page, cosigning nothing. The
/// entries it verified.
pub async fn sync_pages(
    s: &TestServer,
    u: &TestUser,
    t: &str,
    state: &mut LogState,
) -> medseal::Result<Vec<Entry>> {
    let mut got = Vec::new();
    loop {
        let j = fetch(s, t, state.size()).await;
        got.extend(state.sync(u.vault.manifest(), &sync_input(&j))?);
        assert_eq!(j["size"].as_u64().unwrap(), state.size());
        if !j["more"].as_bool().unwrap() {
            break;
        }
    }
    Ok(got)
}

/// A device syncs its pinned state page by page, then cosigns the head it
/// verified (`POST /api/log/cosign`). The entries it verified.
pub async fn sync(
    s: &TestServer,
    u: &TestUser,
    t: &str,
    state: &mut LogState,
) -> medseal::Result<Vec<Entry>> {
    let got = sync_pages(s, u, t, state).await?;
    if state.size() > 0 {
        let note = u.vault.cosign_log(state).unwrap();
        let r = post(s, t, "/api/log/cosign", &json!({ "checkpoint": note })).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    Ok(got)
}

/// The device syncs everything (pages), which must verify, without
/// cosigning; the verified entries.
pub async fn sync_all(s: &TestServer, u: &TestUser, t: &str, state: &mut LogState) -> Vec<Entry> {
    sync_pages(s, u, t, state).await.unwrap()
}

/// `recover/start` for `name`; the challenge, audience and flow.
pub async fn recover_start(s: &TestServer, name: &str) -> (Vec<u8>, String, Value) {
    let body = json!({ "username": name }).to_string();
    let r = s.req("POST", "/api/recover/start", None, Some(&body)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    (
        b64d(&j["challenge"]),
        j["audience"].as_str().unwrap().to_string(),
        j["flow"].clone(),
    )
}

/// A recovery sign-in with the user's recovery code; the answer to
/// `recover/finish`.
pub async fn recover(s: &TestServer, u: &TestUser) -> Resp {
    let (challenge, audience, flow) = recover_start(s, &u.name).await;
    let with_code = Vault::unlock_with_recovery_code(u.vault.manifest(), &u.code, 1).unwrap();
    let sig = with_code
        .sign_recovery_login(&challenge, &audience)
        .unwrap();
    let body = json!({ "flow": flow, "signature": medseal::base64url(&sig) }).to_string();
    s.req("POST", "/api/recover/finish", None, Some(&body))
        .await
}

/// A passkey sign-in by someone who only knows the username: its
/// credential is junk, not an assertion (the server records `login passkey
/// failed` once the log is announced). The answer to `login/finish`.
pub async fn failed_passkey_login(s: &TestServer, name: &str) -> Resp {
    let body = json!({ "username": name }).to_string();
    let r = s.req("POST", "/api/login/start", None, Some(&body)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = json!({ "flow": r.json()["flow"], "credential": { "id": "x" } }).to_string();
    s.req("POST", "/api/login/finish", None, Some(&body)).await
}

/// Stores the user's vault manifest in place of the stored one.
pub async fn store_manifest(s: &TestServer, u: &TestUser, t: &str) {
    let replaces = get(s, t, "/api/manifest").await["revision"]
        .as_u64()
        .unwrap();
    let r = s.put_manifest(t, replaces, u.vault.manifest()).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

/// The patient stores records `ids` and grants them to `grantee` through
/// the API (manifest first, then the grant with a slot per record); the
/// grant's id.
pub async fn share(
    s: &TestServer,
    patient: &mut TestUser,
    t: &str,
    grantee: &TestUser,
    ids: &[&str],
) -> String {
    for id in ids {
        let sealed = super::sealed(&mut patient.vault, id, b"a record");
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

/// The patient makes a link (with `passcode`, if any), stores the manifest
/// that lists it, and stores the link with one sealed file.
pub async fn make_link(
    s: &TestServer,
    u: &mut TestUser,
    t: &str,
    passcode: Option<&str>,
) -> NewLink {
    let expires = now() + DAY;
    let link = u
        .vault
        .create_link(LinkRequest {
            base_url: &format!("{}/shl/", s.state.origin),
            label: Some("For the ER".into()),
            expires,
            passcode: passcode.is_some(),
        })
        .unwrap();
    store_manifest(s, u, t).await;
    let bundle = json!({ "resourceType": "Bundle", "type": "collection", "entry": [] });
    let jwe = u
        .vault
        .seal_link_file(
            &link.share_id,
            CONTENT_TYPE_FHIR_JSON,
            bundle.to_string().as_bytes(),
            now(),
        )
        .unwrap();
    let mut body = json!({
        "shareId": medseal::base64url(&link.share_id),
        "linkId": link.link_id,
        "flag": link.flag,
        "label": "For the ER",
        "expires": expires,
        "files": [{ "contentType": CONTENT_TYPE_FHIR_JSON, "jwe": jwe }],
    });
    if let Some(p) = passcode {
        body["passcode"] = json!(p);
    }
    let r = post(s, t, "/api/links", &body).await;
    assert_eq!(r.status, 201, "{}", r.text());
    link
}

/// `POST /shl/{linkId}` as a receiver sends it (no cookie, no
/// `x-medseal`), with an `X-Forwarded-For` header if given.
pub async fn open_link(
    s: &TestServer,
    link_id: &str,
    body: &Value,
    forwarded: Option<&str>,
) -> Resp {
    let body = body.to_string();
    let mut req = format!("POST /shl/{link_id} HTTP/1.1\r\nhost: 127.0.0.1\r\n");
    if let Some(f) = forwarded {
        req.push_str(&format!("x-forwarded-for: {f}\r\n"));
    }
    req.push_str(&format!(
        "content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    ));
    http::raw(s.addr, req.as_bytes()).await
}
