//! The emergency card (docs/FORMAT.md §15.9): a patient's emergency summary
//! (a FHIR R4 Bundle the app gives as JSON) signed as a SMART Health Card, so
//! that anyone can read and verify it from one QR code, offline, with no
//! server and no medseal account.
//!
//! Source: HL7 FHIR IG "SMART Health Cards and Links" 1.0.0 (STU1), page
//! "Health Cards Specification" (cards-specification.html; read from the IG
//! source, github.com/HL7/smart-health-cards-and-links,
//! input/pagecontent/cards-specification.md), and the SMART Health Cards QR
//! FAQ (github.com/smart-on-fhir/health-cards, FAQ/qr.md). Rules taken from
//! them, with the section each comes from:
//!
//! - "Health Cards are encoded as Compact Serialization JSON Web Signatures":
//!   a JWS (RFC 7515) signed with ES256 (ECDSA P-256, SHA-256; the signature
//!   is `r || s`, 64 bytes, RFC 7518 §3.4) whose payload is
//!   `{"iss","nbf","vc":{"type":[…,"https://smarthealth.cards#health-card"],
//!   "credentialSubject":{"fhirVersion","fhirBundle"}}}`; `nbf` in seconds
//!   since 1970 (RFC 7519).
//! - "Health Cards are Compact": the header has `alg: "ES256"`, `zip: "DEF"`
//!   and `kid` = the base64url SHA-256 JWK thumbprint of the key (RFC 7638);
//!   the payload is minified and compressed with raw DEFLATE (RFC 1951, no
//!   zlib or gzip header) before it is signed.
//! - "Health Cards as QR Codes" / "Encoding QRs": the QR holds a byte-mode
//!   segment `shc:/` and a numeric-mode segment in which each character `c`
//!   of the JWS is the two digits of `Ord(c) - 45`. QR codes up to version
//!   22; chunking (`shc:/1/2/…`) is deprecated (not supported here).
//! - QR FAQ: at version 22 with error correction L, a single QR holds a JWS
//!   of at most 1195 characters ([`MAX_JWS_LEN`]); the spec's deprecated
//!   chunking rule names the same number ("Any JWS longer than 1195
//!   characters SHALL be split").
//! - "Expiration of Health Cards": verifiers SHALL reject a card whose `exp`
//!   has passed. [`read_card`] has no clock, so it refuses any card with an
//!   `exp` (medseal never writes one).
//!
//! Deviation (the card must verify offline): SMART Health Cards find the
//! issuer's key at `iss + "/.well-known/jwks.json"`. An emergency card
//! carries its public key in the protected header as `jwk` (RFC 7515
//! §4.1.3; EC P-256, RFC 7517/7518) and `kid` is that key's thumbprint; `iss`
//! is `medseal:vault:` + base64url(vault id), not a URL. A valid signature
//! proves only that the holder of *that* key signed the card: anyone can
//! make a card with a key of their own and any `iss`. Trust comes from a
//! person comparing the card's fingerprint ([`VerifiedCard::fingerprint`])
//! with the one the patient's app shows ([`Vault::card_fingerprint`]).
//!
//! The signing key is the vault's **card key**, one per key epoch, derived
//! from that epoch's vault key under its own label (never the identity key:
//! one key, one purpose). A card stays verifiable after a re-key (the key
//! travels with it), but shows the old epoch's fingerprint.
//!
//! Choices where the spec is silent or loose:
//! - The writer signs with a low `s` (one JWS per card); the reader accepts
//!   any valid ES256 signature, high `s` included, as RFC 7518 does (other
//!   producers, WebCrypto among them, do not normalize).
//! - The reader refuses a `jwk` with a private part (`d`), a `use` other than
//!   `sig`, an `alg` other than `ES256`, and any `crit` header; ignores other
//!   unknown header and `jwk` members and unknown `vc.type` values (as the
//!   spec asks). It requires `fhirVersion` `4.0.1` and a JSON object for
//!   `fhirBundle`, and returns the bundle's bytes exactly as signed.
//! - Limits, checked before any work: a JWS of at most [`MAX_JWS_LEN`]
//!   characters (a `shc:/` text of at most 5 + 2 × 1195), an inflated
//!   payload of at most [`MAX_PAYLOAD_LEN`].

use core::fmt;

use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use serde::de::IgnoredAny;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::b64;
use crate::error::{Error, Result};
use crate::identity::{Identity, SIGNATURE_LEN};
use crate::kdf::{label, put_lp};
use crate::vault::Vault;

/// Longest JWS of a card: what one QR code of version 22 with error
/// correction L holds in the spec's encoding (SMART Health Cards QR FAQ,
/// "Max JWS Length for V22 QR": `(8048 - 76) × 3 / 20`, rounded down).
pub const MAX_JWS_LEN: usize = 1195;
/// Largest payload (the JSON claims, after inflating) a card may carry.
pub const MAX_PAYLOAD_LEN: usize = 64 * 1024;
/// The URI prefix of a card's QR text.
pub const SHC_PREFIX: &str = "shc:/";
/// Longest QR text [`read_card`] reads: the prefix and two digits per JWS
/// character.
pub const MAX_QR_LEN: usize = SHC_PREFIX.len() + 2 * MAX_JWS_LEN;
/// The `vc.type` every SMART Health Card lists.
pub const HEALTH_CARD_TYPE: &str = "https://smarthealth.cards#health-card";
/// The `fhirVersion` of a card: FHIR R4.
pub const FHIR_VERSION: &str = "4.0.1";
/// The prefix of a card's `iss`: the vault id follows, base64url.
pub const ISS_PREFIX: &str = "medseal:vault:";

const ALG: &str = "ES256";
const ZIP: &str = "DEF";
/// `Ord('-')`: the lowest character of a compact JWS (spec, "Encoding QRs").
const NUMERIC_OFFSET: u8 = 45;
/// `Ord('z') - 45`: the highest two-digit value a JWS character gives.
const NUMERIC_MAX: u8 = b'z' - NUMERIC_OFFSET;
/// Largest JSON Number a JavaScript reader keeps exactly (`nbf`).
const MAX_NBF: u64 = crate::manifest::MAX_REVISION;

/// A card just made. `Debug` shows its length and fingerprint, not the
/// health data it carries.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Card {
    /// The JWS (compact serialization): what a `.smart-health-card` file
    /// lists.
    pub jws: String,
    /// The QR code's text: `shc:/` and the JWS in the spec's numeric
    /// encoding. Encode `shc:/` in byte mode and the digits in numeric mode
    /// (one QR of version 22 or lower at error correction L).
    pub qr: String,
    /// The signing key's fingerprint (its RFC 7638 thumbprint, the header's
    /// `kid`): what a reader compares with the app's.
    pub fingerprint: String,
}

impl fmt::Debug for Card {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Card")
            .field("jws_len", &self.jws.len())
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// A card whose signature checked out under the key it carries. Nothing
/// here says *who* holds that key: compare [`VerifiedCard::fingerprint`]
/// with the one the patient's app shows. `Debug` shows the bundle's length
/// only.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedCard {
    /// The issuer the card names (`medseal:vault:…` for a medseal card);
    /// a claim of the signer, not checked.
    pub iss: String,
    /// When it was issued (`nbf`), seconds since 1970.
    pub nbf: u64,
    /// The fingerprint of the key that signed it (its `kid`, checked to be
    /// the thumbprint of the key that verified the signature).
    pub fingerprint: String,
    /// The FHIR Bundle: the bytes of `fhirBundle` exactly as signed (UTF-8
    /// JSON, an object).
    pub bundle_json: Vec<u8>,
}

impl fmt::Debug for VerifiedCard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedCard")
            .field("iss", &self.iss)
            .field("nbf", &self.nbf)
            .field("fingerprint", &self.fingerprint)
            .field("bundle_len", &self.bundle_json.len())
            .finish()
    }
}

impl Vault {
    /// Makes an emergency card of `bundle_json` (a FHIR R4 Bundle as UTF-8
    /// JSON; its whitespace outside strings is removed, nothing else
    /// changes), issued at `nbf` (seconds since 1970), signed with this
    /// epoch's card key.
    ///
    /// Errors: `InvalidArgument` for a bundle that is not a UTF-8 JSON
    /// object or an `nbf` above 2^53 - 1; `TooLarge` when the JWS would be
    /// longer than [`MAX_JWS_LEN`] = 1195 characters (the most one version-22
    /// QR code holds at error correction L) or the payload larger than
    /// [`MAX_PAYLOAD_LEN`]: leave resources out, or share a SMART Health Link
    /// instead.
    pub fn emergency_card(&self, bundle_json: &[u8], nbf: u64) -> Result<Card> {
        if bundle_json.len() > MAX_PAYLOAD_LEN {
            return Err(Error::TooLarge);
        }
        let text = core::str::from_utf8(bundle_json)
            .map_err(|_| Error::InvalidArgument("the card's bundle is not UTF-8"))?;
        if !is_json_object(text.as_bytes()) {
            return Err(Error::InvalidArgument(
                "the card's bundle is not a JSON object",
            ));
        }
        if nbf > MAX_NBF {
            return Err(Error::InvalidArgument(
                "nbf must be seconds since 1970, at most 2^53 - 1",
            ));
        }
        let bundle = minify(text.as_bytes());
        let iss = format!("{ISS_PREFIX}{}", b64::encode(self.vault_id()));
        let mut payload = Vec::with_capacity(bundle.len() + 160);
        payload.extend_from_slice(b"{\"iss\":");
        payload.extend_from_slice(json_string(&iss).as_bytes());
        payload.extend_from_slice(format!(",\"nbf\":{nbf},\"vc\":{{\"type\":[").as_bytes());
        payload.extend_from_slice(json_string(HEALTH_CARD_TYPE).as_bytes());
        payload.extend_from_slice(b"],\"credentialSubject\":{\"fhirVersion\":");
        payload.extend_from_slice(json_string(FHIR_VERSION).as_bytes());
        payload.extend_from_slice(b",\"fhirBundle\":");
        payload.extend_from_slice(&bundle);
        payload.extend_from_slice(b"}}}");
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(Error::TooLarge);
        }
        let deflated = miniz_oxide::deflate::compress_to_vec(&payload, DEFLATE_LEVEL);

        let key = self.card_key()?;
        let jwk = Jwk::of(&key)?;
        let fingerprint = jwk.thumbprint();
        let header = format!(
            "{{\"alg\":\"{ALG}\",\"zip\":\"{ZIP}\",\"kid\":\"{fingerprint}\",\"jwk\":{}}}",
            jwk.canonical_json()
        );
        let header_b64 = b64::encode(header.as_bytes());
        let total = header_b64.len()
            + 1
            + b64::encoded_len(deflated.len())
            + 1
            + b64::encoded_len(SIGNATURE_LEN);
        if total > MAX_JWS_LEN {
            return Err(Error::TooLarge);
        }
        let mut jws = String::with_capacity(total);
        jws.push_str(&header_b64);
        jws.push('.');
        b64::encode_into(&deflated, &mut jws);
        let signature = key.sign(jws.as_bytes());
        jws.push('.');
        b64::encode_into(&signature, &mut jws);
        let qr = to_qr(&jws);
        Ok(Card {
            jws,
            qr,
            fingerprint,
        })
    }

    /// The fingerprint of this vault's current card key (the `kid` of the
    /// cards it makes now): what the app shows next to the card, for a
    /// reader to compare with the one [`read_card`] reports. It changes with
    /// each key epoch ([`Vault::rekey`]); cards made before keep showing the
    /// fingerprint of their epoch.
    pub fn card_fingerprint(&self) -> Result<String> {
        Ok(Jwk::of(&self.card_key()?)?.thumbprint())
    }

    /// The current epoch's card signing key: derived from the epoch's vault
    /// key, `HKDF(vault key, salt "", info "medseal/v3/card/signing-key" ||
    /// lp(vault id) || u32be(epoch) || counter)`, the first valid scalar.
    fn card_key(&self) -> Result<Identity> {
        let epoch = self.manifest().epoch();
        let vault_key = self.epoch_vault_key(epoch).ok_or(Error::ManifestInvalid)?;
        let mut extra = Vec::with_capacity(24);
        put_lp(&mut extra, self.vault_id());
        extra.extend_from_slice(&epoch.to_be_bytes());
        Identity::derive(vault_key.expose(), &[], label::CARD_KEY, &extra)
    }
}

/// miniz_oxide's highest level: the smallest output, deterministic.
const DEFLATE_LEVEL: u8 = 10;

/// Reads and verifies a card from its QR text (`shc:/` and digits) or its
/// JWS.
///
/// Errors: `TooLarge` for a text over [`MAX_QR_LEN`], a JWS over
/// [`MAX_JWS_LEN`] or a payload that inflates past [`MAX_PAYLOAD_LEN`];
/// `Malformed` for anything that is not such a card (a bad numeric text,
/// not three base64url parts, a header without `alg: "ES256"`,
/// `zip: "DEF"`, a P-256 `jwk` and a `kid`; and, after the signature, a
/// payload that is not raw DEFLATE of the claims this module describes, or
/// has an `exp`); `ManifestInvalid` when the `kid` is not the `jwk`'s
/// thumbprint or the signature does not verify under the `jwk` (an altered
/// card).
pub fn read_card(text: &str) -> Result<VerifiedCard> {
    if text.len() > MAX_QR_LEN {
        return Err(Error::TooLarge);
    }
    let decoded;
    let jws = match text.get(..SHC_PREFIX.len()) {
        Some(p) if p.eq_ignore_ascii_case(SHC_PREFIX) => {
            decoded = from_numeric(text.get(SHC_PREFIX.len()..).unwrap_or(""))?;
            decoded.as_str()
        }
        _ => text,
    };
    if jws.len() > MAX_JWS_LEN {
        return Err(Error::TooLarge);
    }
    let mut parts = jws.split('.');
    let (Some(header_b64), Some(payload_b64), Some(sig_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::Malformed("card: not three dot-separated parts"));
    };
    let header_json = b64::decode(header_b64.as_bytes())
        .ok_or(Error::Malformed("card: header is not base64url"))?;
    let header = crate::shl::parse_json_object::<Header>(&header_json).ok_or(Error::Malformed(
        "card: header is not a JSON object with alg, zip, kid and jwk",
    ))?;
    if header.alg.as_deref() != Some(ALG) {
        return Err(Error::Malformed("card: alg is not \"ES256\""));
    }
    if header.crit.is_some() {
        return Err(Error::Malformed(
            "card: crit header parameters are not supported",
        ));
    }
    if header.zip.as_deref() != Some(ZIP) {
        return Err(Error::Malformed("card: zip is not \"DEF\""));
    }
    let jwk = header
        .jwk
        .ok_or(Error::Malformed(
            "card: no jwk (an emergency card carries its public key)",
        ))?
        .check()?;
    let kid = header.kid.ok_or(Error::Malformed("card: no kid"))?;
    let payload = b64::decode(payload_b64.as_bytes())
        .ok_or(Error::Malformed("card: payload is not base64url"))?;
    let signature = b64::decode(sig_b64.as_bytes())
        .filter(|s| s.len() == SIGNATURE_LEN)
        .ok_or(Error::Malformed(
            "card: signature is not 64 bytes of base64url",
        ))?;

    let fingerprint = jwk.thumbprint();
    if kid != fingerprint {
        return Err(Error::ManifestInvalid);
    }
    let signed_len = header_b64.len() + 1 + payload_b64.len();
    let signed = jws.get(..signed_len).ok_or(Error::ManifestInvalid)?;
    let signature = Signature::from_slice(&signature).map_err(|_| Error::ManifestInvalid)?;
    jwk.verifying_key()?
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| Error::ManifestInvalid)?;

    // Signed by the key the card carries: what follows is the signer's
    // content, checked for shape only.
    // The SHL reader's inflate (capped, trailing bytes refused); its
    // buffer is wiped on drop, which a public card does not need but costs nothing.
    let claims = crate::shl::inflate_raw(&payload, MAX_PAYLOAD_LEN)?;
    if core::str::from_utf8(&claims).is_err() {
        return Err(Error::Malformed("card: payload is not UTF-8"));
    }
    let p = crate::shl::parse_json_object::<Payload>(&claims).ok_or(Error::Malformed(
        "card: payload is not a JSON object with iss, nbf and vc",
    ))?;
    if p.exp.is_some() {
        return Err(Error::Malformed(
            "card: has an exp, which this reader cannot check (no clock)",
        ));
    }
    if p.nbf > MAX_NBF {
        return Err(Error::Malformed("card: nbf is above 2^53 - 1"));
    }
    if !p.vc.types.iter().any(|t| t == HEALTH_CARD_TYPE) {
        return Err(Error::Malformed(
            "card: vc.type does not list https://smarthealth.cards#health-card",
        ));
    }
    if p.vc.subject.fhir_version != FHIR_VERSION {
        return Err(Error::Malformed("card: fhirVersion is not \"4.0.1\""));
    }
    let bundle = p.vc.subject.fhir_bundle.get().as_bytes();
    if bundle.first() != Some(&b'{') {
        return Err(Error::Malformed("card: fhirBundle is not a JSON object"));
    }
    Ok(VerifiedCard {
        iss: p.iss,
        nbf: p.nbf,
        fingerprint,
        bundle_json: bundle.to_vec(),
    })
}

// ---------------------------------------------------------------------------
// Keys

/// A P-256 public key as a JWK (RFC 7517/7518 §6.2): the coordinates.
struct Jwk {
    x: [u8; 32],
    y: [u8; 32],
}

impl Jwk {
    fn of(key: &Identity) -> Result<Jwk> {
        let vk =
            VerifyingKey::from_sec1_bytes(&key.public_key()).map_err(|_| Error::ManifestInvalid)?;
        let point = vk.to_sec1_point(false);
        let bytes = point.as_bytes();
        let (Some(x), Some(y)) = (bytes.get(1..33), bytes.get(33..65)) else {
            return Err(Error::ManifestInvalid);
        };
        let mut jwk = Jwk {
            x: [0; 32],
            y: [0; 32],
        };
        jwk.x.copy_from_slice(x);
        jwk.y.copy_from_slice(y);
        Ok(jwk)
    }

    /// The required members in lexicographic order, no whitespace (RFC 7638
    /// §3.2): both the header's `jwk` and the thumbprint's input.
    fn canonical_json(&self) -> String {
        format!(
            "{{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"{}\",\"y\":\"{}\"}}",
            b64::encode(&self.x),
            b64::encode(&self.y)
        )
    }

    /// base64url(SHA-256(canonical JSON)): the `kid` and the fingerprint.
    fn thumbprint(&self) -> String {
        b64::encode(&Sha256::digest(self.canonical_json().as_bytes()))
    }

    fn verifying_key(&self) -> Result<VerifyingKey> {
        // SEC1 uncompressed: 0x04 || x || y.
        let mut sec1 = [4u8; 65];
        if let Some(dst) = sec1.get_mut(1..33) {
            dst.copy_from_slice(&self.x);
        }
        if let Some(dst) = sec1.get_mut(33..65) {
            dst.copy_from_slice(&self.y);
        }
        VerifyingKey::from_sec1_bytes(&sec1)
            .map_err(|_| Error::Malformed("card: jwk is not a point of P-256"))
    }
}

/// The protected header members read. Unknown members are ignored (RFC 7515
/// §4); a repeated known member is refused (serde).
#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    alg: Option<String>,
    #[serde(default)]
    zip: Option<String>,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    jwk: Option<HeaderJwk>,
    #[serde(default)]
    crit: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct HeaderJwk {
    kty: String,
    crv: String,
    x: String,
    y: String,
    #[serde(default)]
    d: Option<IgnoredAny>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    alg: Option<String>,
}

impl HeaderJwk {
    fn check(self) -> Result<Jwk> {
        if self.kty != "EC" || self.crv != "P-256" {
            return Err(Error::Malformed("card: jwk is not kty EC, crv P-256"));
        }
        if self.d.is_some() {
            return Err(Error::Malformed("card: jwk holds a private key (d)"));
        }
        if self.use_.as_deref().is_some_and(|u| u != "sig")
            || self.alg.as_deref().is_some_and(|a| a != ALG)
        {
            return Err(Error::Malformed(
                "card: jwk is not for ES256 signatures (use, alg)",
            ));
        }
        let coord = |s: &str| -> Option<[u8; 32]> { b64::decode(s.as_bytes())?.try_into().ok() };
        let (Some(x), Some(y)) = (coord(&self.x), coord(&self.y)) else {
            return Err(Error::Malformed(
                "card: jwk x and y are not 32 bytes of base64url",
            ));
        };
        let jwk = Jwk { x, y };
        jwk.verifying_key()?;
        Ok(jwk)
    }
}

#[derive(Deserialize)]
struct Payload {
    iss: String,
    nbf: u64,
    vc: Vc,
    #[serde(default)]
    exp: Option<IgnoredAny>,
}

#[derive(Deserialize)]
struct Vc {
    #[serde(rename = "type")]
    types: Vec<String>,
    #[serde(rename = "credentialSubject")]
    subject: Subject,
}

#[derive(Deserialize)]
struct Subject {
    #[serde(rename = "fhirVersion")]
    fhir_version: String,
    /// The bundle's text exactly as signed (serde_json's `RawValue`).
    #[serde(rename = "fhirBundle")]
    fhir_bundle: Box<serde_json::value::RawValue>,
}

// ---------------------------------------------------------------------------
// The QR's numeric encoding

/// `shc:/` and two digits per character (`Ord(c) - 45`).
fn to_qr(jws: &str) -> String {
    let mut out = String::with_capacity(SHC_PREFIX.len() + 2 * jws.len());
    out.push_str(SHC_PREFIX);
    for b in jws.bytes() {
        let v = b.saturating_sub(NUMERIC_OFFSET);
        out.push(char::from(b'0' + v / 10 % 10));
        out.push(char::from(b'0' + v % 10));
    }
    out
}

/// The JWS of a numeric text: digit pairs, each 00 to 77 (`-` to `z`).
fn from_numeric(digits: &str) -> Result<String> {
    let bytes = digits.as_bytes();
    if bytes.contains(&b'/') {
        return Err(Error::Malformed(
            "card: a chunked shc:/ text (deprecated by the spec) is not supported",
        ));
    }
    if !bytes.iter().all(u8::is_ascii_digit) {
        return Err(Error::Malformed("card: shc:/ is not followed by digits"));
    }
    let (pairs, rest) = bytes.as_chunks::<2>();
    if !rest.is_empty() {
        return Err(Error::Malformed(
            "card: shc:/ is followed by an odd number of digits",
        ));
    }
    let mut out = String::with_capacity(pairs.len());
    for &[hi, lo] in pairs {
        let v = (hi - b'0') * 10 + (lo - b'0');
        if v > NUMERIC_MAX {
            return Err(Error::Malformed(
                "card: a digit pair is above 77 (no JWS character)",
            ));
        }
        out.push(char::from(v + NUMERIC_OFFSET));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// JSON

/// A JSON string literal (serde_json escapes; never fails for a `str`).
fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}

/// Whether `bytes` are one JSON object (whole input, serde_json's grammar
/// and nesting limit).
fn is_json_object(bytes: &[u8]) -> bool {
    first_non_ws(bytes) == Some(b'{') && serde_json::from_slice::<IgnoredAny>(bytes).is_ok()
}

pub(crate) fn first_non_ws(bytes: &[u8]) -> Option<u8> {
    bytes.iter().copied().find(|b| !is_ws(*b))
}

/// JSON's four whitespace bytes (RFC 8259 §2).
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Valid JSON without whitespace outside strings: the same text otherwise,
/// byte for byte (key order, number forms and escapes kept, which a
/// round-trip through `serde_json::Value` would not).
fn minify(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in json {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
            out.push(b);
        } else if !is_ws(b) {
            out.push(b);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{from_numeric, minify, to_qr};

    #[test]
    fn minify_keeps_strings_and_drops_whitespace() {
        let j = br#" { "a" : [ 1 , 2.50 , "x y\" }" ] ,
            "b\u0063" : { } } "#;
        assert_eq!(minify(j), br#"{"a":[1,2.50,"x y\" }"],"b\u0063":{}}"#);
    }

    #[test]
    fn numeric_round_trip_and_the_spec_example() {
        // "Encoding QRs": 'X' is 43.
        assert_eq!(to_qr("X"), "shc:/43");
        let jws = "eyJ-_.abcXYZ0189";
        let qr = to_qr(jws);
        assert_eq!(from_numeric(&qr[5..]).unwrap(), jws);
        // The spec's example starts with the digits of `eyJ6aXAiOiJ`.
        assert_eq!(
            from_numeric("56762909524320603460292437404460").unwrap(),
            "eyJ6aXAiOiJERUYi"
        );
    }
}
