//! Vault log entries (FORMAT.md §16.2): what happened, who says so, and the
//! position the author put it at.
//!
//! A leaf is `"medseal-log/v1\n" || author (1 byte) || signature (64 bytes,
//! P-256 ECDSA r||s, low s) || body`, the body a JSON object
//! `{"n": position, "t": unix seconds, "type": …, …}`. The signature covers
//! `"medseal-log/v1 entry\n" || origin || "\n" || body`, so an entry is
//! bound to its log and to its position: moved, duplicated or replayed
//! elsewhere, it no longer verifies.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::identity::{self, Identity};

/// A JSON object read field by field: each field is taken once (left as
/// `null`, not removed: `BTreeMap` removal is kilobytes of wasm), and
/// [`Fields::done`] says whether every field was read (no unknown member).
pub(crate) struct Fields {
    map: Map<String, Value>,
    taken: usize,
}

impl Fields {
    pub(crate) fn new(map: Map<String, Value>) -> Fields {
        Fields { map, taken: 0 }
    }

    pub(crate) fn take(&mut self, k: &str) -> Option<Value> {
        let v = self.map.get_mut(k)?.take();
        self.taken += 1;
        Some(v)
    }

    pub(crate) fn text(&mut self, k: &str) -> Option<String> {
        match self.take(k)? {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn opt_text(&mut self, k: &str) -> Option<Option<String>> {
        match self.take(k) {
            None => Some(None),
            Some(Value::String(s)) => Some(Some(s)),
            _ => None,
        }
    }

    pub(crate) fn opt_bool(&mut self, k: &str) -> Option<Option<bool>> {
        match self.take(k) {
            None => Some(None),
            Some(Value::Bool(b)) => Some(Some(b)),
            _ => None,
        }
    }

    pub(crate) fn num(&mut self, k: &str) -> Option<u64> {
        self.take(k)?.as_u64()
    }

    pub(crate) fn list(&mut self, k: &str) -> Option<Vec<String>> {
        match self.take(k) {
            None => Some(Vec::new()),
            Some(Value::Array(a)) => a
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Some(s),
                    _ => None,
                })
                .collect(),
            _ => None,
        }
    }

    pub(crate) fn done(&self) -> bool {
        self.taken == self.map.len()
    }
}

/// A list of strings as a JSON array.
pub(crate) fn strings(v: &[String]) -> Value {
    Value::Array(v.iter().map(|s| Value::String(s.clone())).collect())
}

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
///
/// Its JSON is an object with `type` (the variant in snake_case) and the
/// variant's fields, nothing else. (De)serialized by hand through
/// `serde_json::Value`: serde's internally tagged enums buffer through a
/// generic content type that cost the wasm module more than all of this.
#[derive(Clone, Debug, PartialEq, Eq)]
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
        added: Vec<String>,
        /// Unlock entries removed since the previous revision.
        removed: Vec<String>,
    },
    /// A device unlocked the vault.
    Unlock {
        /// The unlock entry id used.
        via: String,
        /// `passkey` or `recovery`.
        method: String,
        /// The device's label, if the app gave one.
        device: Option<String>,
        /// Whether the authenticator verified the user (the UV flag of the
        /// passkey's assertion), if the app knows; absent for the recovery
        /// code.
        uv: Option<bool>,
    },
    /// The patient showed they still hold the recovery code: they typed it
    /// and the device checked that it opens the current recovery entry
    /// (`Vault::confirm_recovery_code`), without unlocking with it.
    RecoveryCheck {
        /// The recovery entry's id.
        via: String,
    },
    /// Records were shared with a person.
    Grant {
        /// Share id (as in the manifest, base64url).
        share: String,
        /// The grantee's account name.
        to: String,
        /// Number of records named, for a list of records.
        records: Option<u32>,
        /// The scope label, for a grant of a kind of records (the manifest
        /// lists it in the clear too).
        scope: Option<String>,
        /// Expiry, unix seconds.
        expires: u64,
    },
    /// A SMART Health Link was created.
    Link {
        /// Share id (base64url).
        share: String,
        /// The link's label, as the server stores it.
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
        /// For a successful sign-in, the vault's unlock entry that signed in
        /// (the passkey's entry, or the recovery entry), as the server
        /// matched it in the stored manifest.
        via: Option<String>,
    },
}

impl Serialize for Event {
    fn serialize<S: serde::Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        self.to_map().serialize(s)
    }
}

impl Event {
    /// Reads an event from its JSON (`{"type": …, …}`), strictly.
    pub fn from_json(json: &str) -> Result<Event> {
        let bad = || Error::InvalidArgument("not a log event this version knows");
        let map: Map<String, Value> = serde_json::from_str(json).map_err(|_| bad())?;
        Event::from_object(map)
    }

    /// Reads an event from its JSON object, strictly (as [`Event::from_json`]).
    pub(crate) fn from_object(map: Map<String, Value>) -> Result<Event> {
        let bad = || Error::InvalidArgument("not a log event this version knows");
        let mut f = Fields::new(map);
        let ev = Event::from_fields(&mut f)
            .filter(|_| f.done())
            .ok_or_else(bad)?;
        ev.check().map_err(|_| bad())?;
        Ok(ev)
    }

    /// The event from its JSON object's fields; `None` for a missing or
    /// mistyped field or an unknown type (the caller checks for extra ones).
    fn from_fields(m: &mut Fields) -> Option<Event> {
        let ev = match m.text("type")?.as_str() {
            "server" => Event::Server {
                name: m.text("name")?,
                key: m.text("key")?,
            },
            "manifest" => Event::Manifest {
                rev: m.num("rev")?,
                hash: m.text("hash")?,
                epoch: u32::try_from(m.num("epoch")?).ok()?,
                added: m.list("added")?,
                removed: m.list("removed")?,
            },
            "unlock" => Event::Unlock {
                via: m.text("via")?,
                method: m.text("method")?,
                device: m.opt_text("device")?,
                uv: m.opt_bool("uv")?,
            },
            "recovery_check" => Event::RecoveryCheck {
                via: m.text("via")?,
            },
            "grant" => Event::Grant {
                share: m.text("share")?,
                to: m.text("to")?,
                records: match m.take("records") {
                    None => None,
                    Some(v) => Some(u32::try_from(v.as_u64()?).ok()?),
                },
                scope: m.opt_text("scope")?,
                expires: m.num("expires")?,
            },
            "link" => Event::Link {
                share: m.text("share")?,
                label: m.opt_text("label")?,
                expires: m.num("expires")?,
            },
            "revoke" => Event::Revoke {
                share: m.text("share")?,
            },
            "delete" => Event::Delete {
                record: m.text("record")?,
            },
            "shared_fetch" => Event::SharedFetch {
                grant: m.text("grant")?,
                by: m.text("by")?,
                records: m.list("records")?,
                outcome: m.text("outcome")?,
            },
            "link_fetch" => Event::LinkFetch {
                link: m.text("link")?,
                recipient: m.text("recipient")?,
                from: m.text("from")?,
                outcome: m.text("outcome")?,
            },
            "login" => Event::Login {
                method: m.text("method")?,
                outcome: m.text("outcome")?,
                from: m.text("from")?,
                via: m.opt_text("via")?,
            },
            _ => return None,
        };
        Some(ev)
    }

    /// The event's JSON object.
    fn to_map(&self) -> Map<String, Value> {
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_owned(), v);
        };
        match self {
            Event::Server { name, key } => {
                put("name", name.as_str().into());
                put("key", key.as_str().into());
            }
            Event::Manifest {
                rev,
                hash,
                epoch,
                added,
                removed,
            } => {
                put("rev", (*rev).into());
                put("hash", hash.as_str().into());
                put("epoch", (*epoch).into());
                if !added.is_empty() {
                    put("added", strings(added));
                }
                if !removed.is_empty() {
                    put("removed", strings(removed));
                }
            }
            Event::Unlock {
                via,
                method,
                device,
                uv,
            } => {
                put("via", via.as_str().into());
                put("method", method.as_str().into());
                if let Some(d) = device {
                    put("device", d.as_str().into());
                }
                if let Some(uv) = uv {
                    put("uv", (*uv).into());
                }
            }
            Event::RecoveryCheck { via } => {
                put("via", via.as_str().into());
            }
            Event::Grant {
                share,
                to,
                records,
                scope,
                expires,
            } => {
                put("share", share.as_str().into());
                put("to", to.as_str().into());
                if let Some(r) = records {
                    put("records", (*r).into());
                }
                if let Some(l) = scope {
                    put("scope", l.as_str().into());
                }
                put("expires", (*expires).into());
            }
            Event::Link {
                share,
                label,
                expires,
            } => {
                put("share", share.as_str().into());
                if let Some(l) = label {
                    put("label", l.as_str().into());
                }
                put("expires", (*expires).into());
            }
            Event::Revoke { share } => {
                put("share", share.as_str().into());
            }
            Event::Delete { record } => {
                put("record", record.as_str().into());
            }
            Event::SharedFetch {
                grant,
                by,
                records,
                outcome,
            } => {
                put("grant", grant.as_str().into());
                put("by", by.as_str().into());
                if !records.is_empty() {
                    put("records", strings(records));
                }
                put("outcome", outcome.as_str().into());
            }
            Event::LinkFetch {
                link,
                recipient,
                from,
                outcome,
            } => {
                put("link", link.as_str().into());
                put("recipient", recipient.as_str().into());
                put("from", from.as_str().into());
                put("outcome", outcome.as_str().into());
            }
            Event::Login {
                method,
                outcome,
                from,
                via,
            } => {
                put("method", method.as_str().into());
                put("outcome", outcome.as_str().into());
                put("from", from.as_str().into());
                if let Some(v) = via {
                    put("via", v.as_str().into());
                }
            }
        };
        put("type", self.kind().into());
        m
    }

    /// The event's `type`, as its JSON names it.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Server { .. } => "server",
            Event::Manifest { .. } => "manifest",
            Event::Unlock { .. } => "unlock",
            Event::RecoveryCheck { .. } => "recovery_check",
            Event::Grant { .. } => "grant",
            Event::Link { .. } => "link",
            Event::Revoke { .. } => "revoke",
            Event::Delete { .. } => "delete",
            Event::SharedFetch { .. } => "shared_fetch",
            Event::LinkFetch { .. } => "link_fetch",
            Event::Login { .. } => "login",
        }
    }

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
                uv,
            } => {
                s(via)
                    || one_of(method, &["passkey", "recovery"])
                    || device.as_deref().is_some_and(s)
                    // The recovery code has no authenticator to verify anyone.
                    || (method == "recovery" && uv.is_some())
            }
            Event::RecoveryCheck { via } => s(via),
            Event::Grant {
                share, to, scope, ..
            } => s(share) || s(to) || scope.as_deref().is_some_and(s),
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
                via,
            } => {
                s(from)
                    || one_of(method, &["passkey", "recovery"])
                    || one_of(outcome, &["ok", "failed"])
                    || via.as_deref().is_some_and(s)
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

/// Entries as a JSON array (the wasm surface's form).
pub fn entries_json(entries: &[Entry]) -> String {
    serde_json::to_string(entries).unwrap_or_default()
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
        let map: Map<String, Value> = serde_json::from_slice(body).map_err(|_| bad())?;
        let mut map = Fields::new(map);
        let n = map.num("n").ok_or_else(bad)?;
        let t = map.num("t").ok_or_else(bad)?;
        let e = match map.take("e") {
            None => None,
            Some(v) => Some(
                v.as_u64()
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or_else(bad)?,
            ),
        };
        let event = Event::from_fields(&mut map)
            .filter(|_| map.done())
            .ok_or_else(bad)?;
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
        // A field out of the format's bounds is the caller's argument here.
        event.check().map_err(|_| {
            Error::InvalidArgument(
                "a log event field is empty, too long, or not one the format allows",
            )
        })?;
        if (event.author() == Author::Vault) != e.is_some() {
            return Err(Error::InvalidArgument("log entry author"));
        }
        let mut map = event.to_map();
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
