//! Security notices (issue #17): a short message from the service's
//! operator ("we had an incident: re-key your vault"), shown by the app
//! with the one action it asks for. It is a C2SP signed note (the format of
//! the vault log's checkpoints, FORMAT.md §16.3) signed by an **operator
//! key** the app pins (ships with its code): the server only relays it, so
//! a notice the server forged, edited or left unsigned is refused
//! (`NoticeInvalid`) and the app shows nothing. FORMAT.md §18 gives the
//! text, line by line.
//!
//! The operator key is a P-256 key of its own (one purpose per key): never
//! the server's log key, which the server holds online.

use crate::error::{Error, Result};
use crate::log::note::{Note, NoteKey};

/// The first line of every notice.
pub const HEADER: &str = "medseal-notice/v1";
/// The longest title, in characters.
pub const MAX_TITLE: usize = 120;
/// The longest body, in characters.
pub const MAX_BODY: usize = 2000;

/// How urgent a notice is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// For information.
    Info,
    /// Something the patient should do soon.
    Warning,
    /// Something the patient should do now.
    Critical,
}

/// The one action a notice asks for (the app shows its button).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing to do.
    None,
    /// Start a new key epoch (`Vault::rekey`).
    Rekey,
    /// Replace the recovery code.
    RotateRecovery,
    /// Add a backup passkey.
    AddPasskey,
    /// Look at the access report.
    ReviewActivity,
    /// Reload or update the app.
    UpdateApp,
}

const SEVERITIES: [(&str, Severity); 3] = [
    ("info", Severity::Info),
    ("warning", Severity::Warning),
    ("critical", Severity::Critical),
];
const ACTIONS: [(&str, Action); 6] = [
    ("none", Action::None),
    ("rekey", Action::Rekey),
    ("rotate-recovery", Action::RotateRecovery),
    ("add-passkey", Action::AddPasskey),
    ("review-activity", Action::ReviewActivity),
    ("update-app", Action::UpdateApp),
];

impl Severity {
    /// Its name in a notice.
    pub fn name(self) -> &'static str {
        SEVERITIES
            .iter()
            .find(|(_, s)| *s == self)
            .map_or("info", |(n, _)| n)
    }
}

impl Action {
    /// Its name in a notice.
    pub fn name(self) -> &'static str {
        ACTIONS
            .iter()
            .find(|(_, a)| *a == self)
            .map_or("none", |(n, _)| n)
    }
}

/// A security notice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    /// The notice's id: 1 to 64 of `A-Z a-z 0-9 . _ -`.
    pub id: String,
    /// When it was issued, seconds since the Unix epoch.
    pub issued: u64,
    /// When it stops being shown, seconds since the Unix epoch (after `issued`).
    pub expires: u64,
    /// How urgent.
    pub severity: Severity,
    /// What to do.
    pub action: Action,
    /// One line, 1 to 120 characters.
    pub title: String,
    /// One line, 1 to 2000 characters.
    pub body: String,
}

fn bad(what: &'static str) -> Error {
    Error::Malformed(what)
}

fn check_line(s: &str, max: usize, what: &'static str) -> Result<()> {
    let n = s.chars().count();
    if n == 0 || n > max || s.chars().any(char::is_control) || s.trim() != s {
        return Err(bad(what));
    }
    Ok(())
}

impl Notice {
    /// The signed text: eight lines, each ending in a newline.
    pub fn to_text(&self) -> Result<String> {
        self.check()?;
        Ok(format!(
            "{HEADER}\nid {}\nissued {}\nexpires {}\nseverity {}\naction {}\ntitle {}\nbody {}\n",
            self.id,
            self.issued,
            self.expires,
            self.severity.name(),
            self.action.name(),
            self.title,
            self.body
        ))
    }

    fn check(&self) -> Result<()> {
        if self.id.is_empty()
            || self.id.len() > 64
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        {
            return Err(bad("notice id"));
        }
        if self.expires <= self.issued {
            return Err(bad("notice expires before it is issued"));
        }
        check_line(&self.title, MAX_TITLE, "notice title")?;
        check_line(&self.body, MAX_BODY, "notice body")
    }

    /// Parses a notice's signed text (strictly: the lines of
    /// [`Notice::to_text`], in order, nothing else).
    pub fn parse_text(text: &str) -> Result<Notice> {
        let mut lines = text
            .strip_suffix('\n')
            .ok_or_else(|| bad("notice"))?
            .split('\n');
        if lines.next() != Some(HEADER) {
            return Err(bad("not a medseal notice"));
        }
        let mut field = |key: &str| -> Result<&str> {
            let line = lines
                .next()
                .ok_or_else(|| bad("notice is missing a line"))?;
            line.strip_prefix(key)
                .and_then(|r| r.strip_prefix(' '))
                .ok_or_else(|| bad("notice lines out of order"))
        };
        let number = |s: &str| -> Result<u64> {
            if s.is_empty()
                || s.len() > 19
                || !s.bytes().all(|b| b.is_ascii_digit())
                || (s.len() > 1 && s.starts_with('0'))
            {
                return Err(bad("notice time"));
            }
            s.parse::<u64>().map_err(|_| bad("notice time"))
        };
        let id = field("id")?.to_owned();
        let issued = number(field("issued")?)?;
        let expires = number(field("expires")?)?;
        let severity = field("severity")?;
        let severity = SEVERITIES
            .iter()
            .find(|(n, _)| *n == severity)
            .map(|(_, s)| *s)
            .ok_or_else(|| bad("notice severity"))?;
        let action = field("action")?;
        let action = ACTIONS
            .iter()
            .find(|(n, _)| *n == action)
            .map(|(_, a)| *a)
            .ok_or_else(|| bad("notice action"))?;
        let title = field("title")?.to_owned();
        let body = field("body")?.to_owned();
        if lines.next().is_some() {
            return Err(bad("notice has extra lines"));
        }
        let n = Notice {
            id,
            issued,
            expires,
            severity,
            action,
            title,
            body,
        };
        n.check()?;
        Ok(n)
    }

    /// Verifies a signed notice against the operator keys the app pins
    /// (`(name, compressed SEC1 key)`): at least one of them signed it and
    /// none of their signatures fails, else `NoticeInvalid`. The time is
    /// not checked here: see [`Notice::is_current`].
    pub fn verify(signed: &str, keys: &[(&str, &[u8])]) -> Result<Notice> {
        let parsed = Note::parse(signed).map_err(|e| match e {
            Error::TooLarge => Error::TooLarge,
            _ => Error::NoticeInvalid,
        })?;
        parsed.verify(keys).map_err(|_| Error::NoticeInvalid)?;
        Notice::parse_text(&parsed.text)
    }

    /// Whether the notice is to be shown at `now` (issued, not expired).
    pub fn is_current(&self, now: u64) -> bool {
        self.issued <= now && now < self.expires
    }
}

impl Notice {
    /// The notice as JSON: `{id, issued, expires, severity, action, title, body}`.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "id": self.id,
            "issued": self.issued,
            "expires": self.expires,
            "severity": self.severity.name(),
            "action": self.action.name(),
            "title": self.title,
            "body": self.body,
        })
        .to_string()
    }

    /// [`Notice::verify`] with the pinned keys as JSON:
    /// `[{"name": "...", "key": "<base64url of the compressed SEC1 key>"}]`
    /// (what [`OperatorKey::pinned_json`] writes).
    pub fn verify_json(signed: &str, keys_json: &str) -> Result<Notice> {
        let v: serde_json::Value = serde_json::from_str(keys_json)
            .map_err(|_| Error::InvalidArgument("keys must be [{ name, key }]"))?;
        let list = v
            .as_array()
            .filter(|a| !a.is_empty() && a.len() <= 16)
            .ok_or(Error::InvalidArgument("keys must be 1 to 16 { name, key }"))?;
        let mut keys = Vec::with_capacity(list.len());
        for k in list {
            let name = k["name"]
                .as_str()
                .ok_or(Error::InvalidArgument("a key's name must be a string"))?;
            let key = k["key"]
                .as_str()
                .and_then(|t| crate::b64::decode(t.as_bytes()))
                .filter(|b| b.len() == 33)
                .ok_or(Error::InvalidArgument(
                    "a key must be the base64url of a 33-byte compressed P-256 key",
                ))?;
            keys.push((name.to_owned(), key));
        }
        let refs: Vec<(&str, &[u8])> = keys
            .iter()
            .map(|(n, k)| (n.as_str(), k.as_slice()))
            .collect();
        Notice::verify(signed, &refs)
    }
}

/// The operator's notice-signing key (kept offline; the app pins its public
/// half): its name, public key and secret through [`NoteKey`]. Debug
/// prints no secret.
pub struct OperatorKey(NoteKey);

impl core::fmt::Debug for OperatorKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "OperatorKey({}, <redacted>)", self.0.name())
    }
}

/// Its name, public key and secret (`name()`, `public_key()`, `secret()`).
impl core::ops::Deref for OperatorKey {
    type Target = NoteKey;
    fn deref(&self) -> &NoteKey {
        &self.0
    }
}

impl OperatorKey {
    /// A new random key named `name` (a signed-note key name, e.g.
    /// `notices.phr.example`).
    pub fn generate(name: &str) -> Result<OperatorKey> {
        NoteKey::generate(name).map(OperatorKey)
    }

    /// A key from the 32-byte secret `secret()` gave.
    pub fn from_secret(name: &str, secret: &[u8]) -> Result<OperatorKey> {
        NoteKey::from_secret(name, secret, "operator key secret").map(OperatorKey)
    }

    /// The public half as the app pins it: `{"name": ..., "key": <base64url>}`.
    pub fn pinned_json(&self) -> String {
        serde_json::json!({ "name": self.0.name(), "key": crate::b64::encode(&self.0.public_key()) })
            .to_string()
    }

    /// The notice as a signed note.
    pub fn sign(&self, notice: &Notice) -> Result<String> {
        self.0.sign_note(notice.to_text()?)
    }
}
