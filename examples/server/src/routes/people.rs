//! Other users, as the signed-in user sees them: a username and the
//! current manifest (public: `login/start` serves it to anyone who names the
//! user). A patient reads a grantee's here to grant to its share key, and
//! pins its fingerprint (checked with the grantee in person); the server
//! only relays it.

use axum::extract::State;
use axum::Json as Reply;
use serde_json::{json, Value};

use super::check_username;
use super::manifest::stored_manifest_json;
use crate::auth::AuthUser;
use crate::db;
use crate::error::{ApiError, ApiResult, Path};
use crate::state::Shared;

/// `GET /api/people/{username}`: `{username, manifest}`; 404 if there is no
/// such user.
pub(super) async fn get(
    State(s): State<Shared>,
    _user: AuthUser,
    Path(username): Path<String>,
) -> ApiResult<Reply<Value>> {
    check_username(&username)?;
    let name = username.clone();
    let user_id =
        s.db.read(move |c| db::user_by_name(c, &name))
            .await?
            .ok_or_else(|| ApiError::not_found("no such user"))?;
    let (_, manifest) = stored_manifest_json(&s, &user_id).await?;
    Ok(Reply(json!({ "username": username, "manifest": manifest })))
}
