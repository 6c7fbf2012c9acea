//! SQLite storage: one file under the data folder. It holds per user the
//! passkeys (webauthn-rs `Passkey`, public data), the vault manifest (public,
//! signed) with every earlier revision it accepted, and sealed records
//! (ciphertext). Never a plaintext, a PRF output or a recovery code: the
//! server never receives them.
//!
//! SQLite calls block, so they never run on the async workers: [`Db::read`]
//! and [`Db::write`] move them to tokio's blocking pool. Reads get their own
//! read-only connections (WAL lets them run beside a write); writes go through
//! one connection, one at a time, which is what makes the manifest
//! compare-and-swap and the multi-statement changes exact. The queries are
//! plain functions of a `Connection`, so tests and tools can call them
//! directly with [`Db::read_blocking`] and [`Db::write_blocking`].

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};
use tokio::sync::Semaphore;

/// A result of one query.
pub type DbResult<T> = Result<T, rusqlite::Error>;

/// Why a database call failed.
#[derive(Debug)]
pub enum DbError {
    /// SQLite refused or failed.
    Sqlite(rusqlite::Error),
    /// The blocking task did not finish (it panicked, or the runtime is shutting down).
    Task(tokio::task::JoinError),
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // rusqlite's messages name the statement's failure (constraint, busy,
        // I/O), never a bound value, so they are safe to log.
        match self {
            DbError::Sqlite(e) => write!(f, "sqlite: {e}"),
            DbError::Task(e) => write!(f, "database task: {e}"),
        }
    }
}

impl std::error::Error for DbError {}

impl DbError {
    /// Whether a UNIQUE, PRIMARY KEY or FOREIGN KEY constraint refused the change.
    pub fn is_constraint(&self) -> bool {
        matches!(
            self,
            DbError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation
        )
    }
}

/// How long a connection waits for a lock (a WAL checkpoint, the writer)
/// before giving up with SQLITE_BUSY.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

struct Inner {
    path: PathBuf,
    writer: Mutex<Connection>,
    /// One write at a time, queued on the executor rather than as blocked
    /// threads of the blocking pool.
    write_turn: Semaphore,
    idle_readers: Mutex<Vec<Connection>>,
    read_slots: Semaphore,
    max_readers: usize,
}

/// The database: one writer connection and a small pool of readers.
#[derive(Clone)]
pub struct Db(Arc<Inner>);

/// A stored sealed record.
#[derive(Debug, Clone)]
pub struct RecordRow {
    /// The record id chosen by the client.
    pub id: String,
    /// The sealed record, text form.
    pub sealed: String,
    /// Seconds since the epoch.
    pub created: i64,
    /// Seconds since the epoch.
    pub updated: i64,
}

impl Db {
    /// Opens (creating if needed) `medseal.sqlite3` in `dir`, with up to
    /// `readers` concurrent read connections.
    pub fn open(dir: &Path, readers: usize) -> DbResult<Db> {
        std::fs::create_dir_all(dir)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        let path = dir.join("medseal.sqlite3");
        let mut conn = Connection::open(&path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA foreign_keys = ON;
             CREATE TABLE IF NOT EXISTS users (
               id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, created INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS passkeys (
               cred_id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
               passkey TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS manifests (
               user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
               revision INTEGER NOT NULL, manifest TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS records (
               user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, id TEXT NOT NULL,
               sealed TEXT NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL,
               PRIMARY KEY (user_id, id));
             CREATE INDEX IF NOT EXISTS records_by_created ON records (user_id, created, id);
             CREATE TABLE IF NOT EXISTS sessions (
               token TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
               expires INTEGER NOT NULL);
             CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id);
             CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires);",
        )?;
        start_manifest_history(&mut conn)?;
        let readers = readers.max(1);
        Ok(Db(Arc::new(Inner {
            path,
            writer: Mutex::new(conn),
            write_turn: Semaphore::new(1),
            idle_readers: Mutex::new(Vec::new()),
            read_slots: Semaphore::new(readers),
            max_readers: readers,
        })))
    }

    /// Runs `f` on a read-only connection, off the async workers.
    pub async fn read<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> DbResult<T> + Send + 'static,
    {
        // The slot only bounds how many readers run at once; it is never closed.
        let _slot = self.0.read_slots.acquire().await.ok();
        self.off_workers(move |inner| inner.with_reader(f)).await
    }

    /// Runs `f` on the writer connection, off the async workers, after every
    /// write queued before it.
    pub async fn write<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> DbResult<T> + Send + 'static,
    {
        let _turn = self.0.write_turn.acquire().await.ok();
        self.off_workers(move |inner| inner.with_writer(f)).await
    }

    /// Runs `f` on tokio's blocking pool.
    async fn off_workers<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> DbResult<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(DbError::Task)?
            .map_err(DbError::Sqlite)
    }

    /// [`Db::read`] on the calling thread: for set-up, tests and tools, never
    /// from an async handler.
    pub fn read_blocking<T>(&self, f: impl FnOnce(&Connection) -> DbResult<T>) -> DbResult<T> {
        self.0.with_reader(f)
    }

    /// [`Db::write`] on the calling thread: for set-up, tests and tools, never
    /// from an async handler.
    pub fn write_blocking<T>(&self, f: impl FnOnce(&mut Connection) -> DbResult<T>) -> DbResult<T> {
        self.0.with_writer(f)
    }
}

impl Inner {
    fn with_writer<T>(&self, f: impl FnOnce(&mut Connection) -> DbResult<T>) -> DbResult<T> {
        // A poisoned lock means a query panicked midway; SQLite rolled the
        // transaction back, so the connection is still consistent.
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn)
    }

    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> DbResult<T>) -> DbResult<T> {
        let idle = self
            .idle_readers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop();
        let conn = match idle {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                c.busy_timeout(BUSY_TIMEOUT)?;
                c
            }
        };
        let out = f(&conn);
        let mut idle = self.idle_readers.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.max_readers {
            idle.push(conn);
        }
        out
    }
}

/// Creates the manifest history if the database has none yet (it was made
/// before the history existed), starting it with the stored manifests: the
/// history of such a database begins at the revision it held then. One
/// transaction, so a crash leaves either no table or a table with them all.
fn start_manifest_history(c: &mut Connection) -> DbResult<()> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let exists = tx
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'manifest_history'",
            [],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if !exists {
        tx.execute_batch(
            "CREATE TABLE manifest_history (
               user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
               revision INTEGER NOT NULL, manifest TEXT NOT NULL,
               PRIMARY KEY (user_id, revision));
             INSERT INTO manifest_history (user_id, revision, manifest)
               SELECT user_id, revision, manifest FROM manifests;",
        )?;
    }
    tx.commit()
}

/// The user id of a username.
pub fn user_by_name(c: &Connection, username: &str) -> DbResult<Option<String>> {
    c.query_row(
        "SELECT id FROM users WHERE username = ?1",
        [username],
        |r| r.get(0),
    )
    .optional()
}

/// Creates the user with its first passkey and manifest, atomically.
pub fn create_user(
    c: &mut Connection,
    id: &str,
    username: &str,
    cred_id: &str,
    passkey: &str,
    manifest: &str,
    revision: i64,
) -> DbResult<()> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        "INSERT INTO users (id, username, created) VALUES (?1, ?2, ?3)",
        params![id, username, now()],
    )?;
    tx.execute(
        "INSERT INTO passkeys (cred_id, user_id, passkey) VALUES (?1, ?2, ?3)",
        params![cred_id, id, passkey],
    )?;
    tx.execute(
        "INSERT INTO manifests (user_id, revision, manifest) VALUES (?1, ?2, ?3)",
        params![id, revision, manifest],
    )?;
    add_history(&tx, id, revision, manifest)?;
    tx.commit()
}

/// A user's passkeys: (credential id, webauthn-rs `Passkey` JSON).
pub fn passkeys(c: &Connection, user_id: &str) -> DbResult<Vec<(String, String)>> {
    let mut st = c.prepare("SELECT cred_id, passkey FROM passkeys WHERE user_id = ?1")?;
    let rows = st.query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// Stores a passkey's updated counter and backup state.
pub fn update_passkey(c: &Connection, user_id: &str, cred_id: &str, passkey: &str) -> DbResult<()> {
    c.execute(
        "UPDATE passkeys SET passkey = ?3 WHERE user_id = ?1 AND cred_id = ?2",
        params![user_id, cred_id, passkey],
    )
    .map(|_| ())
}

/// What [`remove_passkey`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum PasskeyRemoval {
    /// Removed, and every other session of the user ended.
    Removed,
    /// The user has no such passkey.
    NotFound,
    /// It is the user's last passkey: kept.
    LastOne,
}

/// Removes a passkey unless it is the user's last, and ends every session of
/// the user but `keep_session`: a session opened with the removed passkey
/// (on a lost or stolen device) must not outlive it. One transaction, so two
/// concurrent removals cannot both pass the last-passkey check.
pub fn remove_passkey(
    c: &mut Connection,
    user_id: &str,
    cred_id: &str,
    keep_session: &str,
) -> DbResult<PasskeyRemoval> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let count: i64 = tx.query_row(
        "SELECT COUNT(*) FROM passkeys WHERE user_id = ?1",
        [user_id],
        |r| r.get(0),
    )?;
    let exists = tx
        .query_row(
            "SELECT 1 FROM passkeys WHERE user_id = ?1 AND cred_id = ?2",
            [user_id, cred_id],
            |_| Ok(()),
        )
        .optional()?
        .is_some();
    if !exists {
        return Ok(PasskeyRemoval::NotFound);
    }
    if count <= 1 {
        return Ok(PasskeyRemoval::LastOne);
    }
    tx.execute(
        "DELETE FROM passkeys WHERE user_id = ?1 AND cred_id = ?2",
        [user_id, cred_id],
    )?;
    tx.execute(
        "DELETE FROM sessions WHERE user_id = ?1 AND token != ?2",
        [user_id, keep_session],
    )?;
    tx.commit()?;
    Ok(PasskeyRemoval::Removed)
}

/// The stored manifest: (revision, JSON).
pub fn manifest(c: &Connection, user_id: &str) -> DbResult<Option<(i64, String)>> {
    c.query_row(
        "SELECT revision, manifest FROM manifests WHERE user_id = ?1",
        [user_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

/// A manifest to store in place of a user's current one.
#[derive(Debug)]
pub struct ManifestSwap<'a> {
    /// The user.
    pub user_id: &'a str,
    /// The revision it replaces: stored only if that is still the stored one.
    pub replaces: i64,
    /// Its revision, higher than `replaces`.
    pub revision: i64,
    /// Its JSON text.
    pub text: &'a str,
    /// Set when it takes a way into the vault away from the manifest it
    /// replaces (the caller compares the two).
    pub revoke: Option<Revocation<'a>>,
}

/// What goes with a manifest that takes a way into the vault away (a
/// passkey entry, the recovery entry, the identity key): whoever held it
/// may have signed in with it, on a device the user no longer has.
#[derive(Debug)]
pub struct Revocation<'a> {
    /// The credential ids (base64url, as `passkeys.cred_id`) the new
    /// manifest names: the user's other login passkeys are deleted, since a
    /// passkey that no longer unlocks the vault must not sign in either.
    pub named_credentials: &'a [String],
    /// The session that stores the manifest: every other session of the
    /// user ends (one of them may be the lost device's).
    pub keep_session: &'a str,
}

/// Replaces the manifest only if the stored one is still `replaces` and the
/// new one is newer, keeps it in the history and applies its revocation, in
/// one transaction: a stale write stores and ends nothing (returns false),
/// and a stored manifest that drops a passkey never leaves that passkey's
/// login credential or sessions behind.
pub fn replace_manifest(c: &mut Connection, m: &ManifestSwap<'_>) -> DbResult<bool> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !swap_manifest(&tx, m)? {
        return Ok(false);
    }
    revoke(&tx, m)?;
    tx.commit()?;
    Ok(true)
}

/// [`replace_manifest`] and the new passkey it names, in one transaction:
/// both are stored or neither (a manifest naming a passkey the server cannot
/// log in with, or a login passkey the vault cannot be unlocked with, is a
/// broken account). Returns false on a stale write, storing nothing.
pub fn replace_manifest_adding_passkey(
    c: &mut Connection,
    m: &ManifestSwap<'_>,
    cred_id: &str,
    passkey: &str,
) -> DbResult<bool> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !swap_manifest(&tx, m)? {
        return Ok(false);
    }
    tx.execute(
        "INSERT INTO passkeys (cred_id, user_id, passkey) VALUES (?1, ?2, ?3)",
        params![cred_id, m.user_id, passkey],
    )?;
    // After the insert: the new passkey is one the manifest names, so it stays.
    revoke(&tx, m)?;
    tx.commit()?;
    Ok(true)
}

/// The compare-and-swap and the history row, inside the caller's transaction.
fn swap_manifest(tx: &Connection, m: &ManifestSwap<'_>) -> DbResult<bool> {
    let n = tx.execute(
        "UPDATE manifests SET revision = ?3, manifest = ?4
         WHERE user_id = ?1 AND revision = ?2 AND ?3 > ?2",
        params![m.user_id, m.replaces, m.revision, m.text],
    )?;
    if n != 1 {
        return Ok(false);
    }
    add_history(tx, m.user_id, m.revision, m.text)?;
    Ok(true)
}

/// Keeps an accepted manifest in the history. Revisions only grow, so the
/// row is new; if one were there already, the write fails whole (500)
/// rather than leave a history that disagrees with what was served.
fn add_history(tx: &Connection, user_id: &str, revision: i64, text: &str) -> DbResult<()> {
    tx.execute(
        "INSERT INTO manifest_history (user_id, revision, manifest) VALUES (?1, ?2, ?3)",
        params![user_id, revision, text],
    )
    .map(|_| ())
}

/// A [`Revocation`], inside the caller's transaction.
fn revoke(tx: &Connection, m: &ManifestSwap<'_>) -> DbResult<()> {
    let Some(r) = &m.revoke else {
        return Ok(());
    };
    let creds: Vec<String> = {
        let mut st = tx.prepare("SELECT cred_id FROM passkeys WHERE user_id = ?1")?;
        let rows = st.query_map([m.user_id], |r| r.get(0))?;
        rows.collect::<DbResult<_>>()?
    };
    for cred in creds.iter().filter(|c| !r.named_credentials.contains(c)) {
        tx.execute(
            "DELETE FROM passkeys WHERE user_id = ?1 AND cred_id = ?2",
            [m.user_id, cred],
        )?;
    }
    tx.execute(
        "DELETE FROM sessions WHERE user_id = ?1 AND token != ?2",
        [m.user_id, r.keep_session],
    )?;
    Ok(())
}

/// The accepted revisions of a user's manifest after some revision.
#[derive(Debug, PartialEq, Eq)]
pub enum History {
    /// Their JSON texts, oldest first.
    Revisions(Vec<String>),
    /// More than the caller takes in one answer.
    TooLong,
}

/// The JSON texts of the user's manifest revisions after `since`, oldest
/// first, or [`History::TooLong`] past `max_entries` of them or `max_bytes`
/// of text (counted before any is read, then as they are).
pub fn manifest_history(
    c: &Connection,
    user_id: &str,
    since: i64,
    max_entries: usize,
    max_bytes: usize,
) -> DbResult<History> {
    let count: i64 = c.query_row(
        "SELECT COUNT(*) FROM manifest_history WHERE user_id = ?1 AND revision > ?2",
        params![user_id, since],
        |r| r.get(0),
    )?;
    if usize::try_from(count).map_or(true, |n| n > max_entries) {
        return Ok(History::TooLong);
    }
    let mut st = c.prepare(
        "SELECT manifest FROM manifest_history WHERE user_id = ?1 AND revision > ?2
         ORDER BY revision",
    )?;
    let mut rows = st.query(params![user_id, since])?;
    let mut out = Vec::new();
    let mut bytes = 0usize;
    while let Some(row) = rows.next()? {
        let text: String = row.get(0)?;
        bytes = bytes.saturating_add(text.len());
        if bytes > max_bytes {
            return Ok(History::TooLong);
        }
        out.push(text);
    }
    Ok(History::Revisions(out))
}

/// The stored manifest ([`manifest`]) and its history after `since`
/// ([`manifest_history`]), read in one transaction: the history ends with
/// the manifest served beside it, whatever is written meanwhile.
pub fn manifest_and_history(
    c: &Connection,
    user_id: &str,
    since: i64,
    max_entries: usize,
    max_bytes: usize,
) -> DbResult<Option<((i64, String), History)>> {
    let tx = c.unchecked_transaction()?;
    let Some(current) = manifest(&tx, user_id)? else {
        return Ok(None);
    };
    let history = manifest_history(&tx, user_id, since, max_entries, max_bytes)?;
    // Nothing was written: ending the read changes nothing.
    tx.commit()?;
    Ok(Some((current, history)))
}

/// Where a page of records starts: after the record with this (created, id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordCursor {
    /// The `created` of the last record of the previous page.
    pub created: i64,
    /// Its id.
    pub id: String,
}

/// Up to `limit` records of a user in (created, id) order, after `after`.
pub fn records_page(
    c: &Connection,
    user_id: &str,
    after: Option<&RecordCursor>,
    limit: u32,
) -> DbResult<Vec<RecordRow>> {
    let row = |r: &rusqlite::Row<'_>| {
        Ok(RecordRow {
            id: r.get(0)?,
            sealed: r.get(1)?,
            created: r.get(2)?,
            updated: r.get(3)?,
        })
    };
    match after {
        None => {
            let mut st = c.prepare_cached(
                "SELECT id, sealed, created, updated FROM records WHERE user_id = ?1
                 ORDER BY created, id LIMIT ?2",
            )?;
            let rows = st.query_map(params![user_id, limit], row)?;
            rows.collect()
        }
        Some(a) => {
            let mut st = c.prepare_cached(
                "SELECT id, sealed, created, updated FROM records
                 WHERE user_id = ?1 AND (created, id) > (?2, ?3)
                 ORDER BY created, id LIMIT ?4",
            )?;
            let rows = st.query_map(params![user_id, a.created, a.id, limit], row)?;
            rows.collect()
        }
    }
}

/// One record of a user.
pub fn record(c: &Connection, user_id: &str, id: &str) -> DbResult<Option<RecordRow>> {
    c.query_row(
        "SELECT id, sealed, created, updated FROM records WHERE user_id = ?1 AND id = ?2",
        [user_id, id],
        |r| {
            Ok(RecordRow {
                id: r.get(0)?,
                sealed: r.get(1)?,
                created: r.get(2)?,
                updated: r.get(3)?,
            })
        },
    )
    .optional()
}

/// Creates or replaces a record.
pub fn put_record(c: &Connection, user_id: &str, id: &str, sealed: &str) -> DbResult<()> {
    let t = now();
    c.prepare_cached(
        "INSERT INTO records (user_id, id, sealed, created, updated) VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (user_id, id) DO UPDATE SET sealed = excluded.sealed, updated = excluded.updated",
    )?
    .execute(params![user_id, id, sealed, t])
    .map(|_| ())
}

/// Deletes a record; returns how many rows went (0 or 1).
pub fn delete_record(c: &Connection, user_id: &str, id: &str) -> DbResult<usize> {
    c.execute(
        "DELETE FROM records WHERE user_id = ?1 AND id = ?2",
        [user_id, id],
    )
}

/// Stores a session that expires `ttl_secs` from now.
pub fn new_session(c: &Connection, token: &str, user_id: &str, ttl_secs: i64) -> DbResult<()> {
    c.execute(
        "INSERT INTO sessions (token, user_id, expires) VALUES (?1, ?2, ?3)",
        params![token, user_id, now().saturating_add(ttl_secs)],
    )
    .map(|_| ())
}

/// Ends every session of the user and starts a new one, atomically: after a
/// recovery, whoever held the lost device is signed out.
pub fn new_session_ending_others(
    c: &mut Connection,
    token: &str,
    user_id: &str,
    ttl_secs: i64,
) -> DbResult<()> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute("DELETE FROM sessions WHERE user_id = ?1", [user_id])?;
    new_session(&tx, token, user_id, ttl_secs)?;
    tx.commit()
}

/// The user of a live session.
pub fn session_user(c: &Connection, token: &str) -> DbResult<Option<String>> {
    c.prepare_cached("SELECT user_id FROM sessions WHERE token = ?1 AND expires > ?2")?
        .query_row(params![token, now()], |r| r.get(0))
        .optional()
}

/// Ends one session.
pub fn end_session(c: &Connection, token: &str) -> DbResult<()> {
    c.execute("DELETE FROM sessions WHERE token = ?1", [token])
        .map(|_| ())
}

/// Deletes expired sessions; returns how many.
pub fn purge_expired_sessions(c: &Connection) -> DbResult<usize> {
    c.execute("DELETE FROM sessions WHERE expires <= ?1", [now()])
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
