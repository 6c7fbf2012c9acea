//! The security check-up (`medseal::posture`, issue #17): each finding made
//! true on a constructed vault and log, then fixed the way the patient would
//! fix it, then gone. Log entries are real ones: signed by the vault
//! (`Vault::log_entry`) or by a server log key, parsed back with
//! `Entry::parse` and checked against their signer, as a sync would.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use medseal::link::LinkRequest;
use medseal::log::entry::{entries_json, Entry, Event};
use medseal::log::ServerLogKey;
use medseal::posture::{
    check, findings_json, Finding, Logged, PostureOptions, Prf, DEFAULT_UNUSED_DAYS,
};
use medseal::vault::deterministic;
use medseal::{Error, GrantRequest, GrantScope, RecoveryCode, Vault};

const DAY: u64 = 86_400;
const T0: u64 = 1_750_000_000;

/// A vault log written as the app writes it: vault entries signed by the
/// vault's identity of the current epoch, server entries by a server key.
struct Log {
    server: ServerLogKey,
    entries: Vec<Entry>,
}

impl Log {
    fn new(vault: &Vault) -> Log {
        let server = ServerLogKey::generate("medseal-test/log").unwrap();
        let mut log = Log {
            server,
            entries: Vec::new(),
        };
        let announce = log.server.announcement();
        log.vault(vault, T0, &announce);
        log
    }

    fn vault(&mut self, vault: &Vault, t: u64, ev: &Event) {
        let leaf = vault.log_entry(self.entries.len() as u64, t, ev).unwrap();
        let entry = Entry::parse(&leaf).unwrap();
        entry
            .verify(&vault.log_origin(), &vault.identity_public_key())
            .unwrap();
        self.entries.push(entry);
    }

    fn server(&mut self, vault: &Vault, t: u64, ev: &Event) {
        let leaf = self
            .server
            .entry(&vault.log_origin(), self.entries.len() as u64, t, ev)
            .unwrap();
        self.entries.push(Entry::parse(&leaf).unwrap());
    }

    /// The manifest entry for the vault's current manifest, after `before`.
    fn manifest(&mut self, vault: &Vault, t: u64, before: Option<&medseal::Manifest>) {
        let ev = vault.manifest_event(before);
        self.vault(vault, t, &ev);
    }

    fn unlock(&mut self, vault: &Vault, t: u64, via: &str, method: &str, uv: Option<bool>) {
        let ev = Event::Unlock {
            via: via.into(),
            method: method.into(),
            device: Some("laptop".into()),
            uv,
        };
        self.vault(vault, t, &ev);
    }

    fn logged(&self) -> Vec<Logged> {
        self.entries.iter().cloned().map(Logged::from).collect()
    }
}

fn opts(log: Option<&[Logged]>, now: u64) -> PostureOptions<'_> {
    PostureOptions {
        now,
        log,
        prf: Prf::Supported,
        unused_days: DEFAULT_UNUSED_DAYS,
    }
}

fn kinds(f: &[Finding]) -> Vec<&'static str> {
    f.iter().map(Finding::kind).collect()
}

fn has(f: &[Finding], kind: &str) -> bool {
    f.iter().any(|x| x.kind() == kind)
}

fn vault(seed: &[u8]) -> (Vault, RecoveryCode) {
    common::seeded_vault(seed)
}

fn second_passkey(v: &mut Vault) -> String {
    let salt = deterministic::prf_salt(b"posture/second-salt");
    v.add_passkey(common::passkey(b"cred-2", salt, common::prf(2)))
        .unwrap();
    common::passkey_entry_id(v.manifest(), b"cred-2")
}

fn first_passkey(v: &Vault) -> String {
    common::passkey_entry_id(v.manifest(), b"cred-1")
}

fn rc(v: &Vault) -> String {
    v.manifest().recovery_entry_id().unwrap().to_string()
}

#[test]
fn one_passkey_until_a_backup_is_added() {
    let (mut v, _) = vault(b"posture/one-passkey");
    let f = check(v.manifest(), &opts(None, T0));
    assert_eq!(kinds(&f), ["OnePasskey"]);
    second_passkey(&mut v);
    let f = check(v.manifest(), &opts(None, T0));
    assert!(f.is_empty(), "{f:?}");
    // Removing the backup brings it back.
    let second = common::passkey_entry_id(v.manifest(), b"cred-2");
    v.remove_unlock(&second).unwrap();
    assert!(has(&check(v.manifest(), &opts(None, T0)), "OnePasskey"));
}

#[test]
fn recovery_unconfirmed_until_the_code_is_typed_and_checked() {
    let (v, code) = vault(b"posture/recovery-unconfirmed");
    let mut log = Log::new(&v);
    log.manifest(&v, T0, None);
    log.unlock(&v, T0, &first_passkey(&v), "passkey", Some(true));
    // Without a log the check-up cannot know: not judged.
    assert!(!has(
        &check(v.manifest(), &opts(None, T0)),
        "RecoveryUnconfirmed"
    ));
    let f = check(v.manifest(), &opts(Some(&log.logged()), T0 + 60));
    assert!(
        f.contains(&Finding::RecoveryUnconfirmed { entry: rc(&v) }),
        "{f:?}"
    );

    // A wrong code (well formed) is UnlockFailed, as at unlock; nothing is logged for it.
    let (_, other_code) = vault(b"posture/another-vault");
    assert_eq!(
        v.confirm_recovery_code(&other_code),
        Err(Error::UnlockFailed)
    );
    // The right code, typed back in (display form, lower case, spaces): confirmed.
    let typed = code.to_display_string().to_lowercase().replace('-', " ");
    let parsed = RecoveryCode::parse(&typed).unwrap();
    v.confirm_recovery_code(&parsed).unwrap();
    log.vault(&v, T0 + 120, &Event::RecoveryCheck { via: rc(&v) });
    let f = check(v.manifest(), &opts(Some(&log.logged()), T0 + 180));
    assert!(!has(&f, "RecoveryUnconfirmed"), "{f:?}");
}

#[test]
fn an_unlock_with_the_code_confirms_it_and_a_rotation_asks_again() {
    let (mut v, code) = vault(b"posture/recovery-rotated");
    let mut log = Log::new(&v);
    log.manifest(&v, T0, None);
    // Recovering with the code shows it is held.
    let recovered = Vault::unlock_with_recovery_code(v.manifest(), &code, 0).unwrap();
    log.unlock(&recovered, T0 + 10, &rc(&v), "recovery", None);
    assert!(!has(
        &check(v.manifest(), &opts(Some(&log.logged()), T0 + 20)),
        "RecoveryUnconfirmed"
    ));
    // A new code: the old one's confirmation no longer counts, and the old
    // code no longer confirms.
    let before = v.manifest().clone();
    let new_code = v.rotate_recovery_code().unwrap();
    log.manifest(&v, T0 + 30, Some(&before));
    assert_eq!(v.confirm_recovery_code(&code), Err(Error::UnlockFailed));
    let f = check(v.manifest(), &opts(Some(&log.logged()), T0 + 40));
    assert!(
        f.contains(&Finding::RecoveryUnconfirmed { entry: rc(&v) }),
        "{f:?}"
    );
    v.confirm_recovery_code(&new_code).unwrap();
    log.vault(&v, T0 + 50, &Event::RecoveryCheck { via: rc(&v) });
    assert!(!has(
        &check(v.manifest(), &opts(Some(&log.logged()), T0 + 60)),
        "RecoveryUnconfirmed"
    ));
    // A check naming the old entry confirms nothing about the new one.
    let (mut w, _) = vault(b"posture/recovery-old-check");
    let mut wl = Log::new(&w);
    let old = rc(&w);
    wl.vault(&w, T0, &Event::RecoveryCheck { via: old });
    let before = w.manifest().clone();
    w.rotate_recovery_code().unwrap();
    wl.manifest(&w, T0 + 1, Some(&before));
    assert!(has(
        &check(w.manifest(), &opts(Some(&wl.logged()), T0 + 2)),
        "RecoveryUnconfirmed"
    ));
}

#[test]
fn a_recovery_code_that_survived_a_rekey_until_it_is_rotated() {
    let (mut v, _) = vault(b"posture/recovery-rekey");
    let mut log = Log::new(&v);
    log.manifest(&v, T0, None);
    log.unlock(&v, T0, &first_passkey(&v), "passkey", Some(true));
    assert!(!has(
        &check(v.manifest(), &opts(Some(&log.logged()), T0)),
        "RecoveryOlderThanRekey"
    ));
    // A re-key (in answer to a leak, say): the code made in epoch 1 still opens epoch 2.
    let before = v.manifest().clone();
    v.rekey().unwrap();
    log.manifest(&v, T0 + 10, Some(&before));
    let f = check(v.manifest(), &opts(Some(&log.logged()), T0 + 20));
    assert!(
        f.contains(&Finding::RecoveryOlderThanRekey {
            entry: rc(&v),
            since_epoch: 1,
            epoch: 2
        }),
        "{f:?}"
    );
    // Without the log it is not judged (the manifest does not say when the entry was made).
    assert!(!has(
        &check(v.manifest(), &opts(None, T0 + 20)),
        "RecoveryOlderThanRekey"
    ));
    // A new code is made in a new epoch of its own: nothing older survives.
    let before = v.manifest().clone();
    v.rotate_recovery_code().unwrap();
    log.manifest(&v, T0 + 30, Some(&before));
    let f = check(v.manifest(), &opts(Some(&log.logged()), T0 + 40));
    assert!(!has(&f, "RecoveryOlderThanRekey"), "{f:?}");
    assert_eq!(v.manifest().epoch(), 3);
    // Another re-key after it: the new code is older than that one in turn.
    let before = v.manifest().clone();
    v.rekey().unwrap();
    log.manifest(&v, T0 + 50, Some(&before));
    let f = check(v.manifest(), &opts(Some(&log.logged()), T0 + 60));
    assert!(
        f.contains(&Finding::RecoveryOlderThanRekey {
            entry: rc(&v),
            since_epoch: 3,
            epoch: 4
        }),
        "{f:?}"
    );
}

#[test]
fn a_code_older_than_the_log_counts_from_the_log_s_oldest_epoch() {
    // The app did not log the vault's creation (its first entry is an
    // unlock): the code is in every entry's epoch.
    let (mut v, _) = vault(b"posture/recovery-no-creation");
    let mut log = Log::new(&v);
    log.unlock(&v, T0, &first_passkey(&v), "passkey", None);
    let before = v.manifest().clone();
    v.rekey().unwrap();
    log.manifest(&v, T0 + 10, Some(&before));
    assert!(has(
        &check(v.manifest(), &opts(Some(&log.logged()), T0 + 20)),
        "RecoveryOlderThanRekey"
    ));
}

#[test]
fn a_passkey_unused_for_long_until_it_is_used() {
    let (mut v, _) = vault(b"posture/unused");
    let mut log = Log::new(&v);
    log.manifest(&v, T0, None);
    let first = first_passkey(&v);
    log.unlock(&v, T0, &first, "passkey", Some(true));
    let before = v.manifest().clone();
    let second = second_passkey(&mut v);
    log.manifest(&v, T0 + DAY, Some(&before));
    // Ten days on: the backup was never used, but it is new. Nothing.
    let f = check(v.manifest(), &opts(Some(&log.logged()), T0 + 10 * DAY));
    assert!(!has(&f, "PasskeyUnused"), "{f:?}");
    // 200 days on: the first was last used on day 0, the backup never.
    let now = T0 + 200 * DAY;
    let f = check(v.manifest(), &opts(Some(&log.logged()), now));
    let unused: Vec<_> = f.iter().filter(|x| x.kind() == "PasskeyUnused").collect();
    assert_eq!(
        unused,
        [
            &Finding::PasskeyUnused {
                entry: first.clone(),
                label: Some("test key".into()),
                last_used: Some(T0)
            },
            &Finding::PasskeyUnused {
                entry: second.clone(),
                label: Some("test key".into()),
                last_used: None
            },
        ]
    );
    // The threshold is the caller's: 365 days says nothing yet.
    let logged = log.logged();
    let mut o = opts(Some(&logged), now);
    o.unused_days = 365;
    assert!(!has(&check(v.manifest(), &o), "PasskeyUnused"));
    // Used: the first unlocks on this device; the server saw the backup sign in.
    log.unlock(&v, now, &first, "passkey", Some(true));
    log.server(
        &v,
        now,
        &Event::Login {
            method: "passkey".into(),
            outcome: "ok".into(),
            from: "net-1".into(),
            via: Some(second.clone()),
        },
    );
    let f = check(v.manifest(), &opts(Some(&log.logged()), now + 60));
    assert!(!has(&f, "PasskeyUnused"), "{f:?}");
    // A failed sign-in is no use.
    let (w, _) = vault(b"posture/unused-failed");
    let mut wl = Log::new(&w);
    wl.server(
        &w,
        T0,
        &Event::Login {
            method: "passkey".into(),
            outcome: "failed".into(),
            from: "net-1".into(),
            via: None,
        },
    );
    assert!(has(
        &check(w.manifest(), &opts(Some(&wl.logged()), T0 + 181 * DAY)),
        "PasskeyUnused"
    ));
}

#[test]
fn a_passkey_without_user_verification_until_it_verifies_or_is_removed() {
    let (mut v, _) = vault(b"posture/uv");
    let mut log = Log::new(&v);
    log.manifest(&v, T0, None);
    let first = first_passkey(&v);
    let before = v.manifest().clone();
    let second = second_passkey(&mut v);
    log.manifest(&v, T0, Some(&before));
    // No uv said (an app that does not know): nothing.
    log.unlock(&v, T0 + 1, &second, "passkey", None);
    assert!(!has(
        &check(v.manifest(), &opts(Some(&log.logged()), T0 + 2)),
        "PasskeyWithoutUv"
    ));
    log.unlock(&v, T0 + 3, &second, "passkey", Some(false));
    log.unlock(&v, T0 + 4, &first, "passkey", Some(true));
    let f = check(v.manifest(), &opts(Some(&log.logged()), T0 + 5));
    let found: Vec<_> = f
        .iter()
        .filter(|x| x.kind() == "PasskeyWithoutUv")
        .collect();
    assert_eq!(
        found,
        [&Finding::PasskeyWithoutUv {
            entry: second.clone(),
            label: Some("test key".into())
        }]
    );
    // Its latest unlock verified the user (the authenticator now has a PIN): gone.
    let mut later = Log {
        server: ServerLogKey::generate("x").unwrap(),
        entries: log.entries.clone(),
    };
    later.unlock(&v, T0 + 6, &second, "passkey", Some(true));
    assert!(!has(
        &check(v.manifest(), &opts(Some(&later.logged()), T0 + 7)),
        "PasskeyWithoutUv"
    ));
    // Or removed (the demo's fix): gone too.
    let before = v.manifest().clone();
    v.remove_unlock(&second).unwrap();
    log.manifest(&v, T0 + 8, Some(&before));
    assert!(!has(
        &check(v.manifest(), &opts(Some(&log.logged()), T0 + 9)),
        "PasskeyWithoutUv"
    ));
    // The recovery code has no authenticator: a `uv` on a recovery unlock is refused.
    let bad = Event::from_json(r#"{"type":"unlock","via":"rc-1","method":"recovery","uv":false}"#);
    assert!(bad.is_err());
}

#[test]
fn prf_unsupported_only_when_the_caller_says_so() {
    let (mut v, _) = vault(b"posture/prf");
    second_passkey(&mut v);
    for (prf, want) in [
        (Prf::Unsupported, vec!["PrfUnsupported"]),
        (Prf::Unknown, vec![]),
        (Prf::Supported, vec![]),
    ] {
        let mut o = opts(None, T0);
        o.prf = prf;
        assert_eq!(kinds(&check(v.manifest(), &o)), want, "{prf:?}");
    }
}

#[test]
fn every_active_share_is_listed_with_its_expiry_until_revoked() {
    let (mut v, _) = vault(b"posture/shares");
    let (clinician, _) = vault(b"posture/shares-clinician");
    let mut log = Log::new(&v);
    let grant = v
        .grant(GrantRequest {
            grantee: clinician.manifest(),
            scope: GrantScope::Records(vec!["rec-1".into()]),
            created: T0,
            expires: T0 + 7 * DAY,
        })
        .unwrap()
        .grant;
    let grant_id = medseal::base64url(&grant.id);
    log.vault(
        &v,
        T0,
        &Event::Grant {
            share: grant_id.clone(),
            to: "dr-lee".into(),
            records: Some(1),
            scope: None,
            expires: T0 + 7 * DAY,
        },
    );
    let link = v
        .create_link(LinkRequest {
            base_url: "https://phr.example/shl/",
            label: Some("For the ER".into()),
            expires: T0 + DAY,
            passcode: false,
        })
        .unwrap();
    let link_id = medseal::base64url(&link.share_id);
    // Two days on, the link has expired but the manifest still lists it.
    let now = T0 + 2 * DAY;
    let f = check(v.manifest(), &opts(Some(&log.logged()), now));
    let shares: Vec<_> = f.iter().filter(|x| x.kind() == "ActiveShare").collect();
    assert_eq!(
        shares,
        [
            &Finding::ActiveShare {
                id: grant_id.clone(),
                link: false,
                expires: T0 + 7 * DAY,
                expired: false,
                scope: None,
                name: Some("dr-lee".into()),
            },
            &Finding::ActiveShare {
                id: link_id.clone(),
                link: true,
                expires: T0 + DAY,
                expired: true,
                scope: None,
                // Not in the log: the app did not log the link.
                name: None,
            },
        ]
    );
    v.revoke_share(&grant.id).unwrap();
    v.revoke_share(&link.share_id).unwrap();
    let f = check(v.manifest(), &opts(Some(&log.logged()), now));
    assert!(!has(&f, "ActiveShare"), "{f:?}");
}

#[test]
fn old_epoch_keys_until_they_are_retired() {
    let (mut v, _) = vault(b"posture/epochs");
    second_passkey(&mut v);
    assert!(check(v.manifest(), &opts(None, T0)).is_empty());
    let sealed = v.seal(b"lab result", &common::ctx("rec-1")).unwrap();
    v.rekey().unwrap();
    v.rekey().unwrap();
    let f = check(v.manifest(), &opts(None, T0));
    assert_eq!(f, [Finding::OldEpochKeys { epochs: vec![1, 2] }]);
    // The fix the demo runs: re-wrap every record, then retire.
    let rewrapped = v.rewrap(&sealed, &common::ctx("rec-1")).unwrap().unwrap();
    v.retire_epochs().unwrap();
    assert!(check(v.manifest(), &opts(None, T0)).is_empty());
    assert_eq!(
        v.open(&rewrapped, &common::ctx("rec-1")).unwrap(),
        b"lab result"
    );
}

#[test]
fn a_well_kept_vault_has_nothing_to_fix() {
    let (mut v, code) = vault(b"posture/clean");
    let mut log = Log::new(&v);
    log.manifest(&v, T0, None);
    let before = v.manifest().clone();
    let second = second_passkey(&mut v);
    log.manifest(&v, T0, Some(&before));
    log.unlock(&v, T0 + 5, &first_passkey(&v), "passkey", Some(true));
    log.unlock(&v, T0 + 6, &second, "passkey", Some(true));
    v.confirm_recovery_code(&code).unwrap();
    log.vault(&v, T0 + 7, &Event::RecoveryCheck { via: rc(&v) });
    let f = check(v.manifest(), &opts(Some(&log.logged()), T0 + 8));
    assert!(f.is_empty(), "{f:?}");
    assert_eq!(findings_json(&f), "[]");
}

#[test]
fn log_entries_are_read_in_the_form_sync_log_gives_them() {
    let (v, _) = vault(b"posture/json");
    let mut log = Log::new(&v);
    log.manifest(&v, T0, None);
    log.unlock(&v, T0 + 1, &first_passkey(&v), "passkey", Some(false));
    log.vault(&v, T0 + 2, &Event::RecoveryCheck { via: rc(&v) });
    log.server(
        &v,
        T0 + 3,
        &Event::Login {
            method: "passkey".into(),
            outcome: "ok".into(),
            from: "n".into(),
            via: Some(first_passkey(&v)),
        },
    );
    let json = entries_json(&log.entries);
    assert!(
        json.contains(r#""uv":false"#) && json.contains(r#""type":"recovery_check""#),
        "{json}"
    );
    let read = Logged::list_from_json(&json).unwrap();
    assert_eq!(read, log.logged());
    // Strict: an unknown member, an author that may not write the event, a
    // server entry with an epoch, an event this version does not know.
    let mut v0: serde_json::Value = serde_json::from_str(&json).unwrap();
    for edit in [
        (|e: &mut serde_json::Value| e[1]["extra"] = 1.into()) as fn(&mut serde_json::Value),
        |e| e[2]["author"] = "server".into(),
        |e| e[4]["e"] = 1.into(),
        |e| e[1]["event"]["type"] = "teleport".into(),
        |e| e[2]["event"]["uv"] = "yes".into(),
        |e| e[1] = serde_json::Value::Null,
    ] {
        let mut x = v0.clone();
        edit(&mut x);
        assert!(
            matches!(
                Logged::list_from_json(&x.to_string()),
                Err(Error::Malformed(_))
            ),
            "{x}"
        );
    }
    v0[2]["event"]["uv"] = true.into();
    assert!(Logged::list_from_json(&v0.to_string()).is_ok());
    // The findings' JSON: a kind and the fields, camelCase, null when absent.
    let f = check(v.manifest(), &opts(Some(&read), T0 + 200 * DAY));
    let j: serde_json::Value = serde_json::from_str(&findings_json(&f)).unwrap();
    assert_eq!(j[0], serde_json::json!({ "kind": "OnePasskey" }));
    let uv = j
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["kind"] == "PasskeyWithoutUv")
        .unwrap();
    assert_eq!(uv["entry"], first_passkey(&v).as_str());
    assert_eq!(uv["label"], "test key");
    let unused = j
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["kind"] == "PasskeyUnused")
        .unwrap();
    assert_eq!(unused["lastUsed"], T0 + 3);
}

#[test]
fn new_events_round_trip_through_leaves() {
    let (v, _) = vault(b"posture/events");
    for ev in [
        Event::Unlock {
            via: "pk-1".into(),
            method: "passkey".into(),
            device: None,
            uv: Some(true),
        },
        Event::RecoveryCheck { via: "rc-1".into() },
    ] {
        let leaf = v.log_entry(3, T0, &ev).unwrap();
        assert_eq!(Entry::parse(&leaf).unwrap().event, ev);
        let json = serde_json::to_string(&ev).unwrap();
        assert_eq!(Event::from_json(&json).unwrap(), ev);
    }
    // An empty recovery entry id is out of the format.
    assert!(v
        .log_entry(3, T0, &Event::RecoveryCheck { via: String::new() })
        .is_err());
}
