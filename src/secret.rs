//! Secret newtypes. Each is boxed (one heap copy that never moves), zeroized on
//! drop, has no derived `Debug`/`Clone`/`Serialize`, and exposes its bytes only
//! inside the crate.

use core::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{Error, Result};

macro_rules! secret_key {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Zeroize, ZeroizeOnDrop)]
        pub(crate) struct $name(Box<[u8; 32]>);

        impl $name {
            #[allow(dead_code)]
            pub(crate) fn from_array(bytes: [u8; 32]) -> Self {
                let mut bytes = bytes;
                let out = $name(Box::new(bytes));
                bytes.zeroize();
                out
            }

            #[allow(dead_code)]
            pub(crate) fn expose(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

secret_key!(
    /// The vault key: one per vault, random, wraps every record's data key and
    /// the identity key, and never leaves the SDK.
    VaultKey
);
secret_key!(
    /// A record's data key: one per record, random.
    DataKey
);
secret_key!(
    /// A key-encryption key derived from a PRF output or a recovery code; wraps
    /// the vault key in one unlock entry.
    Kek
);
secret_key!(
    /// A sub-key derived from another key for one purpose (see `kdf::Label`).
    SubKey
);

/// The 32-byte output of a passkey's PRF (WebAuthn `prf` extension) for one
/// credential and salt. Checked on construction; consumed by the call that
/// uses it, so it is used once.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct PrfOutput(Box<[u8; 32]>);

impl PrfOutput {
    /// Checks that the bytes can be a real PRF output: exactly 32 bytes and not
    /// all zero (an authenticator bug or an empty buffer must not become a key).
    pub fn new(bytes: &[u8]) -> Result<Self> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| Error::InvalidPrfOutput)?;
        let out = PrfOutput(Box::new(arr));
        if out.0.iter().all(|b| *b == 0) {
            return Err(Error::InvalidPrfOutput);
        }
        Ok(out)
    }

    pub(crate) fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for PrfOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrfOutput(<redacted>)")
    }
}
