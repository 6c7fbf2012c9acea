//! medseal reference PHR server.
//!
//! Passkey login with webauthn-rs; per user it stores the passkeys, the vault
//! manifest (a write names the revision it replaces) and sealed records. It
//! never receives a plaintext, a PRF output, a vault key or a recovery code:
//! the browser seals with medseal before anything is sent, and strips PRF
//! results from every credential it posts.
//!
//! `cargo run -p medseal-server` (or `make demo`), then http://localhost:8080.
//! Environment: MEDSEAL_ADDR (127.0.0.1:8080), MEDSEAL_DATA (./data),
//! MEDSEAL_ORIGIN (http://localhost:<port>).

mod db;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64ct::{Base64UrlUnpadded, Encoding};
use serde::Deserialize;
use serde_json::{json, Value};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use uuid::Uuid;
use webauthn_rs::prelude::*;

use db::Db;

const SESSION_COOKIE: &str = "medseal_session";
const SESSION_TTL: i64 = 12 * 3600;
const FLOW_TTL: Duration = Duration::from_secs(300);
const MAX_RECORD_LEN: usize = 2 << 20;
const MAX_MANIFEST_LEN: usize = 256 << 10;

/// A ceremony in progress (kept in memory for five minutes).
enum Flow {
    Signup {
        user_id: Uuid,
        username: String,
        state: PasskeyRegistration,
    },
    Login {
        user_id: String,
        state: PasskeyAuthentication,
    },
    AddPasskey {
        user_id: String,
        state: PasskeyRegistration,
    },
    Recover {
        user_id: String,
        challenge: Vec<u8>,
    },
}

struct AppState {
    webauthn: Webauthn,
    db: Db,
    origin: String,
    flows: Mutex<HashMap<String, (Instant, Flow)>>,
    attempts: Mutex<HashMap<String, (Instant, u32)>>,
}

type Shared = Arc<AppState>;

/// A JSON error: `{ "error": code, "message": text }`. Never echoes a request body.
struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1, "message": self.2 }))).into_response()
    }
}

fn bad(msg: &str) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, "bad_request", msg.to_string())
}
fn unauthorized() -> ApiError {
    ApiError(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "sign in first".into(),
    )
}
fn not_found() -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "not_found", "no such record".into())
}
fn internal<E>(_: E) -> ApiError {
    ApiError(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error".into(),
    )
}

type ApiResult<T> = Result<T, ApiError>;

fn random_token() -> String {
    let mut b = [0u8; 32];
    let _ = getrandom::fill(&mut b);
    Base64UrlUnpadded::encode_string(&b)
}

fn put_flow(s: &AppState, flow: Flow) -> String {
    let id = random_token();
    let mut flows = s.flows.lock().unwrap_or_else(|p| p.into_inner());
    flows.retain(|_, (t, _)| t.elapsed() < FLOW_TTL);
    flows.insert(id.clone(), (Instant::now(), flow));
    id
}

fn take_flow(s: &AppState, id: &str) -> ApiResult<Flow> {
    let mut flows = s.flows.lock().unwrap_or_else(|p| p.into_inner());
    match flows.remove(id) {
        Some((t, f)) if t.elapsed() < FLOW_TTL => Ok(f),
        _ => Err(bad("this sign-in attempt expired; start again")),
    }
}

/// At most 10 sign-in or recovery starts per minute per client address and username.
fn rate_limit(s: &AppState, addr: &SocketAddr, username: &str) -> ApiResult<()> {
    let key = format!("{}|{}", addr.ip(), username);
    let mut a = s.attempts.lock().unwrap_or_else(|p| p.into_inner());
    a.retain(|_, (t, _)| t.elapsed() < Duration::from_secs(60));
    let e = a.entry(key).or_insert((Instant::now(), 0));
    e.1 += 1;
    if e.1 > 10 {
        return Err(ApiError(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many attempts; wait a minute".into(),
        ));
    }
    Ok(())
}

fn session_cookie(token: &str, max_age: i64, secure: bool) -> HeaderValue {
    // HttpOnly: no script reads it; SameSite=Strict: never sent cross-site (with JSON-only APIs, no CSRF);
    // Secure whenever the site is served over https (plain http is for localhost only).
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
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

fn user_of(s: &AppState, headers: &HeaderMap) -> ApiResult<String> {
    let token = cookie_token(headers).ok_or_else(unauthorized)?;
    s.db.session_user(&token)
        .map_err(internal)?
        .ok_or_else(unauthorized)
}

fn start_session(s: &AppState, user_id: &str) -> ApiResult<Response> {
    let token = random_token();
    s.db.new_session(&token, user_id, SESSION_TTL)
        .map_err(internal)?;
    let mut r = Json(json!({ "ok": true })).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(&token, SESSION_TTL, s.origin.starts_with("https://")),
    );
    Ok(r)
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
        return Err(bad("username: 1 to 64 letters, digits or . _ - @"));
    }
    Ok(())
}

/// The manifest as the server sees it: public, signed JSON. A write must be a
/// well-formed v1 manifest signed by the identity key it names and, after
/// sign-up, by the same identity key and vault id as the stored one: only a
/// client holding the vault can produce that. Returns its revision.
fn checked_manifest(m: &Value, stored: Option<&Value>) -> ApiResult<i64> {
    let text = m.to_string();
    if text.len() > MAX_MANIFEST_LEN {
        return Err(bad("manifest too large"));
    }
    let parsed = medseal::Manifest::from_json(&text)
        .map_err(|e| bad(&format!("not a valid vault manifest ({})", e.code())))?;
    parsed
        .verify_self_signature()
        .map_err(|_| bad("manifest signature does not verify"))?;
    if let Some(old) = stored {
        let old = medseal::Manifest::from_json(&old.to_string()).map_err(internal)?;
        if old.vault_id != parsed.vault_id || old.identity_key != parsed.identity_key {
            return Err(bad("manifest belongs to another vault"));
        }
    }
    i64::try_from(parsed.revision).map_err(|_| bad("manifest revision out of range"))
}

/// Refuses credentials that still carry PRF results: they must be stripped in the browser.
fn refuse_prf_results(cred: &Value) -> ApiResult<()> {
    let prf = cred
        .pointer("/clientExtensionResults/prf/results")
        .or_else(|| cred.pointer("/extensions/prf/results"));
    if prf.is_some() {
        return Err(bad(
            "credential carries PRF results: strip them with Vault.withoutPrf before sending",
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
struct Username {
    username: String,
}

async fn signup_start(
    State(s): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Json(b): Json<Username>,
) -> ApiResult<Json<Value>> {
    check_username(&b.username)?;
    rate_limit(&s, &addr, &b.username)?;
    if s.db.user_by_name(&b.username).map_err(internal)?.is_some() {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "taken",
            "that username is taken".into(),
        ));
    }
    let user_id = Uuid::new_v4();
    let (ccr, state) = s
        .webauthn
        .start_passkey_registration(user_id, &b.username, &b.username, None)
        .map_err(|_| bad("cannot start registration"))?;
    let flow = put_flow(
        &s,
        Flow::Signup {
            user_id,
            username: b.username,
            state,
        },
    );
    Ok(Json(json!({ "flow": flow, "options": ccr })))
}

#[derive(Deserialize)]
struct SignupFinish {
    flow: String,
    credential: Value,
    manifest: Value,
}

async fn signup_finish(
    State(s): State<Shared>,
    Json(b): Json<SignupFinish>,
) -> ApiResult<Response> {
    refuse_prf_results(&b.credential)?;
    let Flow::Signup {
        user_id,
        username,
        state,
    } = take_flow(&s, &b.flow)?
    else {
        return Err(bad("wrong flow"));
    };
    let reg: RegisterPublicKeyCredential =
        serde_json::from_value(b.credential).map_err(|_| bad("malformed credential"))?;
    let passkey = s
        .webauthn
        .finish_passkey_registration(&reg, &state)
        .map_err(|_| bad("passkey registration did not verify"))?;
    let revision = checked_manifest(&b.manifest, None)?;
    let cred_id = Base64UrlUnpadded::encode_string(passkey.cred_id().as_ref());
    let pk = serde_json::to_string(&passkey).map_err(internal)?;
    let uid = user_id.to_string();
    s.db.create_user(
        &uid,
        &username,
        &cred_id,
        &pk,
        &b.manifest.to_string(),
        revision,
    )
    .map_err(|_| {
        ApiError(
            StatusCode::CONFLICT,
            "taken",
            "that username is taken".into(),
        )
    })?;
    start_session(&s, &uid)
}

fn load_passkeys(s: &AppState, user_id: &str) -> ApiResult<Vec<Passkey>> {
    let rows = s.db.passkeys(user_id).map_err(internal)?;
    Ok(rows
        .iter()
        .filter_map(|(_, p)| serde_json::from_str(p).ok())
        .collect())
}

fn stored_manifest(s: &AppState, user_id: &str) -> ApiResult<(i64, Value)> {
    let (rev, text) =
        s.db.manifest(user_id)
            .map_err(internal)?
            .ok_or_else(not_found)?;
    Ok((rev, serde_json::from_str(&text).map_err(internal)?))
}

/// Checks and rate-limits a username given to a sign-in or recovery start,
/// and finds its user. Unknown usernames are reported as such (sign-up reveals
/// whether a name is taken anyway); the rate limit bounds probing.
fn known_user(s: &AppState, addr: &SocketAddr, username: &str) -> ApiResult<String> {
    check_username(username)?;
    rate_limit(s, addr, username)?;
    s.db.user_by_name(username)
        .map_err(internal)?
        .ok_or_else(|| bad("unknown username"))
}

async fn login_start(
    State(s): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Json(b): Json<Username>,
) -> ApiResult<Json<Value>> {
    let user_id = known_user(&s, &addr, &b.username)?;
    let passkeys = load_passkeys(&s, &user_id)?;
    let (rcr, state) = s
        .webauthn
        .start_passkey_authentication(&passkeys)
        .map_err(|_| bad("unknown username or no passkey"))?;
    let (_, manifest) = stored_manifest(&s, &user_id)?;
    let flow = put_flow(&s, Flow::Login { user_id, state });
    Ok(Json(
        json!({ "flow": flow, "options": rcr, "manifest": manifest }),
    ))
}

#[derive(Deserialize)]
struct CredentialFinish {
    flow: String,
    credential: Value,
}

async fn login_finish(
    State(s): State<Shared>,
    Json(b): Json<CredentialFinish>,
) -> ApiResult<Response> {
    refuse_prf_results(&b.credential)?;
    let Flow::Login { user_id, state } = take_flow(&s, &b.flow)? else {
        return Err(bad("wrong flow"));
    };
    let cred: PublicKeyCredential =
        serde_json::from_value(b.credential).map_err(|_| bad("malformed credential"))?;
    let res = s
        .webauthn
        .finish_passkey_authentication(&cred, &state)
        .map_err(|_| {
            ApiError(
                StatusCode::UNAUTHORIZED,
                "login_failed",
                "the passkey did not verify".into(),
            )
        })?;
    if !res.user_verified() {
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "login_failed",
            "user verification is required".into(),
        ));
    }
    if res.needs_update() {
        for (id, p) in s.db.passkeys(&user_id).map_err(internal)? {
            if let Ok(mut pk) = serde_json::from_str::<Passkey>(&p) {
                if pk.update_credential(&res) == Some(true) {
                    s.db.update_passkey(
                        &user_id,
                        &id,
                        &serde_json::to_string(&pk).map_err(internal)?,
                    )
                    .map_err(internal)?;
                }
            }
        }
    }
    start_session(&s, &user_id)
}

async fn logout(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(t) = cookie_token(&headers) {
        s.db.end_session(&t).map_err(internal)?;
    }
    let mut r = Json(json!({ "ok": true })).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie("", 0, s.origin.starts_with("https://")),
    );
    Ok(r)
}

async fn get_manifest(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let user = user_of(&s, &headers)?;
    let (revision, manifest) = stored_manifest(&s, &user)?;
    Ok(Json(json!({ "revision": revision, "manifest": manifest })))
}

#[derive(Deserialize)]
struct ManifestWrite {
    replaces: i64,
    manifest: Value,
}

fn write_manifest(s: &AppState, user: &str, replaces: i64, manifest: &Value) -> ApiResult<()> {
    let (_, stored) = stored_manifest(s, user)?;
    let revision = checked_manifest(manifest, Some(&stored))?;
    if !s
        .db
        .replace_manifest(user, replaces, revision, &manifest.to_string())
        .map_err(internal)?
    {
        return Err(ApiError(
            StatusCode::CONFLICT,
            "stale_manifest",
            "the manifest changed since you read it; reload it and retry".into(),
        ));
    }
    Ok(())
}

async fn put_manifest(
    State(s): State<Shared>,
    headers: HeaderMap,
    Json(b): Json<ManifestWrite>,
) -> ApiResult<Json<Value>> {
    let user = user_of(&s, &headers)?;
    write_manifest(&s, &user, b.replaces, &b.manifest)?;
    Ok(Json(json!({ "ok": true })))
}

async fn passkey_start(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let user = user_of(&s, &headers)?;
    let existing: Vec<CredentialID> = load_passkeys(&s, &user)?
        .iter()
        .map(|p| p.cred_id().clone())
        .collect();
    let uuid = Uuid::parse_str(&user).map_err(internal)?;
    let (ccr, state) = s
        .webauthn
        .start_passkey_registration(uuid, "backup", "backup", Some(existing))
        .map_err(|_| bad("cannot start registration"))?;
    let flow = put_flow(
        &s,
        Flow::AddPasskey {
            user_id: user,
            state,
        },
    );
    Ok(Json(json!({ "flow": flow, "options": ccr })))
}

#[derive(Deserialize)]
struct PasskeyFinish {
    flow: String,
    credential: Value,
    manifest: Value,
    replaces: i64,
}

async fn passkey_finish(
    State(s): State<Shared>,
    headers: HeaderMap,
    Json(b): Json<PasskeyFinish>,
) -> ApiResult<Json<Value>> {
    let user = user_of(&s, &headers)?;
    refuse_prf_results(&b.credential)?;
    let Flow::AddPasskey { user_id, state } = take_flow(&s, &b.flow)? else {
        return Err(bad("wrong flow"));
    };
    if user_id != user {
        return Err(unauthorized());
    }
    let reg: RegisterPublicKeyCredential =
        serde_json::from_value(b.credential).map_err(|_| bad("malformed credential"))?;
    let passkey = s
        .webauthn
        .finish_passkey_registration(&reg, &state)
        .map_err(|_| bad("passkey registration did not verify"))?;
    write_manifest(&s, &user, b.replaces, &b.manifest)?;
    let cred_id = Base64UrlUnpadded::encode_string(passkey.cred_id().as_ref());
    s.db.add_passkey(
        &user,
        &cred_id,
        &serde_json::to_string(&passkey).map_err(internal)?,
    )
    .map_err(internal)?;
    Ok(Json(json!({ "ok": true })))
}

async fn delete_passkey(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(cred): Path<String>,
) -> ApiResult<Json<Value>> {
    let user = user_of(&s, &headers)?;
    if s.db.passkeys(&user).map_err(internal)?.len() <= 1 {
        return Err(bad("refusing to remove the last login passkey"));
    }
    if s.db.remove_passkey(&user, &cred).map_err(internal)? == 0 {
        return Err(not_found());
    }
    Ok(Json(json!({ "ok": true })))
}

/// Recovery: the client unlocks the vault with the recovery code and proves it
/// by signing a fresh challenge with the vault's identity key, whose public
/// key is in the stored manifest. The server never sees the code.
async fn recover_start(
    State(s): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Json(b): Json<Username>,
) -> ApiResult<Json<Value>> {
    let user_id = known_user(&s, &addr, &b.username)?;
    let (_, manifest) = stored_manifest(&s, &user_id)?;
    let mut challenge = vec![0u8; 32];
    getrandom::fill(&mut challenge).map_err(internal)?;
    let c = Base64UrlUnpadded::encode_string(&challenge);
    let flow = put_flow(&s, Flow::Recover { user_id, challenge });
    Ok(Json(
        json!({ "flow": flow, "challenge": c, "audience": s.origin, "manifest": manifest }),
    ))
}

#[derive(Deserialize)]
struct RecoverFinish {
    flow: String,
    signature: String,
}

/// The message a login proof signs; must match `Vault::sign_login_proof` in the medseal core.
fn login_proof_message(challenge: &[u8], audience: &str) -> Vec<u8> {
    let mut m = Vec::new();
    for part in [
        b"medseal/v1/login-proof".as_slice(),
        challenge,
        audience.as_bytes(),
    ] {
        m.extend_from_slice(&(part.len() as u32).to_be_bytes());
        m.extend_from_slice(part);
    }
    m
}

async fn recover_finish(
    State(s): State<Shared>,
    Json(b): Json<RecoverFinish>,
) -> ApiResult<Response> {
    use p256::ecdsa::signature::Verifier;
    let Flow::Recover { user_id, challenge } = take_flow(&s, &b.flow)? else {
        return Err(bad("wrong flow"));
    };
    let (_, manifest) = stored_manifest(&s, &user_id)?;
    let pk = manifest
        .pointer("/identityKey/publicKey")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("manifest has no identity key"))?;
    let pk = Base64UrlUnpadded::decode_vec(pk).map_err(|_| bad("bad identity key"))?;
    let vk =
        p256::ecdsa::VerifyingKey::from_sec1_bytes(&pk).map_err(|_| bad("bad identity key"))?;
    let sig = Base64UrlUnpadded::decode_vec(&b.signature).map_err(|_| bad("bad signature"))?;
    let sig = p256::ecdsa::Signature::from_slice(&sig).map_err(|_| bad("bad signature"))?;
    vk.verify(&login_proof_message(&challenge, &s.origin), &sig)
        .map_err(|_| {
            ApiError(
                StatusCode::UNAUTHORIZED,
                "recovery_failed",
                "the recovery proof did not verify".into(),
            )
        })?;
    start_session(&s, &user_id)
}

async fn list_records(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let user = user_of(&s, &headers)?;
    let rows = s.db.records(&user).map_err(internal)?;
    Ok(Json(
        json!({ "records": rows.iter().map(|r| json!({ "id": r.id, "sealed": r.sealed, "created": r.created, "updated": r.updated })).collect::<Vec<_>>() }),
    ))
}

fn check_record_id(id: &str) -> ApiResult<()> {
    if !is_simple_id(id, 128, "-_.") {
        return Err(bad("record id: 1 to 128 letters, digits, - _ ."));
    }
    Ok(())
}

async fn get_record(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let user = user_of(&s, &headers)?;
    let r =
        s.db.record(&user, &id)
            .map_err(internal)?
            .ok_or_else(not_found)?;
    Ok(Json(
        json!({ "id": r.id, "sealed": r.sealed, "created": r.created, "updated": r.updated }),
    ))
}

#[derive(Deserialize)]
struct RecordWrite {
    sealed: String,
}

async fn put_record(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(b): Json<RecordWrite>,
) -> ApiResult<Json<Value>> {
    let user = user_of(&s, &headers)?;
    check_record_id(&id)?;
    // Only sealed records are accepted: the text form of a medseal record.
    if !b.sealed.starts_with("ms1.")
        || b.sealed.len() > MAX_RECORD_LEN
        || !b.sealed[4..]
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
    {
        return Err(bad(
            "sealed must be a medseal sealed record (\"ms1.\" text form)",
        ));
    }
    s.db.put_record(&user, &id, &b.sealed).map_err(internal)?;
    Ok(Json(json!({ "ok": true })))
}

async fn delete_record(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let user = user_of(&s, &headers)?;
    if s.db.delete_record(&user, &id).map_err(internal)? == 0 {
        return Err(not_found());
    }
    Ok(Json(json!({ "ok": true })))
}

async fn me(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Json<Value>> {
    let user = user_of(&s, &headers)?;
    Ok(Json(json!({ "user": user })))
}

/// API requests must carry `x-medseal: 1` (a custom header: cross-site forms
/// cannot send it without a CORS preflight this server never grants), and
/// only the method, path and status are logged: never a body.
async fn api_guard(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    if path.starts_with("/api/")
        && req.headers().get("x-medseal").map(|v| v.as_bytes()) != Some(b"1")
    {
        return ApiError(
            StatusCode::FORBIDDEN,
            "forbidden",
            "missing x-medseal header".into(),
        )
        .into_response();
    }
    let res = next.run(req).await;
    if path.starts_with("/api/") {
        // Paths carry only record ids and credential ids (public), never content.
        eprintln!("{method} {path} {}", res.status().as_u16());
    }
    res
}

fn app(state: Shared, root: PathBuf) -> Router {
    let api = Router::new()
        .route("/api/signup/start", post(signup_start))
        .route("/api/signup/finish", post(signup_finish))
        .route("/api/login/start", post(login_start))
        .route("/api/login/finish", post(login_finish))
        .route("/api/logout", post(logout))
        .route("/api/me", get(me))
        .route("/api/manifest", get(get_manifest).put(put_manifest))
        .route("/api/passkeys/start", post(passkey_start))
        .route("/api/passkeys/finish", post(passkey_finish))
        .route(
            "/api/passkeys/{cred}",
            axum::routing::delete(delete_passkey),
        )
        .route("/api/recover/start", post(recover_start))
        .route("/api/recover/finish", post(recover_finish))
        .route("/api/records", get(list_records))
        .route(
            "/api/records/{id}",
            get(get_record).put(put_record).delete(delete_record),
        )
        .layer(DefaultBodyLimit::max(MAX_RECORD_LEN + 4096));
    let csp = HeaderValue::from_static("default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'");
    Router::new()
        .merge(api)
        .nest_service("/pkg", ServeDir::new(root.join("pkg")))
        .fallback_service(ServeDir::new(root.join("examples/server/web")))
        .layer(middleware::from_fn(api_guard))
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

#[tokio::main]
async fn main() {
    let addr: SocketAddr = std::env::var("MEDSEAL_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:8080".into())
        .parse()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let data = std::env::var("MEDSEAL_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("data"));
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(8080);
    let origin =
        std::env::var("MEDSEAL_ORIGIN").unwrap_or_else(|_| format!("http://localhost:{port}"));
    let rp_origin = match Url::parse(&origin) {
        Ok(u) => u,
        Err(_) => {
            eprintln!("MEDSEAL_ORIGIN is not a URL");
            std::process::exit(1);
        }
    };
    let rp_id = rp_origin.host_str().unwrap_or("localhost").to_string();
    let webauthn = match WebauthnBuilder::new(&rp_id, &rp_origin)
        .and_then(|b| b.rp_name("medseal PHR demo").build())
    {
        Ok(w) => w,
        Err(e) => {
            eprintln!("webauthn configuration: {e:?}");
            std::process::exit(1);
        }
    };
    let db = match Db::open(&data) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("cannot open the database in {}: {e}", data.display());
            std::process::exit(1);
        }
    };
    let state = Arc::new(AppState {
        webauthn,
        db,
        origin: origin.clone(),
        flows: Mutex::new(HashMap::new()),
        attempts: Mutex::new(HashMap::new()),
    });
    println!(
        "medseal PHR demo: {origin}/  (data in {})",
        data.canonicalize().unwrap_or(data.clone()).display()
    );
    if let Err(e) = axum::serve(
        listener,
        app(state, root).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
    {
        eprintln!("server error: {e}");
    }
}
