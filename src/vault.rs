//! An unlocked vault: the vault key, its sub-keys and the identity key, held
//! in memory only, with the operations that need them.

use zeroize::Zeroizing;

use crate::aead;
use crate::error::{Error, Result};
use crate::identity::{self, Identity};
use crate::kdf::{self, label, put_lp};
use crate::manifest::{
    IdentityKey, Manifest, UnlockEntry, B64, KIND, MAX_CREDENTIAL_ID_LEN, MAX_ENTRIES,
    MAX_LABEL_LEN, PRF_SALT_LEN, VAULT_ID_LEN, VERSION,
};
use crate::record::{self, ContentType, RecordContext, RecordKeys};
use crate::recovery::RecoveryCode;
use crate::rng::Rng;
use crate::secret::{Kek, PrfOutput, SubKey, VaultKey};

/// A passkey being added to a vault: its credential id, the PRF salt the SDK
/// chose for it, and the PRF output the authenticator returned for that salt.
#[derive(Debug)]
pub struct PasskeyUnlock {
    /// WebAuthn credential id (raw bytes).
    pub credential_id: Vec<u8>,
    /// The salt from [`new_prf_salt`] that was evaluated.
    pub prf_salt: [u8; PRF_SALT_LEN],
    /// The checked PRF output for `prf_input(prf_salt)`.
    pub prf_output: PrfOutput,
    /// Optional user-visible name ("YubiKey", "Phone").
    pub label: Option<String>,
}

/// A fresh random PRF salt for a new passkey entry.
pub fn new_prf_salt() -> Result<[u8; PRF_SALT_LEN]> {
    Rng::Os.array()
}

/// An unlocked vault.
pub struct Vault {
    vault_id: [u8; VAULT_ID_LEN],
    vault_key: VaultKey,
    /// AES-256-GCM under the DEK-wrapping sub-key, expanded once (its round
    /// keys are zeroized on drop: aes-gcm's `zeroize` feature).
    wrap_dek: Box<crate::aead::Cipher>,
    identity: Identity,
    manifest: Manifest,
    rng: Rng,
}

impl core::fmt::Debug for Vault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Vault")
            .field("vault_id", &crate::b64::encode(&self.vault_id))
            .field("revision", &self.manifest.revision)
            .finish_non_exhaustive()
    }
}

fn identity_aad(vault_id: &[u8], public_key: &[u8]) -> Vec<u8> {
    let mut aad = label::AAD_IDENTITY.to_vec();
    put_lp(&mut aad, vault_id);
    put_lp(&mut aad, public_key);
    aad
}

fn wrap_dek_cipher(vault_key: &VaultKey) -> Box<crate::aead::Cipher> {
    let sub: SubKey = kdf::subkey(vault_key.expose(), label::WRAP_DEK);
    Box::new(aead::cipher(sub.expose()))
}

fn check_passkey(p: &PasskeyUnlock) -> Result<()> {
    if p.credential_id.is_empty() || p.credential_id.len() > MAX_CREDENTIAL_ID_LEN {
        return Err(Error::InvalidArgument(
            "credentialId must be 1 to 1023 bytes",
        ));
    }
    if p.label.as_ref().is_some_and(|l| l.len() > MAX_LABEL_LEN) {
        return Err(Error::InvalidArgument(
            "passkey label is longer than 256 bytes",
        ));
    }
    Ok(())
}

impl Vault {
    /// Creates a vault unlocked by one passkey, with a recovery code. Returns
    /// the vault (its manifest is [`Vault::manifest`]) and the recovery code to
    /// show the user once.
    pub fn create(passkey: PasskeyUnlock) -> Result<(Vault, RecoveryCode)> {
        Self::create_with_rng(Rng::Os, passkey)
    }

    pub(crate) fn create_with_rng(
        rng: Rng,
        passkey: PasskeyUnlock,
    ) -> Result<(Vault, RecoveryCode)> {
        Self::create_inner(rng, passkey, None)
    }

    fn create_inner(
        mut rng: Rng,
        passkey: PasskeyUnlock,
        vault_id: Option<[u8; VAULT_ID_LEN]>,
    ) -> Result<(Vault, RecoveryCode)> {
        check_passkey(&passkey)?;
        let drawn: [u8; VAULT_ID_LEN] = rng.array()?;
        let vault_id = vault_id.unwrap_or(drawn);
        let vault_key = VaultKey::from_array(rng.array()?);
        let identity = Identity::generate(&mut rng)?;
        let public_key = identity.public_key();
        let wrap_identity = kdf::subkey(vault_key.expose(), label::WRAP_IDENTITY);
        let wrapped_private_key = aead::wrap_key(
            &mut rng,
            wrap_identity.expose(),
            &identity.scalar(),
            &identity_aad(&vault_id, &public_key),
        )?;
        let manifest = Manifest {
            medseal: KIND.to_string(),
            version: VERSION,
            vault_id: B64(vault_id.to_vec()),
            revision: 0,
            identity_key: IdentityKey {
                public_key: B64(public_key.to_vec()),
                wrapped_private_key: B64(wrapped_private_key.to_vec()),
            },
            unlock: Vec::new(),
            signature: B64(Vec::new()),
        };
        let wrap_dek = wrap_dek_cipher(&vault_key);
        let mut vault = Vault {
            vault_id,
            vault_key,
            wrap_dek,
            identity,
            manifest,
            rng,
        };
        let passkey_entry = vault.passkey_entry(passkey)?;
        let code = RecoveryCode::generate(&mut vault.rng)?;
        let recovery_entry = vault.recovery_entry(&code)?;
        vault.commit(|m| {
            m.unlock = vec![passkey_entry, recovery_entry];
            Ok(())
        })?;
        Ok((vault, code))
    }

    /// Unlocks with a passkey's PRF output. `min_revision` is the newest
    /// revision this client has seen (0 if none): an older manifest is refused.
    pub fn unlock_with_prf(
        manifest: &Manifest,
        credential_id: &[u8],
        prf_output: PrfOutput,
        min_revision: u64,
    ) -> Result<Vault> {
        manifest.check_structure()?;
        let entry = manifest
            .passkey_entry(credential_id)
            .ok_or(Error::UnknownUnlockEntry)?;
        let UnlockEntry::Passkey { prf_salt, .. } = entry else {
            return Err(Error::UnknownUnlockEntry);
        };
        let kek = kdf::kek_from_prf(
            prf_output.expose(),
            &prf_salt.0,
            credential_id,
            &manifest.vault_id.0,
        );
        drop(prf_output);
        Self::open_entry(manifest, entry, &kek, min_revision)
    }

    /// Unlocks with the recovery code.
    pub fn unlock_with_recovery_code(
        manifest: &Manifest,
        code: &RecoveryCode,
        min_revision: u64,
    ) -> Result<Vault> {
        manifest.check_structure()?;
        let entry = manifest.recovery_entry().ok_or(Error::ManifestInvalid)?;
        let kek = kdf::kek_from_recovery(code.entropy(), &manifest.vault_id.0);
        Self::open_entry(manifest, entry, &kek, min_revision)
    }

    /// Unwraps the vault key from one unlock entry with its KEK, then checks
    /// the whole manifest with it (see `from_parts`).
    fn open_entry(
        manifest: &Manifest,
        entry: &UnlockEntry,
        kek: &Kek,
        min_revision: u64,
    ) -> Result<Vault> {
        let vk = aead::unwrap_key(
            kek.expose(),
            entry.wrapped_vault_key(),
            &entry.wrap_aad(&manifest.vault_id.0),
        )
        .map_err(|_| Error::UnlockFailed)?;
        Self::from_parts(manifest, VaultKey::from_array(vk), min_revision)
    }

    /// Checks a manifest with the vault key that one of its entries released:
    /// the identity key must unwrap under it and match the public key named,
    /// and that key must have signed everything. A server cannot substitute
    /// its own identity key, because it cannot wrap one under the vault key.
    pub(crate) fn from_parts(
        manifest: &Manifest,
        vault_key: VaultKey,
        min_revision: u64,
    ) -> Result<Vault> {
        if manifest.revision < min_revision {
            return Err(Error::StaleManifest {
                seen: min_revision,
                offered: manifest.revision,
            });
        }
        let vault_id: [u8; VAULT_ID_LEN] = manifest
            .vault_id
            .0
            .as_slice()
            .try_into()
            .map_err(|_| Error::ManifestInvalid)?;
        let public_key = &manifest.identity_key.public_key.0;
        let wrap_identity = kdf::subkey(vault_key.expose(), label::WRAP_IDENTITY);
        let scalar = Zeroizing::new(
            aead::unwrap_key(
                wrap_identity.expose(),
                &manifest.identity_key.wrapped_private_key.0,
                &identity_aad(&vault_id, public_key),
            )
            .map_err(|_| Error::ManifestInvalid)?,
        );
        let identity = Identity::from_scalar(&scalar)?;
        if identity.public_key().as_slice() != public_key.as_slice() {
            return Err(Error::ManifestInvalid);
        }
        identity::verify(public_key, &manifest.signed_bytes(), &manifest.signature.0)?;
        let wrap_dek = wrap_dek_cipher(&vault_key);
        Ok(Vault {
            vault_id,
            vault_key,
            wrap_dek,
            identity,
            manifest: manifest.clone(),
            rng: Rng::Os,
        })
    }

    pub(crate) fn rng_mut(&mut self) -> &mut Rng {
        &mut self.rng
    }

    pub(crate) fn vault_key_bytes(&self) -> &[u8; 32] {
        self.vault_key.expose()
    }

    /// The current signed manifest: store it on the server after every change.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The vault id.
    pub fn vault_id(&self) -> &[u8; VAULT_ID_LEN] {
        &self.vault_id
    }

    /// The vault's identity public key (compressed SEC1).
    pub fn identity_public_key(&self) -> [u8; identity::PUBLIC_KEY_LEN] {
        self.identity.public_key()
    }

    /// Seals bytes as one record. Returns the bytes form; see [`record::to_text`].
    pub fn seal(&mut self, plaintext: &[u8], ctx: &RecordContext<'_>) -> Result<Vec<u8>> {
        self.seal_as(ContentType::Bytes, plaintext, ctx)
    }

    /// Seals a record and records what kind of content it is.
    pub fn seal_as(
        &mut self,
        content_type: ContentType,
        plaintext: &[u8],
        ctx: &RecordContext<'_>,
    ) -> Result<Vec<u8>> {
        let keys = RecordKeys {
            wrap: &self.wrap_dek,
            vault_id: &self.vault_id,
        };
        record::seal(&mut self.rng, &keys, content_type, plaintext, ctx)
    }

    /// Opens one record sealed by this vault for this context; returns its bytes
    /// whatever its content type.
    pub fn open(&self, sealed: &[u8], ctx: &RecordContext<'_>) -> Result<Vec<u8>> {
        self.open_typed(sealed, ctx).map(|(_, data)| data)
    }

    /// Prepares a record of `plaintext_len` bytes for sealing outside this
    /// crate's AES (WebCrypto, for large records): see `hazmat::seal_large`.
    pub(crate) fn seal_parts(
        &mut self,
        content_type: ContentType,
        plaintext_len: usize,
        ctx: &RecordContext<'_>,
    ) -> Result<record::SealParts> {
        let keys = RecordKeys {
            wrap: &self.wrap_dek,
            vault_id: &self.vault_id,
        };
        record::seal_parts(&mut self.rng, &keys, content_type, plaintext_len, ctx)
    }

    /// Checks a record up to its body, for decryption outside this crate's
    /// AES, from its first [`record::BODY_START`] bytes (or all of it) and its
    /// length: see `hazmat::open_large`.
    pub(crate) fn open_parts(
        &self,
        head: &[u8],
        sealed_len: usize,
        ctx: &RecordContext<'_>,
    ) -> Result<crate::hazmat::BodyCipher> {
        let keys = RecordKeys {
            wrap: &self.wrap_dek,
            vault_id: &self.vault_id,
        };
        record::open_parts(&keys, head, sealed_len, ctx)
    }

    /// Opens one record and says what kind of content it holds.
    pub fn open_typed(
        &self,
        sealed: &[u8],
        ctx: &RecordContext<'_>,
    ) -> Result<(ContentType, Vec<u8>)> {
        let keys = RecordKeys {
            wrap: &self.wrap_dek,
            vault_id: &self.vault_id,
        };
        record::open(&keys, sealed, ctx)
    }

    /// Adds a passkey; returns the new signed manifest.
    pub fn add_passkey(&mut self, passkey: PasskeyUnlock) -> Result<&Manifest> {
        check_passkey(&passkey)?;
        if self
            .manifest
            .passkey_entry(&passkey.credential_id)
            .is_some()
        {
            return Err(Error::InvalidArgument(
                "this passkey already unlocks the vault",
            ));
        }
        if self.manifest.unlock.len() >= MAX_ENTRIES {
            return Err(Error::InvalidArgument(
                "a vault has at most 64 unlock entries",
            ));
        }
        let entry = self.passkey_entry(passkey)?;
        self.commit(|m| {
            m.unlock.push(entry);
            Ok(())
        })
    }

    /// Removes an unlock entry by id. Refuses to remove the recovery entry or
    /// the last passkey (`LastUnlockMethod`): a vault always keeps a way in.
    pub fn remove_unlock(&mut self, entry_id: &str) -> Result<&Manifest> {
        let pos = self
            .manifest
            .unlock
            .iter()
            .position(|e| e.id() == entry_id)
            .ok_or(Error::UnknownUnlockEntry)?;
        let passkeys = self.manifest.passkeys().count();
        match self.manifest.unlock.get(pos) {
            Some(UnlockEntry::Recovery { .. }) => return Err(Error::LastUnlockMethod),
            Some(UnlockEntry::Passkey { .. }) if passkeys <= 1 => {
                return Err(Error::LastUnlockMethod)
            }
            Some(UnlockEntry::Passkey { .. }) => {}
            None => return Err(Error::UnknownUnlockEntry),
        }
        self.commit(|m| {
            m.unlock.remove(pos);
            Ok(())
        })
    }

    /// Replaces the recovery code; the old one stops working in the new
    /// revision. Returns the new code, to show once.
    pub fn rotate_recovery_code(&mut self) -> Result<RecoveryCode> {
        let code = RecoveryCode::generate(&mut self.rng)?;
        let entry = self.recovery_entry(&code)?;
        self.commit(|m| {
            let slot = m
                .unlock
                .iter_mut()
                .find(|e| matches!(e, UnlockEntry::Recovery { .. }))
                .ok_or(Error::ManifestInvalid)?;
            *slot = entry;
            Ok(())
        })?;
        Ok(code)
    }

    /// Adopts a newer manifest of the same vault (changed on another device),
    /// after checking it is signed by this vault's identity key and not older.
    pub fn update_manifest(&mut self, newer: &Manifest) -> Result<()> {
        newer.check_structure()?;
        if newer.vault_id.0 != self.vault_id
            || newer.identity_key.public_key.0 != self.identity.public_key()
        {
            return Err(Error::ManifestInvalid);
        }
        if newer.identity_key != self.manifest.identity_key {
            return Err(Error::ManifestInvalid);
        }
        if newer.revision < self.manifest.revision {
            return Err(Error::StaleManifest {
                seen: self.manifest.revision,
                offered: newer.revision,
            });
        }
        identity::verify(
            &newer.identity_key.public_key.0,
            &newer.signed_bytes(),
            &newer.signature.0,
        )?;
        self.manifest = newer.clone();
        Ok(())
    }

    /// Proves to a server that this client holds the vault (for example after a
    /// recovery-code unlock, when no passkey can log in): an ECDSA P-256
    /// signature over `lp("medseal/v1/login-proof") || lp(challenge) ||
    /// lp(audience)`, checked by the server against the manifest's identity
    /// public key. The label keeps a proof from ever being a manifest signature.
    pub fn sign_login_proof(
        &self,
        challenge: &[u8],
        audience: &str,
    ) -> Result<[u8; identity::SIGNATURE_LEN]> {
        if challenge.len() < 16 || challenge.len() > 1024 {
            return Err(Error::InvalidArgument("challenge must be 16 to 1024 bytes"));
        }
        if audience.is_empty() || audience.len() > 1024 {
            return Err(Error::InvalidArgument(
                "audience must be 1 to 1024 bytes (the server's origin)",
            ));
        }
        Ok(self
            .identity
            .sign(&identity::login_proof_message(challenge, audience)))
    }

    fn new_entry_id(&mut self, prefix: &str) -> Result<String> {
        let raw: [u8; 9] = self.rng.array()?;
        Ok(format!("{prefix}-{}", crate::b64::encode(&raw)))
    }

    fn passkey_entry(&mut self, p: PasskeyUnlock) -> Result<UnlockEntry> {
        let entry = UnlockEntry::Passkey {
            id: self.new_entry_id("pk")?,
            credential_id: B64(p.credential_id.clone()),
            prf_salt: B64(p.prf_salt.to_vec()),
            wrapped_vault_key: B64(Vec::new()),
            label: p.label.clone(),
        };
        let kek = kdf::kek_from_prf(
            p.prf_output.expose(),
            &p.prf_salt,
            &p.credential_id,
            &self.vault_id,
        );
        drop(p);
        self.wrap_vault_key_into(entry, &kek)
    }

    fn recovery_entry(&mut self, code: &RecoveryCode) -> Result<UnlockEntry> {
        let entry = UnlockEntry::Recovery {
            id: self.new_entry_id("rc")?,
            wrapped_vault_key: B64(Vec::new()),
        };
        let kek = kdf::kek_from_recovery(code.entropy(), &self.vault_id);
        self.wrap_vault_key_into(entry, &kek)
    }

    /// Wraps the vault key under an entry's KEK, bound to the entry (its AAD),
    /// and stores the result in the entry.
    fn wrap_vault_key_into(&mut self, mut entry: UnlockEntry, kek: &Kek) -> Result<UnlockEntry> {
        let wrapped = aead::wrap_key(
            &mut self.rng,
            kek.expose(),
            self.vault_key.expose(),
            &entry.wrap_aad(&self.vault_id),
        )?;
        match &mut entry {
            UnlockEntry::Passkey {
                wrapped_vault_key, ..
            }
            | UnlockEntry::Recovery {
                wrapped_vault_key, ..
            } => {
                *wrapped_vault_key = B64(wrapped.to_vec());
            }
        }
        Ok(entry)
    }

    /// Applies a change to a copy of the manifest, bumps the revision, signs,
    /// checks the result, and only then replaces the current manifest.
    fn commit(&mut self, change: impl FnOnce(&mut Manifest) -> Result<()>) -> Result<&Manifest> {
        let mut next = self.manifest.clone();
        change(&mut next)?;
        next.revision = next
            .revision
            .checked_add(1)
            .ok_or(Error::InvalidArgument("revision overflow"))?;
        next.signature = B64(self.identity.sign(&next.signed_bytes()).to_vec());
        next.check_structure()?;
        self.manifest = next;
        Ok(&self.manifest)
    }
}

/// Test-only constructors with a seeded random source, for known-answer
/// vectors, and the manifest's signed bytes, for forging signatures in tests.
#[cfg(feature = "deterministic-rng")]
pub mod deterministic {
    use super::*;
    pub use crate::rng::SeededRng;

    /// [`Vault::create`] with every random value drawn from `seed`.
    pub fn create(seed: &[u8], passkey: PasskeyUnlock) -> Result<(Vault, RecoveryCode)> {
        Vault::create_with_rng(Rng::Seeded(SeededRng::new(seed)), passkey)
    }

    /// [`create`] with a vault id chosen by the caller: what a forger can do
    /// (vault ids are public). For tests that a vault id alone pins nothing.
    pub fn create_with_vault_id(
        seed: &[u8],
        passkey: PasskeyUnlock,
        vault_id: [u8; VAULT_ID_LEN],
    ) -> Result<(Vault, RecoveryCode)> {
        Vault::create_inner(Rng::Seeded(SeededRng::new(seed)), passkey, Some(vault_id))
    }

    /// Replaces a vault's random source with one drawn from `seed`.
    pub fn reseed(vault: &mut Vault, seed: &[u8]) {
        vault.rng = Rng::Seeded(SeededRng::new(seed));
    }

    /// A salt drawn from `seed`.
    pub fn prf_salt(seed: &[u8]) -> [u8; PRF_SALT_LEN] {
        let mut r = Rng::Seeded(SeededRng::new(seed));
        r.array().unwrap_or([0; PRF_SALT_LEN])
    }

    /// The bytes a manifest's signature covers (docs/FORMAT.md, "Manifest
    /// signature"), for tests that forge a signature with a key of their own
    /// (what a server can do at best). Not part of the API: a user checks
    /// signatures with `Manifest::verify_self_signature` or
    /// `Manifest::check_update`.
    pub fn manifest_signed_bytes(manifest: &Manifest) -> Vec<u8> {
        manifest.signed_bytes()
    }
}
