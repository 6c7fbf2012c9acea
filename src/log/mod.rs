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

use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::log::entry::{Author, Entry, Event};
use crate::log::note::{Checkpoint, Note};
use crate::rng::Rng;

pub use crate::log::state::{
    included_from_json, Cosigned, Included, LogState, SyncInput, SyncOptions, MAX_BATCH,
};

/// The server's log key: signs the access events only the server sees and
/// the checkpoints it serves. A vault trusts it once one of its devices has
/// announced it in the log (an [`Event::Server`] entry signed by the vault).
pub struct ServerLogKey {
    name: String,
    key: Identity,
}

impl core::fmt::Debug for ServerLogKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ServerLogKey({}, <redacted>)", self.name)
    }
}

impl ServerLogKey {
    /// A new random key named `name` (a signed-note key name).
    pub fn generate(name: &str) -> Result<ServerLogKey> {
        note::check_key_name(name)?;
        Ok(ServerLogKey {
            name: name.to_owned(),
            key: Identity::generate(&mut Rng::Os)?,
        })
    }

    /// A key from the 32-byte secret [`ServerLogKey::secret`] gave.
    pub fn from_secret(name: &str, secret: &[u8]) -> Result<ServerLogKey> {
        note::check_key_name(name)?;
        let bytes: &[u8; 32] = secret
            .try_into()
            .map_err(|_| Error::InvalidArgument("server log key secret"))?;
        Ok(ServerLogKey {
            name: name.to_owned(),
            key: Identity::from_scalar(bytes)
                .map_err(|_| Error::InvalidArgument("server log key secret"))?,
        })
    }

    /// The secret scalar, for the server to store.
    pub fn secret(&self) -> Zeroizing<[u8; 32]> {
        self.key.scalar()
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public key, compressed SEC1.
    pub fn public_key(&self) -> [u8; 33] {
        self.key.public_key()
    }

    /// The entry a vault writes to trust this key.
    pub fn announcement(&self) -> Event {
        Event::Server {
            name: self.name.clone(),
            key: crate::b64::encode(&self.public_key()),
        }
    }

    /// A signed leaf for a server-attested event at position `n`.
    pub fn entry(&self, origin: &str, n: u64, t: u64, event: &Event) -> Result<Vec<u8>> {
        if event.author() != Author::Server {
            return Err(Error::InvalidArgument(
                "a server may only attest access events",
            ));
        }
        Entry::write(origin, n, t, None, event, &self.key)
    }

    /// The checkpoint as a note signed by this key.
    pub fn sign_checkpoint(&self, cp: &Checkpoint) -> Result<String> {
        let text = cp.to_text();
        let sig = note::sign_line(&text, &self.name, &self.key)?;
        Ok(Note {
            text,
            signatures: vec![sig],
        }
        .to_text())
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
