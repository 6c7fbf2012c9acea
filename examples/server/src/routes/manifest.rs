//! The signed vault manifest of the signed-in user.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json as Reply;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::AuthUser;
use crate::config::MAX_MANIFEST_LEN;
use crate::db;
use crate::error::{stored_json, ApiError, ApiResult, Json};
use crate::state::{AppState, Shared};

/// A manifest as checked for storing: its revision and its JSON text.
pub(crate) struct CheckedManifest {
    pub(crate) revision: i64,
    pub(crate) text: String,
}

/// The manifest as the server sees it: public, signed JSON. A write must be a
/// well-formed v1 manifest signed by the identity key it names and, after
/// sign-up, by the same identity key and vault id as the stored one: only a
/// client holding the vault can produce that.
///
/// Every stored manifest of a user was checked against the one stored before
/// it, so all share the sign-up manifest's vault id and identity key; a
/// concurrent write between this check and the compare-and-swap cannot
/// change either.
pub(crate) fn checked_manifest(m: &Value, stored: Option<&str>) -> ApiResult<CheckedManifest> {
    let text = m.to_string();
    if text.len() > MAX_MANIFEST_LEN {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "manifest too large",
        ));
    }
    let parsed = medseal::Manifest::from_json(&text)
        .map_err(|e| ApiError::bad(format!("not a valid vault manifest ({})", e.code())))?;
    parsed
        .verify_self_signature()
        .map_err(|_| ApiError::bad("manifest signature does not verify"))?;
    if let Some(old) = stored {
        let old = medseal::Manifest::from_json(old)
            .map_err(|e| ApiError::internal("stored manifest does not parse", e.code()))?;
        if old.vault_id != parsed.vault_id || old.identity_key != parsed.identity_key {
            return Err(ApiError::bad("manifest belongs to another vault"));
        }
    }
    let revision = i64::try_from(parsed.revision)
        .map_err(|_| ApiError::bad("manifest revision out of range"))?;
    Ok(CheckedManifest { revision, text })
}

/// The stored manifest's revision and JSON text.
pub(crate) async fn stored_manifest(s: &AppState, user_id: &str) -> ApiResult<(i64, String)> {
    let u = user_id.to_string();
    s.db.read(move |c| db::manifest(c, &u))
        .await?
        .ok_or_else(|| ApiError::not_found("no manifest"))
}

/// The stored manifest as JSON.
pub(crate) fn manifest_value(text: &str) -> ApiResult<Value> {
    serde_json::from_str(text).map_err(|e| stored_json("stored manifest", &e))
}

pub(crate) fn stale() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "stale_manifest",
        "the manifest changed since you read it; reload it and retry",
    )
}

/// `GET /api/manifest`: `{revision, manifest}`.
pub(super) async fn get_manifest(
    State(s): State<Shared>,
    user: AuthUser,
) -> ApiResult<Reply<Value>> {
    let (revision, text) = stored_manifest(&s, &user.user_id).await?;
    Ok(Reply(
        json!({ "revision": revision, "manifest": manifest_value(&text)? }),
    ))
}

#[derive(Deserialize)]
pub(super) struct ManifestWrite {
    replaces: i64,
    manifest: Value,
}

/// `PUT /api/manifest` `{replaces, manifest}`: stored only if the stored
/// revision is still `replaces` (409 otherwise) and the new one is newer.
pub(super) async fn put_manifest(
    State(s): State<Shared>,
    user: AuthUser,
    Json(b): Json<ManifestWrite>,
) -> ApiResult<Reply<Value>> {
    let (_, stored) = stored_manifest(&s, &user.user_id).await?;
    let m = checked_manifest(&b.manifest, Some(&stored))?;
    let replaced = s
        .db
        .write(move |c| db::replace_manifest(c, &user.user_id, b.replaces, m.revision, &m.text))
        .await?;
    if !replaced {
        return Err(stale());
    }
    Ok(Reply(json!({ "ok": true })))
}
