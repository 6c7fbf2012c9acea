//! What one device has verified of a vault's log, and the checks a sync
//! passes before anything the server sent is believed (FORMAT.md §16.4).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::log::entry::{Author, Entry, Event};
use crate::log::merkle::{self, Frontier, Hash};
use crate::log::note::{self, Checkpoint, Note};
use crate::log::report::{describe, AccessEvent, Alert, AlertRules, Digest};
use crate::manifest::Manifest;

const KIND: &str = "vault-log-state";

/// An entry shown with its inclusion proof: position, leaf, proof.
pub type Included = (u64, Vec<u8>, Vec<Hash>);

/// A device's pinned view of one vault log: the last checkpoint it verified,
/// the right edge of that tree (to fold new entries in), the server's log key
/// as the vault announced it, and the lowest key epoch still allowed to sign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogState {
    origin: String,
    frontier: Frontier,
    root: Hash,
    checkpoint: Option<String>,
    server: Option<(String, Vec<u8>)>,
    epoch_floor: u32,
    digest: Digest,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct StateJson {
    medseal: String,
    version: u64,
    origin: String,
    size: u64,
    root: String,
    peaks: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    checkpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    server_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    server_key: Option<String>,
    epoch_floor: u32,
    #[serde(default)]
    digest: serde_json::Value,
}

/// A checkpoint another device of the vault cosigned, with the server's
/// consistency proof from its size to the head being synced.
#[derive(Clone, Debug)]
pub struct Cosigned {
    /// The signed note.
    pub note: String,
    /// Consistency proof from the note's size to the new head.
    pub proof: Vec<Hash>,
}

/// How a sync raises alerts and what it checks beyond the log itself.
#[derive(Clone, Debug, Default)]
pub struct SyncOptions<'a> {
    /// This device's own unlock entry ids (their unlocks raise nothing).
    pub own: &'a [&'a str],
    /// The alert thresholds.
    pub rules: AlertRules,
    /// Entries this device appended: position and leaf hash.
    pub expect: &'a [(u64, Hash)],
}

/// What the server sends on a sync.
#[derive(Clone, Debug, Default)]
pub struct SyncInput {
    /// The new head, as a signed note.
    pub checkpoint: String,
    /// Consistency proof from the pinned size to the new head.
    pub proof: Vec<Hash>,
    /// Every entry after the pinned size, up to the new head, in order.
    pub entries: Vec<Vec<u8>>,
    /// Checkpoints the vault's devices cosigned, each with its proof.
    pub cosigned: Vec<Cosigned>,
}

fn b64_hash(s: &str) -> Result<Hash> {
    crate::b64::decode(s.as_bytes())
        .and_then(|v| v.try_into().ok())
        .ok_or(Error::Malformed("not a medseal log state"))
}

impl LogState {
    /// Nothing verified yet, for the vault `vault_id`.
    pub fn new(vault_id: &[u8]) -> LogState {
        LogState {
            origin: note::origin_for(vault_id),
            frontier: Frontier::new(),
            root: merkle::empty_root(),
            checkpoint: None,
            server: None,
            epoch_floor: 0,
            digest: Digest::default(),
        }
    }

    /// Reads what [`LogState::to_json`] wrote.
    pub fn from_json(json: &str) -> Result<LogState> {
        let j: StateJson =
            serde_json::from_str(json).map_err(|_| Error::Malformed("not a medseal log state"))?;
        Self::from_parts(j)
    }

    pub(crate) fn from_parts(j: StateJson) -> Result<LogState> {
        let bad = || Error::Malformed("not a medseal log state");
        if j.medseal != KIND || j.version != 1 {
            return Err(bad());
        }
        let peaks = j
            .peaks
            .iter()
            .map(|p| b64_hash(p))
            .collect::<Result<Vec<_>>>()?;
        let frontier = Frontier::from_parts(j.size, peaks).map_err(|_| bad())?;
        let root = b64_hash(&j.root)?;
        if frontier.root() != root {
            return Err(bad());
        }
        let server = match (j.server_name, j.server_key) {
            (Some(n), Some(k)) => Some((n, crate::b64::decode(k.as_bytes()).ok_or_else(bad)?)),
            (None, None) => None,
            _ => return Err(bad()),
        };
        Ok(LogState {
            origin: j.origin,
            frontier,
            root,
            checkpoint: j.checkpoint,
            server,
            epoch_floor: j.epoch_floor,
            digest: match &j.digest {
                serde_json::Value::Null => Digest::default(),
                d => Digest::from_value(d).ok_or_else(bad)?,
            },
        })
    }

    /// The state as JSON, for the app to keep (the seen-state embeds it).
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.to_parts()).unwrap_or_default()
    }

    pub(crate) fn to_parts(&self) -> StateJson {
        StateJson {
            medseal: KIND.into(),
            version: 1,
            origin: self.origin.clone(),
            size: self.frontier.size(),
            root: crate::b64::encode(&self.root),
            peaks: self
                .frontier
                .peaks()
                .iter()
                .map(|p| crate::b64::encode(p))
                .collect(),
            checkpoint: self.checkpoint.clone(),
            server_name: self.server.as_ref().map(|s| s.0.clone()),
            server_key: self.server.as_ref().map(|s| crate::b64::encode(&s.1)),
            epoch_floor: self.epoch_floor,
            digest: self.digest.to_value(),
        }
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Entries verified.
    pub fn size(&self) -> u64 {
        self.frontier.size()
    }

    /// Root of the verified tree.
    pub fn root(&self) -> Hash {
        self.root
    }

    /// The last checkpoint verified, as the signed note it came in.
    pub fn checkpoint(&self) -> Option<&str> {
        self.checkpoint.as_deref()
    }

    /// The server's log key `(name, SEC1)` as the vault announced it.
    pub fn server_key(&self) -> Option<(&str, &[u8])> {
        self.server
            .as_ref()
            .map(|(n, k)| (n.as_str(), k.as_slice()))
    }

    /// The vault's identity keys of epochs `floor` and later.
    fn identity_keys(manifest: &Manifest, floor: u32) -> Vec<&[u8]> {
        (floor..=manifest.epoch())
            .filter_map(|e| manifest.identity_of_epoch(e))
            .collect()
    }

    /// Verifies a signed checkpoint of this log against the server key and
    /// every identity key of the vault; returns it parsed.
    pub fn verify_checkpoint(&self, manifest: &Manifest, note_text: &str) -> Result<Checkpoint> {
        self.verify_checkpoint_with(manifest, note_text, self.server_key(), Some(0))
    }

    fn verify_checkpoint_with(
        &self,
        manifest: &Manifest,
        note_text: &str,
        server: Option<(&str, &[u8])>,
        identity_from: Option<u32>,
    ) -> Result<Checkpoint> {
        let parsed = Note::parse(note_text)?;
        let cp = Checkpoint::parse_text(&parsed.text)?;
        if cp.origin != self.origin {
            return Err(Error::Malformed("checkpoint of another log"));
        }
        let mut known: Vec<(&str, &[u8])> = Vec::new();
        if let Some(s) = server {
            known.push(s);
        }
        if let Some(floor) = identity_from {
            for k in Self::identity_keys(manifest, floor) {
                known.push((self.origin.as_str(), k));
            }
        }
        parsed.verify(&known)?;
        Ok(cp)
    }

    /// Checks everything a sync brings and, only if all of it holds, moves
    /// the pin to the new head. Returns the entries that were new, verified.
    ///
    /// Refused with a typed error: a smaller log ([`Error::LogRolledBack`]),
    /// another root at the pinned size or a cosigned checkpoint the new head
    /// does not extend ([`Error::LogForked`]), a failing consistency proof or
    /// entries that are not the ones the checkpoint commits to
    /// ([`Error::LogInconsistent`]), a missing proof
    /// ([`Error::LogProofMissing`]), an entry forged, edited, moved or written
    /// by the wrong author ([`Error::LogEntryInvalid`]), a checkpoint not
    /// signed by a known key ([`Error::LogSignatureInvalid`]).
    pub fn sync(&mut self, manifest: &Manifest, input: &SyncInput) -> Result<Vec<Entry>> {
        self.sync_with(manifest, input, &SyncOptions::default())
    }

    /// [`LogState::sync`], raising alerts under `opts.rules` (never for the
    /// unlock entries in `opts.own`, this device's), and checking that the
    /// entries this device appended (`opts.expect`: position and leaf hash)
    /// are where it put them: a server that acknowledged an entry and then
    /// dropped or replaced it is `LogInconsistent`.
    pub fn sync_with(
        &mut self,
        manifest: &Manifest,
        input: &SyncInput,
        opts: &SyncOptions<'_>,
    ) -> Result<Vec<Entry>> {
        let parsed = Note::parse(&input.checkpoint)?;
        let cp = Checkpoint::parse_text(&parsed.text)?;
        let old = self.size();
        // Another log's checkpoint, or more entries than it covers: what was
        // served is not an extension of what this device verified.
        let inconsistent = Error::LogInconsistent {
            seen: old,
            offered: cp.size,
        };
        if cp.origin != self.origin {
            return Err(inconsistent);
        }
        if cp.size < old {
            return Err(Error::LogRolledBack {
                seen: old,
                offered: cp.size,
            });
        }
        if cp.size == 0 {
            // An empty log: nothing to believe, nothing to pin.
            return if input.entries.is_empty() {
                Ok(Vec::new())
            } else {
                Err(inconsistent)
            };
        }
        if cp.size == old && cp.root != self.root {
            return Err(Error::LogForked {
                size: old,
                seen: self.root,
                offered: cp.root,
            });
        }
        let want = cp.size - old;
        let got = input.entries.len() as u64;
        if got < want {
            return Err(Error::LogProofMissing);
        }
        if got > want {
            return Err(inconsistent);
        }
        if old > 0 && cp.size > old {
            if input.proof.is_empty() {
                return Err(Error::LogProofMissing);
            }
            merkle::verify_consistency(old, cp.size, &self.root, &cp.root, &input.proof).map_err(
                |_| Error::LogInconsistent {
                    seen: old,
                    offered: cp.size,
                },
            )?;
        }

        for (pos, _) in opts.expect {
            if *pos >= cp.size {
                // An entry this device appended is not in the log served.
                return Err(inconsistent);
            }
        }
        let mut next = self.clone();
        let mut verified = Vec::with_capacity(input.entries.len());
        for (i, leaf) in input.entries.iter().enumerate() {
            let index = old + i as u64;
            let entry = next.check_entry(manifest, index, leaf)?;
            let hash = merkle::leaf_hash(leaf);
            if opts.expect.iter().any(|(p, h)| *p == index && *h != hash) {
                return Err(Error::LogInconsistent {
                    seen: old,
                    offered: cp.size,
                });
            }
            next.frontier.push(hash);
            next.digest.apply(&entry, opts.own, &opts.rules);
            verified.push(entry);
        }
        if next.frontier.root() != cp.root {
            return Err(Error::LogInconsistent {
                seen: old,
                offered: cp.size,
            });
        }
        next.root = cp.root;
        // The head must carry the server's signature (a note only the vault
        // signed is evidence of nothing the server said); cosigned notes
        // need the vault's, by a key of an epoch not ended.
        next.verify_checkpoint_with(manifest, &input.checkpoint, next.server_key(), None)?;

        for c in &input.cosigned {
            // A cosignature by an ended epoch's key counts for nothing (a
            // removed device still holds that key): such a note is skipped,
            // as a note by an unknown key is. One by a current key must
            // verify.
            if !next.cosigned_by_current_key(manifest, &c.note)? {
                continue;
            }
            let theirs =
                next.verify_checkpoint_with(manifest, &c.note, None, Some(next.epoch_floor))?;
            if theirs.size > cp.size {
                return Err(Error::LogRolledBack {
                    seen: theirs.size,
                    offered: cp.size,
                });
            }
            let forked = Error::LogForked {
                size: theirs.size,
                seen: theirs.root,
                offered: cp.root,
            };
            if theirs.size == cp.size {
                if theirs.root != cp.root {
                    return Err(forked);
                }
            } else if merkle::verify_consistency(
                theirs.size,
                cp.size,
                &theirs.root,
                &cp.root,
                &c.proof,
            )
            .is_err()
            {
                return Err(forked);
            }
        }
        next.checkpoint = Some(input.checkpoint.clone());
        *self = next;
        Ok(verified)
    }

    /// Whether a note carries a signature line under the vault's name by an
    /// identity key of an epoch at or above the floor.
    fn cosigned_by_current_key(&self, manifest: &Manifest, note_text: &str) -> Result<bool> {
        let parsed = Note::parse(note_text)?;
        let mut ids = Vec::new();
        for k in Self::identity_keys(manifest, self.epoch_floor) {
            ids.push(note::key_id(k)?);
        }
        Ok(parsed
            .signatures
            .iter()
            .any(|s| s.name == self.origin && ids.contains(&s.key_id)))
    }

    /// Checks one entry at its position and applies what it changes (the
    /// server key, the epoch floor).
    fn check_entry(&mut self, manifest: &Manifest, index: u64, leaf: &[u8]) -> Result<Entry> {
        let invalid = || Error::LogEntryInvalid { index };
        let entry = Entry::parse(leaf).map_err(|_| invalid())?;
        if entry.n != index {
            return Err(invalid());
        }
        // Entry 0, and only entry 0, names the server's key: a later
        // announcement could come from a removed device (its ended epoch's
        // key still signs until the log records the re-key) and would let
        // it speak as the server. Rotating the server's key is not part of
        // this version of the log.
        if (index == 0) != matches!(entry.event, Event::Server { .. }) {
            return Err(invalid());
        }
        match entry.author {
            Author::Vault => {
                let e = entry.e.ok_or_else(invalid)?;
                // An ended epoch's key (held by a removed passkey) may not
                // write after the log recorded the epoch that ended it.
                if e < self.epoch_floor {
                    return Err(invalid());
                }
                let key = manifest.identity_of_epoch(e).ok_or_else(invalid)?;
                entry.verify(&self.origin, key).map_err(|_| invalid())?;
            }
            Author::Server => {
                let (_, key) = self.server.as_ref().ok_or_else(invalid)?;
                entry.verify(&self.origin, key).map_err(|_| invalid())?;
            }
        }
        match &entry.event {
            Event::Server { name, key } => {
                let key = crate::b64::decode(key.as_bytes()).ok_or_else(invalid)?;
                self.server = Some((name.clone(), key));
            }
            Event::Manifest { epoch, .. } => {
                if entry.e != Some(*epoch) {
                    return Err(invalid());
                }
                self.epoch_floor = self.epoch_floor.max(*epoch);
            }
            _ => {}
        }
        Ok(entry)
    }

    /// The alerts raised by entries at positions `since` and after (the
    /// newest [`crate::log::report::MAX_ALERTS`]).
    pub fn alerts(&self, since: u64) -> Vec<Alert> {
        self.digest.alerts(since)
    }

    /// The access report of entries the server sends for display, each with
    /// its inclusion proof in the pinned tree: a contiguous run of positions
    /// that ends at the newest entry verified (so a server cannot leave the
    /// newest out), then filtered to `from <= time < to`. Shares are named
    /// from what this device verified earlier, so any page of the log can
    /// be shown on its own.
    pub fn report(
        &self,
        items: &[Included],
        from: Option<u64>,
        to: Option<u64>,
    ) -> Result<Vec<AccessEvent>> {
        let size = self.size();
        let first = items.first().map_or(size, |(i, _, _)| *i);
        let contiguous = items
            .iter()
            .enumerate()
            .all(|(k, (i, _, _))| first.checked_add(k as u64) == Some(*i));
        if !contiguous || first.checked_add(items.len() as u64) != Some(size) {
            return Err(Error::LogProofMissing);
        }
        let entries = self.verify_included(items)?;
        Ok(entries
            .iter()
            .filter(|e| from.is_none_or(|f| e.t >= f) && to.is_none_or(|t| e.t < t))
            .filter_map(|e| describe(e, &self.digest))
            .collect())
    }

    /// Verifies entries the server sends for display, each with its
    /// inclusion proof in the pinned tree. Entries beyond the pin are refused
    /// (sync first).
    pub fn verify_included(&self, entries: &[Included]) -> Result<Vec<Entry>> {
        let size = self.size();
        let mut out = Vec::with_capacity(entries.len());
        for (index, leaf, proof) in entries {
            if *index >= size {
                return Err(Error::LogProofMissing);
            }
            if size > 1 && proof.is_empty() {
                return Err(Error::LogProofMissing);
            }
            merkle::verify_inclusion(&merkle::leaf_hash(leaf), *index, size, proof, &self.root)
                .map_err(|_| Error::LogEntryInvalid { index: *index })?;
            let entry = Entry::parse(leaf).map_err(|_| Error::LogEntryInvalid { index: *index })?;
            if entry.n != *index {
                return Err(Error::LogEntryInvalid { index: *index });
            }
            out.push(entry);
        }
        Ok(out)
    }
}

/// Most entries in one sync or report request.
pub const MAX_BATCH: usize = 10_000;

fn hashes(list: &[String]) -> Result<Vec<Hash>> {
    if list.len() > merkle::MAX_PROOF_LEN {
        return Err(Error::Malformed("Merkle proof too long"));
    }
    list.iter()
        .map(|h| {
            crate::b64::decode(h.as_bytes())
                .and_then(|v| v.try_into().ok())
                .ok_or(Error::Malformed("Merkle proof hash"))
        })
        .collect()
}

fn leaf_of(s: &str) -> Result<Vec<u8>> {
    crate::b64::decode(s.as_bytes()).ok_or(Error::Malformed("log entry is not base64url"))
}

// The two server answers are read through `serde_json::Value` (already in
// the module for manifests and grants) rather than derived structs: each
// derived deserializer is its own few kilobytes of wasm.
type Object = serde_json::Map<String, serde_json::Value>;
use crate::log::entry::Fields;

fn take_object(v: serde_json::Value) -> Option<Object> {
    match v {
        serde_json::Value::Object(o) => Some(o),
        _ => None,
    }
}

impl SyncInput {
    /// Reads a sync response as FORMAT.md §16.5 gives it: `{checkpoint,
    /// proof: [hash], entries: [leaf], cosigned: [{note, proof}]}`, bytes
    /// in base64url (`size` and `more`, for paging, are not read).
    pub fn from_json(json: &str) -> Result<SyncInput> {
        let bad = || Error::Malformed("log sync response");
        let mut o = Fields::new(serde_json::from_str(json).map_err(|_| bad())?);
        let checkpoint = o.text("checkpoint").ok_or_else(bad)?;
        let proof = o.list("proof").ok_or_else(bad)?;
        let entries = o.list("entries").ok_or_else(bad)?;
        let cosigned = match o.take("cosigned") {
            None => Vec::new(),
            Some(serde_json::Value::Array(a)) => a,
            Some(_) => return Err(bad()),
        };
        o.take("size");
        o.take("more");
        if !o.done() {
            return Err(bad());
        }
        if entries.len() > MAX_BATCH || cosigned.len() > 64 {
            return Err(Error::TooLarge);
        }
        Ok(SyncInput {
            checkpoint,
            proof: hashes(&proof)?,
            entries: entries.iter().map(|e| leaf_of(e)).collect::<Result<_>>()?,
            cosigned: cosigned
                .into_iter()
                .map(|c| {
                    let mut c = Fields::new(take_object(c).ok_or_else(bad)?);
                    let note = c.text("note").ok_or_else(bad)?;
                    let proof = c.list("proof").ok_or_else(bad)?;
                    if !c.done() {
                        return Err(bad());
                    }
                    Ok(Cosigned {
                        proof: hashes(&proof)?,
                        note,
                    })
                })
                .collect::<Result<_>>()?,
        })
    }
}

/// Reads entries with inclusion proofs, `[{index, leaf, proof}]`.
pub fn included_from_json(json: &str) -> Result<Vec<Included>> {
    let bad = || Error::Malformed("log entries with proofs");
    let list: Vec<serde_json::Value> = serde_json::from_str(json).map_err(|_| bad())?;
    if list.len() > MAX_BATCH {
        return Err(Error::TooLarge);
    }
    list.into_iter()
        .map(|v| {
            let mut o = Fields::new(take_object(v).ok_or_else(bad)?);
            let index = o.num("index").ok_or_else(bad)?;
            let leaf = o.text("leaf").ok_or_else(bad)?;
            let proof = o.list("proof").ok_or_else(bad)?;
            if !o.done() {
                return Err(bad());
            }
            Ok((index, leaf_of(&leaf)?, hashes(&proof)?))
        })
        .collect()
}
