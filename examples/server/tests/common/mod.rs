//! Test support: a real server on 127.0.0.1:0 over a SQLite file in a fresh
//! folder, users and sessions made through the db layer or signed up through
//! the API with a software authenticator (`authenticator.rs`: registration
//! only, sign-in assertions cannot be made here), vaults and sealed records
//! made with the medseal core.

#![allow(
    dead_code,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

pub mod authenticator;
pub mod http;
pub mod log;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use medseal::{Manifest, PasskeyUnlock, PrfOutput, RecordContext, RecoveryCode, Vault};
use medseal_server::db::{self, Db};
use medseal_server::random::{random_token, Entropy, OsEntropy};
use medseal_server::state::LogSink;
use medseal_server::{AppState, Config, Limits, Shared};
use serde_json::Value;

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
    /// Every request body sent through [`TestServer::req`], in order.
    pub sent: Mutex<Vec<String>>,
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
    /// Its sign-up passkey's credential id, base64url as the server stores it:
    /// the vault's manifest names the same credential.
    pub cred_id: String,
}

/// A passkey of a test vault: its raw credential id, the same in base64url
/// (as `passkeys.cred_id` stores it), and the PRF output it gives.
pub struct TestPasskey {
    pub raw_id: Vec<u8>,
    pub cred_id: String,
    pub prf: [u8; 32],
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}, None).await
    }

    pub async fn start_with(
        limits: impl FnOnce(&mut Limits),
        entropy: Option<Arc<dyn Entropy>>,
    ) -> TestServer {
        Self::start_configured(|c| limits(&mut c.limits), entropy).await
    }

    /// A server with settings of the test's own (limits, the log key name,
    /// `trust_forwarded`).
    pub async fn start_configured(
        configure: impl FnOnce(&mut Config),
        entropy: Option<Arc<dyn Entropy>>,
    ) -> TestServer {
        let dir = TempDir::new();
        let mut config = Config::new(dir.path().to_path_buf());
        configure(&mut config);
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
            sent: Mutex::new(Vec::new()),
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
        if let Some(b) = body {
            self.sent.lock().unwrap().push(b.to_string());
        }
        http::request(self.addr, method, path, cookie, body).await
    }

    /// `GET /api/me` with the session `token`: 200 while it lives.
    pub async fn me(&self, token: &str) -> http::Resp {
        self.req("GET", "/api/me", Some(token), None).await
    }

    /// `PUT /api/manifest` `{replaces, manifest}` with the session `token`.
    pub async fn put_manifest(&self, token: &str, replaces: u64, m: &Manifest) -> http::Resp {
        let m: Value = serde_json::from_str(&m.to_json()).unwrap();
        let body = serde_json::json!({ "replaces": replaces, "manifest": m }).to_string();
        self.req("PUT", "/api/manifest", Some(token), Some(&body))
            .await
    }

    /// The credential ids (base64url, sorted) that `POST /api/login/start`
    /// offers for `username`: the passkeys webauthn-rs would accept a
    /// sign-in from (`login/finish` checks the assertion against the same list).
    pub async fn login_credentials(&self, username: &str) -> Vec<String> {
        let body = serde_json::json!({ "username": username }).to_string();
        let r = self
            .req("POST", "/api/login/start", None, Some(&body))
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let mut ids: Vec<String> = r.json()["options"]["publicKey"]["allowCredentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    }
}

/// Checks an error answer: its status, JSON content type, code and a message.
pub fn assert_json_error(r: &http::Resp, status: u16, code: &str) {
    assert_eq!(r.status, status, "{}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|v| v.starts_with("application/json")),
        "{status}: content-type {:?}",
        r.header("content-type")
    );
    let j = r.json();
    assert_eq!(j["error"], code, "{status}: {}", r.text());
    assert!(
        j["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{}",
        r.text()
    );
}

/// Removes the passkey with credential id `raw_id` from `vault` (a re-key).
pub fn remove_passkey(vault: &mut Vault, raw_id: &[u8]) {
    let entry = vault
        .manifest()
        .passkeys()
        .find(|p| p.credential_id == raw_id)
        .unwrap()
        .entry_id
        .to_string();
    vault.remove_unlock(&entry).unwrap();
}

/// A passkey for `Vault::create` or `Vault::add_passkey`: a random
/// credential id, a fresh PRF salt and a fixed PRF output.
pub fn new_passkey() -> (PasskeyUnlock, TestPasskey) {
    let mut raw_id = vec![0u8; 16];
    getrandom::fill(&mut raw_id).unwrap();
    let prf = [7u8; 32];
    let unlock = PasskeyUnlock {
        credential_id: raw_id.clone(),
        prf_salt: medseal::new_prf_salt().unwrap(),
        prf_output: PrfOutput::new(&prf).unwrap(),
        label: None,
    };
    let cred_id = medseal::base64url(&raw_id);
    (
        unlock,
        TestPasskey {
            raw_id,
            cred_id,
            prf,
        },
    )
}

/// A new vault, its recovery code and its passkey.
pub fn new_vault() -> (Vault, RecoveryCode, TestPasskey) {
    let (unlock, passkey) = new_passkey();
    let (vault, code) = Vault::create(unlock).unwrap();
    (vault, code, passkey)
}

/// A webauthn-rs `Passkey` as the server stores it, for the credential id
/// `cred_id` (base64url): public data that `POST /api/login/start` offers
/// to sign in with. Its key (the P-256 generator) never verifies anything
/// here: no passkey ceremony runs in these tests.
pub fn passkey_json(cred_id: &str) -> String {
    let hex = |h: &str| -> Vec<u8> {
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
            .collect()
    };
    let x = hex("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296");
    let y = hex("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5");
    let json = serde_json::json!({ "cred": {
        "cred_id": cred_id,
        "cred": { "type_": "ES256", "key": { "EC_EC2": {
            "curve": "SECP256R1", "x": medseal::base64url(&x), "y": medseal::base64url(&y) } } },
        "counter": 0,
        "transports": null,
        "user_verified": true,
        "backup_eligible": false,
        "backup_state": false,
        "registration_policy": "required",
        "extensions": {},
        "attestation": { "data": "None", "metadata": "None" },
        "attestation_format": "none",
    } })
    .to_string();
    // The server skips rows webauthn-rs cannot read: make sure this is not one.
    serde_json::from_str::<webauthn_rs::prelude::Passkey>(&json).expect("a webauthn-rs Passkey");
    json
}

/// Stores a login passkey row for the user (what `passkeys/finish` stores
/// after a registration ceremony).
pub fn add_passkey_row(db: &Db, user_id: &str, cred_id: &str) {
    let json = passkey_json(cred_id);
    db.write_blocking(|c| {
        c.execute(
            "INSERT INTO passkeys (cred_id, user_id, passkey) VALUES (?1, ?2, ?3)",
            [cred_id, user_id, &json],
        )
    })
    .unwrap();
}

pub fn add_user(db: &Db, name: &str) -> TestUser {
    let (vault, code, passkey) = new_vault();
    let id = uuid::Uuid::new_v4().to_string();
    let m = vault.manifest();
    let (text, rev) = (m.to_json(), m.revision() as i64);
    let json = passkey_json(&passkey.cred_id);
    let made = db
        .write_blocking(|c| db::create_user(c, &id, name, &passkey.cred_id, &json, &text, rev))
        .unwrap();
    assert_eq!(made, db::UserWrite::Created);
    TestUser {
        id,
        name: name.to_string(),
        vault,
        code,
        cred_id: passkey.cred_id,
    }
}

pub fn session(db: &Db, user_id: &str, ttl_secs: i64) -> String {
    let token = random_token(&OsEntropy).unwrap();
    db.write_blocking(|c| db::new_session(c, &token, user_id, ttl_secs))
        .unwrap();
    token
}

/// A record sealed by the vault, in text form (the core picks the prefix
/// for the record's format version: `ms1.` or `ms2.`).
pub fn sealed(vault: &mut Vault, id: &str, text: &[u8]) -> String {
    let bytes = vault
        .seal(text, &RecordContext::new(id.as_bytes()))
        .unwrap();
    medseal::record::to_text(&bytes)
}

/// A JSON string literal.
pub fn js(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}
