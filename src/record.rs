//! The sealed record envelope (docs/FORMAT.md "Sealed record"). Version 2
//! is written; version 1 is read.
//!
//! Version 2 adds, after the suite byte, the key epoch (u32be) whose vault
//! key wraps the data key and the record's version (u64be), and binds the
//! body to the commitment and version instead of the wrapped key, so that
//! the data key can be re-wrapped under a newer epoch with the body untouched:
//!
//! ```text
//!   0      4   magic "msrc"
//!   4      1   version = 2
//!   5      1   suite = 1
//!   6      4   key epoch
//!  10      8   record version (1 .. 2^53-1)
//!  18     60   wrapped data key
//!  78     32   key commitment
//! 110     12   body nonce
//! 122      n   body ciphertext, then a 16-byte tag
//! ```
//!
//! Version 1:
//!
//! ```text
//! offset  len  field
//!   0      4   magic "msrc"
//!   4      1   version = 1
//!   5      1   suite = 1 (AES-256-GCM, HKDF-SHA256, Padme/256)
//!   6     60   wrapped data key: nonce(12) || AES-256-GCM(wrap key, DEK)(32) || tag(16)
//!  66     32   key commitment = HKDF(DEK, "medseal/v1/record/commitment")
//!  98     12   body nonce
//! 110      n   body ciphertext (padded plaintext), then a 16-byte tag
//! ```

use subtle::ConstantTimeEq;

use crate::aead::{self, NONCE_LEN, TAG_LEN, WRAPPED_KEY_LEN};
use crate::error::{Error, Result};
use crate::hazmat::BodyCipher;
use crate::kdf::{self, label, put_lp};
use crate::padding;
use crate::rng::Rng;
use crate::secret::{DataKey, SubKey};

/// First bytes of every sealed record.
pub const MAGIC: [u8; 4] = *b"msrc";
/// Version 1: read, never written.
pub const VERSION_1: u8 = 1;
/// Version 2: the only version written.
pub const VERSION_2: u8 = 2;
/// Header length of version 2 (magic, version, suite, epoch, record version).
pub const HEADER_LEN_V2: usize = HEADER_LEN + 4 + 8;
/// Bytes before the body ciphertext in version 2.
pub const PREFIX_LEN_V2: usize = HEADER_LEN_V2 + WRAPPED_KEY_LEN + COMMITMENT_LEN + NONCE_LEN;
/// Highest record version (exact as a JavaScript number).
pub const MAX_RECORD_VERSION: u64 = (1 << 53) - 1;
/// Suite 1: AES-256-GCM, HKDF-SHA256, Padme with a 256-byte floor.
pub const SUITE_1: u8 = 1;
/// Header length (magic, version, suite).
pub const HEADER_LEN: usize = 6;
/// Length of the key commitment.
pub const COMMITMENT_LEN: usize = 32;
/// Bytes before the body ciphertext in version 1.
pub const PREFIX_LEN: usize = HEADER_LEN + WRAPPED_KEY_LEN + COMMITMENT_LEN + NONCE_LEN;
/// Smallest well-formed sealed record of version 1 (empty body, tag only).
pub const MIN_SEALED_LEN: usize = PREFIX_LEN + TAG_LEN;
/// Smallest well-formed sealed record of version 2.
pub const MIN_SEALED_LEN_V2: usize = PREFIX_LEN_V2 + TAG_LEN;
/// Largest plaintext accepted: 256 MiB. Larger data belongs in chunks.
pub const MAX_PLAINTEXT_LEN: usize = 256 << 20;
/// Largest sealed record accepted (the largest plaintext, padded; Padme adds
/// less than 1/8).
pub const MAX_SEALED_LEN: usize =
    MIN_SEALED_LEN_V2 + MAX_PLAINTEXT_LEN + MAX_PLAINTEXT_LEN / 8 + padding::MIN_PADDED;
/// Largest record id, in bytes.
pub const MAX_RECORD_ID_LEN: usize = 1024;
/// Largest caller context, in bytes.
pub const MAX_CONTEXT_LEN: usize = 64 << 10;
/// Prefix of the text form of a version 1 record.
pub const TEXT_PREFIX: &str = "ms1.";
/// Prefix of the text form of a version 2 record.
pub const TEXT_PREFIX_V2: &str = "ms2.";

/// What the plaintext is, so that `open` can hand back the same kind of value
/// that was sealed. Stored encrypted, as the first byte of the padded body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ContentType {
    /// Opaque bytes.
    Bytes = 0,
    /// UTF-8 JSON text.
    Json = 1,
}

/// The content-type byte of a version 2 tombstone: the record was deleted.
pub(crate) const TOMBSTONE: u8 = 2;

impl ContentType {
    fn from_byte(b: u8, meta: &RecordMeta) -> Result<Self> {
        match b {
            0 => Ok(ContentType::Bytes),
            1 => Ok(ContentType::Json),
            TOMBSTONE if meta.format == VERSION_2 => Err(Error::RecordDeleted {
                version: meta.version,
            }),
            other => Err(Error::UnknownVersion {
                what: "record content type",
                version: u64::from(other),
            }),
        }
    }
}

/// What a record is bound to, besides its vault: the caller's record id and
/// any further context (for example a user id or a record type). Opening with
/// a different value fails.
#[derive(Clone, Copy, Debug)]
pub struct RecordContext<'a> {
    /// The application's id for the record. Not empty.
    pub record_id: &'a [u8],
    /// Optional further context; empty when unused.
    pub context: &'a [u8],
}

impl<'a> RecordContext<'a> {
    /// Binds to a record id only.
    pub fn new(record_id: &'a [u8]) -> Self {
        RecordContext {
            record_id,
            context: &[],
        }
    }

    /// Binds to a record id and a context.
    pub fn with_context(record_id: &'a [u8], context: &'a [u8]) -> Self {
        RecordContext { record_id, context }
    }

    pub(crate) fn check(&self) -> Result<()> {
        if self.record_id.is_empty() {
            return Err(Error::InvalidArgument("recordId must not be empty"));
        }
        if self.record_id.len() > MAX_RECORD_ID_LEN {
            return Err(Error::InvalidArgument("recordId is longer than 1024 bytes"));
        }
        if self.context.len() > MAX_CONTEXT_LEN {
            return Err(Error::InvalidArgument("context is longer than 64 KiB"));
        }
        Ok(())
    }
}

/// What a sealed record's header says, readable without a key (and
/// authenticated when the record opens): its format, the key epoch that
/// wraps its data key, and its version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordMeta {
    /// The format version (1 or 2).
    pub format: u8,
    /// The key epoch whose vault key wraps the data key (1 for format 1).
    pub epoch: u32,
    /// The record's version (1 for format 1).
    pub version: u64,
}

impl RecordMeta {
    pub(crate) const V1: RecordMeta = RecordMeta {
        format: VERSION_1,
        epoch: 1,
        version: 1,
    };

    pub(crate) fn prefix_len(&self) -> usize {
        if self.format == VERSION_1 {
            PREFIX_LEN
        } else {
            PREFIX_LEN_V2
        }
    }
    fn header_len(&self) -> usize {
        if self.format == VERSION_1 {
            HEADER_LEN
        } else {
            HEADER_LEN_V2
        }
    }
}

/// A parsed header. Unknown versions are kept apart from malformed input so a
/// reader can tell "upgrade medseal" from "this is not a record".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    /// Version 1 with suite 1.
    V1,
    /// Version 2 with suite 1 (the epoch and record version follow; see
    /// [`RecordMeta`]).
    V2,
    /// A version (or a v1 suite) this build does not know.
    Unknown {
        /// Version byte.
        version: u8,
        /// Suite byte.
        suite: u8,
    },
}

impl Header {
    /// Reads the 6-byte header.
    pub fn parse(bytes: &[u8]) -> Result<Header> {
        let (magic, rest) = bytes
            .split_first_chunk::<4>()
            .ok_or(Error::Malformed("too short for a sealed record"))?;
        if magic != &MAGIC {
            return Err(Error::Malformed("not a medseal sealed record (bad magic)"));
        }
        let [version, suite] = *rest
            .first_chunk::<2>()
            .ok_or(Error::Malformed("too short for a sealed record"))?;
        Ok(match (version, suite) {
            (VERSION_1, SUITE_1) => Header::V1,
            (VERSION_2, SUITE_1) => Header::V2,
            (version, suite) => Header::Unknown { version, suite },
        })
    }

    fn bytes_v2(epoch: u32, version: u64) -> [u8; HEADER_LEN_V2] {
        let (e, v) = (epoch.to_be_bytes(), version.to_be_bytes());
        let mut h = [0u8; HEADER_LEN_V2];
        let fields = MAGIC
            .iter()
            .chain(&[VERSION_2, SUITE_1])
            .chain(&e)
            .chain(&v);
        for (d, s) in h.iter_mut().zip(fields) {
            *d = *s;
        }
        h
    }
}

/// Reads a sealed record's header (its first [`HEADER_LEN_V2`] bytes, or
/// fewer for version 1), without a key. Errors as FORMAT.md 6.5 steps 2-4.
pub fn read_meta(head: &[u8]) -> Result<RecordMeta> {
    match Header::parse(head)? {
        Header::V1 => Ok(RecordMeta::V1),
        Header::V2 => {
            let truncated = Error::Malformed("sealed record is truncated");
            let rest = head.get(HEADER_LEN..HEADER_LEN_V2).ok_or(truncated)?;
            let (epoch, version) = rest.split_first_chunk::<4>().ok_or(truncated)?;
            let version = u64::from_be_bytes(version.try_into().map_err(|_| truncated)?);
            let epoch = u32::from_be_bytes(*epoch);
            if epoch == 0 || version == 0 || version > MAX_RECORD_VERSION {
                return Err(Error::Malformed(
                    "sealed record epoch or version out of range",
                ));
            }
            Ok(RecordMeta {
                format: VERSION_2,
                epoch,
                version,
            })
        }
        Header::Unknown { version, suite } => {
            Err(if version == VERSION_1 || version == VERSION_2 {
                Error::UnknownVersion {
                    what: "sealed record suite",
                    version: u64::from(suite),
                }
            } else {
                Error::UnknownVersion {
                    what: "sealed record",
                    version: u64::from(version),
                }
            })
        }
    }
}

/// The keys a vault lends to record sealing: the DEK-wrapping sub-key of
/// each key epoch it holds (its AES key schedule set up once), newest first,
/// and the vault id the wrap is bound to.
pub(crate) struct RecordKeys<'v> {
    pub ring: &'v [(u32, Box<crate::aead::Cipher>)],
    pub vault_id: &'v [u8],
}

impl RecordKeys<'_> {
    /// The wrap key of an epoch; a retired or unknown epoch opens nothing.
    pub(crate) fn wrap(&self, epoch: u32) -> Result<&crate::aead::Cipher> {
        self.ring
            .iter()
            .find(|(e, _)| *e == epoch)
            .map(|(_, c)| c.as_ref())
            .ok_or(Error::DecryptionFailed)
    }
    /// The newest epoch and its wrap key: what new records are sealed under.
    pub(crate) fn newest(&self) -> Result<(u32, &crate::aead::Cipher)> {
        self.ring
            .first()
            .map(|(e, c)| (*e, c.as_ref()))
            .ok_or(Error::DecryptionFailed)
    }
}

fn dek_aad(header: &[u8], vault_id: &[u8], ctx: &RecordContext<'_>) -> Vec<u8> {
    let mut aad = Vec::with_capacity(64 + vault_id.len() + ctx.record_id.len() + ctx.context.len());
    aad.extend_from_slice(if header.len() == HEADER_LEN {
        label::AAD_DEK
    } else {
        label::AAD_DEK_V2
    });
    aad.extend_from_slice(header);
    put_lp(&mut aad, vault_id);
    put_lp(&mut aad, ctx.record_id);
    put_lp(&mut aad, ctx.context);
    aad
}

/// The body's associated data in version 2: the header without the epoch,
/// the version and the commitment, not the wrapped key, so a re-wrap under
/// another epoch leaves the body valid. The data key is bound all the same:
/// the body key and the commitment both derive from it.
fn body_aad_v2(version: u64, commitment: &[u8], ctx: &RecordContext<'_>) -> Vec<u8> {
    let mut aad = Vec::with_capacity(128 + ctx.record_id.len() + ctx.context.len());
    aad.extend_from_slice(label::AAD_RECORD_V2);
    aad.extend_from_slice(&MAGIC);
    aad.extend_from_slice(&[VERSION_2, SUITE_1]);
    aad.extend_from_slice(&version.to_be_bytes());
    aad.extend_from_slice(commitment);
    put_lp(&mut aad, ctx.record_id);
    put_lp(&mut aad, ctx.context);
    aad
}

fn body_aad(prefix_without_nonce: &[u8], ctx: &RecordContext<'_>) -> Vec<u8> {
    let mut aad = Vec::with_capacity(
        64 + prefix_without_nonce.len() + ctx.record_id.len() + ctx.context.len(),
    );
    aad.extend_from_slice(label::AAD_RECORD);
    aad.extend_from_slice(prefix_without_nonce);
    put_lp(&mut aad, ctx.record_id);
    put_lp(&mut aad, ctx.context);
    aad
}

/// The per-record keys derived from a data key.
fn record_keys(dek: &DataKey) -> (SubKey, [u8; 32]) {
    let (enc, commit) = kdf::hkdf32_pair(
        dek.expose(),
        &[],
        label::RECORD_ENCRYPTION,
        label::RECORD_COMMITMENT,
    );
    (SubKey::from_array(enc), commit)
}

/// A record ready for its body to be encrypted: everything of the envelope
/// except the body ciphertext and tag. `seal` encrypts in wasm; the caller of
/// `hazmat::seal_large` instead hands the body cipher to WebCrypto over
/// `content_type || plaintext || padding`, then appends the ciphertext and
/// tag to `prefix`: the bytes are the same format either way.
pub(crate) struct SealParts {
    /// This record's body key, nonce and associated data.
    pub(crate) cipher: BodyCipher,
    /// Header, wrapped data key, commitment and nonce: the envelope's first bytes.
    pub(crate) prefix: Vec<u8>,
    /// The first byte of the body plaintext.
    pub(crate) content_type: u8,
    /// What follows the plaintext in the body: `0x80` and zeros (§6.4).
    pub(crate) padding: Vec<u8>,
}

impl SealParts {
    /// The body plaintext: `content_type || plaintext || padding`.
    pub(crate) fn padded(&self, plaintext: &[u8]) -> Vec<u8> {
        padding::padded_body(self.content_type, plaintext, &self.padding)
    }
}

/// The longest prefix before a body: what a reader of a record's first
/// bytes (`hazmat::open_large`) needs, whatever its version.
pub(crate) const BODY_START: usize = PREFIX_LEN_V2;

/// Builds everything of a new record (format 2) of `plaintext_len` bytes
/// but its body ciphertext, under the newest key epoch.
pub(crate) fn seal_parts(
    rng: &mut Rng,
    keys: &RecordKeys<'_>,
    content_type: u8,
    version: u64,
    plaintext_len: usize,
    ctx: &RecordContext<'_>,
) -> Result<SealParts> {
    ctx.check()?;
    if plaintext_len > MAX_PLAINTEXT_LEN {
        return Err(Error::TooLarge);
    }
    if version == 0 || version > MAX_RECORD_VERSION {
        return Err(Error::InvalidArgument(
            "record version must be 1 to 2^53 - 1",
        ));
    }
    let (epoch, wrap) = keys.newest()?;
    let header = Header::bytes_v2(epoch, version);
    // One draw from the random source per record (in a browser each draw is a
    // call out to crypto.getRandomValues): the data key, then the wrap nonce,
    // then the body nonce, in that order.
    let mut random = zeroize::Zeroizing::new([0u8; 32 + 2 * NONCE_LEN]);
    rng.fill(random.as_mut_slice())?;
    let (dek_bytes, nonces) = random
        .split_first_chunk::<32>()
        .ok_or(Error::RandomUnavailable)?;
    let (wrap_nonce, rest) = nonces
        .split_first_chunk::<NONCE_LEN>()
        .ok_or(Error::RandomUnavailable)?;
    let nonce: [u8; NONCE_LEN] = *rest
        .first_chunk::<NONCE_LEN>()
        .ok_or(Error::RandomUnavailable)?;
    let dek = DataKey::from_array(*dek_bytes);
    let wrapped = aead::wrap_key_with_nonce(
        wrap,
        dek.expose(),
        wrap_nonce,
        &dek_aad(&header, keys.vault_id, ctx),
    )?;
    let (enc, commitment) = record_keys(&dek);
    let mut prefix = Vec::with_capacity(PREFIX_LEN_V2);
    prefix.extend_from_slice(&header);
    prefix.extend_from_slice(&wrapped);
    prefix.extend_from_slice(&commitment);
    prefix.extend_from_slice(&nonce);
    Ok(SealParts {
        cipher: BodyCipher {
            key: zeroize::Zeroizing::new(*enc.expose()),
            nonce,
            aad: body_aad_v2(version, &commitment, ctx),
        },
        prefix,
        content_type,
        padding: padding::padding(plaintext_len),
    })
}

/// Seals `plaintext` under a fresh data key.
pub(crate) fn seal(
    rng: &mut Rng,
    keys: &RecordKeys<'_>,
    content_type: u8,
    version: u64,
    plaintext: &[u8],
    ctx: &RecordContext<'_>,
) -> Result<Vec<u8>> {
    let parts = seal_parts(rng, keys, content_type, version, plaintext.len(), ctx)?;
    let mut body = parts.padded(plaintext);
    let c = &parts.cipher;
    let tag = aead::seal_in_place(&c.key, &c.nonce, &c.aad, &mut body)?;
    // `body` now holds ciphertext: nothing to wipe.
    let mut out = parts.prefix;
    out.reserve_exact(body.len() + TAG_LEN);
    out.extend_from_slice(&body);
    out.extend_from_slice(&tag);
    Ok(out)
}

/// A record checked up to its body: its header, its body cipher, and where
/// the body starts.
pub(crate) struct OpenParts {
    pub(crate) meta: RecordMeta,
    pub(crate) cipher: BodyCipher,
}

/// The data key of a record, its header, its commitment and what follows
/// (nonce, body, tag). The commitment is not checked here.
struct Unwrapped<'a> {
    meta: RecordMeta,
    dek: DataKey,
    commitment: &'a [u8; COMMITMENT_LEN],
    rest: &'a [u8],
}

/// A record's envelope split into its parts, before any key is used.
struct Split<'a> {
    meta: RecordMeta,
    header: &'a [u8],
    wrapped: &'a [u8],
    commitment: &'a [u8; COMMITMENT_LEN],
    rest: &'a [u8],
}

fn split<'a>(head: &'a [u8], sealed_len: usize, ctx: &RecordContext<'_>) -> Result<Split<'a>> {
    ctx.check()?;
    let meta = check_frame(head, sealed_len)?;
    let truncated = Error::Malformed("sealed record is truncated");
    let (header, rest) = head.split_at_checked(meta.header_len()).ok_or(truncated)?;
    let (wrapped, rest) = rest.split_at_checked(WRAPPED_KEY_LEN).ok_or(truncated)?;
    let (commitment, rest) = rest
        .split_first_chunk::<COMMITMENT_LEN>()
        .ok_or(truncated)?;
    Ok(Split {
        meta,
        header,
        wrapped,
        commitment,
        rest,
    })
}

fn unwrap_dek<'a>(
    keys: &RecordKeys<'_>,
    head: &'a [u8],
    sealed_len: usize,
    ctx: &RecordContext<'_>,
) -> Result<Unwrapped<'a>> {
    let s = split(head, sealed_len, ctx)?;
    let dek = DataKey::from_array(aead::unwrap_key_with(
        keys.wrap(s.meta.epoch)?,
        s.wrapped,
        &dek_aad(s.header, keys.vault_id, ctx),
    )?);
    Ok(Unwrapped {
        meta: s.meta,
        dek,
        commitment: s.commitment,
        rest: s.rest,
    })
}

/// Checks a sealed record up to its body (header, lengths, data key,
/// commitment) from its first bytes `head` (at least [`BODY_START`] of them,
/// or the whole record) and its length: the body itself is not needed. Every
/// authentication failure is `DecryptionFailed`.
pub(crate) fn open_parts(
    keys: &RecordKeys<'_>,
    head: &[u8],
    sealed_len: usize,
    ctx: &RecordContext<'_>,
) -> Result<OpenParts> {
    let u = unwrap_dek(keys, head, sealed_len, ctx)?;
    parts_from(u, head, ctx)
}

/// The body cipher of a record whose data key is known, after the key
/// commitment check.
fn parts_from(u: Unwrapped<'_>, head: &[u8], ctx: &RecordContext<'_>) -> Result<OpenParts> {
    let (enc, expected) = record_keys(&u.dek);
    // Key commitment: the envelope opens under exactly one data key.
    if !bool::from(expected.ct_eq(u.commitment)) {
        return Err(Error::DecryptionFailed);
    }
    let truncated = Error::Malformed("sealed record is truncated");
    let nonce = u.rest.first_chunk::<NONCE_LEN>().ok_or(truncated)?;
    let aad = if u.meta.format == VERSION_1 {
        let prefix = head
            .get(..HEADER_LEN + WRAPPED_KEY_LEN + COMMITMENT_LEN)
            .ok_or(truncated)?;
        body_aad(prefix, ctx)
    } else {
        body_aad_v2(u.meta.version, u.commitment, ctx)
    };
    Ok(OpenParts {
        meta: u.meta,
        cipher: BodyCipher {
            key: zeroize::Zeroizing::new(*enc.expose()),
            nonce: *nonce,
            aad,
        },
    })
}

/// A record's data key, unwrapped with the vault's keys and checked
/// against the record's key commitment: what a grant hands on (a grant
/// slot wraps it for one grantee). Never leaves the core.
pub(crate) fn data_key(
    keys: &RecordKeys<'_>,
    sealed: &[u8],
    ctx: &RecordContext<'_>,
) -> Result<(RecordMeta, DataKey)> {
    let u = unwrap_dek(keys, sealed, sealed.len(), ctx)?;
    let (_, expected) = record_keys(&u.dek);
    if !bool::from(expected.ct_eq(u.commitment)) {
        return Err(Error::DecryptionFailed);
    }
    Ok((u.meta, u.dek))
}

/// Opens a sealed record with its data key given (a grantee's, from a grant
/// slot) instead of the vault's keys: the wrapped key in the header is not
/// used, the commitment and the body are checked as in [`open`].
pub(crate) fn open_with_key(
    dek: DataKey,
    sealed: &[u8],
    ctx: &RecordContext<'_>,
) -> Result<(RecordMeta, ContentType, Vec<u8>)> {
    let s = split(sealed, sealed.len(), ctx)?;
    let u = Unwrapped {
        meta: s.meta,
        dek,
        commitment: s.commitment,
        rest: s.rest,
    };
    let parts = parts_from(u, sealed, ctx)?;
    open_body(parts, sealed)
}

/// Re-wraps a version 2 record's data key under the newest epoch: a new
/// header epoch and wrapped key, the same commitment, nonce, body and tag
/// (the body's associated data covers neither). Checks the commitment, so
/// the result opens exactly when the input would.
pub(crate) fn rewrap_v2(
    rng: &mut Rng,
    keys: &RecordKeys<'_>,
    sealed: &[u8],
    ctx: &RecordContext<'_>,
) -> Result<Vec<u8>> {
    let u = unwrap_dek(keys, sealed, sealed.len(), ctx)?;
    let (_, expected) = record_keys(&u.dek);
    if !bool::from(expected.ct_eq(u.commitment)) {
        return Err(Error::DecryptionFailed);
    }
    let (epoch, wrap) = keys.newest()?;
    let header = Header::bytes_v2(epoch, u.meta.version);
    let wrap_nonce: [u8; NONCE_LEN] = rng.array()?;
    let wrapped = aead::wrap_key_with_nonce(
        wrap,
        u.dek.expose(),
        &wrap_nonce,
        &dek_aad(&header, keys.vault_id, ctx),
    )?;
    let mut out = Vec::with_capacity(sealed.len());
    out.extend_from_slice(&header);
    out.extend_from_slice(&wrapped);
    out.extend_from_slice(u.commitment);
    out.extend_from_slice(u.rest);
    Ok(out)
}

/// The key-free checks of a sealed record of `sealed_len` bytes whose first
/// bytes are `head`: a known header and a length the format allows.
fn check_frame(head: &[u8], sealed_len: usize) -> Result<RecordMeta> {
    let meta = read_meta(head)?;
    if sealed_len < meta.prefix_len() + TAG_LEN {
        return Err(Error::Malformed("sealed record is truncated"));
    }
    if sealed_len > MAX_SEALED_LEN {
        return Err(Error::TooLarge);
    }
    Ok(meta)
}

/// Checks what can be checked of a sealed record without its key: the text
/// form, the header and version, and a body of a size the padding rule can
/// produce (FORMAT.md 6.4). For servers that store records they cannot open:
/// garbage and truncated uploads are refused at the door. Passing says
/// nothing about authenticity; only the vault can check that.
pub fn check_sealed_text(text: &str) -> Result<()> {
    let bytes = from_text(text)?;
    let meta = check_frame(&bytes, bytes.len())?;
    let padded = bytes.len() - meta.prefix_len() - TAG_LEN;
    if padding::padded_len(padded) != padded {
        return Err(Error::Malformed("sealed record body is not a padded size"));
    }
    Ok(())
}

/// Reads a decrypted body of `padded_len` bytes from its first byte and its
/// last bytes `tail` (at least [`padding::tail_len`]`(padded_len)` of them,
/// or the whole body): checks the padding (§6.4) and the content type, and
/// returns them with the plaintext's length. The plaintext is the body's
/// bytes `1..1 + len`. A version 2 tombstone is `RecordDeleted`.
pub(crate) fn plaintext_len(
    first: u8,
    padded_len: usize,
    tail: &[u8],
    meta: &RecordMeta,
) -> Result<(ContentType, usize)> {
    let content = padding::content_len(padded_len, tail)?;
    let content_type = ContentType::from_byte(first, meta)?;
    Ok((content_type, content - 1))
}

/// Removes the padding of a decrypted body and reads its content type.
pub(crate) fn finish_open(
    mut padded: Vec<u8>,
    meta: &RecordMeta,
) -> Result<(ContentType, Vec<u8>)> {
    let first = *padded
        .first()
        .ok_or(Error::Malformed("record has no content type"))?;
    let (content_type, len) = plaintext_len(first, padded.len(), &padded, meta)?;
    padded.truncate(1 + len);
    padded.remove(0);
    Ok((content_type, padded))
}

/// Opens a sealed record. Every authentication failure is `DecryptionFailed`.
pub(crate) fn open(
    keys: &RecordKeys<'_>,
    sealed: &[u8],
    ctx: &RecordContext<'_>,
) -> Result<(RecordMeta, ContentType, Vec<u8>)> {
    let parts = open_parts(keys, sealed, sealed.len(), ctx)?;
    open_body(parts, sealed)
}

fn open_body(parts: OpenParts, sealed: &[u8]) -> Result<(RecordMeta, ContentType, Vec<u8>)> {
    let truncated = Error::Malformed("sealed record is truncated");
    let body = sealed.get(parts.meta.prefix_len()..).ok_or(truncated)?;
    let (ct, tag) = body.split_last_chunk::<TAG_LEN>().ok_or(truncated)?;
    let mut body = ct.to_vec();
    let c = &parts.cipher;
    aead::open_in_place(&c.key, &c.nonce, &c.aad, &mut body, tag)?;
    let (content_type, data) = finish_open(body, &parts.meta)?;
    Ok((parts.meta, content_type, data))
}

/// The text form: `"ms2." || base64url(sealed bytes)` without padding
/// (`"ms1."` for a version 1 record).
pub fn to_text(sealed: &[u8]) -> String {
    // The text prefix names the format version, so an older reader reports
    // `ms2.` as an unknown version before decoding anything.
    let prefix = if sealed.get(4) == Some(&VERSION_1) {
        TEXT_PREFIX
    } else {
        TEXT_PREFIX_V2
    };
    let mut s = String::with_capacity(prefix.len() + crate::b64::encoded_len(sealed.len()));
    s.push_str(prefix);
    crate::b64::encode_into(sealed, &mut s);
    s
}

/// [`from_text`] of the text form given as its bytes (the JS layer passes
/// strings this way). Not checked as UTF-8 first: anything outside ASCII is
/// outside base64url and refused there.
pub fn from_text_bytes(text: &[u8]) -> Result<Vec<u8>> {
    let (body, format) = match text.strip_prefix(TEXT_PREFIX.as_bytes()) {
        Some(body) => (Some(body), VERSION_1),
        None => (text.strip_prefix(TEXT_PREFIX_V2.as_bytes()), VERSION_2),
    };
    let Some(body) = body else {
        if let Some(rest) = text.strip_prefix(b"ms") {
            let digits = rest.split(|b| *b == b'.').next().unwrap_or_default();
            if !digits.is_empty()
                && digits.len() <= 3
                && digits.len() < rest.len()
                && digits.iter().all(u8::is_ascii_digit)
            {
                let version = digits
                    .iter()
                    .fold(0u64, |v, d| v * 10 + u64::from(d - b'0'));
                return Err(Error::UnknownVersion {
                    what: "sealed record text form",
                    version,
                });
            }
        }
        return Err(Error::Malformed(
            "not a medseal sealed record (text form starts with \"ms2.\" or \"ms1.\")",
        ));
    };
    if body.len() > MAX_SEALED_LEN / 3 * 4 + 4 {
        return Err(Error::TooLarge);
    }
    let bytes = crate::b64::decode(body)
        .ok_or(Error::Malformed("sealed record text form is not base64url"))?;
    // The prefix and the header must name the same version (a `ms1.` text
    // of a version 2 record was not written by medseal).
    if bytes.get(..4) == Some(&MAGIC[..])
        && bytes
            .get(4)
            .is_some_and(|v| *v != format && (*v == VERSION_1 || *v == VERSION_2))
    {
        return Err(Error::Malformed(
            "sealed record text prefix does not match its version",
        ));
    }
    Ok(bytes)
}

/// Parses the text form back into bytes. `msN.` with another N is an unknown
/// version; anything else that is not `ms2.` or `ms1.` + base64url is
/// malformed.
pub fn from_text(text: &str) -> Result<Vec<u8>> {
    from_text_bytes(text.as_bytes())
}
