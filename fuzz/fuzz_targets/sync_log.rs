//! Arbitrary bytes as what a log server sends (a sync answer, entries with
//! inclusion proofs, a signed note, a leaf) to a vault's log state: typed
//! errors, never a panic, and a refused sync leaves the pin as it was.
#![no_main]
use libfuzzer_sys::fuzz_target;
use medseal::log::entry::Entry;
use medseal::log::note::{Checkpoint, Note};
use medseal::log::{included_from_json, LogState, SyncInput};
use medseal::{PasskeyUnlock, PrfOutput};

thread_local! {
    static VAULT: medseal::Vault = {
        let passkey = PasskeyUnlock {
            credential_id: b"fuzz".to_vec(),
            prf_salt: medseal::new_prf_salt().unwrap(),
            prf_output: PrfOutput::new(&[7u8; 32]).unwrap(),
            label: None,
        };
        medseal::Vault::create(passkey).unwrap().0
    };
}

fuzz_target!(|data: &[u8]| {
    let _ = Entry::parse(data);
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(n) = Note::parse(text) {
        let _ = n.to_text();
        let _ = Checkpoint::parse_text(&n.text);
    }
    let _ = LogState::from_json(text);
    VAULT.with(|v| {
        let mut state = LogState::new(v.manifest().vault_id());
        if let Ok(input) = SyncInput::from_json(text) {
            let before = state.clone();
            if state.sync(v.manifest(), &input).is_err() {
                assert_eq!(state, before, "a refused sync moved the pin");
            }
        }
        if let Ok(items) = included_from_json(text) {
            let _ = state.verify_included(&items);
        }
    });
});
