//! Key derivation (HKDF-SHA256) and the constant labels that keep every key to
//! one purpose. The labels are part of the format: see docs/FORMAT.md.

use std::sync::LazyLock;

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::secret::{Kek, SubKey};

/// Every HKDF `info` and signing prefix used by medseal v1. Changing one breaks
/// every existing vault, so they live in one place.
pub(crate) mod label {
    /// KEK from a passkey PRF output.
    pub(crate) const KEK_PRF: &[u8] = b"medseal/v1/kek/prf";
    /// KEK from a recovery code.
    pub(crate) const KEK_RECOVERY: &[u8] = b"medseal/v1/kek/recovery";
    /// Sub-key of the vault key that wraps record data keys.
    pub(crate) const WRAP_DEK: &[u8] = b"medseal/v1/vault/wrap-dek";
    /// Sub-key of the vault key that wraps the identity private key.
    pub(crate) const WRAP_IDENTITY: &[u8] = b"medseal/v1/vault/wrap-identity";
    /// Record encryption key, from the record's data key.
    pub(crate) const RECORD_ENCRYPTION: &[u8] = b"medseal/v1/record/encryption";
    /// Record key commitment, from the record's data key.
    pub(crate) const RECORD_COMMITMENT: &[u8] = b"medseal/v1/record/commitment";
    /// Associated-data prefix of a wrapped vault key in an unlock entry.
    pub(crate) const AAD_VAULT_KEY: &[u8] = b"medseal/v1/aad/vault-key";
    /// Associated-data prefix of the wrapped identity private key.
    pub(crate) const AAD_IDENTITY: &[u8] = b"medseal/v1/aad/identity-key";
    /// Associated-data prefix of a wrapped record data key.
    pub(crate) const AAD_DEK: &[u8] = b"medseal/v1/aad/dek";
    /// Associated-data prefix of a record body.
    pub(crate) const AAD_RECORD: &[u8] = b"medseal/v1/aad/record";
    /// Prefix of the PRF input (the WebAuthn `prf.eval.first` value).
    pub(crate) const PRF_INPUT: &[u8] = b"medseal/v1/prf-input";
    /// Prefix of the recovery code checksum.
    pub(crate) const RECOVERY_CHECKSUM: &[u8] = b"medseal/v1/recovery-code/checksum";
    /// First part of a login proof's signed message.
    pub(crate) const LOGIN_PROOF: &[u8] = b"medseal/v1/login-proof";
    /// Key of a vault hand-off message, from the ECDH shared secret.
    pub(crate) const HANDOFF: &[u8] = b"medseal/v1/handoff/key";
    /// Associated-data prefix of a vault hand-off message.
    pub(crate) const AAD_HANDOFF: &[u8] = b"medseal/v1/aad/handoff";
    /// Prefix of the manifest's signed encoding.
    pub(crate) const MANIFEST_SIGNATURE: &[u8] = b"medseal/v1/manifest/signature";

    // Format 2 (key epochs, manifest history, record versions).
    /// Prefix of a v2 manifest's signed encoding.
    pub(crate) const MANIFEST_SIGNATURE_V2: &[u8] = b"medseal/v2/manifest/signature";
    /// Prefix of the hash that names a manifest in its successor's `parent`.
    pub(crate) const MANIFEST_HASH: &[u8] = b"medseal/v2/manifest/hash";
    /// Prefix of an identity hand-over: the old identity key endorsing the next.
    pub(crate) const IDENTITY_HANDOVER: &[u8] = b"medseal/v2/identity/handover";
    /// HKDF info: the HPKE key-pair seed of an unlock entry, from its KEK.
    pub(crate) const ENTRY_HPKE: &[u8] = b"medseal/v2/entry/hpke";
    /// HKDF info prefix: the recovery entry's login signing key, from its KEK.
    pub(crate) const RECOVERY_LOGIN_KEY: &[u8] = b"medseal/v2/recovery/login-key";
    /// Prefix of a recovery login proof's signed bytes.
    pub(crate) const RECOVERY_LOGIN: &[u8] = b"medseal/v2/recovery/login";
    /// HPKE `info` prefix of a vault key sealed to an unlock entry.
    pub(crate) const HPKE_VAULT_KEY: &[u8] = b"medseal/v2/hpke/vault-key";
    /// AAD prefix of a vault key sealed to an unlock entry.
    pub(crate) const AAD_VAULT_KEY_V2: &[u8] = b"medseal/v2/aad/vault-key";
    /// HKDF info: the sub-key of the newest vault key that wraps older ones.
    pub(crate) const WRAP_EPOCH: &[u8] = b"medseal/v2/vault/wrap-epoch";
    /// AAD prefix of an older epoch's vault key.
    pub(crate) const AAD_EPOCH_KEY: &[u8] = b"medseal/v2/aad/epoch-key";
    /// AAD prefix of a v2 record's wrapped data key.
    pub(crate) const AAD_DEK_V2: &[u8] = b"medseal/v2/aad/dek";
    /// AAD prefix of a v2 record's body.
    pub(crate) const AAD_RECORD_V2: &[u8] = b"medseal/v2/aad/record";
    /// Prefix of the hash that keys a record in a device's seen state.
    pub(crate) const SEEN_RECORD: &[u8] = b"medseal/v2/seen/record";
    /// HKDF info: the key of a device's "verified" tag of its newest
    /// manifest (the seen state's `verified`), from the unlock entry's seed.
    pub(crate) const SEEN_VERIFIED: &[u8] = b"medseal/v3/seen/verified";
    /// HKDF info: the key that wraps a device's copy of the vault key in its
    /// seen state (`unlock`), from the unlock entry's seed.
    pub(crate) const SEEN_UNLOCK: &[u8] = b"medseal/v3/seen/unlock";
    /// AAD prefix of that copy.
    pub(crate) const AAD_SEEN_UNLOCK: &[u8] = b"medseal/v3/aad/seen-unlock";

    // Format 3: sharing (FORMAT.md §15).
    /// First field (`lp`) of a v3 manifest's signed bytes.
    pub(crate) const MANIFEST_SIGNATURE_V3: &[u8] = b"medseal/v3/manifest/signature";
    /// HKDF info: the seed of an epoch's share key pair (grants are sealed to it).
    pub(crate) const SHARE_KEY: &[u8] = b"medseal/v3/vault/share-key";
    /// HKDF info: the sub-key of the vault key that wraps the owner's copy of
    /// each grant and link key.
    pub(crate) const WRAP_SHARE: &[u8] = b"medseal/v3/vault/wrap-share";
    /// AAD prefix of the owner's copy of a grant or link key.
    pub(crate) const AAD_SHARE_KEY: &[u8] = b"medseal/v3/aad/share-key";
    /// First field (`lp`) of a grant's signed bytes.
    pub(crate) const GRANT_SIGNATURE: &[u8] = b"medseal/v3/grant/signature";
    /// First field (`lp`) of a grant's digest (what the manifest lists).
    pub(crate) const GRANT_DIGEST: &[u8] = b"medseal/v3/grant/digest";
    /// HPKE `info` prefix of a grant key sealed to a grantee.
    pub(crate) const HPKE_GRANT: &[u8] = b"medseal/v3/hpke/grant";
    /// HPKE `aad` prefix of a grant key sealed to a grantee.
    pub(crate) const AAD_GRANT: &[u8] = b"medseal/v3/aad/grant";
    /// HKDF info: the sub-key of a grant key that wraps record data keys.
    pub(crate) const GRANT_SLOT: &[u8] = b"medseal/v3/grant/slot";
    /// AAD prefix of a record data key wrapped for a grant (a slot).
    pub(crate) const AAD_SLOT: &[u8] = b"medseal/v3/aad/slot";
    /// SHA-256 prefix of a vault's fingerprint.
    pub(crate) const FINGERPRINT: &[u8] = b"medseal/v3/fingerprint";

    // Format 3: emergency card (FORMAT.md §15.9).
    /// HKDF info prefix: an epoch's card signing key, from its vault key.
    pub(crate) const CARD_KEY: &[u8] = b"medseal/v3/card/signing-key";
    /// HKDF info: a stream's C2SP input key, from its data key (FORMAT.md §17).
    pub(crate) const STREAM_KEY: &[u8] = b"medseal/v3/stream/key";
    /// AAD prefix: a stream's wrapped data key.
    pub(crate) const AAD_STREAM_DEK: &[u8] = b"medseal/v3/aad/stream-dek";
    /// Prefix of a stream's C2SP context.
    pub(crate) const STREAM_CONTEXT: &[u8] = b"medseal/v3/stream/context";
    /// First field (`lp`) of a vault destroy request's signed bytes (FORMAT.md, "Deletion").
    pub(crate) const DESTROY: &[u8] = b"medseal/v3/vault/destroy";
    /// Prefix of an export's stream context (FORMAT.md §19).
    pub(crate) const EXPORT_CONTEXT: &[u8] = b"medseal/v3/export/context";
}

/// Appends `u32be(len) || bytes`. Lengths are bounded by the callers' limits,
/// all far below 4 GiB; larger input saturates and cannot collide with a
/// well-formed encoding because the bytes follow.
pub(crate) fn put_lp(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// HMAC-SHA256 under the empty salt, its two pad blocks already hashed.
/// Most of medseal's derivations (every record's body key and commitment)
/// extract with `salt = ""`; HMAC's key set-up would hash the same two
/// blocks each time, two of the ten SHA-256 compressions of a record open
/// (docs/BENCHMARKS.md, issue 18). An empty key and 64 zero bytes are the
/// same HMAC key (RFC 2104 pads with zeros), so this is `Hmac::new(b"")`.
static EMPTY_SALT: LazyLock<Hmac<Sha256>> =
    LazyLock::new(|| <Hmac<Sha256> as KeyInit>::new(&Default::default()));

/// HKDF-Extract (RFC 5869), with the empty salt's HMAC set up once.
fn extract(salt: &[u8], ikm: &[u8]) -> Hkdf<Sha256> {
    if salt.is_empty() {
        let mut mac = EMPTY_SALT.clone();
        mac.update(ikm);
        let prk = Zeroizing::new(<[u8; 32]>::from(mac.finalize().into_bytes()));
        // A 32-byte PRK is what from_prk takes: this cannot fail.
        if let Ok(hk) = Hkdf::<Sha256>::from_prk(prk.as_slice()) {
            return hk;
        }
    }
    Hkdf::<Sha256>::new(Some(salt), ikm)
}

/// `HKDF-SHA256(salt, ikm)` expanded with `info = label || extra` to 32 bytes.
pub(crate) fn hkdf32(ikm: &[u8], salt: &[u8], label: &[u8], extra: &[u8]) -> [u8; 32] {
    let hk = extract(salt, ikm);
    let mut info = Vec::with_capacity(label.len() + extra.len());
    info.extend_from_slice(label);
    info.extend_from_slice(extra);
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's 255*32 limit: this cannot fail.
    let _ = hk.expand(&info, &mut out);
    out
}

/// Two [`hkdf32`] outputs of the same key and salt (one extract, two
/// expands): the same bytes as two separate calls, for half the hashing.
pub(crate) fn hkdf32_pair(ikm: &[u8], salt: &[u8], a: &[u8], b: &[u8]) -> ([u8; 32], [u8; 32]) {
    let hk = extract(salt, ikm);
    let (mut x, mut y) = ([0u8; 32], [0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's 255*32 limit: these cannot fail.
    let _ = hk.expand(a, &mut x);
    let _ = hk.expand(b, &mut y);
    (x, y)
}

/// KEK for a passkey unlock entry: bound to the PRF salt, the credential and the vault.
pub(crate) fn kek_from_prf(
    prf: &[u8; 32],
    salt: &[u8],
    credential_id: &[u8],
    vault_id: &[u8],
) -> Kek {
    let mut extra = Vec::new();
    put_lp(&mut extra, credential_id);
    put_lp(&mut extra, vault_id);
    Kek::from_array(hkdf32(prf, salt, label::KEK_PRF, &extra))
}

/// KEK for the recovery entry: bound to the vault.
pub(crate) fn kek_from_recovery(entropy: &[u8], vault_id: &[u8]) -> Kek {
    Kek::from_array(hkdf32(entropy, vault_id, label::KEK_RECOVERY, &[]))
}

/// A one-purpose sub-key of a 32-byte key.
pub(crate) fn subkey(key: &[u8; 32], label: &'static [u8]) -> SubKey {
    SubKey::from_array(hkdf32(key, &[], label, &[]))
}

/// The value to pass as WebAuthn `prf.eval.first` for a stored PRF salt:
/// `"medseal/v1/prf-input" || salt`. The browser then hashes it with its own
/// "WebAuthn PRF" prefix, so a medseal PRF output is never the output another
/// application on the same credential asks for.
pub(crate) fn prf_input(salt: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(label::PRF_INPUT.len() + salt.len());
    v.extend_from_slice(label::PRF_INPUT);
    v.extend_from_slice(salt);
    v
}

#[cfg(test)]
mod tests {
    use hkdf::Hkdf;
    use sha2::Sha256;

    /// The cached empty-salt extract gives RFC 5869's bytes: against the
    /// `hkdf` crate's own extract, for empty and non-empty salts and inputs
    /// of every length around SHA-256's block, and RFC 5869's test case 3
    /// (empty salt and info).
    #[test]
    fn cached_extract_is_hkdf() {
        for len in 0..200usize {
            let ikm: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
            for salt in [&b""[..], b"s", &[0u8; 32]] {
                let mut want = [0u8; 32];
                Hkdf::<Sha256>::new(Some(salt), &ikm)
                    .expand(b"info", &mut want)
                    .unwrap();
                assert_eq!(super::hkdf32(&ikm, salt, b"in", b"fo"), want);
            }
        }
        let okm = super::hkdf32(&[0x0b; 22], &[], &[], &[]);
        assert_eq!(
            okm[..],
            [
                0x8d, 0xa4, 0xe7, 0x75, 0xa5, 0x63, 0xc1, 0x8f, 0x71, 0x5f, 0x80, 0x2a, 0x06, 0x3c,
                0x5a, 0x31, 0xb8, 0xa1, 0x1f, 0x5c, 0x5e, 0xe1, 0x87, 0x9e, 0xc3, 0x45, 0x4e, 0x5f,
                0x3c, 0x73, 0x8d, 0x2d
            ]
        );
    }

    #[test]
    fn a_pair_is_two_single_derivations() {
        let (a, b) = super::hkdf32_pair(b"ikm", b"salt", b"label-a", b"label-b");
        assert_eq!(a, super::hkdf32(b"ikm", b"salt", b"label-a", &[]));
        assert_eq!(b, super::hkdf32(b"ikm", b"salt", b"label-b", &[]));
    }
}
