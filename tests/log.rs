//! The vault log (FORMAT.md §16): a device syncing against a log server
//! played here in memory, and each way a server could tamper with the log,
//! shown refused with its typed error.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use medseal::log::entry::{Author, Entry, Event};
use medseal::log::merkle;
use medseal::log::note::Checkpoint;
use medseal::log::report::{access_report, alerts, AlertRules};
use medseal::log::{LogState, ServerLogKey, SyncInput};
use medseal::{Error, Vault};

use common::log_server::LogServer as Server;

fn unlock_event(via: &str, method: &str, device: &str) -> Event {
    Event::Unlock {
        via: via.into(),
        method: method.into(),
        device: Some(device.into()),
        uv: None,
    }
}

fn fetch(by: &str, n: usize, outcome: &str) -> Event {
    Event::SharedFetch {
        grant: "g1".into(),
        by: by.into(),
        records: (0..n).map(|i| format!("r{i}")).collect(),
        outcome: outcome.into(),
    }
}

fn setup() -> (Vault, Server, LogState) {
    let (vault, _) = common::new_vault();
    let server = Server::new(&vault);
    let state = LogState::new(vault.manifest().vault_id());
    (vault, server, state)
}

#[test]
fn a_device_verifies_and_pins_the_log_in_steps() {
    let (vault, mut server, mut state) = setup();
    server.vault(&vault, &unlock_event("pk1", "passkey", "laptop"));
    let got = server.sync(&vault, &mut state).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(state.size(), 2);
    server.attest(&fetch("dr-lee", 3, "ok"));
    server.vault(&vault, &Event::Revoke { share: "g1".into() });
    let got = server.sync(&vault, &mut state).unwrap();
    assert_eq!(got.iter().map(|e| e.n).collect::<Vec<_>>(), vec![2, 3]);
    assert_eq!(got[0].author, Author::Server);
    // The state survives a round trip through its JSON.
    let again = LogState::from_json(&state.to_json()).unwrap();
    assert_eq!(again, state);
    // Nothing new: a sync at the same head is fine.
    server.sync(&vault, &mut state).unwrap();
    assert_eq!(state.size(), 4);
}

#[test]
fn dropping_reordering_or_editing_pinned_entries_is_inconsistent() {
    for attack in ["drop", "reorder", "edit"] {
        let (vault, mut server, mut state) = setup();
        for i in 0..5 {
            server.attest(&fetch("dr-lee", i + 1, "ok"));
        }
        server.sync(&vault, &mut state).unwrap();
        server.attest(&fetch("dr-lee", 1, "ok"));
        // The server rewrites history before the pinned size, re-signing its
        // own entries so that every entry still verifies on its own.
        let mut leaves: Vec<Vec<u8>> = server.leaves.clone();
        match attack {
            "drop" => {
                leaves.remove(3);
            }
            "reorder" => leaves.swap(2, 3),
            _ => {}
        }
        let renumbered: Vec<Vec<u8>> = leaves
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let e = Entry::parse(l).unwrap();
                if e.author == Author::Vault {
                    return l.clone();
                }
                let mut ev = e.event.clone();
                if attack == "edit" && i == 3 {
                    ev = fetch("dr-lee", 0, "ok");
                }
                server
                    .key
                    .entry(&server.origin, i as u64, e.t, &ev)
                    .unwrap()
            })
            .collect();
        server.leaves = renumbered;
        server.attest(&fetch("dr-lee", 1, "ok")); // keep it longer than the pin
        let err = server.sync(&vault, &mut state).unwrap_err();
        assert!(
            matches!(err, Error::LogInconsistent { seen: 6, .. }),
            "{attack}: {err:?}"
        );
        assert_eq!(state.size(), 6, "the pin did not move");
    }
}

#[test]
fn dropped_reordered_or_edited_new_entries_are_invalid() {
    for attack in ["drop", "reorder", "edit", "duplicate"] {
        let (vault, mut server, mut state) = setup();
        server.sync(&vault, &mut state).unwrap();
        for i in 0..4 {
            server.attest(&fetch("dr-lee", i + 1, "ok"));
        }
        match attack {
            "drop" => {
                server.leaves.remove(2);
            }
            "reorder" => server.leaves.swap(2, 3),
            "duplicate" => {
                let l = server.leaves[2].clone();
                server.leaves.insert(3, l);
            }
            _ => {
                // One byte of the body changed (the record count).
                let l = server.leaves[2].last_mut().unwrap();
                assert_eq!(*l, b'}');
                let pos = server.leaves[2].len() - 2;
                server.leaves[2][pos] ^= 1;
            }
        }
        let err = server.sync(&vault, &mut state).unwrap_err();
        assert!(
            matches!(err, Error::LogEntryInvalid { index: 2 | 3 }),
            "{attack}: {err:?}"
        );
        assert_eq!(state.size(), 1);
    }
}

#[test]
fn a_shrunk_log_or_a_replayed_old_checkpoint_is_a_rollback() {
    let (vault, mut server, mut state) = setup();
    for i in 0..6 {
        server.attest(&fetch("dr-lee", i + 1, "ok"));
    }
    let old = server.checkpoint(3);
    server.sync(&vault, &mut state).unwrap();
    // Replay of a real, validly signed checkpoint of size 3.
    let err = state
        .sync(
            vault.manifest(),
            &SyncInput {
                checkpoint: old,
                ..SyncInput::default()
            },
        )
        .unwrap_err();
    assert_eq!(
        err,
        Error::LogRolledBack {
            seen: 7,
            offered: 3
        }
    );
    // Truncation: the server drops the last entries.
    server.leaves.truncate(5);
    let err = server.sync(&vault, &mut state).unwrap_err();
    assert_eq!(
        err,
        Error::LogRolledBack {
            seen: 7,
            offered: 5
        }
    );
}

#[test]
fn two_devices_shown_different_histories_are_caught_on_the_next_sync() {
    let (vault, mut server, mut a) = setup();
    let mut b = LogState::new(vault.manifest().vault_id());
    server.attest(&fetch("dr-lee", 1, "ok"));
    server.sync(&vault, &mut b).unwrap(); // B pinned size 2
    server.attest(&fetch("dr-lee", 2, "ok"));
    server.attest(&fetch("dr-lee", 3, "ok"));
    server.sync(&vault, &mut a).unwrap(); // A pinned (and cosigned) size 4
                                          // The server forks: B is shown another entry 2 and 3 (the burst hidden).
    let honest = server.leaves.clone();
    server.leaves.truncate(2);
    server.attest(&fetch("dr-lee", 0, "ok"));
    server.attest(&fetch("dr-lee", 0, "ok"));
    let err = server.sync(&vault, &mut b).unwrap_err();
    assert!(matches!(err, Error::LogForked { size: 4, .. }), "{err:?}");
    // Without A's cosignature B could not tell, but A can the next time it
    // syncs: its own pin is not in the forked history.
    server.cosigned.clear();
    let forked_root = server.tree(4).root(4).unwrap();
    let err = server.sync(&vault, &mut a).unwrap_err();
    assert!(
        matches!(err, Error::LogForked { size: 4, offered, .. } if offered == forked_root),
        "{err:?}"
    );
    server.leaves = honest;
    server.sync(&vault, &mut a).unwrap();
}

#[test]
fn a_forged_server_event_and_an_unknown_signer_are_refused() {
    let (vault, mut server, mut state) = setup();
    server.sync(&vault, &mut state).unwrap();
    let other = ServerLogKey::generate("medseal-test/log").unwrap();
    let leaf = other
        .entry(&server.origin, 1, 5, &fetch("dr-lee", 1, "ok"))
        .unwrap();
    server.leaves.push(leaf);
    assert_eq!(
        server.sync(&vault, &mut state).unwrap_err(),
        Error::LogEntryInvalid { index: 1 }
    );
    // A checkpoint signed by a key the vault never announced.
    server.leaves.pop();
    server.attest(&fetch("dr-lee", 1, "ok"));
    let mut input = server.sync_input(1);
    let real = server.key.sign_checkpoint(
        &Checkpoint::parse_text(
            &medseal::log::note::Note::parse(&input.checkpoint)
                .unwrap()
                .text,
        )
        .unwrap(),
    );
    assert_eq!(real.unwrap(), input.checkpoint);
    input.checkpoint = other
        .sign_checkpoint(
            &Checkpoint::parse_text(
                &medseal::log::note::Note::parse(&input.checkpoint)
                    .unwrap()
                    .text,
            )
            .unwrap(),
        )
        .unwrap();
    assert_eq!(
        state.sync(vault.manifest(), &input).unwrap_err(),
        Error::LogSignatureInvalid
    );
    // The vault may not write the server's events, nor the server the vault's.
    assert!(vault.log_entry(2, 1, &fetch("x", 1, "ok")).is_err());
    assert!(server
        .key
        .entry(&server.origin, 2, 1, &unlock_event("a", "passkey", "x"))
        .is_err());
}

#[test]
fn a_missing_proof_is_a_failure() {
    let (vault, mut server, mut state) = setup();
    server.sync(&vault, &mut state).unwrap();
    server.attest(&fetch("dr-lee", 1, "ok"));
    let mut input = server.sync_input(1);
    input.proof.clear();
    assert_eq!(
        state.sync(vault.manifest(), &input).unwrap_err(),
        Error::LogProofMissing
    );
    let mut input = server.sync_input(1);
    input.entries.clear();
    assert_eq!(
        state.sync(vault.manifest(), &input).unwrap_err(),
        Error::LogProofMissing
    );
    // Inclusion proofs for shown entries are required too.
    let t = server.tree(1);
    let leaf = server.leaves[0].clone();
    assert_eq!(
        state
            .verify_included(&[(0, leaf.clone(), vec![])])
            .unwrap()
            .len(),
        1
    ); // size 1: empty proof
    let _ = t;
    server.sync(&vault, &mut state).unwrap();
    assert_eq!(
        state.verify_included(&[(0, leaf, vec![])]).unwrap_err(),
        Error::LogProofMissing
    );
}

#[test]
fn inclusion_proofs_check_shown_entries() {
    let (vault, mut server, mut state) = setup();
    for i in 0..9 {
        server.attest(&fetch("dr-lee", i, "ok"));
    }
    server.sync(&vault, &mut state).unwrap();
    let t = server.tree(10);
    let shown: Vec<_> = (0..10u64)
        .map(|i| {
            (
                i,
                server.leaves[i as usize].clone(),
                merkle::prove_inclusion(i, 10, &t).unwrap(),
            )
        })
        .collect();
    assert_eq!(state.verify_included(&shown).unwrap().len(), 10);
    let mut bad = shown.clone();
    bad[4].1 = server.leaves[5].clone();
    assert_eq!(
        state.verify_included(&bad).unwrap_err(),
        Error::LogEntryInvalid { index: 4 }
    );
}

#[test]
fn an_ended_epochs_key_cannot_write_after_the_rekey_is_logged() {
    let (mut vault, mut server, mut state) = setup();
    let old = Vault::unlock_with_prf(
        vault.manifest(),
        b"cred-1",
        medseal::PrfOutput::new(&common::prf(1)).unwrap(),
        0,
    )
    .unwrap();
    vault.rekey().unwrap();
    let m = vault.manifest();
    let ev = Event::Manifest {
        rev: m.revision(),
        hash: "h".into(),
        epoch: m.epoch(),
        added: vec![],
        removed: vec!["pk-old".into()],
    };
    server.vault(&vault, &ev);
    // The old key (as a removed passkey still holds it) writes after that.
    server.vault(&old, &unlock_event("pk-old", "passkey", "stolen"));
    let err = server.sync(&vault, &mut state).unwrap_err();
    assert_eq!(err, Error::LogEntryInvalid { index: 2 });
}

#[test]
fn the_report_and_alerts_follow_the_rules() {
    let (vault, mut server, mut state) = setup();
    server.vault(&vault, &unlock_event("pk1", "passkey", "laptop"));
    server.vault(
        &vault,
        &Event::Grant {
            share: "g1".into(),
            to: "dr-lee".into(),
            records: Some(25),
            scope: None,
            expires: 9_999,
        },
    );
    server.sync(&vault, &mut state).unwrap();
    let since = state.size();
    server.attest(&fetch("dr-lee", 3, "ok"));
    server.attest(&fetch("dr-lee", 19, "ok")); // 22 records within 10 minutes
    server.vault(&vault, &unlock_event("pk2", "passkey", "unknown phone"));
    server.vault(&vault, &unlock_event("pk1", "passkey", "laptop"));
    server.attest(&Event::Login {
        method: "recovery".into(),
        outcome: "failed".into(),
        from: "net-7".into(),
        via: None,
    });
    server.attest(&fetch("dr-lee", 0, "expired"));
    for (i, from) in ["a", "b", "c", "d"].iter().enumerate() {
        server.attest(&Event::LinkFetch {
            link: "l1".into(),
            recipient: format!("er {i}"),
            from: (*from).into(),
            outcome: "ok".into(),
        });
    }
    let all = server.sync(&vault, &mut state).unwrap();
    assert_eq!(all.len(), 10);
    let t = server.tree(state.size());
    let everything: Vec<_> = (0..state.size())
        .map(|i| {
            (
                i,
                server.leaves[i as usize].clone(),
                merkle::prove_inclusion(i, state.size(), &t).unwrap(),
            )
        })
        .collect();
    let entries = state.verify_included(&everything).unwrap();
    let report = access_report(&entries, None, None);
    let opens: Vec<_> = report
        .iter()
        .filter(|e| e.kind == "shared_fetch" && e.disclosure)
        .collect();
    assert_eq!(opens.len(), 2);
    assert_eq!(opens[1].actor, "dr-lee");
    assert_eq!(opens[1].records.len(), 19);
    assert_eq!(opens[1].purpose, Some("at the patient's request"));
    // A time window.
    let windowed = access_report(&entries, Some(1_000 + 5 * 60), Some(1_000 + 7 * 60));
    assert_eq!(
        windowed.iter().map(|e| e.index).collect::<Vec<_>>(),
        vec![5, 6]
    );

    let got = alerts(&entries, since, &["pk1"], &AlertRules::default());
    let rules: Vec<_> = got.iter().map(|a| (a.rule.as_str(), a.index)).collect();
    assert_eq!(
        rules,
        vec![
            ("burst", 4),
            ("new-unlock-method", 5),
            ("recovery-used", 7),
            ("after-expiry", 8),
            ("link-places", 12)
        ]
    );
    assert_eq!(got[0].count, 22);
    assert_eq!(got[0].action, "revoke-grant");
    // Nothing new since: no alerts.
    assert!(alerts(&entries, state.size(), &["pk1"], &AlertRules::default()).is_empty());
}

mod no_panic {
    //! Any bytes a server could send, and any one-byte change to an honest
    //! sync answer: a typed error or success, never a panic, and a refused
    //! sync leaves the pin where it was.
    use super::*;
    use medseal::log::included_from_json;
    use medseal::log::note::Note;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn parsers_take_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = Entry::parse(&data);
            let mut leaf = medseal::log::entry::MAGIC.to_vec();
            leaf.extend_from_slice(&data);
            let _ = Entry::parse(&leaf);
            if let Ok(text) = std::str::from_utf8(&data) {
                let _ = Note::parse(text);
                let _ = Checkpoint::parse_text(text);
                let _ = SyncInput::from_json(text);
                let _ = included_from_json(text);
                let _ = LogState::from_json(text);
            }
        }

        #[test]
        fn a_changed_byte_in_a_sync_answer_is_refused_or_harmless(at in any::<usize>(), bit in 0u8..8) {
            let (vault, mut server, mut state) = setup();
            server.sync(&vault, &mut state).unwrap();
            server.attest(&fetch("dr-lee", 2, "ok"));
            server.vault(&vault, &Event::Revoke { share: "g1".into() });
            let input = server.sync_input(state.size());
            // The answer as JSON, one bit flipped somewhere.
            let json = serde_json::json!({
                "checkpoint": input.checkpoint,
                "proof": input.proof.iter().map(|h| common::b64(h)).collect::<Vec<_>>(),
                "entries": input.entries.iter().map(|e| common::b64(e)).collect::<Vec<_>>(),
            })
            .to_string();
            let mut bytes = json.into_bytes();
            let i = at % bytes.len();
            bytes[i] ^= 1 << bit;
            let before = state.clone();
            if let Ok(text) = String::from_utf8(bytes) {
                if let Ok(changed) = SyncInput::from_json(&text) {
                    let same = changed.checkpoint == input.checkpoint && changed.proof == input.proof && changed.entries == input.entries;
                    match state.sync(vault.manifest(), &changed) {
                        Ok(_) => prop_assert!(same || state.size() == 3, "a changed answer moved the pin elsewhere"),
                        Err(_) => prop_assert_eq!(&state, &before),
                    }
                }
            }
        }
    }
}

#[test]
fn an_entry_the_device_appended_must_be_where_it_was_put() {
    let (vault, mut server, mut state) = setup();
    server.sync(&vault, &mut state).unwrap();
    // The device appends its unlock at position 1; the server acknowledges it…
    let mine = vault
        .log_entry(1, 2_000, &unlock_event("pk1", "passkey", "laptop"))
        .unwrap();
    let expect = [(1u64, merkle::leaf_hash(&mine))];
    let opts = medseal::log::SyncOptions {
        expect: &expect,
        ..Default::default()
    };
    // …then serves an access event there instead.
    server.attest(&fetch("dr-lee", 1, "ok"));
    let input = server.sync_input(state.size());
    let err = state
        .sync_with(vault.manifest(), &input, &opts)
        .unwrap_err();
    assert!(matches!(err, Error::LogInconsistent { .. }), "{err:?}");
    // Or serves nothing new at all.
    server.leaves.truncate(1);
    let input = server.sync_input(state.size());
    let err = state
        .sync_with(vault.manifest(), &input, &opts)
        .unwrap_err();
    assert!(matches!(err, Error::LogInconsistent { .. }), "{err:?}");
    // Honestly served, it passes.
    server.leaves.push(mine);
    let input = server.sync_input(state.size());
    state.sync_with(vault.manifest(), &input, &opts).unwrap();
}

#[test]
fn alerts_are_raised_at_sync_and_kept_in_the_state() {
    let (vault, mut server, mut state) = setup();
    server.vault(&vault, &unlock_event("pk1", "passkey", "laptop"));
    let own = ["pk1"];
    let opts = medseal::log::SyncOptions {
        own: &own,
        ..Default::default()
    };
    let input = server.sync_input(0);
    state.sync_with(vault.manifest(), &input, &opts).unwrap();
    assert!(
        state.alerts(0).is_empty(),
        "this device's own unlock raises nothing"
    );
    server.attest(&Event::Login {
        method: "recovery".into(),
        outcome: "ok".into(),
        from: "net-1".into(),
        via: None,
    });
    server.vault(&vault, &unlock_event("rec", "recovery", "phone"));
    server.vault(&vault, &unlock_event("pk9", "passkey", "phone"));
    let input = server.sync_input(state.size());
    state.sync_with(vault.manifest(), &input, &opts).unwrap();
    let rules: Vec<_> = state
        .alerts(2)
        .into_iter()
        .map(|a| (a.rule, a.index))
        .collect();
    // The server's recovery sign-in and the phone's recovery unlock are one
    // use of the code; the phone's new passkey is its own alert.
    assert_eq!(
        rules,
        vec![
            ("recovery-used".to_owned(), 2),
            ("new-unlock-method".to_owned(), 4)
        ]
    );
    // Kept across a restart of the device (the state's JSON).
    let again = LogState::from_json(&state.to_json()).unwrap();
    assert_eq!(again.alerts(0), state.alerts(0));
    assert_eq!(again, state);
    // The report of the newest run names the shares from what was verified.
    let t = server.tree(state.size());
    let run: Vec<_> = (2..state.size())
        .map(|i| {
            (
                i,
                server.leaves[i as usize].clone(),
                merkle::prove_inclusion(i, state.size(), &t).unwrap(),
            )
        })
        .collect();
    assert_eq!(state.report(&run, None, None).unwrap().len(), 3);
    assert_eq!(
        state.report(&run[..2], None, None).unwrap_err(),
        Error::LogProofMissing
    );
}

#[test]
fn cosignatures_of_an_ended_epoch_count_for_nothing() {
    let (mut vault, mut server, mut state) = setup();
    server.sync(&vault, &mut state).unwrap(); // cosigned at epoch 1
    let removed = common::unlock(vault.manifest(), b"cred-1", 1).unwrap();
    vault.rekey().unwrap();
    let ev = vault.manifest_event(None);
    server.vault(&vault, &ev); // the floor rises to epoch 2
                               // The removed device cosigns a checkpoint of another history with its
                               // ended epoch's key: it cannot raise a (false) fork.
    let mut fake = LogState::new(vault.manifest().vault_id());
    let other = Server::new(&removed);
    let answer = other.sync_input(0);
    fake.sync(removed.manifest(), &answer).unwrap();
    server.cosigned.push(removed.cosign_log(&fake).unwrap());
    server.sync(&vault, &mut state).unwrap();
    // The honest old cosignature (epoch 1) is skipped too, not an error.
    assert_eq!(state.size(), 2);
}

#[test]
fn the_servers_sign_in_record_names_a_new_passkey_even_if_its_device_stays_silent() {
    let (vault, mut server, mut state) = setup();
    let own = ["pk-mine"];
    let opts = medseal::log::SyncOptions {
        own: &own,
        ..Default::default()
    };
    let login = |via: &str| Event::Login {
        method: "passkey".into(),
        outcome: "ok".into(),
        from: "net-1".into(),
        via: Some(via.into()),
    };
    server.attest(&login("pk-mine"));
    // A passkey this device never saw signs in; its client writes no unlock entry.
    server.attest(&login("pk-other"));
    let input = server.sync_input(0);
    state.sync_with(vault.manifest(), &input, &opts).unwrap();
    let got: Vec<_> = state
        .alerts(0)
        .into_iter()
        .map(|a| (a.rule, a.target))
        .collect();
    assert_eq!(
        got,
        vec![("new-unlock-method".to_owned(), Some("pk-other".to_owned()))]
    );
    // Its device's own unlock entry afterwards raises nothing more.
    server.vault(&vault, &unlock_event("pk-other", "passkey", "phone"));
    let input = server.sync_input(state.size());
    state.sync_with(vault.manifest(), &input, &opts).unwrap();
    assert_eq!(state.alerts(0).len(), 1);
}
