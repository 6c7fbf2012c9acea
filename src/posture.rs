//! The security check-up: what a patient should fix in their own set-up,
//! as data (issue #17). A pure function of the current manifest, the time,
//! the vault log's entries (where the app has them) and whether this
//! browser can evaluate PRF; the app turns each [`Finding`] into advice with
//! one action.
//!
//! What each finding stands on:
//! - the manifest alone: [`Finding::OnePasskey`], [`Finding::ActiveShare`],
//!   [`Finding::OldEpochKeys`];
//! - the caller: [`Finding::PrfUnsupported`];
//! - the vault log (judged only when a log is given): the other four. The
//!   log says when each unlock entry was added and used (`manifest`,
//!   `unlock`, `login` entries), whether the authenticator verified the
//!   user (`uv` on `unlock`), and when the patient last showed they hold
//!   the recovery code (`recovery_check`, or an unlock with it).
//!
//! Nothing here is secret: the manifest and the log are public to the
//! server already. A server that hides log entries can only make the
//! check-up say more (a passkey looks unused, the code unconfirmed), never
//! less: entries cannot be forged (they are signed).

use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::log::entry::{Entry, Event, Fields};
use crate::manifest::Manifest;

/// Days without use after which a passkey is reported unused, by default.
pub const DEFAULT_UNUSED_DAYS: u32 = 180;
/// Largest `unused_days` accepted (100 years).
pub const MAX_UNUSED_DAYS: u32 = 36_500;
/// Most log entries one check-up reads.
pub const MAX_LOG_ENTRIES: usize = crate::log::MAX_BATCH;

/// Whether this browser can evaluate the WebAuthn PRF extension, as far as
/// the app knows (WebAuthn `getClientCapabilities()`, or a ceremony that
/// returned no PRF result).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prf {
    /// It can: passkeys unlock vaults here.
    Supported,
    /// It cannot (or WebAuthn is missing): no passkey can unlock here.
    Unsupported,
    /// Not known without a ceremony.
    Unknown,
}

/// One log entry as the check-up reads it: its position, its author's time
/// (seconds since 1970), the key epoch of a vault entry, and the event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    /// Position in the log.
    pub n: u64,
    /// The author's time, seconds since 1970.
    pub t: u64,
    /// For a vault entry, the key epoch whose identity signed it.
    pub e: Option<u32>,
    /// What happened.
    pub event: Event,
}

impl From<Entry> for Logged {
    fn from(e: Entry) -> Logged {
        Logged {
            n: e.n,
            t: e.t,
            e: e.e,
            event: e.event,
        }
    }
}

impl Logged {
    /// Reads log entries in the form `Vault.syncLog` gives them to the app
    /// (`[{n, t, e?, author, event: {type, …}}]`), strictly: each event as
    /// the format allows it (FORMAT.md §16.2), its author the one the event
    /// type requires, `e` present exactly on vault entries. These are the
    /// app's own copies of entries a sync verified; the check-up takes them
    /// as given (pass entries with proofs to have them verified again).
    pub fn list_from_json(json: &str) -> Result<Vec<Logged>> {
        let bad = || Error::Malformed("log entries (the form syncLog returns)");
        let list: Vec<Value> = serde_json::from_str(json).map_err(|_| bad())?;
        if list.len() > MAX_LOG_ENTRIES {
            return Err(Error::TooLarge);
        }
        list.into_iter()
            .map(|v| {
                let Value::Object(o) = v else {
                    return Err(bad());
                };
                let mut f = Fields::new(o);
                let n = f.num("n").ok_or_else(bad)?;
                let t = f.num("t").ok_or_else(bad)?;
                let e = match f.take("e") {
                    None => None,
                    Some(v) => Some(
                        v.as_u64()
                            .and_then(|x| u32::try_from(x).ok())
                            .ok_or_else(bad)?,
                    ),
                };
                let author = f.text("author").ok_or_else(bad)?;
                let event = match f.take("event") {
                    Some(Value::Object(m)) => Event::from_object(m).map_err(|_| bad())?,
                    _ => return Err(bad()),
                };
                let vault = author == "vault";
                if !f.done()
                    || !(vault || author == "server")
                    || (event.author() == crate::log::entry::Author::Vault) != vault
                    || vault != e.is_some()
                {
                    return Err(bad());
                }
                Ok(Logged { n, t, e, event })
            })
            .collect()
    }
}

/// What the check-up is asked about besides the manifest.
#[derive(Clone, Copy, Debug)]
pub struct PostureOptions<'a> {
    /// Now, seconds since 1970.
    pub now: u64,
    /// The vault log's entries, oldest first (the whole log, or at least
    /// since the current recovery entry and every passkey were added);
    /// `None` when the app has no log: the findings that need it are not
    /// judged.
    pub log: Option<&'a [Logged]>,
    /// Whether this browser can evaluate PRF.
    pub prf: Prf,
    /// A passkey not used for more than this many days is reported.
    pub unused_days: u32,
}

/// Something a patient should know or fix about their vault's set-up.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finding {
    /// Only one passkey unlocks the vault: if it is lost, only the recovery
    /// code is left. Fix: add a backup passkey (another device or a
    /// security key).
    OnePasskey,
    /// The current recovery code was never confirmed since it was issued:
    /// nothing shows the patient still has it (written down, readable).
    /// Fix: type it in to confirm it (`Vault::confirm_recovery_code`, then
    /// log a `recovery_check`), or make a new one. Needs the log.
    RecoveryUnconfirmed {
        /// The recovery entry's id (what the `recovery_check` names).
        entry: String,
    },
    /// The recovery code was made before the latest key epoch: it survived
    /// a re-key, so if the re-key answered a leak, the code (and anyone who
    /// copied it) still opens the vault. Fix: make a new recovery code.
    /// Needs the log.
    RecoveryOlderThanRekey {
        /// The recovery entry's id.
        entry: String,
        /// The oldest key epoch the log shows the code in.
        since_epoch: u32,
        /// The current key epoch.
        epoch: u32,
    },
    /// A passkey has not unlocked the vault (nor signed in) for more than
    /// the days asked, or never since it was added that long ago: it may
    /// be lost, or on a device someone else now has. Fix: use it once to
    /// show it still works, or remove it. Needs the log.
    PasskeyUnused {
        /// The passkey's unlock entry id.
        entry: String,
        /// Its label, if any.
        label: Option<String>,
        /// Its last use, seconds since 1970; `None`: never in the log.
        last_used: Option<u64>,
    },
    /// A passkey's latest unlock was made without user verification (no
    /// PIN, fingerprint or face): whoever holds the device can use it.
    /// Fix: remove it (and add one that verifies). Needs the log (`uv` on
    /// unlock entries).
    PasskeyWithoutUv {
        /// The passkey's unlock entry id.
        entry: String,
        /// Its label, if any.
        label: Option<String>,
    },
    /// This browser cannot evaluate PRF: no passkey can unlock the vault
    /// here (only the recovery code). Fix: use a browser and passkey
    /// provider with PRF.
    PrfUnsupported,
    /// A grant or link is active: someone can still open what it gives.
    /// Listed so the patient reviews it; an expired one the manifest still
    /// lists is flagged. Fix: revoke it.
    ActiveShare {
        /// The share id (base64url).
        id: String,
        /// A SMART Health Link (else a grant to a person).
        link: bool,
        /// End of validity, seconds since 1970.
        expires: u64,
        /// It has expired but is still listed (revoke it to remove it).
        expired: bool,
        /// The scope label of a grant that follows a kind of records.
        scope: Option<String>,
        /// Who it is for, from the log: a grant's grantee, a link's label.
        name: Option<String>,
    },
    /// The manifest still holds the vault keys of older key epochs: records
    /// sealed under them still open, and so would any copy of them the
    /// older keys reach. Fix: re-wrap every record under the current epoch,
    /// then retire the older ones (`Vault::retire_epochs`).
    OldEpochKeys {
        /// The older epochs whose keys are held, oldest first.
        epochs: Vec<u32>,
    },
}

impl Finding {
    /// The finding's name, as its JSON's `kind` gives it.
    pub fn kind(&self) -> &'static str {
        match self {
            Finding::OnePasskey => "OnePasskey",
            Finding::RecoveryUnconfirmed { .. } => "RecoveryUnconfirmed",
            Finding::RecoveryOlderThanRekey { .. } => "RecoveryOlderThanRekey",
            Finding::PasskeyUnused { .. } => "PasskeyUnused",
            Finding::PasskeyWithoutUv { .. } => "PasskeyWithoutUv",
            Finding::PrfUnsupported => "PrfUnsupported",
            Finding::ActiveShare { .. } => "ActiveShare",
            Finding::OldEpochKeys { .. } => "OldEpochKeys",
        }
    }

    /// The finding as a JSON object: `kind` and its fields in camelCase
    /// (an absent optional field is `null`).
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("kind".into(), self.kind().into());
        let opt = |v: &Option<String>| v.as_deref().map_or(Value::Null, Value::from);
        match self {
            Finding::OnePasskey | Finding::PrfUnsupported => {}
            Finding::RecoveryUnconfirmed { entry } => {
                m.insert("entry".into(), entry.as_str().into());
            }
            Finding::RecoveryOlderThanRekey {
                entry,
                since_epoch,
                epoch,
            } => {
                m.insert("entry".into(), entry.as_str().into());
                m.insert("sinceEpoch".into(), (*since_epoch).into());
                m.insert("epoch".into(), (*epoch).into());
            }
            Finding::PasskeyUnused {
                entry,
                label,
                last_used,
            } => {
                m.insert("entry".into(), entry.as_str().into());
                m.insert("label".into(), opt(label));
                m.insert(
                    "lastUsed".into(),
                    last_used.map_or(Value::Null, Value::from),
                );
            }
            Finding::PasskeyWithoutUv { entry, label } => {
                m.insert("entry".into(), entry.as_str().into());
                m.insert("label".into(), opt(label));
            }
            Finding::ActiveShare {
                id,
                link,
                expires,
                expired,
                scope,
                name,
            } => {
                m.insert("id".into(), id.as_str().into());
                m.insert("link".into(), (*link).into());
                m.insert("expires".into(), (*expires).into());
                m.insert("expired".into(), (*expired).into());
                m.insert("scope".into(), opt(scope));
                m.insert("name".into(), opt(name));
            }
            Finding::OldEpochKeys { epochs } => {
                m.insert(
                    "epochs".into(),
                    Value::Array(epochs.iter().map(|e| Value::from(*e)).collect()),
                );
            }
        }
        Value::Object(m)
    }
}

/// Findings as a JSON array (the wasm surface's form).
pub fn findings_json(findings: &[Finding]) -> String {
    Value::Array(findings.iter().map(Finding::to_value).collect()).to_string()
}

/// The check-up: every finding for this manifest, the most pressing first
/// (ways in, then how they are kept, then this browser, then what is
/// shared). An empty list: nothing to fix.
pub fn check(manifest: &Manifest, opts: &PostureOptions<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let passkeys: Vec<_> = manifest.passkeys().collect();
    if passkeys.len() < 2 {
        out.push(Finding::OnePasskey);
    }
    let recovery = manifest.recovery_entry_id();
    let epoch = manifest.epoch();
    if let (Some(log), Some(rc)) = (opts.log, recovery) {
        if !recovery_confirmed(log, rc) {
            out.push(Finding::RecoveryUnconfirmed { entry: rc.into() });
        }
        if let Some(since_epoch) = oldest_epoch_with(log, rc).filter(|e| *e < epoch) {
            out.push(Finding::RecoveryOlderThanRekey {
                entry: rc.into(),
                since_epoch,
                epoch,
            });
        }
    }
    if let Some(log) = opts.log {
        for p in &passkeys {
            if last_uv(log, p.entry_id) == Some(false) {
                out.push(Finding::PasskeyWithoutUv {
                    entry: p.entry_id.into(),
                    label: p.label.map(str::to_owned),
                });
            }
        }
        let limit = u64::from(opts.unused_days).saturating_mul(86_400);
        for p in &passkeys {
            let last_used = last_use(log, p.entry_id);
            // Never used: judged from when it was added (or, if the log
            // does not show that, from its first entry: it was there then).
            let since = last_used
                .or_else(|| added_at(log, p.entry_id).map(|(_, t)| t))
                .or_else(|| log.first().map(|x| x.t));
            if since.is_some_and(|t| opts.now.saturating_sub(t) > limit) {
                out.push(Finding::PasskeyUnused {
                    entry: p.entry_id.into(),
                    label: p.label.map(str::to_owned),
                    last_used,
                });
            }
        }
    }
    if opts.prf == Prf::Unsupported {
        out.push(Finding::PrfUnsupported);
    }
    let held: Vec<u32> = manifest
        .epoch_entries()
        .iter()
        .filter(|e| e.wrapped_vault_key.is_some())
        .map(|e| e.epoch)
        .collect();
    if !held.is_empty() {
        out.push(Finding::OldEpochKeys { epochs: held });
    }
    for s in manifest.shares() {
        let id = crate::b64::encode(s.id);
        let name = opts.log.and_then(|log| share_name(log, &id));
        out.push(Finding::ActiveShare {
            link: s.link,
            expires: s.expires,
            expired: s.expires <= opts.now,
            scope: s.scope.map(str::to_owned),
            name,
            id,
        });
    }
    out
}

/// Whether the log shows the patient holding the recovery code of entry
/// `rc`: a `recovery_check` of it, or an unlock with it (both written by
/// the vault's own devices). Entry ids change with every rotation, so only
/// the current code's count.
fn recovery_confirmed(log: &[Logged], rc: &str) -> bool {
    log.iter().any(|x| match &x.event {
        Event::RecoveryCheck { via } => via == rc,
        Event::Unlock { via, method, .. } => via == rc && method == "recovery",
        _ => false,
    })
}

/// The first `manifest` entry that added unlock entry `id`: its position and time.
fn added_at(log: &[Logged], id: &str) -> Option<(u64, u64)> {
    log.iter().find_map(|x| match &x.event {
        Event::Manifest { added, .. } if added.iter().any(|a| a == id) => Some((x.n, x.t)),
        _ => None,
    })
}

/// The oldest key epoch in which the log shows unlock entry `id` present:
/// the smallest epoch of a vault entry at or after the `manifest` entry
/// that added it (every vault entry if none did: it predates them all).
/// A recovery code made by a rotation is added in the rotation's new
/// epoch, so only a later re-key makes this older than the current epoch.
fn oldest_epoch_with(log: &[Logged], id: &str) -> Option<u32> {
    let from = added_at(log, id).map_or(0, |(n, _)| n);
    log.iter()
        .filter(|x| x.n >= from)
        .filter_map(|x| match &x.event {
            Event::Manifest { epoch, .. } => Some(*epoch),
            _ => x.e,
        })
        .min()
}

/// The last time unlock entry `id` unlocked the vault (a device's `unlock`)
/// or signed in (the server's successful `login` through it).
fn last_use(log: &[Logged], id: &str) -> Option<u64> {
    log.iter()
        .filter(|x| match &x.event {
            Event::Unlock { via, .. } => via == id,
            Event::Login {
                via: Some(via),
                outcome,
                ..
            } => via == id && outcome == "ok",
            _ => false,
        })
        .map(|x| x.t)
        .max()
}

/// What the latest unlock through `id` that says so says of user
/// verification.
fn last_uv(log: &[Logged], id: &str) -> Option<bool> {
    log.iter().rev().find_map(|x| match &x.event {
        Event::Unlock { via, uv, .. } if via == id => *uv,
        _ => None,
    })
}

/// Who a share is for, from the latest `grant` or `link` entry naming it.
fn share_name(log: &[Logged], id: &str) -> Option<String> {
    log.iter().rev().find_map(|x| match &x.event {
        Event::Grant { share, to, .. } if share == id => Some(to.clone()),
        Event::Link { share, label, .. } if share == id => label.clone(),
        _ => None,
    })
}
