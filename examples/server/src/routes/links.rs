//! SMART Health Links the signed-in user made (HL7 SMART Health Links STU1,
//! medseal FORMAT.md §15.8): store one with its files, list them. The
//! public side, the manifest request a receiver makes, is `shl.rs`.
//!
//! The server checks what it can without the link's key (which only the
//! `shlink:/` text holds, never sent here): the link is listed in the
//! signed-in user's stored manifest as a share of kind link, with the
//! digest the core computes from its link id, expiry, flag and label; the
//! link id has the form the core derives; the flag is one this server
//! serves; a passcode comes exactly with flag `P`; it has not expired; its
//! files are of a content type the spec names and are well-formed compact
//! JWE (`alg: "dir"`, `enc: "A256GCM"`), of a bounded size. Whether a file
//! decrypts, only the receiver can tell.
//!
//! Revocation is the owner's manifest, as for grants: storing one that no
//! longer lists a link deletes it with its files and access rows, in the
//! manifest's transaction (db.rs). A link is stored only while the manifest
//! it was checked against is still the stored one.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json as Reply;
use serde::Deserialize;
use serde_json::{json, Value};

use super::manifest::{parsed_stored, stored_manifest};
use crate::auth::AuthUser;
use crate::config::{
    LINK_PASSCODE_ATTEMPTS, MAX_LINK_FILES, MAX_LINK_FILE_LEN, MAX_LISTED_GRANTS, MAX_REVISION,
};
use crate::db::{self, LinkFileRow, LinkRow, LinkWrite, PasscodeHash};
use crate::error::{ApiError, ApiResult, Json};
use crate::passcode;
use crate::random::random_bytes;
use crate::state::{AppState, Shared};

/// The content types a link's file may have: a FHIR resource as JSON, or a
/// SMART Health Card file. (`application/smart-api-access` is the spec's
/// third, for access tokens; this server shares stored records only.)
const FILE_TYPES: [&str; 2] = [
    medseal::shl::CONTENT_TYPE_FHIR_JSON,
    medseal::shl::CONTENT_TYPE_SHC,
];
/// A passcode's length, in characters.
const PASSCODE_CHARS: std::ops::RangeInclusive<usize> = 4..=64;

/// A file as sent: `{contentType, jwe}`.
#[derive(Deserialize)]
pub(super) struct FileIn {
    #[serde(rename = "contentType")]
    content_type: String,
    jwe: String,
}

#[derive(Deserialize)]
pub(super) struct LinkPost {
    #[serde(rename = "shareId")]
    share_id: String,
    #[serde(rename = "linkId")]
    link_id: String,
    #[serde(default)]
    label: Option<String>,
    flag: String,
    expires: u64,
    #[serde(default)]
    passcode: Option<String>,
    files: Vec<FileIn>,
}

/// The signed-in user's stored manifest, parsed, and its revision.
struct OwnerManifest {
    revision: i64,
    manifest: medseal::Manifest,
}

async fn owner_manifest(s: &AppState, user_id: &str) -> ApiResult<OwnerManifest> {
    let (revision, text) = stored_manifest(s, user_id).await?;
    Ok(OwnerManifest {
        revision,
        manifest: parsed_stored(&text)?,
    })
}

/// Share ids are base64url of 16 bytes; returned re-encoded (canonical).
fn checked_share_id(id: &str) -> ApiResult<String> {
    match medseal::base64url_decode(id) {
        Some(b) if b.len() == medseal::manifest::SHARE_ID_LEN => Ok(medseal::base64url(&b)),
        _ => Err(ApiError::bad("shareId: base64url of 16 bytes")),
    }
}

/// Whether `id` has the form of a link id: 43 base64url characters, 32
/// bytes (what `medseal::link::link_id` makes), canonical.
pub(super) fn is_link_id(id: &str) -> bool {
    id.len() == 43
        && medseal::base64url_decode(id)
            .is_some_and(|b| b.len() == 32 && medseal::base64url(&b) == id)
}

fn check_flag(flag: &str) -> ApiResult<()> {
    match flag {
        "" | "P" => Ok(()),
        _ => Err(ApiError::bad(
            "flag: \"\" or \"P\" (this server serves no U or L links)",
        )),
    }
}

/// The passcode, present (4 to 64 characters) exactly when the flag has `P`.
fn checked_passcode(flag: &str, passcode: Option<String>) -> ApiResult<Option<String>> {
    match (flag.contains('P'), passcode) {
        (true, Some(p)) if PASSCODE_CHARS.contains(&p.chars().count()) => Ok(Some(p)),
        (true, Some(_)) => Err(ApiError::bad("passcode: 4 to 64 characters")),
        (true, None) => Err(ApiError::bad("flag P needs a passcode")),
        (false, Some(_)) => Err(ApiError::bad("a passcode needs flag P")),
        (false, None) => Ok(None),
    }
}

/// The label, at most 80 characters (the spec's limit); an empty one is
/// none (the link's digest does not tell them apart).
fn checked_label(label: Option<String>) -> ApiResult<Option<String>> {
    match label {
        Some(l) if l.chars().count() > medseal::shl::MAX_LABEL_CHARS => {
            Err(ApiError::bad("label: at most 80 characters"))
        }
        Some(l) if l.is_empty() => Ok(None),
        l => Ok(l),
    }
}

fn bad_file(message: &'static str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_file", message)
}

/// Whether `s` is base64url without padding: its alphabet, and a length
/// that some byte string encodes to.
fn is_base64url(s: &str) -> bool {
    s.len() % 4 != 1
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks a JWE's form without its key: compact serialization (five
/// base64url parts), a protected header that is a JSON object with `alg`
/// `dir` and `enc` `A256GCM` (and `zip`, if any, `DEF`), an empty encrypted
/// key (for `dir`), a 12-byte IV, a ciphertext and a 16-byte tag.
fn check_jwe(jwe: &str) -> ApiResult<()> {
    let malformed = || bad_file("a file is not a compact JWE (five base64url parts)");
    let parts: Vec<&str> = jwe.split('.').collect();
    let [header, key, iv, ciphertext, tag] = parts.as_slice() else {
        return Err(malformed());
    };
    if !parts.iter().all(|p| is_base64url(p)) || ciphertext.is_empty() {
        return Err(malformed());
    }
    let header: Value = medseal::base64url_decode(header)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(Value::is_object)
        .ok_or_else(|| bad_file("a file's JWE header is not a JSON object"))?;
    let is = |name: &str, want: &str| header.get(name).is_some_and(|v| v == want);
    let zip_ok = header.get("zip").is_none() || is("zip", "DEF");
    if !is("alg", "dir") || !is("enc", "A256GCM") || !zip_ok {
        return Err(bad_file(
            "a file's JWE must have alg \"dir\" and enc \"A256GCM\" (and zip, if any, \"DEF\")",
        ));
    }
    let len = |p: &str| medseal::base64url_decode(p).map(|b| b.len());
    if !key.is_empty() || len(iv) != Some(12) || len(tag) != Some(16) {
        return Err(bad_file(
            "a file's JWE must have an empty key part (alg dir), a 12-byte IV and a 16-byte tag",
        ));
    }
    Ok(())
}

/// The files, checked: 1 to 10, each of a content type the spec names and
/// a well-formed JWE of at most 1 MiB.
fn checked_files(files: Vec<FileIn>) -> ApiResult<Vec<LinkFileRow>> {
    if files.is_empty() || files.len() > MAX_LINK_FILES {
        return Err(ApiError::bad(format!(
            "files: 1 to {MAX_LINK_FILES} of them"
        )));
    }
    files
        .into_iter()
        .map(|f| {
            if !FILE_TYPES.contains(&f.content_type.as_str()) {
                return Err(bad_file(
                    "contentType: application/fhir+json or application/smart-health-card",
                ));
            }
            if f.jwe.len() > MAX_LINK_FILE_LEN {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    "a file's JWE is over 1 MiB",
                ));
            }
            check_jwe(&f.jwe)?;
            Ok(LinkFileRow {
                content_type: f.content_type,
                jwe: f.jwe,
            })
        })
        .collect()
}

/// The link against its owner's stored manifest: listed as a share of kind
/// link with this id, expiry and the digest of its link id, expiry, flag
/// and label (409: the client stores the manifest that lists a link before
/// the link).
fn check_listed(m: &medseal::Manifest, l: &LinkRow) -> ApiResult<()> {
    let digest = l.digest();
    let expires = u64::try_from(l.expires).unwrap_or(0);
    let listed = m.shares().any(|sh| {
        sh.link
            && medseal::base64url(sh.id) == l.share_id
            && sh.expires == expires
            && sh.digest == digest.as_slice()
    });
    if !listed {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_in_manifest",
            "your stored manifest does not list this link: store the manifest that lists the link first",
        ));
    }
    Ok(())
}

/// Refuses a link whose expiry has passed (expired from `expires` on, as
/// the core's grants).
fn check_unexpired(expires: u64) -> ApiResult<()> {
    if expires <= u64::try_from(db::now()).unwrap_or(0) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "link_expired",
            "the link has expired",
        ));
    }
    Ok(())
}

/// `POST /api/links` `{shareId, linkId, label?, flag, expires, passcode?,
/// files: [{contentType, jwe}]}`: 201 `{linkId}`.
pub(super) async fn create(
    State(s): State<Shared>,
    user: AuthUser,
    Json(b): Json<LinkPost>,
) -> ApiResult<(StatusCode, Reply<Value>)> {
    let share_id = checked_share_id(&b.share_id)?;
    if !is_link_id(&b.link_id) {
        return Err(ApiError::bad("linkId: 43 base64url characters (32 bytes)"));
    }
    check_flag(&b.flag)?;
    let passcode = checked_passcode(&b.flag, b.passcode)?;
    let label = checked_label(b.label)?;
    if b.expires > MAX_REVISION {
        return Err(ApiError::bad(
            "expires: seconds since 1970, at most 2^53 - 1",
        ));
    }
    let files = checked_files(b.files)?;
    let row = LinkRow {
        link_id: b.link_id,
        share_id,
        owner: user.user_id,
        label,
        flag: b.flag,
        expires: i64::try_from(b.expires).map_err(|_| ApiError::bad("expires: out of range"))?,
        created: 0,
        attempts_left: LINK_PASSCODE_ATTEMPTS,
    };
    let owner = owner_manifest(&s, &row.owner).await?;
    check_listed(&owner.manifest, &row)?;
    check_unexpired(b.expires)?;
    let hash = match passcode {
        Some(p) => {
            let salt = random_bytes::<{ passcode::SALT_LEN }>(s.entropy.as_ref())?;
            Some(PasscodeHash {
                hash: passcode::hash(&salt, &p).to_vec(),
                salt: salt.to_vec(),
            })
        }
        None => None,
    };
    let revision = owner.revision;
    let link_id = row.link_id.clone();
    let w =
        s.db.write(move |c| db::insert_link(c, &row, hash.as_ref(), &files, revision))
            .await?;
    match w {
        LinkWrite::Stored => Ok((StatusCode::CREATED, Reply(json!({ "linkId": link_id })))),
        LinkWrite::ManifestChanged => Err(ApiError::new(
            StatusCode::CONFLICT,
            "stale_manifest",
            "your manifest changed while the link was being checked; retry",
        )),
        LinkWrite::Exists => Err(ApiError::new(
            StatusCode::CONFLICT,
            "link_exists",
            "a link with this link id is stored already",
        )),
    }
}

/// `GET /api/links`: `{links: [{shareId, linkId, label, flag, expires,
/// created, attemptsLeft, views}]}`, the links the user made that are
/// stored (expired and disabled ones too), oldest first; `views` counts
/// the manifest requests that were answered with the files.
pub(super) async fn list(State(s): State<Shared>, user: AuthUser) -> ApiResult<Reply<Value>> {
    let rows =
        s.db.read(move |c| db::links_made(c, &user.user_id, MAX_LISTED_GRANTS))
            .await?;
    let links: Vec<Value> = rows
        .iter()
        .map(|l| {
            json!({
                "shareId": l.row.share_id,
                "linkId": l.row.link_id,
                "label": l.row.label,
                "flag": l.row.flag,
                "expires": l.row.expires,
                "created": l.row.created,
                "attemptsLeft": l.row.attempts_left,
                "views": l.views,
            })
        })
        .collect();
    Ok(Reply(json!({ "links": links })))
}
