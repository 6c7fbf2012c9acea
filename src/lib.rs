//! # medseal
//!
//! Client-side encryption of personal health records, with keys that come
//! from passkeys (WebAuthn PRF). This crate is the core: plain Rust, no
//! WebAssembly or JavaScript in it (the bindings are `crates/medseal-wasm`,
//! the JS API `js/`).
//!
//! - [`Vault`]: created with a passkey's PRF output, unlocked with any
//!   passkey of its [`Manifest`] or with its [`RecoveryCode`]; seals and opens
//!   records.
//! - [`record`]: the sealed record format v1 (AES-256-GCM, key-committing,
//!   context-bound, length-hiding).
//! - [`manifest`]: the signed vault manifest v1.
//!
//! The formats are specified in docs/FORMAT.md, the security model in
//! docs/SECURITY.md.
//! - [`hazmat`]: the large-record path, the one place a key leaves the core.
#![forbid(unsafe_code)]
#![deny(missing_docs, unreachable_pub)]

mod aead;
mod b64;
pub mod card;
pub mod destroy;
mod entry_key;
pub mod error;
pub mod export;
pub mod handoff;
pub mod hazmat;
mod identity;
mod kdf;
pub mod link;
pub mod log;
pub mod manifest;
pub mod notice;
mod padding;
pub mod posture;
pub mod record;
pub mod recovery;
mod rng;
mod secret;
pub mod seen;
pub mod share;
pub mod shl;
pub mod stream;
pub mod vault;

#[cfg(test)]
mod tests;

pub use error::{Error, Result};
pub use handoff::HandoffReceiver;
pub use manifest::{Head, Manifest, PasskeyInfo, ShareInfo};
pub use record::{check_sealed_text, read_meta, ContentType, RecordContext, RecordMeta};
pub use recovery::RecoveryCode;
pub use secret::PrfOutput;
pub use seen::Seen;
pub use share::{Fingerprint, Grant, GrantRequest, GrantScope, NewGrant, Pin, ReceivedGrant};
pub use vault::{new_prf_salt, OpenedRecord, PasskeyUnlock, Vault};

/// The WebAuthn `prf.eval.first` input for a PRF salt: the salt hashed under
/// medseal's own label, so that a passkey's PRF output for medseal is never
/// one another application asked for with the same salt.
pub fn prf_input(salt: &[u8]) -> Vec<u8> {
    kdf::prf_input(salt)
}

/// Encodes bytes as unpadded base64url (the form of every binary field of a
/// manifest, and of credential ids in WebAuthn JSON).
pub fn base64url(bytes: &[u8]) -> String {
    b64::encode(bytes)
}

/// Decodes unpadded base64url strictly (as every field of medseal's JSON);
/// `None` for anything else.
pub fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    b64::decode(text.as_bytes())
}
