//! Arbitrary text as a recovery code: accepted only if it round-trips.
#![no_main]
use libfuzzer_sys::fuzz_target;
use medseal::RecoveryCode;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(code) = RecoveryCode::parse(text) {
        let shown = code.to_display_string();
        let again = RecoveryCode::parse(&shown).unwrap();
        assert_eq!(again.to_display_string(), shown);
    }
});
