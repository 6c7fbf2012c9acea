//! What every handler shares: settings, WebAuthn, the database, flows, the
//! rate limiters, the random source and the log.

use std::sync::Arc;

use url::Url;
use webauthn_rs::prelude::{Webauthn, WebauthnBuilder};

use crate::config::Config;
use crate::db::Db;
use crate::flows::{Flows, StartLimiter};
use crate::random::{Entropy, OsEntropy};

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

    /// Whether the site is served over https (then cookies are `Secure`).
    pub fn https(&self) -> bool {
        self.origin.starts_with("https://")
    }
}
