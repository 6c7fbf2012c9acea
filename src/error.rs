//! Typed errors. Every authentication failure is one variant with no detail,
//! so an error can never serve as an oracle; everything else says what to fix.

use core::fmt;

/// Everything that can go wrong in medseal. Stable codes for other languages
/// come from [`Error::code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A sealed record did not authenticate: wrong vault, wrong record id or
    /// context, a flipped bit, a record moved from elsewhere. Deliberately
    /// carries no detail.
    DecryptionFailed,
    /// The input names a format version or suite this build cannot read.
    UnknownVersion {
        /// What kind of object carried it.
        what: &'static str,
        /// The version (or suite) number found.
        version: u64,
    },
    /// The input is not structured as the format requires (before any key is
    /// used: the structure of a sealed record or manifest is public).
    Malformed(&'static str),
    /// A PRF output that cannot be a real one: not 32 bytes, or all zero.
    InvalidPrfOutput,
    /// A recovery code that is not well-formed or whose checksum does not
    /// match: almost certainly a typo, not a wrong code.
    InvalidRecoveryCode,
    /// A well-formed PRF output or recovery code that does not unwrap the vault
    /// key: a different passkey, a different vault, or an authenticator that
    /// returned a different PRF value than at set-up.
    UnlockFailed,
    /// The manifest has no unlock entry for that credential or entry id.
    UnknownUnlockEntry,
    /// Removing this entry would leave the vault without a way to be unlocked
    /// (the last passkey, or the recovery entry).
    LastUnlockMethod,
    /// The manifest's signature or identity key does not check out, or its
    /// structure breaks a rule of the format: it was altered by someone without
    /// the vault key.
    ManifestInvalid,
    /// The manifest's revision is older than one the caller has already seen:
    /// a rollback.
    StaleManifest {
        /// The revision the caller had seen.
        seen: u64,
        /// The revision offered.
        offered: u64,
    },
    /// A vault hand-off carried another vault than the one the receiver
    /// expects.
    WrongVault,
    /// An argument is out of its allowed range.
    InvalidArgument(&'static str),
    /// The input is larger than the format allows.
    TooLarge,
    /// The platform's secure random number generator failed.
    RandomUnavailable,
    /// Two different manifests claim the same place in the vault's history:
    /// the one this device saw and the one offered (or the parent it names).
    /// A server showed two devices different histories, or two devices wrote
    /// concurrently through a server that did not serialize them. Carries
    /// both hashes as evidence.
    ForkDetected {
        /// The revision at which the histories differ.
        revision: u64,
        /// Hash of the manifest this device saw at that revision.
        seen: [u8; 32],
        /// Hash of the other manifest at that revision.
        offered: [u8; 32],
    },
    /// A manifest newer than the one this device saw, without the manifests
    /// in between that would show it descends from it: ask the server for
    /// the history since `seen`.
    HistoryIncomplete {
        /// The revision this device saw.
        seen: u64,
        /// The revision offered.
        offered: u64,
    },
    /// An older version of a record than one this device already saw: a
    /// rollback.
    StaleRecord {
        /// The version this device saw.
        seen: u64,
        /// The version offered.
        offered: u64,
    },
    /// The record was deleted (a tombstone of this version exists, or this
    /// is the tombstone).
    RecordDeleted {
        /// The version of the tombstone.
        version: u64,
    },
    /// The vault behind a key changed since this device pinned it (first
    /// use): the server may have substituted another key for the person's.
    /// Carries both fingerprints' digests as evidence; compare fingerprints
    /// with the person before trusting the new key.
    KeyChanged {
        /// Digest of the pinned fingerprint.
        pinned: [u8; 32],
        /// Digest of the fingerprint offered now.
        offered: [u8; 32],
    },
    /// The grant or link has expired (its expiry is in seconds since the
    /// Unix epoch).
    GrantExpired {
        /// When it expired.
        expires: u64,
    },
    /// The record (or the key) is outside what the grant gives: another
    /// record, another grantee, a revoked grant.
    NotGranted,
    /// A vault log checkpoint is not signed by a key this device knows for
    /// the log (the server's announced log key or the vault's identity), or
    /// a known key's signature on it fails.
    LogSignatureInvalid,
    /// A vault log entry breaks the rules of the format: its signature fails
    /// (a forged or edited entry), it names another position than the one it
    /// holds (a dropped, duplicated or reordered entry), or its author may
    /// not write it. Carries the entry's index as evidence.
    LogEntryInvalid {
        /// The entry's position in the log.
        index: u64,
    },
    /// The vault log is smaller than a checkpoint this device (or another
    /// device of the vault) already verified: entries were removed, or an old
    /// checkpoint was replayed.
    LogRolledBack {
        /// The size already verified.
        seen: u64,
        /// The size offered.
        offered: u64,
    },
    /// Two signed checkpoints of the vault log disagree: the same size with
    /// different roots, or two trees that do not extend each other. The
    /// server showed different histories. Carries both roots as evidence.
    LogForked {
        /// The tree size at which the histories are compared.
        size: u64,
        /// Root this device (or the device that cosigned) saw.
        seen: [u8; 32],
        /// Root offered.
        offered: [u8; 32],
    },
    /// The vault log offered does not extend the checkpoint this device
    /// pinned: the consistency proof fails, or the entries served are not
    /// the ones the checkpoint commits to (an entry changed or reordered
    /// before the new head).
    LogInconsistent {
        /// The size this device had verified.
        seen: u64,
        /// The size offered.
        offered: u64,
    },
    /// The server did not give a proof that the vault log requires (a
    /// consistency or inclusion proof, or the entries a checkpoint covers):
    /// treated as a failure, never as success.
    LogProofMissing,
    /// A sealed stream ended at a chunk boundary without its (short) last
    /// chunk: cut short in transit or by the server. What was read before
    /// the end may be genuine, but the file is incomplete.
    Truncated,
    /// A security notice that is not signed by an operator key the app
    /// pins (forged, edited, unsigned, or signed by another key): ignore it.
    NoticeInvalid,
    /// A deletion tombstone that is not signed by the server key given
    /// (forged, edited, unsigned), or that names another deletion request
    /// than the one given.
    TombstoneInvalid,
}

impl Error {
    /// Every code [`Error::code`] can return, in the order of the variants.
    pub const CODES: &'static [&'static str] = &[
        "DecryptionFailed",
        "UnknownVersion",
        "Malformed",
        "InvalidPrfOutput",
        "InvalidRecoveryCode",
        "UnlockFailed",
        "UnknownUnlockEntry",
        "LastUnlockMethod",
        "ManifestInvalid",
        "StaleManifest",
        "WrongVault",
        "InvalidArgument",
        "TooLarge",
        "RandomUnavailable",
        "ForkDetected",
        "HistoryIncomplete",
        "StaleRecord",
        "RecordDeleted",
        "KeyChanged",
        "GrantExpired",
        "NotGranted",
        "LogSignatureInvalid",
        "LogEntryInvalid",
        "LogRolledBack",
        "LogForked",
        "LogInconsistent",
        "LogProofMissing",
        "Truncated",
        "NoticeInvalid",
        "TombstoneInvalid",
    ];

    /// A stable, machine-readable code (the JS `ErrorCode` names).
    pub fn code(&self) -> &'static str {
        match self {
            Error::DecryptionFailed => "DecryptionFailed",
            Error::UnknownVersion { .. } => "UnknownVersion",
            Error::Malformed(_) => "Malformed",
            Error::InvalidPrfOutput => "InvalidPrfOutput",
            Error::InvalidRecoveryCode => "InvalidRecoveryCode",
            Error::UnlockFailed => "UnlockFailed",
            Error::UnknownUnlockEntry => "UnknownUnlockEntry",
            Error::LastUnlockMethod => "LastUnlockMethod",
            Error::ManifestInvalid => "ManifestInvalid",
            Error::StaleManifest { .. } => "StaleManifest",
            Error::WrongVault => "WrongVault",
            Error::InvalidArgument(_) => "InvalidArgument",
            Error::TooLarge => "TooLarge",
            Error::RandomUnavailable => "RandomUnavailable",
            Error::ForkDetected { .. } => "ForkDetected",
            Error::HistoryIncomplete { .. } => "HistoryIncomplete",
            Error::StaleRecord { .. } => "StaleRecord",
            Error::RecordDeleted { .. } => "RecordDeleted",
            Error::KeyChanged { .. } => "KeyChanged",
            Error::GrantExpired { .. } => "GrantExpired",
            Error::NotGranted => "NotGranted",
            Error::LogSignatureInvalid => "LogSignatureInvalid",
            Error::LogEntryInvalid { .. } => "LogEntryInvalid",
            Error::LogRolledBack { .. } => "LogRolledBack",
            Error::LogForked { .. } => "LogForked",
            Error::LogInconsistent { .. } => "LogInconsistent",
            Error::LogProofMissing => "LogProofMissing",
            Error::Truncated => "Truncated",
            Error::NoticeInvalid => "NoticeInvalid",
            Error::TombstoneInvalid => "TombstoneInvalid",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::DecryptionFailed => f.write_str(
                "decryption failed: the record was altered, belongs to another vault, or was opened with another record id or context",
            ),
            Error::UnknownVersion { what, version } => write!(
                f,
                "unknown {what} version {version}: written by a newer medseal; upgrade to read it"
            ),
            Error::Malformed(what) => write!(f, "malformed input: {what}"),
            Error::InvalidPrfOutput => f.write_str(
                "the passkey's PRF output is not 32 non-zero bytes: the authenticator did not evaluate PRF correctly",
            ),
            Error::InvalidRecoveryCode => f.write_str(
                "the recovery code is mistyped: check each group (letters I/L read as 1, O as 0; case, spaces and dashes do not matter)",
            ),
            Error::UnlockFailed => f.write_str(
                "the key did not unlock this vault: another passkey or recovery code, or an authenticator that returned a different PRF value than at set-up; try another passkey of this vault or the recovery code",
            ),
            Error::UnknownUnlockEntry => {
                f.write_str("the manifest has no unlock entry for this passkey or entry id")
            }
            Error::LastUnlockMethod => f.write_str(
                "refused: removing this entry would leave the vault without its recovery code or without any passkey; add another passkey first, or rotate the recovery code instead",
            ),
            Error::ManifestInvalid => f.write_str(
                "the vault manifest failed its signature check or breaks the rules of the format: it was altered by someone without the vault key",
            ),
            Error::StaleManifest { seen, offered } => write!(
                f,
                "the vault manifest is older (revision {offered}) than one already seen (revision {seen}): possible rollback"
            ),
            Error::WrongVault => f.write_str(
                "refused: the vault handed over is not the vault this receiver belongs to",
            ),
            Error::InvalidArgument(what) => write!(f, "invalid argument: {what}"),
            Error::TooLarge => f.write_str("input larger than the format allows"),
            Error::RandomUnavailable => {
                f.write_str("the platform's secure random number generator is unavailable")
            }
            Error::ForkDetected {
                revision,
                seen,
                offered,
            } => write!(
                f,
                "the vault's history forked at revision {revision}: this device saw manifest {} and was offered {}; the server showed different histories",
                crate::b64::encode(seen),
                crate::b64::encode(offered)
            ),
            Error::HistoryIncomplete { seen, offered } => write!(
                f,
                "manifest revision {offered} cannot be checked against revision {seen} seen before without the manifests in between: fetch the history since revision {seen}"
            ),
            Error::StaleRecord { seen, offered } => write!(
                f,
                "the record is an older version ({offered}) than one already seen ({seen}): possible rollback"
            ),
            Error::RecordDeleted { version } => {
                write!(f, "the record was deleted (version {version})")
            }
            Error::KeyChanged { pinned, offered } => write!(
                f,
                "this person's key changed since it was first used here (pinned {}, now {}): the server may have substituted it; compare fingerprints with them before sharing",
                crate::b64::encode(pinned),
                crate::b64::encode(offered)
            ),
            Error::GrantExpired { expires } => {
                write!(f, "the grant expired (at {expires} seconds since 1970)")
            }
            Error::LogSignatureInvalid => f.write_str(
                "a vault log checkpoint is not signed by the log's known keys, or a known key's signature fails",
            ),
            Error::LogEntryInvalid { index } => write!(
                f,
                "vault log entry {index} is invalid: forged, edited, out of place, or written by someone who may not write it"
            ),
            Error::LogRolledBack { seen, offered } => write!(
                f,
                "the vault log offered has {offered} entries but {seen} were already verified: entries were removed or an old checkpoint replayed"
            ),
            Error::LogForked { size, seen, offered } => write!(
                f,
                "the vault log forked: at size {size} one signed checkpoint has root {} and another {}; the server showed different histories",
                crate::log::note::encode_std(seen),
                crate::log::note::encode_std(offered)
            ),
            Error::LogInconsistent { seen, offered } => write!(
                f,
                "the vault log of {offered} entries does not extend the {seen} entries verified before: an entry was changed, dropped or reordered"
            ),
            Error::LogProofMissing => f.write_str(
                "the server did not give the proof the vault log requires; nothing it sent was accepted",
            ),
            Error::Truncated => f.write_str(
                "the sealed file ends without its last chunk: it was cut short; nothing after the cut exists here, and the file must not be treated as complete",
            ),
            Error::NoticeInvalid => f.write_str(
                "the security notice is not signed by a key this app trusts: it was forged or altered; ignore it",
            ),
            Error::TombstoneInvalid => f.write_str(
                "the deletion tombstone is not signed by the server key given, or names another deletion request: it was forged or altered",
            ),
            Error::NotGranted => f.write_str(
                "not granted: the record or key is outside what this grant gives (another record or grantee, or the grant was revoked)",
            ),
        }
    }
}

impl std::error::Error for Error {}

/// Shorthand used throughout the crate.
pub type Result<T> = core::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::Error;

    /// `CODES` lists exactly the codes of the variants: a variant added
    /// without its code in the list (which the JS error list is checked
    /// against) fails here.
    #[test]
    fn codes_list_every_variant() {
        let all = [
            Error::DecryptionFailed,
            Error::UnknownVersion {
                what: "x",
                version: 2,
            },
            Error::Malformed("x"),
            Error::InvalidPrfOutput,
            Error::InvalidRecoveryCode,
            Error::UnlockFailed,
            Error::UnknownUnlockEntry,
            Error::LastUnlockMethod,
            Error::ManifestInvalid,
            Error::StaleManifest {
                seen: 2,
                offered: 1,
            },
            Error::WrongVault,
            Error::InvalidArgument("x"),
            Error::TooLarge,
            Error::RandomUnavailable,
            Error::ForkDetected {
                revision: 1,
                seen: [0; 32],
                offered: [1; 32],
            },
            Error::HistoryIncomplete {
                seen: 1,
                offered: 3,
            },
            Error::StaleRecord {
                seen: 2,
                offered: 1,
            },
            Error::RecordDeleted { version: 2 },
            Error::KeyChanged {
                pinned: [0; 32],
                offered: [1; 32],
            },
            Error::GrantExpired { expires: 1 },
            Error::NotGranted,
            Error::LogSignatureInvalid,
            Error::LogEntryInvalid { index: 1 },
            Error::LogRolledBack {
                seen: 2,
                offered: 1,
            },
            Error::LogForked {
                size: 1,
                seen: [0; 32],
                offered: [1; 32],
            },
            Error::LogInconsistent {
                seen: 1,
                offered: 2,
            },
            Error::LogProofMissing,
            Error::Truncated,
            Error::NoticeInvalid,
            Error::TombstoneInvalid,
        ];
        // An exhaustive match: a new variant does not compile until listed above.
        for e in &all {
            match e {
                Error::DecryptionFailed
                | Error::UnknownVersion { .. }
                | Error::Malformed(_)
                | Error::InvalidPrfOutput
                | Error::InvalidRecoveryCode
                | Error::UnlockFailed
                | Error::UnknownUnlockEntry
                | Error::LastUnlockMethod
                | Error::ManifestInvalid
                | Error::StaleManifest { .. }
                | Error::WrongVault
                | Error::InvalidArgument(_)
                | Error::TooLarge
                | Error::RandomUnavailable
                | Error::ForkDetected { .. }
                | Error::HistoryIncomplete { .. }
                | Error::StaleRecord { .. }
                | Error::RecordDeleted { .. }
                | Error::KeyChanged { .. }
                | Error::GrantExpired { .. }
                | Error::NotGranted
                | Error::LogSignatureInvalid
                | Error::LogEntryInvalid { .. }
                | Error::LogRolledBack { .. }
                | Error::LogForked { .. }
                | Error::LogInconsistent { .. }
                | Error::LogProofMissing
                | Error::Truncated
                | Error::NoticeInvalid
                | Error::TombstoneInvalid => {}
            }
        }
        let codes: Vec<&str> = all.iter().map(Error::code).collect();
        assert_eq!(codes, Error::CODES);
    }
}
