//! The vault log of the signed-in user (issue #15; the core's
//! `medseal::log`, FORMAT.md §16): an append-only list of signed entries in
//! an RFC 6962 Merkle tree, which the vault's devices sync and pin.
//!
//! The server keeps the leaves and the complete-subtree hashes
//! (`log_leaves`, `log_hashes`) and serves signed checkpoints, proofs and
//! entries; it checks every entry a device appends exactly as the devices
//! will (a log holding one entry they refuse could never be synced past
//! it), and it appends the access events only it sees, signed with its log
//! key: a grantee fetching shared records, a SMART Health Link opened, a
//! sign-in. Those go into a vault's log only once the vault has announced
//! the key (entry 0): before that no device would believe them. From then
//! on, what would disclose something (records, a link's files, a passcode
//! check, a session) goes ahead only once its event is recorded, and is
//! refused otherwise (503 `log_full`, 429 `too_many_requests`): the events
//! of attempts that disclosed nothing stop at 90% of a log's most entries
//! and spend hourly budgets (failed sign-ins per vault, events per grant
//! and per link), so others cannot fill the room the rest needs.
//!
//! None of this makes the server trusted: a device believes a checkpoint
//! only with a consistency proof from the one it pinned, and the
//! checkpoints the devices cosign (`POST /api/log/cosign`) let each catch
//! a server that shows two devices different histories.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json as Reply;
use medseal::log::entry::{Author, Entry, Event};
use medseal::log::merkle::Hash;
use medseal::log::note::{origin_for, Checkpoint, Note};
use medseal::log::ServerLogKey;
use medseal::Manifest;
use rusqlite::{Connection, TransactionBehavior};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::AuthUser;
use crate::config::{LOG_COSIGNED_KEPT, LOG_COSIGNED_SERVED};
use crate::db::{self, Attested, CosignWrite, DbResult, EventRoom, LogWrite};
use crate::error::{ApiError, ApiResult, Json, Query};
use crate::state::{AppState, LogSink, Shared};

fn b64(bytes: &[u8]) -> String {
    medseal::base64url(bytes)
}

fn hashes(list: &[Hash]) -> Vec<String> {
    list.iter().map(|h| b64(h)).collect()
}

fn no_manifest() -> ApiError {
    ApiError::not_found("no manifest")
}

fn stored_manifest(text: &str) -> ApiResult<Manifest> {
    Manifest::from_json(text)
        .map_err(|e| ApiError::internal("stored manifest does not parse", e.code()))
}

/// The origin line of the log of the vault `vault_id` (of the stored manifest).
fn origin_of(vault_id: Option<&[u8]>) -> ApiResult<String> {
    vault_id
        .map(origin_for)
        .ok_or_else(|| ApiError::internal("stored manifest", "no vault id"))
}

/// `GET /api/log/key`: `{name, key}`, the server's log key as a vault
/// announces it (`key` base64url of the compressed SEC1 point).
pub(super) async fn key(State(s): State<Shared>, _user: AuthUser) -> Reply<Value> {
    Reply(json!({
        "name": s.log_key.name(),
        "key": b64(&s.log_key.public_key()),
    }))
}

#[derive(Deserialize)]
pub(super) struct SyncQuery {
    from: Option<u64>,
}

/// `GET /api/log?from=M`: `{checkpoint, size, proof, entries, cosigned,
/// more}` for a device that verified the first `M` entries (default 0).
/// `checkpoint` is the signed note of the first `size` entries, `size` at
/// most `M` + the page (1000); `proof` the consistency proof from `M`
/// (empty from 0); `entries` the leaves `M..size`; `cosigned` up to 8
/// checkpoints the vault's devices cosigned (`{note, proof}`, newest
/// first, none beyond `size`, each with its consistency proof to `size`);
/// `more` whether the log is longer (ask again from `size`). An `M` beyond
/// the log gets the current head and nothing else: the device sees the
/// log shrank. Bytes are base64url, proofs lists of hashes.
pub(super) async fn sync(
    State(s): State<Shared>,
    user: AuthUser,
    Query(q): Query<SyncQuery>,
) -> ApiResult<Reply<Value>> {
    let from = q.from.unwrap_or(0);
    let page = s.config.limits.log_page.max(1);
    let p =
        s.db.read(move |c| db::log_page(c, &user.user_id, from, page, LOG_COSIGNED_SERVED))
            .await?
            .ok_or_else(no_manifest)?;
    let checkpoint = s
        .log_key
        .sign_checkpoint(&Checkpoint {
            origin: origin_of(p.vault_id.as_deref())?,
            size: p.end,
            root: p.root,
        })
        .map_err(|e| ApiError::internal("log checkpoint", e.code()))?;
    let entries: Vec<String> = p.entries.iter().map(|l| b64(l)).collect();
    let cosigned: Vec<Value> = p
        .cosigned
        .iter()
        .map(|(note, proof)| json!({ "note": note, "proof": hashes(proof) }))
        .collect();
    Ok(Reply(json!({
        "checkpoint": checkpoint,
        "size": p.end,
        "proof": hashes(&p.proof),
        "entries": entries,
        "cosigned": cosigned,
        "more": p.end < p.size,
    })))
}

#[derive(Deserialize)]
pub(super) struct EntriesQuery {
    start: u64,
    end: u64,
    size: u64,
}

/// `GET /api/log/entries?start=A&end=B&size=N`: `{entries: [{index, leaf,
/// proof}]}`, entries `A..B` each with its inclusion proof in the tree of
/// the first `N` entries (the size the device pinned). `A < B <= N`, `N`
/// at most the log's size, at most 1000 entries.
pub(super) async fn entries(
    State(s): State<Shared>,
    user: AuthUser,
    Query(q): Query<EntriesQuery>,
) -> ApiResult<Reply<Value>> {
    let page = s.config.limits.log_page.max(1);
    if !(q.start < q.end && q.end <= q.size) {
        return Err(ApiError::bad("start < end <= size"));
    }
    if q.end - q.start > page {
        return Err(ApiError::bad(format!("at most {page} entries at once")));
    }
    let found =
        s.db.read(move |c| db::log_included(c, &user.user_id, q.start, q.end, q.size))
            .await?
            .ok_or_else(|| ApiError::bad("size: beyond the log"))?;
    let entries: Vec<Value> = found
        .iter()
        .map(|(index, leaf, proof)| {
            json!({ "index": index, "leaf": b64(leaf), "proof": hashes(proof) })
        })
        .collect();
    Ok(Reply(json!({ "entries": entries })))
}

#[derive(Deserialize)]
pub(super) struct AppendBody {
    size: u64,
    leaf: String,
}

fn bad_entry(message: &'static str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_entry", message)
}

/// 409 `log_moved` with the log's `size`: the device appended at another
/// position (another device wrote meanwhile): sync, then write again.
fn moved(size: u64) -> Response {
    (
        StatusCode::CONFLICT,
        Reply(json!({
            "error": "log_moved",
            "message": "the log has moved on: sync and write at its size",
            "size": size,
        })),
    )
        .into_response()
}

fn log_full() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "log_full",
        "the vault's log holds its most entries",
    )
}

/// Why an append was refused inside its transaction.
enum Refusal {
    Moved(u64),
    Api(ApiError),
}

/// `POST /api/log` `{size, leaf}`: appends an entry the vault wrote (leaf
/// base64url) at position `size`, if the log still holds `size` entries
/// (else 409 `log_moved` with the log's `size`); answers `{size}`, the new
/// size. The entry must be what every device of the vault will accept
/// there: a vault entry (400 `bad_entry` for one that does not parse, is
/// the server's, or names another position than `size`), of the stored
/// manifest's key epoch (400 `wrong_epoch`), signed by that epoch's
/// identity key for this vault's log (400 `bad_signature`); entry 0
/// announces this server's log key, name and key as `GET /api/log/key`
/// gives them, and no later entry announces another (400
/// `bad_announcement`); a manifest event names its own epoch. 413
/// `log_full` past the most entries a log holds.
pub(super) async fn append(
    State(s): State<Shared>,
    user: AuthUser,
    Json(b): Json<AppendBody>,
) -> ApiResult<Response> {
    let leaf =
        medseal::base64url_decode(&b.leaf).ok_or_else(|| bad_entry("leaf: not base64url"))?;
    let entry = Entry::parse(&leaf).map_err(|_| bad_entry("not a medseal log entry"))?;
    if entry.author != Author::Vault {
        return Err(bad_entry("access events are the server's to write"));
    }
    let epoch = entry
        .e
        .ok_or_else(|| bad_entry("a vault entry names its key epoch"))?;
    if entry.n != b.size {
        return Err(bad_entry("the entry names another position than size"));
    }
    let bad_announcement = |m| ApiError::new(StatusCode::BAD_REQUEST, "bad_announcement", m);
    match &entry.event {
        Event::Server { name, key }
            if name != s.log_key.name() || *key != b64(&s.log_key.public_key()) =>
        {
            return Err(bad_announcement(
                "the entry announces another log key than this server's (GET /api/log/key)",
            ));
        }
        Event::Server { .. } => {}
        _ if b.size == 0 => {
            return Err(bad_announcement(
                "the first entry announces this server's log key (GET /api/log/key)",
            ))
        }
        Event::Manifest { epoch: named, .. } if *named != epoch => {
            return Err(bad_entry(
                "a manifest entry is signed in the epoch it names",
            ));
        }
        _ => {}
    }
    let max = s.config.limits.log_max_entries;
    let n = b.size;
    let written =
        s.db.write(move |c| {
            db::log_append(c, &user.user_id, max, |o| {
                if o.size != n {
                    return Err(Refusal::Moved(o.size));
                }
                let m = stored_manifest(&o.manifest).map_err(Refusal::Api)?;
                if m.epoch() != epoch {
                    return Err(Refusal::Api(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "wrong_epoch",
                        "the entry is not signed in the vault's current key epoch",
                    )));
                }
                let bad_signature = || {
                    Refusal::Api(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "bad_signature",
                        "the entry is not signed by this vault's identity key",
                    ))
                };
                let key = m.identity_of_epoch(epoch).ok_or_else(bad_signature)?;
                entry
                    .verify(&origin_for(m.vault_id()), key)
                    .map_err(|_| bad_signature())?;
                Ok(leaf)
            })
        })
        .await?;
    match written {
        LogWrite::Appended(size) => Ok(Reply(json!({ "size": size })).into_response()),
        LogWrite::Full => Err(log_full()),
        LogWrite::NoVault => Err(no_manifest()),
        LogWrite::Refused(Refusal::Moved(size)) => Ok(moved(size)),
        LogWrite::Refused(Refusal::Api(e)) => Err(e),
    }
}

#[derive(Deserialize)]
pub(super) struct CosignBody {
    checkpoint: String,
}

fn bad_checkpoint(message: &'static str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_checkpoint", message)
}

fn log_mismatch() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "log_mismatch",
        "the checkpoint is not of this log as the server holds it",
    )
}

/// `POST /api/log/cosign` `{checkpoint}`: keeps a checkpoint a device of
/// the vault verified and cosigned (a signed note), for the vault's other
/// devices to check their sync against. Accepted only if it is this
/// vault's log's (400 `bad_checkpoint` otherwise, or if it does not
/// parse), carries a valid signature of the vault's current identity key
/// under the key name of the log's origin (400 `bad_signature`), and
/// matches the log: its size at most the log's, its root the tree hash of
/// that many entries (409 `log_mismatch`). Answers `{ok: true}`. The
/// newest 256 (by size) are kept.
pub(super) async fn cosign(
    State(s): State<Shared>,
    user: AuthUser,
    Json(b): Json<CosignBody>,
) -> ApiResult<Reply<Value>> {
    let note = Note::parse(&b.checkpoint).map_err(|_| bad_checkpoint("not a signed note"))?;
    let cp = Checkpoint::parse_text(&note.text).map_err(|_| bad_checkpoint("not a checkpoint"))?;
    let text = b.checkpoint;
    let written =
        s.db.write(move |c| {
            db::log_cosign(
                c,
                &user.user_id,
                cp.size,
                &text,
                LOG_COSIGNED_KEPT,
                |o, root| {
                    let m = stored_manifest(&o.manifest)?;
                    let origin = origin_for(m.vault_id());
                    if cp.origin != origin {
                        return Err(bad_checkpoint("the checkpoint is of another log"));
                    }
                    if *root != cp.root {
                        return Err(log_mismatch());
                    }
                    let key = m
                        .identity_of_epoch(m.epoch())
                        .ok_or_else(|| ApiError::internal("stored manifest", "no identity key"))?;
                    note.verify(&[(origin.as_str(), key)]).map_err(|_| {
                        ApiError::new(
                            StatusCode::BAD_REQUEST,
                            "bad_signature",
                            "the checkpoint is not signed by this vault's identity key",
                        )
                    })?;
                    Ok(())
                },
            )
        })
        .await?;
    match written {
        CosignWrite::Stored => Ok(Reply(json!({ "ok": true }))),
        CosignWrite::Beyond(_) => Err(log_mismatch()),
        CosignWrite::NoVault => Err(no_manifest()),
        CosignWrite::Refused(e) => Err(e),
    }
}

/// How much of a vault's log a server event may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tier {
    /// An access that serves something (records, a link's files) or a
    /// successful sign-in: up to the log's most entries. Such a request
    /// goes ahead only once its event is recorded.
    Served,
    /// An attempt that disclosed nothing (a failed sign-in, a fetch of an
    /// expired grant, a link request refused): up to 90% of the most
    /// entries, so that attempts of others never take the room left for
    /// the vault's own entries and for the events of [`Tier::Served`].
    Attempt,
}

/// Why a server event was not recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unrecorded {
    /// The log holds the most entries the event may take.
    Full,
    /// The event's budget for this hour is spent; seconds until the next.
    OverBudget(u64),
    /// The database or the signature failed (a log line says which).
    Failed,
}

impl Unrecorded {
    /// The answer to a request refused because its access event could not
    /// be recorded: 503 `log_full`, 429 `too_many_requests` (with
    /// `Retry-After`), or 500.
    pub(super) fn refusal(self) -> ApiError {
        match self {
            Unrecorded::Full => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "log_full",
                "the vault's log cannot record this access, so it is refused",
            ),
            Unrecorded::OverBudget(seconds) => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "too many accesses for the vault's log this hour; try again later",
            )
            .retry_after(seconds),
            Unrecorded::Failed => {
                ApiError::internal("vault log", "an access event could not be recorded")
            }
        }
    }
}

/// The kind of an event, for log lines (never its contents).
fn kind_of(event: &Event) -> &'static str {
    match event.author() {
        Author::Server => event.kind(),
        Author::Vault => "vault",
    }
}

/// The room of an event of `tier` spending `budget`, now.
pub(super) fn room(s: &AppState, tier: Tier, budget: Option<db::Budget>) -> EventRoom {
    let most = s.config.limits.log_max_entries;
    EventRoom {
        cap: match tier {
            Tier::Served => most,
            Tier::Attempt => most - most / 10,
        },
        budget,
        now: db::now(),
    }
}

/// Signs `event` with the server's log key and appends it to `owner`'s
/// vault log within `room`, in the caller's transaction `c`; `Ok(())` if
/// it is recorded or the vault has no log to record it in (before the
/// vault announced the key no device would believe it), else why not,
/// after a log line naming the event's kind and what failed (once an
/// hour for a budget spent). Only a database error is an `Err`.
pub(super) fn record_in(
    c: &Connection,
    key: &ServerLogKey,
    log: &dyn LogSink,
    owner: &str,
    event: &Event,
    room: &EventRoom,
) -> DbResult<Result<(), Unrecorded>> {
    let written = db::log_attest_in(c, owner, room, |o| {
        let vault_id = o.vault_id.as_deref().ok_or("no vault id")?;
        let t = u64::try_from(room.now).unwrap_or(0);
        key.entry(&origin_for(vault_id), o.size, t, event)
            .map_err(|e| e.code())
    })?;
    Ok(judged(log, kind_of(event), written))
}

/// What an attempt to record came to, with its log line.
fn judged(log: &dyn LogSink, kind: &str, written: Attested<&str>) -> Result<(), Unrecorded> {
    let (problem, why) = match written {
        Attested::Appended(_) | Attested::NoLog => return Ok(()),
        Attested::Full => ("the log is full".to_string(), Unrecorded::Full),
        Attested::OverBudget { first, retry_after } => {
            if first {
                log.line(&format!(
                    "vault log: a {kind} event was not recorded (its budget for this hour is spent; \
                     no more are recorded this hour)"
                ));
            }
            return Err(Unrecorded::OverBudget(retry_after));
        }
        Attested::Refused(why) => (why.to_string(), Unrecorded::Failed),
    };
    log.line(&format!(
        "vault log: a {kind} event was not recorded ({problem})"
    ));
    Err(why)
}

/// Appends an access event the server saw to `owner`'s vault log, signed
/// with the server's log key, in one transaction, within the room of
/// `tier` and `budget` (see [`record_in`]). A request that serves
/// something goes ahead only on `Ok`; one that disclosed nothing goes
/// ahead either way.
pub(super) async fn attest(
    s: &AppState,
    owner: &str,
    event: Event,
    tier: Tier,
    budget: Option<db::Budget>,
) -> Result<(), Unrecorded> {
    let key = Arc::clone(&s.log_key);
    let log = Arc::clone(&s.log);
    let room = room(s, tier, budget);
    let owner = owner.to_string();
    let kind = kind_of(&event);
    let written =
        s.db.write(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let done = record_in(&tx, &key, log.as_ref(), &owner, &event, &room)?;
            tx.commit()?;
            Ok(done)
        })
        .await;
    written.unwrap_or_else(|e| {
        s.log
            .line(&format!("vault log: a {kind} event was not recorded ({e})"));
        Err(Unrecorded::Failed)
    })
}

/// A text an access event carries from a request (a link's `recipient`):
/// control characters replaced, at most 256 bytes (what an entry's string
/// holds), cut at a character boundary.
pub(super) fn event_text(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let c = if c.is_control() { '\u{fffd}' } else { c };
        if out.len() + c.len_utf8() > medseal::log::entry::MAX_STR_LEN {
            break;
        }
        out.push(c);
    }
    out
}

/// Records a sign-in attempt in the user's vault log: `method` `passkey`
/// or `recovery`, whether it succeeded, and the network token of where it
/// came from. A success may take the whole log and must be recorded before
/// the session starts (`Err`: refuse the sign-in); a failure takes the
/// room of attempts and the vault's budget of failed sign-ins per hour,
/// past which it is not recorded (the sign-in fails either way).
pub(super) async fn attest_login(
    s: &AppState,
    user_id: &str,
    method: &str,
    ok: bool,
    from: String,
    via: Option<String>,
) -> Result<(), Unrecorded> {
    let event = Event::Login {
        method: method.to_string(),
        outcome: if ok { "ok" } else { "failed" }.to_string(),
        from,
        via: via.filter(|_| ok),
    };
    if ok {
        attest(s, user_id, event, Tier::Served, None).await
    } else {
        let budget = db::Budget {
            name: "login_failed".to_string(),
            per_hour: s.config.limits.log_failed_logins_per_hour,
        };
        attest(s, user_id, event, Tier::Attempt, Some(budget)).await
    }
}
