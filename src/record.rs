//! The sealed record envelope, format v1 (docs/FORMAT.md "Sealed record").
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
/// The only version written today.
pub const VERSION_1: u8 = 1;
/// Suite 1: AES-256-GCM, HKDF-SHA256, Padme with a 256-byte floor.
pub const SUITE_1: u8 = 1;
/// Header length (magic, version, suite).
pub const HEADER_LEN: usize = 6;
/// Length of the key commitment.
pub const COMMITMENT_LEN: usize = 32;
/// Bytes before the body ciphertext.
pub const PREFIX_LEN: usize = HEADER_LEN + WRAPPED_KEY_LEN + COMMITMENT_LEN + NONCE_LEN;
/// Smallest well-formed sealed record (empty body, tag only).
pub const MIN_SEALED_LEN: usize = PREFIX_LEN + TAG_LEN;
/// Largest plaintext accepted: 256 MiB. Larger data belongs in chunks.
pub const MAX_PLAINTEXT_LEN: usize = 256 << 20;
/// Largest sealed record accepted (the largest plaintext, padded; Padme adds
/// less than 1/8).
pub const MAX_SEALED_LEN: usize =
    MIN_SEALED_LEN + MAX_PLAINTEXT_LEN + MAX_PLAINTEXT_LEN / 8 + padding::MIN_PADDED;
/// Largest record id, in bytes.
pub const MAX_RECORD_ID_LEN: usize = 1024;
/// Largest caller context, in bytes.
pub const MAX_CONTEXT_LEN: usize = 64 << 10;
/// Prefix of the text form.
pub const TEXT_PREFIX: &str = "ms1.";

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

impl ContentType {
    fn from_byte(b: u8) -> Result<Self> {
        match b {
            0 => Ok(ContentType::Bytes),
            1 => Ok(ContentType::Json),
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

    fn check(&self) -> Result<()> {
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

/// A parsed header. Unknown versions are kept apart from malformed input so a
/// reader can tell "upgrade medseal" from "this is not a record".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    /// Version 1 with suite 1.
    V1,
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
            (version, suite) => Header::Unknown { version, suite },
        })
    }

    fn bytes_v1() -> [u8; HEADER_LEN] {
        [MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], VERSION_1, SUITE_1]
    }
}

/// The keys a vault lends to record sealing: the DEK-wrapping sub-key (its
/// AES key schedule set up once per vault) and the vault id the wrap is bound to.
pub(crate) struct RecordKeys<'v> {
    pub wrap: &'v crate::aead::Cipher,
    pub vault_id: &'v [u8],
}

fn dek_aad(header: &[u8], vault_id: &[u8], ctx: &RecordContext<'_>) -> Vec<u8> {
    let mut aad = Vec::with_capacity(64 + vault_id.len() + ctx.record_id.len() + ctx.context.len());
    aad.extend_from_slice(label::AAD_DEK);
    aad.extend_from_slice(header);
    put_lp(&mut aad, vault_id);
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
    pub(crate) content_type: ContentType,
    /// What follows the plaintext in the body: `0x80` and zeros (§6.4).
    pub(crate) padding: Vec<u8>,
}

impl SealParts {
    /// The body plaintext: `content_type || plaintext || padding`.
    pub(crate) fn padded(&self, plaintext: &[u8]) -> Vec<u8> {
        padding::padded_body(self.content_type as u8, plaintext, &self.padding)
    }
}

/// Where the body (ciphertext, then tag) starts in a sealed record.
pub(crate) const BODY_START: usize = PREFIX_LEN;

/// Builds everything of a new record of `plaintext_len` bytes but its body
/// ciphertext.
pub(crate) fn seal_parts(
    rng: &mut Rng,
    keys: &RecordKeys<'_>,
    content_type: ContentType,
    plaintext_len: usize,
    ctx: &RecordContext<'_>,
) -> Result<SealParts> {
    ctx.check()?;
    if plaintext_len > MAX_PLAINTEXT_LEN {
        return Err(Error::TooLarge);
    }
    let header = Header::bytes_v1();
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
        keys.wrap,
        dek.expose(),
        wrap_nonce,
        &dek_aad(&header, keys.vault_id, ctx),
    )?;
    let (enc, commitment) = record_keys(&dek);
    let mut prefix = Vec::with_capacity(PREFIX_LEN);
    prefix.extend_from_slice(&header);
    prefix.extend_from_slice(&wrapped);
    prefix.extend_from_slice(&commitment);
    let aad = body_aad(&prefix, ctx);
    prefix.extend_from_slice(&nonce);
    Ok(SealParts {
        cipher: BodyCipher {
            key: zeroize::Zeroizing::new(*enc.expose()),
            nonce,
            aad,
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
    content_type: ContentType,
    plaintext: &[u8],
    ctx: &RecordContext<'_>,
) -> Result<Vec<u8>> {
    let parts = seal_parts(rng, keys, content_type, plaintext.len(), ctx)?;
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

/// Checks a sealed record up to its body (header, lengths, data key,
/// commitment) from its first bytes `head` (at least [`BODY_START`] of them,
/// or the whole record) and its length: the body itself is not needed. Every
/// authentication failure is `DecryptionFailed`.
pub(crate) fn open_parts(
    keys: &RecordKeys<'_>,
    head: &[u8],
    sealed_len: usize,
    ctx: &RecordContext<'_>,
) -> Result<BodyCipher> {
    ctx.check()?;
    check_frame(head, sealed_len)?;
    let truncated = Error::Malformed("sealed record is truncated");
    let (header, rest) = head.split_at_checked(HEADER_LEN).ok_or(truncated)?;
    let (wrapped, rest) = rest.split_at_checked(WRAPPED_KEY_LEN).ok_or(truncated)?;
    let (commitment, rest) = rest
        .split_first_chunk::<COMMITMENT_LEN>()
        .ok_or(truncated)?;
    let nonce = rest.first_chunk::<NONCE_LEN>().ok_or(truncated)?;
    let dek = DataKey::from_array(aead::unwrap_key_with(
        keys.wrap,
        wrapped,
        &dek_aad(header, keys.vault_id, ctx),
    )?);
    let (enc, expected) = record_keys(&dek);
    // Key commitment: the envelope opens under exactly one data key.
    if !bool::from(expected.ct_eq(commitment)) {
        return Err(Error::DecryptionFailed);
    }
    let prefix = head
        .get(..HEADER_LEN + WRAPPED_KEY_LEN + COMMITMENT_LEN)
        .ok_or(truncated)?;
    Ok(BodyCipher {
        key: zeroize::Zeroizing::new(*enc.expose()),
        nonce: *nonce,
        aad: body_aad(prefix, ctx),
    })
}

/// The key-free checks of a sealed record of `sealed_len` bytes whose first
/// bytes are `head`: a v1 header and a length the format allows.
fn check_frame(head: &[u8], sealed_len: usize) -> Result<()> {
    match Header::parse(head)? {
        Header::V1 => {}
        Header::Unknown { version, suite } => {
            return Err(if version == VERSION_1 {
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
    if sealed_len < MIN_SEALED_LEN {
        return Err(Error::Malformed("sealed record is truncated"));
    }
    if sealed_len > MAX_SEALED_LEN {
        return Err(Error::TooLarge);
    }
    Ok(())
}

/// Checks what can be checked of a sealed record without its key: the text
/// form, the header and version, and a body of a size the padding rule can
/// produce (FORMAT.md 6.4). For servers that store records they cannot open:
/// garbage and truncated uploads are refused at the door. Passing says
/// nothing about authenticity; only the vault can check that.
pub fn check_sealed_text(text: &str) -> Result<()> {
    let bytes = from_text(text)?;
    check_frame(&bytes, bytes.len())?;
    let padded = bytes.len() - PREFIX_LEN - TAG_LEN;
    if padding::padded_len(padded) != padded {
        return Err(Error::Malformed("sealed record body is not a padded size"));
    }
    Ok(())
}

/// Reads a decrypted body of `padded_len` bytes from its first byte and its
/// last bytes `tail` (at least [`padding::tail_len`]`(padded_len)` of them,
/// or the whole body): checks the padding (§6.4) and the content type, and
/// returns them with the plaintext's length. The plaintext is the body's
/// bytes `1..1 + len`.
pub(crate) fn plaintext_len(
    first: u8,
    padded_len: usize,
    tail: &[u8],
) -> Result<(ContentType, usize)> {
    let content = padding::content_len(padded_len, tail)?;
    let content_type = ContentType::from_byte(first)?;
    Ok((content_type, content - 1))
}

/// Removes the padding of a decrypted body and reads its content type.
pub(crate) fn finish_open(mut padded: Vec<u8>) -> Result<(ContentType, Vec<u8>)> {
    let first = *padded
        .first()
        .ok_or(Error::Malformed("record has no content type"))?;
    let (content_type, len) = plaintext_len(first, padded.len(), &padded)?;
    padded.truncate(1 + len);
    padded.remove(0);
    Ok((content_type, padded))
}

/// Opens a sealed record. Every authentication failure is `DecryptionFailed`.
pub(crate) fn open(
    keys: &RecordKeys<'_>,
    sealed: &[u8],
    ctx: &RecordContext<'_>,
) -> Result<(ContentType, Vec<u8>)> {
    let parts = open_parts(keys, sealed, sealed.len(), ctx)?;
    let truncated = Error::Malformed("sealed record is truncated");
    let body = sealed.get(BODY_START..).ok_or(truncated)?;
    let (ct, tag) = body.split_last_chunk::<TAG_LEN>().ok_or(truncated)?;
    let mut body = ct.to_vec();
    aead::open_in_place(&parts.key, &parts.nonce, &parts.aad, &mut body, tag)?;
    finish_open(body)
}

/// The text form: `"ms1." || base64url(sealed bytes)` without padding.
pub fn to_text(sealed: &[u8]) -> String {
    let mut s = String::with_capacity(TEXT_PREFIX.len() + crate::b64::encoded_len(sealed.len()));
    s.push_str(TEXT_PREFIX);
    crate::b64::encode_into(sealed, &mut s);
    s
}

/// [`from_text`] of the text form given as its bytes (the JS layer passes
/// strings this way). Not checked as UTF-8 first: anything outside ASCII is
/// outside base64url and refused there.
pub fn from_text_bytes(text: &[u8]) -> Result<Vec<u8>> {
    let Some(body) = text.strip_prefix(TEXT_PREFIX.as_bytes()) else {
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
            "not a medseal sealed record (text form starts with \"ms1.\")",
        ));
    };
    if body.len() > MAX_SEALED_LEN / 3 * 4 + 4 {
        return Err(Error::TooLarge);
    }
    crate::b64::decode(body).ok_or(Error::Malformed("sealed record text form is not base64url"))
}

/// Parses the text form back into bytes. `msN.` with another N is an unknown
/// version; anything else that is not `ms1.` + base64url is malformed.
pub fn from_text(text: &str) -> Result<Vec<u8>> {
    from_text_bytes(text.as_bytes())
}
