//! Every answer that is not a success is JSON `{ "error": code, "message": text }`:
//! the handlers' own errors ([`ApiError`]), the extractors' rejections
//! ([`Json`], [`Query`], [`Path`] wrap axum's and reword them without echoing
//! the request), and whatever the router and the layers answer by themselves
//! (404, 405, 408, ...), which [`json_errors`] rewrites on the way out.

use std::borrow::Cow;

use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;

/// An error answer. Its message is written for the person at the client and
/// never contains what the client sent.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: Cow<'static, str>,
    /// For 500s: what went wrong, for the log only (never a body, a token or a cookie).
    log: Option<String>,
    /// For 429s and 503s: the `Retry-After` header, in seconds.
    retry_after: Option<u64>,
}

/// A handler's result.
pub type ApiResult<T> = Result<T, ApiError>;

/// What an internal error was, carried on the response for the request log
/// (`routes::log_requests`) and removed there: the client sees only "internal error".
#[derive(Debug, Clone)]
pub struct InternalNote(pub String);

impl ApiError {
    /// An error with its status, code and message.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            log: None,
            retry_after: None,
        }
    }

    /// The same error, answered with `Retry-After: seconds`.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// 400: the request is wrong.
    pub fn bad(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401: no live session, or a proof that did not verify.
    pub fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "sign in first")
    }

    /// 404.
    pub fn not_found(message: &'static str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 500: the client gets "internal error"; `what` and `detail` go to the
    /// log. `detail` must not carry a secret: callers pass database and
    /// random-source errors, whose messages hold none.
    pub fn internal(what: &'static str, detail: impl std::fmt::Display) -> Self {
        ApiError {
            log: Some(format!("{what}: {detail}")),
            ..Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            )
        }
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            axum::Json(json!({ "error": self.code, "message": self.message })),
        )
            .into_response();
        if let Some(note) = self.log {
            r.extensions_mut().insert(InternalNote(note));
        }
        if let Some(seconds) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        r
    }
}

impl From<crate::db::DbError> for ApiError {
    fn from(e: crate::db::DbError) -> Self {
        ApiError::internal("database", e)
    }
}

/// A stored JSON document that does not parse: logs where, not what (it is
/// the server's own data, but a message would quote it).
pub fn stored_json(what: &'static str, e: &serde_json::Error) -> ApiError {
    ApiError::internal(
        what,
        format_args!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ),
    )
}

fn body_rejection(e: &BytesRejection) -> ApiError {
    match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "request body too large",
        ),
        status => ApiError::new(status, "bad_body", "could not read the request body"),
    }
}

/// `axum::Json` with JSON rejections that do not quote the body.
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as content-type: application/json",
            )),
            Err(JsonRejection::JsonSyntaxError(_)) => Err(ApiError::bad("the body is not valid JSON")),
            Err(JsonRejection::JsonDataError(_)) => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_body",
                "the body is JSON but not what this route takes (a field is missing or of the wrong type)",
            )),
            Err(JsonRejection::BytesRejection(e)) => Err(body_rejection(&e)),
            Err(e) => Err(ApiError::new(e.status(), "bad_body", "could not read the request body")),
        }
    }
}

/// Defines `$name<T>`: axum's extractor of the same name, with its rejection
/// answered as JSON (`$code`, `$message`) under the rejection's status.
macro_rules! parts_extractor {
    ($(#[$doc:meta])* $name:ident, $code:literal, $message:literal) => {
        $(#[$doc])*
        pub struct $name<T>(pub T);

        impl<T, S> FromRequestParts<S> for $name<T>
        where
            T: DeserializeOwned + Send,
            S: Send + Sync,
        {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
                axum::extract::$name::<T>::from_request_parts(parts, state)
                    .await
                    .map(|v| $name(v.0))
                    .map_err(|e| ApiError::new(e.status(), $code, $message))
            }
        }
    };
}

parts_extractor!(
    /// `axum::extract::Query` with a JSON rejection.
    Query,
    "bad_query",
    "the query string is not what this route takes"
);

parts_extractor!(
    /// `axum::extract::Path` with a JSON rejection.
    Path,
    "bad_path",
    "the path is not valid"
);

/// The error code of a status that a layer or the router answered by itself.
fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid_body",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "error",
    }
}

/// Rewrites every error answer that is not JSON yet (the router's 404 and
/// 405, the timeout layer's 408, the static files' 404) into `{error, message}`.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return res;
    }
    let (mut parts, _) = res.into_parts();
    let body = json!({
        "error": code_of(status),
        "message": status.canonical_reason().unwrap_or("error"),
    })
    .to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_ENCODING);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, axum::body::Body::from(body))
}
