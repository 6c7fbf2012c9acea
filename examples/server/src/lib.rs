//! medseal reference PHR server.
//!
//! Passkey login with webauthn-rs; per user it stores the passkeys, the vault
//! manifest (a write names the revision it replaces), sealed records, grants,
//! SMART Health Links (their files as JWE), the vault log (signed entries
//! in a Merkle tree; the server attests the accesses only it sees) and
//! attachments (large files sealed as medseal streams, kept as files under
//! the data folder, never in the database).
//! It never receives a plaintext, a PRF output, a vault key, a link key or
//! a recovery code: the browser seals with medseal before anything is
//! sent, and strips PRF results from every credential it posts.
//!
//! Layout, one concern a module: [`attachments`] (the sealed files on
//! disk: paths, atomic placement, the start-up sweep), [`config`]
//! (settings and limits), [`error`] (JSON errors and extractors),
//! [`auth`] (sessions and the signed-in-user extractor), [`flows`]
//! (ceremonies in progress, start limits),
//! [`passcode`] (SMART Health Link passcodes), [`network`] (the network
//! tokens of the vault log's access events), [`random`] (tokens),
//! [`routes`] (one module per resource, and the layers), [`db`] (SQLite,
//! off the async workers), [`serve`] (the accept loop with timeouts and a
//! connection cap), [`state`] (what handlers share).

pub mod attachments;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod flows;
pub mod network;
pub mod passcode;
pub mod random;
pub mod routes;
pub mod serve;
pub mod state;

pub use config::{Config, Limits};
pub use routes::app;
pub use serve::serve;
pub use state::{AppState, LogSink, Shared};
