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
        // The core's rule for a successor: same vault id and identity key,
        // signed, and newer. Not newer is the compare-and-swap's 409.
        parsed
            .check_update(&parsed_stored(old)?)
            .map_err(|e| match e {
                medseal::Error::StaleManifest { .. } => stale(),
                _ => ApiError::bad("manifest belongs to another vault"),
            })?;
    }
    let revision = i64::try_from(parsed.revision())
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

/// The stored manifest's revision, and the manifest as JSON.
pub(crate) async fn stored_manifest_json(s: &AppState, user_id: &str) -> ApiResult<(i64, Value)> {
    let (revision, text) = stored_manifest(s, user_id).await?;
    let manifest = serde_json::from_str(&text).map_err(|e| stored_json("stored manifest", &e))?;
    Ok((revision, manifest))
}

/// A stored manifest's text, parsed by the core.
pub(crate) fn parsed_stored(text: &str) -> ApiResult<medseal::Manifest> {
    medseal::Manifest::from_json(text)
        .map_err(|e| ApiError::internal("stored manifest does not parse", e.code()))
}

/// `m` checked as the successor of the user's stored manifest.
pub(crate) async fn checked_successor(
    s: &AppState,
    user_id: &str,
    m: &Value,
) -> ApiResult<CheckedManifest> {
    let (_, stored) = stored_manifest(s, user_id).await?;
    checked_manifest(m, Some(&stored))
}

/// The answer to a compare-and-swap of the manifest: `{ok: true}` if it
/// replaced the stored one, 409 if the stored revision was not `replaces`.
pub(crate) fn swapped(replaced: bool) -> ApiResult<Reply<Value>> {
    if !replaced {
        return Err(stale());
    }
    Ok(Reply(json!({ "ok": true })))
}

fn stale() -> ApiError {
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
    let (revision, manifest) = stored_manifest_json(&s, &user.user_id).await?;
    Ok(Reply(json!({ "revision": revision, "manifest": manifest })))
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
    Json(ManifestWrite { replaces, manifest }): Json<ManifestWrite>,
) -> ApiResult<Reply<Value>> {
    let m = checked_successor(&s, &user.user_id, &manifest).await?;
    let replaced =
        s.db.write(move |c| db::replace_manifest(c, &user.user_id, replaces, m.revision, &m.text))
            .await?;
    swapped(replaced)
}
