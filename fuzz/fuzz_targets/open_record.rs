//! Arbitrary bytes and text as a sealed record: typed errors, never a panic.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use medseal::record::{self, Header, RecordContext};
use medseal::{PasskeyUnlock, PrfOutput, Vault};

/// A vault in key epoch 2 that still holds epoch 1's key, so that both a
/// current and an older epoch in a version 2 header reach a real key.
fn vault() -> &'static Vault {
    static V: OnceLock<Vault> = OnceLock::new();
    V.get_or_init(|| {
        let prf = PrfOutput::new(&[7u8; 32]).unwrap();
        let p = PasskeyUnlock { credential_id: b"fuzz".to_vec(), prf_salt: [1; 32], prf_output: prf, label: None };
        let mut v = Vault::create(p).unwrap().0;
        v.rekey().unwrap();
        v
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = Header::parse(data);
    let _ = record::read_meta(data);
    let _ = vault().open_record(data, &RecordContext::new(b"r"));
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = medseal::check_sealed_text(text);
        if let Ok(bytes) = record::from_text(text) {
            let _ = vault().open(&bytes, &RecordContext::new(b"r"));
        }
    }
});
