//! Sign-up, sign-in, sign-out and recovery.
//!
//! Whether a username exists: sign-up must say a name is taken (names are
//! unique and people choose them), so sign-in and recovery starts say
//! "unknown username" too rather than pretend; hiding it there would hide
//! nothing sign-up does not show. What bounds probing is the per-address
//! limit on starts (flows.rs), which every start pays whatever name it asks.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json as Reply;
use base64ct::{Base64UrlUnpadded, Encoding};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;
use webauthn_rs::prelude::{Passkey, PublicKeyCredential, RegisterPublicKeyCredential};

use super::manifest::{checked_manifest, manifest_value, stored_manifest};
use super::passkeys::load_passkeys;
use super::{check_username, refuse_prf_results};
use crate::auth::{cookie_token, session_cookie, start_session, OtherSessions};
use crate::db;
use crate::error::{ApiError, ApiResult, Json};
use crate::flows::Flow;
use crate::random::{random_bytes, random_token};
use crate::state::{AppState, Shared};

#[derive(Deserialize)]
pub(super) struct Username {
    username: String,
}

fn taken() -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "taken", "that username is taken")
}

/// Checks a username given to a sign-in or recovery start, charges the
/// client's start limit, and finds the user.
async fn known_user(s: &AppState, addr: &SocketAddr, username: &str) -> ApiResult<String> {
    check_username(username)?;
    s.starts.check(addr.ip())?;
    let name = username.to_string();
    s.db.read(move |c| db::user_by_name(c, &name))
        .await?
        .ok_or_else(|| ApiError::bad("unknown username"))
}

async fn new_flow(s: &AppState, flow: Flow) -> ApiResult<String> {
    let id = random_token(s.entropy.as_ref())?;
    s.flows.put(id.clone(), flow)?;
    Ok(id)
}

/// `POST /api/signup/start` `{username}`: registration options.
pub(super) async fn signup_start(
    State(s): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Json(b): Json<Username>,
) -> ApiResult<Reply<Value>> {
    check_username(&b.username)?;
    s.starts.check(addr.ip())?;
    let name = b.username.clone();
    if s.db
        .read(move |c| db::user_by_name(c, &name))
        .await?
        .is_some()
    {
        return Err(taken());
    }
    let user_id = Uuid::new_v4();
    let (ccr, state) = s
        .webauthn
        .start_passkey_registration(user_id, &b.username, &b.username, None)
        .map_err(|_| ApiError::bad("cannot start registration"))?;
    let flow = new_flow(
        &s,
        Flow::Signup {
            user_id,
            username: b.username,
            state,
        },
    )
    .await?;
    Ok(Reply(json!({ "flow": flow, "options": ccr })))
}

#[derive(Deserialize)]
pub(super) struct SignupFinish {
    flow: String,
    credential: Value,
    manifest: Value,
}

/// `POST /api/signup/finish` `{flow, credential, manifest}`: creates the user
/// with its passkey and the vault's first manifest, and signs in.
pub(super) async fn signup_finish(
    State(s): State<Shared>,
    Json(b): Json<SignupFinish>,
) -> ApiResult<Response> {
    refuse_prf_results(&b.credential)?;
    let Flow::Signup {
        user_id,
        username,
        state,
    } = s.flows.take(&b.flow)?
    else {
        return Err(ApiError::bad("wrong flow"));
    };
    let reg: RegisterPublicKeyCredential =
        serde_json::from_value(b.credential).map_err(|_| ApiError::bad("malformed credential"))?;
    let passkey = s
        .webauthn
        .finish_passkey_registration(&reg, &state)
        .map_err(|_| ApiError::bad("passkey registration did not verify"))?;
    let m = checked_manifest(&b.manifest, None)?;
    let cred_id = Base64UrlUnpadded::encode_string(passkey.cred_id().as_ref());
    let pk = serde_json::to_string(&passkey).map_err(|e| {
        ApiError::internal(
            "passkey does not serialize",
            format_args!("{:?}", e.classify()),
        )
    })?;
    let uid = user_id.to_string();
    let u = uid.clone();
    s.db.write(move |c| db::create_user(c, &u, &username, &cred_id, &pk, &m.text, m.revision))
        .await
        .map_err(|e| {
            if e.is_constraint() {
                // Another sign-up took the name (or the credential id) since the start.
                taken()
            } else {
                ApiError::from(e)
            }
        })?;
    start_session(&s, &uid, OtherSessions::Keep).await
}

/// `POST /api/login/start` `{username}`: authentication options and the
/// manifest (the browser needs its PRF salts for the same gesture).
pub(super) async fn login_start(
    State(s): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Json(b): Json<Username>,
) -> ApiResult<Reply<Value>> {
    let user_id = known_user(&s, &addr, &b.username).await?;
    let passkeys = load_passkeys(&s, &user_id).await?;
    let (rcr, state) = s
        .webauthn
        .start_passkey_authentication(&passkeys)
        .map_err(|_| ApiError::bad("unknown username or no passkey"))?;
    let (_, manifest) = stored_manifest(&s, &user_id).await?;
    let manifest = manifest_value(&manifest)?;
    let flow = new_flow(&s, Flow::Login { user_id, state }).await?;
    Ok(Reply(
        json!({ "flow": flow, "options": rcr, "manifest": manifest }),
    ))
}

#[derive(Deserialize)]
pub(super) struct CredentialFinish {
    flow: String,
    credential: Value,
}

fn login_failed(message: &'static str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "login_failed", message)
}

/// `POST /api/login/finish` `{flow, credential}`: verifies the assertion and signs in.
pub(super) async fn login_finish(
    State(s): State<Shared>,
    Json(b): Json<CredentialFinish>,
) -> ApiResult<Response> {
    refuse_prf_results(&b.credential)?;
    let Flow::Login { user_id, state } = s.flows.take(&b.flow)? else {
        return Err(ApiError::bad("wrong flow"));
    };
    let cred: PublicKeyCredential =
        serde_json::from_value(b.credential).map_err(|_| ApiError::bad("malformed credential"))?;
    let res = s
        .webauthn
        .finish_passkey_authentication(&cred, &state)
        .map_err(|_| login_failed("the passkey did not verify"))?;
    if !res.user_verified() {
        return Err(login_failed("user verification is required"));
    }
    if res.needs_update() {
        let u = user_id.clone();
        s.db.write(move |c| {
            for (id, p) in db::passkeys(c, &u)? {
                let Ok(mut pk) = serde_json::from_str::<Passkey>(&p) else {
                    continue;
                };
                if pk.update_credential(&res) == Some(true) {
                    if let Ok(text) = serde_json::to_string(&pk) {
                        db::update_passkey(c, &u, &id, &text)?;
                    }
                }
            }
            Ok(())
        })
        .await?;
    }
    start_session(&s, &user_id, OtherSessions::Keep).await
}

/// `POST /api/logout`: ends this session and clears the cookie.
pub(super) async fn logout(State(s): State<Shared>, headers: HeaderMap) -> ApiResult<Response> {
    if let Some(t) = cookie_token(&headers) {
        s.db.write(move |c| db::end_session(c, &t)).await?;
    }
    let mut r = Reply(json!({ "ok": true })).into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, session_cookie("", 0, s.https()));
    Ok(r)
}

/// `POST /api/recover/start` `{username}`: a fresh challenge, the audience
/// (this origin) and the manifest. The client unlocks the vault with the
/// recovery code and proves it by signing the challenge with the vault's
/// identity key; the server never sees the code.
pub(super) async fn recover_start(
    State(s): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    Json(b): Json<Username>,
) -> ApiResult<Reply<Value>> {
    let user_id = known_user(&s, &addr, &b.username).await?;
    let (_, manifest) = stored_manifest(&s, &user_id).await?;
    let manifest = manifest_value(&manifest)?;
    let challenge = random_bytes::<32>(s.entropy.as_ref())?.to_vec();
    let c = Base64UrlUnpadded::encode_string(&challenge);
    let flow = new_flow(&s, Flow::Recover { user_id, challenge }).await?;
    Ok(Reply(
        json!({ "flow": flow, "challenge": c, "audience": s.origin, "manifest": manifest }),
    ))
}

#[derive(Deserialize)]
pub(super) struct RecoverFinish {
    flow: String,
    signature: String,
}

/// `POST /api/recover/finish` `{flow, signature}`: checks the login proof
/// with the core (against the stored manifest, whose own signature is
/// checked too), signs in and signs out every other session of the user.
pub(super) async fn recover_finish(
    State(s): State<Shared>,
    Json(b): Json<RecoverFinish>,
) -> ApiResult<Response> {
    let Flow::Recover { user_id, challenge } = s.flows.take(&b.flow)? else {
        return Err(ApiError::bad("wrong flow"));
    };
    let (_, text) = stored_manifest(&s, &user_id).await?;
    let manifest = medseal::Manifest::from_json(&text)
        .map_err(|e| ApiError::internal("stored manifest does not parse", e.code()))?;
    let sig = Base64UrlUnpadded::decode_vec(&b.signature)
        .map_err(|_| ApiError::bad("signature: not base64url"))?;
    manifest
        .verify_login_proof(&challenge, &s.origin, &sig)
        .map_err(|_| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "recovery_failed",
                "the recovery proof did not verify",
            )
        })?;
    start_session(&s, &user_id, OtherSessions::End).await
}
