//! What one device has seen of a vault, kept between sessions so that a
//! server cannot roll it back: the newest manifest (its revision, hash,
//! epoch and identity key) and the newest version of each record that has
//! been edited or deleted. The JS layer stores it (`localStorage`, or a
//! callback) as the JSON of [`Seen::to_json`]; every check is here.
//!
//! A device detects a rollback or fork relative to what it has seen; a
//! device that has seen nothing trusts what it is shown first (the identity
//! key and the history from there on are then pinned).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::kdf::{label, put_lp};
use crate::manifest::{Head, Manifest, B64, HASH_LEN};
use crate::record::{RecordContext, RecordMeta};

const KIND: &str = "vault-seen";
/// Most records remembered (edited or deleted ones only).
const MAX_RECORDS: usize = 100_000;

/// A device's memory of one vault.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    head: Option<(Vec<u8>, Head)>,
    /// Record key (see `record_key`) to (version, deleted).
    records: BTreeMap<String, (u64, bool)>,
    /// The vault log's pinned checkpoint (FORMAT.md §16.4), once synced.
    log: Option<crate::log::LogState>,
    /// The tag of the manifest `head` names, under the seed of the entry
    /// that last opened it here (`vault::verified_tag`): at the next unlock
    /// through that entry with that manifest, it stands for the signature
    /// checks.
    verified: Option<[u8; 32]>,
    /// This device's copy of the vault key (see `Seen::saw_vault`).
    device: Option<DeviceUnlock>,
}

/// A copy of one epoch's vault key, wrapped under a key that only the
/// seed of the unlock entry `entry_id` derives (`EntrySeed::wrap_for_device`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DeviceUnlock {
    entry_id: String,
    epoch: u32,
    wrapped: B64,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SeenJson {
    medseal: String,
    version: u64,
    vault_id: B64,
    revision: u64,
    hash: B64,
    epoch: u32,
    identity: B64,
    records: BTreeMap<String, (u64, bool)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log: Option<crate::log::state::StateJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    verified: Option<B64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unlock: Option<DeviceUnlock>,
}

impl Seen {
    /// Nothing seen yet.
    pub fn new() -> Seen {
        Seen::default()
    }

    /// Reads what [`Seen::to_json`] wrote; `Malformed` if it is not that.
    pub fn from_json(json: &str) -> Result<Seen> {
        let j: SeenJson =
            serde_json::from_str(json).map_err(|_| Error::Malformed("not a medseal seen state"))?;
        let hash: [u8; HASH_LEN] = j
            .hash
            .0
            .as_slice()
            .try_into()
            .map_err(|_| Error::Malformed("seen state hash"))?;
        if j.medseal != KIND
            || j.version != 1
            || j.records.len() > MAX_RECORDS
            || j.revision > crate::manifest::MAX_REVISION
            || j.epoch == 0
            || j.epoch > crate::manifest::MAX_EPOCHS
        {
            return Err(Error::Malformed("not a medseal seen state"));
        }
        let log = j.log.map(crate::log::LogState::from_parts).transpose()?;
        if log
            .as_ref()
            .is_some_and(|l| l.origin() != crate::log::note::origin_for(&j.vault_id.0))
        {
            return Err(Error::Malformed("not a medseal seen state"));
        }
        let verified = match j.verified {
            Some(t) => Some(
                <[u8; 32]>::try_from(t.0.as_slice())
                    .map_err(|_| Error::Malformed("not a medseal seen state"))?,
            ),
            None => None,
        };
        if j.unlock.as_ref().is_some_and(|d| {
            d.wrapped.0.len() != crate::aead::WRAPPED_KEY_LEN
                || d.entry_id.len() > 256
                || d.epoch == 0
                || d.epoch > crate::manifest::MAX_EPOCHS
        }) {
            return Err(Error::Malformed("not a medseal seen state"));
        }
        Ok(Seen {
            log,
            verified,
            device: j.unlock,
            head: Some((
                j.vault_id.0,
                Head {
                    revision: j.revision,
                    hash,
                    epoch: j.epoch,
                    identity: j.identity.0,
                },
            )),
            records: j.records,
        })
    }

    /// The state as JSON (`None` when nothing was seen).
    pub fn to_json(&self) -> Option<String> {
        let (vault_id, head) = self.head.as_ref()?;
        serde_json::to_string(&SeenJson {
            medseal: KIND.into(),
            version: 1,
            vault_id: B64(vault_id.clone()),
            revision: head.revision,
            hash: B64(head.hash.to_vec()),
            epoch: head.epoch,
            identity: B64(head.identity.clone()),
            records: self.records.clone(),
            log: self.log.as_ref().map(crate::log::LogState::to_parts),
            verified: self.verified.map(|t| B64(t.to_vec())),
            unlock: self.device.clone(),
        })
        .ok()
    }

    /// The vault log as this device last verified it (a fresh state of the
    /// vault's log if it never synced).
    pub fn log(&self) -> Option<&crate::log::LogState> {
        self.log.as_ref()
    }

    /// Keeps a newer verified log state. Refuses one of another vault, or
    /// one smaller than the state kept (the caller synced from a stale copy).
    pub fn saw_log(&mut self, state: crate::log::LogState) -> Result<bool> {
        if let Some((vault_id, _)) = &self.head {
            if state.origin() != crate::log::note::origin_for(vault_id) {
                return Err(Error::WrongVault);
            }
        }
        if let Some(old) = &self.log {
            if state.size() < old.size() {
                return Err(Error::LogRolledBack {
                    seen: old.size(),
                    offered: state.size(),
                });
            }
            // Two states of one size with different roots: two histories
            // (a sync from a stale copy of this state saw another one).
            if state.size() == old.size() && state.root() != old.root() {
                return Err(Error::LogForked {
                    size: old.size(),
                    seen: old.root(),
                    offered: state.root(),
                });
            }
            if *old == state {
                return Ok(false);
            }
        }
        self.log = Some(state);
        Ok(true)
    }

    /// The revision last seen (0 if none).
    pub fn revision(&self) -> u64 {
        self.head.as_ref().map_or(0, |(_, h)| h.revision)
    }

    /// Checks that `manifest` may be used given what was seen: the same
    /// manifest, or one that descends from it through `history` (the
    /// manifests after the one seen, oldest first; `manifest` may be its
    /// last). Errors: `WrongVault` (another vault than the one seen),
    /// `StaleManifest`, `ForkDetected`, `HistoryIncomplete`,
    /// `ManifestInvalid` (see [`Manifest::check_follows`]). The manifest seen
    /// itself (same hash) passes without its signature being checked again:
    /// callers unlock with it, which checks everything.
    pub fn check(&self, manifest: &Manifest, history: &[Manifest]) -> Result<()> {
        let Some((vault_id, seen)) = &self.head else {
            return Ok(());
        };
        if manifest.vault_id() != vault_id.as_slice() {
            return Err(Error::WrongVault);
        }
        let mut head = seen.clone();
        let target = manifest.hash();
        if manifest.revision() == head.revision && target == head.hash {
            return Ok(());
        }
        for m in history.iter().chain(core::iter::once(manifest)) {
            if m.vault_id() != vault_id.as_slice() {
                return Err(Error::WrongVault);
            }
            if m.revision() < head.revision {
                continue;
            }
            if m.revision() == head.revision && m.hash() == head.hash {
                continue;
            }
            m.check_follows(&head)?;
            head = m.head();
            if head.hash == target {
                return Ok(());
            }
        }
        // Not reached: `manifest` itself was checked last; this is for a
        // manifest older than what was seen that matched nothing.
        Err(Error::StaleManifest {
            seen: seen.revision,
            offered: manifest.revision(),
        })
    }

    /// Remembers `manifest` as the newest seen (after it was checked and
    /// opened). Returns whether anything changed.
    pub fn saw_manifest(&mut self, manifest: &Manifest) -> bool {
        let head = manifest.head();
        let changed = self
            .head
            .as_ref()
            .is_none_or(|(v, h)| v.as_slice() != manifest.vault_id() || *h != head);
        if self
            .head
            .as_ref()
            .is_some_and(|(v, _)| v.as_slice() != manifest.vault_id())
        {
            self.records.clear();
            self.device = None;
        }
        if changed {
            // The tag was of the manifest seen before.
            self.verified = None;
        }
        self.head = Some((manifest.vault_id().to_vec(), head));
        changed
    }

    /// [`Seen::saw_manifest`] for the manifest of an open vault, with the
    /// vault's tag of it (under the seed of the entry it was opened with):
    /// the next unlock through that entry with this very manifest (its
    /// signed bytes and signature) need not verify its signatures again.
    /// Returns whether anything changed.
    ///
    /// It also keeps this device's copy of the current vault key, wrapped
    /// under a key that only the seed of the unlock entry the vault was
    /// opened with derives (so only that passkey's PRF output or that
    /// recovery code opens it, as with the copy sealed to the entry in the
    /// manifest), bound to the vault, the epoch and the entry. The next
    /// unlock through that entry in that epoch opens this copy (AES-GCM)
    /// instead of the manifest's (HPKE: P-256 Diffie-Hellman). A re-key
    /// makes a new epoch, for which the old copy does not open, and a
    /// removed entry is not in the manifest to unlock through.
    pub fn saw_vault(&mut self, vault: &crate::Vault) -> bool {
        let mut changed = self.saw_manifest(vault.manifest());
        if let Some(tag) = vault.verified_tag() {
            changed |= self.verified != Some(tag);
            self.verified = Some(tag);
        }
        // A copy for the vault's entry and epoch that opens to its key is
        // kept (`device_copy_opens` checks all three).
        let kept = match (vault.unlocked_entry(), &self.device) {
            (Some(_), Some(d)) => vault.device_copy_opens(&d.entry_id, d.epoch, &d.wrapped.0),
            _ => false,
        };
        if !kept {
            let device = vault
                .device_unlock()
                .map(|(entry_id, epoch, w)| DeviceUnlock {
                    entry_id,
                    epoch,
                    wrapped: B64(w.to_vec()),
                });
            // A vault opened another way (a hand-off, a new vault) keeps
            // the copy that another entry left, if any.
            if device.is_some() {
                changed = true;
                self.device = device;
            }
        }
        changed
    }

    /// The device's copy of the vault key for unlocking `manifest` through
    /// the entry `entry_id`, if it has one for that vault, entry and epoch.
    pub(crate) fn device_unlock(&self, manifest: &Manifest, entry_id: &str) -> Option<&[u8]> {
        let (vault_id, _) = self.head.as_ref()?;
        let d = self.device.as_ref()?;
        (vault_id.as_slice() == manifest.vault_id()
            && d.entry_id == entry_id
            && d.epoch == manifest.epoch())
        .then_some(d.wrapped.0.as_slice())
    }

    /// The tag kept for `manifest`, if it is the manifest seen (same
    /// revision and hash); the vault checks the tag itself.
    pub(crate) fn verified_tag(&self, manifest: &Manifest) -> Option<[u8; 32]> {
        let (vault_id, head) = self.head.as_ref()?;
        (vault_id.as_slice() == manifest.vault_id()
            && head.revision == manifest.revision()
            && head.hash == manifest.hash())
        .then_some(self.verified?)
    }

    /// Checks a record's header against what was seen of that record:
    /// `StaleRecord` for an older version, `RecordDeleted` for a version not
    /// newer than a tombstone seen.
    pub fn check_record(&self, ctx: &RecordContext<'_>, meta: &RecordMeta) -> Result<()> {
        // Most devices remember no record (only edited or deleted ones are
        // kept): then there is no key to hash (a SHA-256 per open).
        if self.records.is_empty() {
            return Ok(());
        }
        match self.records.get(&record_key(ctx)) {
            Some(&(version, true)) if meta.version <= version => {
                Err(Error::RecordDeleted { version })
            }
            Some(&(version, _)) if meta.version < version => Err(Error::StaleRecord {
                seen: version,
                offered: meta.version,
            }),
            _ => Ok(()),
        }
    }

    /// [`Seen::check_record`] for a re-wrap: as there, except that the
    /// tombstone seen itself (its very version) may be re-wrapped, so that a
    /// deleted record does not keep an old key epoch alive. Older versions
    /// stay refused: a re-wrap never brings deleted content forward.
    pub fn check_rewrap(&self, ctx: &RecordContext<'_>, meta: &RecordMeta) -> Result<()> {
        match self.records.get(&record_key(ctx)) {
            Some(&(version, true)) if meta.version == version => Ok(()),
            _ => self.check_record(ctx, meta),
        }
    }

    /// Remembers a record that opened, unless it was sealed under a key
    /// epoch older than `current_epoch`: anyone who held an ended epoch's
    /// vault key (a removed passkey, an old recovery code) can still seal
    /// records under it, so such a record must not raise what this device
    /// expects of that record id (docs/SECURITY.md §8). Returns whether
    /// anything changed.
    pub fn saw_opened(
        &mut self,
        ctx: &RecordContext<'_>,
        meta: &RecordMeta,
        current_epoch: u32,
        deleted: bool,
    ) -> bool {
        if meta.epoch < current_epoch {
            return false;
        }
        self.saw_record(ctx, meta.version, deleted)
    }

    /// Remembers a record version that opened (or was sealed), or a
    /// tombstone. Versions 1 are not stored (nothing is older). Returns
    /// whether anything changed.
    pub fn saw_record(&mut self, ctx: &RecordContext<'_>, version: u64, deleted: bool) -> bool {
        if version <= 1 && !deleted {
            return false;
        }
        let key = record_key(ctx);
        match self.records.get(&key) {
            Some(&(v, d)) if v > version || (v == version && (d || !deleted)) => false,
            _ => {
                if self.records.len() >= MAX_RECORDS && !self.records.contains_key(&key) {
                    return false;
                }
                self.records.insert(key, (version, deleted));
                true
            }
        }
    }
}

/// A record's key in the seen state: a hash of its id and context (so the
/// state holds no record ids in clear and has a bounded size per record).
fn record_key(ctx: &RecordContext<'_>) -> String {
    let mut buf = Vec::with_capacity(64 + ctx.record_id.len() + ctx.context.len());
    put_lp(&mut buf, label::SEEN_RECORD);
    put_lp(&mut buf, ctx.record_id);
    put_lp(&mut buf, ctx.context);
    let digest = Sha256::digest(&buf);
    crate::b64::encode(digest.get(..16).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::Seen;

    /// A seen state comes from the device's storage: values out of range are
    /// refused when read, so no later arithmetic on them can overflow.
    #[test]
    fn out_of_range_state_is_malformed() {
        let ok = r#"{"medseal":"vault-seen","version":1,"vaultId":"AAAAAAAAAAAAAAAAAAAAAA","revision":3,"hash":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","epoch":1,"identity":"AA","records":{}}"#;
        assert!(Seen::from_json(ok).is_ok());
        for (from, to) in [
            (r#""revision":3"#, r#""revision":18446744073709551615"#),
            (r#""revision":3"#, r#""revision":9007199254740992"#),
            (r#""epoch":1"#, r#""epoch":0"#),
            (r#""epoch":1"#, r#""epoch":257"#),
        ] {
            let bad = ok.replace(from, to);
            assert_eq!(
                Seen::from_json(&bad).map(|_| ()).unwrap_err().code(),
                "Malformed",
                "{to}"
            );
        }
    }
}
