//! Streams: large files (discharge PDFs, photos, imaging studies) sealed in
//! fixed-size chunks, so that neither side ever holds the whole file and a
//! viewer can read any part of it (FORMAT.md §17).
//!
//! The body is C2SP chunked encryption (<https://c2sp.org/chunked-encryption>)
//! instantiated as Cobblestone-256 (HKDF-Expand-SHA-512, AES-256-GCM, 16 KiB
//! chunks), adopted as published: a derived per-stream key and base nonce, a
//! 32-byte key commitment, nonce = base nonce XOR chunk number, and a final
//! chunk that is always shorter than a full one, so that truncation at a
//! chunk boundary leaves a length no honest writer produces. Its input key
//! derives from a per-stream data key that the header wraps exactly as a
//! record's (§14.7): key epochs, re-wrapping and grant slots treat a stream
//! like any record.
//!
//! The chunk cipher can run here (native code, tests, the command-line tool)
//! or in the platform's AES-GCM (WebCrypto), which is several times faster
//! than AES in wasm: [`StreamKeys::key`] is the one key this module hands
//! out, and it opens this one stream only (docs/SECURITY.md, "Large files").

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha512;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::aead::{self, NONCE_LEN};
use crate::error::{Error, Result};
use crate::kdf::{hkdf32, label, put_lp};
use crate::record::RecordContext;
use crate::secret::DataKey;

/// `"msst"`: the first bytes of every sealed stream.
pub const MAGIC: [u8; 4] = *b"msst";
/// The stream format this build writes (and the only one it reads).
pub const VERSION: u8 = 1;
/// Cobblestone-256 chunks, HKDF-SHA256 key wrap.
pub const SUITE: u8 = 1;
/// Plaintext bytes in every chunk but the last (C2SP: 16 KiB).
pub const CHUNK_LEN: usize = 16 * 1024;
/// The AES-GCM tag after each chunk.
pub const TAG_LEN: usize = aead::TAG_LEN;
/// A full chunk as stored: ciphertext then tag.
pub const SEALED_CHUNK_LEN: usize = CHUNK_LEN + TAG_LEN;
/// The C2SP salt (random, per stream).
pub const SALT_LEN: usize = 24;
/// The C2SP key commitment.
pub const COMMITMENT_LEN: usize = 32;
/// Magic, version, suite, key epoch, record version.
const META_LEN: usize = 4 + 1 + 1 + 4 + 8;
/// Where the wrapped data key ends: the bytes a re-wrap replaces.
pub const REWRAP_LEN: usize = META_LEN + aead::WRAPPED_KEY_LEN;
/// Everything before the first chunk: 78 bytes of medseal header, then the
/// C2SP salt and commitment.
pub const HEADER_LEN: usize = REWRAP_LEN + SALT_LEN + COMMITMENT_LEN;
/// The most chunks a stream may have: C2SP allows 2^38 and says not to go
/// below 2^32 (64 TiB), which is what this takes.
pub const MAX_CHUNKS: u64 = 1 << 32;
/// The largest plaintext: `MAX_CHUNKS` chunks, the last one short.
pub const MAX_PLAINTEXT_LEN: u64 = MAX_CHUNKS * CHUNK_LEN as u64 - 1;
/// The largest record version (JS numbers are exact below 2^53).
const MAX_VERSION: u64 = (1 << 53) - 1;

/// The HKDF-Expand info prefix of C2SP chunked encryption for AES-256-GCM.
const C2SP_INFO: &[u8] = b"c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\x00";

/// What a stream's header says before any key is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamMeta {
    /// The key epoch whose vault key wraps the data key.
    pub epoch: u32,
    /// The record version (an edit writes the next one; see [`crate::Seen`]).
    pub version: u64,
}

impl StreamMeta {
    /// As a record's header metadata, for the seen-state checks that streams
    /// share with records.
    pub fn as_record_meta(&self) -> crate::RecordMeta {
        crate::RecordMeta {
            format: crate::record::VERSION_2,
            epoch: self.epoch,
            version: self.version,
        }
    }
}

/// The exact size of a sealed stream of `plaintext_len` bytes.
pub fn sealed_size(plaintext_len: u64) -> Result<u64> {
    if plaintext_len > MAX_PLAINTEXT_LEN {
        return Err(Error::TooLarge);
    }
    let chunks = plaintext_len / CHUNK_LEN as u64 + 1;
    Ok(HEADER_LEN as u64 + plaintext_len + chunks * TAG_LEN as u64)
}

/// The plaintext size of a sealed stream of `sealed_len` bytes: `Truncated`
/// for a length that ends on a chunk boundary (the short final chunk is
/// missing), `Malformed` for one no writer produces (inside a tag).
pub fn plaintext_size(sealed_len: u64) -> Result<u64> {
    if sealed_len == HEADER_LEN as u64 {
        // The header alone: even an empty stream has its (empty) last chunk.
        return Err(Error::Truncated);
    }
    if sealed_len < (HEADER_LEN + TAG_LEN) as u64 {
        return Err(Error::Malformed(
            "sealed stream is shorter than its header and one tag",
        ));
    }
    let body = sealed_len - HEADER_LEN as u64;
    let full = body / SEALED_CHUNK_LEN as u64;
    let rest = body % SEALED_CHUNK_LEN as u64;
    if rest == 0 {
        return Err(Error::Truncated);
    }
    if rest < TAG_LEN as u64 {
        return Err(Error::Malformed("sealed stream ends inside a tag"));
    }
    let n = full * CHUNK_LEN as u64 + (rest - TAG_LEN as u64);
    if n > MAX_PLAINTEXT_LEN {
        return Err(Error::TooLarge);
    }
    Ok(n)
}

/// Where chunk `k` lies in a sealed stream: its first byte.
pub fn chunk_offset(k: u64) -> u64 {
    k.saturating_mul(SEALED_CHUNK_LEN as u64)
        .saturating_add(HEADER_LEN as u64)
}

/// The record id and context checks of FORMAT.md §17.4 step 1 (they come
/// before any byte of the stream is looked at): `InvalidArgument`.
pub fn check_binding(ctx: &RecordContext<'_>) -> Result<()> {
    ctx.check()
}

/// The key-free checks of a stream's first bytes: magic, version, suite,
/// length, epoch and record version.
pub fn read_header(head: &[u8]) -> Result<StreamMeta> {
    if head.get(..4) != Some(&MAGIC[..]) {
        return Err(Error::Malformed("not a medseal stream"));
    }
    let (Some(&version), Some(&suite)) = (head.get(4), head.get(5)) else {
        return Err(Error::Malformed("stream header is truncated"));
    };
    if version != VERSION {
        return Err(Error::UnknownVersion {
            what: "stream",
            version: version.into(),
        });
    }
    if suite != SUITE {
        return Err(Error::UnknownVersion {
            what: "stream suite",
            version: suite.into(),
        });
    }
    let Some(h) = head.first_chunk::<HEADER_LEN>() else {
        return Err(Error::Malformed("stream header is truncated"));
    };
    let epoch = u32::from_be_bytes([h[6], h[7], h[8], h[9]]);
    let version = u64::from_be_bytes([h[10], h[11], h[12], h[13], h[14], h[15], h[16], h[17]]);
    if epoch == 0 {
        return Err(Error::Malformed("stream key epoch must be at least 1"));
    }
    if version == 0 || version > MAX_VERSION {
        return Err(Error::Malformed("stream record version out of range"));
    }
    Ok(StreamMeta { epoch, version })
}

fn meta_bytes(epoch: u32, version: u64) -> [u8; META_LEN] {
    let mut m = [0u8; META_LEN];
    m[..4].copy_from_slice(&MAGIC);
    m[4] = VERSION;
    m[5] = SUITE;
    m[6..10].copy_from_slice(&epoch.to_be_bytes());
    m[10..18].copy_from_slice(&version.to_be_bytes());
    m
}

/// The associated data of the wrapped data key: the header's first 18
/// bytes, the vault, the record id and context (as a v2 record's, under a
/// label of its own so a stream's wrapped key is never a record's).
pub(crate) fn dek_aad(meta: &[u8], vault_id: &[u8], ctx: &RecordContext<'_>) -> Vec<u8> {
    let mut aad = Vec::with_capacity(64 + vault_id.len() + ctx.record_id.len() + ctx.context.len());
    aad.extend_from_slice(label::AAD_STREAM_DEK);
    aad.extend_from_slice(meta);
    put_lp(&mut aad, vault_id);
    put_lp(&mut aad, ctx.record_id);
    put_lp(&mut aad, ctx.context);
    aad
}

/// The C2SP `context`: binds the chunks to the record id, context and
/// version, but not to the epoch or the wrapped key, so a re-wrap leaves the
/// chunks as they are (the data key is bound through the commitment).
fn c2sp_context(version: u64, ctx: &RecordContext<'_>) -> Vec<u8> {
    let mut c = Vec::with_capacity(64 + ctx.record_id.len() + ctx.context.len());
    c.extend_from_slice(label::STREAM_CONTEXT);
    c.extend_from_slice(&MAGIC);
    c.push(VERSION);
    c.push(SUITE);
    c.extend_from_slice(&version.to_be_bytes());
    put_lp(&mut c, ctx.record_id);
    put_lp(&mut c, ctx.context);
    c
}

/// HKDF-Expand (RFC 5869 §2.3) with SHA-512 to 76 bytes (two blocks). Written
/// out because C2SP takes a 32-byte key as the PRK, shorter than the hash,
/// which RFC 5869 allows ("at least HashLen" is advice) and Go and Python
/// accept, but the `hkdf` crate's `from_prk` refuses.
fn expand_sha512(prk: &[u8; 32], info: &[u8]) -> Zeroizing<[u8; 76]> {
    let mut out = Zeroizing::new([0u8; 76]);
    let mut t = Zeroizing::new([0u8; 64]);
    for (i, block) in out.chunks_mut(64).enumerate() {
        // A 32-byte HMAC key is always accepted: this cannot fail.
        let Ok(mut mac) = <Hmac<Sha512> as KeyInit>::new_from_slice(prk) else {
            continue;
        };
        if i > 0 {
            mac.update(t.as_slice());
        }
        mac.update(info);
        mac.update(&[i as u8 + 1]);
        t.copy_from_slice(&mac.finalize().into_bytes());
        for (b, x) in block.iter_mut().zip(t.iter()) {
            *b = *x;
        }
    }
    out
}

/// A stream's chunk key and base nonce, derived with the commitment from its
/// data key, salt and context. Wiped on drop; Debug prints no key.
pub struct StreamKeys {
    key: Zeroizing<[u8; 32]>,
    base_nonce: [u8; NONCE_LEN],
    cipher: aead::Cipher,
}

impl core::fmt::Debug for StreamKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("StreamKeys(<redacted>)")
    }
}

impl StreamKeys {
    fn derive(
        dek: &DataKey,
        salt: &[u8; SALT_LEN],
        version: u64,
        ctx: &RecordContext<'_>,
    ) -> (StreamKeys, [u8; COMMITMENT_LEN]) {
        let input = Zeroizing::new(hkdf32(dek.expose(), &[], label::STREAM_KEY, &[]));
        let mut info = Vec::with_capacity(C2SP_INFO.len() + SALT_LEN + 128);
        info.extend_from_slice(C2SP_INFO);
        info.extend_from_slice(salt);
        info.extend_from_slice(&c2sp_context(version, ctx));
        let okm = expand_sha512(&input, &info);
        let okm: &[u8; 76] = &okm;
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&okm[..32]);
        let mut base_nonce = [0u8; NONCE_LEN];
        base_nonce.copy_from_slice(&okm[32..44]);
        let mut commitment = [0u8; COMMITMENT_LEN];
        commitment.copy_from_slice(&okm[44..76]);
        let cipher = aead::cipher(&key);
        (
            StreamKeys {
                key,
                base_nonce,
                cipher,
            },
            commitment,
        )
    }

    /// The chunk key (AES-256): for the platform's AES-GCM only, imported as
    /// non-extractable; it opens this stream and nothing else.
    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }

    /// The nonce of chunk `k`: the base nonce XOR `k` as a 96-bit big-endian
    /// number.
    pub fn nonce(&self, k: u64) -> [u8; NONCE_LEN] {
        let mut n = self.base_nonce;
        for (b, c) in n[4..].iter_mut().zip(k.to_be_bytes()) {
            *b ^= c;
        }
        n
    }
}

impl Drop for StreamKeys {
    fn drop(&mut self) {
        self.base_nonce.zeroize();
    }
}

fn chunk_len_ok(len: usize, last: bool) -> bool {
    if last {
        len < CHUNK_LEN
    } else {
        len == CHUNK_LEN
    }
}

/// Seals a stream chunk by chunk: [`StreamSealer::header`] first, then each
/// full chunk with [`StreamSealer::seal_chunk`], then the short last one
/// with [`StreamSealer::seal_last`] (possibly empty). The counter and the
/// final-chunk rule are kept here, so no caller can reuse a nonce or end a
/// stream with a full chunk.
#[derive(Debug)]
pub struct StreamSealer {
    keys: StreamKeys,
    header: Vec<u8>,
    next: u64,
    done: bool,
}

impl StreamSealer {
    /// The sealed stream's first [`HEADER_LEN`] bytes.
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// The chunk keys, for sealing in the platform's AES-GCM: take each
    /// chunk's nonce from [`StreamSealer::next_nonce`].
    pub fn keys(&self) -> &StreamKeys {
        &self.keys
    }

    /// How many chunks were sealed (or had their nonce taken).
    pub fn chunks(&self) -> u64 {
        self.next
    }

    /// Whether the last chunk was sealed.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Reserves the next chunk, of `len` plaintext bytes, and returns its
    /// nonce: `len` must be [`CHUNK_LEN`], or less for the last chunk (after
    /// which nothing more may be sealed).
    pub fn next_nonce(&mut self, len: usize, last: bool) -> Result<[u8; NONCE_LEN]> {
        if self.done {
            return Err(Error::InvalidArgument(
                "the stream's last chunk was already sealed",
            ));
        }
        if !chunk_len_ok(len, last) {
            return Err(Error::InvalidArgument(
                "a stream chunk must be 16384 bytes, the last one shorter",
            ));
        }
        let k = self.next;
        let limit = if last { MAX_CHUNKS } else { MAX_CHUNKS - 1 };
        if k >= limit {
            return Err(Error::TooLarge);
        }
        self.next = k + 1;
        self.done = last;
        Ok(self.keys.nonce(k))
    }

    fn seal(&mut self, chunk: &[u8], last: bool) -> Result<Vec<u8>> {
        let nonce = self.next_nonce(chunk.len(), last)?;
        let mut out = Vec::with_capacity(chunk.len() + TAG_LEN);
        out.extend_from_slice(chunk);
        let tag = aead::seal_in_place_with(&self.keys.cipher, &nonce, &[], &mut out)?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Seals a full chunk ([`CHUNK_LEN`] bytes); returns it as stored.
    pub fn seal_chunk(&mut self, chunk: &[u8]) -> Result<Vec<u8>> {
        self.seal(chunk, false)
    }

    /// Seals the last chunk (shorter than [`CHUNK_LEN`], possibly empty).
    pub fn seal_last(&mut self, chunk: &[u8]) -> Result<Vec<u8>> {
        self.seal(chunk, true)
    }
}

impl StreamSealer {
    /// Seals a whole plaintext held in memory: the header and every chunk,
    /// as one buffer (the command-line tool, tests; a browser streams).
    pub fn seal_all(mut self, plaintext: &[u8]) -> Result<Vec<u8>> {
        let size = sealed_size(plaintext.len() as u64)?;
        let mut out = Vec::with_capacity(usize::try_from(size).map_err(|_| Error::TooLarge)?);
        out.extend_from_slice(&self.header);
        let full = plaintext.len() / CHUNK_LEN;
        let (body, last) = plaintext.split_at(full * CHUNK_LEN);
        for chunk in body.chunks_exact(CHUNK_LEN) {
            out.extend_from_slice(&self.seal_chunk(chunk)?);
        }
        out.extend_from_slice(&self.seal_last(last)?);
        Ok(out)
    }
}

/// Opens a stream whose header checked out (data key unwrapped, commitment
/// verified), in order ([`StreamOpener::open_next`], then
/// [`StreamOpener::finish`]) or at random ([`StreamOpener::open_at`], which
/// needs the sealed length).
#[derive(Debug)]
pub struct StreamOpener {
    keys: StreamKeys,
    meta: StreamMeta,
    next: u64,
    done: bool,
}

impl StreamOpener {
    /// The header's epoch and record version (authenticated: the data key's
    /// wrap covers them).
    pub fn meta(&self) -> StreamMeta {
        self.meta
    }

    /// The chunk keys, for opening in the platform's AES-GCM: take each
    /// chunk's nonce from [`StreamOpener::next_nonce`] or
    /// [`StreamOpener::nonce_at`].
    pub fn keys(&self) -> &StreamKeys {
        &self.keys
    }

    /// The nonce of the next chunk in order, whose stored length is `len`
    /// and which is the last one when `last` (the input ended after it). A
    /// full chunk is never last: a stream that ends with one was truncated.
    pub fn next_nonce(&mut self, len: usize, last: bool) -> Result<[u8; NONCE_LEN]> {
        if self.done {
            return Err(Error::Malformed(
                "sealed stream continues after its last chunk",
            ));
        }
        if !(TAG_LEN..=SEALED_CHUNK_LEN).contains(&len) {
            return Err(if last && len == 0 {
                Error::Truncated
            } else {
                Error::Malformed("stream chunk has an impossible length")
            });
        }
        let plain = len - TAG_LEN;
        if last && plain == CHUNK_LEN {
            return Err(Error::Truncated);
        }
        if !chunk_len_ok(plain, last) {
            return Err(Error::Malformed("a stream chunk before the last is short"));
        }
        let k = self.next;
        if k >= MAX_CHUNKS {
            return Err(Error::TooLarge);
        }
        self.next = k + 1;
        self.done = last;
        Ok(self.keys.nonce(k))
    }

    /// The nonce of chunk `k` of a sealed stream of `sealed_len` bytes, and
    /// that chunk's stored range; the chunk's length and whether it is the
    /// last follow from `sealed_len` (verify the last chunk first to know
    /// `sealed_len` is genuine: see [`StreamOpener::open_at`]).
    pub fn nonce_at(
        &self,
        k: u64,
        sealed_len: u64,
    ) -> Result<([u8; NONCE_LEN], core::ops::Range<u64>)> {
        let n = plaintext_size(sealed_len)?;
        let last = n / CHUNK_LEN as u64;
        if k > last {
            return Err(Error::InvalidArgument(
                "chunk index past the end of the stream",
            ));
        }
        let start = chunk_offset(k);
        let end = if k == last {
            sealed_len
        } else {
            start + SEALED_CHUNK_LEN as u64
        };
        Ok((self.keys.nonce(k), start..end))
    }

    fn open_with(&self, nonce: &[u8; NONCE_LEN], sealed: &[u8]) -> Result<Vec<u8>> {
        let Some((ct, tag)) = sealed.split_last_chunk::<TAG_LEN>() else {
            return Err(Error::Malformed("stream chunk has an impossible length"));
        };
        let mut out = ct.to_vec();
        aead::open_in_place_with(&self.keys.cipher, nonce, &[], &mut out, tag)?;
        Ok(out)
    }

    /// Opens the next chunk in order (`last` when the input ended after
    /// it). Nothing of a chunk that fails is returned.
    pub fn open_next(&mut self, sealed: &[u8], last: bool) -> Result<Zeroizing<Vec<u8>>> {
        let nonce = self.next_nonce(sealed.len(), last)?;
        self.open_with(&nonce, sealed).map(Zeroizing::new)
    }

    /// Fails with `Truncated` unless the last chunk was opened: call it when
    /// the input ends.
    pub fn finish(&self) -> Result<()> {
        if self.done {
            Ok(())
        } else {
            Err(Error::Truncated)
        }
    }

    /// Opens chunk `k` on its own, given the stream's sealed length: the
    /// chunk must be exactly the stored bytes [`StreamOpener::nonce_at`]
    /// names. Open the last chunk first to authenticate `sealed_len` (a
    /// server could cut a stream at a chunk boundary and serve the shorter
    /// length): C2SP requires it before trusting where the stream ends.
    pub fn open_at(&self, k: u64, sealed: &[u8], sealed_len: u64) -> Result<Zeroizing<Vec<u8>>> {
        let (nonce, range) = self.nonce_at(k, sealed_len)?;
        if sealed.len() as u64 != range.end - range.start {
            return Err(Error::InvalidArgument(
                "chunk bytes do not match the range of that chunk",
            ));
        }
        self.open_with(&nonce, sealed).map(Zeroizing::new)
    }
}

impl StreamOpener {
    /// Opens every chunk of `sealed` (a whole stream, header included) in
    /// order, as a streaming reader does: a full chunk is opened as soon as
    /// it is read, the rest at the end is the last chunk. On failure,
    /// `released` holds the plaintext of the chunks that opened before it,
    /// as a streaming reader would already have passed them on.
    pub fn open_all(mut self, sealed: &[u8], released: &mut Vec<u8>) -> Result<()> {
        let Some(body) = sealed.get(HEADER_LEN..) else {
            return Err(Error::Malformed("stream header is truncated"));
        };
        let full = body.len() / SEALED_CHUNK_LEN;
        let (chunks, last) = body.split_at(full * SEALED_CHUNK_LEN);
        for chunk in chunks.chunks_exact(SEALED_CHUNK_LEN) {
            released.extend_from_slice(&self.open_next(chunk, false)?);
        }
        released.extend_from_slice(&self.open_next(last, true)?);
        self.finish()
    }
}

/// Starts a new stream of version `version` under the epoch and wrap key
/// given, with the data key, wrap nonce and salt drawn from `random`.
pub(crate) fn seal_start(
    random: &[u8; 32 + NONCE_LEN + SALT_LEN],
    epoch: u32,
    wrap: &aead::Cipher,
    vault_id: &[u8],
    version: u64,
    ctx: &RecordContext<'_>,
) -> Result<StreamSealer> {
    ctx.check()?;
    if version == 0 || version > MAX_VERSION {
        return Err(Error::InvalidArgument(
            "record version must be 1 to 2^53 - 1",
        ));
    }
    let mut dek = [0u8; 32];
    dek.copy_from_slice(&random[..32]);
    let dek = DataKey::from_array(dek);
    let mut wrap_nonce = [0u8; NONCE_LEN];
    wrap_nonce.copy_from_slice(&random[32..32 + NONCE_LEN]);
    let mut salt = [0u8; SALT_LEN];
    salt.copy_from_slice(&random[32 + NONCE_LEN..]);
    let meta = meta_bytes(epoch, version);
    let wrapped = aead::wrap_key_with_nonce(
        wrap,
        dek.expose(),
        &wrap_nonce,
        &dek_aad(&meta, vault_id, ctx),
    )?;
    let (keys, commitment) = StreamKeys::derive(&dek, &salt, version, ctx);
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(&meta);
    header.extend_from_slice(&wrapped);
    header.extend_from_slice(&salt);
    header.extend_from_slice(&commitment);
    Ok(StreamSealer {
        keys,
        header,
        next: 0,
        done: false,
    })
}

/// The parts of a stream header.
pub(crate) struct HeaderParts<'a> {
    pub meta: StreamMeta,
    pub meta_bytes: &'a [u8],
    pub wrapped: &'a [u8],
    pub salt: [u8; SALT_LEN],
    pub commitment: &'a [u8],
}

pub(crate) fn split_header<'a>(head: &'a [u8], ctx: &RecordContext<'_>) -> Result<HeaderParts<'a>> {
    ctx.check()?;
    let meta = read_header(head)?;
    let h = head
        .first_chunk::<HEADER_LEN>()
        .ok_or(Error::Malformed("stream header is truncated"))?;
    let (meta_bytes, rest) = h.split_at(META_LEN);
    let (wrapped, rest) = rest.split_at(aead::WRAPPED_KEY_LEN);
    let (salt, commitment) = rest.split_at(SALT_LEN);
    let salt: [u8; SALT_LEN] = salt
        .try_into()
        .map_err(|_| Error::Malformed("stream header is truncated"))?;
    Ok(HeaderParts {
        meta,
        meta_bytes,
        wrapped,
        salt,
        commitment,
    })
}

/// Opens a stream's header with its data key (unwrapped by the vault, or
/// from a grant slot): checks the commitment before anything is decrypted.
pub(crate) fn open_with_key(
    dek: &DataKey,
    parts: &HeaderParts<'_>,
    ctx: &RecordContext<'_>,
) -> Result<StreamOpener> {
    let (keys, expected) = StreamKeys::derive(dek, &parts.salt, parts.meta.version, ctx);
    if !bool::from(expected.ct_eq(parts.commitment)) {
        return Err(Error::DecryptionFailed);
    }
    Ok(StreamOpener {
        keys,
        meta: parts.meta,
        next: 0,
        done: false,
    })
}

/// Unwraps a stream's data key with the wrap key of its epoch.
pub(crate) fn unwrap_dek(
    wrap: &aead::Cipher,
    vault_id: &[u8],
    parts: &HeaderParts<'_>,
    ctx: &RecordContext<'_>,
) -> Result<DataKey> {
    aead::unwrap_key_with(
        wrap,
        parts.wrapped,
        &dek_aad(parts.meta_bytes, vault_id, ctx),
    )
    .map(DataKey::from_array)
}

/// A new first [`REWRAP_LEN`] bytes for a stream: the same data key wrapped
/// under another epoch. The rest of the stream is unchanged.
pub(crate) fn rewrap_prefix(
    dek: &DataKey,
    wrap_nonce: &[u8; NONCE_LEN],
    epoch: u32,
    wrap: &aead::Cipher,
    vault_id: &[u8],
    version: u64,
    ctx: &RecordContext<'_>,
) -> Result<Vec<u8>> {
    let meta = meta_bytes(epoch, version);
    let wrapped = aead::wrap_key_with_nonce(
        wrap,
        dek.expose(),
        wrap_nonce,
        &dek_aad(&meta, vault_id, ctx),
    )?;
    let mut out = Vec::with_capacity(REWRAP_LEN);
    out.extend_from_slice(&meta);
    out.extend_from_slice(&wrapped);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_c2sp_chunking() {
        let h = HEADER_LEN as u64;
        let t = TAG_LEN as u64;
        let c = CHUNK_LEN as u64;
        assert_eq!(sealed_size(0).ok(), Some(h + t));
        assert_eq!(sealed_size(1).ok(), Some(h + 1 + t));
        assert_eq!(sealed_size(c - 1).ok(), Some(h + c - 1 + t));
        assert_eq!(sealed_size(c).ok(), Some(h + c + 2 * t));
        assert_eq!(sealed_size(c + 1).ok(), Some(h + c + 1 + 2 * t));
        for n in [0, 1, c - 1, c, c + 1, 3 * c, 3 * c + 7, MAX_PLAINTEXT_LEN] {
            let s = sealed_size(n).ok();
            assert_eq!(s.and_then(|s| plaintext_size(s).ok()), Some(n), "n = {n}");
        }
        assert_eq!(sealed_size(MAX_PLAINTEXT_LEN + 1), Err(Error::TooLarge));
        assert_eq!(plaintext_size(h), Err(Error::Truncated));
        assert_eq!(plaintext_size(h + c + t), Err(Error::Truncated));
        assert!(matches!(plaintext_size(h + 5), Err(Error::Malformed(_))));
        assert!(matches!(
            plaintext_size(h + c + t + 15),
            Err(Error::Malformed(_))
        ));
        assert!(matches!(plaintext_size(0), Err(Error::Malformed(_))));
    }

    #[test]
    fn nonces_xor_the_counter_into_the_low_bytes() {
        let dek = DataKey::from_array([7; 32]);
        let ctx = RecordContext::new(b"r");
        let (keys, _) = StreamKeys::derive(&dek, &[1; SALT_LEN], 1, &ctx);
        let base = keys.nonce(0);
        let n = keys.nonce(0x0102_0304_0506);
        assert_eq!(base[..6], n[..6]);
        let x: Vec<u8> = base[6..].iter().zip(&n[6..]).map(|(a, b)| a ^ b).collect();
        assert_eq!(x, [1, 2, 3, 4, 5, 6]);
    }
}
