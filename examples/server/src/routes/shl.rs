//! The public side of SMART Health Links (HL7 SMART Health Links STU1,
//! "SMART Health Link Manifest Request"; docs/notes/shl-spec-notes.md):
//! the manifest a receiver asks for with `POST /shl/{linkId}`, the files it
//! fetches by `location`, and the CORS that lets a viewer on any origin do
//! both. No session, no `x-medseal` header: whoever holds the link may ask.
//! What they get is ciphertext; the key is in the link, never here.
//!
//! The spec's rules as this server applies them:
//! - a link that is unknown, expired, revoked (its owner's manifest no
//!   longer lists it) or disabled is "no longer active": 404;
//! - with flag `P`, a missing or wrong passcode is 401
//!   `{"remainingAttempts": n}` and takes one of the link's lifetime
//!   attempts (10); at the last the link is disabled for good, so it is 404
//!   from then on, the right passcode included ("number of attempts
//!   remaining before the SMART Health Links is disabled"). Attempts are
//!   counted in the writer's transaction, so parallel requests cannot
//!   overdraw them;
//! - `recipient` is required (400 without it);
//! - a file longer than `embeddedLengthMax` is not embedded: its `location`
//!   is a one-time URL (a random 256-bit token) that lasts 60 seconds (the
//!   spec allows up to an hour) and answers `application/jose`.
//!
//! Every manifest request that names a stored link is recorded
//! (`link_access`: when, the recipient it gave, whether it got the files);
//! the owner sees how many got them. Requests are also limited per client
//! address (429 with `Retry-After`), beside the attempts cap.
//!
//! Each such request, and each for a revoked link whose owner is known, is
//! also an access the owner's vault log records (`link_fetch`, signed by
//! the server): the link's share id, the declared recipient, the network
//! token of the requester and the outcome (`ok`, `passcode`, `expired`,
//! `locked`, `revoked`), in the transaction that answers it. A request
//! whose event cannot be recorded (the log full, the link's events per
//! hour spent) and that would serve the files or take a passcode attempt
//! is refused with nothing done (503 `log_full`, 429 `too_many_requests`);
//! one for a link that is not active is 404 as ever.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json as Reply;
use medseal::log::entry::Event;
use serde::Deserialize;
use serde_json::{json, Value};

use super::links::is_link_id;
use super::log::{event_text, record_in, room, Tier};
use crate::config::MAX_LINK_FILES;
use crate::db::{self, ManifestAnswer, ManifestRequest, ServedFile};
use crate::error::{ApiError, ApiResult, Json, Path};
use crate::random::random_token;
use crate::state::Shared;

/// Longest `recipient`, in characters.
const MAX_RECIPIENT_CHARS: usize = 256;
/// Where the public SMART Health Link routes live.
pub(super) const PREFIX: &str = "/shl/";

/// A manifest request's body. Fields are read loosely and checked here, so
/// that a wrong one is a 400 that says which; unknown fields are ignored
/// (the spec: servers "SHALL ignore parameters ... they don't recognize").
#[derive(Deserialize)]
pub(super) struct ManifestPost {
    #[serde(default)]
    recipient: Option<Value>,
    #[serde(default)]
    passcode: Option<Value>,
    #[serde(default, rename = "embeddedLengthMax")]
    embedded_length_max: Option<Value>,
}

/// The checked fields of a manifest request.
struct Checked {
    recipient: String,
    passcode: Option<String>,
    embedded_length_max: Option<u64>,
}

fn check_body(b: ManifestPost) -> ApiResult<Checked> {
    let recipient = match b.recipient {
        Some(Value::String(r)) if (1..=MAX_RECIPIENT_CHARS).contains(&r.chars().count()) => r,
        _ => {
            return Err(ApiError::bad(
                "recipient: required, a string of 1 to 256 characters",
            ))
        }
    };
    let passcode = match b.passcode {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) => Some(p),
        Some(_) => return Err(ApiError::bad("passcode: a string")),
    };
    let embedded_length_max = match b.embedded_length_max {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| ApiError::bad("embeddedLengthMax: a whole number"))?,
        ),
    };
    Ok(Checked {
        recipient,
        passcode,
        embedded_length_max,
    })
}

fn not_active() -> ApiError {
    ApiError::not_found("no such link, or it is no longer active")
}

/// 401 `{"remainingAttempts": n}` (with this server's `error` and `message`
/// beside it: receivers ignore what they do not know).
fn wrong_passcode(left: i64) -> Response {
    let message = if left > 0 {
        "wrong or missing passcode"
    } else {
        "wrong or missing passcode; the link is now disabled"
    };
    (
        StatusCode::UNAUTHORIZED,
        Reply(json!({
            "error": "wrong_passcode",
            "message": message,
            "remainingAttempts": left,
        })),
    )
        .into_response()
}

/// The per-address limit, answered with `Retry-After` (the spec's polling
/// guidance uses 429 with it).
fn rate_limited(e: ApiError) -> Response {
    let mut r = e.into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    r
}

/// `POST /shl/{linkId}` `{recipient, passcode?, embeddedLengthMax?}`: 200
/// `{files: [{contentType, embedded | location}]}`; 404 if the link is not
/// active; 401 `{remainingAttempts}` for a missing or wrong passcode.
pub(super) async fn manifest(
    State(s): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(link_id): Path<String>,
    Json(b): Json<ManifestPost>,
) -> Response {
    if let Err(e) = s.shl_requests.check(addr.ip()) {
        return rate_limited(e);
    }
    let from = s.network_token(addr, &headers);
    match answer(&s, link_id, b, from).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn answer(s: &Shared, link_id: String, b: ManifestPost, from: String) -> ApiResult<Response> {
    let body = check_body(b)?;
    if !is_link_id(&link_id) {
        return Err(not_active());
    }
    // One fresh token per file that may go by location; unused ones are dropped.
    let tokens = match body.embedded_length_max {
        Some(_) => (0..MAX_LINK_FILES)
            .map(|_| random_token(s.entropy.as_ref()))
            .collect::<ApiResult<Vec<_>>>()?,
        None => Vec::new(),
    };
    let token_ttl = i64::try_from(s.config.limits.shl_location_ttl.as_secs()).unwrap_or(60);
    let recipient = event_text(&body.recipient);
    let key = Arc::clone(&s.log_key);
    let log = Arc::clone(&s.log);
    let served = room(s, Tier::Served, None);
    let attempt = room(s, Tier::Attempt, None);
    let per_hour = s.config.limits.log_link_events_per_hour;
    let answer =
        s.db.write(move |c| {
            db::link_manifest(
                c,
                &ManifestRequest {
                    link_id: &link_id,
                    recipient: &body.recipient,
                    passcode: body.passcode.as_deref(),
                    embedded_length_max: body.embedded_length_max,
                    tokens,
                    token_ttl,
                    now: db::now(),
                },
                |tx, seen| {
                    let event = Event::LinkFetch {
                        link: seen.share_id.clone(),
                        recipient,
                        from,
                        outcome: seen.outcome.to_string(),
                    };
                    let mut room = if seen.outcome == "ok" {
                        served
                    } else {
                        attempt
                    };
                    room.budget = Some(db::Budget {
                        name: format!("link:{}", seen.share_id),
                        per_hour,
                    });
                    record_in(tx, &key, log.as_ref(), &seen.owner, &event, &room)
                },
            )
        })
        .await?;
    let files = match answer {
        ManifestAnswer::NotActive => return Err(not_active()),
        ManifestAnswer::WrongPasscode(left) => return Ok(wrong_passcode(left)),
        ManifestAnswer::Unrecorded(why) => return Err(why.refusal()),
        ManifestAnswer::Files(files) => files,
    };
    let origin = s.origin.trim_end_matches('/');
    let files: Vec<Value> = files
        .into_iter()
        .map(|f| match f {
            ServedFile::Embedded(content_type, jwe) => {
                json!({ "contentType": content_type, "embedded": jwe })
            }
            ServedFile::Location(content_type, token) => json!({
                "contentType": content_type,
                "location": format!("{origin}{PREFIX}file/{token}"),
            }),
        })
        .collect();
    Ok(Reply(json!({ "files": files })).into_response())
}

/// `GET /shl/file/{token}`: the file of a `location`, once, within 60 s of
/// the manifest answer and while its link is active: the JWE as
/// `application/jose`; 404 otherwise.
pub(super) async fn file(
    State(s): State<Shared>,
    Path(token): Path<String>,
) -> ApiResult<Response> {
    let gone = || ApiError::not_found("no such file, or its location expired or was used");
    // Tokens are 43 base64url characters: anything else costs no query.
    if !is_link_id(&token) {
        return Err(gone());
    }
    let jwe =
        s.db.write(move |c| db::take_link_file(c, &token, db::now()))
            .await?
            .ok_or_else(gone)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/jose"),
        )],
        jwe,
    )
        .into_response())
}

/// `HEAD /shl/file/{token}`: 405. axum would answer a HEAD with the GET
/// handler, which takes the one-time token: a link preview or a prefetch
/// that asks only for the head must not use the file up.
pub(super) async fn file_head() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "fetch the file with GET",
    )
}

/// CORS for `/shl/`: a receiver's viewer runs on any origin, so a preflight
/// (`OPTIONS`) is answered here and every answer (errors too) carries
/// `Access-Control-Allow-Origin: *`. No credentials: nothing under `/shl/`
/// reads a cookie, and `*` keeps browsers from sending any.
pub(super) async fn cors(req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with(PREFIX) {
        return next.run(req).await;
    }
    let mut res = if req.method() == Method::OPTIONS {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("POST, GET"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("content-type"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        r
    } else {
        next.run(req).await
    };
    res.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    res
}
