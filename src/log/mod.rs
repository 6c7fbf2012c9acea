//! The vault log: an append-only, tamper-evident record of what happened to
//! a vault (FORMAT.md §16). Entries are signed by their author (the vault's
//! identity key, or the server's log key for the access events only it can
//! see), kept in an RFC 6962 Merkle tree, and summed up by C2SP
//! `tlog-checkpoint` signed notes. A device pins the last checkpoint it
//! verified and accepts a newer one only with a consistency proof.

pub mod entry;
pub mod merkle;
pub mod note;
pub mod report;
pub(crate) mod state;

use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::log::entry::{Author, Entry, Event};
use crate::log::note::{Checkpoint, Note, NoteKey};

pub use crate::log::state::{
    included_from_json, Cosigned, Included, LogState, SyncInput, SyncOptions, MAX_BATCH,
};

/// The server's log key: signs the access events only the server sees and
/// the checkpoints it serves. A vault trusts it once one of its devices has
/// announced it in the log (an [`Event::Server`] entry signed by the vault).
pub struct ServerLogKey(NoteKey);

impl core::fmt::Debug for ServerLogKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ServerLogKey({}, <redacted>)", self.0.name())
    }
}

/// Its name, public key and secret (`name()`, `public_key()`, `secret()`).
impl core::ops::Deref for ServerLogKey {
    type Target = NoteKey;
    fn deref(&self) -> &NoteKey {
        &self.0
    }
}

impl ServerLogKey {
    /// A new random key named `name` (a signed-note key name).
    pub fn generate(name: &str) -> Result<ServerLogKey> {
        NoteKey::generate(name).map(ServerLogKey)
    }

    /// A key from the 32-byte secret `secret()` gave.
    pub fn from_secret(name: &str, secret: &[u8]) -> Result<ServerLogKey> {
        NoteKey::from_secret(name, secret, "server log key secret").map(ServerLogKey)
    }

    /// The entry a vault writes to trust this key.
    pub fn announcement(&self) -> Event {
        Event::Server {
            name: self.0.name().to_owned(),
            key: crate::b64::encode(&self.0.public_key()),
        }
    }

    /// A signed leaf for a server-attested event at position `n`.
    pub fn entry(&self, origin: &str, n: u64, t: u64, event: &Event) -> Result<Vec<u8>> {
        if event.author() != Author::Server {
            return Err(Error::InvalidArgument(
                "a server may only attest access events",
            ));
        }
        Entry::write(origin, n, t, None, event, &self.0.key)
    }

    /// The checkpoint as a note signed by this key.
    pub fn sign_checkpoint(&self, cp: &Checkpoint) -> Result<String> {
        self.0.sign_note(cp.to_text())
    }
}

/// Adds `signer`'s signature, under `name`, to a signed note (kept once).
pub(crate) fn cosign(note_text: &str, name: &str, signer: &Identity) -> Result<String> {
    let mut parsed = Note::parse(note_text)?;
    let line = note::sign_line(&parsed.text, name, signer)?;
    if !parsed
        .signatures
        .iter()
        .any(|s| s.name == line.name && s.key_id == line.key_id)
    {
        parsed.signatures.push(line);
    }
    Ok(parsed.to_text())
}
