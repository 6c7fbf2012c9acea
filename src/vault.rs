//! An unlocked vault: the vault key, its sub-keys and the identity key, held
//! in memory only, with the operations that need them.

use zeroize::Zeroizing;

use crate::aead;
use crate::entry_key::{self, EntrySeed};
use crate::error::{Error, Result};
use crate::identity::{self, Identity};
use crate::kdf::{self, label, put_lp};
use crate::manifest::{
    EpochEntry, IdentityKey, Manifest, UnlockEntry, B64, KIND, MAX_CREDENTIAL_ID_LEN, MAX_ENTRIES,
    MAX_LABEL_LEN, PRF_SALT_LEN, VAULT_ID_LEN, VERSION,
};
use crate::record::{self, ContentType, RecordContext, RecordKeys, RecordMeta};
use crate::recovery::RecoveryCode;
use crate::rng::Rng;
use crate::secret::{Kek, PrfOutput, SubKey, VaultKey};
use crate::seen::Seen;

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

/// One key epoch's vault key and its DEK-wrapping cipher.
struct EpochKey {
    epoch: u32,
    vault_key: VaultKey,
}

/// The unlock entry this vault was unlocked through: its key-pair seed, so
/// that the vault can follow a re-key made on another device (the new vault
/// key is sealed to this entry's public key), and for the recovery entry its
/// login key.
struct Unlocker {
    entry_id: String,
    seed: EntrySeed,
    login: Option<Identity>,
}

/// An unlocked vault.
pub struct Vault {
    vault_id: [u8; VAULT_ID_LEN],
    /// Vault keys of every epoch still held, newest first.
    keys: Vec<EpochKey>,
    /// The DEK-wrapping cipher of each of `keys`, same order (AES round keys
    /// expanded once, zeroized on drop).
    ring: Vec<(u32, Box<crate::aead::Cipher>)>,
    identity: Identity,
    manifest: Manifest,
    unlocked_by: Option<Unlocker>,
    rng: Rng,
}

impl core::fmt::Debug for Vault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Vault")
            .field("vault_id", &crate::b64::encode(&self.vault_id))
            .field("revision", &self.manifest.revision)
            .field("epoch", &self.manifest.epoch())
            .finish_non_exhaustive()
    }
}

fn identity_aad(vault_id: &[u8], public_key: &[u8]) -> Vec<u8> {
    let mut aad = label::AAD_IDENTITY.to_vec();
    put_lp(&mut aad, vault_id);
    put_lp(&mut aad, public_key);
    aad
}

/// AAD of an older epoch's vault key wrapped by the current one: bound to
/// the vault, the wrapped epoch and the wrapping epoch.
fn epoch_aad(vault_id: &[u8], epoch: u32, current: u32) -> Vec<u8> {
    let mut aad = label::AAD_EPOCH_KEY.to_vec();
    put_lp(&mut aad, vault_id);
    aad.extend_from_slice(&epoch.to_be_bytes());
    aad.extend_from_slice(&current.to_be_bytes());
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

/// The recovery entry's login key: derived from its KEK and bound to the
/// entry id, so each rotation makes a new one.
fn recovery_login_key(kek: &Kek, entry_id: &str) -> Result<Identity> {
    Identity::derive(
        kek.expose(),
        &[],
        label::RECOVERY_LOGIN_KEY,
        entry_id.as_bytes(),
    )
}

/// A record as [`Vault::open_record`] returns it.
#[derive(Debug)]
#[non_exhaustive]
pub struct OpenedRecord {
    /// What was sealed (bytes or JSON).
    pub content_type: ContentType,
    /// The plaintext.
    pub data: Vec<u8>,
    /// The record's header: format, key epoch, version.
    pub meta: RecordMeta,
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
        let identity_key = wrap_identity(&mut rng, &vault_id, &vault_key, &identity)?;
        let manifest = Manifest {
            medseal: KIND.to_string(),
            version: VERSION,
            vault_id: B64(vault_id.to_vec()),
            revision: 0,
            parent: None,
            epoch: Some(1),
            identity_key,
            epochs: Some(Vec::new()),
            unlock: Vec::new(),
            share_key: Some(B64(crate::share::share_seed(&vault_key)
                .public_key()
                .to_vec())),
            shares: Some(Vec::new()),
            signature: B64(Vec::new()),
        };
        let mut vault = Vault {
            vault_id,
            ring: vec![(1, wrap_dek_cipher(&vault_key))],
            keys: vec![EpochKey {
                epoch: 1,
                vault_key,
            }],
            identity,
            manifest,
            unlocked_by: None,
            rng,
        };
        let (passkey_entry, unlocker) = vault.passkey_entry(passkey)?;
        let code = RecoveryCode::generate(&mut vault.rng)?;
        let (recovery_entry, _) = vault.recovery_entry(&code)?;
        vault.commit(|m| {
            m.unlock = vec![passkey_entry, recovery_entry];
            Ok(())
        })?;
        vault.unlocked_by = Some(unlocker);
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
        Self::unlock_with_prf_seen(manifest, credential_id, prf_output, min_revision, None)
    }

    /// [`Vault::unlock_with_prf`] on a device that remembers what it saw
    /// (after [`Seen::check`] passed): a manifest this device verified
    /// before, as its seen state's `verified` tag shows, is not verified
    /// again (see [`Seen::saw_vault`]).
    pub fn unlock_with_prf_seen(
        manifest: &Manifest,
        credential_id: &[u8],
        prf_output: PrfOutput,
        min_revision: u64,
        seen: Option<&Seen>,
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
        Self::open_entry(manifest, entry, &kek, None, min_revision, seen)
    }

    /// Unlocks with the recovery code.
    pub fn unlock_with_recovery_code(
        manifest: &Manifest,
        code: &RecoveryCode,
        min_revision: u64,
    ) -> Result<Vault> {
        Self::unlock_with_recovery_code_seen(manifest, code, min_revision, None)
    }

    /// [`Vault::unlock_with_recovery_code`] with the device's seen state,
    /// as [`Vault::unlock_with_prf_seen`].
    pub fn unlock_with_recovery_code_seen(
        manifest: &Manifest,
        code: &RecoveryCode,
        min_revision: u64,
        seen: Option<&Seen>,
    ) -> Result<Vault> {
        manifest.check_structure()?;
        let entry = manifest.recovery_entry().ok_or(Error::ManifestInvalid)?;
        let kek = kdf::kek_from_recovery(code.entropy(), &manifest.vault_id.0);
        let login = recovery_login_key(&kek, entry.id())?;
        Self::open_entry(manifest, entry, &kek, Some(login), min_revision, seen)
    }

    /// Checks that `code` is this vault's current recovery code, without
    /// unlocking with it: its KEK (derived as [`Vault::unlock_with_recovery_code`]
    /// derives it) must open the current manifest's recovery entry, and what
    /// that releases must be the current vault key (compared in constant
    /// time). For a security check-up: the patient shows they still hold
    /// the code, and the app logs a `recovery_check`. A wrong (or rotated)
    /// code is `UnlockFailed`, as at unlock.
    pub fn confirm_recovery_code(&self, code: &RecoveryCode) -> Result<()> {
        use subtle::ConstantTimeEq;
        let entry = self
            .manifest
            .recovery_entry()
            .ok_or(Error::ManifestInvalid)?;
        let kek = kdf::kek_from_recovery(code.entropy(), &self.vault_id);
        let released = Zeroizing::new(match entry.public_key() {
            Some(_) => open_from_entry(&EntrySeed::from_kek(kek.expose()), &self.manifest, entry)
                .map_err(|_| Error::UnlockFailed)?,
            None => aead::unwrap_key(
                kek.expose(),
                entry.wrapped_vault_key(),
                &entry.wrap_aad(&self.vault_id),
            )
            .map_err(|_| Error::UnlockFailed)?,
        });
        let current = self.current_key()?;
        if bool::from(released.ct_eq(current.vault_key.expose())) {
            Ok(())
        } else {
            Err(Error::UnlockFailed)
        }
    }

    /// Opens the vault key of one unlock entry with its KEK (HPKE for a v2
    /// entry, AES-GCM for a v1 one), then checks the whole manifest with it
    /// (see `from_parts`). With the device's seen state: its copy of the
    /// vault key for this entry and epoch, if it has one that opens, instead
    /// of the entry's (no P-256), and its tag for the signature checks
    /// (`verified_tag`); if the copy does not make a vault, the entry's
    /// own is used as without it.
    fn open_entry(
        manifest: &Manifest,
        entry: &UnlockEntry,
        kek: &Kek,
        login: Option<Identity>,
        min_revision: u64,
        seen: Option<&Seen>,
    ) -> Result<Vault> {
        if manifest.revision < min_revision {
            // Before any key is tried: the device copy must not turn this
            // into another error when the entry's own key fails.
            return Err(Error::StaleManifest {
                seen: min_revision,
                offered: manifest.revision,
            });
        }
        let seed = EntrySeed::from_kek(kek.expose());
        let verified = seen
            .and_then(|s| s.verified_tag(manifest))
            .is_some_and(|t| {
                use subtle::ConstantTimeEq;
                verified_tag(&seed, entry.id(), manifest)
                    .is_some_and(|mine| bool::from(mine.ct_eq(&t)))
            });
        let from_device = seen
            .and_then(|s| s.device_unlock(manifest, entry.id()))
            .and_then(|w| {
                seed.open_for_device(&manifest.vault_id.0, manifest.epoch(), entry.id(), w)
            })
            .and_then(|vk| {
                Self::from_parts_verified(
                    manifest,
                    VaultKey::from_array(*vk),
                    min_revision,
                    verified,
                )
                .ok()
            });
        let mut vault = match from_device {
            Some(v) => v,
            None => {
                let vk = match entry.public_key() {
                    Some(_) => open_from_entry(&seed, manifest, entry)?,
                    None => aead::unwrap_key(
                        kek.expose(),
                        entry.wrapped_vault_key(),
                        &entry.wrap_aad(&manifest.vault_id.0),
                    )
                    .map_err(|_| Error::UnlockFailed)?,
                };
                Self::from_parts_verified(
                    manifest,
                    VaultKey::from_array(vk),
                    min_revision,
                    verified,
                )?
            }
        };
        vault.unlocked_by = Some(Unlocker {
            entry_id: entry.id().to_string(),
            seed,
            login,
        });
        Ok(vault)
    }

    /// Checks a manifest with the current vault key that one of its entries
    /// released: the identity key must unwrap under it and match the public
    /// key named, that key must have signed everything (and every older
    /// epoch's key handed over to the next), and the older epochs' vault keys
    /// must unwrap. A server cannot substitute its own identity key, because
    /// it cannot wrap one under the vault key.
    pub(crate) fn from_parts(
        manifest: &Manifest,
        vault_key: VaultKey,
        min_revision: u64,
    ) -> Result<Vault> {
        Self::from_parts_verified(manifest, vault_key, min_revision, false)
    }

    /// [`Vault::from_parts`], skipping the signature checks and the
    /// identity key's match when `verified`: the device's seen state holds
    /// this manifest's tag under the unlocking entry's seed
    /// ([`verified_tag`]), so this device checked these very bytes before,
    /// and said so under a key only that passkey (or code) derives.
    fn from_parts_verified(
        manifest: &Manifest,
        vault_key: VaultKey,
        min_revision: u64,
        verified: bool,
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
        // The structure was checked when this manifest was parsed (every
        // `Manifest` comes from `from_json` or a checked commit): only the
        // signatures here, unless this device verified these bytes before.
        // The tag is keyed from the entry's seed, not the vault key: a
        // server can seal a vault key of its choosing to an entry's public
        // key (HPKE base mode), so a vault key proves nothing about who
        // made a tag (docs/SECURITY.md, "A manifest verified once").
        if !verified {
            // The identity key must be the one named (an unlock with the
            // tag checked this, on these very bytes, before).
            if identity.public_key().as_slice() != public_key.as_slice() {
                return Err(Error::ManifestInvalid);
            }
            manifest.verify_signatures_from(1)?;
        }
        let current = manifest.epoch();
        let wrap_epoch = kdf::subkey(vault_key.expose(), label::WRAP_EPOCH);
        let mut keys = vec![EpochKey {
            epoch: current,
            vault_key,
        }];
        for e in manifest.epoch_entries().iter().rev() {
            if let Some(w) = &e.wrapped_vault_key {
                let k = aead::unwrap_key(
                    wrap_epoch.expose(),
                    &w.0,
                    &epoch_aad(&vault_id, e.epoch, current),
                )
                .map_err(|_| Error::ManifestInvalid)?;
                keys.push(EpochKey {
                    epoch: e.epoch,
                    vault_key: VaultKey::from_array(k),
                });
            }
        }
        let ring = keys
            .iter()
            .map(|k| (k.epoch, wrap_dek_cipher(&k.vault_key)))
            .collect();
        Ok(Vault {
            vault_id,
            keys,
            ring,
            identity,
            manifest: manifest.clone(),
            unlocked_by: None,
            rng: Rng::Os,
        })
    }

    /// The unlock entry this vault was opened with, for a hand-off.
    pub(crate) fn unlocker_part(&self) -> Option<crate::handoff::EntryPart> {
        self.unlocked_by
            .as_ref()
            .map(|u| crate::handoff::EntryPart {
                id: u.entry_id.clone(),
                seed: Zeroizing::new(*u.seed.expose()),
                login: u.login.as_ref().map(|l| l.scalar()),
            })
    }

    /// Takes the unlock entry a hand-off carried, after checking that it is
    /// an entry of this manifest whose public key the seed derives (a v1
    /// entry has none to check against, and is dropped: it cannot receive a
    /// re-key anyway). Anything else is `ManifestInvalid`.
    pub(crate) fn adopt_unlocker(&mut self, e: crate::handoff::EntryPart) -> Result<()> {
        let entry = self
            .manifest
            .unlock
            .iter()
            .find(|x| x.id() == e.id)
            .ok_or(Error::ManifestInvalid)?;
        let Some(pk) = entry.public_key() else {
            return Ok(());
        };
        let seed = EntrySeed::from_bytes(&e.seed);
        if seed.public_key().as_slice() != pk {
            return Err(Error::ManifestInvalid);
        }
        let login = match (&e.login, entry) {
            (
                Some(l),
                UnlockEntry::Recovery {
                    login_key: Some(k), ..
                },
            ) => {
                let id = Identity::from_scalar(l)?;
                if id.public_key().as_slice() != k.0.as_slice() {
                    return Err(Error::ManifestInvalid);
                }
                Some(id)
            }
            (None, UnlockEntry::Passkey { .. }) => None,
            _ => return Err(Error::ManifestInvalid),
        };
        self.unlocked_by = Some(Unlocker {
            entry_id: e.id,
            seed,
            login,
        });
        Ok(())
    }

    pub(crate) fn rng_mut(&mut self) -> &mut Rng {
        &mut self.rng
    }

    /// The current epoch's vault key (what a hand-off carries).
    pub(crate) fn vault_key_bytes(&self) -> &[u8; 32] {
        static NONE: [u8; 32] = [0; 32];
        self.keys.first().map_or(&NONE, |k| k.vault_key.expose())
    }

    /// The device's copy of the current vault key for the seen state: the
    /// unlock entry this vault was opened with (if the manifest still has
    /// it), the current epoch, and the key wrapped under that entry's seed
    /// (see `Seen::saw_vault`).
    pub(crate) fn device_unlock(
        &self,
    ) -> Option<(String, u32, [u8; crate::aead::WRAPPED_KEY_LEN])> {
        let u = self.unlocked_by.as_ref()?;
        self.unlocked_entry()?;
        let k = self.current_key().ok()?;
        let w = u
            .seed
            .wrap_for_device(&self.vault_id, k.epoch, &u.entry_id, k.vault_key.expose())
            .ok()?;
        Some((u.entry_id.clone(), k.epoch, w))
    }

    /// The unlock entry this vault was opened with, if the manifest still
    /// has it, and the current epoch: what [`Vault::device_unlock`] is for.
    pub(crate) fn unlocked_entry(&self) -> Option<(&str, u32)> {
        let u = self.unlocked_by.as_ref()?;
        self.manifest.unlock.iter().find(|e| e.id() == u.entry_id)?;
        Some((u.entry_id.as_str(), self.manifest.epoch()))
    }

    /// Whether a device copy (see [`Vault::device_unlock`]) opens with this
    /// vault's unlock entry to its current vault key: a copy that does not
    /// (planted, or from another key) is replaced.
    pub(crate) fn device_copy_opens(&self, entry_id: &str, epoch: u32, wrapped: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        let (Some(u), Ok(k)) = (self.unlocked_by.as_ref(), self.current_key()) else {
            return false;
        };
        u.entry_id == entry_id
            && k.epoch == epoch
            && u.seed
                .open_for_device(&self.vault_id, epoch, entry_id, wrapped)
                .is_some_and(|vk| bool::from(vk.ct_eq(k.vault_key.expose())))
    }

    /// This vault's tag of its current manifest under the seed of the
    /// entry it was opened with (if the manifest still has that entry), for
    /// the device's seen state (see [`Seen::saw_vault`]).
    pub(crate) fn verified_tag(&self) -> Option<[u8; 32]> {
        let (entry_id, _) = self.unlocked_entry()?;
        let u = self.unlocked_by.as_ref()?;
        verified_tag(&u.seed, entry_id, &self.manifest)
    }

    fn current_key(&self) -> Result<&EpochKey> {
        self.keys.first().ok_or(Error::ManifestInvalid)
    }

    /// The current signed manifest: store it on the server after every change.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The vault id.
    pub fn vault_id(&self) -> &[u8; VAULT_ID_LEN] {
        &self.vault_id
    }

    /// The origin line (and identity key name) of this vault's log.
    pub fn log_origin(&self) -> String {
        crate::log::note::origin_for(self.manifest.vault_id())
    }

    /// A log entry written and signed by this vault at position `n`, time
    /// `t` (unix seconds), under the current epoch's identity key. Only the
    /// events a vault may write are accepted (not the server's).
    pub fn log_entry(&self, n: u64, t: u64, event: &crate::log::entry::Event) -> Result<Vec<u8>> {
        if event.author() != crate::log::entry::Author::Vault {
            return Err(Error::InvalidArgument(
                "a vault may not write the server's access events",
            ));
        }
        crate::log::entry::Entry::write(
            &self.log_origin(),
            n,
            t,
            Some(self.manifest.epoch()),
            event,
            &self.identity,
        )
    }

    /// The log event for this vault's current manifest: its revision, hash
    /// and epoch, and the unlock entries added and removed since `previous`
    /// (the manifest before the change, if the caller has it).
    pub fn manifest_event(&self, previous: Option<&Manifest>) -> crate::log::entry::Event {
        let ids =
            |m: &Manifest| -> Vec<String> { m.unlock_entry_ids().map(str::to_owned).collect() };
        let now = ids(&self.manifest);
        let before = previous.map(ids).unwrap_or_default();
        crate::log::entry::Event::Manifest {
            rev: self.manifest.revision(),
            hash: crate::b64::encode(&self.manifest.hash()),
            epoch: self.manifest.epoch(),
            added: now
                .iter()
                .filter(|i| !before.contains(i))
                .take(64)
                .cloned()
                .collect(),
            removed: before
                .iter()
                .filter(|i| !now.contains(i))
                .take(64)
                .cloned()
                .collect(),
        }
    }

    /// The checkpoint `state` last verified, with this vault's signature
    /// added: what a device gives the server so that the vault's other
    /// devices can check they were shown the same log.
    pub fn cosign_log(&self, state: &crate::log::LogState) -> Result<String> {
        let note = state
            .checkpoint()
            .ok_or(Error::InvalidArgument("nothing verified to cosign"))?;
        crate::log::cosign(note, &self.log_origin(), &self.identity)
    }

    /// The current epoch's identity public key (compressed SEC1).
    pub fn identity_public_key(&self) -> [u8; identity::PUBLIC_KEY_LEN] {
        self.identity.public_key()
    }

    fn record_keys(&self) -> RecordKeys<'_> {
        RecordKeys {
            ring: &self.ring,
            vault_id: &self.vault_id,
        }
    }

    /// The record keys and the random source together (sealing needs both,
    /// and the borrow checker needs them taken from disjoint fields).
    fn keys_and_rng(&mut self) -> (RecordKeys<'_>, &mut Rng) {
        (
            RecordKeys {
                ring: &self.ring,
                vault_id: &self.vault_id,
            },
            &mut self.rng,
        )
    }

    /// Seals bytes as one record (version 1). Returns the bytes form; see
    /// [`record::to_text`].
    pub fn seal(&mut self, plaintext: &[u8], ctx: &RecordContext<'_>) -> Result<Vec<u8>> {
        self.seal_as(ContentType::Bytes, plaintext, ctx)
    }

    /// Seals a record (version 1) and records what kind of content it is.
    pub fn seal_as(
        &mut self,
        content_type: ContentType,
        plaintext: &[u8],
        ctx: &RecordContext<'_>,
    ) -> Result<Vec<u8>> {
        self.seal_version(content_type, plaintext, ctx, 1)
    }

    /// Seals version `version` (1 to 2^53 - 1) of a record. An edit seals the
    /// next version under the same record id; a device that saw a version
    /// refuses older ones ([`crate::Seen`]).
    pub fn seal_version(
        &mut self,
        content_type: ContentType,
        plaintext: &[u8],
        ctx: &RecordContext<'_>,
        version: u64,
    ) -> Result<Vec<u8>> {
        let (keys, rng) = self.keys_and_rng();
        record::seal(rng, &keys, content_type as u8, version, plaintext, ctx)
    }

    /// Seals a tombstone: version `version` of the record, saying it was
    /// deleted. Store it in the record's place; opening it (or, on a device
    /// that saw it, any older version) gives `RecordDeleted`.
    pub fn seal_tombstone(&mut self, ctx: &RecordContext<'_>, version: u64) -> Result<Vec<u8>> {
        let (keys, rng) = self.keys_and_rng();
        record::seal(rng, &keys, record::TOMBSTONE, version, &[], ctx)
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
        version: u64,
    ) -> Result<record::SealParts> {
        let (keys, rng) = self.keys_and_rng();
        record::seal_parts(rng, &keys, content_type as u8, version, plaintext_len, ctx)
    }

    /// Checks a record up to its body, for decryption outside this crate's
    /// AES, from its first [`record::BODY_START`] bytes (or all of it) and its
    /// length: see `hazmat::open_large`.
    pub(crate) fn open_parts(
        &self,
        head: &[u8],
        sealed_len: usize,
        ctx: &RecordContext<'_>,
    ) -> Result<record::OpenParts> {
        record::open_parts(&self.record_keys(), head, sealed_len, ctx)
    }

    /// Opens one record and says what kind of content it holds.
    pub fn open_typed(
        &self,
        sealed: &[u8],
        ctx: &RecordContext<'_>,
    ) -> Result<(ContentType, Vec<u8>)> {
        self.open_record(sealed, ctx)
            .map(|r| (r.content_type, r.data))
    }

    /// Opens one record and returns it with its header (version, epoch).
    pub fn open_record(&self, sealed: &[u8], ctx: &RecordContext<'_>) -> Result<OpenedRecord> {
        let (meta, content_type, data) = record::open(&self.record_keys(), sealed, ctx)?;
        Ok(OpenedRecord {
            content_type,
            data,
            meta,
        })
    }

    /// Re-wraps a record under the current key epoch, for apps that retire
    /// old epochs ([`Vault::retire_epochs`]). `Ok(None)`: it already is
    /// (so a re-wrap that was interrupted can simply run again). A version 2
    /// record keeps its body, nonce and tag (only the 78-byte header and
    /// wrapped key change); a version 1 record is opened and sealed again as
    /// version 2 (its body's associated data covers the wrapped key).
    pub fn rewrap(&mut self, sealed: &[u8], ctx: &RecordContext<'_>) -> Result<Option<Vec<u8>>> {
        let meta = record::read_meta(sealed)?;
        let current = self.manifest.epoch();
        if meta.format == record::VERSION_2 && meta.epoch == current {
            return Ok(None);
        }
        let (keys, rng) = self.keys_and_rng();
        if meta.format == record::VERSION_2 {
            return record::rewrap_v2(rng, &keys, sealed, ctx).map(Some);
        }
        let (meta, content_type, data) = record::open(&keys, sealed, ctx)?;
        let data = Zeroizing::new(data);
        record::seal(rng, &keys, content_type as u8, meta.version, &data, ctx).map(Some)
    }

    /// Starts sealing a stream (a large file) as version `version` of the
    /// record `ctx` names, under the newest key epoch: write
    /// [`crate::stream::StreamSealer::header`], then the sealed chunks.
    pub fn seal_stream(
        &mut self,
        ctx: &RecordContext<'_>,
        version: u64,
    ) -> Result<crate::stream::StreamSealer> {
        let (keys, rng) = self.keys_and_rng();
        let (epoch, wrap) = keys.newest()?;
        // One draw: the data key, the wrap nonce, the C2SP salt.
        let mut random =
            Zeroizing::new([0u8; 32 + crate::aead::NONCE_LEN + crate::stream::SALT_LEN]);
        rng.fill(random.as_mut_slice())?;
        crate::stream::seal_start(&random, epoch, wrap, keys.vault_id, version, ctx)
    }

    /// A stream's header parts and data key, checked against its commitment.
    fn stream_key<'h>(
        &self,
        head: &'h [u8],
        ctx: &RecordContext<'_>,
    ) -> Result<(
        crate::stream::HeaderParts<'h>,
        crate::secret::DataKey,
        crate::stream::StreamOpener,
    )> {
        let parts = crate::stream::split_header(head, ctx)?;
        let keys = self.record_keys();
        let dek =
            crate::stream::unwrap_dek(keys.wrap(parts.meta.epoch)?, keys.vault_id, &parts, ctx)?;
        let opener = crate::stream::open_with_key(&dek, &parts, ctx)?;
        Ok((parts, dek, opener))
    }

    /// Checks a stream's header (its first [`crate::stream::HEADER_LEN`]
    /// bytes): the data key unwraps under its epoch's key and matches the
    /// commitment. Every failure of these is `DecryptionFailed`.
    pub fn open_stream(
        &self,
        head: &[u8],
        ctx: &RecordContext<'_>,
    ) -> Result<crate::stream::StreamOpener> {
        self.stream_key(head, ctx).map(|(_, _, o)| o)
    }

    /// Re-wraps a stream's data key under the current key epoch: the new
    /// first [`crate::stream::REWRAP_LEN`] bytes of the stream (the chunks
    /// stay as they are), or `Ok(None)` when it already is under it.
    pub fn rewrap_stream(
        &mut self,
        head: &[u8],
        ctx: &RecordContext<'_>,
    ) -> Result<Option<Vec<u8>>> {
        crate::stream::check_binding(ctx)?;
        let meta = crate::stream::read_header(head)?;
        if meta.epoch == self.manifest.epoch() {
            return Ok(None);
        }
        let (parts, dek, _) = self.stream_key(head, ctx)?;
        let wrap_nonce: [u8; crate::aead::NONCE_LEN] = self.rng.array()?;
        let keys = self.record_keys();
        let (epoch, wrap) = keys.newest()?;
        crate::stream::rewrap_prefix(
            &dek,
            &wrap_nonce,
            epoch,
            wrap,
            keys.vault_id,
            parts.meta.version,
            ctx,
        )
        .map(Some)
    }

    /// Adds a passkey; returns the new signed manifest. No new key epoch:
    /// adding a way in revokes nothing.
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
        let (entry, _) = self.passkey_entry(passkey)?;
        self.commit(|m| {
            m.unlock.push(entry);
            Ok(())
        })
    }

    /// Removes an unlock entry by id, and re-keys (a new key epoch: new
    /// vault key, new identity key), so the removed passkey opens nothing
    /// sealed afterwards and cannot sign anything a client accepts. Refuses
    /// to remove the recovery entry or the last passkey (`LastUnlockMethod`):
    /// a vault always keeps a way in.
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
        self.rekey_with(|m| {
            m.unlock.remove(pos);
            Ok(())
        })?;
        if self
            .unlocked_by
            .as_ref()
            .is_some_and(|u| u.entry_id == entry_id)
        {
            self.unlocked_by = None;
        }
        Ok(&self.manifest)
    }

    /// Replaces the recovery code and re-keys: the old code (and every
    /// manifest it opened) opens nothing sealed afterwards, and its login key
    /// is gone from the manifest. Returns the new code, to show once.
    pub fn rotate_recovery_code(&mut self) -> Result<RecoveryCode> {
        let code = RecoveryCode::generate(&mut self.rng)?;
        let (entry, unlocker) = self.recovery_entry(&code)?;
        let was_recovery = self
            .unlocked_by
            .as_ref()
            .is_some_and(|u| Some(u.entry_id.as_str()) == self.manifest.recovery_entry_id());
        self.rekey_with(|m| {
            let slot = m
                .unlock
                .iter_mut()
                .find(|e| matches!(e, UnlockEntry::Recovery { .. }))
                .ok_or(Error::ManifestInvalid)?;
            *slot = entry;
            Ok(())
        })?;
        if was_recovery {
            self.unlocked_by = Some(unlocker);
        }
        Ok(code)
    }

    /// Starts a new key epoch with the same unlock entries: a new vault key
    /// (sealed to every entry's public key, with no authenticator asked) and
    /// a new identity key (endorsed by the old one). Records sealed before
    /// keep opening; records sealed after open only with the new key.
    pub fn rekey(&mut self) -> Result<&Manifest> {
        self.rekey_with(|_| Ok(()))?;
        Ok(&self.manifest)
    }

    /// Drops the vault keys of every older epoch from the manifest. Records
    /// still under them stop opening: re-wrap them first ([`Vault::rewrap`]).
    /// With no older key left, nothing changes (no new revision).
    pub fn retire_epochs(&mut self) -> Result<&Manifest> {
        let held = self
            .manifest
            .epoch_entries()
            .iter()
            .any(|e| e.wrapped_vault_key.is_some());
        if !held {
            // Nothing to retire: no new revision.
            return Ok(&self.manifest);
        }
        self.commit(|m| {
            if let Some(epochs) = m.epochs.as_mut() {
                for e in epochs {
                    e.wrapped_vault_key = None;
                }
            }
            Ok(())
        })?;
        self.keys.truncate(1);
        self.ring.truncate(1);
        Ok(&self.manifest)
    }

    /// Adopts a newer manifest of this vault, written by another device: it
    /// must directly follow the current one ([`Manifest::check_follows`]:
    /// next revision, parent hash, identity descending from ours). A new key
    /// epoch is opened with the key of the entry this vault was unlocked
    /// with; if that entry was removed, `UnlockFailed` (unlock again). The
    /// same manifest again is a no-op; another at the same revision is
    /// `ForkDetected`.
    pub fn update_manifest(&mut self, newer: &Manifest) -> Result<()> {
        self.update_manifests(core::slice::from_ref(newer))
    }

    /// [`Vault::update_manifest`] through a chain of manifests, oldest first
    /// (what a server returns as the history since our revision). Manifests
    /// not newer than ours must be ours (same hash at our revision) or are
    /// skipped if older; if the newest one offered is older than ours, the
    /// result is `StaleManifest`.
    pub fn update_manifests(&mut self, chain: &[Manifest]) -> Result<()> {
        let mut head = self.manifest.head();
        let mut last: Option<&Manifest> = None;
        for m in chain {
            if m.vault_id.0 != self.vault_id {
                return Err(Error::ManifestInvalid);
            }
            if m.revision < head.revision && last.is_none() {
                continue;
            }
            if m.revision == head.revision && m.hash() == head.hash {
                continue;
            }
            m.check_follows(&head)?;
            head = m.head();
            last = Some(m);
        }
        let Some(newer) = last else {
            // Nothing newer: the newest manifest offered is ours, or older
            // (a rollback the caller must hear of).
            return match chain.last() {
                Some(m) if m.revision < self.manifest.revision => Err(Error::StaleManifest {
                    seen: self.manifest.revision,
                    offered: m.revision,
                }),
                _ => Ok(()),
            };
        };
        if newer.epoch() == self.manifest.epoch() {
            if newer.identity_key != self.manifest.identity_key {
                return Err(Error::ManifestInvalid);
            }
            // Epochs another device retired are retired here too: their keys
            // are dropped, so they neither open records nor get re-wrapped
            // into the manifest by this device's next re-key.
            let current = newer.epoch();
            let held = |epoch: u32| {
                epoch == current
                    || newer
                        .epoch_entries()
                        .iter()
                        .any(|e| e.epoch == epoch && e.wrapped_vault_key.is_some())
            };
            self.keys.retain(|k| held(k.epoch));
            self.ring.retain(|(e, _)| held(*e));
            self.manifest = newer.clone();
            return Ok(());
        }
        let u = self.unlocked_by.as_ref().ok_or(Error::UnlockFailed)?;
        let entry = newer
            .unlock
            .iter()
            .find(|e| e.id() == u.entry_id)
            .ok_or(Error::UnlockFailed)?;
        // A v1 entry (no public key) holds no HPKE-sealed vault key.
        entry.public_key().ok_or(Error::UnlockFailed)?;
        let vk = open_from_entry(&u.seed, newer, entry)?;
        let mut next = Self::from_parts(newer, VaultKey::from_array(vk), 0)?;
        next.unlocked_by = self.unlocked_by.take();
        next.rng = self.rng.clone();
        *self = next;
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
        check_challenge(challenge, audience)?;
        Ok(self
            .identity
            .sign(&identity::login_proof_message(challenge, audience)))
    }

    /// Signs a server's recovery-login challenge with the recovery entry's
    /// login key (checked by [`Manifest::verify_recovery_login`]): only a
    /// vault unlocked with the current recovery code can. A v1 recovery entry
    /// has no login key: then this is [`Vault::sign_login_proof`].
    /// `UnlockFailed` if this vault was not unlocked with the recovery code.
    pub fn sign_recovery_login(
        &self,
        challenge: &[u8],
        audience: &str,
    ) -> Result<[u8; identity::SIGNATURE_LEN]> {
        check_challenge(challenge, audience)?;
        let entry = self
            .manifest
            .recovery_entry()
            .ok_or(Error::ManifestInvalid)?;
        let UnlockEntry::Recovery { id, login_key, .. } = entry else {
            return Err(Error::ManifestInvalid);
        };
        if login_key.is_none() {
            return self.sign_login_proof(challenge, audience);
        }
        let login = self
            .unlocked_by
            .as_ref()
            .filter(|u| &u.entry_id == id)
            .and_then(|u| u.login.as_ref())
            .ok_or(Error::UnlockFailed)?;
        Ok(login.sign(&crate::manifest::recovery_login_message(
            &self.vault_id,
            id,
            challenge,
            audience,
        )))
    }

    fn new_entry_id(&mut self, prefix: &str) -> Result<String> {
        let raw: [u8; 9] = self.rng.array()?;
        Ok(format!("{prefix}-{}", crate::b64::encode(&raw)))
    }

    fn passkey_entry(&mut self, p: PasskeyUnlock) -> Result<(UnlockEntry, Unlocker)> {
        let id = self.new_entry_id("pk")?;
        let kek = kdf::kek_from_prf(
            p.prf_output.expose(),
            &p.prf_salt,
            &p.credential_id,
            &self.vault_id,
        );
        let seed = EntrySeed::from_kek(kek.expose());
        let entry = UnlockEntry::Passkey {
            id: id.clone(),
            credential_id: B64(p.credential_id.clone()),
            prf_salt: B64(p.prf_salt.to_vec()),
            public_key: Some(B64(seed.public_key().to_vec())),
            wrapped_vault_key: B64(Vec::new()),
            label: p.label.clone(),
        };
        drop(p);
        let entry = self.seal_vault_key_to(entry)?;
        Ok((
            entry,
            Unlocker {
                entry_id: id,
                seed,
                login: None,
            },
        ))
    }

    fn recovery_entry(&mut self, code: &RecoveryCode) -> Result<(UnlockEntry, Unlocker)> {
        let id = self.new_entry_id("rc")?;
        let kek = kdf::kek_from_recovery(code.entropy(), &self.vault_id);
        let seed = EntrySeed::from_kek(kek.expose());
        let login = recovery_login_key(&kek, &id)?;
        let entry = UnlockEntry::Recovery {
            id: id.clone(),
            public_key: Some(B64(seed.public_key().to_vec())),
            login_key: Some(B64(login.public_key().to_vec())),
            wrapped_vault_key: B64(Vec::new()),
        };
        let entry = self.seal_vault_key_to(entry)?;
        Ok((
            entry,
            Unlocker {
                entry_id: id,
                seed,
                login: Some(login),
            },
        ))
    }

    /// Seals the current vault key to a v2 entry's public key (HPKE), bound
    /// to the entry and the epoch, and stores it in the entry.
    fn seal_vault_key_to(&mut self, entry: UnlockEntry) -> Result<UnlockEntry> {
        let epoch = self.manifest.epoch();
        let vk = *self.current_key()?.vault_key.expose();
        let vk = Zeroizing::new(vk);
        seal_to_entry(&mut self.rng, &self.vault_id, epoch, &vk, entry)
    }

    /// The manifest change that turns a v1 manifest (or a v2 one carrying v1
    /// entries) into v2, and gives the entry this vault was unlocked with its
    /// public key (the only v1 entry whose key this device can derive).
    fn upgrade(&mut self, next: &mut Manifest) -> Result<()> {
        if next.version == crate::manifest::VERSION_1 {
            next.version = crate::manifest::VERSION_2;
            next.epoch = Some(1);
            next.epochs = Some(Vec::new());
        }
        if next.version == crate::manifest::VERSION_2 {
            next.version = VERSION;
            next.share_key = Some(B64(crate::share::share_seed(
                &self.current_key()?.vault_key,
            )
            .public_key()
            .to_vec()));
            next.shares = Some(Vec::new());
        }
        let Some(u) = self.unlocked_by.as_ref() else {
            return Ok(());
        };
        let Some(pos) = next
            .unlock
            .iter()
            .position(|e| e.id() == u.entry_id && e.public_key().is_none())
        else {
            return Ok(());
        };
        let public = B64(u.seed.public_key().to_vec());
        let login_pub = u.login.as_ref().map(|l| B64(l.public_key().to_vec()));
        let Some(entry) = next.unlock.get_mut(pos) else {
            return Ok(());
        };
        match entry {
            UnlockEntry::Passkey { public_key, .. } => *public_key = Some(public),
            UnlockEntry::Recovery {
                public_key,
                login_key,
                ..
            } => {
                *public_key = Some(public);
                *login_key = Some(login_pub.ok_or(Error::ManifestInvalid)?);
            }
        }
        let e = entry.clone();
        let e = self.seal_vault_key_to(e)?;
        if let Some(slot) = next.unlock.get_mut(pos) {
            *slot = e;
        }
        Ok(())
    }

    /// Applies a change to a copy of the manifest, names the current one as
    /// its parent, bumps the revision, signs, checks the result, and only
    /// then replaces the current manifest.
    fn commit(&mut self, change: impl FnOnce(&mut Manifest) -> Result<()>) -> Result<&Manifest> {
        let mut next = self.manifest.clone();
        self.upgrade(&mut next)?;
        change(&mut next)?;
        self.finish(next)?;
        Ok(&self.manifest)
    }

    fn finish(&mut self, mut next: Manifest) -> Result<()> {
        next.parent = (self.manifest.revision > 0).then(|| B64(self.manifest.hash().to_vec()));
        next.revision = next
            .revision
            .checked_add(1)
            .filter(|r| *r <= crate::manifest::MAX_REVISION)
            .ok_or(Error::InvalidArgument("revision overflow"))?;
        next.signature = B64(self.identity.sign(&next.signed_bytes()).to_vec());
        next.check_structure()?;
        self.manifest = next;
        Ok(())
    }

    /// A change committed in a new key epoch: a new vault key and identity
    /// key; the old epoch's vault key (and every older one still held)
    /// wrapped by the new one; the old identity key's hand-over signature;
    /// the new vault key sealed to every entry's public key.
    fn rekey_with(&mut self, change: impl FnOnce(&mut Manifest) -> Result<()>) -> Result<()> {
        let mut next = self.manifest.clone();
        self.upgrade(&mut next)?;
        change(&mut next)?;
        if next.unlock.iter().any(|e| e.public_key().is_none()) {
            return Err(Error::InvalidArgument(
                "an unlock entry from format 1 has no public key yet: unlock with it once (or remove it) before a re-key",
            ));
        }
        let old_epoch = self.manifest.epoch();
        let epoch = old_epoch
            .checked_add(1)
            .filter(|e| *e <= crate::manifest::MAX_EPOCHS)
            .ok_or(Error::InvalidArgument("too many key epochs"))?;
        let vault_key = VaultKey::from_array(self.rng.array()?);
        let identity = Identity::generate(&mut self.rng)?;
        let wrap_epoch = kdf::subkey(vault_key.expose(), label::WRAP_EPOCH);
        let mut epochs = next.epoch_entries().to_vec();
        epochs.push(EpochEntry {
            epoch: old_epoch,
            public_key: B64(self.identity.public_key().to_vec()),
            handover: B64(self
                .identity
                .sign(&crate::manifest::handover_message(
                    &self.vault_id,
                    epoch,
                    &identity.public_key(),
                ))
                .to_vec()),
            wrapped_vault_key: None,
        });
        for e in &mut epochs {
            // Only epochs still held in the manifest (and the one ending now):
            // a retired epoch stays retired.
            let kept = e.epoch == old_epoch || e.wrapped_vault_key.is_some();
            e.wrapped_vault_key = match self.keys.iter().find(|k| kept && k.epoch == e.epoch) {
                Some(k) => Some(B64(aead::wrap_key(
                    &mut self.rng,
                    wrap_epoch.expose(),
                    k.vault_key.expose(),
                    &epoch_aad(&self.vault_id, e.epoch, epoch),
                )?
                .to_vec())),
                None => None,
            };
        }
        next.epoch = Some(epoch);
        next.epochs = Some(epochs);
        next.identity_key = wrap_identity(&mut self.rng, &self.vault_id, &vault_key, &identity)?;
        // Grants and links outlive a re-key: their keys move to the new
        // vault key; the share key is the new epoch's.
        next.share_key = Some(B64(crate::share::share_seed(&vault_key)
            .public_key()
            .to_vec()));
        let wrap_share_new = kdf::subkey(vault_key.expose(), label::WRAP_SHARE);
        let mut shares = next.share_entries().to_vec();
        for e in &mut shares {
            let key = Zeroizing::new(self.unwrap_share(e)?);
            e.key = B64(aead::wrap_key(
                &mut self.rng,
                wrap_share_new.expose(),
                &key,
                &crate::share::share_key_aad(&self.vault_id, &e.id.0, e.kind.byte(), epoch),
            )?
            .to_vec());
        }
        next.shares = Some(shares);
        let vk = Zeroizing::new(*vault_key.expose());
        let mut entries = Vec::with_capacity(next.unlock.len());
        for e in next.unlock.drain(..) {
            entries.push(seal_to_entry(&mut self.rng, &self.vault_id, epoch, &vk, e)?);
        }
        next.unlock = entries;
        // Sign with the new identity: swap it in, and back if anything fails.
        let old_identity = core::mem::replace(&mut self.identity, identity);
        if let Err(e) = self.finish(next) {
            self.identity = old_identity;
            return Err(e);
        }
        self.ring.insert(0, (epoch, wrap_dek_cipher(&vault_key)));
        self.keys.insert(0, EpochKey { epoch, vault_key });
        Ok(())
    }
}

/// What sharing (src/share.rs) needs of a vault.
impl Vault {
    /// Signs a grant (its own label keeps it from being any other signature).
    pub(crate) fn sign_share(&self, signed_bytes: &[u8]) -> [u8; identity::SIGNATURE_LEN] {
        self.identity.sign(signed_bytes)
    }

    /// Signs a message that starts with its own `lp(label)` with the
    /// current epoch's identity key (a destroy request, src/destroy.rs).
    pub(crate) fn sign_labelled(&self, msg: &[u8]) -> [u8; identity::SIGNATURE_LEN] {
        self.identity.sign(msg)
    }

    /// The vault key of an epoch this vault holds.
    pub(crate) fn epoch_vault_key(&self, epoch: u32) -> Option<&VaultKey> {
        self.keys
            .iter()
            .find(|k| k.epoch == epoch)
            .map(|k| &k.vault_key)
    }

    /// A record's data key (checked against its commitment).
    pub(crate) fn record_data_key(
        &self,
        sealed: &[u8],
        ctx: &RecordContext<'_>,
    ) -> Result<crate::secret::DataKey> {
        if sealed.starts_with(&crate::stream::MAGIC) {
            // A stream's header: its data key goes into a grant slot the same way.
            return self.stream_key(sealed, ctx).map(|(_, k, _)| k);
        }
        record::data_key(&self.record_keys(), sealed, ctx).map(|(_, k)| k)
    }

    /// The owner's copy of a grant or link key, from a manifest entry wrapped
    /// under the current epoch's vault key.
    fn unwrap_share(&self, e: &crate::manifest::ShareEntry) -> Result<[u8; 32]> {
        let current = self.current_key()?;
        let k = kdf::subkey(current.vault_key.expose(), label::WRAP_SHARE);
        aead::unwrap_key(
            k.expose(),
            &e.key.0,
            &crate::share::share_key_aad(&self.vault_id, &e.id.0, e.kind.byte(), current.epoch),
        )
        .map_err(|_| Error::ManifestInvalid)
    }

    /// The expiry, digest and key of an active grant or link of this vault;
    /// `NotGranted` if the manifest does not list it (revoked, or never made).
    pub(crate) fn share_key_of(
        &self,
        id: &[u8],
        kind: crate::manifest::ShareKind,
    ) -> Result<(u64, Vec<u8>, Zeroizing<[u8; 32]>)> {
        let e = self
            .manifest
            .share_entries()
            .iter()
            .find(|e| e.id.0 == id && e.kind == kind)
            .ok_or(Error::NotGranted)?;
        Ok((
            e.expires,
            e.digest.0.clone(),
            Zeroizing::new(self.unwrap_share(e)?),
        ))
    }

    /// The manifest entry of a new grant or link, its key wrapped by the
    /// current vault key (not yet listed).
    pub(crate) fn share_entry(
        &mut self,
        kind: crate::manifest::ShareKind,
        id: [u8; crate::manifest::SHARE_ID_LEN],
        scope: Option<String>,
        expires: u64,
        digest: [u8; 32],
        key: &[u8; 32],
    ) -> Result<crate::manifest::ShareEntry> {
        let current = self.current_key()?;
        let epoch = current.epoch;
        let k = kdf::subkey(current.vault_key.expose(), label::WRAP_SHARE);
        let wrapped = aead::wrap_key(
            &mut self.rng,
            k.expose(),
            key,
            &crate::share::share_key_aad(&self.vault_id, &id, kind.byte(), epoch),
        )?;
        Ok(crate::manifest::ShareEntry {
            id: B64(id.to_vec()),
            kind,
            scope,
            expires,
            digest: B64(digest.to_vec()),
            key: B64(wrapped.to_vec()),
        })
    }

    /// Lists a new grant or link in the manifest (a new revision).
    pub(crate) fn push_share(&mut self, entry: crate::manifest::ShareEntry) -> Result<&Manifest> {
        if self.manifest.share_entries().len() >= crate::manifest::MAX_SHARES {
            return Err(Error::InvalidArgument(
                "too many active grants and links (256): revoke some first",
            ));
        }
        self.commit(|m| {
            m.shares.get_or_insert_with(Vec::new).push(entry);
            Ok(())
        })
    }

    /// Replaces a listed grant or link by another, in its place (one new
    /// revision). `NotGranted` if `id` is not listed.
    pub(crate) fn replace_share(
        &mut self,
        id: &[u8],
        entry: crate::manifest::ShareEntry,
    ) -> Result<&Manifest> {
        if !self.manifest.share_entries().iter().any(|e| e.id.0 == id) {
            return Err(Error::NotGranted);
        }
        self.commit(|m| {
            if let Some(shares) = m.shares.as_mut() {
                for e in shares.iter_mut() {
                    if e.id.0 == id {
                        *e = entry.clone();
                    }
                }
            }
            Ok(())
        })
    }

    /// Revokes a grant or link: removes it from the manifest (a new
    /// revision), so that no device of this vault gives it another slot and
    /// a server that follows the manifest deletes it. What the grantee
    /// already read cannot be taken back. `NotGranted` if there is no such
    /// grant or link.
    pub fn revoke_share(&mut self, id: &[u8]) -> Result<&Manifest> {
        if !self.manifest.share_entries().iter().any(|e| e.id.0 == id) {
            return Err(Error::NotGranted);
        }
        self.commit(|m| {
            if let Some(s) = m.shares.as_mut() {
                s.retain(|e| e.id.0 != id);
            }
            Ok(())
        })
    }
}

fn check_challenge(challenge: &[u8], audience: &str) -> Result<()> {
    if challenge.len() < 16 || challenge.len() > 1024 {
        return Err(Error::InvalidArgument("challenge must be 16 to 1024 bytes"));
    }
    if audience.is_empty() || audience.len() > 1024 {
        return Err(Error::InvalidArgument(
            "audience must be 1 to 1024 bytes (the server's origin)",
        ));
    }
    Ok(())
}

/// The identity private key wrapped under a vault key, with its public key.
fn wrap_identity(
    rng: &mut Rng,
    vault_id: &[u8],
    vault_key: &VaultKey,
    identity: &Identity,
) -> Result<IdentityKey> {
    let public_key = identity.public_key();
    let wrap_identity = kdf::subkey(vault_key.expose(), label::WRAP_IDENTITY);
    let wrapped = aead::wrap_key(
        rng,
        wrap_identity.expose(),
        &identity.scalar(),
        &identity_aad(vault_id, &public_key),
    )?;
    Ok(IdentityKey {
        public_key: B64(public_key.to_vec()),
        wrapped_private_key: B64(wrapped.to_vec()),
    })
}

/// Opens the vault key of `manifest`'s epoch sealed to a v2 entry with that
/// entry's seed: the inverse of [`seal_to_entry`].
fn open_from_entry(seed: &EntrySeed, manifest: &Manifest, entry: &UnlockEntry) -> Result<[u8; 32]> {
    seed.open(
        entry.wrapped_vault_key(),
        &UnlockEntry::hpke_info(&manifest.vault_id.0, manifest.epoch()),
        &entry.hpke_aad(&manifest.vault_id.0),
    )
}

/// Seals a vault key to a v2 entry's public key for an epoch.
fn seal_to_entry(
    rng: &mut Rng,
    vault_id: &[u8],
    epoch: u32,
    vault_key: &[u8; 32],
    mut entry: UnlockEntry,
) -> Result<UnlockEntry> {
    let pk = entry.public_key().ok_or(Error::ManifestInvalid)?.to_vec();
    let sealed = entry_key::seal(
        rng,
        &pk,
        vault_key,
        &UnlockEntry::hpke_info(vault_id, epoch),
        &entry.hpke_aad(vault_id),
    )?;
    entry.set_wrapped_vault_key(sealed);
    Ok(entry)
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

    /// A hand-off receiver whose key pair is drawn from `seed` (its private
    /// scalar is the first valid 32 bytes of the stream), so a test can
    /// build messages to it by hand.
    pub fn handoff_receiver(seed: &[u8]) -> Result<crate::HandoffReceiver> {
        crate::HandoffReceiver::with_rng(&mut Rng::Seeded(SeededRng::new(seed)))
    }

    /// The vault key of the current epoch: for stream vectors (FORMAT.md
    /// §17.6), which a second implementation checks from `VK` down.
    pub fn vault_key(vault: &Vault) -> [u8; 32] {
        *vault.vault_key_bytes()
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

/// A device's record that it verified `manifest` (its signature and every
/// hand-over: all of the signed bytes and the signature) when the unlock
/// entry `entry_id` opened it: HMAC-SHA256 under a key derived from that
/// entry's seed (so from its passkey's PRF output or the recovery code).
/// Kept in the seen state; at the next unlock through that entry with the
/// same manifest it stands for the signature checks (P-256). Only the
/// entry's holder can make one: not the vault key, which a server can
/// choose (HPKE base mode seals anyone's key to an entry), and not whoever
/// can write the device's storage.
pub(crate) fn verified_tag(
    seed: &EntrySeed,
    entry_id: &str,
    manifest: &Manifest,
) -> Option<[u8; 32]> {
    use hmac::{Hmac, KeyInit, Mac};
    let key = Zeroizing::new(kdf::hkdf32(seed.expose(), &[], label::SEEN_VERIFIED, &[]));
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.as_slice()).ok()?;
    let mut buf = Vec::new();
    put_lp(&mut buf, entry_id.as_bytes());
    put_lp(&mut buf, &manifest.signed_bytes());
    put_lp(&mut buf, &manifest.signature.0);
    mac.update(&buf);
    Some(mac.finalize().into_bytes().into())
}

#[cfg(test)]
mod verified_tests {
    //! The seen state's `verified` tag and device copy, from inside (the
    //! attacks through the public API are in tests/seen_unlock.rs).
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::{identity_aad, verified_tag, Vault};
    use crate::manifest::UnlockEntry;
    use crate::{b64, Error, Manifest, PasskeyUnlock, PrfOutput, Seen};
    use serde_json::Value;

    const CRED: &[u8] = b"cred";

    fn vault(seed: &[u8]) -> Vault {
        let passkey = PasskeyUnlock {
            credential_id: CRED.to_vec(),
            prf_salt: [7; 32],
            prf_output: PrfOutput::new(&[9; 32]).unwrap(),
            label: None,
        };
        super::deterministic::create(seed, passkey).unwrap().0
    }

    fn unlock(m: &Manifest, seen: &Seen) -> crate::Result<Vault> {
        Vault::unlock_with_prf_seen(m, CRED, PrfOutput::new(&[9; 32]).unwrap(), 0, Some(seen))
    }

    /// The device's seen state after `v` was opened here, made to name `m`
    /// (its hash) and to carry `tag` (none: no tag), without the device copy
    /// when `copy` is false.
    fn seen_for(v: &Vault, m: &Manifest, tag: Option<[u8; 32]>, copy: bool) -> Seen {
        let mut seen = Seen::new();
        seen.saw_vault(v);
        let mut j: Value = serde_json::from_str(&seen.to_json().unwrap()).unwrap();
        j["hash"] = Value::String(b64::encode(&m.hash()));
        let o = j.as_object_mut().unwrap();
        match tag {
            Some(t) => o.insert("verified".into(), Value::String(b64::encode(&t))),
            None => o.remove("verified"),
        };
        if !copy {
            o.remove("unlock");
        }
        Seen::from_json(&j.to_string()).unwrap()
    }

    fn edit(m: &Manifest, f: impl FnOnce(&mut Value)) -> Manifest {
        let mut v: Value = serde_json::from_str(&m.to_json()).unwrap();
        f(&mut v);
        Manifest::from_json(&v.to_string()).unwrap()
    }

    /// The manifest with one bit of its signature flipped: the same signed
    /// bytes (so the same hash, which the seen state compares), a
    /// signature that does not verify.
    fn bad_signature(m: &Manifest) -> Manifest {
        let bad = edit(m, |v| {
            let mut sig = b64::decode(v["signature"].as_str().unwrap().as_bytes()).unwrap();
            sig[10] ^= 1;
            v["signature"] = Value::String(b64::encode(&sig));
        });
        assert_eq!(bad.hash(), m.hash());
        bad
    }

    /// A tag stands for the signature checks only when it is the one the
    /// unlocking entry's seed makes for these very bytes.
    #[test]
    fn the_tag_stands_for_the_signature_checks() {
        let v = vault(b"verified-tag");
        let u = v.unlocked_by.as_ref().unwrap();
        let good = v.manifest().clone();
        let bad = bad_signature(&good);
        let tag = |m: &Manifest| verified_tag(&u.seed, &u.entry_id, m).unwrap();
        assert!(unlock(&bad, &seen_for(&v, &bad, Some(tag(&bad)), false)).is_ok());
        let other_entry = verified_tag(&u.seed, "another-entry", &bad).unwrap();
        for t in [None, Some(tag(&good)), Some([0; 32]), Some(other_entry)] {
            assert!(matches!(
                unlock(&bad, &seen_for(&v, &bad, t, false)),
                Err(Error::ManifestInvalid)
            ));
        }
        assert!(unlock(&good, &seen_for(&v, &good, Some(tag(&good)), false)).is_ok());
    }

    /// The attack the review found on the first design, where the tag was
    /// keyed from the vault key. A server seals a vault key of its own (K')
    /// to the passkey's entry (HPKE base mode needs only the entry's public
    /// key) and keeps the real identity public key, pinned by the device,
    /// with its own private key wrapped under K'. Someone who can also write
    /// the device's storage plants a seen state naming this manifest, with
    /// the best tag they can make: one keyed from K'. The signature checks
    /// must run, and catch it (the identity key is not the one named).
    #[test]
    fn a_server_chosen_vault_key_cannot_make_a_tag() {
        let v = vault(b"server-chosen-key");
        let good = v.manifest().clone();
        let vault_id = good.vault_id.0.clone();
        let real_pk = good.identity_key.public_key.0.clone();
        let k2 = [0x42u8; 32];
        let entry = good.passkey_entry(CRED).unwrap();
        let sealed = crate::entry_key::seal(
            &mut crate::rng::Rng::Os,
            entry.public_key().unwrap(),
            &k2,
            &UnlockEntry::hpke_info(&vault_id, good.epoch()),
            &entry.hpke_aad(&vault_id),
        )
        .unwrap();
        let wrap_identity = crate::kdf::subkey(&k2, crate::kdf::label::WRAP_IDENTITY);
        let mine = crate::aead::wrap_key(
            &mut crate::rng::Rng::Os,
            wrap_identity.expose(),
            &[0x11; 32],
            &identity_aad(&vault_id, &real_pk),
        )
        .unwrap();
        let entry_id = entry.id().to_string();
        let forged = edit(&good, |j| {
            for e in j["unlock"].as_array_mut().unwrap() {
                if e["id"] == Value::String(entry_id.clone()) {
                    e["wrappedVaultKey"] = Value::String(b64::encode(&sealed));
                }
            }
            j["identityKey"]["wrappedPrivateKey"] = Value::String(b64::encode(&mine));
        });
        // The best tag without the passkey: the first design's, from K'.
        let k2_tag = {
            use hmac::{Hmac, KeyInit, Mac};
            let key = crate::kdf::subkey(&k2, crate::kdf::label::SEEN_VERIFIED);
            let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.expose()).unwrap();
            let mut buf = Vec::new();
            crate::kdf::put_lp(&mut buf, &forged.signed_bytes());
            crate::kdf::put_lp(&mut buf, &forged.signature.0);
            mac.update(&buf);
            <[u8; 32]>::from(mac.finalize().into_bytes())
        };
        for copy in [false, true] {
            assert!(matches!(
                unlock(&forged, &seen_for(&v, &forged, Some(k2_tag), copy)),
                Err(Error::ManifestInvalid)
            ));
        }
        // What guards it is the tag: the passkey holder's own tag of these
        // bytes would skip the checks (the forged vault opens).
        let u = v.unlocked_by.as_ref().unwrap();
        let tag = verified_tag(&u.seed, &u.entry_id, &forged).unwrap();
        let opened = unlock(&forged, &seen_for(&v, &forged, Some(tag), false)).unwrap();
        assert_eq!(super::deterministic::vault_key(&opened), k2);
    }

    /// What the device copy is for: an unlock through it needs neither the
    /// manifest's HPKE-sealed key nor (with the tag) the signature checks.
    /// Here the entry's sealed key is broken, so only the copy can unlock.
    #[test]
    fn the_device_copy_stands_for_the_entrys_sealed_key() {
        let v = vault(b"device-copy");
        let u = v.unlocked_by.as_ref().unwrap();
        let broken = edit(v.manifest(), |j| {
            for e in j["unlock"].as_array_mut().unwrap() {
                if e["credentialId"].is_string() {
                    let mut w =
                        b64::decode(e["wrappedVaultKey"].as_str().unwrap().as_bytes()).unwrap();
                    let last = w.len() - 1;
                    w[last] ^= 1;
                    e["wrappedVaultKey"] = Value::String(b64::encode(&w));
                }
            }
        });
        let tag = verified_tag(&u.seed, &u.entry_id, &broken);
        assert!(unlock(&broken, &seen_for(&v, &broken, tag, true)).is_ok());
        assert!(matches!(
            unlock(&broken, &seen_for(&v, &broken, tag, false)),
            Err(Error::UnlockFailed)
        ));
        // A floor above the manifest is StaleManifest, copy or not.
        for copy in [true, false] {
            let r = Vault::unlock_with_prf_seen(
                &broken,
                CRED,
                PrfOutput::new(&[9; 32]).unwrap(),
                broken.revision() + 1,
                Some(&seen_for(&v, &broken, tag, copy)),
            );
            assert!(matches!(r, Err(Error::StaleManifest { .. })));
        }
    }
}
