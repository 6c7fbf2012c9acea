//! The router: one module per resource, and the layers every request passes.
//!
//! From the outside in: security headers; the request log; CORS for the
//! public SMART Health Link routes under `/shl/` (and nothing else); JSON
//! for every error answer; head size limits (414, 431); the `x-medseal`
//! header guard (under `/api/` only); the request deadline (408; the
//! attachment routes have a longer one of their own); the routes, with a
//! body limit for requests made before signing in, a larger one for
//! signed-in requests, a larger one still for a link's files, a small one
//! for SMART Health Link manifest requests, and none for attachments (their
//! handler reads the body as a stream and counts it against the size limit
//! and the account's quota).

mod account;
mod attachments;
mod delete;
mod grants;
mod links;
mod log;
mod manifest;
mod me;
mod notice;
mod passkeys;
mod people;
mod records;
mod shared;
mod shl;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::Router;
use serde_json::Value;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use crate::config::{Limits, MAX_SHL_REQUEST_BODY};
use crate::error::{json_errors, ApiError, ApiResult, InternalNote};
use crate::flows::Flow;
use crate::random::random_token;
use crate::state::{AppState, Shared};

/// The whole site: the JSON API under `/api/`, the public SMART Health Link
/// routes under `/shl/`, the package under `/pkg/`, the stylesheet shared
/// with `examples/demo` under `/shared/`, the browser bundles the web app
/// imports (QR codes) under `/vendor/` (`target/web-vendor/`, built by
/// `scripts/vendor-web.mjs`), the web app everywhere else (the link viewer
/// is `/shl.html`).
pub fn app(state: Shared) -> Router {
    let limits = &state.config.limits;
    let public = Router::new()
        .route("/api/signup/start", post(account::signup_start))
        .route("/api/signup/finish", post(account::signup_finish))
        .route("/api/login/start", post(account::login_start))
        .route("/api/login/finish", post(account::login_finish))
        .route("/api/logout", post(account::logout))
        .route("/api/recover/start", post(account::recover_start))
        .route("/api/recover/finish", post(account::recover_finish))
        .route("/api/tombstones/{vault_id}", get(delete::tombstone))
        .layer(DefaultBodyLimit::max(limits.max_public_body));
    let signed_in = Router::new()
        .route("/api/me", get(me::me))
        .route("/api/notice", get(notice::get))
        .route(
            "/api/manifest",
            get(manifest::get_manifest).put(manifest::put_manifest),
        )
        .route("/api/passkeys/start", post(passkeys::start))
        .route("/api/passkeys/finish", post(passkeys::finish))
        .route("/api/passkeys/{cred}", delete(passkeys::remove))
        .route("/api/records", get(records::list))
        .route(
            "/api/records/{id}",
            get(records::get).put(records::put).delete(records::delete),
        )
        .route("/api/people/{username}", get(people::get))
        .route("/api/grants", get(grants::list).post(grants::create))
        .route("/api/grants/{id}", delete(grants::delete))
        .route("/api/grants/{id}/slots", post(grants::add_slots))
        .route("/api/shared", get(shared::list))
        .route("/api/shared/{id}", get(shared::get))
        .route("/api/log", get(log::sync).post(log::append))
        .route("/api/log/key", get(log::key))
        .route("/api/log/entries", get(log::entries))
        .route("/api/log/cosign", post(log::cosign))
        .route("/api/account/delete/start", post(delete::start))
        .route("/api/account/delete/finish", post(delete::finish))
        .layer(DefaultBodyLimit::max(limits.max_body));
    // A link's files: up to 10 JWE of 1 MiB each.
    let links = Router::new()
        .route("/api/links", get(links::list).post(links::create))
        .layer(DefaultBodyLimit::max(limits.max_link_body));
    let api = public
        .merge(signed_in)
        .merge(links)
        .route("/api/{*rest}", axum::routing::any(api_not_found));
    // Attachments: sealed files of up to `max_attachment` bytes. No body
    // limit (the handler reads the body frame by frame to a file, counting
    // it against the size limit and the quota) and a deadline of their own:
    // an upload of a few GB takes minutes (the handler also ends one that
    // stalls for `upload_idle_timeout`). A download's deadline covers its
    // head only; `send_timeout` (serve.rs) ends one the client stops reading.
    let attachments = Router::new()
        .route("/api/attachments", get(attachments::list))
        .route(
            "/api/attachments/{id}",
            get(attachments::get)
                .put(attachments::put)
                .delete(attachments::delete),
        )
        .route("/api/attachments/{id}/head", put(attachments::put_head))
        .layer(DefaultBodyLimit::disable())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.upload_timeout,
        ));
    // Public: no session, no x-medseal header (a receiver's viewer on any origin).
    let shl = Router::new()
        .route("/shl/{link_id}", post(shl::manifest))
        .route("/shl/file/{token}", get(shl::file).head(shl::file_head))
        .layer(DefaultBodyLimit::max(MAX_SHL_REQUEST_BODY));
    let csp = HeaderValue::from_static("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'");
    let root = state.config.web_root.clone();
    let request_timeout = limits.request_timeout;
    // The web app's browser bundles of npm packages (scripts/vendor-web.mjs).
    let vendor =
        Router::new().nest_service("/vendor", ServeDir::new(root.join("target/web-vendor")));
    Router::new()
        .merge(api)
        .merge(shl)
        .merge(vendor)
        .nest_service("/pkg", ServeDir::new(root.join("pkg")))
        .nest_service("/shared", ServeDir::new(root.join("examples/shared")))
        .fallback_service(ServeDir::new(root.join("examples/server/web")))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .merge(attachments)
        .layer(middleware::from_fn(require_medseal_header))
        .layer(middleware::from_fn_with_state(state.clone(), head_limits))
        .layer(middleware::from_fn(json_errors))
        .layer(middleware::from_fn(shl::cors))
        .layer(middleware::from_fn_with_state(state.clone(), log_requests))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            csp,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .with_state(state)
}

async fn api_not_found() -> ApiError {
    ApiError::not_found("no such API route")
}

/// API requests must carry `x-medseal: 1` (a custom header: cross-site forms
/// cannot send it without a CORS preflight this server never grants).
async fn require_medseal_header(req: Request, next: Next) -> Response {
    let missing = req.uri().path().starts_with("/api/")
        && req.headers().get("x-medseal").map(|v| v.as_bytes()) != Some(b"1");
    let refusal = missing.then(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "missing x-medseal header",
        )
    });
    unless_refused(refusal, req, next).await
}

/// Refuses request heads past the configured limits with a JSON answer.
/// hyper's own limits (serve.rs) sit above these, so an ordinary oversized
/// head gets this answer; only one past hyper's gets hyper's bare 414/431.
async fn head_limits(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let refusal = head_refusal(&s.config.limits, &req);
    unless_refused(refusal, req, next).await
}

fn head_refusal(l: &Limits, req: &Request) -> Option<ApiError> {
    let uri_len = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if uri_len > l.max_uri_len {
        return Some(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            "request target too long",
        ));
    }
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len())
        .sum();
    (headers.len() > l.max_headers || bytes > l.max_header_bytes).then(|| {
        ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            "request headers too large",
        )
    })
}

/// A middleware's answer: the refusal if there is one, else the request run on.
async fn unless_refused(refusal: Option<ApiError>, req: Request, next: Next) -> Response {
    match refusal {
        Some(e) => e.into_response(),
        None => next.run(req).await,
    }
}

/// Logs API and SMART Health Link requests: method, path and status, and
/// what failed for a 500. Never a body, a query string (it holds cursors),
/// a cookie or a token (a link file's one-time token is left out of its path).
async fn log_requests(State(s): State<Shared>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let mut path = req.uri().path().to_string();
    if path.starts_with("/shl/file/") {
        path = "/shl/file/…".to_string();
    }
    let mut res = next.run(req).await;
    let note = res.extensions_mut().remove::<InternalNote>();
    if path.starts_with("/api/") || path.starts_with(shl::PREFIX) || note.is_some() {
        // Paths carry only record, credential, grant and link ids and
        // usernames (public to the server), never content.
        let status = res.status().as_u16();
        match note {
            Some(InternalNote(what)) => s.log.line(&format!("{method} {path} {status} ({what})")),
            None => s.log.line(&format!("{method} {path} {status}")),
        }
    }
    res
}

/// `s` is 1 to `max` ASCII letters, digits or characters of `extra`.
fn is_simple_id(s: &str, max: usize, extra: &str) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
}

fn check_username(u: &str) -> ApiResult<()> {
    if !is_simple_id(u, 64, "._-@") {
        return Err(ApiError::bad(
            "username: 1 to 64 letters, digits or . _ - @",
        ));
    }
    Ok(())
}

/// Refuses credentials that still carry PRF results: they must be stripped in the browser.
fn refuse_prf_results(cred: &Value) -> ApiResult<()> {
    let prf = cred
        .pointer("/clientExtensionResults/prf/results")
        .or_else(|| cred.pointer("/extensions/prf/results"));
    if prf.is_some() {
        return Err(ApiError::bad(
            "credential carries PRF results: strip them with Vault.withoutPrf before sending",
        ));
    }
    Ok(())
}

/// Stores a ceremony in progress under a fresh random id; returns the id.
fn new_flow(s: &AppState, flow: Flow) -> ApiResult<String> {
    let id = random_token(s.entropy.as_ref())?;
    s.flows.put(id.clone(), flow)?;
    Ok(id)
}
