//! Session tokens, flow ids and recovery challenges come from here. The
//! source is a trait so that a test can make it fail: a failure must end the
//! request with an error, never hand out a predictable (all-zero) token.

use base64ct::{Base64UrlUnpadded, Encoding};

use crate::error::ApiError;

/// A source of unpredictable bytes.
pub trait Entropy: Send + Sync {
    /// Fills `buf`, or fails.
    fn fill(&self, buf: &mut [u8]) -> Result<(), getrandom::Error>;
}

/// The operating system's generator.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, buf: &mut [u8]) -> Result<(), getrandom::Error> {
        getrandom::fill(buf)
    }
}

/// `N` random bytes.
pub fn random_bytes<const N: usize>(e: &dyn Entropy) -> Result<[u8; N], ApiError> {
    let mut b = [0u8; N];
    e.fill(&mut b)
        .map_err(|err| ApiError::internal("random source failed", err))?;
    Ok(b)
}

/// A 256-bit random token, base64url (43 characters).
pub fn random_token(e: &dyn Entropy) -> Result<String, ApiError> {
    Ok(Base64UrlUnpadded::encode_string(&random_bytes::<32>(e)?))
}
