//! Vault log entries (FORMAT.md §16.2): what happened, who says so, and the
//! position the author put it at.
//!
//! A leaf is `"medseal-log/v1\n" || author (1 byte) || signature (64 bytes,
//! P-256 ECDSA r||s, low s) || body`, the body a JSON object
//! `{"n": position, "t": unix seconds, "type": …, …}`. The signature covers
//! `"medseal-log/v1 entry\n" || origin || "\n" || body`, so an entry is
//! bound to its log and to its position: moved, duplicated or replayed
//! elsewhere, it no longer verifies.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::identity::{self, Identity};

/// The leaf prefix.
pub const MAGIC: &[u8] = b"medseal-log/v1\n";
const SIGNED_PREFIX: &[u8] = b"medseal-log/v1 entry\n";
/// Largest body accepted.
pub const MAX_BODY_LEN: usize = 16 * 1024;
/// Longest string in an entry (ids, names, labels).
pub const MAX_STR_LEN: usize = 256;
/// Most record ids in one access event.
pub const MAX_RECORDS: usize = 1000;

/// Who wrote (and signed) an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Author {
    /// A device of the vault, with the vault's identity key of the entry's epoch.
    Vault,
    /// The server, with the log key the vault announced.
    Server,
}

impl Author {
    fn byte(self) -> u8 {
        match self {
            Author::Vault => 1,
            Author::Server => 2,
        }
    }
}

/// What an entry records. Vault entries are written by the patient's own
/// devices; server entries attest what only the server sees (who fetched
/// shared ciphertext, who tried to sign in).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    /// The vault names the server's log key (the first entry; later ones
    /// rotate it).
    Server {
        /// Key name used in checkpoint signatures.
        name: String,
        /// Compressed SEC1 P-256 public key, base64url.
        key: String,
    },
    /// A manifest revision was committed.
    Manifest {
        /// Its revision.
        rev: u64,
        /// Its hash (base64url).
        hash: String,
        /// Its key epoch.
        epoch: u32,
        /// Unlock entries added since the previous revision.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        added: Vec<String>,
        /// Unlock entries removed since the previous revision.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        removed: Vec<String>,
    },
    /// A device unlocked the vault.
    Unlock {
        /// The unlock entry id used.
        via: String,
        /// `passkey` or `recovery`.
        method: String,
        /// The device's label, if the app gave one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<String>,
    },
    /// Records were shared with a person.
    Grant {
        /// Share id (as in the manifest, base64url).
        share: String,
        /// The grantee's account name.
        to: String,
        /// Number of records named, for a list of records.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        records: Option<u32>,
        /// Expiry, unix seconds.
        expires: u64,
    },
    /// A SMART Health Link was created.
    Link {
        /// Share id (base64url).
        share: String,
        /// The link's label, as the server stores it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
        /// Expiry, unix seconds.
        expires: u64,
    },
    /// A grant or link was revoked.
    Revoke {
        /// Share id (base64url).
        share: String,
    },
    /// A record was deleted (a tombstone).
    Delete {
        /// The record id.
        record: String,
    },
    /// The server served (or refused) shared ciphertext to a grantee.
    SharedFetch {
        /// The grant's id.
        grant: String,
        /// The grantee's account name.
        by: String,
        /// Record ids served.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        records: Vec<String>,
        /// `ok`, `expired` or `revoked`.
        outcome: String,
    },
    /// The server served (or refused) a SMART Health Link.
    LinkFetch {
        /// The link's share id.
        link: String,
        /// The `recipient` the requester declared.
        recipient: String,
        /// A keyed token of the requester's network (the same token for the
        /// same network; not reversible by the vault).
        from: String,
        /// `ok`, `passcode` (wrong), `expired`, `revoked` or `locked`.
        outcome: String,
    },
    /// A sign-in attempt the server saw.
    Login {
        /// `passkey` or `recovery`.
        method: String,
        /// `ok` or `failed`.
        outcome: String,
        /// A keyed token of the requester's network.
        from: String,
    },
}

impl Event {
    /// The author allowed to write this kind of event.
    pub fn author(&self) -> Author {
        match self {
            Event::SharedFetch { .. } | Event::LinkFetch { .. } | Event::Login { .. } => {
                Author::Server
            }
            _ => Author::Vault,
        }
    }

    fn check(&self) -> Result<()> {
        let bad = Error::Malformed("log entry field");
        let s = |v: &str| v.is_empty() || v.len() > MAX_STR_LEN || v.chars().any(char::is_control);
        let one_of = |v: &str, allowed: &[&str]| !allowed.contains(&v);
        let fail = match self {
            Event::Server { name, key } => {
                crate::log::note::check_key_name(name).is_err()
                    || crate::b64::decode(key.as_bytes())
                        .is_none_or(|k| !identity::check_public_key(&k))
            }
            Event::Manifest {
                hash,
                added,
                removed,
                ..
            } => {
                s(hash)
                    || added.len() > 64
                    || removed.len() > 64
                    || added.iter().chain(removed).any(|v| s(v))
            }
            Event::Unlock {
                via,
                method,
                device,
            } => {
                s(via)
                    || one_of(method, &["passkey", "recovery"])
                    || device.as_deref().is_some_and(s)
            }
            Event::Grant { share, to, .. } => s(share) || s(to),
            Event::Link { share, label, .. } => s(share) || label.as_deref().is_some_and(s),
            Event::Revoke { share } => s(share),
            Event::Delete { record } => s(record),
            Event::SharedFetch {
                grant,
                by,
                records,
                outcome,
            } => {
                s(grant)
                    || s(by)
                    || records.len() > MAX_RECORDS
                    || records.iter().any(|r| s(r))
                    || one_of(outcome, &["ok", "expired", "revoked"])
            }
            Event::LinkFetch {
                link,
                recipient,
                from,
                outcome,
            } => {
                s(link)
                    || s(recipient)
                    || s(from)
                    || one_of(outcome, &["ok", "passcode", "expired", "revoked", "locked"])
            }
            Event::Login {
                method,
                outcome,
                from,
            } => {
                s(from)
                    || one_of(method, &["passkey", "recovery"])
                    || one_of(outcome, &["ok", "failed"])
            }
        };
        if fail {
            Err(bad)
        } else {
            Ok(())
        }
    }
}

/// A parsed entry (signature not yet checked: see [`Entry::verify`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Position in the log.
    pub n: u64,
    /// Time the author gives, unix seconds.
    pub t: u64,
    /// For vault entries, the key epoch whose identity signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub e: Option<u32>,
    /// Who wrote it.
    pub author: Author,
    /// What happened.
    pub event: Event,
    #[serde(skip)]
    signature: [u8; 64],
    #[serde(skip)]
    body: Vec<u8>,
}

fn signed_message(origin: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(SIGNED_PREFIX.len() + origin.len() + 1 + body.len());
    m.extend_from_slice(SIGNED_PREFIX);
    m.extend_from_slice(origin.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(body);
    m
}

impl Entry {
    /// Parses a leaf strictly. The position, author and event must agree.
    pub fn parse(leaf: &[u8]) -> Result<Entry> {
        let bad = || Error::Malformed("log entry");
        let rest = leaf.strip_prefix(MAGIC).ok_or_else(bad)?;
        let (&author, rest) = rest.split_first().ok_or_else(bad)?;
        let author = match author {
            1 => Author::Vault,
            2 => Author::Server,
            _ => return Err(bad()),
        };
        if rest.len() < 64 {
            return Err(bad());
        }
        let (sig, body) = rest.split_at(64);
        if body.len() > MAX_BODY_LEN {
            return Err(Error::TooLarge);
        }
        let mut map: Map<String, Value> = serde_json::from_slice(body).map_err(|_| bad())?;
        let n = map.remove("n").and_then(|v| v.as_u64()).ok_or_else(bad)?;
        let t = map.remove("t").and_then(|v| v.as_u64()).ok_or_else(bad)?;
        let e = match map.remove("e") {
            None => None,
            Some(v) => Some(
                v.as_u64()
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or_else(bad)?,
            ),
        };
        let event: Event = serde_json::from_value(Value::Object(map)).map_err(|_| bad())?;
        event.check()?;
        if event.author() != author || (author == Author::Vault) != e.is_some() {
            return Err(bad());
        }
        let mut signature = [0u8; 64];
        signature.copy_from_slice(sig);
        Ok(Entry {
            n,
            t,
            e,
            author,
            event,
            signature,
            body: body.to_vec(),
        })
    }

    /// Checks the signature against the author's key (compressed SEC1).
    pub fn verify(&self, origin: &str, key: &[u8]) -> Result<()> {
        identity::verify(key, &signed_message(origin, &self.body), &self.signature)
    }

    /// Writes and signs a leaf. `e` is the signer's epoch for vault entries.
    pub(crate) fn write(
        origin: &str,
        n: u64,
        t: u64,
        e: Option<u32>,
        event: &Event,
        signer: &Identity,
    ) -> Result<Vec<u8>> {
        event.check()?;
        if (event.author() == Author::Vault) != e.is_some() {
            return Err(Error::InvalidArgument("log entry author"));
        }
        let mut map = match serde_json::to_value(event) {
            Ok(Value::Object(m)) => m,
            _ => return Err(Error::InvalidArgument("log event")),
        };
        map.insert("n".into(), n.into());
        map.insert("t".into(), t.into());
        if let Some(e) = e {
            map.insert("e".into(), e.into());
        }
        let body = serde_json::to_vec(&Value::Object(map))
            .map_err(|_| Error::InvalidArgument("log event"))?;
        if body.len() > MAX_BODY_LEN {
            return Err(Error::TooLarge);
        }
        let sig = signer.sign(&signed_message(origin, &body));
        let mut leaf = Vec::with_capacity(MAGIC.len() + 65 + body.len());
        leaf.extend_from_slice(MAGIC);
        leaf.push(event.author().byte());
        leaf.extend_from_slice(&sig);
        leaf.extend_from_slice(&body);
        Ok(leaf)
    }
}
