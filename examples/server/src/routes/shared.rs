//! Grants to the signed-in user: the list, and the records of one grant.
//!
//! Only the grantee reads a grant here: anyone else, its grantor included,
//! gets 404 (not 403, which would confirm the id). The server enforces the
//! expiry too (410 from `expires` on), beside the grantee's core, which
//! refuses to open a record of an expired grant.
//!
//! Each answer of a grant's records is an access the grantor's vault log
//! records (`shared_fetch`, signed by the server): who fetched, which
//! records this answer served, and `expired` for a fetch refused with 410.
//! A page that serves records is served only once its event is recorded
//! (else 503 `log_full` or 429 `too_many_requests`: the grant's events per
//! hour are budgeted); a page that serves none records nothing.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json as Reply;
use medseal::log::entry::Event;
use serde::Deserialize;
use serde_json::{json, Value};

use super::log::{attest, Tier, Unrecorded};
use super::records::{check_record_id, MAX_PAGE};
use crate::auth::AuthUser;
use crate::config::MAX_LISTED_GRANTS;
use crate::db;
use crate::error::{stored_json, ApiError, ApiResult, Path, Query};
use crate::state::Shared;

fn manifest_json(text: &str) -> ApiResult<Value> {
    serde_json::from_str(text).map_err(|e| stored_json("stored manifest", &e))
}

/// `GET /api/shared`: `{grants: [{id, grantor, grant, grantorManifest,
/// created, expires, records}]}`, the unexpired grants to the user, newest
/// first: `grantor` a username, `grant` the signed JSON text,
/// `grantorManifest` the grantor's current manifest (pin its fingerprint),
/// `records` how many slots the grant has.
pub(super) async fn list(State(s): State<Shared>, user: AuthUser) -> ApiResult<Reply<Value>> {
    let now = db::now();
    let rows =
        s.db.read(move |c| db::grants_received(c, &user.user_id, now, MAX_LISTED_GRANTS))
            .await?;
    let mut grants = Vec::with_capacity(rows.len());
    for g in &rows {
        let manifest = manifest_json(g.grantor_manifest.as_deref().unwrap_or_default())?;
        grants.push(json!({
            "id": g.row.id,
            "grantor": g.other,
            "grant": g.row.grant,
            "grantorManifest": manifest,
            "created": g.row.created,
            "expires": g.row.expires,
            "records": g.slots,
        }));
    }
    Ok(Reply(json!({ "grants": grants })))
}

#[derive(Deserialize)]
pub(super) struct PageQuery {
    limit: Option<u32>,
    after: Option<String>,
}

/// The cursor after a shared record: base64url of its record id (the page
/// order). Opaque to clients.
fn encode_cursor(record_id: &str) -> String {
    medseal::base64url(record_id.as_bytes())
}

fn decode_cursor(text: &str) -> ApiResult<String> {
    let bad = || ApiError::bad("after: not a cursor this server gave out");
    let b = medseal::base64url_decode(text).ok_or_else(bad)?;
    let id = String::from_utf8(b).map_err(|_| bad())?;
    check_record_id(&id).map_err(|_| bad())?;
    Ok(id)
}

/// `GET /api/shared/{id}?limit=N&after=CURSOR`: `{grant, grantorManifest,
/// items: [{recordId, sealed, slot}], next}` for the grantee only; 410
/// `grant_expired` once it expired. `items` pairs each slot with the
/// grantor's current sealed record (records deleted since are not there),
/// in record-id order, `limit` (1 to 1000, default 1000: a grant of fixed
/// records names at most 1000, so it fits one page) a page; `next` is the
/// cursor of the following page (a label grant may have more), or null on
/// the last. A page with records is answered only once the grantor's vault
/// log records it (503 `log_full`, 429 `too_many_requests` with
/// `Retry-After` when it cannot).
pub(super) async fn get(
    State(s): State<Shared>,
    user: AuthUser,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Reply<Value>> {
    let limit = q.limit.unwrap_or(MAX_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad(format!("limit: 1 to {MAX_PAGE}")));
    }
    let after = q.after.as_deref().map(decode_cursor).transpose()?;
    let now = db::now();
    // One row more than asked says whether there is a next page.
    let page = s
        .db
        .read(move |c| db::shared_page(c, &user.user_id, &id, now, after.as_deref(), limit + 1))
        .await?
        .ok_or_else(|| ApiError::not_found("no such grant"))?;
    let (grant, by) = (page.row.id.clone(), page.grantee_name.clone());
    let budget = db::Budget {
        name: format!("grant:{grant}"),
        per_hour: s.config.limits.log_grant_events_per_hour,
    };
    let fetched = move |records: Vec<String>, outcome: &str| Event::SharedFetch {
        grant,
        by,
        records,
        outcome: outcome.to_string(),
    };
    let Some(mut items) = page.items else {
        // Nothing is served: recorded within the attempts' room and the
        // grant's budget, and 410 whether recorded or not.
        let event = fetched(Vec::new(), "expired");
        let _ = attest(&s, &page.row.grantor, event, Tier::Attempt, Some(budget)).await;
        return Err(ApiError::new(
            StatusCode::GONE,
            "grant_expired",
            "the grant has expired",
        ));
    };
    let more = items.len() > limit as usize;
    items.truncate(limit as usize);
    let next = if more {
        items.last().map(|i| encode_cursor(&i.record_id))
    } else {
        None
    };
    // A page that serves records is served only once it is recorded; an
    // empty one disclosed nothing and records nothing.
    if !items.is_empty() {
        let served: Vec<String> = items.iter().map(|i| i.record_id.clone()).collect();
        attest(
            &s,
            &page.row.grantor,
            fetched(served, "ok"),
            Tier::Served,
            Some(budget),
        )
        .await
        .map_err(Unrecorded::refusal)?;
    }
    let items: Vec<Value> = items
        .iter()
        .map(|i| json!({ "recordId": i.record_id, "sealed": i.sealed, "slot": i.slot }))
        .collect();
    Ok(Reply(json!({
        "grant": page.row.grant,
        "grantorManifest": manifest_json(&page.grantor_manifest)?,
        "items": items,
        "next": next,
    })))
}
