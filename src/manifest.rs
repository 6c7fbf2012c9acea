//! The vault manifest (v2 written, v1 read): everything a device needs to unlock a vault, as
//! JSON, signed by the vault's identity key (docs/FORMAT.md "Vault manifest").
//! Everything in it is public: a server stores it and may read it, but cannot
//! change, drop, reorder or roll back anything in it unnoticed.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use sha2::{Digest, Sha256};

use crate::aead::WRAPPED_KEY_LEN;
use crate::entry_key;
use crate::error::{Error, Result};
use crate::identity::{PUBLIC_KEY_LEN, SIGNATURE_LEN};
use crate::kdf::{label, put_lp};

/// Value of the `medseal` field.
pub(crate) const KIND: &str = "vault-manifest";
/// Version 1: one vault key for the vault's life. Read, never written.
pub(crate) const VERSION_1: u64 = 1;
/// Version 2: key epochs, identity hand-overs, a parent hash. Read, never
/// written.
pub(crate) const VERSION_2: u64 = 2;
/// Version 3: version 2 plus a share key and the list of active grants and
/// links (sharing). The only version written.
pub(crate) const VERSION: u64 = 3;
/// Most active grants and links in one vault.
pub const MAX_SHARES: usize = 256;
/// Longest grant scope label, in bytes.
pub const MAX_SCOPE_LEN: usize = 128;
/// Length of a grant or link id.
pub const SHARE_ID_LEN: usize = 16;
/// Highest revision: 2^53 - 1, so that a revision is exact as a JavaScript
/// number and as an SQL integer, and `revision + 1` never overflows.
pub const MAX_REVISION: u64 = (1 << 53) - 1;
/// Most key epochs in a vault's life (each is about 200 bytes of manifest).
pub const MAX_EPOCHS: u32 = 256;
/// Length of a manifest hash (SHA-256).
pub const HASH_LEN: usize = 32;
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

/// An older key epoch: its identity public key, the signature by which that
/// key handed over to the next epoch's, and (until retired) its vault key
/// wrapped by the current vault key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct EpochEntry {
    /// The epoch number (1 for the vault's first keys).
    pub(crate) epoch: u32,
    /// That epoch's identity public key (compressed SEC1, 33 bytes).
    pub(crate) public_key: B64,
    /// ECDSA signature by `public_key` over the next epoch's key (64 bytes).
    pub(crate) handover: B64,
    /// That epoch's vault key, wrapped by the current one (60 bytes); absent
    /// once the epoch is retired.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) wrapped_vault_key: Option<B64>,
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
        /// v2: the entry's HPKE public key (65 bytes), derived from its KEK.
        /// Absent in a v1 entry carried over unchanged.
        #[serde(skip_serializing_if = "Option::is_none")]
        public_key: Option<B64>,
        /// The vault key: sealed to `public_key` with HPKE (113 bytes), or
        /// (v1 entry) wrapped by the KEK (60 bytes).
        wrapped_vault_key: B64,
        /// A name the user gave the passkey, shown when asking which one to use.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
    /// The recovery code.
    Recovery {
        /// Entry id, unique in the manifest.
        id: String,
        /// v2: the entry's HPKE public key (65 bytes).
        #[serde(skip_serializing_if = "Option::is_none")]
        public_key: Option<B64>,
        /// v2: the public key (compressed SEC1, 33 bytes) that checks a
        /// recovery login: only the current code's holder can sign for it.
        #[serde(skip_serializing_if = "Option::is_none")]
        login_key: Option<B64>,
        /// The vault key, as for a passkey entry.
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
    #[serde(default, deserialize_with = "present")]
    public_key: Option<B64>,
    #[serde(default, deserialize_with = "present")]
    login_key: Option<B64>,
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
        match (
            r.r#type.as_str(),
            r.credential_id,
            r.prf_salt,
            r.label,
            r.login_key,
        ) {
            ("passkey", Some(credential_id), Some(prf_salt), label, None) => {
                Ok(UnlockEntry::Passkey {
                    id: r.id,
                    credential_id,
                    prf_salt,
                    public_key: r.public_key,
                    wrapped_vault_key: r.wrapped_vault_key,
                    label: label.flatten(),
                })
            }
            ("recovery", None, None, None, login_key) => Ok(UnlockEntry::Recovery {
                id: r.id,
                public_key: r.public_key,
                login_key,
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

    /// The entry's HPKE public key (v2), or `None` for a v1 entry.
    pub(crate) fn public_key(&self) -> Option<&[u8]> {
        match self {
            UnlockEntry::Passkey { public_key, .. } | UnlockEntry::Recovery { public_key, .. } => {
                public_key.as_ref().map(|k| k.0.as_slice())
            }
        }
    }

    /// Replaces the wrapped vault key.
    pub(crate) fn set_wrapped_vault_key(&mut self, wrapped: Vec<u8>) {
        match self {
            UnlockEntry::Passkey {
                wrapped_vault_key, ..
            }
            | UnlockEntry::Recovery {
                wrapped_vault_key, ..
            } => *wrapped_vault_key = B64(wrapped),
        }
    }

    /// HPKE `info` of a v2 entry's sealed vault key: bound to the vault and
    /// the epoch, so a sealed key of one epoch is never read as another's.
    pub(crate) fn hpke_info(vault_id: &[u8], epoch: u32) -> Vec<u8> {
        let mut info = label::HPKE_VAULT_KEY.to_vec();
        put_lp(&mut info, vault_id);
        info.extend_from_slice(&epoch.to_be_bytes());
        info
    }

    /// HPKE associated data of a v2 entry's sealed vault key: everything
    /// that says whose it is (type, vault, id, credential and salt, keys).
    pub(crate) fn hpke_aad(&self, vault_id: &[u8]) -> Vec<u8> {
        let mut aad = label::AAD_VAULT_KEY_V2.to_vec();
        let empty: &[u8] = &[];
        match self {
            UnlockEntry::Passkey {
                id,
                credential_id,
                prf_salt,
                public_key,
                ..
            } => {
                aad.push(1);
                put_lp(&mut aad, vault_id);
                put_lp(&mut aad, id.as_bytes());
                put_lp(&mut aad, &credential_id.0);
                put_lp(&mut aad, &prf_salt.0);
                put_lp(&mut aad, public_key.as_ref().map_or(empty, |k| &k.0));
            }
            UnlockEntry::Recovery {
                id,
                public_key,
                login_key,
                ..
            } => {
                aad.push(2);
                put_lp(&mut aad, vault_id);
                put_lp(&mut aad, id.as_bytes());
                put_lp(&mut aad, public_key.as_ref().map_or(empty, |k| &k.0));
                put_lp(&mut aad, login_key.as_ref().map_or(empty, |k| &k.0));
            }
        }
        aad
    }

    /// The associated data a v1 entry's wrapped vault key is bound to.
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

/// What a share entry stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ShareKind {
    /// A grant to another vault's share key.
    Grant,
    /// A SMART Health Link.
    Link,
}

impl ShareKind {
    pub(crate) fn byte(self) -> u8 {
        match self {
            ShareKind::Grant => 1,
            ShareKind::Link => 2,
        }
    }
}

/// An active grant or link (v3): what the owner's devices need to keep it
/// going (its key, to give records added to its scope a slot) and to list
/// and revoke it. Revoking removes the entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ShareEntry {
    /// The grant or link id (16 bytes).
    pub(crate) id: B64,
    /// Grant or link.
    pub(crate) kind: ShareKind,
    /// The scope label of a grant that follows its scope (records added to
    /// the scope later reach the grantee); absent for a fixed set of records.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) scope: Option<String>,
    /// End of validity, seconds since the Unix epoch.
    pub(crate) expires: u64,
    /// The grant's (or link's) digest: binds the entry to the signed document
    /// the grantee holds, grantee and scope included.
    pub(crate) digest: B64,
    /// The grant or link key wrapped by the current vault key (60 bytes).
    pub(crate) key: B64,
}

/// The vault manifest: version 3 is written, versions 1 and 2 read
/// (FORMAT.md §7, §14, §15).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    /// Always `"vault-manifest"`.
    pub(crate) medseal: String,
    /// Format version (2; 1 for a manifest written before key epochs).
    pub(crate) version: u64,
    /// Random vault id (16 bytes).
    pub(crate) vault_id: B64,
    /// Incremented by every change; a client refuses one older than it saw.
    pub(crate) revision: u64,
    /// v2: the hash ([`Manifest::hash`]) of the manifest this one replaces;
    /// absent at revision 1.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) parent: Option<B64>,
    /// v2: the current key epoch (1 for the vault's first keys).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) epoch: Option<u32>,
    /// The current epoch's identity key.
    pub(crate) identity_key: IdentityKey,
    /// v2: every older epoch, oldest first (epochs 1 to `epoch - 1`).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) epochs: Option<Vec<EpochEntry>>,
    /// The unlock entries: at least one passkey and exactly one recovery entry.
    pub(crate) unlock: Vec<UnlockEntry>,
    /// v3: the current epoch's share key (HPKE P-256 public key, 65 bytes):
    /// grants to this vault are sealed to it.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) share_key: Option<B64>,
    /// v3: the active grants and links this vault made.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) shares: Option<Vec<ShareEntry>>,
    /// ECDSA P-256 signature (`r || s`) over [`Manifest::signed_bytes`].
    pub(crate) signature: B64,
}

/// An active grant or link, as a manifest lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShareInfo<'a> {
    /// Its id (16 bytes).
    pub id: &'a [u8],
    /// A SMART Health Link (else a grant to a vault).
    pub link: bool,
    /// The scope label of a grant that follows its scope.
    pub scope: Option<&'a str>,
    /// End of validity, seconds since the Unix epoch.
    pub expires: u64,
    /// The digest of the signed grant (or link) it stands for.
    pub digest: &'a [u8],
}

/// What a device remembers of a manifest to judge the next one it is shown
/// ([`Manifest::check_follows`]): its revision and hash, and the epoch and
/// identity key that must sign (or hand over to the signer of) its successor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// The manifest's revision.
    pub revision: u64,
    /// [`Manifest::hash`].
    pub hash: [u8; HASH_LEN],
    /// Its key epoch.
    pub epoch: u32,
    /// Its identity public key (compressed SEC1, 33 bytes).
    pub identity: Vec<u8>,
}

fn len32(n: usize) -> [u8; 4] {
    u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes()
}

/// What an epoch's identity key signs to hand over to the next epoch's:
/// `lp("medseal/v2/identity/handover") || lp(vault_id) || u32be(next epoch)
/// || lp(next public key)`.
pub(crate) fn handover_message(vault_id: &[u8], next_epoch: u32, next_key: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(100);
    put_lp(&mut m, label::IDENTITY_HANDOVER);
    put_lp(&mut m, vault_id);
    m.extend_from_slice(&next_epoch.to_be_bytes());
    put_lp(&mut m, next_key);
    m
}

/// What a recovery login signs: `lp("medseal/v2/recovery/login") ||
/// lp(vault_id) || lp(entry id) || lp(challenge) || lp(audience)`.
pub(crate) fn recovery_login_message(
    vault_id: &[u8],
    entry_id: &str,
    challenge: &[u8],
    audience: &str,
) -> Vec<u8> {
    let mut m = Vec::with_capacity(100 + challenge.len() + audience.len());
    put_lp(&mut m, label::RECOVERY_LOGIN);
    put_lp(&mut m, vault_id);
    put_lp(&mut m, entry_id.as_bytes());
    put_lp(&mut m, challenge);
    put_lp(&mut m, audience.as_bytes());
    m
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

/// A pass over manifest JSON that only checks that the manifest (and, for
/// `Want::Manifest`, its `identityKey` and each item of `unlock` and
/// `epochs`) are JSON objects, not arrays; every other value is skipped.
fn shape(json: &str, want: Want) -> serde_json::Result<()> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_str(json);
    ShapeVisitor(want).deserialize(&mut de)?;
    de.end()
}

/// What one level of the shape check expects.
#[derive(Clone, Copy)]
enum Want {
    Object,
    /// The manifest itself: objects and arrays of objects under known keys.
    Manifest,
    ArrayOfObjects,
}

struct ShapeVisitor(Want);

impl<'de> serde::de::DeserializeSeed<'de> for ShapeVisitor {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> core::result::Result<(), D::Error> {
        match self.0 {
            Want::ArrayOfObjects => d.deserialize_seq(self),
            Want::Object | Want::Manifest => d.deserialize_map(self),
        }
    }
}

impl<'de> serde::de::Visitor<'de> for ShapeVisitor {
    type Value = ();
    fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> core::result::Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match (self.0, key.as_ref()) {
                (Want::Manifest, "identityKey") => {
                    map.next_value_seed(ShapeVisitor(Want::Object))?
                }
                (Want::Manifest, "unlock" | "epochs" | "shares") => {
                    map.next_value_seed(ShapeVisitor(Want::ArrayOfObjects))?
                }
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> core::result::Result<(), A::Error> {
        while seq.next_element_seed(ShapeVisitor(Want::Object))?.is_some() {}
        Ok(())
    }
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
            Some(VERSION_1 | VERSION_2 | VERSION) => Ok(()),
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
        // A JSON array is no manifest (serde would read the probe from one).
        shape(json, Want::Object).map_err(|_| {
            Error::Malformed(
                "not a medseal vault manifest (a JSON object with medseal and version)",
            )
        })?;
        let probe: ManifestProbe = serde_json::from_str(json).map_err(|_| {
            Error::Malformed(
                "not a medseal vault manifest (a JSON object with medseal and version)",
            )
        })?;
        probe.check()?;
        // serde's derived structs also read a JSON array of the values in
        // field order: a second encoding of one manifest. Objects only.
        shape(json, Want::Manifest)
            .map_err(|_| Error::Malformed("manifest objects must be JSON objects"))?;
        let m: Manifest = serde_json::from_str(json)
            .map_err(|_| Error::Malformed("manifest does not have the fields of its version"))?;
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

    /// The manifest's format version (1, 2 or 3).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The current key epoch: 1 for a vault's first keys, one more after
    /// every re-key.
    pub fn epoch(&self) -> u32 {
        self.epoch.unwrap_or(1)
    }

    /// The hash that names this manifest in its successor's `parent`:
    /// `SHA-256(lp("medseal/v2/manifest/hash") || signed bytes)`. The
    /// signature is not hashed (low-S makes it unique anyway).
    pub fn hash(&self) -> [u8; HASH_LEN] {
        let mut h = Sha256::new();
        let mut prefix = Vec::with_capacity(40);
        put_lp(&mut prefix, label::MANIFEST_HASH);
        h.update(&prefix);
        h.update(self.signed_bytes());
        h.finalize().into()
    }

    /// What a device remembers of this manifest to judge the next one.
    pub fn head(&self) -> Head {
        Head {
            revision: self.revision,
            hash: self.hash(),
            epoch: self.epoch(),
            identity: self.identity_key.public_key.0.clone(),
        }
    }

    /// Checks that this manifest directly follows `head` in the vault's
    /// history: the next revision, naming `head` as its parent, signed by
    /// `head`'s identity key or by a key that `head`'s key handed over to
    /// (through every epoch in between). Errors: `StaleManifest` (older),
    /// `ForkDetected` (same revision with other content, or another parent),
    /// `HistoryIncomplete` (newer but not the next), `ManifestInvalid` (the
    /// identity does not descend from `head`'s, or a signature fails).
    pub fn check_follows(&self, head: &Head) -> Result<()> {
        self.check_structure()?;
        let hash = self.hash();
        if self.revision <= head.revision {
            if self.revision == head.revision && hash != head.hash {
                return Err(Error::ForkDetected {
                    revision: head.revision,
                    seen: head.hash,
                    offered: hash,
                });
            }
            return Err(Error::StaleManifest {
                seen: head.revision,
                offered: self.revision,
            });
        }
        // `head` may come from a device's storage: no arithmetic on it can
        // overflow (a revision of u64::MAX has no successor).
        if head.revision.checked_add(1) != Some(self.revision) {
            return Err(Error::HistoryIncomplete {
                seen: head.revision,
                offered: self.revision,
            });
        }
        let parent = self.parent.as_ref().map(|p| p.0.as_slice());
        if parent != Some(head.hash.as_slice()) {
            let mut offered = [0u8; HASH_LEN];
            if let Some(p) = parent.and_then(|p| p.get(..HASH_LEN)) {
                offered.copy_from_slice(p);
            }
            return Err(Error::ForkDetected {
                revision: head.revision,
                seen: head.hash,
                offered,
            });
        }
        self.check_descends(head.epoch, &head.identity)?;
        // The hand-overs from the pinned epoch on make the current key
        // trusted; its signature then covers the older ones.
        self.verify_signatures_from(head.epoch)
    }

    /// The identity public key of key epoch `epoch` in this manifest's chain
    /// (the current one, or an older epoch's from `epochs`).
    pub fn identity_of_epoch(&self, epoch: u32) -> Option<&[u8]> {
        let current = self.epoch();
        if epoch == current {
            Some(self.identity_key.public_key.0.as_slice())
        } else if epoch < current {
            self.epoch_entries()
                .iter()
                .find(|e| e.epoch == epoch)
                .map(|e| e.public_key.0.as_slice())
        } else {
            None
        }
    }

    /// The active grants and links this vault made, in manifest order.
    pub fn shares(&self) -> impl Iterator<Item = ShareInfo<'_>> {
        self.share_entries().iter().map(|e| ShareInfo {
            id: &e.id.0,
            link: e.kind == ShareKind::Link,
            scope: e.scope.as_deref(),
            expires: e.expires,
            digest: &e.digest.0,
        })
    }

    /// Checks that the identity key of epoch `epoch` was `identity` in this
    /// manifest's chain (the current key if `epoch` is current). The
    /// hand-overs themselves are checked by `verify_self_signature`.
    pub(crate) fn check_descends(&self, epoch: u32, identity: &[u8]) -> Result<()> {
        if self.identity_of_epoch(epoch) != Some(identity) {
            return Err(Error::ManifestInvalid);
        }
        Ok(())
    }

    /// Checks that this manifest may replace `previous`, the one a server
    /// stores for the vault: the same vault, and [`Manifest::check_follows`]
    /// `previous` (next revision, parent hash, identity descending from
    /// `previous`'s, valid signatures); within one epoch, the identity key
    /// (public key and wrapped private key) unchanged. A server cannot check
    /// that a manifest was written by a client that holds the vault, but
    /// this refuses every write such a client could not have made (another
    /// vault's or identity's manifest, an edit without re-signing, a
    /// rollback, a revision jump, a fork).
    ///
    /// Errors: `ManifestInvalid` for another vault or identity key, a broken
    /// structure or a bad signature; `StaleManifest { seen, offered }` for a
    /// validly signed manifest that is not newer; `ForkDetected` and
    /// `HistoryIncomplete` as `check_follows`. `previous` itself is
    /// trusted, not checked.
    pub fn check_update(&self, previous: &Manifest) -> Result<()> {
        self.check_structure()?;
        if self.vault_id != previous.vault_id {
            return Err(Error::ManifestInvalid);
        }
        if self.epoch() == previous.epoch() && self.identity_key != previous.identity_key {
            return Err(Error::ManifestInvalid);
        }
        self.check_follows(&previous.head())
    }

    /// The rules of the format beyond JSON shape. A manifest that breaks
    /// them was not written by medseal: `ManifestInvalid`.
    pub(crate) fn check_structure(&self) -> Result<()> {
        // "v2": the rules of version 2, which version 3 keeps.
        let v2 = self.version == VERSION_2 || self.version == VERSION;
        let ok = self.medseal == KIND
            && (v2 || self.version == VERSION_1)
            && self.vault_id.0.len() == VAULT_ID_LEN
            && self.revision <= MAX_REVISION
            && self.identity_key.public_key.0.len() == PUBLIC_KEY_LEN
            && self.identity_key.wrapped_private_key.0.len() == WRAPPED_KEY_LEN
            && self.signature.0.len() == SIGNATURE_LEN
            && self.unlock.len() <= MAX_ENTRIES;
        if !ok {
            return Err(Error::ManifestInvalid);
        }
        if v2 {
            self.check_structure_v2()?;
            self.check_structure_v3()?;
        } else if self.parent.is_some() || self.epoch.is_some() || self.epochs.is_some() {
            return Err(Error::ManifestInvalid);
        }
        let mut recovery = 0usize;
        let mut passkeys = 0usize;
        for (i, e) in self.unlock.iter().enumerate() {
            if e.id().is_empty() || e.id().len() > MAX_ENTRY_ID_LEN {
                return Err(Error::ManifestInvalid);
            }
            // A v1 entry (no public key, a 60-byte AES-GCM wrap) is allowed in
            // a v2 manifest only in epoch 1: it was carried over from v1 and
            // has not been used since; a re-key needs every entry's public key.
            let wrapped_ok = match e.public_key() {
                Some(pk) => {
                    v2 && e.wrapped_vault_key().len() == entry_key::SEALED_KEY_LEN
                        && entry_key::check_public_key(pk)
                }
                None => e.wrapped_vault_key().len() == WRAPPED_KEY_LEN && self.epoch() == 1,
            };
            if !wrapped_ok {
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
                UnlockEntry::Recovery {
                    public_key,
                    login_key,
                    ..
                } => {
                    recovery += 1;
                    // Both keys or neither (a v1 entry).
                    let login_ok = match (public_key, login_key) {
                        (Some(_), Some(l)) => crate::identity::check_public_key(&l.0),
                        (None, None) => true,
                        _ => false,
                    };
                    if !login_ok {
                        return Err(Error::ManifestInvalid);
                    }
                }
            }
        }
        if recovery != 1 || passkeys == 0 {
            return Err(Error::ManifestInvalid);
        }
        Ok(())
    }

    /// The v2 rules: an epoch in range with every older epoch listed in
    /// order, well-sized keys, and a parent hash exactly when there is a
    /// parent (revision > 1).
    fn check_structure_v2(&self) -> Result<()> {
        let (Some(epoch), Some(epochs)) = (self.epoch, self.epochs.as_ref()) else {
            return Err(Error::ManifestInvalid);
        };
        let parent_ok = match &self.parent {
            Some(p) => self.revision > 1 && p.0.len() == HASH_LEN,
            None => self.revision == 1,
        };
        let epochs_ok = (1..=MAX_EPOCHS).contains(&epoch)
            && usize::try_from(epoch - 1).ok() == Some(epochs.len())
            && epochs.iter().zip(1u32..).all(|(e, n)| {
                e.epoch == n
                    && e.public_key.0.len() == PUBLIC_KEY_LEN
                    && e.handover.0.len() == SIGNATURE_LEN
                    && e.wrapped_vault_key
                        .as_ref()
                        .is_none_or(|w| w.0.len() == WRAPPED_KEY_LEN)
            });
        if !(parent_ok && epochs_ok && self.revision >= 1) {
            return Err(Error::ManifestInvalid);
        }
        Ok(())
    }

    /// The v3 rules: a share key and a share list exactly in version 3,
    /// with well-sized, unique entries.
    fn check_structure_v3(&self) -> Result<()> {
        let ok = match (&self.share_key, &self.shares) {
            (None, None) => self.version != VERSION,
            (Some(k), Some(shares)) => {
                self.version == VERSION
                    && entry_key::check_public_key(&k.0)
                    && shares.len() <= MAX_SHARES
                    && shares.iter().enumerate().all(|(i, e)| {
                        e.id.0.len() == SHARE_ID_LEN
                            && e.digest.0.len() == HASH_LEN
                            && e.key.0.len() == WRAPPED_KEY_LEN
                            && e.expires > 0
                            && e.expires <= MAX_REVISION
                            && e.scope.as_ref().is_none_or(|s| {
                                !s.is_empty()
                                    && s.len() <= MAX_SCOPE_LEN
                                    && e.kind == ShareKind::Grant
                            })
                            && !shares.iter().skip(i + 1).any(|o| o.id == e.id)
                    })
            }
            _ => false,
        };
        if !ok {
            return Err(Error::ManifestInvalid);
        }
        Ok(())
    }

    /// The active grants and links (empty before version 3).
    pub(crate) fn share_entries(&self) -> &[ShareEntry] {
        self.shares.as_deref().unwrap_or(&[])
    }

    /// The current epoch's share key (65-byte HPKE P-256 public key), or
    /// `None` for a manifest written before version 3 (such a vault cannot
    /// receive grants until it commits a change).
    pub fn share_key(&self) -> Option<&[u8]> {
        self.share_key.as_ref().map(|k| k.0.as_slice())
    }

    /// The older epochs (empty for v1).
    pub(crate) fn epoch_entries(&self) -> &[EpochEntry] {
        self.epochs.as_deref().unwrap_or(&[])
    }

    /// The canonical bytes the signature covers (docs/FORMAT.md 7.6 for
    /// v1, 14.4 for v2). Tests reach it through
    /// `vault::deterministic::manifest_signed_bytes` (feature
    /// `deterministic-rng`), to forge signatures.
    pub(crate) fn signed_bytes(&self) -> Vec<u8> {
        let v2 = self.version == VERSION_2 || self.version == VERSION;
        let mut out = Vec::with_capacity(512 + self.unlock.len() * 300);
        put_lp(
            &mut out,
            match self.version {
                VERSION => label::MANIFEST_SIGNATURE_V3,
                VERSION_2 => label::MANIFEST_SIGNATURE_V2,
                _ => label::MANIFEST_SIGNATURE,
            },
        );
        out.extend_from_slice(&self.version.to_be_bytes());
        put_lp(&mut out, &self.vault_id.0);
        out.extend_from_slice(&self.revision.to_be_bytes());
        if v2 {
            put_lp(&mut out, self.parent.as_ref().map_or(&[][..], |p| &p.0));
            out.extend_from_slice(&self.epoch().to_be_bytes());
        }
        put_lp(&mut out, &self.identity_key.public_key.0);
        put_lp(&mut out, &self.identity_key.wrapped_private_key.0);
        if v2 {
            let epochs = self.epoch_entries();
            out.extend_from_slice(&len32(epochs.len()));
            for e in epochs {
                out.extend_from_slice(&e.epoch.to_be_bytes());
                put_lp(&mut out, &e.public_key.0);
                put_lp(&mut out, &e.handover.0);
                put_lp(
                    &mut out,
                    e.wrapped_vault_key.as_ref().map_or(&[][..], |w| &w.0),
                );
            }
        }
        out.extend_from_slice(&len32(self.unlock.len()));
        let opt = |k: &Option<B64>| -> Vec<u8> { k.as_ref().map_or(Vec::new(), |k| k.0.clone()) };
        for e in &self.unlock {
            match e {
                UnlockEntry::Passkey {
                    id,
                    credential_id,
                    prf_salt,
                    public_key,
                    wrapped_vault_key,
                    label,
                } => {
                    out.push(1);
                    put_lp(&mut out, id.as_bytes());
                    put_lp(&mut out, &credential_id.0);
                    put_lp(&mut out, &prf_salt.0);
                    if v2 {
                        put_lp(&mut out, &opt(public_key));
                    }
                    put_lp(&mut out, &wrapped_vault_key.0);
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
                    public_key,
                    login_key,
                    wrapped_vault_key,
                } => {
                    out.push(2);
                    put_lp(&mut out, id.as_bytes());
                    if v2 {
                        put_lp(&mut out, &opt(public_key));
                        put_lp(&mut out, &opt(login_key));
                    }
                    put_lp(&mut out, &wrapped_vault_key.0);
                }
            }
        }
        if self.version == VERSION {
            put_lp(&mut out, &opt(&self.share_key));
            let shares = self.share_entries();
            out.extend_from_slice(&len32(shares.len()));
            for e in shares {
                put_lp(&mut out, &e.id.0);
                out.push(e.kind.byte());
                match &e.scope {
                    Some(s) => {
                        out.push(1);
                        put_lp(&mut out, s.as_bytes());
                    }
                    None => out.push(0),
                }
                out.extend_from_slice(&e.expires.to_be_bytes());
                put_lp(&mut out, &e.digest.0);
                put_lp(&mut out, &e.key.0);
            }
        }
        out
    }

    /// Checks that the manifest is signed by the identity key it names and,
    /// in v2, that every older epoch's identity key handed over to the next
    /// one. This alone does not prove the manifest belongs to the vault
    /// (anyone can sign with a key of their own): clients check the identity
    /// key against the vault key on unlock, and against the one they pinned.
    /// A server that stores manifests uses it in [`Manifest::check_update`].
    /// v2 signatures must be low-S; v1 manifests (written before that rule)
    /// may have either `s`.
    pub fn verify_self_signature(&self) -> Result<()> {
        self.check_structure()?;
        self.verify_signatures_from(1)
    }

    /// The signature, and the hand-overs of epochs `from` and later (older
    /// ones: their encoding only). The structure is the caller's to check.
    pub(crate) fn verify_signatures_from(&self, from: u32) -> Result<()> {
        let public_key = &self.identity_key.public_key.0;
        if self.version == VERSION_1 {
            return crate::identity::verify_legacy(
                public_key,
                &self.signed_bytes(),
                &self.signature.0,
            );
        }
        let epochs = self.epoch_entries();
        for (i, e) in epochs.iter().enumerate() {
            if e.epoch < from {
                // Covered by the trusted signature; only its encoding is
                // checked (low-S), which needs no curve arithmetic.
                crate::identity::check_low_s(&e.handover.0)?;
                continue;
            }
            let next = epochs
                .get(i + 1)
                .map_or(public_key.as_slice(), |n| n.public_key.0.as_slice());
            crate::identity::verify(
                &e.public_key.0,
                &handover_message(&self.vault_id.0, e.epoch.saturating_add(1), next),
                &e.handover.0,
            )?;
        }
        crate::identity::verify(public_key, &self.signed_bytes(), &self.signature.0)
    }

    /// Checks a recovery login (see `RecoveryCode::sign_login`): a signature
    /// over the server's `challenge` and `audience` by the login key of this
    /// manifest's recovery entry, which only the current recovery code
    /// derives. A v1 recovery entry has no login key: then the proof must be
    /// a login proof by the identity key ([`Manifest::verify_login_proof`]).
    /// A bad proof is `UnlockFailed`.
    pub fn verify_recovery_login(
        &self,
        challenge: &[u8],
        audience: &str,
        signature: &[u8],
    ) -> Result<()> {
        self.verify_self_signature()?;
        match self.recovery_entry() {
            Some(UnlockEntry::Recovery {
                id,
                login_key: Some(key),
                ..
            }) => crate::identity::verify(
                &key.0,
                &recovery_login_message(&self.vault_id.0, id, challenge, audience),
                signature,
            )
            .map_err(|_| Error::UnlockFailed),
            _ => self.verify_login_proof(challenge, audience, signature),
        }
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

    /// The ids of every unlock entry (passkeys and the recovery entry), in
    /// manifest order.
    pub fn unlock_entry_ids(&self) -> impl Iterator<Item = &str> {
        self.unlock.iter().map(UnlockEntry::id)
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
