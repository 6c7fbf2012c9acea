//! SQLite storage: one file under the data folder. It holds per user the
//! passkeys (webauthn-rs `Passkey`, public data), the vault manifest (public,
//! signed) and sealed records (ciphertext). Never a plaintext, a PRF output or
//! a recovery code: the server never receives them.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

pub struct Db(Mutex<Connection>);

pub type DbResult<T> = Result<T, rusqlite::Error>;

pub struct RecordRow {
    pub id: String,
    pub sealed: String,
    pub created: i64,
    pub updated: i64,
}

impl Db {
    pub fn open(dir: &Path) -> DbResult<Db> {
        std::fs::create_dir_all(dir)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        let conn = Connection::open(dir.join("medseal.sqlite3"))?;
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
             CREATE TABLE IF NOT EXISTS sessions (
               token TEXT PRIMARY KEY, user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
               expires INTEGER NOT NULL);",
        )?;
        Ok(Db(Mutex::new(conn)))
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> DbResult<T>) -> DbResult<T> {
        let guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(&guard)
    }

    pub fn user_by_name(&self, username: &str) -> DbResult<Option<String>> {
        self.with(|c| {
            c.query_row(
                "SELECT id FROM users WHERE username = ?1",
                [username],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// Creates the user with its first passkey and manifest, atomically.
    pub fn create_user(
        &self,
        id: &str,
        username: &str,
        cred_id: &str,
        passkey: &str,
        manifest: &str,
        revision: i64,
    ) -> DbResult<()> {
        self.with(|c| {
            let tx = c.unchecked_transaction()?;
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
            tx.commit()
        })
    }

    pub fn passkeys(&self, user_id: &str) -> DbResult<Vec<(String, String)>> {
        self.with(|c| {
            let mut st = c.prepare("SELECT cred_id, passkey FROM passkeys WHERE user_id = ?1")?;
            let rows = st.query_map([user_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    pub fn add_passkey(&self, user_id: &str, cred_id: &str, passkey: &str) -> DbResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO passkeys (cred_id, user_id, passkey) VALUES (?1, ?2, ?3)",
                params![cred_id, user_id, passkey],
            )
            .map(|_| ())
        })
    }

    pub fn update_passkey(&self, user_id: &str, cred_id: &str, passkey: &str) -> DbResult<()> {
        self.with(|c| {
            c.execute(
                "UPDATE passkeys SET passkey = ?3 WHERE user_id = ?1 AND cred_id = ?2",
                params![user_id, cred_id, passkey],
            )
            .map(|_| ())
        })
    }

    pub fn remove_passkey(&self, user_id: &str, cred_id: &str) -> DbResult<usize> {
        self.with(|c| {
            c.execute(
                "DELETE FROM passkeys WHERE user_id = ?1 AND cred_id = ?2",
                params![user_id, cred_id],
            )
        })
    }

    pub fn manifest(&self, user_id: &str) -> DbResult<Option<(i64, String)>> {
        self.with(|c| {
            c.query_row(
                "SELECT revision, manifest FROM manifests WHERE user_id = ?1",
                [user_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
        })
    }

    /// Replaces the manifest only if the stored one is still `replaces`:
    /// returns false on a stale write.
    pub fn replace_manifest(
        &self,
        user_id: &str,
        replaces: i64,
        revision: i64,
        manifest: &str,
    ) -> DbResult<bool> {
        self.with(|c| {
            let n = c.execute(
                "UPDATE manifests SET revision = ?3, manifest = ?4 WHERE user_id = ?1 AND revision = ?2 AND ?3 > ?2",
                params![user_id, replaces, revision, manifest],
            )?;
            Ok(n == 1)
        })
    }

    pub fn records(&self, user_id: &str) -> DbResult<Vec<RecordRow>> {
        self.with(|c| {
            let mut st = c.prepare("SELECT id, sealed, created, updated FROM records WHERE user_id = ?1 ORDER BY created, id")?;
            let rows = st.query_map([user_id], |r| Ok(RecordRow { id: r.get(0)?, sealed: r.get(1)?, created: r.get(2)?, updated: r.get(3)? }))?;
            rows.collect()
        })
    }

    pub fn record(&self, user_id: &str, id: &str) -> DbResult<Option<RecordRow>> {
        self.with(|c| {
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
        })
    }

    pub fn put_record(&self, user_id: &str, id: &str, sealed: &str) -> DbResult<()> {
        let t = now();
        self.with(|c| {
            c.execute(
                "INSERT INTO records (user_id, id, sealed, created, updated) VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT (user_id, id) DO UPDATE SET sealed = excluded.sealed, updated = excluded.updated",
                params![user_id, id, sealed, t],
            )
            .map(|_| ())
        })
    }

    pub fn delete_record(&self, user_id: &str, id: &str) -> DbResult<usize> {
        self.with(|c| {
            c.execute(
                "DELETE FROM records WHERE user_id = ?1 AND id = ?2",
                [user_id, id],
            )
        })
    }

    pub fn new_session(&self, token: &str, user_id: &str, ttl_secs: i64) -> DbResult<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO sessions (token, user_id, expires) VALUES (?1, ?2, ?3)",
                params![token, user_id, now() + ttl_secs],
            )
            .map(|_| ())
        })
    }

    pub fn session_user(&self, token: &str) -> DbResult<Option<String>> {
        self.with(|c| {
            c.query_row(
                "SELECT user_id FROM sessions WHERE token = ?1 AND expires > ?2",
                params![token, now()],
                |r| r.get(0),
            )
            .optional()
        })
    }

    pub fn end_session(&self, token: &str) -> DbResult<()> {
        self.with(|c| {
            c.execute("DELETE FROM sessions WHERE token = ?1", [token])
                .map(|_| ())
        })
    }
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
