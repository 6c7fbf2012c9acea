//! # medseal
//!
//! Client-side encryption of personal health records, with keys that come
//! from passkeys (WebAuthn PRF). This crate is the core: plain Rust, no
//! WebAssembly or JavaScript in it (those live in `src/wasm/` and `js/`).
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
#![forbid(unsafe_code)]

pub mod aead;
mod b64;
pub mod error;
pub mod handoff;
mod identity;
pub mod kdf;
pub mod manifest;
pub mod padding;
pub mod record;
pub mod recovery;
mod rng;
mod secret;
pub mod vault;

#[cfg(target_arch = "wasm32")]
pub mod wasm;

#[cfg(test)]
mod tests;

pub use error::{Error, Result};
pub use handoff::HandoffReceiver;
pub use manifest::{Manifest, UnlockEntry};
pub use record::{ContentType, RecordContext};
pub use recovery::RecoveryCode;
pub use secret::PrfOutput;
pub use vault::{new_prf_salt, PasskeyUnlock, Vault};
