//! Deleting an account for good (GDPR art. 17), and the tombstones kept.
//!
//! A deletion takes a destroy request signed by the account's vault
//! (`vault.destroy()`, FORMAT.md "Deletion"): the identity key's signature
//! over the vault id, the hash of the manifest the server stores, a fresh
//! challenge and this origin. A session cookie alone (stolen, or left open
//! on a shared computer) cannot delete an account; nor can a request made
//! for another vault, another challenge, another server, or on a manifest
//! the server no longer holds.
//!
//! Then, in one transaction ([`db::delete_account`]), every row of the
//! account goes and its tombstone is stored: the server's signed note of
//! the vault id, the time, the request's hash and the identity key, with no
//! personal data. After the commit the account's attachment files are
//! removed and the write-ahead log is checkpointed and emptied, so that no
//! file under the data folder still holds the account's ciphertext.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json as Reply;
use base64ct::{Base64UrlUnpadded, Encoding};
use serde::Deserialize;
use serde_json::{json, Value};

use super::manifest::parsed_stored;
use super::new_flow;
use crate::auth::{session_cookie, AuthUser};
use crate::db::{self, AccountDeletion};
use crate::error::{ApiError, ApiResult, Json, Path};
use crate::flows::Flow;
use crate::random::random_bytes;
use crate::state::{AppState, Shared};

/// `POST /api/account/delete/start` (signed in): `{flow, challenge,
/// audience}`, the challenge (32 random bytes, base64url) for the vault's
/// destroy request and the origin it must name. Costs a ceremony start.
pub(super) async fn start(
    State(s): State<Shared>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    user: AuthUser,
) -> ApiResult<Reply<Value>> {
    s.starts.check(addr.ip())?;
    let challenge = random_bytes::<32>(s.entropy.as_ref())?.to_vec();
    let c = Base64UrlUnpadded::encode_string(&challenge);
    let flow = new_flow(
        &s,
        Flow::DeleteAccount {
            user_id: user.user_id,
            challenge,
        },
    )?;
    Ok(Reply(
        json!({ "flow": flow, "challenge": c, "audience": s.origin }),
    ))
}

#[derive(Deserialize)]
pub(super) struct Finish {
    flow: String,
    signature: String,
}

fn refused() -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "destroy_refused",
        "the deletion request did not verify: it must be signed by this account's vault, for this challenge and this site, on the manifest the server holds (reload and try again)",
    )
}

/// `POST /api/account/delete/finish` `{flow, signature}` (signed in, with
/// the session that started the flow's user): checks the destroy request
/// against the stored manifest and deletes the account in one transaction
/// (403 `destroy_refused` and nothing deleted if it does not verify), then
/// removes its attachment files and checkpoints the database. Answers
/// `{tombstone}` (the signed note) and clears the session cookie.
pub(super) async fn finish(
    State(s): State<Shared>,
    user: AuthUser,
    Json(Finish { flow, signature }): Json<Finish>,
) -> ApiResult<Response> {
    let Flow::DeleteAccount { user_id, challenge } = s.flows.take(&flow)? else {
        return Err(ApiError::bad("wrong flow"));
    };
    if user_id != user.user_id {
        return Err(ApiError::unauthorized());
    }
    let sig = Base64UrlUnpadded::decode_vec(&signature)
        .map_err(|_| ApiError::bad("signature: not base64url"))?;
    let (origin, key) = (s.origin.clone(), s.log_key.clone());
    let uid = user_id.clone();
    let deleted =
        s.db.write(move |c| {
            db::delete_account(c, &uid, |text| {
                let m = parsed_stored(text)?;
                m.verify_destroy(&sig, &challenge, &origin)
                    .map_err(|e| match e {
                        medseal::Error::UnlockFailed => refused(),
                        e => ApiError::internal("destroy request", e.code()),
                    })?;
                let now = u64::try_from(db::now()).unwrap_or(0);
                let note = medseal::destroy::Tombstone::new(&origin, &m, now, &sig)
                    .and_then(|t| t.sign(&key))
                    .map_err(|e| ApiError::internal("tombstone", e.code()))?;
                Ok((medseal::base64url(m.vault_id()), note))
            })
        })
        .await?;
    let note = match deleted {
        AccountDeletion::Deleted(note) => note,
        AccountDeletion::NoAccount => return Err(ApiError::not_found("no account")),
        AccountDeletion::Refused(e) => return Err(e),
    };
    remove_files(&s, &user_id).await;
    checkpoint(&s).await;
    let mut r = Reply(json!({ "tombstone": note })).into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, session_cookie("", 0, s.https()));
    Ok(r)
}

/// Removes the account's attachment folder. The rows are gone already: a
/// failure here is logged, and the start-up sweep removes files without
/// rows.
async fn remove_files(s: &AppState, user_id: &str) {
    let Ok(folder) = crate::attachments::folder(&s.config.data_dir, user_id) else {
        return;
    };
    match tokio::fs::remove_dir_all(&folder).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => s.log.line(&format!(
            "account deletion: attachment files not removed ({}); the next start removes them",
            e.kind()
        )),
    }
}

/// Checkpoints and empties the write-ahead log. Each try already waits
/// (the busy timeout) for readers holding older snapshots; if they still
/// do after three, the log line says so: the log's old frames keep the
/// deleted rows' pages until the next checkpoint that completes.
async fn checkpoint(s: &AppState) {
    for _ in 0..3 {
        match s.db.write(|c| db::checkpoint_truncate(c)).await {
            Ok(true) => return,
            Ok(false) => tokio::time::sleep(std::time::Duration::from_millis(100)).await,
            Err(e) => {
                s.log
                    .line(&format!("account deletion: checkpoint failed ({e})"));
                return;
            }
        }
    }
    s.log.line(
        "account deletion: checkpoint deferred (readers busy): the write-ahead log keeps old pages until the next one",
    );
}

/// `GET /api/tombstones/{vaultId}` (public): `{tombstone}`, the signed note
/// of a deleted vault; 404 if there is none.
pub(super) async fn tombstone(
    State(s): State<Shared>,
    Path(vault_id): Path<String>,
) -> ApiResult<Reply<Value>> {
    if vault_id.len() != 22
        || !vault_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::not_found("no tombstone for this vault"));
    }
    let note =
        s.db.read(move |c| db::tombstone(c, &vault_id))
            .await?
            .ok_or_else(|| ApiError::not_found("no tombstone for this vault"))?;
    Ok(Reply(json!({ "tombstone": note })))
}
