//! Login passkeys of the signed-in user: add one (with the manifest entry
//! that lets it unlock the vault), remove one.

use axum::extract::{ConnectInfo, State};
use axum::Json as Reply;
use base64ct::{Base64UrlUnpadded, Encoding};
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;
use uuid::Uuid;
use webauthn_rs::prelude::{
    CredentialID, Passkey, PasskeyRegistration, RegisterPublicKeyCredential,
};

use super::manifest::{checked_successor, swapped, CheckedManifest};
use super::{new_flow, refuse_prf_results};
use crate::auth::AuthUser;
use crate::db::{self, PasskeyRemoval};
use crate::error::{ApiError, ApiResult, Json, Path};
use crate::flows::Flow;
use crate::state::{AppState, Shared};

/// The user's passkeys as webauthn-rs reads them (rows that do not parse are skipped).
pub(crate) async fn load_passkeys(s: &AppState, user_id: &str) -> ApiResult<Vec<Passkey>> {
    let u = user_id.to_string();
    let rows = s.db.read(move |c| db::passkeys(c, &u)).await?;
    Ok(rows
        .iter()
        .filter_map(|(_, p)| serde_json::from_str(p).ok())
        .collect())
}

/// Starts a passkey registration for `user`: `{flow, options}`, the flow
/// (made by `flow` from webauthn-rs's state) kept for the finish.
pub(super) fn start_registration(
    s: &AppState,
    user: Uuid,
    name: &str,
    exclude: Option<Vec<CredentialID>>,
    flow: impl FnOnce(PasskeyRegistration) -> Flow,
) -> ApiResult<Reply<Value>> {
    let (ccr, state) = s
        .webauthn
        .start_passkey_registration(user, name, name, exclude)
        .map_err(|_| ApiError::bad("cannot start registration"))?;
    let flow = new_flow(s, flow(state))?;
    Ok(Reply(json!({ "flow": flow, "options": ccr })))
}

/// A verified new passkey, as stored: its credential id (base64url) and the
/// webauthn-rs passkey as JSON.
pub(super) struct NewPasskey {
    pub(super) cred_id: String,
    pub(super) json: String,
}

/// Verifies a registration response against its ceremony's state.
pub(super) fn registered_passkey(
    s: &AppState,
    credential: Value,
    state: &PasskeyRegistration,
) -> ApiResult<NewPasskey> {
    let reg: RegisterPublicKeyCredential =
        serde_json::from_value(credential).map_err(|_| ApiError::bad("malformed credential"))?;
    let passkey = s
        .webauthn
        .finish_passkey_registration(&reg, state)
        .map_err(|_| ApiError::bad("passkey registration did not verify"))?;
    let json = serde_json::to_string(&passkey).map_err(|e| {
        ApiError::internal(
            "passkey does not serialize",
            format_args!("{:?}", e.classify()),
        )
    })?;
    Ok(NewPasskey {
        cred_id: Base64UrlUnpadded::encode_string(passkey.cred_id().as_ref()),
        json,
    })
}

/// `POST /api/passkeys/start`: registration options for one more passkey.
pub(super) async fn start(
    State(s): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    user: AuthUser,
) -> ApiResult<Reply<Value>> {
    s.starts.check(addr.ip())?;
    let existing: Vec<CredentialID> = load_passkeys(&s, &user.user_id)
        .await?
        .iter()
        .map(|p| p.cred_id().clone())
        .collect();
    let uuid = Uuid::parse_str(&user.user_id)
        .map_err(|e| ApiError::internal("stored user id is not a UUID", e))?;
    start_registration(&s, uuid, "backup", Some(existing), |state| {
        Flow::AddPasskey {
            user_id: user.user_id,
            state,
        }
    })
}

#[derive(Deserialize)]
pub(super) struct PasskeyFinish {
    flow: String,
    credential: Value,
    manifest: Value,
    replaces: i64,
}

/// `POST /api/passkeys/finish` `{flow, credential, manifest, replaces}`: the
/// new passkey and the manifest that names it are stored together or not at
/// all. Like `PUT /api/manifest`, a manifest that also takes a way in away
/// revokes it with the write.
pub(super) async fn finish(
    State(s): State<Shared>,
    user: AuthUser,
    Json(PasskeyFinish {
        flow,
        credential,
        manifest,
        replaces,
    }): Json<PasskeyFinish>,
) -> ApiResult<Reply<Value>> {
    refuse_prf_results(&credential)?;
    let Flow::AddPasskey { user_id, state } = s.flows.take(&flow)? else {
        return Err(ApiError::bad("wrong flow"));
    };
    if user_id != user.user_id {
        return Err(ApiError::unauthorized());
    }
    let passkey = registered_passkey(&s, credential, &state)?;
    let m = checked_successor(&s, &user_id, replaces, &manifest).await?;
    require_named(&m, &passkey)?;
    let replaced =
        s.db.write(move |c| {
            db::replace_manifest_adding_passkey(
                c,
                &m.swap(&user_id, replaces, &user.token),
                &passkey.cred_id,
                &passkey.json,
            )
        })
        .await?;
    swapped(replaced)
}

/// Refuses a manifest that does not name the passkey registered with it: a
/// login passkey must be one the vault unlocks with, and a manifest that
/// takes a way in away revokes every login passkey it does not name.
pub(super) fn require_named(m: &CheckedManifest, passkey: &NewPasskey) -> ApiResult<()> {
    if !m.credentials.contains(&passkey.cred_id) {
        return Err(ApiError::bad(
            "the manifest has no entry for the passkey being registered",
        ));
    }
    Ok(())
}

/// `DELETE /api/passkeys/{cred}`: removes a login passkey (never the last)
/// and signs out every other session of the user.
pub(super) async fn remove(
    State(s): State<Shared>,
    user: AuthUser,
    Path(cred): Path<String>,
) -> ApiResult<Reply<Value>> {
    let removal =
        s.db.write(move |c| db::remove_passkey(c, &user.user_id, &cred, &user.token))
            .await?;
    match removal {
        PasskeyRemoval::Removed => Ok(Reply(json!({ "ok": true }))),
        PasskeyRemoval::NotFound => Err(ApiError::not_found("no such passkey")),
        PasskeyRemoval::LastOne => Err(ApiError::bad("refusing to remove the last login passkey")),
    }
}
