//! SMART Health Link passcodes (flag `P`): stored as `SHA-256(salt ||
//! passcode)` with a random 16-byte salt, compared in constant time.
//!
//! Why a fast hash and not a password hash (Argon2, scrypt): a passcode
//! alone opens nothing. The link's files are JWE encrypted to a key that
//! only the link itself holds (in its `shlink:/` text, never sent to this
//! server); the passcode only gates whether the server hands the ciphertext
//! out, and the server enforces a lifetime cap on wrong passcodes per link.
//! Someone who steals the database has the ciphertext already and no key:
//! recovering a passcode from its hash gives them nothing more. A slow hash
//! would only make each manifest request (public, unauthenticated) costlier
//! for the server. The salt keeps equal passcodes of two links from having
//! equal hashes.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Length of a passcode's salt.
pub const SALT_LEN: usize = 16;

/// `SHA-256(salt || passcode)` (the passcode's UTF-8 bytes).
pub fn hash(salt: &[u8], passcode: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(passcode.as_bytes());
    h.finalize().into()
}

/// Whether `passcode` is the one stored as `salt` and `stored_hash`, in
/// time that does not depend on where they differ.
pub fn matches(salt: &[u8], stored_hash: &[u8], passcode: &str) -> bool {
    bool::from(hash(salt, passcode).as_slice().ct_eq(stored_hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salted_sha256_and_compare() {
        let salt = [9u8; SALT_LEN];
        let h = hash(&salt, "1234");
        assert!(matches(&salt, &h, "1234"));
        assert!(!matches(&salt, &h, "1235"));
        assert!(!matches(&[8u8; SALT_LEN], &h, "1234"));
        assert!(!matches(&salt, &h[..31], "1234"));
        // SHA-256("abc") with an empty salt: the FIPS 180-2 vector.
        let hex: String = hash(&[], "abc")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
