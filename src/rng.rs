//! Where randomness comes from. Production builds have exactly one source: the
//! operating system's (WebCrypto `getRandomValues` in a browser). The seeded
//! source exists only with the test-only `deterministic-rng` feature, so that
//! known-answer vectors can be regenerated and checked.

use crate::error::{Error, Result};

/// A source of random bytes held by a vault.
#[derive(Clone)]
pub(crate) enum Rng {
    /// The platform CSPRNG.
    Os,
    /// Test-only deterministic stream (see [`SeededRng`]).
    #[cfg(feature = "deterministic-rng")]
    Seeded(SeededRng),
}

impl Rng {
    pub(crate) fn fill(&mut self, buf: &mut [u8]) -> Result<()> {
        match self {
            Rng::Os => getrandom::fill(buf).map_err(|_| Error::RandomUnavailable),
            #[cfg(feature = "deterministic-rng")]
            Rng::Seeded(s) => {
                s.fill(buf);
                Ok(())
            }
        }
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        self.fill(&mut out)?;
        Ok(out)
    }
}

impl core::fmt::Debug for Rng {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Rng::Os => f.write_str("Rng::Os"),
            #[cfg(feature = "deterministic-rng")]
            Rng::Seeded(_) => f.write_str("Rng::Seeded"),
        }
    }
}

/// TEST ONLY. A deterministic byte stream: block `i` is
/// `SHA-256("medseal/test-rng" || seed || u64be(i))`, consumed in order.
/// Specified in docs/FORMAT.md so another implementation can regenerate the
/// vectors. Never seal real records with it.
#[cfg(feature = "deterministic-rng")]
#[derive(Clone)]
pub struct SeededRng {
    seed: Vec<u8>,
    counter: u64,
    block: [u8; 32],
    used: usize,
}

#[cfg(feature = "deterministic-rng")]
impl SeededRng {
    /// A stream determined entirely by `seed`.
    pub fn new(seed: &[u8]) -> Self {
        SeededRng {
            seed: seed.to_vec(),
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }

    fn fill(&mut self, buf: &mut [u8]) {
        use sha2::Digest;
        for b in buf.iter_mut() {
            if self.used == self.block.len() {
                let mut h = sha2::Sha256::new();
                h.update(b"medseal/test-rng");
                h.update(&self.seed);
                h.update(self.counter.to_be_bytes());
                self.block = h.finalize().into();
                self.counter = self.counter.wrapping_add(1);
                self.used = 0;
            }
            *b = self.block.get(self.used).copied().unwrap_or(0);
            self.used += 1;
        }
    }
}
