//! Helpers shared by the integration tests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use medseal::vault::deterministic;
use medseal::{Manifest, PasskeyUnlock, PrfOutput, RecordContext, RecoveryCode, Vault};

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

/// Unpadded base64url, as every binary field of a manifest's JSON.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The bytes of a base64url JSON field.
pub fn unb64(v: &serde_json::Value) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(v.as_str().expect("a base64url string"))
        .unwrap()
}

/// Edits a base64url JSON field in place, as bytes.
pub fn edit_b64(v: &mut serde_json::Value, edit: impl FnOnce(&mut Vec<u8>)) {
    let mut bytes = unb64(v);
    edit(&mut bytes);
    *v = serde_json::Value::String(b64(&bytes));
}

/// The manifest changed as a server could change it: through its JSON form
/// (the fields are private to the crate). `edit` gets the parsed JSON; the
/// result must still parse (shape and structural rules), since the tampering
/// is meant to be caught later, by the signature or the key binding.
pub fn tamper(m: &Manifest, edit: impl FnOnce(&mut serde_json::Value)) -> Manifest {
    try_tamper(m, edit).unwrap()
}

/// [`tamper`] for edits that may break the manifest's rules: what
/// [`Manifest::from_json`] says of the result.
pub fn try_tamper(
    m: &Manifest,
    edit: impl FnOnce(&mut serde_json::Value),
) -> Result<Manifest, medseal::Error> {
    let mut v: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
    edit(&mut v);
    Manifest::from_json(&v.to_string())
}

/// [`tamper`], then a signature over the result by `key` (a key of the
/// forger's own, whose public key the edit should put in the manifest).
pub fn tamper_and_sign(
    m: &Manifest,
    key: &p256::ecdsa::SigningKey,
    edit: impl FnOnce(&mut serde_json::Value),
) -> Manifest {
    use p256::ecdsa::signature::Signer;
    let unsigned = tamper(m, edit);
    let sig: p256::ecdsa::Signature = key.sign(&deterministic::manifest_signed_bytes(&unsigned));
    tamper(&unsigned, |v| v["signature"] = b64(&sig.to_bytes()).into())
}
