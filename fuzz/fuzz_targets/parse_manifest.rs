//! Arbitrary text as a vault manifest, then an unlock attempt: typed errors, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use medseal::{Manifest, PrfOutput, RecoveryCode, Vault};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(m) = Manifest::from_json(text) {
        let prf = PrfOutput::new(&[7u8; 32]).unwrap();
        let _ = Vault::unlock_with_prf(&m, b"fuzz", prf, 0);
        if let Ok(code) = RecoveryCode::parse("0000-0000-0000-0000-0000-0000-0000-0000") {
            let _ = Vault::unlock_with_recovery_code(&m, &code, 0);
        }
    }
});
