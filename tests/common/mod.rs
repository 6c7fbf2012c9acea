//! Helpers shared by the integration tests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use medseal::vault::deterministic;
use medseal::{PasskeyUnlock, PrfOutput, RecordContext, RecoveryCode, Vault};

/// A PRF output as an authenticator would return it (any 32 non-zero bytes).
pub fn prf(tag: u8) -> [u8; 32] {
    let mut b = [0u8; 32];
    for (i, x) in b.iter_mut().enumerate() {
        *x = tag.wrapping_mul(31).wrapping_add(i as u8).wrapping_add(1);
    }
    b
}

pub fn passkey(cred: &[u8], salt: [u8; 32], prf_bytes: [u8; 32]) -> PasskeyUnlock {
    PasskeyUnlock {
        credential_id: cred.to_vec(),
        prf_salt: salt,
        prf_output: PrfOutput::new(&prf_bytes).unwrap(),
        label: Some("test key".into()),
    }
}

/// A vault created with the OS random source.
pub fn new_vault() -> (Vault, RecoveryCode) {
    Vault::create(passkey(b"cred-1", medseal::new_prf_salt().unwrap(), prf(1))).unwrap()
}

/// A vault whose every random value comes from `seed`.
pub fn seeded_vault(seed: &[u8]) -> (Vault, RecoveryCode) {
    let salt = deterministic::prf_salt(&[seed, b"/salt"].concat());
    deterministic::create(seed, passkey(b"cred-1", salt, prf(1))).unwrap()
}

/// A record context with this record id and no further context.
pub fn ctx(id: &str) -> RecordContext<'_> {
    RecordContext::new(id.as_bytes())
}
