//! Sealed records of the signed-in user: list (paged), read, write, delete.

use axum::Json as Reply;
use base64ct::{Base64UrlUnpadded, Encoding};
use serde::Deserialize;
use serde_json::{json, Value};

use super::is_simple_id;
use crate::auth::AuthUser;
use crate::config::MAX_RECORD_LEN;
use crate::db::{self, RecordCursor, RecordRow};
use crate::error::{ApiError, ApiResult, Json, Path, Query};
use crate::state::Shared;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;

/// Records a page holds when the client names no `limit`.
pub const DEFAULT_PAGE: u32 = 200;
/// The largest `limit` accepted.
pub const MAX_PAGE: u32 = 1000;

/// Record ids: 1 to 128 letters, digits, `-`, `_`, `.`; not `.` or `..`,
/// which a browser's URL parser removes from a path, so such a record could
/// never be read or deleted again.
pub(super) fn check_record_id(id: &str) -> ApiResult<()> {
    if !is_simple_id(id, 128, "-_.") || id == "." || id == ".." {
        return Err(ApiError::bad(
            "record id: 1 to 128 letters, digits, - _ . (not \".\" or \"..\")",
        ));
    }
    Ok(())
}

/// The record id of the request's path, checked by [`check_record_id`].
pub(super) struct RecordId(String);

impl<S: Send + Sync> FromRequestParts<S> for RecordId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state).await?;
        check_record_id(&id)?;
        Ok(RecordId(id))
    }
}

fn row_json(r: &RecordRow) -> Value {
    json!({ "id": r.id, "sealed": r.sealed, "created": r.created, "updated": r.updated })
}

/// The cursor after a row: base64url of `created` (8 bytes, big-endian) and
/// the id. Opaque to clients; it names a position, so a record written while
/// a client pages shows up on a later page or not at all, never twice.
fn encode_cursor(r: &RecordRow) -> String {
    let mut b = r.created.to_be_bytes().to_vec();
    b.extend_from_slice(r.id.as_bytes());
    Base64UrlUnpadded::encode_string(&b)
}

fn decode_cursor(text: &str) -> ApiResult<RecordCursor> {
    let bad = || ApiError::bad("after: not a cursor this server gave out");
    let b = Base64UrlUnpadded::decode_vec(text).map_err(|_| bad())?;
    let (created, id) = b.split_first_chunk::<8>().ok_or_else(bad)?;
    let id = std::str::from_utf8(id).map_err(|_| bad())?;
    check_record_id(id).map_err(|_| bad())?;
    Ok(RecordCursor {
        created: i64::from_be_bytes(*created),
        id: id.to_string(),
    })
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    limit: Option<u32>,
    after: Option<String>,
}

/// `GET /api/records?limit=N&after=CURSOR`: `{records: [...], next}`, where
/// `next` is the cursor of the following page or null on the last.
pub(super) async fn list(
    State(s): State<Shared>,
    user: AuthUser,
    Query(q): Query<ListQuery>,
) -> ApiResult<Reply<Value>> {
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad(format!("limit: 1 to {MAX_PAGE}")));
    }
    let after = q.after.as_deref().map(decode_cursor).transpose()?;
    // One row more than asked says whether there is a next page without another query.
    let mut rows =
        s.db.read(move |c| db::records_page(c, &user.user_id, after.as_ref(), limit + 1))
            .await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next = if more {
        rows.last().map(encode_cursor)
    } else {
        None
    };
    Ok(Reply(json!({
        "records": rows.iter().map(row_json).collect::<Vec<_>>(),
        "next": next,
    })))
}

/// `GET /api/records/{id}`.
pub(super) async fn get(
    State(s): State<Shared>,
    user: AuthUser,
    RecordId(id): RecordId,
) -> ApiResult<Reply<Value>> {
    let r =
        s.db.read(move |c| db::record(c, &user.user_id, &id))
            .await?
            .ok_or_else(|| ApiError::not_found("no such record"))?;
    Ok(Reply(row_json(&r)))
}

#[derive(Deserialize)]
pub(super) struct RecordWrite {
    sealed: String,
}

/// `PUT /api/records/{id}` `{sealed}`: only a medseal sealed record in text
/// form is stored, checked by the core's parser (form, header, version,
/// length, padded size). Whether it opens, and under which id, only the
/// vault can tell.
pub(super) async fn put(
    State(s): State<Shared>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(b): Json<RecordWrite>,
) -> ApiResult<Reply<Value>> {
    check_record_id(&id)?;
    if b.sealed.len() > MAX_RECORD_LEN {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "sealed record too large",
        ));
    }
    medseal::check_sealed_text(&b.sealed).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "not_sealed",
            format!(
                "sealed must be a medseal sealed record in text form (\"ms2.\" or \"ms1.\"): {}",
                e.code()
            ),
        )
    })?;
    s.db.write(move |c| db::put_record(c, &user.user_id, &id, &b.sealed))
        .await?;
    Ok(Reply(json!({ "ok": true })))
}

/// `DELETE /api/records/{id}`.
pub(super) async fn delete(
    State(s): State<Shared>,
    user: AuthUser,
    RecordId(id): RecordId,
) -> ApiResult<Reply<Value>> {
    if s.db
        .write(move |c| db::delete_record(c, &user.user_id, &id))
        .await?
        == 0
    {
        return Err(ApiError::not_found("no such record"));
    }
    Ok(Reply(json!({ "ok": true })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_refuses_junk() {
        let r = RecordRow {
            id: "rec-1.a_b".into(),
            sealed: String::new(),
            created: 1_700_000_000,
            updated: 0,
        };
        let c = decode_cursor(&encode_cursor(&r)).unwrap();
        assert_eq!((c.created, c.id.as_str()), (r.created, "rec-1.a_b"));
        for junk in [
            "",
            "!!",
            "AAAA",
            &Base64UrlUnpadded::encode_string(b"12345678.."),
        ] {
            assert!(decode_cursor(junk).is_err(), "{junk}");
        }
    }
}
