//! The vault log (the core's `medseal::log`): entries this vault signs,
//! syncs that verify what the server sends and move this device's pin, the
//! access report and its alerts. Server responses cross as the JSON text
//! the server sent (FORMAT.md §16.5); the core parses and checks it.

use wasm_bindgen::prelude::*;

use medseal::log::entry::Event;
use medseal::log::report::{report_json, sync_json, AlertRules};
use medseal::log::{included_from_json, merkle, LogState, SyncInput, SyncOptions};

use crate::share::seconds;
use crate::{invalid, to_js, VaultHandle};

fn event_of(json: &str) -> Result<Event, JsValue> {
    Event::from_json(json).map_err(to_js)
}

/// A count from JS: a whole number from 0 to 2^32 - 1.
fn count(v: f64, what: &'static str) -> Result<u32, JsValue> {
    if v >= 0.0 && v.fract() == 0.0 && v <= f64::from(u32::MAX) {
        Ok(v as u32)
    } else {
        Err(invalid(what))
    }
}

impl VaultHandle {
    fn log_state(&self) -> Result<LogState, JsValue> {
        let vault = self.get()?;
        Ok(self
            .seen
            .log()
            .cloned()
            .unwrap_or_else(|| LogState::new(vault.manifest().vault_id())))
    }
}

#[wasm_bindgen]
impl VaultHandle {
    /// A log entry signed by this vault at `position`, time `time` (seconds
    /// since the Unix epoch): the leaf bytes to append. `event` is the
    /// entry's JSON (`{"type": "unlock", …}`); only vault events.
    #[wasm_bindgen(js_name = logEntry)]
    pub fn log_entry(&self, event: &str, position: f64, time: f64) -> Result<Vec<u8>, JsValue> {
        let ev = event_of(event)?;
        let n = seconds(position, "position must be a whole number")?;
        let t = seconds(time, "time must be seconds since 1970")?;
        self.get()?.log_entry(n, t, &ev).map_err(to_js)
    }

    /// The log entry for this vault's current manifest (revision, hash,
    /// epoch, unlock entries added and removed since `previous`), signed for
    /// `position` and `time`.
    #[wasm_bindgen(js_name = logManifestEntry)]
    pub fn log_manifest_entry(
        &self,
        previous: Option<String>,
        position: f64,
        time: f64,
    ) -> Result<Vec<u8>, JsValue> {
        let previous = previous.map(|p| crate::manifest_of(&p)).transpose()?;
        let n = seconds(position, "position must be a whole number")?;
        let t = seconds(time, "time must be seconds since 1970")?;
        let vault = self.get()?;
        let ev = vault.manifest_event(previous.as_ref());
        vault.log_entry(n, t, &ev).map_err(to_js)
    }

    /// Verifies a sync response (the server's JSON) against this device's
    /// pin, and moves the pin (persist the seen state). Alerts are raised
    /// under the thresholds given, never for the unlock entries in `own`
    /// (this device's); `expect_positions`/`expect_leaves` (base64url) are
    /// entries this device appended, which must be where it put them.
    /// Returns `{entries, alerts}` (the new entries, verified, and the
    /// alerts they raised) as JSON.
    #[allow(clippy::too_many_arguments)]
    #[wasm_bindgen(js_name = syncLog)]
    pub fn sync_log(
        &mut self,
        response: &str,
        own: Vec<String>,
        burst_records: f64,
        burst_minutes: f64,
        link_places: f64,
        expect_positions: Vec<f64>,
        expect_leaves: Vec<String>,
    ) -> Result<String, JsValue> {
        let input = SyncInput::from_json(response).map_err(to_js)?;
        if expect_positions.len() != expect_leaves.len() || expect_leaves.len() > 64 {
            return Err(invalid("expect: one leaf per position, at most 64"));
        }
        let expect = expect_positions
            .iter()
            .zip(&expect_leaves)
            .map(|(p, l)| {
                let leaf = medseal::base64url_decode(l)
                    .ok_or_else(|| invalid("expect: a leaf is base64url"))?;
                Ok((
                    seconds(*p, "expect: a position is a whole number")?,
                    merkle::leaf_hash(&leaf),
                ))
            })
            .collect::<Result<Vec<_>, JsValue>>()?;
        let own: Vec<&str> = own.iter().map(String::as_str).collect();
        let opts = SyncOptions {
            own: &own,
            rules: AlertRules {
                burst_records: count(burst_records, "burstRecords")?,
                burst_minutes: count(burst_minutes, "burstMinutes")?,
                link_places: count(link_places, "linkPlaces")?,
            },
            expect: &expect,
        };
        let mut state = self.log_state()?;
        let old = state.size();
        let vault = self.get()?;
        let entries = state
            .sync_with(vault.manifest(), &input, &opts)
            .map_err(to_js)?;
        let alerts = state.alerts(old);
        self.seen_changed |= self.seen.saw_log(state).map_err(to_js)?;
        Ok(sync_json(&entries, &alerts))
    }

    /// The checkpoint this device last verified, cosigned by this vault:
    /// what it gives the server for the vault's other devices to compare.
    #[wasm_bindgen(js_name = cosignLog)]
    pub fn cosign_log(&self) -> Result<String, JsValue> {
        let state = self.log_state()?;
        self.get()?.cosign_log(&state).map_err(to_js)
    }

    /// Entries verified so far (the pinned checkpoint's size).
    #[wasm_bindgen(js_name = logSize)]
    pub fn log_size(&self) -> Result<f64, JsValue> {
        Ok(self.log_state()?.size() as f64)
    }

    /// The pinned checkpoint, as the signed note the server sent.
    #[wasm_bindgen(js_name = logCheckpoint)]
    pub fn log_checkpoint(&self) -> Result<Option<String>, JsValue> {
        Ok(self.log_state()?.checkpoint().map(str::to_owned))
    }

    /// The access report of a contiguous run of entries up to the newest
    /// verified one, each with its inclusion proof in the pinned tree
    /// (`[{index, leaf, proof}]`), in the time window given, and the alerts
    /// raised at positions `since` and after. Returns `{events, alerts}` as
    /// JSON.
    #[wasm_bindgen(js_name = accessReport)]
    pub fn access_report(
        &self,
        entries: &str,
        from: Option<f64>,
        to: Option<f64>,
        since: f64,
    ) -> Result<String, JsValue> {
        let state = self.log_state()?;
        let items = included_from_json(entries).map_err(to_js)?;
        let from = from.map(|v| seconds(v, "from")).transpose()?;
        let to = to.map(|v| seconds(v, "to")).transpose()?;
        let events = state.report(&items, from, to).map_err(to_js)?;
        Ok(report_json(
            &events,
            &state.alerts(seconds(since, "since")?),
        ))
    }
}

/// An RFC 6962 tree in memory (the core's `merkle::MemoryTree`): what a
/// server keeps, here for the benchmarks (`make bench`: appending, and
/// proving and verifying consistency up to a million leaves in wasm). Not
/// part of the package's JS API.
#[wasm_bindgen]
pub struct LogTree(merkle::MemoryTree);

fn hashes_of(bytes: &[u8]) -> Result<Vec<merkle::Hash>, JsValue> {
    let (chunks, rest) = bytes.as_chunks::<32>();
    if !rest.is_empty() {
        return Err(invalid("hashes are 32 bytes each"));
    }
    Ok(chunks.to_vec())
}

fn flat(hashes: &[merkle::Hash]) -> Vec<u8> {
    hashes.concat()
}

#[wasm_bindgen]
impl LogTree {
    /// An empty tree.
    #[wasm_bindgen(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> LogTree {
        LogTree(merkle::MemoryTree::new())
    }

    /// Appends a leaf (its data).
    pub fn push(&mut self, leaf: &[u8]) {
        self.0.push(leaf);
    }

    /// Appends leaves given by their leaf hashes, 32 bytes each.
    #[wasm_bindgen(js_name = pushLeafHashes)]
    pub fn push_leaf_hashes(&mut self, hashes: &[u8]) -> Result<(), JsValue> {
        for h in hashes_of(hashes)? {
            self.0.push_hash(h);
        }
        Ok(())
    }

    /// Number of leaves.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> f64 {
        self.0.size() as f64
    }

    /// The root of the first `size` leaves.
    pub fn root(&self, size: f64) -> Result<Vec<u8>, JsValue> {
        let n = seconds(size, "size")?;
        self.0.root(n).map(|r| r.to_vec()).map_err(to_js)
    }

    /// The consistency proof from `old` to `new` leaves, hashes concatenated.
    #[wasm_bindgen(js_name = proveConsistency)]
    pub fn prove_consistency(&self, old: f64, new: f64) -> Result<Vec<u8>, JsValue> {
        let (m, n) = (seconds(old, "old")?, seconds(new, "new")?);
        if n > self.0.size() {
            return Err(invalid("size beyond the tree"));
        }
        merkle::prove_consistency(m, n, &self.0)
            .map(|p| flat(&p))
            .map_err(to_js)
    }

    /// The inclusion proof of leaf `index` in the tree of `size`, concatenated.
    #[wasm_bindgen(js_name = proveInclusion)]
    pub fn prove_inclusion(&self, index: f64, size: f64) -> Result<Vec<u8>, JsValue> {
        let (i, n) = (seconds(index, "index")?, seconds(size, "size")?);
        if n > self.0.size() {
            return Err(invalid("size beyond the tree"));
        }
        merkle::prove_inclusion(i, n, &self.0)
            .map(|p| flat(&p))
            .map_err(to_js)
    }
}

/// RFC 9162 §2.1.4.2 verification of a consistency proof (hashes
/// concatenated): for the benchmarks, like [`LogTree`].
#[wasm_bindgen(js_name = verifyLogConsistency)]
pub fn verify_log_consistency(
    old: f64,
    new: f64,
    old_root: &[u8],
    new_root: &[u8],
    proof: &[u8],
) -> Result<(), JsValue> {
    let root = |r: &[u8]| -> Result<merkle::Hash, JsValue> {
        r.try_into().map_err(|_| invalid("a root is 32 bytes"))
    };
    merkle::verify_consistency(
        seconds(old, "old")?,
        seconds(new, "new")?,
        &root(old_root)?,
        &root(new_root)?,
        &hashes_of(proof)?,
    )
    .map_err(to_js)
}

/// RFC 9162 §2.1.3.2 verification of an inclusion proof: for the
/// benchmarks, like [`LogTree`].
#[wasm_bindgen(js_name = verifyLogInclusion)]
pub fn verify_log_inclusion(
    leaf: &[u8],
    index: f64,
    size: f64,
    proof: &[u8],
    root: &[u8],
) -> Result<(), JsValue> {
    let root: merkle::Hash = root.try_into().map_err(|_| invalid("a root is 32 bytes"))?;
    merkle::verify_inclusion(
        &merkle::leaf_hash(leaf),
        seconds(index, "index")?,
        seconds(size, "size")?,
        &hashes_of(proof)?,
        &root,
    )
    .map_err(to_js)
}
