//! The vault's identity key pair (P-256): signs every manifest revision, and is
//! the vault's public key for sharing. The private key exists only inside the
//! SDK, wrapped by the vault key at rest.

use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::rng::Rng;

/// Length of a compressed SEC1 public key.
pub(crate) const PUBLIC_KEY_LEN: usize = 33;
/// Length of a signature (`r || s`, IEEE P1363).
pub(crate) const SIGNATURE_LEN: usize = 64;

/// A P-256 private key held by an unlocked vault.
/// A P-256 signing key. The ECDSA key (with its public key, a scalar
/// multiplication) is made on first use: an unlock that finds the manifest
/// already verified on this device (see `vault::verified_tag`) never needs
/// the public key, and most sessions sign nothing.
pub(crate) struct Identity {
    // Boxed: a `Vault` moves (out of an unlock, into a hand-off), and an
    // inline scalar would leave unwiped copies behind.
    secret: Box<p256::SecretKey>,
    key: std::sync::OnceLock<Box<SigningKey>>,
}

impl core::fmt::Debug for Identity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Identity(<redacted>)")
    }
}

impl Identity {
    pub(crate) fn generate(rng: &mut Rng) -> Result<Self> {
        // Rejection sampling: a random 32-byte string is a valid scalar with
        // probability 1 - 2^-32; a handful of tries is certain in practice.
        for _ in 0..8 {
            let bytes = Zeroizing::new(rng.array::<32>()?);
            if let Ok(sk) = p256::SecretKey::from_slice(bytes.as_slice()) {
                return Ok(Identity::new(sk));
            }
        }
        Err(Error::RandomUnavailable)
    }

    fn new(secret: p256::SecretKey) -> Self {
        Identity {
            secret: Box::new(secret),
            key: std::sync::OnceLock::new(),
        }
    }

    fn key(&self) -> &SigningKey {
        self.key
            .get_or_init(|| Box::new(SigningKey::from(&*self.secret)))
    }

    pub(crate) fn from_scalar(bytes: &[u8; 32]) -> Result<Self> {
        p256::SecretKey::from_slice(bytes)
            .map(Identity::new)
            .map_err(|_| Error::ManifestInvalid)
    }

    pub(crate) fn scalar(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes().into())
    }

    pub(crate) fn public_key(&self) -> [u8; PUBLIC_KEY_LEN] {
        let point = self.key().verifying_key().to_sec1_point(true);
        let mut out = [0u8; PUBLIC_KEY_LEN];
        if let Some(src) = point.as_bytes().get(..PUBLIC_KEY_LEN) {
            out.copy_from_slice(src);
        }
        out
    }

    /// Derives a signing key from 32 bytes of key material (for keys that
    /// must be re-derivable from a secret, such as the recovery login key):
    /// HKDF with a counter until the result is a valid scalar (all but
    /// certain on the first try; 2^-32 per try otherwise).
    pub(crate) fn derive(ikm: &[u8; 32], salt: &[u8], label: &[u8], extra: &[u8]) -> Result<Self> {
        for counter in 0u8..8 {
            let mut info = extra.to_vec();
            info.push(counter);
            let bytes = Zeroizing::new(crate::kdf::hkdf32(ikm, salt, label, &info));
            if let Ok(sk) = p256::SecretKey::from_slice(bytes.as_slice()) {
                return Ok(Identity::new(sk));
            }
        }
        Err(Error::ManifestInvalid)
    }

    /// ECDSA P-256 with SHA-256 (RFC 6979 deterministic nonces), `s`
    /// normalized to the low half: one signature per message and key, so a
    /// signed object has one encoding.
    pub(crate) fn sign(&self, msg: &[u8]) -> [u8; SIGNATURE_LEN] {
        let sig: Signature = self.key().sign(msg);
        sig.normalize_s().to_bytes().into()
    }

    /// ECDH with a peer's SEC1 public key: the x-coordinate of the shared point.
    pub(crate) fn agree(&self, peer_sec1: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        ecdh(&self.scalar(), peer_sec1)
    }
}

/// What a login proof signs: `lp(label) || lp(challenge) || lp(audience)`.
/// The label keeps a proof from ever being a manifest signature.
pub(crate) fn login_proof_message(challenge: &[u8], audience: &str) -> Vec<u8> {
    let mut msg = Vec::with_capacity(40 + challenge.len() + audience.len());
    crate::kdf::put_lp(&mut msg, crate::kdf::label::LOGIN_PROOF);
    crate::kdf::put_lp(&mut msg, challenge);
    crate::kdf::put_lp(&mut msg, audience.as_bytes());
    msg
}

/// Whether bytes are a compressed SEC1 P-256 point.
pub(crate) fn check_public_key(bytes: &[u8]) -> bool {
    bytes.len() == PUBLIC_KEY_LEN && VerifyingKey::from_sec1_bytes(bytes).is_ok()
}

/// Verifies a P1363 signature by a SEC1-encoded P-256 key, low-S only: a
/// signature whose `s` is in the high half (the other valid encoding of the
/// same signature) is refused.
pub(crate) fn verify(public_key: &[u8], msg: &[u8], signature: &[u8]) -> Result<()> {
    check_low_s(signature)?;
    let sig = Signature::from_slice(signature).map_err(|_| Error::ManifestInvalid)?;
    verify_any_s(public_key, msg, &sig)
}

/// Checks that a P1363 signature is well-formed with a low `s`.
pub(crate) fn check_low_s(signature: &[u8]) -> Result<()> {
    let sig = Signature::from_slice(signature).map_err(|_| Error::ManifestInvalid)?;
    if sig.normalize_s() != sig {
        return Err(Error::ManifestInvalid);
    }
    Ok(())
}

/// Verifies a P1363 signature accepting high `s` too: only for v1 manifests,
/// written before signatures were normalized (docs/FORMAT.md 7.6).
pub(crate) fn verify_legacy(public_key: &[u8], msg: &[u8], signature: &[u8]) -> Result<()> {
    let sig = Signature::from_slice(signature).map_err(|_| Error::ManifestInvalid)?;
    verify_any_s(public_key, msg, &sig)
}

fn verify_any_s(public_key: &[u8], msg: &[u8], sig: &Signature) -> Result<()> {
    let vk = VerifyingKey::from_sec1_bytes(public_key).map_err(|_| Error::ManifestInvalid)?;
    vk.verify(msg, sig).map_err(|_| Error::ManifestInvalid)
}

/// P-256 ECDH: rejects a peer key that is not a valid point on the curve.
pub(crate) fn ecdh(scalar: &[u8; 32], peer_sec1: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
    let sk =
        p256::SecretKey::from_slice(scalar).map_err(|_| Error::InvalidArgument("private key"))?;
    let pk = p256::PublicKey::from_sec1_bytes(peer_sec1)
        .map_err(|_| Error::InvalidArgument("peer public key is not a P-256 point"))?;
    let shared = p256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), pk.as_affine());
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(shared.raw_secret_bytes().as_slice());
    Ok(out)
}
