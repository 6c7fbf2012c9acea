//! Grants the signed-in user made to other users (medseal sharing, format
//! 3): store one with its slots, add slots, list, delete.
//!
//! The server checks what it can without a key: the grant is well formed,
//! made by the signed-in user's vault (signed by its identity key, checked
//! with the core against the stored manifest) and listed in that manifest
//! with the same digest; its grantee is another user; it has not expired;
//! every slot is 60 bytes, for one of the grantor's records, inside the
//! grant's scope. Whether a slot opens, only the grantee's vault can tell.
//!
//! Revocation is the grantor's manifest: storing one that no longer lists a
//! grant deletes the grant with its slots, in the manifest's transaction
//! (db.rs). A grant is stored only while the manifest it was checked
//! against is still the stored one, so no grant outlives its revocation.

use std::collections::HashSet;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json as Reply;
use serde::Deserialize;
use serde_json::{json, Value};

use super::manifest::{parsed_stored, stored_manifest};
use super::records::check_record_id;
use crate::auth::AuthUser;
use crate::config::{MAX_LISTED_GRANTS, MAX_SLOTS_PER_REQUEST};
use crate::db::{self, GrantRow, GrantWrite, SlotRow};
use crate::error::{ApiError, ApiResult, Json, Path};
use crate::state::{AppState, Shared};

/// A slot as sent: `{recordId, slot}`, the slot base64url.
#[derive(Deserialize)]
pub(super) struct SlotIn {
    #[serde(rename = "recordId")]
    record_id: String,
    slot: String,
}

#[derive(Deserialize)]
pub(super) struct GrantPost {
    grant: String,
    #[serde(default)]
    slots: Vec<SlotIn>,
}

#[derive(Deserialize)]
pub(super) struct SlotsPost {
    slots: Vec<SlotIn>,
}

/// The signed-in user's stored manifest, parsed, and its revision.
struct GrantorManifest {
    revision: i64,
    manifest: medseal::Manifest,
}

async fn grantor_manifest(s: &AppState, user_id: &str) -> ApiResult<GrantorManifest> {
    let (revision, text) = stored_manifest(s, user_id).await?;
    Ok(GrantorManifest {
        revision,
        manifest: parsed_stored(&text)?,
    })
}

fn check_slot_count(n: usize) -> ApiResult<()> {
    if n > MAX_SLOTS_PER_REQUEST {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "too_many_slots",
            format!("at most {MAX_SLOTS_PER_REQUEST} slots a request"),
        ));
    }
    Ok(())
}

/// Grant ids are base64url of 16 bytes; anything else names no grant.
fn check_grant_id(id: &str) -> ApiResult<()> {
    match medseal::base64url_decode(id) {
        Some(b) if b.len() == 16 => Ok(()),
        _ => Err(no_such_grant()),
    }
}

fn no_such_grant() -> ApiError {
    ApiError::not_found("no such grant")
}

fn parse_grant(text: &str) -> ApiResult<medseal::Grant> {
    medseal::Grant::from_json(text).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_grant",
            format!("grant: not a valid medseal grant ({})", e.code()),
        )
    })
}

/// The grant against its grantor's stored manifest: made by this vault
/// (403), signed by its identity key (400: an edited grant stops here) and
/// listed in it with the same digest (409: the client stores the manifest
/// that lists a grant before the grant).
fn check_against_manifest(grant: &medseal::Grant, m: &medseal::Manifest) -> ApiResult<()> {
    if grant.grantor.as_slice() != m.vault_id() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_grantor",
            "the grant names another vault as its grantor",
        ));
    }
    // The core's verify also checks the listing (`NotGranted`): that is
    // the 409 below, not a bad signature.
    match grant.verify(m) {
        Ok(()) | Err(medseal::Error::NotGranted) => {}
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_signature",
                "the grant's signature does not verify against your manifest",
            ))
        }
    }
    let digest = grant.digest();
    let listed = m
        .shares()
        .any(|sh| !sh.link && sh.id == grant.id.as_slice() && sh.digest == digest.as_slice());
    if !listed {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_in_manifest",
            "your stored manifest does not list this grant: store the manifest that lists the grant first",
        ));
    }
    Ok(())
}

/// Refuses a grant whose expiry has passed (the core's rule: expired from
/// `expires` on).
fn check_unexpired(expires: u64) -> ApiResult<()> {
    if expires <= u64::try_from(db::now()).unwrap_or(0) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "grant_expired",
            "the grant has expired",
        ));
    }
    Ok(())
}

/// The user id of the grant's grantee: the one user whose stored manifest
/// is of the grantee vault, not the grantor. A vault id belongs to one
/// account (sign-up and manifest stores refuse a taken one), so two users
/// are found only in a database that held them before that rule: kept as a
/// defensive 409 `ambiguous_grantee` rather than a guess.
async fn grantee_user(s: &AppState, grant: &medseal::Grant, grantor: &str) -> ApiResult<String> {
    let vault = medseal::base64url(&grant.grantee);
    let users = s.db.read(move |c| db::users_of_vault(c, &vault, 2)).await?;
    match users.as_slice() {
        [] => Err(ApiError::not_found(
            "the grantee's vault is not one of this server's users",
        )),
        [u] if u == grantor => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_grant",
            "a grant to yourself",
        )),
        [u] => Ok(u.clone()),
        _ => Err(ApiError::new(
            StatusCode::CONFLICT,
            "ambiguous_grantee",
            "more than one account holds the grantee's vault",
        )),
    }
}

/// The slots, checked: record ids of this server's form, each once, inside
/// the grant's scope (403 `not_granted`), slots base64url of 60 bytes
/// (stored re-encoded, so canonical). Whether each record exists is checked
/// with the write.
fn checked_slots(grant: &medseal::Grant, slots: Vec<SlotIn>) -> ApiResult<Vec<SlotRow>> {
    check_slot_count(slots.len())?;
    let mut seen = HashSet::with_capacity(slots.len());
    let mut out = Vec::with_capacity(slots.len());
    for SlotIn { record_id, slot } in slots {
        check_record_id(&record_id)
            .map_err(|_| ApiError::bad("slots: a recordId is not a record id"))?;
        if !grant.scope.covers(record_id.as_bytes()) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "not_granted",
                "a slot names a record outside the grant's scope",
            ));
        }
        let raw = medseal::base64url_decode(&slot)
            .filter(|b| b.len() == medseal::share::SLOT_LEN)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_slot",
                    "a slot must be base64url of exactly 60 bytes",
                )
            })?;
        if !seen.insert(record_id.clone()) {
            return Err(ApiError::bad("slots: a recordId appears twice"));
        }
        out.push(SlotRow {
            record_id,
            slot: medseal::base64url(&raw),
        });
    }
    Ok(out)
}

/// The answer to a grant or slots write: the grant's slot count, or why
/// nothing was stored.
fn written(w: GrantWrite) -> ApiResult<i64> {
    match w {
        GrantWrite::Stored(n) => Ok(n),
        GrantWrite::ManifestChanged => Err(ApiError::new(
            StatusCode::CONFLICT,
            "stale_manifest",
            "your manifest changed while the grant was being checked; retry",
        )),
        GrantWrite::Exists => Err(ApiError::new(
            StatusCode::CONFLICT,
            "grant_exists",
            "a grant with this id is stored already",
        )),
        GrantWrite::NoSuchGrant => Err(no_such_grant()),
        GrantWrite::NoSuchRecord => {
            Err(ApiError::not_found("a slot names a record you do not have"))
        }
    }
}

/// `POST /api/grants` `{grant, slots: [{recordId, slot}]}`: 201 `{id, slots}`.
pub(super) async fn create(
    State(s): State<Shared>,
    user: AuthUser,
    Json(b): Json<GrantPost>,
) -> ApiResult<(StatusCode, Reply<Value>)> {
    check_slot_count(b.slots.len())?;
    let grant = parse_grant(&b.grant)?;
    let owner = grantor_manifest(&s, &user.user_id).await?;
    check_against_manifest(&grant, &owner.manifest)?;
    let grantee = grantee_user(&s, &grant, &user.user_id).await?;
    check_unexpired(grant.expires)?;
    let slots = checked_slots(&grant, b.slots)?;
    let row = GrantRow {
        id: medseal::base64url(&grant.id),
        grantor: user.user_id,
        grantee,
        grant: grant.to_json(),
        digest: medseal::base64url(&grant.digest()),
        created: 0,
        expires: i64::try_from(grant.expires)
            .map_err(|_| ApiError::bad("grant: expiry out of range"))?,
    };
    let revision = owner.revision;
    let id = row.id.clone();
    let n = written(
        s.db.write(move |c| db::insert_grant(c, &row, revision, &slots))
            .await?,
    )?;
    Ok((StatusCode::CREATED, Reply(json!({ "id": id, "slots": n }))))
}

/// `POST /api/grants/{id}/slots` `{slots: [{recordId, slot}]}`: adds or
/// replaces slots of one of the user's grants, still listed in the stored
/// manifest and unexpired. `{id, slots}` (the grant's slot count).
pub(super) async fn add_slots(
    State(s): State<Shared>,
    user: AuthUser,
    Path(id): Path<String>,
    Json(b): Json<SlotsPost>,
) -> ApiResult<Reply<Value>> {
    check_slot_count(b.slots.len())?;
    check_grant_id(&id)?;
    let (u, i) = (user.user_id.clone(), id.clone());
    let row =
        s.db.read(move |c| db::grant_made(c, &u, &i))
            .await?
            .ok_or_else(no_such_grant)?;
    let grant = medseal::Grant::from_json(&row.grant)
        .map_err(|e| ApiError::internal("stored grant does not parse", e.code()))?;
    let owner = grantor_manifest(&s, &user.user_id).await?;
    check_against_manifest(&grant, &owner.manifest)?;
    check_unexpired(grant.expires)?;
    let slots = checked_slots(&grant, b.slots)?;
    let revision = owner.revision;
    let i = id.clone();
    let n = written(
        s.db.write(move |c| db::put_slots(c, &user.user_id, &i, revision, &slots))
            .await?,
    )?;
    Ok(Reply(json!({ "id": id, "slots": n })))
}

/// `GET /api/grants`: `{grants: [{id, grantee, grant, created, expires,
/// slots}]}`, the grants the user made that are stored (expired ones too),
/// oldest first; `grantee` is a username, `grant` the signed JSON text.
pub(super) async fn list(State(s): State<Shared>, user: AuthUser) -> ApiResult<Reply<Value>> {
    let rows =
        s.db.read(move |c| db::grants_made(c, &user.user_id, MAX_LISTED_GRANTS))
            .await?;
    let grants: Vec<Value> = rows
        .iter()
        .map(|g| {
            json!({
                "id": g.row.id,
                "grantee": g.other,
                "grant": g.row.grant,
                "created": g.row.created,
                "expires": g.row.expires,
                "slots": g.slots,
            })
        })
        .collect();
    Ok(Reply(json!({ "grants": grants })))
}

/// `DELETE /api/grants/{id}`: the grantor deletes a grant and its slots
/// from the server (404 for anyone else). The grant stays listed in the
/// grantor's manifest until the vault revokes it there.
pub(super) async fn delete(
    State(s): State<Shared>,
    user: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Reply<Value>> {
    check_grant_id(&id)?;
    let n =
        s.db.write(move |c| db::delete_grant(c, &user.user_id, &id))
            .await?;
    if n == 0 {
        return Err(no_such_grant());
    }
    Ok(Reply(json!({ "ok": true })))
}
