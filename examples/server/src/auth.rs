//! Sessions: the cookie, the signed-in-user extractor and starting a session.
//!
//! [`AuthUser`] reads only the request head, so a handler that takes it
//! before its body (`AuthUser, Json<..>`) refuses a request without a live
//! session before a byte of the body is read or parsed.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::random::random_token;
use crate::state::{AppState, Shared};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "medseal_session";

/// The user of the request's live session.
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// The user id.
    pub user_id: String,
    /// The session token (to keep this session when ending the others).
    pub token: String,
}

impl FromRequestParts<Shared> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, s: &Shared) -> Result<Self, ApiError> {
        let token = cookie_token(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        // Tokens are 43 base64url characters: anything else cannot be one, and costs no query.
        if token.len() != 43
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ApiError::unauthorized());
        }
        let t = token.clone();
        let user_id =
            s.db.read(move |c| db::session_user(c, &t))
                .await?
                .ok_or_else(ApiError::unauthorized)?;
        Ok(AuthUser { user_id, token })
    }
}

/// The session token of the request's cookie, if any.
pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| {
            let (k, v) = kv.trim().split_once('=')?;
            (k == SESSION_COOKIE).then(|| v.to_string())
        })
}

/// The `Set-Cookie` value for a session token (empty with `max_age` 0 to clear it).
pub fn session_cookie(token: &str, max_age: i64, secure: bool) -> HeaderValue {
    // HttpOnly: no script reads it; SameSite=Strict: never sent cross-site (with JSON-only APIs, no CSRF);
    // Secure whenever the site is served over https (plain http is for localhost only).
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Whether a new session ends the user's others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherSessions {
    /// Keep them (a sign-in on one more device).
    Keep,
    /// End them (a recovery: the lost device must not stay signed in).
    End,
}

/// Starts a session for the user and answers `{ok: true}` with its cookie.
pub async fn start_session(
    s: &AppState,
    user_id: &str,
    others: OtherSessions,
) -> ApiResult<Response> {
    let token = random_token(s.entropy.as_ref())?;
    let ttl = i64::try_from(s.config.limits.session_ttl.as_secs()).unwrap_or(i64::MAX);
    let (t, u) = (token.clone(), user_id.to_string());
    s.db.write(move |c| match others {
        OtherSessions::Keep => db::new_session(c, &t, &u, ttl),
        OtherSessions::End => db::new_session_ending_others(c, &t, &u, ttl),
    })
    .await?;
    let mut r = axum::Json(json!({ "ok": true })).into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&token, ttl, s.https()));
    Ok(r)
}
