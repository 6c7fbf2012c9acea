//! Arbitrary text as a grant, checked and opened by a vault that is its
//! grantee (and as a pin): typed errors, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use medseal::{Grant, Pin, PrfOutput, PasskeyUnlock};

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
    let Ok(text) = std::str::from_utf8(data) else { return };
    VAULT.with(|v| {
        if let Ok(g) = Grant::from_json(text) {
            let _ = g.to_json();
            let _ = v.accept_grant(g, v.manifest(), 1_800_000_000);
        }
        if let Ok(p) = Pin::from_json(text) {
            let _ = Pin::check(v.manifest(), Some(&p));
        }
    });
});
