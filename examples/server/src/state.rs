//! What every handler shares: settings, WebAuthn, the database, flows, the
//! rate limiters, the random source, the log, and the server's two keys of
//! the vault log (its signing key, the network tokens' secret).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::http::HeaderMap;
use medseal::log::ServerLogKey;
use url::Url;
use webauthn_rs::prelude::{Webauthn, WebauthnBuilder};

use crate::config::Config;
use crate::db::Db;
use crate::flows::{Flows, StartLimiter};
use crate::network::{client_ip, TokenSecret};
use crate::random::{Entropy, OsEntropy};

/// The `server_secrets` row of the vault-log signing key (its P-256 scalar).
const LOG_KEY_SECRET: &str = "log_key";
/// The `server_secrets` row of the network tokens' HMAC key.
const NETWORK_TOKEN_SECRET: &str = "network_token";

/// Where log lines go. Lines carry a method, a path (record and credential
/// ids are public), a status and, for 500s, what failed: never a body, a
/// token or a cookie.
pub trait LogSink: Send + Sync {
    /// Writes one line.
    fn line(&self, text: &str);
}

/// Log lines to standard error.
#[derive(Debug, Default, Clone, Copy)]
pub struct StderrLog;

impl LogSink for StderrLog {
    #[allow(clippy::print_stderr)] // the one place the server writes its log
    fn line(&self, text: &str) {
        eprintln!("{text}");
    }
}

/// The shared state.
pub struct AppState {
    /// The settings.
    pub config: Config,
    /// The site's origin (the WebAuthn origin and the login-proof audience).
    pub origin: String,
    /// The WebAuthn relying party.
    pub webauthn: Webauthn,
    /// The database.
    pub db: Db,
    /// Ceremonies in progress.
    pub flows: Flows,
    /// Ceremony starts per client address.
    pub starts: StartLimiter,
    /// SMART Health Link manifest requests per client address.
    pub shl_requests: StartLimiter,
    /// Where tokens and challenges come from.
    pub entropy: Arc<dyn Entropy>,
    /// Where log lines go.
    pub log: Arc<dyn LogSink>,
    /// The vault-log key: signs the checkpoints served and the access
    /// events only the server sees (made once, kept in the database).
    pub log_key: Arc<ServerLogKey>,
    /// The key of the network tokens of access events.
    network_secret: TokenSecret,
}

/// The state as handlers hold it.
pub type Shared = Arc<AppState>;

impl AppState {
    /// State for `origin` (the configured one, or the default for the port
    /// listened on), with the OS random source and a log on standard error.
    pub fn new(config: Config, origin: String, db: Db) -> Result<AppState, String> {
        let rp_origin =
            Url::parse(&origin).map_err(|_| format!("origin is not a URL: {origin}"))?;
        let rp_id = rp_origin
            .host_str()
            .ok_or_else(|| format!("origin has no host: {origin}"))?
            .to_string();
        let webauthn = WebauthnBuilder::new(&rp_id, &rp_origin)
            .and_then(|b| b.rp_name("medseal PHR demo").build())
            .map_err(|e| format!("webauthn configuration: {e:?}"))?;
        let (log_key, network_secret) = load_secrets(&db, &config.log_key_name)?;
        Ok(AppState {
            flows: Flows::new(&config.limits),
            starts: StartLimiter::new(&config.limits),
            shl_requests: StartLimiter::with_rate(
                config.limits.shl_requests_burst,
                config.limits.shl_requests_per_minute,
                "too many link requests from your address; wait a minute",
            ),
            config,
            origin,
            webauthn,
            db,
            entropy: Arc::new(OsEntropy),
            log: Arc::new(StderrLog),
            log_key: Arc::new(log_key),
            network_secret,
        })
    }

    /// The same state with another random source (tests make it fail).
    pub fn with_entropy(self, entropy: Arc<dyn Entropy>) -> AppState {
        AppState { entropy, ..self }
    }

    /// The same state with another log (tests read it).
    pub fn with_log(self, log: Arc<dyn LogSink>) -> AppState {
        AppState { log, ..self }
    }

    /// The network token of a request (the `from` of access events): of
    /// its peer's network, or of the first `X-Forwarded-For` address's
    /// when the configuration trusts a proxy.
    pub fn network_token(&self, peer: SocketAddr, headers: &HeaderMap) -> String {
        self.network_token_of(client_ip(peer, headers, self.config.trust_forwarded))
    }

    /// The network token of an address.
    pub fn network_token_of(&self, ip: IpAddr) -> String {
        self.network_secret.token(ip)
    }

    /// Whether the site is served over https (then cookies are `Secure`).
    pub fn https(&self) -> bool {
        self.origin.starts_with("https://")
    }
}

/// The vault-log key (named `name`) and the network tokens' secret, each
/// made on the first start and read from the database after. Called once,
/// at start, before anything is served.
fn load_secrets(db: &Db, name: &str) -> Result<(ServerLogKey, TokenSecret), String> {
    let fresh = ServerLogKey::generate(name)
        .map_err(|e| format!("vault log key name {name:?}: {}", e.code()))?;
    let mut token = [0u8; 32];
    OsEntropy
        .fill(&mut token)
        .map_err(|e| format!("random source failed: {e}"))?;
    let (key_secret, token_secret) = db
        .write_blocking(|c| {
            let k = crate::db::server_secret(c, LOG_KEY_SECRET, fresh.secret().as_slice())?;
            let t = crate::db::server_secret(c, NETWORK_TOKEN_SECRET, &token)?;
            Ok((k, t))
        })
        .map_err(|e| format!("cannot read the server's secrets: {e}"))?;
    token.fill(0);
    let log_key = ServerLogKey::from_secret(name, &key_secret)
        .map_err(|e| format!("the stored vault log key is unusable: {}", e.code()))?;
    let token_secret: [u8; 32] = token_secret
        .try_into()
        .map_err(|_| "the stored network token secret is not 32 bytes".to_string())?;
    Ok((log_key, TokenSecret::new(token_secret)))
}
