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

use common::log::{
    announce, failed_passkey_login, get, lift_flow_limits, lift_link_limits, link_access_rows,
    log_size, make_link, now, open_link, post_leaf, recover, share, sync_all, unlock,
};
use common::{assert_json_error, TestServer};
use medseal::log::entry::{Entry, Event};
use medseal::log::report::{alerts, AlertRules};
use medseal::log::LogState;
use serde_json::json;

async fn server_with(max_entries: u64) -> TestServer {
    TestServer::start_configured(
        |c| {
            lift_flow_limits(c);
            c.limits.log_max_entries = max_entries;
        },
        None,
    )
    .await
}

/// FINDING (malicious grantee, honest server), FIXED: the server stopped
/// attesting access events at 90% of a log's most entries, and a grantee
/// could get it there on its own with fetches of an EMPTY page (`after` a
/// cursor past the last record), each one a `shared_fetch` of 0 records;
/// past it, every fetch of the patient's records went unrecorded.
///
/// Now an empty page discloses nothing and records nothing, so the flood
/// leaves the log as it was; a page with records is served only once it is
/// recorded, up to the log's hard limit (the room beyond 90% is kept for
/// such events), and past it the fetch is refused (503 `log_full`): every
/// page served is in the log.
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
    for _ in 0..100 {
        let page = get(
            &s,
            &lt,
            &format!("/api/shared/{grant}?limit=1&after={past_the_end}"),
        )
        .await;
        assert!(page["items"].as_array().unwrap().is_empty());
    }
    assert_eq!(
        log_size(&s, &alice.id),
        since,
        "an empty page discloses nothing and records nothing"
    );
    // Real fetches: each one served is recorded, past 90% too; at the hard
    // limit the next is refused, not served unrecorded.
    let mut served = 0;
    loop {
        let r = s
            .req("GET", &format!("/api/shared/{grant}"), Some(&lt), None)
            .await;
        if r.status != 200 {
            assert_json_error(&r, 503, "log_full");
            break;
        }
        assert_eq!(r.json()["items"].as_array().unwrap().len(), 2);
        served += 1;
    }
    assert_eq!(log_size(&s, &alice.id), 40);
    assert_eq!(served, 40 - since);

    let mut all = LogState::new(alice.vault.manifest().vault_id());
    let entries = sync_all(&s, &alice, &at, &mut all).await;
    let recorded = entries
        .iter()
        .filter(|e| matches!(&e.event, Event::SharedFetch { records, .. } if records.len() == 2))
        .count();
    assert_eq!(recorded, served as usize, "every page served is recorded");
    let raised = alerts(&entries, since, &[], &AlertRules::default());
    assert!(raised.iter().any(|a| a.rule == "burst"), "{raised:?}");
}

/// A grant's events are budgeted per hour: past the budget a fetch that
/// would serve records is refused (429 `too_many_requests`, with
/// `Retry-After`), never served unrecorded; an empty page still answers
/// (it records nothing), and an expired grant still answers 410.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grants_events_past_its_budget_are_refused_not_unrecorded() {
    let s = TestServer::start_configured(|c| c.limits.log_grant_events_per_hour = 3, None).await;
    let (mut alice, at) = s.signed_in("alice");
    let (lee, lt) = s.signed_in("dr-lee");
    announce(&s, &alice, &at).await;
    let grant = share(&s, &mut alice, &at, &lee, &["rec-1"]).await;
    let since = log_size(&s, &alice.id);
    let hour = now() / 3600;
    let path = format!("/api/shared/{grant}");
    for _ in 0..3 {
        assert_eq!(
            get(&s, &lt, &path).await["items"].as_array().unwrap().len(),
            1
        );
    }
    let r = s.req("GET", &path, Some(&lt), None).await;
    if now() / 3600 != hour {
        return; // The budget's hour ended meanwhile: nothing to check.
    }
    assert_json_error(&r, 429, "too_many_requests");
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&wait), "{wait}");
    assert_eq!(log_size(&s, &alice.id), since + 3);
    let empty = format!("{path}?after={}", medseal::base64url(b"zzzz"));
    assert_eq!(get(&s, &lt, &empty).await["items"], json!([]));
    assert_eq!(log_size(&s, &alice.id), since + 3);
    assert!(s
        .log
        .lines()
        .iter()
        .any(|l| l.starts_with("vault log: a shared_fetch event was not recorded (its budget")));
}

/// FINDING (outsider, honest server), FIXED: anyone who knows the username
/// fills the vault's log with failed passkey sign-ins (no session needed;
/// only the per-address limit on ceremony starts, 20 a minute, slows one
/// address), which raise no alert; past 90% the next recovery-code
/// sign-in, by anyone, was no longer recorded, so `recovery-used` never
/// fired. Now failed sign-ins never take the last 10% of the log, and a
/// successful one may: it is recorded (or refused when the log is full).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outsider_fills_the_log_so_a_recovery_sign_in_goes_unrecorded() {
    let s = server_with(30).await;
    let (alice, at) = s.signed_in("alice");
    announce(&s, &alice, &at).await;
    let mut device = LogState::new(alice.vault.manifest().vault_id());
    sync_all(&s, &alice, &at, &mut device).await;
    let since = device.size();
    for _ in 0..30 {
        let r = failed_passkey_login(&s, "alice").await;
        assert!(r.status >= 400, "{}", r.text());
    }
    // A recovery sign-in (the recovery code's holder).
    let r = recover(&s, &alice).await;
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

fn logins(entries: &[Entry], outcome: &str) -> usize {
    entries
        .iter()
        .filter(|e| matches!(&e.event, Event::Login { outcome: o, .. } if o == outcome))
        .count()
}

/// Failed sign-ins are budgeted per vault and hour: past the budget they
/// are not recorded (one log line says so, once), and the next successful
/// sign-in is recorded all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_past_the_budget_are_not_recorded_successes_are() {
    let s = TestServer::start_configured(
        |c| {
            lift_flow_limits(c);
            c.limits.log_failed_logins_per_hour = 5;
        },
        None,
    )
    .await;
    let (alice, at) = s.signed_in("alice");
    announce(&s, &alice, &at).await;
    let since = log_size(&s, &alice.id);
    let hour = now() / 3600;
    for _ in 0..12 {
        let r = failed_passkey_login(&s, "alice").await;
        assert!(r.status >= 400, "{}", r.text());
    }
    let r = recover(&s, &alice).await;
    assert_eq!(r.status, 200, "{}", r.text());
    if now() / 3600 != hour {
        return; // The budget's hour ended meanwhile: nothing to check.
    }
    let at = s.session(&alice.id);
    let mut device = LogState::new(alice.vault.manifest().vault_id());
    let entries = sync_all(&s, &alice, &at, &mut device).await;
    assert_eq!(entries.len() as u64, since + 6);
    assert_eq!(logins(&entries, "failed"), 5);
    assert_eq!(logins(&entries, "ok"), 1);
    let spent: Vec<String> = s
        .log
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("vault log: a login event was not recorded (its budget"))
        .collect();
    assert_eq!(spent.len(), 1, "{spent:?}");
}

/// A full log (the vault's own entries up to the hard limit): a successful
/// sign-in is refused (503 `log_full`, no session) rather than left
/// unrecorded, and so are a grant's records and a link's files; a failed
/// sign-in fails as ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_log_refuses_sign_ins_fetches_and_links_rather_than_leave_them_unrecorded() {
    let s = server_with(30).await;
    let (mut alice, at) = s.signed_in("alice");
    let (lee, lt) = s.signed_in("dr-lee");
    announce(&s, &alice, &at).await;
    let grant = share(&s, &mut alice, &at, &lee, &["rec-1"]).await;
    let link = make_link(&s, &mut alice, &at, None).await;
    // The vault's own entries take the log to its hard limit.
    while log_size(&s, &alice.id) < 30 {
        let n = log_size(&s, &alice.id);
        let leaf = alice.vault.log_entry(n, now(), &unlock("laptop")).unwrap();
        let r = post_leaf(&s, &at, n, &leaf).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = recover(&s, &alice).await;
    assert_json_error(&r, 503, "log_full");
    assert!(r.header("set-cookie").is_none());
    let r = failed_passkey_login(&s, "alice").await;
    assert!(r.status >= 400, "{}", r.text());
    let r = s
        .req("GET", &format!("/api/shared/{grant}"), Some(&lt), None)
        .await;
    assert_json_error(&r, 503, "log_full");
    let r = open_link(&s, &link.link_id, &json!({ "recipient": "ER" }), None).await;
    assert_json_error(&r, 503, "log_full");
    assert_eq!(log_size(&s, &alice.id), 30);
    // The refused link request left nothing: no access row.
    assert_eq!(link_access_rows(&s), 0);
}

/// A link's events are budgeted per hour: past the budget a request that
/// would serve the files, or take a passcode attempt, is refused (429
/// `too_many_requests`) with nothing done: no attempt taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_links_events_past_its_budget_are_refused_and_take_no_attempt() {
    let s = TestServer::start_configured(
        |c| {
            lift_link_limits(c);
            c.limits.log_link_events_per_hour = 2;
        },
        None,
    )
    .await;
    let (mut alice, at) = s.signed_in("alice");
    announce(&s, &alice, &at).await;
    let link = make_link(&s, &mut alice, &at, None).await;
    let since = log_size(&s, &alice.id);
    let hour = now() / 3600;
    let ask = json!({ "recipient": "ER" });
    for _ in 0..2 {
        let r = open_link(&s, &link.link_id, &ask, None).await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
    let r = open_link(&s, &link.link_id, &ask, None).await;
    if now() / 3600 != hour {
        return; // The budget's hour ended meanwhile: nothing to check.
    }
    assert_json_error(&r, 429, "too_many_requests");
    assert!(r.header("retry-after").is_some());
    assert_eq!(log_size(&s, &alice.id), since + 2);
    assert_eq!(link_access_rows(&s), 2);

    // With a passcode: wrong guesses past the budget take no attempt.
    let locked = make_link(&s, &mut alice, &at, Some("open-4711")).await;
    let wrong = json!({ "recipient": "ER", "passcode": "guess" });
    for left in [9, 8] {
        let r = open_link(&s, &locked.link_id, &wrong, None).await;
        assert_json_error(&r, 401, "wrong_passcode");
        assert_eq!(r.json()["remainingAttempts"], left);
    }
    let r = open_link(&s, &locked.link_id, &wrong, None).await;
    if now() / 3600 != hour {
        return;
    }
    assert_json_error(&r, 429, "too_many_requests");
    let left: i64 = s
        .db()
        .read_blocking(|c| {
            c.query_row(
                "SELECT attempts_left FROM links WHERE link_id = ?1",
                [&locked.link_id],
                |r| r.get(0),
            )
        })
        .unwrap();
    assert_eq!(left, 8);
}
