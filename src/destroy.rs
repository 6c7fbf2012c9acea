//! Deletion that destroys keys (GDPR art. 17): a vault's signed request to
//! be deleted, and the server's signed tombstone that says it was.
//!
//! A vault's keys exist only wrapped: under a passkey's PRF output or the
//! recovery code (the unlock entries of its manifest), and for shares under
//! keys its grantees and link holders hold. A server that deletes the
//! manifests, records, grants and links of an account leaves nothing any
//! remaining key opens; what it may still hold elsewhere (a backup) is
//! ciphertext whose wrapping keys only the user's passkey or recovery code
//! can release. docs/SECURITY.md ("Deleting an account") says what is and
//! is not covered.
//!
//! - [`Vault::sign_destroy`]: the request, signed by the current epoch's
//!   identity key over the vault id, the hash of the manifest the client
//!   holds, the server's challenge and its origin. A stolen session cookie
//!   alone cannot make one.
//! - [`Manifest::verify_destroy`]: the server's check, against the manifest
//!   it stores (so the request names exactly that manifest).
//! - [`Tombstone`], [`verify_tombstone`]: what the server keeps, a C2SP
//!   signed note under its log key with the vault id, the time, the hash of
//!   the request and the identity key, and no personal data.
//!
//! FORMAT.md, "Deletion", gives the bytes.

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::kdf::{label, put_lp};
use crate::log::note::{check_key_name, Note};
use crate::log::ServerLogKey;
use crate::manifest::{Manifest, HASH_LEN, VAULT_ID_LEN};
use crate::vault::Vault;

/// The fewest bytes a destroy request's challenge has.
pub const MIN_CHALLENGE_LEN: usize = 16;
/// The most bytes a destroy request's challenge or audience has.
pub const MAX_CHALLENGE_LEN: usize = 1024;
/// Length of a destroy request's signature (P-256 ECDSA, `r || s`).
pub const SIGNATURE_LEN: usize = 64;
/// Length of an identity public key (compressed SEC1 P-256).
pub const IDENTITY_LEN: usize = 33;
/// The last part of a tombstone's first line.
pub const ORIGIN_SUFFIX: &str = "/tombstone";
/// The longest origin a tombstone names, in bytes.
pub const MAX_ORIGIN_LEN: usize = 1024;
/// The largest time a tombstone carries: 2^53 - 1 (exact as a JS number).
pub const MAX_TIME: u64 = (1 << 53) - 1;

fn check_challenge(challenge: &[u8], audience: &str) -> Result<()> {
    if challenge.len() < MIN_CHALLENGE_LEN || challenge.len() > MAX_CHALLENGE_LEN {
        return Err(Error::InvalidArgument("challenge must be 16 to 1024 bytes"));
    }
    if audience.is_empty() || audience.len() > MAX_CHALLENGE_LEN {
        return Err(Error::InvalidArgument(
            "audience must be 1 to 1024 bytes (the server's origin)",
        ));
    }
    Ok(())
}

/// What a destroy request signs: `lp("medseal/v3/vault/destroy") ||
/// lp(vault id) || lp(manifest hash) || lp(challenge) || lp(audience)`. Its
/// label is no other signature's, so a request can never be a manifest
/// signature, a login proof or a log entry (or the reverse).
fn destroy_message(
    vault_id: &[u8],
    manifest_hash: &[u8; HASH_LEN],
    challenge: &[u8],
    audience: &str,
) -> Vec<u8> {
    let mut msg = Vec::with_capacity(
        label::DESTROY.len() + vault_id.len() + HASH_LEN + challenge.len() + audience.len() + 20,
    );
    put_lp(&mut msg, label::DESTROY);
    put_lp(&mut msg, vault_id);
    put_lp(&mut msg, manifest_hash);
    put_lp(&mut msg, challenge);
    put_lp(&mut msg, audience.as_bytes());
    msg
}

impl Vault {
    /// Signs a request to delete this vault for good, for the server whose
    /// origin is `audience` and whose fresh `challenge` (16 to 1024 bytes)
    /// this answers. The signature (64 bytes, `r || s`, low-S) is by the
    /// current epoch's identity key over the vault id and the hash of this
    /// vault's manifest: the server checks it with
    /// [`Manifest::verify_destroy`] against the manifest it stores, so a
    /// request made on a device that has not seen the newest manifest is
    /// refused (sync first). Lock the vault afterwards: the JS layer does.
    ///
    /// Errors: `InvalidArgument` for a challenge or audience out of range.
    pub fn sign_destroy(&self, challenge: &[u8], audience: &str) -> Result<Vec<u8>> {
        check_challenge(challenge, audience)?;
        let manifest = self.manifest();
        let msg = destroy_message(manifest.vault_id(), &manifest.hash(), challenge, audience);
        Ok(self.sign_labelled(&msg).to_vec())
    }
}

impl Manifest {
    /// Checks a destroy request (see [`Vault::sign_destroy`]) against this
    /// manifest, the one the server stores: a signature by its identity key
    /// over its vault id, its own hash, the server's `challenge` and
    /// `audience` (the server's origin). For servers. The manifest's own
    /// signature is checked too.
    ///
    /// Errors: `InvalidArgument` (challenge or audience out of range),
    /// `ManifestInvalid` (the manifest itself does not verify),
    /// `UnlockFailed` (the request does not verify: another vault, another
    /// manifest revision, another challenge or audience, another key).
    pub fn verify_destroy(&self, signature: &[u8], challenge: &[u8], audience: &str) -> Result<()> {
        check_challenge(challenge, audience)?;
        self.verify_self_signature()?;
        let msg = destroy_message(self.vault_id(), &self.hash(), challenge, audience);
        crate::identity::verify(self.identity_public_key(), &msg, signature)
            .map_err(|_| Error::UnlockFailed)
    }
}

/// What a server keeps of a deleted vault: a signed statement that it was
/// deleted, when, at whose request, with no personal data (no user name, no
/// record id, no credential id). The signed text, line by line:
///
/// ```text
/// <origin>/tombstone
/// vault <base64url vault id>
/// deleted <seconds since 1970>
/// request <base64url SHA-256 of the destroy request's signature>
/// identity <base64url identity public key>
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tombstone {
    /// The server's origin (the destroy request's audience).
    pub origin: String,
    /// The deleted vault's id.
    pub vault_id: [u8; VAULT_ID_LEN],
    /// When it was deleted, seconds since 1970.
    pub deleted: u64,
    /// SHA-256 of the destroy request's signature: names the request the
    /// vault signed (see [`Tombstone::names_request`]).
    pub request: [u8; 32],
    /// The identity public key that signed the request (compressed SEC1).
    pub identity: [u8; IDENTITY_LEN],
}

fn malformed(what: &'static str) -> Error {
    Error::Malformed(what)
}

fn check_origin(origin: &str) -> Result<()> {
    if origin.is_empty()
        || origin.len() > MAX_ORIGIN_LEN
        || !origin.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(malformed(
            "tombstone origin: 1 to 1024 printable ASCII characters, no spaces",
        ));
    }
    Ok(())
}

fn fixed<const N: usize>(text: &str, what: &'static str) -> Result<[u8; N]> {
    crate::b64::decode(text.as_bytes())
        .and_then(|b| <[u8; N]>::try_from(b).ok())
        .ok_or(malformed(what))
}

impl Tombstone {
    /// The tombstone of the vault of `manifest` (the one the request was
    /// checked against), deleted at `deleted` (seconds since 1970) by the
    /// server at `origin` at the request whose signature is `signature`.
    ///
    /// Errors: `Malformed` for an origin that is not 1 to 1024 printable
    /// ASCII characters without spaces, or a manifest whose vault id or
    /// identity key is not of the format's size; `InvalidArgument` for a
    /// time above 2^53 - 1.
    pub fn new(
        origin: &str,
        manifest: &Manifest,
        deleted: u64,
        signature: &[u8],
    ) -> Result<Tombstone> {
        check_origin(origin)?;
        if deleted > MAX_TIME {
            return Err(Error::InvalidArgument(
                "deleted must be seconds since 1970, at most 2^53 - 1",
            ));
        }
        Ok(Tombstone {
            origin: origin.to_owned(),
            vault_id: manifest
                .vault_id()
                .try_into()
                .map_err(|_| malformed("vault id"))?,
            deleted,
            request: Sha256::digest(signature).into(),
            identity: manifest
                .identity_public_key()
                .try_into()
                .map_err(|_| malformed("identity key"))?,
        })
    }

    /// Whether this tombstone names the destroy request whose signature is
    /// `signature` (its SHA-256).
    pub fn names_request(&self, signature: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(signature).into();
        digest == self.request
    }

    /// The signed text: five lines, each ending in a newline.
    pub fn to_text(&self) -> Result<String> {
        check_origin(&self.origin)?;
        if self.deleted > MAX_TIME {
            return Err(Error::InvalidArgument(
                "deleted must be seconds since 1970, at most 2^53 - 1",
            ));
        }
        Ok(format!(
            "{}{ORIGIN_SUFFIX}\nvault {}\ndeleted {}\nrequest {}\nidentity {}\n",
            self.origin,
            crate::b64::encode(&self.vault_id),
            self.deleted,
            crate::b64::encode(&self.request),
            crate::b64::encode(&self.identity),
        ))
    }

    /// Parses a tombstone's signed text strictly: the five lines of
    /// [`Tombstone::to_text`] in order, nothing else; every value in its
    /// one encoding (base64url without padding, decimal without leading
    /// zeros), the identity a P-256 point. `Malformed` otherwise.
    pub fn parse_text(text: &str) -> Result<Tombstone> {
        let body = text
            .strip_suffix('\n')
            .ok_or(malformed("tombstone must end with a newline"))?;
        let mut lines = body.split('\n');
        let first = lines.next().ok_or(malformed("tombstone is empty"))?;
        let origin = first.strip_suffix(ORIGIN_SUFFIX).ok_or(malformed(
            "not a tombstone: the first line must end in /tombstone",
        ))?;
        check_origin(origin)?;
        let mut field = |key: &str| -> Result<&str> {
            lines
                .next()
                .ok_or(malformed("tombstone is missing a line"))?
                .strip_prefix(key)
                .and_then(|r| r.strip_prefix(' '))
                .ok_or(malformed("tombstone lines out of order"))
        };
        let vault_id = fixed::<VAULT_ID_LEN>(field("vault")?, "tombstone vault id")?;
        let deleted = field("deleted")?;
        if deleted.is_empty()
            || deleted.len() > 16
            || !deleted.bytes().all(|b| b.is_ascii_digit())
            || (deleted.len() > 1 && deleted.starts_with('0'))
        {
            return Err(malformed("tombstone time"));
        }
        let deleted: u64 = deleted
            .parse()
            .ok()
            .filter(|t| *t <= MAX_TIME)
            .ok_or(malformed("tombstone time"))?;
        let request = fixed::<32>(field("request")?, "tombstone request hash")?;
        let identity = fixed::<IDENTITY_LEN>(field("identity")?, "tombstone identity key")?;
        if !crate::identity::check_public_key(&identity) {
            return Err(malformed("tombstone identity key is not a P-256 point"));
        }
        if lines.next().is_some() {
            return Err(malformed("tombstone has extra lines"));
        }
        Ok(Tombstone {
            origin: origin.to_owned(),
            vault_id,
            deleted,
            request,
            identity,
        })
    }

    /// The tombstone as a C2SP signed note under the server's log key.
    pub fn sign(&self, key: &ServerLogKey) -> Result<String> {
        key.sign_note(self.to_text()?)
    }

    /// The tombstone as JSON: `{origin, vaultId, deleted, request,
    /// identity}` (binary fields base64url).
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "origin": self.origin,
            "vaultId": crate::b64::encode(&self.vault_id),
            "deleted": self.deleted,
            "request": crate::b64::encode(&self.request),
            "identity": crate::b64::encode(&self.identity),
        })
        .to_string()
    }
}

/// Verifies a signed tombstone against the server's log key, named
/// `key_name` (its signed-note key name), `key` its compressed SEC1 public
/// key (33 bytes), and parses it.
///
/// Errors: `InvalidArgument` for a key name or key that cannot be one;
/// `TooLarge` for a note over 4096 bytes; `TombstoneInvalid` for a note
/// that is not a signed note, that this key did not sign, or whose
/// signature by this key fails (an edited text); `Malformed` for a signed
/// text that is not a tombstone.
pub fn verify_tombstone(note: &str, key_name: &str, key: &[u8]) -> Result<Tombstone> {
    check_key_name(key_name)?;
    if !crate::identity::check_public_key(key) {
        return Err(Error::InvalidArgument(
            "the server key must be a 33-byte compressed P-256 public key",
        ));
    }
    let parsed = Note::parse(note).map_err(|e| match e {
        Error::TooLarge => Error::TooLarge,
        _ => Error::TombstoneInvalid,
    })?;
    parsed
        .verify(&[(key_name, key)])
        .map_err(|_| Error::TombstoneInvalid)?;
    Tombstone::parse_text(&parsed.text)
}
