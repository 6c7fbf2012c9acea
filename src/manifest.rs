//! The vault manifest, v1: everything a device needs to unlock a vault, as
//! JSON, signed by the vault's identity key (docs/FORMAT.md "Vault manifest").
//! Everything in it is public: a server stores it and may read it, but cannot
//! change, drop, reorder or roll back anything in it unnoticed.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::aead::WRAPPED_KEY_LEN;
use crate::error::{Error, Result};
use crate::identity::{PUBLIC_KEY_LEN, SIGNATURE_LEN};
use crate::kdf::{label, put_lp};

/// Value of the `medseal` field.
pub(crate) const KIND: &str = "vault-manifest";
/// The only manifest version written today.
pub(crate) const VERSION: u64 = 1;
/// Length of a vault id.
pub const VAULT_ID_LEN: usize = 16;
/// Length of a PRF salt.
pub const PRF_SALT_LEN: usize = 32;
/// Largest manifest JSON accepted.
pub const MAX_JSON_LEN: usize = 256 << 10;
/// Most unlock entries in one vault.
pub const MAX_ENTRIES: usize = 64;
/// Largest WebAuthn credential id (the spec's limit).
pub const MAX_CREDENTIAL_ID_LEN: usize = 1023;
/// Longest passkey label, in bytes.
pub const MAX_LABEL_LEN: usize = 256;
/// Longest entry id, in bytes.
pub(crate) const MAX_ENTRY_ID_LEN: usize = 64;

/// Bytes carried as unpadded base64url in JSON.
#[derive(Clone, PartialEq, Eq, Default)]
pub(crate) struct B64(pub(crate) Vec<u8>);

impl core::fmt::Debug for B64 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&crate::b64::encode(&self.0))
    }
}

impl Serialize for B64 {
    fn serialize<S: Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        s.serialize_str(&crate::b64::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for B64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        // Owned, so that deserializers without borrowed strings (serde-wasm-bindgen) work.
        let s = String::deserialize(d)?;
        crate::b64::decode(s.as_bytes())
            .map(B64)
            .ok_or_else(|| serde::de::Error::custom("not base64url"))
    }
}

/// The identity key as stored in the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct IdentityKey {
    /// Compressed SEC1 P-256 public key (33 bytes).
    pub(crate) public_key: B64,
    /// The private scalar wrapped by the vault key (60 bytes).
    pub(crate) wrapped_private_key: B64,
}

/// One way to unlock the vault.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    try_from = "RawEntry"
)]
pub(crate) enum UnlockEntry {
    /// A passkey with the PRF extension.
    Passkey {
        /// Entry id, unique in the manifest.
        id: String,
        /// WebAuthn credential id.
        credential_id: B64,
        /// The salt whose PRF output derives this entry's KEK (32 bytes).
        prf_salt: B64,
        /// The vault key wrapped by this entry's KEK (60 bytes).
        wrapped_vault_key: B64,
        /// A name the user gave the passkey, shown when asking which one to use.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
    /// The recovery code.
    Recovery {
        /// Entry id, unique in the manifest.
        id: String,
        /// The vault key wrapped by the recovery KEK (60 bytes).
        wrapped_vault_key: B64,
    },
}

/// An unlock entry as it appears in JSON, before its `type` is checked.
/// Parsing through this flat struct (instead of serde's internally tagged
/// enum, which buffers every entry into a generic tree first) keeps the
/// wasm module smaller; the rules are the same: the fields of exactly one
/// variant, nothing else.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawEntry {
    r#type: String,
    id: String,
    /// Absent for a recovery entry; never `null` (that is not bytes).
    #[serde(default, deserialize_with = "present")]
    credential_id: Option<B64>,
    #[serde(default, deserialize_with = "present")]
    prf_salt: Option<B64>,
    wrapped_vault_key: B64,
    /// Present (even as `null`) or absent: a recovery entry may not have it.
    #[serde(default, deserialize_with = "present")]
    label: Option<Option<String>>,
}

fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> core::result::Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

impl TryFrom<RawEntry> for UnlockEntry {
    type Error = &'static str;

    fn try_from(r: RawEntry) -> core::result::Result<Self, Self::Error> {
        match (r.r#type.as_str(), r.credential_id, r.prf_salt, r.label) {
            ("passkey", Some(credential_id), Some(prf_salt), label) => Ok(UnlockEntry::Passkey {
                id: r.id,
                credential_id,
                prf_salt,
                wrapped_vault_key: r.wrapped_vault_key,
                label: label.flatten(),
            }),
            ("recovery", None, None, None) => Ok(UnlockEntry::Recovery {
                id: r.id,
                wrapped_vault_key: r.wrapped_vault_key,
            }),
            _ => Err("an unlock entry must have exactly the fields of its type"),
        }
    }
}

impl UnlockEntry {
    /// The entry's id.
    pub(crate) fn id(&self) -> &str {
        match self {
            UnlockEntry::Passkey { id, .. } | UnlockEntry::Recovery { id, .. } => id,
        }
    }

    /// The wrapped vault key.
    pub(crate) fn wrapped_vault_key(&self) -> &[u8] {
        match self {
            UnlockEntry::Passkey {
                wrapped_vault_key, ..
            }
            | UnlockEntry::Recovery {
                wrapped_vault_key, ..
            } => &wrapped_vault_key.0,
        }
    }

    /// The associated data its wrapped vault key is bound to.
    pub(crate) fn wrap_aad(&self, vault_id: &[u8]) -> Vec<u8> {
        let mut aad = label::AAD_VAULT_KEY.to_vec();
        match self {
            UnlockEntry::Passkey {
                id,
                credential_id,
                prf_salt,
                ..
            } => {
                aad.push(1);
                put_lp(&mut aad, vault_id);
                put_lp(&mut aad, id.as_bytes());
                put_lp(&mut aad, &credential_id.0);
                put_lp(&mut aad, &prf_salt.0);
            }
            UnlockEntry::Recovery { id, .. } => {
                aad.push(2);
                put_lp(&mut aad, vault_id);
                put_lp(&mut aad, id.as_bytes());
            }
        }
        aad
    }
}

/// The vault manifest, v1.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    /// Always `"vault-manifest"`.
    pub(crate) medseal: String,
    /// Format version (1).
    pub(crate) version: u64,
    /// Random vault id (16 bytes).
    pub(crate) vault_id: B64,
    /// Incremented by every change; a client refuses one older than it saw.
    pub(crate) revision: u64,
    /// The vault's identity key.
    pub(crate) identity_key: IdentityKey,
    /// The unlock entries: at least one passkey and exactly one recovery entry.
    pub(crate) unlock: Vec<UnlockEntry>,
    /// ECDSA P-256 signature (`r || s`) over [`Manifest::signed_bytes`].
    pub(crate) signature: B64,
}

/// A passkey entry of a manifest, as [`Manifest::passkeys`] lists it: what a
/// client needs to ask for the passkey (WebAuthn `get()` with the PRF
/// extension) and to show it to the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PasskeyInfo<'a> {
    /// The entry's id in the manifest (what `Vault::remove_unlock` takes).
    pub entry_id: &'a str,
    /// The WebAuthn credential id (raw bytes).
    pub credential_id: &'a [u8],
    /// The entry's PRF salt (32 bytes); the passkey is asked for the PRF of
    /// [`crate::prf_input`] of it.
    pub prf_salt: &'a [u8],
    /// The name the user gave the passkey, if any.
    pub label: Option<&'a str>,
}

/// The two fields read before anything else, so that a newer manifest gives
/// `UnknownVersion` rather than a shape error. Other fields are ignored here.
#[derive(Debug, Default, Deserialize)]
struct ManifestProbe {
    /// Must be `"vault-manifest"`.
    #[serde(default)]
    medseal: Option<String>,
    /// Format version.
    #[serde(default)]
    version: Option<u64>,
}

impl ManifestProbe {
    /// Checks kind and version.
    fn check(&self) -> Result<()> {
        if self.medseal.as_deref() != Some(KIND) {
            return Err(Error::Malformed("not a medseal vault manifest"));
        }
        match self.version {
            Some(VERSION) => Ok(()),
            Some(v) => Err(Error::UnknownVersion {
                what: "vault manifest",
                version: v,
            }),
            None => Err(Error::Malformed("manifest version is missing")),
        }
    }
}

impl Manifest {
    /// Parses manifest JSON. Checks the kind and version first, so a newer
    /// manifest gives `UnknownVersion`, then the shape of v1 (`Malformed`).
    /// The signature is checked when the manifest is opened with a key.
    pub fn from_json(json: &str) -> Result<Manifest> {
        if json.len() > MAX_JSON_LEN {
            return Err(Error::TooLarge);
        }
        let probe: ManifestProbe = serde_json::from_str(json).map_err(|_| {
            Error::Malformed(
                "not a medseal vault manifest (a JSON object with medseal and version)",
            )
        })?;
        probe.check()?;
        let m: Manifest = serde_json::from_str(json)
            .map_err(|_| Error::Malformed("manifest does not have the fields of version 1"))?;
        m.check_structure()?;
        Ok(m)
    }

    /// Serializes to JSON (field order fixed by the struct).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The vault id (16 bytes), the same in every revision of a vault.
    pub fn vault_id(&self) -> &[u8] {
        &self.vault_id.0
    }

    /// The revision: 1 for a new vault, incremented by every change.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// The vault's identity public key (compressed SEC1 P-256, 33 bytes): the
    /// key that signs the manifest and login proofs, the same in every
    /// revision of a vault.
    pub fn identity_public_key(&self) -> &[u8] {
        &self.identity_key.public_key.0
    }

    /// Checks that this manifest may replace `previous`, the one a server
    /// stores for the vault: same vault id, same identity key (public key and
    /// wrapped private key), a valid self-signature (see
    /// [`Manifest::verify_self_signature`]) and a higher revision. A server
    /// cannot check that a manifest was written by a client that holds the
    /// vault, but this refuses every write such a client could not have made
    /// (another vault's or identity's manifest, an edit without re-signing, a
    /// rollback).
    ///
    /// Errors: `ManifestInvalid` for another vault or identity key, a broken
    /// structure or a bad signature; `StaleManifest { seen, offered }` (the
    /// revisions of `previous` and of this one) for a validly signed manifest
    /// that is not newer. `previous` itself is trusted, not checked.
    pub fn check_update(&self, previous: &Manifest) -> Result<()> {
        self.check_structure()?;
        if self.vault_id != previous.vault_id || self.identity_key != previous.identity_key {
            return Err(Error::ManifestInvalid);
        }
        self.verify_self_signature()?;
        if self.revision <= previous.revision {
            return Err(Error::StaleManifest {
                seen: previous.revision,
                offered: self.revision,
            });
        }
        Ok(())
    }

    /// The rules of v1 beyond JSON shape. A manifest that breaks them was not
    /// written by medseal: `ManifestInvalid`.
    pub(crate) fn check_structure(&self) -> Result<()> {
        let ok = self.medseal == KIND
            && self.version == VERSION
            && self.vault_id.0.len() == VAULT_ID_LEN
            && self.identity_key.public_key.0.len() == PUBLIC_KEY_LEN
            && self.identity_key.wrapped_private_key.0.len() == WRAPPED_KEY_LEN
            && self.signature.0.len() == SIGNATURE_LEN
            && self.unlock.len() <= MAX_ENTRIES;
        if !ok {
            return Err(Error::ManifestInvalid);
        }
        let mut recovery = 0usize;
        let mut passkeys = 0usize;
        for (i, e) in self.unlock.iter().enumerate() {
            if e.id().is_empty()
                || e.id().len() > MAX_ENTRY_ID_LEN
                || e.wrapped_vault_key().len() != WRAPPED_KEY_LEN
            {
                return Err(Error::ManifestInvalid);
            }
            if self.unlock.iter().skip(i + 1).any(|o| o.id() == e.id()) {
                return Err(Error::ManifestInvalid);
            }
            match e {
                UnlockEntry::Passkey {
                    credential_id,
                    prf_salt,
                    label,
                    ..
                } => {
                    passkeys += 1;
                    if credential_id.0.is_empty()
                        || credential_id.0.len() > MAX_CREDENTIAL_ID_LEN
                        || prf_salt.0.len() != PRF_SALT_LEN
                        || label.as_ref().is_some_and(|l| l.len() > MAX_LABEL_LEN)
                    {
                        return Err(Error::ManifestInvalid);
                    }
                    let dup = self.unlock.iter().skip(i + 1).any(|o| {
                        matches!(o, UnlockEntry::Passkey { credential_id: c, .. } if c == credential_id)
                    });
                    if dup {
                        return Err(Error::ManifestInvalid);
                    }
                }
                UnlockEntry::Recovery { .. } => recovery += 1,
            }
        }
        if recovery != 1 || passkeys == 0 {
            return Err(Error::ManifestInvalid);
        }
        Ok(())
    }

    /// The canonical bytes the signature covers (docs/FORMAT.md):
    /// `lp(label) || u64(version) || lp(vault id) || u64(revision) ||
    /// lp(public key) || lp(wrapped private key) || u32(entries) || entries`.
    /// Tests reach it through `vault::deterministic::manifest_signed_bytes`
    /// (feature `deterministic-rng`), to forge signatures.
    pub(crate) fn signed_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256 + self.unlock.len() * 200);
        put_lp(&mut out, label::MANIFEST_SIGNATURE);
        out.extend_from_slice(&self.version.to_be_bytes());
        put_lp(&mut out, &self.vault_id.0);
        out.extend_from_slice(&self.revision.to_be_bytes());
        put_lp(&mut out, &self.identity_key.public_key.0);
        put_lp(&mut out, &self.identity_key.wrapped_private_key.0);
        let n = u32::try_from(self.unlock.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&n.to_be_bytes());
        for e in &self.unlock {
            match e {
                UnlockEntry::Passkey {
                    id,
                    credential_id,
                    prf_salt,
                    wrapped_vault_key,
                    label,
                } => {
                    out.push(1);
                    for part in [
                        id.as_bytes(),
                        &credential_id.0,
                        &prf_salt.0,
                        &wrapped_vault_key.0,
                    ] {
                        put_lp(&mut out, part);
                    }
                    match label {
                        Some(l) => {
                            out.push(1);
                            put_lp(&mut out, l.as_bytes());
                        }
                        None => out.push(0),
                    }
                }
                UnlockEntry::Recovery {
                    id,
                    wrapped_vault_key,
                } => {
                    out.push(2);
                    for part in [id.as_bytes(), &wrapped_vault_key.0] {
                        put_lp(&mut out, part);
                    }
                }
            }
        }
        out
    }

    /// Checks that the manifest is signed by the identity key it names. This
    /// alone does not prove the manifest belongs to the vault (anyone can sign
    /// with a key of their own): clients check the identity key against the
    /// vault key on unlock. A server that stores manifests can use it, together
    /// with "the identity key did not change", to refuse writes that a client
    /// holding the vault could not have made.
    pub fn verify_self_signature(&self) -> Result<()> {
        self.check_structure()?;
        crate::identity::verify(
            &self.identity_key.public_key.0,
            &self.signed_bytes(),
            &self.signature.0,
        )
    }

    /// Checks a login proof (see `Vault::sign_login_proof`): a signature by
    /// this manifest's identity key over the server's `challenge` and its
    /// `audience` (origin). For servers; the manifest's own signature is
    /// checked too, so a proof verifies only against a manifest the vault signed.
    pub fn verify_login_proof(
        &self,
        challenge: &[u8],
        audience: &str,
        signature: &[u8],
    ) -> Result<()> {
        self.verify_self_signature()?;
        crate::identity::verify(
            &self.identity_key.public_key.0,
            &crate::identity::login_proof_message(challenge, audience),
            signature,
        )
        .map_err(|_| crate::Error::UnlockFailed)
    }

    /// The passkey entry for a credential id.
    pub(crate) fn passkey_entry(&self, credential_id: &[u8]) -> Option<&UnlockEntry> {
        self.unlock.iter().find(
            |e| matches!(e, UnlockEntry::Passkey { credential_id: c, .. } if c.0 == credential_id),
        )
    }

    /// The recovery entry.
    pub(crate) fn recovery_entry(&self) -> Option<&UnlockEntry> {
        self.unlock
            .iter()
            .find(|e| matches!(e, UnlockEntry::Recovery { .. }))
    }

    /// The id of the recovery entry (what `Vault::remove_unlock` refuses; a
    /// manifest from [`Manifest::from_json`] always has one).
    pub fn recovery_entry_id(&self) -> Option<&str> {
        self.recovery_entry().map(UnlockEntry::id)
    }

    /// Every passkey entry, in manifest order: what a client needs to build
    /// the WebAuthn `get()` request and to let the user pick a passkey.
    pub fn passkeys(&self) -> impl Iterator<Item = PasskeyInfo<'_>> {
        self.unlock.iter().filter_map(|e| match e {
            UnlockEntry::Passkey {
                id,
                credential_id,
                prf_salt,
                label,
                ..
            } => Some(PasskeyInfo {
                entry_id: id,
                credential_id: &credential_id.0,
                prf_salt: &prf_salt.0,
                label: label.as_deref(),
            }),
            UnlockEntry::Recovery { .. } => None,
        })
    }
}
