//! AES-256-GCM as medseal uses it: 96-bit random nonces, 128-bit tags, and
//! 32-byte key wrapping (`nonce || ciphertext || tag`, 60 bytes).

pub(crate) use medseal_aead::Cipher;
use zeroize::Zeroize;

use crate::error::{Error, Result};
use crate::rng::Rng;

/// Nonce length in bytes.
pub(crate) const NONCE_LEN: usize = medseal_aead::NONCE_LEN;
/// Tag length in bytes.
pub(crate) const TAG_LEN: usize = medseal_aead::TAG_LEN;
/// A wrapped 32-byte key: nonce, encrypted key, tag.
pub(crate) const WRAPPED_KEY_LEN: usize = NONCE_LEN + 32 + TAG_LEN;

pub(crate) fn cipher(key: &[u8; 32]) -> Cipher {
    Cipher::new(key)
}

/// Encrypts `buf` in place; returns the tag.
pub(crate) fn seal_in_place(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
) -> Result<[u8; TAG_LEN]> {
    medseal_aead::seal_in_place(key, nonce, aad, buf).map_err(|_| Error::TooLarge)
}

/// [`seal_in_place`] with a cipher whose key schedule is already set up.
pub(crate) fn seal_in_place_with(
    c: &Cipher,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
) -> Result<[u8; TAG_LEN]> {
    c.seal_in_place(nonce, aad, buf)
        .map_err(|_| Error::TooLarge)
}

/// Decrypts `buf` in place after checking `tag`. On failure `buf` is wiped.
pub(crate) fn open_in_place(
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<()> {
    let r = medseal_aead::open_in_place(key, nonce, aad, buf, tag);
    wipe_on_failure(r, buf)
}

/// [`open_in_place`] with a cipher whose key schedule is already set up.
pub(crate) fn open_in_place_with(
    c: &Cipher,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<()> {
    let r = c.open_in_place(nonce, aad, buf, tag);
    wipe_on_failure(r, buf)
}

fn wipe_on_failure(r: core::result::Result<(), medseal_aead::Error>, buf: &mut [u8]) -> Result<()> {
    if r.is_err() {
        buf.zeroize();
        return Err(Error::DecryptionFailed);
    }
    Ok(())
}

/// Wraps a 32-byte key under `kek` with associated data `aad`.
pub(crate) fn wrap_key(
    rng: &mut Rng,
    kek: &[u8; 32],
    key: &[u8; 32],
    aad: &[u8],
) -> Result<[u8; WRAPPED_KEY_LEN]> {
    wrap_key_with(rng, &cipher(kek), key, aad)
}

/// [`wrap_key`] with the KEK's cipher already set up (the vault's DEK-wrapping
/// key is expanded once per vault, not once per record).
pub(crate) fn wrap_key_with(
    rng: &mut Rng,
    kek: &Cipher,
    key: &[u8; 32],
    aad: &[u8],
) -> Result<[u8; WRAPPED_KEY_LEN]> {
    let nonce: [u8; NONCE_LEN] = rng.array()?;
    wrap_key_with_nonce(kek, key, &nonce, aad)
}

/// [`wrap_key_with`] with a nonce the caller drew from the vault's random
/// source (so one draw can serve a whole record).
pub(crate) fn wrap_key_with_nonce(
    kek: &Cipher,
    key: &[u8; 32],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
) -> Result<[u8; WRAPPED_KEY_LEN]> {
    let mut body = *key;
    // `body` holds the ciphertext from here on.
    let tag = seal_in_place_with(kek, nonce, aad, &mut body)?;
    let mut out = [0u8; WRAPPED_KEY_LEN];
    let (n, rest) = out.split_at_mut(NONCE_LEN);
    let (c, t) = rest.split_at_mut(32);
    n.copy_from_slice(nonce);
    c.copy_from_slice(&body);
    t.copy_from_slice(&tag);
    Ok(out)
}

/// Unwraps a key wrapped by [`wrap_key`]. Any failure is `DecryptionFailed`.
pub(crate) fn unwrap_key(kek: &[u8; 32], wrapped: &[u8], aad: &[u8]) -> Result<[u8; 32]> {
    unwrap_key_with(&cipher(kek), wrapped, aad)
}

/// [`unwrap_key`] with the KEK's cipher already set up.
pub(crate) fn unwrap_key_with(kek: &Cipher, wrapped: &[u8], aad: &[u8]) -> Result<[u8; 32]> {
    let wrapped: &[u8; WRAPPED_KEY_LEN] =
        wrapped.try_into().map_err(|_| Error::DecryptionFailed)?;
    let (nonce, rest) = wrapped
        .split_first_chunk::<NONCE_LEN>()
        .ok_or(Error::DecryptionFailed)?;
    let (body, tag) = rest
        .split_first_chunk::<32>()
        .ok_or(Error::DecryptionFailed)?;
    let tag: &[u8; TAG_LEN] = tag.try_into().map_err(|_| Error::DecryptionFailed)?;
    let mut key = *body;
    open_in_place_with(kek, nonce, aad, &mut key, tag)?;
    Ok(key)
}
