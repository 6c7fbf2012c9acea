//! AES-256-GCM as medseal uses it (96-bit nonces, 128-bit tags, detached
//! tags, in place), through plain functions over byte arrays.
//!
//! This crate adds no cryptography: every call is the RustCrypto `aes-gcm`
//! crate (constant-time fixsliced AES, constant-time POLYVAL). It exists so
//! that the AES-GCM code is compiled here, at this crate's opt-level, and not
//! at the opt-level of the crate that would otherwise name the generic types
//! (see Cargo.toml).

#![no_std]
#![forbid(unsafe_code)]

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce, Tag};

/// Nonce length in bytes.
pub const NONCE_LEN: usize = 12;
/// Tag length in bytes.
pub const TAG_LEN: usize = 16;

/// The only failure: the message is larger than AES-GCM allows (sealing) or
/// does not authenticate (opening). Carries no detail on purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error;

/// An AES-256-GCM key with its key schedule set up; the round keys are
/// zeroed on drop (the `zeroize` feature of `aes-gcm`).
#[derive(Clone)]
pub struct Cipher(Aes256Gcm);

impl core::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Cipher(<redacted>)")
    }
}

impl Cipher {
    /// Expands `key`.
    pub fn new(key: &[u8; 32]) -> Cipher {
        Cipher(Aes256Gcm::new(&Key::<Aes256Gcm>::from(*key)))
    }

    /// Encrypts `buf` in place; returns the tag.
    pub fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], Error> {
        let tag = self
            .0
            .encrypt_inout_detached(&Nonce::from(*nonce), aad, buf.into())
            .map_err(|_| Error)?;
        Ok(tag.into())
    }

    /// Checks `tag` and decrypts `buf` in place. On failure `buf` holds
    /// whatever the cipher left there: the caller wipes it.
    pub fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), Error> {
        self.0
            .decrypt_inout_detached(&Nonce::from(*nonce), aad, buf.into(), &Tag::from(*tag))
            .map_err(|_| Error)
    }
}

/// [`Cipher::seal_in_place`] under a key used once.
pub fn seal_in_place(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
) -> Result<[u8; TAG_LEN], Error> {
    Cipher::new(key).seal_in_place(nonce, aad, buf)
}

/// [`Cipher::open_in_place`] under a key used once.
pub fn open_in_place(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<(), Error> {
    Cipher::new(key).open_in_place(nonce, aad, buf, tag)
}
