//! Sharing (format 3, docs/FORMAT.md §15): grants of records to another
//! vault, and the fingerprints by which two people check each other's key.
//!
//! A grant is a document the grantor signs with its identity key. It names
//! the grantee's vault and share key, a scope (a fixed list of record ids,
//! or a label that records added later join), an expiry, and a grant key
//! sealed to the grantee with HPKE (RFC 9180: DHKEM(P-256, HKDF-SHA256),
//! HKDF-SHA256, AES-256-GCM), whose `info` binds the grant id and both
//! vaults and whose `aad` is the whole signed body. Each shared record gets
//! a **slot**: its data key wrapped by a key derived from the grant key and
//! bound to the grant, the grantor and the record's id and context. The
//! grantee opens a record with the slot; the grantor's vault key never
//! leaves the grantor. The grantor's manifest lists every active grant with
//! the grant key wrapped by its own vault key (so its other devices can add
//! slots) and the grant's digest; revoking removes it there, and no device of
//! the grantor writes a slot for a grant its manifest no longer lists.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::aead;
use crate::entry_key::{self, EntrySeed};
use crate::error::{Error, Result};
use crate::identity;
use crate::kdf::{self, label, put_lp};
use crate::manifest::{Manifest, HASH_LEN, MAX_SCOPE_LEN, SHARE_ID_LEN, VAULT_ID_LEN};
use crate::record::{RecordContext, MAX_RECORD_ID_LEN};
use crate::rng::Rng;
use crate::secret::{DataKey, VaultKey};

/// Value of a grant's `medseal` field.
const GRANT_KIND: &str = "grant";
/// The grant format version written and read.
const GRANT_VERSION: u64 = 1;
/// Most record ids in one grant.
pub const MAX_GRANT_RECORDS: usize = 1000;
/// Most bytes of record ids in one grant, all ids together.
pub const MAX_GRANT_IDS_LEN: usize = 64 << 10;
/// Largest grant JSON accepted: room for the most record ids, each byte
/// escaped as `\u00XX` (six characters), and the rest of the grant.
pub const MAX_GRANT_JSON_LEN: usize = 6 * MAX_GRANT_IDS_LEN + (64 << 10);
/// A grant key sealed to a grantee (HPKE `enc` || ciphertext || tag).
const SEALED_GRANT_KEY_LEN: usize = entry_key::SEALED_KEY_LEN;
/// A slot: a record's data key wrapped for one grant.
pub const SLOT_LEN: usize = aead::WRAPPED_KEY_LEN;
/// Latest expiry accepted (2^53 - 1 seconds: exact in JavaScript).
const MAX_TIME: u64 = (1 << 53) - 1;

/// The seed of an epoch's share key pair.
pub(crate) fn share_seed(vault_key: &VaultKey) -> EntrySeed {
    EntrySeed::from_bytes(&kdf::hkdf32(vault_key.expose(), &[], label::SHARE_KEY, &[]))
}

/// AAD of the owner's copy of a grant or link key in the manifest: bound to
/// the vault, the entry and the epoch whose vault key wraps it.
pub(crate) fn share_key_aad(vault_id: &[u8], id: &[u8], kind: u8, epoch: u32) -> Vec<u8> {
    let mut aad = label::AAD_SHARE_KEY.to_vec();
    put_lp(&mut aad, vault_id);
    put_lp(&mut aad, id);
    aad.push(kind);
    aad.extend_from_slice(&epoch.to_be_bytes());
    aad
}

/// What a grant gives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GrantScope {
    /// Exactly these records (by record id), and nothing added later.
    Records(Vec<String>),
    /// Every record the grantor files under this label, now and later,
    /// until the grant is revoked or expires. The label is the app's
    /// (for example `"allergies"`); medseal does not interpret it.
    Label(String),
}

impl GrantScope {
    fn check(&self) -> Result<()> {
        match self {
            GrantScope::Records(ids) => {
                if ids.is_empty() || ids.len() > MAX_GRANT_RECORDS {
                    return Err(Error::InvalidArgument("a grant names 1 to 1000 records"));
                }
                if ids.iter().map(String::len).sum::<usize>() > MAX_GRANT_IDS_LEN {
                    return Err(Error::InvalidArgument(
                        "a grant names at most 64 KiB of record ids",
                    ));
                }
                for (i, id) in ids.iter().enumerate() {
                    if id.is_empty() || id.len() > MAX_RECORD_ID_LEN {
                        return Err(Error::InvalidArgument(
                            "a record id of a grant must be 1 to 1024 bytes",
                        ));
                    }
                    if ids.iter().skip(i + 1).any(|o| o == id) {
                        return Err(Error::InvalidArgument("a grant names a record id twice"));
                    }
                }
            }
            GrantScope::Label(l) => {
                if l.is_empty() || l.len() > MAX_SCOPE_LEN {
                    return Err(Error::InvalidArgument(
                        "a grant scope label must be 1 to 128 bytes",
                    ));
                }
            }
        }
        Ok(())
    }

    fn put(&self, out: &mut Vec<u8>) {
        match self {
            GrantScope::Records(ids) => {
                out.push(1);
                let n = u32::try_from(ids.len()).unwrap_or(u32::MAX);
                out.extend_from_slice(&n.to_be_bytes());
                for id in ids {
                    put_lp(out, id.as_bytes());
                }
            }
            GrantScope::Label(l) => {
                out.push(2);
                put_lp(out, l.as_bytes());
            }
        }
    }

    /// Whether a record id is inside a fixed-records scope (a label scope
    /// covers whatever the grantor gives a slot).
    pub fn covers(&self, record_id: &[u8]) -> bool {
        match self {
            GrantScope::Records(ids) => ids.iter().any(|i| i.as_bytes() == record_id),
            GrantScope::Label(_) => true,
        }
    }
}

/// Whether JSON text is well-formed with no object repeating a key, at any
/// depth (read with serde's visitor, so nothing but keys is kept).
fn unique_keys(json: &str) -> bool {
    struct Walk;
    impl<'de> serde::de::DeserializeSeed<'de> for Walk {
        type Value = ();
        fn deserialize<D: serde::Deserializer<'de>>(
            self,
            d: D,
        ) -> core::result::Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }
    impl<'de> serde::de::Visitor<'de> for Walk {
        type Value = ();
        fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> core::result::Result<(), A::Error> {
            let mut seen: Vec<String> = Vec::new();
            while let Some(k) = map.next_key::<String>()? {
                if seen.contains(&k) {
                    return Err(serde::de::Error::custom("repeated key"));
                }
                seen.push(k);
                map.next_value_seed(Walk)?;
            }
            Ok(())
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> core::result::Result<(), A::Error> {
            while seq.next_element_seed(Walk)?.is_some() {}
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> core::result::Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> core::result::Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> core::result::Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> core::result::Result<(), E> {
            Ok(())
        }
        fn visit_str<E>(self, _: &str) -> core::result::Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> core::result::Result<(), E> {
            Ok(())
        }
    }
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_str(json);
    Walk.deserialize(&mut de).is_ok() && de.end().is_ok()
}

/// A grant as signed: everything the grantee needs to verify and open it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Grant id (16 bytes).
    pub id: [u8; SHARE_ID_LEN],
    /// The grantor's vault id.
    pub grantor: [u8; VAULT_ID_LEN],
    /// The grantor's key epoch whose identity key signed.
    pub grantor_epoch: u32,
    /// The grantee's vault id.
    pub grantee: [u8; VAULT_ID_LEN],
    /// The grantee's key epoch whose share key the grant key is sealed to.
    pub grantee_epoch: u32,
    /// That share key (65 bytes).
    pub grantee_key: Vec<u8>,
    /// What it gives.
    pub scope: GrantScope,
    /// When it was made, seconds since the Unix epoch.
    pub created: u64,
    /// When it ends, seconds since the Unix epoch.
    pub expires: u64,
    wrapped_key: Vec<u8>,
    signature: Vec<u8>,
}

fn b64_field(o: &Map<String, Value>, k: &str, len: usize) -> Result<Vec<u8>> {
    let bad = Error::Malformed("grant field has the wrong type or length");
    let s = o.get(k).and_then(Value::as_str).ok_or(bad)?;
    let b = crate::b64::decode(s.as_bytes()).ok_or(bad)?;
    if b.len() != len {
        return Err(bad);
    }
    Ok(b)
}

fn u64_field(o: &Map<String, Value>, k: &str) -> Result<u64> {
    o.get(k)
        .and_then(Value::as_u64)
        .filter(|v| *v <= MAX_TIME)
        .ok_or(Error::Malformed("grant number out of range"))
}

fn u32_field(o: &Map<String, Value>, k: &str) -> Result<u32> {
    u64_field(o, k)
        .ok()
        .and_then(|v| u32::try_from(v).ok())
        .filter(|v| *v >= 1)
        .ok_or(Error::Malformed("grant epoch out of range"))
}

fn array16(v: Vec<u8>) -> Result<[u8; 16]> {
    v.try_into()
        .map_err(|_| Error::Malformed("grant field has the wrong length"))
}

const GRANT_FIELDS: &[&str] = &[
    "medseal",
    "version",
    "id",
    "grantor",
    "grantorEpoch",
    "grantee",
    "granteeEpoch",
    "granteeKey",
    "scope",
    "created",
    "expires",
    "wrappedKey",
    "signature",
];

impl Grant {
    /// The bytes the grant key's HPKE `aad` and the signature cover: every
    /// field but the sealed key and the signature.
    fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        put_lp(&mut out, &self.id);
        put_lp(&mut out, &self.grantor);
        out.extend_from_slice(&self.grantor_epoch.to_be_bytes());
        put_lp(&mut out, &self.grantee);
        out.extend_from_slice(&self.grantee_epoch.to_be_bytes());
        put_lp(&mut out, &self.grantee_key);
        self.scope.put(&mut out);
        out.extend_from_slice(&self.created.to_be_bytes());
        out.extend_from_slice(&self.expires.to_be_bytes());
        out
    }

    fn signed_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(400);
        put_lp(&mut out, label::GRANT_SIGNATURE);
        out.extend_from_slice(&GRANT_VERSION.to_be_bytes());
        out.extend_from_slice(&self.body());
        put_lp(&mut out, &self.wrapped_key);
        out
    }

    fn hpke_info(&self) -> Vec<u8> {
        let mut info = label::HPKE_GRANT.to_vec();
        put_lp(&mut info, &self.id);
        put_lp(&mut info, &self.grantor);
        put_lp(&mut info, &self.grantee);
        put_lp(&mut info, &self.grantee_key);
        info
    }

    fn hpke_aad(&self) -> Vec<u8> {
        let mut aad = label::AAD_GRANT.to_vec();
        aad.extend_from_slice(&self.body());
        aad
    }

    /// `SHA-256(lp("medseal/v3/grant/digest") || signed bytes)`: what the
    /// grantor's manifest lists for this grant.
    pub fn digest(&self) -> [u8; HASH_LEN] {
        let mut prefix = Vec::with_capacity(32);
        put_lp(&mut prefix, label::GRANT_DIGEST);
        let mut h = Sha256::new();
        h.update(&prefix);
        h.update(self.signed_bytes());
        h.finalize().into()
    }

    /// Parses grant JSON (strictly: exactly the fields of version 1). The
    /// signature is checked by [`Grant::verify`].
    pub fn from_json(json: &str) -> Result<Grant> {
        if json.len() > MAX_GRANT_JSON_LEN {
            return Err(Error::TooLarge);
        }
        // serde_json's Value keeps the last of repeated keys: a grant with
        // two scopes would be read as the second. Refused, as in manifests.
        if !unique_keys(json) {
            return Err(Error::Malformed("grant JSON repeats a key"));
        }
        let v: Value =
            serde_json::from_str(json).map_err(|_| Error::Malformed("grant is not JSON"))?;
        let o = v
            .as_object()
            .ok_or(Error::Malformed("grant is not a JSON object"))?;
        if o.get("medseal").and_then(Value::as_str) != Some(GRANT_KIND) {
            return Err(Error::Malformed("not a medseal grant"));
        }
        match o.get("version").and_then(Value::as_u64) {
            Some(GRANT_VERSION) => {}
            Some(v) => {
                return Err(Error::UnknownVersion {
                    what: "grant",
                    version: v,
                })
            }
            None => return Err(Error::Malformed("grant version is missing")),
        }
        if o.len() != GRANT_FIELDS.len() || !o.keys().all(|k| GRANT_FIELDS.contains(&k.as_str())) {
            return Err(Error::Malformed(
                "grant does not have the fields of version 1",
            ));
        }
        let scope = o
            .get("scope")
            .and_then(Value::as_object)
            .ok_or(Error::Malformed("grant scope is not an object"))?;
        let scope = match (scope.len(), scope.get("records"), scope.get("label")) {
            (1, Some(Value::Array(ids)), None) => GrantScope::Records(
                ids.iter()
                    .map(|i| i.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or(Error::Malformed("grant record ids must be strings"))?,
            ),
            (1, None, Some(Value::String(l))) => GrantScope::Label(l.clone()),
            _ => return Err(Error::Malformed("grant scope is records or label")),
        };
        scope
            .check()
            .map_err(|_| Error::Malformed("grant scope out of range"))?;
        let g = Grant {
            id: array16(b64_field(o, "id", SHARE_ID_LEN)?)?,
            grantor: array16(b64_field(o, "grantor", VAULT_ID_LEN)?)?,
            grantor_epoch: u32_field(o, "grantorEpoch")?,
            grantee: array16(b64_field(o, "grantee", VAULT_ID_LEN)?)?,
            grantee_epoch: u32_field(o, "granteeEpoch")?,
            grantee_key: b64_field(o, "granteeKey", entry_key::PUBLIC_KEY_LEN)?,
            scope,
            created: u64_field(o, "created")?,
            expires: u64_field(o, "expires")?,
            wrapped_key: b64_field(o, "wrappedKey", SEALED_GRANT_KEY_LEN)?,
            signature: b64_field(o, "signature", identity::SIGNATURE_LEN)?,
        };
        if g.expires == 0 || g.created > g.expires {
            return Err(Error::Malformed("grant expires before it was made"));
        }
        Ok(g)
    }

    /// Serializes to JSON (field order fixed).
    pub fn to_json(&self) -> String {
        let scope = match &self.scope {
            GrantScope::Records(ids) => serde_json::json!({ "records": ids }),
            GrantScope::Label(l) => serde_json::json!({ "label": l }),
        };
        let e = crate::b64::encode;
        // serde_json's map keeps insertion order only with "preserve_order";
        // write the object by hand so the order is the format's.
        let mut s = String::with_capacity(1024);
        s.push_str("{\"medseal\":\"grant\",\"version\":1");
        let mut field = |k: &str, v: String| {
            s.push_str(",\"");
            s.push_str(k);
            s.push_str("\":");
            s.push_str(&v);
        };
        let q = |v: String| serde_json::Value::String(v).to_string();
        field("id", q(e(&self.id)));
        field("grantor", q(e(&self.grantor)));
        field("grantorEpoch", self.grantor_epoch.to_string());
        field("grantee", q(e(&self.grantee)));
        field("granteeEpoch", self.grantee_epoch.to_string());
        field("granteeKey", q(e(&self.grantee_key)));
        field("scope", scope.to_string());
        field("created", self.created.to_string());
        field("expires", self.expires.to_string());
        field("wrappedKey", q(e(&self.wrapped_key)));
        field("signature", q(e(&self.signature)));
        s.push('}');
        s
    }

    /// Checks the grant against the grantor's manifest: the manifest must
    /// be the grantor's (same vault id), self-consistent (every signature
    /// and hand-over), the grant signed by the identity key of the epoch it
    /// names (current or older, through the hand-overs), and **listed** in
    /// that manifest with this digest. The listing is what makes an older
    /// epoch's signature count: a removed passkey still holds its epoch's
    /// identity key and can sign grants, but cannot make the grantor's
    /// current manifest list them. Which manifest is the grantor's, and that
    /// it is current, is the caller's to establish (pin). `ManifestInvalid`
    /// for a bad signature or another vault's manifest; `NotGranted` for a
    /// grant the manifest does not list (revoked, or never the grantor's).
    pub fn verify(&self, grantor: &Manifest) -> Result<()> {
        if grantor.vault_id() != self.grantor {
            return Err(Error::ManifestInvalid);
        }
        grantor.verify_self_signature()?;
        let key = grantor
            .identity_of_epoch(self.grantor_epoch)
            .ok_or(Error::ManifestInvalid)?;
        identity::verify(key, &self.signed_bytes(), &self.signature)?;
        let digest = self.digest();
        if !grantor
            .shares()
            .any(|s| !s.link && s.id == self.id.as_slice() && s.digest == digest.as_slice())
        {
            return Err(Error::NotGranted);
        }
        Ok(())
    }
}

/// A grant the grantee verified and opened: it can open the records the
/// grant gives, with their slots, until the grant expires.
pub struct ReceivedGrant {
    grant: Grant,
    slot_key: Zeroizing<[u8; 32]>,
}

impl core::fmt::Debug for ReceivedGrant {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReceivedGrant")
            .field("id", &crate::b64::encode(&self.grant.id))
            .field("scope", &self.grant.scope)
            .field("expires", &self.grant.expires)
            .finish_non_exhaustive()
    }
}

fn slot_aad(grant_id: &[u8], grantor: &[u8], ctx: &RecordContext<'_>) -> Vec<u8> {
    let mut aad = label::AAD_SLOT.to_vec();
    put_lp(&mut aad, grant_id);
    put_lp(&mut aad, grantor);
    put_lp(&mut aad, ctx.record_id);
    put_lp(&mut aad, ctx.context);
    aad
}

fn slot_key(grant_key: &[u8; 32]) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(kdf::hkdf32(grant_key, &[], label::GRANT_SLOT, &[]))
}

/// Wraps a record's data key into a slot of a grant.
pub(crate) fn make_slot(
    rng: &mut Rng,
    grant_key: &[u8; 32],
    grant_id: &[u8],
    grantor: &[u8],
    dek: &DataKey,
    ctx: &RecordContext<'_>,
) -> Result<Vec<u8>> {
    let k = slot_key(grant_key);
    Ok(aead::wrap_key(rng, &k, dek.expose(), &slot_aad(grant_id, grantor, ctx))?.to_vec())
}

impl ReceivedGrant {
    /// Opens a grant sealed to `share` (the grantee's share key pair of the
    /// grant's epoch), after [`Grant::verify`].
    pub(crate) fn open(grant: Grant, share: &EntrySeed) -> Result<ReceivedGrant> {
        // The grant must name this share key: HPKE alone would also accept a
        // grant sealed to us that names another grantee (which only its
        // grantor could sign, but which an app would show as granted to
        // someone else).
        if share.public_key().as_slice() != grant.grantee_key.as_slice() {
            return Err(Error::NotGranted);
        }
        let key = share
            .open(&grant.wrapped_key, &grant.hpke_info(), &grant.hpke_aad())
            .map_err(|_| Error::NotGranted)?;
        let key = Zeroizing::new(key);
        Ok(ReceivedGrant {
            slot_key: slot_key(&key),
            grant,
        })
    }

    /// The grant.
    pub fn grant(&self) -> &Grant {
        &self.grant
    }

    /// Opens a shared record with its slot. Refused: after the grant's
    /// expiry (`GrantExpired`, by the caller's clock `now`, seconds since
    /// the Unix epoch), a record id outside a fixed-records scope
    /// (`NotGranted`), a slot of another grant, record or context
    /// (`NotGranted`); a record that does not open with the data key in the
    /// slot is `DecryptionFailed`.
    pub fn open_record(
        &self,
        slot: &[u8],
        sealed: &[u8],
        ctx: &RecordContext<'_>,
        now: u64,
    ) -> Result<crate::vault::OpenedRecord> {
        if now >= self.grant.expires {
            return Err(Error::GrantExpired {
                expires: self.grant.expires,
            });
        }
        if !self.grant.scope.covers(ctx.record_id) {
            return Err(Error::NotGranted);
        }
        let dek = aead::unwrap_key(
            &self.slot_key,
            slot,
            &slot_aad(&self.grant.id, &self.grant.grantor, ctx),
        )
        .map_err(|_| Error::NotGranted)?;
        let (meta, content_type, data) =
            crate::record::open_with_key(DataKey::from_array(dek), sealed, ctx)?;
        Ok(crate::vault::OpenedRecord {
            content_type,
            data,
            meta,
        })
    }
}

impl ReceivedGrant {
    /// Opens a shared stream's header (its first
    /// [`crate::stream::HEADER_LEN`] bytes) with its slot, under the same
    /// refusals as [`ReceivedGrant::open_record`]; the chunks then open with
    /// the opener returned.
    pub fn open_stream(
        &self,
        slot: &[u8],
        head: &[u8],
        ctx: &RecordContext<'_>,
        now: u64,
    ) -> Result<crate::stream::StreamOpener> {
        if now >= self.grant.expires {
            return Err(Error::GrantExpired {
                expires: self.grant.expires,
            });
        }
        if !self.grant.scope.covers(ctx.record_id) {
            return Err(Error::NotGranted);
        }
        let parts = crate::stream::split_header(head, ctx)?;
        let dek = aead::unwrap_key(
            &self.slot_key,
            slot,
            &slot_aad(&self.grant.id, &self.grant.grantor, ctx),
        )
        .map_err(|_| Error::NotGranted)?;
        crate::stream::open_with_key(&DataKey::from_array(dek), &parts, ctx)
    }
}

/// A vault's fingerprint: what two people compare (read aloud, or as a QR
/// code) to know that a key the server relayed is the other person's. It
/// names the vault id and the identity key of the vault's first epoch, so it
/// stays the same through re-keys (the hand-over chain links every later key
/// to it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    /// `SHA-256(lp("medseal/v3/fingerprint") || lp(vault id) || lp(first identity key))`.
    pub digest: [u8; 32],
}

impl Fingerprint {
    /// The fingerprint of a manifest's vault. Checks every signature and
    /// hand-over of the manifest first (`ManifestInvalid`).
    pub fn of(manifest: &Manifest) -> Result<Fingerprint> {
        manifest.verify_self_signature()?;
        let root = manifest
            .identity_of_epoch(1)
            .ok_or(Error::ManifestInvalid)?;
        let mut h = Sha256::new();
        let mut b = Vec::with_capacity(96);
        put_lp(&mut b, label::FINGERPRINT);
        put_lp(&mut b, manifest.vault_id());
        put_lp(&mut b, root);
        h.update(&b);
        Ok(Fingerprint {
            digest: h.finalize().into(),
        })
    }

    /// 40 decimal digits in 8 groups of 5 (each group: 4 bytes of the digest,
    /// big-endian, mod 100000): about 133 bits, easy to read aloud.
    pub fn digits(&self) -> String {
        let mut out = String::with_capacity(47);
        for (i, c) in self.digest.chunks_exact(4).enumerate() {
            let mut b = [0u8; 4];
            b.copy_from_slice(c);
            if i > 0 {
                out.push(' ');
            }
            out.push_str(&format!("{:05}", u32::from_be_bytes(b) % 100_000));
        }
        out
    }

    /// The QR payload: `medseal-fingerprint:1:` + base64url of the digest.
    pub fn qr_payload(&self) -> String {
        format!("medseal-fingerprint:1:{}", crate::b64::encode(&self.digest))
    }
}

/// What a device remembers of another person's vault after first use
/// (trust on first use, as Signal and SSH do): its fingerprint, and the
/// head of the newest manifest seen (revision, hash, epoch, identity key),
/// so that a later manifest must descend from it. JSON: `{"medseal": "pin",
/// "version": 1, "vaultId", "fingerprint", "revision", "hash", "epoch",
/// "identity"}` (binary fields base64url).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pin {
    vault_id: Vec<u8>,
    fingerprint: [u8; 32],
    revision: u64,
    hash: [u8; HASH_LEN],
    epoch: u32,
    identity: Vec<u8>,
}

impl Pin {
    /// Checks a manifest relayed for a person against what was pinned for
    /// them (`None`: first use, the manifest is pinned). Returns the pin to
    /// store. Refused:
    /// - another fingerprint: `KeyChanged` (a substituted key: compare
    ///   fingerprints with the person);
    /// - an older revision than seen: `StaleManifest` (a replayed, older key);
    /// - the same revision with other content, or a newer one whose identity
    ///   key of the pinned epoch is not the one pinned: `ForkDetected` (a
    ///   history that does not descend from the one seen: what a passkey the
    ///   person removed can make, with their first identity key and so the
    ///   same fingerprint, by re-keying an old manifest).
    pub fn check(manifest: &Manifest, pinned: Option<&Pin>) -> Result<Pin> {
        let fp = Fingerprint::of(manifest)?;
        let head = manifest.head();
        let pin = Pin {
            vault_id: manifest.vault_id().to_vec(),
            fingerprint: fp.digest,
            revision: head.revision,
            hash: head.hash,
            epoch: head.epoch,
            identity: head.identity,
        };
        let Some(old) = pinned else {
            return Ok(pin);
        };
        if old.vault_id != pin.vault_id || old.fingerprint != pin.fingerprint {
            return Err(Error::KeyChanged {
                pinned: old.fingerprint,
                offered: pin.fingerprint,
            });
        }
        if pin.revision < old.revision {
            return Err(Error::StaleManifest {
                seen: old.revision,
                offered: pin.revision,
            });
        }
        let descends = if pin.revision == old.revision {
            pin.hash == old.hash
        } else {
            // Every hand-over was verified (Fingerprint::of): the key of the
            // pinned epoch leads to the current one.
            manifest.identity_of_epoch(old.epoch) == Some(old.identity.as_slice())
        };
        if !descends {
            return Err(Error::ForkDetected {
                revision: old.revision,
                seen: old.hash,
                offered: pin.hash,
            });
        }
        Ok(pin)
    }

    /// Parses a stored pin.
    pub fn from_json(json: &str) -> Result<Pin> {
        let bad = Error::Malformed("not a medseal pin");
        if json.len() > 4096 {
            return Err(Error::TooLarge);
        }
        if !unique_keys(json) {
            return Err(bad);
        }
        let v: Value = serde_json::from_str(json).map_err(|_| bad)?;
        let o = v.as_object().ok_or(bad)?;
        if o.get("medseal").and_then(Value::as_str) != Some("pin")
            || o.get("version").and_then(Value::as_u64) != Some(1)
            || o.len() != 8
        {
            return Err(bad);
        }
        let vault_id = b64_field(o, "vaultId", VAULT_ID_LEN).map_err(|_| bad)?;
        let fp = b64_field(o, "fingerprint", 32).map_err(|_| bad)?;
        let hash = b64_field(o, "hash", HASH_LEN).map_err(|_| bad)?;
        let identity = b64_field(o, "identity", identity::PUBLIC_KEY_LEN).map_err(|_| bad)?;
        let revision = o
            .get("revision")
            .and_then(Value::as_u64)
            .filter(|r| *r <= MAX_TIME)
            .ok_or(bad)?;
        let epoch = o
            .get("epoch")
            .and_then(Value::as_u64)
            .and_then(|e| u32::try_from(e).ok())
            .filter(|e| *e >= 1)
            .ok_or(bad)?;
        Ok(Pin {
            vault_id,
            fingerprint: fp.try_into().map_err(|_| bad)?,
            revision,
            hash: hash.try_into().map_err(|_| bad)?,
            epoch,
            identity,
        })
    }

    /// Serializes for storage.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "medseal": "pin",
            "version": 1,
            "vaultId": crate::b64::encode(&self.vault_id),
            "fingerprint": crate::b64::encode(&self.fingerprint),
            "revision": self.revision,
            "hash": crate::b64::encode(&self.hash),
            "epoch": self.epoch,
            "identity": crate::b64::encode(&self.identity),
        })
        .to_string()
    }
}

/// Parameters of a new grant.
#[derive(Debug)]
pub struct GrantRequest<'a> {
    /// The grantee's current manifest (as relayed by the server; pin its
    /// fingerprint).
    pub grantee: &'a Manifest,
    /// What to give.
    pub scope: GrantScope,
    /// Now, seconds since the Unix epoch.
    pub created: u64,
    /// When it ends, seconds since the Unix epoch (after `created`).
    pub expires: u64,
}

/// A grant made and its manifest entry, before the manifest is committed.
struct MadeGrant {
    grant: Grant,
    entry: crate::manifest::ShareEntry,
}

/// A grant just made: the signed document for the grantee (and the server).
#[derive(Debug)]
pub struct NewGrant {
    /// The grant.
    pub grant: Grant,
}

impl crate::vault::Vault {
    /// Grants records to another vault. Checks the grantee's manifest
    /// (signatures; a share key, so version 3), makes a grant key, seals it
    /// to the grantee's share key, signs the grant, and lists it in a new
    /// revision of this vault's manifest ([`crate::Vault::manifest`]; store
    /// both). Give each shared record a slot with [`Self::grant_slot`].
    pub fn grant(&mut self, req: GrantRequest<'_>) -> Result<NewGrant> {
        let made = self.make_grant(req)?;
        self.push_share(made.entry)?;
        Ok(NewGrant { grant: made.grant })
    }

    /// A new grant and the manifest entry that lists it (not yet committed).
    fn make_grant(&mut self, req: GrantRequest<'_>) -> Result<MadeGrant> {
        req.scope.check()?;
        if req.expires <= req.created || req.expires > MAX_TIME {
            return Err(Error::InvalidArgument(
                "a grant must expire after it is made (and before 2^53 seconds)",
            ));
        }
        req.grantee.verify_self_signature()?;
        if req.grantee.vault_id() == self.vault_id().as_slice() {
            return Err(Error::InvalidArgument("a vault cannot grant to itself"));
        }
        let grantee_key = req.grantee.share_key().ok_or(Error::InvalidArgument(
            "the grantee's manifest has no share key yet (written before format 3): the grantee must sign in once",
        ))?;
        let grantee: [u8; VAULT_ID_LEN] = req
            .grantee
            .vault_id()
            .try_into()
            .map_err(|_| Error::ManifestInvalid)?;
        let rng = self.rng_mut();
        let id: [u8; SHARE_ID_LEN] = rng.array()?;
        let key = Zeroizing::new(rng.array::<32>()?);
        let mut grant = Grant {
            id,
            grantor: *self.vault_id(),
            grantor_epoch: self.manifest().epoch(),
            grantee,
            grantee_epoch: req.grantee.epoch(),
            grantee_key: grantee_key.to_vec(),
            scope: req.scope,
            created: req.created,
            expires: req.expires,
            wrapped_key: Vec::new(),
            signature: Vec::new(),
        };
        grant.wrapped_key = entry_key::seal(
            self.rng_mut(),
            grantee_key,
            &key,
            &grant.hpke_info(),
            &grant.hpke_aad(),
        )?;
        grant.signature = self.sign_share(&grant.signed_bytes()).to_vec();
        let scope = match &grant.scope {
            GrantScope::Label(l) => Some(l.clone()),
            GrantScope::Records(_) => None,
        };
        let entry = self.share_entry(
            crate::manifest::ShareKind::Grant,
            id,
            scope,
            grant.expires,
            grant.digest(),
            &key,
        )?;
        Ok(MadeGrant { grant, entry })
    }

    /// Re-issues one of this vault's active grants under a new grant key, to
    /// the grantee's current share key, signed by the current identity key,
    /// with the same scope and expiry, and lists it **in place of** the old
    /// one (one new manifest revision). Do this for every grant after a
    /// passkey is removed or the recovery code rotated: the removed
    /// credential held the vault key that wrapped the old grant keys, and
    /// could give an old grant slots of its own making; once the manifest
    /// lists only the new grant, grantees refuse the old one. Give every
    /// record of the scope a slot in the new grant. `NotGranted` if the
    /// manifest does not list `old` (with its digest) or `grantee` is not
    /// its grantee's manifest.
    pub fn reissue_grant(&mut self, old: &Grant, grantee: &Manifest, now: u64) -> Result<NewGrant> {
        if old.grantor != *self.vault_id() || grantee.vault_id() != old.grantee {
            return Err(Error::NotGranted);
        }
        let (expires, digest, _) = self.share_key_of(&old.id, crate::manifest::ShareKind::Grant)?;
        if digest != old.digest() {
            return Err(Error::NotGranted);
        }
        if now >= expires {
            return Err(Error::GrantExpired { expires });
        }
        let created = now.min(expires.saturating_sub(1));
        let new = self.make_grant(GrantRequest {
            grantee,
            scope: old.scope.clone(),
            created,
            expires,
        })?;
        self.replace_share(&old.id, new.entry)?;
        Ok(NewGrant { grant: new.grant })
    }

    /// A slot of an active grant of this vault for one of its records: the
    /// record's data key wrapped for the grant. The grant document must be
    /// the one this vault's manifest lists (same digest: its scope and
    /// grantee as signed); for a fixed-records grant the record must be one
    /// it names, for a label grant the app decides which records belong to
    /// the label. `NotGranted` if the manifest lists no such grant (revoked,
    /// or another vault's) or the record is outside it; `GrantExpired`
    /// after its expiry (`now`, seconds since the Unix epoch).
    pub fn grant_slot(
        &mut self,
        grant: &Grant,
        sealed: &[u8],
        ctx: &RecordContext<'_>,
        now: u64,
    ) -> Result<Vec<u8>> {
        if grant.grantor != *self.vault_id() {
            return Err(Error::NotGranted);
        }
        let (expires, digest, key) =
            self.share_key_of(&grant.id, crate::manifest::ShareKind::Grant)?;
        if digest != grant.digest() {
            return Err(Error::NotGranted);
        }
        if now >= expires {
            return Err(Error::GrantExpired { expires });
        }
        if !grant.scope.covers(ctx.record_id) {
            return Err(Error::NotGranted);
        }
        let dek = self.record_data_key(sealed, ctx)?;
        let grantor = *self.vault_id();
        make_slot(self.rng_mut(), &key, &grant.id, &grantor, &dek, ctx)
    }

    /// Opens a grant addressed to this vault: checks that it names this
    /// vault and a share key of an epoch this vault holds, its signature
    /// against the grantor's manifest ([`Grant::verify`]; pin the grantor's
    /// fingerprint), and its expiry (`now`), then opens its key.
    pub fn accept_grant(
        &self,
        grant: Grant,
        grantor: &Manifest,
        now: u64,
    ) -> Result<ReceivedGrant> {
        if grant.grantee != *self.vault_id() {
            return Err(Error::NotGranted);
        }
        grant.verify(grantor)?;
        if now >= grant.expires {
            return Err(Error::GrantExpired {
                expires: grant.expires,
            });
        }
        let vk = self
            .epoch_vault_key(grant.grantee_epoch)
            .ok_or(Error::NotGranted)?;
        let seed = share_seed(vk);
        ReceivedGrant::open(grant, &seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_eight_groups_of_five() {
        let f = Fingerprint { digest: [0xff; 32] };
        let d = f.digits();
        assert_eq!(d.len(), 47);
        assert_eq!(d.split(' ').count(), 8);
        // 0xffffffff mod 100000 = 67295
        assert!(d.starts_with("67295 "));
    }
}
