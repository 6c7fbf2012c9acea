//! SMART Health Links building blocks: the `shlink:/` payload and the JWE
//! that carries every shared file.
//!
//! Source: HL7 FHIR IG "SMART Health Cards and Links" 1.0.0 (STU1), page
//! "Health Links Specification" (links-specification.html; read from the IG
//! source, github.com/HL7/smart-health-cards-and-links,
//! input/pagecontent/links-specification.md at commit a966d22). Section names
//! below are that page's headings. docs/notes/shl-spec-notes.md has the same
//! rules with more context.
//!
//! Implemented here (the rules, and the section each comes from):
//!
//! - Payload ("Construct a SMART Health Link Payload"): a JSON object with
//!   `url` (1..1, the manifest URL), `key` (1..1, 43 characters: 32 random
//!   bytes base64url), `exp` (0..1, number, expiry in epoch seconds, "a hint",
//!   parsed into 64 bits), `flag` (0..1, single-character flags concatenated
//!   in alphabetical order: `L` long-term, `P` passcode required, `U` the url
//!   is a single encrypted file fetched with `GET`; `U` "SHALL NOT be used in
//!   combination with `P`"), `label` (0..1, no longer than 80 characters),
//!   `v` (0..1, integer protocol version, default 1). Written minified,
//!   base64url-encoded, prefixed with `shlink:/`, optionally prefixed again
//!   with a viewer URL that ends with `#` (`https://viewer.example#shlink:/…`,
//!   "Design Note: Viewer URL Prefixes"). We write the fields in the order of
//!   the spec's table (url, key, exp, flag, label, v) and omit absent ones.
//! - Manifest URL ("Establish a SMART Health Link Manifest URL"): at most 128
//!   characters, at least 256 bits of entropy (not checkable here).
//! - Versioning ("Design Note: Protocol Versioning"): receivers SHALL ignore
//!   payload properties and flag letters they do not recognise; anything that
//!   cannot be ignored comes with a `v` bump, and a receiver SHOULD NOT
//!   proceed with a `v` newer than it supports. So: unknown properties and
//!   unknown flag letters are ignored (dropped), `v` other than 1 is refused.
//! - Files ("Encrypting and Decrypting Files"): JWE compact serialization,
//!   `"alg":"dir"`, `"enc":"A256GCM"`, a `cty` header with the content type;
//!   MAY carry `"zip":"DEF"` (raw DEFLATE, RFC 1951, no zlib header) applied
//!   before encryption. A unique IV for every encryption under a link's key.
//!   From RFC 7516: the encrypted-key part is empty for `dir`, the AAD is the
//!   ASCII of the base64url protected header, the tag (16 bytes) is the fifth
//!   part, the IV (12 bytes for A256GCM) the third.
//! - Not implemented here (HTTP, for the caller): the manifest request
//!   (`POST url`, JSON body `recipient` required, `passcode` if flag `P`,
//!   `embeddedLengthMax` optional), 404 when inactive, 401 with
//!   `remainingAttempts` for a wrong passcode, the manifest file (`files[]`
//!   with `contentType`, `embedded` or `location`, optional `lastUpdated`,
//!   `status`, `fhirVersion`), and the `U`-flag `GET url?recipient=…`.
//!
//! Choices where the spec is silent or loose (docs/notes/shl-spec-notes.md):
//! - Deviation: `url` must be `https://`; `http://` only for `localhost`,
//!   `127.0.0.1` or `[::1]`, so tests can run a local server. Also printable
//!   ASCII only, with a host.
//! - `flag`: letters A-Z in strictly alphabetical order (the spec's order,
//!   so no repeats); unknown letters dropped; `U` with `P` refused.
//! - `exp`: a fraction is rounded down (a JavaScript producer may write
//!   `Date.now() / 1000`); a string or a negative number is refused.
//! - `label`: read as at most 80 Unicode characters, written as at most 80
//!   UTF-16 units (what a JavaScript reader's `length` counts).
//! - `v`: a `v` above 1 is `UnknownVersion`, so the label of a newer link is
//!   not shown (the spec hopes receivers still can).
//! - JWE: unknown header parameters ignored, `crit` refused, a repeated
//!   `alg`/`enc`/`cty`/`zip` refused, bytes after the DEFLATE stream refused.
//!   [`jwe_encrypt`] never compresses: compression makes the length depend
//!   on the content.
//! - Limits: a link of at most 8 KiB, a JWE of at most 16 MiB, an inflated
//!   plaintext of at most 16 MiB.

use core::fmt;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::aead::{self, NONCE_LEN, TAG_LEN};
use crate::b64;
use crate::error::{Error, Result};
use crate::rng::Rng;

/// Largest JWE text [`jwe_decrypt`] reads (and [`jwe_encrypt`] writes).
pub const MAX_JWE_LEN: usize = 16 * 1024 * 1024;
/// Largest plaintext a `zip: "DEF"` JWE may inflate to.
pub const MAX_INFLATED_LEN: usize = 16 * 1024 * 1024;
/// Largest link text [`parse_shlink`] reads, viewer prefix included.
pub const MAX_SHLINK_LEN: usize = 8 * 1024;
/// Longest `label` (spec: "no longer than 80 characters"): read as Unicode
/// characters, written as UTF-16 units (see [`LinkPayload::validate`]).
pub const MAX_LABEL_CHARS: usize = 80;
/// Longest manifest `url`, in characters (spec: "SHALL NOT exceed 128").
pub const MAX_URL_LEN: usize = 128;
/// The `shlink:` URI prefix.
pub const SHLINK_PREFIX: &str = "shlink:/";

/// `contentType` / `cty` of a SMART Health Card file.
pub const CONTENT_TYPE_SHC: &str = "application/smart-health-card";
/// `contentType` / `cty` of any FHIR resource as JSON.
pub const CONTENT_TYPE_FHIR_JSON: &str = "application/fhir+json";
/// `contentType` / `cty` of a SMART access token response.
pub const CONTENT_TYPE_API_ACCESS: &str = "application/smart-api-access";

const ALG: &str = "dir";
const ENC: &str = "A256GCM";
const ZIP: &str = "DEF";

// ---------------------------------------------------------------------------
// JWE

/// What [`jwe_decrypt`] returns. `Debug` shows the plaintext's length only.
#[non_exhaustive]
pub struct JweContent {
    /// The `cty` header, if the JWE had one.
    pub content_type: Option<String>,
    /// The decrypted (and, for `zip: "DEF"`, inflated) file.
    pub plaintext: Vec<u8>,
}

impl fmt::Debug for JweContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JweContent")
            .field("content_type", &self.content_type)
            .field("plaintext_len", &self.plaintext.len())
            .finish()
    }
}

/// Encrypts one SMART Health Link file: a JWE in compact serialization with
/// the protected header `{"alg":"dir","enc":"A256GCM","cty":content_type}`,
/// a fresh random 12-byte IV, no compression.
pub fn jwe_encrypt(key: &[u8; 32], content_type: &str, plaintext: &[u8]) -> Result<String> {
    jwe_encrypt_with(&mut Rng::Os, key, content_type, plaintext)
}

/// [`jwe_encrypt`] drawing the IV from `rng`.
pub(crate) fn jwe_encrypt_with(
    rng: &mut Rng,
    key: &[u8; 32],
    content_type: &str,
    plaintext: &[u8],
) -> Result<String> {
    #[derive(Serialize)]
    struct Header<'a> {
        alg: &'static str,
        enc: &'static str,
        cty: &'a str,
    }
    if content_type.is_empty() {
        return Err(Error::InvalidArgument("JWE content type is empty"));
    }
    let header = serde_json::to_vec(&Header {
        alg: ALG,
        enc: ENC,
        cty: content_type,
    })
    .map_err(|_| Error::InvalidArgument("JWE content type"))?;
    let header = b64::encode(&header);
    // header ".." iv "." ciphertext "." tag
    let total = [
        header.len(),
        2,
        b64::encoded_len(NONCE_LEN),
        1,
        b64::encoded_len(plaintext.len()),
        1,
        b64::encoded_len(TAG_LEN),
    ]
    .iter()
    .try_fold(0usize, |a, &b| a.checked_add(b))
    .ok_or(Error::TooLarge)?;
    if total > MAX_JWE_LEN {
        return Err(Error::TooLarge);
    }
    let iv: [u8; NONCE_LEN] = rng.array()?;
    let mut body = Zeroizing::new(plaintext.to_vec());
    // `body` holds the ciphertext from here on.
    let tag = aead::seal_in_place(key, &iv, header.as_bytes(), &mut body)?;
    let mut out = String::with_capacity(total);
    out.push_str(&header);
    out.push_str("..");
    b64::encode_into(&iv, &mut out);
    out.push('.');
    b64::encode_into(&body, &mut out);
    out.push('.');
    b64::encode_into(&tag, &mut out);
    Ok(out)
}

/// The protected header fields we read. Unknown parameters (`kid`, `typ`,
/// ...) are ignored, as RFC 7516 allows; `crit` is refused below.
#[derive(Deserialize)]
struct JweHeader {
    alg: String,
    enc: String,
    #[serde(default)]
    cty: Option<String>,
    #[serde(default)]
    zip: Option<String>,
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
}

/// Decrypts one SMART Health Link file (JWE compact serialization,
/// `alg: "dir"`, `enc: "A256GCM"`, optional `zip: "DEF"`).
///
/// Errors: `TooLarge` for a text over [`MAX_JWE_LEN`] or a plaintext that
/// inflates past [`MAX_INFLATED_LEN`]; `Malformed` for anything that is not
/// such a JWE (checked before the key is used); `DecryptionFailed` when it
/// does not authenticate under `key` (a wrong key, or any altered part).
pub fn jwe_decrypt(key: &[u8; 32], jwe: &str) -> Result<JweContent> {
    if jwe.len() > MAX_JWE_LEN {
        return Err(Error::TooLarge);
    }
    let mut parts = jwe.split('.');
    let (Some(header_b64), Some(ek), Some(iv), Some(ct), Some(tag), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(Error::Malformed("JWE: not five dot-separated parts"));
    };
    let header_json = b64::decode(header_b64.as_bytes())
        .ok_or(Error::Malformed("JWE: protected header is not base64url"))?;
    let header = parse_json_object::<JweHeader>(&header_json).ok_or(Error::Malformed(
        "JWE: protected header is not a JSON object with string alg and enc",
    ))?;
    if header.alg != ALG {
        return Err(Error::Malformed("JWE: alg is not \"dir\""));
    }
    if header.enc != ENC {
        return Err(Error::Malformed("JWE: enc is not \"A256GCM\""));
    }
    if header.crit.is_some() {
        return Err(Error::Malformed(
            "JWE: crit header parameters are not supported",
        ));
    }
    let inflate = match header.zip.as_deref() {
        None => false,
        Some(ZIP) => true,
        Some(_) => return Err(Error::Malformed("JWE: zip is not \"DEF\"")),
    };
    if !ek.is_empty() {
        return Err(Error::Malformed(
            "JWE: encrypted key is not empty (alg dir)",
        ));
    }
    let iv: [u8; NONCE_LEN] = b64::decode(iv.as_bytes())
        .and_then(|v| v.try_into().ok())
        .ok_or(Error::Malformed("JWE: IV is not 12 bytes of base64url"))?;
    let tag: [u8; TAG_LEN] = b64::decode(tag.as_bytes())
        .and_then(|v| v.try_into().ok())
        .ok_or(Error::Malformed("JWE: tag is not 16 bytes of base64url"))?;
    let mut body = Zeroizing::new(
        b64::decode(ct.as_bytes()).ok_or(Error::Malformed("JWE: ciphertext is not base64url"))?,
    );
    aead::open_in_place(key, &iv, header_b64.as_bytes(), &mut body, &tag)?;
    let mut plaintext = if inflate {
        inflate_raw(&body, MAX_INFLATED_LEN)?
    } else {
        body
    };
    Ok(JweContent {
        content_type: header.cty,
        plaintext: core::mem::take(&mut *plaintext),
    })
}

/// Raw DEFLATE (RFC 1951) inflate into at most `max` bytes; bytes after the
/// end of the stream are refused. Every buffer that held plaintext is
/// wiped, including the ones outgrown on the way. Also reads emergency
/// cards (src/card.rs).
pub(crate) fn inflate_raw(input: &[u8], max: usize) -> Result<Zeroizing<Vec<u8>>> {
    use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
    use miniz_oxide::inflate::TINFLStatus;

    const BAD: Error = Error::Malformed("payload is not raw DEFLATE");
    // The whole input is given at once (no HAS_MORE_INPUT), so a truncated
    // stream fails instead of asking for more.
    let flags = inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    // One byte of room past `max`, so a stream of exactly `max` bytes ends
    // with `Done` rather than asking for more room.
    let limit = max.saturating_add(1);
    let first = input.len().saturating_mul(4).clamp(64, limit);
    let mut out = Zeroizing::new(vec![0u8; first]);
    let mut state = Box::<DecompressorOxide>::default();
    let mut rest = input;
    let mut pos = 0usize;
    loop {
        let (status, used, written) = decompress(&mut state, rest, &mut out, pos, flags);
        pos = pos.checked_add(written).ok_or(BAD)?;
        rest = rest.get(used..).ok_or(BAD)?;
        match status {
            TINFLStatus::Done => {
                if !rest.is_empty() {
                    return Err(Error::Malformed("data after the end of the DEFLATE stream"));
                }
                if pos > max {
                    return Err(Error::TooLarge);
                }
                out.truncate(pos);
                return Ok(out);
            }
            TINFLStatus::HasMoreOutput => {
                if out.len() >= limit {
                    return Err(Error::TooLarge);
                }
                let grown = out.len().saturating_mul(2).min(limit);
                let mut bigger = Zeroizing::new(vec![0u8; grown]);
                bigger
                    .get_mut(..out.len())
                    .ok_or(BAD)?
                    .copy_from_slice(&out);
                out = bigger; // the old buffer is wiped on drop
            }
            _ => return Err(BAD),
        }
    }
}

/// Deserializes `bytes` as a JSON object into `T` (serde's derive would
/// also take an array for a struct), refusing duplicate known fields. Also
/// reads emergency cards (src/card.rs).
pub(crate) fn parse_json_object<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    if crate::card::first_non_ws(bytes) != Some(b'{') {
        return None;
    }
    serde_json::from_slice(bytes).ok()
}

// ---------------------------------------------------------------------------
// Link payload

/// A SMART Health Link payload: what a `shlink:/` URI carries. The key is
/// private (read it with [`LinkPayload::key`]), wiped on drop and never
/// printed by `Debug`.
#[derive(Clone)]
pub struct LinkPayload {
    /// The manifest URL (or, with flag `U`, the single file's URL).
    pub url: String,
    key: Box<[u8; 32]>,
    /// Expiry, in seconds since the Unix epoch: a hint for the receiver.
    pub exp: Option<u64>,
    /// Flags, a subset of `"LPU"` in that order (`""` for none): `L`
    /// long-term, `P` passcode required, `U` direct file (never with `P`).
    pub flag: String,
    /// A short description for the receiving user, at most 80 characters.
    pub label: Option<String>,
    /// Protocol version; only 1 exists, and absent means 1.
    pub v: Option<u64>,
}

impl Drop for LinkPayload {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl fmt::Debug for LinkPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkPayload")
            .field("url", &self.url)
            .field("key", &"<redacted>")
            .field("exp", &self.exp)
            .field("flag", &self.flag)
            .field("label", &self.label)
            .field("v", &self.v)
            .finish()
    }
}

impl LinkPayload {
    /// A payload with `url` and `key` and no other field set.
    pub fn new(url: impl Into<String>, key: [u8; 32]) -> Self {
        let mut key = key;
        let out = LinkPayload {
            url: url.into(),
            key: Box::new(key),
            exp: None,
            flag: String::new(),
            label: None,
            v: None,
        };
        key.zeroize();
        out
    }

    /// [`LinkPayload::new`] with a fresh random key from the platform CSPRNG
    /// (spec: the sharing application "SHALL generate a random key").
    pub fn with_random_key(url: impl Into<String>) -> Result<Self> {
        let mut key: [u8; 32] = Rng::Os.array()?;
        let out = Self::new(url, key);
        key.zeroize();
        Ok(out)
    }

    /// The 32-byte key that decrypts the link's files ([`jwe_decrypt`]).
    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }

    /// Whether flag `P` is set: the manifest request needs a passcode.
    pub fn needs_passcode(&self) -> bool {
        self.flag.contains('P')
    }

    /// Whether flag `U` is set: `url` is the single file, fetched with `GET`.
    pub fn is_direct_file(&self) -> bool {
        self.flag.contains('U')
    }

    /// Whether flag `L` is set: long-term, the manifest may change.
    pub fn is_long_term(&self) -> bool {
        self.flag.contains('L')
    }

    /// Checks every field against the rules [`parse_shlink`] applies, and
    /// two more that a writer owes its readers: `flag` uses only the letters
    /// this version knows (`L`, `P`, `U`), and `label` is at most 80 UTF-16
    /// units (a JavaScript reader's `length`), not only 80 characters.
    pub fn validate(&self) -> Result<()> {
        check_url(&self.url)?;
        if canonical_flags(&self.flag)? != self.flag {
            return Err(Error::InvalidArgument(
                "flag: only the letters L, P, U are written",
            ));
        }
        if let Some(label) = &self.label {
            // Written conservatively: JavaScript receivers count UTF-16 units.
            if label.encode_utf16().count() > MAX_LABEL_CHARS {
                return Err(Error::InvalidArgument(
                    "label: longer than 80 characters (UTF-16 units)",
                ));
            }
        }
        match self.v {
            None | Some(1) => {}
            Some(0) => return Err(Error::Malformed("SHL payload: v is not 1")),
            Some(version) => {
                return Err(Error::UnknownVersion {
                    what: "SMART Health Link",
                    version,
                })
            }
        }
        Ok(())
    }

    /// The `shlink:/` URI: `shlink:/` + base64url(minified JSON), fields in
    /// the spec's order (url, key, exp, flag, label, v), absent ones (and an
    /// empty `flag`) omitted. Refuses a payload [`LinkPayload::validate`]
    /// refuses. Prefix it with a viewer URL ending in `#` if wanted.
    pub fn to_shlink(&self) -> Result<String> {
        #[derive(Serialize)]
        struct Out<'a> {
            url: &'a str,
            key: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            exp: Option<u64>,
            #[serde(skip_serializing_if = "str::is_empty")]
            flag: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            label: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            v: Option<u64>,
        }
        self.validate()?;
        let key = Zeroizing::new(b64::encode(&self.key[..]));
        let json = Zeroizing::new(
            serde_json::to_vec(&Out {
                url: &self.url,
                key: &key,
                exp: self.exp,
                flag: &self.flag,
                label: self.label.as_deref(),
                v: self.v,
            })
            .map_err(|_| Error::InvalidArgument("SHL payload does not serialize"))?,
        );
        let mut out = String::from(SHLINK_PREFIX);
        b64::encode_into(&json, &mut out);
        Ok(out)
    }
}

/// The payload as it arrives; the key string is wiped on drop.
#[derive(Deserialize)]
struct RawPayload {
    url: String,
    key: String,
    #[serde(default)]
    exp: Option<serde_json::Number>,
    #[serde(default)]
    flag: Option<String>,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    v: Option<serde_json::Number>,
}

impl Drop for RawPayload {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

/// Reads a SMART Health Link: a bare `shlink:/…`, or any URL whose fragment
/// is one (`https://viewer.example#shlink:/…`). Validates every field per
/// the spec (see the module documentation); ignores unknown properties and
/// unknown flag letters, as the spec requires of receivers.
///
/// Errors: `TooLarge` over [`MAX_SHLINK_LEN`]; `UnknownVersion` for `v` > 1;
/// `Malformed` for everything else.
pub fn parse_shlink(text: &str) -> Result<LinkPayload> {
    if text.len() > MAX_SHLINK_LEN {
        return Err(Error::TooLarge);
    }
    let link = match strip_prefix_ignore_case(text, SHLINK_PREFIX) {
        Some(rest) => rest,
        None => text
            .split_once('#')
            .and_then(|(_, fragment)| strip_prefix_ignore_case(fragment, SHLINK_PREFIX))
            .ok_or(Error::Malformed(
                "not a shlink:/ URI or a URL with a #shlink:/ fragment",
            ))?,
    };
    let json = Zeroizing::new(
        b64::decode(link.as_bytes()).ok_or(Error::Malformed("SHL payload is not base64url"))?,
    );
    let mut raw = parse_json_object::<RawPayload>(&json).ok_or(Error::Malformed(
        "SHL payload is not a JSON object with string url and key",
    ))?;

    let v = match raw.v.as_ref().map(|n| n.as_u64()) {
        None => None,
        Some(Some(1)) => Some(1),
        Some(Some(version)) if version > 1 => {
            return Err(Error::UnknownVersion {
                what: "SMART Health Link",
                version,
            })
        }
        Some(_) => return Err(Error::Malformed("SHL payload: v is not 1")),
    };
    check_url(&raw.url)?;
    if raw.key.len() != 43 {
        return Err(Error::Malformed("SHL payload: key is not 43 characters"));
    }
    let key: Zeroizing<[u8; 32]> = Zeroizing::new(
        b64::decode(raw.key.as_bytes())
            .map(Zeroizing::new)
            .and_then(|k| k.as_slice().try_into().ok())
            .ok_or(Error::Malformed(
                "SHL payload: key is not 32 bytes of base64url",
            ))?,
    );
    let exp = raw.exp.as_ref().map(parse_exp).transpose()?;
    let flag = match &raw.flag {
        Some(f) => canonical_flags(f)?,
        None => String::new(),
    };
    if let Some(label) = &raw.label {
        check_label(label)?;
    }
    let mut out = LinkPayload::new(core::mem::take(&mut raw.url), *key);
    out.exp = exp;
    out.flag = flag;
    out.label = raw.label.take();
    out.v = v;
    Ok(out)
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// `exp` is a JSON number of seconds; a fraction is rounded down.
fn parse_exp(n: &serde_json::Number) -> Result<u64> {
    const BAD: Error = Error::Malformed("SHL payload: exp is not a non-negative number of seconds");
    if let Some(u) = n.as_u64() {
        return Ok(u);
    }
    match n.as_f64() {
        // Up to 2^64 (exclusive): in range, the cast after flooring is exact.
        Some(f) if (0.0..18_446_744_073_709_551_616.0).contains(&f) => Ok(f.floor() as u64),
        _ => Err(BAD),
    }
}

/// The known flag letters of `flag`, in order. Refuses anything but upper
/// case letters in strictly alphabetical order, and `U` with `P`; drops the
/// letters this version does not know (the spec: receivers SHALL ignore them).
fn canonical_flags(flag: &str) -> Result<String> {
    let mut out = String::new();
    let mut previous = 0u8;
    for b in flag.bytes() {
        if !b.is_ascii_uppercase() {
            return Err(Error::Malformed(
                "SHL payload: flag has a character that is not A-Z",
            ));
        }
        if b <= previous {
            return Err(Error::Malformed(
                "SHL payload: flag letters are not in alphabetical order, each once",
            ));
        }
        previous = b;
        if matches!(b, b'L' | b'P' | b'U') {
            out.push(char::from(b));
        }
    }
    if out.contains('P') && out.contains('U') {
        return Err(Error::Malformed(
            "SHL payload: flag U cannot be combined with P",
        ));
    }
    Ok(out)
}

fn check_label(label: &str) -> Result<()> {
    if label.chars().count() > MAX_LABEL_CHARS {
        return Err(Error::Malformed(
            "SHL payload: label is longer than 80 characters",
        ));
    }
    Ok(())
}

/// An `https://` URL with a host, of printable ASCII, at most 128
/// characters; `http://` only for a loopback host (a deviation, for tests).
fn check_url(url: &str) -> Result<()> {
    if url.len() > MAX_URL_LEN {
        return Err(Error::Malformed(
            "SHL payload: url is longer than 128 characters",
        ));
    }
    if !url.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::Malformed(
            "SHL payload: url has a space, control or non-ASCII character",
        ));
    }
    let (https, rest) = if let Some(rest) = strip_prefix_ignore_case(url, "https://") {
        (true, rest)
    } else if let Some(rest) = strip_prefix_ignore_case(url, "http://") {
        (false, rest)
    } else {
        return Err(Error::Malformed("SHL payload: url is not https"));
    };
    // WHATWG URL parsing (what a browser does with the url) reads `\` as `/`
    // in http(s) URLs, and user info before `@` is no part of an SHL
    // manifest URL: refused, so the host checked here is the host fetched.
    if url.contains('\\') {
        return Err(Error::Malformed("SHL payload: url has a backslash"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err(Error::Malformed("SHL payload: url has user info (@)"));
    }
    let host = authority;
    let host = match host.rsplit_once(':') {
        // A port after the host (an IPv6 literal ends with `]`).
        Some((h, port)) if !port.contains(']') => h,
        _ => host,
    };
    if host.is_empty() {
        return Err(Error::Malformed("SHL payload: url has no host"));
    }
    if !https && !is_loopback(host) {
        return Err(Error::Malformed(
            "SHL payload: url is not https (http only for localhost)",
        ));
    }
    Ok(())
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1" || host == "[::1]"
}

/// Test-only entry points with the seeded random source.
#[cfg(feature = "deterministic-rng")]
pub mod deterministic {
    use super::Result;
    use crate::rng::{Rng, SeededRng};

    /// [`super::jwe_encrypt`] with the IV drawn from the seeded stream of
    /// `seed` (its first 12 bytes), so a test can pin the output.
    pub fn jwe_encrypt(
        seed: &[u8],
        key: &[u8; 32],
        content_type: &str,
        plaintext: &[u8],
    ) -> Result<String> {
        let mut rng = Rng::Seeded(SeededRng::new(seed));
        super::jwe_encrypt_with(&mut rng, key, content_type, plaintext)
    }
}
