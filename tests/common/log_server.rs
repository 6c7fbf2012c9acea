//! A vault log server in memory (FORMAT.md §16.5's answers), honest unless a
//! test edits `leaves` or `cosigned` as a compromised server would: the tree
//! is always rebuilt from `leaves`, so every answer is self-consistent.

use medseal::log::entry::{Entry, Event};
use medseal::log::merkle::{self, MemoryTree};
use medseal::log::note::{Checkpoint, Note};
use medseal::log::{Cosigned, LogState, ServerLogKey, SyncInput};
use medseal::Vault;

pub struct LogServer {
    pub origin: String,
    pub key: ServerLogKey,
    pub leaves: Vec<Vec<u8>>,
    pub cosigned: Vec<String>,
}

impl LogServer {
    /// A server whose log starts with the vault announcing its key.
    pub fn new(vault: &Vault) -> LogServer {
        let mut s = LogServer {
            origin: vault.log_origin(),
            key: ServerLogKey::generate("medseal-test/log").unwrap(),
            leaves: Vec::new(),
            cosigned: Vec::new(),
        };
        let announce = s.key.announcement();
        s.vault(vault, &announce);
        s
    }

    pub fn n(&self) -> u64 {
        self.leaves.len() as u64
    }

    pub fn push(&mut self, leaf: Vec<u8>) {
        self.leaves.push(leaf);
    }

    /// A vault entry at the next position, at time 1000 + 60·position.
    pub fn vault(&mut self, vault: &Vault, ev: &Event) {
        self.vault_at(vault, 1_000 + self.n() * 60, ev);
    }

    pub fn vault_at(&mut self, vault: &Vault, t: u64, ev: &Event) {
        let leaf = vault.log_entry(self.n(), t, ev).unwrap();
        self.push(leaf);
    }

    /// A server-attested event at the next position, at time 1000 + 60·position.
    pub fn attest(&mut self, ev: &Event) {
        self.attest_at(1_000 + self.n() * 60, ev);
    }

    pub fn attest_at(&mut self, t: u64, ev: &Event) {
        let leaf = self.key.entry(&self.origin, self.n(), t, ev).unwrap();
        self.push(leaf);
    }

    /// The tree of the first `size` leaves.
    pub fn tree(&self, size: u64) -> MemoryTree {
        let mut t = MemoryTree::new();
        for l in &self.leaves[..size as usize] {
            t.push(l);
        }
        t
    }

    pub fn checkpoint(&self, size: u64) -> String {
        let root = self.tree(size).root(size).unwrap();
        self.key
            .sign_checkpoint(&Checkpoint {
                origin: self.origin.clone(),
                size,
                root,
            })
            .unwrap()
    }

    /// The answer to a device that pinned `from`, up to `to` (a page).
    pub fn sync_input_to(&self, from: u64, to: u64) -> SyncInput {
        let t = self.tree(to);
        let from = from.min(to);
        SyncInput {
            checkpoint: self.checkpoint(to),
            proof: merkle::prove_consistency(from, to, &t).unwrap(),
            entries: self.leaves[from as usize..to as usize].to_vec(),
            cosigned: self
                .cosigned
                .iter()
                .filter_map(|c| {
                    let m = Checkpoint::parse_text(&Note::parse(c).unwrap().text)
                        .unwrap()
                        .size;
                    (m <= to).then(|| Cosigned {
                        note: c.clone(),
                        proof: merkle::prove_consistency(m, to, &t).unwrap(),
                    })
                })
                .collect(),
        }
    }

    /// The answer to a device that pinned `from`, up to the head.
    pub fn sync_input(&self, from: u64) -> SyncInput {
        self.sync_input_to(from, self.n())
    }

    /// A device syncs (in pages of 1000, as the reference server answers)
    /// and cosigns what it verified; returns the new entries.
    pub fn sync(&mut self, vault: &Vault, state: &mut LogState) -> medseal::Result<Vec<Entry>> {
        let mut got = Vec::new();
        loop {
            let to = (state.size() + 1000).min(self.n());
            let input = self.sync_input_to(state.size(), to);
            got.extend(state.sync(vault.manifest(), &input)?);
            if to >= self.n() {
                break;
            }
        }
        if let Ok(note) = vault.cosign_log(state) {
            self.cosigned.push(note);
        }
        Ok(got)
    }

    /// `GET /api/log/entries` for positions `start..end` in the tree of
    /// `size`, as the JSON `Vault.accessReport` takes.
    pub fn entries_json(&self, start: u64, end: u64, size: u64) -> String {
        let t = self.tree(size);
        let items: Vec<serde_json::Value> = (start..end)
            .map(|i| {
                serde_json::json!({
                    "index": i,
                    "leaf": super::b64(&self.leaves[i as usize]),
                    "proof": merkle::prove_inclusion(i, size, &t)
                        .unwrap()
                        .iter()
                        .map(|h| super::b64(h))
                        .collect::<Vec<_>>(),
                })
            })
            .collect();
        serde_json::Value::Array(items).to_string()
    }
}
