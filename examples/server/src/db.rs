//! SQLite storage: one file under the data folder. It holds per user the
//! passkeys (webauthn-rs `Passkey`, public data), the vault manifest (public,
//! signed) with every earlier revision it accepted, sealed records
//! (ciphertext), the grants users made to each other with their slots
//! (signed documents and wrapped data keys: public to the server), and the
//! SMART Health Links they made: each link's files (JWE, encrypted to a key
//! only the link holds), its passcode's salted hash, what is left of its
//! wrong-passcode allowance, and a row per manifest request; the link
//! ids of the links deleted since (`retired_links`, with whose they were),
//! which are never stored again; each vault's log (its signed entries, the
//! complete-subtree hashes of their Merkle tree, the checkpoints its
//! devices cosigned); each user's attachments (`attachments`: id, size and
//! times; the sealed files are files under the data folder, see
//! `crate::attachments`, never rows); and the server's own secrets
//! (`server_secrets`: the vault-log signing key, the network tokens' HMAC
//! key). Never a
//! plaintext, a PRF output, a data key, a link key or a recovery code: the
//! server never receives them.
//!
//! A deleted account ([`delete_account`]) leaves one row: its vault's
//! tombstone (`tombstones`: the vault id and the server's signed note, no
//! personal data). Every connection runs with `secure_delete` on, so what
//! is deleted is overwritten with zeros in the file rather than left in its
//! free pages.
//!
//! Two ids are one owner's for good. A link id is never reused: every
//! deletion of a `links` row (revocation by manifest, a user's deletion
//! cascading, any other) keeps its id in `retired_links`, by a trigger in
//! the deleting statement's own transaction, and [`insert_link`] refuses a
//! stored or retired id, so no one who holds a revoked link can register its
//! id again and serve other files through its QR code. A vault id belongs
//! to one account: [`create_user`] and the manifest swaps refuse a manifest
//! whose vault id another user's stored manifest has, in the write's own
//! transaction, and `manifests.vault_id` is a UNIQUE index (except in a
//! database that already held duplicates when it was opened: see
//! `add_vault_ids`).
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
             PRAGMA secure_delete = ON;
             CREATE TABLE IF NOT EXISTS users (
               id TEXT PRIMARY KEY, username TEXT NOT NULL UNIQUE, created INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS passkeys (
               cred_id TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
               passkey TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS manifests (
               user_id TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
               revision INTEGER NOT NULL, manifest TEXT NOT NULL, vault_id TEXT);
             CREATE TABLE IF NOT EXISTS records (
               user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, id TEXT NOT NULL,
               sealed TEXT NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL,
               PRIMARY KEY (user_id, id));
             CREATE INDEX IF NOT EXISTS records_by_created ON records (user_id, created, id);
             CREATE TABLE IF NOT EXISTS sessions (
               token TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
               expires INTEGER NOT NULL);
             CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id);
             CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires);
             CREATE TABLE IF NOT EXISTS grants (
               id TEXT PRIMARY KEY,
               grantor TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
               grantee TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
               grant_json TEXT NOT NULL, digest TEXT NOT NULL,
               created INTEGER NOT NULL, expires INTEGER NOT NULL);
             CREATE INDEX IF NOT EXISTS grants_by_grantor ON grants (grantor, created);
             CREATE INDEX IF NOT EXISTS grants_by_grantee ON grants (grantee, created);
             CREATE TABLE IF NOT EXISTS grant_slots (
               grant_id TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
               record_id TEXT NOT NULL, slot TEXT NOT NULL,
               PRIMARY KEY (grant_id, record_id));
             CREATE TABLE IF NOT EXISTS links (
               link_id TEXT PRIMARY KEY, share_id TEXT NOT NULL,
               owner TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
               label TEXT, flag TEXT NOT NULL, expires INTEGER NOT NULL,
               passcode_salt BLOB, passcode_hash BLOB,
               attempts_left INTEGER NOT NULL DEFAULT 10, created INTEGER NOT NULL);
             CREATE INDEX IF NOT EXISTS links_by_owner ON links (owner, created);
             CREATE TABLE IF NOT EXISTS link_files (
               link_id TEXT NOT NULL REFERENCES links(link_id) ON DELETE CASCADE,
               n INTEGER NOT NULL, content_type TEXT NOT NULL, jwe TEXT NOT NULL,
               PRIMARY KEY (link_id, n));
             CREATE TABLE IF NOT EXISTS link_access (
               link_id TEXT NOT NULL REFERENCES links(link_id) ON DELETE CASCADE,
               at INTEGER NOT NULL, recipient TEXT NOT NULL, ok INTEGER NOT NULL);
             CREATE INDEX IF NOT EXISTS link_access_by_link ON link_access (link_id, ok);
             CREATE TABLE IF NOT EXISTS link_file_tokens (
               token TEXT PRIMARY KEY,
               link_id TEXT NOT NULL REFERENCES links(link_id) ON DELETE CASCADE,
               n INTEGER NOT NULL, expires INTEGER NOT NULL);
             CREATE INDEX IF NOT EXISTS link_file_tokens_by_expiry ON link_file_tokens (expires);
             CREATE TABLE IF NOT EXISTS retired_links (
               link_id TEXT PRIMARY KEY, retired INTEGER NOT NULL, owner TEXT, share_id TEXT);
             CREATE TABLE IF NOT EXISTS server_secrets (
               name TEXT PRIMARY KEY, secret BLOB NOT NULL, created INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS log_leaves (
               user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
               n INTEGER NOT NULL, leaf BLOB NOT NULL,
               PRIMARY KEY (user_id, n));
             CREATE TABLE IF NOT EXISTS log_hashes (
               user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
               level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
               PRIMARY KEY (user_id, level, idx)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS log_cosigned (
               user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
               size INTEGER NOT NULL, note TEXT NOT NULL, created INTEGER NOT NULL,
               PRIMARY KEY (user_id, size, note));
             CREATE TABLE IF NOT EXISTS log_budgets (
               user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
               budget TEXT NOT NULL, hour INTEGER NOT NULL, used INTEGER NOT NULL,
               PRIMARY KEY (user_id, budget)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS attachments (
               user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE, id TEXT NOT NULL,
               size INTEGER NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL,
               PRIMARY KEY (user_id, id)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS tombstones (
               vault_id TEXT PRIMARY KEY, note TEXT NOT NULL, created INTEGER NOT NULL);",
        )?;
        start_manifest_history(&mut conn)?;
        add_vault_ids(&mut conn)?;
        retire_links_with_owner(&mut conn)?;
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
                // As on the writer: see `Db::open` and [`delete_account`].
                c.pragma_update(None, "secure_delete", true)?;
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

/// Keeps, with the id of every link deleted (`retired_links`), whose it
/// was and its share id: a request for a revoked link is then still an
/// access its owner's vault log records (outcome `revoked`). Adds the two
/// columns to a database made before them (its rows keep none) and
/// (re)creates the trigger that fills the table, in one transaction.
fn retire_links_with_owner(c: &mut Connection) -> DbResult<()> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for column in ["owner", "share_id"] {
        let has = tx
            .prepare("SELECT 1 FROM pragma_table_info('retired_links') WHERE name = ?1")?
            .exists([column])?;
        if !has {
            tx.execute_batch(&format!(
                "ALTER TABLE retired_links ADD COLUMN {column} TEXT"
            ))?;
        }
    }
    tx.execute_batch(
        "DROP TRIGGER IF EXISTS links_retire;
         CREATE TRIGGER links_retire AFTER DELETE ON links BEGIN
           INSERT OR IGNORE INTO retired_links (link_id, retired, owner, share_id)
             VALUES (old.link_id, CAST(strftime('%s', 'now') AS INTEGER), old.owner, old.share_id);
         END;",
    )?;
    tx.commit()
}

/// What the server reads from a manifest it stores: the vault id and the
/// grants (and links) it lists, base64url as the `manifests.vault_id` and
/// `grants` columns hold them. Derived here, from the text being stored, so
/// every path that stores a manifest keeps them in step with it.
struct ManifestFacts {
    vault_id: Option<String>,
    /// (id, digest) of every share entry.
    shares: Vec<(String, String)>,
    /// (id, digest) of the share entries of kind link.
    links: Vec<(String, String)>,
}

impl ManifestFacts {
    /// A manifest that does not parse (the server stores none) has no vault
    /// id and lists no grant.
    fn of(text: &str) -> ManifestFacts {
        match medseal::Manifest::from_json(text) {
            Ok(m) => ManifestFacts {
                vault_id: Some(medseal::base64url(m.vault_id())),
                shares: m
                    .shares()
                    .map(|s| (medseal::base64url(s.id), medseal::base64url(s.digest)))
                    .collect(),
                links: m
                    .shares()
                    .filter(|s| s.link)
                    .map(|s| (medseal::base64url(s.id), medseal::base64url(s.digest)))
                    .collect(),
            },
            Err(_) => ManifestFacts {
                vault_id: None,
                shares: Vec::new(),
                links: Vec::new(),
            },
        }
    }
}

/// Adds `manifests.vault_id` to a database made before it existed and fills
/// it from the stored manifests (a vault's id never changes between
/// revisions), then indexes it: grants name their grantee by vault id.
///
/// The index, `manifests_by_vault`, is UNIQUE: one account per vault. A
/// database made before that rule may hold two accounts of one vault; there
/// the index stays non-unique rather than fail start-up (nothing is
/// deleted: which account is the vault's is the people's to say), the
/// writes' own check ([`vault_taken`]) keeps any new duplicate out, and a
/// grant to such a vault is refused as ambiguous. Each open checks again
/// and makes the index UNIQUE once the duplicates are gone.
fn add_vault_ids(c: &mut Connection) -> DbResult<()> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let has_column = tx
        .prepare("SELECT 1 FROM pragma_table_info('manifests') WHERE name = 'vault_id'")?
        .exists([])?;
    if !has_column {
        tx.execute_batch("ALTER TABLE manifests ADD COLUMN vault_id TEXT")?;
    }
    let missing: Vec<(String, String)> = {
        let mut st =
            tx.prepare("SELECT user_id, manifest FROM manifests WHERE vault_id IS NULL")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<DbResult<_>>()?
    };
    for (user_id, text) in missing {
        if let Some(v) = ManifestFacts::of(&text).vault_id {
            tx.execute(
                "UPDATE manifests SET vault_id = ?2 WHERE user_id = ?1",
                [&user_id, &v],
            )?;
        }
    }
    index_vault_ids(&tx)?;
    tx.commit()
}

/// Makes `manifests_by_vault` UNIQUE unless two stored manifests share a
/// vault id (then a plain index), inside the caller's transaction.
fn index_vault_ids(tx: &Connection) -> DbResult<()> {
    if vault_index_is_unique(tx)? {
        return Ok(());
    }
    let duplicates = tx
        .prepare(
            "SELECT 1 FROM manifests WHERE vault_id IS NOT NULL
             GROUP BY vault_id HAVING COUNT(*) > 1 LIMIT 1",
        )?
        .exists([])?;
    if duplicates {
        tx.execute_batch("CREATE INDEX IF NOT EXISTS manifests_by_vault ON manifests (vault_id)")
    } else {
        tx.execute_batch(
            "DROP INDEX IF EXISTS manifests_by_vault;
             CREATE UNIQUE INDEX manifests_by_vault ON manifests (vault_id);",
        )
    }
}

/// Whether `manifests_by_vault` is a UNIQUE index: false only in a database
/// that held two accounts of one vault when it was last opened.
pub fn vault_index_is_unique(c: &Connection) -> DbResult<bool> {
    Ok(c.query_row(
        "SELECT \"unique\" FROM pragma_index_list('manifests') WHERE name = 'manifests_by_vault'",
        [],
        |r| r.get::<_, bool>(0),
    )
    .optional()?
    .unwrap_or(false))
}

/// Whether storing a manifest of the vault `vault_id` (base64url) for
/// `user_id` would claim another account's vault: a user other than
/// `user_id` has a stored manifest of it, and `user_id`'s own stored
/// manifest is not of it. A user keeps the vault it holds (the core's
/// successor rule keeps a vault's id), also in a database from before the
/// rule where another account holds it too: refusing that would stop both
/// from ever storing a manifest, revocations included. A manifest with no
/// vault id (one that does not parse) claims none.
fn vault_taken(tx: &Connection, vault_id: Option<&str>, user_id: &str) -> DbResult<bool> {
    let Some(v) = vault_id else {
        return Ok(false);
    };
    tx.prepare_cached(
        "SELECT 1 FROM manifests WHERE vault_id = ?1 AND user_id != ?2
           AND NOT EXISTS (SELECT 1 FROM manifests WHERE user_id = ?2 AND vault_id = ?1)",
    )?
    .exists([v, user_id])
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

/// What [`create_user`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum UserWrite {
    /// Stored.
    Created,
    /// Another user's stored manifest is of the manifest's vault: nothing
    /// stored (a vault id belongs to one account).
    VaultExists,
}

/// Creates the user with its first passkey and manifest, atomically, unless
/// another user's stored manifest has the manifest's vault id (checked in
/// the same transaction, so two sign-ups with one vault cannot both pass).
/// A taken username or credential id is a constraint error, as before.
pub fn create_user(
    c: &mut Connection,
    id: &str,
    username: &str,
    cred_id: &str,
    passkey: &str,
    manifest: &str,
    revision: i64,
) -> DbResult<UserWrite> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let vault_id = ManifestFacts::of(manifest).vault_id;
    if vault_taken(&tx, vault_id.as_deref(), id)? {
        return Ok(UserWrite::VaultExists);
    }
    tx.execute(
        "INSERT INTO users (id, username, created) VALUES (?1, ?2, ?3)",
        params![id, username, now()],
    )?;
    tx.execute(
        "INSERT INTO passkeys (cred_id, user_id, passkey) VALUES (?1, ?2, ?3)",
        params![cred_id, id, passkey],
    )?;
    tx.execute(
        "INSERT INTO manifests (user_id, revision, manifest, vault_id) VALUES (?1, ?2, ?3, ?4)",
        params![id, revision, manifest, vault_id],
    )?;
    add_history(&tx, id, revision, manifest)?;
    tx.commit()?;
    Ok(UserWrite::Created)
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

/// What [`replace_manifest`] and [`replace_manifest_adding_passkey`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Swap {
    /// Stored.
    Stored,
    /// The stored manifest is not `replaces`, or the new one is not newer:
    /// nothing stored.
    Stale,
    /// Another user's stored manifest is of the new manifest's vault:
    /// nothing stored (a vault id belongs to one account).
    VaultExists,
}

/// Replaces the manifest only if the stored one is still `replaces`, the
/// new one is newer and no other user's manifest is of its vault, keeps it
/// in the history and applies its revocation, in one transaction: a
/// refused write stores and ends nothing, and a stored manifest that drops
/// a passkey never leaves that passkey's login credential or sessions
/// behind.
pub fn replace_manifest(c: &mut Connection, m: &ManifestSwap<'_>) -> DbResult<Swap> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let swap = swap_manifest(&tx, m)?;
    if swap != Swap::Stored {
        return Ok(swap);
    }
    revoke(&tx, m)?;
    tx.commit()?;
    Ok(Swap::Stored)
}

/// [`replace_manifest`] and the new passkey it names, in one transaction:
/// both are stored or neither (a manifest naming a passkey the server cannot
/// log in with, or a login passkey the vault cannot be unlocked with, is a
/// broken account). A refused write ([`Swap::Stale`],
/// [`Swap::VaultExists`]) stores nothing.
pub fn replace_manifest_adding_passkey(
    c: &mut Connection,
    m: &ManifestSwap<'_>,
    cred_id: &str,
    passkey: &str,
) -> DbResult<Swap> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let swap = swap_manifest(&tx, m)?;
    if swap != Swap::Stored {
        return Ok(swap);
    }
    tx.execute(
        "INSERT INTO passkeys (cred_id, user_id, passkey) VALUES (?1, ?2, ?3)",
        params![cred_id, m.user_id, passkey],
    )?;
    // After the insert: the new passkey is one the manifest names, so it stays.
    revoke(&tx, m)?;
    tx.commit()?;
    Ok(Swap::Stored)
}

/// The vault check, the compare-and-swap, the history row and the
/// revocation of the grants and links the new manifest no longer lists,
/// inside the caller's transaction (which the caller drops, unwritten,
/// unless this answers [`Swap::Stored`]).
fn swap_manifest(tx: &Connection, m: &ManifestSwap<'_>) -> DbResult<Swap> {
    let facts = ManifestFacts::of(m.text);
    if vault_taken(tx, facts.vault_id.as_deref(), m.user_id)? {
        return Ok(Swap::VaultExists);
    }
    let n = tx.execute(
        "UPDATE manifests SET revision = ?3, manifest = ?4, vault_id = ?5
         WHERE user_id = ?1 AND revision = ?2 AND ?3 > ?2",
        params![m.user_id, m.replaces, m.revision, m.text, facts.vault_id],
    )?;
    if n != 1 {
        return Ok(Swap::Stale);
    }
    add_history(tx, m.user_id, m.revision, m.text)?;
    revoke_unlisted_grants(tx, m.user_id, &facts.shares)?;
    revoke_unlisted_links(tx, m.user_id, &facts.links)?;
    Ok(Swap::Stored)
}

/// Revocation follows the signed manifest: deletes the user's grants (and
/// their slots) that `listed` (the (id, digest) pairs of the manifest being
/// stored) does not name with the same digest.
fn revoke_unlisted_grants(
    tx: &Connection,
    user_id: &str,
    listed: &[(String, String)],
) -> DbResult<()> {
    let stored: Vec<(String, String)> = {
        let mut st = tx.prepare_cached("SELECT id, digest FROM grants WHERE grantor = ?1")?;
        let rows = st.query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<DbResult<_>>()?
    };
    for (id, digest) in stored {
        if !listed.iter().any(|(i, d)| *i == id && *d == digest) {
            delete_grant_rows(tx, &id)?;
        }
    }
    Ok(())
}

/// Revocation follows the signed manifest for links too: deletes the user's
/// links (with their files, access rows and file tokens) that `listed` (the
/// (id, digest) pairs of the manifest's link entries) does not name with
/// the digest recomputed from the stored row
/// ([`medseal::link::link_digest`] of its link id, expiry, flag and label).
fn revoke_unlisted_links(
    tx: &Connection,
    user_id: &str,
    listed: &[(String, String)],
) -> DbResult<()> {
    let stored: Vec<LinkRow> = {
        let mut st = tx.prepare_cached(&format!(
            "SELECT {LINK_COLUMNS} FROM links l WHERE l.owner = ?1"
        ))?;
        let rows = st.query_map([user_id], link_row)?;
        rows.collect::<DbResult<_>>()?
    };
    for l in stored {
        let digest = medseal::base64url(&l.digest());
        if !listed.iter().any(|(i, d)| *i == l.share_id && *d == digest) {
            delete_link_rows(tx, &l.link_id)?;
        }
    }
    Ok(())
}

/// Deletes a link with its files, access rows and file tokens (children
/// first, as for grants). The `links_retire` trigger keeps its link id in
/// `retired_links`, in this transaction.
fn delete_link_rows(tx: &Connection, link_id: &str) -> DbResult<usize> {
    tx.execute("DELETE FROM link_file_tokens WHERE link_id = ?1", [link_id])?;
    tx.execute("DELETE FROM link_access WHERE link_id = ?1", [link_id])?;
    tx.execute("DELETE FROM link_files WHERE link_id = ?1", [link_id])?;
    tx.execute("DELETE FROM links WHERE link_id = ?1", [link_id])
}

/// Deletes a grant and its slots (the slots first: the cascade needs
/// foreign keys on, which is a per-connection setting).
fn delete_grant_rows(tx: &Connection, id: &str) -> DbResult<usize> {
    tx.execute("DELETE FROM grant_slots WHERE grant_id = ?1", [id])?;
    tx.execute("DELETE FROM grants WHERE id = ?1", [id])
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

/// Deletes a record and the slots of the user's grants for it (a record
/// written later under the same id has another data key); returns how many
/// records went (0 or 1).
pub fn delete_record(c: &Connection, user_id: &str, id: &str) -> DbResult<usize> {
    let tx = c.unchecked_transaction()?;
    let n = tx.execute(
        "DELETE FROM records WHERE user_id = ?1 AND id = ?2",
        [user_id, id],
    )?;
    tx.execute(
        "DELETE FROM grant_slots
         WHERE grant_id IN (SELECT id FROM grants WHERE grantor = ?1) AND record_id = ?2",
        [user_id, id],
    )?;
    tx.commit()?;
    Ok(n)
}

/// An attachment's row. The sealed file itself is on disk
/// (`crate::attachments`): the table holds no byte of it, only what the
/// listing and the quota need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRow {
    /// The attachment id chosen by the client.
    pub id: String,
    /// The sealed file's size in bytes.
    pub size: u64,
    /// When it was first stored, seconds since the epoch.
    pub created: i64,
    /// When it was last written (replaced, or its head re-wrapped).
    pub updated: i64,
}

fn attachment_row(r: &rusqlite::Row<'_>) -> DbResult<AttachmentRow> {
    Ok(AttachmentRow {
        id: r.get(0)?,
        size: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
        created: r.get(2)?,
        updated: r.get(3)?,
    })
}

/// What a user's attachments take, seen from an upload of `id`: the bytes
/// and the number of the others (the upload replaces `id`), and `id`'s row.
#[derive(Debug, Clone)]
pub struct AttachmentRoom {
    /// Bytes of the user's attachments other than `id`.
    pub others_bytes: u64,
    /// How many attachments other than `id` the user has.
    pub others_count: u64,
    /// `id`'s row, if it is stored.
    pub current: Option<AttachmentRow>,
}

/// See [`AttachmentRoom`].
pub fn attachment_room(c: &Connection, user_id: &str, id: &str) -> DbResult<AttachmentRoom> {
    let (bytes, count): (i64, i64) = c
        .prepare_cached(
            "SELECT COALESCE(SUM(size), 0), COUNT(*) FROM attachments
             WHERE user_id = ?1 AND id <> ?2",
        )?
        .query_row([user_id, id], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(AttachmentRoom {
        others_bytes: u64::try_from(bytes).unwrap_or(0),
        others_count: u64::try_from(count).unwrap_or(0),
        current: attachment(c, user_id, id)?,
    })
}

/// The user's attachment `id`, if stored.
pub fn attachment(c: &Connection, user_id: &str, id: &str) -> DbResult<Option<AttachmentRow>> {
    c.prepare_cached(
        "SELECT id, size, created, updated FROM attachments WHERE user_id = ?1 AND id = ?2",
    )?
    .query_row([user_id, id], attachment_row)
    .optional()
}

/// The user's attachments, oldest first (at most `limit`).
pub fn attachments(c: &Connection, user_id: &str, limit: u64) -> DbResult<Vec<AttachmentRow>> {
    let mut st = c.prepare_cached(
        "SELECT id, size, created, updated FROM attachments WHERE user_id = ?1
         ORDER BY created, id LIMIT ?2",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = st.query_map(params![user_id, limit], attachment_row)?;
    rows.collect()
}

/// What [`put_attachment`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachmentPut {
    /// Stored: the row as it is now, and whether it replaced one.
    Stored {
        /// The row.
        row: AttachmentRow,
        /// Whether an attachment of that id was replaced.
        replaced: bool,
    },
    /// The user's other attachments and this one would pass the quota: nothing changed.
    OverQuota,
    /// A new attachment past the most one user holds: nothing changed.
    TooMany,
}

/// Records the user's attachment `id` of `size` bytes, and in the same
/// transaction runs `place`, which moves the file into place: the row is
/// committed only if `place` succeeded (its error is returned, nothing
/// changed), and `place` runs only if the quota (`quota` bytes over all the
/// user's attachments, `max_count` of them) holds with this one. Runs on
/// the writer connection, so two uploads of one account, or of one id,
/// are checked and placed one after the other: the file on disk and the row
/// are the same upload's.
pub fn put_attachment<E>(
    c: &mut Connection,
    user_id: &str,
    id: &str,
    size: u64,
    (quota, max_count): (u64, u64),
    place: impl FnOnce() -> Result<(), E>,
) -> DbResult<Result<AttachmentPut, E>> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let room = attachment_room(&tx, user_id, id)?;
    if room.others_bytes.saturating_add(size) > quota {
        return Ok(Ok(AttachmentPut::OverQuota));
    }
    if room.current.is_none() && room.others_count >= max_count {
        return Ok(Ok(AttachmentPut::TooMany));
    }
    let size = i64::try_from(size).unwrap_or(i64::MAX);
    let row = tx
        .prepare_cached(
            "INSERT INTO attachments (user_id, id, size, created, updated)
             VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT (user_id, id) DO UPDATE SET size = excluded.size, updated = excluded.updated
             RETURNING id, size, created, updated",
        )?
        .query_row(params![user_id, id, size, now()], attachment_row)?;
    if let Err(e) = place() {
        return Ok(Err(e));
    }
    tx.commit()?;
    Ok(Ok(AttachmentPut::Stored {
        row,
        replaced: room.current.is_some(),
    }))
}

/// Marks the user's attachment `id` rewritten (its head re-wrapped) and, in
/// the same transaction, runs `place`, which moves the new file into
/// place: `Ok(None)` (and `place` not run) if there is no such attachment,
/// the row committed only if `place` succeeded.
pub fn touch_attachment<E>(
    c: &mut Connection,
    user_id: &str,
    id: &str,
    place: impl FnOnce() -> Result<(), E>,
) -> DbResult<Result<Option<AttachmentRow>, E>> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let row = tx
        .prepare_cached(
            "UPDATE attachments SET updated = ?3 WHERE user_id = ?1 AND id = ?2
             RETURNING id, size, created, updated",
        )?
        .query_row(params![user_id, id, now()], attachment_row)
        .optional()?;
    let Some(row) = row else {
        return Ok(Ok(None));
    };
    if let Err(e) = place() {
        return Ok(Err(e));
    }
    tx.commit()?;
    Ok(Ok(Some(row)))
}

/// Deletes the user's attachment `id`'s row and, in the same transaction,
/// runs `remove` (which deletes the file): `Ok(false)` if there was no such
/// row (`remove` not run), the deletion committed only if `remove` succeeded.
pub fn delete_attachment<E>(
    c: &mut Connection,
    user_id: &str,
    id: &str,
    remove: impl FnOnce() -> Result<(), E>,
) -> DbResult<Result<bool, E>> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let n = tx.execute(
        "DELETE FROM attachments WHERE user_id = ?1 AND id = ?2",
        [user_id, id],
    )?;
    if n == 0 {
        return Ok(Ok(false));
    }
    if let Err(e) = remove() {
        return Ok(Err(e));
    }
    tx.commit()?;
    Ok(Ok(true))
}

/// Every user id and the ids of their attachments: what the start-up sweep
/// (`crate::attachments::sweep`) keeps on disk.
pub fn attachment_ids(c: &Connection) -> DbResult<Vec<(String, String)>> {
    let mut st = c.prepare("SELECT user_id, id FROM attachments")?;
    let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

/// The start-up sweep's fixes (`crate::attachments::sweep`), in one
/// transaction: each row of `sizes` gets its file's size, each row of
/// `missing` (whose file is gone) is deleted. Returns how many of each
/// changed.
pub fn reconcile_attachments(
    c: &mut Connection,
    sizes: &[(String, String, u64)],
    missing: &[(String, String)],
) -> DbResult<(usize, usize)> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut fixed = 0;
    for (user, id, size) in sizes {
        let size = i64::try_from(*size).unwrap_or(i64::MAX);
        fixed += tx.execute(
            "UPDATE attachments SET size = ?3 WHERE user_id = ?1 AND id = ?2 AND size <> ?3",
            params![user, id, size],
        )?;
    }
    let mut dropped = 0;
    for (user, id) in missing {
        dropped += tx.execute(
            "DELETE FROM attachments WHERE user_id = ?1 AND id = ?2",
            [user, id],
        )?;
    }
    tx.commit()?;
    Ok((fixed, dropped))
}

/// The users whose stored manifest is of the vault `vault_id` (base64url),
/// at most `limit` of them. One at most, since a vault id belongs to one
/// account; a database made before that rule may still hold two (see
/// `add_vault_ids`): the caller decides what that means.
pub fn users_of_vault(c: &Connection, vault_id: &str, limit: u32) -> DbResult<Vec<String>> {
    let mut st = c.prepare_cached("SELECT user_id FROM manifests WHERE vault_id = ?1 LIMIT ?2")?;
    let rows = st.query_map(params![vault_id, limit], |r| r.get(0))?;
    rows.collect()
}

/// The username of a user id.
pub fn username(c: &Connection, user_id: &str) -> DbResult<Option<String>> {
    c.query_row("SELECT username FROM users WHERE id = ?1", [user_id], |r| {
        r.get(0)
    })
    .optional()
}

/// A grant as stored.
#[derive(Debug, Clone)]
pub struct GrantRow {
    /// Its id, base64url.
    pub id: String,
    /// The grantor's user id.
    pub grantor: String,
    /// The grantee's user id.
    pub grantee: String,
    /// The signed grant, JSON text.
    pub grant: String,
    /// Its digest, base64url (what the grantor's manifest lists).
    pub digest: String,
    /// When the server stored it, seconds since the epoch.
    pub created: i64,
    /// When it ends (the grant's own `expires`), seconds since the epoch.
    pub expires: i64,
}

/// One slot: a record id and the slot (base64url).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotRow {
    /// The grantor's record id.
    pub record_id: String,
    /// The record's data key wrapped for the grant, base64url.
    pub slot: String,
}

/// What [`insert_grant`] and [`put_slots`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum GrantWrite {
    /// Stored; the grant now has this many slots.
    Stored(i64),
    /// The grantor's manifest is no longer the revision the grant was
    /// checked against: nothing stored.
    ManifestChanged,
    /// [`insert_grant`]: a grant with this id is stored already.
    Exists,
    /// [`put_slots`]: the grantor has no grant with this id.
    NoSuchGrant,
    /// A slot names a record the grantor does not have.
    NoSuchRecord,
}

/// Whether the user's stored manifest is still revision `revision`.
fn manifest_is(tx: &Connection, user_id: &str, revision: i64) -> DbResult<bool> {
    Ok(manifest(tx, user_id)?.is_some_and(|(r, _)| r == revision))
}

/// Stores the slots (replacing those of the same record ids), after
/// checking that every record exists: false (nothing stored by this
/// function) if one does not.
fn store_slots(
    tx: &Connection,
    grantor: &str,
    grant_id: &str,
    slots: &[SlotRow],
) -> DbResult<bool> {
    for s in slots {
        let exists = tx
            .prepare_cached("SELECT 1 FROM records WHERE user_id = ?1 AND id = ?2")?
            .exists([grantor, &s.record_id])?;
        if !exists {
            return Ok(false);
        }
    }
    let mut st = tx.prepare_cached(
        "INSERT INTO grant_slots (grant_id, record_id, slot) VALUES (?1, ?2, ?3)
         ON CONFLICT (grant_id, record_id) DO UPDATE SET slot = excluded.slot",
    )?;
    for s in slots {
        st.execute([grant_id, &s.record_id, &s.slot])?;
    }
    Ok(true)
}

fn slot_count(tx: &Connection, grant_id: &str) -> DbResult<i64> {
    tx.query_row(
        "SELECT COUNT(*) FROM grant_slots WHERE grant_id = ?1",
        [grant_id],
        |r| r.get(0),
    )
}

/// Stores a new grant with its slots, in one transaction, only if the
/// grantor's manifest is still revision `revision` (the one that was
/// checked to list it: a manifest stored meanwhile may have revoked it), the
/// id is new and every slot's record is the grantor's. `g.created` is
/// ignored: the grant is stored as made now.
pub fn insert_grant(
    c: &mut Connection,
    g: &GrantRow,
    revision: i64,
    slots: &[SlotRow],
) -> DbResult<GrantWrite> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !manifest_is(&tx, &g.grantor, revision)? {
        return Ok(GrantWrite::ManifestChanged);
    }
    let exists = tx
        .prepare_cached("SELECT 1 FROM grants WHERE id = ?1")?
        .exists([&g.id])?;
    if exists {
        return Ok(GrantWrite::Exists);
    }
    tx.execute(
        "INSERT INTO grants (id, grantor, grantee, grant_json, digest, created, expires)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            g.id,
            g.grantor,
            g.grantee,
            g.grant,
            g.digest,
            now(),
            g.expires
        ],
    )?;
    if !store_slots(&tx, &g.grantor, &g.id, slots)? {
        return Ok(GrantWrite::NoSuchRecord);
    }
    let n = slot_count(&tx, &g.id)?;
    tx.commit()?;
    Ok(GrantWrite::Stored(n))
}

/// Adds or replaces slots of the grantor's grant `grant_id`, in one
/// transaction, only if the grantor's manifest is still revision
/// `revision` and the grant is still stored.
pub fn put_slots(
    c: &mut Connection,
    grantor: &str,
    grant_id: &str,
    revision: i64,
    slots: &[SlotRow],
) -> DbResult<GrantWrite> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !manifest_is(&tx, grantor, revision)? {
        return Ok(GrantWrite::ManifestChanged);
    }
    if grant_made(&tx, grantor, grant_id)?.is_none() {
        return Ok(GrantWrite::NoSuchGrant);
    }
    if !store_slots(&tx, grantor, grant_id, slots)? {
        return Ok(GrantWrite::NoSuchRecord);
    }
    let n = slot_count(&tx, grant_id)?;
    tx.commit()?;
    Ok(GrantWrite::Stored(n))
}

fn grant_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<GrantRow> {
    Ok(GrantRow {
        id: r.get(0)?,
        grantor: r.get(1)?,
        grantee: r.get(2)?,
        grant: r.get(3)?,
        digest: r.get(4)?,
        created: r.get(5)?,
        expires: r.get(6)?,
    })
}

const GRANT_COLUMNS: &str =
    "g.id, g.grantor, g.grantee, g.grant_json, g.digest, g.created, g.expires";

/// The grant `id` if `grantor` made it.
pub fn grant_made(c: &Connection, grantor: &str, id: &str) -> DbResult<Option<GrantRow>> {
    c.query_row(
        &format!("SELECT {GRANT_COLUMNS} FROM grants g WHERE g.id = ?1 AND g.grantor = ?2"),
        [id, grantor],
        grant_row,
    )
    .optional()
}

/// A grant with the other party's username and a count of its slots.
#[derive(Debug, Clone)]
pub struct GrantListed {
    /// The grant.
    pub row: GrantRow,
    /// The grantee's username (in [`grants_made`]) or the grantor's (in
    /// [`grants_received`]).
    pub other: String,
    /// How many slots it has.
    pub slots: i64,
    /// [`grants_received`]: the grantor's current manifest, JSON text.
    pub grantor_manifest: Option<String>,
}

/// The grants `grantor` made that are stored (expired ones too), oldest
/// first, at most `limit`.
pub fn grants_made(c: &Connection, grantor: &str, limit: u32) -> DbResult<Vec<GrantListed>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {GRANT_COLUMNS}, u.username,
           (SELECT COUNT(*) FROM grant_slots s WHERE s.grant_id = g.id)
         FROM grants g JOIN users u ON u.id = g.grantee
         WHERE g.grantor = ?1 ORDER BY g.created, g.id LIMIT ?2"
    ))?;
    let rows = st.query_map(params![grantor, limit], |r| {
        Ok(GrantListed {
            row: grant_row(r)?,
            other: r.get(7)?,
            slots: r.get(8)?,
            grantor_manifest: None,
        })
    })?;
    rows.collect()
}

/// The grants to `grantee` that have not expired at `now`, with the
/// grantor's current manifest, newest first, at most `limit`.
pub fn grants_received(
    c: &Connection,
    grantee: &str,
    now: i64,
    limit: u32,
) -> DbResult<Vec<GrantListed>> {
    let tx = c.unchecked_transaction()?;
    let out = {
        let mut st = tx.prepare_cached(&format!(
            "SELECT {GRANT_COLUMNS}, u.username,
               (SELECT COUNT(*) FROM grant_slots s WHERE s.grant_id = g.id), m.manifest
             FROM grants g JOIN users u ON u.id = g.grantor JOIN manifests m ON m.user_id = g.grantor
             WHERE g.grantee = ?1 AND g.expires > ?2 ORDER BY g.created DESC, g.id LIMIT ?3"
        ))?;
        let rows = st.query_map(params![grantee, now, limit], |r| {
            Ok(GrantListed {
                row: grant_row(r)?,
                other: r.get(7)?,
                slots: r.get(8)?,
                grantor_manifest: Some(r.get(9)?),
            })
        })?;
        rows.collect::<DbResult<Vec<_>>>()?
    };
    tx.commit()?;
    Ok(out)
}

/// Deletes the grant `id` with its slots if `grantor` made it; returns how
/// many grants went (0 or 1).
pub fn delete_grant(c: &mut Connection, grantor: &str, id: &str) -> DbResult<usize> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if grant_made(&tx, grantor, id)?.is_none() {
        return Ok(0);
    }
    let n = delete_grant_rows(&tx, id)?;
    tx.commit()?;
    Ok(n)
}

/// One shared record: the grantor's current sealed record and its slot.
#[derive(Debug, Clone)]
pub struct SharedItem {
    /// The record id.
    pub record_id: String,
    /// The grantor's stored sealed record, text form.
    pub sealed: String,
    /// Its slot, base64url.
    pub slot: String,
}

/// What the grantee reads of a grant to it.
#[derive(Debug, Clone)]
pub struct SharedPage {
    /// The grant.
    pub row: GrantRow,
    /// The grantor's current manifest, JSON text.
    pub grantor_manifest: String,
    /// The grantee's username (the vault log's access events name it).
    pub grantee_name: String,
    /// Up to the asked number of records in record-id order after the
    /// cursor, each with its slot (records the grantor deleted are not
    /// there); `None` if the grant had expired at `now` (nothing read).
    pub items: Option<Vec<SharedItem>>,
}

/// The grant `id` to `grantee` (`None` if there is none: also when another
/// user is its grantee or grantor), with the grantor's manifest and, unless
/// it expired at `now`, up to `limit` of its records after record id
/// `after`; read in one transaction.
pub fn shared_page(
    c: &Connection,
    grantee: &str,
    id: &str,
    now: i64,
    after: Option<&str>,
    limit: u32,
) -> DbResult<Option<SharedPage>> {
    let tx = c.unchecked_transaction()?;
    let found = tx
        .query_row(
            &format!(
                "SELECT {GRANT_COLUMNS}, m.manifest, u.username FROM grants g
                 JOIN manifests m ON m.user_id = g.grantor
                 JOIN users u ON u.id = g.grantee
                 WHERE g.id = ?1 AND g.grantee = ?2"
            ),
            [id, grantee],
            |r| {
                Ok((
                    grant_row(r)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, String>(8)?,
                ))
            },
        )
        .optional()?;
    let Some((row, grantor_manifest, grantee_name)) = found else {
        return Ok(None);
    };
    let items = if row.expires > now {
        let mut st = tx.prepare_cached(
            "SELECT s.record_id, r.sealed, s.slot FROM grant_slots s
             JOIN records r ON r.user_id = ?2 AND r.id = s.record_id
             WHERE s.grant_id = ?1 AND s.record_id > ?3
             ORDER BY s.record_id LIMIT ?4",
        )?;
        let rows = st.query_map(
            params![row.id, row.grantor, after.unwrap_or(""), limit],
            |r| {
                Ok(SharedItem {
                    record_id: r.get(0)?,
                    sealed: r.get(1)?,
                    slot: r.get(2)?,
                })
            },
        )?;
        Some(rows.collect::<DbResult<Vec<_>>>()?)
    } else {
        None
    };
    tx.commit()?;
    Ok(Some(SharedPage {
        row,
        grantor_manifest,
        grantee_name,
        items,
    }))
}

/// A SMART Health Link as stored.
#[derive(Debug, Clone)]
pub struct LinkRow {
    /// The link id: the last part of its manifest URL (43 base64url characters).
    pub link_id: String,
    /// The id of the owner's manifest entry for it, base64url.
    pub share_id: String,
    /// The owner's user id.
    pub owner: String,
    /// Its label, if it has one.
    pub label: Option<String>,
    /// Its flags: `""` or `"P"`.
    pub flag: String,
    /// When it ends, seconds since the epoch.
    pub expires: i64,
    /// When the server stored it, seconds since the epoch.
    pub created: i64,
    /// Wrong passcodes it still takes; 0: disabled for good.
    pub attempts_left: i64,
}

impl LinkRow {
    /// The digest the owner's manifest lists it with.
    pub fn digest(&self) -> [u8; 32] {
        medseal::link::link_digest(
            &self.link_id,
            u64::try_from(self.expires).unwrap_or(0),
            &self.flag,
            self.label.as_deref(),
        )
    }

    /// Whether it still answers at `now`: not expired, not disabled.
    pub fn active(&self, now: i64) -> bool {
        self.expires > now && self.attempts_left > 0
    }
}

const LINK_COLUMNS: &str =
    "l.link_id, l.share_id, l.owner, l.label, l.flag, l.expires, l.created, l.attempts_left";

fn link_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LinkRow> {
    Ok(LinkRow {
        link_id: r.get(0)?,
        share_id: r.get(1)?,
        owner: r.get(2)?,
        label: r.get(3)?,
        flag: r.get(4)?,
        expires: r.get(5)?,
        created: r.get(6)?,
        attempts_left: r.get(7)?,
    })
}

/// A link's passcode as stored: its salt and `SHA-256(salt || passcode)`
/// ([`crate::passcode`]).
#[derive(Debug, Clone)]
pub struct PasscodeHash {
    /// The random salt.
    pub salt: Vec<u8>,
    /// The hash.
    pub hash: Vec<u8>,
}

/// One file of a link.
#[derive(Debug, Clone)]
pub struct LinkFileRow {
    /// `application/fhir+json` or `application/smart-health-card`.
    pub content_type: String,
    /// The JWE, compact serialization.
    pub jwe: String,
}

/// What [`insert_link`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum LinkWrite {
    /// Stored.
    Stored,
    /// The owner's manifest is no longer the revision the link was checked
    /// against: nothing stored.
    ManifestChanged,
    /// A link with this link id is stored already, or was and was deleted
    /// (revoked): a link id is never reused.
    Exists,
}

/// Stores a new link with its files, in one transaction, only if the
/// owner's manifest is still revision `revision` (the one checked to list
/// it) and the link id is new: neither stored nor retired (a deleted
/// link's id stays in `retired_links`, whoever asks). `l.created` is ignored (stored as made now)
/// and `l.attempts_left` is stored as given.
pub fn insert_link(
    c: &mut Connection,
    l: &LinkRow,
    passcode: Option<&PasscodeHash>,
    files: &[LinkFileRow],
    revision: i64,
) -> DbResult<LinkWrite> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !manifest_is(&tx, &l.owner, revision)? {
        return Ok(LinkWrite::ManifestChanged);
    }
    let exists = tx
        .prepare_cached(
            "SELECT 1 FROM links WHERE link_id = ?1
             UNION ALL SELECT 1 FROM retired_links WHERE link_id = ?1",
        )?
        .exists([&l.link_id])?;
    if exists {
        return Ok(LinkWrite::Exists);
    }
    tx.execute(
        "INSERT INTO links (link_id, share_id, owner, label, flag, expires, passcode_salt,
           passcode_hash, attempts_left, created)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            l.link_id,
            l.share_id,
            l.owner,
            l.label,
            l.flag,
            l.expires,
            passcode.map(|p| &p.salt),
            passcode.map(|p| &p.hash),
            l.attempts_left,
            now()
        ],
    )?;
    {
        let mut st = tx.prepare_cached(
            "INSERT INTO link_files (link_id, n, content_type, jwe) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (n, f) in files.iter().enumerate() {
            st.execute(params![
                l.link_id,
                i64::try_from(n).unwrap_or(i64::MAX),
                f.content_type,
                f.jwe
            ])?;
        }
    }
    tx.commit()?;
    Ok(LinkWrite::Stored)
}

/// A link with how many manifest requests it answered with its files.
#[derive(Debug, Clone)]
pub struct LinkListed {
    /// The link.
    pub row: LinkRow,
    /// Successful manifest requests.
    pub views: i64,
}

/// The links `owner` made that are stored (expired and disabled ones too),
/// oldest first, at most `limit`.
pub fn links_made(c: &Connection, owner: &str, limit: u32) -> DbResult<Vec<LinkListed>> {
    let mut st = c.prepare_cached(&format!(
        "SELECT {LINK_COLUMNS},
           (SELECT COUNT(*) FROM link_access a WHERE a.link_id = l.link_id AND a.ok = 1)
         FROM links l WHERE l.owner = ?1 ORDER BY l.created, l.link_id LIMIT ?2"
    ))?;
    let rows = st.query_map(params![owner, limit], |r| {
        Ok(LinkListed {
            row: link_row(r)?,
            views: r.get(8)?,
        })
    })?;
    rows.collect()
}

/// A manifest request (`POST /shl/{linkId}`), as [`link_manifest`] takes it.
#[derive(Debug)]
pub struct ManifestRequest<'a> {
    /// The link id of the URL.
    pub link_id: &'a str,
    /// Who asks (the request's `recipient`), kept in the access row.
    pub recipient: &'a str,
    /// The passcode sent, if any.
    pub passcode: Option<&'a str>,
    /// Files longer than this (in characters of JWE) are served by
    /// `location` rather than embedded.
    pub embedded_length_max: Option<u64>,
    /// Fresh random tokens, one for each file that may be served by
    /// `location` (a file past them is embedded).
    pub tokens: Vec<String>,
    /// How long a `location` token lasts, in seconds.
    pub token_ttl: i64,
    /// The time of the request.
    pub now: i64,
}

/// A file of a manifest answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServedFile {
    /// Its content type and JWE.
    Embedded(String, String),
    /// Its content type and the one-time token of its `location`.
    Location(String, String),
}

/// What [`link_manifest`] answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestAnswer<U> {
    /// No such link, or one that no longer answers (expired, or disabled
    /// by wrong passcodes).
    NotActive,
    /// A link with flag `P` and a missing or wrong passcode: how many wrong
    /// ones it still takes (0: it is disabled now).
    WrongPasscode(i64),
    /// The link's files, in order.
    Files(Vec<ServedFile>),
    /// The request would have served the files or taken a passcode
    /// attempt, but its access event could not be recorded: nothing done.
    Unrecorded(U),
}

/// Whose link a manifest request named, and how it went: what the owner's
/// vault log records (`Event::LinkFetch`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSeen {
    /// The owner's user id.
    pub owner: String,
    /// The link's share id (base64url, as the manifest lists it).
    pub share_id: String,
    /// `ok`, `passcode` (missing or wrong), `expired`, `locked` (disabled
    /// by wrong passcodes) or `revoked` (deleted: its id is retired).
    pub outcome: &'static str,
}

/// Answers a manifest request in one transaction on the writer, so that
/// concurrent requests with wrong passcodes are counted one after another
/// (the spec's "total lifetime count", even for parallel requests): the
/// link must exist, not be retired (a revoked link id never answers again)
/// and be active; with flag `P` the passcode must match
/// `passcode` (checked with [`crate::passcode::matches`]), or one attempt
/// is taken; every request that names a stored link leaves an access row
/// (ok or not). Expired file tokens are purged on the way.
///
/// For a stored or retired link whose owner is known, the outcome is
/// decided first and `record` is called with it, in the transaction,
/// before anything is written: it records the access event (or finds no
/// log to record it in) and answers `Ok`, or answers `Err` when the event
/// cannot be recorded. Then nothing of the request is written: a request
/// that would have served the files or taken an attempt is
/// [`ManifestAnswer::Unrecorded`], one for a link that is not active stays
/// [`ManifestAnswer::NotActive`].
pub fn link_manifest<U>(
    c: &mut Connection,
    req: &ManifestRequest<'_>,
    record: impl FnOnce(&Connection, &LinkSeen) -> DbResult<Result<(), U>>,
) -> DbResult<ManifestAnswer<U>> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        "DELETE FROM link_file_tokens WHERE expires <= ?1",
        [req.now],
    )?;
    let found = tx
        .query_row(
            &format!(
                "SELECT {LINK_COLUMNS}, l.passcode_salt, l.passcode_hash FROM links l
                 WHERE l.link_id = ?1
                   AND NOT EXISTS (SELECT 1 FROM retired_links r WHERE r.link_id = l.link_id)"
            ),
            [req.link_id],
            |r| {
                Ok((
                    link_row(r)?,
                    r.get::<_, Option<Vec<u8>>>(8)?,
                    r.get::<_, Option<Vec<u8>>>(9)?,
                ))
            },
        )
        .optional()?;
    let Some((link, salt, hash)) = found else {
        let retired: Option<(Option<String>, Option<String>)> = tx
            .query_row(
                "SELECT owner, share_id FROM retired_links WHERE link_id = ?1",
                [req.link_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        if let Some((Some(owner), Some(share_id))) = retired {
            let seen = LinkSeen {
                owner,
                share_id,
                outcome: "revoked",
            };
            // Recorded or not, the answer is the same and nothing else is written.
            let _ = record(&tx, &seen)?;
        }
        tx.commit()?;
        return Ok(ManifestAnswer::NotActive);
    };
    let right = || {
        !link.flag.contains('P')
            || match (&salt, &hash, req.passcode) {
                (Some(salt), Some(hash), Some(p)) => crate::passcode::matches(salt, hash, p),
                _ => false,
            }
    };
    let outcome = if !link.active(req.now) {
        if link.expires <= req.now {
            "expired"
        } else {
            "locked"
        }
    } else if right() {
        "ok"
    } else {
        "passcode"
    };
    let seen = LinkSeen {
        owner: link.owner.clone(),
        share_id: link.share_id.clone(),
        outcome,
    };
    if let Err(why) = record(&tx, &seen)? {
        tx.commit()?;
        return Ok(match outcome {
            "expired" | "locked" => ManifestAnswer::NotActive,
            _ => ManifestAnswer::Unrecorded(why),
        });
    }
    let access = |ok: bool| {
        tx.execute(
            "INSERT INTO link_access (link_id, at, recipient, ok) VALUES (?1, ?2, ?3, ?4)",
            params![link.link_id, req.now, req.recipient, ok],
        )
    };
    match outcome {
        "expired" | "locked" => {
            access(false)?;
            tx.commit()?;
            return Ok(ManifestAnswer::NotActive);
        }
        "passcode" => {
            let left = link.attempts_left.saturating_sub(1).max(0);
            tx.execute(
                "UPDATE links SET attempts_left = ?2 WHERE link_id = ?1",
                params![link.link_id, left],
            )?;
            access(false)?;
            tx.commit()?;
            return Ok(ManifestAnswer::WrongPasscode(left));
        }
        _ => {}
    }
    let files: Vec<(i64, String, String)> = {
        let mut st = tx.prepare_cached(
            "SELECT n, content_type, jwe FROM link_files WHERE link_id = ?1 ORDER BY n",
        )?;
        let rows = st.query_map([&link.link_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<DbResult<_>>()?
    };
    let mut tokens = req.tokens.iter();
    let mut out = Vec::with_capacity(files.len());
    for (n, content_type, jwe) in files {
        let too_long = req
            .embedded_length_max
            .is_some_and(|max| u64::try_from(jwe.len()).unwrap_or(u64::MAX) > max);
        match tokens.next().filter(|_| too_long) {
            Some(token) => {
                tx.execute(
                    "INSERT INTO link_file_tokens (token, link_id, n, expires)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![
                        token,
                        link.link_id,
                        n,
                        req.now.saturating_add(req.token_ttl)
                    ],
                )?;
                out.push(ServedFile::Location(content_type, token.clone()));
            }
            None => out.push(ServedFile::Embedded(content_type, jwe)),
        }
    }
    access(true)?;
    tx.commit()?;
    Ok(ManifestAnswer::Files(out))
}

/// The JWE of a file `location` token, once: the token is deleted whatever
/// happens, and the file is served only if the token has not expired at
/// `now` and its link is still stored and active.
pub fn take_link_file(c: &mut Connection, token: &str, now: i64) -> DbResult<Option<String>> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: Option<(String, i64, i64)> = tx
        .query_row(
            "DELETE FROM link_file_tokens WHERE token = ?1 RETURNING link_id, n, expires",
            [token],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let jwe = match found {
        Some((link_id, n, expires)) if expires > now => tx
            .query_row(
                "SELECT f.jwe FROM link_files f JOIN links l ON l.link_id = f.link_id
                 WHERE f.link_id = ?1 AND f.n = ?2 AND l.expires > ?3 AND l.attempts_left > 0",
                params![link_id, n, now],
                |r| r.get(0),
            )
            .optional()?,
        _ => None,
    };
    tx.commit()?;
    Ok(jwe)
}

/// Deletes expired file `location` tokens; returns how many.
pub fn purge_expired_link_tokens(c: &Connection) -> DbResult<usize> {
    c.execute("DELETE FROM link_file_tokens WHERE expires <= ?1", [now()])
}

/// The server's secret `name` (a key it made once), made from `fresh` if
/// the database has none yet; the stored one otherwise (`fresh` is then
/// dropped). One transaction, so two starts on one database agree.
pub fn server_secret(c: &mut Connection, name: &str, fresh: &[u8]) -> DbResult<Vec<u8>> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        "INSERT OR IGNORE INTO server_secrets (name, secret, created) VALUES (?1, ?2, ?3)",
        params![name, fresh, now()],
    )?;
    let secret = tx.query_row(
        "SELECT secret FROM server_secrets WHERE name = ?1",
        [name],
        |r| r.get(0),
    )?;
    tx.commit()?;
    Ok(secret)
}

/// The stored tree of a vault log was not what its hashes should be (a
/// hash missing or of the wrong length): the database was changed under
/// the server. Its message names the core's error only.
#[derive(Debug)]
pub struct LogTreeError(pub medseal::Error);

impl std::fmt::Display for LogTreeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stored vault log: {}", self.0)
    }
}

impl std::error::Error for LogTreeError {}

fn u64_of(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The complete-subtree hashes of one vault log (`log_hashes`), read
/// through a connection (or a transaction: it derefs to one) for the
/// core's tree functions. A SQLite failure inside a read is kept and
/// given back by [`LogHashes::tree`] in place of the core's error.
pub struct LogHashes<'a> {
    c: &'a Connection,
    user_id: &'a str,
    failed: std::cell::RefCell<Option<rusqlite::Error>>,
}

impl<'a> LogHashes<'a> {
    /// The hashes of `user_id`'s log.
    pub fn new(c: &'a Connection, user_id: &'a str) -> Self {
        LogHashes {
            c,
            user_id,
            failed: std::cell::RefCell::new(None),
        }
    }

    /// A result of the core's tree functions over these hashes, as a
    /// database result: the SQLite error that failed a read if there was
    /// one, else the core's (a stored tree that is not whole).
    pub fn tree<T>(&self, r: medseal::Result<T>) -> DbResult<T> {
        r.map_err(|e| {
            self.failed.borrow_mut().take().unwrap_or_else(|| {
                rusqlite::Error::ToSqlConversionFailure(Box::new(LogTreeError(e)))
            })
        })
    }
}

impl medseal::log::merkle::HashReader for LogHashes<'_> {
    fn read(&self, level: u8, index: u64) -> medseal::Result<medseal::log::merkle::Hash> {
        let missing = medseal::Error::InvalidArgument("tree size beyond the log");
        let index = i64::try_from(index).map_err(|_| missing)?;
        let got: DbResult<Option<Vec<u8>>> = self
            .c
            .prepare_cached(
                "SELECT hash FROM log_hashes WHERE user_id = ?1 AND level = ?2 AND idx = ?3",
            )
            .and_then(|mut st| {
                st.query_row(params![self.user_id, level, index], |r| r.get(0))
                    .optional()
            });
        match got {
            Ok(Some(h)) => h
                .try_into()
                .map_err(|_| medseal::Error::Malformed("stored log hash")),
            Ok(None) => Err(missing),
            Err(e) => {
                *self.failed.borrow_mut() = Some(e);
                Err(medseal::Error::Malformed("log hash not read"))
            }
        }
    }
}

/// Entries in a user's vault log: the leaves are numbered from 0 with no
/// gap (an append writes leaf `size`), so the size is the highest number
/// plus one, read from the primary key's index.
pub fn log_size(c: &Connection, user_id: &str) -> DbResult<u64> {
    let n: i64 = c
        .prepare_cached("SELECT COALESCE(MAX(n) + 1, 0) FROM log_leaves WHERE user_id = ?1")?
        .query_row([user_id], |r| r.get(0))?;
    Ok(u64_of(n))
}

/// What an append is decided on, read in its transaction.
#[derive(Debug, Clone)]
pub struct LogOwner {
    /// Entries in the log now: the new one is number `size`.
    pub size: u64,
    /// The vault id of the user's stored manifest (its log's origin is
    /// `origin_for(vault_id)`); `None` if it does not parse.
    pub vault_id: Option<Vec<u8>>,
    /// The stored manifest, JSON text.
    pub manifest: String,
}

fn log_owner(tx: &Connection, user_id: &str) -> DbResult<Option<LogOwner>> {
    let Some((_, manifest)) = manifest(tx, user_id)? else {
        return Ok(None);
    };
    let vault_id: Option<String> = tx.query_row(
        "SELECT vault_id FROM manifests WHERE user_id = ?1",
        [user_id],
        |r| r.get(0),
    )?;
    Ok(Some(LogOwner {
        size: log_size(tx, user_id)?,
        vault_id: vault_id.as_deref().and_then(medseal::base64url_decode),
        manifest,
    }))
}

/// What [`log_append`] did.
#[derive(Debug)]
pub enum LogWrite<E> {
    /// Appended; the log now holds this many entries.
    Appended(u64),
    /// The log holds its most entries: nothing appended.
    Full,
    /// The user has no manifest (no such user): nothing appended.
    NoVault,
    /// `leaf_for` refused: nothing appended.
    Refused(E),
}

/// Appends one leaf to `user_id`'s vault log in one transaction: reads the
/// size and the stored manifest, asks `leaf_for` for the leaf to write at
/// that position (it checks or signs it, or refuses), then writes the leaf
/// and the complete-subtree hashes it completes. At most `max_entries`
/// entries.
pub fn log_append<E>(
    c: &mut Connection,
    user_id: &str,
    max_entries: u64,
    leaf_for: impl FnOnce(&LogOwner) -> Result<Vec<u8>, E>,
) -> DbResult<LogWrite<E>> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let Some(owner) = log_owner(&tx, user_id)? else {
        return Ok(LogWrite::NoVault);
    };
    if owner.size >= max_entries {
        return Ok(LogWrite::Full);
    }
    let leaf = match leaf_for(&owner) {
        Ok(l) => l,
        Err(e) => return Ok(LogWrite::Refused(e)),
    };
    write_leaf(&tx, user_id, owner.size, &leaf)?;
    tx.commit()?;
    Ok(LogWrite::Appended(owner.size + 1))
}

/// Writes leaf `n` of `user_id`'s log (which holds `n` entries) and the
/// complete-subtree hashes it completes, in the caller's transaction.
fn write_leaf(tx: &Connection, user_id: &str, n: u64, leaf: &[u8]) -> DbResult<()> {
    let hashes = {
        let reader = LogHashes::new(tx, user_id);
        let h = medseal::log::merkle::hashes_to_store(
            n,
            medseal::log::merkle::leaf_hash(leaf),
            &reader,
        );
        reader.tree(h)?
    };
    tx.prepare_cached("INSERT INTO log_leaves (user_id, n, leaf) VALUES (?1, ?2, ?3)")?
        .execute(params![user_id, i64_of(n), leaf])?;
    let mut st = tx.prepare_cached(
        "INSERT INTO log_hashes (user_id, level, idx, hash) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (level, idx, hash) in hashes {
        st.execute(params![user_id, level, i64_of(idx), hash.as_slice()])?;
    }
    Ok(())
}

/// The events a server event is counted with in its vault: at most
/// `per_hour` of them are recorded per clock hour (`name` is `login_failed`,
/// `grant:{id}` or `link:{share id}`).
#[derive(Debug, Clone)]
pub struct Budget {
    /// The budget's name in the vault.
    pub name: String,
    /// Events recorded per clock hour at most.
    pub per_hour: u64,
}

/// Where a server event may go and what it spends.
#[derive(Debug, Clone)]
pub struct EventRoom {
    /// The log may hold at most this many entries for the event to be
    /// appended (the hard limit, or less for events that must leave room).
    pub cap: u64,
    /// The budget it spends, if any.
    pub budget: Option<Budget>,
    /// The time (seconds since 1970): the budget's hour.
    pub now: i64,
}

/// What [`log_attest`] did.
#[derive(Debug)]
pub enum Attested<E> {
    /// Appended; the log now holds this many entries.
    Appended(u64),
    /// The vault has no log to record it in (no manifest, or the vault has
    /// not announced the server's log key yet): nothing appended, and
    /// nothing to refuse for it.
    NoLog,
    /// The log holds the most entries the event may go to: nothing appended.
    Full,
    /// The event's budget for this hour is spent: nothing appended.
    /// `first` for the first event past it this hour; `retry_after` the
    /// seconds until the next hour.
    OverBudget {
        /// The first event past the budget this hour.
        first: bool,
        /// Seconds until the budget is renewed.
        retry_after: u64,
    },
    /// `leaf_for` refused: nothing appended.
    Refused(E),
}

/// Appends a server event to `user_id`'s vault log in the caller's
/// transaction, within `room`: only if the log has an entry (the vault
/// announced the key), holds fewer than `room.cap` entries, and the
/// event's budget for this hour is not spent; the budget then counts it.
/// An event past its budget is counted too (so the first one is known);
/// budget rows of past hours are dropped on the way, so a vault has at
/// most one row per budget.
pub fn log_attest_in<E>(
    tx: &Connection,
    user_id: &str,
    room: &EventRoom,
    leaf_for: impl FnOnce(&LogOwner) -> Result<Vec<u8>, E>,
) -> DbResult<Attested<E>> {
    let Some(owner) = log_owner(tx, user_id)? else {
        return Ok(Attested::NoLog);
    };
    if owner.size == 0 {
        return Ok(Attested::NoLog);
    }
    if owner.size >= room.cap {
        return Ok(Attested::Full);
    }
    let hour = room.now.div_euclid(3600);
    let spend = |used: u64| -> DbResult<()> {
        let Some(b) = &room.budget else {
            return Ok(());
        };
        tx.prepare_cached(
            "INSERT INTO log_budgets (user_id, budget, hour, used) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (user_id, budget) DO UPDATE SET hour = ?3, used = ?4",
        )?
        .execute(params![
            user_id,
            b.name,
            hour,
            i64_of(used.saturating_add(1))
        ])?;
        Ok(())
    };
    let mut used = 0;
    if let Some(b) = &room.budget {
        tx.prepare_cached("DELETE FROM log_budgets WHERE user_id = ?1 AND hour < ?2")?
            .execute(params![user_id, hour])?;
        used = tx
            .prepare_cached(
                "SELECT used FROM log_budgets WHERE user_id = ?1 AND budget = ?2 AND hour = ?3",
            )?
            .query_row(params![user_id, b.name, hour], |r| r.get::<_, i64>(0))
            .optional()?
            .map_or(0, u64_of);
        if used >= b.per_hour {
            spend(used)?;
            return Ok(Attested::OverBudget {
                first: used == b.per_hour,
                retry_after: u64_of(3600 - room.now.rem_euclid(3600)),
            });
        }
    }
    let leaf = match leaf_for(&owner) {
        Ok(l) => l,
        Err(e) => return Ok(Attested::Refused(e)),
    };
    write_leaf(tx, user_id, owner.size, &leaf)?;
    spend(used)?;
    Ok(Attested::Appended(owner.size + 1))
}

/// [`log_attest_in`] in a transaction of its own, committed whatever it
/// did (a budget counts the events past it too).
pub fn log_attest<E>(
    c: &mut Connection,
    user_id: &str,
    room: &EventRoom,
    leaf_for: impl FnOnce(&LogOwner) -> Result<Vec<u8>, E>,
) -> DbResult<Attested<E>> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let done = log_attest_in(&tx, user_id, room, leaf_for)?;
    tx.commit()?;
    Ok(done)
}

/// One answer of a vault log sync, read in one transaction.
#[derive(Debug, Clone)]
pub struct LogPage {
    /// Entries in the log now.
    pub size: u64,
    /// The head this answer brings the client to (its checkpoint's size).
    pub end: u64,
    /// The tree hash of the first `end` entries.
    pub root: medseal::log::merkle::Hash,
    /// Consistency proof from the client's size to `end` (empty when it
    /// asked from 0, from `end`, or from beyond the log).
    pub proof: Vec<medseal::log::merkle::Hash>,
    /// The entries from the client's size to `end`.
    pub entries: Vec<Vec<u8>>,
    /// Checkpoints the vault's devices cosigned, newest (by size) first,
    /// at most `end`, each with its consistency proof to `end`.
    pub cosigned: Vec<(String, Vec<medseal::log::merkle::Hash>)>,
    /// The vault id of the user's manifest (the origin), if it parses.
    pub vault_id: Option<Vec<u8>>,
}

/// A sync answer for a client that holds the first `from` entries: up to
/// `page` entries after them, the tree head after those, the consistency
/// proof from `from` and up to `cosigned` cosigned checkpoints. A `from`
/// beyond the log gets the current head with no entries (the client sees
/// that the log shrank). `None` if the user has no manifest.
pub fn log_page(
    c: &Connection,
    user_id: &str,
    from: u64,
    page: u64,
    cosigned: u32,
) -> DbResult<Option<LogPage>> {
    let tx = c.unchecked_transaction()?;
    let Some(owner) = log_owner(&tx, user_id)? else {
        return Ok(None);
    };
    let size = owner.size;
    let (start, end) = if from > size {
        (size, size)
    } else {
        (from, size.min(from.saturating_add(page)))
    };
    let reader = LogHashes::new(&tx, user_id);
    let root = reader.tree(medseal::log::merkle::tree_hash(end, &reader))?;
    let proof = reader.tree(medseal::log::merkle::prove_consistency(start, end, &reader))?;
    let entries = {
        let mut st = tx.prepare_cached(
            "SELECT leaf FROM log_leaves WHERE user_id = ?1 AND n >= ?2 AND n < ?3 ORDER BY n",
        )?;
        let rows = st.query_map(params![user_id, i64_of(start), i64_of(end)], |r| r.get(0))?;
        rows.collect::<DbResult<Vec<Vec<u8>>>>()?
    };
    let notes: Vec<(i64, String)> = {
        let mut st = tx.prepare_cached(
            "SELECT size, note FROM log_cosigned WHERE user_id = ?1 AND size <= ?2
             ORDER BY size DESC, created DESC LIMIT ?3",
        )?;
        let rows = st.query_map(params![user_id, i64_of(end), cosigned], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        rows.collect::<DbResult<_>>()?
    };
    let mut with_proofs = Vec::with_capacity(notes.len());
    for (at, note) in notes {
        let p = reader.tree(medseal::log::merkle::prove_consistency(
            u64_of(at),
            end,
            &reader,
        ))?;
        with_proofs.push((note, p));
    }
    drop(reader);
    tx.commit()?;
    Ok(Some(LogPage {
        size,
        end,
        root,
        proof,
        entries,
        cosigned: with_proofs,
        vault_id: owner.vault_id,
    }))
}

/// An entry of a vault log with its inclusion proof: (index, leaf, proof).
pub type IncludedEntry = (u64, Vec<u8>, Vec<medseal::log::merkle::Hash>);

/// Entries `start..end` of a user's vault log, each with its inclusion
/// proof in the tree of the first `size` entries; `None` if the log holds
/// fewer than `size` (or `start..end` is not inside `size`).
pub fn log_included(
    c: &Connection,
    user_id: &str,
    start: u64,
    end: u64,
    size: u64,
) -> DbResult<Option<Vec<IncludedEntry>>> {
    let tx = c.unchecked_transaction()?;
    if !(start < end && end <= size && size <= log_size(&tx, user_id)?) {
        return Ok(None);
    }
    let leaves: Vec<(i64, Vec<u8>)> = {
        let mut st = tx.prepare_cached(
            "SELECT n, leaf FROM log_leaves WHERE user_id = ?1 AND n >= ?2 AND n < ?3 ORDER BY n",
        )?;
        let rows = st.query_map(params![user_id, i64_of(start), i64_of(end)], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        rows.collect::<DbResult<_>>()?
    };
    let reader = LogHashes::new(&tx, user_id);
    let mut out = Vec::with_capacity(leaves.len());
    for (n, leaf) in leaves {
        let n = u64_of(n);
        let proof = reader.tree(medseal::log::merkle::prove_inclusion(n, size, &reader))?;
        out.push((n, leaf, proof));
    }
    drop(reader);
    tx.commit()?;
    Ok(Some(out))
}

/// What [`log_cosign`] did.
#[derive(Debug)]
pub enum CosignWrite<E> {
    /// Stored (or it was already).
    Stored,
    /// The checkpoint's size is beyond the log, which holds this many.
    Beyond(u64),
    /// The user has no manifest.
    NoVault,
    /// `check` refused: nothing stored.
    Refused(E),
}

/// Stores a checkpoint of size `size` that a device of the vault cosigned,
/// in one transaction, if `check` (given the stored manifest and the tree
/// hash of the log's first `size` entries) accepts it. Keeps at most
/// `keep` per vault, dropping those of the smallest sizes.
pub fn log_cosign<E>(
    c: &mut Connection,
    user_id: &str,
    size: u64,
    note: &str,
    keep: u32,
    check: impl FnOnce(&LogOwner, &medseal::log::merkle::Hash) -> Result<(), E>,
) -> DbResult<CosignWrite<E>> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let Some(owner) = log_owner(&tx, user_id)? else {
        return Ok(CosignWrite::NoVault);
    };
    if size > owner.size {
        return Ok(CosignWrite::Beyond(owner.size));
    }
    let root = {
        let reader = LogHashes::new(&tx, user_id);
        let r = medseal::log::merkle::tree_hash(size, &reader);
        reader.tree(r)?
    };
    if let Err(e) = check(&owner, &root) {
        return Ok(CosignWrite::Refused(e));
    }
    tx.execute(
        "INSERT OR IGNORE INTO log_cosigned (user_id, size, note, created) VALUES (?1, ?2, ?3, ?4)",
        params![user_id, i64_of(size), note, now()],
    )?;
    tx.execute(
        "DELETE FROM log_cosigned WHERE user_id = ?1 AND rowid NOT IN (
           SELECT rowid FROM log_cosigned WHERE user_id = ?1
           ORDER BY size DESC, created DESC LIMIT ?2)",
        params![user_id, keep],
    )?;
    tx.commit()?;
    Ok(CosignWrite::Stored)
}

/// What [`delete_account`] did.
#[derive(Debug)]
pub enum AccountDeletion<E> {
    /// Every row of the account is deleted and its tombstone (this note) stored.
    Deleted(String),
    /// The user has no manifest (no such user): nothing done.
    NoAccount,
    /// `tombstone_for` refused: nothing done.
    Refused(E),
}

/// The account's rows, table by table, children first (each statement
/// takes the user id as `?1`). The user's own row goes last, and its
/// cascades would take what a table added later forgets; `retired_links`
/// is not here: see [`delete_account`].
const ACCOUNT_ROWS: &[&str] = &[
    "DELETE FROM grant_slots WHERE grant_id IN
       (SELECT id FROM grants WHERE grantor = ?1 OR grantee = ?1)",
    "DELETE FROM grants WHERE grantor = ?1 OR grantee = ?1",
    "DELETE FROM link_file_tokens WHERE link_id IN (SELECT link_id FROM links WHERE owner = ?1)",
    "DELETE FROM link_access WHERE link_id IN (SELECT link_id FROM links WHERE owner = ?1)",
    "DELETE FROM link_files WHERE link_id IN (SELECT link_id FROM links WHERE owner = ?1)",
    "DELETE FROM links WHERE owner = ?1",
    "DELETE FROM records WHERE user_id = ?1",
    "DELETE FROM manifest_history WHERE user_id = ?1",
    "DELETE FROM manifests WHERE user_id = ?1",
    "DELETE FROM passkeys WHERE user_id = ?1",
    "DELETE FROM sessions WHERE user_id = ?1",
    "DELETE FROM log_leaves WHERE user_id = ?1",
    "DELETE FROM log_hashes WHERE user_id = ?1",
    "DELETE FROM log_cosigned WHERE user_id = ?1",
    "DELETE FROM log_budgets WHERE user_id = ?1",
    "DELETE FROM attachments WHERE user_id = ?1",
    "DELETE FROM users WHERE id = ?1",
];

/// Deletes an account (GDPR art. 17) in one transaction: reads its stored
/// manifest and gives it to `tombstone_for`, which checks the vault's
/// destroy request against it and answers the vault id (base64url) and the
/// signed tombstone, or refuses; then deletes every row of the account in
/// every table ([`ACCOUNT_ROWS`]: its records, manifests and their history,
/// passkeys, sessions, vault log, attachment rows, the grants it made and
/// those made to it with their slots, its links with their files, access
/// rows and file tokens) and stores the tombstone. A refusal deletes
/// nothing.
///
/// Deleted rows are overwritten in the file, not only unlinked: every
/// connection runs with `secure_delete` on (`Db::open`), so freed cells and
/// pages are zeroed, in this transaction's pages of the write-ahead log and
/// then in the database file; the caller then runs [`checkpoint_truncate`],
/// which copies them into the file and empties the log file, whose older
/// frames still hold the rows as they were. (Free space that a database
/// made before `secure_delete` left behind stays until a `VACUUM`.)
///
/// The link ids of the account's links stay in `retired_links`, with their
/// owner and share id erased: a link id must never be registered again (the
/// QR codes the patient handed out would then serve another account's
/// files), and a bare random id names no one. The attachment files are the
/// caller's to remove once this committed (a crash in between leaves files
/// without rows, which the start-up sweep removes).
pub fn delete_account<E>(
    c: &mut Connection,
    user_id: &str,
    tombstone_for: impl FnOnce(&str) -> Result<(String, String), E>,
) -> DbResult<AccountDeletion<E>> {
    let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let Some((_, text)) = manifest(&tx, user_id)? else {
        return Ok(AccountDeletion::NoAccount);
    };
    let (vault_id, note) = match tombstone_for(&text) {
        Ok(t) => t,
        Err(e) => return Ok(AccountDeletion::Refused(e)),
    };
    for sql in ACCOUNT_ROWS {
        tx.execute(sql, [user_id])?;
    }
    // After `links`: the `links_retire` trigger has just kept their ids, with the owner.
    tx.execute(
        "UPDATE retired_links SET owner = NULL, share_id = NULL WHERE owner = ?1",
        [user_id],
    )?;
    tx.execute(
        "INSERT INTO tombstones (vault_id, note, created) VALUES (?1, ?2, ?3)
         ON CONFLICT (vault_id) DO UPDATE SET note = excluded.note, created = excluded.created",
        params![vault_id, note, now()],
    )?;
    tx.commit()?;
    Ok(AccountDeletion::Deleted(note))
}

/// The tombstone of the vault `vault_id` (base64url), if it was deleted.
pub fn tombstone(c: &Connection, vault_id: &str) -> DbResult<Option<String>> {
    c.query_row(
        "SELECT note FROM tombstones WHERE vault_id = ?1",
        [vault_id],
        |r| r.get(0),
    )
    .optional()
}

/// Copies every page of the write-ahead log into the database file and
/// truncates the log to zero bytes (`PRAGMA wal_checkpoint(TRUNCATE)`), so
/// that no old frame of it keeps a deleted row. False if a reader's open
/// snapshot kept it from completing (the caller tries again later).
pub fn checkpoint_truncate(c: &Connection) -> DbResult<bool> {
    let busy: i64 = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
    Ok(busy == 0)
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
