//! Settings: where to listen and store, the origin, and the limits that keep
//! one client from holding the server (timeouts, connection cap, flow and
//! rate limits). Read from the environment by `main`; tests build their own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the server is started with.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen (`MEDSEAL_ADDR`, default 127.0.0.1:8080).
    pub addr: SocketAddr,
    /// The folder of the SQLite file (`MEDSEAL_DATA`, default `./data` of the repository).
    pub data_dir: PathBuf,
    /// The site's origin (`MEDSEAL_ORIGIN`); `None` means `http://localhost:<port>`.
    /// The WebAuthn RP id is its host.
    pub origin: Option<String>,
    /// The repository root: the web app is served from `examples/server/web`
    /// (with `examples/shared` under `/shared/`), the package from `pkg/`.
    pub web_root: PathBuf,
    /// Timeouts, caps and rate limits.
    pub limits: Limits,
    /// The key name of the server's vault-log key (`MEDSEAL_LOG_KEY_NAME`,
    /// default [`DEFAULT_LOG_KEY_NAME`]): the name its checkpoint signatures
    /// carry and vaults announce it under. The key itself is generated once
    /// and kept in the database; a vault that announced it under one name
    /// does not accept checkpoints signed under another, so changing the
    /// name of a running deployment breaks every vault's log sync.
    pub log_key_name: String,
    /// A security notice signed by the operator's key (FORMAT.md §18), served
    /// at `GET /api/notice` as it is (`MEDSEAL_NOTICE_FILE`; read at each
    /// request, so the operator can replace it without a restart).
    pub notice_file: Option<PathBuf>,
    /// Whether the client's address is the first `X-Forwarded-For` address
    /// rather than the connection's peer (`MEDSEAL_TRUST_FORWARDED=1`).
    /// Only for a deployment behind a reverse proxy that sets the header:
    /// otherwise any client names its own address. It is read for the
    /// network token of the vault log's access events only; the rate limits
    /// keep using the peer address.
    pub trust_forwarded: bool,
}

/// Timeouts, caps and rate limits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A request's head must arrive within this, counted from the connection's
    /// start or the end of the previous response: it is both the slow-header
    /// (slowloris) timeout and the keep-alive idle timeout
    /// (`MEDSEAL_HEADER_TIMEOUT_MS`, default 10 s).
    pub header_read_timeout: Duration,
    /// A request, body included, must be answered within this; past it the
    /// answer is 408 (`MEDSEAL_REQUEST_TIMEOUT_MS`, default 30 s).
    pub request_timeout: Duration,
    /// A response being sent must make progress within this: a client that
    /// stops reading is disconnected (`MEDSEAL_SEND_TIMEOUT_MS`, default 20 s).
    pub send_timeout: Duration,
    /// Open connections at most; more wait in the listen backlog
    /// (`MEDSEAL_MAX_CONNECTIONS`, default 1024).
    pub max_connections: usize,
    /// Longest request target, in bytes (414 past it).
    pub max_uri_len: usize,
    /// Most request headers, and their total size in bytes (431 past either).
    pub max_headers: usize,
    /// See `max_headers`.
    pub max_header_bytes: usize,
    /// Largest body of a signed-in request (a sealed record: 2 MiB and its JSON).
    pub max_body: usize,
    /// Largest body of a request made before signing in (credential and manifest).
    pub max_public_body: usize,
    /// How long a session lasts.
    pub session_ttl: Duration,
    /// How often expired sessions are deleted.
    pub session_purge_every: Duration,
    /// How long a started ceremony (sign-up, sign-in, new passkey, recovery) may take.
    pub flow_ttl: Duration,
    /// Ceremonies in progress at most, over all clients (503 past it).
    pub max_pending_flows: usize,
    /// Ceremony starts one client address may make at once...
    pub flow_starts_burst: u32,
    /// ...and per minute after that.
    pub flow_starts_per_minute: u32,
    /// Concurrent SQLite read connections.
    pub read_connections: usize,
    /// Largest body of `POST /api/links`: up to [`MAX_LINK_FILES`] files of
    /// [`MAX_LINK_FILE_LEN`] each, and their JSON.
    pub max_link_body: usize,
    /// SMART Health Link manifest requests (`POST /shl/{linkId}`, public)
    /// one client address may make at once...
    pub shl_requests_burst: u32,
    /// ...and per minute after that (429 past it).
    pub shl_requests_per_minute: u32,
    /// How long a file's one-time `location` URL lasts.
    pub shl_location_ttl: Duration,
    /// Most entries one `GET /api/log` or `GET /api/log/entries` answer
    /// carries (the sync pages past it).
    pub log_page: u64,
    /// Most entries one vault's log holds; past it appends are refused
    /// (413 `log_full`). The server's events of accesses that disclosed
    /// nothing (failed sign-ins, fetches of an expired grant, link requests
    /// refused) stop at 90% of it, so requests of others cannot fill the
    /// room left for the vault's own entries and for the events that must
    /// be recorded (a successful sign-in, records or files served): those
    /// go up to the limit, and past it the request is refused (503
    /// `log_full`), never served unrecorded.
    pub log_max_entries: u64,
    /// Failed sign-ins (passkey or recovery code) recorded in one vault's
    /// log per clock hour; past it they are not recorded (the server logs
    /// a line at the first one past it), and the sign-in still fails.
    pub log_failed_logins_per_hour: u64,
    /// Access events of one grant recorded per clock hour (its grantee's
    /// fetches that served records, and fetches after it expired); past it
    /// a fetch that would serve records is refused (429
    /// `too_many_requests`, with `Retry-After`).
    pub log_grant_events_per_hour: u64,
    /// Access events of one SMART Health Link recorded per clock hour
    /// (every manifest request naming it); past it a request that would
    /// serve the files or take a passcode attempt is refused (429
    /// `too_many_requests`, with `Retry-After`).
    pub log_link_events_per_hour: u64,
    /// Largest attachment (a sealed file), in bytes (`MEDSEAL_MAX_ATTACHMENT`,
    /// default 4 GiB): past it an upload is refused (413 `too_large`).
    pub max_attachment: u64,
    /// All of one account's attachments together, in bytes
    /// (`MEDSEAL_ATTACHMENT_QUOTA`, default 16 GiB; 413 `quota_exceeded`).
    pub attachment_quota: u64,
    /// The attachment routes are answered within this instead of
    /// `request_timeout` (`MEDSEAL_UPLOAD_TIMEOUT_MS`, default 1 hour): a
    /// study of a few GB takes minutes on a slow link. A download's body is
    /// not under it (only its head is): `send_timeout` bounds a client that
    /// stops reading.
    pub upload_timeout: Duration,
    /// An upload's body must make progress within this: no byte for this
    /// long ends it (408), so a stalled client does not hold a connection
    /// for the whole `upload_timeout` (`MEDSEAL_UPLOAD_IDLE_TIMEOUT_MS`,
    /// default 30 s).
    pub upload_idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            send_timeout: Duration::from_secs(20),
            max_connections: 1024,
            max_uri_len: 8 << 10,
            max_headers: 64,
            max_header_bytes: 16 << 10,
            max_body: MAX_RECORD_LEN + 4096,
            max_public_body: 512 << 10,
            session_ttl: Duration::from_secs(12 * 3600),
            session_purge_every: Duration::from_secs(600),
            flow_ttl: Duration::from_secs(300),
            max_pending_flows: 10_000,
            flow_starts_burst: 20,
            flow_starts_per_minute: 20,
            read_connections: 4,
            max_link_body: MAX_LINK_FILES * MAX_LINK_FILE_LEN + (64 << 10),
            max_attachment: 4 << 30,
            attachment_quota: 16 << 30,
            upload_timeout: Duration::from_secs(3600),
            upload_idle_timeout: Duration::from_secs(30),
            shl_requests_burst: 30,
            shl_requests_per_minute: 30,
            shl_location_ttl: Duration::from_secs(60),
            log_page: 1000,
            log_max_entries: 1_000_000,
            log_failed_logins_per_hour: 30,
            log_grant_events_per_hour: 300,
            log_link_events_per_hour: 300,
        }
    }
}

/// Largest sealed record accepted, in characters of its text form.
pub const MAX_RECORD_LEN: usize = 2 << 20;
/// Largest manifest accepted, in bytes of JSON.
pub const MAX_MANIFEST_LEN: usize = 256 << 10;
/// Highest manifest revision accepted: 2^53 - 1, the largest integer a
/// JavaScript number holds exactly. The web client reads revisions as
/// numbers (and sends `replaces` back), so a higher one would come back as
/// another revision.
pub const MAX_REVISION: u64 = (1 << 53) - 1;
/// Most manifest revisions one `since` answer carries. A client that is
/// further behind reads the manifest without `since`.
pub const MAX_HISTORY_ENTRIES: usize = 1000;
/// Most bytes of manifest JSON one `since` answer carries: a thousand
/// manifests of the largest size would be 256 MiB in one answer.
pub const MAX_HISTORY_BYTES: usize = 16 << 20;

/// Most slots one grant or slots request carries (a fixed-records grant
/// names at most 1000 records: `medseal::share::MAX_GRANT_RECORDS`).
pub const MAX_SLOTS_PER_REQUEST: usize = 1000;
/// Most grants one `GET /api/grants` or `GET /api/shared` answer lists: as
/// many as one manifest lists (`medseal::manifest::MAX_SHARES`). Grants to
/// one user come from any number of grantors, each listed with the
/// grantor's manifest, so `GET /api/shared` gives the newest this many.
pub const MAX_LISTED_GRANTS: u32 = 256;

/// Most files one SMART Health Link carries.
pub const MAX_LINK_FILES: usize = 10;
/// Largest file of a link, in characters of its JWE (compact serialization).
pub const MAX_LINK_FILE_LEN: usize = 1 << 20;
/// Wrong passcodes a link with flag `P` takes in its lifetime; at the last
/// it is disabled for good (the spec's "total lifetime count").
pub const LINK_PASSCODE_ATTEMPTS: i64 = 10;
/// The server's vault-log key name when `MEDSEAL_LOG_KEY_NAME` is not set.
pub const DEFAULT_LOG_KEY_NAME: &str = "medseal-server/log";
/// Most checkpoints cosigned by a vault's devices that one sync answer
/// carries (the newest by size, at most the answer's head).
pub const LOG_COSIGNED_SERVED: u32 = 8;
/// Most cosigned checkpoints kept per vault: past it the ones of the
/// smallest sizes are dropped (a fork before the newest one kept is still
/// caught: the new head must extend it).
pub const LOG_COSIGNED_KEPT: u32 = 256;

/// Most attachments one account holds (an upload of a new one past it is
/// 413 `too_many_attachments`): `GET /api/attachments` lists them all.
pub const MAX_ATTACHMENTS: u64 = 10_000;

/// Largest body of a manifest request (`{recipient, passcode?,
/// embeddedLengthMax?}`, and whatever a newer client adds that we ignore).
pub const MAX_SHL_REQUEST_BODY: usize = 16 << 10;

impl Config {
    /// Defaults for a data folder: listen on 127.0.0.1:8080, the origin from
    /// the port, default limits.
    pub fn new(data_dir: PathBuf) -> Config {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir,
            origin: None,
            web_root: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.."),
            limits: Limits::default(),
            log_key_name: DEFAULT_LOG_KEY_NAME.to_string(),
            notice_file: None,
            trust_forwarded: false,
        }
    }

    /// The settings of the environment variables named in [`Config`] and [`Limits`].
    /// A variable that is set but unreadable is an error, not a silent default.
    pub fn from_env() -> Result<Config, String> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut c = Config::new(root.join("data"));
        if let Some(a) = var("MEDSEAL_ADDR") {
            c.addr = a
                .parse()
                .map_err(|_| format!("MEDSEAL_ADDR is not an address: {a}"))?;
        }
        if let Some(d) = var("MEDSEAL_DATA") {
            c.data_dir = PathBuf::from(d);
        }
        c.origin = var("MEDSEAL_ORIGIN");
        if let Some(ms) = number("MEDSEAL_HEADER_TIMEOUT_MS")? {
            c.limits.header_read_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = number("MEDSEAL_REQUEST_TIMEOUT_MS")? {
            c.limits.request_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = number("MEDSEAL_SEND_TIMEOUT_MS")? {
            c.limits.send_timeout = Duration::from_millis(ms);
        }
        if let Some(n) = number("MEDSEAL_MAX_CONNECTIONS")? {
            c.limits.max_connections = usize::try_from(n).unwrap_or(usize::MAX).max(1);
        }
        if let Some(n) = number("MEDSEAL_MAX_ATTACHMENT")? {
            c.limits.max_attachment = n;
        }
        if let Some(n) = number("MEDSEAL_ATTACHMENT_QUOTA")? {
            c.limits.attachment_quota = n;
        }
        if let Some(ms) = number("MEDSEAL_UPLOAD_TIMEOUT_MS")? {
            c.limits.upload_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = number("MEDSEAL_UPLOAD_IDLE_TIMEOUT_MS")? {
            c.limits.upload_idle_timeout = Duration::from_millis(ms);
        }
        c.notice_file = var("MEDSEAL_NOTICE_FILE").map(PathBuf::from);
        if let Some(name) = var("MEDSEAL_LOG_KEY_NAME") {
            medseal::log::note::check_key_name(&name).map_err(|_| {
                format!("MEDSEAL_LOG_KEY_NAME is not a key name (no spaces or +): {name}")
            })?;
            c.log_key_name = name;
        }
        if let Some(v) = var("MEDSEAL_TRUST_FORWARDED") {
            c.trust_forwarded = match v.as_str() {
                "1" => true,
                "0" => false,
                _ => return Err(format!("MEDSEAL_TRUST_FORWARDED is 1 or 0, not: {v}")),
            };
        }
        Ok(c)
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn number(name: &str) -> Result<Option<u64>, String> {
    var(name)
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| format!("{name} is not a whole number: {v}"))
        })
        .transpose()
}
