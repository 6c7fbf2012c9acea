//! The signed vault manifest of the signed-in user, and its history.
//!
//! A manifest is also the list of the ways into the vault (passkeys, the
//! recovery code, under the identity key). A new revision that takes one of
//! them away revokes it on the server too, in the same transaction: the
//! login passkeys it no longer names are deleted and every other session of
//! the user ends (issue #13). The server cannot take the way in away from
//! the vault itself: that is the client's new manifest.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json as Reply;
use base64ct::{Base64UrlUnpadded, Encoding};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::AuthUser;
use crate::config::{MAX_HISTORY_BYTES, MAX_HISTORY_ENTRIES, MAX_MANIFEST_LEN, MAX_REVISION};
use crate::db::{self, History, ManifestSwap, Revocation, Swap};
use crate::error::{stored_json, ApiError, ApiResult, Json, Query};
use crate::state::{AppState, Shared};

/// A manifest as checked for storing.
pub(crate) struct CheckedManifest {
    /// Its revision.
    pub(crate) revision: i64,
    /// Its JSON text.
    pub(crate) text: String,
    /// The credential ids of its passkey entries, base64url as
    /// `passkeys.cred_id` stores them.
    pub(crate) credentials: Vec<String>,
    /// Whether it takes a way in away from the manifest it replaces.
    pub(crate) revokes: bool,
}

impl CheckedManifest {
    /// The write that stores it for `user_id` in place of revision
    /// `replaces`, made by the session `session` (kept if it revokes).
    pub(crate) fn swap<'a>(
        &'a self,
        user_id: &'a str,
        replaces: i64,
        session: &'a str,
    ) -> ManifestSwap<'a> {
        ManifestSwap {
            user_id,
            replaces,
            revision: self.revision,
            text: &self.text,
            revoke: self.revokes.then_some(Revocation {
                named_credentials: &self.credentials,
                keep_session: session,
            }),
        }
    }
}

/// The manifest as the server sees it: public, signed JSON. A write must be a
/// well-formed manifest with a revision of 1 to 2^53 - 1, signed by the
/// identity key it names and, after sign-up, a successor of the stored one
/// by the core's rule ([`medseal::Manifest::check_update`]): only a client
/// holding the vault can produce that.
///
/// The caller swaps it in only in place of `stored` itself (see
/// [`checked_successor`]), so what it revokes is decided against the
/// manifest it replaces.
pub(crate) fn checked_manifest(m: &Value, stored: Option<&str>) -> ApiResult<CheckedManifest> {
    let text = m.to_string();
    if text.len() > MAX_MANIFEST_LEN {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "manifest too large",
        ));
    }
    check_revision_range(m)?;
    let parsed = medseal::Manifest::from_json(&text)
        .map_err(|e| ApiError::bad(format!("not a valid vault manifest ({})", e.code())))?;
    parsed
        .verify_self_signature()
        .map_err(|_| ApiError::bad("manifest signature does not verify"))?;
    let mut revokes = false;
    if let Some(old) = stored {
        let old = parsed_stored(old)?;
        // The core's rule for a successor (same vault, signed, the next
        // revision). Not newer is the compare-and-swap's 409.
        parsed.check_update(&old).map_err(|e| match e {
            medseal::Error::StaleManifest { .. } => stale(),
            _ => ApiError::bad("manifest belongs to another vault"),
        })?;
        revokes = takes_a_way_in_away(&old, &parsed);
    }
    let revision = i64::try_from(parsed.revision()).map_err(|_| out_of_range())?;
    let credentials = parsed
        .passkeys()
        .map(|p| Base64UrlUnpadded::encode_string(p.credential_id))
        .collect();
    Ok(CheckedManifest {
        revision,
        text,
        credentials,
        revokes,
    })
}

/// Refuses a revision outside 1 to [`MAX_REVISION`], read from the JSON
/// before the core parses it: the bound is the server's (revisions go to
/// JavaScript numbers and SQLite integers), whatever the manifest format
/// allows, and the answer says what is wrong rather than "malformed".
fn check_revision_range(m: &Value) -> ApiResult<()> {
    match m.get("revision") {
        // A number: an integer in range, or refused (this also covers
        // negatives, fractions and integers past u64, which serde_json
        // reads as floats).
        Some(Value::Number(n)) => match n.as_u64() {
            Some(r) if (1..=MAX_REVISION).contains(&r) => Ok(()),
            _ => Err(out_of_range()),
        },
        // Missing or not a number: the core says the manifest is malformed.
        _ => Ok(()),
    }
}

fn out_of_range() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "revision_out_of_range",
        "manifest revision must be 1 to 9007199254740991 (2^53 - 1)",
    )
}

/// Whether `new`, replacing `old`, takes a way into the vault away: a
/// passkey entry's credential gone, the recovery entry replaced (a new
/// recovery code; its entry id changes with it) or the identity key
/// changed. Adding a passkey, or keeping every one, takes nothing away.
pub(crate) fn takes_a_way_in_away(old: &medseal::Manifest, new: &medseal::Manifest) -> bool {
    let still_named = |id: &[u8]| new.passkeys().any(|p| p.credential_id == id);
    old.passkeys().any(|p| !still_named(p.credential_id))
        || old.recovery_entry_id() != new.recovery_entry_id()
        || old.identity_public_key() != new.identity_public_key()
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

/// `m` checked as the successor of the user's stored manifest, which must
/// be revision `replaces`. Anything else is stale at once (409): the swap
/// happens only while the stored revision is still `replaces`, and
/// revisions only grow, so the manifest it replaces is then exactly the one
/// checked here. Were a `replaces` ahead of the stored revision let through,
/// a write stored in between could be replaced by a manifest compared with
/// its predecessor, and a passkey added in between and dropped again would
/// not be revoked.
pub(crate) async fn checked_successor(
    s: &AppState,
    user_id: &str,
    replaces: i64,
    m: &Value,
) -> ApiResult<CheckedManifest> {
    let (revision, stored) = stored_manifest(s, user_id).await?;
    if revision != replaces {
        return Err(stale());
    }
    checked_manifest(m, Some(&stored))
}

/// The answer to a compare-and-swap of the manifest: `{ok: true}` if it
/// replaced the stored one, 409 `stale_manifest` if the stored revision was
/// not `replaces`, 409 `vault_exists` if it would claim a vault another
/// account holds (the db layer's rule; through these routes the core's
/// successor rule already keeps a vault's id, and a user keeps its own).
pub(crate) fn swapped(swap: Swap) -> ApiResult<Reply<Value>> {
    match swap {
        Swap::Stored => Ok(Reply(json!({ "ok": true }))),
        Swap::Stale => Err(stale()),
        Swap::VaultExists => Err(super::account::vault_exists()),
    }
}

fn stale() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "stale_manifest",
        "the manifest changed since you read it; reload it and retry",
    )
}

#[derive(Deserialize)]
pub(super) struct Since {
    since: Option<u64>,
}

fn history_too_long() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "history_too_long",
        "more than 1000 manifest revisions (or 16 MiB of them) since that revision; \
         read the manifest without since",
    )
}

/// `GET /api/manifest`: `{revision, manifest}`; with `?since=N`, also
/// `history` (see [`with_history`]).
///
/// Only a signed-in user reads the history. Older revisions carry older
/// wrapped keys, which a recovery code or passkey revoked since still
/// unwraps (an older vault key opens what was sealed before a re-key; with
/// the v1 core, which did not re-key, it was the current vault and identity
/// key). So sign-in and recovery starts, which answer anyone who names the
/// user, serve the current manifest only; the client reads the history once
/// signed in.
pub(super) async fn get_manifest(
    State(s): State<Shared>,
    user: AuthUser,
    Query(Since { since }): Query<Since>,
) -> ApiResult<Reply<Value>> {
    match since {
        Some(since) => with_history(&s, user.user_id, since).await.map(Reply),
        None => {
            let (revision, manifest) = stored_manifest_json(&s, &user.user_id).await?;
            Ok(Reply(json!({ "revision": revision, "manifest": manifest })))
        }
    }
}

/// `{revision, manifest, history}`: `history` is every revision the server
/// accepted after `since`, oldest first, ending with the current one (empty
/// if `since` is not older). The manifest and its history are read in one
/// transaction, so they agree. More than [`MAX_HISTORY_ENTRIES`] revisions
/// or [`MAX_HISTORY_BYTES`] is 409 `history_too_long`.
async fn with_history(s: &AppState, user_id: String, since: u64) -> ApiResult<Value> {
    // No stored revision is above MAX_REVISION: neither is a `since` the client had from here.
    let since = match i64::try_from(since) {
        Ok(n) if since <= MAX_REVISION => n,
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_query",
                "since must be a revision, 0 to 9007199254740991",
            ))
        }
    };
    let ((revision, text), history) =
        s.db.read(move |c| {
            db::manifest_and_history(c, &user_id, since, MAX_HISTORY_ENTRIES, MAX_HISTORY_BYTES)
        })
        .await?
        .ok_or_else(|| ApiError::not_found("no manifest"))?;
    let History::Revisions(texts) = history else {
        return Err(history_too_long());
    };
    let parse = |t: &str| -> ApiResult<Value> {
        serde_json::from_str(t).map_err(|e| stored_json("stored manifest", &e))
    };
    let history = texts
        .iter()
        .map(|t| parse(t))
        .collect::<ApiResult<Vec<Value>>>()?;
    Ok(json!({ "revision": revision, "manifest": parse(&text)?, "history": history }))
}

#[derive(Deserialize)]
pub(super) struct ManifestWrite {
    replaces: i64,
    manifest: Value,
}

/// `PUT /api/manifest` `{replaces, manifest}`: stored only if the stored
/// revision is still `replaces` (409 otherwise) and the new one is newer.
/// A manifest that takes a way in away signs out every other session of the
/// user and deletes the login passkeys it no longer names, with the write.
pub(super) async fn put_manifest(
    State(s): State<Shared>,
    user: AuthUser,
    Json(ManifestWrite { replaces, manifest }): Json<ManifestWrite>,
) -> ApiResult<Reply<Value>> {
    let m = checked_successor(&s, &user.user_id, replaces, &manifest).await?;
    let replaced =
        s.db.write(move |c| db::replace_manifest(c, &m.swap(&user.user_id, replaces, &user.token)))
            .await?;
    swapped(replaced)
}

#[cfg(test)]
mod tests {
    use super::takes_a_way_in_away;
    use medseal::{PasskeyUnlock, PrfOutput, Vault};

    fn passkey(id: u8) -> PasskeyUnlock {
        PasskeyUnlock {
            credential_id: vec![id; 16],
            prf_salt: medseal::new_prf_salt().unwrap(),
            prf_output: PrfOutput::new(&[id; 32]).unwrap(),
            label: None,
        }
    }

    /// Each way in, alone. The identity key alone is what the HTTP tests
    /// cannot show: a vault changes it only with a re-key, which comes with
    /// an entry change (the v1 core never changed it).
    #[test]
    fn what_takes_a_way_in_away() {
        let (mut v, _) = Vault::create(passkey(1)).unwrap();
        let m1 = v.manifest().clone();
        let m2 = v.add_passkey(passkey(2)).unwrap().clone();
        assert!(!takes_a_way_in_away(&m1, &m2), "a passkey added");
        assert!(!takes_a_way_in_away(&m2, &m2), "nothing changed");
        let entry = m2.passkeys().nth(1).unwrap().entry_id.to_string();
        let m3 = v.remove_unlock(&entry).unwrap().clone();
        assert!(takes_a_way_in_away(&m2, &m3), "a passkey removed");
        v.rotate_recovery_code().unwrap();
        assert!(
            takes_a_way_in_away(&m3, v.manifest()),
            "a new recovery code"
        );
        // Another vault on the same passkey: same credential, other identity key.
        let (other, _) = Vault::create(passkey(1)).unwrap();
        assert_ne!(
            m1.identity_public_key(),
            other.manifest().identity_public_key()
        );
        let mut swapped_identity: serde_json::Value = serde_json::from_str(&m1.to_json()).unwrap();
        let theirs: serde_json::Value = serde_json::from_str(&other.manifest().to_json()).unwrap();
        swapped_identity["identityKey"] = theirs["identityKey"].clone();
        let swapped_identity = medseal::Manifest::from_json(&swapped_identity.to_string()).unwrap();
        assert!(
            takes_a_way_in_away(&m1, &swapped_identity),
            "another identity key"
        );
    }
}
