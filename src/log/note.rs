//! C2SP signed notes (c2sp.org/signed-note) with ECDSA P-256 signatures
//! (signature type 0x02, as transparency-dev/witness and Sigstore's Rekor
//! use them), and C2SP tlog checkpoints (c2sp.org/tlog-checkpoint).
//!
//! A checkpoint is the note text `origin \n size \n base64(root) \n`; each
//! signature line is `— <key name> base64(key ID || DER ECDSA signature)`,
//! with key ID the first four bytes of SHA-256 of the key's DER
//! SubjectPublicKeyInfo. The DER codec below covers exactly the
//! `ECDSA-Sig-Value` and P-256 SPKI shapes, strictly (minimal integers only).

use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::log::merkle::Hash;

/// Longest note accepted: a checkpoint with a handful of signatures.
pub const MAX_NOTE_LEN: usize = 4096;
/// Most signature lines read from one note (C2SP: at least 16).
pub const MAX_SIGNATURES: usize = 16;

/// The fixed DER prefix of a P-256 SubjectPublicKeyInfo (id-ecPublicKey,
/// prime256v1, then a 66-byte BIT STRING holding the uncompressed point).
const SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

fn bad_note() -> Error {
    Error::Malformed("signed note")
}

/// The DER SubjectPublicKeyInfo of a P-256 key given in SEC1 form
/// (compressed or not).
pub fn spki_der(sec1: &[u8]) -> Result<Vec<u8>> {
    let vk = VerifyingKey::from_sec1_bytes(sec1)
        .map_err(|_| Error::InvalidArgument("P-256 public key"))?;
    let point = vk.to_sec1_point(false);
    let mut out = SPKI_PREFIX.to_vec();
    out.extend_from_slice(point.as_bytes());
    Ok(out)
}

/// The signed-note key ID of an ECDSA P-256 key: SHA-256(DER SPKI)[..4].
pub fn key_id(sec1: &[u8]) -> Result<[u8; 4]> {
    let digest = Sha256::digest(spki_der(sec1)?);
    let mut id = [0u8; 4];
    id.copy_from_slice(digest.get(..4).ok_or_else(bad_note)?);
    Ok(id)
}

/// Key names: non-empty, no spaces (any Unicode space) and no `+`.
pub fn check_key_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > 256
        || name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
    {
        return Err(Error::InvalidArgument("signed-note key name"));
    }
    Ok(())
}

fn der_int(out: &mut Vec<u8>, be: &[u8]) {
    let mut v = be;
    while let [0, rest @ ..] = v {
        if rest.is_empty() {
            break;
        }
        v = rest;
    }
    let pad = v.first().is_some_and(|b| b & 0x80 != 0);
    out.push(0x02);
    out.push((v.len() + usize::from(pad)) as u8);
    if pad {
        out.push(0);
    }
    out.extend_from_slice(v);
}

/// DER `ECDSA-Sig-Value` of a 64-byte `r || s` signature.
pub fn sig_to_der(raw: &[u8; 64]) -> Vec<u8> {
    let (r, s) = raw.split_at(32);
    let mut body = Vec::with_capacity(70);
    der_int(&mut body, r);
    der_int(&mut body, s);
    let mut out = vec![0x30, body.len() as u8];
    out.extend_from_slice(&body);
    out
}

fn read_der_int(input: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&len, rest) = rest.split_first()?;
    let len = usize::from(len);
    if tag != 0x02 || len == 0 || len > 33 || rest.len() < len {
        return None;
    }
    let (v, rest) = rest.split_at(len);
    // Minimal encoding: no leading 0x00 unless the next byte's top bit is set;
    // no negative numbers.
    match v {
        [0] => return None, // zero is not a valid r or s
        [0, b, ..] if b & 0x80 == 0 => return None,
        [b, ..] if b & 0x80 != 0 => return None,
        _ => {}
    }
    let v = match v {
        [0, tail @ ..] => tail,
        _ => v,
    };
    if v.len() > 32 {
        return None;
    }
    Some((v, rest))
}

/// Parses a strict DER `ECDSA-Sig-Value` into `r || s`.
pub fn sig_from_der(der: &[u8]) -> Result<[u8; 64]> {
    let inner = match der {
        [0x30, len, rest @ ..] if usize::from(*len) == rest.len() && *len < 0x80 => rest,
        _ => return Err(bad_note()),
    };
    let (r, rest) = read_der_int(inner).ok_or_else(bad_note)?;
    let (s, rest) = read_der_int(rest).ok_or_else(bad_note)?;
    if !rest.is_empty() {
        return Err(bad_note());
    }
    let mut out = [0u8; 64];
    let (ro, so) = out.split_at_mut(32);
    ro.get_mut(32 - r.len()..)
        .ok_or_else(bad_note)?
        .copy_from_slice(r);
    so.get_mut(32 - s.len()..)
        .ok_or_else(bad_note)?
        .copy_from_slice(s);
    Ok(out)
}

/// One signature line of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The key ID.
    pub key_id: [u8; 4],
    /// The signature bytes after the key ID.
    pub signature: Vec<u8>,
}

/// A parsed (not yet verified) signed note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The signed text, ending in a newline.
    pub text: String,
    /// The signature lines, in order.
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    /// Parses a signed note strictly (C2SP signed-note "Format").
    pub fn parse(note: &str) -> Result<Note> {
        if note.len() > MAX_NOTE_LEN {
            return Err(Error::TooLarge);
        }
        if note.chars().any(|c| c.is_control() && c != '\n') || !note.ends_with('\n') {
            return Err(bad_note());
        }
        // The text ends at the last blank line.
        let split = note.rfind("\n\n").ok_or_else(bad_note)?;
        let (text, sigs) = note.split_at(split + 1);
        let sigs = sigs.strip_prefix('\n').ok_or_else(bad_note)?;
        let mut signatures = Vec::new();
        for line in sigs.split_terminator('\n') {
            if signatures.len() == MAX_SIGNATURES {
                return Err(Error::TooLarge);
            }
            let rest = line.strip_prefix("\u{2014} ").ok_or_else(bad_note)?;
            let (name, b64) = rest.split_once(' ').ok_or_else(bad_note)?;
            check_key_name(name).map_err(|_| bad_note())?;
            let raw = decode_std(b64).ok_or_else(bad_note)?;
            if raw.len() < 5 {
                return Err(bad_note());
            }
            let (id, sig) = raw.split_at(4);
            let mut key_id = [0u8; 4];
            key_id.copy_from_slice(id);
            signatures.push(NoteSignature {
                name: name.to_owned(),
                key_id,
                signature: sig.to_vec(),
            });
        }
        if signatures.is_empty() {
            return Err(bad_note());
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// Verifies the note against a set of known keys `(name, SEC1 key)`:
    /// signatures of unknown keys are ignored, a known key's signature that
    /// fails rejects the note, and at least one known key must have signed.
    /// Returns the names of the known keys that signed.
    pub fn verify(&self, known: &[(&str, &[u8])]) -> Result<Vec<String>> {
        let mut signed = Vec::new();
        for s in &self.signatures {
            for (name, key) in known {
                if *name == s.name && key_id(key)? == s.key_id {
                    let raw = sig_from_der(&s.signature).map_err(|_| Error::LogSignatureInvalid)?;
                    let sig =
                        Signature::from_slice(&raw).map_err(|_| Error::LogSignatureInvalid)?;
                    let vk = VerifyingKey::from_sec1_bytes(key)
                        .map_err(|_| Error::LogSignatureInvalid)?;
                    vk.verify(self.text.as_bytes(), &sig)
                        .map_err(|_| Error::LogSignatureInvalid)?;
                    signed.push(s.name.clone());
                }
            }
        }
        if signed.is_empty() {
            return Err(Error::LogSignatureInvalid);
        }
        Ok(signed)
    }

    /// The note as text.
    pub fn to_text(&self) -> String {
        let mut out = self.text.clone();
        out.push('\n');
        for s in &self.signatures {
            let mut raw = s.key_id.to_vec();
            raw.extend_from_slice(&s.signature);
            out.push_str("\u{2014} ");
            out.push_str(&s.name);
            out.push(' ');
            out.push_str(&encode_std(&raw));
            out.push('\n');
        }
        out
    }
}

/// A named P-256 key that signs C2SP notes: what the server's log key
/// ([`crate::log::ServerLogKey`]) and the operator's notice key
/// ([`crate::notice::OperatorKey`]) are made of. Each of those is its own
/// type, so that no key serves two purposes; this is their common part.
/// Debug prints no secret.
pub struct NoteKey {
    name: String,
    pub(crate) key: Identity,
}

impl core::fmt::Debug for NoteKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "NoteKey({}, <redacted>)", self.name)
    }
}

impl NoteKey {
    /// A new random key named `name` (a signed-note key name).
    pub(crate) fn generate(name: &str) -> Result<NoteKey> {
        check_key_name(name)?;
        Ok(NoteKey {
            name: name.to_owned(),
            key: Identity::generate(&mut crate::rng::Rng::Os)?,
        })
    }

    /// A key from the 32-byte secret [`NoteKey::secret`] gave; `what` names
    /// the key in the error.
    pub(crate) fn from_secret(name: &str, secret: &[u8], what: &'static str) -> Result<NoteKey> {
        check_key_name(name)?;
        let bytes: &[u8; 32] = secret
            .try_into()
            .map_err(|_| Error::InvalidArgument(what))?;
        Ok(NoteKey {
            name: name.to_owned(),
            key: Identity::from_scalar(bytes).map_err(|_| Error::InvalidArgument(what))?,
        })
    }

    /// The secret scalar, to store.
    pub fn secret(&self) -> zeroize::Zeroizing<[u8; 32]> {
        self.key.scalar()
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public key, compressed SEC1.
    pub fn public_key(&self) -> [u8; 33] {
        self.key.public_key()
    }

    /// `text` as a note signed by this key alone.
    pub(crate) fn sign_note(&self, text: String) -> Result<String> {
        let sig = sign_line(&text, &self.name, &self.key)?;
        Ok(Note {
            text,
            signatures: vec![sig],
        }
        .to_text())
    }
}

/// A signature line by `signer` under `name` over `text`.
pub(crate) fn sign_line(text: &str, name: &str, signer: &Identity) -> Result<NoteSignature> {
    check_key_name(name)?;
    let raw = signer.sign(text.as_bytes());
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id: key_id(&signer.public_key())?,
        signature: sig_to_der(&raw),
    })
}

/// A C2SP tlog checkpoint: the log's origin, its size and its root hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's unique origin line.
    pub origin: String,
    /// Number of leaves.
    pub size: u64,
    /// RFC 6962 root hash of those leaves.
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: `origin \n size \n base64(root) \n`.
    pub fn to_text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            encode_std(&self.root)
        )
    }

    /// Parses a checkpoint's note text. Extension lines are refused: medseal
    /// writes none and gives none a meaning.
    pub fn parse_text(text: &str) -> Result<Checkpoint> {
        let bad = || Error::Malformed("checkpoint");
        let mut lines = text.split_terminator('\n');
        let origin = lines.next().ok_or_else(bad)?;
        let size = lines.next().ok_or_else(bad)?;
        let root = lines.next().ok_or_else(bad)?;
        if lines.next().is_some() || !text.ends_with('\n') || origin.is_empty() {
            return Err(bad());
        }
        // Decimal without leading zeros or signs.
        if size.is_empty()
            || (size.len() > 1 && size.starts_with('0'))
            || !size.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let size: u64 = size.parse().map_err(|_| bad())?;
        let root: Hash = decode_std(root)
            .and_then(|r| r.try_into().ok())
            .ok_or_else(bad)?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

/// The origin line of a vault's log.
pub fn origin_for(vault_id: &[u8]) -> String {
    format!("medseal.invalid/vault/{}", crate::b64::encode(vault_id))
}

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard, padded base64 (RFC 4648 §4), as signed notes use.
pub fn encode_std(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let idx = (n >> (18 - 6 * i)) & 63;
                out.push(char::from(STD.get(idx as usize).copied().unwrap_or(b'A')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Strict standard base64: padded, canonical (zero trailing bits).
pub fn decode_std(text: &str) -> Option<Vec<u8>> {
    let t = text.as_bytes();
    if !t.len().is_multiple_of(4) {
        return None;
    }
    let val = |c: u8| STD.iter().position(|&x| x == c).map(|p| p as u32);
    let mut out = Vec::with_capacity(t.len() / 4 * 3);
    let chunks = t.len() / 4;
    for (i, q) in t.chunks(4).enumerate() {
        let last = i + 1 == chunks;
        let pad = q.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for (j, &c) in q.iter().enumerate() {
            let v = if j >= 4 - pad { 0 } else { val(c)? };
            n = n << 6 | v;
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        let keep = 3 - pad;
        if bytes
            .get(keep..)
            .is_some_and(|rest| rest.iter().any(|&b| b != 0))
        {
            return None;
        }
        out.extend_from_slice(bytes.get(..keep)?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_base64_round_trip_and_strict() {
        for n in 0..20usize {
            let v: Vec<u8> = (0..n as u8).map(|b| b.wrapping_mul(37)).collect();
            assert_eq!(decode_std(&encode_std(&v)).unwrap(), v);
        }
        assert!(decode_std("QQ").is_none());
        assert!(decode_std("QR==").is_none());
        assert!(decode_std("QQ==QQ==").is_none());
        assert_eq!(encode_std(b"foobar"), "Zm9vYmFy");
        assert_eq!(encode_std(b"fo"), "Zm8=");
    }

    #[test]
    fn der_round_trip() {
        let mut raw = [0u8; 64];
        raw[0] = 0x80;
        raw[63] = 1;
        let der = sig_to_der(&raw);
        assert_eq!(sig_from_der(&der).unwrap(), raw);
        raw[0] = 0;
        raw[1] = 0x7f;
        assert_eq!(sig_from_der(&sig_to_der(&raw)).unwrap(), raw);
        // non-minimal integer
        assert!(sig_from_der(&[0x30, 6, 2, 2, 0, 1, 2, 1, 1]).is_err());
    }
}
