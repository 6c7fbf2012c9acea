//! Vault hand-off: moving an unlocked vault from one JavaScript realm to
//! another (an extension page to its service worker, a page to a worker)
//! without ever putting key bytes in a message.
//!
//! The receiver makes a one-time P-256 key pair and publishes its public key.
//! The sender seals the vault to it: an ephemeral P-256 key, ECDH, HKDF-SHA256
//! bound to both public keys, AES-256-GCM over `vault key || manifest`. The
//! receiver opens it once (the private key is consumed), then checks the
//! manifest with the vault key exactly as an unlock does. A copy of the message
//! is useless once the receiver is gone. Format: docs/FORMAT.md "Hand-off".

use zeroize::Zeroizing;

use crate::aead::{self, NONCE_LEN, TAG_LEN};
use crate::error::{Error, Result};
use crate::identity::{Identity, PUBLIC_KEY_LEN};
use crate::kdf::{self, label, put_lp};
use crate::manifest::Manifest;
use crate::rng::Rng;
use crate::secret::{SubKey, VaultKey};
use crate::vault::Vault;

/// First bytes of a hand-off message.
pub const MAGIC: &[u8; 4] = b"mshd";
/// Version 1: the body is `vault key || manifest JSON`. Read, not written.
pub const VERSION_1: u8 = 1;
/// Version 2: the body also carries the unlock entry the sender was
/// unlocked with (its id, key-pair seed and, for the recovery entry, login
/// key), so that the receiver can follow a re-key made on another device.
pub const VERSION: u8 = 2;
/// Bytes before the ciphertext: magic, version, ephemeral public key, nonce.
pub const HEADER_LEN: usize = 4 + 1 + PUBLIC_KEY_LEN + NONCE_LEN;
/// The largest unlock-entry part of a version 2 body: kind, `lp(id)` (at
/// most 64 bytes), seed, login flag, login scalar.
const MAX_ENTRY_PART: usize = 1 + 4 + 64 + 32 + 1 + 32;
/// The largest hand-off message: header, vault key, the entry part, the
/// largest manifest JSON (256 KiB), tag.
pub const MAX_MESSAGE_LEN: usize =
    HEADER_LEN + 32 + MAX_ENTRY_PART + crate::manifest::MAX_JSON_LEN + TAG_LEN;

/// The receiving side: a one-time key pair. Dropping it (or accepting one
/// message) destroys the private key.
pub struct HandoffReceiver {
    key: Identity,
    public_key: [u8; PUBLIC_KEY_LEN],
}

impl core::fmt::Debug for HandoffReceiver {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("HandoffReceiver(<redacted>)")
    }
}

fn derive_key(shared: &[u8; 32], ephemeral: &[u8], receiver: &[u8]) -> SubKey {
    let mut extra = Vec::with_capacity(2 * (4 + PUBLIC_KEY_LEN));
    put_lp(&mut extra, ephemeral);
    put_lp(&mut extra, receiver);
    SubKey::from_array(kdf::hkdf32(shared, &[], label::HANDOFF, &extra))
}

/// Associated data: the header and the receiver's public key.
fn aad(header: &[u8], receiver: &[u8]) -> Vec<u8> {
    let mut a = label::AAD_HANDOFF.to_vec();
    put_lp(&mut a, header);
    put_lp(&mut a, receiver);
    a
}

impl HandoffReceiver {
    /// A fresh receiver key pair from the platform's random source.
    pub fn new() -> Result<Self> {
        Self::with_rng(&mut Rng::Os)
    }

    pub(crate) fn with_rng(rng: &mut Rng) -> Result<Self> {
        let key = Identity::generate(rng)?;
        let public_key = key.public_key();
        Ok(HandoffReceiver { key, public_key })
    }

    /// The public key to give the sender (compressed SEC1, 33 bytes).
    pub fn public_key(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.public_key
    }

    /// Opens a hand-off message and checks the vault in it.
    ///
    /// `expected` pins the vault: a receiver that already knows its user's
    /// vault passes that vault's manifest, and a message carrying any other
    /// vault is refused with `WrongVault`. The pin is the vault id *and* the
    /// identity public key: a vault id alone is public and could be copied
    /// into a forged manifest, but no one without the vault key can make a
    /// manifest whose identity key checks out (see `Vault::from_parts`).
    /// `min_revision` refuses an older manifest, as unlocking does.
    ///
    /// Errors: `Malformed` (not a hand-off message, too short, manifest not
    /// UTF-8 or not a manifest), `UnknownVersion`, `TooLarge`,
    /// `DecryptionFailed` (not for this receiver, or altered),
    /// `WrongVault`, `StaleManifest`, `ManifestInvalid`. The receiver's
    /// private key is dropped (and zeroed) in every case.
    pub fn accept(
        self,
        message: &[u8],
        expected: Option<&Manifest>,
        min_revision: u64,
    ) -> Result<Vault> {
        if message.get(..4).is_some_and(|m| m != MAGIC.as_slice()) {
            return Err(Error::Malformed("not a medseal hand-off message"));
        }
        if let Some(&version) = message.get(4) {
            if version != VERSION && version != VERSION_1 {
                return Err(Error::UnknownVersion {
                    what: "hand-off",
                    version: u64::from(version),
                });
            }
        }
        let short = || Error::Malformed("hand-off message too short");
        if message.len() < HEADER_LEN + 32 + TAG_LEN {
            return Err(short());
        }
        if message.len() > MAX_MESSAGE_LEN {
            return Err(Error::TooLarge);
        }
        let (header, rest) = message
            .split_first_chunk::<HEADER_LEN>()
            .ok_or_else(short)?;
        let (ephemeral, nonce) = header
            .get(5..)
            .and_then(|h| h.split_first_chunk::<PUBLIC_KEY_LEN>())
            .ok_or_else(short)?;
        let nonce: &[u8; NONCE_LEN] = nonce.try_into().map_err(|_| short())?;
        let (body, tag) = rest.split_last_chunk::<TAG_LEN>().ok_or_else(short)?;
        let receiver = self.public_key;
        let shared = self
            .key
            .agree(ephemeral)
            .map_err(|_| Error::DecryptionFailed)?;
        drop(self);
        let key = derive_key(&shared, ephemeral, &receiver);
        let mut plain = Zeroizing::new(body.to_vec());
        aead::open_in_place(
            key.expose(),
            nonce,
            &aad(header, &receiver),
            &mut plain,
            tag,
        )?;
        let (vk, rest) = plain.split_at_checked(32).ok_or_else(short)?;
        let vk: Zeroizing<[u8; 32]> =
            Zeroizing::new(vk.try_into().map_err(|_| Error::DecryptionFailed)?);
        let vault_key = VaultKey::from_array(*vk);
        let (entry, manifest_json) = if header.get(4) == Some(&VERSION) {
            read_entry_part(rest)?
        } else {
            (None, rest)
        };
        let json = core::str::from_utf8(manifest_json)
            .map_err(|_| Error::Malformed("hand-off manifest is not UTF-8"))?;
        let manifest = Manifest::from_json(json)?;
        if let Some(pin) = expected {
            if manifest.vault_id != pin.vault_id
                || manifest
                    .check_descends(pin.epoch(), &pin.identity_key.public_key.0)
                    .is_err()
            {
                return Err(Error::WrongVault);
            }
        }
        let mut vault = Vault::from_parts(&manifest, vault_key, min_revision)?;
        if let Some(e) = entry {
            vault.adopt_unlocker(e)?;
        }
        Ok(vault)
    }
}

/// The unlock entry a version 2 message carries: its id, key-pair seed and
/// (recovery entry) login scalar.
pub(crate) struct EntryPart {
    pub(crate) id: String,
    pub(crate) seed: Zeroizing<[u8; 32]>,
    pub(crate) login: Option<Zeroizing<[u8; 32]>>,
}

/// `u8 kind || [lp(entry id) || seed(32) || u8 has_login || [login scalar(32)]]`
/// then the manifest JSON: kind 0 carries no entry, kind 1 one.
fn read_entry_part(body: &[u8]) -> Result<(Option<EntryPart>, &[u8])> {
    let bad = || Error::Malformed("hand-off entry part is malformed");
    let (&kind, rest) = body.split_first().ok_or_else(bad)?;
    match kind {
        0 => return Ok((None, rest)),
        1 => {}
        _ => return Err(bad()),
    }
    let (len, rest) = rest.split_first_chunk::<4>().ok_or_else(bad)?;
    let len = usize::try_from(u32::from_be_bytes(*len)).map_err(|_| bad())?;
    if len == 0 || len > 64 {
        return Err(bad());
    }
    let (id, rest) = rest.split_at_checked(len).ok_or_else(bad)?;
    let id = core::str::from_utf8(id).map_err(|_| bad())?.to_string();
    let (seed, rest) = rest.split_first_chunk::<32>().ok_or_else(bad)?;
    let seed = Zeroizing::new(*seed);
    let (&has_login, rest) = rest.split_first().ok_or_else(bad)?;
    let (login, rest) = match has_login {
        0 => (None, rest),
        1 => {
            let (l, rest) = rest.split_first_chunk::<32>().ok_or_else(bad)?;
            (Some(Zeroizing::new(*l)), rest)
        }
        _ => return Err(bad()),
    };
    Ok((Some(EntryPart { id, seed, login }), rest))
}

impl Vault {
    /// Seals this vault to a [`HandoffReceiver`]'s public key: the message
    /// carries the vault key, the unlock entry this vault was opened with
    /// (so the receiver can follow re-keys) and the manifest, encrypted to
    /// that receiver alone.
    pub fn hand_off(&mut self, receiver_public_key: &[u8]) -> Result<Vec<u8>> {
        let receiver: [u8; PUBLIC_KEY_LEN] = receiver_public_key.try_into().map_err(|_| {
            Error::InvalidArgument("receiver public key must be 33 bytes (compressed P-256)")
        })?;
        let rng = self.rng_mut();
        let eph = Identity::generate(rng)?;
        let ephemeral = eph.public_key();
        let nonce: [u8; NONCE_LEN] = rng.array()?;
        let shared = eph.agree(&receiver)?;
        drop(eph);
        let key = derive_key(&shared, &ephemeral, &receiver);
        let mut out = Vec::with_capacity(HEADER_LEN + 32 + 1024 + TAG_LEN);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&ephemeral);
        out.extend_from_slice(&nonce);
        let aad = aad(&out, &receiver);
        let manifest = self.manifest().to_json();
        let mut body = Zeroizing::new(Vec::with_capacity(32 + MAX_ENTRY_PART + manifest.len()));
        body.extend_from_slice(self.vault_key_bytes());
        match self.unlocker_part() {
            Some(e) => {
                body.push(1);
                put_lp(&mut body, e.id.as_bytes());
                body.extend_from_slice(e.seed.as_slice());
                match &e.login {
                    Some(l) => {
                        body.push(1);
                        body.extend_from_slice(l.as_slice());
                    }
                    None => body.push(0),
                }
            }
            None => body.push(0),
        }
        body.extend_from_slice(manifest.as_bytes());
        let tag = aead::seal_in_place(key.expose(), &nonce, &aad, &mut body)?;
        out.extend_from_slice(&body);
        out.extend_from_slice(&tag);
        Ok(out)
    }
}
