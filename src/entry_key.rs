//! The key pair of an unlock entry, and the vault key sealed to it with HPKE
//! (RFC 9180, base mode, DHKEM(P-256, HKDF-SHA256), HKDF-SHA256,
//! AES-256-GCM; the `hpke` crate).
//!
//! Why: re-keying a vault (a new vault key when a passkey is removed or the
//! recovery code rotated) must reach every remaining passkey without asking
//! its authenticator for a PRF again. Each entry's KEK (from its PRF output
//! or recovery code) derives a key pair; the public key is stored, signed, in
//! the entry, so any holder of the vault can seal a new vault key to it,
//! while only the KEK opens it (the idea of Bitwarden's `RotateableKeySet`).

use hpke::kem::DhP256HkdfSha256;
use hpke::rand_core::{TryCryptoRng, TryRng};
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::kdf::{self, label};
use crate::rng::Rng;

type Kem = DhP256HkdfSha256;
type Aead = hpke::aead::AesGcm256;
type Kdf = hpke::kdf::HkdfSha256;

/// An entry public key: an uncompressed SEC1 P-256 point (HPKE's
/// `SerializePublicKey`).
pub(crate) const PUBLIC_KEY_LEN: usize = 65;
/// A vault key sealed to an entry: `enc` (65) || ciphertext (32) || tag (16).
pub(crate) const SEALED_KEY_LEN: usize = PUBLIC_KEY_LEN + 32 + 16;

/// The seed of an entry's key pair, derived from its KEK. Kept (instead of
/// the KEK) by a vault unlocked through this entry, so that it can follow a
/// re-key made on another device without asking the authenticator again.
pub(crate) struct EntrySeed(Zeroizing<[u8; 32]>);

impl core::fmt::Debug for EntrySeed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("EntrySeed(<redacted>)")
    }
}

impl EntrySeed {
    /// `HKDF(KEK, salt = "", info = "medseal/v2/entry/hpke")`: the `ikm` of
    /// HPKE's `DeriveKeyPair`.
    pub(crate) fn from_kek(kek: &[u8; 32]) -> Self {
        EntrySeed(Zeroizing::new(kdf::hkdf32(
            kek,
            &[],
            label::ENTRY_HPKE,
            &[],
        )))
    }

    /// The seed bytes (for a vault hand-off, which carries the entry).
    pub(crate) fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// A seed received in a vault hand-off.
    pub(crate) fn from_bytes(seed: &[u8; 32]) -> Self {
        EntrySeed(Zeroizing::new(*seed))
    }

    /// The entry's public key.
    pub(crate) fn public_key(&self) -> [u8; PUBLIC_KEY_LEN] {
        let (_, pk) = Kem::derive_keypair(self.0.as_slice());
        let mut out = [0u8; PUBLIC_KEY_LEN];
        pk.write_exact(&mut out);
        out
    }

    /// The entry's private key alone: RFC 9180's DeriveKeyPair for
    /// DHKEM(P-256, HKDF-SHA256) (section 7.1.3) without the public key,
    /// which the `hpke` crate's `derive_keypair` also computes (a scalar
    /// multiplication, a sixth of an unlock) and HPKE's Decap computes again
    /// anyway. Checked against the crate and RFC 9180 A.3.1 in the tests.
    fn private_key(&self) -> Result<<Kem as hpke::Kem>::PrivateKey> {
        use hkdf::Hkdf;
        // suite_id = "KEM" || I2OSP(0x0010, 2); labels are "HPKE-v1" || suite_id || label.
        const PREFIX: &[u8] = b"HPKE-v1KEM\x00\x10";
        let mut ikm = Zeroizing::new(Vec::with_capacity(64));
        ikm.extend_from_slice(PREFIX);
        ikm.extend_from_slice(b"dkp_prk");
        ikm.extend_from_slice(self.0.as_slice());
        let (_, hk) = Hkdf::<Sha256>::extract(Some(&[]), &ikm);
        // I2OSP(Nsk = 32, 2) || "HPKE-v1" || suite_id || "candidate" || I2OSP(counter, 1)
        let mut info = Vec::with_capacity(2 + PREFIX.len() + 10);
        info.extend_from_slice(&32u16.to_be_bytes());
        info.extend_from_slice(PREFIX);
        info.extend_from_slice(b"candidate");
        info.push(0);
        // A candidate fails with probability 2^-32 (zero or not below the
        // group order): the loop ends at once in practice.
        for c in 0..=255u8 {
            if let Some(b) = info.last_mut() {
                *b = c;
            }
            let mut sk = Zeroizing::new([0u8; 32]);
            // 32 bytes is far below HKDF's limit: this cannot fail.
            let _ = hk.expand(&info, sk.as_mut_slice());
            if let Ok(k) = <Kem as hpke::Kem>::PrivateKey::from_bytes(sk.as_slice()) {
                return Ok(k);
            }
        }
        Err(Error::UnlockFailed)
    }

    /// A device's copy of the vault key of `epoch`, wrapped under a key
    /// only this seed derives (so only this entry's passkey or recovery
    /// code, as with the copy in the manifest), bound to the vault, the
    /// epoch and the entry: see `Seen::saw_vault`.
    pub(crate) fn wrap_for_device(
        &self,
        vault_id: &[u8],
        epoch: u32,
        entry_id: &str,
        vault_key: &[u8; 32],
    ) -> Result<[u8; crate::aead::WRAPPED_KEY_LEN]> {
        let key = self.device_key();
        crate::aead::wrap_key(
            &mut crate::rng::Rng::Os,
            &key,
            vault_key,
            &device_aad(vault_id, epoch, entry_id),
        )
    }

    /// The key of [`EntrySeed::wrap_for_device`]: HKDF of this seed.
    fn device_key(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(kdf::hkdf32(self.0.as_slice(), &[], label::SEEN_UNLOCK, &[]))
    }

    /// Opens what [`EntrySeed::wrap_for_device`] wrapped; `None` if it does
    /// not open (another seed, vault, epoch or entry, or changed bytes).
    pub(crate) fn open_for_device(
        &self,
        vault_id: &[u8],
        epoch: u32,
        entry_id: &str,
        wrapped: &[u8],
    ) -> Option<Zeroizing<[u8; 32]>> {
        let key = self.device_key();
        crate::aead::unwrap_key(&key, wrapped, &device_aad(vault_id, epoch, entry_id))
            .ok()
            .map(Zeroizing::new)
    }

    /// Opens a vault key sealed to this entry. Any failure is
    /// `UnlockFailed`: the entry's key did not open it (another entry's
    /// seed derives another key, and HPKE binds the recipient's public key
    /// into the shared secret, so it cannot open this).
    pub(crate) fn open(&self, sealed: &[u8], info: &[u8], aad: &[u8]) -> Result<[u8; 32]> {
        let sk = self.private_key()?;
        let (enc, ct) = sealed
            .split_at_checked(PUBLIC_KEY_LEN)
            .ok_or(Error::UnlockFailed)?;
        let enc =
            <Kem as hpke::Kem>::EncappedKey::from_bytes(enc).map_err(|_| Error::UnlockFailed)?;
        let pt = Zeroizing::new(
            hpke::single_shot_open::<Aead, Kdf, Kem>(&OpModeR::Base, &sk, &enc, info, ct, aad)
                .map_err(|_| Error::UnlockFailed)?,
        );
        <[u8; 32]>::try_from(pt.as_slice()).map_err(|_| Error::UnlockFailed)
    }
}

/// `lp(label) || lp(vault_id) || u32be(epoch) || lp(entry_id)`.
fn device_aad(vault_id: &[u8], epoch: u32, entry_id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(64 + vault_id.len() + entry_id.len());
    kdf::put_lp(&mut aad, label::AAD_SEEN_UNLOCK);
    kdf::put_lp(&mut aad, vault_id);
    aad.extend_from_slice(&epoch.to_be_bytes());
    kdf::put_lp(&mut aad, entry_id.as_bytes());
    aad
}

/// Seals a 32-byte key to an entry's public key. A public key that is not a
/// P-256 point is `ManifestInvalid` (it comes from a manifest).
pub(crate) fn seal(
    rng: &mut Rng,
    public_key: &[u8],
    key: &[u8; 32],
    info: &[u8],
    aad: &[u8],
) -> Result<Vec<u8>> {
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(public_key)
        .map_err(|_| Error::ManifestInvalid)?;
    // One draw from the vault's random source (fallible, and seeded in the
    // vector tests), expanded for HPKE's infallible generator.
    let mut expand = Expand::new(Zeroizing::new(rng.array()?));
    let (enc, ct) = hpke::single_shot_seal_with_rng::<Aead, Kdf, Kem>(
        &OpModeS::Base,
        &pk,
        info,
        key,
        aad,
        &mut expand,
    )
    .map_err(|_| Error::RandomUnavailable)?;
    let mut out = Vec::with_capacity(SEALED_KEY_LEN);
    out.extend_from_slice(&enc.to_bytes());
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Checks that bytes are an entry public key (a P-256 point).
pub(crate) fn check_public_key(bytes: &[u8]) -> bool {
    bytes.len() == PUBLIC_KEY_LEN && <Kem as hpke::Kem>::PublicKey::from_bytes(bytes).is_ok()
}

/// A 32-byte random seed expanded as `SHA-256("medseal/v2/hpke/expand" ||
/// seed || u64be(i))`, for HPKE's ephemeral key.
struct Expand {
    seed: Zeroizing<[u8; 32]>,
    counter: u64,
    block: Zeroizing<[u8; 32]>,
    used: usize,
}

impl Expand {
    fn new(seed: Zeroizing<[u8; 32]>) -> Self {
        Expand {
            seed,
            counter: 0,
            block: Zeroizing::new([0; 32]),
            used: 32,
        }
    }
}

impl TryRng for Expand {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> core::result::Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> core::result::Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> core::result::Result<(), Self::Error> {
        for out in dst.iter_mut() {
            if self.used >= 32 {
                let mut h = Sha256::new();
                h.update(b"medseal/v2/hpke/expand");
                h.update(self.seed.as_slice());
                h.update(self.counter.to_be_bytes());
                self.block.copy_from_slice(&h.finalize());
                self.counter = self.counter.wrapping_add(1);
                self.used = 0;
            }
            *out = self.block.get(self.used).copied().unwrap_or(0);
            self.used += 1;
        }
        Ok(())
    }
}

impl TryCryptoRng for Expand {}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    //! RFC 9180 Appendix A.3.1, the one published vector set for this KEM
    //! and KDF: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, base mode. The RFC
    //! publishes it with AES-128-GCM only; the KEM (DeriveKeyPair, Encap,
    //! Decap) and the key schedule are the ones medseal uses with
    //! AES-256-GCM, whose own vectors are Wycheproof's (src/tests/wycheproof.rs).
    //! The values are the RFC's, as also found in Tink's and others' tests.
    use super::*;

    const IKM_R: &str = "668b37171f1072f3cf12ea8a236a45df23fc13b82af3609ad1e354f6ef817550";
    const SK_RM: &str = "f3ce7fdae57e1a310d87f1ebbde6f328be0a99cdbcadf4d6589cf29de4b8ffd2";
    const PK_RM: &str = "04fe8c19ce0905191ebc298a9245792531f26f0cece2460639e8bc39cb7f706a826a779b4cf969b8a0e539c7f62fb3d30ad6aa8f80e30f1d128aafd68a2ce72ea0";
    const IKM_E: &str = "4270e54ffd08d79d5928020af4686d8f6b7d35dbe470265f1f5aa22816ce860e";
    const PK_EM: &str = "04a92719c6195d5085104f469a8b9814d5838ff72b60501e2c4466e5e67b325ac98536d7b61a1af4b78e5b7f951c0900be863c403ce65c9bfcb9382657222d18c4";
    const INFO: &str = "4f6465206f6e2061204772656369616e2055726e";
    const PT: &str = "4265617574792069732074727574682c20747275746820626561757479";
    const AAD0: &str = "436f756e742d30";
    const CT0: &str = "5ad590bb8baa577f8619db35a36311226a896e7342a6d836d8b7bcd2f20b6c7f9076ac232e3ab2523f39513434";

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    #[test]
    fn rfc9180_a31_derive_key_pair() {
        // Through medseal's own wrapper (an entry seed is DeriveKeyPair's ikm).
        let seed = EntrySeed::from_bytes(&h(IKM_R).try_into().unwrap());
        assert_eq!(seed.public_key().to_vec(), h(PK_RM));
        let (sk, pk) = Kem::derive_keypair(&h(IKM_R));
        assert_eq!(sk.to_bytes().to_vec(), h(SK_RM));
        assert_eq!(pk.to_bytes().to_vec(), h(PK_RM));
        let (_, pk_e) = Kem::derive_keypair(&h(IKM_E));
        assert_eq!(pk_e.to_bytes().to_vec(), h(PK_EM));
    }

    /// The private key alone is DeriveKeyPair's: the RFC's, and the
    /// crate's for many seeds.
    #[test]
    fn private_key_is_derive_key_pair() {
        let seed = EntrySeed::from_bytes(&h(IKM_R).try_into().unwrap());
        assert_eq!(seed.private_key().unwrap().to_bytes().to_vec(), h(SK_RM));
        for i in 0..64u8 {
            let ikm: [u8; 32] = Sha256::digest([i]).into();
            let (sk, _) = Kem::derive_keypair(&ikm);
            let mine = EntrySeed::from_bytes(&ikm).private_key().unwrap();
            assert_eq!(mine.to_bytes(), sk.to_bytes());
        }
    }

    #[test]
    fn rfc9180_a31_open_sequence_0() {
        let (sk, _) = Kem::derive_keypair(&h(IKM_R));
        let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&h(PK_EM)).unwrap();
        let pt = hpke::single_shot_open::<hpke::aead::AesGcm128, Kdf, Kem>(
            &OpModeR::Base,
            &sk,
            &enc,
            &h(INFO),
            &h(CT0),
            &h(AAD0),
        )
        .unwrap();
        assert_eq!(pt, h(PT));
        // One bit of the ciphertext, the info or the aad changed: refused.
        let mut ct = h(CT0);
        ct[0] ^= 1;
        for (info, ct, aad) in [
            (h(INFO), ct, h(AAD0)),
            (h(AAD0), h(CT0), h(AAD0)),
            (h(INFO), h(CT0), h(INFO)),
        ] {
            assert!(hpke::single_shot_open::<hpke::aead::AesGcm128, Kdf, Kem>(
                &OpModeR::Base,
                &sk,
                &enc,
                &info,
                &ct,
                &aad,
            )
            .is_err());
        }
    }
}
