//! Test support: a real server on 127.0.0.1:0 over a SQLite file in a fresh
//! folder, users and sessions made through the db layer (passkey ceremonies
//! cannot run here), vaults and sealed records made with the medseal core.

#![allow(
    dead_code,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

pub mod http;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use medseal::{PasskeyUnlock, PrfOutput, RecordContext, RecoveryCode, Vault};
use medseal_server::db::{self, Db};
use medseal_server::random::{random_token, Entropy, OsEntropy};
use medseal_server::state::LogSink;
use medseal_server::{AppState, Config, Limits, Shared};

/// A folder removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let mut r = [0u8; 8];
        getrandom::fill(&mut r).unwrap();
        let p = std::env::temp_dir().join(format!(
            "medseal-server-test-{}-{}",
            std::process::id(),
            r.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A log that keeps its lines.
#[derive(Default)]
pub struct MemLog(Mutex<Vec<String>>);

impl MemLog {
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

impl LogSink for MemLog {
    fn line(&self, text: &str) {
        self.0.lock().unwrap().push(text.to_string());
    }
}

/// A server running in the test's runtime.
pub struct TestServer {
    pub addr: SocketAddr,
    pub state: Shared,
    pub log: Arc<MemLog>,
    pub dir: TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A user with a real vault.
pub struct TestUser {
    pub id: String,
    pub name: String,
    pub vault: Vault,
    pub code: RecoveryCode,
    pub cred_id: String,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}, None).await
    }

    pub async fn start_with(
        limits: impl FnOnce(&mut Limits),
        entropy: Option<Arc<dyn Entropy>>,
    ) -> TestServer {
        let dir = TempDir::new();
        let mut config = Config::new(dir.path().to_path_buf());
        limits(&mut config.limits);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let origin = format!("http://localhost:{}", addr.port());
        let db = Db::open(dir.path(), config.limits.read_connections).unwrap();
        let log = Arc::new(MemLog::default());
        let mut state = AppState::new(config, origin, db)
            .unwrap()
            .with_log(log.clone());
        if let Some(e) = entropy {
            state = state.with_entropy(e);
        }
        let state = Arc::new(state);
        let task = tokio::spawn({
            let state = state.clone();
            async move {
                medseal_server::serve(listener, state, std::future::pending())
                    .await
                    .unwrap();
            }
        });
        TestServer {
            addr,
            state,
            log,
            dir,
            task,
        }
    }

    pub fn db(&self) -> &Db {
        &self.state.db
    }

    /// A user with a vault made by the core, its sign-up manifest stored and
    /// one login passkey row (whose webauthn-rs data the tests never read).
    pub fn add_user(&self, name: &str) -> TestUser {
        add_user(self.db(), name)
    }

    /// A user (as [`TestServer::add_user`]) and a session for it: the user and the session's token.
    pub fn signed_in(&self, name: &str) -> (TestUser, String) {
        let u = self.add_user(name);
        let t = self.session(&u.id);
        (u, t)
    }

    /// A session for the user; returns its token.
    pub fn session(&self, user_id: &str) -> String {
        session(self.db(), user_id, 3600)
    }

    pub async fn req(
        &self,
        method: &str,
        path: &str,
        cookie: Option<&str>,
        body: Option<&str>,
    ) -> http::Resp {
        http::request(self.addr, method, path, cookie, body).await
    }
}

pub fn new_vault() -> (Vault, RecoveryCode) {
    let mut cred = [0u8; 16];
    getrandom::fill(&mut cred).unwrap();
    let prf = PrfOutput::new(&[7u8; 32]).unwrap();
    Vault::create(PasskeyUnlock {
        credential_id: cred.to_vec(),
        prf_salt: medseal::new_prf_salt().unwrap(),
        prf_output: prf,
        label: None,
    })
    .unwrap()
}

pub fn add_user(db: &Db, name: &str) -> TestUser {
    let (vault, code) = new_vault();
    let id = uuid::Uuid::new_v4().to_string();
    let cred_id = random_token(&OsEntropy).unwrap();
    let m = vault.manifest();
    let (text, rev) = (m.to_json(), m.revision() as i64);
    db.write_blocking(|c| db::create_user(c, &id, name, &cred_id, "{}", &text, rev))
        .unwrap();
    TestUser {
        id,
        name: name.to_string(),
        vault,
        code,
        cred_id,
    }
}

pub fn session(db: &Db, user_id: &str, ttl_secs: i64) -> String {
    let token = random_token(&OsEntropy).unwrap();
    db.write_blocking(|c| db::new_session(c, &token, user_id, ttl_secs))
        .unwrap();
    token
}

/// A record sealed by the vault, in text form.
pub fn sealed(vault: &mut Vault, id: &str, text: &[u8]) -> String {
    let bytes = vault
        .seal(text, &RecordContext::new(id.as_bytes()))
        .unwrap();
    format!("ms1.{}", medseal::base64url(&bytes))
}

/// A JSON string literal.
pub fn js(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}
