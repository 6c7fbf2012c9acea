//! Hazardous materials: the one place where the core hands a key to its
//! caller.
//!
//! A large record (a scan, a PDF) is faster to encrypt with the platform's
//! AES-GCM (WebCrypto) than in WebAssembly. For that, and only that, the
//! caller gets that one record's body key (derived from its data key: it
//! opens this record and nothing else) to import as a non-extractable key,
//! with everything else decided here: the nonce, the associated data, the
//! bytes that go around the plaintext (content type and padding), and where
//! the body starts and the plaintext lies in a decrypted body. The caller
//! computes nothing about the format; it concatenates and slices as told.
//! docs/SECURITY.md ("Large records") says what a leaked body key allows.

use core::ops::Range;

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::padding;
use crate::record::{self, ContentType, RecordContext};
use crate::Vault;

/// How many of a sealed record's first bytes [`open_large`] needs.
pub const HEAD_LEN: usize = record::BODY_START;

/// One record's body cipher: AES-256-GCM under [`BodyCipher::key`] with
/// [`BodyCipher::nonce`] and [`BodyCipher::aad`]. The key is derived from the
/// record's data key and opens this record's body only; it is wiped when
/// this is dropped.
pub struct BodyCipher {
    pub(crate) key: Zeroizing<[u8; 32]>,
    pub(crate) nonce: [u8; crate::aead::NONCE_LEN],
    pub(crate) aad: Vec<u8>,
}

impl BodyCipher {
    /// The body key: import it as non-extractable, then wipe the copy.
    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }
    /// The body nonce (96 bits).
    pub fn nonce(&self) -> &[u8] {
        &self.nonce
    }
    /// The body's associated data.
    pub fn aad(&self) -> &[u8] {
        &self.aad
    }
}

impl core::fmt::Debug for BodyCipher {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("BodyCipher(<redacted>)")
    }
}

/// A new record ready for its body to be encrypted outside the core: with
/// [`LargeSeal::cipher`] over `body_head || plaintext || body_tail`; the
/// sealed record is `prefix || ciphertext-and-tag`. Same format as
/// [`Vault::seal_as`].
pub struct LargeSeal {
    parts: record::SealParts,
}

impl LargeSeal {
    /// This record's body cipher.
    pub fn cipher(&self) -> &BodyCipher {
        &self.parts.cipher
    }
    /// The sealed record's first bytes, to put before the body ciphertext.
    pub fn prefix(&self) -> &[u8] {
        &self.parts.prefix
    }
    /// What goes before the plaintext in the body (its content type).
    pub fn body_head(&self) -> [u8; 1] {
        [self.parts.content_type]
    }
    /// What goes after the plaintext in the body (its padding).
    pub fn body_tail(&self) -> &[u8] {
        &self.parts.padding
    }
}

impl core::fmt::Debug for LargeSeal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("LargeSeal(<redacted>)")
    }
}

/// Prepares a record of `plaintext_len` bytes whose body is encrypted
/// outside the core. The plaintext is never seen here.
pub fn seal_large(
    vault: &mut Vault,
    content_type: ContentType,
    plaintext_len: usize,
    ctx: &RecordContext<'_>,
) -> Result<LargeSeal> {
    seal_large_version(vault, content_type, plaintext_len, ctx, 1)
}

/// [`seal_large`] of version `version` of a record (an edit; see
/// [`Vault::seal_version`]).
pub fn seal_large_version(
    vault: &mut Vault,
    content_type: ContentType,
    plaintext_len: usize,
    ctx: &RecordContext<'_>,
    version: u64,
) -> Result<LargeSeal> {
    Ok(LargeSeal {
        parts: vault.seal_parts(content_type, plaintext_len, ctx, version)?,
    })
}

/// A sealed record whose envelope checked out up to its body (data key
/// unwrapped, commitment verified): decrypt the sealed bytes from
/// [`LargeOpen::body_start`] with [`LargeOpen::cipher`], then read the
/// plaintext with [`LargeOpen::plaintext`].
pub struct LargeOpen {
    parts: record::OpenParts,
}

impl LargeOpen {
    /// This record's body cipher.
    pub fn cipher(&self) -> &BodyCipher {
        &self.parts.cipher
    }
    /// Where the body (ciphertext, then tag) starts in the sealed record.
    pub fn body_start(&self) -> usize {
        self.parts.meta.prefix_len()
    }
    /// Where the part of a decrypted body of `padded_len` bytes that
    /// [`LargeOpen::plaintext`] needs starts (the padding lies after it).
    pub fn tail_start(&self, padded_len: usize) -> usize {
        padded_len.saturating_sub(padding::tail_len(padded_len))
    }
    /// Checks a decrypted body of `padded_len` bytes from its first byte and
    /// its bytes from [`LargeOpen::tail_start`] on, and returns the content
    /// type and where the plaintext lies in the body.
    pub fn plaintext(
        &self,
        first: u8,
        padded_len: usize,
        tail: &[u8],
    ) -> Result<(ContentType, Range<usize>)> {
        if tail.len() != padded_len - self.tail_start(padded_len) {
            return Err(Error::InvalidArgument(
                "tail must be the decrypted body from tail_start on",
            ));
        }
        let (content_type, len) = record::plaintext_len(first, padded_len, tail, &self.parts.meta)?;
        Ok((content_type, 1..1 + len))
    }
}

impl core::fmt::Debug for LargeOpen {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("LargeOpen(<redacted>)")
    }
}

/// Checks a sealed record of `sealed_len` bytes up to its body from its
/// first [`HEAD_LEN`] bytes (or all of it), for decryption outside the core.
pub fn open_large(
    vault: &Vault,
    head: &[u8],
    sealed_len: usize,
    ctx: &RecordContext<'_>,
) -> Result<LargeOpen> {
    Ok(LargeOpen {
        parts: vault.open_parts(head, sealed_len, ctx)?,
    })
}

/// Reads a decrypted body of `padded_len` bytes from its first byte and its
/// last bytes, as [`LargeOpen::plaintext`] does, without an envelope: for
/// tests and fuzzing of the padding rule (FORMAT.md 6.4). Read as a
/// version 1 body (no tombstones).
pub fn read_body(first: u8, padded_len: usize, tail: &[u8]) -> Result<(ContentType, usize)> {
    record::plaintext_len(first, padded_len, tail, &record::RecordMeta::V1)
}

/// How many of a decrypted body's last bytes [`read_body`] needs.
pub fn body_tail_len(padded_len: usize) -> usize {
    padding::tail_len(padded_len)
}

/// Removes the padding of a whole decrypted body and reads its content type
/// (what [`Vault::open_typed`] does after decryption).
pub fn finish_body(padded: Vec<u8>) -> Result<(ContentType, Vec<u8>)> {
    record::finish_open(padded, &record::RecordMeta::V1)
}

/// The padded size of a body that holds `content_len` bytes (FORMAT.md 6.4).
pub fn padded_len(content_len: usize) -> usize {
    padding::padded_len(content_len)
}
