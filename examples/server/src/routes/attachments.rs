//! Attachments of the signed-in user: large files sealed in the browser as
//! medseal streams (FORMAT.md §17), kept as files on disk
//! (`crate::attachments`), uploaded and downloaded as streams (never held
//! whole in memory), downloaded by byte ranges.
//!
//! What the server can check of a file it cannot open: the first 134 bytes
//! are a stream header of a version it knows (`medseal::stream::read_header`)
//! and the length is one a writer produces (`plaintext_size`: a file cut at
//! a chunk boundary is `stream_truncated`, one cut inside a tag
//! `stream_malformed`). The chunks, the wrapped key and which record the
//! file is bound to only the vault can check, and does (a reader opens the
//! last chunk before it trusts the length: FORMAT.md §17.4).

use std::io::{self, SeekFrom};
use std::path::PathBuf;

use axum::body::Body;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json as Reply;
use futures_util::StreamExt;
use medseal::stream::{plaintext_size, read_header, HEADER_LEN, REWRAP_LEN};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufWriter};
use tokio_util::io::ReaderStream;

use super::records::check_record_id;
use crate::attachments::{self, HeadError, TempFile};
use crate::auth::AuthUser;
use crate::config::{Limits, MAX_ATTACHMENTS};
use crate::db::{self, AttachmentPut, AttachmentRow};
use crate::error::{ApiError, ApiResult, Path};
use crate::random::random_token;
use crate::state::Shared;

/// Bytes buffered between the upload's frames and its file.
const WRITE_BUFFER: usize = 256 << 10;
/// Bytes read from the file per frame of a download.
const READ_BUFFER: usize = 64 << 10;

/// The attachment id of the request's path: the record-id rules (1 to 128
/// of `A-Z a-z 0-9 - _ .`, not `.` or `..`), which also make it a plain
/// file name.
pub(super) struct AttachmentId(String);

impl<S: Send + Sync> FromRequestParts<S> for AttachmentId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(id) = Path::<String>::from_request_parts(parts, state).await?;
        check_record_id(&id)?;
        Ok(AttachmentId(id))
    }
}

fn row_json(r: &AttachmentRow) -> Value {
    json!({ "id": r.id, "size": r.size, "created": r.created, "updated": r.updated })
}

/// A file-system failure: 507 `storage_full` when the disk is full, else 500.
fn io_error(what: &'static str) -> impl Fn(io::Error) -> ApiError {
    move |e| {
        if e.kind() == io::ErrorKind::StorageFull || e.kind() == io::ErrorKind::QuotaExceeded {
            ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "storage_full",
                "the server has no room for this file",
            )
        } else {
            ApiError::internal(what, e)
        }
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("no such attachment")
}

fn too_large(l: &Limits) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("a file may be {} bytes at most", l.max_attachment),
    )
}

fn quota_exceeded(l: &Limits) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "quota_exceeded",
        format!(
            "this account's files may take {} bytes in all",
            l.attachment_quota
        ),
    )
}

fn too_many() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_many_attachments",
        format!("an account holds {MAX_ATTACHMENTS} files at most"),
    )
}

/// A stream header or length the core refused.
fn stream_error(e: &medseal::Error) -> ApiError {
    match e {
        medseal::Error::Truncated => ApiError::new(
            StatusCode::BAD_REQUEST,
            "stream_truncated",
            "the file ends before its last chunk: the upload was cut short",
        ),
        medseal::Error::UnknownVersion { .. } => ApiError::new(
            StatusCode::BAD_REQUEST,
            "stream_unknown_version",
            "the file is a medseal stream of a version or suite this server does not know",
        ),
        _ => ApiError::new(
            StatusCode::BAD_REQUEST,
            "stream_malformed",
            "the file is not a medseal stream (its header or its length is not one a writer makes)",
        ),
    }
}

/// The verdict on a whole upload: its first bytes (up to [`HEADER_LEN`])
/// and its length.
fn check_upload(head: &[u8], size: u64) -> ApiResult<()> {
    if head.len() < HEADER_LEN {
        // Shorter than a header: cut short if what came is a stream's start.
        return Err(match read_header(head) {
            Err(e @ medseal::Error::UnknownVersion { .. }) => stream_error(&e),
            _ if head.starts_with(&medseal::stream::MAGIC) => {
                stream_error(&medseal::Error::Truncated)
            }
            _ => stream_error(&medseal::Error::Malformed("not a stream")),
        });
    }
    read_header(head).map_err(|e| stream_error(&e))?;
    plaintext_size(size).map_err(|e| stream_error(&e))?;
    Ok(())
}

/// The body's declared length, if it has one (hyper refuses a malformed one).
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

fn stalled() -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "timeout",
        "the upload stalled: no data came for too long",
    )
}

fn interrupted() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "bad_body",
        "the upload was interrupted",
    )
}

/// `PUT /api/attachments/{id}`: the body is the sealed stream, any content
/// type. It is written frame by frame to a temporary file beside the
/// account's files, refused as soon as it passes the size limit or the
/// quota (or its first 134 bytes are no stream header), checked whole,
/// synced and renamed into place with its row in one transaction. 201 with
/// `{id, size, created, updated}` for a new id, 200 for a replaced one.
pub(super) async fn put(
    State(s): State<Shared>,
    user: AuthUser,
    AttachmentId(id): AttachmentId,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let limits = &s.config.limits;
    let (uid, aid) = (user.user_id.clone(), id.clone());
    let room =
        s.db.read(move |c| db::attachment_room(c, &uid, &aid))
            .await?;
    if room.current.is_none() && room.others_count >= MAX_ATTACHMENTS {
        return Err(too_many());
    }
    let allowed = limits
        .max_attachment
        .min(limits.attachment_quota.saturating_sub(room.others_bytes));
    let over = |size: u64| {
        if size > limits.max_attachment {
            too_large(limits)
        } else {
            quota_exceeded(limits)
        }
    };
    // A declared length is checked before a byte of the body is read (one
    // shorter than a header is left to the body: a stream's start cut
    // short is `stream_truncated`, anything else `stream_malformed`).
    if let Some(n) = content_length(&headers) {
        if n > allowed {
            return Err(over(n));
        }
        if n >= HEADER_LEN as u64 {
            plaintext_size(n).map_err(|e| stream_error(&e))?;
        }
    }

    let dir = attachments::folder(&s.config.data_dir, &user.user_id)
        .map_err(io_error("attachment folder"))?;
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(io_error("attachment folder"))?;
    let token = random_token(s.entropy.as_ref())?;
    let part = TempFile::new(dir.join(attachments::temp_name(&id, &token, "part")));
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(part.path())
        .await
        .map_err(io_error("attachment upload"))?;
    let mut out = BufWriter::with_capacity(WRITE_BUFFER, file);
    let mut frames = body.into_data_stream();
    let mut size: u64 = 0;
    let mut head: Vec<u8> = Vec::with_capacity(HEADER_LEN);
    loop {
        let frame = tokio::time::timeout(limits.upload_idle_timeout, frames.next())
            .await
            .map_err(|_| stalled())?;
        let Some(frame) = frame else { break };
        let data = frame.map_err(|_| interrupted())?;
        size = size.saturating_add(data.len() as u64);
        if size > allowed {
            return Err(over(size));
        }
        if head.len() < HEADER_LEN {
            let take = (HEADER_LEN - head.len()).min(data.len());
            head.extend_from_slice(data.get(..take).unwrap_or_default());
            if head.len() == HEADER_LEN {
                // Not a stream: refused now, not after gigabytes.
                read_header(&head).map_err(|e| stream_error(&e))?;
            }
        }
        out.write_all(&data)
            .await
            .map_err(io_error("attachment upload"))?;
    }
    check_upload(&head, size)?;
    out.flush().await.map_err(io_error("attachment upload"))?;
    let file = out.into_inner();
    file.sync_all()
        .await
        .map_err(io_error("attachment upload"))?;
    drop(file);

    let (uid, aid) = (user.user_id.clone(), id.clone());
    let (from, to) = (part.path().to_path_buf(), dir.join(&id));
    let quota = (limits.attachment_quota, MAX_ATTACHMENTS);
    let stored =
        s.db.write(move |c| {
            db::put_attachment(c, &uid, &aid, size, quota, || {
                attachments::place(&from, &to, &dir)
            })
        })
        .await?;
    match stored.map_err(io_error("attachment upload"))? {
        AttachmentPut::OverQuota => Err(quota_exceeded(limits)),
        AttachmentPut::TooMany => Err(too_many()),
        AttachmentPut::Stored { row, replaced } => {
            part.keep();
            let status = if replaced {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            Ok((status, Reply(row_json(&row))).into_response())
        }
    }
}

/// What a `Range` header asks of a file of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeAsk {
    /// No range, or one this server ignores (malformed, several ranges, a
    /// unit other than bytes): the whole file, 200.
    Whole,
    /// Bytes `start..=end`, both within the file: 206.
    Part { start: u64, end: u64 },
    /// A well-formed range of no byte of the file: 416.
    Unsatisfiable,
}

fn digits(t: &str) -> Option<u64> {
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Only digits: a parse error is an overflow, past any file's end.
    Some(t.parse().unwrap_or(u64::MAX))
}

/// RFC 9110 §14.1.2 and §14.2 for one range: `bytes=a-b`, `bytes=a-`,
/// `bytes=-n`. Several ranges, another unit, or anything malformed is
/// ignored (the RFC allows a server to ignore `Range`): the whole file.
fn range_ask(value: Option<&str>, size: u64) -> RangeAsk {
    let Some(value) = value else {
        return RangeAsk::Whole;
    };
    let Some((unit, set)) = value.trim().split_once('=') else {
        return RangeAsk::Whole;
    };
    if !unit.eq_ignore_ascii_case("bytes") || set.contains(',') {
        return RangeAsk::Whole;
    }
    let Some((first, last)) = set.trim().split_once('-') else {
        return RangeAsk::Whole;
    };
    if first.is_empty() {
        // A suffix: the last n bytes (all of them when n is larger).
        return match digits(last) {
            None => RangeAsk::Whole,
            Some(0) => RangeAsk::Unsatisfiable,
            Some(_) if size == 0 => RangeAsk::Unsatisfiable,
            Some(n) => RangeAsk::Part {
                start: size.saturating_sub(n),
                end: size - 1,
            },
        };
    }
    let Some(start) = digits(first) else {
        return RangeAsk::Whole;
    };
    let end = if last.is_empty() {
        u64::MAX
    } else {
        match digits(last) {
            Some(end) if end >= start => end,
            // Malformed, or last before first: invalid, so ignored.
            _ => return RangeAsk::Whole,
        }
    };
    if start >= size {
        return RangeAsk::Unsatisfiable;
    }
    RangeAsk::Part {
        start,
        end: end.min(size - 1),
    }
}

/// The range to answer: none for `HEAD` (RFC 9110 defines ranges for GET
/// only), none when there are several `Range` headers or an `If-Range`
/// that is not the file's current ETag (a client resuming another version
/// gets the whole new one).
fn wanted_range(method: &Method, headers: &HeaderMap, etag: &str, size: u64) -> RangeAsk {
    if method != Method::GET {
        return RangeAsk::Whole;
    }
    let mut ranges = headers.get_all(header::RANGE).iter();
    let (Some(range), None) = (ranges.next(), ranges.next()) else {
        return RangeAsk::Whole;
    };
    if let Some(if_range) = headers.get(header::IF_RANGE) {
        // Strong comparison: a weak tag or a date never matches ours.
        if if_range.as_bytes() != etag.as_bytes() {
            return RangeAsk::Whole;
        }
    }
    range_ask(range.to_str().ok(), size)
}

fn header_value(v: String) -> ApiResult<HeaderValue> {
    HeaderValue::try_from(v).map_err(|e| ApiError::internal("attachment header", e))
}

/// `GET` and `HEAD /api/attachments/{id}`: the sealed file, streamed from
/// disk, `Content-Type: application/octet-stream`, `Accept-Ranges: bytes`,
/// `Content-Length`, `ETag`. One `Range` (`bytes=a-b`, `bytes=a-`,
/// `bytes=-n`) gives 206 with `Content-Range: bytes a-b/size`; one of no
/// byte of the file 416 with `Content-Range: bytes */size`; several, or a
/// malformed one, is ignored (200, the whole file); `If-Range` with the
/// current ETag keeps the range, anything else drops it.
pub(super) async fn get(
    State(s): State<Shared>,
    user: AuthUser,
    AttachmentId(id): AttachmentId,
    method: Method,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (uid, aid) = (user.user_id.clone(), id.clone());
    if s.db
        .read(move |c| db::attachment(c, &uid, &aid))
        .await?
        .is_none()
    {
        return Err(not_found());
    }
    let path = attachments::folder(&s.config.data_dir, &user.user_id)
        .map_err(io_error("attachment folder"))?
        .join(&id);
    // From here on, the file opened is the one answered: a write that
    // replaces it meanwhile renames another file onto the name.
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(not_found()),
        Err(e) => return Err(io_error("attachment read")(e)),
    };
    let size = file
        .metadata()
        .await
        .map_err(io_error("attachment read"))?
        .len();
    let mut head = Vec::with_capacity(HEADER_LEN);
    (&mut file)
        .take(HEADER_LEN as u64)
        .read_to_end(&mut head)
        .await
        .map_err(io_error("attachment read"))?;
    let etag = attachments::etag(&head, size);

    let (status, start, len) = match wanted_range(&method, &headers, &etag, size) {
        RangeAsk::Whole => (StatusCode::OK, 0, size),
        RangeAsk::Part { start, end } => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        RangeAsk::Unsatisfiable => {
            let mut r = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                "the range asked for holds no byte of the file",
            )
            .into_response();
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_RANGE,
                header_value(format!("bytes */{size}"))?,
            );
            h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            return Ok(r);
        }
    };
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        file.seek(SeekFrom::Start(start))
            .await
            .map_err(io_error("attachment read"))?;
        Body::from_stream(ReaderStream::with_capacity(file.take(len), READ_BUFFER))
    };
    let mut r = Response::new(body);
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::ETAG, header_value(etag)?);
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(
            header::CONTENT_RANGE,
            header_value(format!("bytes {start}-{}/{size}", start + len - 1))?,
        );
    }
    Ok(r)
}

/// `GET /api/attachments`: `{attachments: [{id, size, created, updated}],
/// used, quota, maxSize}`, oldest first; `used` is their bytes, `quota`
/// and `maxSize` the limits an upload is held to.
pub(super) async fn list(State(s): State<Shared>, user: AuthUser) -> ApiResult<Reply<Value>> {
    let rows =
        s.db.read(move |c| db::attachments(c, &user.user_id, MAX_ATTACHMENTS))
            .await?;
    let used: u64 = rows.iter().map(|r| r.size).sum();
    let limits = &s.config.limits;
    Ok(Reply(json!({
        "attachments": rows.iter().map(row_json).collect::<Vec<_>>(),
        "used": used,
        "quota": limits.attachment_quota,
        "maxSize": limits.max_attachment,
    })))
}

/// `DELETE /api/attachments/{id}`: the row and the file, in one
/// transaction. `{ok: true}`, or 404.
pub(super) async fn delete(
    State(s): State<Shared>,
    user: AuthUser,
    AttachmentId(id): AttachmentId,
) -> ApiResult<Reply<Value>> {
    let path = attachments::folder(&s.config.data_dir, &user.user_id)
        .map_err(io_error("attachment folder"))?
        .join(&id);
    let deleted = s
        .db
        .write(move |c| db::delete_attachment(c, &user.user_id, &id, || attachments::remove(&path)))
        .await?
        .map_err(io_error("attachment delete"))?;
    if !deleted {
        return Err(not_found());
    }
    Ok(Reply(json!({ "ok": true })))
}

/// Reads a body of at most `max` bytes (one more is enough to refuse it).
async fn small_body(body: Body, max: usize, idle: std::time::Duration) -> ApiResult<Vec<u8>> {
    let mut frames = body.into_data_stream();
    let mut out = Vec::with_capacity(max + 1);
    loop {
        let frame = tokio::time::timeout(idle, frames.next())
            .await
            .map_err(|_| stalled())?;
        let Some(frame) = frame else {
            return Ok(out);
        };
        let data = frame.map_err(|_| interrupted())?;
        let take = (max + 1 - out.len()).min(data.len());
        out.extend_from_slice(data.get(..take).unwrap_or_default());
        if out.len() > max {
            return Ok(out);
        }
    }
}

fn head_error(e: HeadError) -> ApiError {
    match e {
        HeadError::Missing => not_found(),
        HeadError::Mismatch(why) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "head_mismatch",
            format!("the new head does not fit the stored file: {why}"),
        ),
        HeadError::Changed => ApiError::new(
            StatusCode::CONFLICT,
            "attachment_changed",
            "the file was replaced meanwhile: read its head again",
        ),
        HeadError::Io(e) => io_error("attachment head")(e),
    }
}

/// `PUT /api/attachments/{id}/head`: the body is exactly the 78 bytes a
/// re-wrap gives (`Vault::rewrap_stream`, FORMAT.md §17.5: the stream's
/// new first bytes after a re-key; the chunks stay as they are). Checked
/// against the stored header (`attachments::rewrapped_copy` says what can
/// and cannot be), then the file is copied with its new head, synced and
/// renamed over the old one (a crash or a reader mid-download sees one
/// version, whole; the copy costs a file's worth of disk for a moment).
/// `{id, size, created, updated}`; 400 `bad_head` for a body of another
/// length, 400 `head_mismatch`, 404, 409 `attachment_changed` if an
/// upload replaced the file meanwhile.
pub(super) async fn put_head(
    State(s): State<Shared>,
    user: AuthUser,
    AttachmentId(id): AttachmentId,
    body: Body,
) -> ApiResult<Reply<Value>> {
    let new = small_body(body, REWRAP_LEN, s.config.limits.upload_idle_timeout).await?;
    if new.len() != REWRAP_LEN {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_head",
            format!("the body must be the {REWRAP_LEN} bytes of a re-wrapped stream head"),
        ));
    }
    let (uid, aid) = (user.user_id.clone(), id.clone());
    let Some(row) = s.db.read(move |c| db::attachment(c, &uid, &aid)).await? else {
        return Err(not_found());
    };
    let dir = attachments::folder(&s.config.data_dir, &user.user_id)
        .map_err(io_error("attachment folder"))?;
    let path = dir.join(&id);
    let token = random_token(s.entropy.as_ref())?;
    let temp: PathBuf = dir.join(attachments::temp_name(&id, &token, "head"));
    let from = path.clone();
    // The copy runs on the blocking pool; if this request is dropped
    // meanwhile, the copy (owned by the task's result) is removed when the
    // task ends.
    let copy = tokio::task::spawn_blocking(move || attachments::rewrapped_copy(&from, temp, &new))
        .await
        .map_err(|e| ApiError::internal("attachment head", e))?
        .map_err(head_error)?;
    let Some(copy) = copy else {
        // The file already starts with these bytes (a retried request).
        return Ok(Reply(row_json(&row)));
    };
    let (uid, aid) = (user.user_id.clone(), id.clone());
    let copy_path = copy.temp.path().to_path_buf();
    let source = copy.source.clone();
    let placed =
        s.db.write(move |c| {
            db::touch_attachment(c, &uid, &aid, || {
                attachments::place_rewrapped(&copy_path, &source, &path, &dir)
            })
        })
        .await?
        .map_err(head_error)?;
    let Some(row) = placed else {
        return Err(not_found());
    };
    copy.temp.keep();
    Ok(Reply(row_json(&row)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeAsk::*;
        let ask = |v: &str| range_ask(Some(v), 1000);
        assert_eq!(range_ask(None, 1000), Whole);
        assert_eq!(ask("bytes=0-99"), Part { start: 0, end: 99 });
        assert_eq!(
            ask("bytes=990-2000"),
            Part {
                start: 990,
                end: 999
            }
        );
        assert_eq!(
            ask("bytes=10-"),
            Part {
                start: 10,
                end: 999
            }
        );
        assert_eq!(
            ask("bytes=-100"),
            Part {
                start: 900,
                end: 999
            }
        );
        assert_eq!(ask("bytes=-5000"), Part { start: 0, end: 999 });
        assert_eq!(ask("Bytes=0-0"), Part { start: 0, end: 0 });
        assert_eq!(ask(" bytes=5-9 "), Part { start: 5, end: 9 });
        assert_eq!(
            ask("bytes=0-99999999999999999999999"),
            Part { start: 0, end: 999 }
        );
        assert_eq!(ask("bytes=1000-"), Unsatisfiable);
        assert_eq!(ask("bytes=1000-1001"), Unsatisfiable);
        assert_eq!(ask("bytes=99999999999999999999999-"), Unsatisfiable);
        assert_eq!(ask("bytes=-0"), Unsatisfiable);
        assert_eq!(range_ask(Some("bytes=0-"), 0), Unsatisfiable);
        for ignored in [
            "bytes=0-1,5-6",
            "bytes=5-1",
            "bytes=-",
            "bytes=a-b",
            "bytes=1",
            "bytes=+1-2",
            "bytes=1 -2",
            "items=0-1",
            "bytes",
            "",
        ] {
            assert_eq!(ask(ignored), Whole, "{ignored}");
        }
    }

    #[test]
    fn short_uploads() {
        let code = |head: &[u8], size| check_upload(head, size).unwrap_err();
        assert_eq!(code(b"", 0).status(), StatusCode::BAD_REQUEST);
        let e = format!("{:?}", code(b"msst\x01\x01", 6));
        assert!(e.contains("stream_truncated"), "{e}");
        let e = format!("{:?}", code(b"msst\x02\x01", 6));
        assert!(e.contains("stream_unknown_version"), "{e}");
        let e = format!("{:?}", code(b"PK\x03\x04", 4));
        assert!(e.contains("stream_malformed"), "{e}");
    }
}
