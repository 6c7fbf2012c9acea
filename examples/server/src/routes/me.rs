//! Who is signed in.

use axum::Json;
use serde_json::{json, Value};

use crate::auth::AuthUser;

/// `GET /api/me`: `{user}`, or 401.
pub(super) async fn me(user: AuthUser) -> Json<Value> {
    Json(json!({ "user": user.user_id }))
}
