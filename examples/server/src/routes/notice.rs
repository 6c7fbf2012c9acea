//! The operator's security notice (FORMAT.md §18), relayed as it is.
//!
//! The server does not sign notices and cannot: the operator signs them
//! offline (`medseal-notice sign`) with a key the app pins. The server only
//! hands the file on, so a server that forges or edits one gets nothing
//! shown (the app refuses it: `NoticeInvalid`).

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiResult};
use crate::state::Shared;

/// The largest notice file served (a notice's text is at most ~2.3 KB).
const MAX_NOTICE_FILE: u64 = 16 << 10;

/// `GET /api/notice`: `{notice: "<signed note>"}`, or `{notice: null}`.
pub(super) async fn get(State(s): State<Shared>, _user: AuthUser) -> ApiResult<Json<Value>> {
    let Some(path) = s.config.notice_file.clone() else {
        return Ok(Json(json!({ "notice": null })));
    };
    let meta = match tokio::fs::metadata(&path).await {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Json(json!({ "notice": null })))
        }
        Err(e) => return Err(ApiError::internal("notice file", e)),
    };
    if meta.len() > MAX_NOTICE_FILE {
        return Err(ApiError::internal("notice file", "larger than 16 KiB"));
    }
    let text = tokio::fs::read_to_string(&path)
        .await
        .map_err(|e| ApiError::internal("notice file", e))?;
    Ok(Json(json!({ "notice": text })))
}
