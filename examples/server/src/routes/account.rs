//! Sign-up, sign-in, sign-out and recovery.
//!
//! Whether a username exists: sign-up must say a name is taken (names are
//! unique and people choose them), so sign-in and recovery starts say
//! "unknown username" too rather than pretend; hiding it there would hide
//! nothing sign-up does not show. What bounds probing is the per-address
//! limit on starts (flows.rs), which every start pays whatever name it asks.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json as Reply;
use base64ct::{Base64UrlUnpadded, Encoding};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;
use webauthn_rs::prelude::{Passkey, PasskeyAuthentication, PublicKeyCredential};

use super::log::{attest_login, Unrecorded};
use super::manifest::{checked_manifest, parsed_stored, stored_manifest, stored_manifest_json};
use super::passkeys::{load_passkeys, registered_passkey, require_named, start_registration};
use super::{check_username, new_flow, refuse_prf_results};
use crate::auth::{cookie_token, session_cookie, start_session, OtherSessions};
use crate::db;
use crate::error::{ApiError, ApiResult, Json};
use crate::flows::Flow;
use crate::random::random_bytes;
use crate::state::{AppState, Shared};

#[derive(Deserialize)]
pub(super) struct Username {
    username: String,
}

fn taken() -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "taken", "that username is taken")
}

/// The username a ceremony start names (body `{username}`): checked, and
/// the client's start limit charged.
pub(super) struct StartName(String);

impl FromRequest<Shared> for StartName {
    type Rejection = ApiError;

    async fn from_request(req: Request, s: &Shared) -> Result<Self, ApiError> {
        let (mut parts, body) = req.into_parts();
        let ConnectInfo(addr) = ConnectInfo::<SocketAddr>::from_request_parts(&mut parts, s)
            .await
            .map_err(|e| ApiError::internal("client address", e))?;
        let req = Request::from_parts(parts, body);
        let Json(Username { username }) = Json::<Username>::from_request(req, s).await?;
        check_username(&username)?;
        s.starts.check(addr.ip())?;
        Ok(StartName(username))
    }
}

/// The user a sign-in or recovery start names: a [`StartName`] that exists.
pub(super) struct KnownUser(String);

impl FromRequest<Shared> for KnownUser {
    type Rejection = ApiError;

    async fn from_request(req: Request, s: &Shared) -> Result<Self, ApiError> {
        let StartName(username) = StartName::from_request(req, s).await?;
        let user_id = user_named(s, username)
            .await?
            .ok_or_else(|| ApiError::bad("unknown username"))?;
        Ok(KnownUser(user_id))
    }
}

/// The id of the user named `username`, if there is one.
async fn user_named(s: &AppState, username: String) -> ApiResult<Option<String>> {
    Ok(s.db.read(move |c| db::user_by_name(c, &username)).await?)
}

/// `POST /api/signup/start` `{username}`: registration options.
pub(super) async fn signup_start(
    State(s): State<Shared>,
    StartName(username): StartName,
) -> ApiResult<Reply<Value>> {
    if user_named(&s, username.clone()).await?.is_some() {
        return Err(taken());
    }
    let user_id = Uuid::new_v4();
    let name = username.clone();
    start_registration(&s, user_id, &name, None, |state| Flow::Signup {
        user_id,
        username,
        state,
    })
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
    Json(SignupFinish {
        flow,
        credential,
        manifest,
    }): Json<SignupFinish>,
) -> ApiResult<Response> {
    refuse_prf_results(&credential)?;
    let Flow::Signup {
        user_id,
        username,
        state,
    } = s.flows.take(&flow)?
    else {
        return Err(ApiError::bad("wrong flow"));
    };
    let passkey = registered_passkey(&s, credential, &state)?;
    let m = checked_manifest(&manifest, None)?;
    require_named(&m, &passkey)?;
    let uid = user_id.to_string();
    let u = uid.clone();
    let created =
        s.db.write(move |c| {
            db::create_user(
                c,
                &u,
                &username,
                &passkey.cred_id,
                &passkey.json,
                &m.text,
                m.revision,
            )
        })
        .await
        .map_err(|e| {
            if e.is_constraint() {
                // Another sign-up took the name (or the credential id) since the start.
                taken()
            } else {
                ApiError::from(e)
            }
        })?;
    if created == db::UserWrite::VaultExists {
        return Err(vault_exists());
    }
    start_session(&s, &uid, OtherSessions::Keep).await
}

/// A vault id belongs to one account: a sign-up (or a manifest store) with
/// a manifest of a vault that another account holds is refused, or grants
/// to that vault would name no single user.
pub(super) fn vault_exists() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "vault_exists",
        "another account holds this vault",
    )
}

/// `POST /api/login/start` `{username}`: authentication options and the
/// manifest (the browser needs its PRF salts for the same gesture).
pub(super) async fn login_start(
    State(s): State<Shared>,
    KnownUser(user_id): KnownUser,
) -> ApiResult<Reply<Value>> {
    let passkeys = load_passkeys(&s, &user_id).await?;
    let (rcr, state) = s
        .webauthn
        .start_passkey_authentication(&passkeys)
        .map_err(|_| ApiError::bad("unknown username or no passkey"))?;
    let (_, manifest) = stored_manifest_json(&s, &user_id).await?;
    let flow = new_flow(&s, Flow::Login { user_id, state })?;
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

/// `POST /api/login/finish` `{flow, credential}`: verifies the assertion and
/// signs in. The attempt, once the flow names the user, goes into the
/// user's vault log (`login`, method `passkey`, `ok` or `failed`): a
/// success before the session starts (503 `log_full` if it cannot be
/// recorded), failures within the vault's budget per hour.
pub(super) async fn login_finish(
    State(s): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(CredentialFinish { flow, credential }): Json<CredentialFinish>,
) -> ApiResult<Response> {
    refuse_prf_results(&credential)?;
    let Flow::Login { user_id, state } = s.flows.take(&flow)? else {
        return Err(ApiError::bad("wrong flow"));
    };
    let checked = check_login(&s, &user_id, credential, &state).await;
    let from = s.network_token(addr, &headers);
    signed_in(&s, &user_id, "passkey", checked, from, OtherSessions::Keep).await
}

/// After a sign-in's proof was checked: records the attempt in the user's
/// vault log and, if the proof verified, starts the session, only once the
/// success is recorded (the log full: 503 `log_full`, the sign-in refused
/// rather than left unrecorded). A failure is recorded within the vault's
/// budget of failed sign-ins and fails whether recorded or not.
async fn signed_in(
    s: &AppState,
    user_id: &str,
    method: &str,
    checked: ApiResult<Option<String>>,
    from: String,
    others: OtherSessions,
) -> ApiResult<Response> {
    match checked {
        Ok(via) => {
            attest_login(s, user_id, method, true, from, via)
                .await
                .map_err(Unrecorded::refusal)?;
            start_session(s, user_id, others).await
        }
        Err(e) => {
            let _ = attest_login(s, user_id, method, false, from, None).await;
            Err(e)
        }
    }
}

/// The vault's unlock entry of the credential that signed in (its passkey
/// entry in the stored manifest), named in the log's sign-in record so that
/// a passkey never seen before raises the patient's alert even if its
/// device writes nothing itself.
async fn entry_of_credential(s: &AppState, user_id: &str, cred_id: &[u8]) -> Option<String> {
    let (_, text) = stored_manifest(s, user_id).await.ok()?;
    let manifest = parsed_stored(&text).ok()?;
    let id = manifest
        .passkeys()
        .find(|p| p.credential_id == cred_id)
        .map(|p| p.entry_id.to_owned());
    id
}

async fn check_login(
    s: &AppState,
    user_id: &str,
    credential: Value,
    state: &PasskeyAuthentication,
) -> ApiResult<Option<String>> {
    let cred: PublicKeyCredential =
        serde_json::from_value(credential).map_err(|_| ApiError::bad("malformed credential"))?;
    let res = s
        .webauthn
        .finish_passkey_authentication(&cred, state)
        .map_err(|_| login_failed("the passkey did not verify"))?;
    if !res.user_verified() {
        return Err(login_failed("user verification is required"));
    }
    if res.needs_update() {
        let res = res.clone();
        let u = user_id.to_string();
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
    Ok(entry_of_credential(s, user_id, res.cred_id().as_ref()).await)
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
    KnownUser(user_id): KnownUser,
) -> ApiResult<Reply<Value>> {
    let (_, manifest) = stored_manifest_json(&s, &user_id).await?;
    let challenge = random_bytes::<32>(s.entropy.as_ref())?.to_vec();
    let c = Base64UrlUnpadded::encode_string(&challenge);
    let flow = new_flow(&s, Flow::Recover { user_id, challenge })?;
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
/// The attempt, once the flow names the user, goes into the user's vault
/// log (`login`, method `recovery`, `ok` or `failed`) as for a passkey.
pub(super) async fn recover_finish(
    State(s): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Json(RecoverFinish { flow, signature }): Json<RecoverFinish>,
) -> ApiResult<Response> {
    let Flow::Recover { user_id, challenge } = s.flows.take(&flow)? else {
        return Err(ApiError::bad("wrong flow"));
    };
    let checked = check_recovery(&s, &user_id, &challenge, &signature).await;
    let from = s.network_token(addr, &headers);
    signed_in(&s, &user_id, "recovery", checked, from, OtherSessions::End).await
}

async fn check_recovery(
    s: &AppState,
    user_id: &str,
    challenge: &[u8],
    signature: &str,
) -> ApiResult<Option<String>> {
    let (_, text) = stored_manifest(s, user_id).await?;
    let manifest = parsed_stored(&text)?;
    let sig = Base64UrlUnpadded::decode_vec(signature)
        .map_err(|_| ApiError::bad("signature: not base64url"))?;
    // Checked against the login key of the current recovery entry: a
    // rotated code (another entry, another key) signs in no more, nor does
    // any other holder of the vault (a passkey's identity-key proof).
    manifest
        .verify_recovery_login(challenge, &s.origin, &sig)
        .map_err(|_| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "recovery_failed",
                "the recovery proof did not verify",
            )
        })?;
    Ok(manifest.recovery_entry_id().map(str::to_owned))
}
